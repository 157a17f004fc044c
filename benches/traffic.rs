//! Traffic control on a generated warehouse: tasks per hour of a simulated shift with
//! `[traffic] enabled = true` and a physical fleet, against the same workload with traffic
//! control off and a fleet whose robots pass through each other (the contention-free upper
//! bound); then the allocator alone, replaying the same kind of traffic, timed per call.
//!
//! * The warehouse: `floorgate_sim::site::grid` with [`AISLES`] aisles of [`RACKS`] racks
//!   (a middle cross aisle), [`STATIONS`] pick stations and a parking spur per AMR off the
//!   top cross aisle (as long as the fleet is wide) — 550 layout nodes with 50 AMRs, 850
//!   with 200. Its site file is loaded the way `floorgate
//!   simulate --layout grid` loads it (`src/simulate/grid.rs`), with an admin listener on
//!   127.0.0.1:0 for `/metrics`, into the real `Gateway` in this process (durability on),
//!   on the embedded broker.
//! * The fleet: `floorgate_sim::amr::Fleet`, 2 m/s, 0.5 s picks and drops, robots starting
//!   on their parking nodes, `time_lapse` times the wall clock (`FLOORGATE_BENCH_TIME_LAPSE`,
//!   default 10), a simulation step of 10 ms wall (`FLOORGATE_BENCH_TICK_MS`: 0.1 s
//!   simulated) with a `state` from every robot every step (10 Hz simulated, so their
//!   positions between nodes reach traffic control; `FLOORGATE_BENCH_STATE_MS` sets a
//!   longer interval, in wall ms), physical (robots stop for each other) with traffic on,
//!   `FleetConfig::pass_through()` for the bound. The fleet runs on a tokio runtime of its
//!   own, the gateway on another, so each one's CPU is read from its threads.
//! * The workload: a seeded stream of `pick` tasks, each from a rack bay to a station, the
//!   same stream for both runs of a fleet size, kept topped up to
//!   `FLOORGATE_BENCH_OPEN_PER_AMR` (2) open tasks per robot, so no robot waits for work.
//!   The shift is `FLOORGATE_BENCH_SHIFT_MIN` simulated minutes (60), from the first
//!   submission; tasks/hour counts the tasks completed in it (`floorgate_tasks`).
//! * Per run: conflicts, blocked seconds and safety stops from `Fleet::world()` (simulated
//!   time), the `floorgate_traffic_*` lines of `/metrics` (the gateway's clock: wall
//!   seconds), CPU per runtime, and how late a 10 ms timer fires on each runtime (the
//!   gateway and the fleet keep up with the time lapse when it fires on time).
//! * In-process: `floorgate::traffic::Allocator` on the same layout, the robots advancing
//!   one node per step (1.25 s simulated, a rack pitch at 2 m/s), an order (`set_route`,
//!   after `plan_route`) per task (parking or station → rack → station), every robot's
//!   state (`passed`, then `request`) each step, `deadlocks` + `resolve` every 4 steps and
//!   `due_for_replan` + `replan` every step; p50/p99 of each call with `Instant`.
//!
//! Run with `cargo bench --bench traffic`; `FLOORGATE_BENCH_TRAFFIC_FLEETS` (`50,200`),
//! `FLOORGATE_BENCH_REPLAY_STEPS` (2880: one simulated hour), `FLOORGATE_BENCH_REPLAN_SECS`
//! (1: the gateway's `replan_after_secs`, wall seconds), `FLOORGATE_BENCH_LOOKAHEAD` (3: its
//! `lookahead_nodes`), `FLOORGATE_BENCH_TRAFFIC_ONLY`
//! (set: skip the bound runs, for a look at the traffic log), `FLOORGATE_BENCH_REPLAY_ONLY`
//! (set: only the allocator replay; `FLOORGATE_BENCH_MAX_SEGMENT` caps its segments). `RUST_LOG` (e.g.
//! `floorgate::adapters::vda5050::traffic=trace`, a traffic picture per robot every 200 ms)
//! logs the gateway to stderr.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use floorgate::api::pb;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate::traffic::{Allocator, Config, LayoutSpec, ResourceMap};
use floorgate_sim::amr::{Fleet, FleetConfig};
use floorgate_sim::site::grid::{GridSpec, MANUFACTURER};
use serde_json::{json, Value};

type Tasks = pb::task_service_client::TaskServiceClient<tonic::transport::Channel>;

const AISLES: usize = 10;
const RACKS: usize = 20;
const STATIONS: usize = 6;
const SEED: u64 = 15;
/// Simulated seconds per replay step: one rack pitch (2.5 m) at 2 m/s.
const STEP_S: f64 = 1.25;

/// xorshift64*, as `floorgate simulate` seeds its workload.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// The seeded task stream: (rack location, station location), endless.
struct Workload {
    rng: Rng,
    racks: Vec<String>,
    stations: Vec<String>,
}

impl Workload {
    fn new(spec: &GridSpec) -> Workload {
        Workload {
            rng: Rng::new(SEED),
            racks: spec.rack_locations(),
            stations: spec.station_locations(),
        }
    }

    fn next(&mut self) -> (String, String) {
        let rack = self.racks[self.rng.below(self.racks.len())].clone();
        let station = self.stations[self.rng.below(self.stations.len())].clone();
        (rack, station)
    }
}

fn lapse() -> f64 {
    std::env::var("FLOORGATE_BENCH_TIME_LAPSE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v >= 1.0)
        .unwrap_or(10.0)
}

fn fleets() -> Vec<usize> {
    std::env::var("FLOORGATE_BENCH_TRAFFIC_FLEETS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![50, 200])
}

/// The grid's site file as `floorgate simulate --layout grid` writes it, with traffic
/// control on or off, loaded with gRPC and admin on free loopback ports.
fn site(spec: &GridSpec, dir: &std::path::Path, traffic: bool) -> floorgate::config::LoadedConfig {
    let (host, port) = broker();
    let mut text = spec.site_toml(&format!("{host}:{port}"));
    let plaintext = "mqtt_plaintext = true\n";
    assert!(
        text.contains(plaintext),
        "the grid site no longer names its plaintext broker"
    );
    text = text.replacen(
        plaintext,
        "mqtt_plaintext = true\nclient_id = \"floorgate-bench-traffic\"\nkeep_alive_secs = 5\nresend_interval_ms = 500\n",
        1,
    );
    assert!(!text.contains("[traffic]"), "the grid site sets [traffic]");
    if traffic {
        // One wall second is `lapse` simulated seconds: re-plans after 10 s simulated at 10x.
        text.push_str(&format!(
            "\n[traffic]\nenabled = true\nreplan_after_secs = {}\nlookahead_nodes = {}\n",
            size("REPLAN_SECS", 1),
            size("LOOKAHEAD", 3)
        ));
    } else {
        text.push_str("\n[traffic]\nenabled = false\n");
    }
    let profile =
        std::fs::read_to_string(root().join("devices/amr-vda5050.toml")).expect("the AMR profile");
    let path = dir.join("site.toml");
    std::fs::write(&path, &text).expect("write the site file");
    std::fs::write(dir.join("amr-vda5050.toml"), profile).expect("write the profile");
    let data = dir.join("data").to_string_lossy().to_string();
    floorgate::config::load_str(&path, &text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("the grid site loads: {e}"))
}

/// The fleet of `floorgate simulate --layout grid`, physical or passing through.
fn fleet_config(spec: &GridSpec, physical: bool, lapse: f64) -> FleetConfig {
    let (host, port) = broker();
    let mut f = FleetConfig::new(&host, port, spec.amrs);
    f.manufacturer = MANUFACTURER.into();
    f.serial_prefix = "AMR-".into();
    f.speed = 2.0;
    f.handling_s = 0.5;
    // 10 ms of wall time (`FLOORGATE_BENCH_TICK_MS`); 0.1 s simulated at 10x. The robots
    // report every tick (10 Hz simulated, the rate of BENCHMARKS.md's 1,000-AMR figure),
    // so their positions between nodes reach traffic control.
    f.tick = Duration::from_millis(size("TICK_MS", 10).max(1) as u64);
    // `FLOORGATE_BENCH_STATE_MS`: a state at least this often (wall ms; default every step).
    f.state_interval = Duration::from_millis(size("STATE_MS", 0) as u64).max(f.tick);
    f.start_nodes = spec.start_nodes();
    f.physical = physical;
    f.time_lapse = lapse;
    f
}

// --- metrics and threads ---------------------------------------------------------------

/// Every sample of `/metrics`: (name, labels, value).
fn scrape(port: u16) -> Vec<(String, String, f64)> {
    let Some((200, body)) = http_get(port, "/metrics") else {
        return Vec::new();
    };
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (name, labels) = match key.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (key, ""),
            };
            Some((name.to_string(), labels.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn sum(samples: &[(String, String, f64)], name: &str, labels: &str) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && l.contains(labels))
        .map(|s| s.2)
        .sum()
}

fn task_counts(port: u16) -> (f64, f64, f64) {
    let m = scrape(port);
    let state = |s: &str| sum(&m, "floorgate_tasks", &format!("state=\"{s}\""));
    let open = state("accepted") + state("planned") + state("running");
    (
        open,
        state("completed"),
        state("failed") + state("cancelled"),
    )
}

/// CPU time of this process's threads, by thread name.
fn thread_cpu() -> BTreeMap<String, Duration> {
    let mut out = BTreeMap::new();
    let ticks = 100.0; // USER_HZ on Linux
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let f = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let cpu = Duration::from_secs_f64((f(11) + f(12)) as f64 / ticks);
        *out.entry(name).or_default() += cpu;
    }
    out
}

/// % of one core per thread group between two [`thread_cpu`] readings (exited threads
/// drop out, so this is a lower bound for short-lived ones).
fn cpu_groups(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
    wall: Duration,
) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (name, t) in after {
        let d = t.saturating_sub(before.get(name).copied().unwrap_or_default());
        let group = if name.starts_with("fg-gateway") {
            "gateway runtime"
        } else if name.starts_with("fg-fleet") {
            "simulated fleet"
        } else {
            "broker, store, rest"
        };
        *out.entry(group.into()).or_default() += 100.0 * d.as_secs_f64() / wall.as_secs_f64();
    }
    out
}

/// How late a 10 ms sleep wakes up on the runtime it is spawned on.
fn lag_probe(rt: &tokio::runtime::Runtime, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<Duration>>> {
    let lags: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let out = lags.clone();
    rt.spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let t0 = Instant::now();
            tokio::time::sleep(Duration::from_millis(10)).await;
            let late = t0.elapsed().saturating_sub(Duration::from_millis(10));
            lags.lock().expect("not poisoned").push(late);
        }
    });
    out
}

fn quantiles(mut v: Vec<Duration>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_unstable();
    (
        round(percentile(&v, 99.0).as_secs_f64() * 1e3, 1),
        round(v[v.len() - 1].as_secs_f64() * 1e3, 1),
    )
}

// --- one shift through the gateway ----------------------------------------------------------

#[derive(Debug)]
struct Shift {
    amrs: usize,
    traffic: bool,
    completed: f64,
    failed: f64,
    submitted: usize,
    tasks_per_hour: f64,
    conflicts: u64,
    blocked_secs: f64,
    safety_stops: u64,
    traffic_lines: Vec<String>,
    deadlocks_resolved: f64,
    replans: f64,
    cpu: BTreeMap<String, f64>,
    gateway_lag_ms: (f64, f64),
    fleet_lag_ms: (f64, f64),
    wall: Duration,
}

fn shift(
    gw_rt: &tokio::runtime::Runtime,
    fleet_rt: &tokio::runtime::Runtime,
    amrs: usize,
    traffic: bool,
) -> Shift {
    let lapse = lapse();
    let shift_min = size("SHIFT_MIN", 60) as f64;
    let per_amr = size("OPEN_PER_AMR", 2).max(1);
    let spec = GridSpec::new(AISLES, RACKS, STATIONS, amrs).expect("a grid size");
    let dir = temp_dir("traffic-");
    let cfg = site(&spec, dir.path(), traffic);
    let fleet_cfg = fleet_config(&spec, traffic, lapse);
    let fleet = {
        let _in = fleet_rt.enter();
        Fleet::spawn(&fleet_cfg)
    };
    let gw = gw_rt
        .block_on(Gateway::start(cfg, RunOptions::default()))
        .expect("the gateway starts");
    let admin = gw.admin_addr().expect("an admin listener").port();
    let mut tasks = gw_rt
        .block_on(Tasks::connect(format!("http://{}", gw.addr())))
        .expect("connect to the gateway");
    // Every robot online first.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let online = metric(admin, "floorgate_device_available").unwrap_or(0.0);
        if online as usize >= amrs {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {online} of {amrs} AMRs online"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut workload = Workload::new(&spec);
    let mut submitted = 0;
    let target = per_amr * amrs;
    let mut submit = |tasks: &mut Tasks, n: usize| {
        for _ in 0..n {
            let (source, destination) = workload.next();
            let id = format!("BT-{:06}", submitted + 1);
            let task = pb::Task {
                task_id: id.clone(),
                kind: pb::TaskKind::Pick as i32,
                sku: format!("SKU-{}", submitted % 500 + 1),
                quantity: 1,
                load_id: format!("TOTE-{}", 100_000 + submitted),
                source,
                destination,
                ..Default::default()
            };
            gw_rt
                .block_on(tasks.submit_task(pb::SubmitTaskRequest { task: Some(task) }))
                .unwrap_or_else(|e| panic!("submit {id}: {e}"));
            submitted += 1;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let gw_lag = lag_probe(gw_rt, stop.clone());
    let fleet_lag = lag_probe(fleet_rt, stop.clone());
    let cpu0 = thread_cpu();
    let started = Instant::now();
    let wall = Duration::from_secs_f64(shift_min * 60.0 / lapse);
    submit(&mut tasks, target);
    let mut last_line = Instant::now();
    let (mut completed, mut failed);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let (open, c, f) = task_counts(admin);
        (completed, failed) = (c, f);
        if started.elapsed() >= wall {
            break;
        }
        if (open as usize) < target {
            submit(&mut tasks, target - open as usize);
        }
        if last_line.elapsed() >= Duration::from_secs(15) {
            last_line = Instant::now();
            let w = fleet.world();
            let blocked = metric(admin, "floorgate_traffic_robots_blocked").unwrap_or(0.0);
            println!(
                "  [{:>3.0} min] completed {completed:.0}, open {open:.0}, failed {failed:.0}; robots blocked {blocked:.0}, conflicts {}, blocked {:.0} s",
                started.elapsed().as_secs_f64() * lapse / 60.0,
                w.conflicts,
                w.blocked_secs
            );
        }
    }
    if std::env::var_os("FLOORGATE_BENCH_DUMP").is_some() {
        // Each robot as it sees itself at the end of the shift.
        for r in fleet.robots() {
            let s = serde_json::to_value(r.snapshot()).unwrap_or_default();
            let actions: Vec<String> = s["actionStates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("{}:{}", a["actionType"], a["actionStatus"]))
                .collect();
            println!(
                "  robot {} last {} at ({:.2}, {:.2}) driving {} field {} order {} nodes {} errors {} actions {:?}",
                s["serialNumber"], s["lastNodeId"], s["agvPosition"]["x"].as_f64().unwrap_or(f64::NAN),
                s["agvPosition"]["y"].as_f64().unwrap_or(f64::NAN), s["driving"],
                s["safetyState"]["fieldViolation"], s["orderId"],
                s["nodeStates"].as_array().map_or(0, Vec::len), s["errors"], actions
            );
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_groups(&cpu0, &thread_cpu(), elapsed);
    stop.store(true, Ordering::Relaxed);
    let world = fleet.world();
    let m = scrape(admin);
    let traffic_lines: Vec<String> = m
        .iter()
        .filter(|(n, _, _)| n.starts_with("floorgate_traffic_"))
        .map(|(n, l, v)| {
            if l.is_empty() {
                format!("{n} {v}")
            } else {
                format!("{n}{{{l}}} {v}")
            }
        })
        .collect();
    let deadlocks_resolved = sum(&m, "floorgate_traffic_deadlocks_resolved_total", "");
    let replans = sum(&m, "floorgate_traffic_replans_total", "");
    gw_rt.block_on(gw.shutdown()).expect("gateway shutdown");
    fleet_rt.block_on(fleet.shutdown(Duration::from_secs(2)));
    drop(dir);
    let sim_hours = elapsed.as_secs_f64() * lapse / 3600.0;
    let take = |l: &Arc<Mutex<Vec<Duration>>>| std::mem::take(&mut *l.lock().expect("ok"));
    Shift {
        amrs,
        traffic,
        completed,
        failed,
        submitted,
        tasks_per_hour: completed / sim_hours,
        conflicts: world.conflicts,
        blocked_secs: world.blocked_secs,
        safety_stops: world.robots.iter().map(|r| r.safety_stops).sum(),
        traffic_lines,
        deadlocks_resolved,
        replans,
        cpu,
        gateway_lag_ms: quantiles(take(&gw_lag)),
        fleet_lag_ms: quantiles(take(&fleet_lag)),
        wall: elapsed,
    }
}

fn print_shift(s: &Shift) {
    let what = if s.traffic {
        "traffic on, physical fleet"
    } else {
        "bound: traffic off, pass-through fleet"
    };
    println!(
        "{} AMRs, {what}: {:.0} tasks/h ({:.0} completed, {:.0} failed or cancelled, {} submitted) in {:.1?} wall",
        s.amrs, s.tasks_per_hour, s.completed, s.failed, s.submitted, s.wall
    );
    println!(
        "  fleet world: {} conflicts, {:.0} blocked s (simulated), {} safety stops",
        s.conflicts, s.blocked_secs, s.safety_stops
    );
    println!(
        "  deadlocks resolved {:.0}, re-plans {:.0}",
        s.deadlocks_resolved, s.replans
    );
    for l in &s.traffic_lines {
        println!("  {l}");
    }
    let cpu: Vec<String> = s.cpu.iter().map(|(k, v)| format!("{k} {v:.1}%")).collect();
    println!(
        "  CPU (% of one core): {}; gateway per robot {:.3}%",
        cpu.join(", "),
        s.cpu.get("gateway runtime").copied().unwrap_or(0.0) / s.amrs as f64
    );
    println!(
        "  10 ms timer late by: gateway runtime p99 {} ms (max {}), fleet runtime p99 {} ms (max {})",
        s.gateway_lag_ms.0, s.gateway_lag_ms.1, s.fleet_lag_ms.0, s.fleet_lag_ms.1
    );
}

fn shift_json(s: &Shift) -> Value {
    json!({
        "traffic_enabled": s.traffic,
        "physical_fleet": s.traffic,
        "tasks_per_hour": round(s.tasks_per_hour, 1),
        "completed": s.completed,
        "failed_or_cancelled": s.failed,
        "submitted": s.submitted,
        "conflicts": s.conflicts,
        "blocked_secs_simulated": round(s.blocked_secs, 1),
        "safety_stops": s.safety_stops,
        "deadlocks_resolved": s.deadlocks_resolved,
        "replans": s.replans,
        "traffic_metrics": s.traffic_lines,
        "cpu_percent_of_one_core": s.cpu.iter().map(|(k, v)| (k.clone(), json!(round(*v, 1)))).collect::<serde_json::Map<_, _>>(),
        "gateway_timer_late_ms_p99_max": [s.gateway_lag_ms.0, s.gateway_lag_ms.1],
        "fleet_timer_late_ms_p99_max": [s.fleet_lag_ms.0, s.fleet_lag_ms.1],
        "wall_s": round(s.wall.as_secs_f64(), 1),
    })
}

// --- the allocator alone ------------------------------------------------------------------

struct Replay {
    amrs: usize,
    nodes: usize,
    steps: usize,
    completed: usize,
    moved_fraction: f64,
    deadlocks: usize,
    resolved: usize,
    replans: usize,
    refused_routes: usize,
    request: Summary,
    passed: Summary,
    message: Summary,
    plan_route: Summary,
    set_route: Summary,
    deadlock_check: Summary,
    replan: Option<Summary>,
    wall: Duration,
}

/// One robot of the replay: its route (as the allocator has it) and the stops ahead.
struct Bot {
    id: String,
    route: Vec<String>,
    stops: VecDeque<String>,
}

fn replay(amrs: usize, steps: usize) -> Replay {
    let spec = GridSpec::new(AISLES, RACKS, STATIONS, amrs).expect("a grid size");
    let dir = temp_dir("traffic-replay-");
    let cfg = site(&spec, dir.path(), true);
    let layout = cfg
        .file
        .layout
        .as_ref()
        .expect("the grid has a layout")
        .get_ref()
        .clone();
    drop(dir);
    let map = ResourceMap::new(LayoutSpec::from(&layout)).expect("the grid's resources");
    let nodes = map.node_count();
    let tuning = Config {
        max_segment_nodes: std::env::var("FLOORGATE_BENCH_MAX_SEGMENT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::default().max_segment_nodes),
        ..Config::default()
    };
    let mut alloc = Allocator::new(map, tuning);
    // Location → node, from the site file.
    let node_of: BTreeMap<String, String> = cfg
        .file
        .locations
        .iter()
        .filter_map(|l| Some((l.id.get_ref().clone(), l.node.as_ref()?.get_ref().clone())))
        .collect();
    let mut workload = Workload::new(&spec);
    let mut next_task = || {
        let (rack, station) = workload.next();
        VecDeque::from([node_of[&rack].clone(), node_of[&station].clone()])
    };
    let mut bots: Vec<Bot> = spec
        .start_nodes()
        .into_iter()
        .enumerate()
        .map(|(i, (node, _, _))| {
            let id = GridSpec::serial(i);
            alloc.place(&id, &node).expect("place on its parking node");
            Bot {
                id,
                route: vec![node],
                stops: next_task(),
            }
        })
        .collect();
    let t0 = Instant::now();
    let (mut request, mut passed, mut message) = (Vec::new(), Vec::new(), Vec::new());
    let (mut plan, mut set, mut dl, mut rp) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut completed, mut moved, mut deadlocks, mut resolved, mut refused) = (0, 0usize, 0, 0, 0);
    let replans;
    let wall_cap = Duration::from_secs(180);
    let mut done_steps = 0;
    for step in 0..steps {
        if t0.elapsed() > wall_cap {
            break;
        }
        done_steps = step + 1;
        let now = t0 + Duration::from_secs_f64(step as f64 * STEP_S);
        for b in bots.iter_mut() {
            let (at, _) = alloc.progress(&b.id).expect("placed");
            if at + 1 >= b.route.len() {
                // At the end of its route: the next order.
                if b.stops.is_empty() {
                    completed += 1;
                    b.stops = next_task();
                }
                let here = b.route[at].clone();
                let t = Instant::now();
                let mut route = vec![here.clone()];
                let mut from = here;
                for stop in &b.stops {
                    let leg = alloc
                        .plan_route(Some(&b.id), &from, stop)
                        .expect("every node reaches every other");
                    route.extend(leg.into_iter().skip(1));
                    from = stop.clone();
                }
                plan.push(t.elapsed());
                let t = Instant::now();
                let ok = alloc.set_route(&b.id, &route, now);
                set.push(t.elapsed());
                match ok {
                    Ok(()) => b.route = route,
                    Err(_) => {
                        refused += 1;
                        continue;
                    }
                }
            }
            // One state message: the node passed (if it moved), then the request.
            let at = alloc.progress(&b.id).expect("placed").0;
            let t = Instant::now();
            let grant = alloc.request(&b.id, now).expect("a placed robot");
            let r = t.elapsed();
            request.push(r);
            let mut m = r;
            if grant.base_end > at {
                let t = Instant::now();
                alloc.passed(&b.id, at + 1, now).expect("within its base");
                let p = t.elapsed();
                passed.push(p);
                m += p;
                moved += 1;
                if b.stops.front() == Some(&b.route[at + 1]) {
                    b.stops.pop_front();
                }
            }
            message.push(m);
        }
        if step % 4 == 0 {
            let t = Instant::now();
            let found = alloc.deadlocks();
            dl.push(t.elapsed());
            for d in found {
                deadlocks += 1;
                if let Ok(res) = alloc.resolve(&d, now) {
                    resolved += 1;
                    if let Some(b) = bots.iter_mut().find(|b| b.id == res.robot) {
                        b.route = res.route;
                    }
                }
            }
        }
        // Robots blocked too long: routed again through the stops still ahead, as the
        // adapter re-plans (`replan` when only the route's end is left).
        for id in alloc.due_for_replan(now) {
            let Some(b) = bots.iter_mut().find(|b| b.id == id) else {
                continue;
            };
            let (at, granted) = alloc.progress(&id).expect("placed");
            if at != granted {
                continue;
            }
            let t = Instant::now();
            if b.stops.len() <= 1 {
                // Unchanged (no better way): the allocator keeps the route as it was.
                if let Ok(route) = alloc.replan(&id, now) {
                    if alloc.progress(&id).expect("placed").0 == 0 {
                        b.route = route;
                    }
                }
            } else {
                let mut route = vec![b.route[at].clone()];
                let mut from = b.route[at].clone();
                for stop in &b.stops {
                    match alloc.plan_route(Some(&id), &from, stop) {
                        Ok(leg) => route.extend(leg.into_iter().skip(1)),
                        Err(_) => break,
                    }
                    from = stop.clone();
                }
                if route[..] != b.route[at..] && alloc.set_route(&id, &route, now).is_ok() {
                    b.route = route;
                }
            }
            rp.push(t.elapsed());
        }
    }
    let counters = alloc.counters(t0 + Duration::from_secs_f64(done_steps as f64 * STEP_S));
    replans = counters.replans as usize;
    let wall = t0.elapsed();
    println!(
        "allocator replay, {amrs} robots on {nodes} nodes: {done_steps} steps ({:.0} simulated min) in {wall:.2?}",
        done_steps as f64 * STEP_S / 60.0
    );
    let out = Replay {
        amrs,
        nodes,
        steps: done_steps,
        completed,
        moved_fraction: moved as f64 / (done_steps * amrs).max(1) as f64,
        deadlocks,
        resolved,
        replans,
        refused_routes: refused,
        message: summarize("  state message (passed + request)", message),
        request: summarize("  request", request),
        passed: summarize("  passed", passed),
        plan_route: summarize("  plan_route (per order, both legs)", plan),
        set_route: summarize("  set_route (per order)", set),
        deadlock_check: summarize("  deadlocks() (every 4 steps)", dl),
        replan: (!rp.is_empty()).then(|| summarize("  re-plan of a blocked robot", rp)),
        wall,
    };
    println!(
        "  {} tasks completed ({:.0}/h simulated), robots moved on {:.1}% of their steps; deadlocks found {}, resolved {}; re-plans {}; routes refused {}",
        out.completed,
        out.completed as f64 / (done_steps as f64 * STEP_S / 3600.0),
        100.0 * out.moved_fraction,
        out.deadlocks,
        out.resolved,
        out.replans,
        out.refused_routes
    );
    out
}

fn replay_json(r: &Replay) -> Value {
    json!({
        "robots": r.amrs,
        "nodes": r.nodes,
        "steps": r.steps,
        "step_simulated_s": STEP_S,
        "tasks_completed": r.completed,
        "tasks_per_hour_simulated": round(r.completed as f64 / (r.steps as f64 * STEP_S / 3600.0), 1),
        "moved_fraction": round(r.moved_fraction, 3),
        "deadlocks_found": r.deadlocks,
        "deadlocks_resolved": r.resolved,
        "replans": r.replans,
        "routes_refused": r.refused_routes,
        "state_message_passed_plus_request": r.message.json(),
        "request": r.request.json(),
        "passed": r.passed.json(),
        "plan_route_per_order": r.plan_route.json(),
        "set_route_per_order": r.set_route.json(),
        "deadlocks_check": r.deadlock_check.json(),
        "replan_of_a_blocked_robot": r.replan.map(|s| s.json()),
        "wall_s": round(r.wall.as_secs_f64(), 1),
    })
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let lapse = lapse();
    let shift_min = size("SHIFT_MIN", 60);
    let replay_steps = size("REPLAY_STEPS", 2880);
    let (host, port) = broker();
    println!(
        "traffic: {AISLES} aisles x {RACKS} racks, {STATIONS} stations; fleets {:?}; {shift_min} simulated min per shift at {lapse}x; {} open tasks per AMR; {} broker on {host}:{port}",
        fleets(),
        size("OPEN_PER_AMR", 2),
        broker_name()
    );
    let gw_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fg-gateway")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let fleet_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fg-fleet")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results = Vec::new();
    if std::env::var_os("FLOORGATE_BENCH_REPLAY_ONLY").is_some() {
        // The allocator alone (with `FLOORGATE_BENCH_MAX_SEGMENT` to try a segment cap).
        for amrs in fleets() {
            replay(amrs, replay_steps);
        }
        return;
    }
    for amrs in fleets() {
        let nodes = GridSpec::new(AISLES, RACKS, STATIONS, amrs)
            .expect("a grid size")
            .layout()
            .nodes
            .len();
        println!("--- {amrs} AMRs, {nodes} layout nodes ---");
        let on = shift(&gw_rt, &fleet_rt, amrs, true);
        print_shift(&on);
        if std::env::var_os("FLOORGATE_BENCH_TRAFFIC_ONLY").is_some() {
            continue;
        }
        let bound = shift(&gw_rt, &fleet_rt, amrs, false);
        print_shift(&bound);
        let r = ratio(on.tasks_per_hour, bound.tasks_per_hour);
        let verdict = if amrs == 50 {
            if r >= 0.70 {
                " (target >= 0.70: met)"
            } else {
                " (target >= 0.70: missed)"
            }
        } else {
            ""
        };
        println!(
            "ratio traffic on / contention-free bound at {amrs} AMRs: {:.0}%{verdict}",
            100.0 * r
        );
        results.push((amrs, nodes, on, bound, r));
    }
    let replays: Vec<Replay> = fleets()
        .into_iter()
        .map(|amrs| replay(amrs, replay_steps))
        .collect();
    record(
        "traffic",
        json!({
            "command": "cargo bench --bench traffic",
            "gateway": "in-process floorgate::daemon::Gateway (release profile, default features), not the edge binary",
            "grid": { "aisles": AISLES, "racks": RACKS, "stations": STATIONS },
            "shift_simulated_min": shift_min,
            "time_lapse": lapse,
            "tick_ms": size("TICK_MS", 10),
            "state_interval_ms": size("STATE_MS", 0).max(size("TICK_MS", 10)),
            "open_tasks_per_amr": size("OPEN_PER_AMR", 2),
            "seed": SEED,
            "shifts": results.iter().map(|(amrs, nodes, on, bound, r)| json!({
                "amrs": amrs,
                "layout_nodes": nodes,
                "traffic_on": shift_json(on),
                "bound_pass_through_traffic_off": shift_json(bound),
                "ratio_on_over_bound": r,
            })).collect::<Vec<_>>(),
            "allocator_replay": replays.iter().map(replay_json).collect::<Vec<_>>(),
        }),
    );
}

//! The floor harness of the crash and audit tests: the daemon as a child
//! process (SIGKILLed and restarted on one data directory), seeded
//! randomness, idempotent resubmission. Include with
//! `#[path = "common/floor.rs"] mod floor;` beside `mod common;`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use floorgate::api::pb;
use pb::task_service_client::TaskServiceClient;
use tonic::transport::Channel;

/// A small deterministic generator (xorshift64*), so the kill moments and
/// the task order follow the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `floorgate run` on `site` with its data in `data`, its log appended to
/// `log`; returns once it listens.
pub fn spawn(site: &Path, data: &Path, log: &Path) -> (Child, String) {
    let addr_file = data.with_extension("addr");
    let _ = std::fs::remove_file(&addr_file);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices");
    let mut child = Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args(["run", "--config"])
        .arg(site)
        .arg("--listen-addr-file")
        .arg(&addr_file)
        .env("FLOORGATE_GRPC_LISTEN", "127.0.0.1:0")
        .env("FLOORGATE_ADMIN_LISTEN", "off")
        .env("FLOORGATE_DATA_DIR", data)
        .env("FLOORGATE_PROFILES_DIR", &profiles)
        .env("FLOORGATE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            return (child, format!("http://{a}"));
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the daemon exited at start: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn kill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Submits every job not yet acknowledged, in order; a job whose answer
/// the kill swallowed is submitted again next time (idempotent by id).
pub async fn submit_all(addr: &str, tasks: &[pb::Task], acked: &mut BTreeSet<String>) {
    let Ok(mut c) = TaskServiceClient::connect(addr.to_string()).await else {
        return;
    };
    for t in tasks {
        if acked.contains(&t.task_id) {
            continue;
        }
        match super::common::submit(&mut c, t.clone()).await {
            Ok(_) => {
                acked.insert(t.task_id.clone());
            }
            Err(_) => return,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn states(
    c: &mut TaskServiceClient<Channel>,
    tasks: &[pb::Task],
) -> BTreeMap<String, i32> {
    let mut out = BTreeMap::new();
    for task in tasks {
        let t = c
            .get_task(pb::GetTaskRequest {
                task_id: task.task_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        out.insert(t.task_id, t.state);
    }
    out
}

pub fn log_tail(log: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.read_to_string(&mut s);
    }
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The demo site on a test's simulators: `amrs` robots of `manufacturer`
/// (serials `AMR-000`…), the PLC and the AS/RS at their addresses, the test
/// broker.
pub fn write_site(
    dir: &Path,
    manufacturer: &str,
    amrs: usize,
    plc: std::net::SocketAddr,
    asrs: &str,
) -> PathBuf {
    let mut text = std::fs::read_to_string(super::common::demo_site()).unwrap();
    let mut robots = String::new();
    for i in 0..amrs {
        robots.push_str(&format!(
            "[[devices]]\nid = \"amr-{}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"{manufacturer}/AMR-{i:03}\"\n\n",
            i + 1
        ));
    }
    for n in 1..=3 {
        let block = format!(
            "[[devices]]\nid = \"amr-{n}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"acme/AMR-000{n}\"\n\n"
        );
        assert!(text.contains(&block), "the demo site changed: {block}");
        text = text.replace(&block, if n == 1 { &robots } else { "" });
    }
    for (from, to) in [
        ("127.0.0.1:5020", plc.to_string()),
        ("opc.tcp://127.0.0.1:4840/", asrs.to_string()),
    ] {
        assert!(text.contains(from), "the demo site has no {from}");
        text = text.replace(from, &to);
    }
    let (host, port) = super::amr::broker();
    // The demo's plaintext broker section gives way to the test broker's.
    let demo_mqtt = "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\nmqtt_plaintext = true\n";
    assert!(
        text.contains(demo_mqtt),
        "the demo site changed: {demo_mqtt}"
    );
    text = text.replace(demo_mqtt, "");
    text.push_str(&format!(
        "\n[gateway.mqtt]\nbroker = \"{host}:{port}\"\nmqtt_plaintext = true\nclient_id = \"floorgate-{manufacturer}\"\nkeep_alive_secs = 5\noffline_timeout_secs = 60\nresend_interval_ms = 200\n"
    ));
    let path = dir.join("site.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The conveyor's numbers for the demo site's locations.
pub const INBOUND: u16 = 1;
pub const ASRS_OUT: u16 = 2;
pub const ASRS_IN: u16 = 3;
pub const STATION_3: u16 = 11;
pub const OUTFEED: u16 = 14;

/// The route shapes of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shape {
    /// buffer → station: one AMR transport.
    Amr,
    /// inbound → conveyor-fed station: one conveyor transfer.
    Conveyor,
    /// inbound → outfeed → station: a transfer, then a transport.
    ConveyorAmr,
    /// bin → AS/RS output → outfeed → station: retrieve, transfer, transport.
    AsrsConveyorAmr,
}

/// One task of a workload, with what the floor needs to serve it.
pub struct Job {
    pub task: pb::Task,
    pub shape: Shape,
    /// The tote's number on the PLC.
    pub tote: u32,
    /// The AS/RS bin it starts in.
    pub bin: Option<String>,
}

/// `n` tasks of each shape in `mix`, shuffled by `rng`. At most 20 of
/// the AS/RS shape (the demo grid's bins).
pub fn workload(rng: &mut Rng, mix: &[(Shape, u32)]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &(shape, n) in mix {
        for i in 0..n {
            let station = if rng.below(2) == 0 {
                "PICK-1"
            } else {
                "PICK-2"
            };
            let (prefix, tote, source, destination, bin) = match shape {
                Shape::Amr => ("A", 1000 + i, format!("BUF-{i:02}"), station, None),
                Shape::Conveyor => ("C", 2000 + i, "INBOUND-1".to_string(), "PICK-3", None),
                Shape::ConveyorAmr => ("M", 3000 + i, "INBOUND-1".to_string(), station, None),
                Shape::AsrsConveyorAmr => {
                    // The demo grid: ASRS1-01-01 … ASRS1-04-05.
                    let bin = format!("ASRS1-{:02}-{:02}", i / 5 + 1, i % 5 + 1);
                    ("S", 4000 + i, bin.clone(), station, Some(bin))
                }
            };
            jobs.push(Job {
                task: pb::Task {
                    task_id: format!("{prefix}{i:03}"),
                    kind: pb::TaskKind::Pick as i32,
                    sku: "SKU-1".into(),
                    quantity: 1,
                    load_id: format!("TOTE-{tote}"),
                    source,
                    destination: destination.into(),
                    ..Default::default()
                },
                shape,
                tote,
                bin,
            });
        }
    }
    // A seeded shuffle: the shapes interleave in the submit order.
    for i in (1..jobs.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        jobs.swap(i, j);
    }
    jobs
}

/// The demo site's machines for a workload, on 127.0.0.1:0: the AS/RS with
/// the AS/RS jobs' totes in their bins, the conveyor PLC with the inbound
/// jobs' totes at its infeed, the two coupled at the AS/RS ports, and
/// `amrs` robots of `manufacturer` on `starts`. Machines are fast
/// (`machine_ms` per crane or conveyor move).
pub struct DemoFloor {
    pub asrs: floorgate_sim::asrs::SimAsrs,
    pub plc: floorgate_sim::plc::SimPlc,
    pub fleet: floorgate_sim::amr::Fleet,
    pub profile: std::sync::Arc<floorgate::modbus::ModbusProfile>,
}

pub async fn demo_floor(
    jobs: &[Job],
    manufacturer: &str,
    amrs: usize,
    starts: &[&str],
    machine_ms: u64,
) -> DemoFloor {
    use floorgate_sim::asrs::{Asrs, SimAsrs, SimOptions, Tote};
    use floorgate_sim::handoff::{couple_asrs_and_conveyor, AsrsConveyorLink};
    use floorgate_sim::plc::{Machine, SimPlc};
    let machine = Duration::from_millis(machine_ms);
    let mut grid = Asrs::demo(machine, machine);
    for j in jobs {
        if let Some(bin) = &j.bin {
            grid.put_in_bin(
                bin,
                Tote {
                    id: j.task.load_id.clone(),
                    sku: "SKU-1".into(),
                    quantity: 1,
                },
            );
        }
    }
    let asrs = SimAsrs::start(grid, SimOptions::default()).await.unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
    let profile = std::sync::Arc::new(floorgate::modbus::ModbusProfile::load(&path).unwrap());
    let plc = SimPlc::start(profile.clone(), Machine::conveyor(machine))
        .await
        .unwrap();
    couple_asrs_and_conveyor(
        &asrs,
        &plc,
        &AsrsConveyorLink {
            output_ports: vec![("OUT-1".into(), ASRS_OUT)],
            input_ports: vec![(ASRS_IN, "IN-1".into())],
        },
    );
    for j in jobs {
        if matches!(j.shape, Shape::Conveyor | Shape::ConveyorAmr) {
            plc.place_tote(j.tote, INBOUND);
        }
    }
    // The demo site runs without traffic control, so its robots pass through each other
    // (these floors test durability and outcomes, tests/traffic.rs tests traffic).
    let mut fc = super::amr::fleet_config(manufacturer, amrs, starts).pass_through();
    fc.speed = 40.0;
    fc.handling_s = 0.05;
    fc.state_interval = Duration::from_secs(1);
    let fleet = floorgate_sim::amr::Fleet::spawn(&fc);
    DemoFloor {
        asrs,
        plc,
        fleet,
        profile,
    }
}

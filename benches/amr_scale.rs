//! AMR scale: 1,000 robots publishing VDA 5050 2.0 `state` at 10 Hz through the broker to a
//! `floorgate run` child process; then a ramp of the rate to find where the gateway saturates
//! one core.
//!
//! * The gateway runs as a child on a generated site file (the demo site with its AMRs
//!   replaced by 1,000 AMRs of the 2.0 profile); its CPU is utime + stime of the process
//!   (`/proc/<pid>/stat`) over the window, its RSS `VmRSS`, the messages it processed
//!   `floorgate_telemetry_received_total` on its admin `/metrics`.
//! * The robots are a lean publisher in this process (the simulated fleet is heavier than
//!   the gateway at this size): one MQTT connection per robot with a last will
//!   (`connection` CONNECTIONBROKEN, retained), `connection` ONLINE on connect, then a
//!   `state` built by the simulator's robot model (schema-valid 2.0, `headerId` rising) at
//!   the rate, from a few publishing tasks.
//! * Baseline in the same run: a bare rumqttc subscriber that only counts the same messages,
//!   a child process too (this binary re-executed as `count-subscriber`), CPU and RSS read
//!   the same way.
//! * The console's cost: the same window again with one operator console open on the
//!   gateway's admin port (`/console/events` read and discarded), CPU compared with the
//!   window without.
//! * Ramp through the broker: the per-robot rate doubles while the gateway keeps up, until
//!   the publisher and broker (sharing this 2-core machine with the gateway) cannot push
//!   more; it shows how far the whole broker path goes.
//! * Ceiling on one core: the broker runs out of CPU long before the gateway does, so a
//!   fresh gateway on the same site is pinned to CPU 0 and fed prepared `state` PUBLISH
//!   packets from CPU 1 as fast as its socket takes them (`common/feed.rs`): its processed
//!   rate at 100 % of CPU 0 is the ceiling. Baseline: the counting subscriber, fed the same.
//!
//! Run with `cargo bench --bench amr_scale`; sizes: `FLOORGATE_BENCH_AMRS` (1000),
//! `FLOORGATE_BENCH_HZ` (10), `FLOORGATE_BENCH_WINDOW_SECS` (20: CPU time is read in 10 ms
//! ticks, and the counting subscriber uses about one tick in ten). `FLOORGATE_BENCH_VDA=3.0`
//! runs the same with 3.0 robots (profile `amr-vda5050-v30`, topics `uagv/v3/…`, 3.0 states
//! with `powerSupply`, `instantActionStates`, `zoneSets`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::feed::{pin, Feed};
use common::*;
use floorgate::vda5050::{encode, Connection, ConnectionState, ProtocolVersion, TopicKind};
use floorgate_sim::amr::{Robot, RobotConfig};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::json;

const GROUPS: usize = 4;
const MARK: u32 = 987_654_321;

/// `FLOORGATE_BENCH_TRAFFIC=1`: the robots stand on the parking nodes of a generated
/// warehouse (10 aisles × 20 racks, 6 stations, a parking node per robot) with traffic
/// control on, instead of on the demo site with it off.
fn traffic() -> bool {
    std::env::var("FLOORGATE_BENCH_TRAFFIC").as_deref() == Ok("1")
}

/// The warehouse of traffic mode.
fn grid(n: usize) -> floorgate_sim::site::grid::GridSpec {
    floorgate_sim::site::grid::GridSpec::new(10, 20, 6, n).expect("a grid size")
}

fn manufacturer() -> &'static str {
    if traffic() {
        floorgate_sim::site::grid::MANUFACTURER
    } else {
        "bench"
    }
}

fn serial(i: usize) -> String {
    if traffic() {
        floorgate_sim::site::grid::GridSpec::serial(i)
    } else {
        format!("R{i:04}")
    }
}

/// The version the robots speak: `FLOORGATE_BENCH_VDA` (`2.0`, the default, or `3.0`).
fn version() -> ProtocolVersion {
    match std::env::var("FLOORGATE_BENCH_VDA").as_deref() {
        Ok("3.0") => ProtocolVersion::V3_0,
        Ok("2.0") | Err(_) => ProtocolVersion::V2_0,
        Ok(other) => panic!("FLOORGATE_BENCH_VDA={other}: 2.0 or 3.0"),
    }
}

fn topic(serial: &str, kind: TopicKind) -> String {
    format!(
        "uagv/{}/{}/{serial}/{kind}",
        version().topic_major(),
        manufacturer()
    )
}

/// One robot's connection and its `state` payload around the `headerId`.
struct Bot {
    client: AsyncClient,
    state_topic: String,
    prefix: String,
    suffix: String,
}

/// What the publishers share.
struct Pace {
    /// Microseconds between two states of one robot.
    period_us: AtomicU64,
    published: AtomicU64,
    refused: AtomicU64,
    running: AtomicBool,
    /// While set, the publishers skip their rounds (to count what arrived).
    paused: AtomicBool,
}

async fn connect_fleet(host: &str, port: u16, n: usize, connected: Arc<AtomicU64>) -> Vec<Bot> {
    let mut bots = Vec::with_capacity(n);
    let starts = if traffic() {
        grid(n).start_nodes()
    } else {
        vec![("N1".to_string(), 0.0, 0.0)]
    };
    for i in 0..n {
        let serial = serial(i);
        let (node, x, y) = &starts[i % starts.len()];
        let mut model =
            Robot::new(RobotConfig::new(manufacturer(), &serial, version()).at_node(node, *x, *y));
        let will = Connection {
            header: model.next_header(TopicKind::Connection),
            connection_state: ConnectionState::ConnectionBroken,
        };
        let mut opts = MqttOptions::new(format!("{}-{serial}", manufacturer()), host, port);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1 << 20, 1 << 20)
            .set_last_will(LastWill::new(
                topic(&serial, TopicKind::Connection),
                encode(&will),
                QoS::AtLeastOnce,
                true,
            ));
        let (client, mut events) = AsyncClient::new(opts, 64);
        let up = connected.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        up.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        let (prefix, suffix) = state_template(&mut model);
        let online = Connection {
            header: model.next_header(TopicKind::Connection),
            connection_state: ConnectionState::Online,
        };
        client
            .publish(
                topic(&serial, TopicKind::Connection),
                QoS::AtLeastOnce,
                true,
                encode(&online),
            )
            .await
            .expect("queue the ONLINE connection message");
        bots.push(Bot {
            client,
            state_topic: topic(&serial, TopicKind::State),
            prefix,
            suffix,
        });
        if i % 50 == 49 {
            // Let the event loops connect instead of queueing a thousand CONNECTs at once.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    bots
}

/// A robot's `state` text (schema-valid 2.0, from the simulator's model) before and after
/// its `headerId`.
fn state_template(model: &mut Robot) -> (String, String) {
    let mut state = model.state_message();
    state.header_id = MARK;
    let text = serde_json::to_string(&state).expect("state serializes");
    let (prefix, suffix) = text
        .split_once(&MARK.to_string())
        .expect("the marked headerId");
    (prefix.to_string(), suffix.to_string())
}

async fn publish_group(bots: Vec<Bot>, pace: Arc<Pace>, offset: Duration) {
    tokio::time::sleep(offset).await;
    let mut header_id: u32 = 0;
    let mut next = tokio::time::Instant::now();
    while pace.running.load(Ordering::Relaxed) {
        header_id = header_id.wrapping_add(1);
        let paused = pace.paused.load(Ordering::Relaxed);
        for b in bots.iter().filter(|_| !paused) {
            let payload = format!("{}{header_id}{}", b.prefix, b.suffix).into_bytes();
            match b
                .client
                .try_publish(&b.state_topic, QoS::AtMostOnce, false, payload)
            {
                Ok(()) => pace.published.fetch_add(1, Ordering::Relaxed),
                Err(_) => pace.refused.fetch_add(1, Ordering::Relaxed),
            };
        }
        let period = Duration::from_micros(pace.period_us.load(Ordering::Relaxed));
        next += period;
        let now = tokio::time::Instant::now();
        if next + period < now {
            // Behind by more than a period: do not burst to catch up.
            next = now;
        }
        tokio::time::sleep_until(next).await;
    }
}

/// Rounds of every robot's `state` in the feed (`headerId` 1..=FEED_ROUNDS).
const FEED_ROUNDS: usize = 4;

/// A subscriber's rate and CPU while the feed pushes at it.
struct Saturated {
    rate: f64,
    cpu: f64,
}

fn wait_covered(feed: &Feed) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !feed.covered() {
        assert!(
            Instant::now() < deadline,
            "the subscriber never subscribed to the feed's topics"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets the feed flow at the subscriber `pid` for a warm-up second and a 4 s window;
/// `processed` reads the subscriber's count.
fn saturate(feed: &Feed, pid: u32, processed: impl Fn() -> u64) -> Saturated {
    feed.set_flowing(true);
    std::thread::sleep(Duration::from_secs(1));
    let (c0, cpu, t0) = (processed(), CpuWindow::start(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(4));
    let (c1, secs, pct) = (processed(), t0.elapsed().as_secs_f64(), cpu.percent());
    feed.set_flowing(false);
    Saturated {
        rate: c1.saturating_sub(c0) as f64 / secs,
        cpu: pct,
    }
}

fn received(admin: u16) -> u64 {
    metric(admin, "floorgate_telemetry_received_total").unwrap_or(0.0) as u64
}

struct Step {
    target: f64,
    published: f64,
    processed: f64,
    cpu: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("count-subscriber") {
        count_subscriber(&args[2], args[3].parse().expect("a port"), manufacturer());
        return;
    }
    let n = size("AMRS", 1000);
    let hz = size("HZ", 10) as u64;
    let window = Duration::from_secs(size("WINDOW_SECS", 20) as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (host, port) = broker();
    let v = version();
    let profile = if v.is_v3() {
        "amr-vda5050-v30"
    } else {
        "amr-vda5050-v20"
    };
    println!(
        "AMR scale: {n} robots x {hz} Hz VDA 5050 {} state through the {} broker on {host}:{port}{}",
        v.header_version(),
        broker_name(),
        if traffic() {
            ", on a generated warehouse with traffic control on"
        } else {
            ""
        }
    );

    let dir = temp_dir("amr-scale-");
    let site = dir.path().join("site.toml");
    let text = if traffic() {
        // The broker is the gateway's FLOORGATE_MQTT_BROKER; the placeholder is replaced.
        let mut t = grid(n).site_toml("127.0.0.1:1").replace(
            "profile = \"amr-vda5050\"",
            &format!("profile = \"{profile}\""),
        );
        t.push_str("\n[traffic]\nenabled = true\n");
        t
    } else {
        site_with_amrs(manufacturer(), n, profile, serial)
    };
    std::fs::write(&site, text).expect("write the site file");
    let admin = free_port();
    let mut gateway = spawn_gateway(
        &site,
        dir.path(),
        admin,
        &[("FLOORGATE_MQTT_BROKER", format!("{host}:{port}"))],
    );
    wait_listening(dir.path(), &mut gateway, Duration::from_secs(30));
    // The gateway's subscriptions are in place once it counts the broker up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(admin, "floorgate_connection_up").unwrap_or(0.0) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the gateway never reached the broker"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = rss_bytes(gateway.pid());

    let (mut counter, counted) = spawn_self(&["count-subscriber", &host, &port.to_string()]);
    std::thread::sleep(Duration::from_millis(500));

    let connected = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let bots = runtime.block_on(connect_fleet(&host, port, n, connected.clone()));
    let templates: Vec<(String, String, String)> = bots
        .iter()
        .map(|b| (b.state_topic.clone(), b.prefix.clone(), b.suffix.clone()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) < n as u64 {
        assert!(
            Instant::now() < deadline,
            "only {connected:?} robots connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{n} robots connected in {:.2?}", started.elapsed());

    let pace = Arc::new(Pace {
        period_us: AtomicU64::new(1_000_000 / hz),
        published: AtomicU64::new(n as u64), // the ONLINE connection messages
        refused: AtomicU64::new(0),
        running: AtomicBool::new(true),
        paused: AtomicBool::new(false),
    });
    let per_group = n.div_ceil(GROUPS);
    let mut bots = bots.into_iter();
    let mut publishers = Vec::new();
    for g in 0..GROUPS {
        let group: Vec<Bot> = bots.by_ref().take(per_group).collect();
        let offset = Duration::from_micros(1_000_000 / hz * g as u64 / GROUPS as u64);
        publishers.push(runtime.spawn(publish_group(group, pace.clone(), offset)));
    }
    std::thread::sleep(Duration::from_secs(3));

    // The window at the nominal rate.
    let (p0, g0, c0) = (
        pace.published.load(Ordering::Relaxed),
        received(admin),
        counted.last(),
    );
    let (gw_cpu, base_cpu) = (
        CpuWindow::start(gateway.pid()),
        CpuWindow::start(counter.pid()),
    );
    let t0 = Instant::now();
    std::thread::sleep(window);
    let secs = t0.elapsed().as_secs_f64();
    let (p1, g1, c1) = (
        pace.published.load(Ordering::Relaxed),
        received(admin),
        counted.last(),
    );
    let (gw_pct, base_pct) = (gw_cpu.percent(), base_cpu.percent());
    let (gw_rss, base_rss) = (rss_bytes(gateway.pid()), rss_bytes(counter.pid()));
    let published_rate = (p1 - p0) as f64 / secs;
    let gw_rate = (g1 - g0) as f64 / secs;
    let base_rate = c1.saturating_sub(c0) as f64 / secs;
    let backlog_at_end = (p1 as i64 - g1 as i64).max(0);
    println!(
        "published {published_rate:.0}/s; gateway processed {gw_rate:.0}/s at {gw_pct:.1}% of a core, RSS {} MB (idle {} MB)",
        mb(gw_rss),
        mb(idle_rss)
    );
    println!(
        "baseline counting subscriber: {base_rate:.0}/s at {base_pct:.1}% of a core, RSS {} MB",
        mb(base_rss)
    );
    println!(
        "ratio gateway/baseline: CPU {:.2}x, RSS {:.2}x",
        ratio(gw_pct, base_pct),
        ratio(gw_rss as f64, base_rss as f64)
    );

    // The same window with one operator console open (its event stream read and
    // discarded, as a browser would render it): what watching costs.
    let viewer = ConsoleViewer::open(admin);
    std::thread::sleep(Duration::from_secs(1));
    let watched_cpu = CpuWindow::start(gateway.pid());
    let (g0, t0) = (received(admin), Instant::now());
    std::thread::sleep(window);
    let watched_rate = (received(admin) - g0) as f64 / t0.elapsed().as_secs_f64();
    let watched_pct = watched_cpu.percent();
    let console_bytes = viewer.close();
    println!(
        "with one console open: gateway processed {watched_rate:.0}/s at {watched_pct:.1}% of a core ({:.2}x the window without; {:.0} KiB of snapshots read)",
        ratio(watched_pct, gw_pct),
        console_bytes as f64 / 1024.0
    );
    assert!(console_bytes > 0, "the console streamed nothing");

    // Everything published so far (at the nominal rate only) against what arrived.
    pace.paused.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));
    let nominal_published = pace.published.load(Ordering::Relaxed);
    let nominal_dropped = nominal_published.saturating_sub(received(admin));
    let nominal_base_dropped = nominal_published.saturating_sub(counted.last());
    println!(
        "at {hz} Hz: published {nominal_published}, not processed by the gateway {nominal_dropped}, not counted by the baseline {nominal_base_dropped}"
    );
    pace.paused.store(false, Ordering::Relaxed);

    // The ramp.
    let mut steps = Vec::new();
    let mut rate_hz = hz * 2;
    while rate_hz <= 400 {
        pace.period_us.store(1_000_000 / rate_hz, Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(1));
        let (p0, g0) = (pace.published.load(Ordering::Relaxed), received(admin));
        let cpu = CpuWindow::start(gateway.pid());
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(4));
        let secs = t0.elapsed().as_secs_f64();
        let (p1, g1) = (pace.published.load(Ordering::Relaxed), received(admin));
        let step = Step {
            target: (rate_hz as usize * n) as f64,
            published: (p1 - p0) as f64 / secs,
            processed: (g1 - g0) as f64 / secs,
            cpu: cpu.percent(),
        };
        println!(
            "ramp {rate_hz:>3} Hz: target {:>7.0}/s published {:>7.0}/s processed {:>7.0}/s gateway CPU {:>5.1}%",
            step.target, step.published, step.processed, step.cpu
        );
        let publisher_limited = step.published < 0.8 * step.target;
        let behind = step.processed < 0.95 * step.published;
        steps.push(step);
        if publisher_limited || behind || steps.last().map(|s| s.cpu).unwrap_or(0.0) > 90.0 {
            break;
        }
        rate_hz *= 2;
    }

    // Stop, drain, count what never arrived.
    pace.running.store(false, Ordering::Relaxed);
    runtime.block_on(async {
        for p in publishers {
            let _ = p.await;
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let published_total = pace.published.load(Ordering::Relaxed);
    let gw_total = received(admin);
    let base_total = counted.last();
    let dropped = published_total.saturating_sub(gw_total);
    let base_dropped = published_total.saturating_sub(base_total);
    let refused = pace.refused.load(Ordering::Relaxed);
    let malformed = metric(admin, "floorgate_telemetry_dropped_total").unwrap_or(0.0);
    println!(
        "whole run: published {published_total}, gateway processed {gw_total} (dropped {dropped}, malformed {malformed}), baseline counted {base_total} (dropped {base_dropped}); publisher queue full {refused}"
    );

    let broker_best = steps
        .iter()
        .filter(|s| s.processed >= 0.95 * s.published)
        .map(|s| s.processed)
        .fold(0.0, f64::max);
    gateway.stop(Duration::from_secs(10));
    counter.stop(Duration::from_secs(1));

    // The ceiling: no broker on this machine can push a one-core subscriber to its limit, so
    // the feed (prepared PUBLISH packets, see common/feed.rs) on CPU 1 pushes at a fresh
    // gateway on the same site pinned to CPU 0, then at a fresh counting subscriber.
    let feed_messages: Vec<(String, Vec<u8>)> = (0..FEED_ROUNDS)
        .flat_map(|round| {
            templates.iter().map(move |(topic, prefix, suffix)| {
                (
                    topic.clone(),
                    format!("{prefix}{}{suffix}", round + 1).into_bytes(),
                )
            })
        })
        .collect();
    let feed = runtime.block_on(Feed::start(&feed_messages));
    pin(std::process::id(), 1);
    let cdir = temp_dir("amr-ceiling-");
    let cadmin = free_port();
    let mut cgateway = spawn_gateway(
        &site,
        cdir.path(),
        cadmin,
        &[("FLOORGATE_MQTT_BROKER", format!("127.0.0.1:{}", feed.port))],
    );
    pin(cgateway.pid(), 0);
    wait_listening(cdir.path(), &mut cgateway, Duration::from_secs(30));
    wait_covered(&feed);
    let gw_ceiling = saturate(&feed, cgateway.pid(), || received(cadmin));
    let ceiling_malformed = metric(cadmin, "floorgate_telemetry_dropped_total").unwrap_or(0.0);
    cgateway.stop(Duration::from_secs(10));
    feed.forget_filters();
    let (mut ccounter, ccounted) =
        spawn_self(&["count-subscriber", "127.0.0.1", &feed.port.to_string()]);
    pin(ccounter.pid(), 0);
    wait_covered(&feed);
    let base_ceiling = saturate(&feed, ccounter.pid(), || ccounted.last());
    ccounter.stop(Duration::from_secs(1));
    println!(
        "ceiling on one core: gateway {:.0} state messages/s at {:.1}% of CPU 0; bare counting subscriber {:.0}/s at {:.1}%; ratio {:.2}",
        gw_ceiling.rate, gw_ceiling.cpu, base_ceiling.rate, base_ceiling.cpu,
        ratio(gw_ceiling.rate, base_ceiling.rate)
    );
    if gw_ceiling.cpu < 90.0 {
        println!("  (the gateway used less than 90% of its core: the feed was the limit, the ceiling is higher)");
    }
    if ceiling_malformed > 0.0 {
        println!("  ({ceiling_malformed} messages counted malformed by the gateway)");
    }

    // A variant run keeps its figures apart from the default one's.
    let key = match (v.is_v3(), traffic()) {
        (false, false) => "amr_scale",
        (true, false) => "amr_scale_vda30",
        (false, true) => "amr_scale_traffic",
        (true, true) => "amr_scale_vda30_traffic",
    };
    record(
        key,
        json!({
            "command": "cargo bench --bench amr_scale",
            "vda": v.header_version(),
            "traffic_control": traffic(),
            "broker": broker_name(),
            "robots": n,
            "hz": hz,
            "window_s": round(secs, 2),
            "published_per_s": round(published_rate, 0),
            "gateway": {
                "processed_per_s": round(gw_rate, 0),
                "cpu_percent_of_one_core": round(gw_pct, 1),
                "rss_mb": mb(gw_rss),
                "idle_rss_mb_before_robots": mb(idle_rss),
                "backlog_at_window_end": backlog_at_end,
                "published_at_nominal_rate": nominal_published,
                "dropped_at_nominal_rate": nominal_dropped,
            },
            "baseline_counting_subscriber": {
                "counted_per_s": round(base_rate, 0),
                "cpu_percent_of_one_core": round(base_pct, 1),
                "rss_mb": mb(base_rss),
                "dropped_at_nominal_rate": nominal_base_dropped,
            },
            "ratio_cpu_gateway_over_baseline": ratio(gw_pct, base_pct),
            "ratio_rss_gateway_over_baseline": ratio(gw_rss as f64, base_rss as f64),
            "whole_run_including_ramp": {
                "published": published_total,
                "gateway_processed": gw_total,
                "gateway_dropped": dropped,
                "gateway_malformed": malformed,
                "baseline_counted": base_total,
                "baseline_dropped": base_dropped,
                "publisher_queue_full": refused,
            },
            "ramp": steps.iter().map(|s| json!({
                "target_per_s": s.target,
                "published_per_s": round(s.published, 0),
                "processed_per_s": round(s.processed, 0),
                "gateway_cpu_percent": round(s.cpu, 1),
            })).collect::<Vec<_>>(),
            "broker_path_highest_rate_kept_up_per_s": round(broker_best, 0),
            "ceiling_one_core": {
                "how": "gateway pinned to CPU 0, fed prepared state PUBLISH packets as fast as its socket takes them from CPU 1 (benches/common/feed.rs)",
                "gateway_processed_per_s": round(gw_ceiling.rate, 0),
                "gateway_cpu_percent": round(gw_ceiling.cpu, 1),
                "gateway_malformed": ceiling_malformed,
                "baseline_counting_subscriber_per_s": round(base_ceiling.rate, 0),
                "baseline_cpu_percent": round(base_ceiling.cpu, 1),
                "ratio_gateway_over_baseline": ratio(gw_ceiling.rate, base_ceiling.rate),
            },
        }),
    );
}

/// An operator console's event stream held open on the gateway's admin port, read and
/// discarded on a thread.
struct ConsoleViewer {
    stop: Arc<AtomicBool>,
    reader: std::thread::JoinHandle<u64>,
}

impl ConsoleViewer {
    fn open(admin: u16) -> ConsoleViewer {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", admin)).expect("the admin listener");
        stream
            .write_all(
                b"GET /console/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
            )
            .expect("the console request");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            while !flag.load(Ordering::Relaxed) {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            total
        });
        ConsoleViewer { stop, reader }
    }

    /// Closes the stream; the bytes read.
    fn close(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.reader.join().unwrap_or(0)
    }
}

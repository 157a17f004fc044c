//! What the broker may throw at the gateway (issue 21): an oversized message, a flood of
//! malformed ones, the gateway's own link to the broker breaking. None of it disconnects
//! the fleet, marks a robot offline or drowns the log; every drop is counted exactly.
//!
//! Runs on the embedded broker (or `FLOORGATE_TEST_MQTT_BROKER`); each test has its own
//! manufacturer, so tests sharing the broker never hear each other. Log lines are counted
//! by a `tracing` layer installed for the whole test binary.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use amr::*;
use floorgate::api::pb;
use floorgate_sim::amr::Fleet;
use pb::DeviceAvailability;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

const AMR: &str = "amr-vda5050";

async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("scenario timed out");
}

/// Log lines seen, as `message field=value …`, for the whole test binary.
fn log_lines() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    static INSTALLED: OnceLock<()> = OnceLock::new();
    let lines = LINES.get_or_init(|| Mutex::new(Vec::new()));
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Recorder);
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    });
    lines
}

struct Recorder;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() > tracing::Level::INFO {
            return;
        }
        let mut f = Fields(String::new());
        event.record(&mut f);
        if let Some(lines) = LOG.get() {
            lines.lock().unwrap().push(f.0);
        }
    }
}

static LOG: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();

/// Lines that mention `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    let lines = LOG.get_or_init(log_lines);
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// One `GET /metrics`.
async fn metrics(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut raw))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    raw
}

/// The value of the sample line starting with `name{labels}` (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// A client of the test broker that may publish large messages.
async fn intruder(name: &str) -> AsyncClient {
    let (host, port) = broker();
    let mut opts = MqttOptions::new(name, host, port);
    opts.set_max_packet_size(4 << 20, 4 << 20)
        .set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(opts, 256);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    client
}

fn device_events(events: &[pb::Event]) -> Vec<(&'static str, String)> {
    use pb::event::Kind;
    events
        .iter()
        .filter_map(|e| match e.kind.as_ref()? {
            Kind::DeviceOnline(d) => Some(("device_online", d.device_id.clone())),
            Kind::DeviceOffline(d) => Some(("device_offline", d.device_id.clone())),
            Kind::DeviceFault(d) => Some(("device_fault", d.device_id.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_state_is_dropped_and_counted_with_no_disconnect_and_no_availability_change() {
    LOG.get_or_init(log_lines);
    bounded(60, async {
        let mfr = "t-oversized";
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let admin = gw.admin_addr().expect("an admin listener");
        let adapter = gw.amr_adapter().expect("the AMR adapter");
        assert_eq!(adapter.broker_connects(), 1);
        let before = common::journal(&mut tasks, 0).await.len() as u64;

        let client = intruder("t-oversized-intruder").await;
        let payload = vec![b' '; (1 << 20) + 64];
        client
            .publish(
                format!("uagv/v2/{mfr}/AMR-000/state"),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();

        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let m = metrics(admin).await;
            if sample(
                &m,
                "floorgate_telemetry_dropped_total{reason=\"oversized\"}",
            ) >= 1.0
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never counted:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give a disconnect, if any, the time to show.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let m = metrics(admin).await;
        assert_eq!(
            sample(
                &m,
                "floorgate_telemetry_dropped_total{reason=\"oversized\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(&m, "floorgate_connection_up{endpoint=\"mqtt:broker\"}"),
            1.0
        );
        assert_eq!(
            adapter.broker_connects(),
            1,
            "the gateway never reconnected"
        );
        assert_eq!(adapter.malformed_messages(), 0, "dropped undecoded");
        let after = common::journal(&mut tasks, before).await;
        assert_eq!(device_events(&after), vec![], "no availability change");
        assert_eq!(
            device(&mut devices, "amr-1").await.availability,
            DeviceAvailability::Online as i32
        );
        assert_eq!(lines_with("max_message_bytes").len(), 1);

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_malformed_messages_logs_a_bounded_number_of_lines_and_counts_every_one() {
    LOG.get_or_init(log_lines);
    bounded(90, async {
        let mfr = "t-flood";
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let dir = tempfile::tempdir().unwrap();
        let (gw, _tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let admin = gw.admin_addr().expect("an admin listener");
        let adapter = gw.amr_adapter().expect("the AMR adapter");

        const N: u64 = 3000;
        let client = intruder("t-flood-intruder").await;
        for i in 0..N {
            let (topic, body) = if i % 3 == 0 {
                ("connection", format!("{{\"garbage\": {i}"))
            } else {
                ("state", format!("not json {i}"))
            };
            client
                .publish(
                    format!("uagv/v2/{mfr}/AMR-000/{topic}"),
                    QoS::AtLeastOnce,
                    false,
                    body,
                )
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while adapter.malformed_messages_from("amr-1") != Some(N) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {:?} of {N} counted",
                adapter.malformed_messages_from("amr-1")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let m = metrics(admin).await;
        assert_eq!(
            sample(
                &m,
                "floorgate_telemetry_dropped_total{reason=\"malformed_vda5050\"}"
            ),
            N as f64,
            "the counter is exact"
        );
        let lines = lines_with("t-flood").len() + lines_with("amr-1").len();
        let warned = lines_with("not valid VDA 5050");
        assert!(
            !warned.is_empty() && warned.len() <= 4,
            "one line per topic and reason, {} written: {warned:#?} ({lines} lines in all)",
            warned.len()
        );
        assert_eq!(
            device(&mut devices, "amr-1").await.availability,
            DeviceAvailability::Online as i32
        );
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

/// A TCP relay between the gateway and the broker that can cut every connection through it.
struct Relay {
    addr: SocketAddr,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(Mutex::new(Vec::new()));
        let handles = open.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                handles.lock().unwrap().push(pipe.abort_handle());
            }
        });
        Relay { addr, open }
    }

    /// Drops every connection through the relay (both sockets close).
    fn cut(&self) {
        for h in self.open.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

/// The test site for `n` robots of `mfr`, its broker reached through `relay`.
fn site_through(
    dir: &std::path::Path,
    mfr: &str,
    n: usize,
    relay: &Relay,
) -> floorgate::config::LoadedConfig {
    let mut cfg = site(dir, mfr, &amrs(n, AMR));
    cfg.gateway.mqtt.broker = relay.addr.to_string();
    cfg.gateway.mqtt.reconnect_grace_secs = 10;
    cfg
}

/// Cuts the gateway's broker link once with `n` robots online; returns the journal's
/// device events from the cut until the link is back and settled.
async fn cut_the_link_once(mfr: &str, n: usize) -> Vec<(&'static str, String)> {
    let (host, port) = broker();
    let upstream: SocketAddr = format!("{host}:{port}").parse().unwrap();
    let relay = Relay::start(upstream).await;
    let starts: Vec<&str> = ["N1", "N4", "N7", "N8", "N5"][..n].to_vec();
    let fleet = Fleet::spawn(&fleet_config(mfr, n, &starts));
    let dir = tempfile::tempdir().unwrap();
    let (gw, mut tasks, mut devices) = start(site_through(dir.path(), mfr, n, &relay)).await;
    wait_all_online(&mut devices, n).await;
    let adapter = gw.amr_adapter().expect("the AMR adapter");
    assert_eq!(adapter.broker_connects(), 1);
    let before = common::journal(&mut tasks, 0).await.len() as u64;

    relay.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while adapter.broker_connects() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than a state request takes to be answered, shorter than the grace period.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 1..=n {
        assert_eq!(
            device(&mut devices, &format!("amr-{i}")).await.availability,
            DeviceAvailability::Online as i32,
            "amr-{i} kept its availability"
        );
    }
    let events = device_events(&common::journal(&mut tasks, before).await);
    gw.shutdown().await.unwrap();
    stop_fleet(fleet).await;
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reconnect_to_the_broker_is_not_a_robot_disconnect() {
    bounded(60, async {
        let events = cut_the_link_once("t-relink", 4).await;
        let robots: Vec<_> = events
            .iter()
            .filter(|(_, d)| d.starts_with("amr-"))
            .collect();
        assert_eq!(robots, Vec::<&(&str, String)>::new(), "no per-robot event");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reconnect_journals_the_broker_link_going_down_and_up_once() {
    bounded(60, async {
        let events = cut_the_link_once("t-relink-journal", 4).await;
        assert_eq!(
            events,
            vec![
                ("device_offline", "mqtt:broker".to_string()),
                ("device_online", "mqtt:broker".to_string()),
            ]
        );
    })
    .await;
}

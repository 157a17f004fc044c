//! The admin listener as probes and Prometheus see it: `/healthz`,
//! `/readyz` (a latch), `/metrics` (Prometheus text), on 127.0.0.1:0.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use floorgate::admin::{self, AdminState, Metrics, Readiness};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

/// One `GET path` over HTTP/1.1 with `Connection: close`.
async fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut raw))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        })
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        body: body.to_string(),
    }
}

/// An admin server on port 0 with the given state; dropping the sender
/// stops it.
async fn serve(state: AdminState) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(admin::serve(listener, state, async move {
        let _ = rx.await;
    }));
    (addr, stop)
}

/// The value of the sample `name` (with its labels, exactly as printed).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.rsplit_once(' ').filter(|(n, _)| *n == name))
        .map(|(_, v)| v.parse().unwrap())
}

#[tokio::test]
async fn healthz_answers_200_while_alive_even_before_ready() {
    let (addr, _stop) = serve(AdminState::default()).await;
    let r = get(addr, "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok\n");
}

#[tokio::test]
async fn readyz_is_503_until_the_gateway_serves_and_verbose_lists_the_endpoints() {
    let readiness = Readiness::new();
    let broker = readiness.require("mqtt:broker");
    let (addr, _stop) = serve(AdminState {
        readiness: readiness.clone(),
        metrics: Metrics::new(),
        console: Default::default(),
    })
    .await;

    let r = get(addr, "/readyz").await;
    assert_eq!(r.status, 503);
    assert!(r.body.contains("listening"), "{}", r.body);

    readiness.set_ready();
    let r = get(addr, "/readyz").await;
    assert_eq!(
        r.status, 200,
        "a broker that is away does not hold readiness"
    );
    assert_eq!(r.body, "ready\n");
    let r = get(addr, "/readyz?verbose").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ready\nmqtt:broker: not reached yet\n");

    broker.failed("invalid peer certificate: UnknownIssuer");
    let r = get(addr, "/readyz?verbose").await;
    assert_eq!(
        r.body,
        "ready\nmqtt:broker: not reached yet (last attempt: invalid peer certificate: UnknownIssuer)\n"
    );

    broker.met();
    let r = get(addr, "/readyz?verbose").await;
    assert_eq!(r.body, "ready\nmqtt:broker: reached\n");
}

async fn sim_plc(addr: Option<SocketAddr>) -> floorgate_sim::plc::SimPlc {
    use floorgate_sim::plc::{Machine, SimPlc};
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
    let profile = std::sync::Arc::new(floorgate::modbus::ModbusProfile::load(&path).unwrap());
    let machine = Machine::conveyor(Duration::from_millis(200));
    match addr {
        Some(a) => SimPlc::start_on(a, profile, machine).await.unwrap(),
        None => SimPlc::start(profile, machine).await.unwrap(),
    }
}

/// The demo site with its conveyor PLC at `plc`, its AS/RS simulated (the
/// returned simulator; keep it), and its AMRs' broker embedded (its threads
/// live until the test process ends).
async fn gateway_with_plc(
    data: &std::path::Path,
    plc: SocketAddr,
) -> (floorgate::daemon::Gateway, floorgate_sim::asrs::SimAsrs) {
    use floorgate_sim::asrs::{Asrs, SimAsrs, SimOptions};
    let broker = floorgate::broker::EmbeddedBroker::start()
        .unwrap()
        .addr()
        .to_string();
    let crane = Duration::from_millis(200);
    let asrs = SimAsrs::start(Asrs::demo(crane, crane), SimOptions::default())
        .await
        .unwrap();
    let cfg = demo_config_edited(
        data,
        &[("FLOORGATE_MQTT_BROKER", broker.as_str())],
        &[
            ("127.0.0.1:5020", &plc.to_string()),
            ("opc.tcp://127.0.0.1:4840/", &asrs.url()),
        ],
    );
    let gw = floorgate::daemon::Gateway::start(cfg, floorgate::daemon::RunOptions::default())
        .await
        .unwrap();
    (gw, asrs)
}

async fn until_status(addr: SocketAddr, path: &str, status: u16) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(addr, path).await;
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_gateway_whose_plc_is_away_is_ready_journals_tasks_and_lists_the_plc_as_not_reached() {
    // A free port with nothing listening yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (gw, _asrs) = gateway_with_plc(dir.path(), addr).await;
    let admin = gw.admin_addr().unwrap();
    assert_eq!(get(admin, "/healthz").await.status, 200);
    let r = get(admin, "/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(admin, "/readyz?verbose").await;
    assert!(r.body.contains("plc:conv-1: not reached yet"), "{}", r.body);
    // The cloud can submit: the conveyor task is journaled and waits.
    let mut c = client(gw.addr()).await;
    let t = submit(
        &mut c,
        floorgate::api::pb::Task {
            task_id: "T1".into(),
            kind: floorgate::api::pb::TaskKind::Pick as i32,
            quantity: 1,
            load_id: "TOTE-7".into(),
            source: "INBOUND-1".into(),
            destination: "PICK-3".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        t.task.unwrap().state,
        floorgate::api::pb::TaskState::Planned as i32
    );
    let _plc = sim_plc(Some(addr)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(admin, "/readyz?verbose").await;
        if r.body.contains("plc:conv-1: reached") {
            break;
        }
        assert!(Instant::now() < deadline, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_move_with_an_end_to_end_conveyor_task() {
    let plc = sim_plc(None).await;
    plc.place_tote(7, 1);
    let dir = tempfile::tempdir().unwrap();
    let (gw, _asrs) = gateway_with_plc(dir.path(), plc.addr()).await;
    let admin = gw.admin_addr().unwrap();
    until_status(admin, "/readyz", 200).await;
    let mut c = client(gw.addr()).await;
    let before = get(admin, "/metrics").await.body;
    assert_eq!(
        sample(&before, "floorgate_commands_sent_total{kind=\"conveyor\"}"),
        Some(0.0)
    );
    submit(
        &mut c,
        floorgate::api::pb::Task {
            task_id: "T1".into(),
            kind: floorgate::api::pb::TaskKind::Pick as i32,
            quantity: 1,
            load_id: "TOTE-7".into(),
            source: "INBOUND-1".into(),
            destination: "PICK-3".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = get(admin, "/metrics").await.body;
        if sample(&text, "floorgate_tasks{state=\"completed\"}") == Some(1.0)
            || Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (name, want) in [
        ("floorgate_tasks{state=\"completed\"}", 1.0),
        ("floorgate_commands_sent_total{kind=\"conveyor\"}", 1.0),
        (
            "floorgate_commands_acknowledged_total{kind=\"conveyor\"}",
            1.0,
        ),
        ("floorgate_commands_failed_total{kind=\"conveyor\"}", 0.0),
        ("floorgate_outbox_appended_total", 1.0),
        ("floorgate_outbox_acked_total", 1.0),
        (
            "floorgate_step_duration_seconds_count{command=\"transfer\"}",
            1.0,
        ),
        ("floorgate_device_available{device=\"conv-1\"}", 1.0),
        ("floorgate_connection_up{endpoint=\"plc:conv-1\"}", 1.0),
    ] {
        assert_eq!(sample(&text, name), Some(want), "{name} in\n{text}");
    }
    assert!(sample(&text, "floorgate_events_appended_total").unwrap() >= 7.0);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_started_gateway_is_ready_on_its_admin_port() {
    let plc = sim_plc(None).await;
    let dir = tempfile::tempdir().unwrap();
    let (gw, _asrs) = gateway_with_plc(dir.path(), plc.addr()).await;
    let admin = gw
        .admin_addr()
        .expect("the admin listener is on by default");
    assert_eq!(get(admin, "/healthz").await.status, 200);
    assert_eq!(until_status(admin, "/readyz", 200).await.status, 200);
    gw.shutdown().await.unwrap();
    assert!(
        TcpStream::connect(admin).await.is_err(),
        "the admin port closes at shutdown"
    );
}

#[tokio::test]
async fn admin_listen_off_starts_no_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start_with(dir.path(), &[("FLOORGATE_ADMIN_LISTEN", "off")]).await;
    assert_eq!(gw.admin_addr(), None);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_task_and_event_metrics_move_after_a_submit() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let admin = gw.admin_addr().unwrap();

    let r = get(admin, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        r.content_type
    );
    for line in r.body.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(
                rest.starts_with("HELP floorgate_") || rest.starts_with("TYPE floorgate_"),
                "{line}"
            );
        } else {
            let (name, value) = line.rsplit_once(' ').expect("`name value`");
            assert!(name.starts_with("floorgate_"), "{line}");
            value.parse::<f64>().expect("a number");
        }
    }
    assert_eq!(
        sample(&r.body, "floorgate_tasks{state=\"planned\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&r.body, "floorgate_events_appended_total"),
        Some(0.0)
    );
    assert_eq!(
        sample(&r.body, "floorgate_commands_sent_total{kind=\"amr\"}"),
        Some(0.0)
    );

    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();

    // The sampler runs every second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body = get(admin, "/metrics").await.body;
        let planned = sample(&body, "floorgate_tasks{state=\"planned\"}");
        let appended = sample(&body, "floorgate_events_appended_total");
        if planned == Some(1.0) && appended >= Some(2.0) {
            break body;
        }
        assert!(Instant::now() < deadline, "metrics did not move:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sample(&body, "floorgate_events_acked_total"), Some(0.0));
    // No adapter is running, so the demo's devices are reported offline.
    assert_eq!(
        sample(&body, "floorgate_device_available{device=\"amr-1\"}"),
        Some(0.0)
    );
    gw.shutdown().await.unwrap();
}

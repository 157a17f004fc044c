//! The operator console on the admin listener: the event stream (SSE format, a fresh
//! snapshot on reconnect, snapshots only while someone watches, a viewer that never reads
//! slowing nothing), the site JSON, the operator actions behind the admin token (journaled
//! with the reason `console: …`), no secret in any response, and the page itself in
//! headless Chromium (`browser.rs`). Embedded broker, simulated fleet, real gateway.

#[path = "../common/amr.rs"]
mod amr;
mod browser;
mod cdp;
#[path = "../common/mod.rs"]
mod common;
mod http;

use std::net::SocketAddr;
use std::time::Duration;

use amr::*;
use floorgate::api::pb;
use floorgate::daemon::Gateway;
use floorgate_sim::amr::Fleet;
use http::{get, request, Events};
use pb::{DeviceAvailability, TaskKind, TaskState};
use serde_json::Value;

const AMR: &str = "amr-vda5050";
/// The admin token of the test sites.
pub const TOKEN: &str = "console-test-token-7f3a9c";
/// The broker password of the secrets test.
const PASSWORD: &str = "broker-secret-5d1e";

async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("scenario timed out");
}

/// A gateway with `n` AMRs of the test's manufacturer, standing on N1, N3, N7, …, with
/// `extra` appended to the site file, and their fleet.
pub async fn floor(
    mfr: &str,
    n: usize,
    speed: f64,
    extra: &str,
) -> (Gateway, Fleet, Tasks, Devices, tempfile::TempDir) {
    let mut cfg = fleet_config(mfr, n, &["N1", "N3", "N7", "N8", "N4"]);
    cfg.speed = speed;
    cfg.state_interval = Duration::from_millis(500);
    let fleet = Fleet::spawn(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let (gw, tasks, mut devices) = start(site_with(dir.path(), mfr, &amrs(n, AMR), extra)).await;
    wait_all_online(&mut devices, n).await;
    (gw, fleet, tasks, devices, dir)
}

pub fn token_section() -> String {
    format!("\n[gateway.console]\nadmin_token = \"{TOKEN}\"\n")
}

pub fn admin(gw: &Gateway) -> SocketAddr {
    gw.admin_addr().expect("the admin listener")
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    floorgate::engine::model::now_unix_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_a_json_snapshot_per_data_line_at_2_hz_or_more_and_only_while_someone_listens(
) {
    bounded(60, async {
        let (gw, fleet, mut tasks, _d, _dir) = floor("t-con-sse", 2, 25.0, "").await;
        let addr = admin(&gw);
        assert!(!gw.console().making_snapshots(), "nobody watches yet");

        let mut ev = Events::connect(addr).await;
        assert!(ev.head.starts_with("http/1.1 200"), "{}", ev.head);
        assert!(
            ev.head.contains("content-type: text/event-stream"),
            "{}",
            ev.head
        );
        let started = tokio::time::Instant::now();
        let first = ev.next_within(Duration::from_secs(2)).await;
        let mut seqs = vec![first["seq"].as_u64().unwrap()];
        while seqs.len() < 5 {
            let s = ev.next_within(Duration::from_secs(2)).await;
            seqs.push(s["seq"].as_u64().unwrap());
        }
        let took = started.elapsed();
        // Four intervals after the first: 2 Hz would be 2 s.
        assert!(
            took < Duration::from_millis(1900),
            "5 snapshots took {took:?}"
        );
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
        assert!(gw.console().making_snapshots());
        // Every event is `data: <one line of JSON>` and a blank line.
        for l in &ev.lines {
            assert!(
                l.is_empty() || l.starts_with("data: {") || l.starts_with(':'),
                "not SSE: {l:?}"
            );
        }

        // What a snapshot holds.
        common::submit(&mut tasks, task("S1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        let s = loop {
            let s = ev.next_within(Duration::from_secs(2)).await;
            if s["tasks"]["counts"]
                .as_object()
                .is_some_and(|c| c.values().any(|n| n.as_u64() > Some(0)))
            {
                break s;
            }
        };
        let robots = s["robots"].as_array().unwrap();
        assert_eq!(robots.len(), 2, "{s}");
        for r in robots {
            assert_eq!(r["heard"], true, "{r}");
            assert!(
                r["x"].is_number() && r["y"].is_number() && r["theta"].is_number(),
                "{r}"
            );
            assert!(!r["last_node"].as_str().unwrap().is_empty(), "{r}");
            // Traffic control is on in the AMR test sites: each robot holds its node.
            assert!(!r["holds"]["nodes"].as_array().unwrap().is_empty(), "{r}");
        }
        let devices = s["devices"].as_array().unwrap();
        assert!(devices
            .iter()
            .any(|d| d["id"] == "amr-1" && d["availability"] == "online" && d["kind"] == "amr"));
        assert!(devices.iter().any(|d| d["id"] == "conv-1"), "{s}");
        for k in ["last_seq", "acked_seq", "unacked", "durable_seq"] {
            assert!(s["journal"][k].is_u64(), "journal.{k}: {s}");
        }
        assert!(s["journal"]["unacked"].as_u64().unwrap() > 0);
        assert!(s["failures"].is_array());
        let done = wait_task(
            &mut tasks,
            "S1",
            Duration::from_secs(20),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(done.state, TaskState::Completed as i32);
        // A snapshot made after the completion shows it (one may still be on its way).
        let s = loop {
            let s = ev.next_within(Duration::from_secs(2)).await;
            if s["tasks"]["open"].as_array().unwrap().is_empty() {
                break s;
            }
        };
        assert_eq!(s["tasks"]["counts"]["completed"], 1, "{s}");

        // The last viewer leaves: the maker stops within a period or two.
        drop(ev);
        eventually(
            "the snapshot maker stops once nobody watches",
            Duration::from_secs(3),
            || !gw.console().making_snapshots(),
        )
        .await;
        assert_eq!(gw.console().viewers(), 0);

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_gets_a_fresh_snapshot_at_once() {
    bounded(60, async {
        let (gw, fleet, _t, _d, _dir) = floor("t-con-reconnect", 1, 25.0, "").await;
        let addr = admin(&gw);
        let mut ev = Events::connect(addr).await;
        let before = ev.next_within(Duration::from_secs(2)).await;
        drop(ev);
        eventually("the maker stops", Duration::from_secs(3), || {
            !gw.console().making_snapshots()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;

        let asked = now_ms();
        let connected = tokio::time::Instant::now();
        let mut ev = Events::connect(addr).await;
        let after = ev.next_within(Duration::from_secs(2)).await;
        assert!(
            connected.elapsed() < Duration::from_millis(1000),
            "the first snapshot took {:?}",
            connected.elapsed()
        );
        assert!(
            after["time_unix_ms"].as_i64().unwrap() >= asked,
            "made after the reconnect, not the last one before it: {} < {asked}",
            after["time_unix_ms"]
        );
        assert!(after["time_unix_ms"].as_i64() > before["time_unix_ms"].as_i64());

        // Two viewers at once: a newcomer gets the newest snapshot at once too.
        let mut second = Events::connect(addr).await;
        let s = second.next_within(Duration::from_millis(600)).await;
        assert!(s["seq"].is_u64());
        assert_eq!(gw.console().viewers(), 2);
        drop((ev, second));

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

/// A connection that sends the request and never reads, with a small receive buffer so
/// the gateway's side fills up quickly.
async fn stuck_viewer(addr: SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(addr).await.unwrap();
    s.write_all(
        format!(
            "GET /console/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_never_reads_slows_neither_the_tasks_nor_the_other_viewers() {
    bounded(90, async {
        let (gw, fleet, mut tasks, _d, _dir) = floor("t-con-slow", 3, 25.0, "").await;
        let addr = admin(&gw);
        let stuck = stuck_viewer(addr).await;
        eventually(
            "the stuck viewer is counted",
            Duration::from_secs(3),
            || gw.console().viewers() >= 1,
        )
        .await;

        let started = tokio::time::Instant::now();
        let ids: Vec<String> = (0..6).map(|i| format!("SLOW-{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let (from, to) = match i % 3 {
                0 => ("BUF-01", "PICK-1"),
                1 => ("BUF-02", "PICK-2"),
                _ => ("BUF-03", "PICK-1"),
            };
            common::submit(&mut tasks, task(id, TaskKind::Pick, from, to))
                .await
                .unwrap();
        }
        // Meanwhile a reading viewer sees fresh snapshots at 2 Hz or more.
        let mut reader = Events::connect(addr).await;
        let mut seen = 0;
        let watch_from = tokio::time::Instant::now();
        while seen < 8 {
            reader.next_within(Duration::from_millis(1500)).await;
            seen += 1;
        }
        assert!(
            watch_from.elapsed() < Duration::from_millis(3800),
            "8 snapshots took {:?} with a stuck viewer",
            watch_from.elapsed()
        );
        for id in &ids {
            wait_task(
                &mut tasks,
                id,
                Duration::from_secs(45),
                is(TaskState::Completed),
            )
            .await;
        }
        let took = started.elapsed();
        // Six short picks on three fast robots take a few seconds; well within the
        // bound the AMR tests give one task.
        assert!(took < Duration::from_secs(30), "the tasks took {took:?}");
        // The stuck viewer is still connected, holding nothing back.
        assert!(gw.console().viewers() >= 2);
        assert!(gw.console().making_snapshots());
        drop(stuck);
        drop(reader);

        // Shutdown ends the streams: it does not wait on the viewers.
        let t = tokio::time::Instant::now();
        gw.shutdown().await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_json_has_the_layout_with_parking_and_waiting_nodes_the_locations_zones_and_devices(
) {
    bounded(60, async {
        let extra = "\n[[layout.nodes]]\nid = \"W9\"\nx = 2.5\ny = 7.5\nwaiting = true\n\n[[layout.nodes]]\nid = \"P9\"\nx = -2.0\ny = 5.0\nparking = true\n\n[[layout.edges]]\nfrom = \"N4\"\nto = \"P9\"\n\n[[layout.edges]]\nfrom = \"N7\"\nto = \"W9\"\n";
        let (gw, fleet, _t, _d, _dir) = floor("t-con-site", 1, 25.0, extra).await;
        let addr = admin(&gw);
        let r = get(addr, "/console/site").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let s = r.json();
        assert_eq!(s["actions"], false, "no token in this site: read-only");
        let nodes = s["layout"]["nodes"].as_array().unwrap();
        let node = |id: &str| nodes.iter().find(|n| n["id"] == id).cloned();
        let n2 = node("N2").expect("N2");
        assert_eq!((n2["x"].as_f64(), n2["y"].as_f64()), (Some(5.0), Some(0.0)));
        assert_eq!(node("W9").unwrap()["waiting"], true);
        assert_eq!(node("P9").unwrap()["parking"], true);
        assert_eq!(n2["parking"], false);
        let edges = s["layout"]["edges"].as_array().unwrap();
        assert!(edges.iter().any(|e| e["from"] == "N4" && e["to"] == "P9"));
        assert!(edges.iter().all(|e| e["bidirectional"].is_boolean()));
        let locations = s["locations"].as_array().unwrap();
        let pick1 = locations.iter().find(|l| l["id"] == "PICK-1").unwrap();
        assert_eq!(pick1["kind"], "station");
        assert_eq!(pick1["node"], "N6");
        assert_eq!(pick1["zone"], "stations");
        assert!(locations
            .iter()
            .any(|l| l["id"] == "BUF-" && l["prefix"] == true));
        let zones: Vec<&str> = s["zones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z.as_str().unwrap())
            .collect();
        assert!(zones.contains(&"stations") && zones.contains(&"buffer"), "{zones:?}");
        let devices = s["devices"].as_array().unwrap();
        assert!(devices
            .iter()
            .any(|d| d["id"] == "amr-1" && d["kind"] == "amr" && d["profile"] == AMR));
        assert!(devices.iter().all(|d| d.get("address").is_none()), "{s}");

        // The page and its assets.
        let page = get(addr, "/").await;
        assert_eq!(page.status, 200);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        assert!(page.header("content-security-policy").is_some());
        assert!(page.body.contains("/console/page.js"), "{}", page.body);
        // Nothing loaded from elsewhere (the SVG namespace is a name, not a download).
        for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!page.body.contains(attr), "no CDN: {attr}");
        }
        let js = get(addr, "/console/page.js").await;
        assert_eq!(js.status, 200);
        assert!(js.body.contains("EventSource"));
        assert!(!js.body.contains("import "), "plain JavaScript, no modules to fetch");
        assert_eq!(get(addr, "/console/page.css").await.status, 200);
        // The admin endpoints are still there.
        assert_eq!(get(addr, "/healthz").await.status, 200);

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

/// The journal's `device_commanded` events of `device`: (operation, reason).
async fn commanded(tasks: &mut Tasks, device: &str) -> Vec<(String, String)> {
    common::journal(tasks, 0)
        .await
        .into_iter()
        .filter_map(|e| match e.kind {
            Some(pb::event::Kind::DeviceCommanded(c)) if c.device_id == device => {
                Some((c.operation, c.reason))
            }
            _ => None,
        })
        .collect()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_without_the_token_are_401_with_a_wrong_one_403_and_with_it_carried_out_and_journaled(
) {
    bounded(90, async {
        let (gw, fleet, mut tasks, mut devices, _dir) =
            floor("t-con-act", 2, 3.0, &token_section()).await;
        let addr = admin(&gw);
        assert_eq!(get(addr, "/console/site").await.json()["actions"], true);
        let pause = "/console/actions/devices/amr-1/pause";
        let body = r#"{"reason":"person in the aisle"}"#;

        let r = request(addr, "POST", pause, &[], body).await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.header("www-authenticate").unwrap().starts_with("bearer"));
        let wrong = bearer("not-the-token-at-all-000");
        let r = request(addr, "POST", pause, &[("Authorization", &wrong)], body).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = request(addr, "POST", pause, &[("Authorization", "Basic abc")], body).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            commanded(&mut tasks, "amr-1").await.is_empty(),
            "nothing done"
        );

        let good = bearer(TOKEN);
        let auth = [("Authorization", good.as_str())];
        let r = request(addr, "POST", pause, &auth, body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["reason"], "console: person in the aisle");
        let robot = fleet.robot(0).clone();
        assert_eq!(robot.snapshot().paused, Some(true), "the robot paused");
        assert_eq!(
            commanded(&mut tasks, "amr-1").await,
            [(
                "pause".to_string(),
                "console: person in the aisle".to_string()
            )]
        );
        let r = request(
            addr,
            "POST",
            "/console/actions/devices/amr-1/resume",
            &auth,
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(robot.snapshot().paused, Some(false));
        assert_eq!(
            commanded(&mut tasks, "amr-1").await.last().unwrap(),
            &("resume".to_string(), "console: resume".to_string())
        );

        // The engine's refusals come back with their reasons.
        let r = request(
            addr,
            "POST",
            "/console/actions/devices/nope/pause",
            &auth,
            "",
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = request(
            addr,
            "POST",
            "/console/actions/devices/amr-1/fly",
            &auth,
            "",
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = request(addr, "POST", pause, &auth, "not json").await;
        assert_eq!(r.status, 400, "{}", r.body);

        // Cancel a task through the same path as TaskService.CancelTask.
        common::submit(&mut tasks, task("C1", TaskKind::Pick, "BUF-01", "PICK-2"))
            .await
            .unwrap();
        let cancel = "/console/actions/tasks/C1/cancel";
        assert_eq!(request(addr, "POST", cancel, &[], "").await.status, 401);
        let r = request(
            addr,
            "POST",
            cancel,
            &auth,
            r#"{"reason":"order withdrawn"}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let t = wait_task(
            &mut tasks,
            "C1",
            Duration::from_secs(20),
            is(TaskState::Cancelled),
        )
        .await;
        assert_eq!(t.state, TaskState::Cancelled as i32);
        let reasons: Vec<String> = common::journal(&mut tasks, 0)
            .await
            .into_iter()
            .filter(|e| e.task_id == "C1")
            .filter_map(|e| match e.kind {
                Some(pb::event::Kind::TaskCancelled(c)) => Some(c.reason),
                _ => None,
            })
            .collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].contains("console: order withdrawn"),
            "{reasons:?}"
        );
        let r = request(
            addr,
            "POST",
            "/console/actions/tasks/NOPE/cancel",
            &auth,
            "",
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.body);
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_without_a_token_refuses_every_action_with_403() {
    bounded(60, async {
        let (gw, fleet, mut tasks, _d, _dir) = floor("t-con-ro", 1, 25.0, "").await;
        let addr = admin(&gw);
        let good = bearer(TOKEN);
        let r = request(
            addr,
            "POST",
            "/console/actions/devices/amr-1/pause",
            &[("Authorization", &good)],
            "",
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.body.contains("admin_token"), "{}", r.body);
        assert_eq!(
            request(
                addr,
                "POST",
                "/console/actions/devices/amr-1/pause",
                &[],
                ""
            )
            .await
            .status,
            401
        );
        assert!(commanded(&mut tasks, "amr-1").await.is_empty());
        assert_eq!(fleet.robot(0).snapshot().paused, Some(false));
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_console_response_shows_the_admin_token_or_the_broker_password() {
    bounded(60, async {
        // The broker ignores credentials; the gateway still holds them.
        let extra = token_section();
        let mfr = "t-con-secret";
        let mut fcfg = fleet_config(mfr, 1, &["N1"]);
        fcfg.state_interval = Duration::from_millis(500);
        let fleet = Fleet::spawn(&fcfg);
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = site_with(dir.path(), mfr, &amrs(1, AMR), &extra);
        cfg.gateway.mqtt.username = Some("floorgate".into());
        cfg.gateway.mqtt.password = Some(PASSWORD.into());
        assert!(!format!("{cfg:?}").contains(TOKEN), "Debug hides the token");
        let (gw, _tasks, mut devices) = start(cfg).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let addr = admin(&gw);

        let mut bodies = Vec::new();
        for path in [
            "/",
            "/console/page.js",
            "/console/page.css",
            "/console/site",
        ] {
            let r = get(addr, path).await;
            assert_eq!(r.status, 200, "{path}");
            bodies.push((path.to_string(), r.head + &r.body));
        }
        let mut ev = Events::connect(addr).await;
        let s = ev.next_within(Duration::from_secs(2)).await;
        bodies.push(("/console/events".into(), s.to_string()));
        for (name, auth) in [
            ("no token", None),
            ("wrong token", Some(bearer("x".repeat(24).as_str()))),
            ("good token", Some(bearer(TOKEN))),
        ] {
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("Authorization", a)])
                .unwrap_or_default();
            for path in [
                "/console/actions/devices/amr-1/pause",
                "/console/actions/devices/amr-1/resume",
                "/console/actions/tasks/NOPE/cancel",
                "/console/actions/devices/amr-1/fly",
            ] {
                let r = request(addr, "POST", path, &headers, "").await;
                bodies.push((format!("{name} {path}"), r.head + &r.body));
            }
        }
        for (what, body) in &bodies {
            for secret in [TOKEN, PASSWORD] {
                assert!(!body.contains(secret), "{what} shows a secret: {body}");
            }
        }
        drop(ev);
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[test]
fn the_site_file_refuses_a_short_token_and_a_token_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::demo_site();
    let text = std::fs::read_to_string(&path).unwrap();
    let load = |extra: &str| {
        let t = format!("{text}\n[gateway.console]\n{extra}\n");
        floorgate::config::load_str(&path, &t, &|_| None)
    };
    let e = load("admin_token = \"short\"").unwrap_err().to_string();
    assert!(
        e.contains("gateway.console.admin_token") && e.contains("16"),
        "{e}"
    );
    assert!(
        !e.contains("short\""),
        "the error does not repeat the token: {e}"
    );
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let both = format!(
        "admin_token = \"{TOKEN}\"\nadmin_token_file = \"{}\"",
        file.display()
    );
    let e = load(&both).unwrap_err().to_string();
    assert!(e.contains("contradict"), "{e}");
    let missing = format!(
        "admin_token_file = \"{}\"",
        dir.path().join("nope").display()
    );
    let e = load(&missing).unwrap_err().to_string();
    assert!(e.contains("gateway.console.admin_token_file"), "{e}");
    let cfg = load(&format!("admin_token_file = \"{}\"", file.display())).unwrap();
    assert_eq!(cfg.gateway.console.token().unwrap().as_deref(), Some(TOKEN));
    let e = load("unknown = 1").unwrap_err().to_string();
    assert!(e.contains("unknown"), "{e}");
}

/// The robots' positions as the page shows them: (id, x, y) from the DOM attributes.
pub fn dom_positions(v: &Value) -> Vec<(String, f64, f64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap_or("nan").parse().unwrap_or(f64::NAN),
                r[2].as_str().unwrap_or("nan").parse().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

//! Shared test scaffolding: a gateway on the demo site, listening on
//! 127.0.0.1:0 with its own data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use floorgate::api::pb;
use floorgate::api::pb::task_service_client::TaskServiceClient;
use floorgate::daemon::{Gateway, RunOptions};
use tonic::transport::Channel;

pub fn demo_site() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/site-demo.toml")
}

/// Loads the demo site with the data directory and both listeners (gRPC,
/// admin on port 0) overridden through the environment overrides, plus
/// `extra` ones, which win.
pub fn demo_config(data_dir: &Path, extra: &[(&str, &str)]) -> floorgate::config::LoadedConfig {
    demo_config_edited(data_dir, extra, &[])
}

/// The demo site with text replacements (a device's address, say) applied
/// before it is parsed.
pub fn demo_config_edited(
    data_dir: &Path,
    extra: &[(&str, &str)],
    replace: &[(&str, &str)],
) -> floorgate::config::LoadedConfig {
    let path = demo_site();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "the demo site has no {from:?}");
        text = text.replace(from, to);
    }
    let data_dir = data_dir.to_string_lossy().to_string();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    floorgate::config::load_str(&path, &text, &move |k| {
        if let Some((_, v)) = extra.iter().find(|(n, _)| n == k) {
            return Some(v.clone());
        }
        match k {
            "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
            "FLOORGATE_DATA_DIR" => Some(data_dir.clone()),
            _ => None,
        }
    })
    .unwrap()
}

pub async fn start(data_dir: &Path) -> Gateway {
    start_with(data_dir, &[]).await
}

pub async fn start_with(data_dir: &Path, extra: &[(&str, &str)]) -> Gateway {
    Gateway::start(demo_config(data_dir, extra), RunOptions::default())
        .await
        .unwrap()
}

/// A plaintext channel to the gateway at `addr`, for any of its services.
pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn client(addr: std::net::SocketAddr) -> TaskServiceClient<Channel> {
    TaskServiceClient::new(channel(addr).await)
}

/// A PICK from a floor buffer lane to pick station 1.
pub fn pick(id: &str) -> pb::Task {
    pb::Task {
        task_id: id.to_string(),
        kind: pb::TaskKind::Pick as i32,
        sku: "SKU-42".into(),
        quantity: 3,
        load_id: format!("TOTE-{id}"),
        source: "BUF-07".into(),
        destination: "PICK-1".into(),
        priority: 0,
        ..Default::default()
    }
}

pub async fn submit(
    c: &mut TaskServiceClient<Channel>,
    t: pb::Task,
) -> Result<pb::SubmitTaskResponse, tonic::Status> {
    c.submit_task(pb::SubmitTaskRequest { task: Some(t) })
        .await
        .map(|r| r.into_inner())
}

/// Reads events from a watch stream until `n` arrived (bounded in time).
pub async fn take_events(s: &mut tonic::Streaming<pb::Event>, n: usize) -> Vec<pb::Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), s.message())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        out.push(e);
    }
    out
}

/// Every event after `after` currently in the journal, read with a fresh
/// watch that is dropped once it goes quiet.
pub async fn journal(c: &mut TaskServiceClient<Channel>, after: u64) -> Vec<pb::Event> {
    let mut s = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: after,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(std::time::Duration::from_millis(700), s.message())
        .await
        .map(|r| r.unwrap())
    {
        out.push(e);
    }
    out
}

pub fn kind_name(e: &pb::Event) -> &'static str {
    use pb::event::Kind;
    match e.kind.as_ref().unwrap() {
        Kind::TaskAccepted(_) => "task_accepted",
        Kind::TaskPlanned(_) => "task_planned",
        Kind::TaskStarted(_) => "task_started",
        Kind::StepDispatched(_) => "step_dispatched",
        Kind::StepAcknowledged(_) => "step_acknowledged",
        Kind::StepCompleted(_) => "step_completed",
        Kind::StepFailed(_) => "step_failed",
        Kind::StepCancelled(_) => "step_cancelled",
        Kind::StepStopRequested(_) => "step_stop_requested",
        Kind::StepOutcomeUnknown(_) => "step_outcome_unknown",
        Kind::DeviceCommanded(_) => "device_commanded",
        Kind::TaskCompleted(_) => "task_completed",
        Kind::TaskFailed(_) => "task_failed",
        Kind::TaskCancelled(_) => "task_cancelled",
        Kind::TaskExpired(_) => "task_expired",
        Kind::DeviceOnline(_) => "device_online",
        Kind::DeviceOffline(_) => "device_offline",
        Kind::DeviceFault(_) => "device_fault",
        Kind::TrafficResolved(_) => "traffic_resolved",
        Kind::DeviceAsleep(_) => "device_asleep",
    }
}

/// The daemon as a child process on 127.0.0.1:0.
pub struct Daemon {
    pub child: std::process::Child,
    pub addr: String,
}

/// Starts `floorgate run` on the demo site with its data in `data`, and
/// waits until it listens.
pub fn spawn(data: &Path) -> Daemon {
    spawn_with(data, &[], std::process::Stdio::inherit())
}

pub fn spawn_with(data: &Path, global_args: &[&str], stderr: std::process::Stdio) -> Daemon {
    spawn_with_env(data, global_args, stderr, &[])
}

/// As [`spawn_with`], with extra environment variables for the daemon.
pub fn spawn_with_env(
    data: &Path,
    global_args: &[&str],
    stderr: std::process::Stdio,
    envs: &[(&str, &str)],
) -> Daemon {
    use std::time::{Duration, Instant};
    let addr_file: PathBuf = data.with_extension("addr");
    let _ = std::fs::remove_file(&addr_file);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args(global_args)
        .args(["run", "--config"])
        .arg(demo_site())
        .arg("--listen-addr-file")
        .arg(&addr_file)
        .env("FLOORGATE_GRPC_LISTEN", "127.0.0.1:0")
        .env("FLOORGATE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("FLOORGATE_DATA_DIR", data)
        .env("FLOORGATE_LOG", "info")
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    Daemon {
        child,
        addr: format!("http://{addr}"),
    }
}

pub type Tasks = TaskServiceClient<Channel>;

pub async fn get(c: &mut Tasks, id: &str) -> pb::Task {
    c.get_task(pb::GetTaskRequest { task_id: id.into() })
        .await
        .unwrap()
        .into_inner()
}

/// Polls the task until `done` holds (bounded: 20 s).
pub async fn wait_for(
    c: &mut Tasks,
    id: &str,
    what: &str,
    done: impl Fn(&pb::Task) -> bool,
) -> pb::Task {
    for _ in 0..400 {
        let t = get(c, id).await;
        if done(&t) {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("task {id} never became {what}: {:?}", get(c, id).await);
}

pub fn is(state: pb::TaskState) -> impl Fn(&pb::Task) -> bool {
    move |t| t.state == state as i32
}

/// The first step is in `state`.
pub fn step_is(state: pb::StepState) -> impl Fn(&pb::Task) -> bool {
    move |t| t.steps.first().is_some_and(|s| s.state == state as i32)
}

/// A validator for each message kind of `version`, from the official JSON
/// schemas vendored in `protocols/schemas/vda5050` (draft 2020-12, formats
/// checked).
pub fn vda5050_validators(
    version: floorgate::vda5050::ProtocolVersion,
) -> Vec<(floorgate::vda5050::TopicKind, jsonschema::Validator)> {
    use floorgate::vda5050::TopicKind;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/protocols/schemas/vda5050");
    [
        (TopicKind::Order, "order"),
        (TopicKind::InstantActions, "instantActions"),
        (TopicKind::State, "state"),
        (TopicKind::Visualization, "visualization"),
        (TopicKind::Connection, "connection"),
        (TopicKind::Factsheet, "factsheet"),
        (TopicKind::ZoneSet, "zoneSet"),
        (TopicKind::Responses, "responses"),
    ]
    .into_iter()
    .filter(|(kind, _)| kind.exists_in(version))
    .map(|(kind, name)| {
        let path = format!("{dir}/{}/{name}.schema.json", version.as_str());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let v = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        (kind, v)
    })
    .collect()
}

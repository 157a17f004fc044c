//! The floor harness of the crash and audit tests: the daemon as a child
//! process (SIGKILLed and restarted on one data directory), seeded
//! randomness, idempotent resubmission. Include with
//! `#[path = "common/floor.rs"] mod floor;` beside `mod common;`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
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

pub async fn states(c: &mut TaskServiceClient<Channel>, tasks: &[pb::Task]) -> BTreeMap<String, i32> {
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


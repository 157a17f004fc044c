//! Shared helpers of the benchmarks (`benches/*.rs`, each `harness = false`).
//!
//! * Percentiles and one-line summaries in the style of `modbus_write_latency`.
//! * Results: every benchmark merges its figures under its own key into
//!   `bench/results.json` ([`record`]), so `bench/run.sh` collects one file.
//! * Child processes: the real `floorgate` binary (`CARGO_BIN_EXE_floorgate`), its CPU time
//!   and RSS from `/proc/<pid>/stat` and `/proc/<pid>/status`, its admin `/metrics`.
//! * The broker: the embedded one, or `FLOORGATE_BENCH_MQTT_BROKER=host:port` (mosquitto).
//! * Site files: the demo site with its AMRs replaced by a generated fleet.

#![allow(dead_code)]

pub mod feed;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use floorgate::broker::EmbeddedBroker;
use serde_json::{json, Value};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `floorgate` binary the benchmarks run: `FLOORGATE_BENCH_GATEWAY_BIN` (`bench/run.sh`
/// builds the edge binary, `--no-default-features`, as a site runs it, and names it here),
/// else the release binary cargo built for this benchmark (default features).
pub fn floorgate_bin() -> PathBuf {
    std::env::var_os("FLOORGATE_BENCH_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_floorgate")))
}

/// Which build [`floorgate_bin`] is, for the results.
pub fn floorgate_bin_features() -> &'static str {
    if std::env::var_os("FLOORGATE_BENCH_GATEWAY_BIN").is_some() {
        "edge (--no-default-features: no simulators)"
    } else {
        "default (simulate)"
    }
}

/// A size from the environment (`FLOORGATE_BENCH_<NAME>`), or `default`.
pub fn size(name: &str, default: usize) -> usize {
    std::env::var(format!("FLOORGATE_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// --- statistics ---------------------------------------------------------------------------

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99 and max of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    pub fn json(&self) -> Value {
        json!({
            "n": self.n,
            "p50_us": us(self.p50),
            "p99_us": us(self.p99),
            "max_us": us(self.max),
        })
    }
}

pub fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

pub fn summarize(name: &str, mut samples: Vec<Duration>) -> Summary {
    assert!(!samples.is_empty(), "{name}: no samples");
    samples.sort_unstable();
    let s = Summary {
        n: samples.len(),
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
        max: samples[samples.len() - 1],
    };
    println!(
        "{name:<44} n={:<6} p50={:>10.3?} p99={:>10.3?} max={:>10.3?}",
        s.n, s.p50, s.p99, s.max
    );
    s
}

pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return f64::NAN;
    }
    ((a / b) * 100.0).round() / 100.0
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

// --- results ------------------------------------------------------------------------------

/// `bench/results.json`, or `FLOORGATE_BENCH_RESULTS`.
pub fn results_path() -> PathBuf {
    std::env::var_os("FLOORGATE_BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("bench/results.json"))
}

/// Merges `value` under `key` into the results file (created if missing).
pub fn record(key: &str, value: Value) {
    let path = results_path();
    let mut all: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}));
    if !all.is_object() {
        all = json!({});
    }
    all[key] = value;
    all["machine"] = machine();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&all).expect("JSON values serialize");
    std::fs::write(&path, text + "\n").expect("write the results file");
    println!("results: {} (key {key:?})", path.display());
}

/// What the figures were measured on.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": model,
        "arch": std::env::consts::ARCH,
        "broker": broker_name(),
        "gateway_binary": floorgate_bin_features(),
    })
}

// --- processes ----------------------------------------------------------------------------

/// A free port on 127.0.0.1 chosen by the kernel (the listener is closed again).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU time (user + system) of a process, all its threads.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime is field 14, stime field 15: indexes 11 and 12 after the name.
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / clock_ticks())
}

/// Resident set size of a process, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `RssAnon:`, `RssFile:`), in bytes.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub fn mb(bytes: u64) -> f64 {
    round(bytes as f64 / (1024.0 * 1024.0), 1)
}

/// CPU use of a process over a window: % of one core.
#[derive(Debug)]
pub struct CpuWindow {
    pid: u32,
    cpu: Duration,
    at: Instant,
}

impl CpuWindow {
    pub fn start(pid: u32) -> CpuWindow {
        CpuWindow {
            pid,
            cpu: cpu_time(pid),
            at: Instant::now(),
        }
    }

    /// % of one core since `start`.
    pub fn percent(&self) -> f64 {
        let cpu = cpu_time(self.pid).saturating_sub(self.cpu);
        100.0 * cpu.as_secs_f64() / self.at.elapsed().as_secs_f64()
    }
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGTERM (through `kill`), then wait up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A `floorgate run` child on `site`, with its gRPC address written to a file in `dir`, its
/// admin listener on `admin_port`, its data in `dir/data`, and its log in `dir/gateway.log`.
pub fn spawn_gateway(
    site: &Path,
    dir: &Path,
    admin_port: u16,
    env: &[(&str, String)],
) -> ChildGuard {
    let log = std::fs::File::create(dir.join("gateway.log")).expect("create the gateway log");
    let mut cmd = Command::new(floorgate_bin());
    cmd.arg("run")
        .arg("--config")
        .arg(site)
        .arg("--listen-addr-file")
        .arg(dir.join("grpc.addr"))
        .env("FLOORGATE_GRPC_LISTEN", "127.0.0.1:0")
        .env("FLOORGATE_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("FLOORGATE_DATA_DIR", dir.join("data"))
        .env("FLOORGATE_PROFILES_DIR", root().join("devices"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    ChildGuard(cmd.spawn().expect("spawn floorgate run"))
}

/// Waits for the gRPC address file of [`spawn_gateway`]; the address.
pub fn wait_listening(dir: &Path, child: &mut ChildGuard, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        // Written atomically once the store is open and the listener bound.
        if let Ok(addr) = std::fs::read_to_string(dir.join("grpc.addr")) {
            return addr.trim().to_string();
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            let log = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
            panic!("the gateway exited ({status}):\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not listen in {within:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// The sum of every sample of `name` (all label sets) on the gateway's `/metrics`.
pub fn metric(port: u16, name: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics")?;
    let mut sum = None;
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line.rsplit_once(' ')?;
        let metric = key.split('{').next().unwrap_or(key);
        if metric == name {
            *sum.get_or_insert(0.0) += value.parse::<f64>().ok()?;
        }
    }
    sum
}

/// Polls `/readyz?verbose` until the gateway is ready and every device
/// endpoint (broker, PLC, AS/RS) was reached; the time it took.
pub fn wait_ready(port: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some((200, body)) = http_get(port, "/readyz?verbose") {
            if !body.contains("not reached") {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < within,
            "/readyz not 200 within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What a re-executed child printed: the last number, and how many lines.
#[derive(Debug, Default)]
pub struct Printed {
    pub last: AtomicU64,
    pub lines: AtomicU64,
}

impl Printed {
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }
}

/// Re-executes this benchmark binary with `args` (its `main` dispatches on the first one),
/// stdout piped and read into [`Printed`].
pub fn spawn_self(args: &[&str]) -> (ChildGuard, Arc<Printed>) {
    let exe = std::env::current_exe().expect("the bench binary");
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("re-execute the bench binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let printed = Arc::new(Printed::default());
    let p = printed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(n) = line.trim().parse::<u64>() {
                p.last.store(n, Ordering::Relaxed);
            }
            p.lines.fetch_add(1, Ordering::Relaxed);
        }
    });
    (ChildGuard(child), printed)
}

// --- broker -------------------------------------------------------------------------------

/// The broker of this run: `FLOORGATE_BENCH_MQTT_BROKER=host:port`, or an embedded broker
/// started in this process.
pub fn broker() -> (String, u16) {
    static EMBEDDED: OnceLock<EmbeddedBroker> = OnceLock::new();
    if let Ok(addr) = std::env::var("FLOORGATE_BENCH_MQTT_BROKER") {
        let (host, port) = addr
            .rsplit_once(':')
            .expect("FLOORGATE_BENCH_MQTT_BROKER is host:port");
        return (host.to_string(), port.parse().expect("a port"));
    }
    let b = EMBEDDED.get_or_init(|| EmbeddedBroker::start().expect("embedded broker"));
    (b.host(), b.port())
}

/// Which broker, for the results.
pub fn broker_name() -> &'static str {
    if std::env::var_os("FLOORGATE_BENCH_MQTT_BROKER").is_some() {
        "external"
    } else {
        "embedded (rumqttd)"
    }
}

// --- site files ---------------------------------------------------------------------------

pub fn demo_site() -> PathBuf {
    root().join("devices/site-demo.toml")
}

/// The demo site's text with every AMR device replaced by `count` AMRs `amr-1`… at
/// `{manufacturer}/{serial(i)}` with profile `profile`.
pub fn site_with_amrs(
    manufacturer: &str,
    count: usize,
    profile: &str,
    serial: impl Fn(usize) -> String,
) -> String {
    let text = std::fs::read_to_string(demo_site()).expect("the demo site");
    // Split into top-level sections at every `[` header and drop the AMR devices.
    let mut sections: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') || sections.is_empty() {
            sections.push(String::new());
        }
        let last = sections.last_mut().expect("a section");
        last.push_str(line);
        last.push('\n');
    }
    let mut out = String::new();
    let mut placed = false;
    for s in sections {
        let is_amr =
            s.starts_with("[[devices]]") && s.lines().any(|l| l.replace(' ', "") == "kind=\"amr\"");
        if !is_amr {
            out.push_str(&s);
            continue;
        }
        if !placed {
            placed = true;
            for i in 0..count {
                out.push_str(&format!(
                    "[[devices]]\nid = \"amr-{}\"\nkind = \"amr\"\nprofile = \"{profile}\"\naddress = \"{manufacturer}/{}\"\n\n",
                    i + 1,
                    serial(i)
                ));
            }
        }
    }
    assert!(placed, "the demo site has no AMR devices any more");
    out
}

/// A temporary directory under `target/` (kept on the same disk as the build).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let base = root().join("target/bench-tmp");
    std::fs::create_dir_all(&base).expect("create target/bench-tmp");
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .expect("a temporary directory")
}

/// Size of every file under `dir`, in bytes.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// A bare subscriber that only counts the `state` and `connection` messages of
/// `manufacturer`, printing its count on stdout (on subscription, then every 100 ms): the
/// baseline process of `amr_scale` and `footprint`, run by re-executing the bench binary.
pub fn count_subscriber(host: &str, port: u16, manufacturer: &str) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let mut opts =
            MqttOptions::new(format!("bench-counter-{}", std::process::id()), host, port);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(opts, 16);
        for kind in ["state", "connection"] {
            client
                .subscribe(format!("uagv/+/{manufacturer}/+/{kind}"), QoS::AtLeastOnce)
                .await
                .expect("queue the subscription");
        }
        let mut count: u64 = 0;
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::Publish(_))) => count += 1,
                    Ok(Event::Incoming(Packet::SubAck(_))) => println!("{count}"),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                },
                _ = every.tick() => println!("{count}"),
            }
        }
    });
}

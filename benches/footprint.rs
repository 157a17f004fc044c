//! Footprint of `floorgate run` on the demo site: time from start to ready, idle RSS and idle
//! CPU, and the stripped release binary's size.
//!
//! * The demo site with every endpoint up: the embedded MQTT broker, and the simulated
//!   conveyor PLC (Modbus) and AS/RS (OPC-UA) started in this process on ports the kernel
//!   picks, the site file's addresses pointed at them; its 3 AMRs stay silent.
//! * Start to ready: from spawning the process to `/readyz` answering 200 — the store open,
//!   gRPC bound, the broker, the PLC and the AS/RS each reached once (OPC-UA session and
//!   node checks included). Also start to listening (the `--listen-addr-file`: store open,
//!   gRPC bound). Five starts, each on a fresh data directory; the medians.
//! * Idle: 2 s after ready, RSS (`VmRSS`) and CPU over the next 3 s.
//! * Baseline in the same run: the bare counting MQTT subscriber (this binary re-executed),
//!   start to subscribed and its idle RSS.
//!
//! Run with `cargo bench --bench footprint`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use floorgate::modbus::ModbusProfile;
use floorgate_sim::asrs::{Asrs, SimAsrs, SimOptions};
use floorgate_sim::plc::{Machine, SimPlc};
use serde_json::json;

const STARTS: usize = 5;
/// The demo site's PLC and AS/RS addresses, replaced by the simulators'.
const PLC_ADDRESS: &str = "127.0.0.1:5020";
const ASRS_ADDRESS: &str = "opc.tcp://127.0.0.1:4840/";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("count-subscriber") {
        count_subscriber(&args[2], args[3].parse().expect("a port"), "footprint");
        return;
    }
    let (host, port) = broker();
    let broker_env = [("FLOORGATE_MQTT_BROKER", format!("{host}:{port}"))];
    println!(
        "footprint: floorgate run on the demo site ({} broker, simulated PLC and AS/RS)",
        broker_name()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (plc, asrs) = runtime.block_on(async {
        let profile = std::fs::read_to_string(root().join("devices/conveyor-modbus.toml"))
            .expect("the conveyor profile");
        let plc = SimPlc::start(
            Arc::new(ModbusProfile::from_toml_str(&profile).expect("the conveyor profile")),
            Machine::conveyor(Duration::from_millis(500)),
        )
        .await
        .expect("the simulated PLC");
        let bins = (1..=4).flat_map(|a| (1..=5).map(move |l| format!("ASRS1-{a:02}-{l:02}")));
        let machine = Asrs::new(bins, &["IN-1"], &["OUT-1"], Duration::ZERO, Duration::ZERO);
        let asrs = SimAsrs::start(machine, SimOptions::default())
            .await
            .expect("the simulated AS/RS");
        (plc, asrs)
    });
    let dir = temp_dir("footprint-site-");
    let site = dir.path().join("site.toml");
    let text = std::fs::read_to_string(demo_site()).expect("the demo site");
    for from in [PLC_ADDRESS, ASRS_ADDRESS] {
        assert!(text.contains(from), "the demo site no longer names {from}");
    }
    let text = text
        .replace(PLC_ADDRESS, &plc.addr().to_string())
        .replace(ASRS_ADDRESS, &asrs.url());
    std::fs::write(&site, text).expect("write the site file");

    let mut starts = Vec::new();
    let mut listening = Vec::new();
    let mut idle = None;
    let mut rss_parts = (0, 0);
    for i in 0..STARTS {
        let dir = temp_dir("footprint-");
        let admin = free_port();
        let t0 = Instant::now();
        let mut gw = spawn_gateway(&site, dir.path(), admin, &broker_env);
        wait_listening(dir.path(), &mut gw, Duration::from_secs(30));
        listening.push(t0.elapsed());
        wait_ready(admin, Duration::from_secs(30));
        starts.push(t0.elapsed());
        if i == STARTS - 1 {
            std::thread::sleep(Duration::from_secs(2));
            let cpu = CpuWindow::start(gw.pid());
            std::thread::sleep(Duration::from_secs(3));
            idle = Some((rss_bytes(gw.pid()), cpu.percent()));
            rss_parts = (
                status_kb(gw.pid(), "RssAnon:"),
                status_kb(gw.pid(), "RssFile:"),
            );
        }
        gw.stop(Duration::from_secs(10));
    }
    let start = median(starts.clone());
    let listen = median(listening.clone());
    let (rss, cpu) = idle.expect("measured on the last start");
    println!(
        "start to ready (/readyz 200: store, gRPC, broker, PLC, AS/RS), median of {STARTS}: {start:.2?} (all: {starts:.1?})"
    );
    println!("start to listening (store open, gRPC bound), median: {listen:.2?}");
    println!(
        "idle: RSS {} MB ({} MB heap and stacks, {} MB of the binary and libraries paged in), CPU {cpu:.2}% of a core",
        mb(rss),
        mb(rss_parts.0),
        mb(rss_parts.1)
    );

    // Baseline: the bare subscriber.
    let mut base_starts = Vec::new();
    let mut base_rss = 0;
    for i in 0..STARTS {
        let t0 = Instant::now();
        let (mut child, printed) = spawn_self(&["count-subscriber", &host, &port.to_string()]);
        // The first line comes once the subscription is acknowledged.
        let deadline = Instant::now() + Duration::from_secs(10);
        while printed.lines() == 0 {
            assert!(Instant::now() < deadline, "the baseline never subscribed");
            std::thread::sleep(Duration::from_millis(1));
        }
        let stdout_seen = t0.elapsed();
        base_starts.push(stdout_seen);
        if i == STARTS - 1 {
            std::thread::sleep(Duration::from_secs(2));
            base_rss = rss_bytes(child.pid());
        }
        child.stop(Duration::from_secs(1));
    }
    let base_start = median(base_starts);
    println!(
        "baseline: bare MQTT subscriber, start to subscribed {base_start:.2?}, idle RSS {} MB",
        mb(base_rss)
    );
    println!(
        "ratio gateway/baseline: start {:.2}x, idle RSS {:.2}x",
        ratio(start.as_secs_f64(), base_start.as_secs_f64()),
        ratio(rss as f64, base_rss as f64)
    );

    let bin = floorgate_bin();
    let bin_size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    let stripped = std::process::Command::new("file")
        .arg(&bin)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(", stripped"));
    println!(
        "binary {}: {} MB ({}, {})",
        bin.display(),
        mb(bin_size),
        floorgate_bin_features(),
        match stripped {
            Some(true) => "stripped",
            Some(false) => "not stripped",
            None => "strip state unknown",
        }
    );

    record(
        "footprint",
        json!({
            "command": "cargo bench --bench footprint",
            "start_to_ready_ms_median": round(start.as_secs_f64() * 1000.0, 1),
            "start_to_ready_ms_all": starts.iter().map(|d| round(d.as_secs_f64() * 1000.0, 1)).collect::<Vec<_>>(),
            "start_to_listening_ms_median": round(listen.as_secs_f64() * 1000.0, 1),
            "idle_rss_mb": mb(rss),
            "idle_rss_anon_mb": mb(rss_parts.0),
            "idle_rss_file_mb": mb(rss_parts.1),
            "idle_cpu_percent_of_one_core": round(cpu, 2),
            "baseline_bare_subscriber_start_ms": round(base_start.as_secs_f64() * 1000.0, 1),
            "baseline_bare_subscriber_idle_rss_mb": mb(base_rss),
            "ratio_start_over_baseline": ratio(start.as_secs_f64(), base_start.as_secs_f64()),
            "ratio_idle_rss_over_baseline": ratio(rss as f64, base_rss as f64),
            "binary": {
                "target": std::env::consts::ARCH,
                "features": floorgate_bin_features(),
                "size_mb": mb(bin_size),
                "stripped": stripped,
            },
        }),
    );
}

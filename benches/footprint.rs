//! Footprint of `floorgate run` on the demo site: time from start to ready, idle RSS and idle
//! CPU, and the stripped release binary's size.
//!
//! * Start to ready: from spawning the process to its `--listen-addr-file` appearing (the
//!   store is open and the gRPC listener bound; `/readyz` additionally waits for each
//!   device endpoint, which on the demo site are a PLC and an AS/RS that are not running
//!   here). Five starts, each on a fresh data directory; the median.
//! * Idle: 2 s after ready, RSS (`VmRSS`) and CPU over the next 3 s, with the site's MQTT
//!   broker (the embedded one) up and its 3 AMRs silent.
//! * Baseline in the same run: the bare counting MQTT subscriber (this binary re-executed),
//!   start to subscribed and its idle RSS.
//!
//! Run with `cargo bench --bench footprint`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STARTS: usize = 5;

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
        "footprint: floorgate run on the demo site ({} broker)",
        broker_name()
    );

    let mut starts = Vec::new();
    let mut idle = None;
    for i in 0..STARTS {
        let dir = temp_dir("footprint-");
        let admin = free_port();
        let t0 = Instant::now();
        let mut gw = spawn_gateway(&demo_site(), dir.path(), admin, &broker_env);
        wait_listening(dir.path(), &mut gw, Duration::from_secs(30));
        let took = t0.elapsed();
        starts.push(took);
        if i == STARTS - 1 {
            std::thread::sleep(Duration::from_secs(2));
            let cpu = CpuWindow::start(gw.pid());
            std::thread::sleep(Duration::from_secs(3));
            idle = Some((rss_bytes(gw.pid()), cpu.percent()));
        }
        gw.stop(Duration::from_secs(10));
    }
    let start = median(starts.clone());
    let (rss, cpu) = idle.expect("measured on the last start");
    println!(
        "start to ready (listening, store open), median of {STARTS}: {start:.2?} (all: {starts:.1?})"
    );
    println!("idle: RSS {} MB, CPU {cpu:.2}% of a core", mb(rss));

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
        "binary {}: {} MB ({}, default features incl. simulate)",
        bin.display(),
        mb(bin_size),
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
            "start_to_listening_ms_median": round(start.as_secs_f64() * 1000.0, 1),
            "start_to_listening_ms_all": starts.iter().map(|d| round(d.as_secs_f64() * 1000.0, 1)).collect::<Vec<_>>(),
            "idle_rss_mb": mb(rss),
            "idle_cpu_percent_of_one_core": round(cpu, 2),
            "baseline_bare_subscriber_start_ms": round(base_start.as_secs_f64() * 1000.0, 1),
            "baseline_bare_subscriber_idle_rss_mb": mb(base_rss),
            "ratio_start_over_baseline": ratio(start.as_secs_f64(), base_start.as_secs_f64()),
            "ratio_idle_rss_over_baseline": ratio(rss as f64, base_rss as f64),
            "binary": {
                "target": std::env::consts::ARCH,
                "features": "default (simulate)",
                "size_mb": mb(bin_size),
                "stripped": stripped,
            },
        }),
    );
}

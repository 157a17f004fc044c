//! Offline backlog: 1,000,000 events accumulated while no watcher is connected, then the
//! `WatchEvents` replay rate over gRPC from a `floorgate run` child process, and the sled
//! directory's size on disk.
//!
//! The events are committed directly through `floorgate::store::Store` (the journal API the
//! engine uses: one transaction per change, dense seqs, group-commit flush), 25 tasks' worth
//! per change, each task a `step_dispatched` and a `step_completed`: half a million tasks
//! through the engine would take longer than the whole benchmark budget. The replay reads
//! what the engine would have written, through the same `events_after` path.
//!
//! Baseline in the same run: a bare scan of the same `events` tree with sled 0.34, no
//! decoding, no gRPC.
//!
//! Run with `cargo bench --bench backlog`; size `FLOORGATE_BENCH_EVENTS` (1000000).

mod common;

use std::time::{Duration, Instant};

use common::*;
use floorgate::api::pb;
use floorgate::engine::model::{EventKind, StepRef};
use floorgate::store::{Change, Store};
use serde_json::json;

const PER_CHANGE: usize = 50;

type Tasks = pb::task_service_client::TaskServiceClient<tonic::transport::Channel>;

/// A step reference as the engine journals it (built from JSON, so fields the engine adds
/// with defaults do not break the benchmark).
fn step(i: usize) -> StepRef {
    serde_json::from_value(json!({
        "step_index": 0,
        "device_id": format!("amr-{}", i % 7 + 1),
        "command": "transport",
        "reason": "",
    }))
    .expect("a step reference")
}

fn main() {
    let events = size("EVENTS", 1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("offline backlog: {events} events, then WatchEvents(after_seq 0)");
    let dir = temp_dir("backlog-");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("the data directory");

    // Accumulate.
    let written = runtime.block_on(async {
        let store = Store::open(&data).expect("open the store");
        let started = Instant::now();
        let mut n = 0;
        let mut task = 0;
        while n < events {
            let mut change = Change::default();
            while change.events.len() < PER_CHANGE && n < events {
                let id = format!("BACKLOG-{task:07}");
                change
                    .events
                    .push((id.clone(), EventKind::StepDispatched(step(task))));
                n += 1;
                if n < events {
                    change
                        .events
                        .push((id, EventKind::StepCompleted(step(task))));
                    n += 1;
                }
                task += 1;
            }
            store.commit(change).expect("commit");
        }
        store.flush().await.expect("flush");
        let took = started.elapsed();
        let rate = events as f64 / took.as_secs_f64();
        println!("committed {events} events in {took:.2?}: {rate:.0} events/s");
        rate
    });
    let on_disk = dir_size(&data);
    println!("sled directory: {} MB", mb(on_disk));

    // Baseline: a bare scan of the events tree (the store is closed; sled frees the lock
    // once every handle is dropped).
    let (scanned, scan_rate) = {
        let started = Instant::now();
        let db = loop {
            match sled::open(&data) {
                Ok(db) => break db,
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("open sled: {e}"),
            }
        };
        let tree = db.open_tree("events").expect("the events tree");
        let started = Instant::now();
        let mut count = 0u64;
        let mut bytes = 0u64;
        for kv in tree.iter() {
            let (_, v) = kv.expect("read");
            bytes += v.len() as u64;
            count += 1;
        }
        let rate = count as f64 / started.elapsed().as_secs_f64();
        println!(
            "baseline: bare sled scan of {count} events ({} MB of values): {rate:.0} events/s",
            mb(bytes)
        );
        (count, rate)
    };
    assert_eq!(scanned, events as u64, "every event is in the tree");

    // Replay over gRPC from the real daemon: as the systemd unit and the image run it
    // (MALLOC_ARENA_MAX=1), then with glibc's defaults, on the same directory.
    let deployed = replay(
        &runtime,
        dir.path(),
        events,
        &[("MALLOC_ARENA_MAX", "1".into())],
    );
    let defaults = replay(&runtime, dir.path(), events, &[]);
    for (what, r) in [
        ("as deployed (MALLOC_ARENA_MAX=1)", &deployed),
        ("glibc's default arenas", &defaults),
    ] {
        println!(
            "{what}: replayed {} events over gRPC in {:.2?}: {:.0} events/s (first after {:.2?}); \
             gateway RSS {} MB idle on the directory, peak {} MB (VmHWM), {} MB after ({} MB heap and stacks)",
            r.count,
            r.took,
            r.rate,
            r.first,
            mb(r.rss_idle),
            mb(r.peak),
            mb(r.rss_after),
            mb(r.anon_after)
        );
    }
    let replay_rate = deployed.rate;
    println!(
        "ratio replay / bare sled scan: {:.3}x",
        ratio(replay_rate, scan_rate)
    );

    record(
        "backlog",
        json!({
            "command": "cargo bench --bench backlog",
            "events": events,
            "written_via": "floorgate::store::Store::commit, 50 events per transaction",
            "commit_events_per_s": round(written, 0),
            "sled_dir_mb": mb(on_disk),
            "bytes_per_event": round(on_disk as f64 / events as f64, 0),
            "replay_events_per_s": round(replay_rate, 0),
            "replayed": deployed.count,
            "first_event_ms": round(deployed.first.as_secs_f64() * 1000.0, 1),
            "gateway_store_cache_mb": floorgate::store::DEFAULT_CACHE_MB,
            "gateway_peak_rss_mb": mb(deployed.peak),
            "gateway_rss_mb_after_replay": mb(deployed.rss_after),
            "gateway_rss_anon_mb_after_replay": mb(deployed.anon_after),
            "baseline_gateway_rss_mb_idle_before_replay": mb(deployed.rss_idle),
            "glibc_default_arenas": {
                "replay_events_per_s": round(defaults.rate, 0),
                "gateway_peak_rss_mb": mb(defaults.peak),
                "gateway_rss_mb_after_replay": mb(defaults.rss_after),
                "baseline_gateway_rss_mb_idle_before_replay": mb(defaults.rss_idle),
            },
            "baseline_bare_sled_scan_events_per_s": round(scan_rate, 0),
            "ratio_replay_over_bare_scan": ratio(replay_rate, scan_rate),
        }),
    );
}

/// One replay from a fresh `floorgate run` on `dir`.
struct Replay {
    count: u64,
    took: Duration,
    rate: f64,
    first: Duration,
    /// The gateway open on the directory, before anyone watches: the baseline.
    rss_idle: u64,
    /// VmHWM: the high-water mark over the whole run (open, replay).
    peak: u64,
    rss_after: u64,
    anon_after: u64,
}

fn replay(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    events: usize,
    env: &[(&str, String)],
) -> Replay {
    // The previous run's address file would be read as this one's.
    let _ = std::fs::remove_file(dir.join("grpc.addr"));
    let admin = free_port();
    let mut gateway = spawn_gateway(&demo_site(), dir, admin, env);
    let addr = wait_listening(dir, &mut gateway, Duration::from_secs(60));
    let rss_idle = rss_bytes(gateway.pid());
    let (count, took, first) = runtime.block_on(async {
        let mut c = Tasks::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let started = Instant::now();
        let mut stream = c
            .watch_events(pb::WatchEventsRequest {
                after_seq: 0,
                ..Default::default()
            })
            .await
            .expect("watch")
            .into_inner();
        let mut first = None;
        let mut count = 0u64;
        let mut last_seq = 0;
        while last_seq < events as u64 {
            let e = tokio::time::timeout(Duration::from_secs(30), stream.message())
                .await
                .expect("the replay stalled")
                .expect("stream")
                .expect("stream open");
            first.get_or_insert_with(|| started.elapsed());
            assert_eq!(e.seq, last_seq + 1, "dense seqs");
            last_seq = e.seq;
            count += 1;
        }
        (count, started.elapsed(), first.unwrap_or_default())
    });
    let r = Replay {
        count,
        took,
        rate: count as f64 / took.as_secs_f64(),
        first,
        rss_idle,
        peak: status_kb(gateway.pid(), "VmHWM:"),
        rss_after: rss_bytes(gateway.pid()),
        anon_after: status_kb(gateway.pid(), "RssAnon:"),
    };
    gateway.stop(Duration::from_secs(10));
    r
}

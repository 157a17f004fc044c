//! Decoding VDA 5050 `state`, the gateway's per-message work at fleet scale, against a
//! syntax-only scan of the same bytes (`serde_json` into `IgnoredAny`: what any subscriber
//! that reads the JSON at all must do).
//!
//! * Payloads: 1,000 robots' `state` (VDA 5050 2.0, then 3.0 with its own names:
//!   `powerSupply`, `mobileRobotPosition`, `instantActionStates`; built by the simulator's
//!   robot model and encoded as it sends them, `headerId` rising), decoded round-robin, each
//!   decoded state kept until that robot's next one replaces it — as the adapter keeps each
//!   robot's latest state, so the old one is freed from a cold cache, as in the gateway.
//! * Figures, per version: ns per message of the baseline, of a typed decode into a new
//!   `State`, and of one into a scratch `State` shared by all robots (`decode_in_place`, the
//!   gateway's path), and ratios. The 2.0 figures are recorded at the top of the key, the
//!   3.0 ones under `v3_0`.
//!
//! Run with `cargo bench --bench vda5050_decode`; size: `FLOORGATE_BENCH_MESSAGES` (400,000).

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use floorgate::vda5050::{decode, decode_in_place, encode, ProtocolVersion, State};
use floorgate_sim::amr::{Robot, RobotConfig};
use serde_json::{json, Value};

const ROBOTS: usize = 1000;

fn main() {
    let messages = size("MESSAGES", 400_000);
    let mut figures = measure(ProtocolVersion::V2_0, messages);
    figures["v3_0"] = measure(ProtocolVersion::V3_0, messages);
    record("vda5050_decode", figures);
}

/// The figures of `messages` decodes of `version` states.
fn measure(version: ProtocolVersion, messages: usize) -> Value {
    let payloads: Vec<Vec<u8>> = (0..ROBOTS)
        .map(|i| {
            let mut model = Robot::new(
                RobotConfig::new("bench", &format!("R{i:04}"), version).at_node("N1", 0.0, 0.0),
            );
            encode(&model.state_message())
        })
        .collect();
    let bytes = payloads.iter().map(Vec::len).sum::<usize>() / ROBOTS;
    println!("VDA 5050 {version} state, {bytes} bytes each, {ROBOTS} robots, {messages} messages");

    // Warm up both paths once.
    for p in &payloads {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(p).expect("valid JSON"));
        black_box(decode::<State>(p).expect("valid state"));
    }

    let started = Instant::now();
    for i in 0..messages {
        let p = &payloads[i % ROBOTS];
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(p)).expect("JSON"));
    }
    let scan = started.elapsed().as_nanos() as f64 / messages as f64;

    let mut latest: Vec<Option<State>> = (0..ROBOTS).map(|_| None).collect();
    let started = Instant::now();
    for i in 0..messages {
        let p = &payloads[i % ROBOTS];
        latest[i % ROBOTS] = Some(decode::<State>(black_box(p)).expect("valid state"));
    }
    let typed = started.elapsed().as_nanos() as f64 / messages as f64;

    // As the adapter does: every robot's state decoded into one scratch `State` shared by
    // the fleet (`take_state` in src/adapters/vda5050/mod.rs).
    let mut scratch: State = latest[0].clone().expect("decoded");
    let started = Instant::now();
    for i in 0..messages {
        decode_in_place(black_box(&payloads[i % ROBOTS]), &mut scratch).expect("valid state");
        black_box(&scratch);
    }
    let in_place = started.elapsed().as_nanos() as f64 / messages as f64;
    black_box(&latest);

    println!("syntax-only scan (baseline):      {scan:.0} ns/message");
    println!("typed decode into a new State:    {typed:.0} ns/message");
    println!("typed decode into the scratch:    {in_place:.0} ns/message (the gateway's path)");
    println!(
        "ratio typed/scan: new {:.2}x, in place {:.2}x",
        ratio(typed, scan),
        ratio(in_place, scan)
    );
    json!({
        "payload_bytes": bytes,
        "messages": messages,
        "scan_ns_per_message": round(scan, 0),
        "decode_new_ns_per_message": round(typed, 0),
        "decode_in_place_ns_per_message": round(in_place, 0),
        "ratio_new_over_scan": round(ratio(typed, scan), 2),
        "ratio_in_place_over_scan": round(ratio(in_place, scan), 2),
    })
}

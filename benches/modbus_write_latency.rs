//! Write → acknowledge latency of the Modbus mailbox while 100 PLCs are polled.
//!
//! Starts 100 simulated conveyor PLCs in-process on loopback and one client per PLC. A
//! series of commands goes round-robin to the PLCs; each sample is the time from
//! `send_command` to the verified acknowledgement (write, then read-back of `acked_seq`).
//! Measured twice in the same run: a baseline with polling idle, then with every PLC polled
//! every 100 ms. Run with `cargo bench --bench modbus_write_latency`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floorgate::modbus::{ClientCounters, Mailbox, ModbusClient, ModbusProfile};
use floorgate_sim::plc::{Machine, SimPlc};

const PLCS: usize = 100;
const SAMPLES: usize = 600;
const SPACING: Duration = Duration::from_millis(3);
const WARM_UP: Duration = Duration::from_millis(500);

struct Fleet {
    _plcs: Vec<SimPlc>,
    mailboxes: Vec<Mailbox>,
    seqs: Vec<u16>,
    tote_at_port: Vec<bool>,
}

async fn fleet(poll_period: Duration) -> Fleet {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
    let mut profile = ModbusProfile::load(&path).expect("shipped profile");
    profile.poll.period_ms = u64::try_from(poll_period.as_millis()).expect("period fits");
    let profile = Arc::new(profile);
    let mut plcs = Vec::with_capacity(PLCS);
    let mut mailboxes = Vec::with_capacity(PLCS);
    for _ in 0..PLCS {
        let plc = SimPlc::start(Arc::clone(&profile), Machine::conveyor(Duration::ZERO))
            .await
            .expect("start PLC");
        plc.place_tote(1, 1);
        mailboxes.push(Mailbox::new(ModbusClient::spawn(
            plc.addr(),
            Arc::clone(&profile),
        )));
        plcs.push(plc);
    }
    for mailbox in &mailboxes {
        let mut status = mailbox.client().status();
        status.wait_for(|s| s.is_some()).await.expect("first poll");
    }
    Fleet {
        _plcs: plcs,
        mailboxes,
        seqs: vec![0; PLCS],
        tote_at_port: vec![true; PLCS],
    }
}

async fn measure(fleet: &mut Fleet) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let n = i % PLCS;
        fleet.seqs[n] += 1;
        let (from, to) = if fleet.tote_at_port[n] {
            (1.0, 11.0)
        } else {
            (11.0, 1.0)
        };
        fleet.tote_at_port[n] = !fleet.tote_at_port[n];
        let args = [("tote", 1.0), ("from", from), ("to", to)];
        let started = Instant::now();
        let outcome = fleet.mailboxes[n]
            .send_named("transfer", &args, fleet.seqs[n])
            .await;
        let elapsed = started.elapsed();
        match outcome {
            Ok(Ok(_)) => samples.push(elapsed),
            other => panic!("command {i} to PLC {n}: {other:?}"),
        }
        tokio::time::sleep(SPACING).await;
    }
    samples
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() as f64)).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Summary {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn summarize(name: &str, mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let s = Summary {
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
        max: samples[samples.len() - 1],
    };
    println!(
        "{name:<28} n={:<4} p50={:>9.3?} p99={:>9.3?} max={:>9.3?}",
        samples.len(),
        s.p50,
        s.p99,
        s.max
    );
    s
}

fn polls(fleet: &Fleet) -> u64 {
    fleet
        .mailboxes
        .iter()
        .map(|m| ClientCounters::get(&m.client().counters().polls_total))
        .sum()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        println!(
            "modbus write -> ack latency, {PLCS} simulated PLCs on loopback, {SAMPLES} commands"
        );

        let mut idle = fleet(Duration::from_secs(3_600)).await;
        tokio::time::sleep(WARM_UP).await;
        let baseline = summarize("baseline (no polling)", measure(&mut idle).await);
        drop(idle);

        let mut busy = fleet(Duration::from_millis(100)).await;
        tokio::time::sleep(WARM_UP).await;
        let polls_before = polls(&busy);
        let started = Instant::now();
        let loaded = summarize("polling 100 PLCs / 100 ms", measure(&mut busy).await);
        let rate = (polls(&busy) - polls_before) as f64 / started.elapsed().as_secs_f64();
        println!("status polls during the loaded run: {rate:.0}/s");

        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "ratio loaded/baseline: p50 {:.2}x, p99 {:.2}x, max {:.2}x",
            ratio(loaded.p50, baseline.p50),
            ratio(loaded.p99, baseline.p99),
            ratio(loaded.max, baseline.max)
        );
    });
}

//! The outcome audit: the journal tells the truth. A seeded chaos run of
//! mixed routes over all three protocols — AMR transports, conveyor
//! transfers, conveyor → AMR and AS/RS → conveyor → AMR picks — with the
//! daemon SIGKILLed and restarted, while the floor misbehaves the way real
//! floors do:
//!
//! - the PLC fails a command by its own result code, presses its e-stop in
//!   the scan a command finished, loses the reply to a write it took, and an
//!   HMI writes the same mailbox during floorgate's moves;
//! - robots refuse a cancel once loaded, raise a FATAL error right after a
//!   drop, and the cloud cancels tasks at random moments;
//! - the AS/RS crane jams mid-task, also while the gateway is down, and an
//!   operator resets it through DeviceService.
//!
//! The simulators run in this process and keep their own record of what
//! really happened. At the end, for every step, the journal's outcome equals
//! that record (COMPLETED only if the device did it once, FAILED or
//! CANCELLED only if it did not), no load was moved by two robots, no
//! command ran twice, every task ended or holds its device with a
//! `step_outcome_unknown` event, and the journal is dense.
//!
//! Seeds: `FLOORGATE_AUDIT_SEEDS` (comma-separated; default five fixed
//! seeds, so a run is repeatable). The figures are printed per seed.

#[path = "common/amr.rs"]
mod amr;
mod common;
#[path = "common/floor.rs"]
mod floor;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floor::{kill, log_tail, spawn, submit_all, workload, Job, Rng, Shape};
use floorgate::api::pb;
use floorgate_sim::amr::{CancelPolicy, Fleet, Happened};
use floorgate_sim::asrs::{SimAsrs, TaskOutcome};
use floorgate_sim::plc::{CommandOutcome, Hmi, SimPlc};
use pb::device_service_client::DeviceServiceClient;
use pb::event::Kind;
use pb::task_service_client::TaskServiceClient;

const AMRS: usize = 4;
const KILLS: usize = 3;
/// The HMI numbers its commands from here; floorgate's stay far below.
const HMI_SEQ: u16 = 60_000;

/// What the chaos did, per kind.
#[derive(Debug, Default)]
struct Injected {
    plc_failures: AtomicU32,
    estops_after_completion: AtomicU32,
    lost_replies: AtomicU32,
    hmi_writes: AtomicU32,
    cancels: AtomicU32,
    faults_after_drop: AtomicU32,
    crane_jams: AtomicU32,
    jams_while_down: AtomicU32,
    operator_resets: AtomicU32,
}

impl Injected {
    fn total(&self) -> u32 {
        [
            &self.plc_failures,
            &self.estops_after_completion,
            &self.lost_replies,
            &self.hmi_writes,
            &self.cancels,
            &self.faults_after_drop,
            &self.crane_jams,
            &self.jams_while_down,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
}

/// The floor of one seed's run.
struct Floor {
    plc: SimPlc,
    asrs: SimAsrs,
    fleet: Fleet,
    profile: Arc<floorgate::modbus::ModbusProfile>,
    injected: Injected,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_s_outcome_of_every_step_is_what_the_device_did_under_chaos_and_sigkills() {
    let seeds: Vec<u64> = std::env::var("FLOORGATE_AUDIT_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![11, 23, 37, 41, 59]);
    let mut failures = Vec::new();
    for seed in seeds {
        eprintln!("outcome_audit seed {seed} (FLOORGATE_AUDIT_SEEDS)");
        let divergences = audit(seed).await;
        if !divergences.is_empty() {
            failures.push((seed, divergences));
        }
    }
    assert!(
        failures.is_empty(),
        "divergences between the journal and the floor: {failures:#?}"
    );
}

/// One seeded run; returns every divergence found.
async fn audit(seed: u64) -> Vec<String> {
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let jobs = workload(
        &mut rng,
        &[
            (Shape::Amr, 24),
            (Shape::Conveyor, 12),
            (Shape::ConveyorAmr, 8),
            (Shape::AsrsConveyorAmr, 8),
        ],
    );
    let tasks: Vec<pb::Task> = jobs.iter().map(|j| j.task.clone()).collect();
    let manufacturer = format!("t-audit-{seed}");
    let floor = Arc::new(start_floor(&jobs, &manufacturer).await);

    let dir = tempfile::tempdir().unwrap();
    let site = floor::write_site(
        dir.path(),
        &manufacturer,
        AMRS,
        floor.plc.addr(),
        &floor.asrs.url(),
    );
    let data = dir.path().join("data");
    let log = dir.path().join("daemon.log");

    let mut acked = BTreeSet::new();
    for life in 0..KILLS {
        let (mut child, addr) = spawn(&site, &data, &log);
        let at = Duration::from_millis(800 + rng.below(2_500));
        let chaos = tokio::spawn(chaos(
            floor.clone(),
            addr.clone(),
            jobs_of(&jobs),
            rng.next(),
        ));
        let _ = tokio::time::timeout(at, async {
            submit_all(&addr, &tasks, &mut acked).await;
            std::future::pending::<()>().await
        })
        .await;
        kill(&mut child);
        chaos.abort();
        let _ = chaos.await;
        // Work the floor finishes — or fails — while nobody watches.
        if rng.below(2) == 0 {
            floor.asrs.with(|m| m.jam_crane(true));
            floor
                .injected
                .jams_while_down
                .fetch_add(1, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        eprintln!(
            "  life {life}: killed after {at:?}; {} tasks acknowledged",
            acked.len()
        );
    }

    // The last life: chaos for a while, then the floor settles and an
    // operator clears what is left faulted.
    let (mut child, addr) = spawn(&site, &data, &log);
    let chaos_task = tokio::spawn(chaos(
        floor.clone(),
        addr.clone(),
        jobs_of(&jobs),
        rng.next(),
    ));
    submit_all(&addr, &tasks, &mut acked).await;
    assert_eq!(acked.len(), jobs.len(), "every task acknowledged");
    tokio::time::sleep(Duration::from_secs(3)).await;
    chaos_task.abort();
    let _ = chaos_task.await;
    let mut c = TaskServiceClient::connect(addr.clone()).await.unwrap();
    let mut d = DeviceServiceClient::connect(addr.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let final_tasks = loop {
        settle_floor(&floor, &mut d).await;
        let now: Vec<pb::Task> = {
            let mut out = Vec::new();
            for t in &tasks {
                out.push(
                    c.get_task(pb::GetTaskRequest {
                        task_id: t.task_id.clone(),
                    })
                    .await
                    .unwrap()
                    .into_inner(),
                );
            }
            out
        };
        let open: Vec<&pb::Task> = now.iter().filter(|t| !settled(t)).collect();
        if open.is_empty() {
            break now;
        }
        if Instant::now() > deadline {
            let sample: Vec<_> = open.iter().take(5).collect();
            kill(&mut child);
            panic!(
                "seed {seed}: {} tasks neither ended nor held with an unknown outcome, e.g. {sample:#?}\n--- daemon log ---\n{}",
                open.len(),
                log_tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let events = common::journal(&mut c, 0).await;
    kill(&mut child);

    let divergences = compare(&floor, &jobs, &final_tasks, &events);
    let count = |s: pb::TaskState| final_tasks.iter().filter(|t| t.state == s as i32).count();
    let steps: usize = final_tasks.iter().map(|t| t.steps.len()).sum();
    let unknown = events
        .iter()
        .filter(|e| matches!(e.kind, Some(Kind::StepOutcomeUnknown(_))))
        .count();
    let i = &floor.injected;
    eprintln!(
        "  seed {seed}: {} tasks ({} completed, {} failed, {} cancelled), {steps} steps, {} events, \
         {unknown} outcome-unknown events; injected {} faults (PLC result failures {}, e-stops after completion {}, \
         lost write replies {}, HMI writes {}, cancels {}, robot faults after drop {}, crane jams {} + {} while down, \
         operator resets {}); {} divergences; {:?}",
        final_tasks.len(),
        count(pb::TaskState::Completed),
        count(pb::TaskState::Failed),
        count(pb::TaskState::Cancelled),
        events.len(),
        i.total(),
        i.plc_failures.load(Ordering::SeqCst),
        i.estops_after_completion.load(Ordering::SeqCst),
        i.lost_replies.load(Ordering::SeqCst),
        i.hmi_writes.load(Ordering::SeqCst),
        i.cancels.load(Ordering::SeqCst),
        i.faults_after_drop.load(Ordering::SeqCst),
        i.crane_jams.load(Ordering::SeqCst),
        i.jams_while_down.load(Ordering::SeqCst),
        i.operator_resets.load(Ordering::SeqCst),
        divergences.len(),
        started.elapsed()
    );
    // The chaos and its delayed releases have ended: the floor is ours.
    while Arc::strong_count(&floor) > 1 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let floor = Arc::try_unwrap(floor).ok().expect("chaos tasks ended");
    amr::stop_fleet(floor.fleet).await;
    divergences
}

fn jobs_of(jobs: &[Job]) -> Vec<(String, Shape)> {
    jobs.iter()
        .map(|j| (j.task.task_id.clone(), j.shape))
        .collect()
}

/// Ended, or held on its device with an unknown outcome.
fn settled(t: &pb::Task) -> bool {
    let terminal = [
        pb::TaskState::Completed,
        pb::TaskState::Failed,
        pb::TaskState::Cancelled,
    ]
    .iter()
    .any(|s| t.state == *s as i32);
    terminal
        || t.steps
            .iter()
            .any(|s| s.state == pb::StepState::OutcomeUnknown as i32)
}

async fn start_floor(jobs: &[Job], manufacturer: &str) -> Floor {
    let floor::DemoFloor {
        asrs,
        plc,
        fleet,
        profile,
    } = floor::demo_floor(jobs, manufacturer, AMRS, &["N1", "N3", "N5", "N8"], 60).await;
    // Half the fleet refuses a cancel once it carries the load.
    for i in 0..AMRS / 2 {
        fleet
            .robot(i)
            .with_robot(|r| r.set_cancel_policy(CancelPolicy::RefuseOnceLoaded));
    }
    Floor {
        plc,
        asrs,
        fleet,
        profile,
        injected: Injected::default(),
    }
}

/// Misbehaves every 250 ms, seeded, until aborted.
async fn chaos(floor: Arc<Floor>, addr: String, jobs: Vec<(String, Shape)>, seed: u64) {
    let mut rng = Rng(seed | 1);
    let mut hmi_seq = HMI_SEQ;
    let i = &floor.injected;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match rng.below(9) {
            0 => {
                // Jam: the PLC's own result for the next command.
                floor.plc.fail_next_with(1);
                i.plc_failures.fetch_add(1, Ordering::SeqCst);
            }
            1 => {
                floor.plc.estop_after_next_completion();
                i.estops_after_completion.fetch_add(1, Ordering::SeqCst);
                let f = floor.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    f.plc.set_estop(false);
                });
            }
            2 => {
                floor.plc.drop_reply_to_next_write();
                i.lost_replies.fetch_add(1, Ordering::SeqCst);
            }
            3 => {
                // Another master: a transfer of a tote the PLC does not
                // have, written while floorgate's command runs.
                hmi_seq = hmi_seq.wrapping_add(1).max(HMI_SEQ);
                let (addr, profile, seq) = (floor.plc.addr(), floor.profile.clone(), hmi_seq);
                if let Ok(mut hmi) = Hmi::connect(addr, profile).await {
                    let args = [("tote", 99_999.0), ("from", 1.0), ("to", 11.0)];
                    if hmi
                        .write_while_running("transfer", &args, seq, Duration::from_millis(500))
                        .await
                        .is_ok()
                    {
                        i.hmi_writes.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            4 | 5 => {
                // The cloud withdraws a task with an AMR step.
                let amr_jobs: Vec<&String> = jobs
                    .iter()
                    .filter(|(_, s)| *s != Shape::Conveyor)
                    .map(|(id, _)| id)
                    .collect();
                let id = amr_jobs[rng.below(amr_jobs.len() as u64) as usize].clone();
                if let Ok(mut c) = TaskServiceClient::connect(addr.clone()).await {
                    if c.cancel_task(pb::CancelTaskRequest {
                        task_id: id,
                        reason: "withdrawn".into(),
                    })
                    .await
                    .is_ok()
                    {
                        i.cancels.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            6 => {
                let n = rng.below(AMRS as u64) as usize;
                floor
                    .fleet
                    .robot(n)
                    .with_robot(|r| r.fault_after_next_drop("bumperTriggered"));
                i.faults_after_drop.fetch_add(1, Ordering::SeqCst);
            }
            7 => {
                floor.asrs.with(|m| m.jam_crane(true));
                i.crane_jams.fetch_add(1, Ordering::SeqCst);
            }
            _ => settle_robots(&floor),
        }
    }
}

/// Clears what the chaos left faulted: robots' errors (on the robot), the
/// e-stop (on the PLC), and the AS/RS through DeviceService, as an operator
/// would.
async fn settle_floor(floor: &Floor, d: &mut DeviceServiceClient<tonic::transport::Channel>) {
    settle_robots(floor);
    floor.plc.set_estop(false);
    let asrs = d
        .get_device(pb::GetDeviceRequest {
            device_id: "asrs-1".into(),
        })
        .await;
    if let Ok(dev) = asrs {
        let dev = dev.into_inner();
        if dev.availability == pb::DeviceAvailability::Fault as i32 && dev.current.is_none() {
            let reset = d
                .reset_device(pb::DeviceCommandRequest {
                    device_id: "asrs-1".into(),
                    reason: "crane cleared".into(),
                })
                .await;
            if reset.is_ok() {
                floor
                    .injected
                    .operator_resets
                    .fetch_add(1, Ordering::SeqCst);
            } else {
                let _ = floor.asrs.with(|m| m.reset());
            }
        }
    }
    // A crane jammed while nobody holds the AS/RS: cleared on the machine.
    if floor.asrs.with(|m| m.status().fault_code) != 0 {
        let _ = floor.asrs.with(|m| m.reset());
    }
}

fn settle_robots(floor: &Floor) {
    for r in floor.fleet.robots() {
        r.clear_errors();
    }
}

/// Every disagreement between the journal and the devices' own records.
fn compare(floor: &Floor, jobs: &[Job], tasks: &[pb::Task], events: &[pb::Event]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as u64 + 1 {
            out.push(format!("journal gap or duplicate at seq {}", e.seq));
            break;
        }
    }
    // The conveyor's own sequences: the k-th dispatch to conv-1 carries
    // mailbox seq 2k - 1 (a command and its stop take two).
    let mut conveyor_seq: BTreeMap<(String, u32, u32), u16> = BTreeMap::new();
    let mut unknown: BTreeSet<(String, u32)> = BTreeSet::new();
    for e in events {
        match e.kind.as_ref() {
            Some(Kind::StepDispatched(s)) if s.device_id == "conv-1" => {
                let k = conveyor_seq.len() as u16 + 1;
                conveyor_seq.insert((e.task_id.clone(), s.step_index, s.attempt), 2 * k - 1);
            }
            Some(Kind::StepOutcomeUnknown(s)) => {
                unknown.insert((e.task_id.clone(), s.step_index));
            }
            _ => {}
        }
    }
    let plc_records = floor.plc.records();
    let robots: Vec<Vec<Happened>> = floor.fleet.robots().iter().map(|r| r.record()).collect();
    let asrs_records = floor.asrs.with(|m| m.records());
    let by_id: BTreeMap<&str, &pb::Task> = tasks.iter().map(|t| (t.task_id.as_str(), t)).collect();

    for j in jobs {
        let id = j.task.task_id.as_str();
        let t = by_id[id];
        for s in &t.steps {
            let state = pb::StepState::try_from(s.state).unwrap();
            if state == pb::StepState::OutcomeUnknown {
                if !unknown.contains(&(id.to_string(), s.index)) {
                    out.push(format!(
                        "{id} step {}: unknown outcome without its event",
                        s.index
                    ));
                }
                continue;
            }
            let did = match s.device_kind.as_str() {
                "conveyor" => {
                    // Every attempt on conv-1 (there is one conveyor).
                    let seqs: Vec<u16> = conveyor_seq
                        .iter()
                        .filter(|((tid, step, _), _)| tid == id && *step == s.index)
                        .map(|(_, seq)| *seq)
                        .collect();
                    let done = plc_records
                        .iter()
                        .filter(|r| seqs.contains(&r.seq) && r.outcome == CommandOutcome::Done)
                        .count();
                    if done > 1 {
                        out.push(format!(
                            "{id} step {}: the PLC did it {done} times",
                            s.index
                        ));
                    }
                    done == 1
                }
                "amr" => {
                    let moved: Vec<usize> = robots
                        .iter()
                        .enumerate()
                        .filter(|(_, rec)| {
                            rec.iter().any(|h| matches!(h, Happened::Picked { load_id, .. } if *load_id == j.task.load_id))
                        })
                        .map(|(n, _)| n)
                        .collect();
                    if moved.len() > 1 {
                        out.push(format!(
                            "{id}: load {} picked by robots {moved:?}",
                            j.task.load_id
                        ));
                    }
                    let drops = robots
                        .iter()
                        .flatten()
                        .filter(|h| matches!(h, Happened::Dropped { load_id, .. } if *load_id == j.task.load_id))
                        .count();
                    if drops > 1 {
                        out.push(format!(
                            "{id}: load {} dropped {drops} times",
                            j.task.load_id
                        ));
                    }
                    drops == 1
                }
                "asrs" => {
                    let command = format!("{id}#{}", s.index);
                    let rec = asrs_records.get(&command);
                    if rec.is_some_and(|r| r.executions > 1) {
                        out.push(format!("{id} step {}: the AS/RS ran it twice", s.index));
                    }
                    rec.is_some_and(|r| r.outcome == TaskOutcome::Done)
                }
                other => {
                    out.push(format!("{id}: unexpected device kind {other}"));
                    continue;
                }
            };
            let journal_says_done = state == pb::StepState::Completed;
            if did != journal_says_done {
                out.push(format!(
                    "{id} step {} ({}) on {}: journal {:?} ({}), device did it: {did}",
                    s.index, s.command, s.device_id, state, s.reason
                ));
            }
        }
    }
    out
}

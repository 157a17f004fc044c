//! Crash safety of the whole task path, with a real process: 200 tasks of
//! every route shape of the demo site — AMR transports (buffer → station),
//! conveyor transfers (inbound → the conveyor-fed station), conveyor → AMR
//! picks (inbound → conveyor outfeed → station) and AS/RS → conveyor → AMR
//! picks (bin → AS/RS output port → outfeed → station) — run by the daemon
//! as a child process, which is SIGKILLed at seeded random moments and
//! restarted on the same data directory, five times.
//!
//! The simulators run in this process and outlive every kill, so they count
//! what each device really did. At the end:
//! - every task is COMPLETED;
//! - every step ran exactly once on its device: each load was picked and
//!   dropped once by the fleet (VDA 5050 counters per `loadId`); each
//!   conveyor command's mailbox sequence started once on the PLC and the
//!   PLC started no other, and each tote ended where its last conveyor step
//!   put it; each retrieval ran once on the AS/RS (executions per task id)
//!   and emptied its bin;
//! - the journal has no gap: WatchEvents from 0 gives seqs 1..=n densely,
//!   with one `step_dispatched` per step and one `task_completed` per task.
//!
//! The seed is `FLOORGATE_TEST_SEED` (printed on failure); the default is
//! fixed so a run is repeatable.

#[path = "common/amr.rs"]
mod amr;
mod common;
#[path = "common/floor.rs"]
mod floor;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use floor::{kill, log_tail, spawn, states, submit_all, workload, Rng, Shape, OUTFEED, STATION_3};
use floorgate::api::pb;
use floorgate_sim::plc::ToteLocation;
use pb::event::Kind;
use pb::task_service_client::TaskServiceClient;

const MANUFACTURER: &str = "t-crash-wf";
const AMRS: usize = 6;
const KILLS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_mixed_tasks_survive_five_sigkills_each_step_done_once_and_the_journal_dense() {
    let seed: u64 = std::env::var("FLOORGATE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f1a6);
    eprintln!("crash_workflow seed: {seed} (FLOORGATE_TEST_SEED)");
    let mut rng = Rng(seed | 1);
    let jobs = workload(
        &mut rng,
        &[
            (Shape::Amr, 80),
            (Shape::Conveyor, 40),
            (Shape::ConveyorAmr, 60),
            (Shape::AsrsConveyorAmr, 20),
        ],
    );
    let tasks: Vec<pb::Task> = jobs.iter().map(|j| j.task.clone()).collect();
    let started = Instant::now();

    // The floor: fast machines.
    let floor::DemoFloor {
        asrs, plc, fleet, ..
    } = floor::demo_floor(
        &jobs,
        MANUFACTURER,
        AMRS,
        &["N1", "N2", "N3", "N5", "N7", "N8"],
        30,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let site = floor::write_site(dir.path(), MANUFACTURER, AMRS, plc.addr(), &asrs.url());
    let data = dir.path().join("data");
    let log = dir.path().join("daemon.log");

    // Five lives ended by SIGKILL at a seeded moment: during submission,
    // mid-step on any device, or right after a restart.
    let mut acked = BTreeSet::new();
    for life in 0..KILLS {
        let (mut child, addr) = spawn(&site, &data, &log);
        let at = Duration::from_millis(300 + rng.below(3_200));
        let _ = tokio::time::timeout(at, async {
            submit_all(&addr, &tasks, &mut acked).await;
            std::future::pending::<()>().await
        })
        .await;
        kill(&mut child);
        eprintln!(
            "life {life}: killed after {at:?}; {} tasks acknowledged; PLC started {}, fleet picked {}",
            acked.len(),
            plc.with_program(|p| p.executions_total()),
            fleet
                .robots()
                .iter()
                .map(|r| r.counters().picks.values().sum::<u32>())
                .sum::<u32>()
        );
    }

    // The last life runs everything to the end.
    let (mut child, addr) = spawn(&site, &data, &log);
    submit_all(&addr, &tasks, &mut acked).await;
    assert_eq!(acked.len(), jobs.len(), "every task acknowledged");
    let mut c = TaskServiceClient::connect(addr.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = pb::TaskState::Completed as i32;
    loop {
        let s = states(&mut c, &tasks).await;
        let open: Vec<_> = s.iter().filter(|(_, st)| **st != done).collect();
        if open.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            kill(&mut child);
            panic!(
                "seed {seed}: {} tasks not completed, e.g. {:?}\n--- daemon log ---\n{}",
                open.len(),
                &open[..open.len().min(10)],
                log_tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("all completed after {:?}", started.elapsed());

    // The journal: dense from 1, one dispatch per step, one completion per task.
    let events = common::journal(&mut c, 0).await;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.seq,
            i as u64 + 1,
            "seed {seed}: gap or duplicate in the journal"
        );
    }
    let mut dispatched: BTreeMap<(String, u32), Vec<u64>> = BTreeMap::new();
    // The conveyor's own command sequences: the engine numbers each
    // device's commands (a command, then its stop) in the dispatch's own
    // transaction, so the k-th dispatch to conv-1 in the journal carries
    // mailbox seq 2k - 1, whatever happened between the kills.
    let mut conveyor_seq: BTreeMap<(String, u32), u16> = BTreeMap::new();
    let mut completed: BTreeMap<String, u32> = BTreeMap::new();
    for e in &events {
        match e.kind.as_ref().unwrap() {
            Kind::StepDispatched(s) => {
                if s.device_id == "conv-1" {
                    let k = conveyor_seq.len() as u16 + 1;
                    conveyor_seq.insert((e.task_id.clone(), s.step_index), 2 * k - 1);
                }
                dispatched
                    .entry((e.task_id.clone(), s.step_index))
                    .or_default()
                    .push(e.seq)
            }
            Kind::TaskCompleted(_) => *completed.entry(e.task_id.clone()).or_default() += 1,
            Kind::StepFailed(s) => panic!("seed {seed}: {} step failed: {s:?}", e.task_id),
            _ => {}
        }
    }

    let fleet_counts = |load: &str| {
        fleet.robots().iter().fold((0, 0), |(p, d), r| {
            let c = r.counters();
            (
                p + c.picks.get(load).copied().unwrap_or(0),
                d + c.drops.get(load).copied().unwrap_or(0),
            )
        })
    };
    let mut conveyor_steps = 0;
    let mut amr_steps = 0;
    for j in &jobs {
        let id = &j.task.task_id;
        assert_eq!(completed.get(id), Some(&1), "{id}: one task_completed");
        let (retrieve, transfer, transport) = match j.shape {
            Shape::Amr => (None, None, Some(0)),
            Shape::Conveyor => (None, Some(0), None),
            Shape::ConveyorAmr => (None, Some(0), Some(1)),
            Shape::AsrsConveyorAmr => (Some(0), Some(1), Some(2)),
        };
        let steps = [retrieve, transfer, transport].iter().flatten().count() as u32;
        for step in 0..steps {
            let seqs = &dispatched[&(id.clone(), step)];
            assert_eq!(seqs.len(), 1, "{id} step {step} dispatched {seqs:?}");
        }
        if let Some(step) = transport {
            amr_steps += 1;
            let _ = step;
            assert_eq!(
                fleet_counts(&j.task.load_id),
                (1, 1),
                "seed {seed}: {id}: {} picked and dropped once",
                j.task.load_id
            );
        }
        if let Some(step) = transfer {
            conveyor_steps += 1;
            let seq = conveyor_seq[&(id.clone(), step)];
            assert_eq!(
                plc.executions(seq),
                1,
                "seed {seed}: {id}: conveyor command {seq} started once"
            );
            let end = if j.shape == Shape::Conveyor {
                STATION_3
            } else {
                OUTFEED
            };
            assert_eq!(
                plc.tote_location(j.tote),
                Some(ToteLocation::At(end)),
                "{id}: tote {} at the end of its transfer",
                j.tote
            );
        }
        if retrieve.is_some() {
            asrs.with(|m| {
                assert_eq!(
                    m.executions(&format!("{id}#0")),
                    1,
                    "seed {seed}: {id}: retrieved once"
                );
                assert!(
                    m.bin(j.bin.as_deref().unwrap()).is_none(),
                    "{id}: bin empty"
                );
            });
        }
    }
    // Nothing ran that no step asked for.
    assert_eq!(
        plc.with_program(|p| p.executions_total()),
        conveyor_steps,
        "seed {seed}: the PLC started only the steps' commands"
    );
    let picks: u32 = fleet
        .robots()
        .iter()
        .map(|r| r.counters().picks.values().sum::<u32>())
        .sum();
    assert_eq!(
        picks, amr_steps,
        "seed {seed}: the fleet picked only for steps"
    );

    kill(&mut child);
    amr::stop_fleet(fleet).await;
    eprintln!("crash_workflow: {:?} in all", started.elapsed());
}

//! One snapshot of the floor, as `/console/events` sends it: a JSON object per event.
//!
//! ```json
//! {"seq":12,"time_unix_ms":…,
//!  "robots":[{"id":"amr-1","heard":true,"x":5.0,"y":0.0,"theta":0.0,"map_id":"map",
//!             "last_node":"N2","battery":87.0,"paused":false,
//!             "holds":{"nodes":["N2","N3"],"lanes":[["N2","N3"]],"blocks":[]},
//!             "waiting_for":"node N3 held by amr-2"}],
//!  "devices":[{"id":"amr-1","kind":"amr","availability":"online","reason":"",
//!              "current":{"task_id":"T1","step":0,"command":"transport"},"position":"N2"}],
//!  "tasks":{"counts":{"running":1,…},"open":[{"task_id":"T1","kind":"pick","state":"running",…}],"more_open":false},
//!  "failures":[{"seq":40,"time_unix_ms":…,"task_id":"T0","device_id":"conv-1","what":"step_failed","reason":"…"}],
//!  "journal":{"last_seq":41,"acked_seq":0,"unacked":41,"durable_seq":41}}
//! ```
//!
//! Failures are read from the journal as it grows (at most [`EVENTS_PER_TICK`] events a
//! snapshot; past that it skips ahead), so a snapshot never scans the journal.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::Sources;
use crate::engine::adapter::Availability;
use crate::engine::model::{Event, EventKind, TaskState};

/// Open tasks listed per snapshot (the counts cover all of them).
pub const OPEN_TASKS: usize = 50;
/// Failures kept, newest last.
pub const FAILURES: usize = 20;
/// Journal events read per snapshot, at most.
pub const EVENTS_PER_TICK: usize = 2000;

/// The JSON of one snapshot.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub seq: u64,
    pub time_unix_ms: i64,
    pub robots: Vec<Robot>,
    pub devices: Vec<Device>,
    pub tasks: Tasks,
    pub failures: Vec<Failure>,
    pub journal: Journal,
}

#[derive(Debug, Serialize)]
pub struct Robot {
    pub id: String,
    /// A `state` has arrived.
    pub heard: bool,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub theta: Option<f64>,
    pub map_id: String,
    pub last_node: String,
    pub battery: f64,
    pub paused: Option<bool>,
    /// What traffic control gives it (`None`: off, or not placed yet).
    pub holds: Option<Holds>,
    pub waiting_for: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Holds {
    pub nodes: Vec<String>,
    pub lanes: Vec<(String, String)>,
    pub blocks: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Device {
    pub id: String,
    pub kind: &'static str,
    pub availability: Availability,
    /// Why it is offline or faulted.
    pub reason: String,
    pub current: Option<Current>,
    /// The layout node a mobile device last reported.
    pub position: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Current {
    pub task_id: String,
    pub step: u32,
    pub command: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Tasks {
    pub counts: BTreeMap<&'static str, u64>,
    pub open: Vec<OpenTask>,
    /// More open tasks than listed.
    pub more_open: bool,
}

#[derive(Debug, Serialize)]
pub struct OpenTask {
    pub task_id: String,
    pub kind: String,
    pub state: &'static str,
    pub source: String,
    pub destination: String,
    /// The active step: its index, device and command.
    pub step: Option<u32>,
    pub device_id: Option<String>,
    pub command: Option<String>,
    pub cancel_requested: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub seq: u64,
    pub time_unix_ms: i64,
    pub task_id: String,
    pub device_id: String,
    /// The event kind: `task_failed`, `step_failed`, `task_expired`, `step_outcome_unknown`,
    /// `device_fault`, `device_offline`.
    pub what: &'static str,
    pub reason: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Journal {
    pub last_seq: u64,
    pub acked_seq: u64,
    /// Events the cloud has not acknowledged (the backlog).
    pub unacked: u64,
    pub durable_seq: u64,
}

/// Makes snapshots one after the other, keeping the failures seen so far.
#[derive(Debug, Default)]
pub struct Maker {
    seq: u64,
    /// The journal is read after this seq (`None`: not yet).
    after: Option<u64>,
    failures: VecDeque<Failure>,
}

impl Maker {
    pub fn new() -> Maker {
        Maker::default()
    }

    /// The next snapshot's JSON.
    pub async fn make(&mut self, s: &Sources) -> String {
        self.seq += 1;
        let devices = s.engine.devices().await.unwrap_or_default();
        let robots = s.amr.as_ref().map(|a| a.positions()).unwrap_or_default();
        let store = s.store.clone();
        let after = self.after;
        let durable = *s.store.durable_seq().borrow();
        // The store's reads block (sled): off the runtime's workers.
        let read = tokio::task::spawn_blocking(move || read_store(&store, after, durable)).await;
        let (tasks, journal, from, events) = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "console: reading the store");
                (
                    Tasks::default(),
                    Journal::default(),
                    after.unwrap_or(0),
                    Vec::new(),
                )
            }
            Err(_) => (
                Tasks::default(),
                Journal::default(),
                after.unwrap_or(0),
                Vec::new(),
            ),
        };
        self.after = Some(events.last().map_or(from, |e| e.seq));
        for e in &events {
            if let Some(f) = failure(e) {
                if self.failures.len() == FAILURES {
                    self.failures.pop_front();
                }
                self.failures.push_back(f);
            }
        }
        let snapshot = Snapshot {
            seq: self.seq,
            time_unix_ms: crate::engine::model::now_unix_ms(),
            robots: robots.into_iter().map(robot).collect(),
            devices: devices
                .into_iter()
                .map(|d| Device {
                    id: d.spec.id,
                    kind: d.spec.kind.as_str(),
                    availability: d.availability,
                    reason: d.reason,
                    current: d.current.map(|c| Current {
                        task_id: c.task_id,
                        step: c.step,
                        command: c.command,
                    }),
                    position: d.position,
                })
                .collect(),
            tasks,
            failures: self.failures.iter().cloned().collect(),
            journal,
        };
        serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into())
    }
}

/// Where the failures start on a first read: the last [`EVENTS_PER_TICK`] events still
/// in the journal.
fn start_after(j: &Journal) -> u64 {
    j.durable_seq
        .saturating_sub(EVENTS_PER_TICK as u64)
        .max(j.acked_seq)
}

/// Tasks, the journal's position, the seq the events were read after, the events.
type StoreRead = (Tasks, Journal, u64, Vec<Event>);

fn read_store(
    store: &crate::store::Store,
    after: Option<u64>,
    durable: u64,
) -> Result<StoreRead, crate::store::StoreError> {
    let p = store.position()?;
    let journal = Journal {
        last_seq: p.last_seq,
        acked_seq: p.acked_seq,
        unacked: p.unacked(),
        durable_seq: durable,
    };
    let mut tasks = Tasks::default();
    for (state, n) in store.task_counts()? {
        tasks.counts.insert(state.as_str(), n);
    }
    let open: Vec<TaskState> = TaskState::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .collect();
    let (open, more) = store.list_tasks(&open, None, OPEN_TASKS)?;
    tasks.more_open = more;
    tasks.open = open
        .into_iter()
        .map(|t| {
            let step = crate::engine::machine::active_step(&t);
            OpenTask {
                step: step.map(|s| s.index),
                device_id: step.and_then(|s| s.device_id.clone()),
                command: step.map(|s| s.command.clone()),
                task_id: t.spec.task_id,
                kind: t.spec.kind.to_string(),
                state: t.state.as_str(),
                source: t.spec.source,
                destination: t.spec.destination,
                cancel_requested: t.cancel_requested.is_some(),
            }
        })
        .collect();
    // Past a burst of more than a tick's worth, skip ahead: the newest failures count.
    let from = match after {
        Some(a) if durable.saturating_sub(a) <= EVENTS_PER_TICK as u64 => a.max(p.acked_seq),
        _ => start_after(&journal),
    };
    let events = store.events_after(from, durable, EVENTS_PER_TICK)?;
    Ok((tasks, journal, from, events))
}

fn failure(e: &Event) -> Option<Failure> {
    let (what, device_id, reason) = match &e.kind {
        EventKind::TaskFailed { reason } => ("task_failed", "", reason),
        EventKind::TaskExpired { reason } => ("task_expired", "", reason),
        EventKind::StepFailed(s) => ("step_failed", s.device_id.as_str(), &s.reason),
        EventKind::StepOutcomeUnknown(s) => {
            ("step_outcome_unknown", s.device_id.as_str(), &s.reason)
        }
        EventKind::DeviceFault { device_id, reason } => {
            ("device_fault", device_id.as_str(), reason)
        }
        EventKind::DeviceOffline { device_id, reason } => {
            ("device_offline", device_id.as_str(), reason)
        }
        _ => return None,
    };
    Some(Failure {
        seq: e.seq,
        time_unix_ms: e.time_unix_ms,
        task_id: e.task_id.clone(),
        device_id: device_id.to_string(),
        what,
        reason: reason.clone(),
    })
}

fn robot(p: crate::adapters::vda5050::RobotPosition) -> Robot {
    let (holds, waiting_for) = match p.traffic {
        Some(t) => (
            Some(Holds {
                nodes: t.holdings.nodes,
                lanes: t.holdings.lanes,
                blocks: t.holdings.blocks,
            }),
            t.waiting_for,
        ),
        None => (None, None),
    };
    Robot {
        id: p.device_id,
        heard: p.heard,
        x: p.position.map(|q| q.0),
        y: p.position.map(|q| q.1),
        theta: p.position.map(|q| q.2),
        map_id: p.map_id,
        last_node: p.last_node,
        battery: p.battery,
        paused: p.paused,
        holds,
        waiting_for,
    }
}

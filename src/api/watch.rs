//! WatchEvents: journal replay, then live follow, as one loop over the
//! store's durable end (a seq a watcher saw is never reassigned after a
//! crash). Filters choose which events are sent without touching the seq
//! semantics: the cursor stays global, so a consumer that resumes from the
//! last seq it saw misses nothing that matches. Shutdown ends the stream
//! with `UNAVAILABLE` ("resume from the last seq"), never a plain end a
//! client would read as "complete".

use std::collections::BTreeSet;

use tokio::sync::{mpsc, watch as signal};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::convert::{check_request_id, event_to_pb};
use super::pb;
use super::task_service::store_status;
use crate::engine::model::{Event, EventKind};
use crate::store::Store;

/// Events read from the store per batch while replaying.
const REPLAY_BATCH: usize = 512;
/// At most this many task ids or kinds in one filter.
const MAX_FILTER: usize = 1000;

/// The event kinds a filter may name: the `Event.kind` field names.
pub const KINDS: [&str; 20] = [
    "task_accepted",
    "task_planned",
    "task_started",
    "step_dispatched",
    "step_acknowledged",
    "step_completed",
    "step_failed",
    "step_cancelled",
    "step_stop_requested",
    "step_outcome_unknown",
    "task_completed",
    "task_failed",
    "task_cancelled",
    "task_expired",
    "device_online",
    "device_offline",
    "device_fault",
    "device_commanded",
    "traffic_resolved",
    "device_asleep",
];

/// The `Event.kind` field name of an event.
pub fn kind_name(k: &EventKind) -> &'static str {
    match k {
        EventKind::TaskAccepted { .. } => "task_accepted",
        EventKind::TaskPlanned { .. } => "task_planned",
        EventKind::TaskStarted => "task_started",
        EventKind::StepDispatched(_) => "step_dispatched",
        EventKind::StepAcknowledged(_) => "step_acknowledged",
        EventKind::StepCompleted(_) => "step_completed",
        EventKind::StepFailed(_) => "step_failed",
        EventKind::StepCancelled(_) => "step_cancelled",
        EventKind::StepStopRequested(_) => "step_stop_requested",
        EventKind::StepOutcomeUnknown(_) => "step_outcome_unknown",
        EventKind::TaskCompleted => "task_completed",
        EventKind::TaskFailed { .. } => "task_failed",
        EventKind::TaskCancelled { .. } => "task_cancelled",
        EventKind::TaskExpired { .. } => "task_expired",
        EventKind::DeviceOnline { .. } => "device_online",
        EventKind::DeviceOffline { .. } => "device_offline",
        EventKind::DeviceFault { .. } => "device_fault",
        EventKind::DeviceCommanded { .. } => "device_commanded",
        EventKind::TrafficResolved { .. } => "traffic_resolved",
        EventKind::DeviceAsleep { .. } => "device_asleep",
    }
}

/// Which events a watcher wants; empty sets mean "all".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    task_ids: BTreeSet<String>,
    kinds: BTreeSet<&'static str>,
}

impl Filter {
    /// INVALID_ARGUMENT for an unknown kind, a bad id, or too many entries.
    pub fn new(task_ids: Vec<String>, kinds: Vec<String>) -> Result<Filter, Status> {
        if task_ids.len() > MAX_FILTER || kinds.len() > MAX_FILTER {
            let field = if task_ids.len() > MAX_FILTER {
                "task_ids"
            } else {
                "kinds"
            };
            return Err(super::errors::invalid(
                field,
                format!("at most {MAX_FILTER} entries"),
            ));
        }
        for id in &task_ids {
            check_request_id("task_ids", id)?;
        }
        let mut known = BTreeSet::new();
        for k in &kinds {
            let Some(name) = KINDS.iter().find(|n| **n == k.as_str()) else {
                return Err(super::errors::invalid(
                    "kinds",
                    format!(
                        "unknown event kind {:?} (one of {})",
                        super::convert::clip(k),
                        KINDS.join(", ")
                    ),
                ));
            };
            known.insert(*name);
        }
        Ok(Filter {
            task_ids: task_ids.into_iter().collect(),
            kinds: known,
        })
    }

    pub fn matches(&self, e: &Event) -> bool {
        (self.task_ids.is_empty() || self.task_ids.contains(&e.task_id))
            && (self.kinds.is_empty() || self.kinds.contains(kind_name(&e.kind)))
    }
}

/// One WatchEvents stream.
#[derive(Debug)]
pub struct Watch {
    pub store: Store,
    pub stop: signal::Receiver<bool>,
    pub after_seq: u64,
    pub filter: Filter,
}

impl Watch {
    /// Runs the watch on its own task; the stream it feeds.
    pub fn spawn(self) -> ReceiverStream<Result<pb::Event, Status>> {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(self.run(tx));
        ReceiverStream::new(rx)
    }

    async fn run(mut self, tx: mpsc::Sender<Result<pb::Event, Status>>) {
        let journal = self.store.journal_id().to_string();
        let mut durable = self.store.durable_seq();
        let mut cursor = self.after_seq;
        let shutting_down = || {
            super::errors::refuse(
                tonic::Code::Unavailable,
                "SHUTTING_DOWN",
                "the gateway is shutting down; resume from the last seq",
            )
        };
        loop {
            let stopping = *self.stop.borrow();
            if stopping {
                let _ = tx.send(Err(shutting_down())).await;
                return;
            }
            let up_to = *durable.borrow_and_update();
            while cursor < up_to {
                let batch = match self.store.events_after(cursor, up_to, REPLAY_BATCH) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(store_status(e))).await;
                        return;
                    }
                };
                if batch.is_empty() {
                    // Compacted by an acknowledgement meanwhile.
                    cursor = up_to;
                    break;
                }
                for e in &batch {
                    cursor = e.seq;
                    if !self.filter.matches(e) {
                        continue;
                    }
                    if tx.send(Ok(event_to_pb(e, &journal))).await.is_err() {
                        return;
                    }
                }
            }
            let ending = tokio::select! {
                r = durable.changed() => r.is_err(),
                _ = tx.closed() => return,
                // The guard it returns must not live across the send.
                r = self.stop.wait_for(|s| *s) => {
                    drop(r);
                    true
                }
            };
            if ending {
                let _ = tx.send(Err(shutting_down())).await;
                return;
            }
        }
    }
}

//! Feeds the metrics the daemon can read from outside the engine, once a
//! second: the journal position (events appended and acknowledged), tasks
//! by state, and device availability.
//!
//! Tasks by state come from a scan of the task tree, so the scan is capped
//! at [`MAX_SCANNED_TASKS`]; past that the gauge stops moving (and says so
//! once in the log) rather than report a partial count. Counters the daemon
//! cannot see (commands, outbox, step durations) are the engine's and the
//! adapters' to feed through [`Metrics`]'s methods.

use std::time::Duration;

use crate::engine::adapter::Availability;
use crate::engine::model::TaskState;
use crate::engine::EngineHandle;
use crate::store::{Store, StoreError};

use super::Metrics;

/// How often the sampler reads the store and the engine.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The task scan's bound.
pub const MAX_SCANNED_TASKS: usize = 100_000;

/// Samples until the task is aborted (the daemon aborts it at shutdown, which
/// drops its engine handle).
pub async fn run(store: Store, engine: EngineHandle, metrics: Metrics) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tick.tick().await;
        match store.position() {
            Ok(p) => metrics.set_journal(p),
            Err(e) => tracing::debug!(error = %e, "metrics: reading the journal position"),
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || count_tasks(&s)).await {
            Ok(Ok(Some(counts))) => metrics.set_tasks(&counts),
            Ok(Ok(None)) if !warned => {
                warned = true;
                tracing::warn!(
                    max = MAX_SCANNED_TASKS,
                    "metrics: more tasks than the scan reads; floorgate_tasks stops updating"
                );
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "metrics: listing tasks"),
            Err(_) => return,
        }
        if let Ok(devices) = engine.devices().await {
            for d in devices {
                metrics.set_device_available(&d.spec.id, d.availability == Availability::Online);
            }
        }
    }
}

/// Tasks per state, or `None` when there are more than the scan's bound.
/// Reads a page at a time, so memory stays bounded by the page.
fn count_tasks(store: &Store) -> Result<Option<Vec<(TaskState, i64)>>, StoreError> {
    const PAGE: usize = 1024;
    let mut counts: Vec<(TaskState, i64)> = TaskState::ALL.iter().map(|s| (*s, 0)).collect();
    let mut after: Option<String> = None;
    let mut scanned = 0;
    loop {
        let (page, more) = store.list_tasks(&[], after.as_deref(), PAGE)?;
        scanned += page.len();
        if scanned > MAX_SCANNED_TASKS {
            return Ok(None);
        }
        for t in &page {
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == t.state) {
                c.1 += 1;
            }
        }
        match page.last() {
            Some(t) if more => after = Some(t.id().to_string()),
            _ => return Ok(Some(counts)),
        }
    }
}

//! Feeds the metrics the daemon can read from outside the engine, once a
//! second: the journal position (events appended and acknowledged), tasks
//! by state, and device availability.
//!
//! Tasks by state come from the counts the store keeps with every change
//! (`Store::task_counts`): no scan, whatever the journal's size. Counters
//! the daemon cannot see (commands, outbox, step durations) are the
//! engine's and the adapters' to feed through [`Metrics`]'s methods.

use std::time::Duration;

use crate::engine::adapter::Availability;
use crate::engine::EngineHandle;
use crate::store::Store;

use super::Metrics;

/// How often the sampler reads the store and the engine.
pub const PERIOD: Duration = Duration::from_secs(1);

/// Samples until the task is aborted (the daemon aborts it at shutdown, which
/// drops its engine handle).
pub async fn run(store: Store, engine: EngineHandle, metrics: Metrics) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.position() {
            Ok(p) => metrics.set_journal(p),
            Err(e) => tracing::debug!(error = %e, "metrics: reading the journal position"),
        }
        match store.task_counts() {
            Ok(counts) => {
                let counts: Vec<_> = counts.into_iter().map(|(s, n)| (s, n as i64)).collect();
                metrics.set_tasks(&counts);
            }
            Err(e) => tracing::debug!(error = %e, "metrics: reading the task counts"),
        }
        if let Ok(devices) = engine.devices().await {
            for d in devices {
                metrics.set_device_available(&d.spec.id, d.availability == Availability::Online);
            }
        }
    }
}

//! The readiness latch behind `/readyz`.
//!
//! A set of named conditions that must all be met once. The latch starts
//! with one condition, [`Readiness::LISTENING`], which the daemon meets with
//! [`Readiness::set_ready`] once the store is open and the gRPC server
//! listens. Components that must reach something before the gateway is
//! useful (an adapter's broker or PLC) add their own with
//! [`Readiness::require`] during construction, before `set_ready`, and meet
//! them with [`Condition::met`] the first time they get through.
//!
//! It is a latch: once every condition has been met the gateway stays ready,
//! even if a broker drops later (that is what `floorgate_connection_up` and
//! the device gauges report). A condition added after the latch opened does
//! not close it again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

/// The readiness latch. Cheap to clone; every clone is the same latch.
#[derive(Debug, Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Condition name → met.
    conditions: Mutex<BTreeMap<String, bool>>,
    ready: watch::Sender<bool>,
}

/// One named condition of a [`Readiness`] latch.
#[derive(Debug, Clone)]
pub struct Condition {
    latch: Readiness,
    name: String,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new()
    }
}

impl Readiness {
    /// The condition [`Readiness::set_ready`] meets.
    pub const LISTENING: &'static str = "listening";

    /// A closed latch with the single condition [`Readiness::LISTENING`].
    pub fn new() -> Readiness {
        let r = Readiness {
            inner: Arc::new(Inner {
                conditions: Mutex::new(BTreeMap::new()),
                ready: watch::Sender::new(false),
            }),
        };
        r.lock().insert(Self::LISTENING.to_string(), false);
        r
    }

    /// Adds a condition that must be met before the latch opens. Requiring
    /// the same name twice returns the same condition.
    pub fn require(&self, name: impl Into<String>) -> Condition {
        let name = name.into();
        self.lock().entry(name.clone()).or_insert(false);
        Condition {
            latch: self.clone(),
            name,
        }
    }

    /// Meets [`Readiness::LISTENING`]: the store is open and the API serves.
    pub fn set_ready(&self) {
        self.meet(Self::LISTENING);
    }

    /// Meets the condition `name` (adding it if it was not required).
    pub fn meet(&self, name: &str) {
        let mut c = self.lock();
        c.insert(name.to_string(), true);
        if c.values().all(|met| *met) {
            self.inner.ready.send_replace(true);
        }
    }

    /// Whether the latch has opened.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// The conditions not met yet, in name order (empty once ready).
    pub fn pending(&self) -> Vec<String> {
        if self.is_ready() {
            return Vec::new();
        }
        self.lock()
            .iter()
            .filter(|(_, met)| !**met)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Resolves once the latch has opened.
    pub async fn wait(&self) {
        let mut rx = self.inner.ready.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|ready| *ready).await;
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, bool>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.inner
            .conditions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Condition {
    /// The condition's name, as `/readyz` lists it while pending.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Meets the condition; later calls do nothing.
    pub fn met(&self) {
        self.latch.meet(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latch_opens_only_once_every_condition_is_met_and_stays_open() {
        let r = Readiness::new();
        let broker = r.require("broker");
        assert!(!r.is_ready());
        r.set_ready();
        assert!(!r.is_ready());
        assert_eq!(r.pending(), vec!["broker".to_string()]);
        broker.met();
        assert!(r.is_ready());
        assert!(r.pending().is_empty());
        r.require("late");
        assert!(
            r.is_ready(),
            "a condition added after opening does not close the latch"
        );
    }
}

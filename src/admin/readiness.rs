//! The readiness latch behind `/readyz`: "the cloud can submit".
//!
//! The gateway is ready once the store is open and the gRPC server serves
//! ([`Readiness::set_ready`], the one gating condition
//! [`Readiness::LISTENING`]). Devices being away is the normal case the
//! journal is for — tasks are accepted and wait — so device endpoints never
//! gate readiness: an adapter registers each endpoint it must reach (a
//! broker, a PLC, an AS/RS) with [`Readiness::require`] and marks it with
//! [`Condition::met`] the first time it gets through, and `/readyz?verbose`
//! lists them (reachability now is `floorgate_connection_up` and
//! DeviceService's availability), with why the last attempt failed for one
//! not reached yet ([`Condition::failed`]: a refused connection, a broker
//! certificate that does not verify).
//!
//! It is a latch: once ready the gateway stays ready.

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
    /// Endpoint name → reached once, and why the last attempt failed.
    endpoints: Mutex<BTreeMap<String, Endpoint>>,
    ready: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Endpoint {
    reached: bool,
    last_error: Option<String>,
}

/// One endpoint registered with a [`Readiness`] latch.
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
    /// The gating condition [`Readiness::set_ready`] meets.
    pub const LISTENING: &'static str = "listening";

    /// A closed latch.
    pub fn new() -> Readiness {
        Readiness {
            inner: Arc::new(Inner {
                endpoints: Mutex::new(BTreeMap::new()),
                ready: watch::Sender::new(false),
            }),
        }
    }

    /// Registers an endpoint to report on (it does not gate readiness).
    /// Registering the same name twice returns the same condition.
    pub fn require(&self, name: impl Into<String>) -> Condition {
        let name = name.into();
        self.lock().entry(name.clone()).or_default();
        Condition {
            latch: self.clone(),
            name,
        }
    }

    /// The store is open and the API serves: the latch opens.
    pub fn set_ready(&self) {
        self.inner.ready.send_replace(true);
    }

    /// Marks the endpoint `name` reached (registering it if needed).
    pub fn meet(&self, name: &str) {
        self.lock().entry(name.to_string()).or_default().reached = true;
    }

    /// Records why an attempt to reach `name` failed (registering it if
    /// needed); shown while it has not been reached.
    pub fn fail(&self, name: &str, reason: &str) {
        self.lock().entry(name.to_string()).or_default().last_error = Some(reason.to_string());
    }

    /// Whether the latch has opened.
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// What the latch waits for, in name order (empty once ready).
    pub fn pending(&self) -> Vec<String> {
        if self.is_ready() {
            Vec::new()
        } else {
            vec![Self::LISTENING.to_string()]
        }
    }

    /// Every registered endpoint and whether it was reached once, in name
    /// order.
    pub fn endpoints(&self) -> Vec<(String, bool)> {
        self.lock()
            .iter()
            .map(|(n, e)| (n.clone(), e.reached))
            .collect()
    }

    /// Why the last attempt to reach `name` failed, while it has not been
    /// reached once.
    pub fn last_error(&self, name: &str) -> Option<String> {
        self.lock()
            .get(name)
            .filter(|e| !e.reached)
            .and_then(|e| e.last_error.clone())
    }

    /// Resolves once the latch has opened.
    pub async fn wait(&self) {
        let mut rx = self.inner.ready.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|ready| *ready).await;
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Endpoint>> {
        // A panic while holding the lock leaves a map that is still valid.
        self.inner
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Condition {
    /// The endpoint's name, as `/readyz?verbose` lists it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Marks the endpoint reached; later calls do nothing.
    pub fn met(&self) {
        self.latch.meet(&self.name);
    }

    /// Records why an attempt to reach the endpoint failed.
    pub fn failed(&self, reason: &str) {
        self.latch.fail(&self.name, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_serving_opens_the_latch_and_endpoints_are_reported_not_awaited() {
        let r = Readiness::new();
        let plc = r.require("plc:conv-1");
        assert!(!r.is_ready());
        assert_eq!(r.pending(), vec!["listening".to_string()]);
        r.set_ready();
        assert!(r.is_ready(), "a PLC that is away does not hold readiness");
        assert!(r.pending().is_empty());
        assert_eq!(r.endpoints(), vec![("plc:conv-1".to_string(), false)]);
        plc.failed("connection refused");
        assert_eq!(
            r.last_error("plc:conv-1").as_deref(),
            Some("connection refused")
        );
        plc.met();
        assert_eq!(r.endpoints(), vec![("plc:conv-1".to_string(), true)]);
        assert_eq!(r.last_error("plc:conv-1"), None, "reached: no error shown");
    }
}

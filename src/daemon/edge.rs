//! The daemon's side facing the machine it runs on: the admin listener,
//! the readiness latch, the metrics sampler and systemd notifications.
//!
//! Order: [`Edge::start`] binds the admin listener before the store opens,
//! so `/healthz` answers during recovery while `/readyz` says 503;
//! [`Edge::serving`] runs once the gRPC server listens: it releases the
//! latch, sends `READY=1` and starts the sampler and the watchdog;
//! [`Edge::stop`] sends `STOPPING=1` and stops the tasks holding engine
//! handles (so the engine loop can end); [`Edge::close`] closes the admin
//! listener last.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminServer, AdminState, Metrics, Readiness};
use crate::config::GatewaySection;
use crate::engine::EngineHandle;
use crate::notify::Notifier;
use crate::store::Store;

#[derive(Debug)]
pub(super) struct Edge {
    pub(super) state: AdminState,
    admin: Option<AdminServer>,
    notifier: Arc<Notifier>,
    tasks: Vec<JoinHandle<()>>,
}

impl Edge {
    pub(super) async fn start(g: &GatewaySection) -> anyhow::Result<Edge> {
        let notifier = Notifier::from_env().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "systemd notifications off");
            Notifier::disabled()
        });
        let state = AdminState {
            readiness: Readiness::new(),
            metrics: Metrics::new(),
            console: Default::default(),
        };
        let admin = match g.admin_listen {
            Some(addr) => Some(
                AdminServer::start(addr, state.clone())
                    .await
                    .context("starting the admin listener")?,
            ),
            None => None,
        };
        Ok(Edge {
            state,
            admin,
            notifier: Arc::new(notifier),
            tasks: Vec::new(),
        })
    }

    pub(super) fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// The store is open and the gRPC server listens.
    pub(super) fn serving(
        &mut self,
        store: &Store,
        engine: &EngineHandle,
        retention: &crate::config::RetentionSection,
    ) {
        self.tasks
            .push(tokio::spawn(retire(store.clone(), retention.clone())));
        self.state.readiness.set_ready();
        self.notifier.ready();
        self.tasks.push(tokio::spawn(admin::sampler::run(
            store.clone(),
            engine.clone(),
            self.state.metrics.clone(),
        )));
        let probe_engine = engine.clone();
        let watchdog = self.notifier.spawn_watchdog(move || {
            let e = probe_engine.clone();
            async move { e.devices().await.is_ok() }
        });
        if let Some(w) = watchdog {
            tracing::info!(
                interval = ?self.notifier.watchdog_interval().unwrap_or(Duration::ZERO),
                "systemd watchdog on"
            );
            self.tasks.push(w);
        }
    }

    /// Shutdown begins: tell systemd, close the console, stop the sampler, retention and
    /// the watchdog (dropping their engine handles).
    pub(super) async fn stop(&mut self) {
        self.notifier.stopping();
        self.state.console.close();
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }

    /// Closes the admin listener.
    pub(super) async fn close(mut self) {
        if let Some(a) = self.admin.take() {
            a.stop().await;
        }
    }
}

/// How often ended tasks are looked at for deletion.
const RETIRE_PERIOD: Duration = Duration::from_secs(30);

/// Deletes ended tasks past their retention (`Store::retire`), in batches,
/// until aborted at shutdown.
async fn retire(store: Store, r: crate::config::RetentionSection) {
    let retain_ms = i64::try_from(r.terminal_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(RETIRE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        loop {
            let s = store.clone();
            let now = crate::engine::model::now_unix_ms();
            let max = r.max_terminal_tasks;
            match tokio::task::spawn_blocking(move || s.retire(now, retain_ms, max, 1000)).await {
                Ok(Ok(n)) if n == 1000 => continue,
                Ok(Ok(n)) => {
                    if n > 0 {
                        tracing::debug!(deleted = n, "retention: ended tasks deleted");
                    }
                    break;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "retention: deleting ended tasks");
                    break;
                }
                Err(_) => return,
            }
        }
    }
}

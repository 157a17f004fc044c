//! The admin HTTP listener, for the machines that run the gateway rather
//! than for the cloud: systemd, k3s probes and Prometheus.
//!
//! | path | answer |
//! |---|---|
//! | `/healthz` | `200 ok` while the process serves HTTP at all (liveness) |
//! | `/readyz` | `503` until the store is open and the gRPC server serves, then `200 ready` (devices away do not count: tasks wait for them); `?verbose` adds one line per device endpoint, reached once or not |
//! | `/metrics` | [`Metrics`] in the Prometheus text format |
//! | `/`, `/console/…` | the operator console ([`crate::console`]) |
//!
//! Plain HTTP/1.1 on its own port (`[gateway] admin_listen`, default
//! `127.0.0.1:9464`), served with axum, which tonic already brings in. Like
//! [`crate::api::serve`], [`serve`] takes its listener and its shutdown
//! from the caller, so tests bind `127.0.0.1:0`.

mod metrics;
mod readiness;
pub mod sampler;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

pub use metrics::{Metrics, CONTENT_TYPE};
pub use readiness::{Condition, Readiness};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("binding the admin listener on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving the admin listener: {0}")]
    Serve(#[source] std::io::Error),
}

/// What the admin endpoints read.
#[derive(Debug, Clone, Default)]
pub struct AdminState {
    pub readiness: Readiness,
    pub metrics: Metrics,
    /// The operator console (`/`, `/console/…`), answering once the gateway serves.
    pub console: crate::console::Console,
}

/// The admin routes, for [`serve`] or for embedding.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::console::router(state.console))
}

/// Serves the admin endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AdminError> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(AdminError::Serve)
}

/// A running admin listener, as the daemon holds it.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), AdminError>>,
}

impl AdminServer {
    /// Binds `addr` and serves on it in a task.
    pub async fn start(addr: SocketAddr, state: AdminState) -> Result<AdminServer, AdminError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| AdminError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AdminError::Bind { addr, source })?;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state, async move {
            let _ = rx.await;
        }));
        Ok(AdminServer { addr, stop, task })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits (briefly) for open requests.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "admin listener"),
            Ok(Err(e)) => tracing::warn!(error = %e, "admin listener task failed"),
            Err(_) => tracing::debug!("admin requests still open at shutdown"),
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// `200 ready` once the cloud can submit (store open, gRPC serving), else
/// `503`. With `?verbose`, one line per device endpoint: reached once or
/// not, and why the last attempt failed (devices away never make the gateway
/// unready: tasks wait for them).
async fn readyz(State(s): State<AdminState>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let verbose = query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "verbose" || p.starts_with("verbose="))
    });
    let (status, mut body) = if s.readiness.is_ready() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready, waiting for: {}\n",
                s.readiness.pending().join(", ")
            ),
        )
    };
    if verbose {
        for (name, reached) in s.readiness.endpoints() {
            let what = match (reached, s.readiness.last_error(&name)) {
                (true, _) => "reached".to_string(),
                (false, None) => "not reached yet".to_string(),
                (false, Some(e)) => format!("not reached yet (last attempt: {e})"),
            };
            body.push_str(&format!("{name}: {what}\n"));
        }
    }
    (status, body)
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.encode())
}

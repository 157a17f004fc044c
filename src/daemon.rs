//! Wiring for `floorgate run`: construction (store, adapters, engine),
//! serving, and shutdown in one place.
//!
//! Shutdown: when `shutdown` resolves the gRPC server stops accepting, open
//! watch streams end, and in-flight calls get `shutdown_grace_secs` to
//! finish; then the engine stops and the store is flushed. Whatever was
//! acknowledged was already durable, so a kill at any point loses nothing
//! acknowledged; the grace period only spares callers a retry.
//!
//! The admin listener, readiness, metrics sampler and systemd notifications
//! live in [`edge`]: readiness and `READY=1` once the gRPC listener is
//! bound, `STOPPING=1` when shutdown begins.

mod edge;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::LoadedConfig;
use crate::engine::{self, adapter::DeviceAdapter, EngineConfig};
use crate::store::Store;

/// Options of `floorgate run` that are not in the site file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Written with the gRPC listener's address once it listens (useful
    /// with port 0).
    pub listen_addr_file: Option<PathBuf>,
}

/// Runs the gateway until `shutdown` resolves.
pub async fn run(
    cfg: LoadedConfig,
    opts: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let gw = Gateway::start(cfg, opts).await?;
    shutdown.await;
    gw.shutdown().await
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    store: Store,
    grace: Duration,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    engine: tokio::task::JoinHandle<()>,
    edge: edge::Edge,
    /// The AMR adapter, when the site has AMRs.
    amr: Option<std::sync::Arc<crate::adapters::vda5050::Vda5050Adapter>>,
}

impl Gateway {
    /// Opens the store, starts the engine and the gRPC server. Resolves once
    /// the server listens.
    pub async fn start(cfg: LoadedConfig, opts: RunOptions) -> anyhow::Result<Gateway> {
        let g = &cfg.gateway;
        let mut edge = edge::Edge::start(g).await?;
        std::fs::create_dir_all(&g.data_dir)
            .with_context(|| format!("creating the data directory {}", g.data_dir.display()))?;
        let store = Store::open_with_cache(&g.data_dir, g.store_cache_mb << 20)
            .with_context(|| format!("opening the store in {}", g.data_dir.display()))?;
        let (sink, reports) = engine::runtime::report_channel();
        let adapter_cx = crate::adapters::AdapterContext {
            sink: sink.clone(),
            metrics: edge.state.metrics.clone(),
            readiness: edge.state.readiness.clone(),
        };
        // One adapter per protocol family. A kind without an adapter never
        // comes online, and its tasks wait PLANNED.
        let mut adapters: Vec<std::sync::Arc<dyn DeviceAdapter>> = vec![std::sync::Arc::new(
            crate::adapters::modbus::ModbusAdapter::start(&cfg.site, &g.profiles_dir, &adapter_cx)?,
        )];
        let has_amrs = cfg
            .site
            .devices
            .values()
            .any(|d| d.kind == engine::model::DeviceKind::Amr);
        let amr = if has_amrs {
            let a = std::sync::Arc::new(crate::adapters::vda5050::Vda5050Adapter::start(
                &cfg.site,
                &g.profiles_dir,
                &g.mqtt,
                &adapter_cx,
            )?);
            adapters.push(a.clone());
            Some(a)
        } else {
            None
        };
        if cfg
            .site
            .devices
            .values()
            .any(|d| d.kind == engine::model::DeviceKind::Asrs)
        {
            let security = g.opcua.settings(&g.data_dir);
            if security.policy != crate::opcua::Policy::None {
                // The client identity: made at the first secure start.
                let id = crate::opcua::pki::ensure_identity(&security)
                    .map_err(|e| anyhow::anyhow!("OPC-UA client identity: {e}"))?;
                tracing::info!(
                    certificate = %id.certificate.display(),
                    thumbprint = %id.thumbprint,
                    created = id.created,
                    application_uri = %security.application_uri,
                    "OPC-UA client identity (add the certificate to each AS/RS's trust list)"
                );
            }
            adapters.push(std::sync::Arc::new(
                crate::adapters::opcua::OpcUaAdapter::start(
                    &cfg.site,
                    &g.profiles_dir,
                    &security,
                    &adapter_cx,
                )?,
            ));
        }
        let (handle, engine) = engine::start(
            store.clone(),
            cfg.site.clone(),
            adapters,
            reports,
            EngineConfig {
                max_unacked_events: g.max_unacked_events,
                metrics: Some(edge.state.metrics.clone()),
                ..EngineConfig::default()
            },
        )?;
        let listener = TcpListener::bind(g.grpc_listen)
            .await
            .with_context(|| format!("binding the gRPC listener on {}", g.grpc_listen))?;
        let addr: SocketAddr = listener.local_addr()?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let tls = match &g.grpc_tls {
            Some(t) => Some(crate::api::server_tls(t).context("loading the gRPC TLS files")?),
            None => None,
        };
        let edge_engine = handle.clone();
        let server = tokio::spawn(crate::api::serve(
            listener,
            tls,
            handle,
            store.clone(),
            cfg.site.clone(),
            g.grpc.clone(),
            amr.clone()
                .map(|a| a as std::sync::Arc<dyn crate::engine::adapter::TrafficView>),
            async move {
                let _ = stop_rx.await;
            },
        ));
        // Ready (and `READY=1`) only once the server task with its TLS
        // configuration runs on the bound listener.
        edge.serving(&store, &edge_engine, &g.retention);
        // Checked when the site file was loaded; read again here (a token file may change).
        let token = g
            .console
            .token()
            .map_err(|(field, m)| anyhow::anyhow!("{field}: {m}"))?;
        edge.state.console.open(
            &cfg,
            crate::console::Sources {
                engine: edge_engine.clone(),
                store: store.clone(),
                amr: amr.clone(),
                token,
            },
        );
        if let Some(p) = &opts.listen_addr_file {
            write_atomically(p, &addr.to_string())?;
        }
        tracing::info!(site = %cfg.site.name, %addr, data_dir = %g.data_dir.display(), "floorgate ready");
        Ok(Gateway {
            addr,
            store,
            grace: Duration::from_secs(g.shutdown_grace_secs),
            stop,
            server,
            engine,
            edge,
            amr,
        })
    }

    /// The AMR adapter (its counters), when the site has AMRs.
    pub fn amr_adapter(&self) -> Option<&crate::adapters::vda5050::Vda5050Adapter> {
        self.amr.as_deref()
    }

    /// The operator console on the admin listener (its viewers, whether it makes
    /// snapshots).
    pub fn console(&self) -> &crate::console::Console {
        &self.edge.state.console
    }

    /// The gRPC listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin listener's address, unless `admin_listen` is off.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.edge.admin_addr()
    }

    /// Stops accepting, lets in-flight calls finish within the grace
    /// period, stops the engine and flushes the store.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        tracing::info!(grace_secs = self.grace.as_secs(), "shutting down");
        self.edge.stop().await;
        let _ = self.stop.send(());
        match tokio::time::timeout(self.grace, self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "gRPC server error"),
            Ok(Err(e)) => tracing::error!(error = %e, "gRPC server task failed"),
            Err(_) => tracing::warn!("in-flight calls did not finish within the grace period"),
        }
        // The server owned the last engine handles; the engine loop ends.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.engine).await;
        // The AMRs keep their orders; a restarted gateway adopts them.
        if let Some(amr) = self.amr.take() {
            amr.close().await;
        }
        self.store.flush().await?;
        self.edge.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

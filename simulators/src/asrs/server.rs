//! The thin shell around [`Asrs`]: an OPC-UA server (async-opcua's server
//! side) on 127.0.0.1 with an OS-assigned port, exposing both interface
//! styles in namespace [`NAMESPACE`], and a 20 ms scan loop that takes
//! handshake triggers, advances the machine and publishes its status.
//!
//! Address space (all in [`NAMESPACE`], string ids; built in `space.rs`):
//! - `ASRS` (object) with methods `ASRS.Retrieve(taskId, location, port)`,
//!   `ASRS.Store(taskId, port, location)` and `ASRS.Cancel(taskId)` →
//!   `[accepted, reason, code]` (code 0, or the refusal's code),
//!   `ASRS.Reset()` → `[accepted, reason]`, and
//!   `ASRS.GetTaskStatus(taskId)` → `[state, result]` (state `Queued`,
//!   `Running`, `Done`, `Failed`, `Cancelled` or `Unknown`);
//! - `ASRS.Status.{LastCompletedTaskId, CurrentTaskId, State, FaultText}`
//!   (String), `ASRS.Status.{FaultCode, LastResult}` (UInt32), written in
//!   one update per scan so a reader never sees a completed id with
//!   another task's result;
//! - `ASRS.Cmd.{TaskId, Location, Port, CancelTaskId}` (String),
//!   `ASRS.Cmd.Command` (Int32: 1 retrieve, 2 store, 3 cancel the task named
//!   in `CancelTaskId`, 4 reset), `ASRS.Cmd.Trigger` (Boolean), and the
//!   acknowledgement `ASRS.Cmd.{AckTaskId, AckReason}` (String),
//!   `ASRS.Cmd.AckResult` (Int32: 0 accepted, else the refusal's code).
//!
//! Any OPC-UA client may queue tasks (the tests use a second one as "another
//! client"); the machine runs them in order and keeps every task id's
//! record ([`Asrs::record`](super::Asrs::record)).
//!
//! Hand-off: [`SimAsrs::on_delivered`] is told of every tote a retrieval
//! puts at an output port, right after the move and before the status
//! shows the task completed, so a conveyor downstream has the tote before
//! anyone can send it a transfer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use opcua::crypto::{CertificateStore, SecurityPolicy, X509Data};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use opcua::server::{ServerBuilder, ServerHandle, ANONYMOUS_USER_TOKEN_ID};
use opcua::types::{MessageSecurityMode, NodeId, StatusCode};
use tokio::net::TcpListener;

use super::machine::{Asrs, Tote};
use super::scan::{publish, scan};
use super::space::build_address_space;

/// The namespace of every node the simulator serves.
pub const NAMESPACE: &str = "urn:floorgate:sim:asrs";

/// Message security of the simulated server.
#[derive(Debug, Clone)]
pub struct SimSecurity {
    /// The server's trust list (`trusted/`, `rejected/`).
    pub pki_dir: PathBuf,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// Accept any client certificate.
    pub trust_client_certs: bool,
}

/// How the simulator serves.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// `None`: security None only. `Some`: Basic256Sha256 Sign and
    /// SignAndEncrypt only.
    pub security: Option<SimSecurity>,
    /// Where a server without security keeps its (empty) PKI directory;
    /// a fresh temporary directory when unset.
    pub pki_dir: Option<PathBuf>,
}

/// Creates a self-signed application instance certificate (DER) and key
/// (PEM) for `application_uri`, valid for 127.0.0.1 and localhost.
pub fn make_certificate(
    cert: &Path,
    key: &Path,
    application_uri: &str,
    common_name: &str,
) -> Result<(), String> {
    let data = X509Data {
        key_size: 2048,
        common_name: common_name.into(),
        organization: "floorgate".into(),
        organizational_unit: "test".into(),
        country: "DE".into(),
        state: "Berlin".into(),
        alt_host_names: vec![
            application_uri.to_string(),
            "127.0.0.1".into(),
            "localhost".into(),
        ]
        .into(),
        certificate_duration_days: 30,
    };
    CertificateStore::create_certificate_and_key(&data, true, cert, key).map(|_| ())
}

/// Puts the certificate at `cert` (DER) into the trust list at `pki_dir`
/// under the file name the trust list looks it up by.
pub fn trust_certificate(pki_dir: &Path, cert: &Path) -> Result<PathBuf, String> {
    let x509 = CertificateStore::read_cert(cert)?;
    let dest = pki_dir
        .join("trusted")
        .join(CertificateStore::cert_file_name(&x509));
    std::fs::create_dir_all(pki_dir.join("trusted")).map_err(|e| e.to_string())?;
    std::fs::copy(cert, &dest).map_err(|e| e.to_string())?;
    Ok(dest)
}

#[derive(Debug, Default)]
pub(super) struct Inbox {
    pub(super) task_id: String,
    pub(super) command: i32,
    pub(super) location: String,
    pub(super) port: String,
    pub(super) cancel_task_id: String,
    pub(super) trigger: bool,
}

/// Told `(output port, tote)` when a retrieval delivers; `true` takes the
/// tote off the port.
type DeliveryHook = Arc<dyn Fn(&str, &Tote) -> bool + Send + Sync>;

pub(super) struct Running {
    pub(super) handle: ServerHandle,
    pub(super) nm: Arc<SimpleNodeManager>,
    pub(super) ns: u16,
    task: tokio::task::JoinHandle<()>,
}

pub(super) struct Inner {
    pub(super) machine: Mutex<Asrs>,
    addr: SocketAddr,
    opts: SimOptions,
    pki_dir: PathBuf,
    /// The PKI directory is a temporary one of ours, removed at drop.
    owned_pki: bool,
    pub(super) running: Mutex<Option<Running>>,
    pub(super) inbox: Mutex<Inbox>,
    pub(super) bad_next_call: Mutex<Option<StatusCode>>,
    pub(super) stall_next_call: Mutex<Option<Duration>>,
    pub(super) calls: AtomicU32,
    pub(super) on_delivered: Mutex<Option<DeliveryHook>>,
}

/// A running simulated AS/RS; stops when dropped.
pub struct SimAsrs {
    inner: Arc<Inner>,
    scan: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimAsrs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimAsrs")
            .field("addr", &self.inner.addr)
            .finish()
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl SimAsrs {
    /// Serves `machine` on 127.0.0.1 with an OS-assigned port.
    pub async fn start(machine: Asrs, opts: SimOptions) -> std::io::Result<SimAsrs> {
        Self::start_on("127.0.0.1:0".parse().expect("an address"), machine, opts).await
    }

    /// Serves `machine` on `addr` (port 0: one the OS picks).
    pub async fn start_on(
        addr: SocketAddr,
        machine: Asrs,
        opts: SimOptions,
    ) -> std::io::Result<SimAsrs> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let pki_dir = match (&opts.security, &opts.pki_dir) {
            (Some(s), _) => s.pki_dir.clone(),
            (None, Some(p)) => p.clone(),
            (None, None) => std::env::temp_dir().join(format!(
                "floorgate-sim-asrs-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            )),
        };
        let owned_pki = opts.security.is_none() && opts.pki_dir.is_none();
        let inner = Arc::new(Inner {
            machine: Mutex::new(machine),
            addr,
            opts,
            pki_dir,
            owned_pki,
            running: Mutex::new(None),
            inbox: Mutex::new(Inbox::default()),
            bad_next_call: Mutex::new(None),
            stall_next_call: Mutex::new(None),
            calls: AtomicU32::new(0),
            on_delivered: Mutex::new(None),
        });
        launch(&inner, listener).map_err(std::io::Error::other)?;
        let scan = tokio::spawn(scan(Arc::downgrade(&inner)));
        Ok(SimAsrs { inner, scan })
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The endpoint URL, `opc.tcp://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("opc.tcp://{}/", self.inner.addr)
    }

    /// Reads or changes the machine (inventory, counters, fault injection).
    pub fn with<T>(&self, f: impl FnOnce(&mut Asrs) -> T) -> T {
        f(&mut self.inner.machine.lock().expect("poisoned"))
    }

    /// A handle that reaches this AS/RS without keeping it alive (for
    /// another simulator's hand-off hook).
    pub fn handle(&self) -> AsrsHandle {
        AsrsHandle(Arc::downgrade(&self.inner))
    }

    /// Calls `f(port, tote)` for every tote a retrieval puts at an output
    /// port, from the scan loop, after the move and before the status
    /// publishes the completion; `f` returning `true` takes the tote off the
    /// port (the conveyor downstream has it). Replaces an earlier hook.
    pub fn on_delivered(&self, f: impl Fn(&str, &Tote) -> bool + Send + Sync + 'static) {
        *self.inner.on_delivered.lock().expect("poisoned") = Some(Arc::new(f));
    }

    /// Method calls received (Retrieve, Store, Cancel, Reset,
    /// GetTaskStatus), repeats included.
    pub fn calls(&self) -> u32 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Fault injection: the next method call answers this Bad status code.
    pub fn fail_next_call(&self, code: StatusCode) {
        *self.inner.bad_next_call.lock().expect("poisoned") = Some(code);
    }

    /// Fault injection: the next Retrieve or Store is carried out, and its
    /// answer held back for `d` (blocking one server thread meanwhile), so
    /// a client with a shorter request timeout never sees it.
    pub fn stall_next_call(&self, d: Duration) {
        *self.inner.stall_next_call.lock().expect("poisoned") = Some(d);
    }

    /// Stops the server (every session drops), waits `down`, and serves
    /// again on the same port. The machine keeps running meanwhile, as a
    /// PLC does when only its OPC-UA server restarts.
    pub async fn restart(&self, down: Duration) -> std::io::Result<()> {
        self.stop_server().await;
        tokio::time::sleep(down).await;
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.inner.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(error = %e, "port not free yet");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        };
        launch(&self.inner, listener).map_err(std::io::Error::other)
    }

    async fn stop_server(&self) {
        let old = self.inner.running.lock().expect("poisoned").take();
        if let Some(r) = old {
            r.handle.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), r.task).await;
        }
    }
}

/// Reaches a [`SimAsrs`]'s machine while it runs.
#[derive(Clone)]
pub struct AsrsHandle(Weak<Inner>);

impl std::fmt::Debug for AsrsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AsrsHandle").finish()
    }
}

impl AsrsHandle {
    /// Reads or changes the machine; `None` once the simulator is dropped.
    pub fn with<T>(&self, f: impl FnOnce(&mut Asrs) -> T) -> Option<T> {
        let inner = self.0.upgrade()?;
        let mut m = inner.machine.lock().expect("poisoned");
        Some(f(&mut m))
    }
}

impl Drop for SimAsrs {
    fn drop(&mut self) {
        self.scan.abort();
        if let Some(r) = self.inner.running.lock().expect("poisoned").take() {
            r.handle.cancel();
        }
        if self.inner.owned_pki {
            let _ = std::fs::remove_dir_all(&self.inner.pki_dir);
        }
    }
}

pub(super) fn id(ns: u16, name: &str) -> NodeId {
    NodeId::new(ns, name)
}

/// Builds the server and its address space, and serves on `listener`.
fn launch(inner: &Arc<Inner>, listener: TcpListener) -> Result<(), String> {
    let port = inner.addr.port();
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let users: &[&str] = &[ANONYMOUS_USER_TOKEN_ID];
    let mut b = ServerBuilder::new()
        .application_name("floorgate simulated AS/RS")
        .application_uri("urn:floorgate:sim:asrs-server")
        .product_uri("urn:floorgate:sim")
        .host("127.0.0.1")
        .port(port)
        .discovery_urls(vec![url])
        .pki_dir(inner.pki_dir.clone())
        .create_sample_keypair(false)
        .with_node_manager(simple_node_manager(
            NamespaceMetadata {
                namespace_uri: NAMESPACE.into(),
                ..Default::default()
            },
            "asrs",
        ));
    match &inner.opts.security {
        None => {
            b = b.add_endpoint(
                "none",
                ("/", SecurityPolicy::None, MessageSecurityMode::None, users),
            )
        }
        Some(s) => {
            b = b
                .certificate_path(s.certificate.clone())
                .private_key_path(s.private_key.clone())
                .trust_client_certs(s.trust_client_certs)
                .add_endpoint(
                    "basic256sha256_sign",
                    (
                        "/",
                        SecurityPolicy::Basic256Sha256,
                        MessageSecurityMode::Sign,
                        users,
                    ),
                )
                .add_endpoint(
                    "basic256sha256_sign_encrypt",
                    (
                        "/",
                        SecurityPolicy::Basic256Sha256,
                        MessageSecurityMode::SignAndEncrypt,
                        users,
                    ),
                );
        }
    }
    let (server, handle) = b.build()?;
    let nm = handle
        .node_managers()
        .get_of_type::<SimpleNodeManager>()
        .ok_or("no simple node manager")?;
    let ns = handle
        .get_namespace_index(NAMESPACE)
        .ok_or("namespace not registered")?;
    build_address_space(inner, &nm, ns);
    let task = tokio::spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            tracing::warn!(error = %e, "simulated AS/RS server ended");
        }
    });
    let status = inner.machine.lock().expect("poisoned").status();
    publish(&handle, &nm, ns, &status);
    *inner.running.lock().expect("poisoned") = Some(Running {
        handle,
        nm,
        ns,
        task,
    });
    Ok(())
}

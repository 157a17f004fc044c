//! The thin shell around [`Asrs`]: an OPC-UA server (async-opcua's server
//! side) on 127.0.0.1 with an OS-assigned port, exposing both interface
//! styles in namespace [`NAMESPACE`], and a 20 ms scan loop that takes
//! handshake triggers, advances the machine and publishes its status.
//!
//! Address space (all in [`NAMESPACE`], string ids):
//! - `ASRS` (object) with methods `ASRS.Retrieve(taskId, location, port)`,
//!   `ASRS.Store(taskId, port, location)` and `ASRS.Cancel(taskId)` →
//!   `[accepted, reason]`;
//! - `ASRS.Status.{LastCompletedTaskId, CurrentTaskId, State, FaultText}`
//!   (String), `ASRS.Status.FaultCode` (UInt32);
//! - `ASRS.Cmd.{TaskId, Location, Port, CancelTaskId}` (String),
//!   `ASRS.Cmd.Command` (Int32: 1 retrieve, 2 store, 3 cancel the task named
//!   in `CancelTaskId`), `ASRS.Cmd.Trigger` (Boolean), and the
//!   acknowledgement `ASRS.Cmd.{AckTaskId, AckReason}` (String),
//!   `ASRS.Cmd.AckResult` (Int32: 0 accepted, 1 refused).
//!
//! Hand-off: [`SimAsrs::on_delivered`] is told of every tote a retrieval
//! puts at an output port, right after the move and before the status
//! shows the task completed, so a conveyor downstream has the tote before
//! anyone can send it a transfer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use opcua::crypto::{CertificateStore, SecurityPolicy, X509Data};
use opcua::nodes::{AccessLevel, MethodBuilder, ObjectBuilder, VariableBuilder};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use opcua::server::{ServerBuilder, ServerHandle, ANONYMOUS_USER_TOKEN_ID};
use opcua::types::{
    DataTypeId, DataValue, MessageSecurityMode, NodeId, NumericRange, ObjectId, StatusCode, Variant,
};
use tokio::net::TcpListener;

use super::machine::{Asrs, Status, TaskKind, Tote};

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
struct Inbox {
    task_id: String,
    command: i32,
    location: String,
    port: String,
    cancel_task_id: String,
    trigger: bool,
}

/// Told `(output port, tote)` when a retrieval delivers; `true` takes the
/// tote off the port.
type DeliveryHook = Arc<dyn Fn(&str, &Tote) -> bool + Send + Sync>;

struct Running {
    handle: ServerHandle,
    nm: Arc<SimpleNodeManager>,
    ns: u16,
    task: tokio::task::JoinHandle<()>,
}

struct Inner {
    machine: Mutex<Asrs>,
    addr: SocketAddr,
    opts: SimOptions,
    pki_dir: PathBuf,
    /// The PKI directory is a temporary one of ours, removed at drop.
    owned_pki: bool,
    running: Mutex<Option<Running>>,
    inbox: Mutex<Inbox>,
    bad_next_call: Mutex<Option<StatusCode>>,
    calls: AtomicU32,
    on_delivered: Mutex<Option<DeliveryHook>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").await?;
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

    /// Method calls received (Retrieve, Store, Cancel), repeats included.
    pub fn calls(&self) -> u32 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Fault injection: the next method call answers this Bad status code.
    pub fn fail_next_call(&self, code: StatusCode) {
        *self.inner.bad_next_call.lock().expect("poisoned") = Some(code);
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

fn id(ns: u16, name: &str) -> NodeId {
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

fn build_address_space(inner: &Arc<Inner>, nm: &Arc<SimpleNodeManager>, ns: u16) {
    let asrs = id(ns, "ASRS");
    {
        let mut sp = nm.address_space().write();
        ObjectBuilder::new(&asrs, "ASRS", "ASRS")
            .organized_by(ObjectId::ObjectsFolder)
            .insert(&mut *sp);
        let var = |sp: &mut opcua::server::address_space::AddressSpace,
                   name: &str,
                   v: Variant,
                   dt: DataTypeId,
                   writable: bool| {
            let mut b = VariableBuilder::new(&id(ns, name), name, name)
                .data_type(dt)
                .value(v)
                .component_of(asrs.clone());
            if writable {
                b = b
                    .access_level(AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE)
                    .user_access_level(AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE);
            }
            b.insert(sp);
        };
        let s = |t: &str| Variant::String(t.into());
        for n in ["LastCompletedTaskId", "CurrentTaskId", "State", "FaultText"] {
            var(
                &mut sp,
                &format!("ASRS.Status.{n}"),
                s(""),
                DataTypeId::String,
                false,
            );
        }
        var(
            &mut sp,
            "ASRS.Status.FaultCode",
            Variant::UInt32(0),
            DataTypeId::UInt32,
            false,
        );
        for n in ["TaskId", "Location", "Port", "CancelTaskId"] {
            var(
                &mut sp,
                &format!("ASRS.Cmd.{n}"),
                s(""),
                DataTypeId::String,
                true,
            );
        }
        var(
            &mut sp,
            "ASRS.Cmd.Command",
            Variant::Int32(0),
            DataTypeId::Int32,
            true,
        );
        var(
            &mut sp,
            "ASRS.Cmd.Trigger",
            Variant::Boolean(false),
            DataTypeId::Boolean,
            true,
        );
        var(
            &mut sp,
            "ASRS.Cmd.AckTaskId",
            s(""),
            DataTypeId::String,
            false,
        );
        var(
            &mut sp,
            "ASRS.Cmd.AckReason",
            s(""),
            DataTypeId::String,
            false,
        );
        var(
            &mut sp,
            "ASRS.Cmd.AckResult",
            Variant::Int32(0),
            DataTypeId::Int32,
            false,
        );
        let args = |names: &[&str]| -> Vec<opcua::types::Argument> {
            names
                .iter()
                .map(|n| (*n, DataTypeId::String).into())
                .collect()
        };
        let outputs: Vec<opcua::types::Argument> = vec![
            ("Accepted", DataTypeId::Boolean).into(),
            ("Reason", DataTypeId::String).into(),
        ];
        for (name, ins) in [
            ("Retrieve", &["TaskId", "Location", "Port"][..]),
            ("Store", &["TaskId", "Port", "Location"][..]),
            ("Cancel", &["TaskId"][..]),
        ] {
            let m = id(ns, &format!("ASRS.{name}"));
            MethodBuilder::new(&m, name, name)
                .component_of(asrs.clone())
                .executable(true)
                .user_executable(true)
                .input_args(
                    &mut *sp,
                    &id(ns, &format!("ASRS.{name}.InputArguments")),
                    &args(ins),
                )
                .output_args(
                    &mut *sp,
                    &id(ns, &format!("ASRS.{name}.OutputArguments")),
                    &outputs,
                )
                .insert(&mut *sp);
        }
    }
    // The command nodes: the scan loop reads what the client wrote.
    let w = Arc::downgrade(inner);
    let on_write = |field: fn(&mut Inbox, &Variant) -> bool| {
        let w = w.clone();
        move |dv: DataValue, _: &NumericRange| -> StatusCode {
            let Some(inner) = w.upgrade() else {
                return StatusCode::BadShutdown;
            };
            let v = dv.value.unwrap_or_default();
            if field(&mut inner.inbox.lock().expect("poisoned"), &v) {
                StatusCode::Good
            } else {
                StatusCode::BadTypeMismatch
            }
        }
    };
    let i = nm.inner();
    i.add_write_callback(
        id(ns, "ASRS.Cmd.TaskId"),
        on_write(|b, v| set_string(&mut b.task_id, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Location"),
        on_write(|b, v| set_string(&mut b.location, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Port"),
        on_write(|b, v| set_string(&mut b.port, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.CancelTaskId"),
        on_write(|b, v| set_string(&mut b.cancel_task_id, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Command"),
        on_write(|b, v| match v {
            Variant::Int32(n) => {
                b.command = *n;
                true
            }
            _ => false,
        }),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Trigger"),
        on_write(|b, v| match v {
            Variant::Boolean(t) => {
                b.trigger |= *t;
                true
            }
            _ => false,
        }),
    );
    for (name, kind) in [("Retrieve", TaskKind::Retrieve), ("Store", TaskKind::Store)] {
        let w = w.clone();
        i.add_method_callback(
            id(ns, &format!("ASRS.{name}")),
            move |args: &[Variant]| {
                let inner = w.upgrade().ok_or(StatusCode::BadShutdown)?;
                inner.calls.fetch_add(1, Ordering::Relaxed);
                if let Some(code) = inner.bad_next_call.lock().expect("poisoned").take() {
                    return Err(code);
                }
                let strings: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        Variant::String(s) => Ok(s.to_string()),
                        _ => Err(StatusCode::BadTypeMismatch),
                    })
                    .collect::<Result<_, _>>()?;
                let [task_id, a, b] = strings.as_slice() else {
                    return Err(if strings.len() < 3 {
                        StatusCode::BadArgumentsMissing
                    } else {
                        StatusCode::BadTooManyArguments
                    });
                };
                let (location, port) = match kind {
                    TaskKind::Retrieve => (a, b),
                    TaskKind::Store => (b, a),
                };
                let answer = inner
                    .machine
                    .lock()
                    .expect("poisoned")
                    .submit(task_id, kind, location, port);
                Ok(answer_of(answer))
            },
        );
    }
    let w = w.clone();
    i.add_method_callback(id(ns, "ASRS.Cancel"), move |args: &[Variant]| {
        let inner = w.upgrade().ok_or(StatusCode::BadShutdown)?;
        inner.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(code) = inner.bad_next_call.lock().expect("poisoned").take() {
            return Err(code);
        }
        let task_id = match args {
            [Variant::String(s)] => s.to_string(),
            [] => return Err(StatusCode::BadArgumentsMissing),
            [_] => return Err(StatusCode::BadTypeMismatch),
            _ => return Err(StatusCode::BadTooManyArguments),
        };
        let answer = inner.machine.lock().expect("poisoned").cancel(&task_id);
        Ok(answer_of(answer))
    });
}

/// A method's `[accepted, reason]`.
fn answer_of(answer: Result<(), String>) -> Vec<Variant> {
    vec![
        Variant::Boolean(answer.is_ok()),
        Variant::String(answer.err().unwrap_or_default().into()),
    ]
}

fn set_string(slot: &mut String, v: &Variant) -> bool {
    match v {
        Variant::String(s) => {
            *slot = s.to_string();
            true
        }
        _ => false,
    }
}

fn publish(handle: &ServerHandle, nm: &SimpleNodeManager, ns: u16, s: &Status) {
    let values = [
        (
            "ASRS.Status.LastCompletedTaskId",
            Variant::String(s.last_completed_task_id.clone().into()),
        ),
        (
            "ASRS.Status.CurrentTaskId",
            Variant::String(s.current_task_id.clone().into()),
        ),
        ("ASRS.Status.State", Variant::String(s.state.into())),
        ("ASRS.Status.FaultCode", Variant::UInt32(s.fault_code)),
        (
            "ASRS.Status.FaultText",
            Variant::String(s.fault_text.clone().into()),
        ),
    ];
    let ids: Vec<NodeId> = values.iter().map(|(n, _)| id(ns, n)).collect();
    let _ = nm.set_values(
        handle.subscriptions(),
        ids.iter()
            .zip(values)
            .map(|(i, (_, v))| (i, None, DataValue::new_now(v))),
    );
}

/// The PLC scan: handshake trigger, machine tick, status publication.
async fn scan(inner: Weak<Inner>) {
    let mut last: Option<Status> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let mut m = inner.machine.lock().expect("poisoned");
        let command = {
            let mut b = inner.inbox.lock().expect("poisoned");
            std::mem::take(&mut b.trigger).then(|| {
                (
                    b.task_id.clone(),
                    b.command,
                    b.location.clone(),
                    b.port.clone(),
                    b.cancel_task_id.clone(),
                )
            })
        };
        let ack = command.map(|(task_id, code, location, port, cancel)| {
            let answer = match code {
                1 => m.submit(&task_id, TaskKind::Retrieve, &location, &port),
                2 => m.submit(&task_id, TaskKind::Store, &location, &port),
                3 => m.cancel(&cancel),
                other => Err(format!("unknown command code {other}")),
            };
            (task_id, answer)
        });
        m.tick(Instant::now());
        let deliveries = m.take_deliveries();
        drop(m);
        // The hand-off runs without the machine's lock: the hook may lock
        // another simulator, whose own hook may lock this machine.
        let hook = inner.on_delivered.lock().expect("poisoned").clone();
        if let Some(hook) = hook {
            for (port, tote) in deliveries {
                if hook(&port, &tote) {
                    inner.machine.lock().expect("poisoned").take_at_port(&port);
                }
            }
        }
        let status = inner.machine.lock().expect("poisoned").status();
        let running = inner.running.lock().expect("poisoned");
        let Some(r) = running.as_ref() else { continue };
        if let Some((task_id, answer)) = ack {
            let values = [
                (
                    "ASRS.Cmd.AckResult",
                    Variant::Int32(if answer.is_ok() { 0 } else { 1 }),
                ),
                (
                    "ASRS.Cmd.AckReason",
                    Variant::String(answer.err().unwrap_or_default().into()),
                ),
                // Last: the client waits for the task id.
                ("ASRS.Cmd.AckTaskId", Variant::String(task_id.into())),
            ];
            let ids: Vec<NodeId> = values.iter().map(|(n, _)| id(r.ns, n)).collect();
            let _ = r.nm.set_values(
                r.handle.subscriptions(),
                ids.iter()
                    .zip(values)
                    .map(|(i, (_, v))| (i, None, DataValue::new_now(v))),
            );
        }
        // (A restarted server publishes the current status at launch.)
        if last.as_ref() != Some(&status) {
            publish(&r.handle, &r.nm, r.ns, &status);
            last = Some(status);
        }
    }
}

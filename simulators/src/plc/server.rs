//! The Modbus TCP shell around [`PlcProgram`]: a tokio-modbus server on loopback, plus the
//! fault injection and counters tests use.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use floorgate_protocols::modbus::ModbusProfile;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::Server;
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use super::machine::{Machine, SetupError, ToteLocation};
use super::program::{PlcProgram, Status};
use super::record::CommandRecord;

/// Requests kept in the request log.
const LOG_CAPACITY: usize = 10_000;

/// One request as the PLC processed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Position in the PLC's processing order since start (0-based, never reused).
    pub index: u64,
    /// What was asked.
    pub kind: RequestKind,
    /// First register.
    pub addr: u16,
    /// Number of registers.
    pub count: u16,
}

/// The kind of a logged request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Read Holding Registers.
    Read,
    /// Write Single / Multiple Registers.
    Write,
    /// Anything else (answered with `IllegalFunction`).
    Other,
}

/// The simulated PLC could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimPlcError {
    /// The profile lacks codes the program needs.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Binding the listener failed.
    #[error("bind: {0}")]
    Io(#[from] io::Error),
}

/// Told `(tote, location)` when a transfer ends; `true` takes the tote off
/// the conveyor.
type ArrivalHook = Arc<dyn Fn(u32, u16) -> bool + Send + Sync>;

struct Shared {
    program: Mutex<PlcProgram>,
    unit_id: AtomicU8,
    delay_us: AtomicU64,
    /// Take the next mailbox write, then close its connection without answering.
    drop_next_write_reply: AtomicBool,
    log: Mutex<VecDeque<LoggedRequest>>,
    next_index: AtomicU64,
    conns: Mutex<BTreeMap<u64, std::net::TcpStream>>,
    next_conn: AtomicU64,
    connections_total: AtomicU64,
    on_arrival: Mutex<Option<ArrivalHook>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("program", &self.program)
            .field("unit_id", &self.unit_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn record(&self, request: &Request<'_>) {
        let (kind, addr, count) = match request {
            Request::ReadHoldingRegisters(a, c) => (RequestKind::Read, *a, *c),
            Request::WriteMultipleRegisters(a, w) => (
                RequestKind::Write,
                *a,
                u16::try_from(w.len()).unwrap_or(u16::MAX),
            ),
            Request::WriteSingleRegister(a, _) => (RequestKind::Write, *a, 1),
            _ => (RequestKind::Other, 0, 0),
        };
        let mut log = lock(&self.log);
        let index = self.next_index.fetch_add(1, Ordering::SeqCst);
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(LoggedRequest {
            index,
            kind,
            addr,
            count,
        });
    }

    fn handle(&self, req: SlaveRequest<'static>) -> Result<Response, ExceptionCode> {
        self.record(&req.request);
        if req.slave != self.unit_id.load(Ordering::Relaxed) {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        let mut program = lock(&self.program);
        let answer = Self::serve(&mut program, req.request);
        let arrivals = program.take_arrivals();
        drop(program);
        // Before the answer that may show the transfer done leaves.
        self.hand_off(arrivals);
        answer
    }

    /// Tells the arrival hook, without the program's lock (the hook may lock
    /// another simulator, whose own hook may lock this PLC).
    fn hand_off(&self, arrivals: Vec<(u32, u16)>) {
        if arrivals.is_empty() {
            return;
        }
        let Some(hook) = lock(&self.on_arrival).clone() else {
            return;
        };
        for (tote, at) in arrivals {
            if hook(tote, at) {
                lock(&self.program).remove_tote(tote);
            }
        }
    }

    fn serve(
        program: &mut PlcProgram,
        request: Request<'static>,
    ) -> Result<Response, ExceptionCode> {
        let now = tokio::time::Instant::now().into_std();
        match request {
            Request::ReadHoldingRegisters(addr, count) => program
                .read(now, addr, count)
                .map(Response::ReadHoldingRegisters),
            Request::WriteMultipleRegisters(addr, words) => {
                program.write(now, addr, &words)?;
                Ok(Response::WriteMultipleRegisters(
                    addr,
                    u16::try_from(words.len()).unwrap_or(u16::MAX),
                ))
            }
            Request::WriteSingleRegister(addr, word) => {
                program.write(now, addr, &[word])?;
                Ok(Response::WriteSingleRegister(addr, word))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

/// The service of one connection; dropping it (connection closed) unregisters the socket.
struct PlcService {
    shared: Arc<Shared>,
    conn: u64,
}

impl Drop for PlcService {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.conn);
    }
}

impl Service for PlcService {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let conn = self.conn;
        Box::pin(async move {
            let delay = Duration::from_micros(shared.delay_us.load(Ordering::Relaxed));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let write = matches!(
                req.request,
                Request::WriteMultipleRegisters(..) | Request::WriteSingleRegister(..)
            );
            let answer = shared.handle(req);
            if write && shared.drop_next_write_reply.swap(false, Ordering::SeqCst) {
                // The write took effect; the answer never reaches the master.
                if let Some(stream) = lock(&shared.conns).remove(&conn) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                }
            }
            answer
        })
    }
}

/// A simulated PLC serving Modbus TCP on `127.0.0.1`. Dropping it stops the server and
/// closes its connections.
#[derive(Debug)]
pub struct SimPlc {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SimPlc {
    /// Starts a PLC on `127.0.0.1:0`; [`SimPlc::addr`] tells the port.
    pub async fn start(profile: Arc<ModbusProfile>, machine: Machine) -> Result<Self, SimPlcError> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("literal socket address"),
            profile,
            machine,
        )
        .await
    }

    /// Starts a PLC on the given address (port 0 picks a free port).
    pub async fn start_on(
        bind: SocketAddr,
        profile: Arc<ModbusProfile>,
        machine: Machine,
    ) -> Result<Self, SimPlcError> {
        let unit_id = profile.unit_id;
        let program = PlcProgram::new(profile, machine)?;
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            program: Mutex::new(program),
            unit_id: AtomicU8::new(unit_id),
            delay_us: AtomicU64::new(0),
            drop_next_write_reply: AtomicBool::new(false),
            log: Mutex::new(VecDeque::new()),
            next_index: AtomicU64::new(0),
            conns: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            on_arrival: Mutex::new(None),
        });
        let server = Server::new(listener);
        let for_server = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let on_connected = move |stream: TcpStream, _peer: SocketAddr| {
                let shared = Arc::clone(&for_server);
                async move {
                    // Keep a second handle on the socket so fault injection can shut it down.
                    let std_stream = stream.into_std()?;
                    let handle = std_stream.try_clone()?;
                    let stream = TcpStream::from_std(std_stream)?;
                    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
                    lock(&shared.conns).insert(conn, handle);
                    shared.connections_total.fetch_add(1, Ordering::Relaxed);
                    Ok(Some((PlcService { shared, conn }, stream)))
                }
            };
            if let Err(err) = server
                .serve(
                    &on_connected,
                    |err| tracing::debug!(%err, "simulated PLC connection ended"),
                )
                .await
            {
                tracing::warn!(%err, "simulated PLC stopped accepting");
            }
        });
        Ok(SimPlc { addr, shared, task })
    }

    /// The address the PLC listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `f` on the program (ticked to now first).
    pub fn with_program<R>(&self, f: impl FnOnce(&mut PlcProgram) -> R) -> R {
        let mut program = lock(&self.shared.program);
        program.tick(tokio::time::Instant::now().into_std());
        let r = f(&mut program);
        let arrivals = program.take_arrivals();
        drop(program);
        self.shared.hand_off(arrivals);
        r
    }

    /// A handle that reaches this PLC without keeping it alive (for another
    /// simulator's hand-off hook).
    pub fn handle(&self) -> PlcHandle {
        PlcHandle(Arc::downgrade(&self.shared))
    }

    /// Calls `f(tote, location)` whenever a transfer ends, before the
    /// answer that may show it done leaves the PLC; `f` returning `true`
    /// takes the tote off the conveyor (a machine downstream has it).
    /// Replaces an earlier hook.
    pub fn on_arrival(&self, f: impl Fn(u32, u16) -> bool + Send + Sync + 'static) {
        *lock(&self.shared.on_arrival) = Some(Arc::new(f));
    }

    /// Takes a tote off the conveyor; where it was.
    pub fn remove_tote(&self, tote: u32) -> Option<ToteLocation> {
        self.with_program(|p| p.remove_tote(tote))
    }

    /// Jams the running command now, or the next one when it starts.
    pub fn inject_jam(&self) {
        self.with_program(PlcProgram::inject_jam);
    }

    /// Presses or releases the emergency stop.
    pub fn set_estop(&self, on: bool) {
        self.with_program(|p| p.set_estop(on));
    }

    /// Answers only requests for `unit_id` from now on (others get exception 0x0B,
    /// gateway target device failed to respond).
    pub fn set_unit_id(&self, unit_id: u8) {
        self.shared.unit_id.store(unit_id, Ordering::Relaxed);
    }

    /// Takes the next mailbox write, then closes that connection before the answer
    /// leaves: the master's write is unconfirmed although the PLC has the command.
    pub fn drop_reply_to_next_write(&self) {
        self.shared
            .drop_next_write_reply
            .store(true, Ordering::SeqCst);
    }

    /// The next command that runs ends with `result` after its travel time.
    pub fn fail_next_with(&self, result: u16) {
        self.with_program(|p| p.fail_next_with(result));
    }

    /// Presses the e-stop in the scan in which the next command finishes.
    pub fn estop_after_next_completion(&self) {
        self.with_program(PlcProgram::estop_after_next_completion);
    }

    /// Every command the PLC took or refused, in order, with what happened to it.
    pub fn records(&self) -> Vec<CommandRecord> {
        self.with_program(|p| p.records().to_vec())
    }

    /// The PLC's record of the commands with sequence `seq`.
    pub fn records_of(&self, seq: u16) -> Vec<CommandRecord> {
        self.with_program(|p| {
            p.records()
                .iter()
                .filter(|r| r.seq == seq)
                .cloned()
                .collect()
        })
    }

    /// Delays every response by `delay` (zero for none).
    pub fn set_response_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay_us.store(us, Ordering::Relaxed);
    }

    /// Closes every open connection, as a PLC reboot or a cable pull would; returns how many.
    pub fn drop_connections(&self) -> usize {
        let conns = std::mem::take(&mut *lock(&self.shared.conns));
        for stream in conns.values() {
            // Already closed by the peer is fine.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        conns.len()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.conns).len()
    }

    /// Connections accepted since start.
    pub fn connections_total(&self) -> u64 {
        self.shared.connections_total.load(Ordering::Relaxed)
    }

    /// How many times the command with sequence `seq` was started.
    pub fn executions(&self, seq: u16) -> u32 {
        self.with_program(|p| p.executions(seq))
    }

    /// Where a tote is.
    pub fn tote_location(&self, tote: u32) -> Option<ToteLocation> {
        self.with_program(|p| p.tote_location(tote))
    }

    /// Puts a tote on a conveyor location.
    pub fn place_tote(&self, tote: u32, at: u16) {
        self.with_program(|p| p.place_tote(tote, at));
    }

    /// The handshake registers now.
    pub fn status(&self) -> Status {
        self.with_program(|p| p.status())
    }

    /// Index the next processed request will get.
    pub fn next_request_index(&self) -> u64 {
        self.shared.next_index.load(Ordering::SeqCst)
    }

    /// The most recent requests (up to 10 000), in processing order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().copied().collect()
    }
}

/// Reaches a [`SimPlc`] while it runs; does nothing once it is dropped.
#[derive(Debug, Clone)]
pub struct PlcHandle(std::sync::Weak<Shared>);

impl PlcHandle {
    /// Puts a tote on a conveyor location; `false` when the PLC is gone.
    pub fn place_tote(&self, tote: u32, at: u16) -> bool {
        let Some(shared) = self.0.upgrade() else {
            return false;
        };
        let mut program = lock(&shared.program);
        program.tick(tokio::time::Instant::now().into_std());
        program.place_tote(tote, at);
        let arrivals = program.take_arrivals();
        drop(program);
        shared.hand_off(arrivals);
        true
    }
}

impl Drop for SimPlc {
    fn drop(&mut self) {
        self.task.abort();
        self.drop_connections();
    }
}

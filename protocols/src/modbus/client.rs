//! One connection per PLC, owned by one task, with a write lane ahead of the status poll.
//!
//! The task owns the tokio-modbus [`Context`]. Requests from callers (command writes and
//! the ack read-backs of the mailbox) arrive on the *lane*, a channel the task checks
//! before every poll read: a command waits at most for the one read already on the wire,
//! never behind a queue of polls. Every request has a deadline; a timeout or broken socket
//! drops the connection and the task reconnects with exponential backoff, answering lane
//! requests with [`ModbusError::NotConnected`] meanwhile so callers can retry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{self, Instant, MissedTickBehavior};
use tokio_modbus::client::{tcp, Context, Reader, Writer};
use tokio_modbus::{ExceptionCode, Slave};

use super::error::ModbusError;
pub use super::link::{ClientCounters, LinkState, PollRefusal};
use super::plan::{poll_plan, ReadBlock, RegisterImage};
use super::profile::ModbusProfile;
use super::status::StatusSnapshot;
use crate::ratelimit::WarnLimiter;

/// Outcome of one request: transport error outside, PLC exception inside.
pub type Reply<T> = Result<Result<T, ExceptionCode>, ModbusError>;

/// Capacity of the lane; callers wait when it is full.
const LANE_CAPACITY: usize = 64;

enum Op {
    Read { addr: u16, count: u16 },
    Write { addr: u16, words: Vec<u16> },
}

enum Output {
    Words(Vec<u16>),
    Written,
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Reply<Output>>,
}

/// Handle to the connection task of one PLC. Cheap to clone; the task stops when the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct ModbusClient {
    addr: SocketAddr,
    profile: Arc<ModbusProfile>,
    lane: mpsc::Sender<Job>,
    status: watch::Receiver<Option<Arc<StatusSnapshot>>>,
    link: watch::Receiver<LinkState>,
    refusal: watch::Receiver<Option<PollRefusal>>,
    counters: Arc<ClientCounters>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl ModbusClient {
    /// Starts the connection task for the PLC at `addr` (unit id, timeouts and poll plan
    /// from the profile). Must be called inside a tokio runtime.
    pub fn spawn(addr: SocketAddr, profile: Arc<ModbusProfile>) -> Self {
        let (lane_tx, lane_rx) = mpsc::channel(LANE_CAPACITY);
        let (status_tx, status_rx) = watch::channel(None);
        let (link_tx, link_rx) = watch::channel(LinkState::Connecting);
        let (refusal_tx, refusal_rx) = watch::channel(None);
        let counters = Arc::new(ClientCounters::default());
        let task = Task {
            addr,
            plan: poll_plan(&profile),
            profile: Arc::clone(&profile),
            lane: lane_rx,
            status: status_tx,
            link: link_tx,
            refusal: refusal_tx,
            counters: Arc::clone(&counters),
            polls: 0,
            warnings: WarnLimiter::default(),
        };
        tokio::spawn(task.run());
        ModbusClient {
            addr,
            profile,
            lane: lane_tx,
            status: status_rx,
            link: link_rx,
            refusal: refusal_rx,
            counters,
        }
    }

    /// Address of the PLC.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The profile the client polls with.
    pub fn profile(&self) -> &Arc<ModbusProfile> {
        &self.profile
    }

    /// Latest status snapshot (`None` until the first poll); changes after every poll.
    pub fn status(&self) -> watch::Receiver<Option<Arc<StatusSnapshot>>> {
        self.status.clone()
    }

    /// Connection state.
    pub fn link(&self) -> watch::Receiver<LinkState> {
        self.link.clone()
    }

    /// Whether the PLC refuses the status polls: `Some` from a poll answered with an
    /// exception (wrong unit id behind a gateway, a register map the PLC lacks) until a
    /// poll succeeds; `None` also while disconnected.
    pub fn poll_refusal(&self) -> watch::Receiver<Option<PollRefusal>> {
        self.refusal.clone()
    }

    /// Counters of this client.
    pub fn counters(&self) -> &ClientCounters {
        &self.counters
    }

    async fn call(&self, op: Op) -> Reply<Output> {
        let (reply, rx) = oneshot::channel();
        self.lane
            .send(Job { op, reply })
            .await
            .map_err(|_| ModbusError::Closed)?;
        rx.await.map_err(|_| ModbusError::Closed)?
    }

    /// Read Holding Registers through the lane (ahead of status polls).
    pub async fn read_holding_registers(&self, addr: u16, count: u16) -> Reply<Vec<u16>> {
        match self.call(Op::Read { addr, count }).await? {
            Ok(Output::Words(words)) => Ok(Ok(words)),
            Ok(Output::Written) => Err(ModbusError::UnexpectedResponse { op: "read" }),
            Err(exception) => Ok(Err(exception)),
        }
    }

    /// Write Multiple Registers through the lane (ahead of status polls).
    pub async fn write_multiple_registers(&self, addr: u16, words: &[u16]) -> Reply<()> {
        match self
            .call(Op::Write {
                addr,
                words: words.to_vec(),
            })
            .await?
        {
            Ok(Output::Written) => Ok(Ok(())),
            Ok(Output::Words(_)) => Err(ModbusError::UnexpectedResponse { op: "write" }),
            Err(exception) => Ok(Err(exception)),
        }
    }
}

/// Why [`Task::serve`] returned.
enum Exit {
    /// Every handle is gone.
    Stop,
    /// The connection broke; `served` tells whether any request had succeeded on it.
    Broken { error: String, served: bool },
}

struct Conn {
    ctx: Context,
    timeout: Duration,
    served: bool,
}

impl Conn {
    async fn run(&mut self, op: &Op) -> Reply<Output> {
        let (name, result) = match op {
            Op::Read { addr, count } => (
                "read",
                time::timeout(self.timeout, self.ctx.read_holding_registers(*addr, *count))
                    .await
                    .map(|r| r.map(|r| r.map(Output::Words))),
            ),
            Op::Write { addr, words } => (
                "write",
                time::timeout(
                    self.timeout,
                    self.ctx.write_multiple_registers(*addr, words),
                )
                .await
                .map(|r| r.map(|r| r.map(|()| Output::Written))),
            ),
        };
        let reply = match result {
            Err(_) => Err(ModbusError::Timeout {
                op: name,
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(ModbusError::Transport(e)),
            Ok(Ok(Ok(Output::Words(words)))) => match op {
                Op::Read { count, .. } if words.len() != usize::from(*count) => {
                    Err(ModbusError::UnexpectedResponse { op: name })
                }
                _ => Ok(Ok(Output::Words(words))),
            },
            Ok(Ok(other)) => Ok(other),
        };
        if reply.is_ok() {
            self.served = true;
        }
        reply
    }
}

struct Task {
    addr: SocketAddr,
    profile: Arc<ModbusProfile>,
    plan: Vec<ReadBlock>,
    lane: mpsc::Receiver<Job>,
    status: watch::Sender<Option<Arc<StatusSnapshot>>>,
    link: watch::Sender<LinkState>,
    refusal: watch::Sender<Option<PollRefusal>>,
    counters: Arc<ClientCounters>,
    polls: u64,
    warnings: WarnLimiter,
}

impl Task {
    async fn run(mut self) {
        let timing = self.profile.timing.clone();
        let mut backoff = timing.reconnect_min();
        let mut generation = 0;
        loop {
            self.link.send_replace(LinkState::Connecting);
            let connect = tcp::connect_slave(self.addr, Slave(self.profile.unit_id));
            let error = match time::timeout(timing.connect_timeout(), connect).await {
                Ok(Ok(ctx)) => {
                    generation += 1;
                    ClientCounters::inc(&self.counters.connects_total);
                    self.link.send_replace(LinkState::Connected { generation });
                    tracing::debug!(plc = %self.addr, generation, "modbus connected");
                    let conn = Conn {
                        ctx,
                        timeout: timing.request_timeout(),
                        served: false,
                    };
                    match self.serve(conn).await {
                        Exit::Stop => return,
                        Exit::Broken { error, served } => {
                            ClientCounters::inc(&self.counters.disconnects_total);
                            self.refusal.send_replace(None);
                            tracing::warn!(plc = %self.addr, %error, "modbus connection lost");
                            if served {
                                // A connection that worked: reconnect at once.
                                backoff = timing.reconnect_min();
                                continue;
                            }
                            error
                        }
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("connect timed out after {:?}", timing.connect_timeout()),
            };
            ClientCounters::inc(&self.counters.connect_failures_total);
            self.link.send_replace(LinkState::Disconnected {
                error: error.clone(),
                retry_in: backoff,
            });
            if !self.wait_answering(backoff, &error).await {
                return;
            }
            backoff = (backoff * 2).min(timing.reconnect_max());
        }
    }

    /// Sleeps for the backoff while refusing lane requests; false when every handle is gone.
    async fn wait_answering(&mut self, backoff: Duration, error: &str) -> bool {
        let sleep = time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                job = self.lane.recv() => match job {
                    None => return false,
                    Some(job) => {
                        let _ = job.reply.send(Err(ModbusError::NotConnected(error.to_owned())));
                    }
                },
                () = &mut sleep => return true,
            }
        }
    }

    async fn serve(&mut self, mut conn: Conn) -> Exit {
        let mut tick = time::interval(self.profile.poll.period());
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                biased;
                job = self.lane.recv() => match job {
                    None => Err(None),
                    Some(job) => self.run_job(&mut conn, job).await.map_err(Some),
                },
                _ = tick.tick() => self.poll_once(&mut conn).await,
            };
            match step {
                Ok(()) => {}
                Err(None) => return Exit::Stop,
                Err(Some(error)) => {
                    return Exit::Broken {
                        error,
                        served: conn.served,
                    }
                }
            }
        }
    }

    /// Runs one lane request; `Err` carries the transport error that broke the connection.
    async fn run_job(&mut self, conn: &mut Conn, job: Job) -> Result<(), String> {
        ClientCounters::inc(&self.counters.lane_requests_total);
        let reply = conn.run(&job.op).await;
        let broken = match &reply {
            Err(e) => {
                ClientCounters::inc(&self.counters.transport_errors_total);
                Some(e.to_string())
            }
            Ok(Err(_)) => {
                ClientCounters::inc(&self.counters.exceptions_total);
                None
            }
            Ok(Ok(_)) => None,
        };
        // The caller may have given up; that is fine.
        let _ = job.reply.send(reply);
        broken.map_or(Ok(()), Err)
    }

    /// Drains the lane; `Err(None)` when every handle is gone.
    async fn drain_lane(&mut self, conn: &mut Conn) -> Result<(), Option<String>> {
        loop {
            match self.lane.try_recv() {
                Ok(job) => self.run_job(conn, job).await.map_err(Some)?,
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(None),
            }
        }
    }

    /// One status poll: the plan's reads, each preceded by whatever waits on the lane.
    async fn poll_once(&mut self, conn: &mut Conn) -> Result<(), Option<String>> {
        let polled_at = Instant::now();
        let mut image = RegisterImage::default();
        for i in 0..self.plan.len() {
            self.drain_lane(conn).await?;
            let block = self.plan[i];
            match conn
                .run(&Op::Read {
                    addr: block.start,
                    count: block.count,
                })
                .await
            {
                Ok(Ok(Output::Words(words))) => image.insert_block(block.start, &words),
                Ok(Ok(Output::Written)) => {
                    return Err(Some("unexpected response to a read".into()))
                }
                Ok(Err(exception)) => {
                    ClientCounters::inc(&self.counters.exceptions_total);
                    ClientCounters::inc(&self.counters.poll_exceptions_total);
                    let refusal = PollRefusal {
                        exception,
                        start: block.start,
                        count: block.count,
                    };
                    let (addr, unit) = (self.addr, self.profile.unit_id);
                    self.warnings.warn(refusal.to_string(), std::time::Instant::now(), |repeats| match repeats {
                        0 => tracing::warn!(plc = %addr, unit, start = block.start, count = block.count, ?exception, "status poll refused"),
                        n => tracing::warn!(plc = %addr, unit, start = block.start, count = block.count, ?exception, repeats = n, "status poll refused again {n} times"),
                    });
                    if self.refusal.borrow().as_ref() != Some(&refusal) {
                        self.refusal.send_replace(Some(refusal));
                    }
                    return Ok(());
                }
                Err(e) => {
                    ClientCounters::inc(&self.counters.transport_errors_total);
                    return Err(Some(e.to_string()));
                }
            }
        }
        self.polls += 1;
        ClientCounters::inc(&self.counters.polls_total);
        let addr = self.addr;
        self.warnings.clear(|repeats, last| {
            tracing::info!(plc = %addr, repeats, last, "status polls answered again")
        });
        if self.refusal.borrow().is_some() {
            self.refusal.send_replace(None);
        }
        if let Some(snapshot) = StatusSnapshot::decode(&self.profile, &image, polled_at, self.polls)
        {
            self.status.send_replace(Some(Arc::new(snapshot)));
        }
        Ok(())
    }
}

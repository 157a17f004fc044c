//! The engine's event loop: the one writer of the store. Requests from the
//! API and reports from device adapters are handled one at a time, so a
//! cancel and a device's completion of the same task never race. Each
//! handled input is one [`Change`] committed in one transaction; the caller
//! is answered with a [`Ticket`] it waits on for durability (group commit),
//! and a device command is sent only once the change that put it in the
//! outbox is durable.
//!
//! After a restart the loop rebuilds its memory from the store: open tasks,
//! devices busy with an outbox command, step timers, and re-sends every
//! outbox command with its original id (the protocols make a repeat
//! harmless).
//!
//! Step timers: a dispatched step with a timeout has a deadline,
//! `dispatched_unix_ms + timeout_ms`, both persisted in the task by the
//! dispatch's own transaction. The loop keeps the deadlines of active steps
//! in a set (rebuilt from the store at recovery, so a restart neither loses
//! a timer nor restarts its clock) and feeds `Input::TimedOut` for the
//! attempt the timer was set for; a timer whose step has moved on is refused
//! by the state machine and dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::adapter::{
    next_device_sequence, Availability, DeviceAdapter, DeviceCommand, DeviceOperation,
    DeviceReport, ReportSink,
};
use super::machine::{self, Effect, Input};
use super::model::{
    command_id, now_unix_ms, DeviceKind, EventKind, Step, Task, TaskSpec, TaskState,
};
use super::site::{DeviceSpec, Site};
use crate::store::{Change, OutboxEntry, Store, StoreError, Ticket};

mod operator;
mod send;

use operator::OperatorDone;

/// How long a sleeping device may take to wake before it is woken again.
const WAKE_RETRY: Duration = Duration::from_secs(30);

/// Limits the engine enforces.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// New tasks are refused (RESOURCE_EXHAUSTED) while this many events
    /// wait for the cloud's acknowledgement: task events are never dropped.
    pub max_unacked_events: u64,
    /// Attempts to put a command on the wire before its step fails.
    pub send_attempts: u32,
    /// The first wait between two attempts; it doubles after each, up to 5 s.
    pub send_backoff: Duration,
    /// Where commands sent / acknowledged / failed, the outbox's
    /// appended/acked pair and step durations are counted.
    pub metrics: Option<crate::admin::Metrics>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_unacked_events: 5_000_000,
            send_attempts: 5,
            send_backoff: Duration::from_millis(200),
            metrics: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("task {0:?} already exists with a different body")]
    AlreadyExists(String),
    #[error("task {0:?} not found")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// The device did not answer an operator's command.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the engine has stopped")]
    Stopped,
}

/// A device as the engine sees it.
#[derive(Debug, Clone)]
pub struct DeviceStatus {
    pub spec: DeviceSpec,
    pub availability: Availability,
    pub reason: String,
    pub current: Option<CurrentCommand>,
    /// The layout node a mobile device last reported.
    pub position: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCommand {
    pub task_id: String,
    pub step: u32,
    pub command: String,
}

/// The outcome of a submit: the task, whether this call created it, and the
/// ticket to wait on before answering.
#[derive(Debug)]
pub struct Submitted {
    pub task: Task,
    pub created: bool,
    pub ticket: Ticket,
}

#[derive(Debug)]
enum Request {
    Submit {
        spec: TaskSpec,
        reply: oneshot::Sender<Result<Submitted, EngineError>>,
    },
    Cancel {
        task_id: String,
        reason: String,
        reply: oneshot::Sender<Result<(Task, Ticket), EngineError>>,
    },
    Devices {
        reply: oneshot::Sender<Vec<DeviceStatus>>,
    },
    Operate {
        device_id: String,
        operation: DeviceOperation,
        reason: String,
        reply: oneshot::Sender<Result<Ticket, EngineError>>,
    },
    Resolve {
        device_id: String,
        completed: bool,
        reason: String,
        reply: oneshot::Sender<Result<(Task, Ticket), EngineError>>,
    },
}

/// Talks to the engine loop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Request>,
}

impl EngineHandle {
    pub async fn submit(&self, spec: TaskSpec) -> Result<Submitted, EngineError> {
        self.call(|reply| Request::Submit { spec, reply }).await?
    }

    pub async fn cancel(
        &self,
        task_id: String,
        reason: String,
    ) -> Result<(Task, Ticket), EngineError> {
        self.call(|reply| Request::Cancel {
            task_id,
            reason,
            reply,
        })
        .await?
    }

    pub async fn devices(&self) -> Result<Vec<DeviceStatus>, EngineError> {
        self.call(|reply| Request::Devices { reply }).await
    }

    /// An operator's command to a device, journaled with `reason` once the
    /// device carried it out. `Stop` of a device running a step stops the
    /// step in the device's own way (the step fails once it confirmed).
    pub async fn operate(
        &self,
        device_id: String,
        operation: DeviceOperation,
        reason: String,
    ) -> Result<Ticket, EngineError> {
        self.call(|reply| Request::Operate {
            device_id,
            operation,
            reason,
            reply,
        })
        .await?
    }

    /// An operator says how the step held on `device_id` with an unknown
    /// outcome ended (`completed`, or not done).
    pub async fn resolve(
        &self,
        device_id: String,
        completed: bool,
        reason: String,
    ) -> Result<(Task, Ticket), EngineError> {
        self.call(|reply| Request::Resolve {
            device_id,
            completed,
            reason,
            reply,
        })
        .await?
    }

    async fn call<T>(
        &self,
        f: impl FnOnce(oneshot::Sender<T>) -> Request,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(f(reply))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }
}

/// Creates the channel adapters report on. Build the adapters with the sink,
/// then hand the receiver to [`start`].
pub fn report_channel() -> (ReportSink, mpsc::UnboundedReceiver<DeviceReport>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (ReportSink(tx), rx)
}

/// Starts the engine loop. It ends when every [`EngineHandle`] is dropped.
pub fn start(
    store: Store,
    site: Arc<Site>,
    adapters: Vec<Arc<dyn DeviceAdapter>>,
    reports: mpsc::UnboundedReceiver<DeviceReport>,
    config: EngineConfig,
) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
    let (tx, rx) = mpsc::channel(1024);
    let mut by_kind: HashMap<DeviceKind, Arc<dyn DeviceAdapter>> = HashMap::new();
    for a in adapters {
        for k in a.kinds() {
            by_kind.insert(*k, a.clone());
        }
    }
    let devices = site
        .devices
        .values()
        .map(|d| {
            (
                d.id.clone(),
                DeviceStatus {
                    spec: d.clone(),
                    availability: Availability::Offline,
                    reason: "not reached yet".into(),
                    current: None,
                    position: None,
                },
            )
        })
        .collect();
    let (internal, internal_rx) = report_channel();
    let (operator_done, operator_rx) = mpsc::unbounded_channel();
    let mut engine = Engine {
        internal,
        operator_done,
        device_seq: HashMap::new(),
        live: send::LiveCommands::default(),
        store,
        site,
        adapters: by_kind,
        config,
        devices,
        open: HashMap::new(),
        commands: HashMap::new(),
        last_seq: 0,
        dispatched_at: HashMap::new(),
        timers: BTreeSet::new(),
        deadlines: BTreeSet::new(),
        links: HashMap::new(),
        waking: HashMap::new(),
        armed: HashMap::new(),
    };
    engine.recover()?;
    let join = tokio::spawn(engine.run(rx, reports, internal_rx, operator_rx));
    Ok((EngineHandle { tx }, join))
}

struct Engine {
    /// Reports the engine makes itself (a command that could not be sent).
    internal: ReportSink,
    /// Operator commands a device has answered, back into the loop.
    operator_done: mpsc::UnboundedSender<OperatorDone>,
    /// Each device's last command sequence, as committed.
    device_seq: HashMap<String, u32>,
    /// Commands in the outbox, for the send tasks that keep re-sending an
    /// unconfirmed command while it is there.
    live: send::LiveCommands,
    store: Store,
    site: Arc<Site>,
    adapters: HashMap<DeviceKind, Arc<dyn DeviceAdapter>>,
    config: EngineConfig,
    devices: BTreeMap<String, DeviceStatus>,
    /// Tasks not yet in a terminal state.
    open: HashMap<String, Task>,
    /// Commands in the outbox, by command id.
    commands: HashMap<String, OutboxEntry>,
    /// The newest seq this loop has written (it is the only writer).
    last_seq: u64,
    /// When each command in the outbox was dispatched (this run), for the
    /// step-duration histogram.
    dispatched_at: HashMap<String, std::time::Instant>,
    /// Deadlines of active steps: (unix ms, task id, step, attempt).
    timers: BTreeSet<(i64, String, u32, u32)>,
    /// Deadlines of tasks not started yet: (unix ms, task id).
    deadlines: BTreeSet<(i64, String)>,
    /// Adapters' links (`mqtt:broker`) as last reported: up or not.
    links: HashMap<String, bool>,
    /// Sleeping devices sent a wake-up, and when (see [`Engine::schedule`]).
    waking: HashMap<String, std::time::Instant>,
    /// The one timer of each task with an active step, so a step's end
    /// removes it (a task has at most one step on a device).
    armed: HashMap<String, (i64, u32, u32)>,
}

impl Engine {
    fn recover(&mut self) -> Result<(), EngineError> {
        self.last_seq = self.store.position()?.last_seq;
        self.device_seq = self.store.device_sequences()?.into_iter().collect();
        for t in self.store.open_tasks()? {
            if let Some(s) = machine::active_step(&t) {
                self.arm_timer(&t, s);
            }
            if t.state == TaskState::Planned && t.spec.deadline_unix_ms > 0 {
                self.deadlines
                    .insert((t.spec.deadline_unix_ms, t.spec.task_id.clone()));
            }
            self.open.insert(t.spec.task_id.clone(), t);
        }
        for e in self.store.outbox()? {
            if let Some(d) = self.devices.get_mut(&e.command.device_id) {
                d.current = Some(CurrentCommand {
                    task_id: e.task_id.clone(),
                    step: e.step,
                    command: e.command.command.clone(),
                });
            }
            self.live.insert(&e.command.command_id);
            self.commands.insert(e.command.command_id.clone(), e);
        }
        if !self.open.is_empty() || !self.commands.is_empty() {
            tracing::info!(
                open_tasks = self.open.len(),
                outbox = self.commands.len(),
                "recovered from the store"
            );
        }
        Ok(())
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Request>,
        mut reports: mpsc::UnboundedReceiver<DeviceReport>,
        mut internal: mpsc::UnboundedReceiver<DeviceReport>,
        mut operator_rx: mpsc::UnboundedReceiver<OperatorDone>,
    ) {
        // Re-send what was in flight when the gateway stopped, in its
        // original order; a command whose task was being cancelled is
        // re-sent and stopped again, so the device ends in the cancel.
        let mut inflight: Vec<(DeviceCommand, bool)> = self
            .commands
            .values()
            .map(|e| {
                // Cancelling, or stopping for a timeout or an operator.
                let cancelling = self.open.get(&e.task_id).is_some_and(|t| {
                    t.cancel_requested.is_some()
                        || machine::active_step(t).is_some_and(|s| s.stop_reason.is_some())
                });
                (e.command.clone(), cancelling)
            })
            .collect();
        inflight.sort_by_key(|(c, _)| c.sequence);
        let ticket = self.store.current_ticket();
        for (c, cancelling) in inflight {
            if cancelling {
                self.stop(c);
            } else {
                self.send(c, ticket);
            }
        }
        self.schedule();
        let mut reporting = true;
        loop {
            let next = [
                self.timers.first().map(|t| t.0),
                self.deadlines.first().map(|d| d.0),
            ]
            .into_iter()
            .flatten()
            .min();
            let next_timer = next.map(|at| {
                let wait = (at - now_unix_ms()).max(0) as u64;
                tokio::time::Instant::now() + Duration::from_millis(wait)
            });
            let woke = tokio::select! {
                biased;
                r = reports.recv(), if reporting => Woke::Report(r),
                Some(r) = internal.recv() => Woke::Report(Some(r)),
                Some(done) = operator_rx.recv() => Woke::Operator(done),
                req = rx.recv() => match req {
                    Some(req) => Woke::Request(req),
                    None => break,
                },
                _ = tokio::time::sleep_until(next_timer.unwrap_or_else(tokio::time::Instant::now)),
                    if next_timer.is_some() => Woke::Timer,
            };
            // Everything this pass commits is made durable by one flush:
            // a task accepted here and dispatched by `schedule` below costs
            // one fsync before its command goes out, not two.
            let batch = self.store.batch();
            match woke {
                Woke::Report(Some(r)) => self.on_report(r),
                // No adapter is left to report; requests still count.
                Woke::Report(None) => reporting = false,
                Woke::Request(req) => self.on_request(req),
                Woke::Timer => self.fire_timers(),
                Woke::Operator(done) => self.operator_done(done),
            }
            // Drain what queued up meanwhile before scheduling once.
            for _ in 0..256 {
                match rx.try_recv() {
                    Ok(req) => self.on_request(req),
                    Err(_) => break,
                }
            }
            while let Ok(r) = reports.try_recv() {
                self.on_report(r);
            }
            while let Ok(r) = internal.try_recv() {
                self.on_report(r);
            }
            self.schedule();
            drop(batch);
        }
        tracing::debug!("engine loop stopped");
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Submit { spec, reply } => {
                let _ = reply.send(self.submit(spec));
            }
            Request::Cancel {
                task_id,
                reason,
                reply,
            } => {
                let _ = reply.send(self.cancel(&task_id, reason));
            }
            Request::Devices { reply } => {
                let _ = reply.send(self.devices.values().cloned().collect());
            }
            Request::Operate {
                device_id,
                operation,
                reason,
                reply,
            } => self.operate(device_id, operation, reason, reply),
            Request::Resolve {
                device_id,
                completed,
                reason,
                reply,
            } => {
                let _ = reply.send(self.resolve(&device_id, completed, reason));
            }
        }
    }

    fn submit(&mut self, spec: TaskSpec) -> Result<Submitted, EngineError> {
        let existing = match self.open.get(&spec.task_id) {
            Some(t) => Some(t.clone()),
            None => self.store.get_task(&spec.task_id)?,
        };
        if let Some(task) = existing {
            if task.spec != spec {
                return Err(EngineError::AlreadyExists(spec.task_id));
            }
            // Answer only once the first submit's write is durable too.
            let ticket = self.store.current_ticket();
            return Ok(Submitted {
                task,
                created: false,
                ticket,
            });
        }
        let steps = self
            .site
            .plan(&spec)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        let pos = self.store.position()?;
        if pos.unacked() >= self.config.max_unacked_events {
            return Err(EngineError::ResourceExhausted(format!(
                "{} events wait for the cloud's acknowledgement (limit {}); acknowledge events to accept new tasks",
                pos.unacked(),
                self.config.max_unacked_events
            )));
        }
        let now = now_unix_ms();
        let mut task = Task {
            spec: spec.clone(),
            state: TaskState::Accepted,
            steps: Vec::new(),
            reason: String::new(),
            cancel_requested: None,
            created_unix_ms: now,
            updated_unix_ms: now,
        };
        let tr = machine::apply(&mut task, Input::Plan(steps), now)
            .expect("a new task accepts its plan");
        let mut events = vec![(spec.task_id.clone(), EventKind::TaskAccepted { spec })];
        events.extend(
            tr.events
                .into_iter()
                .map(|k| (task.spec.task_id.clone(), k)),
        );
        let ticket = self.commit(Change {
            task: Some(task.clone()),
            events,
            ..Change::default()
        })?;
        if task.spec.deadline_unix_ms > 0 {
            self.deadlines
                .insert((task.spec.deadline_unix_ms, task.spec.task_id.clone()));
        }
        self.open.insert(task.spec.task_id.clone(), task.clone());
        Ok(Submitted {
            task,
            created: true,
            ticket,
        })
    }

    fn cancel(&mut self, task_id: &str, reason: String) -> Result<(Task, Ticket), EngineError> {
        let Some(task) = self.open.get(task_id).cloned() else {
            return match self.store.get_task(task_id)? {
                Some(t) if t.state == TaskState::Cancelled => Ok((t, self.store.current_ticket())),
                Some(t) => Err(EngineError::FailedPrecondition(format!(
                    "task {task_id:?} is already {}",
                    t.state.as_str()
                ))),
                None => Err(EngineError::NotFound(task_id.to_string())),
            };
        };
        let reason = if reason.is_empty() {
            "cancelled by request".to_string()
        } else {
            reason
        };
        let (task, ticket) = self.transition(task, Input::Cancel { reason })?;
        Ok((task, ticket))
    }

    /// Applies an input to an open task, commits the change, and carries out
    /// its effects.
    fn transition(&mut self, task: Task, input: Input) -> Result<(Task, Ticket), EngineError> {
        self.transition_with(task, input, Vec::new())
    }

    /// [`Self::transition`], journaling `extra` device events (an
    /// operator's command) in the same transaction, after the task's.
    fn transition_with(
        &mut self,
        mut task: Task,
        input: Input,
        extra: Vec<EventKind>,
    ) -> Result<(Task, Ticket), EngineError> {
        let tr = match machine::apply(&mut task, input, now_unix_ms()) {
            Ok(tr) => tr,
            Err(e) => return Err(EngineError::FailedPrecondition(e.to_string())),
        };
        let id = task.spec.task_id.clone();
        let mut change = Change {
            task: Some(task.clone()),
            events: tr.events.iter().map(|k| (id.clone(), k.clone())).collect(),
            ..Change::default()
        };
        change
            .events
            .extend(extra.into_iter().map(|k| (String::new(), k)));
        // Stops are sent with the command as it was persisted; take them
        // before a release in the same change removes the entry.
        let mut stops = Vec::new();
        for effect in &tr.effects {
            match effect {
                Effect::ReleaseDevice { command_id, .. } => {
                    change.outbox_delete.push(command_id.clone());
                }
                Effect::StopOnDevice { command_id, .. } => {
                    if let Some(e) = self.commands.get(command_id) {
                        stops.push(e.command.clone());
                    }
                }
            }
        }
        let ticket = self.commit(change)?;
        self.observe(&task, &tr.events);
        for effect in tr.effects {
            if let Effect::ReleaseDevice {
                device_id,
                command_id,
            } = effect
            {
                self.commands.remove(&command_id);
                self.live.remove(&command_id);
                if let Some(d) = self.devices.get_mut(&device_id) {
                    if d.current.as_ref().is_some_and(|c| c.task_id == id) {
                        d.current = None;
                    }
                }
            }
        }
        for c in stops {
            self.stop(c);
        }
        if machine::active_step(&task).is_none() {
            self.disarm(&id);
        }
        if task.state.is_terminal() {
            self.open.remove(&id);
        } else {
            self.open.insert(id, task.clone());
        }
        Ok((task, ticket))
    }

    fn on_report(&mut self, report: DeviceReport) {
        let (command_id, input) = match report {
            DeviceReport::Availability {
                device_id,
                availability,
                reason,
            } => return self.on_availability(device_id, availability, reason),
            DeviceReport::Link {
                endpoint,
                up,
                reason,
            } => return self.on_link(endpoint, up, reason),
            DeviceReport::TrafficResolved { device_id, reason } => {
                let kind = EventKind::TrafficResolved {
                    device_id: device_id.clone(),
                    reason,
                };
                if let Err(e) = self.commit(Change {
                    events: vec![(String::new(), kind)],
                    ..Change::default()
                }) {
                    tracing::error!(error = %e, %device_id, "could not journal a traffic resolution");
                }
                return;
            }
            DeviceReport::Position { device_id, node } => {
                if let Some(d) = self.devices.get_mut(&device_id) {
                    d.position = Some(node);
                }
                return;
            }
            DeviceReport::Acknowledged { command_id } => {
                let step = self.step_of_command(&command_id);
                (command_id, step.map(|step| Input::Acknowledged { step }))
            }
            DeviceReport::Completed { command_id } => {
                let step = self.step_of_command(&command_id);
                (command_id, step.map(|step| Input::Completed { step }))
            }
            DeviceReport::Failed { command_id, reason } => {
                let step = self.step_of_command(&command_id);
                (command_id, step.map(|step| Input::Failed { step, reason }))
            }
            DeviceReport::OutcomeUnknown { command_id, reason } => {
                let step = self.step_of_command(&command_id);
                (
                    command_id,
                    step.map(|step| Input::OutcomeUnknown { step, reason }),
                )
            }
            DeviceReport::Stopped { command_id } => {
                let step = self.step_of_command(&command_id);
                (command_id, step.map(|step| Input::Cancelled { step }))
            }
        };
        let Some(input) = input else {
            tracing::debug!(%command_id, "report for a command no longer in the outbox; ignored");
            return;
        };
        let task_id = self.commands[&command_id].task_id.clone();
        let Some(task) = self.open.get(&task_id).cloned() else {
            return;
        };
        // Only the step's current attempt may move it (a report about an
        // earlier attempt on another device changes nothing).
        let current = self.commands[&command_id].step;
        if task
            .steps
            .get(current as usize)
            .map(|s| s.command_id(&task_id))
            != Some(command_id.clone())
        {
            tracing::debug!(%command_id, "report for an earlier attempt of the step; ignored");
            return;
        }
        if let Err(e) = self.transition(task, input) {
            tracing::debug!(%command_id, error = %e, "device report does not fit the task; ignored");
        }
    }

    /// Feeds `TimedOut` for every deadline that has passed.
    fn fire_timers(&mut self) {
        let now = now_unix_ms();
        self.expire_late(now);
        while self.timers.first().is_some_and(|t| t.0 <= now) {
            let (deadline, task_id, step, attempt) = self.timers.pop_first().expect("checked");
            if self.armed.get(&task_id) == Some(&(deadline, step, attempt)) {
                self.armed.remove(&task_id);
            }
            let Some(task) = self.open.get(&task_id).cloned() else {
                continue;
            };
            let live = task
                .steps
                .get(step as usize)
                .is_some_and(|s| s.state.is_active() && s.attempt == attempt);
            if !live {
                continue;
            }
            tracing::warn!(%task_id, step, attempt, "step timed out");
            if let Err(e) = self.transition(task, Input::TimedOut { step, attempt }) {
                tracing::debug!(%task_id, step, error = %e, "timer does not fit the task; ignored");
            }
        }
    }

    /// Ends every task not started by its deadline (EXPIRED); a task that
    /// started meanwhile is left alone (the machine refuses it).
    fn expire_late(&mut self, now: i64) {
        while self.deadlines.first().is_some_and(|d| d.0 <= now) {
            let (_, task_id) = self.deadlines.pop_first().expect("checked");
            let Some(task) = self.open.get(&task_id).cloned() else {
                continue;
            };
            if task.state != TaskState::Planned {
                continue;
            }
            tracing::info!(%task_id, "task expired before it started");
            if let Err(e) = self.transition(task, Input::Expire) {
                tracing::debug!(%task_id, error = %e, "deadline does not fit the task; ignored");
            }
        }
    }

    /// Sets the timer of an active step that has a timeout. A step without
    /// a persisted dispatch time (written by an older build) counts from now.
    fn arm_timer(&mut self, task: &Task, s: &Step) {
        if s.timeout_ms == 0 {
            return;
        }
        let from = s.dispatched_unix_ms.unwrap_or_else(now_unix_ms);
        let deadline = from.saturating_add(s.timeout_ms.min(i64::MAX as u64) as i64);
        let id = task.spec.task_id.clone();
        self.disarm(&id);
        self.armed
            .insert(id.clone(), (deadline, s.index, s.attempt));
        self.timers.insert((deadline, id, s.index, s.attempt));
    }

    /// Removes a task's timer (its step left the device).
    fn disarm(&mut self, task_id: &str) {
        if let Some((deadline, step, attempt)) = self.armed.remove(task_id) {
            self.timers
                .remove(&(deadline, task_id.to_string(), step, attempt));
        }
    }

    fn step_of_command(&self, command_id: &str) -> Option<u32> {
        self.commands.get(command_id).map(|e| e.step)
    }

    fn on_availability(&mut self, device_id: String, availability: Availability, reason: String) {
        let Some(d) = self.devices.get_mut(&device_id) else {
            tracing::warn!(%device_id, "report from a device the site file does not name; ignored");
            return;
        };
        // The reason is always current for GetDevice; the journal records
        // only changes of availability (a reconnecting PLC's errors would
        // otherwise fill it).
        let changed = d.availability != availability;
        d.availability = availability;
        if availability != Availability::Asleep {
            self.waking.remove(&device_id);
        }
        d.reason = reason.clone();
        if !changed {
            return;
        }
        let kind = match availability {
            Availability::Online => EventKind::DeviceOnline {
                device_id: device_id.clone(),
            },
            Availability::Offline => EventKind::DeviceOffline {
                device_id: device_id.clone(),
                reason,
            },
            Availability::Fault => EventKind::DeviceFault {
                device_id: device_id.clone(),
                reason,
            },
            Availability::Asleep => EventKind::DeviceAsleep {
                device_id: device_id.clone(),
                reason,
            },
        };
        if let Err(e) = self.commit(Change {
            events: vec![(String::new(), kind)],
            ..Change::default()
        }) {
            tracing::error!(error = %e, %device_id, "could not journal a device's availability");
        }
    }

    /// A link of an adapter's (the AMRs' broker, `mqtt:broker`) went down or
    /// came back: journaled once per change, as a device event of the
    /// endpoint — one event for the link, not one per robot behind it. The
    /// first connection is the expected state and is not journaled.
    fn on_link(&mut self, endpoint: String, up: bool, reason: String) {
        let was = self.links.insert(endpoint.clone(), up);
        if was.unwrap_or(true) == up {
            return;
        }
        let kind = if up {
            EventKind::DeviceOnline {
                device_id: endpoint.clone(),
            }
        } else {
            EventKind::DeviceOffline {
                device_id: endpoint.clone(),
                reason,
            }
        };
        if let Err(e) = self.commit(Change {
            events: vec![(String::new(), kind)],
            ..Change::default()
        }) {
            tracing::error!(error = %e, %endpoint, "could not journal a link's availability");
        }
    }

    /// Dispatches every waiting task whose next step has a free device, in
    /// priority order. A step with no free device among its candidates but
    /// one asleep (a hibernating robot) wakes that one — the operator command
    /// `wake`, journaled as `device_commanded` — once per [`WAKE_RETRY`]
    /// while it sleeps; it is dispatched once it reports online.
    fn schedule(&mut self) {
        // Runs after every batch of inputs: with many tasks waiting and no
        // device free (the usual case under load) it must cost nothing.
        let sleepers = self.devices.values().any(|d| {
            d.availability == Availability::Asleep && self.adapters.contains_key(&d.spec.kind)
        });
        if !self.any_device_free() && !sleepers {
            return;
        }
        let now = now_unix_ms();
        let mut waiting: Vec<&Task> = self
            .open
            .values()
            .filter(|t| t.cancel_requested.is_none() && machine::active_step(t).is_none())
            // A task past its deadline that has not started is expired by
            // the timer, never started here.
            .filter(|t| {
                !(t.state == TaskState::Planned
                    && t.spec.deadline_unix_ms > 0
                    && t.spec.deadline_unix_ms <= now)
            })
            .filter(|t| machine::next_pending(t).is_some())
            .collect();
        if waiting.is_empty() {
            return;
        }
        waiting.sort_by(|a, b| {
            b.spec
                .priority
                .cmp(&a.spec.priority)
                .then(a.created_unix_ms.cmp(&b.created_unix_ms))
                .then(a.spec.task_id.cmp(&b.spec.task_id))
        });
        let ids: Vec<String> = waiting.iter().map(|t| t.spec.task_id.clone()).collect();
        let mut wake: Vec<(String, String)> = Vec::new();
        for id in ids {
            let (step, device_id) = {
                let task = &self.open[&id];
                let step = machine::next_pending(task).expect("filtered above");
                let s = &task.steps[step as usize];
                if !self.adapters.contains_key(&s.device_kind) {
                    continue;
                }
                let Some(device_id) = self.choose_device(s) else {
                    if sleepers {
                        // One sleeper per waiting step, the nearest not already
                        // counted for another step in this pass.
                        let taken: Vec<String> = wake.iter().map(|(d, _)| d.clone()).collect();
                        if let Some(d) = self.nearest(s, Availability::Asleep, &taken) {
                            wake.push((d, id.clone()));
                        }
                    }
                    continue;
                };
                (step, device_id)
            };
            let task = self.open[&id].clone();
            if let Err(e) = self.dispatch(task, step, device_id) {
                tracing::error!(task_id = %id, error = %e, "dispatch failed");
            }
            if !sleepers && !self.any_device_free() {
                break;
            }
        }
        let now = std::time::Instant::now();
        for (device_id, task_id) in wake {
            if self
                .waking
                .get(&device_id)
                .is_some_and(|&at| now.duration_since(at) < WAKE_RETRY)
            {
                continue;
            }
            self.waking.insert(device_id.clone(), now);
            tracing::info!(%device_id, %task_id, "waking a sleeping device for a waiting step");
            // Nobody waits for the answer: the device reporting online is what counts.
            let (reply, _) = oneshot::channel();
            self.operate(
                device_id,
                DeviceOperation::Wake,
                format!("woken by floorgate: task {task_id} waits for it"),
                reply,
            );
        }
    }

    /// Whether some online device has no command (and an adapter to send
    /// it one).
    fn any_device_free(&self) -> bool {
        self.devices.values().any(|d| {
            d.availability == Availability::Online
                && d.current.is_none()
                && self.adapters.contains_key(&d.spec.kind)
        })
    }

    /// The free, online candidate for a step: for a mobile device the one
    /// nearest (by layout distance) to where the step starts, else the first.
    fn choose_device(&self, s: &Step) -> Option<String> {
        self.nearest(s, Availability::Online, &[])
    }

    /// The candidate of step `s` with `availability`, no command and not in `skip` that is
    /// nearest (by layout distance) to where the step starts, else the first.
    fn nearest(&self, s: &Step, availability: Availability, skip: &[String]) -> Option<String> {
        let start = self.site.location(&s.from).and_then(|l| l.node.clone());
        s.candidates
            .iter()
            .filter(|c| !s.failed_devices.contains(c) && !skip.contains(c))
            .filter_map(|c| self.devices.get(c))
            .filter(|d| d.availability == availability && d.current.is_none())
            .map(|d| {
                let dist = match (&d.position, &start) {
                    (Some(at), Some(to)) => self.site.distance(at, to).unwrap_or(f64::INFINITY),
                    _ => f64::INFINITY,
                };
                (dist, d.spec.id.clone())
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
            .map(|(_, id)| id)
    }

    fn dispatch(&mut self, task: Task, step: u32, device_id: String) -> Result<(), EngineError> {
        let id = task.spec.task_id.clone();
        let s = &task.steps[step as usize];
        let mut probe = task.clone();
        let tr = machine::apply(
            &mut probe,
            Input::Dispatch {
                step,
                device_id: device_id.clone(),
            },
            now_unix_ms(),
        )
        .map_err(|e| EngineError::FailedPrecondition(e.to_string()))?;
        // The device's own sequences: one for the command, the next for its
        // stop, committed with the dispatch.
        let sequence = next_device_sequence(self.device_seq.get(&device_id).copied().unwrap_or(0));
        let stop_sequence = next_device_sequence(sequence);
        let command = DeviceCommand {
            command_id: s.command_id(&id),
            sequence,
            stop_sequence,
            device_id: device_id.clone(),
            device_kind: s.device_kind,
            command: s.command.clone(),
            from: self.site.endpoint(&s.from),
            to: self.site.endpoint(&s.to),
            load_id: task.spec.load_id.clone(),
            params: task
                .spec
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain([
                    ("sku".to_string(), task.spec.sku.clone()),
                    ("quantity".to_string(), task.spec.quantity.to_string()),
                ])
                .collect(),
        };
        let entry = OutboxEntry {
            task_id: id.clone(),
            step,
            command: command.clone(),
        };
        let ticket = self.commit(Change {
            task: Some(probe.clone()),
            events: tr.events.iter().map(|k| (id.clone(), k.clone())).collect(),
            outbox_put: vec![entry.clone()],
            device_sequences: vec![(device_id.clone(), stop_sequence)],
            ..Change::default()
        })?;
        self.device_seq.insert(device_id.clone(), stop_sequence);
        self.live.insert(&command.command_id);
        self.observe(&probe, &tr.events);
        self.arm_timer(&probe, &probe.steps[step as usize]);
        self.open.insert(id.clone(), probe);
        self.commands.insert(command.command_id.clone(), entry);
        if let Some(d) = self.devices.get_mut(&device_id) {
            d.current = Some(CurrentCommand {
                task_id: id,
                step,
                command: command.command.clone(),
            });
        }
        self.send(command, ticket);
        Ok(())
    }

    /// Counts what a committed change did to its task's steps.
    fn observe(&mut self, task: &Task, events: &[EventKind]) {
        let Some(m) = &self.config.metrics else {
            return;
        };
        for e in events {
            let r = match e {
                EventKind::StepDispatched(r) => {
                    m.command_sent(task.steps[r.step_index as usize].device_kind);
                    m.outbox_appended();
                    self.dispatched_at.insert(
                        command_id(&task.spec.task_id, r.step_index, r.attempt),
                        std::time::Instant::now(),
                    );
                    continue;
                }
                EventKind::StepAcknowledged(r) => {
                    m.command_acknowledged(task.steps[r.step_index as usize].device_kind);
                    continue;
                }
                EventKind::StepFailed(r) => {
                    m.command_failed(task.steps[r.step_index as usize].device_kind);
                    r
                }
                EventKind::StepCompleted(r) | EventKind::StepCancelled(r) => r,
                _ => continue,
            };
            // The step ended: its outbox entry went in the same change.
            m.outbox_acked();
            if let Some(t) =
                self.dispatched_at
                    .remove(&command_id(&task.spec.task_id, r.step_index, r.attempt))
            {
                m.observe_step(&r.command, t.elapsed());
            }
        }
    }

    fn commit(&mut self, change: Change) -> Result<Ticket, EngineError> {
        let c = self.store.commit(change)?;
        if let Some(e) = c.events.last() {
            self.last_seq = e.seq;
        }
        Ok(c.ticket)
    }
}

/// What woke the engine loop.
enum Woke {
    /// A device report, or `None` once every adapter's sender is gone.
    Report(Option<DeviceReport>),
    Request(Request),
    Timer,
    Operator(OperatorDone),
}

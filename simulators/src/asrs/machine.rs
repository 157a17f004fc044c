//! The AS/RS itself, with no IO: a grid of bins holding totes, input and
//! output ports, one crane that takes its tasks in order from one queue
//! (whoever sent them: floorgate or another client). Advanced by the
//! instants passed in, so tests can drive it without a clock.
//!
//! Like a real PLC it reports a finished task, OK or not, as
//! `last_completed_task_id` with its `last_result` (0 OK, else a fault
//! code), answers the status of any task id it took
//! ([`Asrs::task_status`]), and keeps its device fault apart from the last
//! result — except in the [`Asrs::set_fault_code_is_last_result`] mode,
//! where `fault_code` *is* the last result and a failed task leaves the
//! machine idle and available. Every task id's true story (submissions,
//! executions, outcome) is kept in [`Asrs::record`] for tests to compare
//! with the gateway's journal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

mod record;

pub use record::{TaskOutcome, TaskRecord};

/// A tote and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tote {
    pub id: String,
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Storage bin → output port.
    Retrieve,
    /// Input port → storage bin.
    Store,
}

/// Fault codes, as the profiles' `[faults]` tables name them.
pub const FAULT_CRANE_STUCK: u32 = 1;
pub const FAULT_BIN_NOT_FOUND: u32 = 2;
pub const FAULT_PORT_BLOCKED: u32 = 3;
/// Entries the completion log keeps.
pub const COMPLETION_LOG_LEN: usize = 16;

/// Refusal codes (the method's third output, the handshake's AckResult).
pub const REFUSED_BIN_EMPTY: u32 = 4;
pub const REFUSED_BIN_OCCUPIED: u32 = 5;
pub const REFUSED_WRONG_PORT: u32 = 6;
pub const REFUSED_UNKNOWN_COMMAND: u32 = 7;
/// A device fault injected after the fact (an emergency stop).
pub const FAULT_EMERGENCY_STOP: u32 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskState {
    Queued,
    Running {
        due: Instant,
    },
    Done,
    Failed(u32),
    /// Cancelled before it finished: nothing moved.
    Cancelled,
}

#[derive(Debug, Clone)]
struct Task {
    kind: TaskKind,
    location: String,
    port: String,
    /// The first answer, repeated for a repeated task id.
    answer: Result<(), (u32, String)>,
    state: TaskState,
    submissions: u32,
}

#[derive(Debug, Clone, Default)]
struct Port {
    input: bool,
    tote: Option<Tote>,
    blocked: bool,
}

/// The status block, as the server publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub last_completed_task_id: String,
    /// The result of the task in `last_completed_task_id` (0 OK).
    pub last_result: u32,
    /// The completion log: the last [`COMPLETION_LOG_LEN`] ended tasks,
    /// oldest first, with their results.
    pub completed: Vec<(String, u32)>,
    pub current_task_id: String,
    /// `Idle` (nothing running or queued), `Busy` or `Fault`.
    pub state: &'static str,
    /// The device's fault (0 none); in the fault-code-is-last-result mode
    /// the last result.
    pub fault_code: u32,
    pub fault_text: String,
}

#[derive(Debug, Clone)]
pub struct Asrs {
    bins: BTreeMap<String, Option<Tote>>,
    ports: BTreeMap<String, Port>,
    retrieve_time: Duration,
    store_time: Duration,
    tasks: HashMap<String, Task>,
    queue: VecDeque<String>,
    running: Option<String>,
    last_completed: String,
    last_result: u32,
    completed: VecDeque<(String, u32)>,
    fault: Option<(u32, String)>,
    crane_stuck: bool,
    fault_code_is_last_result: bool,
    reset_refusal: Option<String>,
    /// Executions (moves done) per task id.
    executions: HashMap<String, u32>,
    submissions: u32,
    /// Totes put at an output port by a retrieval, not yet taken away.
    deliveries: Vec<(String, Tote)>,
}

impl Asrs {
    /// A grid of empty bins named `{prefix}{aisle:02}-{level:02}` and the
    /// given ports.
    pub fn new(
        bins: impl IntoIterator<Item = String>,
        input_ports: &[&str],
        output_ports: &[&str],
        retrieve_time: Duration,
        store_time: Duration,
    ) -> Asrs {
        let mut ports = BTreeMap::new();
        for p in input_ports {
            ports.insert(
                p.to_string(),
                Port {
                    input: true,
                    ..Port::default()
                },
            );
        }
        for p in output_ports {
            ports.insert(p.to_string(), Port::default());
        }
        Asrs {
            bins: bins.into_iter().map(|b| (b, None)).collect(),
            ports,
            retrieve_time,
            store_time,
            tasks: HashMap::new(),
            queue: VecDeque::new(),
            running: None,
            last_completed: String::new(),
            last_result: 0,
            completed: VecDeque::new(),
            fault: None,
            crane_stuck: false,
            fault_code_is_last_result: false,
            reset_refusal: None,
            executions: HashMap::new(),
            submissions: 0,
            deliveries: Vec::new(),
        }
    }

    /// The demo grid: bins `ASRS1-01-01` … `ASRS1-04-05`, input port `IN-1`,
    /// output port `OUT-1`.
    pub fn demo(retrieve_time: Duration, store_time: Duration) -> Asrs {
        let bins = (1..=4).flat_map(|a| (1..=5).map(move |l| format!("ASRS1-{a:02}-{l:02}")));
        Asrs::new(bins, &["IN-1"], &["OUT-1"], retrieve_time, store_time)
    }

    pub fn put_in_bin(&mut self, bin: &str, tote: Tote) {
        self.bins.insert(bin.into(), Some(tote));
    }

    pub fn put_at_port(&mut self, port: &str, tote: Tote) {
        if let Some(p) = self.ports.get_mut(port) {
            p.tote = Some(tote);
        }
    }

    pub fn bin(&self, bin: &str) -> Option<&Tote> {
        self.bins.get(bin).and_then(|t| t.as_ref())
    }

    pub fn at_port(&self, port: &str) -> Option<&Tote> {
        self.ports.get(port).and_then(|p| p.tote.as_ref())
    }

    /// Takes the tote off a port (a conveyor or a person carried it away).
    pub fn take_at_port(&mut self, port: &str) -> Option<Tote> {
        self.ports.get_mut(port).and_then(|p| p.tote.take())
    }

    /// The totes retrievals put at output ports since the last call, in
    /// order: what a conveyor downstream receives.
    pub fn take_deliveries(&mut self) -> Vec<(String, Tote)> {
        std::mem::take(&mut self.deliveries)
    }

    /// Cancels a task: a queued one leaves the queue, a running one stops
    /// and the crane puts its tote back where it came from (the move happens
    /// only at the end of the task time, so nothing moved). Repeating a
    /// cancel is accepted again. A task that already completed or failed,
    /// or one the AS/RS never took, is refused with the reason.
    pub fn cancel(&mut self, task_id: &str) -> Result<(), String> {
        let Some(t) = self.tasks.get_mut(task_id) else {
            return Err(format!("task {task_id} unknown"));
        };
        match t.state {
            TaskState::Cancelled => Ok(()),
            TaskState::Done => Err(format!("task {task_id} already completed")),
            TaskState::Failed(_) => Err(format!("task {task_id} failed")),
            TaskState::Queued if t.answer.is_err() => Err(format!("task {task_id} was refused")),
            TaskState::Queued | TaskState::Running { .. } => {
                t.state = TaskState::Cancelled;
                self.queue.retain(|q| q != task_id);
                if self.running.as_deref() == Some(task_id) {
                    self.running = None;
                }
                Ok(())
            }
        }
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self, task_id: &str) -> bool {
        self.tasks
            .get(task_id)
            .is_some_and(|t| t.state == TaskState::Cancelled)
    }

    /// Fault injection: the bin disappears from the grid.
    pub fn remove_bin(&mut self, bin: &str) {
        self.bins.remove(bin);
    }

    /// Fault injection: the port refuses totes.
    pub fn block_port(&mut self, port: &str, blocked: bool) {
        if let Some(p) = self.ports.get_mut(port) {
            p.blocked = blocked;
        }
    }

    /// Fault injection: the crane stops before finishing its task, which
    /// then fails with [`FAULT_CRANE_STUCK`].
    pub fn jam_crane(&mut self, stuck: bool) {
        self.crane_stuck = stuck;
    }

    /// Clears the fault; the next task starts. Refused with the reason set
    /// by [`Asrs::refuse_reset`].
    pub fn reset(&mut self) -> Result<(), String> {
        if let Some(r) = &self.reset_refusal {
            return Err(r.clone());
        }
        self.fault = None;
        self.crane_stuck = false;
        Ok(())
    }

    /// Fault injection: resets are refused with `reason` (`None`: accepted).
    pub fn refuse_reset(&mut self, reason: Option<String>) {
        self.reset_refusal = reason;
    }

    /// Fault injection: a device fault now, whatever the tasks did (an
    /// emergency stop after a completion); cleared by [`Asrs::reset`].
    pub fn inject_fault(&mut self, code: u32, text: &str) {
        self.fault = Some((code, text.into()));
    }

    /// The mode where `fault_code` is the result of the last completed task
    /// and a failed task does not fault the machine (only a stuck crane or
    /// an injected fault does; `state` says so).
    pub fn set_fault_code_is_last_result(&mut self, on: bool) {
        self.fault_code_is_last_result = on;
    }

    /// Takes a task. A task id seen before gets its first answer again and
    /// is not queued twice.
    pub fn submit(
        &mut self,
        task_id: &str,
        kind: TaskKind,
        location: &str,
        port: &str,
    ) -> Result<(), String> {
        self.submit_coded(task_id, kind, location, port)
            .map_err(|(_, reason)| reason)
    }

    /// [`Asrs::submit`], with the refusal's code.
    pub fn submit_coded(
        &mut self,
        task_id: &str,
        kind: TaskKind,
        location: &str,
        port: &str,
    ) -> Result<(), (u32, String)> {
        self.submissions += 1;
        if let Some(t) = self.tasks.get_mut(task_id) {
            t.submissions += 1;
            return t.answer.clone();
        }
        let answer = self.check(kind, location, port);
        if answer.is_ok() {
            self.queue.push_back(task_id.into());
        }
        self.tasks.insert(
            task_id.into(),
            Task {
                kind,
                location: location.into(),
                port: port.into(),
                answer: answer.clone(),
                state: TaskState::Queued,
                submissions: 1,
            },
        );
        answer
    }

    fn check(&self, kind: TaskKind, location: &str, port: &str) -> Result<(), (u32, String)> {
        if task_id_empty(location) {
            return Err((FAULT_BIN_NOT_FOUND, "no location".into()));
        }
        let Some(bin) = self.bins.get(location) else {
            return Err((FAULT_BIN_NOT_FOUND, format!("bin {location} not found")));
        };
        let Some(p) = self.ports.get(port) else {
            return Err((REFUSED_WRONG_PORT, format!("port {port} not found")));
        };
        if p.blocked {
            return Err((FAULT_PORT_BLOCKED, format!("port {port} blocked")));
        }
        match kind {
            TaskKind::Retrieve if p.input => {
                Err((REFUSED_WRONG_PORT, format!("port {port} is an input port")))
            }
            TaskKind::Retrieve if bin.is_none() => {
                Err((REFUSED_BIN_EMPTY, format!("bin {location} is empty")))
            }
            TaskKind::Store if !p.input => {
                Err((REFUSED_WRONG_PORT, format!("port {port} is an output port")))
            }
            TaskKind::Store if bin.is_some() => {
                Err((REFUSED_BIN_OCCUPIED, format!("bin {location} is occupied")))
            }
            _ => Ok(()),
        }
    }

    /// Advances to `now`: finishes the running task when due, starts the
    /// next one.
    pub fn tick(&mut self, now: Instant) {
        if let Some(id) = self.running.clone() {
            if self.fault.is_some() {
                return;
            }
            let task = self.tasks.get(&id).expect("running task is known").clone();
            match task.state {
                TaskState::Running { due } if now < due => return,
                TaskState::Running { .. } => {
                    if self.crane_stuck {
                        self.fail(
                            &id,
                            FAULT_CRANE_STUCK,
                            "crane stuck between aisle and port".into(),
                        );
                        return;
                    }
                    if let Err((code, text)) = self.execute(&task) {
                        self.fail(&id, code, text);
                        return;
                    }
                    *self.executions.entry(id.clone()).or_default() += 1;
                    self.tasks.get_mut(&id).expect("known").state = TaskState::Done;
                    self.ended(&id, 0);
                }
                // Failed, and the fault since reset.
                _ => {}
            }
            self.running = None;
        }
        if self.fault.is_some() {
            return;
        }
        if let Some(id) = self.queue.pop_front() {
            let t = self.tasks.get_mut(&id).expect("queued task is known");
            let time = match t.kind {
                TaskKind::Retrieve => self.retrieve_time,
                TaskKind::Store => self.store_time,
            };
            t.state = TaskState::Running { due: now + time };
            self.running = Some(id);
        }
    }

    /// The task ends with `code`: reported as the last completed task with
    /// that result; the machine faults, unless the fault code is the last
    /// result and the crane itself is fine.
    fn fail(&mut self, id: &str, code: u32, text: String) {
        if !self.fault_code_is_last_result || code == FAULT_CRANE_STUCK {
            self.fault = Some((code, text));
        } else if self.running.as_deref() == Some(id) {
            self.running = None;
        }
        if let Some(t) = self.tasks.get_mut(id) {
            t.state = TaskState::Failed(code);
        }
        self.ended(id, code);
    }

    /// Reports a task ended with `result`: the last completed task, and the
    /// completion log.
    fn ended(&mut self, id: &str, result: u32) {
        self.last_completed = id.into();
        self.last_result = result;
        if self.completed.len() == COMPLETION_LOG_LEN {
            self.completed.pop_front();
        }
        self.completed.push_back((id.into(), result));
    }

    /// Moves the tote; the grid may have changed since the task was taken.
    fn execute(&mut self, t: &Task) -> Result<(), (u32, String)> {
        if !self.bins.contains_key(&t.location) {
            return Err((FAULT_BIN_NOT_FOUND, format!("bin {} not found", t.location)));
        }
        let port = self.ports.get_mut(&t.port).expect("checked at submit");
        if port.blocked {
            return Err((FAULT_PORT_BLOCKED, format!("port {} blocked", t.port)));
        }
        match t.kind {
            TaskKind::Retrieve => {
                let tote = self.bins.get_mut(&t.location).expect("present").take();
                if let Some(tote) = &tote {
                    self.deliveries.push((t.port.clone(), tote.clone()));
                }
                port.tote = tote;
            }
            TaskKind::Store => {
                let tote = port.tote.take();
                self.bins.insert(t.location.clone(), tote);
            }
        }
        Ok(())
    }

    pub fn status(&self) -> Status {
        let busy = self.running.is_some() || !self.queue.is_empty();
        Status {
            last_completed_task_id: self.last_completed.clone(),
            last_result: self.last_result,
            completed: self.completed.iter().cloned().collect(),
            current_task_id: self.running.clone().unwrap_or_default(),
            state: match (&self.fault, busy) {
                (Some(_), _) => "Fault",
                (None, true) => "Busy",
                (None, false) => "Idle",
            },
            fault_code: if self.fault_code_is_last_result {
                self.last_result
            } else {
                self.fault.as_ref().map_or(0, |f| f.0)
            },
            fault_text: self.fault.as_ref().map(|f| f.1.clone()).unwrap_or_default(),
        }
    }
}

fn task_id_empty(s: &str) -> bool {
    s.trim().is_empty()
}

#[cfg(test)]
mod tests;

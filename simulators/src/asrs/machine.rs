//! The AS/RS itself, with no IO: a grid of bins holding totes, input and
//! output ports, one crane that takes its tasks in order. Advanced by the
//! instants passed in, so tests can drive it without a clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

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

#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskState {
    Queued,
    Running {
        due: Instant,
    },
    Done,
    Failed,
    /// Cancelled before it finished: nothing moved.
    Cancelled,
}

#[derive(Debug, Clone)]
struct Task {
    kind: TaskKind,
    location: String,
    port: String,
    /// The first answer, repeated for a repeated task id.
    answer: Result<(), String>,
    state: TaskState,
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
    pub current_task_id: String,
    /// `Idle`, `Busy` or `Fault`.
    pub state: &'static str,
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
    fault: Option<(u32, String)>,
    crane_stuck: bool,
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
            fault: None,
            crane_stuck: false,
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
            TaskState::Failed => Err(format!("task {task_id} failed")),
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

    /// Clears the fault; the next task starts.
    pub fn reset(&mut self) {
        self.fault = None;
        self.crane_stuck = false;
    }

    pub fn executions(&self, task_id: &str) -> u32 {
        self.executions.get(task_id).copied().unwrap_or(0)
    }

    /// Commands received, repeats included.
    pub fn submissions(&self) -> u32 {
        self.submissions
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
        self.submissions += 1;
        if let Some(t) = self.tasks.get(task_id) {
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
            },
        );
        answer
    }

    fn check(&self, kind: TaskKind, location: &str, port: &str) -> Result<(), String> {
        if task_id_empty(location) {
            return Err("no location".into());
        }
        let Some(bin) = self.bins.get(location) else {
            return Err(format!("bin {location} not found"));
        };
        let Some(p) = self.ports.get(port) else {
            return Err(format!("port {port} not found"));
        };
        if p.blocked {
            return Err(format!("port {port} blocked"));
        }
        match kind {
            TaskKind::Retrieve if p.input => Err(format!("port {port} is an input port")),
            TaskKind::Retrieve if bin.is_none() => Err(format!("bin {location} is empty")),
            TaskKind::Store if !p.input => Err(format!("port {port} is an output port")),
            TaskKind::Store if bin.is_some() => Err(format!("bin {location} is occupied")),
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
                    self.last_completed = id;
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

    fn fail(&mut self, id: &str, code: u32, text: String) {
        self.fault = Some((code, text));
        self.tasks.get_mut(id).expect("known").state = TaskState::Failed;
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
        Status {
            last_completed_task_id: self.last_completed.clone(),
            current_task_id: self.running.clone().unwrap_or_default(),
            state: match (&self.fault, &self.running) {
                (Some(_), _) => "Fault",
                (None, Some(_)) => "Busy",
                (None, None) => "Idle",
            },
            fault_code: self.fault.as_ref().map_or(0, |f| f.0),
            fault_text: self.fault.as_ref().map(|f| f.1.clone()).unwrap_or_default(),
        }
    }
}

fn task_id_empty(s: &str) -> bool {
    s.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tote(id: &str) -> Tote {
        Tote {
            id: id.into(),
            sku: "SKU-1".into(),
            quantity: 4,
        }
    }

    fn asrs() -> Asrs {
        let mut a = Asrs::demo(Duration::from_secs(2), Duration::from_secs(3));
        a.put_in_bin("ASRS1-01-01", tote("T-1"));
        a
    }

    #[test]
    fn a_retrieval_moves_the_tote_to_the_output_port_after_the_retrieval_time() {
        let mut a = asrs();
        let t0 = Instant::now();
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.tick(t0);
        assert_eq!(a.status().state, "Busy");
        a.tick(t0 + Duration::from_secs(1));
        assert_eq!(a.status().last_completed_task_id, "");
        a.tick(t0 + Duration::from_secs(2));
        assert_eq!(a.status().last_completed_task_id, "A");
        assert_eq!(a.at_port("OUT-1"), Some(&tote("T-1")));
        assert_eq!(a.bin("ASRS1-01-01"), None);
    }

    #[test]
    fn a_repeated_task_id_gets_the_same_answer_and_runs_once() {
        let mut a = asrs();
        let t0 = Instant::now();
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.tick(t0);
        a.tick(t0 + Duration::from_secs(2));
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.tick(t0 + Duration::from_secs(5));
        a.tick(t0 + Duration::from_secs(9));
        assert_eq!(a.executions("A"), 1);
        assert_eq!(a.submissions(), 2);
    }

    #[test]
    fn refusals_name_the_bin_or_the_port() {
        let mut a = asrs();
        assert_eq!(
            a.submit("A", TaskKind::Retrieve, "ASRS9-01-01", "OUT-1"),
            Err("bin ASRS9-01-01 not found".into())
        );
        a.block_port("OUT-1", true);
        assert_eq!(
            a.submit("B", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1"),
            Err("port OUT-1 blocked".into())
        );
        assert_eq!(
            a.submit("C", TaskKind::Store, "ASRS1-01-01", "IN-1"),
            Err("bin ASRS1-01-01 is occupied".into())
        );
    }

    #[test]
    fn a_cancelled_retrieval_leaves_the_tote_in_its_bin_and_the_crane_idle() {
        let mut a = asrs();
        let t0 = Instant::now();
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.tick(t0);
        assert_eq!(a.status().state, "Busy");
        a.cancel("A").unwrap();
        a.cancel("A").unwrap();
        a.tick(t0 + Duration::from_secs(5));
        assert_eq!(a.status().state, "Idle");
        assert_eq!(a.status().last_completed_task_id, "");
        assert_eq!(a.bin("ASRS1-01-01"), Some(&tote("T-1")));
        assert_eq!(a.at_port("OUT-1"), None);
        assert_eq!(a.executions("A"), 0);
        // A re-sent command with the cancelled id does not run again.
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.tick(t0 + Duration::from_secs(9));
        assert_eq!(a.status().state, "Idle");
        assert_eq!(a.cancel("B"), Err("task B unknown".into()));
    }

    #[test]
    fn a_completed_retrieval_cannot_be_cancelled_and_is_delivered_once() {
        let mut a = asrs();
        let t0 = Instant::now();
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.tick(t0);
        a.tick(t0 + Duration::from_secs(2));
        assert_eq!(a.cancel("A"), Err("task A already completed".into()));
        assert_eq!(a.take_deliveries(), [("OUT-1".to_string(), tote("T-1"))]);
        assert!(a.take_deliveries().is_empty());
    }

    #[test]
    fn a_stuck_crane_faults_with_its_code_until_reset() {
        let mut a = asrs();
        let t0 = Instant::now();
        a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
            .unwrap();
        a.jam_crane(true);
        a.tick(t0);
        a.tick(t0 + Duration::from_secs(2));
        let s = a.status();
        assert_eq!(
            (s.state, s.fault_code, s.current_task_id.as_str()),
            ("Fault", FAULT_CRANE_STUCK, "A")
        );
        a.reset();
        a.tick(t0 + Duration::from_secs(3));
        assert_eq!(a.status().state, "Idle");
    }
}

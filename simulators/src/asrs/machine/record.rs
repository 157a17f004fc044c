//! Every task id's true story on the machine, for tests to hold the
//! gateway's journal against, and the per-task status the PLC serves.

use std::collections::BTreeMap;

use super::{Asrs, TaskKind, TaskState};

/// What really happened to one task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub kind: TaskKind,
    pub location: String,
    pub port: String,
    /// Times the task id was sent, repeats included.
    pub submissions: u32,
    /// Moves done (0 or 1).
    pub executions: u32,
    pub outcome: TaskOutcome,
}

/// Where a task id stands on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Refused when sent, with the code.
    Refused(u32),
    Queued,
    Running,
    Done,
    /// Ended with this fault code; nothing moved.
    Failed(u32),
    Cancelled,
}

impl Asrs {
    /// The per-task status: `(state, result)` with state `Queued`,
    /// `Running`, `Done`, `Failed` (result: the code), `Cancelled` or
    /// `Unknown`.
    pub fn task_status(&self, task_id: &str) -> (&'static str, u32) {
        match self.tasks.get(task_id) {
            None => ("Unknown", 0),
            Some(t) => match (&t.answer, &t.state) {
                (Err((code, _)), _) => ("Failed", *code),
                (_, TaskState::Queued) => ("Queued", 0),
                (_, TaskState::Running { .. }) => ("Running", 0),
                (_, TaskState::Done) => ("Done", 0),
                (_, TaskState::Failed(code)) => ("Failed", *code),
                (_, TaskState::Cancelled) => ("Cancelled", 0),
            },
        }
    }

    /// What really happened to `task_id` (`None`: never sent).
    pub fn record(&self, task_id: &str) -> Option<TaskRecord> {
        let t = self.tasks.get(task_id)?;
        Some(TaskRecord {
            kind: t.kind,
            location: t.location.clone(),
            port: t.port.clone(),
            submissions: t.submissions,
            executions: self.executions(task_id),
            outcome: match (&t.answer, &t.state) {
                (Err((code, _)), _) => TaskOutcome::Refused(*code),
                (_, TaskState::Queued) => TaskOutcome::Queued,
                (_, TaskState::Running { .. }) => TaskOutcome::Running,
                (_, TaskState::Done) => TaskOutcome::Done,
                (_, TaskState::Failed(code)) => TaskOutcome::Failed(*code),
                (_, TaskState::Cancelled) => TaskOutcome::Cancelled,
            },
        })
    }

    /// Every task id the machine was sent, with its record, by id.
    pub fn records(&self) -> BTreeMap<String, TaskRecord> {
        self.tasks
            .keys()
            .filter_map(|id| Some((id.clone(), self.record(id)?)))
            .collect()
    }

    pub fn executions(&self, task_id: &str) -> u32 {
        self.executions.get(task_id).copied().unwrap_or(0)
    }

    /// Commands received, repeats included.
    pub fn submissions(&self) -> u32 {
        self.submissions
    }
}

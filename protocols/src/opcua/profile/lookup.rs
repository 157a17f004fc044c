//! What a profile names for asking the PLC about one task id after the
//! fact: a per-task status method, or a completion log.

use serde::Deserialize;

use super::NodeRef;

/// A per-task status the PLC answers for any task id it took:
/// `Method(taskId) → [state: String, result: integer]`. The adapter asks
/// it when it could not watch a command to its end (the gateway was down,
/// the link was lost, completions passed faster than it could read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskStatusDef {
    /// The object the method is called on, and the method.
    pub object: String,
    pub method: String,
    /// The state values the method answers.
    #[serde(default)]
    pub states: TaskStates,
}

/// A completion log: two array variables the PLC writes in one update,
/// the task ids of the last tasks it ended (any order) and their results.
/// Read together in one Read service call; a task id not in the log
/// (rolled out, or not ended) decides nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionLog {
    /// A String array.
    pub task_ids: NodeRef,
    /// An integer array, the result of each task id at the same index (0
    /// OK, else a code of `[faults]`).
    pub results: NodeRef,
}

/// The `state` strings of a [`TaskStatusDef`] answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskStates {
    pub queued: String,
    pub running: String,
    /// Ended; the answer's result says OK (0) or the fault.
    pub done: String,
    /// Ended with the answer's result code.
    pub failed: String,
    pub cancelled: String,
    /// The PLC does not know the task id.
    pub unknown: String,
}

impl Default for TaskStates {
    fn default() -> Self {
        TaskStates {
            queued: "Queued".into(),
            running: "Running".into(),
            done: "Done".into(),
            failed: "Failed".into(),
            cancelled: "Cancelled".into(),
            unknown: "Unknown".into(),
        }
    }
}

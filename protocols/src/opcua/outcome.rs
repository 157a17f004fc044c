//! How an AS/RS command ended, decided from what the PLC itself says about
//! that task id, with no IO (the adapter reads, this module judges).
//!
//! Inputs are one [`Snapshot`] — every status node from **one** Read
//! service call, so `LastCompletedTaskId` and its result cannot come from
//! two moments — and, when the profile names one, the PLC's answer to the
//! per-task status method ([`TaskStatus`]).
//!
//! The rules ([`judge`]):
//!
//! 1. `last_completed_task_id` is the task: its result decides (0 OK →
//!    completed; anything else → failed with the profile's fault name). A
//!    device fault raised after it (an e-stop) changes nothing.
//! 2. `current_task_id` is the task: running. A device fault now is its
//!    failure only for a profile without a result node (the PLC has no
//!    other word for it); with one, the PLC's result for the task decides
//!    when it ends it.
//! 3. Neither: the task is queued, or it ended out of sight. It ended out
//!    of sight when it was seen current before, or when the PLC is idle
//!    (`idle_states`) after the settle time: an idle PLC has nothing
//!    queued. Then [`Verdict::EndedUnseen`]: the adapter asks the per-task
//!    status ([`from_task_status`]) or reports the outcome unknown. Never
//!    guessed from values that describe the device now.

use super::profile::{AsrsProfile, FaultCodeMeaning};

/// Every status node, as one Read service call returned them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub last_completed_task_id: Option<String>,
    /// The result node's value (`None`: the profile names none).
    pub last_result: Option<i64>,
    pub current_task_id: Option<String>,
    pub state: Option<String>,
    pub fault_code: i64,
    pub fault_text: Option<String>,
}

/// What the per-task status method answered for one task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    Queued,
    Running,
    /// Ended with this result code (0 OK).
    Ended(i64),
    Cancelled,
    /// The PLC does not know the task id.
    Unknown,
    /// A state the profile does not list.
    Other(String),
}

/// What the watcher of one command learned so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// The task was `current_task_id` in an earlier snapshot.
    pub running: bool,
    /// The settle time since the PLC accepted the task has passed.
    pub settled: bool,
}

/// The judgement of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Completed,
    /// The device failed the command; the reason names its fault.
    Failed(String),
    /// The device cancelled the command.
    Cancelled,
    /// On the device, not ended: watch on.
    Running,
    /// Not current and not ended as far as the status shows: queued, or
    /// the PLC has not shown it yet.
    Waiting,
    /// It ended while the gateway could not see it: ask the per-task
    /// status, or report the outcome unknown with this reason.
    EndedUnseen(String),
    /// The device cannot say what happened (reason).
    Unknown(String),
}

/// Judges the command `task_id` from one snapshot (rules in the module
/// notes).
pub fn judge(p: &AsrsProfile, s: &Snapshot, task_id: &str, seen: Seen) -> Verdict {
    let faulted = p.is_device_fault(s.state.as_deref(), s.fault_code);
    if s.last_completed_task_id.as_deref() == Some(task_id) {
        let result = match p.status.fault_code_meaning {
            FaultCodeMeaning::LastResult => Some(s.fault_code),
            FaultCodeMeaning::DeviceFault => p
                .status
                .last_result
                .as_ref()
                .map(|_| s.last_result.unwrap_or(0)),
        };
        return match result {
            None | Some(0) => Verdict::Completed,
            Some(code) => Verdict::Failed(result_reason(p, s, code)),
        };
    }
    // Without a result node a device fault while the task is on the
    // device is its failure (the only word the PLC has); with one, the PLC
    // reports the task's own result when it ends it (a task paused by an
    // emergency stop resumes after the reset).
    let fault_decides = faulted && p.result_node().is_none();
    let current_known = p.status.current_task_id.is_some();
    if s.current_task_id.as_deref() == Some(task_id) {
        return if fault_decides {
            Verdict::Failed(fault_reason(p, s))
        } else {
            Verdict::Running
        };
    }
    if !current_known && fault_decides {
        return Verdict::Failed(fault_reason(p, s));
    }
    if seen.running {
        return Verdict::EndedUnseen(format!(
            "task {task_id} left CurrentTaskId without the gateway seeing it in LastCompletedTaskId (now {:?})",
            s.last_completed_task_id.as_deref().unwrap_or("")
        ));
    }
    if p.is_idle(s.state.as_deref()) && seen.settled {
        return Verdict::EndedUnseen(format!(
            "the AS/RS took task {task_id} and is idle without running it (it ended before; LastCompletedTaskId is {:?})",
            s.last_completed_task_id.as_deref().unwrap_or("")
        ));
    }
    Verdict::Waiting
}

/// Judges the per-task status answer for `task_id`.
pub fn from_task_status(p: &AsrsProfile, task_id: &str, t: &TaskStatus) -> Verdict {
    match t {
        TaskStatus::Queued => Verdict::Waiting,
        TaskStatus::Running => Verdict::Running,
        TaskStatus::Ended(0) => Verdict::Completed,
        TaskStatus::Ended(code) => Verdict::Failed(format!("AS/RS result {}", p.fault_name(*code))),
        TaskStatus::Cancelled => Verdict::Cancelled,
        TaskStatus::Unknown => Verdict::Unknown(format!(
            "the AS/RS's task status does not know task {task_id}"
        )),
        TaskStatus::Other(state) => Verdict::Unknown(format!(
            "the AS/RS's task status answered {state:?} for task {task_id}, a state the profile does not list"
        )),
    }
}

/// The per-task status answer `(state, result)` as a [`TaskStatus`].
pub fn task_status_of(p: &AsrsProfile, state: &str, result: i64) -> TaskStatus {
    let Some(def) = &p.task_status else {
        return TaskStatus::Other(state.into());
    };
    let s = &def.states;
    if state == s.queued {
        TaskStatus::Queued
    } else if state == s.running {
        TaskStatus::Running
    } else if state == s.done {
        TaskStatus::Ended(result)
    } else if state == s.failed {
        // A failed task with result 0 still failed.
        TaskStatus::Ended(if result == 0 { -1 } else { result })
    } else if state == s.cancelled {
        TaskStatus::Cancelled
    } else if state == s.unknown {
        TaskStatus::Unknown
    } else {
        TaskStatus::Other(state.into())
    }
}

/// A non-OK result, named; the fault text joins only when it describes the
/// same code.
fn result_reason(p: &AsrsProfile, s: &Snapshot, code: i64) -> String {
    let mut r = format!("AS/RS result {}", p.fault_name(code));
    if s.fault_code == code {
        if let Some(t) = s.fault_text.as_deref().filter(|t| !t.is_empty()) {
            r.push_str(": ");
            r.push_str(t);
        }
    }
    r
}

/// The device's fault now, named (availability, and a fault of the
/// current task).
pub fn fault_reason(p: &AsrsProfile, s: &Snapshot) -> String {
    let mut r = format!("AS/RS fault {}", p.fault_name(s.fault_code));
    if let Some(state) = s
        .state
        .as_deref()
        .filter(|_| !p.status.fault_states.is_empty())
    {
        r = format!("AS/RS fault (state {state}) {}", p.fault_name(s.fault_code));
    }
    if let Some(t) = s.fault_text.as_deref().filter(|t| !t.is_empty()) {
        r.push_str(": ");
        r.push_str(t);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(edit: impl Fn(String) -> String) -> AsrsProfile {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../devices/asrs-opcua-method.toml"
        ))
        .unwrap();
        AsrsProfile::from_toml_str(&edit(text)).unwrap()
    }

    fn snap(last: &str, result: i64, current: &str, state: &str, fault: i64) -> Snapshot {
        let t = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Snapshot {
            last_completed_task_id: t(last),
            last_result: Some(result),
            current_task_id: t(current),
            state: t(state),
            fault_code: fault,
            fault_text: None,
        }
    }

    #[test]
    fn the_result_read_with_the_completed_id_decides_and_a_later_fault_does_not() {
        let p = profile(|t| t);
        let seen = Seen::default();
        assert_eq!(
            judge(&p, &snap("A", 0, "", "Fault", 1), "A", seen),
            Verdict::Completed
        );
        assert_eq!(
            judge(&p, &snap("A", 2, "", "Idle", 0), "A", seen),
            Verdict::Failed("AS/RS result 2 (bin not found)".into())
        );
    }

    #[test]
    fn another_clients_fault_does_not_fail_a_queued_task() {
        let p = profile(|t| t);
        let s = snap("B", 1, "B", "Fault", 1);
        assert_eq!(judge(&p, &s, "A", Seen::default()), Verdict::Waiting);
        // The current task on a faulted PLC waits for its own result…
        let s = snap("", 0, "A", "Fault", 9);
        assert_eq!(judge(&p, &s, "A", Seen::default()), Verdict::Running);
        // …unless the profile names none: then the fault is its failure.
        let legacy = profile(|t| {
            t.replace(
                "last_result = { node = \"s=ASRS.Status.LastResult\", type = \"UInt32\" }\n",
                "",
            )
        });
        assert!(matches!(
            judge(&legacy, &snap("", 0, "A", "Fault", 1), "A", Seen::default()),
            Verdict::Failed(r) if r.contains("1 (crane stuck)")
        ));
    }

    #[test]
    fn a_task_passed_over_or_an_idle_plc_after_settling_is_ended_unseen() {
        let p = profile(|t| t);
        let s = snap("B", 0, "", "Idle", 0);
        assert_eq!(judge(&p, &s, "A", Seen::default()), Verdict::Waiting);
        let settled = Seen {
            running: false,
            settled: true,
        };
        assert!(matches!(
            judge(&p, &s, "A", settled),
            Verdict::EndedUnseen(_)
        ));
        let busy = snap("B", 0, "C", "Busy", 0);
        assert_eq!(judge(&p, &busy, "A", settled), Verdict::Waiting);
        let ran = Seen {
            running: true,
            settled: true,
        };
        assert!(matches!(
            judge(&p, &busy, "A", ran),
            Verdict::EndedUnseen(_)
        ));
    }

    #[test]
    fn in_last_result_mode_the_fault_code_is_the_result_and_the_state_the_fault() {
        let p = profile(|t| {
            t.replace(
                "last_result = { node = \"s=ASRS.Status.LastResult\", type = \"UInt32\" }\n",
                "",
            )
            .replace(
                "fault_states = [\"Fault\"]",
                "fault_states = [\"Fault\"]\nfault_code_meaning = \"last_result\"",
            )
        });
        assert!(p.result_node().is_some());
        let s = snap("A", 0, "", "Idle", 2);
        assert!(!p.is_device_fault(s.state.as_deref(), s.fault_code));
        assert_eq!(
            judge(&p, &s, "A", Seen::default()),
            Verdict::Failed("AS/RS result 2 (bin not found)".into())
        );
    }

    #[test]
    fn task_status_answers_map_to_verdicts() {
        let p = profile(|t| t);
        let v = |state: &str, r| from_task_status(&p, "A", &task_status_of(&p, state, r));
        assert_eq!(v("Done", 0), Verdict::Completed);
        assert_eq!(
            v("Done", 3),
            Verdict::Failed("AS/RS result 3 (port blocked)".into())
        );
        assert_eq!(v("Queued", 0), Verdict::Waiting);
        assert_eq!(v("Cancelled", 0), Verdict::Cancelled);
        assert!(matches!(v("Unknown", 0), Verdict::Unknown(_)));
        assert!(matches!(v("Exploded", 0), Verdict::Unknown(r) if r.contains("Exploded")));
    }
}

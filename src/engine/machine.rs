//! The task state machine. It does no IO: the runtime feeds it inputs (a
//! plan, a dispatch, a device's report, a cancel) and persists what comes out
//! (the new task and the events that report the change) in one store
//! transaction. An input that does not fit the task's state is refused with
//! [`TransitionError`], which is how a device report repeated after a restart
//! is made harmless: a completed step cannot complete twice.
//!
//! ```text
//! ACCEPTED ──plan──▶ PLANNED ──dispatch step 0──▶ RUNNING ──last step done──▶ COMPLETED
//!     │                 │                           │ step failed ─────────▶ FAILED
//!     └──── cancel ─────┴──── cancel (no step on a device) ───────────────▶ CANCELLED
//!                                                   └ cancel: stop the device, then CANCELLED
//! ```
//!
//! A step fails when its device refuses or fails the command, when the
//! engine could not reach the device at all, or — once the device confirms
//! it stopped — when floorgate stopped it: still on its device at its
//! deadline (`dispatched_unix_ms + timeout_ms`), or stopped by an operator.
//! Until the device confirms, the step stays on it (`StepStopRequested`
//! journals the stop); a device that finishes first completes the step. A
//! step whose outcome floorgate cannot observe (a send or stop the device
//! never confirmed, a command that ended unseen) becomes `OutcomeUnknown`
//! and holds its device until the device reports or an operator resolves it
//! ([`Input::Resolve`]). Nothing here ever moves a step off a device that
//! may still be running it (DESIGN.md invariant 8).
//!
//! A step whose route declares `on_failure = "retry_other_device"`
//! is planned again instead of failing the task, while it has re-plannings
//! left and an untried candidate: `StepFailed` (attempt n, the failed
//! device, the reason) is journaled, the step goes back to pending with
//! attempt n + 1, and the next dispatch (`StepDispatched`, attempt n + 1) has
//! a new command id ([`command_id`](super::model::command_id)), so nothing
//! the old device still says about attempt n can touch attempt n + 1.
//!
//! Time comes in as an argument (`now_ms`): the deadline is derived from the
//! persisted dispatch time, so it survives a restart, and the runtime owns
//! the clock.

use super::model::{EventKind, OnFailure, Step, StepRef, StepState, Task, TaskState};

/// What can happen to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The planner turned the task into device steps.
    Plan(Vec<Step>),
    /// The next step goes to `device_id`.
    Dispatch { step: u32, device_id: String },
    /// The device confirmed it took the command.
    Acknowledged { step: u32 },
    /// The device finished the command.
    Completed { step: u32 },
    /// The device refused or failed the command.
    Failed { step: u32, reason: String },
    /// The step's deadline passed while attempt `attempt` was still on its
    /// device. Refused when the step has moved on since the timer was set.
    TimedOut { step: u32, attempt: u32 },
    /// The device stopped the command because floorgate told it to (a
    /// cancel, the step's timeout, an operator's stop).
    Cancelled { step: u32 },
    /// The cloud (or an operator) cancels the task.
    Cancel { reason: String },
    /// The task's deadline passed: a task that has not started ends
    /// EXPIRED; one that started is not interrupted (refused).
    Expire,
    /// An operator stops the step on its device: it fails with `reason`
    /// once the device confirms it stopped (and may then fall back).
    Stop { step: u32, reason: String },
    /// floorgate cannot tell what the device did with the step's command.
    OutcomeUnknown { step: u32, reason: String },
    /// An operator, having looked at the device, says how the step ended:
    /// `completed` or not (failed, the device does not have it).
    Resolve {
        step: u32,
        completed: bool,
        reason: String,
    },
}

/// What the runtime must do besides persisting the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Stop the command running on a device.
    StopOnDevice {
        step: u32,
        device_id: String,
        command_id: String,
    },
    /// The device has no command of this task any more: the command's
    /// outbox entry goes in the same transaction.
    ReleaseDevice {
        device_id: String,
        command_id: String,
    },
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Transition {
    pub events: Vec<EventKind>,
    pub effects: Vec<Effect>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("task is {state}: cannot {what}", state = .state.as_str())]
    WrongTaskState {
        state: TaskState,
        what: &'static str,
    },
    #[error("step {step} does not exist")]
    NoSuchStep { step: u32 },
    #[error("step {step} is {state:?}: cannot {what}")]
    WrongStepState {
        step: u32,
        state: StepState,
        what: &'static str,
    },
    #[error("step {step} is not next: step {next} must finish first")]
    OutOfOrder { step: u32, next: u32 },
    #[error("step {step} already failed on {device_id}")]
    FailedBefore { step: u32, device_id: String },
    #[error("step {step} is at attempt {current}, not {attempt}")]
    StaleAttempt {
        step: u32,
        attempt: u32,
        current: u32,
    },
}

/// Applies `input` to `task`. On error the task is unchanged.
pub fn apply(task: &mut Task, input: Input, now_ms: i64) -> Result<Transition, TransitionError> {
    let mut next = task.clone();
    let out = apply_inner(&mut next, input, now_ms)?;
    next.updated_unix_ms = now_ms;
    *task = next;
    Ok(out)
}

fn apply_inner(task: &mut Task, input: Input, now_ms: i64) -> Result<Transition, TransitionError> {
    let mut out = Transition::default();
    if task.state.is_terminal() {
        return Err(TransitionError::WrongTaskState {
            state: task.state,
            what: input_name(&input),
        });
    }
    match input {
        Input::Plan(steps) => {
            if task.state != TaskState::Accepted {
                return Err(wrong(task, "plan"));
            }
            task.steps = steps.clone();
            task.state = TaskState::Planned;
            out.events.push(EventKind::TaskPlanned { steps });
        }
        Input::Dispatch { step, device_id } => {
            if task.cancel_requested.is_some() {
                return Err(wrong(task, "dispatch after cancel"));
            }
            if !matches!(task.state, TaskState::Planned | TaskState::Running) {
                return Err(wrong(task, "dispatch"));
            }
            let expected = next_pending(task).ok_or(TransitionError::NoSuchStep { step })?;
            if expected != step {
                return Err(TransitionError::OutOfOrder {
                    step,
                    next: expected,
                });
            }
            if task.steps.iter().any(|s| s.state.is_active()) {
                return Err(wrong(task, "dispatch while a step is active"));
            }
            if task.steps[step as usize]
                .failed_devices
                .contains(&device_id)
            {
                return Err(TransitionError::FailedBefore { step, device_id });
            }
            if task.state == TaskState::Planned {
                task.state = TaskState::Running;
                out.events.push(EventKind::TaskStarted);
            }
            let s = step_mut(task, step)?;
            s.state = StepState::Dispatched;
            s.device_id = Some(device_id);
            s.dispatched_unix_ms = Some(now_ms);
            out.events.push(EventKind::StepDispatched(step_ref(s)));
        }
        Input::Acknowledged { step } => {
            let s = step_mut(task, step)?;
            // An unconfirmed send the device answers after all.
            if !matches!(s.state, StepState::Dispatched | StepState::OutcomeUnknown) {
                return Err(wrong_step(s, "acknowledge"));
            }
            s.state = StepState::Acknowledged;
            out.events.push(EventKind::StepAcknowledged(step_ref(s)));
        }
        Input::Completed { step } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "complete"));
            }
            s.reason.clear();
            complete_step(task, step, &mut out);
        }
        Input::Failed { step, reason } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "fail"));
            }
            fail_step(task, step, reason, &mut out);
        }
        Input::TimedOut { step, attempt } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "time out"));
            }
            if s.attempt != attempt {
                return Err(TransitionError::StaleAttempt {
                    step,
                    attempt,
                    current: s.attempt,
                });
            }
            if s.stop_reason.is_some() {
                return Err(wrong_step(s, "time out while stopping"));
            }
            let reason = format!("timed out after {} on the device", secs(s.timeout_ms));
            request_stop(task, step, reason, &mut out);
        }
        Input::Expire => {
            if task.state != TaskState::Planned || task.cancel_requested.is_some() {
                return Err(wrong(task, "expire"));
            }
            if task.steps.iter().any(|s| s.state != StepState::Pending) {
                return Err(wrong(task, "expire a started task"));
            }
            for s in &mut task.steps {
                s.state = StepState::Cancelled;
            }
            let reason = format!(
                "not started by its deadline ({} ms after the Unix epoch)",
                task.spec.deadline_unix_ms
            );
            task.state = TaskState::Expired;
            task.reason = reason.clone();
            out.events.push(EventKind::TaskExpired { reason });
        }
        Input::Stop { step, reason } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "stop"));
            }
            if s.stop_reason.is_some() {
                // Already stopping; a repeated stop changes nothing.
                return Ok(out);
            }
            request_stop(task, step, reason, &mut out);
        }
        Input::OutcomeUnknown { step, reason } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "mark unknown"));
            }
            if s.state == StepState::OutcomeUnknown {
                return Err(wrong_step(s, "mark unknown again"));
            }
            s.state = StepState::OutcomeUnknown;
            s.reason = reason;
            out.events.push(EventKind::StepOutcomeUnknown(step_ref(s)));
        }
        Input::Resolve {
            step,
            completed,
            reason,
        } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "resolve"));
            }
            let reason = format!("resolved by an operator: {reason}");
            if completed {
                s.reason = reason;
                complete_step(task, step, &mut out);
            } else {
                fail_step(task, step, reason, &mut out);
            }
        }
        Input::Cancelled { step } => {
            let s = step_mut(task, step)?;
            if !s.state.is_active() {
                return Err(wrong_step(s, "cancel"));
            }
            if let Some(reason) = s.stop_reason.clone() {
                // Stopped for a timeout or an operator: now that the device
                // confirmed it, the step fails (and may fall back).
                fail_step(task, step, reason, &mut out);
                return Ok(out);
            }
            s.state = StepState::Cancelled;
            out.events.push(EventKind::StepCancelled(step_ref(s)));
            release(&task.spec.task_id, &task.steps[step as usize], &mut out);
            let reason = task
                .cancel_requested
                .clone()
                .unwrap_or_else(|| "stopped by the device".to_string());
            cancel_rest(task, &reason, &mut out);
        }
        Input::Cancel { reason } => {
            if task.cancel_requested.is_some() {
                // Already stopping; a repeated cancel changes nothing.
                return Ok(out);
            }
            let active = task
                .steps
                .iter()
                .find(|s| s.state.is_active())
                .map(|s| (s.index, s.device_id.clone().unwrap_or_default()));
            match active {
                Some((step, device_id)) => {
                    let command_id = task.steps[step as usize].command_id(&task.spec.task_id);
                    task.cancel_requested = Some(reason);
                    out.effects.push(Effect::StopOnDevice {
                        step,
                        device_id,
                        command_id,
                    });
                }
                None => cancel_rest(task, &reason, &mut out),
            }
        }
    }
    Ok(out)
}

/// The index of the first step still pending, if every step before it is
/// completed.
pub fn next_pending(task: &Task) -> Option<u32> {
    for s in &task.steps {
        match s.state {
            StepState::Completed => continue,
            StepState::Pending => return Some(s.index),
            _ => return None,
        }
    }
    None
}

/// The step currently on a device, if any.
pub fn active_step(task: &Task) -> Option<&Step> {
    task.steps.iter().find(|s| s.state.is_active())
}

/// The active step `step` is done on its device. The task completes when
/// it was the last step — even with a cancel pending: the device did the
/// work, and the journal says so — and is cancelled when a cancel is
/// pending and steps remain (nothing after it starts).
fn complete_step(task: &mut Task, step: u32, out: &mut Transition) {
    let s = &mut task.steps[step as usize];
    s.state = StepState::Completed;
    s.stop_reason = None;
    out.events.push(EventKind::StepCompleted(step_ref(s)));
    release(&task.spec.task_id, &task.steps[step as usize], out);
    if next_pending(task).is_none() {
        task.state = TaskState::Completed;
        out.events.push(EventKind::TaskCompleted);
    } else if let Some(reason) = task.cancel_requested.clone() {
        cancel_rest(task, &reason, out);
    }
}

/// Tells the device to stop the active step `step`; it fails with `reason`
/// once the device confirms ([`Input::Cancelled`]), completes if the device
/// finished it first.
fn request_stop(task: &mut Task, step: u32, reason: String, out: &mut Transition) {
    let task_id = task.spec.task_id.clone();
    let s = &mut task.steps[step as usize];
    s.stop_reason = Some(reason.clone());
    let mut r = step_ref(s);
    r.reason = reason;
    out.events.push(EventKind::StepStopRequested(r));
    if let Some(device_id) = s.device_id.clone() {
        out.effects.push(Effect::StopOnDevice {
            step,
            device_id,
            command_id: s.command_id(&task_id),
        });
    }
}

fn cancel_rest(task: &mut Task, reason: &str, out: &mut Transition) {
    for s in task
        .steps
        .iter_mut()
        .filter(|s| s.state == StepState::Pending)
    {
        s.state = StepState::Cancelled;
    }
    task.state = TaskState::Cancelled;
    task.reason = reason.to_string();
    out.events.push(EventKind::TaskCancelled {
        reason: reason.to_string(),
    });
}

/// The active step `step` failed with `reason`: the device said so, or
/// confirmed it stopped, or an operator resolved it. The device is released:
/// its outbox entry goes, and a later report for the old command id matches
/// nothing.
fn fail_step(task: &mut Task, step: u32, reason: String, out: &mut Transition) {
    let task_id = task.spec.task_id.clone();
    let s = &mut task.steps[step as usize];
    s.state = StepState::Failed;
    s.reason = reason.clone();
    s.stop_reason = None;
    out.events.push(EventKind::StepFailed(step_ref(s)));
    release(&task_id, s, out);
    if let Some(cancel_reason) = task.cancel_requested.clone() {
        cancel_rest(task, &cancel_reason, out);
        return;
    }
    let s = &mut task.steps[step as usize];
    if s.on_failure == OnFailure::RetryOtherDevice && s.attempt < s.max_reassignments {
        let mut failed = s.failed_devices.clone();
        if let Some(d) = &s.device_id {
            if !failed.contains(d) {
                failed.push(d.clone());
            }
        }
        if s.candidates.iter().any(|c| !failed.contains(c)) {
            // Planned again: the scheduler puts the next attempt on an
            // untried candidate.
            s.failed_devices = failed;
            s.device_id = None;
            s.state = StepState::Pending;
            s.attempt += 1;
            s.dispatched_unix_ms = None;
            return;
        }
    }
    let reason = format!("step {step} ({}) failed: {reason}", s.command);
    for s in task
        .steps
        .iter_mut()
        .filter(|s| s.state == StepState::Pending)
    {
        s.state = StepState::Cancelled;
    }
    task.state = TaskState::Failed;
    task.reason = reason.clone();
    out.events.push(EventKind::TaskFailed { reason });
}

/// A duration in milliseconds as people read it: `30 s`, `1.5 s`.
fn secs(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

fn release(task_id: &str, s: &Step, out: &mut Transition) {
    if let Some(d) = &s.device_id {
        out.effects.push(Effect::ReleaseDevice {
            device_id: d.clone(),
            command_id: s.command_id(task_id),
        });
    }
}

fn step_mut(task: &mut Task, step: u32) -> Result<&mut Step, TransitionError> {
    task.steps
        .get_mut(step as usize)
        .ok_or(TransitionError::NoSuchStep { step })
}

fn step_ref(s: &Step) -> StepRef {
    StepRef {
        step_index: s.index,
        device_id: s.device_id.clone().unwrap_or_default(),
        command: s.command.clone(),
        reason: s.reason.clone(),
        attempt: s.attempt,
    }
}

fn wrong(task: &Task, what: &'static str) -> TransitionError {
    TransitionError::WrongTaskState {
        state: task.state,
        what,
    }
}

fn wrong_step(s: &Step, what: &'static str) -> TransitionError {
    TransitionError::WrongStepState {
        step: s.index,
        state: s.state,
        what,
    }
}

fn input_name(input: &Input) -> &'static str {
    match input {
        Input::Plan(_) => "plan",
        Input::Dispatch { .. } => "dispatch",
        Input::Acknowledged { .. } => "acknowledge a step",
        Input::Completed { .. } => "complete a step",
        Input::Failed { .. } => "fail a step",
        Input::TimedOut { .. } => "time out a step",
        Input::Cancelled { .. } => "cancel a step",
        Input::Cancel { .. } => "cancel",
        Input::Expire => "expire",
        Input::Stop { .. } => "stop a step",
        Input::OutcomeUnknown { .. } => "mark a step's outcome unknown",
        Input::Resolve { .. } => "resolve a step",
    }
}

#[cfg(test)]
mod tests;

//! Operators' commands to devices (DeviceService): reset, stop, pause,
//! resume, and resolving a step whose outcome floorgate could not observe.
//!
//! Each is journaled as a `device_commanded` event with the operator's
//! reason — once the device carried it out, or, for the commands that act
//! on a step (a stop of a running step, a resolve), in the same transaction
//! as the step's change. A device command that needs a protocol sequence
//! (the Modbus mailbox) gets a fresh device sequence, committed before the
//! command is sent, so it is never handed out twice.

use tokio::sync::oneshot;

use super::{Engine, EngineError};
use crate::engine::adapter::{next_device_sequence, DeviceOperation, OperateError};
use crate::engine::machine::{self, Input};
use crate::engine::model::{EventKind, StepState, Task};
use crate::store::{Change, Ticket};

/// A device answered an operator's command.
#[derive(Debug)]
pub(crate) struct OperatorDone {
    device_id: String,
    operation: DeviceOperation,
    reason: String,
    result: Result<(), OperateError>,
    reply: oneshot::Sender<Result<Ticket, EngineError>>,
}

impl Engine {
    pub(super) fn operate(
        &mut self,
        device_id: String,
        operation: DeviceOperation,
        reason: String,
        reply: oneshot::Sender<Result<Ticket, EngineError>>,
    ) {
        let reason = if reason.is_empty() {
            format!("{} by an operator", operation.as_str())
        } else {
            reason
        };
        let Some(device) = self.devices.get(&device_id) else {
            let _ = reply.send(Err(EngineError::NotFound(format!("device {device_id}"))));
            return;
        };
        let Some(adapter) = self.adapters.get(&device.spec.kind).cloned() else {
            let _ = reply.send(Err(EngineError::FailedPrecondition(format!(
                "device {device_id}: no adapter drives {} devices in this gateway",
                device.spec.kind
            ))));
            return;
        };
        let held = self.held_step(&device_id);
        match (operation, held) {
            (DeviceOperation::Stop, Some((task, step))) => {
                // A step is on the device: stop it in the device's own way;
                // it fails once the device confirms (and may then move on).
                let event = commanded(&device_id, operation, &reason);
                let input = Input::Stop {
                    step,
                    reason: format!("stopped by an operator: {reason}"),
                };
                let _ = reply.send(
                    self.transition_with(task, input, vec![event])
                        .map(|(_, ticket)| ticket),
                );
                return;
            }
            (DeviceOperation::Reset, Some((task, step))) => {
                let _ = reply.send(Err(EngineError::FailedPrecondition(format!(
                    "device {device_id} holds step {step} of task {}: stop the step or resolve it first",
                    task.spec.task_id
                ))));
                return;
            }
            _ => {}
        }
        // The command's own device sequence, durable before it is sent.
        let sequence = next_device_sequence(self.device_seq.get(&device_id).copied().unwrap_or(0));
        let ticket = match self.commit(Change {
            device_sequences: vec![(device_id.clone(), sequence)],
            ..Change::default()
        }) {
            Ok(t) => t,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        self.device_seq.insert(device_id.clone(), sequence);
        let store = self.store.clone();
        let done = self.operator_done.clone();
        tokio::spawn(async move {
            let result = match store.wait_durable(ticket).await {
                Ok(()) => adapter.operate(&device_id, operation, sequence).await,
                Err(e) => Err(OperateError::Refused(e.to_string())),
            };
            let _ = done.send(OperatorDone {
                device_id,
                operation,
                reason,
                result,
                reply,
            });
        });
    }

    /// Journals an operator's command the device carried out, or answers
    /// why it was not.
    pub(super) fn operator_done(&mut self, done: OperatorDone) {
        let OperatorDone {
            device_id,
            operation,
            reason,
            result,
            reply,
        } = done;
        let answer = match result {
            Ok(()) => self.commit(Change {
                events: vec![(String::new(), commanded(&device_id, operation, &reason))],
                ..Change::default()
            }),
            Err(OperateError::Unsupported(m)) | Err(OperateError::Refused(m)) => {
                Err(EngineError::FailedPrecondition(m))
            }
            Err(OperateError::Transport(e)) => Err(EngineError::Unavailable(format!(
                "no confirmation from device {device_id} for the {}: {}",
                operation.as_str(),
                e.message
            ))),
        };
        let _ = reply.send(answer);
    }

    /// An operator says how the step held on `device_id` ended. Only a step
    /// whose outcome is unknown can be resolved: any other step's device
    /// still reports on it (stop it instead).
    pub(super) fn resolve(
        &mut self,
        device_id: &str,
        completed: bool,
        reason: String,
    ) -> Result<(Task, Ticket), EngineError> {
        if !self.devices.contains_key(device_id) {
            return Err(EngineError::NotFound(format!("device {device_id}")));
        }
        let Some((task, step)) = self.held_step(device_id) else {
            return Err(EngineError::FailedPrecondition(format!(
                "device {device_id} holds no step"
            )));
        };
        let state = task.steps[step as usize].state;
        if state != StepState::OutcomeUnknown {
            return Err(EngineError::FailedPrecondition(format!(
                "step {step} of task {} on device {device_id} is {state:?}, not outcome unknown: the device still reports on it (stop it instead)",
                task.spec.task_id
            )));
        }
        if reason.is_empty() {
            return Err(EngineError::InvalidArgument(
                "reason: say what was seen on the device".into(),
            ));
        }
        let operation = if completed {
            "resolve_completed"
        } else {
            "resolve_failed"
        };
        let event = EventKind::DeviceCommanded {
            device_id: device_id.to_string(),
            operation: operation.to_string(),
            reason: reason.clone(),
        };
        self.transition_with(
            task,
            Input::Resolve {
                step,
                completed,
                reason,
            },
            vec![event],
        )
    }

    /// The task and step the device holds (a command of floorgate's).
    fn held_step(&self, device_id: &str) -> Option<(Task, u32)> {
        let current = self.devices.get(device_id)?.current.as_ref()?;
        let task = self.open.get(&current.task_id)?;
        let step = machine::active_step(task)?;
        (step.device_id.as_deref() == Some(device_id)).then(|| (task.clone(), step.index))
    }
}

fn commanded(device_id: &str, operation: DeviceOperation, reason: &str) -> EventKind {
    EventKind::DeviceCommanded {
        device_id: device_id.to_string(),
        operation: operation.as_str().to_string(),
        reason: reason.to_string(),
    }
}

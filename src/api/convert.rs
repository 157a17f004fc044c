//! Wire ↔ domain. Every protobuf field is destructured by name, so a new
//! field in the .proto breaks the build until it is handled here.

use std::collections::BTreeMap;

use tonic::Status;

use super::pb;
use crate::engine::adapter::Availability;
use crate::engine::model::{
    Event, EventKind, Step, StepRef, StepState, Task, TaskKind, TaskSpec, TaskState,
};
use crate::engine::runtime::DeviceStatus;

/// Limits on what the cloud may send.
pub const MAX_ID_LEN: usize = 128;
pub const MAX_ATTRIBUTES: usize = 32;
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 64;
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 1024;

/// A task the cloud sent that cannot be accepted, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task.{field}: {message}")]
pub struct InvalidTask {
    pub field: &'static str,
    pub message: String,
}

impl From<InvalidTask> for Status {
    fn from(e: InvalidTask) -> Status {
        super::errors::invalid(&format!("task.{}", e.field), e.message)
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidTask {
    InvalidTask {
        field,
        message: message.into(),
    }
}

/// The longest piece of a client's value an error message repeats.
pub const MAX_ECHO: usize = 128;
/// Reasons (cancel, operator commands) are journaled: at most this long.
pub const MAX_REASON_LEN: usize = 1024;

/// `v` cut to [`MAX_ECHO`] bytes (on a character boundary, marked with
/// `…`), for error messages: a client's 100 kB value must not come back in
/// a status message its own metadata limit refuses.
pub fn clip(v: &str) -> std::borrow::Cow<'_, str> {
    if v.len() <= MAX_ECHO {
        return std::borrow::Cow::Borrowed(v);
    }
    let mut end = MAX_ECHO;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &v[..end]))
}

/// An id a request names (task_id, device_id): required, at most
/// [`MAX_ID_LEN`] bytes. The message never repeats the value.
pub fn check_request_id(field: &str, v: &str) -> Result<(), Status> {
    if v.is_empty() {
        return Err(super::errors::invalid(field, "must not be empty"));
    }
    if v.len() > MAX_ID_LEN {
        return Err(super::errors::invalid(
            field,
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A reason a request carries: at most [`MAX_REASON_LEN`] bytes.
pub fn check_reason(v: &str) -> Result<(), Status> {
    if v.len() > MAX_REASON_LEN {
        return Err(super::errors::invalid(
            "reason",
            format!("longer than {MAX_REASON_LEN} bytes"),
        ));
    }
    Ok(())
}

fn check_id(field: &'static str, v: &str, required: bool) -> Result<(), InvalidTask> {
    if v.is_empty() {
        return if required {
            Err(invalid(field, "must not be empty"))
        } else {
            Ok(())
        };
    }
    if v.len() > MAX_ID_LEN {
        return Err(invalid(field, format!("longer than {MAX_ID_LEN} bytes")));
    }
    if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

impl TryFrom<pb::Task> for TaskSpec {
    type Error = InvalidTask;

    fn try_from(t: pb::Task) -> Result<TaskSpec, InvalidTask> {
        let pb::Task {
            task_id,
            kind,
            sku,
            quantity,
            load_id,
            source,
            destination,
            priority,
            deadline_unix_ms,
            attributes,
            // Set by the gateway; ignored on input.
            state: _,
            steps: _,
            reason: _,
            created_unix_ms: _,
            updated_unix_ms: _,
        } = t;
        check_id("task_id", &task_id, true)?;
        let kind = match pb::TaskKind::try_from(kind) {
            Ok(pb::TaskKind::Pick) => TaskKind::Pick,
            Ok(pb::TaskKind::Put) => TaskKind::Put,
            Ok(pb::TaskKind::Unspecified) => return Err(invalid("kind", "must be PICK or PUT")),
            Err(_) => return Err(invalid("kind", format!("unknown kind {kind}"))),
        };
        check_id("sku", &sku, false)?;
        if quantity == 0 {
            return Err(invalid("quantity", "must be at least 1"));
        }
        check_id("load_id", &load_id, false)?;
        check_id("source", &source, true)?;
        check_id("destination", &destination, true)?;
        if deadline_unix_ms < 0 {
            return Err(invalid("deadline_unix_ms", "must not be negative"));
        }
        if attributes.len() > MAX_ATTRIBUTES {
            return Err(invalid(
                "attributes",
                format!(
                    "{} entries, at most {MAX_ATTRIBUTES} allowed",
                    attributes.len()
                ),
            ));
        }
        for (k, v) in &attributes {
            if k.is_empty() || k.len() > MAX_ATTRIBUTE_KEY_LEN {
                return Err(invalid(
                    "attributes",
                    format!(
                        "key {:?} must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes",
                        clip(k)
                    ),
                ));
            }
            if v.len() > MAX_ATTRIBUTE_VALUE_LEN {
                return Err(invalid(
                    "attributes",
                    format!(
                        "value of {:?} is longer than {MAX_ATTRIBUTE_VALUE_LEN} bytes",
                        clip(k)
                    ),
                ));
            }
        }
        Ok(TaskSpec {
            task_id,
            kind,
            sku,
            quantity,
            load_id,
            source,
            destination,
            priority,
            deadline_unix_ms,
            attributes: attributes.into_iter().collect::<BTreeMap<_, _>>(),
        })
    }
}

pub fn task_state_to_pb(s: TaskState) -> pb::TaskState {
    match s {
        TaskState::Accepted => pb::TaskState::Accepted,
        TaskState::Planned => pb::TaskState::Planned,
        TaskState::Running => pb::TaskState::Running,
        TaskState::Completed => pb::TaskState::Completed,
        TaskState::Failed => pb::TaskState::Failed,
        TaskState::Cancelled => pb::TaskState::Cancelled,
        TaskState::Expired => pb::TaskState::Expired,
    }
}

/// A state filter from the wire; UNSPECIFIED and unknown values are errors.
pub fn task_state_from_pb(v: i32) -> Result<TaskState, Status> {
    Ok(match pb::TaskState::try_from(v) {
        Ok(pb::TaskState::Accepted) => TaskState::Accepted,
        Ok(pb::TaskState::Planned) => TaskState::Planned,
        Ok(pb::TaskState::Running) => TaskState::Running,
        Ok(pb::TaskState::Completed) => TaskState::Completed,
        Ok(pb::TaskState::Failed) => TaskState::Failed,
        Ok(pb::TaskState::Cancelled) => TaskState::Cancelled,
        Ok(pb::TaskState::Expired) => TaskState::Expired,
        _ => {
            return Err(super::errors::invalid(
                "states",
                format!("unknown task state {v}"),
            ))
        }
    })
}

fn step_state_to_pb(s: StepState) -> pb::StepState {
    match s {
        StepState::Pending => pb::StepState::Pending,
        StepState::Dispatched => pb::StepState::Dispatched,
        StepState::Acknowledged => pb::StepState::Acknowledged,
        StepState::Completed => pb::StepState::Completed,
        StepState::Failed => pb::StepState::Failed,
        StepState::Cancelled => pb::StepState::Cancelled,
        StepState::OutcomeUnknown => pb::StepState::OutcomeUnknown,
    }
}

pub fn step_to_pb(s: &Step) -> pb::Step {
    pb::Step {
        index: s.index,
        device_id: s.device_id.clone().unwrap_or_default(),
        device_kind: s.device_kind.as_str().to_string(),
        command: s.command.clone(),
        from: s.from.clone(),
        to: s.to.clone(),
        state: step_state_to_pb(s.state) as i32,
        reason: s.reason.clone(),
    }
}

fn spec_to_pb(s: &TaskSpec) -> pb::Task {
    pb::Task {
        task_id: s.task_id.clone(),
        kind: match s.kind {
            TaskKind::Pick => pb::TaskKind::Pick,
            TaskKind::Put => pb::TaskKind::Put,
        } as i32,
        sku: s.sku.clone(),
        quantity: s.quantity,
        load_id: s.load_id.clone(),
        source: s.source.clone(),
        destination: s.destination.clone(),
        priority: s.priority,
        deadline_unix_ms: s.deadline_unix_ms,
        attributes: s.attributes.clone().into_iter().collect(),
        ..Default::default()
    }
}

pub fn task_to_pb(t: &Task) -> pb::Task {
    pb::Task {
        state: task_state_to_pb(t.state) as i32,
        steps: t.steps.iter().map(step_to_pb).collect(),
        reason: t.reason.clone(),
        created_unix_ms: t.created_unix_ms,
        updated_unix_ms: t.updated_unix_ms,
        ..spec_to_pb(&t.spec)
    }
}

fn step_event(r: &StepRef) -> pb::StepEvent {
    pb::StepEvent {
        step_index: r.step_index,
        device_id: r.device_id.clone(),
        command: r.command.clone(),
        reason: r.reason.clone(),
        attempt: r.attempt,
    }
}

/// The event as the wire carries it, stamped with its journal's id.
pub fn event_to_pb(e: &Event, journal_id: &str) -> pb::Event {
    use pb::event::Kind;
    let ended = |reason: &str| pb::TaskEnded {
        reason: reason.to_string(),
    };
    let device = |id: &str, reason: &str| pb::DeviceEvent {
        device_id: id.to_string(),
        reason: reason.to_string(),
    };
    let kind = match &e.kind {
        EventKind::TaskAccepted { spec } => Kind::TaskAccepted(pb::TaskAccepted {
            task: Some(spec_to_pb(spec)),
        }),
        EventKind::TaskPlanned { steps } => Kind::TaskPlanned(pb::TaskPlanned {
            steps: steps.iter().map(step_to_pb).collect(),
        }),
        EventKind::TaskStarted => Kind::TaskStarted(ended("")),
        EventKind::StepDispatched(r) => Kind::StepDispatched(step_event(r)),
        EventKind::StepAcknowledged(r) => Kind::StepAcknowledged(step_event(r)),
        EventKind::StepCompleted(r) => Kind::StepCompleted(step_event(r)),
        EventKind::StepFailed(r) => Kind::StepFailed(step_event(r)),
        EventKind::StepCancelled(r) => Kind::StepCancelled(step_event(r)),
        EventKind::StepStopRequested(r) => Kind::StepStopRequested(step_event(r)),
        EventKind::StepOutcomeUnknown(r) => Kind::StepOutcomeUnknown(step_event(r)),
        EventKind::TaskCompleted => Kind::TaskCompleted(ended("")),
        EventKind::TaskFailed { reason } => Kind::TaskFailed(ended(reason)),
        EventKind::TaskCancelled { reason } => Kind::TaskCancelled(ended(reason)),
        EventKind::TaskExpired { reason } => Kind::TaskExpired(ended(reason)),
        EventKind::DeviceOnline { device_id } => Kind::DeviceOnline(device(device_id, "")),
        EventKind::DeviceOffline { device_id, reason } => {
            Kind::DeviceOffline(device(device_id, reason))
        }
        EventKind::TrafficResolved { device_id, reason } => {
            Kind::TrafficResolved(device(device_id, reason))
        }
        EventKind::DeviceAsleep { device_id, reason } => {
            Kind::DeviceAsleep(device(device_id, reason))
        }
        EventKind::DeviceFault { device_id, reason } => {
            Kind::DeviceFault(device(device_id, reason))
        }
        EventKind::DeviceCommanded {
            device_id,
            operation,
            reason,
        } => Kind::DeviceCommanded(pb::DeviceCommanded {
            device_id: device_id.clone(),
            operation: operation.clone(),
            reason: reason.clone(),
        }),
    };
    pb::Event {
        seq: e.seq,
        time_unix_ms: e.time_unix_ms,
        task_id: e.task_id.clone(),
        journal_id: journal_id.to_string(),
        kind: Some(kind),
    }
}

pub fn device_to_pb(d: &DeviceStatus) -> pb::Device {
    pb::Device {
        device_id: d.spec.id.clone(),
        kind: d.spec.kind.as_str().to_string(),
        profile: d.spec.profile.clone(),
        address: d.spec.address.clone(),
        availability: match d.availability {
            Availability::Offline => pb::DeviceAvailability::Offline,
            Availability::Online => pb::DeviceAvailability::Online,
            Availability::Fault => pb::DeviceAvailability::Fault,
            Availability::Asleep => pb::DeviceAvailability::Asleep,
        } as i32,
        reason: d.reason.clone(),
        current: d.current.as_ref().map(|c| pb::CurrentCommand {
            task_id: c.task_id.clone(),
            step_index: c.step,
            command: c.command.clone(),
        }),
        traffic: None,
    }
}

//! The domain types of the task path: what a task is, its steps, and the
//! events that report every change. No wire format lives here: the gRPC layer
//! converts protobuf into these types at the edge, and the store persists them
//! with serde.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What the cloud asked for. Immutable once accepted: the body that
/// idempotent submission compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub task_id: String,
    pub kind: TaskKind,
    pub sku: String,
    pub quantity: u32,
    pub load_id: String,
    pub source: String,
    pub destination: String,
    pub priority: i32,
    pub deadline_unix_ms: i64,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Storage → station.
    Pick,
    /// Station → storage.
    Put,
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskKind::Pick => "pick",
            TaskKind::Put => "put",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Accepted,
    Planned,
    Running,
    Completed,
    Failed,
    Cancelled,
    /// Not started by its deadline; nothing was done.
    Expired,
}

impl TaskState {
    pub const ALL: [TaskState; 7] = [
        TaskState::Accepted,
        TaskState::Planned,
        TaskState::Running,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Expired,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled | TaskState::Expired
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Accepted => "accepted",
            TaskState::Planned => "planned",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Expired => "expired",
        }
    }
}

/// The kind of machine a step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Amr,
    Asrs,
    Conveyor,
    Lift,
}

impl DeviceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Amr => "amr",
            DeviceKind::Asrs => "asrs",
            DeviceKind::Conveyor => "conveyor",
            DeviceKind::Lift => "lift",
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Dispatched,
    Acknowledged,
    Completed,
    Failed,
    Cancelled,
    /// The device may have the command, and floorgate cannot tell what it
    /// did with it (a send it never confirmed, a stop it never confirmed, a
    /// command that ended while floorgate was away on a device with no
    /// per-command record). The device stays held for the step until it
    /// reports the command's end or an operator resolves the step.
    OutcomeUnknown,
}

impl StepState {
    /// On a device: the device is held for the step.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            StepState::Dispatched | StepState::Acknowledged | StepState::OutcomeUnknown
        )
    }
}

/// What a step does when its device fails it (or it times out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The task fails, naming the step and the reason.
    #[default]
    Fail,
    /// The step is planned again onto another of its candidates (another
    /// AMR, say), at most `max_reassignments` times; the task fails only
    /// when no untried candidate is left.
    RetryOtherDevice,
}

/// The command id of attempt `attempt` of a task's step: `{task}#{step}` for
/// the first attempt (as before attempts existed, so an outbox written by an
/// older build keeps its ids), `{task}#{step}.{attempt}` for a re-planned
/// one. Stable across restarts and unique per dispatch: the protocols'
/// idempotency keys derive from it (VDA 5050 `orderId`, the AS/RS task id).
pub fn command_id(task_id: &str, step: u32, attempt: u32) -> String {
    if attempt == 0 {
        format!("{task_id}#{step}")
    } else {
        format!("{task_id}#{step}.{attempt}")
    }
}

/// One device command of a task's plan.
///
/// Fields added after the first release carry serde defaults, so tasks and
/// events written by an older build still load (a step without a persisted
/// dispatch time or timeout simply has no timer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub index: u32,
    pub device_kind: DeviceKind,
    /// The devices that may perform the step (one for a fixed device, the
    /// fleet for an AMR transport).
    pub candidates: Vec<String>,
    /// The device chosen at dispatch.
    pub device_id: Option<String>,
    pub command: String,
    pub from: String,
    pub to: String,
    pub state: StepState,
    pub reason: String,
    /// How long the step may stay on its device, in milliseconds (0: no
    /// limit). Fixed when the task is planned.
    #[serde(default)]
    pub timeout_ms: u64,
    /// When the current attempt was dispatched (persisted with the
    /// dispatch), so the timeout's deadline survives a restart.
    #[serde(default)]
    pub dispatched_unix_ms: Option<i64>,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// With [`OnFailure::RetryOtherDevice`]: how many times the step may be
    /// planned onto another device.
    #[serde(default)]
    pub max_reassignments: u32,
    /// 0 for the first dispatch, one more for each re-planning.
    #[serde(default)]
    pub attempt: u32,
    /// Devices that failed this step; it is not planned onto them again.
    #[serde(default)]
    pub failed_devices: Vec<String>,
    /// Set when floorgate told the device to stop the step for its own
    /// reasons (the step's timeout, an operator's stop): the step fails with
    /// this reason once the device confirms it stopped — not before, so a
    /// fallback never puts the step on a second device while the first may
    /// still be at it.
    #[serde(default)]
    pub stop_reason: Option<String>,
}

impl Step {
    /// The command id of the step's current attempt.
    pub fn command_id(&self, task_id: &str) -> String {
        command_id(task_id, self.index, self.attempt)
    }
}

/// A task as the gateway holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub spec: TaskSpec,
    pub state: TaskState,
    pub steps: Vec<Step>,
    pub reason: String,
    /// Set when a cancel arrived while a step was running on a device: the
    /// task ends CANCELLED once the device has stopped.
    #[serde(default)]
    pub cancel_requested: Option<String>,
    pub created_unix_ms: i64,
    pub updated_unix_ms: i64,
}

impl Task {
    pub fn id(&self) -> &str {
        &self.spec.task_id
    }
}

/// One entry of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time_unix_ms: i64,
    /// Empty for device events.
    pub task_id: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TaskAccepted {
        spec: TaskSpec,
    },
    TaskPlanned {
        steps: Vec<Step>,
    },
    TaskStarted,
    StepDispatched(StepRef),
    StepAcknowledged(StepRef),
    StepCompleted(StepRef),
    StepFailed(StepRef),
    StepCancelled(StepRef),
    /// floorgate told the device to stop the step (`reason`: the timeout,
    /// an operator); the step ends when the device says how it ended.
    StepStopRequested(StepRef),
    /// floorgate cannot tell what the device did with the step's command
    /// (`reason` says why); the device is held until it reports or an
    /// operator resolves the step.
    StepOutcomeUnknown(StepRef),
    TaskCompleted,
    TaskFailed {
        reason: String,
    },
    TaskCancelled {
        reason: String,
    },
    /// Not started by its deadline.
    TaskExpired {
        reason: String,
    },
    DeviceOnline {
        device_id: String,
    },
    DeviceOffline {
        device_id: String,
        reason: String,
    },
    DeviceFault {
        device_id: String,
        reason: String,
    },
    /// Connected but asleep until woken (see [`Availability::Asleep`](super::adapter::Availability::Asleep)).
    DeviceAsleep {
        device_id: String,
        reason: String,
    },
    /// An operator's command to a device (reset, stop, pause, resume,
    /// resolve), journaled once carried out, with the operator's reason.
    DeviceCommanded {
        device_id: String,
        operation: String,
        reason: String,
    },
    /// Traffic control ended a deadlock among AMRs by sending this robot
    /// aside (the reason says where to and whom it waited for).
    TrafficResolved {
        device_id: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRef {
    pub step_index: u32,
    pub device_id: String,
    pub command: String,
    pub reason: String,
    /// Which attempt of the step (0 for the first): a StepFailed of a step
    /// with a fallback is followed by a StepDispatched of the next attempt.
    #[serde(default)]
    pub attempt: u32,
}

/// The current wall-clock time in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

//! The `state` message (AGV → master control), one type for 2.0, 2.1 and 3.0.
//!
//! The fields carry their 2.x names; a 3.0 `state` decodes into the same type through serde
//! aliases (`powerSupply` → [`State::battery_state`], `mobileRobotPosition` →
//! [`State::agv_position`], `activeEmergencyStop` → [`SafetyState::e_stop`], every
//! `…Descriptor` → `…Description`, `actionResult` → `resultDescription`), so the hot path
//! decodes every version in place into one scratch `State`. A 3.0 robot reports its instant
//! actions apart, in [`State::instant_action_states`]; [`State::action_status`] looks in both.
//! Encoding writes the names of the header's version ([`super::v3`]). Decoding is lenient about
//! spelling (either name is taken in any version), strict about shape: a missing required
//! field, wrong type or unknown enum value is an error in every version.

use serde::{Deserialize, Serialize};

use super::order::{NodePosition, Trajectory};
use super::zones::{ZoneRequest, ZoneSetState};

/// The full state of an AGV (topic `state`).
///
/// The header fields are members of their own, not a flattened [`Header`](super::Header) as in the other
/// messages: `state` is the message a fleet sends most, and serde decodes a flattened struct by
/// buffering the fields it does not know first, which cost 18 % of a `state` decode
/// (`cargo bench --bench vda5050_decode`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Rising by one with each `state` sent.
    pub header_id: u32,
    /// ISO 8601 UTC, `YYYY-MM-DDTHH:mm:ss.ffZ`.
    pub timestamp: String,
    /// Protocol version `[Major].[Minor].[Patch]`.
    pub version: String,
    /// Manufacturer of the AGV.
    pub manufacturer: String,
    /// Serial number of the AGV.
    pub serial_number: String,
    /// Maps stored on the vehicle (2.1 and later; omitted for 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps: Option<Vec<MapState>>,
    /// Zone sets stored on the robot and whether each is enabled (3.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_sets: Option<Vec<ZoneSetState>>,
    /// Current or last order; `""` if none.
    pub order_id: String,
    /// Last accepted update of that order; 0 if none.
    pub order_update_id: u32,
    /// The zone set in use, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_set_id: Option<String>,
    /// Last reached node; `""` if none.
    pub last_node_id: String,
    /// Sequence id of the last reached node; 0 if none.
    pub last_node_sequence_id: u32,
    /// Nodes still to traverse (empty when idle).
    pub node_states: Vec<NodeState>,
    /// Edges still to traverse (empty when idle).
    pub edge_states: Vec<EdgeState>,
    /// Current pose (3.0: `mobileRobotPosition`).
    #[serde(
        default,
        alias = "mobileRobotPosition",
        skip_serializing_if = "Option::is_none"
    )]
    pub agv_position: Option<AgvPosition>,
    /// Velocity in vehicle coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    /// Loads carried; omitted if the AGV cannot tell, empty if unloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loads: Option<Vec<Load>>,
    /// Driving and/or rotating.
    pub driving: bool,
    /// Paused by button or instant action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The base is running low; master control should extend it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_base_request: Option<bool>,
    /// Distance past `lastNodeId` (m), for line-guided vehicles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_since_last_node: Option<f64>,
    /// The robot's requests to enter RELEASE zones or replan in COORDINATED_REPLANNING ones
    /// (3.0); answered on the `responses` topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_requests: Option<Vec<ZoneRequest>>,
    /// States of the order's actions (2.x: and of instant actions since the last order).
    pub action_states: Vec<ActionState>,
    /// States of instant actions (3.0, where it is required; absent in 2.x, which reports
    /// them in `actionStates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_action_states: Option<Vec<ActionState>>,
    /// Battery information (3.0: `powerSupply`).
    #[serde(alias = "powerSupply")]
    pub battery_state: BatteryState,
    /// Who controls the AGV.
    pub operating_mode: OperatingMode,
    /// Active errors; empty if none.
    pub errors: Vec<AgvError>,
    /// Informational messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information: Option<Vec<Info>>,
    /// Safety information.
    pub safety_state: SafetyState,
}

impl State {
    /// The state of action `action_id`, if the AGV reports it (among `actionStates` or, in
    /// 3.0, `instantActionStates`).
    pub fn action_status(&self, action_id: &str) -> Option<ActionStatus> {
        action_status(&self.action_states, action_id)
            .or_else(|| action_status(self.instant_action_states.as_deref()?, action_id))
    }

    /// Whether the AGV is executing an order or waiting for an update (see [`is_busy`]).
    pub fn is_busy(&self) -> bool {
        is_busy(&self.node_states, &self.action_states)
    }

    /// Whether an error of level FATAL is active.
    pub fn has_fatal_error(&self) -> bool {
        self.fatal_error().is_some()
    }

    /// The first active error of level FATAL.
    pub fn fatal_error(&self) -> Option<&AgvError> {
        fatal_error(&self.errors)
    }
}

/// The status of action `action_id` among a state's `actionStates`.
pub fn action_status(action_states: &[ActionState], action_id: &str) -> Option<ActionStatus> {
    action_states
        .iter()
        .find(|a| a.action_id == action_id)
        .map(|a| a.action_status)
}

/// Whether an AGV with these node and action states is executing an order or waiting for an
/// update: node states remain, or an action is neither FINISHED nor FAILED (section 6.6.2,
/// step 3).
pub fn is_busy(node_states: &[NodeState], action_states: &[ActionState]) -> bool {
    !node_states.is_empty() || action_states.iter().any(|a| !a.action_status.is_done())
}

/// The first active error of level FATAL.
pub fn fatal_error(errors: &[AgvError]) -> Option<&AgvError> {
    errors.iter().find(|e| e.error_level == ErrorLevel::Fatal)
}

/// A map on the vehicle (2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapState {
    /// Map identification.
    pub map_id: String,
    /// Map version.
    pub map_version: String,
    /// Additional information (3.0: `mapDescriptor`).
    #[serde(
        default,
        alias = "mapDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub map_description: Option<String>,
    /// Whether this version is in use.
    pub map_status: MapStatus,
}

/// Whether a map version is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MapStatus {
    /// In use.
    Enabled,
    /// Stored, not in use.
    Disabled,
}

/// A node still to traverse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeState {
    /// Node identification.
    pub node_id: String,
    /// Its sequence id in the order.
    pub sequence_id: u32,
    /// Additional information (3.0: `nodeDescriptor`).
    #[serde(
        default,
        alias = "nodeDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_description: Option<String>,
    /// Base (`true`) or horizon (`false`).
    pub released: bool,
    /// Where the node is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_position: Option<NodePosition>,
}

/// An edge still to traverse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeState {
    /// Edge identification.
    pub edge_id: String,
    /// Its sequence id in the order.
    pub sequence_id: u32,
    /// Additional information (3.0: `edgeDescriptor`).
    #[serde(
        default,
        alias = "edgeDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub edge_description: Option<String>,
    /// Base (`true`) or horizon (`false`).
    pub released: bool,
    /// The planned path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Trajectory>,
}

/// The AGV's pose on a map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvPosition {
    /// X (m).
    pub x: f64,
    /// Y (m).
    pub y: f64,
    /// Orientation (rad).
    pub theta: f64,
    /// The map.
    pub map_id: String,
    /// Additional information on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_description: Option<String>,
    /// Whether the position is initialized (3.0: `localized`).
    #[serde(alias = "localized")]
    pub position_initialized: bool,
    /// Localization quality in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localization_score: Option<f64>,
    /// Deviation range (m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation_range: Option<f64>,
}

/// Velocity in vehicle coordinates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Velocity {
    /// m/s along X.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vx: Option<f64>,
    /// m/s along Y.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vy: Option<f64>,
    /// rad/s around Z.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omega: Option<f64>,
}

/// A load on the AGV.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    /// Load identification (barcode, RFID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_id: Option<String>,
    /// Load type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_type: Option<String>,
    /// Which load handling unit carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_position: Option<String>,
    /// Weight (kg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// The state of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionState {
    /// The action's id.
    pub action_id: String,
    /// The action's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<String>,
    /// Additional information (3.0: `actionDescriptor`).
    #[serde(
        default,
        alias = "actionDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub action_description: Option<String>,
    /// Where in its life cycle the action is.
    pub action_status: ActionStatus,
    /// The result, e.g. of an RFID read (3.0: `actionResult`).
    #[serde(
        default,
        alias = "actionResult",
        skip_serializing_if = "Option::is_none"
    )]
    pub result_description: Option<String>,
}

/// The life cycle of an action (section 6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionStatus {
    /// Received; its node or edge is not reached yet.
    Waiting,
    /// Triggered; preparing.
    Initializing,
    /// Running.
    Running,
    /// Paused by a pause instant action or button.
    Paused,
    /// Failed, and may be retried by a `retry` instant action (3.0).
    Retriable,
    /// Done.
    Finished,
    /// Could not be finished.
    Failed,
}

impl ActionStatus {
    /// FINISHED or FAILED.
    pub fn is_done(self) -> bool {
        matches!(self, ActionStatus::Finished | ActionStatus::Failed)
    }
}

/// Battery information (3.0: `powerSupply`, whose `stateOfCharge` and `range` are
/// `batteryCharge` and `reach` here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatteryState {
    /// State of charge (%).
    #[serde(alias = "stateOfCharge")]
    pub battery_charge: f64,
    /// Voltage (V).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_voltage: Option<f64>,
    /// Health (%), 0–100; an integer in 2.0 (a number in 2.1 and 3.0 is rounded).
    #[serde(
        default,
        deserialize_with = "lenient_u8",
        skip_serializing_if = "Option::is_none"
    )]
    pub battery_health: Option<u8>,
    /// Charging in progress.
    pub charging: bool,
    /// Estimated reach (m; 3.0: `range`, a number, rounded here).
    #[serde(
        default,
        alias = "range",
        deserialize_with = "lenient_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub reach: Option<u32>,
}

/// A non-negative number, rounded to the nearest integer: `reach`/`range` and
/// `batteryHealth` are integers in some versions and numbers in others.
fn lenient_number<'de, D: serde::Deserializer<'de>>(
    d: D,
    max: f64,
) -> Result<Option<f64>, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    match v {
        Some(x) if !(x.is_finite() && (0.0..=max).contains(&x.round())) => Err(
            serde::de::Error::custom(format!("{x} is outside 0..={max}")),
        ),
        other => Ok(other.map(f64::round)),
    }
}

fn lenient_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(lenient_number(d, f64::from(u32::MAX))?.map(|x| x as u32))
}

fn lenient_u8<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    Ok(lenient_number(d, f64::from(u8::MAX))?.map(|x| x as u8))
}

/// Who controls the AGV (table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OperatingMode {
    /// Starting up, not yet under master control (3.0).
    Startup,
    /// Fully under master control.
    #[default]
    Automatic,
    /// Under master control, speed from the HMI.
    SemiAutomatic,
    /// Under master control, but a person intervenes locally, e.g. to confirm (3.0).
    Intervened,
    /// Not under master control; driven by hand.
    Manual,
    /// Being serviced.
    Service,
    /// Being taught (3.0: `TEACH_IN`).
    #[serde(alias = "TEACH_IN")]
    TeachIn,
}

/// An error reported by the AGV (`errors[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvError {
    /// Type/name of the error, e.g. `orderUpdateError`.
    pub error_type: String,
    /// References (nodeId, orderId, actionId…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_references: Option<Vec<Reference>>,
    /// Details and possible causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// How to solve it (2.1 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_hint: Option<String>,
    /// WARNING or FATAL.
    pub error_level: ErrorLevel,
}

/// A key/value reference in an error or information entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// e.g. `orderId`.
    pub reference_key: String,
    /// e.g. the order's id.
    pub reference_value: String,
}

impl Reference {
    /// A reference.
    pub fn new(key: &str, value: &str) -> Self {
        Reference {
            reference_key: key.to_string(),
            reference_value: value.to_string(),
        }
    }
}

/// The severity of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ErrorLevel {
    /// Self-resolving; the AGV is ready to start.
    Warning,
    /// Needs attention now; the AGV goes on with its order and takes new ones (3.0).
    Urgent,
    /// Needs attention now; the AGV stops its order but takes new ones (3.0).
    Critical,
    /// The AGV is not in running condition; a human must intervene.
    Fatal,
}

/// An informational entry (`information[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// Type/name.
    pub info_type: String,
    /// References.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_references: Option<Vec<Reference>>,
    /// Description (3.0: `infoDescriptor`).
    #[serde(
        default,
        alias = "infoDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub info_description: Option<String>,
    /// DEBUG or INFO.
    pub info_level: InfoLevel,
}

/// The level of an information entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InfoLevel {
    /// For debugging.
    Debug,
    /// For visualization.
    Info,
}

/// Safety information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyState {
    /// Which e-stop, if any, is active (3.0: `activeEmergencyStop`, without `AUTOACK`).
    #[serde(alias = "activeEmergencyStop")]
    pub e_stop: EStop,
    /// Protective field violated.
    pub field_violation: bool,
}

/// The acknowledge type of an active e-stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EStop {
    /// Auto-acknowledgeable (bumper, protective field).
    AutoAck,
    /// Acknowledged at the vehicle.
    Manual,
    /// Acknowledged remotely.
    Remote,
    /// No e-stop active.
    None,
}

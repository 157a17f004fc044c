//! The two topics 3.0 adds, both master control → AGV: `zoneSet` (the zones of a map) and
//! `responses` (answers to the zone and corridor requests a robot lists in its `state`). The
//! zone kinds are those of the 3.0 text (section 6.4.1); the parameters a kind needs
//! (`maximumSpeed` of a SPEED_LIMIT zone, `releaseLossBehavior` of a RELEASE zone, …) are
//! optional fields, required by the 3.0 schema only for their kind.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::header::Header;
use super::order::BlockingType;

/// A zone set for one map (topic `zoneSet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSetMessage {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// The zone set.
    pub zone_set: ZoneSet,
}

/// The zones of one map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSet {
    /// The map the zones belong to.
    pub map_id: String,
    /// Globally unique id of this zone set.
    pub zone_set_id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_set_descriptor: Option<String>,
    /// The zones.
    pub zones: Vec<Zone>,
}

/// One zone: a polygon of at least three vertices and what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    /// Unique within the zone set.
    pub zone_id: String,
    /// What the zone means.
    pub zone_type: ZoneType,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_descriptor: Option<String>,
    /// The polygon, in the map's coordinates (m).
    pub vertices: Vec<Vertex>,
    /// RELEASE: what the robot does when its release is lost inside the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_loss_behavior: Option<ReleaseLossBehavior>,
    /// SPEED_LIMIT: the speed limit (m/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_speed: Option<f64>,
    /// ACTION: actions on entering the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_actions: Option<Vec<ZoneAction>>,
    /// ACTION: actions while in the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during_actions: Option<Vec<ZoneAction>>,
    /// ACTION: actions on leaving the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_actions: Option<Vec<ZoneAction>>,
    /// PRIORITY: preference in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_factor: Option<f64>,
    /// PENALTY: penalty in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty_factor: Option<f64>,
    /// DIRECTED, BIDIRECTED: the direction of travel (rad).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<f64>,
    /// The other fields of a kind (`directedLimitation`, `bidirectedLimitation`, …), as JSON.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Zone {
    /// A zone of `zone_type` with no kind-specific parameters.
    pub fn new(zone_id: &str, zone_type: ZoneType, vertices: Vec<Vertex>) -> Self {
        Zone {
            zone_id: zone_id.to_string(),
            zone_type,
            zone_descriptor: None,
            vertices,
            release_loss_behavior: None,
            maximum_speed: None,
            entry_actions: None,
            during_actions: None,
            exit_actions: None,
            priority_factor: None,
            penalty_factor: None,
            direction: None,
            other: Map::new(),
        }
    }
}

/// The zone kinds of 3.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ZoneType {
    /// Robots must not enter.
    Blocked,
    /// Robots follow the lines of their order, no free navigation.
    LineGuided,
    /// Robots need a release (a granted zone request) to enter.
    Release,
    /// Robots ask master control before replanning inside.
    CoordinatedReplanning,
    /// A speed limit.
    SpeedLimit,
    /// Actions on entry, inside and on exit.
    Action,
    /// Preferred for planning.
    Priority,
    /// Avoided in planning.
    Penalty,
    /// One direction of travel.
    Directed,
    /// A direction and its opposite.
    Bidirected,
}

/// What a robot does when it loses its release inside a RELEASE zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReleaseLossBehavior {
    /// Stop and report `RELEASE_LOST`.
    Stop,
    /// Drive on.
    Continue,
    /// Leave the zone.
    Evacuate,
}

/// A corner of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Vertex {
    /// X (m).
    pub x: f64,
    /// Y (m).
    pub y: f64,
}

/// An action of an ACTION zone (no id: the zone names it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneAction {
    /// The action's name.
    pub action_type: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_descriptor: Option<String>,
    /// What may happen meanwhile.
    pub blocking_type: BlockingType,
    /// Parameters, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Vec<Value>>,
}

/// Answers to a robot's requests (topic `responses`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Responses {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// The answers.
    pub responses: Vec<Response>,
}

/// The answer to one request (a `zoneRequests` or `edgeRequests` entry of the robot's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The request's `requestId`.
    pub request_id: String,
    /// The answer.
    pub grant_type: GrantType,
    /// Until when a grant holds (ISO 8601 UTC), if it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expiry: Option<String>,
}

/// How master control answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GrantType {
    /// Granted.
    Granted,
    /// Received; not granted yet.
    Queued,
    /// An earlier grant is withdrawn.
    Revoked,
    /// Refused.
    Rejected,
}

/// A zone set as a robot reports it in its `state` (3.0 `zoneSets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSetState {
    /// The zone set.
    pub zone_set_id: String,
    /// The map it belongs to.
    pub map_id: String,
    /// Whether the robot uses it (at most one ENABLED per map).
    pub zone_set_status: ZoneSetStatus,
}

/// Whether a stored zone set is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ZoneSetStatus {
    /// In use.
    Enabled,
    /// Stored, not in use (every zone set arrives so, until `enableZoneSet`).
    Disabled,
}

/// A robot's request concerning a zone (3.0 `zoneRequests`, section 6.4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneRequest {
    /// Unique among the robot's active requests.
    pub request_id: String,
    /// ACCESS (a RELEASE zone) or REPLANNING (a COORDINATED_REPLANNING zone).
    pub request_type: ZoneRequestType,
    /// The zone, unique within its zone set.
    pub zone_id: String,
    /// The zone set the zone belongs to.
    pub zone_set_id: String,
    /// Where the request stands, as the robot sees it.
    pub request_status: RequestStatus,
    /// REPLANNING: the planned path through the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<super::order::Trajectory>,
}

/// What a zone request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ZoneRequestType {
    /// Entering a RELEASE zone.
    Access,
    /// A path in a COORDINATED_REPLANNING zone.
    Replanning,
}

/// The life cycle of a request on the robot (section 6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RequestStatus {
    /// Stated, not answered yet.
    Requested,
    /// Granted by master control.
    Granted,
    /// Master control withdrew the grant.
    Revoked,
    /// The grant's lease ran out.
    Expired,
    /// Master control acknowledged it without granting (yet).
    Queued,
}

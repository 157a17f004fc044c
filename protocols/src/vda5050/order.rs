//! The `order` and `instantActions` messages (master control → AGV) and the action type they
//! share, one type for 2.0, 2.1 and 3.0: fields carry their 2.x names, the 3.0 names decode
//! through serde aliases (`maximumSpeed`, `…Descriptor`, `corridorReferencePoint`, …), and a
//! 3.0 `allowedDeviationXY` ellipse `{a, b, theta}` decodes as its smaller half-axis. Encoding
//! writes the names of the header's version ([`super::v3`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::header::Header;

/// An order or order update (topic `order`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// Identifies all messages of one order.
    pub order_id: String,
    /// Unique per `orderId`; rises with each update.
    pub order_update_id: u32,
    /// The zone set used for planning, if zones are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_set_id: Option<String>,
    /// Nodes to traverse, in order; even `sequenceId`s.
    pub nodes: Vec<Node>,
    /// Edges between consecutive nodes; odd `sequenceId`s.
    pub edges: Vec<Edge>,
}

/// A node of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Node identification.
    pub node_id: String,
    /// Position in the order's sequence (even numbers).
    pub sequence_id: u32,
    /// Additional information on the node (3.0: `nodeDescriptor`).
    #[serde(
        default,
        alias = "nodeDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_description: Option<String>,
    /// `true`: part of the base; `false`: part of the horizon.
    pub released: bool,
    /// Where the node is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_position: Option<NodePosition>,
    /// Actions to run when the node is reached.
    pub actions: Vec<Action>,
}

/// A position on a map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePosition {
    /// X in metres.
    pub x: f64,
    /// Y in metres.
    pub y: f64,
    /// Orientation in radians, [-π, π].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f64>,
    /// Radius within which the node counts as traversed (metres). 3.0 sends an ellipse
    /// `{a, b, theta}`: read as its smaller half-axis, written as a circle.
    #[serde(
        default,
        rename = "allowedDeviationXY",
        deserialize_with = "deviation_xy",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_deviation_xy: Option<f64>,
    /// Allowed orientation deviation (radians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_deviation_theta: Option<f64>,
    /// The map the position refers to.
    pub map_id: String,
    /// Additional information on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_description: Option<String>,
}

/// `allowedDeviationXY`: a radius (2.x) or an ellipse `{a, b, theta}` (3.0), read as the
/// radius of the largest circle inside it.
fn deviation_xy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Deviation {
        Radius(f64),
        Ellipse { a: f64, b: f64 },
    }
    Ok(Option::<Deviation>::deserialize(d)?.map(|v| match v {
        Deviation::Radius(r) => r,
        Deviation::Ellipse { a, b } => a.min(b),
    }))
}

/// A directed edge of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    /// Edge identification.
    pub edge_id: String,
    /// Position in the order's sequence (odd numbers).
    pub sequence_id: u32,
    /// Additional information on the edge (3.0: `edgeDescriptor`).
    #[serde(
        default,
        alias = "edgeDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub edge_description: Option<String>,
    /// `true`: part of the base; `false`: part of the horizon.
    pub released: bool,
    /// The node the edge starts at (2.x; 3.0 leaves it out, it is the node before the edge:
    /// `""` when absent).
    #[serde(default)]
    pub start_node_id: String,
    /// The node the edge ends at (2.x; 3.0 leaves it out, it is the node after the edge).
    #[serde(default)]
    pub end_node_id: String,
    /// Maximum speed on the edge (m/s; 3.0: `maximumSpeed`).
    #[serde(
        default,
        alias = "maximumSpeed",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_speed: Option<f64>,
    /// Maximum height of vehicle and load (m; 3.0: `maximumMobileRobotHeight`).
    #[serde(
        default,
        alias = "maximumMobileRobotHeight",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_height: Option<f64>,
    /// Minimum height of the load handling device (m; 3.0:
    /// `minimumLoadHandlingDeviceHeight`).
    #[serde(
        default,
        alias = "minimumLoadHandlingDeviceHeight",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_height: Option<f64>,
    /// Orientation on the edge (radians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<f64>,
    /// How `orientation` is meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation_type: Option<OrientationType>,
    /// Direction at junctions for line-guided vehicles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Whether rotation is allowed on the edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_allowed: Option<bool>,
    /// Maximum rotation speed (rad/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rotation_speed: Option<f64>,
    /// Length of the path (m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<f64>,
    /// The path as a NURBS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Trajectory>,
    /// Allowed deviation from the trajectory (2.1 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corridor: Option<Corridor>,
    /// Actions active while on the edge.
    pub actions: Vec<Action>,
}

/// How an edge's `orientation` is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrientationType {
    /// Relative to the map.
    Global,
    /// Tangential to the edge (the default).
    Tangential,
}

/// A NURBS trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trajectory {
    /// Degree of the curve (≥ 1; an integer on the wire).
    pub degree: u32,
    /// Knot values in [0, 1].
    pub knot_vector: Vec<f64>,
    /// Control points, including start and end.
    pub control_points: Vec<ControlPoint>,
}

/// A control point of a NURBS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPoint {
    /// X in world coordinates.
    pub x: f64,
    /// Y in world coordinates.
    pub y: f64,
    /// Weight (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

/// Boundaries within which the vehicle may leave its trajectory (2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Corridor {
    /// Width to the left (m).
    pub left_width: f64,
    /// Width to the right (m).
    pub right_width: f64,
    /// Which point must stay inside (3.0: `corridorReferencePoint`).
    #[serde(
        default,
        alias = "corridorReferencePoint",
        skip_serializing_if = "Option::is_none"
    )]
    pub corridor_ref_point: Option<CorridorRefPoint>,
}

/// The reference of a corridor's boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CorridorRefPoint {
    /// The kinematic center (3.0: `KINEMATIC_CENTER`).
    #[serde(alias = "KINEMATIC_CENTER")]
    KinematicCenter,
    /// The vehicle contour.
    Contour,
}

/// An action on a node, an edge, or sent as an instant action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// The action's name, e.g. `pick`.
    pub action_type: String,
    /// Unique id, echoed in `actionStates`.
    pub action_id: String,
    /// Additional information (3.0: `actionDescriptor`).
    #[serde(
        default,
        alias = "actionDescriptor",
        skip_serializing_if = "Option::is_none"
    )]
    pub action_description: Option<String>,
    /// Whether driving and other actions may go on meanwhile.
    pub blocking_type: BlockingType,
    /// Parameters, e.g. `loadId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Vec<ActionParameter>>,
}

impl Action {
    /// An action without parameters.
    pub fn new(action_type: &str, action_id: &str, blocking_type: BlockingType) -> Self {
        Action {
            action_type: action_type.to_string(),
            action_id: action_id.to_string(),
            action_description: None,
            blocking_type,
            action_parameters: None,
        }
    }

    /// Adds a parameter.
    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.action_parameters
            .get_or_insert_with(Vec::new)
            .push(ActionParameter {
                key: key.to_string(),
                value: value.into(),
            });
        self
    }

    /// The value of parameter `key`, if present.
    pub fn param(&self, key: &str) -> Option<&Value> {
        self.action_parameters
            .as_deref()?
            .iter()
            .find(|p| p.key == key)
            .map(|p| &p.value)
    }

    /// The value of parameter `key` if it is a string.
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.param(key).and_then(Value::as_str)
    }
}

/// A key/value parameter of an action; the value may be any JSON type except null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionParameter {
    /// The parameter name.
    pub key: String,
    /// The parameter value.
    pub value: Value,
}

/// What may happen while an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BlockingType {
    /// Driving and other actions may go on.
    None,
    /// Other actions may go on, driving not.
    Soft,
    /// Driving may go on, other actions not (3.0).
    Single,
    /// Nothing else may go on.
    Hard,
}

/// Actions to perform now (topic `instantActions`). The field is `actions` in 2.x and 3.0;
/// for robot stacks that still use the 1.x name `instantActions`,
/// [`super::v3::legacy_instant_actions`] writes it and [`super::v3::from_legacy_instant_actions`]
/// reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstantActions {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// The actions, run in list order.
    pub actions: Vec<Action>,
}

/// Well-known action types of section 6.8.
pub mod action_types {
    /// Pick a load.
    pub const PICK: &str = "pick";
    /// Drop a load.
    pub const DROP: &str = "drop";
    /// Cancel the current order (instant).
    pub const CANCEL_ORDER: &str = "cancelOrder";
    /// Enter pause mode (instant).
    pub const START_PAUSE: &str = "startPause";
    /// Leave pause mode (instant).
    pub const STOP_PAUSE: &str = "stopPause";
    /// Ask for a state message (instant).
    pub const STATE_REQUEST: &str = "stateRequest";
    /// Ask for the factsheet (instant).
    pub const FACTSHEET_REQUEST: &str = "factsheetRequest";
    /// Start charging.
    pub const START_CHARGING: &str = "startCharging";
    /// Stop charging.
    pub const STOP_CHARGING: &str = "stopCharging";
    /// Reset the pose.
    pub const INIT_POSITION: &str = "initPosition";
    /// Enter hibernate mode (instant, 3.0).
    pub const START_HIBERNATION: &str = "startHibernation";
    /// Leave hibernate mode: the wake-up (instant, 3.0).
    pub const STOP_HIBERNATION: &str = "stopHibernation";
    /// Enable a zone set the robot holds (instant, 3.0; parameter `zoneSetId`).
    pub const ENABLE_ZONE_SET: &str = "enableZoneSet";
    /// Delete a zone set from the robot (instant, 3.0; parameter `zoneSetId`).
    pub const DELETE_ZONE_SET: &str = "deleteZoneSet";
}

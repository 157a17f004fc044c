//! The `factsheet` message: enough of it to read what an AGV type can do
//! (`protocolFeatures.agvActions`) and how big its orders may be (`protocolLimits`).
//! Sections floorgate does not use (`agvGeometry`, `loadSpecification`, `vehicleConfig`) are
//! kept as raw JSON so they survive a round trip. A 3.0 factsheet decodes through aliases
//! (`mobileRobotGeometry`, `mobileRobotActions`, `maximumSpeed`, …) and is written with the 3.0
//! names ([`super::v3`]); the raw sections are the sender's to shape for its version.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A factsheet. In 2.1 `headerId` and `timestamp` are optional; floorgate always sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Factsheet {
    /// Rising per topic (required in 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_id: Option<u32>,
    /// ISO 8601 UTC (required in 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Protocol version.
    pub version: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Serial number.
    pub serial_number: String,
    /// The AGV type.
    pub type_specification: TypeSpecification,
    /// Speeds and dimensions.
    pub physical_parameters: PhysicalParameters,
    /// Size limits of messages.
    pub protocol_limits: ProtocolLimits,
    /// Supported actions and optional fields.
    pub protocol_features: ProtocolFeatures,
    /// Geometry (kept as JSON).
    #[serde(alias = "mobileRobotGeometry")]
    pub agv_geometry: Map<String, Value>,
    /// Load handling (kept as JSON).
    pub load_specification: Map<String, Value>,
    /// Anything else (e.g. 2.1 `vehicleConfig`, 2.0 `localizationParameters`).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Factsheet {
    /// Whether the AGV declares `action_type` in the given scope.
    pub fn supports_action(&self, action_type: &str, scope: ActionScope) -> bool {
        self.protocol_features
            .agv_actions
            .iter()
            .any(|a| a.action_type == action_type && a.action_scopes.contains(&scope))
    }

    /// The maximum number of nodes per order, if declared.
    pub fn max_order_nodes(&self) -> Option<u32> {
        self.protocol_limits.max_array_lens.order_nodes
    }

    /// The maximum number of edges per order, if declared.
    pub fn max_order_edges(&self) -> Option<u32> {
        self.protocol_limits.max_array_lens.order_edges
    }
}

/// The AGV type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeSpecification {
    /// Name of the series.
    pub series_name: String,
    /// Free description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_description: Option<String>,
    /// DIFF, OMNI, THREEWHEEL.
    #[serde(alias = "mobileRobotKinematics")]
    pub agv_kinematic: String,
    /// FORKLIFT, CONVEYOR, TUGGER, CARRIER.
    #[serde(alias = "mobileRobotClass")]
    pub agv_class: String,
    /// Maximum load (kg).
    #[serde(alias = "maximumLoadMass")]
    pub max_load_mass: f64,
    /// e.g. NATURAL, REFLECTOR, RFID, DMC, SPOT, GRID.
    pub localization_types: Vec<String>,
    /// e.g. PHYSICAL_LINE_GUIDED, VIRTUAL_LINE_GUIDED, AUTONOMOUS.
    pub navigation_types: Vec<String>,
}

/// Speeds and dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalParameters {
    /// Minimal controlled speed (m/s).
    #[serde(alias = "minimumSpeed")]
    pub speed_min: f64,
    /// Maximum speed (m/s).
    #[serde(alias = "maximumSpeed")]
    pub speed_max: f64,
    /// Maximum acceleration (m/s²).
    #[serde(alias = "maximumAcceleration")]
    pub acceleration_max: f64,
    /// Maximum deceleration (m/s²).
    #[serde(alias = "maximumDeceleration")]
    pub deceleration_max: f64,
    /// Minimum height (m); required in 2.0.
    #[serde(
        alias = "minimumHeight",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub height_min: Option<f64>,
    /// Maximum height (m).
    #[serde(alias = "maximumHeight")]
    pub height_max: f64,
    /// Width (m).
    pub width: f64,
    /// Length (m).
    pub length: f64,
}

/// Size limits of messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolLimits {
    /// String length limits (kept as JSON).
    #[serde(alias = "maximumStringLengths")]
    pub max_string_lens: Map<String, Value>,
    /// Array length limits.
    #[serde(alias = "maximumArrayLengths")]
    pub max_array_lens: MaxArrayLens,
    /// Timing limits.
    pub timing: Timing,
}

/// Array length limits; the keys contain dots on the wire (`"order.nodes"`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MaxArrayLens {
    /// Nodes per order.
    #[serde(
        default,
        rename = "order.nodes",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_nodes: Option<u32>,
    /// Edges per order.
    #[serde(
        default,
        rename = "order.edges",
        skip_serializing_if = "Option::is_none"
    )]
    pub order_edges: Option<u32>,
    /// Actions per node.
    #[serde(
        default,
        rename = "node.actions",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_actions: Option<u32>,
    /// Actions per edge.
    #[serde(
        default,
        rename = "edge.actions",
        skip_serializing_if = "Option::is_none"
    )]
    pub edge_actions: Option<u32>,
    /// Actions per instantActions message.
    #[serde(
        default,
        rename = "instantActions",
        skip_serializing_if = "Option::is_none"
    )]
    pub instant_actions: Option<u32>,
    /// The other limits.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Timing limits (seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// Minimum interval between orders.
    #[serde(alias = "minimumOrderInterval")]
    pub min_order_interval: f64,
    /// Minimum interval between state messages.
    #[serde(alias = "minimumStateInterval")]
    pub min_state_interval: f64,
    /// Default interval between state messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_state_interval: Option<f64>,
    /// Interval of visualization messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visualization_interval: Option<f64>,
}

/// Supported actions and optional fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolFeatures {
    /// Optional fields the AGV supports or requires (kept as JSON).
    pub optional_parameters: Vec<Value>,
    /// The actions the AGV can perform.
    #[serde(alias = "mobileRobotActions")]
    pub agv_actions: Vec<AgvAction>,
}

/// One action the AGV can perform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgvAction {
    /// The action type.
    pub action_type: String,
    /// Free description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_description: Option<String>,
    /// Where the action may be used.
    pub action_scopes: Vec<ActionScope>,
    /// Its parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_parameters: Option<Vec<ActionParameterSpec>>,
    /// Free description of the result.
    #[serde(
        alias = "actionResult",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub result_description: Option<String>,
}

/// Where an action may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionScope {
    /// As an instant action.
    Instant,
    /// On a node.
    Node,
    /// On an edge.
    Edge,
}

/// The declaration of one action parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionParameterSpec {
    /// The parameter name.
    pub key: String,
    /// BOOL, NUMBER, INTEGER, FLOAT, STRING, OBJECT, ARRAY.
    pub value_data_type: String,
    /// Free description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the parameter may be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_optional: Option<bool>,
}

//! How one simulated robot behaves: its identity and version, speeds and handling times,
//! where it starts, the instant actions it performs (and declares in its factsheet; a 3.0
//! robot also the zone and hibernation actions of [`V3_INSTANT_ACTIONS`]), and how it
//! answers `cancelOrder`.

use floorgate_protocols::vda5050::order::action_types::{
    CANCEL_ORDER, DROP, FACTSHEET_REQUEST, PICK, START_CHARGING, START_HIBERNATION, START_PAUSE,
    STATE_REQUEST, STOP_CHARGING, STOP_HIBERNATION, STOP_PAUSE,
};
use floorgate_protocols::vda5050::ProtocolVersion;

use super::record::CancelPolicy;
use super::zones::{DELETE_ZONE_SET, ENABLE_ZONE_SET};

/// The instant actions a simulated robot performs unless its configuration says otherwise.
pub const INSTANT_ACTIONS: [&str; 7] = [
    CANCEL_ORDER,
    START_PAUSE,
    STOP_PAUSE,
    STATE_REQUEST,
    FACTSHEET_REQUEST,
    START_CHARGING,
    STOP_CHARGING,
];

/// The instant actions a 3.0 robot performs besides [`INSTANT_ACTIONS`] unless its
/// configuration says otherwise: zone sets and hibernation.
pub const V3_INSTANT_ACTIONS: [&str; 4] = [
    ENABLE_ZONE_SET,
    DELETE_ZONE_SET,
    START_HIBERNATION,
    STOP_HIBERNATION,
];

/// A vendor instant action some robots offer to clear their errors (not VDA 5050; not in
/// [`INSTANT_ACTIONS`], add it to a robot's `instant_actions` to have it).
pub const CLEAR_ERRORS: &str = "clearErrors";

/// How one simulated robot behaves.
#[derive(Debug, Clone)]
pub struct RobotConfig {
    /// `manufacturer` of headers and topics.
    pub manufacturer: String,
    /// `serialNumber` of headers and topics.
    pub serial_number: String,
    /// Protocol version spoken.
    pub version: ProtocolVersion,
    /// Driving speed (m/s).
    pub speed: f64,
    /// Duration of a pick (s).
    pub pick_duration_s: f64,
    /// Duration of a drop (s).
    pub drop_duration_s: f64,
    /// Node and edge action types the robot performs (instant actions are always known).
    pub supported_actions: Vec<String>,
    /// Where the robot stands at start.
    pub start_node: String,
    /// Position of `start_node`.
    pub start_x: f64,
    /// Position of `start_node`.
    pub start_y: f64,
    /// Map of `start_node`.
    pub map_id: String,
    /// Battery drain per metre driven (%).
    pub battery_per_metre: f64,
    /// Below this charge (%) the robot reports a `batteryLow` warning.
    pub low_battery_percent: f64,
    /// Distance within which a node counts as reached when the order gives no deviation (m).
    pub default_deviation_m: f64,
    /// Instant actions the robot performs and declares in its factsheet; others FAIL.
    pub instant_actions: Vec<String>,
    /// How it answers `cancelOrder`.
    pub cancel_policy: CancelPolicy,
}

impl RobotConfig {
    /// A robot at (0, 0) on no node, with 2 s picks and drops at 1.5 m/s, performing
    /// [`INSTANT_ACTIONS`] (and, speaking 3.0, [`V3_INSTANT_ACTIONS`]).
    pub fn new(manufacturer: &str, serial_number: &str, version: ProtocolVersion) -> Self {
        RobotConfig {
            manufacturer: manufacturer.to_string(),
            serial_number: serial_number.to_string(),
            version,
            speed: 1.5,
            pick_duration_s: 2.0,
            drop_duration_s: 2.0,
            supported_actions: vec![PICK.to_string(), DROP.to_string()],
            start_node: String::new(),
            start_x: 0.0,
            start_y: 0.0,
            map_id: "map".to_string(),
            battery_per_metre: 0.0,
            low_battery_percent: 15.0,
            default_deviation_m: 0.5,
            instant_actions: default_instant_actions(version, &INSTANT_ACTIONS),
            cancel_policy: CancelPolicy::Accept,
        }
    }

    /// Places the robot on a node.
    pub fn at_node(mut self, node_id: &str, x: f64, y: f64) -> Self {
        self.start_node = node_id.to_string();
        self.start_x = x;
        self.start_y = y;
        self
    }
}

/// `base`, and for a 3.0 robot also [`V3_INSTANT_ACTIONS`] (once each).
pub(crate) fn default_instant_actions(
    version: ProtocolVersion,
    base: &[impl AsRef<str>],
) -> Vec<String> {
    let mut all: Vec<String> = base.iter().map(|a| a.as_ref().to_string()).collect();
    if version.is_v3() {
        for a in V3_INSTANT_ACTIONS {
            if !all.iter().any(|b| b == a) {
                all.push(a.to_string());
            }
        }
    }
    all
}

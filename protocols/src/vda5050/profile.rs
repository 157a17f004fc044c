//! The profile of one VDA 5050 AMR type, loaded from `devices/*-vda5050.toml`: what it can
//! do and how floorgate should talk to it. The simulator builds its robots from the same file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::header::ProtocolVersion;
use super::order::action_types::{DROP, PICK};
use super::topic::TopicConfig;

/// One AMR type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmrProfile {
    /// Model name, used in logs and error messages.
    pub model: String,
    /// The `manufacturer` of headers and topics; no `/`, `+`, `#` or `$`.
    pub manufacturer: String,
    /// The VDA 5050 version the AMRs speak: `"2.0"`, `"2.1"` or `"3.0"`.
    pub protocol_version: ProtocolVersion,
    /// Action types the AMRs perform (as in the factsheet's `agvActions`); orders with other
    /// actions are not sent.
    pub supported_actions: Vec<String>,
    /// The most nodes released in one order message (the base, stitching node included);
    /// at least 2.
    #[serde(default = "default_max_base_nodes")]
    pub max_base_nodes: usize,
    /// The most nodes in one order message, base and horizon (factsheet
    /// `maxArrayLens."order.nodes"`); no limit if absent.
    #[serde(default)]
    pub max_order_nodes: Option<usize>,
    /// Nominal driving speed in m/s, for travel time estimates.
    pub speed: f64,
    /// How long a pick takes, in seconds.
    #[serde(default = "default_handling_s")]
    pub pick_duration_s: f64,
    /// How long a drop takes, in seconds.
    #[serde(default = "default_handling_s")]
    pub drop_duration_s: f64,
    /// `stationType` parameter of picks and drops, if the AMRs need it (a location's own
    /// `station_type` in the site file wins).
    #[serde(default)]
    pub station_type: Option<String>,
    /// `loadType` parameter of picks and drops when the task names none (its `load_type`
    /// attribute wins), for robots that need it on every pick and drop.
    #[serde(default)]
    pub load_type: Option<String>,
    /// Send the instant-action array under its 1.x name `instantActions` instead of
    /// `actions` (and read it so), for robot stacks that still use that name.
    #[serde(default)]
    pub legacy_instant_actions: bool,
    /// `lhd` parameter (load handling device) of picks and drops, if the AMRs have several.
    #[serde(default)]
    pub lhd: Option<String>,
    /// The AMRs publish `state` at least this often, in seconds (the specification's 30 s).
    #[serde(default = "default_state_interval_s")]
    pub state_interval_s: f64,
    /// Battery charge (%) below which an AMR gets no new orders.
    #[serde(default = "default_min_battery")]
    pub min_battery_percent: f64,
    /// `allowedDeviationXY` (m) of an order's first node: how far from it the robot may
    /// stand and still start the order. An order that starts where the robot was stopped
    /// between two nodes widens it to cover the robot's distance from that node.
    #[serde(default = "default_deviation_xy")]
    pub allowed_deviation_xy: f64,
    /// `allowedDeviationTheta` (rad) of an order's first node, if the robot needs one.
    #[serde(default)]
    pub allowed_deviation_theta: Option<f64>,
    /// Under traffic control, how far past a node (m, its position to the robot's
    /// reported position, along the edge it drives) the robot's `state` must show it
    /// before that node is given to another robot, ahead of the robot reaching its next
    /// node: at least half the robot's length, half the longest robot's that may follow
    /// it, and the gap their safety fields keep. It takes effect as often as the robots
    /// report their position (`state`). Absent: a node is freed only once the robot
    /// reports the node after it.
    #[serde(default)]
    pub release_clearance_m: Option<f64>,
    /// Topic naming and QoS.
    #[serde(default)]
    pub topics: TopicConfig,
    /// The largest message master control takes from these AMRs, in bytes (1 MiB): a
    /// larger `state`, `connection` or `factsheet` is dropped and counted (`oversized`).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

fn default_max_message_bytes() -> usize {
    1 << 20
}
fn default_max_base_nodes() -> usize {
    4
}
fn default_handling_s() -> f64 {
    2.0
}
fn default_state_interval_s() -> f64 {
    30.0
}
fn default_deviation_xy() -> f64 {
    0.5
}

fn default_min_battery() -> f64 {
    20.0
}

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The TOML error, with line and column.
        source: toml::de::Error,
    },
    /// A value out of range.
    #[error("profile `{model}`: {message}")]
    Invalid {
        /// The model.
        model: String,
        /// What is wrong.
        message: String,
    },
}

impl AmrProfile {
    /// Parses a profile from TOML text and checks it.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, ProfileError> {
        let p: AmrProfile = toml::from_str(text).map_err(|source| ProfileError::Parse {
            path: path.to_string(),
            source,
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Loads and checks a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }

    /// Checks ranges and names.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let bad = |message: String| ProfileError::Invalid {
            model: self.model.clone(),
            message,
        };
        if super::topic::check_level(&self.manufacturer).is_err() {
            return Err(bad(format!(
                "manufacturer {:?} cannot be a topic level",
                self.manufacturer
            )));
        }
        if self.max_base_nodes < 2 {
            return Err(bad("max_base_nodes must be at least 2".into()));
        }
        if self
            .max_order_nodes
            .is_some_and(|m| m < self.max_base_nodes)
        {
            return Err(bad("max_order_nodes must be at least max_base_nodes".into()));
        }
        if !(1024..=16 << 20).contains(&self.max_message_bytes) {
            return Err(bad(format!(
                "max_message_bytes {} is outside 1024..=16777216",
                self.max_message_bytes
            )));
        }
        let positive = [
            ("speed", self.speed),
            ("state_interval_s", self.state_interval_s),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(format!("{name} must be a positive number")));
            }
        }
        for (name, v) in [
            ("pick_duration_s", self.pick_duration_s),
            ("drop_duration_s", self.drop_duration_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(format!("{name} must not be negative")));
            }
        }
        if self
            .release_clearance_m
            .is_some_and(|c| !(c.is_finite() && c > 0.0))
        {
            return Err(bad("release_clearance_m must be a positive number".into()));
        }
        if !(0.0..=100.0).contains(&self.min_battery_percent) {
            return Err(bad("min_battery_percent must be within 0..=100".into()));
        }
        Ok(())
    }

    /// Whether the AMRs perform `action_type`.
    pub fn supports(&self, action_type: &str) -> bool {
        self.supported_actions.iter().any(|a| a == action_type)
    }

    /// Whether the AMRs can pick and drop loads.
    pub fn handles_loads(&self) -> bool {
        self.supports(PICK) && self.supports(DROP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_profile_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../devices/amr-vda5050.toml");
        let p = AmrProfile::load(Path::new(path)).unwrap();
        assert!(p.handles_loads());
        assert_eq!(p.topics.interface_name, "uagv");
    }

    #[test]
    fn the_3_0_profile_loads_with_its_defaults() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../devices/amr-vda5050-v30.toml"
        );
        let p = AmrProfile::load(Path::new(path)).unwrap();
        assert_eq!(p.protocol_version, ProtocolVersion::V3_0);
        assert_eq!(p.load_type.as_deref(), Some("tote"));
        assert_eq!(p.station_type.as_deref(), Some("rack"));
        assert!(!p.legacy_instant_actions);
        assert!(p.handles_loads());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let base = "model='m'\nmanufacturer='acme'\nprotocol_version='2.1'\nsupported_actions=['pick']\nspeed=1.0\n";
        assert!(AmrProfile::from_toml(base, "x").is_ok());
        assert!(AmrProfile::from_toml(&format!("{base}colour='red'\n"), "x").is_err());
        let v3 = AmrProfile::from_toml(&base.replace("2.1", "3.0"), "x").unwrap();
        assert_eq!(v3.protocol_version, ProtocolVersion::V3_0);
        assert!(AmrProfile::from_toml(&base.replace("2.1", "3.1"), "x").is_err());
        assert!(!v3.legacy_instant_actions && v3.load_type.is_none());
        assert!(AmrProfile::from_toml(&base.replace("speed=1.0", "speed=0.0"), "x").is_err());
        assert!(AmrProfile::from_toml(&base.replace("acme", "a/b"), "x").is_err());
        assert_eq!(
            AmrProfile::from_toml(&format!("{base}release_clearance_m=1.2\n"), "x")
                .unwrap()
                .release_clearance_m,
            Some(1.2)
        );
        for bad in ["0.0", "-1.0", "nan"] {
            let e = AmrProfile::from_toml(&format!("{base}release_clearance_m={bad}\n"), "x")
                .unwrap_err()
                .to_string();
            assert!(e.contains("release_clearance_m"), "{bad}: {e}");
        }
    }
}

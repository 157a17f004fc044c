//! The `connection` and `visualization` messages (AGV/broker → master control).

use serde::{Deserialize, Serialize};

use super::header::Header;
use super::state::{AgvPosition, Velocity};

/// The connection state of an AGV (topic `connection`, QoS 1, retained; also the last will).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// ONLINE, OFFLINE or CONNECTIONBROKEN.
    pub connection_state: ConnectionState,
}

/// The 2.x spelling of the connection states (3.0 writes `CONNECTION_BROKEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConnectionState {
    /// Connected to the broker.
    Online,
    /// Disconnected in a coordinated way.
    Offline,
    /// The connection ended unexpectedly (the last will).
    ConnectionBroken,
}

/// Position and velocity at a higher rate (topic `visualization`); every field is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visualization {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// Current pose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agv_position: Option<AgvPosition>,
    /// Current velocity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
}

//! The `connection` and `visualization` messages (AGV/broker → master control).

use serde::{Deserialize, Serialize};

use super::header::Header;
use super::state::{AgvPosition, Velocity};

/// The connection state of an AGV (topic `connection`, QoS 1, retained; also the last will).
/// The state is read in the spelling of the header's version: `CONNECTIONBROKEN` in 2.x,
/// `CONNECTION_BROKEN` (and `HIBERNATING`) in 3.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ConnectionWire")]
pub struct Connection {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// ONLINE, OFFLINE, CONNECTIONBROKEN (3.0: CONNECTION_BROKEN) or, in 3.0, HIBERNATING.
    pub connection_state: ConnectionState,
}

/// The connection states, serialized in their 2.x spelling; 3.0 writes `CONNECTION_BROKEN`
/// ([`super::v3`]) and adds `HIBERNATING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConnectionState {
    /// Connected to the broker.
    Online,
    /// Disconnected in a coordinated way.
    Offline,
    /// The connection ended unexpectedly (the last will).
    ConnectionBroken,
    /// Still connected, but asleep to save energy (3.0): sends no `state`, stands still and
    /// answers only the instant action `stopHibernation`.
    Hibernating,
}

/// A `connection` message as it is on the wire, its state still text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionWire {
    #[serde(flatten)]
    header: Header,
    connection_state: String,
}

impl TryFrom<ConnectionWire> for Connection {
    type Error = String;

    fn try_from(wire: ConnectionWire) -> Result<Self, Self::Error> {
        let ConnectionWire {
            header,
            connection_state,
        } = wire;
        let v3 = header.protocol_version().is_some_and(|v| v.is_v3());
        let state = match (connection_state.as_str(), v3) {
            ("ONLINE", _) => ConnectionState::Online,
            ("OFFLINE", _) => ConnectionState::Offline,
            ("CONNECTIONBROKEN", false) | ("CONNECTION_BROKEN", true) => {
                ConnectionState::ConnectionBroken
            }
            ("HIBERNATING", true) => ConnectionState::Hibernating,
            (other, _) => {
                return Err(format!(
                    "connectionState {other:?} is not a connection state of version {:?}",
                    header.version
                ))
            }
        };
        Ok(Connection {
            header,
            connection_state: state,
        })
    }
}

/// Position and velocity at a higher rate (topic `visualization`); every field is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visualization {
    /// The protocol header.
    #[serde(flatten)]
    pub header: Header,
    /// Current pose (3.0: `mobileRobotPosition`).
    #[serde(
        default,
        alias = "mobileRobotPosition",
        skip_serializing_if = "Option::is_none"
    )]
    pub agv_position: Option<AgvPosition>,
    /// Current velocity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    /// The `headerId` of the last `state` sent (3.0, where it is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_state_header_id: Option<u32>,
}

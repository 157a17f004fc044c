//! VDA 5050 (2.0 and 2.1): the messages between master control and AGVs, their topics, and
//! the order logic. No IO here; the MQTT adapter and the simulator do the sending.
//!
//! # Layout
//!
//! * [`header`] — [`ProtocolVersion`], the header and its per-topic `headerId` counter.
//! * [`order`], [`state`], [`connection`], [`factsheet`] — the serde message types.
//! * [`codec`] — decoding with typed errors ([`DecodeError`]), never a panic.
//! * [`topic`] — `{interface}/v2/{manufacturer}/{serialNumber}/{topic}`, QoS and retain.
//! * [`validate`] — structural checks of an order (sequence ids, edges, base/horizon).
//! * [`builder`] — [`OrderPlan`]: route + actions → order, then updates that release more.
//! * [`layout`] — [`LayoutGraph`]: the site's nodes and edges, shortest paths.
//! * [`profile`] — [`AmrProfile`]: one AMR type, from `devices/*-vda5050.toml`.
//!
//! # Wire format
//!
//! camelCase JSON. Unknown extra fields are ignored (the schemas allow them, and newer
//! vehicles send more); unknown enum values, wrong types and missing required fields are
//! errors. Optional fields are left out rather than sent as `null`.
//!
//! # Differences between 2.0 and 2.1 handled here
//!
//! * `version` header: `"2.0.0"` / `"2.1.0"`; the topic level stays `v2`.
//! * `state.maps` and `error.errorHint` exist only in 2.1: set them only when
//!   [`ProtocolVersion::has_state_maps`] / [`ProtocolVersion::has_error_hint`] say so.
//! * `edge.corridor` is 2.1 only ([`ProtocolVersion::has_corridors`]).
//! * `batteryHealth` is an integer in 2.0 and a number in 2.1: always sent as an integer.
//! * Factsheet: `headerId`/`timestamp` and `physicalParameters.heightMin` are required in 2.0
//!   only; always sending them satisfies both.
//! * Both use `CONNECTIONBROKEN` (3.0 renames it `CONNECTION_BROKEN`) and `instantActions`
//!   carries its list in `actions`. Both 2.x state schemas as shipped in `shared/` accept
//!   `PAUSED` for `actionStatus`, which the 2.1 text defines.
//!
//! # Order identity
//!
//! An order message is identified by (`orderId`, `orderUpdateId`). The AGV ignores a repeat of
//! the pair it holds and rejects a lower `orderUpdateId` (`orderUpdateError`), so master
//! control may re-send a message until `state` echoes the pair. Node `sequenceId`s are even,
//! edge ones odd, fixed for the life of the order; an update starts at the stitching node
//! (the last base node), which keeps its sequence id.

pub mod builder;
pub mod codec;
pub mod connection;
pub mod factsheet;
pub mod header;
pub mod layout;
pub mod order;
pub mod profile;
pub mod state;
pub mod topic;
pub mod validate;

pub use builder::{BuildError, LoadHandling, OrderPlan, PathEdge, PathNode, Route};
pub use codec::{decode, decode_in_place, encode, DecodeError, Message};
pub use connection::{Connection, ConnectionState, Visualization};
pub use factsheet::Factsheet;
pub use header::{format_timestamp, Header, HeaderFactory, ProtocolVersion};
pub use layout::{LayoutBlock, LayoutConfig, LayoutError, LayoutGraph, NodeId};
pub use order::{
    action_types, Action, ActionParameter, BlockingType, Edge, InstantActions, Node, NodePosition,
    Order,
};
pub use profile::{AmrProfile, ProfileError};
pub use state::{ActionState, ActionStatus, AgvError, ErrorLevel, State};
pub use topic::{ParsedTopic, Qos, TopicConfig, TopicError, TopicKind};
pub use validate::{validate_order, OrderError};

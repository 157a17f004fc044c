//! VDA 5050 (2.0, 2.1 and 3.0): the messages between master control and AGVs, their topics,
//! and the order logic. No IO here; the MQTT adapter and the simulator do the sending.
//!
//! # Layout
//!
//! * [`header`] — [`ProtocolVersion`], the header and its per-topic `headerId` counter.
//! * [`order`], [`state`], [`connection`], [`factsheet`] — the serde message types, one per
//!   message for every version.
//! * [`zones`] — the 3.0 topics `zoneSet` and `responses`.
//! * [`codec`] — decoding with typed errors ([`DecodeError`]), never a panic; encoding in the
//!   names of the message's version.
//! * [`v3`] — the 3.0 names, and the legacy `instantActions` array name.
//! * [`topic`] — `{interface}/{v2|v3}/{manufacturer}/{serialNumber}/{topic}`, QoS and retain.
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
//! # 3.0
//!
//! Topic level `v3`, header `"3.0.0"`. One Rust type per message still covers every version:
//! the fields keep their 2.x names, a 3.0 message decodes into them through serde aliases
//! (so a fleet's `state`s of any version decode in place into one scratch [`State`]), and
//! [`encode`] writes a 3.0 message with the 3.0 names ([`v3`] lists them). What 3.0 adds that
//! 2.x lacks is an optional field (`instantActionStates`, required by the 3.0 schema and
//! always written for 3.0) or an enum value (`RETRIABLE`, `URGENT`/`CRITICAL`, `SINGLE`,
//! `HIBERNATING`, `STARTUP`/`INTERVENED`). Decoding takes either spelling in any version;
//! what is sent validates against its own version's schema (`tests/vda5050_schema.rs`).
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
pub mod site_zones;
pub mod state;
pub mod topic;
pub mod v3;
pub mod validate;
pub mod zones;

pub use builder::{BuildError, LoadHandling, OrderPlan, PathEdge, PathNode, Route};
pub use codec::{decode, decode_in_place, encode, DecodeError, Message, Wire};
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
pub use zones::{
    GrantType, RequestStatus, Response, Responses, Zone, ZoneRequest, ZoneRequestType, ZoneSet,
    ZoneSetMessage, ZoneSetState, ZoneSetStatus, ZoneType,
};

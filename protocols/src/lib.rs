//! The device protocols floorgate speaks, as a crate of their own so that
//! both the gateway and the simulators build on them, and so that protocol
//! code cannot reach tasks even by accident: nothing here depends on the
//! engine.
//!
//! # Layout
//!
//! * [`vda5050`] — VDA 5050 2.0/2.1/3.0 messages, topics, order building, the
//!   layout graph, AMR profiles.
//! * [`modbus`] — register-map profiles, codec, coalesced polling, the command
//!   mailbox with verified actuation.
//! * [`opcua`] — the AS/RS profile, client session, security.
//! * [`broker`] — an embedded MQTT broker for tests and `floorgate simulate`.
//! * [`ratelimit`] — repeated warnings logged once, then summarised with a count.

#![forbid(unsafe_code)]

#[cfg(feature = "broker")]
pub mod broker;
pub mod modbus;
pub mod opcua;
pub mod ratelimit;
pub mod vda5050;

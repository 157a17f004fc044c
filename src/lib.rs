//! floorgate: the edge gateway between a fulfillment system's cloud and the
//! machines of one warehouse site.
//!
//! # Layout
//!
//! * [`api`] — the gRPC services (tonic), the only place wire types live.
//! * [`engine`] — tasks, plans, the state machine and the device boundary.
//! * [`store`] — the sled journal: tasks, events, the command outbox.
//! * [`config`] — the site file and its validation.
//! * [`daemon`] — wiring: opens the store, starts the engine and the server,
//!   shuts down cleanly.
//! * [`cli`] — the command line, including the operator's client commands.
//! * [`admin`] — the admin HTTP listener: health, readiness, metrics.
//! * [`console`] — the operator console in the browser, on the admin listener.
//! * [`notify`] — the systemd notify protocol (ready, watchdog, stopping).
//! * [`adapters`] — the engine's device adapters over the protocols.
//! * [`vda5050`], [`modbus`], [`opcua`], [`broker`] — the protocols, from the
//!   `floorgate-protocols` crate (`protocols/`), re-exported.
//! * [`simulate`] — `floorgate simulate`: a whole virtual site in one process.
//! * [`traffic`] — AMR traffic control: reservations, deadlock avoidance, parking (no IO).

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod adapters;
pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod console;
pub mod daemon;
pub mod engine;
pub mod notify;
#[cfg(feature = "simulate")]
pub mod simulate;
pub mod store;
pub mod traffic;

#[cfg(feature = "broker")]
pub use floorgate_protocols::broker;
pub use floorgate_protocols::{modbus, opcua, vda5050};

//! A simulated fleet of VDA 5050 AMRs.
//!
//! [`Robot`] is one vehicle as a state machine without IO (orders, instant actions and time in;
//! state out). [`RobotClient`] connects one robot to an MQTT broker with its own client: last
//! will CONNECTIONBROKEN on the connection topic, ONLINE on connect (both QoS 1, retained),
//! subscriptions to `order` and `instantActions`, and `state` on every change and at least
//! every state interval. [`Fleet`] runs many of them in one tokio runtime and lets tests read
//! each robot's counters and inject faults (low battery, a FATAL error, a dropped connection,
//! a fault right after a drop, a robot that refuses or ignores `cancelOrder` once loaded).
//! Each robot keeps its own record of what really happened ([`Happened`]).
//!
//! A 3.0 robot also takes zone sets (`zoneSet` topic, `enableZoneSet`/`deleteZoneSet`),
//! asks for RELEASE zones in its state and waits for the answer on `responses`, keeps out of
//! BLOCKED zones and slows down in SPEED_LIMIT zones (`zones.rs`), and hibernates
//! (`startHibernation`/`stopHibernation`, `hibernation.rs`).
//!
//! The robots of a fleet share one physical floor ([`World`]): a safety field stops a robot
//! before it hits another, and the world counts conflicts and blocked seconds; simulated time
//! may run faster than the wall clock (`FleetConfig::time_lapse`). The fields are described
//! in `client.rs`.

mod actions;
mod client;
mod config;
#[cfg(test)]
mod fixtures;
mod hibernation;
mod motion;
mod record;
mod report;
mod robot;
mod sheet;
mod world;
mod zones;

pub use client::{Fleet, FleetConfig, RobotClient, RobotHandle};
pub use config::{RobotConfig, CLEAR_ERRORS, INSTANT_ACTIONS, V3_INSTANT_ACTIONS};
pub use record::{CancelPolicy, Happened};
pub use robot::{OrderOutcome, Robot, RobotCounters};
pub use sheet::MAX_ORDER_NODES;
pub use world::{Encounter, RobotWorldStats, SharedWorld, World, WorldConfig, WorldStats};
pub use zones::{ZoneSetOutcome, DELETE_ZONE_SET, DUPLICATE_WARNING_S, ENABLE_ZONE_SET, RETRY_S};

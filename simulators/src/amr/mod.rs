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

mod actions;
mod client;
mod config;
mod motion;
mod record;
mod report;
mod robot;
mod sheet;

pub use client::{Fleet, FleetConfig, RobotClient, RobotHandle};
pub use config::{RobotConfig, CLEAR_ERRORS, INSTANT_ACTIONS};
pub use record::{CancelPolicy, Happened};
pub use robot::{OrderOutcome, Robot, RobotCounters};
pub use sheet::MAX_ORDER_NODES;

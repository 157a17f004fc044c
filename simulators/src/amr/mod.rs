//! A simulated fleet of VDA 5050 AMRs.
//!
//! [`Robot`] is one vehicle as a state machine without IO (orders, instant actions and time in;
//! state out). [`RobotClient`] connects one robot to an MQTT broker with its own client: last
//! will CONNECTIONBROKEN on the connection topic, ONLINE on connect (both QoS 1, retained),
//! subscriptions to `order` and `instantActions`, and `state` on every change and at least
//! every state interval. [`Fleet`] runs many of them in one tokio runtime and lets tests read
//! each robot's counters and inject faults (low battery, a FATAL error, a dropped connection).

mod actions;
mod client;
mod motion;
mod report;
mod robot;
mod sheet;

pub use client::{Fleet, FleetConfig, RobotClient, RobotHandle};
pub use robot::{OrderOutcome, Robot, RobotConfig, RobotCounters};
pub use sheet::MAX_ORDER_NODES;

//! A read-only view of the fleet for the operator console (`crate::console`): where each
//! robot says it is and what traffic control gives it, copied under one short hold of the
//! fleet lock. Nothing here changes a robot; nothing here runs unless someone asks.

use super::traffic::RobotTraffic;
use super::Vda5050Adapter;
use crate::vda5050::state::AgvPosition;

/// What a robot's latest `state` says of where it is (borrowed from the robot).
#[derive(Debug)]
pub(crate) struct Pose<'a> {
    pub(crate) last_node: &'a str,
    pub(crate) position: Option<&'a AgvPosition>,
    pub(crate) battery: f64,
    pub(crate) paused: Option<bool>,
}

/// One robot as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RobotPosition {
    /// The device id of the site file.
    pub device_id: String,
    /// Whether a `state` has arrived at all (else every field below is empty).
    pub heard: bool,
    /// `lastNodeId`.
    pub last_node: String,
    /// `agvPosition` x, y (m) and theta (rad), when the robot reports one.
    pub position: Option<(f64, f64, f64)>,
    /// `agvPosition.mapId`.
    pub map_id: String,
    /// `batteryState.batteryCharge`, in percent.
    pub battery: f64,
    /// `paused`, when the robot says.
    pub paused: Option<bool>,
    /// What traffic control shows of it (`None`: off, or not placed yet).
    pub traffic: Option<RobotTraffic>,
}

impl Vda5050Adapter {
    /// Every AMR of the site, in the site file's order of device ids.
    pub fn positions(&self) -> Vec<RobotPosition> {
        let core = self.shared.lock();
        core.robots
            .iter()
            .map(|r| {
                let id = r.device_id();
                let traffic = core.traffic.as_ref().and_then(|t| t.robot(id));
                let mut p = RobotPosition {
                    device_id: id.to_string(),
                    heard: false,
                    last_node: String::new(),
                    position: None,
                    map_id: String::new(),
                    battery: 0.0,
                    paused: None,
                    traffic,
                };
                if let Some(pose) = r.pose() {
                    p.heard = true;
                    p.last_node = pose.last_node.to_string();
                    p.position = pose.position.map(|a| (a.x, a.y, a.theta));
                    p.map_id = pose.position.map(|a| a.map_id.clone()).unwrap_or_default();
                    p.battery = pose.battery;
                    p.paused = pose.paused;
                }
                p
            })
            .collect()
    }
}

//! Traffic control across the fleet: one [`Allocator`] for every robot of the site, fed
//! from each robot's state (`robot/traffic.rs`), and the fleet-wide duties of a tick —
//! ending deadlocks the guard could not prevent, re-planning robots blocked too long,
//! moving idle robots out of the way — with what it did counted for the metrics.

use std::time::{Duration, Instant};

use super::robot::{Out, Robot};
use crate::engine::adapter::DeviceReport;
use crate::engine::site::TrafficSetup;
use crate::traffic::{Allocator, Blocker, Counters, Holdings, ParkReason, Resource};

/// How often the fleet-wide duties run.
const DUTY_PERIOD: Duration = Duration::from_millis(200);

/// The fleet's traffic control.
#[derive(Debug)]
pub(super) struct FleetTraffic {
    pub(super) alloc: Allocator,
    park_idle: bool,
    last_duty: Option<Instant>,
}

/// What traffic control shows of one robot (DeviceService, the console).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RobotTraffic {
    /// What it holds.
    pub holdings: Holdings,
    /// Why it gets no more of its route, if it waits.
    pub waiting_for: Option<String>,
}

impl FleetTraffic {
    pub(super) fn new(setup: &TrafficSetup) -> Self {
        FleetTraffic {
            alloc: Allocator::new(setup.map.clone(), setup.config.clone()),
            park_idle: setup.park_idle,
            last_duty: None,
        }
    }

    /// One robot's state, command or tick was taken: bring the allocator up to date.
    pub(super) fn follow(&mut self, robot: &mut Robot, now: Instant, out: &mut Vec<Out>) {
        robot.follow_traffic(&mut self.alloc, now, out);
    }

    /// The fleet-wide duties, at most every [`DUTY_PERIOD`].
    pub(super) fn duties(&mut self, robots: &mut [Robot], now: Instant, out: &mut Vec<Out>) {
        if self
            .last_duty
            .is_some_and(|t| now.duration_since(t) < DUTY_PERIOD)
        {
            return;
        }
        self.last_duty = Some(now);
        if tracing::enabled!(tracing::Level::TRACE) {
            for r in robots.iter() {
                let id = r.device_id();
                tracing::trace!(device_id = %id, robot = %r.traffic_summary(),
                    route = ?self.alloc.remaining_route(id), progress = ?self.alloc.progress(id),
                    holdings = ?self.alloc.holdings(id).ok().map(|h| h.resources()),
                    waiting = ?self.alloc.waiting_for(id).ok().flatten(), "traffic picture");
            }
        }
        let index = |robots: &[Robot], id: &str| robots.iter().position(|r| r.device_id() == id);
        // Deadlocks the guard could not prevent: one robot of each goes aside.
        for d in self.alloc.deadlocks() {
            match self.alloc.resolve(&d, now) {
                Ok(res) => {
                    tracing::info!(robots = ?d.robots, robot = %res.robot, node = %res.node,
                        "traffic: deadlock resolved, a robot goes aside");
                    let others: Vec<&str> = d
                        .robots
                        .iter()
                        .map(String::as_str)
                        .filter(|r| *r != res.robot)
                        .collect();
                    out.push(Out::Report(DeviceReport::TrafficResolved {
                        device_id: res.robot.clone(),
                        reason: format!(
                            "sent aside to node {} out of a deadlock with {}",
                            res.node,
                            others.join(", ")
                        ),
                    }));
                    if let Some(i) = index(robots, &res.robot) {
                        robots[i].detour(&res.route, now, out);
                    }
                }
                Err(e) => {
                    tracing::warn!(robots = ?d.robots, error = %e, "traffic: unresolved deadlock")
                }
            }
        }
        // Robots blocked too long are re-planned around what blocks them.
        for id in self.alloc.due_for_replan(now) {
            if let Some(i) = index(robots, &id) {
                if robots[i].replan_traffic(&mut self.alloc, now) {
                    tracing::info!(device_id = %id, "traffic: re-planned around a blocked lane");
                }
            }
        }
        // Idle robots out of the way (and to parking).
        let idle: Vec<&str> = robots
            .iter()
            .filter(|r| r.idle_for_traffic() && self.alloc.is_placed(r.device_id()))
            .map(Robot::device_id)
            .collect();
        if idle.is_empty() {
            return;
        }
        let moves = match self.alloc.park_idle(&idle) {
            Ok(m) => m,
            Err(_) => return,
        };
        for m in moves {
            if !self.park_idle && m.reason != ParkReason::Blocking {
                continue;
            }
            let Some(i) = index(robots, &m.robot) else {
                continue;
            };
            if m.route.len() < 2 || self.alloc.set_route(&m.robot, &m.route, now).is_err() {
                continue;
            }
            if robots[i].start_errand(&m.route, now, out) {
                tracing::debug!(device_id = %m.robot, node = %m.node, reason = ?m.reason,
                    "traffic: idle robot moves");
            } else {
                let _ = self.alloc.halt(&m.robot, now);
            }
        }
    }

    /// What the allocator shows of `device_id`.
    pub(super) fn robot(&self, device_id: &str) -> Option<RobotTraffic> {
        let holdings = self.alloc.holdings(device_id).ok()?;
        let waiting_for = self
            .alloc
            .waiting_for(device_id)
            .ok()
            .flatten()
            .map(|b| describe(&b));
        Some(RobotTraffic {
            holdings,
            waiting_for,
        })
    }

    pub(super) fn counters(&self, now: Instant) -> Counters {
        self.alloc.counters(now)
    }
}

/// A resource in words.
pub(super) fn resource_name(r: &Resource) -> String {
    match r {
        Resource::Node(n) => format!("node {n}"),
        Resource::Lane(a, b) => format!("lane {a}-{b}"),
        Resource::Block(b) => format!("block {b}"),
    }
}

/// A blocker in words.
fn describe(b: &Blocker) -> String {
    match b {
        Blocker::Held { resource, by } => format!("{} held by {by}", resource_name(resource)),
        Blocker::BlockFull { block, holders } => format!("block {block} full ({holders:?})"),
        Blocker::WouldDeadlock(r) => format!("would deadlock with {r:?}"),
        Blocker::NotOperational(s) => format!("not operational ({s:?})"),
    }
}

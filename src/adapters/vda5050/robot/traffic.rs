//! One robot under traffic control: keeping the allocator's picture of it in step with its
//! `state`, and turning the allocator's grants into order releases.
//!
//! Under traffic control an order goes out with only its first node released (the node
//! the robot stands on); [`Robot::follow_traffic`] gives the order's route to the
//! allocator, asks it for more on every state and tick, and releases what it grants as
//! order updates (`orderUpdateId` + 1 from the decision point, once the robot echoed the
//! message before). The robot's `lastNodeSequenceId` tells the allocator which nodes it
//! passed, which frees them behind it; with the profile's `release_clearance_m`, its
//! `agvPosition` that far past the node it passed last, along the edge to the next, frees
//! that node before it reaches the next ([`Allocator::cleared`]). An order that ends
//! before its last node (cancelled, failed, rejected) halts the robot in the allocator: it
//! keeps the node it stands on and, when it may be in the lane ahead, that lane, until it
//! passes a node of its next order. Halted clear of a node a follower has taken, it stands
//! for the allocator at the end of its lane, and its next order starts there.
//!
//! The allocator may re-route the robot ([`Robot::detour`]: a deadlock resolved by sending
//! it to a waiting node; a re-plan around a blocked lane): the horizon after the decision
//! point is replaced by the new route; stops (the pickup, the drop) the new route does not
//! reach are routed again once the robot is at its end. An idle robot in another's way, or
//! off a parking node, is sent away by an errand ([`Robot::start_errand`]): an order of
//! floorgate's own, without actions, that a command waits behind.
//!
//! Allocator route index 0 is the order's route index `route_from`; the order's sequence
//! ids are `2 × route index`, so the allocator's index is `lastNodeSequenceId / 2 -
//! route_from`.

use std::time::Instant;

use super::job::Active;
use super::{Out, Robot};
use crate::adapters::vda5050::plan::{self, Transport};
use crate::traffic::{Allocator, RobotStatus, TrafficError};
use crate::vda5050::state::OperatingMode;
use crate::vda5050::{Action, OrderPlan};

/// Which order of the robot traffic control follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Job,
    Errand,
}

impl Robot {
    /// Puts this robot's orders under traffic control: each goes out with its first node
    /// released, the rest as [`follow_traffic`](Self::follow_traffic) grants it.
    pub(crate) fn control_traffic(&mut self) {
        self.controlled = true;
    }

    /// The node the robot stands on (or passed last), by its state — or, halted clear of
    /// that node with a follower on it, the end of the lane it is in.
    fn standing_node(&self) -> Option<String> {
        let s = self.state.as_ref()?;
        let layout = self.layout.as_ref()?;
        if let Some((past, end)) = &self.traffic_start {
            if *past == s.last_node_id {
                return Some(end.clone());
            }
        }
        if !s.last_node_id.is_empty() && layout.node(&s.last_node_id).is_some() {
            return Some(s.last_node_id.clone());
        }
        let p = s.agv_position.as_ref()?;
        let n = layout.nearest_node(p.x, p.y, &p.map_id)?;
        ((n.x - p.x).hypot(n.y - p.y) <= self.profile.allowed_deviation_xy).then(|| n.id.clone())
    }

    fn traffic_status(&self) -> RobotStatus {
        let Some(s) = &self.state else {
            return RobotStatus::Offline;
        };
        if !self.connected() {
            RobotStatus::Offline
        } else if s.fatal_error().is_some() {
            RobotStatus::Fault
        } else if matches!(
            s.operating_mode,
            OperatingMode::Manual | OperatingMode::Service | OperatingMode::TeachIn
        ) {
            RobotStatus::Manual
        } else {
            RobotStatus::Online
        }
    }

    /// The order traffic control follows: the command's (unless it is being stopped) or
    /// the errand's.
    fn followed(&mut self) -> Option<(Which, &mut Active)> {
        if let Some(job) = self.job.as_mut().filter(|j| !j.stopping) {
            if let Some(a) = job.order.as_mut() {
                return Some((Which::Job, a));
            }
        }
        self.errand.as_mut().map(|a| (Which::Errand, a))
    }

    /// One line on the robot's orders for traffic traces.
    pub(crate) fn traffic_summary(&self) -> String {
        let order = |o: &Active| {
            format!(
                "{} u{} base {} of {} from {:?} echoed {} sent {}",
                o.t.plan.order_id(),
                o.t.plan.order_update_id(),
                o.t.plan.base_end(),
                o.t.plan.route().nodes.len(),
                o.route_from,
                o.echoed,
                o.last_sent.is_some()
            )
        };
        let job = self.job.as_ref().map(|j| match &j.order {
            Some(o) => format!("job {}", order(o)),
            None => format!("job {} (no order yet)", j.command.command_id),
        });
        let errand = self.errand.as_ref().map(|o| format!("errand {}", order(o)));
        let state = self.state.as_ref().map(|s| {
            format!(
                "state {} u{} last {} seq {} nodes {}",
                s.order_id,
                s.order_update_id,
                s.last_node_id,
                s.last_node_sequence_id,
                s.node_states.len()
            )
        });
        format!("{job:?} {errand:?} {state:?}")
    }

    /// Whether the robot stands still with no order of ours on the way — none, or a
    /// command's order traffic control has not taken yet (its route would close a wait-for
    /// cycle) — so it may be moved out of the way.
    pub(crate) fn idle_for_traffic(&self) -> bool {
        let held_back = |j: &super::job::Job| {
            !j.stopping
                && j.order
                    .as_ref()
                    .is_none_or(|o| o.route_from.is_none() && !o.echoed && o.last_sent.is_none())
        };
        self.job.as_ref().is_none_or(held_back)
            && self.errand.is_none()
            && self.cancel.is_none()
            && self.traffic_status() == RobotStatus::Online
            && self
                .state
                .as_ref()
                .is_some_and(|s| s.node_states.is_empty())
    }

    /// Whether a tick has anything for traffic control to do for this robot: an order or
    /// an errand of ours to follow, one that has just ended, or a robot no longer heard
    /// from (the allocator learns it is offline). An idle robot that reports is followed
    /// on its states and commands.
    pub(crate) fn traffic_due_on_tick(&self) -> bool {
        self.job.is_some()
            || self.errand.is_some()
            || self.traffic_order.is_some()
            || !self.connected()
    }

    /// Brings the allocator up to date with this robot and releases what it grants.
    pub(crate) fn follow_traffic(&mut self, a: &mut Allocator, now: Instant, out: &mut Vec<Out>) {
        let id = self.device_id.clone();
        // One look-up for where the allocator has the robot: whether that is the node the
        // robot reports last, and the node it was halted past, if it was.
        let standing = a.standing(&id).map(|(at, past)| {
            let reported = self.state.as_ref().is_some_and(|s| s.last_node_id == at);
            (reported, past.map(|p| (p.to_string(), at.to_string())))
        });
        if standing.is_none() {
            let Some(node) = self.standing_node() else {
                return;
            };
            if let Err(e) = a.place(&id, &node) {
                if self.traffic_warned.as_deref() != Some(node.as_str()) {
                    tracing::warn!(device_id = %id, %node, error = %e,
                        "traffic control cannot place the robot where it reports to stand");
                    self.traffic_warned = Some(node);
                }
                return;
            }
            self.traffic_warned = None;
        }
        let status = self.traffic_status();
        if self.traffic_status_sent != Some(status) {
            let _ = a.set_status(&id, status, now);
            self.traffic_status_sent = Some(status);
        }
        let (mut unmoved, past) = standing.unwrap_or((false, None));
        self.traffic_start = past;
        // An order traffic control followed has ended: halt the robot where it is.
        let current = self
            .followed()
            .filter(|(_, o)| o.route_from.is_some())
            .map(|(_, o)| o.t.plan.order_id().to_string());
        if self.traffic_order.is_some() && self.traffic_order != current {
            let _ = a.halt(&id, now);
            self.traffic_order = None;
            unmoved = false;
        }
        if self.followed().is_none() {
            // Idle: the allocator follows where the robot goes by hand or by itself (on
            // nearly every state it stands where the allocator has it: nothing to do).
            if unmoved && self.traffic_start.is_none() {
                return;
            }
            if let Some(node) = self.standing_node() {
                if a.position(&id) != Some(node.as_str()) && a.is_idle(&id) {
                    let _ = a.free(&id, now);
                    let _ = a.place(&id, &node);
                }
            }
            return;
        }
        let passed = self.state.as_ref().map(|s| {
            (
                s.order_id.clone(),
                (s.last_node_sequence_id / 2) as usize,
                s.last_node_id.clone(),
            )
        });
        let layout = self.layout.clone();
        // Where the robot reports to be, for releasing the node behind it early.
        let clear_at = self.profile.release_clearance_m.and_then(|c| {
            let p = self.state.as_ref()?.agv_position.as_ref()?;
            p.position_initialized
                .then(|| (c, p.x, p.y, p.map_id.clone()))
        });
        let Some((_, o)) = self.followed() else {
            return;
        };
        if o.route_from.is_none() {
            // An order the robot already held (adopted after a restart) is followed from the
            // node it passed last, with what it was released taken as held.
            let adopted = o.echoed && o.last_sent.is_none();
            let from = match &passed {
                Some((order_id, k, _)) if adopted && order_id == o.t.plan.order_id() => {
                    (*k).min(o.t.plan.base_end())
                }
                _ => o.t.plan.base_end(),
            };
            let start = o.t.plan.route().nodes[from].node_id.clone();
            if a.position(&id) != Some(start.as_str()) {
                if a.halted_past(&id) == Some(start.as_str()) && !o.sent() {
                    // Planned from the node it was halted past, which a follower has: it
                    // stands in the lane beyond, so the order is planned again from the
                    // lane's end (`traffic_start`) rather than the robot moved back.
                    if let Some(job) = self.job.as_mut().filter(|j| !j.stopping) {
                        job.order = None;
                    }
                    return;
                }
                if a.is_idle(&id) {
                    let _ = a.free(&id, now);
                    if a.place(&id, &start).is_err() {
                        return;
                    }
                } else {
                    let _ = a.halt(&id, now);
                    return;
                }
            }
            // A fresh order, before it goes out, takes the route that weighs what others
            // hold and plan (the layout's shortest path if no other is cheaper), so the
            // fleet spreads over the aisles instead of queueing on the same shortest
            // ones; re-plans and detours steer it after that.
            if !adopted && !o.sent() {
                if let Some(layout) = &layout {
                    let pending = pending_stops(&o.t.plan, &o.t.stops);
                    let via = plan::route_via(layout, &start, &pending, |x, y| {
                        a.plan_route(Some(&id), x, y).ok()
                    });
                    if let Some((route, actions)) = via {
                        let planned = node_ids(o.t.plan.route());
                        if node_ids(&route)[..] != planned[from..] && o.reroute(route, actions) {
                            // Still to be given to the allocator, just below.
                            o.route_from = None;
                        }
                    }
                }
            }
            let nodes: Vec<String> = o.t.plan.route().nodes[from..]
                .iter()
                .map(|n| n.node_id.clone())
                .collect();
            match a.set_route(&id, &nodes, now) {
                Ok(()) => {
                    o.route_from = Some(from);
                    if o.t.plan.base_end() > from {
                        if let Ok(clashes) = a.adopt_base(&id, o.t.plan.base_end() - from) {
                            if !clashes.is_empty() {
                                tracing::warn!(device_id = %id, ?clashes,
                                    "the robot's base from before the restart crosses what another robot holds");
                            }
                        }
                    }
                    self.traffic_order = Some(o.t.plan.order_id().to_string());
                }
                Err(TrafficError::BaseNotDriven(_)) => {
                    let _ = a.halt(&id, now);
                    return;
                }
                Err(e) => {
                    if o.route_refused.as_ref() != Some(&e) {
                        tracing::info!(device_id = %id, error = %e,
                            "traffic control holds the order back for now");
                        o.route_refused = Some(e);
                    }
                    return;
                }
            }
        }
        let Some((_, o)) = self.followed() else {
            return;
        };
        let from = o.route_from.expect("set above");
        if let Some((order_id, index, _)) = &passed {
            if order_id == o.t.plan.order_id() && *index >= from {
                if let Err(e) = a.passed(&id, index - from, now) {
                    tracing::debug!(device_id = %id, error = %e, "traffic: passed");
                }
                // Clear of the node it passed, on the way to the next: that node is free.
                let nodes = &o.t.plan.route().nodes;
                if let (Some((c, x, y, map)), Some(layout), Some(next)) =
                    (&clear_at, &layout, nodes.get(index + 1))
                {
                    let past = layout
                        .node(&nodes[*index].node_id)
                        .zip(layout.node(&next.node_id))
                        .filter(|(n, m)| n.map_id == *map && m.map_id == *map)
                        .and_then(|(n, m)| distance_past(n.x, n.y, m.x, m.y, *x, *y));
                    if past.is_some_and(|d| d >= *c) {
                        let _ = a.cleared(&id, index - from);
                    }
                }
            }
        }
        let Ok(grant) = a.request(&id, now) else {
            return;
        };
        let target = from + grant.base_end;
        let sent = o.sent();
        if target > o.t.plan.base_end() && (!sent || o.echoed) {
            let (_, dp) = o.t.plan.decision_point();
            if o.t.plan.release_to(target, sent) && sent {
                o.new_message(dp);
            }
        }
        // At the end of a detour with stops still ahead: route on to them.
        let at_end = a
            .progress(&id)
            .is_some_and(|(at, g)| at == g && a.is_idle(&id));
        if at_end && o.echoed && o.t.plan.is_fully_released() {
            let pending = pending_stops(&o.t.plan, &o.t.stops);
            if !pending.is_empty() {
                if let Some(layout) = &layout {
                    let here = o.t.plan.decision_point().0.to_string();
                    let via = plan::route_via(layout, &here, &pending, |x, y| {
                        a.plan_route(Some(&id), x, y).ok()
                    });
                    if let Some((route, actions)) = via {
                        if a.set_route(&id, &node_ids(&route), now).is_ok() {
                            o.reroute(route, actions);
                        }
                    }
                }
            }
        }
        match self.followed().map(|(w, _)| w) {
            Some(Which::Job) => self.follow_job(now, out),
            Some(Which::Errand) => self.follow_errand(now, out),
            None => {}
        }
    }

    /// Traffic control re-routed the robot along `route` (node ids from where it stands,
    /// already set in the allocator). Returns whether the robot's order follows it.
    pub(crate) fn detour(&mut self, route: &[String], now: Instant, out: &mut Vec<Out>) -> bool {
        let layout = self.layout.clone();
        let Some(layout) = layout else { return false };
        let Some(r) = layout.route_through(route) else {
            return false;
        };
        match self.followed() {
            Some((_, o)) if o.route_from.is_some() => {
                if o.t.plan.decision_point().0 != route[0] {
                    return false;
                }
                o.reroute(r, Vec::new())
            }
            Some(_) => false,
            None => {
                if route.len() < 2 {
                    return true;
                }
                self.start_errand(route, now, out)
            }
        }
    }

    /// Sends the idle robot along `route` (node ids from where it stands, already set in the
    /// allocator) by an order of floorgate's own, without actions.
    pub(crate) fn start_errand(
        &mut self,
        route: &[String],
        now: Instant,
        out: &mut Vec<Out>,
    ) -> bool {
        let Some(layout) = self.layout.clone() else {
            return false;
        };
        let Some(r) = layout.route_through(route) else {
            return false;
        };
        if let Some(job) = self.job.as_mut() {
            // A command's order that never went out is planned again from where the
            // errand ends.
            if job
                .order
                .as_ref()
                .is_some_and(|o| !o.echoed && o.last_sent.is_none())
            {
                job.order = None;
            }
        }
        self.errand_seq += 1;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let order_id = format!("move-{stamp}-{}", self.errand_seq);
        let max_base = self.profile.max_base_nodes.max(2);
        let Ok(mut plan) = OrderPlan::new(&order_id, r, Vec::new(), max_base) else {
            return false;
        };
        plan.hold_at_start();
        self.errand = Some(Active {
            t: Transport {
                plan,
                pick_id: String::new(),
                drop_id: String::new(),
                max_order_nodes: self.profile.max_order_nodes,
                stops: Vec::new(),
            },
            msg_start_seq: 0,
            last_sent: None,
            echoed: false,
            route_from: Some(0),
            route_refused: None,
        });
        self.traffic_order = Some(order_id);
        self.follow_errand(now, out);
        true
    }

    /// Publishes the errand until echoed; ends it when the robot is through or refused it.
    pub(crate) fn follow_errand(&mut self, now: Instant, out: &mut Vec<Out>) {
        let connected = self.connected();
        let Some(e) = self.errand.as_mut() else {
            return;
        };
        if let Some(s) = &self.state {
            if s.order_id == e.t.plan.order_id() {
                if s.order_update_id >= e.t.plan.order_update_id() {
                    e.echoed = true;
                }
                if e.echoed && e.t.plan.is_fully_released() && s.node_states.is_empty() {
                    self.errand = None;
                    return;
                }
            }
            if super::job::rejection(&s.errors, e.t.plan.order_id(), e.t.plan.order_update_id())
                .is_some()
                || s.fatal_error().is_some()
            {
                tracing::info!(device_id = %self.device_id, order_id = %e.t.plan.order_id(),
                    "the robot did not take floorgate's move order");
                self.errand = None;
                return;
            }
        }
        let due = e
            .last_sent
            .is_none_or(|t| now.duration_since(t) >= self.timing.resend);
        if !e.echoed && due && connected {
            e.last_sent = Some(now);
            let mut order =
                e.t.plan
                    .message(self.headers.next(crate::vda5050::TopicKind::Order));
            plan::limit_nodes(&mut order, e.t.max_order_nodes);
            out.push(Out::Publish {
                topic: self.topic(crate::vda5050::TopicKind::Order),
                qos: self.topics.qos(crate::vda5050::TopicKind::Order),
                payload: crate::vda5050::encode(&order),
            });
        }
    }

    /// Re-plans the robot's order from its decision point through the stops still ahead,
    /// around the resources others hold. Whether the route changed.
    pub(crate) fn replan_traffic(&mut self, a: &mut Allocator, now: Instant) -> bool {
        let id = self.device_id.clone();
        let layout = self.layout.clone();
        let Some(layout) = layout else { return false };
        let Some((Which::Job, o)) = self.followed() else {
            return false;
        };
        if o.route_from.is_none() || !(o.echoed || o.last_sent.is_none()) {
            return false;
        }
        let here = o.t.plan.decision_point().0.to_string();
        let pending = pending_stops(&o.t.plan, &o.t.stops);
        let Some((route, actions)) = plan::route_via(&layout, &here, &pending, |x, y| {
            a.plan_route(Some(&id), x, y).ok()
        }) else {
            return false;
        };
        let nodes = node_ids(&route);
        if a.remaining_route(&id).as_ref() == Some(&nodes) || a.set_route(&id, &nodes, now).is_err()
        {
            return false;
        }
        o.reroute(route, actions)
    }
}

/// The node ids of a route.
fn node_ids(route: &crate::vda5050::Route) -> Vec<String> {
    route.nodes.iter().map(|n| n.node_id.clone()).collect()
}

/// The stops whose action is not on the released part of the route (a re-route of the
/// horizon passes through them again).
fn pending_stops(plan: &OrderPlan, stops: &[(String, Action)]) -> Vec<(String, Action)> {
    let n = plan.base_end() + 1;
    stops
        .iter()
        .filter(|(_, action)| {
            !(0..n).any(|i| {
                plan.actions_at(i)
                    .iter()
                    .any(|a| a.action_id == action.action_id)
            })
        })
        .cloned()
        .collect()
}

/// How far `(x, y)` is past node `(ax, ay)` along the edge to `(bx, by)`, if it lies
/// beside that edge (within the edge's length of it; `None` for an edge of no length).
fn distance_past(ax: f64, ay: f64, bx: f64, by: f64, x: f64, y: f64) -> Option<f64> {
    let (ex, ey) = (bx - ax, by - ay);
    let len = ex.hypot(ey);
    if len <= f64::EPSILON {
        return None;
    }
    let along = ((x - ax) * ex + (y - ay) * ey) / len;
    let aside = ((x - ax) * ey - (y - ay) * ex).abs() / len;
    (aside <= len).then_some(along)
}

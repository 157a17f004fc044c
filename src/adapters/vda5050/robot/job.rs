//! The order of a command: planning or adopting it, re-sending it until echoed, releasing
//! the horizon by updates, and reading the robot's state for acknowledgement, completion and
//! failure (see the parent module's note). A job being stopped is followed by
//! [`super::cancel`].

use std::time::Instant;

use super::{describe_error, Out, Robot, Seen, REJECTIONS};
use crate::adapters::vda5050::plan::{self, Transport};
use crate::engine::adapter::{DeviceCommand, DeviceReport};
use crate::vda5050::{encode, Action, ActionStatus, AgvError, TopicKind};

/// The command in hand.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) command: DeviceCommand,
    /// The order, once planned or adopted.
    pub(super) order: Option<Active>,
    /// `stop` was called: the robot's answer to the cancel decides ([`super::cancel`]).
    pub(super) stopping: bool,
    /// `Acknowledged` was reported (again after an `OutcomeUnknown`: the echo of a robot
    /// that is back acknowledges anew).
    pub(super) acked: bool,
    /// `OutcomeUnknown` was reported for this absence of the robot.
    pub(super) unknown_reported: bool,
}

impl Job {
    pub(super) fn new(command: DeviceCommand, stopping: bool) -> Job {
        Job {
            command,
            order: None,
            stopping,
            acked: false,
            unknown_reported: false,
        }
    }

    /// Whether the robot may have the order: this process published it, or the robot's
    /// state showed it holds it.
    pub(super) fn published(&self) -> bool {
        self.order.as_ref().is_some_and(Active::sent)
    }
}

#[derive(Debug)]
pub(super) struct Active {
    pub(super) t: Transport,
    /// Sequence id of the first node of the current message.
    pub(super) msg_start_seq: u32,
    /// When the current message was last published (`None`: never).
    pub(super) last_sent: Option<Instant>,
    /// The state echoed the current message.
    pub(super) echoed: bool,
    /// Under traffic control: the route index from which the allocator holds this order's
    /// route (`None`: not given to it yet, nothing goes out).
    pub(super) route_from: Option<usize>,
    /// Why the allocator last refused this order's route (logged once).
    pub(super) route_refused: Option<crate::traffic::TrafficError>,
}

impl Active {
    /// Whether the robot may have the current message: it went out, or the robot echoed it.
    pub(super) fn sent(&self) -> bool {
        self.echoed || self.last_sent.is_some()
    }

    /// A new message, starting at sequence id `start_seq`, is to go out (and be echoed).
    pub(super) fn new_message(&mut self, start_seq: u32) {
        self.msg_start_seq = start_seq;
        self.echoed = false;
        self.last_sent = None;
    }

    /// Replaces the horizon after the decision point by `tail` (see
    /// [`OrderPlan::reroute`](crate::vda5050::OrderPlan::reroute)): an update once the robot
    /// may have the current message, else the current message itself; the allocator's route
    /// then starts at the decision point. Whether the plan took it.
    pub(super) fn reroute(
        &mut self,
        tail: crate::vda5050::Route,
        actions: Vec<(usize, crate::vda5050::Action)>,
    ) -> bool {
        let sent = self.sent();
        if self.t.plan.reroute(tail, actions, sent).is_err() {
            return false;
        }
        self.route_from = Some(self.t.plan.base_end());
        if sent {
            self.new_message(self.t.plan.decision_point().1);
        }
        true
    }
}

impl Robot {
    pub(super) fn follow_job(&mut self, now: Instant, out: &mut Vec<Out>) {
        let Some(job) = &self.job else { return };
        if job.stopping {
            return self.follow_stop(now, out);
        }
        if self.cancel_blocks() {
            return;
        }
        let cid = job.command.command_id.clone();
        if let Some(since) = self.offline_since {
            if now.duration_since(since) >= self.timing.offline_timeout {
                let secs = self.timing.offline_timeout.as_secs();
                if job.published() || self.state.is_none() {
                    // The robot may hold the order (it keeps it while away, VDA 5050 6.6):
                    // what it does with it is not known until it is back, and then its state
                    // decides as usual.
                    if !job.unknown_reported {
                        let reason = format!(
                            "the robot has been unreachable for {secs} s and may hold the order: \
                             its outcome is known once the robot is back"
                        );
                        tracing::warn!(device_id = %self.device_id, command_id = %cid, %reason,
                            "AMR command outcome unknown");
                        let job = self.job.as_mut().expect("checked");
                        job.unknown_reported = true;
                        job.acked = false;
                        out.push(Out::Report(DeviceReport::OutcomeUnknown {
                            command_id: cid.clone(),
                            reason,
                        }));
                    }
                } else {
                    // Never published, and the robot's state showed it does not hold it.
                    return self.fail(cid, format!("the robot was unreachable for {secs} s"), out);
                }
            }
        } else if let Some(job) = self.job.as_mut() {
            job.unknown_reported = false;
        }
        let Some(job) = &self.job else { return };
        if job.order.is_none() {
            let Some(s) = &self.state else {
                return self.ask_state(now, out);
            };
            if self.errand.is_some() {
                // Floorgate's own move order first: the command starts where it ends.
                return;
            }
            match self.start_job(s) {
                Ok(active) => {
                    let adopted = active.echoed;
                    self.job.as_mut().expect("checked").order = Some(active);
                    if adopted {
                        tracing::info!(device_id = %self.device_id, command_id = %cid,
                            "the robot already holds this command's order; adopted");
                    }
                }
                Err(reason) => return self.fail(cid, reason, out),
            }
        }
        self.follow_order(now, out);
    }

    /// Plans the job's order, or adopts the one the robot holds.
    fn start_job(&self, s: &Seen) -> Result<Active, String> {
        let job = self.job.as_ref().expect("called with a job");
        let layout = self
            .layout
            .as_deref()
            .ok_or("the site file has no [layout] for AMRs")?;
        let factsheet = self.factsheet.as_ref();
        if let Some(start) = plan::start_of(&s.order_id, &job.command.command_id) {
            let mut t =
                plan::plan_transport(&job.command, start, layout, &self.profile, factsheet)?;
            let mut msg_start_seq = 0;
            if self.controlled {
                // Released as traffic control granted it: the robot's node states say how far.
                let k = (s.last_node_sequence_id / 2) as usize;
                let released = s
                    .node_states
                    .iter()
                    .filter(|n| n.released)
                    .map(|n| (n.sequence_id / 2) as usize)
                    .max()
                    .unwrap_or(k)
                    .max(k);
                if let Some(tail) = held_tail(s, k) {
                    let planned = t.plan.route().nodes.iter().skip(k).map(|n| &n.node_id);
                    if !planned.eq(tail.iter()) {
                        // Re-routed by traffic control before the restart: the robot's own
                        // node states say where it goes, not the layout's shortest path.
                        let route = layout.route_through(&tail).ok_or_else(|| {
                            format!(
                                "the robot's order {} runs along {tail:?}, which is not on the layout",
                                s.order_id
                            )
                        })?;
                        let actions = tail_actions(&t.stops, &tail, &s.action_states);
                        t.plan = t
                            .plan
                            .resumed(k, route, actions)
                            .map_err(|e| e.to_string())?;
                        tracing::info!(device_id = %self.device_id, order_id = %s.order_id,
                            route = ?tail, "the robot's order was re-routed before the restart; followed along its node states");
                    }
                }
                t.plan.adopt(s.order_update_id, k, released);
                msg_start_seq = s.last_node_sequence_id;
            }
            while t.plan.order_update_id() < s.order_update_id {
                let (_, dp) = t.plan.decision_point();
                if !t.plan.advance() {
                    return Err(format!(
                        "the robot holds update {} of order {}, which was never sent",
                        s.order_update_id, s.order_id
                    ));
                }
                msg_start_seq = dp;
            }
            return Ok(Active {
                t,
                msg_start_seq,
                last_sent: None,
                echoed: true,
                route_from: None,
                route_refused: None,
            });
        }
        let start = match &self.traffic_start {
            // Halted clear of its last node, which a follower has: from its lane's end.
            Some((past, end)) if *past == s.last_node_id => end.clone(),
            _ if !s.last_node_id.is_empty() => s.last_node_id.clone(),
            _ => self
                .position
                .clone()
                .ok_or("the robot reports no last node and no position")?,
        };
        if layout.node(&start).is_none() {
            return Err(format!(
                "the robot stands on node {start:?}, which is not on the site's layout"
            ));
        }
        let mut t = plan::plan_transport(&job.command, &start, layout, &self.profile, factsheet)?;
        if self.controlled {
            t.plan.hold_at_start();
        }
        // A robot stopped between two nodes starts from the node it passed last (or, under
        // traffic control, the end of its lane when a follower has that node): the first
        // node's deviation covers where it stands (VDA 5050 2.1 6.6.3.1).
        let off = match (layout.node(&start), s.agv_position.as_ref()) {
            (Some(n), Some(p)) => (n.x - p.x).hypot(n.y - p.y),
            _ => 0.0,
        };
        let xy = self.profile.allowed_deviation_xy.max(off * 1.1 + 0.05);
        t.plan
            .set_start_deviation(Some(xy), self.profile.allowed_deviation_theta);
        Ok(Active {
            t,
            msg_start_seq: 0,
            last_sent: None,
            echoed: false,
            route_from: None,
            route_refused: None,
        })
    }

    fn follow_order(&mut self, now: Instant, out: &mut Vec<Out>) {
        let connected = self.connected();
        let topic = self.topic(TopicKind::Order);
        let qos = self.topics.qos(TopicKind::Order);
        let job = self.job.as_mut().expect("called with a job");
        let cid = job.command.command_id.clone();
        let active = job.order.as_mut().expect("called with an order");
        let order_id = active.t.plan.order_id().to_string();
        let mut ack = false;
        if let Some(s) = &self.state {
            if s.order_id == order_id
                && s.action_status(&active.t.drop_id) == Some(ActionStatus::Finished)
                && s.node_states.is_empty()
            {
                // Done, whatever the robot says about itself now (a fault raised after the
                // drop is its state, not this command's outcome).
                if !job.acked {
                    out.push(Out::Report(DeviceReport::Acknowledged {
                        command_id: cid.clone(),
                    }));
                }
                self.job = None;
                out.push(Out::Report(DeviceReport::Completed { command_id: cid }));
                return;
            }
            if let Some(reason) = rejection(&s.errors, &order_id, active.t.plan.order_update_id()) {
                return self.fail(cid, format!("the robot rejected the order: {reason}"), out);
            }
            if let Some(e) = s.fatal_error() {
                return self.fail(
                    cid,
                    format!("the robot reports a FATAL error: {}", describe_error(e)),
                    out,
                );
            }
            if s.order_id == order_id {
                if s.order_update_id >= active.t.plan.order_update_id() {
                    active.echoed = true;
                    // Only a robot that can hear us acknowledges (not its last state while it
                    // is away).
                    if connected {
                        ack = !job.acked;
                        job.acked = true;
                    }
                }
                if let Some(reason) = handling_failure(s, &active.t.pick_id, &active.t.drop_id) {
                    return self.fail(cid, reason, out);
                }
                if ack {
                    out.push(Out::Report(DeviceReport::Acknowledged {
                        command_id: cid.clone(),
                    }));
                }
                let advanced = s.last_node_sequence_id > active.msg_start_seq
                    || s.new_base_request == Some(true);
                // Under traffic control the allocator releases (`robot/traffic.rs`).
                if !self.controlled
                    && active.echoed
                    && advanced
                    && !active.t.plan.is_fully_released()
                {
                    let (_, dp) = active.t.plan.decision_point();
                    active.t.plan.advance();
                    active.new_message(dp);
                }
            }
        }
        let due = active
            .last_sent
            .is_none_or(|t| now.duration_since(t) >= self.timing.resend);
        let held_back = self.controlled && active.route_from.is_none();
        if !active.echoed && due && connected && !held_back {
            active.last_sent = Some(now);
            let mut order = active.t.plan.message(self.headers.next(TopicKind::Order));
            plan::limit_nodes(&mut order, active.t.max_order_nodes);
            out.push(Out::Publish {
                topic,
                qos,
                payload: encode(&order),
            });
        }
    }

    fn fail(&mut self, command_id: String, reason: String, out: &mut Vec<Out>) {
        tracing::warn!(device_id = %self.device_id, %command_id, %reason, "AMR command failed");
        if self
            .job
            .as_ref()
            .is_some_and(|j| j.command.command_id == command_id)
        {
            self.job = None;
        }
        out.push(Out::Report(DeviceReport::Failed { command_id, reason }));
    }
}

/// Why the pick or the drop of an order failed on the robot, if one did.
pub(super) fn handling_failure(s: &Seen, pick_id: &str, drop_id: &str) -> Option<String> {
    [("pick", pick_id), ("drop", drop_id)]
        .into_iter()
        .find_map(|(what, id)| {
            let a = s.action_states.iter().find(|a| a.action_id == id)?;
            (a.action_status == ActionStatus::Failed).then(|| {
                match a.result_description.as_deref() {
                    Some(why) if !why.is_empty() => {
                        format!("the {what} failed on the robot: {why}")
                    }
                    _ => format!("the {what} failed on the robot"),
                }
            })
        })
}

/// The order warning referencing `order_id` that means the robot refused it, if any. An
/// `orderUpdateError` about an older update than `update_id` is stale and ignored.
pub(super) fn rejection(errors: &[AgvError], order_id: &str, update_id: u32) -> Option<String> {
    errors.iter().find_map(|e| {
        if !REJECTIONS.contains(&e.error_type.as_str()) {
            return None;
        }
        let refs = e.error_references.as_deref().unwrap_or_default();
        let value = |k: &str| {
            refs.iter()
                .find(|r| r.reference_key == k)
                .map(|r| r.reference_value.as_str())
        };
        if value("orderId") != Some(order_id) {
            return None;
        }
        let stale = value("orderUpdateId")
            .and_then(|u| u.parse::<u32>().ok())
            .is_some_and(|u| u < update_id);
        (!stale).then(|| describe_error(e))
    })
}

/// The route the robot holds from route index `k` (its last node) on, by its own state:
/// the last node, then its node states in sequence; `None` if they do not follow on from it
/// node by node (nothing to compare a plan with).
fn held_tail(s: &Seen, k: usize) -> Option<Vec<String>> {
    if s.node_states.is_empty() || s.last_node_id.is_empty() {
        return None;
    }
    let mut ns: Vec<_> = s.node_states.iter().collect();
    ns.sort_by_key(|n| n.sequence_id);
    let dense = ns
        .iter()
        .enumerate()
        .all(|(i, n)| n.sequence_id as usize == 2 * (k + 1 + i));
    dense.then(|| {
        std::iter::once(s.last_node_id.clone())
            .chain(ns.iter().map(|n| n.node_id.clone()))
            .collect()
    })
}

/// The stops' actions still to run, at their nodes on `tail`: each at the first visit
/// after the one before (as a re-route places them); a finished or failed one is left out.
fn tail_actions(
    stops: &[(String, Action)],
    tail: &[String],
    states: &[crate::vda5050::ActionState],
) -> Vec<(usize, Action)> {
    let mut out = Vec::new();
    let mut from = 0;
    for (node, action) in stops {
        let done = states.iter().any(|a| {
            a.action_id == action.action_id
                && matches!(
                    a.action_status,
                    ActionStatus::Finished | ActionStatus::Failed
                )
        });
        if done {
            continue;
        }
        if let Some(i) = tail.iter().skip(from).position(|n| n == node) {
            out.push((from + i, action.clone()));
            from += i;
        }
    }
    out
}

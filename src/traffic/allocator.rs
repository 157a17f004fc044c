//! The allocator's state and the events that change it: placing robots,
//! routes, grants, passing nodes, status, operator frees. The wait-for
//! checks live in `waitfor.rs`; this file only applies their verdicts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::resources::{BlockIx, EdgeIx, LaneIx, NodeIx, ResourceMap};
use super::{Blocker, Config, Resource, RobotStatus, TrafficError};

/// The answer to [`Allocator::request`].
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Route index of the last node the robot may drive to (its base end;
    /// `sequenceId` `2 * base_end`).
    pub base_end: usize,
    /// Route nodes newly granted by this request.
    pub added: usize,
    /// The whole route is granted.
    pub complete: bool,
    /// Why the base ends where it does, if more was wanted.
    pub waiting: Option<Blocker>,
}

#[derive(Debug, Clone)]
pub(crate) struct Robot {
    pub(crate) id: String,
    pub(crate) status: RobotStatus,
    /// Route nodes; empty while the robot is not placed.
    pub(crate) route: Vec<NodeIx>,
    /// `edges[i]` joins `route[i]` and `route[i + 1]`.
    pub(crate) edges: Vec<EdgeIx>,
    /// Index of the last node passed (where the robot is, or just left).
    pub(crate) at: usize,
    /// Index of the base end.
    pub(crate) granted: usize,
    /// Block slots held, sorted.
    pub(crate) blocks: Vec<BlockIx>,
    /// Distinct nodes of `route[at..]`, sorted.
    pub(crate) remaining_nodes: Vec<NodeIx>,
    /// Distinct lanes of `edges[at..]`, sorted.
    pub(crate) remaining_lanes: Vec<LaneIx>,
    pub(crate) waiting: Option<Blocker>,
    pub(crate) blocked_since: Option<Instant>,
    /// Held since the robot was halted between two nodes ([`Allocator::halt`]): the lane
    /// it may stand in and the node at its end, until it passes a node of its next route.
    pub(crate) residual: (Vec<NodeIx>, Vec<LaneIx>),
    /// Blocks claimed outright (a zone's release, `zones.rs`), sorted: slots held whatever
    /// the robot's route.
    pub(crate) claims: Vec<BlockIx>,
    /// The robot's state shows it clear of `route[at]`, on its way to `route[at + 1]`
    /// ([`Allocator::cleared`]): it no longer holds that node.
    pub(crate) left: bool,
    /// The node the robot had passed last when it was halted clear of it, in the lane to
    /// where it now stands in the allocator's picture ([`Allocator::halted_past`]).
    pub(crate) past: Option<NodeIx>,
}

impl Robot {
    pub(crate) fn placed(&self) -> bool {
        !self.route.is_empty()
    }

    pub(crate) fn last(&self) -> usize {
        self.route.len().saturating_sub(1)
    }

    /// Whether the robot stands at its base end with route left.
    pub(crate) fn at_rest_with_route(&self) -> bool {
        self.placed() && self.at == self.granted && self.granted < self.last()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub(crate) blocked_total: Duration,
    pub(crate) replans: u64,
    pub(crate) deadlocks_resolved: u64,
    pub(crate) grants: u64,
    pub(crate) refusals: u64,
}

/// The traffic allocator of one site (see the module note).
#[derive(Debug, Clone)]
pub struct Allocator {
    pub(crate) map: ResourceMap,
    pub(crate) cfg: Config,
    pub(crate) robots: Vec<Robot>,
    by_id: HashMap<String, usize>,
    pub(crate) node_holder: Vec<Option<usize>>,
    pub(crate) lane_holder: Vec<Option<usize>>,
    pub(crate) block_holders: Vec<Vec<usize>>,
    /// Per node: how many robots' remaining routes use it.
    pub(crate) planned_nodes: Vec<u32>,
    /// Per lane: how many robots' remaining routes use it.
    pub(crate) planned_lanes: Vec<u32>,
    pub(crate) stats: Stats,
    /// Robots whose holdings or remaining route changed since the last
    /// [`take_woken`](Allocator::take_woken), each once.
    pub(crate) changed: Vec<usize>,
}

impl Allocator {
    /// An allocator over `map` with no robots.
    pub fn new(map: ResourceMap, cfg: Config) -> Self {
        Allocator {
            node_holder: vec![None; map.nodes.len()],
            lane_holder: vec![None; map.lanes.len()],
            block_holders: vec![Vec::new(); map.blocks.len()],
            planned_nodes: vec![0; map.nodes.len()],
            planned_lanes: vec![0; map.lanes.len()],
            map,
            cfg,
            robots: Vec::new(),
            by_id: HashMap::new(),
            stats: Stats::default(),
            changed: Vec::new(),
        }
    }

    /// The robots whose last request was refused because of a robot that has since
    /// passed a node, been freed, halted or re-routed, or given back a zone: asking again
    /// may grant them more now. The caller asks for them at once instead of at its next
    /// tick, so a follower moves up as soon as its leader's state says it left a node.
    /// They come in the order to ask for them: the robots standing waiting first, the
    /// longest-waiting first, then those still driving — so where two ways merge, the
    /// robot that has waited longer gets the freed node, not whichever is asked first.
    pub fn take_woken(&mut self) -> Vec<String> {
        if self.changed.is_empty() {
            return Vec::new();
        }
        let changed = std::mem::take(&mut self.changed);
        let mut woken: Vec<(Option<Instant>, usize)> = self
            .robots
            .iter()
            .enumerate()
            .filter(|(w, rb)| {
                rb.waiting.as_ref().is_some_and(|b| {
                    changed
                        .iter()
                        .any(|&c| c != *w && b.waits_for(&self.robots[c].id))
                })
            })
            .map(|(w, rb)| (rb.blocked_since, w))
            .collect();
        woken.sort_by_key(|&(since, w)| (since.is_none(), since, w));
        woken
            .into_iter()
            .map(|(_, w)| self.robots[w].id.clone())
            .collect()
    }

    /// Notes that robot `r`'s holdings or route changed (see [`take_woken`](Self::take_woken)).
    pub(crate) fn touched(&mut self, r: usize) {
        if !self.changed.contains(&r) {
            self.changed.push(r);
        }
    }

    /// The resource map.
    pub fn map(&self) -> &ResourceMap {
        &self.map
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub(crate) fn robot_ix(&self, id: &str) -> Result<usize, TrafficError> {
        self.by_id
            .get(id)
            .copied()
            .filter(|&r| self.robots[r].placed())
            .ok_or_else(|| TrafficError::NotPlaced(id.to_string()))
    }

    /// The robot stands on `node` (its first report, or its first after
    /// [`free`](Self::free)): it holds the node and has no route. Where a
    /// robot stands is a fact, not a grant: a block it stands in counts it
    /// even beyond capacity (nobody else enters until it is below). A node
    /// another robot holds is refused ([`TrafficError::Occupied`]): the
    /// node stays protected by its holder until an operator frees one.
    pub fn place(&mut self, robot: &str, node: &str) -> Result<(), TrafficError> {
        let n = self.map.node_ix(node)?;
        if let Some(&r) = self.by_id.get(robot) {
            let rb = &self.robots[r];
            if rb.placed() {
                let here = rb.route[rb.at];
                return if here == n {
                    Ok(())
                } else {
                    Err(TrafficError::AlreadyPlaced {
                        robot: robot.to_string(),
                        node: self.map.nodes[here].id.clone(),
                    })
                };
            }
        }
        if let Some(h) = self.node_holder[n] {
            return Err(TrafficError::Occupied {
                node: node.to_string(),
                by: self.robots[h].id.clone(),
            });
        }
        let r = match self.by_id.get(robot) {
            Some(&r) => r,
            None => {
                self.robots.push(Robot {
                    id: robot.to_string(),
                    status: RobotStatus::Online,
                    route: Vec::new(),
                    edges: Vec::new(),
                    at: 0,
                    granted: 0,
                    blocks: Vec::new(),
                    remaining_nodes: Vec::new(),
                    remaining_lanes: Vec::new(),
                    waiting: None,
                    blocked_since: None,
                    residual: (Vec::new(), Vec::new()),
                    claims: Vec::new(),
                    left: false,
                    past: None,
                });
                self.by_id.insert(robot.to_string(), self.robots.len() - 1);
                self.robots.len() - 1
            }
        };
        let rb = &mut self.robots[r];
        rb.route = vec![n];
        rb.edges.clear();
        rb.at = 0;
        rb.granted = 0;
        rb.left = false;
        rb.past = None;
        self.node_holder[n] = Some(r);
        self.sync_blocks(r);
        self.plan(r);
        Ok(())
    }

    /// Gives the robot a new route, starting at the node it stands on. The
    /// robot must have driven its base (it stands at its base end). Refused
    /// if the route would close a wait-for cycle; the old route stays then.
    pub fn set_route<S: AsRef<str>>(
        &mut self,
        robot: &str,
        nodes: &[S],
        now: Instant,
    ) -> Result<(), TrafficError> {
        let r = self.robot_ix(robot)?;
        let (route, edges) = self.resolve_route(nodes)?;
        let rb = &self.robots[r];
        if rb.at != rb.granted {
            return Err(TrafficError::BaseNotDriven(robot.to_string()));
        }
        let here = rb.route[rb.at];
        if route.first() != Some(&here) {
            return Err(TrafficError::NotAtStart {
                robot: robot.to_string(),
                node: self.map.nodes[here].id.clone(),
            });
        }
        let unfinished = rb.at < rb.last();
        self.unplan(r);
        let rb = &mut self.robots[r];
        let old = (
            std::mem::replace(&mut rb.route, route),
            std::mem::replace(&mut rb.edges, edges),
            rb.at,
        );
        rb.at = 0;
        rb.granted = 0;
        self.plan(r);
        if let Some(cycle) = self.find_cycle(None) {
            self.unplan(r);
            let rb = &mut self.robots[r];
            (rb.route, rb.edges, rb.at) = old;
            rb.granted = rb.at;
            self.plan(r);
            return Err(TrafficError::WouldDeadlock(self.names(&cycle)));
        }
        if unfinished {
            self.stats.replans += 1;
        }
        self.unblock(r, now);
        self.robots[r].waiting = None;
        Ok(())
    }

    /// Extends the robot's base along its route: whole segments up to stop
    /// nodes, as long as it has fewer than `lookahead_nodes` released ahead
    /// and no grant would close a wait-for cycle.
    pub fn request(&mut self, robot: &str, now: Instant) -> Result<Grant, TrafficError> {
        let r = self.robot_ix(robot)?;
        let status = self.robots[r].status;
        if status != RobotStatus::Online {
            let rb = &self.robots[r];
            return Ok(Grant {
                base_end: rb.granted,
                added: 0,
                complete: rb.granted == rb.last(),
                waiting: Some(Blocker::NotOperational(status)),
            });
        }
        let (t, blocker) = self.evaluate(r);
        let added = t.granted - self.robots[r].granted;
        self.claim(&t);
        if added > 0 {
            self.stats.grants += 1;
        }
        let rb = &self.robots[r];
        let (base_end, complete, resting) =
            (rb.granted, rb.granted == rb.last(), rb.at == rb.granted);
        if blocker.is_some() && added == 0 {
            self.stats.refusals += 1;
        }
        if blocker.is_some() && resting {
            self.robots[r].blocked_since.get_or_insert(now);
        } else {
            self.unblock(r, now);
        }
        self.robots[r].waiting = blocker.clone();
        Ok(Grant {
            base_end,
            added,
            complete,
            waiting: blocker,
        })
    }

    /// The robot's state shows it passed route node `index`
    /// (`lastNodeSequenceId / 2`): everything behind it is released.
    /// An index behind the last one reported is ignored.
    pub fn passed(&mut self, robot: &str, index: usize, now: Instant) -> Result<(), TrafficError> {
        let r = self.robot_ix(robot)?;
        let rb = &self.robots[r];
        if index <= rb.at {
            return Ok(());
        }
        if index > rb.granted {
            return Err(TrafficError::BeyondBase {
                robot: robot.to_string(),
                index,
                base_end: rb.granted,
            });
        }
        self.unplan(r);
        let rb = &self.robots[r];
        let keep_nodes = &rb.route[index..=rb.granted];
        let keep_lanes: Vec<LaneIx> = rb.edges[index..rb.granted]
            .iter()
            .map(|&e| self.map.edges[e].lane)
            .collect();
        let mut free_nodes = Vec::new();
        let mut free_lanes = Vec::new();
        for i in rb.at..index {
            if !keep_nodes.contains(&rb.route[i]) {
                free_nodes.push(rb.route[i]);
            }
            let lane = self.map.edges[rb.edges[i]].lane;
            if !keep_lanes.contains(&lane) {
                free_lanes.push(lane);
            }
        }
        // (A node the robot drove clear of may be another's by now: only its own are freed.)
        for n in free_nodes {
            if self.node_holder[n] == Some(r) {
                self.node_holder[n] = None;
            }
        }
        for l in free_lanes {
            if self.lane_holder[l] == Some(r) {
                self.lane_holder[l] = None;
            }
        }
        let (residual_nodes, residual_lanes) = std::mem::take(&mut self.robots[r].residual);
        let rb = &self.robots[r];
        let held_lanes: Vec<LaneIx> = rb.edges[index..rb.granted]
            .iter()
            .map(|&e| self.map.edges[e].lane)
            .collect();
        for n in residual_nodes {
            if !rb.route[index..=rb.granted].contains(&n) && self.node_holder[n] == Some(r) {
                self.node_holder[n] = None;
            }
        }
        for l in residual_lanes {
            if !held_lanes.contains(&l) && self.lane_holder[l] == Some(r) {
                self.lane_holder[l] = None;
            }
        }
        let rb = &mut self.robots[r];
        rb.at = index;
        rb.left = false;
        rb.past = None;
        let (resting, arrived) = (rb.at == rb.granted, rb.at == rb.last());
        self.sync_blocks(r);
        self.plan(r);
        if arrived {
            self.robots[r].waiting = None;
            self.unblock(r, now);
        } else if resting && self.robots[r].waiting.is_some() {
            self.robots[r].blocked_since.get_or_insert(now);
        }
        Ok(())
    }

    /// The robot's state shows it has driven clear of route node `index`, the node it
    /// passed last, on its way to the next (its position is past the node by the profile's
    /// clearance): that node is freed — the lane it drives in and everything ahead stay
    /// held — so a follower may move up before the robot reaches its next node. Returns
    /// whether anything was freed; an index other than the node passed last, a robot at
    /// its base end and a node already cleared change nothing.
    pub fn cleared(&mut self, robot: &str, index: usize) -> Result<bool, TrafficError> {
        let r = self.robot_ix(robot)?;
        let rb = &self.robots[r];
        if index != rb.at || rb.at >= rb.granted || rb.left {
            return Ok(false);
        }
        let n = rb.route[rb.at];
        let still_held =
            rb.route[rb.at + 1..=rb.granted].contains(&n) || rb.residual.0.contains(&n);
        self.unplan(r);
        self.robots[r].left = true;
        if !still_held && self.node_holder[n] == Some(r) {
            self.node_holder[n] = None;
        }
        self.sync_blocks(r);
        self.plan(r);
        Ok(true)
    }

    /// The robot's operational status. A robot that is not online keeps
    /// everything it holds and is granted nothing more.
    pub fn set_status(
        &mut self,
        robot: &str,
        status: RobotStatus,
        now: Instant,
    ) -> Result<(), TrafficError> {
        let r = self.robot_ix(robot)?;
        self.robots[r].status = status;
        if status != RobotStatus::Online {
            self.unblock(r, now);
        }
        Ok(())
    }

    /// An operator frees the robot: it holds nothing and has no route until
    /// it is [`place`](Self::place)d again.
    pub fn free(&mut self, robot: &str, now: Instant) -> Result<(), TrafficError> {
        let r = self.robot_ix(robot)?;
        self.unplan(r);
        self.unblock(r, now);
        for h in self
            .node_holder
            .iter_mut()
            .chain(self.lane_holder.iter_mut())
        {
            if *h == Some(r) {
                *h = None;
            }
        }
        let rb = &mut self.robots[r];
        rb.route.clear();
        rb.edges.clear();
        (rb.at, rb.granted) = (0, 0);
        rb.waiting = None;
        rb.residual = (Vec::new(), Vec::new());
        rb.claims.clear();
        rb.left = false;
        rb.past = None;
        self.sync_blocks(r);
        Ok(())
    }

    /// The robot stopped before the end of its route (its order was cancelled or failed):
    /// it stands at the node it passed last, or between that node and the next. It keeps
    /// that node as its whole route and, if it was released further, the next lane and
    /// node too — it may stand in that lane — until it passes a node of its next route;
    /// the rest of what it held is freed.
    pub fn halt(&mut self, robot: &str, now: Instant) -> Result<(), TrafficError> {
        let r = self.robot_ix(robot)?;
        let rb = &self.robots[r];
        if rb.route.len() == 1 {
            return Ok(());
        }
        let (at, granted, left) = (rb.at, rb.granted, rb.left);
        let mut here = rb.route[at];
        let mut past = None;
        if left {
            // Halted clear of the node it passed last (which may be a follower's by now):
            // for the allocator the robot stands at the end of the lane it is in, which it
            // holds, and keeps the lane until it passes a node of its next route. (Taking
            // the node back instead could add a hold and a planned node another robot's
            // next request runs through, and so a wait-for edge no guard has checked.)
            past = Some(here);
            here = self.robots[r].route[at + 1];
        }
        let (mut keep_nodes, mut keep_lanes) = std::mem::take(&mut self.robots[r].residual);
        let rb = &self.robots[r];
        if granted > at {
            keep_nodes.push(rb.route[at + 1]);
            keep_lanes.push(self.map.edges[rb.edges[at]].lane);
        }
        for i in at..=granted {
            let n = rb.route[i];
            if n != here && !keep_nodes.contains(&n) && self.node_holder[n] == Some(r) {
                self.node_holder[n] = None;
            }
        }
        for i in at..granted {
            let l = self.map.edges[rb.edges[i]].lane;
            if !keep_lanes.contains(&l) && self.lane_holder[l] == Some(r) {
                self.lane_holder[l] = None;
            }
        }
        self.unplan(r);
        self.unblock(r, now);
        let rb = &mut self.robots[r];
        rb.route = vec![here];
        rb.edges.clear();
        (rb.at, rb.granted) = (0, 0);
        rb.waiting = None;
        rb.left = false;
        rb.past = past;
        keep_nodes.retain(|&n| n != here);
        rb.residual = (keep_nodes, keep_lanes);
        self.sync_blocks(r);
        self.plan(r);
        Ok(())
    }

    /// The robot already holds its route up to index `base_end` (an order it was given
    /// before a restart): a fact, not a grant, so it is taken as the robot reports it.
    /// Nodes and lanes another robot holds stay with that robot and are returned (the
    /// robots' own safety fields are all that keeps them apart there).
    pub fn adopt_base(
        &mut self,
        robot: &str,
        base_end: usize,
    ) -> Result<Vec<Resource>, TrafficError> {
        let r = self.robot_ix(robot)?;
        let rb = &self.robots[r];
        let to = base_end.min(rb.last());
        let mut clashes = Vec::new();
        for i in rb.granted..=to {
            let n = rb.route[i];
            match self.node_holder[n] {
                Some(h) if h != r => clashes.push(Resource::Node(self.map.nodes[n].id.clone())),
                _ => self.node_holder[n] = Some(r),
            }
        }
        for i in rb.granted..to {
            let l = self.map.edges[rb.edges[i]].lane;
            match self.lane_holder[l] {
                Some(h) if h != r => {
                    let (a, b) = (self.map.lanes[l].0, self.map.lanes[l].1);
                    clashes.push(Resource::Lane(
                        self.map.nodes[a].id.clone(),
                        self.map.nodes[b].id.clone(),
                    ))
                }
                _ => self.lane_holder[l] = Some(r),
            }
        }
        self.robots[r].granted = to.max(self.robots[r].granted);
        self.sync_blocks(r);
        Ok(clashes)
    }

    /// Whether the robot is placed on the layout.
    pub fn is_placed(&self, robot: &str) -> bool {
        self.robot_ix(robot).is_ok()
    }

    /// The node the robot passed last (where it stands, or just left), if placed.
    pub fn position(&self, robot: &str) -> Option<&str> {
        let r = self.robot_ix(robot).ok()?;
        let rb = &self.robots[r];
        Some(self.map.nodes[rb.route[rb.at]].id.as_str())
    }

    /// The node the robot had passed last when it was [`halt`](Self::halt)ed clear of it
    /// with a follower on it: the allocator has it standing at the end of the lane it is
    /// in ([`position`](Self::position)), so its next route starts there. `None` once it
    /// passes a node, or if it was not halted so.
    pub fn halted_past(&self, robot: &str) -> Option<&str> {
        let r = self.robot_ix(robot).ok()?;
        let n = self.robots[r].past?;
        Some(self.map.nodes[n].id.as_str())
    }

    /// [`position`](Self::position) and [`halted_past`](Self::halted_past) in one look-up,
    /// if placed.
    pub fn standing(&self, robot: &str) -> Option<(&str, Option<&str>)> {
        let r = self.robot_ix(robot).ok()?;
        let rb = &self.robots[r];
        let past = rb.past.map(|n| self.map.nodes[n].id.as_str());
        Some((self.map.nodes[rb.route[rb.at]].id.as_str(), past))
    }

    /// The robot's route from the node it passed last to its end, if placed.
    pub fn remaining_route(&self, robot: &str) -> Option<Vec<String>> {
        let r = self.robot_ix(robot).ok()?;
        let rb = &self.robots[r];
        Some(self.node_names(&rb.route[rb.at..]))
    }

    /// Whether the robot is placed and has no route left beyond the node it passed last.
    pub fn is_idle(&self, robot: &str) -> bool {
        self.robot_ix(robot).is_ok_and(|r| {
            let rb = &self.robots[r];
            rb.at == rb.last()
        })
    }

    /// Route index of the robot's base end and of the node it passed last.
    pub fn progress(&self, robot: &str) -> Option<(usize, usize)> {
        let r = self.robot_ix(robot).ok()?;
        let rb = &self.robots[r];
        Some((rb.at, rb.granted))
    }
}

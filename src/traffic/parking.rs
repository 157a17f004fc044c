//! Idle robots get out of the way: each idle robot standing on a node
//! another robot's remaining route needs, or in a block that route crosses
//! (first), or off any parking node,
//! is proposed the nearest free parking node — held by nobody, on nobody's
//! remaining route, not proposed to another robot in the same call —
//! reached over resources nobody else holds. A robot in the way with no
//! parking node free is sent to the nearest node that is free in the same
//! sense.

use super::allocator::Allocator;
use super::resources::NodeIx;
use super::routing::Traffic;
use super::TrafficError;

/// Why an idle robot should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    /// It stands on a node another robot's route needs.
    Blocking,
    /// It is not on a parking node.
    Unparked,
}

/// A proposed move of an idle robot to a parking node.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingMove {
    /// The robot.
    pub robot: String,
    /// The parking node.
    pub node: String,
    /// The route there, from where it stands.
    pub route: Vec<String>,
    /// Why.
    pub reason: ParkReason,
}

impl Allocator {
    /// Parking proposals for the `idle` robots (those with no task, as the
    /// engine knows). Robots with route left are skipped, as are robots
    /// already parked out of everyone's way. A robot in the way that is
    /// boxed in by another idle robot gets that robot moved first. Apply a
    /// move with [`set_route`](Self::set_route).
    pub fn park_idle(&self, idle: &[&str]) -> Result<Vec<ParkingMove>, TrafficError> {
        let mut todo = Vec::new();
        let mut idle_ix = Vec::new();
        for id in idle {
            let r = self.robot_ix(id)?;
            let rb = &self.robots[r];
            if rb.at < rb.last() {
                continue;
            }
            idle_ix.push(r);
            let here = rb.route[rb.at];
            let reason = if self.idle_in_the_way(r) {
                ParkReason::Blocking
            } else if !self.map.nodes[here].parking {
                ParkReason::Unparked
            } else {
                continue;
            };
            todo.push((reason != ParkReason::Blocking, r, reason));
        }
        todo.sort_by_key(|&(later, r, _)| (later, r));
        let mut taken = Vec::new();
        let mut moved = Vec::new();
        let mut out = Vec::new();
        for (_, r, reason) in todo {
            let mover = if self.park_move(r, reason, &taken).is_some() {
                Some((r, reason))
            } else if reason == ParkReason::Blocking {
                self.escape(r).and_then(|path| {
                    let h = path[1..].iter().find_map(|&n| self.node_holder[n])?;
                    idle_ix.contains(&h).then_some((h, ParkReason::Blocking))
                })
            } else {
                None
            };
            let Some((m, why)) = mover.filter(|(m, _)| !moved.contains(m)) else {
                continue;
            };
            if let Some((n, mv)) = self.park_move(m, why, &taken) {
                taken.push(n);
                moved.push(m);
                out.push(mv);
            }
        }
        Ok(out)
    }

    /// Where idle robot `r` should go (a free parking node, or for a robot
    /// in the way any node out of everyone's way), over free resources.
    fn park_move(
        &self,
        r: usize,
        reason: ParkReason,
        taken: &[NodeIx],
    ) -> Option<(NodeIx, ParkingMove)> {
        let here = self.robots[r].route[self.robots[r].at];
        let tree = self.tree(here, Some(r), Traffic::AvoidHeld);
        let nearest = |parking_only: bool| {
            (0..self.map.nodes.len())
                .filter(|&n| !parking_only || self.map.nodes[n].parking)
                .filter(|&n| self.out_of_the_way(r, n) && !taken.contains(&n))
                .filter(|&n| tree.dist[n].is_finite())
                .min_by(|&a, &b| tree.dist[a].total_cmp(&tree.dist[b]))
        };
        // A robot in the way moves off even when no parking node is free:
        // to any node out of everyone's way, else to the free node fewest
        // others plan to cross (fewer than where it stands).
        let busy_here = self.others_planned_node(here, r);
        let least_planned = || {
            (0..self.map.nodes.len())
                .filter(|&n| n != here && self.node_holder[n].is_none() && !taken.contains(&n))
                .filter(|&n| tree.dist[n].is_finite() && self.planned_nodes[n] < busy_here)
                .min_by(|&a, &b| {
                    let key = |n: NodeIx| (self.planned_nodes[n], tree.dist[n]);
                    let (ka, kb) = (key(a), key(b));
                    ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
                })
        };
        let n = nearest(true).or_else(|| {
            (reason == ParkReason::Blocking)
                .then(|| nearest(false).or_else(least_planned))
                .flatten()
        })?;
        let path = tree.path(self, n)?;
        let mv = ParkingMove {
            robot: self.robots[r].id.clone(),
            node: self.map.nodes[n].id.clone(),
            route: self.node_names(&path),
            reason,
        };
        Some((n, mv))
    }

    /// Whether robot `r` could stand on `n` in nobody's way: not where it
    /// is, held by nobody, on nobody's remaining route, in no block others
    /// plan to cross.
    fn out_of_the_way(&self, r: usize, n: NodeIx) -> bool {
        let here = self.robots[r].route[self.robots[r].at];
        n != here
            && self.node_holder[n].is_none()
            && self.planned_nodes[n] == 0
            && !self.in_the_way(r, n)
    }

    /// The cheapest way out of everyone's way for idle robot `r`, through
    /// others' resources if need be (their cost counted), as route nodes.
    pub(crate) fn escape(&self, r: usize) -> Option<Vec<NodeIx>> {
        let here = self.robots[r].route[self.robots[r].at];
        let tree = self.tree(here, Some(r), Traffic::Congestion);
        let n = (0..self.map.nodes.len())
            .filter(|&n| self.out_of_the_way(r, n) && tree.dist[n].is_finite())
            .min_by(|&a, &b| tree.dist[a].total_cmp(&tree.dist[b]))?;
        tree.path(self, n)
    }

    /// Whether idle robot `r` is in another robot's way where it stands, or with what it
    /// kept when halted between two nodes (the lane it may stand in, the node at its end).
    pub(crate) fn idle_in_the_way(&self, r: usize) -> bool {
        let rb = &self.robots[r];
        self.in_the_way(r, rb.route[rb.at])
            || rb.residual.0.iter().any(|&n| self.in_the_way(r, n))
            || rb
                .residual
                .1
                .iter()
                .any(|&l| self.others_planned_lane(l, r) > 0)
    }

    /// Whether robot `r`, standing on `here`, is in another robot's way: on
    /// its remaining route, or taking a slot of a block that route crosses.
    pub(crate) fn in_the_way(&self, r: usize, here: NodeIx) -> bool {
        if self.others_planned_node(here, r) > 0 {
            return true;
        }
        self.map.nodes[here].blocks.iter().any(|&b| {
            let block = &self.map.blocks[b];
            let node_used = block
                .nodes
                .iter()
                .any(|&n| self.others_planned_node(n, r) > 0);
            let lane_used = block
                .lanes
                .iter()
                .any(|&l| self.others_planned_lane(l, r) > 0);
            node_used || lane_used
        })
    }
}

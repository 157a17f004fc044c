//! Routes that see traffic: Dijkstra over the layout's directed edges, where
//! a step costs its length plus a congestion cost for what other robots
//! hold ([`Config::held_cost`](super::Config::held_cost)) and plan to use
//! ([`Config::planned_cost`](super::Config::planned_cost) per robot). A
//! re-plan, a parking move and a deadlock resolution treat what others hold
//! (and blocks others fill) as impassable.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::allocator::Allocator;
use super::resources::{EdgeIx, NodeIx};
use super::TrafficError;

/// How a route search treats other robots' resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Traffic {
    /// Held and planned resources cost extra.
    Congestion,
    /// As `Congestion`, and resources others hold (full blocks included)
    /// cannot be entered at all.
    AvoidHeld,
}

/// Shortest distances and predecessor edges from one node.
pub(crate) struct Tree {
    pub(crate) dist: Vec<f64>,
    prev: Vec<Option<EdgeIx>>,
}

impl Tree {
    /// The node path from the source to `to`, if reached.
    pub(crate) fn path(&self, alloc: &Allocator, to: NodeIx) -> Option<Vec<NodeIx>> {
        if !self.dist[to].is_finite() {
            return None;
        }
        let mut path = vec![to];
        let mut at = to;
        while let Some(e) = self.prev[at] {
            at = alloc.map.edges[e].from;
            path.push(at);
        }
        path.reverse();
        Some(path)
    }
}

#[derive(PartialEq)]
struct Item(f64, NodeIx);

impl Eq for Item {}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        // Smallest cost first; ties by node index for determinism.
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Allocator {
    /// The cost of edge `e` for robot `r` (`None`: no robot, or impassable).
    fn step_cost(&self, e: EdgeIx, r: Option<usize>, mode: Traffic) -> Option<f64> {
        let edge = &self.map.edges[e];
        let (n, l) = (edge.to, edge.lane);
        let mut cost = edge.length;
        let Some(r) = r else {
            return Some(cost);
        };
        let others = |h: Option<usize>| h.is_some_and(|h| h != r);
        let held = others(self.node_holder[n]) || others(self.lane_holder[l]);
        let full = self.map.nodes[n]
            .blocks
            .iter()
            .chain(self.map.lanes[l].2.iter())
            .any(|&b| {
                let hs = &self.block_holders[b];
                !hs.contains(&r) && hs.len() >= self.map.blocks[b].capacity
            });
        if (held || full) && mode == Traffic::AvoidHeld {
            return None;
        }
        if held || full {
            cost += self.cfg.held_cost;
        }
        let planned = self.others_planned_node(n, r) + self.others_planned_lane(l, r);
        cost += self.cfg.planned_cost * f64::from(planned);
        Some(cost)
    }

    /// Dijkstra from `from` for robot `r`.
    pub(crate) fn tree(&self, from: NodeIx, r: Option<usize>, mode: Traffic) -> Tree {
        let n = self.map.nodes.len();
        let mut dist = vec![f64::INFINITY; n];
        let mut prev = vec![None; n];
        let mut heap = BinaryHeap::new();
        dist[from] = 0.0;
        heap.push(Item(0.0, from));
        while let Some(Item(d, v)) = heap.pop() {
            if d > dist[v] {
                continue;
            }
            for &e in &self.map.nodes[v].out {
                let Some(c) = self.step_cost(e, r, mode) else {
                    continue;
                };
                let w = self.map.edges[e].to;
                if d + c < dist[w] {
                    dist[w] = d + c;
                    prev[w] = Some(e);
                    heap.push(Item(d + c, w));
                }
            }
        }
        Tree { dist, prev }
    }

    /// The cheapest route from `from` to `to` for `robot` (its own plans do
    /// not count against it; `None` plans without traffic), as node ids.
    pub fn plan_route(
        &self,
        robot: Option<&str>,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, TrafficError> {
        let r = robot.map(|id| self.robot_ix(id)).transpose()?;
        self.route_ids(r, from, to, Traffic::Congestion)
    }

    pub(crate) fn route_ids(
        &self,
        r: Option<usize>,
        from: &str,
        to: &str,
        mode: Traffic,
    ) -> Result<Vec<String>, TrafficError> {
        let (a, b) = (self.map.node_ix(from)?, self.map.node_ix(to)?);
        let path = self
            .tree(a, r, mode)
            .path(self, b)
            .ok_or_else(|| TrafficError::NoPath {
                from: from.to_string(),
                to: to.to_string(),
            })?;
        Ok(self.node_names(&path))
    }

    pub(crate) fn node_names(&self, path: &[NodeIx]) -> Vec<String> {
        path.iter().map(|&n| self.map.nodes[n].id.clone()).collect()
    }

    /// Robots that have waited at their base end for at least
    /// [`Config::replan_after`](super::Config::replan_after).
    pub fn due_for_replan(&self, now: Instant) -> Vec<String> {
        self.robots
            .iter()
            .filter(|rb| {
                rb.blocked_since
                    .is_some_and(|s| self.cfg.replan_after(now.saturating_duration_since(s)))
            })
            .map(|rb| rb.id.clone())
            .collect()
    }

    /// Re-plans the robot from where it stands to its destination around
    /// the resources others hold, and sets that route. Returns the new route
    /// (unchanged if no better one exists). The robot must stand at its base
    /// end.
    pub fn replan(&mut self, robot: &str, now: Instant) -> Result<Vec<String>, TrafficError> {
        let r = self.robot_ix(robot)?;
        let rb = &self.robots[r];
        if rb.at != rb.granted {
            return Err(TrafficError::BaseNotDriven(robot.to_string()));
        }
        let here = self.map.nodes[rb.route[rb.at]].id.clone();
        let dest = self.map.nodes[rb.route[rb.last()]].id.clone();
        let current = self.node_names(&rb.route[rb.at..]);
        let new = self.route_ids(Some(r), &here, &dest, Traffic::AvoidHeld)?;
        if new == current {
            return Ok(new);
        }
        self.set_route(robot, &new, now)?;
        Ok(new)
    }
}

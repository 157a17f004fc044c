//! Stalemates the guard cannot prevent, and how to end them.
//!
//! The wait-for guard keeps hold-and-wait cycles from forming, but robots
//! can still refuse each other: each one's next grant would close a cycle,
//! or waits for a robot that waits the same way. [`Allocator::deadlocks`]
//! evaluates every robot at rest at its base end with route left (as a
//! request would, changing nothing), and every idle robot standing in
//! someone's way (it waits for whoever holds its cheapest way out), and
//! reports the cycles among those that cannot move. [`Allocator::propose_resolution`] picks, among the robots of
//! a cycle, the one with the cheapest path over free resources to a free
//! waiting or parking node that the others do not plan to cross (a robot
//! already standing on such a node is simply told to stay; with no such
//! node in reach, any free node the others do not plan to cross);
//! [`Allocator::resolve`] sets that route and counts the resolution.

use std::time::Instant;

use super::allocator::Allocator;
use super::resources::NodeIx;
use super::routing::Traffic;
use super::waitfor::find_cycle;
use super::TrafficError;

/// Robots that wait for each other in a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadlock {
    /// The robots, in wait-for order (each waits for the next, the last for
    /// the first).
    pub robots: Vec<String>,
}

/// How to end a [`Deadlock`]: send `robot` along `route` to `node`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The robot to move aside.
    pub robot: String,
    /// The waiting (or parking) node it goes to.
    pub node: String,
    /// Its route there, from where it stands (one node: stay).
    pub route: Vec<String>,
    /// Where it was going, to re-plan it once the others are through.
    pub destination: String,
}

impl Allocator {
    /// The cycles of robots that cannot be granted anything, each once.
    pub fn deadlocks(&self) -> Vec<Deadlock> {
        let mut adj = vec![Vec::new(); self.robots.len()];
        for (r, rb) in self.robots.iter().enumerate() {
            if !rb.placed() || rb.status != super::RobotStatus::Online {
                continue;
            }
            if rb.at == rb.last() {
                // An idle robot in someone's way waits for whoever holds
                // its way out.
                if self.idle_in_the_way(r) {
                    adj[r] = self
                        .escape(r)
                        .map_or_else(Vec::new, |p| self.path_holders(r, &p));
                }
                continue;
            }
            if !rb.at_rest_with_route() {
                continue;
            }
            let (t, blocker) = self.evaluate(r);
            if t.granted > rb.granted {
                continue;
            }
            if let Some(b) = blocker {
                adj[r] = b
                    .robots()
                    .into_iter()
                    .filter_map(|id| self.robot_ix(id).ok())
                    .filter(|&h| h != r)
                    .collect();
            }
        }
        let mut out = Vec::new();
        while let Some(cycle) = find_cycle(&adj) {
            for &r in &cycle {
                adj[r].clear();
            }
            out.push(Deadlock {
                robots: self.names(&cycle),
            });
        }
        out
    }

    /// The robots other than `r` holding a node or lane of `path`, or
    /// filling a block on it that `r` is not in.
    fn path_holders(&self, r: usize, path: &[NodeIx]) -> Vec<usize> {
        let mut out = Vec::new();
        for w in path.windows(2) {
            let Some(e) = self.map.edge_between(w[0], w[1]) else {
                continue;
            };
            let lane = self.map.edges[e].lane;
            let blocks = self.map.nodes[w[1]]
                .blocks
                .iter()
                .chain(&self.map.lanes[lane].2);
            let full = blocks.flat_map(|&b| {
                let hs = &self.block_holders[b];
                let full = !hs.contains(&r) && hs.len() >= self.map.blocks[b].capacity;
                hs.iter().copied().filter(move |_| full)
            });
            for h in [self.node_holder[w[1]], self.lane_holder[lane]]
                .into_iter()
                .flatten()
                .chain(full.collect::<Vec<_>>())
            {
                if h != r && !out.contains(&h) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// The cheapest way to end `d`, if any robot of it can reach a free
    /// waiting or parking node.
    pub fn propose_resolution(&self, d: &Deadlock) -> Option<Resolution> {
        let members: Vec<usize> = d
            .robots
            .iter()
            .filter_map(|id| self.robot_ix(id).ok())
            .collect();
        let mut best: Option<(f64, usize, usize)> = None;
        for &r in &members {
            let rb = &self.robots[r];
            let here = rb.route[rb.at];
            let tree = self.tree(here, Some(r), Traffic::AvoidHeld);
            for (n, node) in self.map.nodes.iter().enumerate() {
                if !tree.dist[n].is_finite() {
                    continue;
                }
                if self.node_holder[n].is_some_and(|h| h != r) {
                    continue;
                }
                if n == here && rb.at == rb.last() {
                    continue; // an idle robot staying changes nothing
                }
                let crossed = members
                    .iter()
                    .any(|&o| o != r && self.robots[o].remaining_nodes.binary_search(&n).is_ok());
                if crossed {
                    continue;
                }
                // Any other node only when no waiting or parking node will do.
                let fallback = if node.waiting || node.parking {
                    0.0
                } else {
                    1e9
                };
                let cost = tree.dist[n] + fallback;
                if best.is_none_or(|(c, _, _)| cost < c) {
                    best = Some((cost, r, n));
                }
            }
        }
        let (_, r, n) = best?;
        let rb = &self.robots[r];
        let here = rb.route[rb.at];
        let route = self.tree(here, Some(r), Traffic::AvoidHeld).path(self, n)?;
        Some(Resolution {
            robot: rb.id.clone(),
            node: self.map.nodes[n].id.clone(),
            route: self.node_names(&route),
            destination: self.map.nodes[rb.route[rb.last()]].id.clone(),
        })
    }

    /// Ends `d`: sets the proposed route for the chosen robot and counts a
    /// resolved deadlock. The VDA 5050 adapter sends the robot its new order.
    pub fn resolve(&mut self, d: &Deadlock, now: Instant) -> Result<Resolution, TrafficError> {
        let res = self
            .propose_resolution(d)
            .ok_or_else(|| TrafficError::WouldDeadlock(d.robots.clone()))?;
        self.set_route(&res.robot, &res.route, now)?;
        self.stats.deadlocks_resolved += 1;
        Ok(res)
    }
}

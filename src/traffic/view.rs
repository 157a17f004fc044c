//! What the allocator shows: each robot's holdings and what it waits for,
//! the wait-for graph, and counters as plain numbers for a metrics layer
//! (`floorgate_traffic_*`).

use std::time::Instant;

use super::allocator::Allocator;
use super::{Blocker, Resource, TrafficError};

/// What one robot holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Holdings {
    /// Nodes, from where the robot is to its base end.
    pub nodes: Vec<String>,
    /// Lanes, by their end nodes.
    pub lanes: Vec<(String, String)>,
    /// Blocks it has a slot in.
    pub blocks: Vec<String>,
    /// Route index of the last node passed.
    pub at: usize,
    /// Route index of the base end.
    pub base_end: usize,
}

impl Holdings {
    /// Every resource, nodes first.
    pub fn resources(&self) -> Vec<Resource> {
        let nodes = self.nodes.iter().cloned().map(Resource::Node);
        let lanes = self
            .lanes
            .iter()
            .cloned()
            .map(|(a, b)| Resource::Lane(a, b));
        let blocks = self.blocks.iter().cloned().map(Resource::Block);
        nodes.chain(lanes).chain(blocks).collect()
    }
}

/// Counters a metrics layer reads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// Nodes, lanes and block slots held now.
    pub resources_held: u64,
    /// Robots waiting at their base end now.
    pub robots_blocked: u64,
    /// Seconds robots have waited, summed (ongoing waits included).
    pub blocked_seconds: f64,
    /// Routes replaced before they were finished.
    pub replans: u64,
    /// Deadlocks ended by [`Allocator::resolve`].
    pub deadlocks_resolved: u64,
    /// Requests that extended a base.
    pub grants: u64,
    /// Requests that extended nothing because something was in the way.
    pub refusals: u64,
}

impl Allocator {
    /// What the robot holds.
    pub fn holdings(&self, robot: &str) -> Result<Holdings, TrafficError> {
        let r = self.robot_ix(robot)?;
        let rb = &self.robots[r];
        let mut nodes: Vec<String> = Vec::new();
        for &n in &rb.route[rb.at + rb.left as usize..=rb.granted] {
            let id = &self.map.nodes[n].id;
            if !nodes.contains(id) {
                nodes.push(id.clone());
            }
        }
        let mut lanes = Vec::new();
        for &e in &rb.edges[rb.at..rb.granted] {
            let name = self.map.lane_name(self.map.edges[e].lane);
            if !lanes.contains(&name) {
                lanes.push(name);
            }
        }
        Ok(Holdings {
            nodes,
            lanes,
            blocks: rb
                .blocks
                .iter()
                .map(|&b| self.map.blocks[b].id.clone())
                .collect(),
            at: rb.at,
            base_end: rb.granted,
        })
    }

    /// Why the robot's last request got less than it wanted, if it did.
    pub fn waiting_for(&self, robot: &str) -> Result<Option<Blocker>, TrafficError> {
        let r = self.robot_ix(robot)?;
        Ok(self.robots[r].waiting.clone())
    }

    /// The holder of a resource, if any.
    pub fn holder(&self, resource: &Resource) -> Result<Vec<String>, TrafficError> {
        let ids = match resource {
            Resource::Node(n) => self.node_holder[self.map.node_ix(n)?].into_iter().collect(),
            Resource::Lane(a, b) => {
                let (x, y) = (self.map.node_ix(a)?, self.map.node_ix(b)?);
                let e = self
                    .map
                    .edge_between(x, y)
                    .ok_or_else(|| TrafficError::NoEdge {
                        from: a.clone(),
                        to: b.clone(),
                    })?;
                self.lane_holder[self.map.edges[e].lane]
                    .into_iter()
                    .collect()
            }
            Resource::Block(name) => self
                .map
                .blocks
                .iter()
                .position(|b| &b.id == name)
                .map(|b| self.block_holders[b].clone())
                .ok_or_else(|| TrafficError::Layout(format!("unknown block `{name}`")))?,
        };
        Ok(self.names(&ids))
    }

    /// The wait-for graph's edges (waiter, holder), by robot id.
    pub fn wait_for_graph(&self) -> Vec<(String, String)> {
        let adj = self.wait_edges(None);
        let mut out = Vec::new();
        for (r, hs) in adj.iter().enumerate() {
            for &h in hs {
                out.push((self.robots[r].id.clone(), self.robots[h].id.clone()));
            }
        }
        out
    }

    /// The ids of the robots placed on the layout.
    pub fn robots(&self) -> Vec<String> {
        let placed = self.robots.iter().filter(|r| r.placed());
        placed.map(|r| r.id.clone()).collect()
    }

    /// The counters, with ongoing waits counted up to `now`.
    pub fn counters(&self, now: Instant) -> Counters {
        let held = self.node_holder.iter().chain(&self.lane_holder);
        let slots: usize = self.block_holders.iter().map(Vec::len).sum();
        let ongoing: f64 = self
            .robots
            .iter()
            .filter_map(|r| r.blocked_since)
            .map(|s| now.saturating_duration_since(s).as_secs_f64())
            .sum();
        Counters {
            resources_held: (held.filter(|h| h.is_some()).count() + slots) as u64,
            robots_blocked: self
                .robots
                .iter()
                .filter(|r| r.blocked_since.is_some())
                .count() as u64,
            blocked_seconds: self.stats.blocked_total.as_secs_f64() + ongoing,
            replans: self.stats.replans,
            deadlocks_resolved: self.stats.deadlocks_resolved,
            grants: self.stats.grants,
            refusals: self.stats.refusals,
        }
    }
}

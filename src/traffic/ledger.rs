//! The allocator's bookkeeping: who holds which node, lane and block slot,
//! and how many robots plan to use each node and lane. Every change of a
//! robot's route, position or base goes through these helpers, so the
//! holder tables and the planned counts stay in step with the robots.

use std::time::Instant;

use super::allocator::Allocator;
use super::resources::{BlockIx, EdgeIx, LaneIx, NodeIx};
use super::waitfor::Tentative;
use super::TrafficError;

impl Allocator {
    /// Node and edge indices of a route given by node ids.
    pub(crate) fn resolve_route<S: AsRef<str>>(
        &self,
        nodes: &[S],
    ) -> Result<(Vec<NodeIx>, Vec<EdgeIx>), TrafficError> {
        let route = nodes
            .iter()
            .map(|n| self.map.node_ix(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if route.is_empty() {
            return Err(TrafficError::UnknownNode(String::new()));
        }
        let edges = route
            .windows(2)
            .map(|w| {
                self.map
                    .edge_between(w[0], w[1])
                    .ok_or_else(|| TrafficError::NoEdge {
                        from: self.map.nodes[w[0]].id.clone(),
                        to: self.map.nodes[w[1]].id.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((route, edges))
    }

    /// Applies a tentative grant.
    pub(crate) fn claim(&mut self, t: &Tentative) {
        for &n in &t.nodes {
            self.node_holder[n] = Some(t.robot);
        }
        for &l in &t.lanes {
            self.lane_holder[l] = Some(t.robot);
        }
        self.robots[t.robot].granted = t.granted;
        self.sync_blocks(t.robot);
    }

    /// Brings the robot's block slots in line with what it holds.
    pub(crate) fn sync_blocks(&mut self, r: usize) {
        let want = self.held_blocks(r);
        let rb = &mut self.robots[r];
        for &b in &rb.blocks {
            if !want.contains(&b) {
                self.block_holders[b].retain(|&h| h != r);
            }
        }
        for &b in &want {
            if !rb.blocks.contains(&b) {
                self.block_holders[b].push(r);
            }
        }
        rb.blocks = want;
    }

    /// The blocks touched by what the robot holds, sorted.
    fn held_blocks(&self, r: usize) -> Vec<BlockIx> {
        let rb = &self.robots[r];
        if !rb.placed() {
            return Vec::new();
        }
        // A node the robot drove clear of is not held (`left`).
        let mut out: Vec<BlockIx> = rb.route[rb.at + rb.left as usize..=rb.granted]
            .iter()
            .flat_map(|&n| self.map.nodes[n].blocks.iter().copied())
            .chain(
                rb.edges[rb.at..rb.granted]
                    .iter()
                    .flat_map(|&e| self.map.lanes[self.map.edges[e].lane].2.iter().copied()),
            )
            .collect();
        out.extend_from_slice(&rb.claims);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Counts the robot's remaining route in the planned totals.
    pub(crate) fn plan(&mut self, r: usize) {
        let rb = &self.robots[r];
        let mut nodes = rb.route[rb.at + rb.left as usize..].to_vec();
        let mut lanes: Vec<LaneIx> = rb.edges[rb.at..]
            .iter()
            .map(|&e| self.map.edges[e].lane)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        lanes.sort_unstable();
        lanes.dedup();
        for &n in &nodes {
            self.planned_nodes[n] += 1;
        }
        for &l in &lanes {
            self.planned_lanes[l] += 1;
        }
        let rb = &mut self.robots[r];
        rb.remaining_nodes = nodes;
        rb.remaining_lanes = lanes;
    }

    /// Takes the robot's remaining route out of the planned totals (it is about to
    /// change: noted for [`Allocator::take_woken`]).
    pub(crate) fn unplan(&mut self, r: usize) {
        self.touched(r);
        let rb = &mut self.robots[r];
        for n in std::mem::take(&mut rb.remaining_nodes) {
            self.planned_nodes[n] = self.planned_nodes[n].saturating_sub(1);
        }
        for l in std::mem::take(&mut rb.remaining_lanes) {
            self.planned_lanes[l] = self.planned_lanes[l].saturating_sub(1);
        }
    }

    /// Ends the robot's blocked interval, if any.
    pub(crate) fn unblock(&mut self, r: usize, now: Instant) {
        if let Some(since) = self.robots[r].blocked_since.take() {
            self.stats.blocked_total += now.saturating_duration_since(since);
        }
    }

    /// Robot ids of robot indices.
    pub(crate) fn names(&self, rs: &[usize]) -> Vec<String> {
        rs.iter().map(|&r| self.robots[r].id.clone()).collect()
    }
}

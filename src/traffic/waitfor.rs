//! Segments and the wait-for graph (see the module note of `traffic`).
//!
//! A robot's *next request* is the segment after its base end: the route
//! nodes up to and including the next stop node, with the lanes between
//! them and the blocks they touch. Robot R waits for H when H will still
//! hold a node or lane of R's next request once H has driven its base (its
//! base end, or what it kept when halted), or when a block of it that R is
//! not in is full and H will still be in it then. What H holds between
//! where it is and its base end is freed behind it as it drives, which
//! needs nothing from anyone, so R is delayed by it, not waiting on it. Everything here reads the state, optionally with one
//! robot's grant applied on paper (a [`Tentative`]), and changes nothing.

use super::allocator::Allocator;
use super::resources::{BlockIx, LaneIx, NodeIx};
use super::{Blocker, Resource};

/// A grant on paper: what `robot` would hold beyond what it holds now.
#[derive(Debug, Clone)]
pub(crate) struct Tentative {
    pub(crate) robot: usize,
    pub(crate) granted: usize,
    pub(crate) nodes: Vec<NodeIx>,
    pub(crate) lanes: Vec<LaneIx>,
    pub(crate) blocks: Vec<BlockIx>,
    /// The blocks are claimed outright (a zone's release), not with a span of route.
    pub(crate) claim: bool,
}

impl Allocator {
    /// How many robots other than `r` have `n` on their remaining route.
    pub(crate) fn others_planned_node(&self, n: NodeIx, r: usize) -> u32 {
        let own = self.robots[r].remaining_nodes.binary_search(&n).is_ok() as u32;
        self.planned_nodes[n].saturating_sub(own)
    }

    /// How many robots other than `r` have lane `l` on their remaining route.
    pub(crate) fn others_planned_lane(&self, l: LaneIx, r: usize) -> u32 {
        let own = self.robots[r].remaining_lanes.binary_search(&l).is_ok() as u32;
        self.planned_lanes[l].saturating_sub(own)
    }

    /// Whether robot `r` may come to rest on `n` without being in anyone's
    /// planned way.
    pub(crate) fn is_stop(&self, r: usize, n: NodeIx) -> bool {
        let node = &self.map.nodes[n];
        node.waiting || node.parking || self.others_planned_node(n, r) == 0
    }

    /// Route index of the end of the segment after route index `from`: the next
    /// stop node, or after at most [`max_segment_nodes`](super::Config::max_segment_nodes)
    /// — but never on a crossing another robot's route runs through, so a robot
    /// waits before a crossing, not on it, and the way across stays open.
    pub(crate) fn segment_end(&self, r: usize, from: usize) -> usize {
        let rb = &self.robots[r];
        let last = rb.last();
        let stop = (from + 1..last)
            .find(|&i| self.is_stop(r, rb.route[i]))
            .unwrap_or(last);
        let mut end = match self.cfg.max_segment_nodes {
            0 => stop,
            cap => stop.min(from + cap),
        };
        while end < stop && self.map.nodes[rb.route[end]].crossing {
            end += 1;
        }
        end
    }

    fn node_holder_v(&self, n: NodeIx, t: Option<&Tentative>) -> Option<usize> {
        self.node_holder[n].or_else(|| t.filter(|t| t.nodes.contains(&n)).map(|t| t.robot))
    }

    fn lane_holder_v(&self, l: LaneIx, t: Option<&Tentative>) -> Option<usize> {
        self.lane_holder[l].or_else(|| t.filter(|t| t.lanes.contains(&l)).map(|t| t.robot))
    }

    fn block_holders_v(&self, b: BlockIx, t: Option<&Tentative>) -> Vec<usize> {
        let mut hs = self.block_holders[b].clone();
        if let Some(t) = t.filter(|t| t.blocks.contains(&b)) {
            if !hs.contains(&t.robot) {
                hs.push(t.robot);
            }
        }
        hs
    }

    fn granted_v(&self, r: usize, t: Option<&Tentative>) -> usize {
        match t {
            Some(t) if t.robot == r => t.granted,
            _ => self.robots[r].granted,
        }
    }

    /// Whether robot `h` still holds node `n` once it has driven its base:
    /// its base end, or what it kept when halted. Nodes between where it is
    /// and its base end are its own to drive through and are freed behind it
    /// without its waiting for anyone, so nobody *waits* for them.
    fn rests_on(&self, h: usize, n: NodeIx, t: Option<&Tentative>) -> bool {
        let hb = &self.robots[h];
        hb.route.get(self.granted_v(h, t)) == Some(&n) || hb.residual.0.contains(&n)
    }

    /// Whether robot `h` still holds lane `l` once it has driven its base
    /// (only a lane it was halted in: a robot at its base end holds none).
    fn rests_in(&self, h: usize, l: LaneIx) -> bool {
        self.robots[h].residual.1.contains(&l)
    }

    /// Whether robot `h` still has a slot of block `b` once it has driven
    /// its base: the block holds its base end, a claim, or what it kept when
    /// halted.
    fn rests_in_block(&self, h: usize, b: BlockIx, t: Option<&Tentative>) -> bool {
        let hb = &self.robots[h];
        let end = hb.route.get(self.granted_v(h, t));
        hb.claims.contains(&b)
            || t.is_some_and(|t| t.robot == h && t.claim && t.blocks.contains(&b))
            || end.is_some_and(|&n| self.map.nodes[n].blocks.contains(&b))
            || hb
                .residual
                .0
                .iter()
                .any(|&n| self.map.nodes[n].blocks.contains(&b))
            || hb
                .residual
                .1
                .iter()
                .any(|&l| self.map.lanes[l].2.contains(&b))
    }

    /// The resources of robot `r`'s route between indices `from` and `to`
    /// (nodes after `from` up to `to`, lanes between), and their blocks.
    fn span(&self, r: usize, from: usize, to: usize) -> (Vec<NodeIx>, Vec<LaneIx>, Vec<BlockIx>) {
        let rb = &self.robots[r];
        let nodes: Vec<NodeIx> = rb.route[from + 1..=to].to_vec();
        let lanes: Vec<LaneIx> = rb.edges[from..to]
            .iter()
            .map(|&e| self.map.edges[e].lane)
            .collect();
        let mut blocks: Vec<BlockIx> = nodes
            .iter()
            .flat_map(|&n| self.map.nodes[n].blocks.iter().copied())
            .chain(
                lanes
                    .iter()
                    .flat_map(|&l| self.map.lanes[l].2.iter().copied()),
            )
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        (nodes, lanes, blocks)
    }

    /// Who robot `r` would wait for to get its route from `from` to `to`,
    /// as the first blocker found (`None`: all free for it).
    fn conflict(&self, r: usize, from: usize, to: usize, t: Option<&Tentative>) -> Option<Blocker> {
        let (nodes, lanes, blocks) = self.span(r, from, to);
        for n in nodes {
            if let Some(h) = self.node_holder_v(n, t).filter(|&h| h != r) {
                return Some(Blocker::Held {
                    resource: Resource::Node(self.map.nodes[n].id.clone()),
                    by: self.robots[h].id.clone(),
                });
            }
        }
        for l in lanes {
            if let Some(h) = self.lane_holder_v(l, t).filter(|&h| h != r) {
                let (a, b) = self.map.lane_name(l);
                return Some(Blocker::Held {
                    resource: Resource::Lane(a, b),
                    by: self.robots[h].id.clone(),
                });
            }
        }
        for b in blocks {
            let hs = self.block_holders_v(b, t);
            if !hs.contains(&r) && hs.len() >= self.map.blocks[b].capacity {
                return Some(Blocker::BlockFull {
                    block: self.map.blocks[b].id.clone(),
                    holders: self.names(&hs),
                });
            }
        }
        None
    }

    /// The wait-for graph as adjacency lists over robot indices, with `t`
    /// applied on paper.
    pub(crate) fn wait_edges(&self, t: Option<&Tentative>) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.robots.len()];
        for (r, rb) in self.robots.iter().enumerate() {
            let g = self.granted_v(r, t);
            if !rb.placed() || g >= rb.last() {
                continue;
            }
            let end = self.segment_end(r, g);
            let (nodes, lanes, blocks) = self.span(r, g, end);
            let out = &mut adj[r];
            let mut push = |h: usize| {
                if h != r && !out.contains(&h) {
                    out.push(h);
                }
            };
            nodes
                .iter()
                .filter_map(|&n| self.node_holder_v(n, t).filter(|&h| self.rests_on(h, n, t)))
                .for_each(&mut push);
            lanes
                .iter()
                .filter_map(|&l| self.lane_holder_v(l, t).filter(|&h| self.rests_in(h, l)))
                .for_each(&mut push);
            for b in blocks {
                let hs = self.block_holders_v(b, t);
                if !hs.contains(&r) && hs.len() >= self.map.blocks[b].capacity {
                    hs.into_iter()
                        .filter(|&h| self.rests_in_block(h, b, t))
                        .for_each(&mut push);
                }
            }
        }
        adj
    }

    /// A cycle of the wait-for graph (with `t` applied), as robot indices.
    pub(crate) fn find_cycle(&self, t: Option<&Tentative>) -> Option<Vec<usize>> {
        find_cycle(&self.wait_edges(t))
    }

    /// What a request by robot `r` would be granted now, and why not more.
    pub(crate) fn evaluate(&self, r: usize) -> (Tentative, Option<Blocker>) {
        let rb = &self.robots[r];
        let mut t = Tentative {
            robot: r,
            granted: rb.granted,
            nodes: Vec::new(),
            lanes: Vec::new(),
            blocks: Vec::new(),
            claim: false,
        };
        let want = self.cfg.lookahead_nodes.max(1);
        while t.granted < rb.last() && t.granted - rb.at < want {
            let end = self.segment_end(r, t.granted);
            if let Some(b) = self.conflict(r, t.granted, end, Some(&t)) {
                return (t, Some(b));
            }
            let (nodes, lanes, blocks) = self.span(r, t.granted, end);
            let mut next = t.clone();
            next.granted = end;
            next.nodes
                .extend(nodes.into_iter().filter(|&n| self.node_holder[n].is_none()));
            next.lanes
                .extend(lanes.into_iter().filter(|&l| self.lane_holder[l].is_none()));
            next.blocks.extend(blocks);
            if let Some(cycle) = self.find_cycle(Some(&next)) {
                return (t, Some(Blocker::WouldDeadlock(self.names(&cycle))));
            }
            t = next;
        }
        (t, None)
    }
}

/// A cycle in a directed graph given as adjacency lists, if there is one:
/// its vertices in order.
pub(crate) fn find_cycle(adj: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; adj.len()];
    for start in 0..adj.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (vertex, next child position).
        let mut stack = vec![(start, 0usize)];
        mark[start] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let v = top.0;
            if let Some(&w) = adj[v].get(top.1) {
                top.1 += 1;
                match mark[w] {
                    Mark::New => {
                        mark[w] = Mark::Open;
                        stack.push((w, 0));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|&(x, _)| x == w).unwrap_or(0);
                        return Some(stack[from..].iter().map(|&(x, _)| x).collect());
                    }
                    Mark::Done => {}
                }
            } else {
                mark[v] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

//! The layout as traffic resources.
//!
//! Every layout node is a resource, and so is every *lane*: an edge and its
//! reverse are one lane (two robots cannot meet head-on on it) unless the
//! edge is marked two-way wide, in which case each direction is a lane of its
//! own. Named *blocks* group nodes and lanes (a crossing, a narrow aisle, a
//! station bay) and hold at most `capacity` robots at a time (default 1),
//! however many of the block's resources each robot holds. Nodes may be
//! marked `parking` (idle robots go there) and `waiting` (a robot may stop
//! there without blocking anyone's way).
//!
//! The map is built from a plain [`LayoutSpec`] so that it depends on no
//! configuration types; [`LayoutSpec::from`] a VDA 5050
//! [`LayoutConfig`](crate::vda5050::LayoutConfig)
//! copies its nodes and edges, and the integrator adds flags and blocks.

use std::collections::HashMap;

pub use super::spec::{BlockSpec, EdgeSpec, LayoutSpec, NodeSpec};
use super::TrafficError;

/// Index of a node in a [`ResourceMap`].
pub(crate) type NodeIx = usize;
/// Index of a directed edge in a [`ResourceMap`].
pub(crate) type EdgeIx = usize;
/// Index of a lane (the resource an edge belongs to).
pub(crate) type LaneIx = usize;
/// Index of a block.
pub(crate) type BlockIx = usize;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) parking: bool,
    pub(crate) waiting: bool,
    pub(crate) blocks: Vec<BlockIx>,
    /// Directed edges leaving the node.
    pub(crate) out: Vec<EdgeIx>,
    /// Two ways through the node share nothing else (a crossing of aisles, a row
    /// crossed by an aisle): a robot stopped on it blocks a way it does not use.
    pub(crate) crossing: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub(crate) from: NodeIx,
    pub(crate) to: NodeIx,
    pub(crate) length: f64,
    pub(crate) lane: LaneIx,
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) id: String,
    pub(crate) capacity: usize,
    /// Its nodes.
    pub(crate) nodes: Vec<NodeIx>,
    /// Its lanes.
    pub(crate) lanes: Vec<LaneIx>,
}

/// The layout's resources: nodes, lanes and blocks, by dense index.
#[derive(Debug, Clone)]
pub struct ResourceMap {
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    /// Per lane: its end nodes (as first given) and the blocks it is in.
    pub(crate) lanes: Vec<(NodeIx, NodeIx, Vec<BlockIx>)>,
    pub(crate) blocks: Vec<Block>,
    index: HashMap<String, NodeIx>,
}

impl TryFrom<LayoutSpec> for ResourceMap {
    type Error = TrafficError;

    fn try_from(spec: LayoutSpec) -> Result<Self, TrafficError> {
        ResourceMap::new(spec)
    }
}

impl ResourceMap {
    /// Builds the map. Refused: duplicate nodes, edges or blocks naming
    /// unknown nodes, self-loops, negative or non-finite lengths, blocks of
    /// capacity 0 or naming edges that do not exist.
    pub fn new(spec: LayoutSpec) -> Result<Self, TrafficError> {
        let mut map = ResourceMap {
            nodes: Vec::with_capacity(spec.nodes.len()),
            edges: Vec::new(),
            lanes: Vec::new(),
            blocks: Vec::new(),
            index: HashMap::new(),
        };
        for n in spec.nodes {
            if map.index.contains_key(&n.id) {
                return Err(TrafficError::Layout(format!(
                    "node `{}` defined twice",
                    n.id
                )));
            }
            map.index.insert(n.id.clone(), map.nodes.len());
            map.nodes.push(Node {
                id: n.id,
                parking: n.parking,
                waiting: n.waiting,
                blocks: Vec::new(),
                out: Vec::new(),
                crossing: false,
            });
        }
        for e in spec.edges {
            let (a, b) = (map.node_ix(&e.from)?, map.node_ix(&e.to)?);
            if a == b {
                return Err(TrafficError::Layout(format!("edge `{}` is a loop", e.from)));
            }
            if !e.length.is_finite() || e.length < 0.0 {
                return Err(TrafficError::Layout(format!(
                    "edge `{}`-`{}` has a bad length",
                    e.from, e.to
                )));
            }
            let lane = map.lanes.len();
            map.lanes.push((a, b, Vec::new()));
            map.push_edge(a, b, e.length, lane);
            if e.bidirectional {
                let back = if e.two_way_wide {
                    map.lanes.push((b, a, Vec::new()));
                    lane + 1
                } else {
                    lane
                };
                map.push_edge(b, a, e.length, back);
            }
        }
        map.mark_crossings();
        for b in spec.blocks {
            if b.capacity == 0 {
                return Err(TrafficError::Layout(format!(
                    "block `{}` has capacity 0",
                    b.id
                )));
            }
            if map.blocks.iter().any(|x| x.id == b.id) {
                return Err(TrafficError::Layout(format!(
                    "block `{}` defined twice",
                    b.id
                )));
            }
            let bix = map.blocks.len();
            map.blocks.push(Block {
                id: b.id.clone(),
                capacity: b.capacity as usize,
                nodes: Vec::new(),
                lanes: Vec::new(),
            });
            for n in &b.nodes {
                let n = map.node_ix(n)?;
                if !map.nodes[n].blocks.contains(&bix) {
                    map.nodes[n].blocks.push(bix);
                    map.blocks[bix].nodes.push(n);
                }
            }
            for (from, to) in &b.edges {
                let (x, y) = (map.node_ix(from)?, map.node_ix(to)?);
                let lanes: Vec<LaneIx> = map
                    .edges
                    .iter()
                    .filter(|e| (e.from, e.to) == (x, y) || (e.from, e.to) == (y, x))
                    .map(|e| e.lane)
                    .collect();
                if lanes.is_empty() {
                    return Err(TrafficError::NoEdge {
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
                for l in lanes {
                    if !map.lanes[l].2.contains(&bix) {
                        map.lanes[l].2.push(bix);
                        map.blocks[bix].lanes.push(l);
                    }
                }
            }
        }
        Ok(map)
    }

    /// Marks the nodes two one-way ways pass through without sharing an end:
    /// (p1 → n → s1) and (p2 → n → s2) over one-way edges, with p1, s1, p2, s2 four
    /// different nodes. A merge, a split, a node with a bay beside it and anything on
    /// two-way lanes are none: where traffic may come towards it, a robot waiting before
    /// a crossing stands in that traffic's way (the random scenarios of
    /// `tests/property.rs` found a stalemate of that kind on a two-way grid).
    fn mark_crossings(&mut self) {
        let mut pred: Vec<Vec<NodeIx>> = vec![Vec::new(); self.nodes.len()];
        let mut succ: Vec<Vec<NodeIx>> = vec![Vec::new(); self.nodes.len()];
        for e in &self.edges {
            let back = self.nodes[e.to]
                .out
                .iter()
                .any(|&b| self.edges[b].to == e.from);
            if !back && !succ[e.from].contains(&e.to) {
                pred[e.to].push(e.from);
                succ[e.from].push(e.to);
            }
        }
        for (n, node) in self.nodes.iter_mut().enumerate() {
            let ways: Vec<(NodeIx, NodeIx)> = pred[n]
                .iter()
                .flat_map(|&p| {
                    succ[n]
                        .iter()
                        .filter(move |&&s| s != p)
                        .map(move |&s| (p, s))
                })
                .collect();
            node.crossing = ways.iter().enumerate().any(|(i, &(p1, s1))| {
                ways[i + 1..]
                    .iter()
                    .any(|&(p2, s2)| p2 != p1 && p2 != s1 && s2 != p1 && s2 != s1)
            });
        }
    }

    fn push_edge(&mut self, from: NodeIx, to: NodeIx, length: f64, lane: LaneIx) {
        self.nodes[from].out.push(self.edges.len());
        self.edges.push(Edge {
            from,
            to,
            length,
            lane,
        });
    }

    /// The index of node `id`, or [`TrafficError::UnknownNode`].
    pub(crate) fn node_ix(&self, id: &str) -> Result<NodeIx, TrafficError> {
        self.index
            .get(id)
            .copied()
            .ok_or_else(|| TrafficError::UnknownNode(id.to_string()))
    }

    /// The shortest directed edge from `a` to `b`, if any.
    pub(crate) fn edge_between(&self, a: NodeIx, b: NodeIx) -> Option<EdgeIx> {
        self.nodes[a]
            .out
            .iter()
            .copied()
            .filter(|&e| self.edges[e].to == b)
            .min_by(|&x, &y| self.edges[x].length.total_cmp(&self.edges[y].length))
    }

    /// The index of block `id`.
    pub(crate) fn block_ix(&self, id: &str) -> Result<BlockIx, TrafficError> {
        self.blocks
            .iter()
            .position(|b| b.id == id)
            .ok_or_else(|| TrafficError::UnknownBlock(id.to_string()))
    }

    /// Whether block `id` exists.
    pub fn has_block(&self, id: &str) -> bool {
        self.block_ix(id).is_ok()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of lanes (edge resources).
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// Whether node `id` exists.
    pub fn has_node(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Whether node `id` is a parking node (false for unknown nodes).
    pub fn is_parking(&self, id: &str) -> bool {
        self.index.get(id).is_some_and(|&n| self.nodes[n].parking)
    }

    /// Whether node `id` is a waiting node (false for unknown nodes).
    pub fn is_waiting(&self, id: &str) -> bool {
        self.index.get(id).is_some_and(|&n| self.nodes[n].waiting)
    }

    /// The public name of a lane: its end nodes as first given.
    pub(crate) fn lane_name(&self, l: LaneIx) -> (String, String) {
        let (a, b, _) = &self.lanes[l];
        (self.nodes[*a].id.clone(), self.nodes[*b].id.clone())
    }
}

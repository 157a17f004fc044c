//! The plain layout description the traffic resources are built from:
//! nodes with flags, edges, blocks. It depends on no configuration types;
//! [`LayoutSpec::from`] a VDA 5050 [`LayoutConfig`] copies its nodes and
//! edges, and the integrator adds flags and blocks.

use std::collections::HashMap;

use crate::vda5050::site_zones::zone_block;
use crate::vda5050::LayoutConfig;

/// A node of the plain layout description.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// The node id (the VDA 5050 `nodeId`).
    pub id: String,
    /// Idle robots may park here.
    pub parking: bool,
    /// A robot may wait here without blocking anyone.
    pub waiting: bool,
}

impl NodeSpec {
    /// A node with no flags.
    pub fn new(id: impl Into<String>) -> Self {
        NodeSpec {
            id: id.into(),
            parking: false,
            waiting: false,
        }
    }

    /// Marks the node as a parking node.
    pub fn parking(mut self) -> Self {
        self.parking = true;
        self
    }

    /// Marks the node as a waiting node.
    pub fn waiting(mut self) -> Self {
        self.waiting = true;
        self
    }
}

/// An edge of the plain layout description.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSpec {
    /// Start node.
    pub from: String,
    /// End node.
    pub to: String,
    /// Length in metres (the routing cost).
    pub length: f64,
    /// Robots may drive it both ways.
    pub bidirectional: bool,
    /// Both directions may be driven at once (two lanes, not one).
    pub two_way_wide: bool,
}

impl EdgeSpec {
    /// A bidirectional single lane of `length` metres.
    pub fn new(from: impl Into<String>, to: impl Into<String>, length: f64) -> Self {
        EdgeSpec {
            from: from.into(),
            to: to.into(),
            length,
            bidirectional: true,
            two_way_wide: false,
        }
    }

    /// Only from `from` to `to`.
    pub fn one_way(mut self) -> Self {
        self.bidirectional = false;
        self
    }

    /// Wide enough for both directions at once.
    pub fn two_way_wide(mut self) -> Self {
        self.two_way_wide = true;
        self
    }
}

/// A named group of resources that holds at most `capacity` robots.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSpec {
    /// The block's name.
    pub id: String,
    /// How many robots may be in it at once (at least 1).
    pub capacity: u32,
    /// Its nodes.
    pub nodes: Vec<String>,
    /// Its edges as (from, to); both directions of the edge are meant.
    pub edges: Vec<(String, String)>,
}

impl BlockSpec {
    /// An empty block of capacity 1.
    pub fn new(id: impl Into<String>) -> Self {
        BlockSpec {
            id: id.into(),
            capacity: 1,
            nodes: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// Sets the capacity.
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Adds nodes.
    pub fn nodes<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.nodes.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Adds an edge (both directions).
    pub fn edge(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.edges.push((from.into(), to.into()));
        self
    }
}

/// The plain description the [`ResourceMap`](super::ResourceMap) is built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayoutSpec {
    /// Nodes.
    pub nodes: Vec<NodeSpec>,
    /// Edges.
    pub edges: Vec<EdgeSpec>,
    /// Blocks.
    pub blocks: Vec<BlockSpec>,
}

impl LayoutSpec {
    /// Marks the named nodes as parking nodes (names not among the nodes
    /// are ignored).
    pub fn mark_parking<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            if let Some(n) = self.nodes.iter_mut().find(|n| n.id == id) {
                n.parking = true;
            }
        }
    }

    /// Marks the named nodes as waiting nodes.
    pub fn mark_waiting<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        for id in ids {
            if let Some(n) = self.nodes.iter_mut().find(|n| n.id == id) {
                n.waiting = true;
            }
        }
    }
}

impl From<&LayoutConfig> for LayoutSpec {
    /// Nodes, edges and blocks of the site file's layout, lengths as the
    /// layout graph computes them, with the nodes' `parking` / `waiting`
    /// marks and the edges' `two_way_wide`. A `release` (or
    /// `coordinated_replanning`) zone is one more block, `zone:{id}`, of its
    /// nodes and the lanes touching them, so a robot of any protocol version
    /// enters it only with a slot; edges into a `blocked` zone are left out.
    fn from(cfg: &LayoutConfig) -> Self {
        let pos: HashMap<&str, (f64, f64)> = cfg
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), (n.x, n.y)))
            .collect();
        let blocked = cfg.blocked_nodes();
        let edges = cfg
            .edges
            .iter()
            .filter(|e| !blocked.contains(e.from.as_str()) && !blocked.contains(e.to.as_str()))
            .map(|e| {
                let length = e.length.unwrap_or_else(|| {
                    match (pos.get(e.from.as_str()), pos.get(e.to.as_str())) {
                        (Some(a), Some(b)) => (a.0 - b.0).hypot(a.1 - b.1),
                        _ => 0.0,
                    }
                });
                EdgeSpec {
                    from: e.from.clone(),
                    to: e.to.clone(),
                    length,
                    bidirectional: e.bidirectional,
                    two_way_wide: e.two_way_wide,
                }
            })
            .collect();
        LayoutSpec {
            nodes: cfg
                .nodes
                .iter()
                .map(|n| NodeSpec {
                    id: n.id.clone(),
                    parking: n.parking,
                    waiting: n.waiting,
                })
                .collect(),
            edges,
            blocks: cfg
                .blocks
                .iter()
                .map(|b| BlockSpec {
                    id: b.id.clone(),
                    capacity: b.capacity,
                    nodes: b.nodes.clone(),
                    edges: b
                        .edges
                        .iter()
                        .map(|[a, z]| (a.clone(), z.clone()))
                        .collect(),
                })
                .chain(cfg.release_zones().into_iter().map(|(z, nodes, edges)| {
                    BlockSpec {
                        id: zone_block(&z.id),
                        capacity: z.capacity,
                        nodes: nodes.into_iter().map(str::to_string).collect(),
                        edges: edges
                            .into_iter()
                            .filter(|[a, b]| !blocked.contains(a) && !blocked.contains(b))
                            .map(|[a, b]| (a.to_string(), b.to_string()))
                            .collect(),
                    }
                }))
                .collect(),
        }
    }
}

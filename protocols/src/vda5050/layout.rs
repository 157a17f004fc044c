//! The site's layout graph: where AGVs may drive. Nodes have positions, edges have lengths
//! (the euclidean distance unless given) and are bidirectional unless told otherwise.
//! Shortest paths use Dijkstra's algorithm (petgraph).
//!
//! In the site file:
//!
//! ```toml
//! [[layout.nodes]]
//! id = "N1"
//! x = 0.0
//! y = 0.0
//!
//! [[layout.edges]]
//! from = "N1"
//! to = "N2"
//! ```

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use super::builder::{PathEdge, PathNode, Route};
use super::site_zones::LayoutZone;
use super::zones::ZoneSet;

/// A node id of the layout (also its VDA 5050 `nodeId`).
pub type NodeId = String;

/// The map id used when neither the layout nor the node names one.
pub const DEFAULT_MAP_ID: &str = "map";

/// The layout as written in configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    /// The map of nodes that do not name one (default `"map"`).
    #[serde(default = "default_map_id")]
    pub map_id: String,
    /// The nodes.
    pub nodes: Vec<LayoutNode>,
    /// The edges.
    #[serde(default)]
    pub edges: Vec<LayoutEdge>,
    /// Named groups of nodes and lanes that hold at most `capacity` robots at once (a
    /// crossing, a narrow aisle, a station bay): traffic control's blocks.
    #[serde(default)]
    pub blocks: Vec<LayoutBlock>,
    /// The zones of the layout's maps (VDA 5050 3.0 zone kinds; see [`super::site_zones`]):
    /// published to 3.0 robots as zone sets; `blocked` zones close their nodes to routing,
    /// `release` zones are blocks of traffic control.
    #[serde(default)]
    pub zones: Vec<LayoutZone>,
}

/// A zone that needs a release, its nodes, and the edges with an end among them
/// ([`LayoutConfig::release_zones`]).
pub type ReleaseZone<'a> = (&'a LayoutZone, Vec<&'a str>, Vec<[&'a str; 2]>);

impl LayoutConfig {
    /// The nodes inside a `blocked` zone of their map: no route runs through them.
    pub fn blocked_nodes(&self) -> std::collections::HashSet<&str> {
        let blocked: Vec<&LayoutZone> = self
            .zones
            .iter()
            .filter(|z| z.zone_type() == Ok(super::zones::ZoneType::Blocked))
            .collect();
        self.nodes
            .iter()
            .filter(|n| {
                let map = n.map_id.as_deref().unwrap_or(&self.map_id);
                blocked.iter().any(|z| {
                    z.map_id.as_deref().unwrap_or(&self.map_id) == map && z.contains(n.x, n.y)
                })
            })
            .map(|n| n.id.as_str())
            .collect()
    }

    /// The nodes of each zone that needs a release (`release`, `coordinated_replanning`):
    /// those of the zone's map inside its polygon, and the edges with an end among them.
    pub fn release_zones(&self) -> Vec<ReleaseZone<'_>> {
        self.zones
            .iter()
            .filter(|z| z.zone_type().is_ok_and(super::site_zones::needs_release))
            .map(|z| {
                let map = z.map_id.as_deref().unwrap_or(&self.map_id);
                let nodes: Vec<&str> = self
                    .nodes
                    .iter()
                    .filter(|n| n.map_id.as_deref().unwrap_or(&self.map_id) == map)
                    .filter(|n| z.contains(n.x, n.y))
                    .map(|n| n.id.as_str())
                    .collect();
                let edges = self
                    .edges
                    .iter()
                    .filter(|e| nodes.contains(&e.from.as_str()) || nodes.contains(&e.to.as_str()))
                    .map(|e| [e.from.as_str(), e.to.as_str()])
                    .collect();
                (z, nodes, edges)
            })
            .collect()
    }
}

/// A block of the layout: nodes and lanes that hold at most `capacity` robots together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutBlock {
    /// The block's name.
    pub id: String,
    /// How many robots may be in it at once (default 1).
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// Its nodes.
    #[serde(default)]
    pub nodes: Vec<NodeId>,
    /// Its lanes, as `[from, to]` pairs of an edge of the layout.
    #[serde(default)]
    pub edges: Vec<[NodeId; 2]>,
}

fn default_capacity() -> u32 {
    1
}

fn default_map_id() -> String {
    DEFAULT_MAP_ID.to_string()
}

fn default_true() -> bool {
    true
}

/// A node of the layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutNode {
    /// Unique node id, used as the VDA 5050 `nodeId`.
    pub id: NodeId,
    /// X in metres.
    pub x: f64,
    /// Y in metres.
    pub y: f64,
    /// Orientation an AGV must take on the node (radians), if any.
    #[serde(default)]
    pub theta: Option<f64>,
    /// The map of this node; defaults to the layout's `map_id`.
    #[serde(default)]
    pub map_id: Option<String>,
    /// Idle robots may park here (traffic control sends them here).
    #[serde(default)]
    pub parking: bool,
    /// A robot may wait here without blocking anyone (traffic control cuts grants here).
    #[serde(default)]
    pub waiting: bool,
}

/// An edge of the layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutEdge {
    /// Edge id, used as the VDA 5050 `edgeId`; defaults to `"{from}-{to}"` (and
    /// `"{to}-{from}"` for the way back).
    #[serde(default)]
    pub id: Option<String>,
    /// Start node.
    pub from: NodeId,
    /// End node.
    pub to: NodeId,
    /// Length in metres; defaults to the euclidean distance of the nodes.
    #[serde(default)]
    pub length: Option<f64>,
    /// Whether AGVs may drive both ways (default true).
    #[serde(default = "default_true")]
    pub bidirectional: bool,
    /// Speed limit on the edge (m/s), if any.
    #[serde(default)]
    pub max_speed: Option<f64>,
    /// Both directions may be driven at the same time (two lanes side by side); otherwise
    /// the edge and its way back are one lane that holds one robot.
    #[serde(default)]
    pub two_way_wide: bool,
}

/// A layout that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayoutError {
    /// Two nodes share an id.
    #[error("node `{0}` is defined twice")]
    DuplicateNode(String),
    /// An edge names a node that does not exist.
    #[error("edge `{edge}` refers to unknown node `{node}`")]
    UnknownNode {
        /// The edge.
        edge: String,
        /// The missing node.
        node: String,
    },
    /// A coordinate or length is not a finite number, or a length is negative.
    #[error("{0} has a non-finite coordinate or a negative length")]
    BadNumber(String),
    /// An edge from a node to itself.
    #[error("edge `{0}` starts and ends at the same node")]
    SelfLoop(String),
    /// A zone that cannot be used.
    #[error("{0}")]
    Zone(String),
}

/// A node of the built graph.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// The node id.
    pub id: NodeId,
    /// X in metres.
    pub x: f64,
    /// Y in metres.
    pub y: f64,
    /// Required orientation, if any.
    pub theta: Option<f64>,
    /// The map.
    pub map_id: String,
}

/// A directed edge of the built graph.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeInfo {
    /// The edge id.
    pub id: String,
    /// Length in metres.
    pub length: f64,
    /// Speed limit, if any.
    pub max_speed: Option<f64>,
}

/// The layout graph, ready for path finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "LayoutConfig")]
pub struct LayoutGraph {
    graph: DiGraph<NodeInfo, EdgeInfo>,
    index: HashMap<NodeId, NodeIndex>,
    /// One zone set per map that has zones.
    zone_sets: Vec<ZoneSet>,
}

impl TryFrom<LayoutConfig> for LayoutGraph {
    type Error = LayoutError;

    fn try_from(cfg: LayoutConfig) -> Result<Self, LayoutError> {
        let zone_sets =
            super::site_zones::zone_sets(&cfg.zones, &cfg.map_id).map_err(LayoutError::Zone)?;
        let blocked: std::collections::HashSet<String> = cfg
            .blocked_nodes()
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for n in cfg.nodes {
            if !n.x.is_finite() || !n.y.is_finite() || n.theta.is_some_and(|t| !t.is_finite()) {
                return Err(LayoutError::BadNumber(format!("node `{}`", n.id)));
            }
            if index.contains_key(&n.id) {
                return Err(LayoutError::DuplicateNode(n.id));
            }
            let info = NodeInfo {
                id: n.id.clone(),
                x: n.x,
                y: n.y,
                theta: n.theta,
                map_id: n.map_id.unwrap_or_else(|| cfg.map_id.clone()),
            };
            index.insert(n.id, graph.add_node(info));
        }
        for e in cfg.edges {
            let name =
                e.id.clone()
                    .unwrap_or_else(|| format!("{}-{}", e.from, e.to));
            let lookup = |node: &NodeId| {
                index
                    .get(node)
                    .copied()
                    .ok_or_else(|| LayoutError::UnknownNode {
                        edge: name.clone(),
                        node: node.clone(),
                    })
            };
            let (a, b) = (lookup(&e.from)?, lookup(&e.to)?);
            if a == b {
                return Err(LayoutError::SelfLoop(name));
            }
            if blocked.contains(&e.from) || blocked.contains(&e.to) {
                // Into or out of a blocked zone: not a way anyone may drive.
                continue;
            }
            let length = match e.length {
                Some(l) if l.is_finite() && l >= 0.0 => l,
                Some(_) => return Err(LayoutError::BadNumber(format!("edge `{name}`"))),
                None => euclid(&graph[a], &graph[b]),
            };
            if e.max_speed.is_some_and(|s| !s.is_finite() || s <= 0.0) {
                return Err(LayoutError::BadNumber(format!("edge `{name}`")));
            }
            graph.add_edge(
                a,
                b,
                EdgeInfo {
                    id: name.clone(),
                    length,
                    max_speed: e.max_speed,
                },
            );
            if e.bidirectional {
                let back =
                    e.id.clone()
                        .unwrap_or_else(|| format!("{}-{}", e.to, e.from));
                graph.add_edge(
                    b,
                    a,
                    EdgeInfo {
                        id: back,
                        length,
                        max_speed: e.max_speed,
                    },
                );
            }
        }
        Ok(LayoutGraph {
            graph,
            index,
            zone_sets,
        })
    }
}

fn euclid(a: &NodeInfo, b: &NodeInfo) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

impl LayoutGraph {
    /// Builds the graph from its configuration.
    pub fn new(cfg: LayoutConfig) -> Result<Self, LayoutError> {
        Self::try_from(cfg)
    }

    /// The zone sets of the layout's maps (one per map with zones; see
    /// [`super::site_zones`]).
    pub fn zone_sets(&self) -> &[ZoneSet] {
        &self.zone_sets
    }

    /// The zone set of map `map_id`, if it has zones.
    pub fn zone_set(&self, map_id: &str) -> Option<&ZoneSet> {
        self.zone_sets.iter().find(|z| z.map_id == map_id)
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of directed edges (a two-way lane counts twice).
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&NodeInfo> {
        self.index.get(id).map(|&i| &self.graph[i])
    }

    /// All nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.graph.node_weights()
    }

    /// The shortest directed edge from `from` to `to`, if they are adjacent.
    pub fn edge_between(&self, from: &str, to: &str) -> Option<&EdgeInfo> {
        let (a, b) = (*self.index.get(from)?, *self.index.get(to)?);
        self.graph
            .edges_connecting(a, b)
            .map(|e| e.weight())
            .min_by(|x, y| x.length.total_cmp(&y.length))
    }

    /// The shortest path from `from` to `to` (both included) and its length, or `None` if
    /// either node is unknown or `to` cannot be reached.
    pub fn shortest_path(&self, from: &str, to: &str) -> Option<(Vec<NodeId>, f64)> {
        let (a, b) = (*self.index.get(from)?, *self.index.get(to)?);
        let (cost, path) =
            petgraph::algo::astar(&self.graph, a, |n| n == b, |e| e.weight().length, |_| 0.0)?;
        Some((
            path.into_iter().map(|i| self.graph[i].id.clone()).collect(),
            cost,
        ))
    }

    /// The length of the shortest path, or `None` if there is none.
    pub fn distance(&self, from: &str, to: &str) -> Option<f64> {
        self.shortest_path(from, to).map(|(_, d)| d)
    }

    /// The shortest path as a [`Route`] the order builder takes: nodes with positions and the
    /// edges between them.
    pub fn route(&self, from: &str, to: &str) -> Option<Route> {
        let (ids, _) = self.shortest_path(from, to)?;
        self.route_through(&ids)
    }

    /// A [`Route`] along the given node ids, or `None` if a node is unknown or two consecutive
    /// nodes are not joined by an edge.
    pub fn route_through(&self, ids: &[NodeId]) -> Option<Route> {
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            let n = self.node(id)?;
            nodes.push(PathNode {
                node_id: n.id.clone(),
                x: n.x,
                y: n.y,
                theta: n.theta,
                map_id: n.map_id.clone(),
            });
        }
        let mut edges = Vec::with_capacity(ids.len().saturating_sub(1));
        for w in ids.windows(2) {
            let e = self.edge_between(&w[0], &w[1])?;
            edges.push(PathEdge {
                edge_id: e.id.clone(),
                length: Some(e.length),
                max_speed: e.max_speed,
            });
        }
        Some(Route { nodes, edges })
    }

    /// The node nearest to (`x`, `y`) on `map_id`, if the map has nodes.
    pub fn nearest_node(&self, x: f64, y: f64, map_id: &str) -> Option<&NodeInfo> {
        self.nodes().filter(|n| n.map_id == map_id).min_by(|a, b| {
            (a.x - x)
                .hypot(a.y - y)
                .total_cmp(&(b.x - x).hypot(b.y - y))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: &str = r#"
        [[layout.nodes]]
        id = "A"
        x = 0.0
        y = 0.0
        [[layout.nodes]]
        id = "B"
        x = 3.0
        y = 0.0
        [[layout.nodes]]
        id = "C"
        x = 3.0
        y = 4.0
        [[layout.nodes]]
        id = "D"
        x = 0.0
        y = 4.0
        [[layout.edges]]
        from = "A"
        to = "B"
        [[layout.edges]]
        from = "B"
        to = "C"
        [[layout.edges]]
        id = "diag"
        from = "A"
        to = "C"
        length = 10.0
        [[layout.edges]]
        from = "C"
        to = "D"
        bidirectional = false
    "#;

    #[derive(Deserialize)]
    struct Site {
        layout: LayoutGraph,
    }

    fn square() -> LayoutGraph {
        toml::from_str::<Site>(SQUARE).unwrap().layout
    }

    #[test]
    fn shortest_path_prefers_the_shorter_sum_of_lengths() {
        let g = square();
        let (path, len) = g.shortest_path("A", "C").unwrap();
        assert_eq!(path, ["A", "B", "C"]);
        assert!((len - 7.0).abs() < 1e-9);
        assert_eq!(g.distance("A", "A"), Some(0.0));
    }

    #[test]
    fn one_way_edges_are_respected() {
        let g = square();
        assert!(g.shortest_path("C", "D").is_some());
        assert!(g.shortest_path("D", "C").is_none());
        assert!(g.shortest_path("A", "nowhere").is_none());
    }

    #[test]
    fn routes_carry_positions_and_edge_ids() {
        let g = square();
        let r = g.route("C", "A").unwrap();
        let ids: Vec<_> = r.edges.iter().map(|e| e.edge_id.as_str()).collect();
        assert_eq!(ids, ["C-B", "B-A"]);
        assert_eq!((r.nodes[0].x, r.nodes[0].y), (3.0, 4.0));
        assert_eq!(r.nodes[0].map_id, DEFAULT_MAP_ID);
    }

    #[test]
    fn bad_layouts_are_refused() {
        let dup =
            "[[layout.nodes]]\nid='A'\nx=0.0\ny=0.0\n[[layout.nodes]]\nid='A'\nx=1.0\ny=0.0\n";
        assert!(toml::from_str::<Site>(dup).is_err());
        let unknown =
            "[[layout.nodes]]\nid='A'\nx=0.0\ny=0.0\n[[layout.edges]]\nfrom='A'\nto='B'\n";
        assert!(toml::from_str::<Site>(unknown).is_err());
        let extra = "[[layout.nodes]]\nid='A'\nx=0.0\ny=0.0\nz=1.0\n";
        assert!(toml::from_str::<Site>(extra).is_err());
    }
}

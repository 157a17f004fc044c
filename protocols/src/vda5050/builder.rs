//! The order builder: a route on the layout plus the actions at its nodes become an order whose
//! base is released a few nodes at a time. No IO: the caller stamps headers and sends.
//!
//! Route index `i` gets node `sequenceId` `2i`, and the edge leaving it `2i + 1`, for the whole
//! life of the order, so a node keeps its sequence id across updates. The first message
//! (`orderUpdateId` 0) releases up to `max_base_nodes` nodes; every [`OrderPlan::extend`]
//! starts at the last base node (the stitching node, unchanged) and releases up to
//! `max_base_nodes - 1` more. Unreleased nodes follow as the horizon.

use super::header::Header;
use super::order::action_types::{DROP, PICK};
use super::order::{Action, BlockingType, Edge, Node, NodePosition, Order};

/// A path to drive, node by node.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The nodes, first the one the AGV stands on.
    pub nodes: Vec<PathNode>,
    /// The edges: `edges[i]` joins `nodes[i]` to `nodes[i + 1]`.
    pub edges: Vec<PathEdge>,
}

/// A node of a route.
#[derive(Debug, Clone, PartialEq)]
pub struct PathNode {
    /// The `nodeId`.
    pub node_id: String,
    /// X (m).
    pub x: f64,
    /// Y (m).
    pub y: f64,
    /// Required orientation, if any.
    pub theta: Option<f64>,
    /// The map.
    pub map_id: String,
}

/// An edge of a route.
#[derive(Debug, Clone, PartialEq)]
pub struct PathEdge {
    /// The `edgeId`.
    pub edge_id: String,
    /// Length (m), if known.
    pub length: Option<f64>,
    /// Speed limit (m/s), if any.
    pub max_speed: Option<f64>,
}

/// A pick or a drop with the parameters of section 6.8.1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadHandling {
    /// The `actionId`.
    pub action_id: String,
    /// `loadId`.
    pub load_id: Option<String>,
    /// `loadType`.
    pub load_type: Option<String>,
    /// `stationName`.
    pub station_name: Option<String>,
    /// `stationType`.
    pub station_type: Option<String>,
    /// `lhd`: which load handling device.
    pub lhd: Option<String>,
    /// `height` of the load bottom above the floor (m).
    pub height: Option<f64>,
}

impl LoadHandling {
    /// A pick action (blocking HARD).
    pub fn pick(self) -> Action {
        self.into_action(PICK)
    }

    /// A drop action (blocking HARD).
    pub fn drop_load(self) -> Action {
        self.into_action(DROP)
    }

    fn into_action(self, action_type: &str) -> Action {
        let mut a = Action::new(action_type, &self.action_id, BlockingType::Hard);
        let strings = [
            ("loadId", self.load_id),
            ("loadType", self.load_type),
            ("stationName", self.station_name),
            ("stationType", self.station_type),
            ("lhd", self.lhd),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                a = a.with_param(k, v);
            }
        }
        if let Some(h) = self.height {
            a = a.with_param("height", h);
        }
        a
    }
}

/// A route and actions that cannot make an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A route needs at least one node.
    #[error("the route has no nodes")]
    EmptyRoute,
    /// A route of n nodes needs n - 1 edges.
    #[error("the route has {nodes} nodes but {edges} edges")]
    EdgeCount {
        /// Number of nodes.
        nodes: usize,
        /// Number of edges.
        edges: usize,
    },
    /// An action is attached to a route index past its end.
    #[error("action `{action_id}` is attached to node index {index}, past the route's end")]
    NoSuchNode {
        /// The action.
        action_id: String,
        /// The index given.
        index: usize,
    },
    /// The base must hold at least two nodes to make progress.
    #[error("max_base_nodes must be at least 2")]
    BaseTooShort,
}

/// An order in the making: which part is released, which update is current.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    order_id: String,
    route: Route,
    actions: Vec<Vec<Action>>,
    max_base_nodes: usize,
    /// Route index of the first node of the current message.
    start: usize,
    /// Route index of the last base node of the current message (the decision point).
    base_end: usize,
    update_id: u32,
    /// `allowedDeviationXY` / `allowedDeviationTheta` of the route's first node.
    start_deviation: (Option<f64>, Option<f64>),
}

impl OrderPlan {
    /// Plans order `order_id` along `route` with `actions` at route indices, releasing at most
    /// `max_base_nodes` nodes per message.
    pub fn new(
        order_id: &str,
        route: Route,
        actions: Vec<(usize, Action)>,
        max_base_nodes: usize,
    ) -> Result<Self, BuildError> {
        let n = route.nodes.len();
        if n == 0 {
            return Err(BuildError::EmptyRoute);
        }
        if route.edges.len() + 1 != n {
            return Err(BuildError::EdgeCount {
                nodes: n,
                edges: route.edges.len(),
            });
        }
        if max_base_nodes < 2 {
            return Err(BuildError::BaseTooShort);
        }
        let mut per_node = vec![Vec::new(); n];
        for (index, action) in actions {
            let slot = per_node
                .get_mut(index)
                .ok_or_else(|| BuildError::NoSuchNode {
                    action_id: action.action_id.clone(),
                    index,
                })?;
            slot.push(action);
        }
        Ok(OrderPlan {
            order_id: order_id.to_string(),
            route,
            actions: per_node,
            max_base_nodes,
            start: 0,
            base_end: max_base_nodes.min(n) - 1,
            update_id: 0,
            start_deviation: (None, None),
        })
    }

    /// The order id.
    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    /// The `orderUpdateId` of the current message.
    pub fn order_update_id(&self) -> u32 {
        self.update_id
    }

    /// The route.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The decision point: `nodeId` and `sequenceId` of the last released node.
    pub fn decision_point(&self) -> (&str, u32) {
        (
            &self.route.nodes[self.base_end].node_id,
            seq_node(self.base_end),
        )
    }

    /// Whether the whole route is released (no horizon left).
    pub fn is_fully_released(&self) -> bool {
        self.base_end + 1 == self.route.nodes.len()
    }

    /// The current message (again, e.g. to re-send it until the state echoes it).
    pub fn message(&self, header: Header) -> Order {
        let n = self.route.nodes.len();
        let nodes = (self.start..n)
            .map(|i| {
                let p = &self.route.nodes[i];
                Node {
                    node_id: p.node_id.clone(),
                    sequence_id: seq_node(i),
                    node_description: None,
                    released: i <= self.base_end,
                    node_position: Some(NodePosition {
                        x: p.x,
                        y: p.y,
                        theta: p.theta,
                        allowed_deviation_xy: if i == 0 { self.start_deviation.0 } else { None },
                        allowed_deviation_theta: if i == 0 { self.start_deviation.1 } else { None },
                        map_id: p.map_id.clone(),
                        map_description: None,
                    }),
                    actions: self.actions[i].clone(),
                }
            })
            .collect();
        let edges = (self.start..n - 1)
            .map(|i| {
                let e = &self.route.edges[i];
                Edge {
                    edge_id: e.edge_id.clone(),
                    sequence_id: seq_node(i) + 1,
                    edge_description: None,
                    released: i < self.base_end,
                    start_node_id: self.route.nodes[i].node_id.clone(),
                    end_node_id: self.route.nodes[i + 1].node_id.clone(),
                    max_speed: e.max_speed,
                    max_height: None,
                    min_height: None,
                    orientation: None,
                    orientation_type: None,
                    direction: None,
                    rotation_allowed: None,
                    max_rotation_speed: None,
                    length: e.length,
                    trajectory: None,
                    corridor: None,
                    actions: Vec::new(),
                }
            })
            .collect();
        Order {
            header,
            order_id: self.order_id.clone(),
            order_update_id: self.update_id,
            zone_set_id: None,
            nodes,
            edges,
        }
    }

    /// Releases more of the horizon and returns the order update: same `orderId`,
    /// `orderUpdateId` + 1, starting at the stitching node. `None` once all is released.
    pub fn extend(&mut self, header: Header) -> Option<Order> {
        self.advance().then(|| self.message(header))
    }

    /// [`extend`](Self::extend) without building the message (the caller stamps the
    /// header when it sends, so a header is taken only for a message that goes out).
    /// Whether anything was released.
    pub fn advance(&mut self) -> bool {
        let to = self.base_end + self.max_base_nodes - 1;
        self.release_to(to, true)
    }

    /// Route index of the last released node.
    pub fn base_end(&self) -> usize {
        self.base_end
    }

    /// Route index of the current message's first node.
    pub fn start(&self) -> usize {
        self.start
    }

    /// The actions at route index `index`.
    pub fn actions_at(&self, index: usize) -> &[Action] {
        self.actions.get(index).map_or(&[], Vec::as_slice)
    }

    /// Releases the route up to index `base_end` (at most `max_base_nodes` past the
    /// current decision point, never back). With `update`, the release is a new message
    /// (`orderUpdateId` + 1, starting at the stitching node); without, it widens the
    /// current message, which must not have been sent yet. Whether anything changed.
    pub fn release_to(&mut self, base_end: usize, update: bool) -> bool {
        let cap = if update {
            self.base_end + self.max_base_nodes - 1
        } else {
            self.start + self.max_base_nodes - 1
        };
        let to = base_end.min(cap).min(self.route.nodes.len() - 1);
        if to <= self.base_end {
            return false;
        }
        if update {
            self.start = self.base_end;
            self.update_id += 1;
        }
        self.base_end = to;
        true
    }

    /// Takes the release state of the order as the robot holds it (after a restart):
    /// update `update_id`, released up to route index `base_end`, the current message
    /// starting at `start`.
    pub fn adopt(&mut self, update_id: u32, start: usize, base_end: usize) {
        let last = self.route.nodes.len() - 1;
        self.update_id = update_id;
        self.base_end = base_end.min(last);
        self.start = start.min(self.base_end);
    }

    /// This order as the robot holds it when its route from index `at` on is `tail` (with
    /// `actions` at `tail` indices) rather than this plan's: after a restart, an order whose
    /// horizon was re-routed while it ran is rebuilt from the robot's own node states. The
    /// same id and base limit; sequence ids stay `2 × index`, so `at` is the robot's
    /// `lastNodeSequenceId / 2`. The part before `at` was driven and is never sent again:
    /// it is this plan's where that is as long, else `tail`'s first node repeated.
    pub fn resumed(
        &self,
        at: usize,
        tail: Route,
        actions: Vec<(usize, Action)>,
    ) -> Result<OrderPlan, BuildError> {
        let first = tail.nodes.first().ok_or(BuildError::EmptyRoute)?.clone();
        let passed = |i: usize| self.route.nodes.get(i).cloned().unwrap_or(first.clone());
        let mut nodes: Vec<PathNode> = (0..at).map(passed).collect();
        let mut edges: Vec<PathEdge> = (0..at)
            .map(|i| {
                self.route
                    .edges
                    .get(i)
                    .filter(|_| i + 1 < at && i + 1 < self.route.nodes.len())
                    .cloned()
                    .unwrap_or(PathEdge {
                        edge_id: format!("{}-passed-{i}", self.order_id),
                        length: None,
                        max_speed: None,
                    })
            })
            .collect();
        nodes.extend(tail.nodes);
        edges.extend(tail.edges);
        let actions = actions.into_iter().map(|(i, a)| (at + i, a)).collect();
        let mut plan = OrderPlan::new(
            &self.order_id,
            Route { nodes, edges },
            actions,
            self.max_base_nodes,
        )?;
        plan.start_deviation = self.start_deviation;
        Ok(plan)
    }

    /// Releases nothing beyond the route's first node (a traffic controller releases the
    /// rest with [`release_to`](Self::release_to)).
    pub fn hold_at_start(&mut self) {
        if self.start == 0 && self.update_id == 0 {
            self.base_end = 0;
        }
    }

    /// Replaces the horizon: everything after the decision point becomes `tail` (a route
    /// starting at the decision point's node) with `actions` at `tail` indices. The next
    /// message (`update`: `orderUpdateId` + 1 from the stitching node; otherwise the
    /// current, unsent one) carries it. The released part and its actions stay as they are.
    pub fn reroute(
        &mut self,
        tail: Route,
        actions: Vec<(usize, Action)>,
        update: bool,
    ) -> Result<(), BuildError> {
        let b = self.base_end;
        if tail.nodes.first().map(|n| &n.node_id) != Some(&self.route.nodes[b].node_id) {
            return Err(BuildError::EmptyRoute);
        }
        if tail.edges.len() + 1 != tail.nodes.len() {
            return Err(BuildError::EdgeCount {
                nodes: tail.nodes.len(),
                edges: tail.edges.len(),
            });
        }
        let mut per_node = vec![Vec::new(); tail.nodes.len()];
        for (index, action) in actions {
            let slot = per_node
                .get_mut(index)
                .ok_or_else(|| BuildError::NoSuchNode {
                    action_id: action.action_id.clone(),
                    index,
                })?;
            slot.push(action);
        }
        self.route.nodes.truncate(b + 1);
        self.route.edges.truncate(b);
        self.actions.truncate(b + 1);
        let mut per_node = per_node.into_iter();
        self.actions[b].extend(per_node.next().unwrap_or_default());
        self.actions.extend(per_node);
        self.route.nodes.extend(tail.nodes.into_iter().skip(1));
        self.route.edges.extend(tail.edges);
        if update {
            self.start = b;
            self.update_id += 1;
        }
        Ok(())
    }

    /// `allowedDeviationXY` (m) and `allowedDeviationTheta` (rad) of the route's first
    /// node: how far from it the robot may stand and still start the order (VDA 5050 2.1
    /// 6.6.3.1), e.g. after it was stopped between two nodes.
    pub fn set_start_deviation(&mut self, xy: Option<f64>, theta: Option<f64>) {
        self.start_deviation = (xy, theta);
    }
}

fn seq_node(index: usize) -> u32 {
    u32::try_from(index * 2).unwrap_or(u32::MAX - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vda5050::header::{HeaderFactory, ProtocolVersion};
    use crate::vda5050::topic::TopicKind;
    use crate::vda5050::validate::validate_order;

    fn route(n: usize) -> Route {
        Route {
            nodes: (0..n)
                .map(|i| PathNode {
                    node_id: format!("N{i}"),
                    x: i as f64,
                    y: 0.0,
                    theta: None,
                    map_id: "map".into(),
                })
                .collect(),
            edges: (1..n)
                .map(|i| PathEdge {
                    edge_id: format!("E{}", i - 1),
                    length: Some(1.0),
                    max_speed: None,
                })
                .collect(),
        }
    }

    fn headers() -> HeaderFactory {
        HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r1")
    }

    fn released(o: &Order) -> Vec<bool> {
        o.nodes.iter().map(|n| n.released).collect()
    }

    #[test]
    fn first_order_has_even_node_and_odd_edge_sequence_ids_and_a_horizon() {
        let pick = LoadHandling {
            action_id: "a1".into(),
            load_id: Some("T1".into()),
            ..Default::default()
        };
        let plan = OrderPlan::new("o1", route(5), vec![(4, pick.pick())], 3).unwrap();
        let o = plan.message(headers().next(TopicKind::Order));
        validate_order(&o).unwrap();
        assert_eq!(o.order_update_id, 0);
        let seqs: Vec<u32> = o.nodes.iter().map(|n| n.sequence_id).collect();
        assert_eq!(seqs, [0, 2, 4, 6, 8]);
        let eseqs: Vec<u32> = o.edges.iter().map(|e| e.sequence_id).collect();
        assert_eq!(eseqs, [1, 3, 5, 7]);
        assert_eq!(released(&o), [true, true, true, false, false]);
        let er: Vec<bool> = o.edges.iter().map(|e| e.released).collect();
        assert_eq!(er, [true, true, false, false]);
        assert_eq!(o.nodes[4].actions[0].param_str("loadId"), Some("T1"));
        assert_eq!(plan.decision_point(), ("N2", 4));
    }

    #[test]
    fn a_resumed_plan_follows_the_robots_tail_with_its_sequence_ids_and_actions() {
        // Planned N0..N4; the robot was re-routed at N2 and holds N2 → M1 → M2 → N4.
        let drop = LoadHandling {
            action_id: "d1".into(),
            ..Default::default()
        };
        let mut plan =
            OrderPlan::new("o1", route(5), vec![(4, drop.clone().drop_load())], 3).unwrap();
        plan.set_start_deviation(Some(0.5), None);
        let mut tail = route(4);
        for (n, id) in tail.nodes.iter_mut().zip(["N2", "M1", "M2", "N4"]) {
            n.node_id = id.into();
        }
        let mut resumed = plan.resumed(2, tail, vec![(3, drop.drop_load())]).unwrap();
        resumed.adopt(1, 2, 3);
        let ids: Vec<&str> = resumed.route().nodes[2..]
            .iter()
            .map(|n| n.node_id.as_str())
            .collect();
        assert_eq!(ids, ["N2", "M1", "M2", "N4"]);
        assert_eq!(resumed.order_id(), "o1");
        assert_eq!(resumed.actions_at(5)[0].action_id, "d1");
        assert!(resumed.actions_at(4).is_empty());
        let update = resumed.extend(headers().next(TopicKind::Order)).unwrap();
        validate_order(&update).unwrap();
        let seqs: Vec<(&str, u32)> = update
            .nodes
            .iter()
            .map(|n| (n.node_id.as_str(), n.sequence_id))
            .collect();
        assert_eq!(seqs, [("M1", 6), ("M2", 8), ("N4", 10)]);
        // Longer than the plan it came from: the driven part is padded, never sent.
        let mut far = route(3);
        for (n, id) in far.nodes.iter_mut().zip(["M2", "N4", "N3"]) {
            n.node_id = id.into();
        }
        let resumed = plan.resumed(7, far, vec![]).unwrap();
        assert_eq!(resumed.route().nodes.len(), 10);
        assert_eq!(resumed.route().edges.len(), 9);
        assert_eq!(resumed.route().nodes[7].node_id, "M2");
    }

    #[test]
    fn extend_starts_at_the_stitching_node_and_keeps_its_sequence_id() {
        let mut h = headers();
        let mut plan = OrderPlan::new("o1", route(6), vec![], 3).unwrap();
        let first = plan.message(h.next(TopicKind::Order));
        let update = plan.extend(h.next(TopicKind::Order)).unwrap();
        validate_order(&update).unwrap();
        assert_eq!(update.order_id, "o1");
        assert_eq!(update.order_update_id, 1);
        let stitch = first.nodes.iter().rfind(|n| n.released).unwrap();
        assert_eq!(update.nodes[0].node_id, stitch.node_id);
        assert_eq!(update.nodes[0].sequence_id, stitch.sequence_id);
        assert_eq!(released(&update), [true, true, true, false]);
        assert_eq!(update.edges[0].sequence_id, 5);

        let last = plan.extend(h.next(TopicKind::Order)).unwrap();
        assert_eq!(last.order_update_id, 2);
        assert_eq!(last.nodes[0].sequence_id, 8);
        assert!(last.nodes.iter().all(|n| n.released) && last.edges.iter().all(|e| e.released));
        assert!(plan.is_fully_released());
        assert!(plan.extend(h.next(TopicKind::Order)).is_none());
    }

    #[test]
    fn short_routes_are_released_at_once_and_bad_input_is_refused() {
        let plan = OrderPlan::new("o", route(1), vec![], 4).unwrap();
        let o = plan.message(headers().next(TopicKind::Order));
        assert_eq!((o.nodes.len(), o.edges.len()), (1, 0));
        assert!(plan.is_fully_released());
        assert_eq!(
            OrderPlan::new("o", route(0), vec![], 4),
            Err(BuildError::EmptyRoute)
        );
        assert_eq!(
            OrderPlan::new("o", route(3), vec![], 1),
            Err(BuildError::BaseTooShort)
        );
        let mut r = route(3);
        r.edges.pop();
        assert!(matches!(
            OrderPlan::new("o", r, vec![], 3),
            Err(BuildError::EdgeCount { .. })
        ));
        let drop = LoadHandling {
            action_id: "d".into(),
            ..Default::default()
        }
        .drop_load();
        assert!(matches!(
            OrderPlan::new("o", route(2), vec![(2, drop)], 3),
            Err(BuildError::NoSuchNode { index: 2, .. })
        ));
    }
}

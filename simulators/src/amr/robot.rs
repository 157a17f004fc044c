//! One simulated AMR as a state machine without IO: fed orders, instant actions and time
//! ticks, it keeps the VDA 5050 state and says when a state message is due.
//!
//! Order acceptance follows figure 8 of VDA 5050 2.1 (section 6.6.2):
//! - malformed (JSON or structure) → rejected, warning `validationError`;
//! - actions it cannot perform → rejected, warning `orderError`;
//! - a new `orderId` while nodes remain or actions are unfinished → rejected (`orderError`);
//! - a new `orderId` whose first node is not where the robot stands → rejected
//!   (`noRouteError`, VDA 5050 2.1 §6.6.3.1): the node's position must be on the robot's map
//!   and within its `allowedDeviationXY` of the robot (the robot's `default_deviation_m` when
//!   the order gives none) — also when it is the robot's `lastNodeId`, since a robot stopped
//!   mid-edge by `cancelOrder` keeps its last node but stands somewhere else; a first node
//!   without a position is accepted only when it is the last node. The robot starts from
//!   where it stands, not from the node's exact coordinates;
//! - same `orderId`, lower `orderUpdateId` → rejected, warning `orderUpdateError`, the
//!   current order goes on;
//! - same `orderId` and `orderUpdateId` → ignored;
//! - a higher `orderUpdateId` whose first node is not the stitching node (the decision point
//!   while running, else `lastNodeId`/`lastNodeSequenceId`) → rejected (`orderUpdateError`);
//! - a new order or an update with a node inside a BLOCKED zone of an enabled zone set
//!   (VDA 5050 3.0, see `zones.rs`) → rejected (`noRouteError`);
//! - otherwise accepted; rejection warnings are cleared by the next accepted order.
//!
//! A hibernating robot (3.0, see `hibernation.rs`) ignores every order.

use std::collections::{BTreeMap, VecDeque};

use floorgate_protocols::vda5050::state::{EdgeState, Load, NodeState, Reference};
use floorgate_protocols::vda5050::{
    decode, validate_order, ActionStatus, AgvError, ErrorLevel, Header, HeaderFactory, Order,
    TopicKind,
};

use super::config::RobotConfig;
use super::record::Happened;

/// What became of an order message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderOutcome {
    /// Taken over (new order or update).
    Accepted,
    /// A repeat of the message the robot holds.
    Ignored,
    /// Refused; the state carries a warning of this `errorType`.
    Rejected(String),
}

/// What a test can count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RobotCounters {
    /// Order messages accepted.
    pub orders_accepted: u64,
    /// Order messages ignored as repeats.
    pub orders_ignored: u64,
    /// Order messages rejected.
    pub orders_rejected: u64,
    /// Finished picks per `loadId` (`""` when none was given).
    pub picks: BTreeMap<String, u32>,
    /// Finished drops per `loadId`.
    pub drops: BTreeMap<String, u32>,
    /// Instant actions received.
    pub instant_actions: u64,
    /// Nodes traversed.
    pub nodes_traversed: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedNode {
    pub(crate) state: NodeState,
    pub(crate) actions: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedEdge {
    pub(crate) state: EdgeState,
    pub(crate) length: Option<f64>,
    pub(crate) max_speed: Option<f64>,
}

/// Called with each [`Happened`] at the moment it happens, under the robot's lock.
pub(crate) struct HappenedHook(pub(crate) Box<dyn FnMut(&Happened) + Send>);

impl std::fmt::Debug for HappenedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HappenedHook")
    }
}

/// The simulated robot.
#[derive(Debug)]
pub struct Robot {
    pub(crate) cfg: RobotConfig,
    pub(crate) headers: HeaderFactory,
    pub(crate) order_id: String,
    pub(crate) order_update_id: u32,
    pub(crate) last_node_id: String,
    pub(crate) last_node_seq: u32,
    pub(crate) nodes: VecDeque<PlannedNode>,
    pub(crate) edges: VecDeque<PlannedEdge>,
    /// Driving progress on the front edge: start point and metres done.
    pub(crate) edge_start: Option<(f64, f64)>,
    pub(crate) edge_done_m: f64,
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) theta: f64,
    pub(crate) driving: bool,
    pub(crate) paused: bool,
    pub(crate) battery: f64,
    pub(crate) charging: bool,
    pub(crate) loads: Vec<Load>,
    pub(crate) errors: Vec<AgvError>,
    pub(crate) actions: crate::amr::actions::Actions,
    pub(crate) order_cancelled: bool,
    pub(crate) counters: RobotCounters,
    pub(crate) changed: bool,
    pub(crate) factsheet_requested: bool,
    /// A FATAL error to raise right after the next drop.
    pub(crate) fault_after_drop: Option<String>,
    /// What really happened ([`Robot::record`]).
    pub(crate) record: Vec<Happened>,
    /// Told of each thing as it happens ([`Robot::on_happened`]).
    pub(crate) on_happened: Option<HappenedHook>,
    /// The robot whose body the safety field sees ahead (set by the world each step).
    pub(crate) safety_stop: Option<String>,
    /// Seconds (simulated) the safety field held the robot while it wanted to drive.
    pub(crate) blocked_secs: f64,
    /// Zone sets, zone requests and the zones the robot is in (3.0, `zones.rs`).
    pub(crate) zones: crate::amr::zones::Zones,
    /// Hibernation (3.0, `hibernation.rs`).
    pub(crate) hibernation: crate::amr::hibernation::Hibernation,
}

/// Rounding slack of the deviation check (m): a robot exactly at the allowed deviation is
/// within it.
const DEVIATION_EPSILON_M: f64 = 1e-6;

/// Warnings about earlier messages, cleared by the next accepted order.
const ORDER_WARNINGS: [&str; 6] = [
    "validationError",
    "orderError",
    "orderUpdateError",
    "noRouteError",
    "noOrderToCancel",
    "cancelRefused",
];

impl Robot {
    /// A robot standing on its start node, idle, battery full.
    pub fn new(cfg: RobotConfig) -> Self {
        let headers = HeaderFactory::new(cfg.version, &cfg.manufacturer, &cfg.serial_number);
        Robot {
            headers,
            order_id: String::new(),
            order_update_id: 0,
            last_node_id: cfg.start_node.clone(),
            last_node_seq: 0,
            nodes: VecDeque::new(),
            edges: VecDeque::new(),
            edge_start: None,
            edge_done_m: 0.0,
            x: cfg.start_x,
            y: cfg.start_y,
            theta: 0.0,
            driving: false,
            paused: false,
            battery: 100.0,
            charging: false,
            loads: Vec::new(),
            errors: Vec::new(),
            actions: Default::default(),
            order_cancelled: false,
            counters: RobotCounters::default(),
            changed: true,
            factsheet_requested: false,
            fault_after_drop: None,
            record: Vec::new(),
            on_happened: None,
            safety_stop: None,
            blocked_secs: 0.0,
            zones: Default::default(),
            hibernation: Default::default(),
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RobotConfig {
        &self.cfg
    }

    /// The counters.
    pub fn counters(&self) -> &RobotCounters {
        &self.counters
    }

    /// Stamps the next header of `topic`.
    pub fn next_header(&mut self, topic: TopicKind) -> Header {
        self.headers.next(topic)
    }

    /// Whether something changed that master control must hear about; clears the flag.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Whether a factsheet was requested; clears the flag.
    pub fn take_factsheet_request(&mut self) -> bool {
        std::mem::take(&mut self.factsheet_requested)
    }

    /// Handles a raw payload from the `order` topic; malformed JSON is rejected with a
    /// `validationError` warning.
    pub fn handle_order_payload(&mut self, payload: &[u8]) -> OrderOutcome {
        match decode::<Order>(payload) {
            Ok(order) => self.handle_order(order),
            Err(e) => self.reject("validationError", e.to_string(), vec![]),
        }
    }

    /// Handles an order or order update; a hibernating robot ignores it (not counted).
    pub fn handle_order(&mut self, order: Order) -> OrderOutcome {
        if self.is_hibernating() {
            return OrderOutcome::Ignored;
        }
        self.changed = true;
        let order_ref = vec![
            Reference::new("orderId", &order.order_id),
            Reference::new("orderUpdateId", &order.order_update_id.to_string()),
        ];
        if let Err(e) = validate_order(&order) {
            let mut refs = order_ref;
            if let Some((k, v)) = e.reference() {
                refs.push(Reference::new(k, &v));
            }
            return self.reject("validationError", e.to_string(), refs);
        }
        let unsupported = order
            .nodes
            .iter()
            .flat_map(|n| &n.actions)
            .chain(order.edges.iter().flat_map(|e| &e.actions))
            .find(|a| !self.cfg.supported_actions.contains(&a.action_type));
        if let Some(a) = unsupported {
            let mut refs = order_ref;
            refs.push(Reference::new("actionId", &a.action_id));
            refs.push(Reference::new("actionType", &a.action_type));
            let msg = format!("action type `{}` is not supported", a.action_type);
            return self.reject("orderError", msg, refs);
        }
        if self.has_fatal_error() {
            return self.reject("orderError", "vehicle has a FATAL error".into(), order_ref);
        }
        let first = &order.nodes[0];
        if order.order_id != self.order_id {
            if self.is_busy() {
                let msg = format!("still executing order `{}`", self.order_id);
                return self.reject("orderError", msg, order_ref);
            }
            if !self.can_start_at(first) {
                let mut refs = order_ref;
                refs.push(Reference::new("nodeId", &first.node_id));
                let msg = format!(
                    "first node `{}` is not where the vehicle stands (within its allowed deviation)",
                    first.node_id
                );
                return self.reject("noRouteError", msg, refs);
            }
            if let Some(rejected) = self.reject_blocked(&order, order_ref) {
                return rejected;
            }
            self.accept_new(order);
            return OrderOutcome::Accepted;
        }
        if order.order_update_id < self.order_update_id {
            let msg = format!(
                "orderUpdateId {} is lower than the current {}",
                order.order_update_id, self.order_update_id
            );
            return self.reject("orderUpdateError", msg, order_ref);
        }
        if order.order_update_id == self.order_update_id {
            self.counters.orders_ignored += 1;
            return OrderOutcome::Ignored;
        }
        let (stitch_id, stitch_seq) = self.decision_point();
        if first.node_id != stitch_id || first.sequence_id != stitch_seq {
            let mut refs = order_ref;
            refs.push(Reference::new("nodeId", &first.node_id));
            let msg = format!(
                "update starts at `{}`/{} but the stitching node is `{stitch_id}`/{stitch_seq}",
                first.node_id, first.sequence_id
            );
            return self.reject("orderUpdateError", msg, refs);
        }
        if let Some(rejected) = self.reject_blocked(&order, order_ref) {
            return rejected;
        }
        self.accept_update(order);
        OrderOutcome::Accepted
    }

    fn reject(
        &mut self,
        error_type: &str,
        description: String,
        refs: Vec<Reference>,
    ) -> OrderOutcome {
        self.changed = true;
        self.counters.orders_rejected += 1;
        self.errors.retain(|e| e.error_type != error_type);
        self.errors.push(AgvError {
            error_type: error_type.to_string(),
            error_references: Some(refs),
            error_description: Some(description),
            error_hint: None,
            error_level: ErrorLevel::Warning,
        });
        OrderOutcome::Rejected(error_type.to_string())
    }

    /// An order with a node inside a BLOCKED zone of an enabled zone set is rejected
    /// (`noRouteError`, VDA 5050 3.0 §6.4.1.1).
    fn reject_blocked(&mut self, order: &Order, refs: Vec<Reference>) -> Option<OrderOutcome> {
        let (node, zone_id) = self.node_in_blocked_zone(order)?;
        let mut refs = refs;
        refs.push(Reference::new("nodeId", &node.node_id));
        refs.push(Reference::new("zoneId", &zone_id));
        let msg = format!("node `{}` is inside BLOCKED zone `{zone_id}`", node.node_id);
        Some(self.reject("noRouteError", msg, refs))
    }

    /// Executing an order or waiting for an update (figure 8, step 3).
    pub fn is_busy(&self) -> bool {
        !self.nodes.is_empty() || self.actions.any_unfinished_order_action()
    }

    /// The last node of the current base, or the last traversed node when none is left.
    pub fn decision_point(&self) -> (String, u32) {
        match self.nodes.iter().rev().find(|n| n.state.released) {
            Some(n) => (n.state.node_id.clone(), n.state.sequence_id),
            None => (self.last_node_id.clone(), self.last_node_seq),
        }
    }

    /// Whether a new order may start at `node` (see the module note): a node with a position
    /// must be on the robot's map and within the allowed deviation of where it stands.
    pub(crate) fn can_start_at(&self, node: &floorgate_protocols::vda5050::Node) -> bool {
        match &node.node_position {
            Some(p) => {
                let tolerance = p
                    .allowed_deviation_xy
                    .unwrap_or(self.cfg.default_deviation_m);
                p.map_id == self.cfg.map_id
                    && (p.x - self.x).hypot(p.y - self.y) <= tolerance + DEVIATION_EPSILON_M
            }
            None => node.node_id == self.last_node_id && !self.last_node_id.is_empty(),
        }
    }

    fn accept_new(&mut self, order: Order) {
        self.counters.orders_accepted += 1;
        self.clear_order_warnings();
        self.actions.clear_for_new_order();
        self.happened(Happened::OrderTaken {
            order_id: order.order_id.clone(),
        });
        self.order_id = order.order_id;
        self.order_update_id = order.order_update_id;
        self.order_cancelled = false;
        self.nodes.clear();
        self.edges.clear();
        self.edge_start = None;
        self.edge_done_m = 0.0;
        let mut nodes = order.nodes.into_iter();
        let first = nodes.next().expect("validated orders have a node");
        let first = self.plan_node(first);
        self.extend_plan(nodes, order.edges);
        // Within its deviation the robot is on the first node, and drives on from where it is.
        self.reach(first, false);
    }

    fn accept_update(&mut self, order: Order) {
        self.counters.orders_accepted += 1;
        self.clear_order_warnings();
        // The horizon is replaced; the base cannot change.
        while self.nodes.back().is_some_and(|n| !n.state.released) {
            let n = self.nodes.pop_back().expect("checked");
            self.actions.forget_waiting(&n.actions);
        }
        while self.edges.back().is_some_and(|e| !e.state.released) {
            self.edges.pop_back();
        }
        self.order_update_id = order.order_update_id;
        // The stitching node keeps the content of the first message that sent it.
        self.extend_plan(order.nodes.into_iter().skip(1), order.edges);
    }

    fn plan_node(&mut self, n: floorgate_protocols::vda5050::Node) -> PlannedNode {
        let ids = n.actions.iter().map(|a| a.action_id.clone()).collect();
        for a in n.actions {
            self.actions.add_order_action(a);
        }
        PlannedNode {
            state: NodeState {
                node_id: n.node_id,
                sequence_id: n.sequence_id,
                node_description: n.node_description,
                released: n.released,
                node_position: n.node_position,
            },
            actions: ids,
        }
    }

    fn extend_plan(
        &mut self,
        nodes: impl Iterator<Item = floorgate_protocols::vda5050::Node>,
        edges: Vec<floorgate_protocols::vda5050::Edge>,
    ) {
        for n in nodes {
            let planned = self.plan_node(n);
            self.nodes.push_back(planned);
        }
        for e in edges {
            // Edge actions are accepted but have no effect in the simulation.
            for a in e.actions {
                self.actions.add_order_action(a);
            }
            self.edges.push_back(PlannedEdge {
                state: EdgeState {
                    edge_id: e.edge_id,
                    sequence_id: e.sequence_id,
                    edge_description: e.edge_description,
                    released: e.released,
                    trajectory: None,
                },
                length: e.length,
                max_speed: e.max_speed,
            });
        }
    }

    /// The robot is on `node`: it becomes the last node and its actions start (the zones it
    /// has left are dealt with by the caller, which knows where it came from).
    pub(crate) fn arrive(&mut self, node: PlannedNode) {
        self.reach(node, true);
    }

    /// `node` is traversed; with `snap` the robot stands on its exact position.
    fn reach(&mut self, node: PlannedNode, snap: bool) {
        self.changed = true;
        self.counters.nodes_traversed += 1;
        self.last_node_id = node.state.node_id;
        self.last_node_seq = node.state.sequence_id;
        if let (Some(p), true) = (node.state.node_position, snap) {
            self.x = p.x;
            self.y = p.y;
        }
        self.actions.trigger(&node.actions);
    }

    fn clear_order_warnings(&mut self) {
        let before = self.errors.len();
        self.errors
            .retain(|e| !ORDER_WARNINGS.contains(&e.error_type.as_str()));
        self.changed |= before != self.errors.len();
    }

    /// The status of action `action_id`, if known.
    pub fn action_status(&self, action_id: &str) -> Option<ActionStatus> {
        self.actions.status(action_id)
    }

    /// The loads on board.
    pub fn loads(&self) -> &[Load] {
        &self.loads
    }

    /// The position (x, y).
    pub fn position(&self) -> (f64, f64) {
        (self.x, self.y)
    }

    /// The map the robot is on.
    pub fn map_id(&self) -> &str {
        &self.cfg.map_id
    }
}

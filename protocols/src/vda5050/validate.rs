//! Structural checks of an order beyond its JSON shape (section 6.6.1): the node/edge counts,
//! the sequence ids, edge endpoints, and base-before-horizon. An AGV answers a failed check
//! with a `validationError` warning.

use std::collections::HashSet;

use super::order::Order;

/// Why an order is not a valid order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// An order needs at least one node.
    #[error("order has no nodes")]
    NoNodes,
    /// There must be exactly one edge fewer than nodes.
    #[error("order has {nodes} nodes but {edges} edges")]
    EdgeCount {
        /// Number of nodes.
        nodes: usize,
        /// Number of edges.
        edges: usize,
    },
    /// Node sequence ids are even, edge ones odd, consecutive along the path.
    #[error("{what} `{id}` has sequenceId {got}, expected {expected}")]
    SequenceId {
        /// `node` or `edge`.
        what: &'static str,
        /// The node or edge id.
        id: String,
        /// The sequence id found.
        got: u32,
        /// The sequence id expected.
        expected: u32,
    },
    /// An edge must join the nodes before and after it.
    #[error("edge `{edge}` does not join `{from}` to `{to}`")]
    EdgeEndpoints {
        /// The edge id.
        edge: String,
        /// The node before it.
        from: String,
        /// The node after it.
        to: String,
    },
    /// Released elements must come first, and an edge is released only with both its nodes.
    #[error("released {what} `{id}` follows the horizon or joins an unreleased node")]
    ReleasedAfterHorizon {
        /// `node` or `edge`.
        what: &'static str,
        /// The node or edge id.
        id: String,
    },
    /// The first node must be released.
    #[error("the first node `{0}` is not released")]
    FirstNodeNotReleased(String),
    /// Action ids must be unique within an order message.
    #[error("action id `{0}` is used twice")]
    DuplicateActionId(String),
}

impl OrderError {
    /// The error reference (`referenceKey`, `referenceValue`) that points at the culprit.
    pub fn reference(&self) -> Option<(&'static str, String)> {
        match self {
            OrderError::NoNodes | OrderError::EdgeCount { .. } => None,
            OrderError::SequenceId { what, id, .. }
            | OrderError::ReleasedAfterHorizon { what, id } => Some((
                if *what == "node" { "nodeId" } else { "edgeId" },
                id.clone(),
            )),
            OrderError::EdgeEndpoints { edge, .. } => Some(("edgeId", edge.clone())),
            OrderError::FirstNodeNotReleased(n) => Some(("nodeId", n.clone())),
            OrderError::DuplicateActionId(a) => Some(("actionId", a.clone())),
        }
    }
}

/// Checks the structure of `order`.
pub fn validate_order(order: &Order) -> Result<(), OrderError> {
    let Some(first) = order.nodes.first() else {
        return Err(OrderError::NoNodes);
    };
    if order.edges.len() + 1 != order.nodes.len() {
        return Err(OrderError::EdgeCount {
            nodes: order.nodes.len(),
            edges: order.edges.len(),
        });
    }
    if !first.released {
        return Err(OrderError::FirstNodeNotReleased(first.node_id.clone()));
    }
    if first.sequence_id % 2 != 0 {
        return Err(OrderError::SequenceId {
            what: "node",
            id: first.node_id.clone(),
            got: first.sequence_id,
            expected: first.sequence_id + 1,
        });
    }
    let mut horizon = false;
    for (i, edge) in order.edges.iter().enumerate() {
        let (from, to) = (&order.nodes[i], &order.nodes[i + 1]);
        let expected = from.sequence_id + 1;
        if edge.sequence_id != expected {
            return Err(OrderError::SequenceId {
                what: "edge",
                id: edge.edge_id.clone(),
                got: edge.sequence_id,
                expected,
            });
        }
        if to.sequence_id != expected + 1 {
            return Err(OrderError::SequenceId {
                what: "node",
                id: to.node_id.clone(),
                got: to.sequence_id,
                expected: expected + 1,
            });
        }
        // 3.0 edges do not name their nodes (decoded as ""): they join their neighbours.
        let names = |given: &str, node: &str| given.is_empty() || given == node;
        if !names(&edge.start_node_id, &from.node_id) || !names(&edge.end_node_id, &to.node_id) {
            return Err(OrderError::EdgeEndpoints {
                edge: edge.edge_id.clone(),
                from: from.node_id.clone(),
                to: to.node_id.clone(),
            });
        }
        if edge.released && (horizon || !to.released) {
            return Err(OrderError::ReleasedAfterHorizon {
                what: "edge",
                id: edge.edge_id.clone(),
            });
        }
        horizon |= !edge.released;
        if to.released && horizon {
            return Err(OrderError::ReleasedAfterHorizon {
                what: "node",
                id: to.node_id.clone(),
            });
        }
    }
    let mut ids = HashSet::new();
    let actions = order
        .nodes
        .iter()
        .flat_map(|n| n.actions.iter())
        .chain(order.edges.iter().flat_map(|e| e.actions.iter()));
    for a in actions {
        if !ids.insert(a.action_id.as_str()) {
            return Err(OrderError::DuplicateActionId(a.action_id.clone()));
        }
    }
    Ok(())
}

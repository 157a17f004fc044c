//! What the simulated robot's unit tests share: a straight route and a 3.0 robot at its
//! start.

use floorgate_protocols::vda5050::{PathEdge, PathNode, ProtocolVersion, Route};

use super::robot::Robot;
use super::RobotConfig;

/// Nodes N0..N(n-1) at x = 0, 1, 2, … on `map`, joined by edges E1.. of 1 m.
pub(crate) fn route(n: usize) -> Route {
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
                edge_id: format!("E{i}"),
                length: Some(1.0),
                max_speed: None,
            })
            .collect(),
    }
}

/// A 3.0 robot `acme/r1` on N0, driving 1 m/s.
pub(crate) fn robot_v3() -> Robot {
    let mut cfg = RobotConfig::new("acme", "r1", ProtocolVersion::V3_0).at_node("N0", 0.0, 0.0);
    cfg.speed = 1.0;
    Robot::new(cfg)
}

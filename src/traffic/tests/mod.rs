//! Specification tests of the traffic allocator: small layouts, robots
//! driven step by step (one route node per step, one simulated second per
//! step), the invariants checked after every event.

mod deadlocks;
mod property;
mod routing;
mod scenarios;
mod zones;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::*;

/// Builds a layout from edges `(from, to, length)`; nodes in `waiting` and
/// `parking` get those flags.
pub(super) fn layout(
    edges: &[(&str, &str, f64)],
    waiting: &[&str],
    parking: &[&str],
) -> LayoutSpec {
    let mut spec = LayoutSpec::default();
    for &(a, b, len) in edges {
        for n in [a, b] {
            if !spec.nodes.iter().any(|x| x.id == n) {
                spec.nodes.push(NodeSpec::new(n));
            }
        }
        spec.edges.push(EdgeSpec::new(a, b, len));
    }
    spec.mark_waiting(waiting.iter().copied());
    spec.mark_parking(parking.iter().copied());
    spec
}

/// An allocator and a clock, with the invariants checked after each step.
pub(super) struct Sim {
    pub(super) a: Allocator,
    pub(super) now: Instant,
    /// Block capacities, to check that no block holds more robots.
    caps: BTreeMap<String, usize>,
    /// Robots whose last request left them waiting at their base end.
    pub(super) ever_waited: Vec<String>,
}

impl Sim {
    pub(super) fn new(spec: LayoutSpec) -> Self {
        Self::with_config(spec, Config::default())
    }

    /// Grants of whole segments up to stop nodes (`max_segment_nodes` 0).
    pub(super) fn whole_segments(spec: LayoutSpec) -> Self {
        let cfg = Config {
            max_segment_nodes: 0,
            ..Config::default()
        };
        Self::with_config(spec, cfg)
    }

    pub(super) fn with_config(spec: LayoutSpec, cfg: Config) -> Self {
        let caps = spec
            .blocks
            .iter()
            .map(|b| (b.id.clone(), b.capacity as usize))
            .collect();
        Sim {
            a: Allocator::new(ResourceMap::new(spec).expect("layout"), cfg),
            now: Instant::now(),
            caps,
            ever_waited: Vec::new(),
        }
    }

    pub(super) fn place(&mut self, robot: &str, node: &str) {
        self.a.place(robot, node).expect("place");
        self.check();
    }

    pub(super) fn route(&mut self, robot: &str, nodes: &[&str]) {
        self.a.set_route(robot, nodes, self.now).expect("route");
        self.check();
    }

    /// One step of `robot`: drive one granted node, else ask for more.
    /// Returns whether it moved or got something.
    pub(super) fn step(&mut self, robot: &str) -> bool {
        let h = self.a.holdings(robot).expect("holdings");
        let moved = if h.at < h.base_end {
            self.a.passed(robot, h.at + 1, self.now).expect("passed");
            true
        } else {
            let g = self.a.request(robot, self.now).expect("request");
            if g.waiting.is_some() && g.added == 0 && !g.complete {
                self.ever_waited.push(robot.to_string());
            }
            g.added > 0
        };
        self.check();
        moved
    }

    /// Steps every robot in turn, one second per round, until all have
    /// arrived or `rounds` have passed. Returns whether all arrived.
    pub(super) fn run(&mut self, robots: &[&str], rounds: usize) -> bool {
        for _ in 0..rounds {
            if robots.iter().all(|r| self.arrived(r)) {
                return true;
            }
            for r in robots {
                self.step(r);
            }
            self.now += Duration::from_secs(1);
        }
        robots.iter().all(|r| self.arrived(r))
    }

    /// Whether the robot stands at the end of its route.
    pub(super) fn arrived(&self, robot: &str) -> bool {
        let h = self.a.holdings(robot).expect("holdings");
        let g = h.base_end;
        h.at == g && self.a.request_would_complete(robot)
    }

    /// No resource has two holders, no block more robots than its capacity,
    /// the wait-for graph has no cycle.
    pub(super) fn check(&self) {
        check_invariants(&self.a, &self.caps);
    }
}

impl Allocator {
    /// Test helper: the robot's base reaches its route's end.
    pub(super) fn request_would_complete(&self, robot: &str) -> bool {
        let r = self.robot_ix(robot).expect("robot");
        let rb = &self.robots[r];
        rb.granted == rb.last()
    }
}

/// The invariants, from the public view only.
pub(super) fn check_invariants(a: &Allocator, caps: &BTreeMap<String, usize>) {
    let mut owner: HashMap<Resource, String> = HashMap::new();
    let mut in_block: BTreeMap<String, usize> = BTreeMap::new();
    for robot in a.robots() {
        let h = a.holdings(&robot).expect("holdings");
        for res in h.resources() {
            if let Resource::Block(b) = &res {
                *in_block.entry(b.clone()).or_default() += 1;
                continue;
            }
            if let Some(other) = owner.insert(res.clone(), robot.clone()) {
                panic!("{res:?} held by {other} and {robot}");
            }
            assert_eq!(
                a.holder(&res).expect("holder"),
                vec![robot.clone()],
                "{robot} is shown holding {res:?}, the holder table disagrees"
            );
        }
    }
    for (b, n) in in_block {
        let cap = caps.get(&b).copied().unwrap_or(1);
        assert!(n <= cap, "block {b} holds {n} robots, capacity {cap}");
    }
    assert_acyclic(&a.wait_for_graph());
}

/// Kahn's algorithm: every vertex can be removed in topological order.
pub(super) fn assert_acyclic(edges: &[(String, String)]) {
    let mut indeg: BTreeMap<&str, usize> = BTreeMap::new();
    for (x, y) in edges {
        indeg.entry(x).or_default();
        *indeg.entry(y).or_default() += 1;
    }
    let mut ready: Vec<&str> = indeg
        .iter()
        .filter(|(_, &d)| d == 0)
        .map(|(&v, _)| v)
        .collect();
    let mut removed = 0;
    while let Some(v) = ready.pop() {
        removed += 1;
        for (x, y) in edges {
            if x == v {
                let d = indeg.get_mut(y.as_str()).expect("vertex");
                *d -= 1;
                if *d == 0 {
                    ready.push(y);
                }
            }
        }
    }
    assert_eq!(removed, indeg.len(), "wait-for cycle in {edges:?}");
}

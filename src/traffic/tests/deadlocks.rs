//! Routes that cannot both be driven: refused when they would close a
//! wait-for cycle, detected and resolved when robots refuse each other.

use std::time::Duration;

use super::*;

#[test]
fn a_route_that_swaps_two_robots_in_one_lane_is_refused() {
    // With whole segments a's next request runs to Z, where b stands.
    let spec = layout(&[("X", "Y", 1.0), ("Y", "Z", 1.0)], &[], &[]);
    let mut sim = Sim::whole_segments(spec);
    sim.place("a", "X");
    sim.place("b", "Z");
    sim.route("a", &["X", "Y", "Z"]);
    let err = sim.a.set_route("b", &["Z", "Y", "X"], sim.now);
    assert!(matches!(err, Err(TrafficError::WouldDeadlock(ref rs)) if rs.len() == 2));
    // The refused route left nothing behind.
    assert_eq!(sim.a.plan_route(Some("b"), "Z", "Z").expect("plan"), ["Z"]);
    sim.check();
    assert!(sim.a.request("b", sim.now).expect("request").complete);
}

/// P ─ X ─ W ─ Y ─ Q with W a waiting node inside the lane and a siding S
/// off P: a and b meet head-on; the in-lane waiting node cannot let them
/// pass.
fn lane_with_siding() -> LayoutSpec {
    layout(
        &[
            ("S", "P", 1.0),
            ("P", "X", 1.0),
            ("X", "W", 1.0),
            ("W", "Y", 1.0),
            ("Y", "Q", 1.0),
        ],
        &["W", "S"],
        &[],
    )
}

#[test]
fn robots_that_refuse_each_other_are_reported_as_a_deadlock_and_one_is_sent_to_a_waiting_node() {
    let mut sim = Sim::whole_segments(lane_with_siding());
    sim.place("a", "P");
    sim.place("b", "Q");
    sim.route("a", &["P", "X", "W", "Y", "Q"]);
    sim.route("b", &["Q", "Y", "W", "X", "P"]);
    for r in ["a", "b"] {
        let g = sim.a.request(r, sim.now).expect("request");
        assert_eq!(g.added, 0);
        assert!(
            matches!(g.waiting, Some(Blocker::WouldDeadlock(_))),
            "{g:?}"
        );
    }
    sim.check();
    let found = sim.a.deadlocks();
    assert_eq!(found.len(), 1);
    let mut robots = found[0].robots.clone();
    robots.sort();
    assert_eq!(robots, ["a", "b"]);

    let res = sim.a.propose_resolution(&found[0]).expect("resolution");
    assert_eq!(
        (res.robot.as_str(), res.node.as_str()),
        ("a", "S"),
        "only a reaches the siding over free resources"
    );
    assert_eq!(res.route, ["P", "S"]);
    assert_eq!(res.destination, "Q");
    sim.a.resolve(&found[0], sim.now).expect("resolve");
    sim.check();
    assert_eq!(sim.a.counters(sim.now).deadlocks_resolved, 1);
    assert!(sim.a.deadlocks().is_empty());

    // b drives through to P once a has gone into the siding.
    assert!(sim.run(&["a", "b"], 20));
    assert!(sim.arrived("b"));
    // Then a is re-planned to where it was going.
    sim.route("a", &["S", "P", "X", "W", "Y", "Q"]);
    sim.a.free("b", sim.now).expect("b leaves the layout");
    assert!(sim.run(&["a"], 20));
}

#[test]
fn blocked_time_and_blocked_robots_are_counted_while_a_robot_waits() {
    let spec = layout(
        &[("A", "B", 1.0), ("B", "C", 1.0), ("D", "B", 1.0)],
        &[],
        &[],
    );
    let mut sim = Sim::new(spec);
    sim.place("r1", "A");
    sim.place("r2", "D");
    sim.route("r1", &["A", "B", "C"]);
    sim.route("r2", &["D", "B", "C"]);
    sim.step("r1");
    sim.step("r2");
    let t0 = sim.now;
    let w = sim.a.waiting_for("r2").expect("waiting");
    assert!(matches!(w, Some(Blocker::Held { ref by, .. }) if by == "r1"));
    let c = sim.a.counters(t0 + Duration::from_secs(5));
    assert_eq!(c.robots_blocked, 1);
    assert!((c.blocked_seconds - 5.0).abs() < 1e-6);
    assert!(sim
        .a
        .due_for_replan(t0 + Duration::from_secs(29))
        .is_empty());
    assert_eq!(sim.a.due_for_replan(t0 + Duration::from_secs(30)), ["r2"]);
    assert!(sim.a.config().replan_after(Duration::from_secs(30)));
    let h = sim.a.holdings("r1").expect("holdings");
    assert_eq!(h.nodes, ["A", "B", "C"]);
    assert_eq!(h.lanes.len(), 2);
    assert_eq!(c.resources_held, 6, "r1: 3 nodes, 2 lanes; r2: its node");
}

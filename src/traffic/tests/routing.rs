//! Congestion-aware routing, parking of idle robots, and bad input.

use super::*;

/// Two parallel aisles between A and B: T (3 m) and the slightly longer U
/// (3.6 m); robots come in from SA and SB and leave to B2.
fn two_aisles() -> LayoutSpec {
    layout(
        &[
            ("SA", "A", 1.0),
            ("SB", "A", 1.0),
            ("A", "T1", 1.0),
            ("T1", "T2", 1.0),
            ("T2", "B", 1.0),
            ("A", "U1", 1.2),
            ("U1", "U2", 1.2),
            ("U2", "B", 1.2),
            ("B", "B1", 1.0),
            ("B", "B2", 1.0),
        ],
        &[],
        &[],
    )
}

#[test]
fn congestion_cost_steers_a_second_robot_to_the_parallel_aisle() {
    let mut sim = Sim::new(two_aisles());
    sim.place("r1", "SA");
    sim.place("r2", "SB");
    let first = sim.a.plan_route(Some("r1"), "SA", "B1").expect("plan");
    assert_eq!(first, ["SA", "A", "T1", "T2", "B", "B1"]);
    sim.route("r1", &first.iter().map(String::as_str).collect::<Vec<_>>());

    let blind = sim.a.plan_route(None, "SB", "B2").expect("plan");
    assert!(
        blind.contains(&"T1".to_string()),
        "without traffic: {blind:?}"
    );
    let second = sim.a.plan_route(Some("r2"), "SB", "B2").expect("plan");
    assert_eq!(second, ["SB", "A", "U1", "U2", "B", "B2"]);
    // Its own plan does not count against a robot.
    let again = sim.a.plan_route(Some("r1"), "SA", "B1").expect("plan");
    assert_eq!(again, first);
}

#[test]
fn idle_robots_are_sent_to_free_parking_nodes() {
    // A line K1 ─ M ─ N ─ O with parking bays P1 (at M), P2 and P3 (at O).
    let spec = layout(
        &[
            ("K1", "M", 1.0),
            ("M", "N", 1.0),
            ("N", "O", 1.0),
            ("M", "P1", 1.0),
            ("O", "P2", 1.0),
            ("O", "P3", 1.5),
        ],
        &[],
        &["P1", "P2", "P3"],
    );
    let mut sim = Sim::new(spec);
    sim.place("busy", "K1");
    sim.place("idle-in-the-way", "N");
    sim.place("idle-aside", "O");
    sim.place("parked", "P3");
    sim.route("busy", &["K1", "M", "N"]);

    let moves = sim
        .a
        .park_idle(&["idle-aside", "idle-in-the-way", "parked"])
        .expect("park");
    assert_eq!(moves.len(), 2, "{moves:?}");
    // The robot in the way goes first and gets the nearest free bay: P1 is
    // on no route and two steps away, P2 two steps through O, which is
    // held by idle-aside.
    assert_eq!(moves[0].robot, "idle-in-the-way");
    assert_eq!(moves[0].reason, ParkReason::Blocking);
    assert_eq!(moves[0].node, "P1");
    assert_eq!(moves[0].route, ["N", "M", "P1"]);
    // The other one is only off parking; P3 is taken, P1 promised.
    assert_eq!(moves[1].robot, "idle-aside");
    assert_eq!(moves[1].reason, ParkReason::Unparked);
    assert_eq!(moves[1].node, "P2");

    // A move is an ordinary route: the idle robot leaves, the busy one
    // gets through.
    let route: Vec<&str> = moves[0].route.iter().map(String::as_str).collect();
    sim.route("idle-in-the-way", &route);
    assert!(sim.run(&["busy", "idle-in-the-way"], 10));
    assert!(sim
        .a
        .park_idle(&["idle-in-the-way"])
        .expect("park")
        .is_empty());
}

#[test]
fn unknown_nodes_and_impossible_reports_are_errors_not_panics() {
    let mut sim = Sim::new(two_aisles());
    assert_eq!(
        sim.a.place("r1", "nowhere"),
        Err(TrafficError::UnknownNode("nowhere".into()))
    );
    sim.place("r1", "SA");
    assert_eq!(
        sim.a.place("r2", "SA"),
        Err(TrafficError::Occupied {
            node: "SA".into(),
            by: "r1".into()
        })
    );
    assert!(matches!(
        sim.a.place("r1", "A"),
        Err(TrafficError::AlreadyPlaced { .. })
    ));
    assert!(matches!(
        sim.a.set_route("r1", &["SA", "T1"], sim.now),
        Err(TrafficError::NoEdge { .. })
    ));
    assert!(matches!(
        sim.a.set_route("r1", &["A", "T1"], sim.now),
        Err(TrafficError::NotAtStart { .. })
    ));
    assert!(matches!(
        sim.a.set_route("ghost", &["A"], sim.now),
        Err(TrafficError::NotPlaced(_))
    ));
    sim.route("r1", &["SA", "A", "T1"]);
    assert!(matches!(
        sim.a.passed("r1", 2, sim.now),
        Err(TrafficError::BeyondBase { .. })
    ));
    sim.step("r1");
    assert!(matches!(
        sim.a.set_route("r1", &["SA"], sim.now),
        Err(TrafficError::BaseNotDriven(_))
    ));
    // A stale report is ignored.
    sim.a.passed("r1", 1, sim.now).expect("passed");
    sim.a.passed("r1", 0, sim.now).expect("stale");
    assert!(matches!(
        sim.a.plan_route(None, "SA", "nowhere"),
        Err(TrafficError::UnknownNode(_))
    ));
    let bad = LayoutSpec {
        blocks: vec![BlockSpec::new("x").capacity(0)],
        ..two_aisles()
    };
    assert!(matches!(
        ResourceMap::new(bad),
        Err(TrafficError::Layout(_))
    ));
}

#[test]
fn a_two_way_wide_edge_is_two_lanes_and_a_vda5050_layout_converts_to_a_spec() {
    let mut spec = layout(&[("A", "B", 1.0)], &[], &[]);
    spec.edges[0] = EdgeSpec::new("A", "B", 1.0).two_way_wide();
    let map = ResourceMap::new(spec).expect("map");
    assert_eq!(map.lane_count(), 2);
    let single = ResourceMap::new(layout(&[("A", "B", 1.0)], &[], &[])).expect("map");
    assert_eq!(single.lane_count(), 1);

    let cfg: crate::vda5050::LayoutConfig = toml::from_str(
        "nodes = [{id='N1', x=0.0, y=0.0}, {id='N2', x=3.0, y=4.0}]\n\
         edges = [{from='N1', to='N2', bidirectional=false}]\n",
    )
    .expect("layout");
    let mut spec = LayoutSpec::from(&cfg);
    spec.mark_parking(["N2"]);
    assert_eq!(spec.edges[0].length, 5.0);
    assert!(!spec.edges[0].bidirectional);
    let map = ResourceMap::try_from(spec).expect("map");
    assert!(map.is_parking("N2") && !map.is_parking("N1"));
    assert_eq!(map.node_count(), 2);
}

//! The floor situations of issue 15, each driven to the end.

use std::time::Duration;

use super::*;

#[test]
fn two_robots_with_crossing_routes_over_one_lane_one_waits_never_both_in_one_resource() {
    // W ─ M1 ─ M2 ─ E, and N ─ M1, M2 ─ S: both routes use the lane M1–M2.
    let spec = layout(
        &[
            ("W", "M1", 1.0),
            ("M1", "M2", 1.0),
            ("M2", "E", 1.0),
            ("N", "M1", 1.0),
            ("M2", "S", 1.0),
        ],
        &[],
        &[],
    );
    let mut sim = Sim::new(spec);
    sim.place("r1", "W");
    sim.place("r2", "N");
    sim.route("r1", &["W", "M1", "M2", "E"]);
    sim.route("r2", &["N", "M1", "M2", "S"]);

    assert!(sim.run(&["r1", "r2"], 20), "both arrive");
    assert_eq!(sim.ever_waited.first().map(String::as_str), Some("r2"));
    assert!(!sim.ever_waited.iter().any(|r| r == "r1"), "r1 never waits");
    let c = sim.a.counters(sim.now);
    assert!(c.blocked_seconds > 0.0 && c.refusals > 0);
    assert_eq!(c.robots_blocked, 0);
}

/// S1 ─ E1 ─ L1 ─ L2 ─ L3 ─ E2 ─ S2, with exits T1 at E1 and T2 at E2; S1 and S2 are
/// waiting nodes.
fn single_lane() -> LayoutSpec {
    layout(
        &[
            ("S1", "E1", 1.0),
            ("E1", "L1", 1.0),
            ("L1", "L2", 1.0),
            ("L2", "L3", 1.0),
            ("L3", "E2", 1.0),
            ("E2", "S2", 1.0),
            ("E1", "T1", 1.0),
            ("E2", "T2", 1.0),
        ],
        &["S1", "S2"],
        &[],
    )
}

#[test]
fn head_on_in_a_single_lane_with_whole_segments_one_waits_at_a_waiting_node_and_no_deadlock_forms()
{
    // r1 goes S1 → T2, r2 goes S2 → T1: head-on through the lane, grants up to stop nodes.
    let mut sim = Sim::whole_segments(single_lane());
    sim.place("r1", "S1");
    sim.place("r2", "S2");
    sim.route("r1", &["S1", "E1", "L1", "L2", "L3", "E2", "T2"]);
    sim.route("r2", &["S2", "E2", "L3", "L2", "L1", "E1", "T1"]);

    // The first request takes the whole lane up to the exit beyond it.
    let g = sim.a.request("r1", sim.now).expect("request");
    assert_eq!((g.base_end, g.waiting.clone()), (6, None));
    let g = sim.a.request("r2", sim.now).expect("request");
    assert_eq!(g.base_end, 0, "r2 waits where it stands");
    assert!(matches!(g.waiting, Some(Blocker::Held { ref by, .. }) if by == "r1"));
    assert!(sim.a.map().is_waiting("S2"));
    for _ in 0..30 {
        assert!(sim.a.deadlocks().is_empty());
        sim.step("r1");
        sim.step("r2");
        sim.now += Duration::from_secs(1);
    }
    assert!(sim.arrived("r1") && sim.arrived("r2"));
}

#[test]
fn head_on_in_a_single_lane_node_by_node_the_robots_refuse_to_meet_and_one_backs_out() {
    // The same lane, granted node by node (the default): each robot gets as far as the
    // guard lets it — neither comes to rest where the other would need it while it needs
    // the other's node — and the stalemate that leaves is found and ended by sending one
    // robot back to its waiting node; then both arrive.
    let mut sim = Sim::new(single_lane());
    sim.place("r1", "S1");
    sim.place("r2", "S2");
    sim.route("r1", &["S1", "E1", "L1", "L2", "L3", "E2", "T2"]);
    sim.route("r2", &["S2", "E2", "L3", "L2", "L1", "E1", "T1"]);
    let mut resolved = Vec::new();
    for _ in 0..60 {
        for d in sim.a.deadlocks() {
            let res = sim.a.resolve(&d, sim.now).expect("a way aside");
            resolved.push(res.clone());
            sim.check();
        }
        for r in ["r1", "r2"] {
            if sim.arrived(r) {
                // Sent aside: on to where it was going once it stands there.
                if let Some(res) = resolved.iter().find(|x| x.robot == r) {
                    let here = sim.a.position(r).expect("placed").to_string();
                    if here != res.destination {
                        let way = sim.a.plan_route(Some(r), &here, &res.destination);
                        if let Ok(way) = way {
                            let _ = sim.a.set_route(r, &way, sim.now);
                        }
                    }
                }
            }
            sim.step(r);
        }
        sim.now += Duration::from_secs(1);
        if sim.a.position("r1") == Some("T2") && sim.a.position("r2") == Some("T1") {
            break;
        }
    }
    assert!(!resolved.is_empty(), "the stalemate was found and ended");
    assert_eq!(sim.a.position("r1"), Some("T2"));
    assert_eq!(sim.a.position("r2"), Some("T1"));
}

/// A crossing C with an inbound node I_k and an outbound node O_k on each of
/// four arms; robot k comes from A_k and leaves through the next arm to B.
fn crossing() -> LayoutSpec {
    let mut spec = LayoutSpec::default();
    let mut block = BlockSpec::new("crossing").nodes(["C"]);
    spec.nodes.push(NodeSpec::new("C"));
    for k in 0..4 {
        for n in ["A", "I", "O", "B"] {
            spec.nodes.push(NodeSpec::new(format!("{n}{k}")));
        }
        spec.edges
            .push(EdgeSpec::new(format!("A{k}"), format!("I{k}"), 1.0).one_way());
        spec.edges
            .push(EdgeSpec::new(format!("I{k}"), "C", 1.0).one_way());
        spec.edges
            .push(EdgeSpec::new("C", format!("O{k}"), 1.0).one_way());
        spec.edges
            .push(EdgeSpec::new(format!("O{k}"), format!("B{k}"), 1.0).one_way());
        block = block.edge(format!("I{k}"), "C").edge("C", format!("O{k}"));
    }
    spec.blocks.push(block);
    spec
}

#[test]
fn four_robots_around_a_crossing_all_get_through_and_never_two_are_in_the_block() {
    let mut sim = Sim::new(crossing());
    let robots = ["r0", "r1", "r2", "r3"];
    for (k, r) in robots.iter().enumerate() {
        let out = (k + 1) % 4;
        sim.place(r, &format!("A{k}"));
        let route = [
            format!("A{k}"),
            format!("I{k}"),
            "C".to_string(),
            format!("O{out}"),
            format!("B{out}"),
        ];
        sim.route(r, &route.iter().map(String::as_str).collect::<Vec<_>>());
    }
    // `check` after every step asserts the block holds at most one robot.
    let mut max_in_block = 0;
    for _ in 0..40 {
        for r in robots {
            sim.step(r);
        }
        let n = sim
            .a
            .holder(&Resource::Block("crossing".into()))
            .expect("block")
            .len();
        max_in_block = max_in_block.max(n);
        sim.now += Duration::from_secs(1);
    }
    assert!(robots.iter().all(|r| sim.arrived(r)), "all get through");
    assert_eq!(max_in_block, 1);
    assert!(
        sim.ever_waited.len() >= 3,
        "the others queue: {:?}",
        sim.ever_waited
    );
}

#[test]
fn a_robot_dying_inside_a_lane_keeps_its_resources_and_the_other_routes_around_it() {
    // The short lane W ─ L1 ─ L2 ─ L3 ─ E and a detour W ─ D1 ─ D2 ─ D3 ─ E.
    let spec = layout(
        &[
            ("P", "W", 1.0),
            ("R0", "W", 1.0),
            ("W", "L1", 1.0),
            ("L1", "L2", 1.0),
            ("L2", "L3", 1.0),
            ("L3", "E", 1.0),
            ("W", "D1", 1.5),
            ("D1", "D2", 1.5),
            ("D2", "D3", 1.5),
            ("D3", "E", 1.5),
            ("E", "Q", 1.0),
            ("E", "F", 1.0),
        ],
        &[],
        &[],
    );
    let cfg = Config {
        replan_after: Duration::from_secs(10),
        ..Config::default()
    };
    let mut sim = Sim::with_config(spec, cfg);
    sim.place("dead", "P");
    sim.route("dead", &["P", "W", "L1", "L2", "L3", "E", "Q"]);
    sim.step("dead"); // granted P → W → L1 → L2
    sim.step("dead"); // passes W
    sim.step("dead"); // passes L1: inside the lane
    sim.a
        .set_status("dead", RobotStatus::Offline, sim.now)
        .expect("status");
    let held = sim.a.holdings("dead").expect("holdings");
    assert_eq!(held.nodes, ["L1", "L2"]);

    sim.place("r2", "R0");
    // A fresh plan already sees the held lane and goes around.
    let plan = sim.a.plan_route(Some("r2"), "R0", "F").expect("plan");
    assert!(plan.contains(&"D2".to_string()), "around: {plan:?}");
    // A route planned before the robot died waits, then is re-planned.
    sim.route("r2", &["R0", "W", "L1", "L2", "L3", "E", "F"]);
    let mut replanned = false;
    for _ in 0..40 {
        sim.step("r2");
        assert_eq!(sim.a.holdings("dead").expect("holdings"), held);
        let g = sim.a.request("dead", sim.now).expect("request");
        assert_eq!(
            g.waiting,
            Some(Blocker::NotOperational(RobotStatus::Offline))
        );
        if sim.a.due_for_replan(sim.now) == ["r2"] {
            let route = sim.a.replan("r2", sim.now).expect("replan");
            assert!(route.contains(&"D2".to_string()), "around: {route:?}");
            replanned = true;
        }
        sim.now += Duration::from_secs(1);
    }
    assert!(replanned && sim.arrived("r2"));
    assert_eq!(sim.a.counters(sim.now).replans, 1);

    // Back online, the dead robot finishes its own route.
    sim.a
        .set_status("dead", RobotStatus::Online, sim.now)
        .expect("status");
    assert!(sim.run(&["dead"], 20));
}

#[test]
fn an_operator_free_releases_everything_and_the_robot_must_report_again() {
    let spec = layout(&[("A", "B", 1.0), ("B", "C", 1.0)], &[], &[]);
    let mut sim = Sim::new(spec);
    sim.place("r1", "A");
    sim.route("r1", &["A", "B", "C"]);
    sim.step("r1");
    sim.a.free("r1", sim.now).expect("free");
    assert_eq!(
        sim.a.holder(&Resource::Node("B".into())).expect("node"),
        Vec::<String>::new()
    );
    assert_eq!(
        sim.a.request("r1", sim.now),
        Err(TrafficError::NotPlaced("r1".into()))
    );
    sim.place("r1", "B");
    assert_eq!(sim.a.holdings("r1").expect("holdings").nodes, ["B"]);
}

#[test]
fn a_follower_is_woken_when_its_leader_leaves_a_node_and_no_one_else_is() {
    // A ─ B ─ C ─ D ─ E in one file: r1 on B drives to E, r2 on A follows it to D.
    // X ─ Y ─ Z apart: r3 on X waits for r4 on Y.
    let spec = layout(
        &[
            ("A", "B", 1.0),
            ("B", "C", 1.0),
            ("C", "D", 1.0),
            ("D", "E", 1.0),
            ("X", "Y", 1.0),
            ("Y", "Z", 1.0),
        ],
        &[],
        &[],
    );
    let mut sim = Sim::new(spec);
    for (r, n) in [("r1", "B"), ("r2", "A"), ("r3", "X"), ("r4", "Y")] {
        sim.place(r, n);
    }
    sim.route("r2", &["A", "B", "C", "D"]);
    sim.route("r3", &["X", "Y", "Z"]);
    sim.route("r1", &["B", "C", "D", "E"]);
    let _ = sim.a.take_woken();
    // r2 and r3 ask and wait; r1 is granted its way.
    for r in ["r2", "r3", "r1"] {
        sim.step(r);
    }
    assert!(sim
        .a
        .waiting_for("r2")
        .unwrap()
        .is_some_and(|b| b.waits_for("r1")));
    assert!(sim
        .a
        .waiting_for("r3")
        .unwrap()
        .is_some_and(|b| b.waits_for("r4")));
    assert_eq!(
        sim.a.take_woken(),
        Vec::<String>::new(),
        "a grant frees nothing"
    );
    // r1 passes C: B is free, r2 may ask again at once; r3's holder did nothing.
    sim.step("r1");
    assert_eq!(sim.a.take_woken(), vec!["r2".to_string()]);
    assert_eq!(
        sim.a.take_woken(),
        Vec::<String>::new(),
        "each change wakes once"
    );
    assert!(
        sim.step("r2"),
        "the woken follower is granted the node its leader left"
    );
    // r4 is freed by an operator: r3 is woken.
    sim.a.free("r4", sim.now).unwrap();
    assert_eq!(sim.a.take_woken(), vec!["r3".to_string()]);
}

/// A one-way row W1 → W2 → C → E1 crossed at C by a one-way aisle N1 → C → S1 → S2.
fn row_crossed_by_an_aisle() -> LayoutSpec {
    let mut spec = layout(
        &[
            ("W1", "W2", 2.0),
            ("W2", "C", 2.0),
            ("C", "E1", 2.0),
            ("N1", "C", 2.0),
            ("C", "S1", 2.0),
            ("S1", "S2", 2.0),
        ],
        &[],
        &[],
    );
    for e in &mut spec.edges {
        e.bidirectional = false;
    }
    spec
}

#[test]
fn a_robot_that_cannot_leave_a_crossing_waits_before_it_and_the_row_keeps_moving() {
    let map = ResourceMap::new(row_crossed_by_an_aisle()).expect("layout");
    let crossing = |id: &str| map.nodes[map.node_ix(id).unwrap()].crossing;
    assert!(crossing("C"));
    assert!(
        !crossing("W2") && !crossing("S1"),
        "a node along one way is no crossing"
    );
    // Along a two-way corridor, or where a bay hangs off an aisle, no node is one.
    let corridor = ResourceMap::new(single_lane()).expect("layout");
    assert!(corridor.nodes.iter().all(|n| !n.crossing));

    let mut sim = Sim::new(row_crossed_by_an_aisle());
    sim.place("stopped", "S1"); // stands below the crossing and does not move
    sim.place("aisle", "N1");
    sim.place("row", "W1");
    sim.route("aisle", &["N1", "C", "S1", "S2"]);
    sim.route("row", &["W1", "W2", "C", "E1"]);
    // The aisle robot is granted C only with S1 beyond it, so it waits on N1 ...
    for _ in 0..3 {
        sim.step("aisle");
        assert_eq!(sim.a.holdings("aisle").unwrap().base_end, 0, "waits on N1");
    }
    // ... and the row drives across.
    assert!(sim.run(&["row"], 10), "the row robot crosses");
    assert_eq!(sim.a.position("aisle"), Some("N1"));
    // Once the way beyond is free, the aisle robot takes the crossing and what follows.
    sim.a.free("stopped", sim.now).unwrap();
    assert!(
        sim.run(&["aisle"], 10),
        "the aisle robot goes once S1 is free"
    );
}

#[test]
fn with_nobody_else_planning_through_a_crossing_a_robot_may_stop_on_it() {
    let mut sim = Sim::new(row_crossed_by_an_aisle());
    sim.place("stopped", "S1");
    sim.place("aisle", "N1");
    sim.route("aisle", &["N1", "C", "S1", "S2"]);
    sim.step("aisle");
    assert_eq!(
        sim.a.holdings("aisle").unwrap().base_end,
        1,
        "C granted alone"
    );
}

/// A ─ B ─ C ─ D ─ E, one way.
fn line() -> LayoutSpec {
    layout(
        &[
            ("A", "B", 2.0),
            ("B", "C", 2.0),
            ("C", "D", 2.0),
            ("D", "E", 2.0),
        ],
        &[],
        &[],
    )
}

fn held(a: &Allocator, robot: &str) -> Vec<Resource> {
    a.holdings(robot).expect("holdings").resources()
}

#[test]
fn a_follower_moves_onto_the_node_its_leader_drove_clear_of_but_not_into_its_lane() {
    let mut sim = Sim::new(line());
    sim.place("lead", "B");
    sim.place("follow", "A");
    sim.route("lead", &["B", "C", "D", "E"]);
    sim.route("follow", &["A", "B", "C", "D"]);
    assert_eq!(sim.a.request("lead", sim.now).expect("grant").base_end, 3);
    let g = sim.a.request("follow", sim.now).expect("request");
    assert_eq!(g.base_end, 0, "B is the leader's while it stands on it");
    let _ = sim.a.take_woken();

    // The leader's state shows it past B on its way to C: B is freed, nothing else.
    assert!(sim.a.cleared("lead", 0).expect("cleared"));
    sim.check();
    assert_eq!(sim.a.take_woken(), vec!["follow".to_string()]);
    let lead = held(&sim.a, "lead");
    assert!(!lead.contains(&Resource::Node("B".into())));
    assert!(lead.contains(&Resource::Lane("B".into(), "C".into())));
    assert!(lead.contains(&Resource::Node("C".into())));
    // Again, or for a node it has not passed, changes nothing.
    assert!(!sim.a.cleared("lead", 0).expect("cleared"));
    assert!(!sim.a.cleared("lead", 1).expect("cleared"));

    // The follower gets B, not the lane the leader is in.
    let g = sim.a.request("follow", sim.now).expect("request");
    assert_eq!(g.base_end, 1);
    assert!(matches!(g.waiting, Some(Blocker::Held { ref by, .. }) if by == "lead"));
    assert!(!held(&sim.a, "follow").contains(&Resource::Lane("B".into(), "C".into())));
    sim.check();
    // Once the leader reaches C, the lane and C are the follower's to ask for; B stays
    // the follower's when the leader's passing frees what is behind it.
    sim.a.passed("lead", 1, sim.now).expect("passed");
    sim.check();
    assert!(held(&sim.a, "follow").contains(&Resource::Node("B".into())));
    let g = sim.a.request("follow", sim.now).expect("request");
    assert!(g.base_end >= 1);
    assert!(sim.run(&["lead", "follow"], 20), "both arrive");
}

#[test]
fn a_robot_halted_clear_of_its_node_stands_at_its_lane_end_and_keeps_the_lane() {
    let mut sim = Sim::new(line());
    sim.place("lead", "B");
    sim.place("follow", "A");
    sim.route("lead", &["B", "C", "D", "E"]);
    sim.route("follow", &["A", "B", "C", "D"]);
    sim.a.request("lead", sim.now).expect("grant");
    sim.a.cleared("lead", 0).expect("cleared");
    assert_eq!(sim.a.request("follow", sim.now).expect("grant").base_end, 1);

    // Its order is cancelled between B and C: B is the follower's, so the leader stands,
    // for the allocator, at C, and keeps the lane B–C it may stand in.
    sim.a.halt("lead", sim.now).expect("halt");
    sim.check();
    assert_eq!(sim.a.position("lead"), Some("C"));
    assert_eq!(sim.a.halted_past("lead"), Some("B"));
    assert_eq!(
        sim.a
            .holder(&Resource::Lane("B".into(), "C".into()))
            .expect("lane"),
        vec!["lead".to_string()]
    );
    let g = sim.a.request("follow", sim.now).expect("request");
    assert_eq!(g.base_end, 1, "the follower waits on B");
    assert!(matches!(g.waiting, Some(Blocker::Held { ref by, .. }) if by == "lead"));

    // Its next route starts at C; once it passes a node of it, the lane is free again.
    sim.route("lead", &["C", "D", "E"]);
    sim.a.request("lead", sim.now).expect("grant");
    sim.a.passed("lead", 1, sim.now).expect("passed");
    sim.check();
    assert_eq!(sim.a.halted_past("lead"), None);
    assert!(sim
        .a
        .holder(&Resource::Lane("B".into(), "C".into()))
        .expect("lane")
        .is_empty());
    assert!(sim.run(&["lead", "follow"], 20), "both arrive");
}

#[test]
fn where_two_ways_merge_the_robot_that_waited_longer_is_woken_first() {
    // W → M ← N, M → E → F: lead on M leaves for F; late on N and early on W both want M.
    let spec = layout(
        &[
            ("W", "M", 1.0),
            ("N", "M", 1.0),
            ("M", "E", 1.0),
            ("E", "F", 1.0),
        ],
        &[],
        &[],
    );
    let mut sim = Sim::new(spec);
    for (r, n) in [("lead", "M"), ("late", "N"), ("early", "W")] {
        sim.place(r, n);
    }
    sim.route("lead", &["M", "E", "F"]);
    sim.route("early", &["W", "M", "E"]);
    sim.route("late", &["N", "M", "E"]);
    sim.step("early");
    sim.now += Duration::from_secs(3);
    sim.step("late");
    sim.a.request("lead", sim.now).expect("grant");
    let _ = sim.a.take_woken();
    // The lead passes E: M is free; the robot waiting longer comes first (it was placed
    // after the other, so this is not the allocator's own order of robots).
    sim.a.passed("lead", 1, sim.now).expect("passed");
    assert_eq!(
        sim.a.take_woken(),
        vec!["early".to_string(), "late".to_string()]
    );
    assert!(sim.step("early"));
    assert!(!sim.step("late"), "M is the early robot's");
}

//! Zone releases: a block claimed outright by a robot that asks before it enters (a 3.0
//! zone request) and the same block entered by a robot whose route crosses it share one
//! picture — never more robots in it than its capacity, never a wait-for cycle.

use super::*;

/// A line p - q - r - s - t; the zone `zone:z` holds node s and its lanes.
fn line_with_zone(capacity: u32) -> LayoutSpec {
    let mut spec = layout(
        &[
            ("p", "q", 1.0),
            ("q", "r", 1.0),
            ("r", "s", 1.0),
            ("s", "t", 1.0),
        ],
        &[],
        &[],
    );
    spec.blocks.push(
        BlockSpec::new("zone:z")
            .capacity(capacity)
            .nodes(["s"])
            .edge("r", "s")
            .edge("s", "t"),
    );
    spec
}

#[test]
fn a_claim_holds_the_zone_until_released_and_the_next_claim_waits_for_it() {
    let mut sim = Sim::new(line_with_zone(1));
    sim.place("a", "p");
    sim.place("b", "t");
    assert_eq!(
        sim.a.claim_block("a", "zone:z").unwrap(),
        None,
        "a free zone is granted"
    );
    sim.check();
    assert_eq!(
        sim.a.claim_block("a", "zone:z").unwrap(),
        None,
        "asking again changes nothing"
    );
    assert_eq!(sim.a.claimed_blocks("a"), vec!["zone:z".to_string()]);
    let refused = sim.a.claim_block("b", "zone:z").unwrap();
    assert!(
        matches!(&refused, Some(Blocker::BlockFull { holders, .. }) if holders == &["a".to_string()]),
        "{refused:?}"
    );
    sim.a.release_block("a", "zone:z").unwrap();
    assert_eq!(sim.a.claim_block("b", "zone:z").unwrap(), None);
    sim.check();
    assert!(matches!(
        sim.a.claim_block("a", "zone:nowhere"),
        Err(TrafficError::UnknownBlock(_))
    ));
    assert!(matches!(
        sim.a.claim_block("ghost", "zone:z"),
        Err(TrafficError::NotPlaced(_))
    ));
}

#[test]
fn a_robot_whose_route_crosses_a_claimed_zone_waits_before_it_and_drives_on_after_release() {
    let mut sim = Sim::new(line_with_zone(1));
    sim.place("v3", "t");
    assert_eq!(sim.a.claim_block("v3", "zone:z").unwrap(), None);
    sim.place("v2", "p");
    sim.route("v2", &["p", "q", "r", "s"]);
    for _ in 0..5 {
        sim.step("v2");
        sim.now += Duration::from_secs(1);
    }
    let h = sim.a.holdings("v2").unwrap();
    assert!(h.at < 3, "v2 has not entered the zone: {h:?}");
    assert!(
        matches!(
            sim.a.waiting_for("v2").unwrap(),
            Some(Blocker::BlockFull { .. })
        ),
        "v2 waits for the zone"
    );
    sim.a.release_block("v3", "zone:z").unwrap();
    assert!(
        sim.run(&["v2"], 10),
        "v2 gets in once the claim is given back"
    );
}

#[test]
fn a_robot_inside_the_zone_by_its_route_keeps_others_claims_out() {
    let mut sim = Sim::new(line_with_zone(1));
    sim.place("v2", "r");
    sim.route("v2", &["r", "s", "t"]);
    sim.step("v2");
    assert!(sim
        .a
        .holdings("v2")
        .unwrap()
        .blocks
        .contains(&"zone:z".to_string()));
    sim.place("v3", "p");
    assert!(matches!(
        sim.a.claim_block("v3", "zone:z").unwrap(),
        Some(Blocker::BlockFull { .. })
    ));
}

#[test]
fn a_claim_that_would_close_a_wait_for_cycle_is_refused() {
    // b stands on q and its route runs into the zone; a's route needs q. If a held the
    // zone, a would wait for b (q) and b for a (the full zone): refused. (With whole
    // segments, b's next request runs into the zone.)
    let mut sim = Sim::whole_segments(line_with_zone(1));
    sim.place("b", "q");
    sim.place("a", "p");
    sim.route("b", &["q", "r", "s", "t"]);
    sim.route("a", &["p", "q", "r"]);
    let refused = sim.a.claim_block("a", "zone:z").unwrap();
    assert!(
        matches!(refused, Some(Blocker::WouldDeadlock(_))),
        "{refused:?}"
    );
    sim.check();
    assert!(sim.a.claimed_blocks("a").is_empty());
}

#[test]
fn capacity_two_takes_two_claims_and_freeing_a_robot_gives_its_claim_back() {
    let mut sim = Sim::new(line_with_zone(2));
    sim.place("a", "p");
    sim.place("b", "q");
    sim.place("c", "t");
    assert_eq!(sim.a.claim_block("a", "zone:z").unwrap(), None);
    assert_eq!(sim.a.claim_block("b", "zone:z").unwrap(), None);
    assert!(sim.a.claim_block("c", "zone:z").unwrap().is_some());
    sim.check();
    sim.a.free("a", sim.now).unwrap();
    assert_eq!(sim.a.claim_block("c", "zone:z").unwrap(), None);
    sim.check();
}

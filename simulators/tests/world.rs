//! The simulated fleet on one physical floor: safety fields stop robots before they touch,
//! the world counts conflicts and blocked seconds, simulated time can run faster than the
//! wall clock, and a robot refuses an order it cannot start from where it stands.

use std::time::{Duration, Instant};

use floorgate_protocols::broker::EmbeddedBroker;
use floorgate_protocols::vda5050::order::action_types::CANCEL_ORDER;
use floorgate_protocols::vda5050::{
    Action, BlockingType, HeaderFactory, InstantActions, Order, OrderPlan, PathEdge, PathNode,
    ProtocolVersion, Route, TopicKind,
};
use floorgate_sim::amr::{
    Fleet, FleetConfig, Happened, OrderOutcome, Robot, RobotConfig, World, WorldConfig,
};

/// A straight route through `points` (id, x) on y = 0.
fn line(points: &[(&str, f64)]) -> Route {
    Route {
        nodes: points
            .iter()
            .map(|(id, x)| PathNode {
                node_id: id.to_string(),
                x: *x,
                y: 0.0,
                theta: None,
                map_id: "map".into(),
            })
            .collect(),
        edges: points
            .windows(2)
            .map(|w| PathEdge {
                edge_id: format!("{}-{}", w[0].0, w[1].0),
                length: None,
                max_speed: None,
            })
            .collect(),
    }
}

fn robot(serial: &str, node: &str, x: f64) -> Robot {
    let mut cfg = RobotConfig::new("acme", serial, ProtocolVersion::V2_1).at_node(node, x, 0.0);
    cfg.speed = 1.0;
    Robot::new(cfg)
}

fn order(serial: &str, id: &str, route: Route) -> Order {
    let mut h = HeaderFactory::new(ProtocolVersion::V2_1, "acme", serial);
    OrderPlan::new(id, route, vec![], 16)
        .unwrap()
        .message(h.next(TopicKind::Order))
}

/// Robot `a` on A (x = 0) drives to B (x = 10), robot `b` on B drives to A, `secs` seconds
/// in 50 ms ticks through `world`.
fn head_on(world_cfg: WorldConfig, secs: f64) -> (World, Robot, Robot) {
    let mut world = World::new(world_cfg);
    let mut a = robot("a", "A", 0.0);
    let mut b = robot("b", "B", 10.0);
    let (ia, ib) = (world.add(&a), world.add(&b));
    let ab = line(&[("A", 0.0), ("M", 5.0), ("B", 10.0)]);
    let ba = line(&[("B", 10.0), ("M", 5.0), ("A", 0.0)]);
    assert_eq!(a.handle_order(order("a", "oa", ab)), OrderOutcome::Accepted);
    assert_eq!(b.handle_order(order("b", "ob", ba)), OrderOutcome::Accepted);
    let mut closest = f64::INFINITY;
    for _ in 0..(secs / 0.05) as usize {
        world.advance(ia, &mut a, Duration::from_millis(50));
        world.advance(ib, &mut b, Duration::from_millis(50));
        let (pa, pb) = (a.position(), b.position());
        closest = closest.min((pa.0 - pb.0).hypot(pa.1 - pb.1));
    }
    if world_cfg.physical {
        assert!(
            closest >= world_cfg.safety_distance_m,
            "the robots came {closest:.2} m close"
        );
    }
    (world, a, b)
}

fn stops(r: &Robot) -> Vec<String> {
    r.record()
        .iter()
        .filter_map(|h| match h {
            Happened::SafetyStop { by } => Some(by.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn two_robots_head_on_stop_before_touching_and_each_record_names_the_other() {
    let (world, a, b) = head_on(WorldConfig::default(), 20.0);
    let stats = world.stats();
    assert_eq!(stats.conflicts, 0);
    assert!(stats.blocked_secs > 10.0, "{stats:?}");
    assert!(a.blocked_secs() > 5.0 && b.blocked_secs() > 5.0);
    assert!((stats.blocked_secs - a.blocked_secs() - b.blocked_secs()).abs() < 1e-9);
    // One entry per encounter, not one per tick.
    assert_eq!(stops(&a), vec!["b".to_string()]);
    assert_eq!(stops(&b), vec!["a".to_string()]);
    assert_eq!(stats.encounters.len(), 2);
    // Held, not driving, and saying so.
    let s = a.snapshot();
    assert!(!s.driving);
    assert!(s.safety_state.field_violation);
    assert_eq!(a.safety_stop(), Some("b"));
}

#[test]
fn in_pass_through_mode_the_robots_meet_which_counts_as_a_conflict_and_nobody_waits() {
    let cfg = WorldConfig {
        physical: false,
        ..WorldConfig::default()
    };
    let (world, a, b) = head_on(cfg, 20.0);
    let stats = world.stats();
    assert_eq!(stats.conflicts, 1, "one encounter, counted once");
    assert_eq!(stats.blocked_secs, 0.0);
    assert!(stops(&a).is_empty() && stops(&b).is_empty());
    assert_eq!(a.snapshot().last_node_id, "B");
    assert_eq!(b.snapshot().last_node_id, "A");
}

#[test]
fn a_robot_behind_or_beside_the_lane_does_not_stop_a_robot() {
    let mut world = World::new(WorldConfig::default());
    // Ahead of `lead` on its lane, nobody: `behind` stands 0.6 m behind it, `beside` 2 m aside.
    let mut lead = robot("lead", "A", 0.0);
    let behind = robot("behind", "Z", -0.6);
    let mut beside =
        RobotConfig::new("acme", "beside", ProtocolVersion::V2_1).at_node("S", 2.0, 2.0);
    beside.speed = 1.0;
    let beside = Robot::new(beside);
    let il = world.add(&lead);
    world.add(&behind);
    world.add(&beside);
    lead.handle_order(order("lead", "o", line(&[("A", 0.0), ("B", 6.0)])));
    for _ in 0..140 {
        world.advance(il, &mut lead, Duration::from_millis(50));
    }
    assert_eq!(lead.snapshot().last_node_id, "B");
    assert_eq!(lead.blocked_secs(), 0.0);
    assert!(stops(&lead).is_empty());
}

#[test]
fn the_fleet_shares_one_world_and_counts_what_its_robots_meet() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = EmbeddedBroker::start().unwrap();
        for physical in [true, false] {
            let mut cfg = FleetConfig::new(&broker.host(), broker.port(), 2);
            cfg.manufacturer = format!("world-{physical}");
            cfg.speed = 2.0;
            cfg.time_lapse = 4.0;
            cfg.physical = physical;
            cfg.start_nodes = vec![("A".into(), 0.0, 0.0), ("B".into(), 8.0, 0.0)];
            let fleet = Fleet::spawn(&cfg);
            let (s0, s1) = (
                fleet.robot(0).serial_number().to_string(),
                fleet.robot(1).serial_number().to_string(),
            );
            let ab = line(&[("A", 0.0), ("B", 8.0)]);
            let ba = line(&[("B", 8.0), ("A", 0.0)]);
            let o0 = order(&s0, "o0", ab);
            let o1 = order(&s1, "o1", ba);
            assert_eq!(
                fleet.robot(0).with_robot(|r| r.handle_order(o0)),
                OrderOutcome::Accepted
            );
            assert_eq!(
                fleet.robot(1).with_robot(|r| r.handle_order(o1)),
                OrderOutcome::Accepted
            );
            // 8 m at 2 m/s, 4× faster: 1 s of wall time would do.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let w = fleet.world();
            if physical {
                assert_eq!(w.conflicts, 0, "{w:?}");
                assert!(w.blocked_secs > 0.0);
                assert!(fleet.robot(0).blocked_secs() > 0.0);
                assert!(fleet.robot(1).blocked_secs() > 0.0);
                assert!(fleet
                    .robot(0)
                    .record()
                    .contains(&Happened::SafetyStop { by: s1.clone() }));
                assert!(fleet
                    .robot(1)
                    .record()
                    .contains(&Happened::SafetyStop { by: s0.clone() }));
            } else {
                assert!(w.conflicts >= 1, "{w:?}");
                assert_eq!(w.blocked_secs, 0.0);
                assert_eq!(fleet.robot(0).snapshot().last_node_id, "B");
            }
            fleet.shutdown(Duration::from_secs(2)).await;
        }
    });
}

#[test]
fn at_twenty_times_a_twenty_metre_drive_takes_a_twentieth_of_the_wall_time() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = EmbeddedBroker::start().unwrap();
        let mut cfg = FleetConfig::new(&broker.host(), broker.port(), 1);
        cfg.manufacturer = "lapse".into();
        cfg.speed = 2.0;
        cfg.time_lapse = 20.0;
        cfg.start_nodes = vec![("A".into(), 0.0, 0.0)];
        let fleet = Fleet::spawn(&cfg);
        let serial = fleet.robot(0).serial_number().to_string();
        let o = order(&serial, "o", line(&[("A", 0.0), ("M", 10.0), ("B", 20.0)]));
        let started = Instant::now();
        fleet.robot(0).with_robot(|r| r.handle_order(o));
        // 20 m at 2 m/s: 10 s simulated, 0.5 s of wall time at 20×.
        while fleet.robot(0).snapshot().last_node_id != "B" {
            assert!(started.elapsed() < Duration::from_secs(10), "never arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let wall = started.elapsed();
        assert!(
            wall < Duration::from_millis(2500),
            "took {wall:?}, over a quarter of the 10 s drive"
        );
        assert!(
            wall >= Duration::from_millis(300),
            "took {wall:?}: faster than 20×"
        );
        fleet.shutdown(Duration::from_secs(2)).await;
    });
}

fn cancel(r: &mut Robot) {
    let mut h = HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r");
    r.handle_instant_actions(InstantActions {
        header: h.next(TopicKind::InstantActions),
        actions: vec![Action::new(CANCEL_ORDER, "c1", BlockingType::Hard)],
    });
    r.tick(Duration::from_millis(50));
}

#[test]
fn a_robot_cancelled_mid_edge_keeps_its_last_node_reports_where_it_is_and_starts_only_within_deviation(
) {
    let mut r = robot("r", "N0", 0.0);
    r.handle_order(order("r", "o1", line(&[("N0", 0.0), ("N1", 10.0)])));
    for _ in 0..60 {
        r.tick(Duration::from_millis(50));
    }
    cancel(&mut r);
    let s = r.snapshot();
    assert_eq!(s.last_node_id, "N0", "the last node traversed");
    let p = s.agv_position.unwrap();
    assert!((p.x - 3.0).abs() < 1e-6, "its true position, x = {}", p.x);
    assert!(!s.driving && s.node_states.is_empty());

    // An order starting at the last node, 3 m away, with no allowed deviation: refused.
    let back = line(&[("N0", 0.0), ("N2", -5.0)]);
    assert_eq!(
        r.handle_order(order("r", "o2", back.clone())),
        OrderOutcome::Rejected("noRouteError".into())
    );
    let refusal = r
        .snapshot()
        .errors
        .into_iter()
        .find(|e| e.error_type == "noRouteError")
        .expect("a noRouteError warning");
    assert!(refusal
        .error_references
        .unwrap()
        .iter()
        .any(|x| x.reference_key == "nodeId" && x.reference_value == "N0"));

    // The same with allowedDeviationXY 4.0: taken, driven from where the robot stands.
    let mut o3 = order("r", "o3", back);
    o3.nodes[0]
        .node_position
        .as_mut()
        .unwrap()
        .allowed_deviation_xy = Some(4.0);
    assert_eq!(r.handle_order(o3), OrderOutcome::Accepted);
    assert!((r.position().0 - 3.0).abs() < 1e-6, "no jump to the node");
    for _ in 0..200 {
        r.tick(Duration::from_millis(50));
    }
    assert_eq!(r.snapshot().last_node_id, "N2");
    assert!((r.position().0 + 5.0).abs() < 1e-6);
}

#[test]
fn a_new_order_must_start_within_deviation_of_the_robot_on_its_map() {
    // Not the last node, 0.4 m away: within the default deviation (0.5 m).
    let mut r = robot("r", "N0", 0.0);
    let near = line(&[("K", 0.4), ("L", 5.0)]);
    assert_eq!(
        r.handle_order(order("r", "o1", near)),
        OrderOutcome::Accepted
    );

    // Not the last node, 2 m away: refused, unless the order allows 2.5 m.
    let mut r = robot("r", "N0", 0.0);
    let far = line(&[("K", 2.0), ("L", 5.0)]);
    assert_eq!(
        r.handle_order(order("r", "o1", far.clone())),
        OrderOutcome::Rejected("noRouteError".into())
    );
    let mut wide = order("r", "o2", far);
    wide.nodes[0]
        .node_position
        .as_mut()
        .unwrap()
        .allowed_deviation_xy = Some(2.5);
    assert_eq!(r.handle_order(wide), OrderOutcome::Accepted);

    // The last node, but on another map: refused.
    let mut r = robot("r", "N0", 0.0);
    let mut other_map = order("r", "o1", line(&[("N0", 0.0), ("L", 5.0)]));
    other_map.nodes[0].node_position.as_mut().unwrap().map_id = "floor-2".into();
    assert_eq!(
        r.handle_order(other_map),
        OrderOutcome::Rejected("noRouteError".into())
    );

    // The last node without a position: taken; another node without one: refused.
    let mut r = robot("r", "N0", 0.0);
    let mut blind = order("r", "o1", line(&[("N0", 0.0), ("L", 5.0)]));
    blind.nodes[0].node_position = None;
    assert_eq!(r.handle_order(blind), OrderOutcome::Accepted);
    let mut r = robot("r", "N0", 0.0);
    let mut blind = order("r", "o1", line(&[("K", 0.0), ("L", 5.0)]));
    blind.nodes[0].node_position = None;
    assert_eq!(
        r.handle_order(blind),
        OrderOutcome::Rejected("noRouteError".into())
    );
}

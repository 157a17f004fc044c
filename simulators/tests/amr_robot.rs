//! The simulated AMR's state machine, fed by hand: acceptance rules for orders and updates
//! (VDA 5050 2.1, section 6.6), driving, pick/drop, cancel and pause.

use std::time::Duration;

use floorgate_protocols::vda5050::order::action_types::{
    CANCEL_ORDER, FACTSHEET_REQUEST, START_PAUSE, STOP_PAUSE,
};
use floorgate_protocols::vda5050::{
    Action, ActionStatus, BlockingType, ErrorLevel, HeaderFactory, InstantActions, LoadHandling,
    Order, OrderPlan, PathEdge, PathNode, ProtocolVersion, Route, TopicKind,
};
use floorgate_sim::amr::{OrderOutcome, Robot, RobotConfig};

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
                edge_id: format!("E{i}"),
                length: Some(1.0),
                max_speed: None,
            })
            .collect(),
    }
}

fn robot() -> Robot {
    let mut cfg = RobotConfig::new("acme", "r1", ProtocolVersion::V2_1).at_node("N0", 0.0, 0.0);
    cfg.speed = 1.0;
    cfg.pick_duration_s = 1.0;
    cfg.drop_duration_s = 1.0;
    Robot::new(cfg)
}

fn master() -> HeaderFactory {
    HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r1")
}

fn pick(id: &str, load: &str) -> Action {
    LoadHandling {
        action_id: id.into(),
        load_id: Some(load.into()),
        ..Default::default()
    }
    .pick()
}

fn drop_load(id: &str, load: &str) -> Action {
    LoadHandling {
        action_id: id.into(),
        load_id: Some(load.into()),
        ..Default::default()
    }
    .drop_load()
}

fn instant(h: &mut HeaderFactory, id: &str, kind: &str) -> InstantActions {
    InstantActions {
        header: h.next(TopicKind::InstantActions),
        actions: vec![Action::new(kind, id, BlockingType::Hard)],
    }
}

fn run(r: &mut Robot, secs: f64) {
    let steps = (secs / 0.05).round() as usize;
    for _ in 0..steps {
        r.tick(Duration::from_millis(50));
    }
}

fn warning(r: &Robot, error_type: &str) -> bool {
    r.snapshot()
        .errors
        .iter()
        .any(|e| e.error_type == error_type && e.error_level == ErrorLevel::Warning)
}

#[test]
fn an_order_is_driven_and_its_pick_and_drop_finish() {
    let mut r = robot();
    let mut h = master();
    let plan = OrderPlan::new(
        "o1",
        route(4),
        vec![(1, pick("p", "T1")), (3, drop_load("d", "T1"))],
        8,
    )
    .unwrap();
    assert_eq!(
        r.handle_order(plan.message(h.next(TopicKind::Order))),
        OrderOutcome::Accepted
    );
    let s = r.snapshot();
    assert_eq!((s.order_id.as_str(), s.order_update_id), ("o1", 0));
    assert_eq!(
        (s.last_node_id.as_str(), s.last_node_sequence_id),
        ("N0", 0)
    );
    assert_eq!(s.node_states.len(), 3);
    assert_eq!(r.action_status("p"), Some(ActionStatus::Waiting));

    run(&mut r, 0.5);
    let (x, _) = r.position();
    assert!(x > 0.3 && x < 0.7, "interpolated position, got {x}");
    assert!(r.snapshot().driving);

    run(&mut r, 1.0); // at N1, picking
    assert_eq!(r.action_status("p"), Some(ActionStatus::Running));
    assert!(!r.snapshot().driving);
    run(&mut r, 5.0);
    let s = r.snapshot();
    assert_eq!(s.action_status("p"), Some(ActionStatus::Finished));
    assert_eq!(s.action_status("d"), Some(ActionStatus::Finished));
    assert_eq!(
        (s.last_node_id.as_str(), s.last_node_sequence_id),
        ("N3", 6)
    );
    assert!(s.node_states.is_empty() && s.edge_states.is_empty() && !s.is_busy());
    assert_eq!(r.counters().picks.get("T1"), Some(&1));
    assert_eq!(r.counters().drops.get("T1"), Some(&1));
    assert!(r.loads().is_empty());
}

#[test]
fn a_repeated_order_update_is_ignored() {
    let mut r = robot();
    let mut h = master();
    let plan = OrderPlan::new("o1", route(3), vec![], 8).unwrap();
    let msg = plan.message(h.next(TopicKind::Order));
    assert_eq!(r.handle_order(msg.clone()), OrderOutcome::Accepted);
    assert_eq!(r.handle_order(msg), OrderOutcome::Ignored);
    assert_eq!(r.counters().orders_ignored, 1);
    assert_eq!(r.counters().orders_accepted, 1);
    assert!(r.snapshot().errors.is_empty());
}

#[test]
fn a_lower_order_update_id_is_rejected_and_the_order_goes_on() {
    let mut r = robot();
    let mut h = master();
    let mut plan = OrderPlan::new("o1", route(6), vec![], 3).unwrap();
    let first = plan.message(h.next(TopicKind::Order));
    assert_eq!(r.handle_order(first.clone()), OrderOutcome::Accepted);
    let update = plan.extend(h.next(TopicKind::Order)).unwrap();
    assert_eq!(r.handle_order(update), OrderOutcome::Accepted);
    let mut stale = first;
    stale.header = h.next(TopicKind::Order);
    assert_eq!(
        r.handle_order(stale),
        OrderOutcome::Rejected("orderUpdateError".into())
    );
    assert!(warning(&r, "orderUpdateError"));
    let s = r.snapshot();
    assert_eq!(s.order_update_id, 1);
    run(&mut r, 10.0);
    assert_eq!(r.snapshot().last_node_id, "N4");
}

#[test]
fn an_update_must_start_at_the_stitching_node() {
    let mut r = robot();
    let mut h = master();
    let mut plan = OrderPlan::new("o1", route(6), vec![], 3).unwrap();
    r.handle_order(plan.message(h.next(TopicKind::Order)));
    assert_eq!(r.decision_point(), ("N2".to_string(), 4));
    let update = plan.extend(h.next(TopicKind::Order)).unwrap();

    let mut wrong = update.clone();
    wrong.nodes.remove(0);
    wrong.edges.remove(0);
    assert_eq!(
        r.handle_order(wrong),
        OrderOutcome::Rejected("orderUpdateError".into())
    );
    assert_eq!(r.snapshot().order_update_id, 0);

    assert_eq!(r.handle_order(update), OrderOutcome::Accepted);
    assert!(
        !warning(&r, "orderUpdateError"),
        "accepting clears the warning"
    );
    let s = r.snapshot();
    let seqs: Vec<u32> = s.node_states.iter().map(|n| n.sequence_id).collect();
    assert_eq!(seqs, [2, 4, 6, 8, 10]);
    assert!(s.node_states.iter().take(4).all(|n| n.released));

    // Waits at the decision point (N4) without an update, then continues after one.
    run(&mut r, 10.0);
    assert_eq!(r.snapshot().last_node_id, "N4");
    assert!(r.snapshot().is_busy(), "still holds a horizon");
    let last = plan.extend(h.next(TopicKind::Order)).unwrap();
    assert_eq!(r.handle_order(last), OrderOutcome::Accepted);
    run(&mut r, 2.0);
    assert_eq!(r.snapshot().last_node_id, "N5");
}

#[test]
fn an_update_after_completion_continues_from_the_last_node() {
    let mut r = robot();
    let mut h = master();
    let mut plan = OrderPlan::new("o1", route(3), vec![], 2).unwrap();
    // Send the base without its horizon: the robot completes it and is no longer busy.
    let mut base_only = plan.message(h.next(TopicKind::Order));
    base_only.nodes.truncate(2);
    base_only.edges.truncate(1);
    assert_eq!(r.handle_order(base_only), OrderOutcome::Accepted);
    run(&mut r, 3.0);
    assert_eq!(r.snapshot().last_node_id, "N1");
    assert!(!r.snapshot().is_busy());
    let update = plan.extend(h.next(TopicKind::Order)).unwrap();
    assert_eq!(r.handle_order(update), OrderOutcome::Accepted);
    run(&mut r, 3.0);
    assert_eq!(r.snapshot().last_node_id, "N2");
    assert!(!r.snapshot().is_busy());
}

#[test]
fn a_new_order_while_the_previous_runs_is_rejected() {
    let mut r = robot();
    let mut h = master();
    let a = OrderPlan::new("a", route(4), vec![], 8).unwrap();
    r.handle_order(a.message(h.next(TopicKind::Order)));
    let b = OrderPlan::new("b", route(2), vec![], 8).unwrap();
    assert_eq!(
        r.handle_order(b.message(h.next(TopicKind::Order))),
        OrderOutcome::Rejected("orderError".into())
    );
    assert_eq!(r.snapshot().order_id, "a");
}

#[test]
fn a_new_order_must_start_where_the_robot_stands() {
    let mut r = robot();
    let mut h = master();
    let mut rt = route(4);
    rt.nodes.remove(0);
    rt.edges.remove(0);
    let far = OrderPlan::new("far", rt, vec![], 8).unwrap();
    assert_eq!(
        r.handle_order(far.message(h.next(TopicKind::Order))),
        OrderOutcome::Rejected("noRouteError".into())
    );
    assert_eq!(r.snapshot().order_id, "");
}

#[test]
fn malformed_orders_are_rejected_with_a_validation_error_until_one_is_accepted() {
    let mut r = robot();
    let mut h = master();
    assert!(matches!(
        r.handle_order_payload(b"{\"orderId\": 5"),
        OrderOutcome::Rejected(_)
    ));
    assert!(warning(&r, "validationError"));
    let plan = OrderPlan::new("o1", route(2), vec![], 8).unwrap();
    let mut bad: Order = plan.message(h.next(TopicKind::Order));
    bad.edges[0].sequence_id = 2;
    assert_eq!(
        r.handle_order(bad),
        OrderOutcome::Rejected("validationError".into())
    );
    let mut unsupported = plan.message(h.next(TopicKind::Order));
    unsupported.nodes[1]
        .actions
        .push(Action::new("dance", "x", BlockingType::None));
    assert_eq!(
        r.handle_order(unsupported),
        OrderOutcome::Rejected("orderError".into())
    );
    assert_eq!(
        r.handle_order(plan.message(h.next(TopicKind::Order))),
        OrderOutcome::Accepted
    );
    assert!(r.snapshot().errors.is_empty());
    assert_eq!(r.counters().orders_rejected, 3);
}

#[test]
fn cancel_order_runs_then_finishes_and_keeps_the_order_ids() {
    let mut r = robot();
    let mut h = master();
    let plan = OrderPlan::new("o1", route(4), vec![(3, drop_load("d", "T1"))], 8).unwrap();
    r.handle_order(plan.message(h.next(TopicKind::Order)));
    run(&mut r, 0.5);
    r.handle_instant_actions(instant(&mut h, "c1", CANCEL_ORDER));
    let s = r.snapshot();
    assert_eq!(s.action_status("c1"), Some(ActionStatus::Running));
    assert_eq!(s.action_status("d"), Some(ActionStatus::Failed));
    assert!(s.node_states.is_empty() && !s.driving);
    r.tick(Duration::from_millis(50));
    let s = r.snapshot();
    assert_eq!(s.action_status("c1"), Some(ActionStatus::Finished));
    assert_eq!((s.order_id.as_str(), s.order_update_id), ("o1", 0));
    let (x, _) = r.position();
    run(&mut r, 2.0);
    assert_eq!(r.position().0, x, "stands still after cancel");

    // Nothing left to cancel.
    r.handle_instant_actions(instant(&mut h, "c2", CANCEL_ORDER));
    assert_eq!(r.action_status("c2"), Some(ActionStatus::Failed));
    let e = r
        .snapshot()
        .errors
        .into_iter()
        .find(|e| e.error_type == "noOrderToCancel")
        .unwrap();
    assert_eq!(e.error_references.unwrap()[0].reference_value, "c2");

    // A new order from the last node is taken.
    let again = OrderPlan::new("o2", route(2), vec![], 8).unwrap();
    assert_eq!(
        r.handle_order(again.message(h.next(TopicKind::Order))),
        OrderOutcome::Accepted
    );
}

#[test]
fn pause_stops_driving_and_pauses_actions_until_stop_pause() {
    let mut r = robot();
    let mut h = master();
    let plan = OrderPlan::new("o1", route(3), vec![(1, pick("p", "T1"))], 8).unwrap();
    r.handle_order(plan.message(h.next(TopicKind::Order)));
    run(&mut r, 1.5); // reached N1 and picking
    assert_eq!(r.action_status("p"), Some(ActionStatus::Running));
    r.handle_instant_actions(instant(&mut h, "s1", START_PAUSE));
    let s = r.snapshot();
    assert_eq!(s.paused, Some(true));
    assert_eq!(s.action_status("p"), Some(ActionStatus::Paused));
    assert_eq!(s.action_status("s1"), Some(ActionStatus::Finished));
    run(&mut r, 5.0);
    assert_eq!(r.action_status("p"), Some(ActionStatus::Paused));
    assert_eq!(r.snapshot().last_node_id, "N1");

    r.handle_instant_actions(instant(&mut h, "s2", STOP_PAUSE));
    assert_eq!(r.snapshot().paused, Some(false));
    assert_eq!(r.action_status("p"), Some(ActionStatus::Running));
    run(&mut r, 3.0);
    assert_eq!(r.action_status("p"), Some(ActionStatus::Finished));
    assert_eq!(r.snapshot().last_node_id, "N2");
}

#[test]
fn faults_show_in_the_state_and_a_fatal_error_refuses_orders() {
    let mut r = robot();
    let mut h = master();
    r.set_battery(5.0);
    assert!(warning(&r, "batteryLow"));
    assert_eq!(r.snapshot().battery_state.battery_charge, 5.0);
    r.set_battery(90.0);
    assert!(!warning(&r, "batteryLow"));

    r.inject_fatal("laserScannerContaminated", "test");
    assert!(r.snapshot().has_fatal_error());
    let plan = OrderPlan::new("o1", route(2), vec![], 8).unwrap();
    assert!(matches!(
        r.handle_order(plan.message(h.next(TopicKind::Order))),
        OrderOutcome::Rejected(_)
    ));
    r.clear_errors();
    assert_eq!(
        r.handle_order(plan.message(h.next(TopicKind::Order))),
        OrderOutcome::Accepted
    );
}

#[test]
fn factsheet_and_state_requests_are_answered() {
    let mut r = robot();
    let mut h = master();
    r.take_changed();
    r.handle_instant_actions(instant(&mut h, "f", FACTSHEET_REQUEST));
    assert!(r.take_factsheet_request());
    assert!(r.take_changed());
    let sheet = r.factsheet_message();
    assert!(sheet.supports_action(
        "pick",
        floorgate_protocols::vda5050::factsheet::ActionScope::Node
    ));
    assert!(sheet.max_order_nodes().is_some());
    let s1 = r.state_message();
    let s2 = r.state_message();
    assert_eq!(s2.header_id, s1.header_id + 1);
}

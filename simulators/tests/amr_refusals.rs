//! The simulated AMR refusing what a real vehicle may refuse, fed by hand: a cancel once a
//! load is on board (refused with an error naming the cancel, or ignored), a fault right after
//! a drop, an instant action it does not declare; and its own record of what happened.

use std::time::Duration;

use floorgate_protocols::vda5050::factsheet::ActionScope;
use floorgate_protocols::vda5050::order::action_types::{CANCEL_ORDER, START_PAUSE, STOP_PAUSE};
use floorgate_protocols::vda5050::{
    Action, ActionStatus, BlockingType, HeaderFactory, InstantActions, LoadHandling, OrderPlan,
    PathEdge, PathNode, ProtocolVersion, Route, TopicKind,
};
use floorgate_sim::amr::{CancelPolicy, Happened, Robot, RobotConfig};

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
    cfg.pick_duration_s = 0.5;
    cfg.drop_duration_s = 0.5;
    Robot::new(cfg)
}

fn handling(id: &str) -> LoadHandling {
    LoadHandling {
        action_id: id.into(),
        load_id: Some("T1".into()),
        ..Default::default()
    }
}

/// Master control's headers; `o1` picks at N0 and drops at N4.
fn transport(r: &mut Robot) -> HeaderFactory {
    let mut h = HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r1");
    let plan = OrderPlan::new(
        "o1",
        route(5),
        vec![(0, handling("p").pick()), (4, handling("d").drop_load())],
        8,
    )
    .unwrap();
    r.handle_order(plan.message(h.next(TopicKind::Order)));
    h
}

fn instant(h: &mut HeaderFactory, id: &str, kind: &str) -> InstantActions {
    InstantActions {
        header: h.next(TopicKind::InstantActions),
        actions: vec![Action::new(kind, id, BlockingType::Hard)],
    }
}

fn run(r: &mut Robot, secs: f64) {
    for _ in 0..(secs / 0.05).round() as usize {
        r.tick(Duration::from_millis(50));
    }
}

#[test]
fn a_robot_that_refuses_cancels_once_loaded_says_so_naming_the_cancel_and_drives_on() {
    let mut r = robot();
    r.set_cancel_policy(CancelPolicy::RefuseOnceLoaded);
    let mut h = transport(&mut r);
    run(&mut r, 1.0); // picked, driving
    assert_eq!(r.action_status("p"), Some(ActionStatus::Finished));
    r.handle_instant_actions(instant(&mut h, "c1", CANCEL_ORDER));
    let s = r.snapshot();
    assert_eq!(s.action_status("c1"), Some(ActionStatus::Failed));
    let e = s
        .errors
        .iter()
        .find(|e| e.error_type == "cancelRefused")
        .expect("a refusal");
    let refs = e.error_references.as_deref().unwrap();
    assert!(refs
        .iter()
        .any(|r| r.reference_key == "actionId" && r.reference_value == "c1"));
    run(&mut r, 6.0);
    assert_eq!(r.action_status("d"), Some(ActionStatus::Finished));
    assert_eq!(
        r.record(),
        [
            Happened::OrderTaken {
                order_id: "o1".into()
            },
            Happened::Picked {
                order_id: "o1".into(),
                load_id: "T1".into(),
                node_id: "N0".into(),
            },
            Happened::CancelRefused {
                action_id: "c1".into(),
                order_id: "o1".into()
            },
            Happened::Dropped {
                order_id: "o1".into(),
                load_id: "T1".into(),
                node_id: "N4".into(),
            },
        ]
    );
}

#[test]
fn before_the_pick_a_refusing_robot_still_cancels() {
    let mut r = robot();
    r.set_cancel_policy(CancelPolicy::RefuseOnceLoaded);
    let mut h = transport(&mut r);
    r.handle_instant_actions(instant(&mut h, "c1", CANCEL_ORDER));
    r.tick(Duration::from_millis(50));
    assert_eq!(r.action_status("c1"), Some(ActionStatus::Finished));
    assert!(r.record().contains(&Happened::CancelAccepted {
        action_id: "c1".into(),
        order_id: "o1".into()
    }));
}

#[test]
fn a_robot_that_ignores_cancels_once_loaded_lists_nothing_and_drives_on() {
    let mut r = robot();
    r.set_cancel_policy(CancelPolicy::IgnoreOnceLoaded);
    let mut h = transport(&mut r);
    run(&mut r, 1.0);
    r.handle_instant_actions(instant(&mut h, "c1", CANCEL_ORDER));
    let s = r.snapshot();
    assert_eq!(s.action_status("c1"), None);
    assert!(s.errors.is_empty());
    run(&mut r, 6.0);
    assert_eq!(r.action_status("d"), Some(ActionStatus::Finished));
    assert!(r.record().contains(&Happened::CancelIgnored {
        action_id: "c1".into(),
        order_id: "o1".into()
    }));
}

#[test]
fn a_fault_after_the_drop_shows_in_the_same_state_as_the_finished_drop() {
    let mut r = robot();
    r.fault_after_next_drop("laserScannerFault");
    transport(&mut r);
    let mut both = false;
    for _ in 0..200 {
        r.tick(Duration::from_millis(50));
        let s = r.snapshot();
        if s.action_status("d") == Some(ActionStatus::Finished) {
            both = s.has_fatal_error();
            break;
        }
        assert!(!s.has_fatal_error(), "not before the drop");
    }
    assert!(both, "the drop FINISHED and the fault in one state");
    assert!(r.record().ends_with(&[
        Happened::Dropped {
            order_id: "o1".into(),
            load_id: "T1".into(),
            node_id: "N4".into(),
        },
        Happened::Faulted {
            error_type: "laserScannerFault".into()
        }
    ]));
}

#[test]
fn an_instant_action_the_robot_does_not_declare_fails_and_is_missing_from_its_factsheet() {
    let mut cfg = RobotConfig::new("acme", "r1", ProtocolVersion::V2_1).at_node("N0", 0.0, 0.0);
    cfg.instant_actions.retain(|a| a != START_PAUSE);
    let mut r = Robot::new(cfg);
    let sheet = r.factsheet_message();
    assert!(!sheet.supports_action(START_PAUSE, ActionScope::Instant));
    assert!(sheet.supports_action(STOP_PAUSE, ActionScope::Instant));
    let mut h = HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r1");
    r.handle_instant_actions(instant(&mut h, "s1", START_PAUSE));
    assert_eq!(r.action_status("s1"), Some(ActionStatus::Failed));
    assert_eq!(r.snapshot().paused, Some(false));
    assert!(!r.record().contains(&Happened::Paused));
}

#[test]
fn a_robot_offering_clear_errors_clears_them_on_request() {
    let mut cfg = RobotConfig::new("acme", "r1", ProtocolVersion::V2_1).at_node("N0", 0.0, 0.0);
    cfg.instant_actions
        .push(floorgate_sim::amr::CLEAR_ERRORS.into());
    let mut r = Robot::new(cfg);
    r.inject_fatal("bumper", "test");
    let mut h = HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r1");
    r.handle_instant_actions(instant(&mut h, "r1", floorgate_sim::amr::CLEAR_ERRORS));
    assert_eq!(r.action_status("r1"), Some(ActionStatus::Finished));
    assert!(!r.snapshot().has_fatal_error());
}

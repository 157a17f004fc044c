//! A 3.0 robot fed zone sets, responses and time by hand: zone set storage and
//! `enableZoneSet`, RELEASE zones (request, grant, queue, rejection, revocation, lease,
//! leaving), BLOCKED and SPEED_LIMIT zones.

use std::time::Duration;

use floorgate_protocols::vda5050::zones::{ReleaseLossBehavior, Vertex};
use floorgate_protocols::vda5050::{
    encode, Action, ActionParameter, ActionStatus, BlockingType, ErrorLevel, GrantType,
    HeaderFactory, InstantActions, OrderPlan, ProtocolVersion, RequestStatus, Response, Responses,
    State, TopicKind, Zone, ZoneSet, ZoneSetMessage, ZoneSetStatus, ZoneType,
};
use serde_json::Value;

use super::super::record::Happened;
use super::super::robot::{OrderOutcome, Robot};
use super::super::RobotConfig;
use super::{contains, enters, parse_timestamp, ZoneSetOutcome};

use super::super::fixtures::{robot_v3 as robot, route};

fn master() -> HeaderFactory {
    HeaderFactory::new(ProtocolVersion::V3_0, "acme", "r1")
}

/// A rectangle from (`x0`, `y0`) to (`x1`, `y1`), counter-clockwise.
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<Vertex> {
    vec![
        Vertex { x: x0, y: y0 },
        Vertex { x: x1, y: y0 },
        Vertex { x: x1, y: y1 },
        Vertex { x: x0, y: y1 },
    ]
}

/// A RELEASE zone around x = 3 (node N3 inside, N2 and N4 outside).
fn release(behavior: Option<ReleaseLossBehavior>) -> Zone {
    let mut z = Zone::new("R1", ZoneType::Release, rect(2.5, -1.0, 3.5, 1.0));
    z.release_loss_behavior = behavior;
    z
}

fn zone_set(h: &mut HeaderFactory, id: &str, zones: Vec<Zone>) -> ZoneSetMessage {
    ZoneSetMessage {
        header: h.next(TopicKind::ZoneSet),
        zone_set: ZoneSet {
            map_id: "map".into(),
            zone_set_id: id.into(),
            zone_set_descriptor: None,
            zones,
        },
    }
}

fn zone_action(h: &mut HeaderFactory, kind: &str, id: &str, zone_set_id: &str) -> InstantActions {
    let mut a = Action::new(kind, id, BlockingType::None);
    a.action_parameters = Some(vec![ActionParameter {
        key: "zoneSetId".into(),
        value: Value::String(zone_set_id.into()),
    }]);
    InstantActions {
        header: h.next(TopicKind::InstantActions),
        actions: vec![a],
    }
}

fn answer(h: &mut HeaderFactory, request_id: &str, grant: GrantType) -> Responses {
    Responses {
        header: h.next(TopicKind::Responses),
        responses: vec![Response {
            request_id: request_id.into(),
            grant_type: grant,
            lease_expiry: None,
        }],
    }
}

/// A robot with zone set `zs` (these zones) stored and enabled.
fn robot_with(h: &mut HeaderFactory, zones: Vec<Zone>) -> Robot {
    let mut r = robot();
    assert_eq!(
        r.handle_zone_set(zone_set(h, "zs", zones)),
        ZoneSetOutcome::Stored
    );
    r.handle_instant_actions(zone_action(h, "enableZoneSet", "en", "zs"));
    assert_eq!(r.action_status("en"), Some(ActionStatus::Finished));
    r
}

fn order(h: &mut HeaderFactory, id: &str, n: usize) -> floorgate_protocols::vda5050::Order {
    OrderPlan::new(id, route(n), vec![], 16)
        .unwrap()
        .message(h.next(TopicKind::Order))
}

/// Runs `secs` of robot time in 50 ms ticks, checking every state on the way.
fn run(r: &mut Robot, secs: f64) {
    for _ in 0..(secs / 0.05).round() as usize {
        r.tick(Duration::from_millis(50));
        let s = r.state_message();
        check_state(&s);
    }
}

/// What the 3.0 state schema asks of the parts this module adds: `zoneSets` always present,
/// request statuses only REQUESTED, GRANTED, REVOKED or EXPIRED, error levels of 3.0.
fn check_state(s: &State) {
    let v: Value = serde_json::from_slice(&encode(s)).unwrap();
    let sets = v["zoneSets"]
        .as_array()
        .expect("a 3.0 state lists zoneSets");
    for z in sets {
        assert!(z["zoneSetId"].is_string() && z["mapId"].is_string());
        assert!(matches!(
            z["zoneSetStatus"].as_str(),
            Some("ENABLED" | "DISABLED")
        ));
    }
    for q in v["zoneRequests"]
        .as_array()
        .expect("a 3.0 state lists zoneRequests")
    {
        assert_eq!(q["requestType"], "ACCESS");
        assert!(
            q["zoneId"].is_string() && q["zoneSetId"].is_string() && q["requestId"].is_string()
        );
        let status = q["requestStatus"].as_str().unwrap();
        assert!(
            matches!(status, "REQUESTED" | "GRANTED" | "REVOKED" | "EXPIRED"),
            "{status}"
        );
    }
    for e in v["errors"].as_array().unwrap() {
        let level = e["errorLevel"].as_str().unwrap();
        assert!(
            matches!(level, "WARNING" | "URGENT" | "CRITICAL" | "FATAL"),
            "{level}"
        );
    }
}

fn requests(r: &Robot) -> Vec<(String, RequestStatus)> {
    r.zone_requests()
        .into_iter()
        .map(|q| (q.request_id, q.request_status))
        .collect()
}

fn has_error(r: &Robot, error_type: &str, level: ErrorLevel) -> bool {
    r.snapshot()
        .errors
        .iter()
        .any(|e| e.error_type == error_type && e.error_level == level)
}

fn entered(r: &Robot, zone: &str) -> Vec<bool> {
    r.record()
        .iter()
        .filter_map(|h| match h {
            Happened::ZoneEntered {
                zone_id, granted, ..
            } if zone_id == zone => Some(*granted),
            _ => None,
        })
        .collect()
}

#[test]
fn geometry_ray_casting_and_crossing() {
    let square = rect(0.0, 0.0, 2.0, 2.0);
    assert!(contains((1.0, 1.0), &square));
    assert!(!contains((3.0, 1.0), &square));
    assert!(!contains((1.0, -0.1), &square));
    // A concave L: the notch is outside.
    let l = vec![
        Vertex { x: 0.0, y: 0.0 },
        Vertex { x: 2.0, y: 0.0 },
        Vertex { x: 2.0, y: 1.0 },
        Vertex { x: 1.0, y: 1.0 },
        Vertex { x: 1.0, y: 2.0 },
        Vertex { x: 0.0, y: 2.0 },
    ];
    assert!(contains((0.5, 1.5), &l));
    assert!(!contains((1.5, 1.5), &l));
    // End inside; crossing through with both ends outside; passing by.
    assert!(enters((-1.0, 1.0), (1.0, 1.0), &square));
    assert!(enters((-1.0, 1.0), (3.0, 1.0), &square));
    assert!(!enters((-1.0, 3.0), (3.0, 3.0), &square));
    // From inside is not entering, nor is leaving from the side or running along it.
    assert!(!enters((1.0, 1.0), (3.0, 1.0), &square));
    assert!(!enters((2.0, 1.0), (3.0, 1.0), &square));
    assert!(!enters((2.0, -1.0), (2.0, 3.0), &square));
    // Through the notch of the L, corner to corner outside: not entering; across its arm: yes.
    assert!(!enters((1.0, 1.0), (2.0, 2.0), &l));
    assert!(enters((0.5, -1.0), (0.5, 3.0), &l));
}

#[test]
fn lease_timestamps_parse_as_utc() {
    let t = parse_timestamp("2017-04-15T11:40:03.12Z").unwrap();
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(secs.as_secs(), 1_492_256_403);
    assert_eq!(secs.subsec_millis(), 120);
    assert_eq!(
        parse_timestamp("2017-04-15T13:40:03+02:00")
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_492_256_403
    );
    assert_eq!(
        parse_timestamp("1970-01-01T00:00:00Z"),
        Some(std::time::UNIX_EPOCH)
    );
    assert_eq!(parse_timestamp("yesterday"), None);
    assert_eq!(parse_timestamp("2017-13-15T11:40:03Z"), None);
}

#[test]
fn a_zone_set_is_stored_disabled_then_enabled_and_others_of_its_map_disabled() {
    let mut h = master();
    let mut r = robot();
    let s = r.snapshot();
    assert_eq!(
        s.zone_sets,
        Some(vec![]),
        "an empty zoneSets array without sets"
    );
    assert_eq!(s.zone_requests, Some(vec![]));
    check_state(&s);
    assert_eq!(
        r.handle_zone_set(zone_set(&mut h, "a", vec![release(None)])),
        ZoneSetOutcome::Stored
    );
    let payload = encode(&zone_set(&mut h, "b", vec![release(None)]));
    assert_eq!(r.handle_zone_set_payload(&payload), ZoneSetOutcome::Stored);
    let status = |r: &Robot| -> Vec<(String, ZoneSetStatus)> {
        r.zone_sets()
            .into_iter()
            .map(|z| (z.zone_set_id, z.zone_set_status))
            .collect()
    };
    assert_eq!(
        status(&r),
        [
            ("a".into(), ZoneSetStatus::Disabled),
            ("b".into(), ZoneSetStatus::Disabled)
        ]
    );
    r.handle_instant_actions(zone_action(&mut h, "enableZoneSet", "e1", "a"));
    assert_eq!(r.action_status("e1"), Some(ActionStatus::Finished));
    assert_eq!(
        status(&r),
        [
            ("a".into(), ZoneSetStatus::Enabled),
            ("b".into(), ZoneSetStatus::Disabled)
        ]
    );
    r.handle_instant_actions(zone_action(&mut h, "enableZoneSet", "e2", "b"));
    assert_eq!(
        status(&r),
        [
            ("a".into(), ZoneSetStatus::Disabled),
            ("b".into(), ZoneSetStatus::Enabled)
        ]
    );
    r.handle_instant_actions(zone_action(&mut h, "enableZoneSet", "e3", "nope"));
    assert_eq!(r.action_status("e3"), Some(ActionStatus::Failed));
    // A disabled set may go; an unknown one cannot.
    r.handle_instant_actions(zone_action(&mut h, "deleteZoneSet", "d1", "a"));
    assert_eq!(r.action_status("d1"), Some(ActionStatus::Finished));
    r.handle_instant_actions(zone_action(&mut h, "deleteZoneSet", "d2", "a"));
    assert_eq!(r.action_status("d2"), Some(ActionStatus::Failed));
    assert_eq!(status(&r), [("b".into(), ZoneSetStatus::Enabled)]);
    // The enabled set is in use while the robot has an order.
    assert_eq!(
        r.handle_order(order(&mut h, "o1", 2)),
        OrderOutcome::Accepted
    );
    r.handle_instant_actions(zone_action(&mut h, "deleteZoneSet", "d3", "b"));
    assert_eq!(r.action_status("d3"), Some(ActionStatus::Failed));
    check_state(&r.snapshot());
    // 3.0 reports them among the instant actions and declares them in the factsheet.
    let declared: Vec<String> = r
        .factsheet_message()
        .protocol_features
        .agv_actions
        .into_iter()
        .map(|a| a.action_type)
        .collect();
    for a in [
        "enableZoneSet",
        "deleteZoneSet",
        "startHibernation",
        "stopHibernation",
    ] {
        assert!(declared.iter().any(|d| d == a), "{a} declared");
    }
}

#[test]
fn a_duplicate_zone_set_is_not_taken_and_warned_about_for_a_while() {
    let mut h = master();
    let mut r = robot();
    let first = zone_set(&mut h, "a", vec![release(None)]);
    assert_eq!(r.handle_zone_set(first), ZoneSetOutcome::Stored);
    let other = zone_set(
        &mut h,
        "a",
        vec![Zone::new("B", ZoneType::Blocked, rect(0.0, 0.0, 1.0, 1.0))],
    );
    assert_eq!(r.handle_zone_set(other), ZoneSetOutcome::Duplicate);
    assert!(has_error(&r, "DUPLICATE_ZONE_SET", ErrorLevel::Warning));
    assert_eq!(r.zone_sets().len(), 1);
    // The first content stays.
    r.handle_instant_actions(zone_action(&mut h, "enableZoneSet", "e", "a"));
    assert_eq!(
        r.handle_order(order(&mut h, "o1", 5)),
        OrderOutcome::Accepted,
        "no BLOCKED zone was taken"
    );
    run(&mut r, 5.0);
    assert!(
        has_error(&r, "DUPLICATE_ZONE_SET", ErrorLevel::Warning),
        "still there after 5 s"
    );
    run(&mut r, 5.5);
    assert!(
        !has_error(&r, "DUPLICATE_ZONE_SET", ErrorLevel::Warning),
        "gone after 10 s"
    );
    // Cleared at once by the next set stored.
    assert_eq!(
        r.handle_zone_set(zone_set(&mut h, "a", vec![])),
        ZoneSetOutcome::Duplicate
    );
    assert!(has_error(&r, "DUPLICATE_ZONE_SET", ErrorLevel::Warning));
    assert_eq!(
        r.handle_zone_set(zone_set(&mut h, "c", vec![])),
        ZoneSetOutcome::Stored
    );
    assert!(!has_error(&r, "DUPLICATE_ZONE_SET", ErrorLevel::Warning));
    // Malformed: a zone of two vertices, or not JSON.
    let mut bad = zone_set(&mut h, "d", vec![release(None)]);
    bad.zone_set.zones[0].vertices.truncate(2);
    assert_eq!(r.handle_zone_set(bad), ZoneSetOutcome::Invalid);
    assert!(has_error(&r, "validationError", ErrorLevel::Warning));
    assert_eq!(
        r.handle_zone_set_payload(b"{not json"),
        ZoneSetOutcome::Invalid
    );
    assert_eq!(r.zone_sets().len(), 2);
    assert!(r.record().contains(&Happened::ZoneSetReceived {
        zone_set_id: "a".into(),
        stored: false
    }));
}

#[test]
fn the_robot_waits_before_a_release_zone_until_granted_and_the_request_goes_once_it_has_left() {
    let mut h = master();
    let mut r = robot_with(&mut h, vec![release(None)]);
    assert_eq!(
        r.handle_order(order(&mut h, "o1", 6)),
        OrderOutcome::Accepted
    );
    run(&mut r, 2.1);
    let s = r.snapshot();
    assert_eq!(s.last_node_id, "N2", "stopped at the node before the zone");
    assert!(!s.driving);
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Requested)]);
    let q = &r.zone_requests()[0];
    assert_eq!((q.zone_id.as_str(), q.zone_set_id.as_str()), ("R1", "zs"));
    run(&mut r, 10.0);
    assert_eq!(
        r.position(),
        (2.0, 0.0),
        "it does not go in without a grant"
    );
    // QUEUED keeps it out; the request stays REQUESTED.
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Queued));
    run(&mut r, 3.0);
    assert_eq!(r.position(), (2.0, 0.0));
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Requested)]);
    // An answer to a request it does not hold changes nothing.
    r.handle_responses(answer(&mut h, "zr-9", GrantType::Granted));
    run(&mut r, 1.0);
    assert_eq!(r.position(), (2.0, 0.0));
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Granted));
    run(&mut r, 1.1);
    assert_eq!(r.snapshot().last_node_id, "N3", "inside");
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Granted)]);
    assert_eq!(
        r.zones_inside().collect::<Vec<_>>(),
        [("R1", ZoneType::Release, true)]
    );
    run(&mut r, 0.6);
    assert!(r.position().0 > 3.5, "out of the polygon");
    assert_eq!(
        requests(&r),
        [("zr-1".into(), RequestStatus::Granted)],
        "kept until a node outside"
    );
    run(&mut r, 0.5);
    assert_eq!(r.snapshot().last_node_id, "N4");
    assert!(requests(&r).is_empty(), "removed after leaving");
    run(&mut r, 2.0);
    assert_eq!(r.snapshot().last_node_id, "N5");
    assert_eq!(entered(&r, "R1"), [true], "{:?}", r.record());
    assert!(r.record().contains(&Happened::ZoneLeft {
        zone_id: "R1".into()
    }));
}

#[test]
fn a_rejected_request_is_removed_and_asked_again_later_with_a_new_id() {
    let mut h = master();
    let mut r = robot_with(&mut h, vec![release(None)]);
    r.handle_order(order(&mut h, "o1", 6));
    run(&mut r, 2.5);
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Requested)]);
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Rejected));
    assert!(requests(&r).is_empty());
    assert!(r.take_changed());
    run(&mut r, 2.0);
    assert!(!r.take_changed(), "nothing new while it waits");
    assert!(requests(&r).is_empty(), "not at once");
    assert_eq!(r.position(), (2.0, 0.0));
    run(&mut r, 1.5);
    assert_eq!(requests(&r), [("zr-2".into(), RequestStatus::Requested)]);
    assert!(
        r.take_changed(),
        "a state message is due on the new request"
    );
    // REVOKED before entering: the same.
    r.handle_responses(answer(&mut h, "zr-2", GrantType::Granted));
    r.handle_responses(answer(&mut h, "zr-2", GrantType::Revoked));
    assert!(requests(&r).is_empty());
    run(&mut r, 3.5);
    assert_eq!(r.position(), (2.0, 0.0));
    assert_eq!(requests(&r), [("zr-3".into(), RequestStatus::Requested)]);
    r.handle_responses(answer(&mut h, "zr-3", GrantType::Granted));
    run(&mut r, 4.0);
    assert_eq!(r.snapshot().last_node_id, "N5");
    assert_eq!(entered(&r, "R1"), [true]);
}

#[test]
fn an_expired_lease_keeps_the_robot_out() {
    let mut h = master();
    let mut r = robot_with(&mut h, vec![release(None)]);
    r.handle_order(order(&mut h, "o1", 6));
    run(&mut r, 2.5);
    let mut late = answer(&mut h, "zr-1", GrantType::Granted);
    late.responses[0].lease_expiry = Some("2000-01-01T00:00:00.00Z".into());
    r.handle_responses(late);
    run(&mut r, 1.0);
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Expired)]);
    assert_eq!(r.position(), (2.0, 0.0), "not entered");
    run(&mut r, 3.0);
    assert_eq!(
        requests(&r),
        [("zr-2".into(), RequestStatus::Requested)],
        "asked again"
    );
    // A lease in the future lets it in.
    let mut fine = answer(&mut h, "zr-2", GrantType::Granted);
    fine.responses[0].lease_expiry = Some("2999-01-01T00:00:00.00Z".into());
    r.handle_responses(fine);
    run(&mut r, 1.1);
    assert_eq!(r.snapshot().last_node_id, "N3");
}

#[test]
fn a_release_revoked_inside_stops_the_robot_with_release_lost_unless_it_may_continue() {
    let mut h = master();
    let mut r = robot_with(&mut h, vec![release(Some(ReleaseLossBehavior::Stop))]);
    r.handle_order(order(&mut h, "o1", 6));
    run(&mut r, 2.5);
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Granted));
    run(&mut r, 0.8);
    let (x, _) = r.position();
    assert!(x > 2.5 && x < 3.5, "inside, got {x}");
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Revoked));
    assert!(has_error(&r, "RELEASE_LOST", ErrorLevel::Critical));
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Revoked)]);
    run(&mut r, 3.0);
    assert_eq!(r.position().0, x, "stopped where it was");
    assert!(!r.snapshot().driving);
    check_state(&r.snapshot());
    // Granted again, it drives on and the error goes.
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Granted));
    assert!(!has_error(&r, "RELEASE_LOST", ErrorLevel::Critical));
    run(&mut r, 4.0);
    assert_eq!(r.snapshot().last_node_id, "N5");

    // CONTINUE: it drives on, with a warning until it has left.
    let mut h = master();
    let mut r = robot_with(&mut h, vec![release(Some(ReleaseLossBehavior::Continue))]);
    r.handle_order(order(&mut h, "o1", 6));
    run(&mut r, 2.5);
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Granted));
    run(&mut r, 0.8);
    r.handle_responses(answer(&mut h, "zr-1", GrantType::Revoked));
    assert!(has_error(&r, "RELEASE_LOST", ErrorLevel::Warning));
    assert!(!has_error(&r, "RELEASE_LOST", ErrorLevel::Critical));
    run(&mut r, 1.0);
    assert_eq!(requests(&r), [("zr-1".into(), RequestStatus::Revoked)]);
    run(&mut r, 1.0);
    assert_eq!(r.snapshot().last_node_id, "N4");
    assert!(requests(&r).is_empty() && !has_error(&r, "RELEASE_LOST", ErrorLevel::Warning));
}

#[test]
fn a_cancel_while_waiting_for_a_release_removes_the_request() {
    let mut h = master();
    let mut r = robot_with(&mut h, vec![release(None)]);
    r.handle_order(order(&mut h, "o1", 6));
    run(&mut r, 2.5);
    assert_eq!(requests(&r).len(), 1);
    r.handle_instant_actions(InstantActions {
        header: h.next(TopicKind::InstantActions),
        actions: vec![Action::new("cancelOrder", "c", BlockingType::Hard)],
    });
    assert!(requests(&r).is_empty());
    run(&mut r, 5.0);
    assert!(requests(&r).is_empty(), "not asked again without an order");
    assert_eq!(r.action_status("c"), Some(ActionStatus::Finished));
}

#[test]
fn an_order_with_a_node_in_a_blocked_zone_is_rejected_with_no_route_error() {
    let mut h = master();
    let blocked = Zone::new("B1", ZoneType::Blocked, rect(3.5, -1.0, 4.5, 1.0));
    let mut r = robot_with(&mut h, vec![blocked]);
    assert_eq!(
        r.handle_order(order(&mut h, "o1", 6)),
        OrderOutcome::Rejected("noRouteError".into())
    );
    let e = r
        .snapshot()
        .errors
        .into_iter()
        .find(|e| e.error_type == "noRouteError")
        .unwrap();
    let refs = e.error_references.unwrap();
    assert!(refs
        .iter()
        .any(|x| x.reference_key == "zoneId" && x.reference_value == "B1"));
    assert!(refs
        .iter()
        .any(|x| x.reference_key == "nodeId" && x.reference_value == "N4"));
    // Short of the zone is fine.
    assert_eq!(
        r.handle_order(order(&mut h, "o2", 4)),
        OrderOutcome::Accepted
    );
    // A disabled set blocks nothing.
    let mut r = robot();
    let blocked = Zone::new("B1", ZoneType::Blocked, rect(3.5, -1.0, 4.5, 1.0));
    r.handle_zone_set(zone_set(&mut h, "zs", vec![blocked]));
    assert_eq!(
        r.handle_order(order(&mut h, "o1", 6)),
        OrderOutcome::Accepted
    );
    // Enabled after the order came: the robot stops short of it.
    r.handle_instant_actions(zone_action(&mut h, "enableZoneSet", "e", "zs"));
    run(&mut r, 8.0);
    assert_eq!(r.snapshot().last_node_id, "N3");
    assert!(r.position().0 <= 3.5);
}

#[test]
fn the_robot_drives_no_faster_than_the_speed_limit_of_a_zone() {
    let mut h = master();
    let mut slow = Zone::new("S1", ZoneType::SpeedLimit, rect(1.5, -1.0, 3.5, 1.0));
    slow.maximum_speed = Some(0.25);
    let mut r = robot_with(&mut h, vec![slow]);
    r.handle_order(order(&mut h, "o1", 6));
    run(&mut r, 1.05);
    assert_eq!(r.snapshot().last_node_id, "N1", "full speed outside");
    // From N1 to N2 the path enters the zone: slow already; inside: slow.
    run(&mut r, 2.0);
    let (x, _) = r.position();
    assert!((x - 1.5125).abs() < 0.01, "0.25 m/s from N1, got {x}");
    let vx = r.snapshot().velocity.unwrap().vx.unwrap();
    assert!(vx <= 0.25 + 1e-9, "reported {vx}");
    run(&mut r, 6.0);
    assert_eq!(r.snapshot().last_node_id, "N3");
    let t = r.position().0;
    run(&mut r, 1.0);
    assert!(r.position().0 - t <= 0.25 + 1e-6, "still inside until 3.5");
    run(&mut r, 3.0);
    assert_eq!(r.snapshot().last_node_id, "N5");
    assert_eq!(entered(&r, "S1"), [false], "no grant needed, none held");
}

#[test]
fn the_world_counts_robots_inside_each_zone_and_entries_without_a_grant() {
    use super::super::{World, WorldConfig};
    let mut world = World::new(WorldConfig {
        physical: false,
        ..WorldConfig::default()
    });
    let mut robots: Vec<(Robot, HeaderFactory)> = (0..2)
        .map(|i| {
            let serial = format!("r{i}");
            let mut h = HeaderFactory::new(ProtocolVersion::V3_0, "acme", &serial);
            let mut cfg =
                RobotConfig::new("acme", &serial, ProtocolVersion::V3_0).at_node("N0", 0.0, 0.0);
            cfg.speed = 1.0;
            let mut r = Robot::new(cfg);
            r.handle_zone_set(zone_set(&mut h, "zs", vec![release(None)]));
            r.handle_instant_actions(zone_action(&mut h, "enableZoneSet", "en", "zs"));
            r.handle_order(order(&mut h, "o1", 5));
            (r, h)
        })
        .collect();
    let ids: Vec<usize> = robots.iter().map(|(r, _)| world.add(r)).collect();
    let step = |world: &mut World, robots: &mut Vec<(Robot, HeaderFactory)>, secs: f64| {
        for _ in 0..(secs / 0.05).round() as usize {
            for (i, (r, _)) in robots.iter_mut().enumerate() {
                world.advance(ids[i], r, Duration::from_millis(50));
            }
        }
    };
    step(&mut world, &mut robots, 2.5);
    assert_eq!(world.stats().zone_peak.get("R1"), None, "nobody went in");
    for (r, h) in robots.iter_mut() {
        r.handle_responses(answer(h, "zr-1", GrantType::Granted));
    }
    step(&mut world, &mut robots, 1.0);
    let s = world.stats();
    assert_eq!(s.zone_occupancy.get("R1"), Some(&2));
    assert_eq!(s.zone_peak.get("R1"), Some(&2));
    assert_eq!(s.zone_entries_without_grant, 0);
    step(&mut world, &mut robots, 2.0);
    let s = world.stats();
    assert_eq!(s.zone_occupancy.get("R1"), Some(&0), "both left");
    assert_eq!(s.zone_peak.get("R1"), Some(&2));
    // A zone set enabled around a robot: it is inside without a grant.
    let (r, h) = &mut robots[0];
    let around = Zone::new("R2", ZoneType::Release, rect(3.0, -1.0, 5.0, 1.0));
    r.handle_zone_set(zone_set(h, "zs2", vec![around]));
    r.handle_instant_actions(zone_action(h, "enableZoneSet", "en2", "zs2"));
    step(&mut world, &mut robots, 0.1);
    let s = world.stats();
    assert_eq!(s.zone_entries_without_grant, 1);
    assert_eq!(s.zone_occupancy.get("R2"), Some(&1));
    assert_eq!(s.zone_occupancy.get("R1"), Some(&0));
    assert_eq!(entered(&robots[0].0, "R2"), [false]);
}

//! The robot state machine without a broker: states and time in, messages and reports out.
//! Stopping and cancelling are in `tests/cancel.rs`, operator commands in `tests/operate.rs`.

mod cancel;
mod operate;
mod v3;
mod zones;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::robot::{Out, Robot, Timing};
use crate::engine::adapter::{Availability, DeviceCommand, DeviceReport, Endpoint};
use crate::engine::model::DeviceKind;
use crate::vda5050::layout::{LayoutConfig, LayoutEdge, LayoutNode};
use crate::vda5050::{decode, AmrProfile, Connection, LayoutGraph, Order, State};

const TIMING: Timing = Timing {
    resend: Duration::from_millis(100),
    offline_timeout: Duration::from_secs(5),
    operate_timeout: Duration::from_secs(1),
    reconnect_grace: Duration::from_secs(10),
};

/// The line N0 … N4, 1 m apart, two-way, on map `map`, no blocks or zones.
fn line_layout() -> LayoutConfig {
    LayoutConfig {
        map_id: "map".into(),
        nodes: (0..5)
            .map(|i| LayoutNode {
                id: format!("N{i}"),
                x: i as f64,
                y: 0.0,
                theta: None,
                map_id: None,
                parking: false,
                waiting: false,
            })
            .collect(),
        edges: (1..5)
            .map(|i| LayoutEdge {
                id: None,
                from: format!("N{}", i - 1),
                to: format!("N{i}"),
                length: None,
                bidirectional: true,
                max_speed: None,
                two_way_wide: false,
            })
            .collect(),
        blocks: Vec::new(),
        zones: Vec::new(),
    }
}

fn robot() -> Robot {
    robot_with("'pick','drop','cancelOrder','stateRequest'")
}

/// A robot whose profile lists `actions` (a TOML array's items).
fn robot_with(actions: &str) -> Robot {
    robot_with_layout(actions, LayoutGraph::new(line_layout()).unwrap())
}

/// The robot of [`robot`] on `layout`.
fn robot_on(layout: LayoutGraph) -> Robot {
    robot_with_layout("'pick','drop','cancelOrder','stateRequest'", layout)
}

fn robot_with_layout(actions: &str, layout: LayoutGraph) -> Robot {
    let profile = AmrProfile::from_toml(
        &format!("model='m'\nmanufacturer='acme'\nprotocol_version='2.1'\nsupported_actions=[{actions}]\nspeed=1.0\nmax_base_nodes=3\n"),
        "test",
    )
    .unwrap();
    Robot::new(
        "amr-1",
        "acme",
        "r1",
        Arc::new(profile),
        Some(Arc::new(layout)),
        TIMING,
    )
}

fn command() -> DeviceCommand {
    let ep = |loc: &str, node: &str| Endpoint {
        location: loc.into(),
        node: Some(node.into()),
        station_type: None,
        load_type: None,
        plc_address: None,
    };
    DeviceCommand {
        command_id: "T1#0".into(),
        sequence: 1,
        stop_sequence: 0,
        device_id: "amr-1".into(),
        device_kind: DeviceKind::Amr,
        command: "transport".into(),
        from: ep("BUF-1", "N1"),
        to: ep("PICK-1", "N4"),
        load_id: "TOTE-1".into(),
        params: Default::default(),
    }
}

fn header() -> Value {
    json!({"headerId": 1, "timestamp": "2024-01-01T00:00:00.00Z", "version": "2.1.0",
           "manufacturer": "acme", "serialNumber": "r1"})
}

/// A state: on `last` (with sequence id `seq`), holding `order`/`update`, with `actions`.
fn state(
    order: &str,
    update: u32,
    last: &str,
    seq: u32,
    nodes: usize,
    actions: &[(&str, &str)],
) -> State {
    let nodes: Vec<(String, usize, bool)> = (0..nodes)
        .map(|i| (format!("X{i}"), 100 + 2 * i, true))
        .collect();
    state_along(order, update, last, seq, &nodes, actions)
}

/// A state as [`state`], with the node states `nodes` (node id, sequence id, released).
fn state_along(
    order: &str,
    update: u32,
    last: &str,
    seq: u32,
    nodes: &[(String, usize, bool)],
    actions: &[(&str, &str)],
) -> State {
    let mut v = header();
    let extra = json!({
        "orderId": order, "orderUpdateId": update, "lastNodeId": last, "lastNodeSequenceId": seq,
        "nodeStates": nodes.iter().map(|(id, s, r)| json!({"nodeId": id, "sequenceId": s, "released": r})).collect::<Vec<_>>(),
        "edgeStates": [], "driving": false, "errors": [],
        "actionStates": actions.iter().map(|(id, s)| json!({"actionId": id, "actionStatus": s})).collect::<Vec<_>>(),
        "batteryState": {"batteryCharge": 90.0, "charging": false},
        "operatingMode": "AUTOMATIC", "safetyState": {"eStop": "NONE", "fieldViolation": false}
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

fn online() -> Connection {
    let mut v = header();
    v["connectionState"] = json!("ONLINE");
    decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

fn orders(out: &[Out]) -> Vec<Order> {
    out.iter()
        .filter_map(|o| match o {
            Out::Publish { topic, payload, .. } if topic.ends_with("/order") => {
                Some(decode(payload).unwrap())
            }
            _ => None,
        })
        .collect()
}

fn instant_types(out: &[Out]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Out::Publish { topic, payload, .. } if topic.ends_with("/instantActions") => {
                let v: Value = serde_json::from_slice(payload).unwrap();
                Some(v["actions"][0]["actionType"].as_str().unwrap().to_string())
            }
            _ => None,
        })
        .collect()
}

fn reports(out: &[Out]) -> Vec<DeviceReport> {
    out.iter()
        .filter_map(|o| match o {
            Out::Report(r)
                if !matches!(
                    r,
                    DeviceReport::Availability { .. } | DeviceReport::Position { .. }
                ) =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .collect()
}

fn ready(r: &mut Robot, t: Instant) {
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(online(), t, &mut out);
    r.on_state(&state("", 0, "N0", 0, 0, &[]), t, &mut out);
}

#[test]
fn an_order_is_re_sent_until_the_state_echoes_it_and_the_echo_acknowledges_it() {
    let (mut r, t) = (robot(), Instant::now());
    ready(&mut r, t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    let sent = orders(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].order_id.as_str(), sent[0].order_update_id),
        ("T1#0@N0", 0)
    );
    let mut out = Vec::new();
    r.tick(t + Duration::from_millis(50), &mut out);
    assert!(orders(&out).is_empty(), "not due yet");
    r.tick(t + Duration::from_millis(150), &mut out);
    assert_eq!(orders(&out).len(), 1, "re-sent, same ids");
    let mut out = Vec::new();
    r.on_state(
        &state("T1#0@N0", 0, "N0", 0, 3, &[]),
        t + Duration::from_millis(200),
        &mut out,
    );
    assert_eq!(
        reports(&out),
        [DeviceReport::Acknowledged {
            command_id: "T1#0".into()
        }]
    );
    let mut out = Vec::new();
    r.tick(t + Duration::from_secs(1), &mut out);
    assert!(orders(&out).is_empty(), "echoed: no more re-sends");
}

#[test]
fn after_a_restart_the_robots_order_is_adopted_and_not_sent_again() {
    let (mut r, t) = (robot(), Instant::now());
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(online(), t, &mut out);
    r.send(command(), t, &mut out);
    assert!(
        orders(&out).is_empty(),
        "no order before the robot's state is known"
    );
    assert!(instant_types(&out).contains(&"stateRequest".to_string()));
    // The robot picked at N1 (sequence 2), holds update 1 and drives on.
    let s = state(
        "T1#0@N0",
        1,
        "N3",
        6,
        1,
        &[("T1#0/pick", "FINISHED"), ("T1#0/drop", "WAITING")],
    );
    let mut out = Vec::new();
    r.on_state(&s, t, &mut out);
    assert!(orders(&out).is_empty(), "{out:?}");
    assert_eq!(
        reports(&out),
        [DeviceReport::Acknowledged {
            command_id: "T1#0".into()
        }]
    );
    let done = state(
        "T1#0@N0",
        1,
        "N4",
        8,
        0,
        &[("T1#0/pick", "FINISHED"), ("T1#0/drop", "FINISHED")],
    );
    let mut out = Vec::new();
    r.on_state(&done, t, &mut out);
    assert_eq!(
        reports(&out),
        [DeviceReport::Completed {
            command_id: "T1#0".into()
        }]
    );
}

#[test]
fn after_a_restart_an_order_re_routed_by_traffic_is_followed_along_the_robots_node_states() {
    // The line N0 … N4 and a bypass N1 ─ B1 ─ B2 ─ N3 around N2. The order was planned
    // N0 → N1 (pick) → N2 → N3 → N4 (drop) and re-routed through the bypass before the
    // gateway restarted; the robot stands on B1, released up to N3.
    let mut cfg = line_layout();
    for (id, x) in [("B1", 1.0), ("B2", 3.0)] {
        cfg.nodes.push(LayoutNode {
            id: id.into(),
            x,
            y: 1.0,
            theta: None,
            map_id: None,
            parking: false,
            waiting: false,
        });
    }
    for (from, to) in [("N1", "B1"), ("B1", "B2"), ("B2", "N3")] {
        cfg.edges.push(LayoutEdge {
            id: None,
            from: from.into(),
            to: to.into(),
            length: None,
            bidirectional: true,
            max_speed: None,
            two_way_wide: false,
        });
    }
    let mut r = robot_on(LayoutGraph::new(cfg.clone()).unwrap());
    r.control_traffic();
    let map = crate::traffic::resources::ResourceMap::new(crate::traffic::LayoutSpec::from(&cfg))
        .unwrap();
    let mut a = crate::traffic::Allocator::new(map, crate::traffic::Config::default());
    let t = Instant::now();
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(online(), t, &mut out);
    r.send(command(), t, &mut out);
    let tail = [("B2", 6, true), ("N3", 8, true), ("N4", 10, false)];
    let nodes: Vec<(String, usize, bool)> = tail
        .iter()
        .map(|&(n, s, r)| (n.to_string(), s, r))
        .collect();
    let s = state_along(
        "T1#0@N0",
        2,
        "B1",
        4,
        &nodes,
        &[("T1#0/pick", "FINISHED"), ("T1#0/drop", "WAITING")],
    );
    let mut out = Vec::new();
    r.on_state(&s, t, &mut out);
    r.follow_traffic(&mut a, t, &mut out);
    // Adopted, not sent again: the only order is the update releasing the rest of the
    // robot's own route, from its decision point N3 with its sequence ids.
    let sent = orders(&out);
    assert_eq!(sent.len(), 1, "{out:?}");
    let ids: Vec<(&str, u32)> = sent[0]
        .nodes
        .iter()
        .map(|n| (n.node_id.as_str(), n.sequence_id))
        .collect();
    assert_eq!(ids, [("N3", 8), ("N4", 10)]);
    assert_eq!(sent[0].order_update_id, 3);
    assert_eq!(sent[0].nodes[1].actions[0].action_id, "T1#0/drop");
    let held: Vec<String> = ["B1", "B2", "N3", "N4"].map(String::from).to_vec();
    assert_eq!(a.remaining_route("amr-1"), Some(held));
    assert!(
        a.holder(&crate::traffic::Resource::Node("N2".into()))
            .unwrap()
            .is_empty(),
        "the shortest path's node is not held"
    );
    assert_eq!(
        a.holder(&crate::traffic::Resource::Node("B2".into()))
            .unwrap(),
        ["amr-1"]
    );
}

#[test]
fn a_stop_is_reported_only_once_the_cancel_is_finished() {
    let (mut r, t) = (robot(), Instant::now());
    ready(&mut r, t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    r.on_state(
        &state("T1#0@N0", 0, "N0", 0, 3, &[("T1#0/pick", "WAITING")]),
        t,
        &mut out,
    );
    let mut out = Vec::new();
    r.stop(&command(), t, &mut out);
    assert_eq!(instant_types(&out), ["cancelOrder"]);
    assert!(reports(&out).is_empty());
    let mut out = Vec::new();
    let running = state(
        "T1#0@N0",
        0,
        "N0",
        0,
        0,
        &[("T1#0/pick", "FAILED"), ("T1#0/cancel", "RUNNING")],
    );
    r.on_state(&running, t, &mut out);
    assert!(
        reports(&out).is_empty(),
        "a failed pick while cancelling is no failure: {out:?}"
    );
    let finished = state(
        "T1#0@N0",
        0,
        "N0",
        0,
        0,
        &[("T1#0/pick", "FAILED"), ("T1#0/cancel", "FINISHED")],
    );
    let mut out = Vec::new();
    r.on_state(&finished, t, &mut out);
    assert_eq!(
        reports(&out),
        [DeviceReport::Stopped {
            command_id: "T1#0".into()
        }]
    );
}

#[test]
fn a_rejected_order_fails_the_command_with_the_robots_reason() {
    let (mut r, t) = (robot(), Instant::now());
    ready(&mut r, t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    let mut s = state("", 0, "N0", 0, 0, &[]);
    s.errors.push(crate::vda5050::AgvError {
        error_type: "noRouteError".into(),
        error_references: Some(vec![crate::vda5050::state::Reference::new(
            "orderId", "T1#0@N0",
        )]),
        error_description: Some("first node is not where the vehicle stands".into()),
        error_hint: None,
        error_level: crate::vda5050::ErrorLevel::Warning,
    });
    let mut out = Vec::new();
    r.on_state(&s, t, &mut out);
    match &reports(&out)[..] {
        [DeviceReport::Failed { reason, .. }] => {
            assert!(reason.contains("noRouteError"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

fn availabilities(out: &[Out]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Out::Report(DeviceReport::Availability {
                availability,
                reason,
                ..
            }) => Some(format!("{availability:?}: {reason}")),
            _ => None,
        })
        .collect()
}

/// The adapter decodes every robot's `state` into one shared scratch buffer
/// (`take_state`). What a failed decode leaves there is never taken as any robot's state;
/// a decode that succeeds is acted on like any other, whichever robot's state the buffer
/// held before.
#[test]
fn a_state_decoded_into_the_shared_scratch_counts_only_once_it_decoded() {
    let t = Instant::now();
    let (mut r, mut other) = (robot(), robot());
    ready(&mut r, t);
    let payload = |charge: f64, mode: &str, last: &str| {
        let mut v = serde_json::to_value(state("", 0, last, 0, 0, &[])).unwrap();
        v["batteryState"]["batteryCharge"] = json!(charge);
        v["operatingMode"] = json!(mode);
        serde_json::to_vec(&v).unwrap()
    };
    let mut scratch = None;
    let mut out = Vec::new();
    super::take_state(
        &mut other,
        &mut scratch,
        &payload(50.0, "AUTOMATIC", "N3"),
        t,
        &mut out,
    )
    .unwrap();

    // A low battery, then an unknown operating mode after it: the decode fails half-way.
    let mut out = Vec::new();
    let bad = payload(5.0, "DANCING", "N0");
    assert!(super::take_state(&mut r, &mut scratch, &bad, t, &mut out).is_err());
    r.tick(t, &mut out);
    assert_eq!(availabilities(&out), Vec::<String>::new(), "still online");

    // The same low battery in a state that decodes: the robot is faulted.
    super::take_state(
        &mut r,
        &mut scratch,
        &payload(5.0, "AUTOMATIC", "N0"),
        t,
        &mut out,
    )
    .unwrap();
    assert_eq!(availabilities(&out).len(), 1, "{out:?}");
    assert!(availabilities(&out)[0].starts_with("Fault: battery at 5 %"));
    // Nothing of the other robot's state stayed behind: `r` is still at N0.
    let positions: Vec<_> = out
        .iter()
        .filter(|o| matches!(o, Out::Report(DeviceReport::Position { .. })))
        .collect();
    assert!(positions.is_empty(), "{positions:?}");
}

#[test]
fn a_robot_away_past_the_offline_timeout_with_its_order_makes_the_outcome_unknown_until_it_is_back()
{
    let (mut r, t) = (robot(), Instant::now());
    ready(&mut r, t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    let driving = state("T1#0@N0", 0, "N1", 2, 2, &[("T1#0/pick", "FINISHED")]);
    r.on_state(&driving, t, &mut out);
    let mut broken = serde_json::to_value(online()).unwrap();
    broken["connectionState"] = json!("CONNECTIONBROKEN");
    let mut out = Vec::new();
    r.on_connection(
        decode(&serde_json::to_vec(&broken).unwrap()).unwrap(),
        t,
        &mut out,
    );
    for s in 1..=20 {
        r.tick(t + Duration::from_secs(s), &mut out);
    }
    match &reports(&out)[..] {
        [DeviceReport::OutcomeUnknown { reason, .. }] => {
            assert!(reason.contains("may hold the order"), "{reason}")
        }
        other => panic!("once, and no guess: {other:?}"),
    }
    assert!(instant_types(&out).iter().all(|t| t != "cancelOrder"));

    // Back: its state decides.
    let mut out = Vec::new();
    let later = t + Duration::from_secs(21);
    r.on_connection(online(), later, &mut out);
    r.on_state(&driving, later, &mut out);
    let done = state(
        "T1#0@N0",
        0,
        "N4",
        8,
        0,
        &[("T1#0/pick", "FINISHED"), ("T1#0/drop", "FINISHED")],
    );
    r.on_state(&done, later, &mut out);
    assert_eq!(
        reports(&out),
        [
            DeviceReport::Acknowledged {
                command_id: "T1#0".into()
            },
            DeviceReport::Completed {
                command_id: "T1#0".into()
            }
        ]
    );
    assert!(instant_types(&out).iter().all(|t| t != "cancelOrder"));
}

fn availability(out: &[Out]) -> Vec<Availability> {
    out.iter()
        .filter_map(|o| match o {
            Out::Report(DeviceReport::Availability { availability, .. }) => Some(*availability),
            _ => None,
        })
        .collect()
}

#[test]
fn a_robot_keeps_its_availability_across_a_broker_reconnect_until_it_speaks_or_the_grace_ends() {
    let (mut r, t) = (robot(), Instant::now());
    ready(&mut r, t);
    let mut out = Vec::new();
    r.on_broker(false, t, &mut out);
    r.tick(t + Duration::from_secs(9), &mut out);
    assert_eq!(availability(&out), [], "held while the link is down");
    r.on_broker(true, t + Duration::from_secs(9), &mut out);
    r.on_connection(online(), t + Duration::from_secs(9), &mut out);
    r.tick(t + Duration::from_secs(30), &mut out);
    assert_eq!(
        availability(&out),
        [],
        "its retained connection says online"
    );

    // Down for longer than the grace: offline once, online when it speaks again.
    let t = t + Duration::from_secs(40);
    let mut out = Vec::new();
    r.on_broker(false, t, &mut out);
    r.tick(t + Duration::from_secs(11), &mut out);
    assert_eq!(availability(&out), [Availability::Offline]);
    r.on_broker(true, t + Duration::from_secs(12), &mut out);
    r.tick(t + Duration::from_secs(13), &mut out);
    assert!(
        availability(&out)
            .iter()
            .all(|a| *a == Availability::Offline),
        "not heard from since the link came back"
    );
    let mut out = Vec::new();
    r.on_state(
        &state("", 0, "N0", 0, 0, &[]),
        t + Duration::from_secs(14),
        &mut out,
    );
    assert_eq!(availability(&out), [Availability::Online]);
}

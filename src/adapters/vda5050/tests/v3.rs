//! A robot speaking VDA 5050 3.0: its topics, the hibernating connection state, and the
//! profile option for the 1.x instant-action array name.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{availabilities, instant_types, TIMING};
use crate::adapters::vda5050::robot::{Out, Robot};
use crate::vda5050::{decode, AmrProfile, Connection, State};

fn robot_v3(extra: &str) -> Robot {
    let actions = if extra.contains("supported_actions") {
        String::new()
    } else {
        "supported_actions=['pick','drop','cancelOrder','stateRequest']\n".to_string()
    };
    let profile = AmrProfile::from_toml(
        &format!(
            "model='m3'\nmanufacturer='acme'\nprotocol_version='3.0'\n{actions}speed=1.0\n{extra}"
        ),
        "test",
    )
    .unwrap();
    Robot::new("amr-1", "acme", "r1", Arc::new(profile), None, TIMING)
}

fn header_v3() -> Value {
    json!({"headerId": 1, "timestamp": "2026-01-01T00:00:00.00Z", "version": "3.0.0",
           "manufacturer": "acme", "serialNumber": "r1"})
}

fn connection(state: &str) -> Connection {
    let mut v = header_v3();
    v["connectionState"] = json!(state);
    decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

/// An idle 3.0 robot's state, in the 3.0 names.
fn idle_state() -> State {
    let mut v = header_v3();
    let body = json!({
        "orderId": "", "orderUpdateId": 0, "lastNodeId": "N0", "lastNodeSequenceId": 0,
        "nodeStates": [], "edgeStates": [], "driving": false, "errors": [],
        "actionStates": [], "instantActionStates": [],
        "powerSupply": {"stateOfCharge": 80.0, "charging": false},
        "operatingMode": "AUTOMATIC",
        "safetyState": {"activeEmergencyStop": "NONE", "fieldViolation": false}
    });
    v.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

fn published(out: &[Out]) -> Vec<(String, Value)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Publish { topic, payload, .. } => {
                Some((topic.clone(), serde_json::from_slice(payload).unwrap()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_3_0_robot_is_spoken_to_under_v3_and_a_hibernating_one_is_asleep_until_it_wakes() {
    let (mut r, t) = (robot_v3(""), Instant::now());
    assert!(r
        .subscriptions()
        .iter()
        .all(|(topic, _)| topic.starts_with("uagv/v3/acme/r1/")));
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(connection("ONLINE"), t, &mut out);
    r.on_state(&idle_state(), t, &mut out);
    assert_eq!(availabilities(&out).last().unwrap(), "Online: ");
    let sent = published(&out);
    let (topic, ask) = sent.last().expect("a stateRequest");
    assert_eq!(topic, "uagv/v3/acme/r1/instantActions");
    assert_eq!(ask["version"], "3.0.0");
    assert_eq!(
        ask["actions"][0]["blockingType"], "NONE",
        "3.0 instant actions"
    );

    let mut out = Vec::new();
    r.on_connection(connection("HIBERNATING"), t, &mut out);
    r.tick(t + Duration::from_secs(40), &mut out);
    let said = availabilities(&out);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("Asleep: hibernating"), "{said:?}");
    assert_eq!(
        instant_types(&out),
        Vec::<String>::new(),
        "a hibernating robot is not asked for its state"
    );

    let mut out = Vec::new();
    let later = t + Duration::from_secs(41);
    r.on_connection(connection("ONLINE"), later, &mut out);
    assert_eq!(instant_types(&out), ["stateRequest"], "awake: what now?");
    r.on_state(&idle_state(), later, &mut out);
    assert_eq!(availabilities(&out).last().unwrap(), "Online: ");
}

#[test]
fn a_profile_that_wants_the_legacy_name_gets_its_instant_actions_under_instant_actions() {
    let (mut r, t) = (robot_v3("legacy_instant_actions=true\n"), Instant::now());
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(connection("ONLINE"), t, &mut out);
    let sent = published(&out);
    let (topic, ask) = sent.last().expect("a stateRequest");
    assert!(topic.ends_with("/instantActions"));
    assert!(ask.get("actions").is_none(), "{ask}");
    assert_eq!(ask["instantActions"][0]["actionType"], "stateRequest");
}

/// A 3.0 robot on the line N0 … N4 (as `super::robot`'s).
fn robot_v3_on_a_line() -> Robot {
    use crate::vda5050::LayoutGraph;
    let profile = AmrProfile::from_toml(
        "model='m3'\nmanufacturer='acme'\nprotocol_version='3.0'\nsupported_actions=['pick','drop','cancelOrder','stateRequest']\nspeed=1.0\nmax_base_nodes=3\n",
        "test",
    )
    .unwrap();
    let layout = LayoutGraph::new(super::line_layout()).unwrap();
    Robot::new(
        "amr-1",
        "acme",
        "r1",
        Arc::new(profile),
        Some(Arc::new(layout)),
        TIMING,
    )
}

/// A 3.0 state holding `order` with `nodes` node states, order actions `actions` and
/// instant actions `instant` (id, status).
fn state_v3(
    order: &str,
    nodes: usize,
    actions: &[(&str, &str)],
    instant: &[(&str, &str)],
) -> State {
    let mut s = idle_state();
    let list = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(id, st)| json!({"actionId": id, "actionStatus": st}))
            .collect::<Vec<_>>()
    };
    let mut v = serde_json::to_value(&s).unwrap();
    v["orderId"] = json!(order);
    v["nodeStates"] = json!((0..nodes)
        .map(|i| json!({"nodeId": format!("X{i}"), "sequenceId": 100 + 2 * i, "released": true}))
        .collect::<Vec<_>>());
    v["actionStates"] = json!(list(actions));
    v["instantActionStates"] = json!(list(instant));
    s = decode(&serde_json::to_vec(&v).unwrap()).unwrap();
    s
}

#[test]
fn a_3_0_robot_is_stopped_once_its_cancel_is_finished_among_its_instant_action_states() {
    use crate::engine::adapter::DeviceReport;
    let (mut r, t) = (robot_v3_on_a_line(), Instant::now());
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(connection("ONLINE"), t, &mut out);
    r.on_state(&idle_state(), t, &mut out);
    r.send(super::command(), t, &mut out);
    let holding = state_v3("T1#0@N0", 3, &[("T1#0/pick", "WAITING")], &[]);
    r.on_state(&holding, t, &mut out);
    let mut out = Vec::new();
    r.stop(&super::command(), t, &mut out);
    assert_eq!(instant_types(&out), ["cancelOrder"]);
    let running = state_v3(
        "T1#0@N0",
        0,
        &[("T1#0/pick", "FAILED")],
        &[("T1#0/cancel", "RUNNING")],
    );
    let mut out = Vec::new();
    r.on_state(&running, t, &mut out);
    assert!(super::reports(&out).is_empty(), "{out:?}");
    let finished = state_v3(
        "T1#0@N0",
        0,
        &[("T1#0/pick", "FAILED")],
        &[("T1#0/cancel", "FINISHED")],
    );
    let mut out = Vec::new();
    r.on_state(&finished, t, &mut out);
    assert_eq!(
        super::reports(&out),
        [DeviceReport::Stopped {
            command_id: "T1#0".into()
        }]
    );
}

#[test]
fn a_wake_goes_out_as_stop_hibernation_to_a_sleeping_robot_and_is_done_when_it_is_online() {
    use crate::adapters::vda5050::robot::Operated;
    use crate::engine::adapter::DeviceOperation;
    let (mut r, t) = (
        robot_v3("supported_actions=['pick','drop','cancelOrder','stateRequest','startHibernation','stopHibernation']\n"),
        Instant::now(),
    );
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(connection("ONLINE"), t, &mut out);
    r.on_state(&idle_state(), t, &mut out);
    // Awake: a wake is done at once, nothing is sent.
    let mut out = Vec::new();
    r.operate(1, DeviceOperation::Wake, 3, t, &mut out);
    assert!(instant_types(&out).is_empty());
    assert!(out.contains(&Out::Operated {
        request: 1,
        result: Operated::Done
    }));
    // Asleep: the wake goes out although the robot takes nothing else, and is re-sent.
    r.on_connection(connection("HIBERNATING"), t, &mut out);
    let mut out = Vec::new();
    r.operate(2, DeviceOperation::Wake, 4, t, &mut out);
    assert_eq!(instant_types(&out), ["stopHibernation"]);
    let mut out = Vec::new();
    r.tick(t + TIMING.resend, &mut out);
    assert_eq!(
        instant_types(&out),
        ["stopHibernation"],
        "re-sent until it wakes"
    );
    let mut out = Vec::new();
    r.on_connection(connection("ONLINE"), t + TIMING.resend, &mut out);
    assert!(
        out.contains(&Out::Operated {
            request: 2,
            result: Operated::Done
        }),
        "done once its connection says ONLINE: {out:?}"
    );
    // A pause to a sleeping robot is not sent: it would not hear it.
    r.on_connection(connection("HIBERNATING"), t, &mut out);
    let mut out = Vec::new();
    r.operate(3, DeviceOperation::Pause, 5, t, &mut out);
    assert!(instant_types(&out).is_empty());
}

//! Operator commands: pause and resume answered by the robot's state, a stop with nothing to
//! cancel, refusals, silence, and actions the profile or the factsheet does not have.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{command, instant_types, ready, robot, robot_with, state};
use crate::adapters::vda5050::robot::{Operated, Out, Robot};
use crate::engine::adapter::DeviceOperation;
use crate::vda5050::state::Reference;
use crate::vda5050::{decode, AgvError, ErrorLevel, Factsheet, State};

const ALL: &str = "'pick','drop','cancelOrder','startPause','stopPause','stateRequest'";

/// The answers in `out`.
fn answers(out: &[Out]) -> Vec<(u64, Operated)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Operated { request, result } => Some((*request, result.clone())),
            _ => None,
        })
        .collect()
}

/// The id of the last instant action of `action_type` in `out`.
fn action_id(out: &[Out], action_type: &str) -> String {
    out.iter()
        .rev()
        .find_map(|o| match o {
            Out::Publish { topic, payload, .. } if topic.ends_with("/instantActions") => {
                let v: Value = serde_json::from_slice(payload).unwrap();
                let a = &v["actions"][0];
                (a["actionType"] == action_type).then(|| a["actionId"].as_str().unwrap().into())
            }
            _ => None,
        })
        .expect("the action was sent")
}

fn idle_with(actions: &[(&str, &str)], paused: Option<bool>) -> State {
    let mut s = state("", 0, "N0", 0, 0, actions);
    s.paused = paused;
    s
}

fn ready_robot(t: Instant) -> Robot {
    let mut r = robot_with(ALL);
    ready(&mut r, t);
    r
}

#[test]
fn a_pause_is_done_once_the_state_says_paused_and_a_resume_once_it_says_not() {
    let t = Instant::now();
    let mut r = ready_robot(t);
    let mut out = Vec::new();
    r.operate(1, DeviceOperation::Pause, 9, t, &mut out);
    assert_eq!(instant_types(&out), ["startPause"]);
    assert!(answers(&out).is_empty());
    let id = action_id(&out, "startPause");
    let mut out = Vec::new();
    r.on_state(&idle_with(&[(&id, "RUNNING")], Some(false)), t, &mut out);
    assert!(answers(&out).is_empty(), "not paused yet");
    r.on_state(&idle_with(&[], Some(true)), t, &mut out);
    assert_eq!(answers(&out), [(1, Operated::Done)]);

    let mut out = Vec::new();
    r.operate(2, DeviceOperation::Resume, 10, t, &mut out);
    assert_eq!(instant_types(&out), ["stopPause"]);
    r.on_state(&idle_with(&[], Some(false)), t, &mut out);
    assert_eq!(answers(&out), [(2, Operated::Done)]);
}

#[test]
fn an_instant_action_is_re_sent_until_listed_and_unconfirmed_without_an_answer() {
    let t = Instant::now();
    let mut r = ready_robot(t);
    let mut out = Vec::new();
    r.operate(3, DeviceOperation::Pause, 1, t, &mut out);
    let mut out = Vec::new();
    for ms in (50..=1000).step_by(50) {
        r.tick(t + Duration::from_millis(ms), &mut out);
    }
    assert!(instant_types(&out).len() >= 5, "re-sent: {out:?}");
    assert!(matches!(
        &answers(&out)[..],
        [(3, Operated::Unconfirmed(_))]
    ));
}

#[test]
fn a_failed_instant_action_is_refused_with_the_robots_reason() {
    let t = Instant::now();
    let mut r = ready_robot(t);
    let mut out = Vec::new();
    r.operate(4, DeviceOperation::Pause, 1, t, &mut out);
    let id = action_id(&out, "startPause");
    let mut s = idle_with(&[(&id, "FAILED")], Some(false));
    s.action_states[0].result_description = Some("manual mode".into());
    let mut out = Vec::new();
    r.on_state(&s, t, &mut out);
    match &answers(&out)[..] {
        [(4, Operated::Refused(why))] => assert!(why.contains("manual mode"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stop_of_a_robot_with_nothing_to_cancel_is_done() {
    let t = Instant::now();
    let mut r = ready_robot(t);
    let mut out = Vec::new();
    r.operate(5, DeviceOperation::Stop, 1, t, &mut out);
    let id = action_id(&out, "cancelOrder");
    let mut s = idle_with(&[(&id, "FAILED")], None);
    s.errors.push(AgvError {
        error_type: "noOrderToCancel".into(),
        error_references: Some(vec![Reference::new("actionId", &id)]),
        error_description: None,
        error_hint: None,
        error_level: ErrorLevel::Warning,
    });
    let mut out = Vec::new();
    r.on_state(&s, t, &mut out);
    assert_eq!(answers(&out), [(5, Operated::Done)]);
}

#[test]
fn a_stop_of_a_robot_carrying_out_a_floorgate_command_is_refused() {
    let t = Instant::now();
    let mut r = ready_robot(t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    let mut out = Vec::new();
    r.operate(6, DeviceOperation::Stop, 1, t, &mut out);
    assert!(matches!(&answers(&out)[..], [(6, Operated::Refused(_))]));
    assert!(instant_types(&out).is_empty());
}

#[test]
fn actions_the_profile_or_the_factsheet_lacks_are_unsupported() {
    let t = Instant::now();
    // The profile has no startPause, and VDA 5050 has no reset.
    let mut r = robot();
    ready(&mut r, t);
    let mut out = Vec::new();
    r.operate(7, DeviceOperation::Pause, 1, t, &mut out);
    r.operate(8, DeviceOperation::Reset, 2, t, &mut out);
    match &answers(&out)[..] {
        [(7, Operated::Unsupported(pause)), (8, Operated::Unsupported(reset))] => {
            assert!(pause.contains("startPause"), "{pause}");
            assert!(reset.contains("clearErrors"), "{reset}");
        }
        other => panic!("{other:?}"),
    }
    assert!(instant_types(&out).is_empty());

    // The profile has it, the robot's factsheet does not.
    let mut r = ready_robot(t);
    r.on_factsheet(factsheet_without("startPause"));
    let mut out = Vec::new();
    r.operate(9, DeviceOperation::Pause, 3, t, &mut out);
    r.operate(10, DeviceOperation::Resume, 4, t, &mut out);
    match &answers(&out)[..] {
        [(9, Operated::Unsupported(why))] => assert!(why.contains("factsheet"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(instant_types(&out), ["stopPause"]);
}

#[test]
fn an_operator_command_to_a_robot_that_cannot_hear_is_not_sent() {
    let t = Instant::now();
    let mut r = robot_with(ALL);
    let mut out = Vec::new();
    r.operate(11, DeviceOperation::Pause, 1, t, &mut out);
    assert!(matches!(&answers(&out)[..], [(11, Operated::NotSent(_))]));
    assert!(instant_types(&out).is_empty());
}

/// A factsheet declaring the profile's instant actions but `missing`.
fn factsheet_without(missing: &str) -> Factsheet {
    let actions: Vec<Value> = ["cancelOrder", "startPause", "stopPause", "stateRequest"]
        .into_iter()
        .filter(|a| *a != missing)
        .map(|a| json!({"actionType": a, "actionScopes": ["INSTANT"]}))
        .chain(["pick", "drop"].map(|a| json!({"actionType": a, "actionScopes": ["NODE"]})))
        .collect();
    let v = json!({
        "headerId": 1, "timestamp": "2024-01-01T00:00:00.00Z", "version": "2.1.0",
        "manufacturer": "acme", "serialNumber": "r1",
        "typeSpecification": {"seriesName": "s", "agvKinematic": "DIFF", "agvClass": "CARRIER",
            "maxLoadMass": 10.0, "localizationTypes": ["NATURAL"], "navigationTypes": ["AUTONOMOUS"]},
        "physicalParameters": {"speedMin": 0.0, "speedMax": 1.0, "accelerationMax": 1.0,
            "decelerationMax": 1.0, "heightMax": 1.0, "width": 1.0, "length": 1.0},
        "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
            "timing": {"minOrderInterval": 0.0, "minStateInterval": 0.0}},
        "protocolFeatures": {"optionalParameters": [], "agvActions": actions},
        "agvGeometry": {}, "loadSpecification": {}
    });
    decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

#[test]
fn a_reset_sends_clear_errors_where_the_profile_lists_it() {
    let t = Instant::now();
    let mut r = robot_with(&format!("{ALL},'clearErrors'"));
    ready(&mut r, t);
    let mut out = Vec::new();
    r.operate(12, DeviceOperation::Reset, 1, t, &mut out);
    assert_eq!(instant_types(&out), ["clearErrors"]);
    let id = action_id(&out, "clearErrors");
    let mut out = Vec::new();
    r.on_state(&idle_with(&[(&id, "FINISHED")], None), t, &mut out);
    assert_eq!(answers(&out), [(12, Operated::Done)]);
}

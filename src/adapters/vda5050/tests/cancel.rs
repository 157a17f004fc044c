//! Stopping a command: what the robot's answer to `cancelOrder` decides, the bounded and
//! backed-off re-sends, and a stop after a restart that adopts the robot's state first.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{command, instant_types, online, orders, ready, reports, robot, state};
use crate::adapters::vda5050::robot::{Out, Robot, Sent};
use crate::engine::adapter::DeviceReport;
use crate::vda5050::state::Reference;
use crate::vda5050::{decode, AgvError, Connection, ErrorLevel, State};

const PICKED: (&str, &str) = ("T1#0/pick", "FINISHED");
const DROPPED: (&str, &str) = ("T1#0/drop", "FINISHED");
const TO_DROP: (&str, &str) = ("T1#0/drop", "WAITING");

/// `s` with a warning of `error_type` naming instant action `action_id`.
fn refusing(mut s: State, action_id: &str, error_type: &str) -> State {
    s.errors.push(AgvError {
        error_type: error_type.into(),
        error_references: Some(vec![Reference::new("actionId", action_id)]),
        error_description: Some("the load is on board".into()),
        error_hint: None,
        error_level: ErrorLevel::Warning,
    });
    s
}

/// The action ids of the `cancelOrder`s in `out`.
fn cancels(out: &[Out]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Out::Publish { topic, payload, .. } if topic.ends_with("/instantActions") => {
                let v: Value = serde_json::from_slice(payload).unwrap();
                let a = &v["actions"][0];
                (a["actionType"] == "cancelOrder").then(|| a["actionId"].as_str().unwrap().into())
            }
            _ => None,
        })
        .collect()
}

fn completed() -> DeviceReport {
    DeviceReport::Completed {
        command_id: "T1#0".into(),
    }
}

fn stopped() -> DeviceReport {
    DeviceReport::Stopped {
        command_id: "T1#0".into(),
    }
}

/// A robot that took `T1#0`'s order, picked, and drives to the drop; then `stop`.
fn stopping_after_the_pick(t: Instant) -> Robot {
    let mut r = robot();
    ready(&mut r, t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    r.on_state(
        &state("T1#0@N0", 0, "N2", 4, 2, &[PICKED, TO_DROP]),
        t,
        &mut out,
    );
    let mut out = Vec::new();
    assert_eq!(r.stop(&command(), t, &mut out), Sent::Accepted);
    assert_eq!(cancels(&out), ["T1#0/cancel"]);
    assert!(reports(&out).is_empty(), "{out:?}");
    r
}

#[test]
fn a_drop_that_finished_while_the_robot_refused_the_cancel_completes_the_command() {
    let t = Instant::now();
    let mut r = stopping_after_the_pick(t);
    let refused = refusing(
        state(
            "T1#0@N0",
            0,
            "N3",
            6,
            1,
            &[PICKED, TO_DROP, ("T1#0/cancel", "FAILED")],
        ),
        "T1#0/cancel",
        "cancelRefused",
    );
    let mut out = Vec::new();
    r.on_state(&refused, t + Duration::from_millis(50), &mut out);
    assert!(reports(&out).is_empty(), "the robot drives on: {out:?}");
    for ms in (100..20_000).step_by(50) {
        r.tick(t + Duration::from_millis(ms), &mut out);
    }
    assert!(cancels(&out).is_empty(), "refused: never re-sent");
    assert!(orders(&out).is_empty(), "no order update while stopping");

    let mut out = Vec::new();
    let done = state(
        "T1#0@N0",
        0,
        "N4",
        8,
        0,
        &[PICKED, DROPPED, ("T1#0/cancel", "FAILED")],
    );
    r.on_state(&done, t + Duration::from_secs(21), &mut out);
    assert_eq!(reports(&out), [completed()]);
}

#[test]
fn a_drop_that_finished_before_the_robot_processed_the_cancel_completes_the_command() {
    let t = Instant::now();
    let mut r = stopping_after_the_pick(t);
    let mut out = Vec::new();
    r.on_state(
        &state("T1#0@N0", 0, "N4", 8, 0, &[PICKED, DROPPED]),
        t + Duration::from_millis(20),
        &mut out,
    );
    assert_eq!(reports(&out), [completed()]);
    // The unanswered cancel is dropped: a late re-send must not cancel the next order.
    let mut out = Vec::new();
    for ms in (50..10_000).step_by(50) {
        r.tick(t + Duration::from_millis(ms), &mut out);
    }
    assert!(cancels(&out).is_empty());
}

#[test]
fn after_a_refused_cancel_a_failed_drop_fails_the_command_with_the_robots_reason() {
    let t = Instant::now();
    let mut r = stopping_after_the_pick(t);
    let mut out = Vec::new();
    let refused = refusing(
        state("T1#0@N0", 0, "N3", 6, 1, &[PICKED, TO_DROP]),
        "T1#0/cancel",
        "cancelRefused",
    );
    r.on_state(&refused, t, &mut out);
    assert!(reports(&out).is_empty());
    let mut failed = state("T1#0@N0", 0, "N4", 8, 0, &[PICKED, ("T1#0/drop", "FAILED")]);
    failed.action_states[1].result_description = Some("station occupied".into());
    r.on_state(&failed, t, &mut out);
    match &reports(&out)[..] {
        [DeviceReport::Failed { reason, .. }] => {
            assert!(reason.contains("station occupied"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unanswered_cancel_is_re_sent_with_backoff_a_bounded_number_of_times() {
    let t = Instant::now();
    let mut r = stopping_after_the_pick(t);
    let busy = state("T1#0@N0", 0, "N2", 4, 2, &[PICKED, TO_DROP]);
    let mut sent_at = vec![0u64];
    for ms in (10..60_000u64).step_by(10) {
        let mut out = Vec::new();
        r.on_state(&busy, t + Duration::from_millis(ms), &mut out);
        if !cancels(&out).is_empty() {
            sent_at.push(ms);
        }
        assert!(reports(&out).is_empty(), "the robot still holds the order");
    }
    assert_eq!(sent_at.len(), 6, "bounded: {sent_at:?}");
    let gaps: Vec<u64> = sent_at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        [100, 200, 400, 800, 1600],
        "doubling from the resend interval"
    );
    // Given up; the step still follows the robot.
    let mut out = Vec::new();
    r.on_state(
        &state("T1#0@N0", 0, "N4", 8, 0, &[PICKED, DROPPED]),
        t + Duration::from_secs(61),
        &mut out,
    );
    assert_eq!(reports(&out), [completed()]);
}

#[test]
fn a_cancel_the_robot_finished_stops_the_command() {
    let t = Instant::now();
    let mut r = stopping_after_the_pick(t);
    let mut out = Vec::new();
    r.on_state(
        &state(
            "T1#0@N0",
            0,
            "N2",
            4,
            0,
            &[PICKED, ("T1#0/drop", "FAILED"), ("T1#0/cancel", "FINISHED")],
        ),
        t,
        &mut out,
    );
    assert_eq!(reports(&out), [stopped()]);
}

#[test]
fn a_drop_that_finished_while_the_cancel_runs_completes_and_the_next_order_waits_for_the_cancel() {
    let t = Instant::now();
    let mut r = stopping_after_the_pick(t);
    let mut out = Vec::new();
    let running = ("T1#0/cancel", "RUNNING");
    r.on_state(
        &state("T1#0@N0", 0, "N4", 8, 0, &[PICKED, DROPPED, running]),
        t,
        &mut out,
    );
    assert_eq!(reports(&out), [completed()]);
    let mut next = command();
    next.command_id = "T2#0".into();
    let mut out = Vec::new();
    r.send(next, t, &mut out);
    r.tick(t + Duration::from_secs(1), &mut out);
    assert!(orders(&out).is_empty(), "no order while cancelOrder runs");
    assert!(cancels(&out).is_empty(), "listed: not re-sent");
    r.on_state(
        &state(
            "T1#0@N0",
            0,
            "N4",
            8,
            0,
            &[PICKED, DROPPED, ("T1#0/cancel", "FINISHED")],
        ),
        t + Duration::from_secs(1),
        &mut out,
    );
    let sent = orders(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].order_id, "T2#0@N4");
}

fn restarted(t: Instant) -> Robot {
    let mut r = robot();
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(online(), t, &mut out);
    r
}

#[test]
fn after_a_restart_a_stop_adopts_the_robots_state_and_a_finished_drop_completes() {
    let t = Instant::now();
    let mut r = restarted(t);
    let mut out = Vec::new();
    assert_eq!(r.stop(&command(), t, &mut out), Sent::Waiting);
    assert!(reports(&out).is_empty(), "nothing decided before the state");
    assert!(
        cancels(&out).is_empty(),
        "nothing cancelled before the state"
    );
    let mut out = Vec::new();
    let refused_before = refusing(
        state("T1#0@N0", 1, "N4", 8, 0, &[PICKED, DROPPED]),
        "T1#0/cancel",
        "cancelRefused",
    );
    r.on_state(&refused_before, t, &mut out);
    assert_eq!(reports(&out), [completed()]);
    assert!(cancels(&out).is_empty());
    assert_eq!(r.delivery("T1#0"), Sent::Accepted);
}

#[test]
fn after_a_restart_a_stop_of_an_order_the_robot_cancelled_is_stopped_without_a_second_cancel() {
    let t = Instant::now();
    let mut r = restarted(t);
    let mut out = Vec::new();
    r.stop(&command(), t, &mut out);
    r.on_state(
        &state(
            "T1#0@N0",
            0,
            "N1",
            2,
            0,
            &[("T1#0/pick", "FAILED"), ("T1#0/cancel", "FINISHED")],
        ),
        t,
        &mut out,
    );
    assert_eq!(reports(&out), [stopped()]);
    assert!(cancels(&out).is_empty());
}

#[test]
fn after_a_restart_a_stop_cancels_the_order_the_robot_still_runs() {
    let t = Instant::now();
    let mut r = restarted(t);
    let mut out = Vec::new();
    r.stop(&command(), t, &mut out);
    r.on_state(
        &state("T1#0@N0", 0, "N1", 2, 2, &[PICKED, TO_DROP]),
        t,
        &mut out,
    );
    assert_eq!(cancels(&out), ["T1#0/cancel"]);
    assert!(reports(&out).is_empty());
    let mut out = Vec::new();
    r.on_state(
        &state(
            "T1#0@N0",
            0,
            "N1",
            2,
            0,
            &[PICKED, ("T1#0/drop", "FAILED"), ("T1#0/cancel", "FINISHED")],
        ),
        t,
        &mut out,
    );
    assert_eq!(reports(&out), [stopped()]);
}

#[test]
fn after_a_restart_a_stop_of_an_order_the_robot_never_had_is_stopped() {
    let t = Instant::now();
    let mut r = restarted(t);
    let mut out = Vec::new();
    r.stop(&command(), t, &mut out);
    r.on_state(&state("T0#0@N3", 2, "N0", 0, 0, &[]), t, &mut out);
    assert_eq!(reports(&out), [stopped()]);
    assert!(cancels(&out).is_empty());
}

#[test]
fn a_fault_raised_after_the_drop_does_not_fail_the_command() {
    let (mut r, t) = (robot(), Instant::now());
    ready(&mut r, t);
    let mut out = Vec::new();
    r.send(command(), t, &mut out);
    let mut done = state("T1#0@N0", 0, "N4", 8, 0, &[PICKED, DROPPED]);
    done.errors.push(AgvError {
        error_type: "laserScannerFault".into(),
        error_references: None,
        error_description: None,
        error_hint: None,
        error_level: ErrorLevel::Fatal,
    });
    let mut out = Vec::new();
    r.on_state(&done, t, &mut out);
    assert_eq!(
        reports(&out),
        [
            DeviceReport::Acknowledged {
                command_id: "T1#0".into()
            },
            completed()
        ]
    );
}

#[test]
fn a_send_waits_for_a_robot_not_heard_from_and_is_withdrawn_from_one_that_cannot_hear() {
    let t = Instant::now();
    let mut r = restarted(t);
    let mut out = Vec::new();
    assert_eq!(r.send(command(), t, &mut out), Sent::Waiting);

    let mut r = robot();
    ready(&mut r, t);
    let mut broken = serde_json::to_value(online()).unwrap();
    broken["connectionState"] = json!("CONNECTIONBROKEN");
    let broken: Connection = decode(&serde_json::to_vec(&broken).unwrap()).unwrap();
    r.on_connection(broken, t, &mut out);
    let mut out = Vec::new();
    assert!(matches!(
        r.send(command(), t, &mut out),
        Sent::Unreachable(_)
    ));
    assert!(orders(&out).is_empty());
    // Withdrawn: the robot coming back gets no order the engine may have given another.
    let mut out = Vec::new();
    r.on_connection(online(), t, &mut out);
    r.on_state(&state("", 0, "N0", 0, 0, &[]), t, &mut out);
    assert!(orders(&out).is_empty(), "{out:?}");
    assert!(instant_types(&out).iter().all(|t| t != "cancelOrder"));
}

//! The state machine fed by hand: no store, no devices, no clock.

use std::collections::BTreeMap;

use super::*;
use crate::engine::model::{DeviceKind, TaskKind, TaskSpec};

fn task() -> Task {
    Task {
        spec: TaskSpec {
            task_id: "T1".into(),
            kind: TaskKind::Pick,
            sku: "SKU".into(),
            quantity: 1,
            load_id: "TOTE-1".into(),
            source: "S1".into(),
            destination: "P1".into(),
            priority: 0,
            deadline_unix_ms: 0,
            attributes: BTreeMap::new(),
        },
        state: TaskState::Accepted,
        steps: vec![],
        reason: String::new(),
        cancel_requested: None,
        created_unix_ms: 0,
        updated_unix_ms: 0,
    }
}

fn steps(n: u32) -> Vec<Step> {
    (0..n)
        .map(|i| Step {
            index: i,
            device_kind: DeviceKind::Amr,
            candidates: vec!["amr-1".into()],
            device_id: None,
            command: "transport".into(),
            from: "a".into(),
            to: "b".into(),
            state: StepState::Pending,
            reason: String::new(),
            timeout_ms: 0,
            dispatched_unix_ms: None,
            on_failure: OnFailure::Fail,
            max_reassignments: 0,
            attempt: 0,
            failed_devices: Vec::new(),
            stop_reason: None,
        })
        .collect()
}

fn planned(n: u32) -> Task {
    let mut t = task();
    apply(&mut t, Input::Plan(steps(n)), 1).unwrap();
    t
}

fn dispatch(t: &mut Task, step: u32) -> Transition {
    apply(
        t,
        Input::Dispatch {
            step,
            device_id: "amr-1".into(),
        },
        2,
    )
    .unwrap()
}

#[test]
fn planning_moves_an_accepted_task_to_planned_with_its_steps() {
    let t = planned(2);
    assert_eq!(t.state, TaskState::Planned);
    assert_eq!(t.steps.len(), 2);
    assert_eq!(t.updated_unix_ms, 1);
}

#[test]
fn the_first_dispatch_starts_the_task_and_reports_both_events() {
    let mut t = planned(2);
    let tr = dispatch(&mut t, 0);
    assert_eq!(t.state, TaskState::Running);
    assert!(matches!(tr.events[0], EventKind::TaskStarted));
    assert!(matches!(&tr.events[1], EventKind::StepDispatched(r) if r.device_id == "amr-1"));
}

#[test]
fn steps_run_in_order_and_the_last_completion_completes_the_task() {
    let mut t = planned(2);
    let err = apply(
        &mut t,
        Input::Dispatch {
            step: 1,
            device_id: "x".into(),
        },
        2,
    )
    .unwrap_err();
    assert_eq!(err, TransitionError::OutOfOrder { step: 1, next: 0 });
    dispatch(&mut t, 0);
    apply(&mut t, Input::Acknowledged { step: 0 }, 3).unwrap();
    let tr = apply(&mut t, Input::Completed { step: 0 }, 4).unwrap();
    assert_eq!(t.state, TaskState::Running);
    assert_eq!(
        tr.effects,
        vec![Effect::ReleaseDevice {
            device_id: "amr-1".into(),
            command_id: "T1#0".into(),
        }]
    );
    dispatch(&mut t, 1);
    let tr = apply(&mut t, Input::Completed { step: 1 }, 5).unwrap();
    assert_eq!(t.state, TaskState::Completed);
    assert!(tr.events.contains(&EventKind::TaskCompleted));
}

#[test]
fn a_repeated_completion_is_refused_and_leaves_the_task_unchanged() {
    let mut t = planned(1);
    dispatch(&mut t, 0);
    apply(&mut t, Input::Completed { step: 0 }, 3).unwrap();
    let before = t.clone();
    assert!(apply(&mut t, Input::Completed { step: 0 }, 9).is_err());
    assert_eq!(t, before, "a refused input must not touch the task");
}

#[test]
fn a_failed_step_fails_the_task_naming_the_step_and_reason() {
    let mut t = planned(2);
    dispatch(&mut t, 0);
    apply(
        &mut t,
        Input::Failed {
            step: 0,
            reason: "E-stop".into(),
        },
        3,
    )
    .unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.reason.contains("step 0"), "{}", t.reason);
    assert!(t.reason.contains("E-stop"), "{}", t.reason);
    assert_eq!(t.steps[1].state, StepState::Cancelled);
}

#[test]
fn cancel_without_a_running_step_ends_the_task_at_once() {
    let mut t = planned(2);
    let tr = apply(
        &mut t,
        Input::Cancel {
            reason: "cloud".into(),
        },
        3,
    )
    .unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    assert!(tr.effects.is_empty());
    assert!(t.steps.iter().all(|s| s.state == StepState::Cancelled));
}

#[test]
fn cancel_with_a_running_step_stops_the_device_first_and_dispatches_nothing_after() {
    let mut t = planned(2);
    dispatch(&mut t, 0);
    let tr = apply(
        &mut t,
        Input::Cancel {
            reason: "cloud".into(),
        },
        3,
    )
    .unwrap();
    assert_eq!(t.state, TaskState::Running);
    assert_eq!(
        tr.effects,
        vec![Effect::StopOnDevice {
            step: 0,
            device_id: "amr-1".into(),
            command_id: "T1#0".into(),
        }]
    );
    // A second cancel while stopping is harmless.
    assert_eq!(
        apply(
            &mut t,
            Input::Cancel {
                reason: "again".into()
            },
            4
        )
        .unwrap(),
        Transition::default()
    );
    apply(&mut t, Input::Cancelled { step: 0 }, 5).unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    assert_eq!(t.reason, "cloud");
    assert_eq!(t.steps[1].state, StepState::Cancelled);
    assert!(apply(
        &mut t,
        Input::Dispatch {
            step: 1,
            device_id: "amr-1".into()
        },
        6
    )
    .is_err());
}

#[test]
fn a_step_that_completes_while_a_cancel_is_pending_still_ends_the_task_cancelled() {
    let mut t = planned(2);
    dispatch(&mut t, 0);
    apply(&mut t, Input::Cancel { reason: "r".into() }, 3).unwrap();
    apply(&mut t, Input::Completed { step: 0 }, 4).unwrap();
    assert_eq!(t.state, TaskState::Cancelled);
    assert_eq!(t.steps[0].state, StepState::Completed);
    assert_eq!(t.steps[1].state, StepState::Cancelled);
}

#[test]
fn a_last_step_that_completes_while_a_cancel_is_pending_completes_the_task() {
    // The robot refused the cancel and dropped the load: the journal says
    // the load is at its destination, not that the task was cancelled.
    let mut t = planned(1);
    dispatch(&mut t, 0);
    apply(&mut t, Input::Cancel { reason: "r".into() }, 3).unwrap();
    let tr = apply(&mut t, Input::Completed { step: 0 }, 4).unwrap();
    assert_eq!(t.state, TaskState::Completed);
    assert!(matches!(
        &tr.events[..],
        [EventKind::StepCompleted(_), EventKind::TaskCompleted]
    ));
}

#[test]
fn a_terminal_task_refuses_every_input() {
    let mut t = planned(1);
    apply(&mut t, Input::Cancel { reason: "r".into() }, 3).unwrap();
    for input in [
        Input::Plan(steps(1)),
        Input::Cancel { reason: "r".into() },
        Input::Completed { step: 0 },
    ] {
        assert!(matches!(
            apply(&mut t, input, 4),
            Err(TransitionError::WrongTaskState { .. })
        ));
    }
}

/// One step on a fleet of three AMRs that may be re-planned twice.
fn with_fallback(max_reassignments: u32) -> Task {
    let mut s = steps(1);
    s[0].candidates = vec!["amr-1".into(), "amr-2".into(), "amr-3".into()];
    s[0].on_failure = OnFailure::RetryOtherDevice;
    s[0].max_reassignments = max_reassignments;
    s[0].timeout_ms = 30_000;
    let mut t = task();
    apply(&mut t, Input::Plan(s), 1).unwrap();
    t
}

fn dispatch_to(t: &mut Task, device: &str, now: i64) -> Transition {
    apply(
        t,
        Input::Dispatch {
            step: 0,
            device_id: device.into(),
        },
        now,
    )
    .unwrap()
}

fn fail(t: &mut Task, reason: &str) -> Transition {
    apply(
        t,
        Input::Failed {
            step: 0,
            reason: reason.into(),
        },
        50,
    )
    .unwrap()
}

#[test]
fn a_dispatch_persists_its_time_so_the_deadline_survives_a_restart() {
    // The deadline is dispatched_unix_ms + timeout_ms, both in the task the
    // dispatch commits with its event: a restarted engine recomputes it from
    // the store and does not restart the clock.
    let mut t = with_fallback(0);
    dispatch_to(&mut t, "amr-1", 1_000);
    assert_eq!(t.steps[0].dispatched_unix_ms, Some(1_000));
    let stored: Task = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(stored.steps[0].dispatched_unix_ms, Some(1_000));
    assert_eq!(stored.steps[0].timeout_ms, 30_000);
}

#[test]
fn a_step_written_before_timeouts_and_attempts_existed_still_loads() {
    let old = r#"{"index":0,"device_kind":"amr","candidates":["amr-1"],"device_id":"amr-1",
        "command":"transport","from":"a","to":"b","state":"dispatched","reason":""}"#;
    let s: Step = serde_json::from_str(old).unwrap();
    assert_eq!(
        (s.timeout_ms, s.dispatched_unix_ms, s.attempt, s.on_failure),
        (0, None, 0, OnFailure::Fail)
    );
    assert_eq!(s.command_id("T1"), "T1#0", "the id the old outbox holds");
}

#[test]
fn a_timed_out_step_stays_on_its_device_until_it_confirms_the_stop_then_fails_naming_the_timeout() {
    let mut t = planned(2);
    t.steps[0].timeout_ms = 30_000;
    dispatch(&mut t, 0);
    let tr = apply(
        &mut t,
        Input::TimedOut {
            step: 0,
            attempt: 0,
        },
        40_000,
    )
    .unwrap();
    // Told to stop, not released: the device may still be at it.
    assert_eq!(t.state, TaskState::Running);
    assert!(t.steps[0].state.is_active());
    assert!(
        matches!(&tr.events[..], [EventKind::StepStopRequested(r)] if r.reason.contains("timed out after 30 s"))
    );
    assert_eq!(
        tr.effects,
        vec![Effect::StopOnDevice {
            step: 0,
            device_id: "amr-1".into(),
            command_id: "T1#0".into(),
        }]
    );
    // A second timer for the same attempt changes nothing.
    assert!(apply(
        &mut t,
        Input::TimedOut {
            step: 0,
            attempt: 0
        },
        41_000
    )
    .is_err());
    // The device confirms: now the step fails, and the device is released
    // in the same change.
    let tr = apply(&mut t, Input::Cancelled { step: 0 }, 42_000).unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert!(
        t.reason
            .contains("step 0 (transport) failed: timed out after 30 s"),
        "{}",
        t.reason
    );
    assert!(
        matches!(&tr.events[0], EventKind::StepFailed(r) if r.reason.contains("timed out after 30 s"))
    );
    assert_eq!(
        tr.effects,
        vec![Effect::ReleaseDevice {
            device_id: "amr-1".into(),
            command_id: "T1#0".into(),
        }]
    );
}

#[test]
fn a_timed_out_step_the_device_finishes_before_stopping_is_completed() {
    let mut t = planned(1);
    t.steps[0].timeout_ms = 30_000;
    dispatch(&mut t, 0);
    apply(
        &mut t,
        Input::TimedOut {
            step: 0,
            attempt: 0,
        },
        40_000,
    )
    .unwrap();
    apply(&mut t, Input::Completed { step: 0 }, 41_000).unwrap();
    assert_eq!(t.state, TaskState::Completed);
    assert_eq!(t.steps[0].state, StepState::Completed);
    assert_eq!(t.steps[0].stop_reason, None);
}

#[test]
fn a_timed_out_step_with_a_fallback_moves_only_once_its_device_stopped() {
    let mut t = with_fallback(1);
    t.steps[0].timeout_ms = 1_000;
    dispatch_to(&mut t, "amr-1", 2);
    apply(
        &mut t,
        Input::TimedOut {
            step: 0,
            attempt: 0,
        },
        2_000,
    )
    .unwrap();
    // Still amr-1's: no second device may be chosen yet.
    assert_eq!(t.steps[0].device_id.as_deref(), Some("amr-1"));
    assert!(t.steps[0].state.is_active());
    assert!(apply(
        &mut t,
        Input::Dispatch {
            step: 0,
            device_id: "amr-2".into()
        },
        2_100
    )
    .is_err());
    apply(&mut t, Input::Cancelled { step: 0 }, 2_200).unwrap();
    assert_eq!(t.steps[0].state, StepState::Pending);
    assert_eq!(t.steps[0].attempt, 1);
    dispatch_to(&mut t, "amr-2", 2_300);
    assert_eq!(t.steps[0].device_id.as_deref(), Some("amr-2"));
}

#[test]
fn an_unknown_outcome_holds_the_device_until_it_reports_or_an_operator_resolves_it() {
    let mut t = with_fallback(1);
    dispatch_to(&mut t, "amr-1", 2);
    let tr = apply(
        &mut t,
        Input::OutcomeUnknown {
            step: 0,
            reason: "no confirmation".into(),
        },
        3,
    )
    .unwrap();
    assert!(
        matches!(&tr.events[..], [EventKind::StepOutcomeUnknown(r)] if r.reason == "no confirmation")
    );
    assert!(tr.effects.is_empty(), "the device stays held");
    assert_eq!(t.steps[0].state, StepState::OutcomeUnknown);
    assert!(t.steps[0].state.is_active());
    // Repeating it journals nothing new.
    assert!(apply(
        &mut t,
        Input::OutcomeUnknown {
            step: 0,
            reason: "again".into()
        },
        4
    )
    .is_err());
    // The device answers after all: its own report decides.
    let mut answered = t.clone();
    apply(&mut answered, Input::Acknowledged { step: 0 }, 5).unwrap();
    apply(&mut answered, Input::Completed { step: 0 }, 6).unwrap();
    assert_eq!(answered.state, TaskState::Completed);
    // Or an operator who looked at the robot says it did not do it: the
    // step fails and, with a fallback, moves on.
    let tr = apply(
        &mut t,
        Input::Resolve {
            step: 0,
            completed: false,
            reason: "load still at the pickup".into(),
        },
        7,
    )
    .unwrap();
    assert!(
        matches!(&tr.events[0], EventKind::StepFailed(r) if r.reason == "resolved by an operator: load still at the pickup")
    );
    assert_eq!(t.steps[0].state, StepState::Pending);
    assert_eq!(t.steps[0].attempt, 1);
}

#[test]
fn an_operator_stop_fails_the_step_once_the_device_stopped() {
    let mut t = planned(1);
    dispatch(&mut t, 0);
    let tr = apply(
        &mut t,
        Input::Stop {
            step: 0,
            reason: "stopped by an operator: aisle blocked".into(),
        },
        3,
    )
    .unwrap();
    assert!(matches!(&tr.events[..], [EventKind::StepStopRequested(_)]));
    assert!(matches!(&tr.effects[..], [Effect::StopOnDevice { .. }]));
    apply(&mut t, Input::Cancelled { step: 0 }, 4).unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.reason.contains("aisle blocked"), "{}", t.reason);
}

#[test]
fn a_timer_of_an_earlier_attempt_or_an_ended_step_is_refused() {
    let mut t = with_fallback(2);
    dispatch_to(&mut t, "amr-1", 2);
    fail(&mut t, "FATAL");
    dispatch_to(&mut t, "amr-2", 3);
    let before = t.clone();
    let stale = apply(
        &mut t,
        Input::TimedOut {
            step: 0,
            attempt: 0,
        },
        99,
    );
    assert!(matches!(stale, Err(TransitionError::StaleAttempt { .. })));
    assert_eq!(t, before);
    apply(&mut t, Input::Completed { step: 0 }, 4).unwrap();
    assert!(apply(
        &mut t,
        Input::TimedOut {
            step: 0,
            attempt: 1
        },
        99
    )
    .is_err());
}

#[test]
fn a_step_with_a_fallback_is_planned_again_onto_an_untried_device_with_a_new_command_id() {
    let mut t = with_fallback(2);
    dispatch_to(&mut t, "amr-1", 2);
    let tr = fail(&mut t, "FATAL: lidar blocked");
    // Journaled: the failure of attempt 0 on amr-1; the task goes on.
    assert_eq!(t.state, TaskState::Running);
    assert_eq!(tr.events.len(), 1);
    assert!(matches!(&tr.events[0],
        EventKind::StepFailed(r) if r.device_id == "amr-1" && r.attempt == 0 && r.reason.contains("lidar")));
    assert_eq!(
        tr.effects,
        vec![Effect::ReleaseDevice {
            device_id: "amr-1".into(),
            command_id: "T1#0".into(),
        }]
    );
    let s = &t.steps[0];
    assert_eq!(
        (s.state, s.attempt, s.device_id.clone()),
        (StepState::Pending, 1, None)
    );
    assert_eq!(s.failed_devices, ["amr-1"]);
    assert_eq!(next_pending(&t), Some(0));
    // Not onto the device that failed it.
    let again = apply(
        &mut t,
        Input::Dispatch {
            step: 0,
            device_id: "amr-1".into(),
        },
        3,
    );
    assert!(matches!(again, Err(TransitionError::FailedBefore { .. })));
    let tr = dispatch_to(&mut t, "amr-2", 3);
    assert!(matches!(&tr.events[0],
        EventKind::StepDispatched(r) if r.device_id == "amr-2" && r.attempt == 1));
    assert_eq!(t.steps[0].command_id("T1"), "T1#0.1");
    apply(&mut t, Input::Completed { step: 0 }, 4).unwrap();
    assert_eq!(t.state, TaskState::Completed);
}

#[test]
fn a_fallback_gives_up_after_its_re_plannings_or_when_no_untried_device_is_left() {
    let mut t = with_fallback(1);
    dispatch_to(&mut t, "amr-1", 2);
    fail(&mut t, "first");
    dispatch_to(&mut t, "amr-3", 3);
    let tr = fail(&mut t, "second");
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.reason.contains("second"), "{}", t.reason);
    assert!(tr.events.contains(&EventKind::TaskFailed {
        reason: t.reason.clone()
    }));

    // One candidate: nothing else to try, the task fails at once.
    let mut t = planned(1);
    t.steps[0].on_failure = OnFailure::RetryOtherDevice;
    t.steps[0].max_reassignments = 3;
    dispatch(&mut t, 0);
    fail(&mut t, "only one");
    assert_eq!(t.state, TaskState::Failed);
    assert_eq!(t.steps[0].device_id.as_deref(), Some("amr-1"));
}

#[test]
fn a_failure_while_a_cancel_is_pending_cancels_instead_of_re_planning() {
    let mut t = with_fallback(2);
    dispatch_to(&mut t, "amr-1", 2);
    apply(&mut t, Input::Cancel { reason: "r".into() }, 3).unwrap();
    fail(&mut t, "stopped badly");
    assert_eq!(t.state, TaskState::Cancelled);
    assert_eq!(t.steps[0].attempt, 0);
}

#[test]
fn a_task_not_started_by_its_deadline_expires_and_a_started_one_is_not_interrupted() {
    let mut t = planned(2);
    let tr = apply(&mut t, Input::Expire, 10).unwrap();
    assert_eq!(t.state, TaskState::Expired);
    assert!(t.state.is_terminal());
    assert!(t.steps.iter().all(|s| s.state == StepState::Cancelled));
    assert!(matches!(&tr.events[..], [EventKind::TaskExpired { .. }]));
    assert!(tr.effects.is_empty());

    let mut running = planned(2);
    dispatch(&mut running, 0);
    assert!(apply(&mut running, Input::Expire, 10).is_err());
    assert_eq!(running.state, TaskState::Running);
}

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
            device_id: "amr-1".into()
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
            device_id: "amr-1".into()
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

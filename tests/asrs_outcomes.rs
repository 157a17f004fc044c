//! What floorgate reports for an AS/RS command is what the AS/RS did with
//! it: per-command results read with the completed task id, the device's
//! fault kept apart from the last result, outcomes that ended while the
//! gateway was away asked of the AS/RS (or reported unknown), refusals
//! named through the profile's `[faults]`. Every test runs the real
//! protocol against the simulated AS/RS on 127.0.0.1:0 and compares with
//! the simulator's own record of each task id.

#[path = "common/asrs_site.rs"]
mod asrs_site;
mod common;

use std::time::Duration;

use asrs_site::*;
use asrs_site::{pick, put};
use common::*;
use floorgate::api::pb;
use floorgate::engine::adapter::{DeviceAdapter, DeviceReport};
use floorgate_sim::asrs::{SimOptions, TaskOutcome, FAULT_BIN_NOT_FOUND, FAULT_EMERGENCY_STOP};

/// The status method's table, removed from a method profile.
const TASK_STATUS: &str = "[task_status]\nobject = \"s=ASRS\"\nmethod = \"s=ASRS.GetTaskStatus\"\n";

fn without_task_status(text: String) -> String {
    assert!(
        text.contains(TASK_STATUS),
        "the method profile names GetTaskStatus"
    );
    text.replace(TASK_STATUS, "")
}

async fn a_queued_retrieve_the_asrs_finishes_with_a_failure_fails_the_step(profile: &str) {
    let asrs = sim("ASRS1", Duration::from_millis(1000), SimOptions::default()).await;
    asrs.with(|m| m.put_in_bin("ASRS1-01-02", tote("TOTE-9")));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(profile, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    wait_device(gw.addr(), "asrs-1", "online", |d| {
        d.availability == pb::DeviceAvailability::Online as i32
    })
    .await;
    // Another client's retrieval runs first; floorgate's waits behind it.
    let other = other_client(&asrs.url(), &p, METHOD).await;
    other_retrieve(&other, "OTHER-1", "ASRS1-01-02").await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    wait_record(&asrs, "P1#0", "queued", |r| {
        r.outcome == TaskOutcome::Queued
    })
    .await;
    // The bin goes away before the crane gets to it: the task ends failed.
    asrs.with(|m| m.remove_bin("ASRS1-01-01"));
    let t = wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.steps[0].reason.contains("2 (bin not found)"),
        "{:?}",
        t.steps[0].reason
    );
    asrs.with(|m| {
        let r = m.record("P1#0").unwrap();
        assert_eq!(
            (r.executions, r.outcome),
            (0, TaskOutcome::Failed(FAULT_BIN_NOT_FOUND))
        );
        assert_eq!(m.record("OTHER-1").unwrap().outcome, TaskOutcome::Done);
        assert_eq!(m.status().last_completed_task_id, "P1#0");
    });
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn method_style_a_queued_retrieve_the_asrs_finishes_with_a_failure_fails_the_step_with_the_fault_name(
) {
    a_queued_retrieve_the_asrs_finishes_with_a_failure_fails_the_step(METHOD).await;
}

#[tokio::test]
async fn handshake_style_a_queued_retrieve_the_asrs_finishes_with_a_failure_fails_the_step_with_the_fault_name(
) {
    a_queued_retrieve_the_asrs_finishes_with_a_failure_fails_the_step(HANDSHAKE).await;
}

#[tokio::test]
async fn an_idle_asrs_whose_fault_code_is_the_failed_last_result_is_online_and_takes_the_next_task()
{
    let asrs = sim("ASRS1", Duration::from_millis(1000), SimOptions::default()).await;
    asrs.with(|m| m.set_fault_code_is_last_result(true));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| {
        let line = "last_result = { node = \"s=ASRS.Status.LastResult\", type = \"UInt32\" }\n";
        assert!(t.contains(line));
        t.replace(line, "").replace(
            "fault_states = [\"Fault\"]",
            "fault_states = [\"Fault\"]\nfault_code_meaning = \"last_result\"",
        )
    });
    let gw = gateway(dir.path(), &site(&p, &[(METHOD, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    asrs.with(|m| m.remove_bin("ASRS1-01-01"));
    let t = wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.steps[0].reason.contains("2 (bin not found)"),
        "{:?}",
        t.steps[0].reason
    );
    // The PLC is idle and shows the failed command's code as FaultCode.
    asrs.with(|m| {
        let s = m.status();
        assert_eq!((s.state, s.fault_code), ("Idle", FAULT_BIN_NOT_FOUND));
    });
    let d = wait_device(gw.addr(), "asrs-1", "online", |d| {
        d.availability == pb::DeviceAvailability::Online as i32
    })
    .await;
    assert!(d.reason.is_empty(), "{d:?}");
    // No reset: the next task runs.
    submit(&mut c, put("S1", 1, "ASRS1-02-01")).await.unwrap();
    wait_for(&mut c, "S1", "completed", is(pb::TaskState::Completed)).await;
    asrs.with(|m| assert_eq!(m.bin("ASRS1-02-01"), Some(&tote("TOTE-2"))));
    gw.shutdown().await.unwrap();
}

/// Floorgate's retrieval ends while the gateway is down, then another
/// client's: `LastCompletedTaskId` names the other one at the restart, and
/// the AS/RS's own per-task record (the method profile's GetTaskStatus, the
/// handshake profile's completion log) says floorgate's completed.
async fn a_command_that_ended_while_the_gateway_was_down_is_resolved_from_the_asrs(profile: &str) {
    let asrs = sim("ASRS1", Duration::from_millis(800), SimOptions::default()).await;
    asrs.with(|m| m.put_in_bin("ASRS1-01-02", tote("TOTE-9")));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let text = site(&p, &[(profile, &asrs.url())], "");
    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    gw.shutdown().await.unwrap();

    // Meanwhile: floorgate's retrieval ends, then another client's.
    let other = other_client(&asrs.url(), &p, METHOD).await;
    other_retrieve(&other, "OTHER-1", "ASRS1-01-02").await;
    wait_record(&asrs, "OTHER-1", "done", |r| r.outcome == TaskOutcome::Done).await;
    asrs.with(|m| {
        assert_eq!(m.record("P1#0").unwrap().outcome, TaskOutcome::Done);
        assert_eq!(m.status().last_completed_task_id, "OTHER-1");
    });

    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    let t = wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(t.steps[0].state, pb::StepState::Completed as i32);
    asrs.with(|m| {
        let r = m.record("P1#0").unwrap();
        assert_eq!(r.executions, 1, "the re-send did not run it again");
        assert!(r.submissions >= 2, "{r:?}");
    });
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn method_style_a_command_that_ended_then_another_clients_while_the_gateway_was_down_is_completed_from_get_task_status(
) {
    a_command_that_ended_while_the_gateway_was_down_is_resolved_from_the_asrs(METHOD).await;
}

#[tokio::test]
async fn handshake_style_a_command_that_ended_then_another_clients_while_the_gateway_was_down_is_completed_from_the_completion_log(
) {
    a_command_that_ended_while_the_gateway_was_down_is_resolved_from_the_asrs(HANDSHAKE).await;
}

#[tokio::test]
async fn without_a_status_method_a_command_that_ended_while_the_gateway_was_away_is_reported_outcome_unknown_naming_the_device(
) {
    let asrs = sim("ASRS1", Duration::from_millis(800), SimOptions::default()).await;
    asrs.with(|m| m.put_in_bin("ASRS1-01-02", tote("TOTE-9")));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |name, t| {
        if name == METHOD {
            without_task_status(t)
        } else {
            t
        }
    });
    let text = site(&p, &[(METHOD, &asrs.url())], "");
    let command = retrieve_command("P1#0", "ASRS1-01-01");
    {
        let (a, mut rx) = adapter(dir.path(), &text);
        wait_online(&mut rx).await;
        a.send(command.clone()).await.unwrap();
        next_report(&mut rx, "an acknowledgement", |r| {
            matches!(r, DeviceReport::Acknowledged { .. }).then_some(())
        })
        .await;
        // The gateway goes away mid-retrieval.
    }
    let other = other_client(&asrs.url(), &p, METHOD).await;
    other_retrieve(&other, "OTHER-1", "ASRS1-01-02").await;
    wait_record(&asrs, "OTHER-1", "done", |r| r.outcome == TaskOutcome::Done).await;

    let (a, mut rx) = adapter(dir.path(), &text);
    wait_online(&mut rx).await;
    a.send(command.clone()).await.unwrap();
    let reason = next_report(&mut rx, "an outcome", |r| match r {
        DeviceReport::OutcomeUnknown { command_id, reason } if command_id == "P1#0" => {
            Some(Ok(reason.clone()))
        }
        DeviceReport::Completed { .. } | DeviceReport::Failed { .. } => Some(Err(r.clone())),
        _ => None,
    })
    .await
    .expect("never guessed");
    assert!(reason.contains("device asrs-1"), "{reason}");
    assert!(reason.contains("no per-task status"), "{reason}");
    asrs.with(|m| assert_eq!(m.record("P1#0").unwrap().executions, 1));
}

#[tokio::test]
async fn a_handshake_refusal_names_the_fault_from_the_profiles_faults_table() {
    let asrs = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(HANDSHAKE, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-02-02")).await.unwrap();
    let t = wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.steps[0]
            .reason
            .contains("retrieve rejected: 4 (bin empty): bin ASRS1-02-02 is empty"),
        "{:?}",
        t.steps[0].reason
    );
    asrs.with(|m| {
        assert_eq!(
            m.record("P1#0").map(|r| r.outcome),
            Some(TaskOutcome::Refused(floorgate_sim::asrs::REFUSED_BIN_EMPTY))
        )
    });
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_fault_raised_after_the_completion_leaves_the_step_completed_and_the_device_in_fault() {
    let asrs = sim("ASRS1", Duration::from_millis(300), SimOptions::default()).await;
    // An emergency stop in the scan that completes the retrieval: the
    // status shows the completion and the fault together.
    let h = asrs.handle();
    asrs.on_delivered(move |_, _| {
        h.with(|m| m.inject_fault(FAULT_EMERGENCY_STOP, "emergency stop pressed"));
        false
    });
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(METHOD, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    let d = wait_device(gw.addr(), "asrs-1", "fault", |d| {
        d.availability == pb::DeviceAvailability::Fault as i32
    })
    .await;
    assert!(d.reason.contains("9 (emergency stop)"), "{}", d.reason);
    asrs.with(|m| assert_eq!(m.record("P1#0").unwrap().outcome, TaskOutcome::Done));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_status_method_the_restarted_gateway_journals_step_outcome_unknown_and_guesses_nothing(
) {
    let asrs = sim("ASRS1", Duration::from_millis(800), SimOptions::default()).await;
    asrs.with(|m| m.put_in_bin("ASRS1-01-02", tote("TOTE-9")));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |name, t| {
        if name == METHOD {
            without_task_status(t)
        } else {
            t
        }
    });
    let text = site(&p, &[(METHOD, &asrs.url())], "");
    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    gw.shutdown().await.unwrap();

    let other = other_client(&asrs.url(), &p, METHOD).await;
    other_retrieve(&other, "OTHER-1", "ASRS1-01-02").await;
    wait_record(&asrs, "OTHER-1", "done", |r| r.outcome == TaskOutcome::Done).await;

    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    let t = wait_for(
        &mut c,
        "P1",
        "outcome unknown",
        step_is(pb::StepState::OutcomeUnknown),
    )
    .await;
    assert_ne!(t.state, pb::TaskState::Completed as i32);
    let events: Vec<_> = journal(&mut c, 0)
        .await
        .into_iter()
        .filter(|e| e.task_id == "P1")
        .collect();
    let kinds: Vec<_> = events.iter().map(kind_name).collect();
    assert!(!kinds.contains(&"step_completed"), "{kinds:?}");
    assert!(!kinds.contains(&"step_failed"), "{kinds:?}");
    let unknown = events
        .iter()
        .find_map(|e| match e.kind.as_ref() {
            Some(pb::event::Kind::StepOutcomeUnknown(s)) => Some(s.clone()),
            _ => None,
        })
        .expect("a step_outcome_unknown event");
    assert_eq!(unknown.device_id, "asrs-1");
    assert!(
        unknown.reason.contains("device asrs-1"),
        "{}",
        unknown.reason
    );
    gw.shutdown().await.unwrap();
}

//! The machine without a server: queue, results, faults, records.

use super::*;

fn tote(id: &str) -> Tote {
    Tote {
        id: id.into(),
        sku: "SKU-1".into(),
        quantity: 4,
    }
}

fn asrs() -> Asrs {
    let mut a = Asrs::demo(Duration::from_secs(2), Duration::from_secs(3));
    a.put_in_bin("ASRS1-01-01", tote("T-1"));
    a
}

#[test]
fn a_retrieval_moves_the_tote_to_the_output_port_after_the_retrieval_time() {
    let mut a = asrs();
    let t0 = Instant::now();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.tick(t0);
    assert_eq!(a.status().state, "Busy");
    a.tick(t0 + Duration::from_secs(1));
    assert_eq!(a.status().last_completed_task_id, "");
    a.tick(t0 + Duration::from_secs(2));
    assert_eq!(a.status().last_completed_task_id, "A");
    assert_eq!(a.at_port("OUT-1"), Some(&tote("T-1")));
    assert_eq!(a.bin("ASRS1-01-01"), None);
}

#[test]
fn a_repeated_task_id_gets_the_same_answer_and_runs_once() {
    let mut a = asrs();
    let t0 = Instant::now();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.tick(t0);
    a.tick(t0 + Duration::from_secs(2));
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.tick(t0 + Duration::from_secs(5));
    a.tick(t0 + Duration::from_secs(9));
    assert_eq!(a.executions("A"), 1);
    assert_eq!(a.submissions(), 2);
}

#[test]
fn refusals_name_the_bin_or_the_port() {
    let mut a = asrs();
    assert_eq!(
        a.submit("A", TaskKind::Retrieve, "ASRS9-01-01", "OUT-1"),
        Err("bin ASRS9-01-01 not found".into())
    );
    a.block_port("OUT-1", true);
    assert_eq!(
        a.submit("B", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1"),
        Err("port OUT-1 blocked".into())
    );
    assert_eq!(
        a.submit("C", TaskKind::Store, "ASRS1-01-01", "IN-1"),
        Err("bin ASRS1-01-01 is occupied".into())
    );
}

#[test]
fn a_cancelled_retrieval_leaves_the_tote_in_its_bin_and_the_crane_idle() {
    let mut a = asrs();
    let t0 = Instant::now();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.tick(t0);
    assert_eq!(a.status().state, "Busy");
    a.cancel("A").unwrap();
    a.cancel("A").unwrap();
    a.tick(t0 + Duration::from_secs(5));
    assert_eq!(a.status().state, "Idle");
    assert_eq!(a.status().last_completed_task_id, "");
    assert_eq!(a.bin("ASRS1-01-01"), Some(&tote("T-1")));
    assert_eq!(a.at_port("OUT-1"), None);
    assert_eq!(a.executions("A"), 0);
    // A re-sent command with the cancelled id does not run again.
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.tick(t0 + Duration::from_secs(9));
    assert_eq!(a.status().state, "Idle");
    assert_eq!(a.cancel("B"), Err("task B unknown".into()));
}

#[test]
fn a_completed_retrieval_cannot_be_cancelled_and_is_delivered_once() {
    let mut a = asrs();
    let t0 = Instant::now();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.tick(t0);
    a.tick(t0 + Duration::from_secs(2));
    assert_eq!(a.cancel("A"), Err("task A already completed".into()));
    assert_eq!(a.take_deliveries(), [("OUT-1".to_string(), tote("T-1"))]);
    assert!(a.take_deliveries().is_empty());
}

#[test]
fn a_stuck_crane_faults_with_its_code_until_reset() {
    let mut a = asrs();
    let t0 = Instant::now();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.jam_crane(true);
    a.tick(t0);
    a.tick(t0 + Duration::from_secs(2));
    let s = a.status();
    assert_eq!(
        (s.state, s.fault_code, s.current_task_id.as_str()),
        ("Fault", FAULT_CRANE_STUCK, "A")
    );
    assert_eq!(a.status().last_completed_task_id, "A");
    assert_eq!(a.status().last_result, FAULT_CRANE_STUCK);
    a.reset().unwrap();
    a.tick(t0 + Duration::from_secs(3));
    assert_eq!(a.status().state, "Idle");
}

#[test]
fn queued_tasks_run_in_order_and_each_keeps_its_own_result() {
    let mut a = asrs();
    a.put_in_bin("ASRS1-01-02", tote("T-2"));
    let t0 = Instant::now();
    a.submit("B", TaskKind::Retrieve, "ASRS1-01-02", "OUT-1")
        .unwrap();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.remove_bin("ASRS1-01-01");
    a.tick(t0);
    assert_eq!(a.task_status("A"), ("Queued", 0));
    a.tick(t0 + Duration::from_secs(2));
    a.take_at_port("OUT-1");
    a.tick(t0 + Duration::from_secs(4));
    let s = a.status();
    assert_eq!(
        (s.last_completed_task_id.as_str(), s.last_result, s.state),
        ("A", FAULT_BIN_NOT_FOUND, "Fault")
    );
    assert_eq!(a.task_status("B"), ("Done", 0));
    assert_eq!(a.task_status("A"), ("Failed", FAULT_BIN_NOT_FOUND));
    assert_eq!(a.task_status("Z"), ("Unknown", 0));
    assert_eq!(
        a.record("A").map(|r| (r.executions, r.outcome)),
        Some((0, TaskOutcome::Failed(FAULT_BIN_NOT_FOUND)))
    );
}

#[test]
fn with_the_fault_code_as_last_result_a_failed_task_leaves_the_machine_idle() {
    let mut a = asrs();
    a.set_fault_code_is_last_result(true);
    let t0 = Instant::now();
    a.submit("A", TaskKind::Retrieve, "ASRS1-01-01", "OUT-1")
        .unwrap();
    a.remove_bin("ASRS1-01-01");
    a.tick(t0);
    a.tick(t0 + Duration::from_secs(2));
    let s = a.status();
    assert_eq!((s.state, s.fault_code), ("Idle", FAULT_BIN_NOT_FOUND));
    a.inject_fault(FAULT_EMERGENCY_STOP, "emergency stop");
    assert_eq!(a.status().state, "Fault");
    a.refuse_reset(Some("key switch off".into()));
    assert_eq!(a.reset(), Err("key switch off".into()));
}

//! Conveyor transfers end to end: a task over gRPC, the engine, the Modbus
//! adapter's mailbox handshake, and the simulated PLC on 127.0.0.1:0.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floorgate::api::pb;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate::modbus::ModbusProfile;
use floorgate_sim::plc::{CommandOutcome, Machine, SimPlc, ToteLocation};

async fn plc(travel: Duration) -> SimPlc {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
    let profile = Arc::new(ModbusProfile::load(&path).unwrap());
    SimPlc::start(profile, Machine::conveyor(travel))
        .await
        .unwrap()
}

async fn gateway(data: &std::path::Path, plc: &SimPlc) -> Gateway {
    let addr = plc.addr().to_string();
    let cfg = demo_config_edited(data, &[], &[("127.0.0.1:5020", &addr)]);
    Gateway::start(cfg, RunOptions::default()).await.unwrap()
}

/// A PICK from the inbound conveyor port to the conveyor-fed station.
fn transfer(id: &str, tote: u32) -> pb::Task {
    pb::Task {
        task_id: id.into(),
        kind: pb::TaskKind::Pick as i32,
        sku: "SKU-1".into(),
        quantity: 1,
        load_id: format!("TOTE-{tote}"),
        source: "INBOUND-1".into(),
        destination: "PICK-3".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_pick_through_the_conveyor_completes_and_the_tote_moves_in_the_plc() {
    let plc = plc(Duration::from_millis(300)).await;
    plc.place_tote(7, 1);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 7)).await.unwrap();
    let t = wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(t.steps[0].device_id, "conv-1");
    assert_eq!(
        plc.tote_location(7),
        Some(ToteLocation::At(11)),
        "PICK-3 is station 11"
    );
    let kinds: Vec<_> = journal(&mut c, 0)
        .await
        .iter()
        .filter(|e| e.task_id == "T1")
        .map(kind_name)
        .collect();
    assert_eq!(
        kinds,
        [
            "task_accepted",
            "task_planned",
            "task_started",
            "step_dispatched",
            "step_acknowledged",
            "step_completed",
            "task_completed"
        ]
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_command_re_sent_after_a_gateway_restart_runs_once_on_the_plc() {
    let plc = plc(Duration::from_millis(1500)).await;
    plc.place_tote(8, 1);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 8)).await.unwrap();
    wait_for(
        &mut c,
        "T1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    // The PLC's own record names the sequence it took the transfer with.
    let taken = plc.records();
    assert_eq!(taken.len(), 1, "{taken:?}");
    let seq = taken[0].seq;
    // Stop mid-transfer; the command stays in the outbox.
    gw.shutdown().await.unwrap();

    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(
        plc.executions(seq),
        1,
        "the re-sent sequence must not run twice"
    );
    let records = plc.records();
    assert_eq!(
        records.len(),
        1,
        "the PLC took no other command: {records:?}"
    );
    assert_eq!(records[0].outcome, CommandOutcome::Done);
    assert_eq!(plc.tote_location(8), Some(ToteLocation::At(11)));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_jam_fails_the_step_with_the_profiles_reason_and_the_gateway_carries_on() {
    let plc = plc(Duration::from_secs(3)).await;
    plc.place_tote(9, 1);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 9)).await.unwrap();
    wait_for(
        &mut c,
        "T1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    plc.inject_jam();
    let t = wait_for(&mut c, "T1", "failed", is(pb::TaskState::Failed)).await;
    assert_eq!(t.steps[0].state, pb::StepState::Failed as i32);
    assert!(
        t.reason.contains("tote jammed on the conveyor"),
        "{}",
        t.reason
    );
    assert!(t.reason.contains("step 0 (transfer)"), "{}", t.reason);
    // The gateway still serves: the device is reported in fault, and a new
    // task is accepted.
    let mut d =
        pb::device_service_client::DeviceServiceClient::connect(format!("http://{}", gw.addr()))
            .await
            .unwrap();
    for _ in 0..100 {
        let dev = d
            .get_device(pb::GetDeviceRequest {
                device_id: "conv-1".into(),
            })
            .await
            .unwrap()
            .into_inner();
        if dev.availability == pb::DeviceAvailability::Fault as i32 {
            assert!(dev.reason.contains("jammed"), "{}", dev.reason);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(submit(&mut c, pick("AMR-TASK")).await.unwrap().created);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refusal_by_the_plc_fails_the_step_naming_the_plcs_reason() {
    let plc = plc(Duration::from_millis(100)).await;
    // No tote 5 at the infeed: the PLC refuses the transfer.
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 5)).await.unwrap();
    let t = wait_for(&mut c, "T1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.reason.contains("no tote at the source port"),
        "{}",
        t.reason
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dropped_plc_connection_comes_back_and_commands_resume_without_a_restart() {
    let plc = plc(Duration::from_millis(100)).await;
    plc.place_tote(1, 1);
    plc.place_tote(2, 1);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 1)).await.unwrap();
    wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    let before = plc.connections_total();
    assert!(plc.drop_connections() > 0);
    submit(&mut c, transfer("T2", 2)).await.unwrap();
    wait_for(&mut c, "T2", "completed", is(pb::TaskState::Completed)).await;
    assert!(plc.connections_total() > before, "the adapter reconnected");
    assert_eq!(plc.tote_location(2), Some(ToteLocation::At(11)));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_plc_that_stops_answering_after_the_write_holds_the_step_on_it_as_outcome_unknown() {
    let plc = plc(Duration::from_millis(100)).await;
    plc.place_tote(3, 1);
    plc.place_tote(4, 1);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 3)).await.unwrap();
    wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    // From now on every answer comes later than the profile's request
    // timeout: the mailbox write goes out, its answer never in time.
    plc.set_response_delay(Duration::from_secs(3));
    submit(&mut c, transfer("T2", 4)).await.unwrap();
    let t = wait_for(
        &mut c,
        "T2",
        "outcome unknown",
        step_is(pb::StepState::OutcomeUnknown),
    )
    .await;
    assert!(
        t.steps[0].reason.contains("may have taken the command"),
        "{}",
        t.steps[0].reason
    );
    // Never moved to another device, never called failed.
    assert_eq!(t.steps[0].device_id, "conv-1");
    assert_eq!(t.state, pb::TaskState::Running as i32);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_modbus_exception_fails_the_step_naming_the_exception() {
    let plc = plc(Duration::from_millis(100)).await;
    plc.place_tote(6, 1);
    // A site whose conveyor profile puts the mailbox where this PLC has no
    // registers: the PLC answers the write with an exception.
    let dir = tempfile::tempdir().unwrap();
    let devices = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices");
    for f in [
        "amr-vda5050.toml",
        "asrs-opcua-method.toml",
        "site-demo.toml",
    ] {
        std::fs::copy(devices.join(f), dir.path().join(f)).unwrap();
    }
    let profile = std::fs::read_to_string(devices.join("conveyor-modbus.toml"))
        .unwrap()
        .replace("address = 100\n", "address = 3100\n")
        .replace("address = 102\n", "address = 3102\n")
        .replace("address = 103\n", "address = 3103\n")
        .replace("code = 104\nseq = 105", "code = 3104\nseq = 3105");
    assert!(profile.contains("seq = 3105"));
    std::fs::write(dir.path().join("conveyor-modbus.toml"), profile).unwrap();
    let site_path = dir.path().join("site-demo.toml");
    let text = std::fs::read_to_string(&site_path)
        .unwrap()
        .replace("127.0.0.1:5020", &plc.addr().to_string());
    let data = dir.path().join("data").to_string_lossy().to_string();
    let cfg = floorgate::config::load_str(&site_path, &text, &|k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .unwrap();
    let gw = Gateway::start(cfg, RunOptions::default()).await.unwrap();
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 6)).await.unwrap();
    let t = wait_for(&mut c, "T1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.reason.contains("exception IllegalDataAddress"),
        "{}",
        t.reason
    );
    assert_eq!(
        plc.tote_location(6),
        Some(ToteLocation::At(1)),
        "nothing moved"
    );
    gw.shutdown().await.unwrap();
}

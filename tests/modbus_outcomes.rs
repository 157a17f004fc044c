//! What floorgate reports for a conveyor command is what the PLC did: each
//! scenario through the real gateway (gRPC, engine, Modbus adapter) against
//! the simulated PLC on 127.0.0.1:0, compared with the PLC's own record.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use floorgate::api::pb;
use floorgate::api::pb::device_service_client::DeviceServiceClient;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate::modbus::ModbusProfile;
use floorgate_sim::plc::{CommandOutcome, CommandRecord, Hmi, Machine, SimPlc, ToteLocation};
use tonic::transport::Channel;

fn profile() -> Arc<ModbusProfile> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
    Arc::new(ModbusProfile::load(&path).unwrap())
}

async fn plc(travel: Duration) -> SimPlc {
    SimPlc::start(profile(), Machine::conveyor(travel))
        .await
        .unwrap()
}

/// The demo site with conv-1 at the simulated PLC, plus `extra` lines in
/// conv-1's `[[devices]]` entry.
async fn gateway(data: &std::path::Path, plc: &SimPlc, extra: &str) -> Gateway {
    let addr = format!("address = \"{}\"\n{extra}", plc.addr());
    let cfg = demo_config_edited(data, &[], &[("address = \"127.0.0.1:5020\"\n", &addr)]);
    Gateway::start(cfg, RunOptions::default()).await.unwrap()
}

async fn devices(gw: &Gateway) -> DeviceServiceClient<Channel> {
    DeviceServiceClient::connect(format!("http://{}", gw.addr()))
        .await
        .unwrap()
}

async fn device(d: &mut DeviceServiceClient<Channel>, id: &str) -> pb::Device {
    d.get_device(pb::GetDeviceRequest {
        device_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Polls conv-1 until `done` holds (bounded: 20 s).
async fn wait_device(
    d: &mut DeviceServiceClient<Channel>,
    what: &str,
    done: impl Fn(&pb::Device) -> bool,
) -> pb::Device {
    for _ in 0..400 {
        let dev = device(d, "conv-1").await;
        if done(&dev) {
            return dev;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "conv-1 never became {what}: {:?}",
        device(d, "conv-1").await
    );
}

/// Polls `done` until it holds (bounded: 20 s).
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

fn availability(a: pb::DeviceAvailability) -> impl Fn(&pb::Device) -> bool {
    move |d| d.availability == a as i32
}

/// A PICK from the inbound conveyor port to the conveyor-fed station: one
/// transfer, port 1 → station 11.
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

/// The PLC's records of transfers of `tote`.
fn transfers_of(plc: &SimPlc, tote: u32) -> Vec<CommandRecord> {
    plc.records()
        .into_iter()
        .filter(|r| {
            r.command.as_deref() == Some("transfer") && r.args.get("tote") == Some(&f64::from(tote))
        })
        .collect()
}

#[tokio::test]
async fn an_estop_pressed_after_the_move_finished_leaves_the_step_and_task_completed() {
    let plc = plc(Duration::from_millis(300)).await;
    plc.place_tote(7, 1);
    // In the very scan the transfer finishes, the e-stop goes in: no poll
    // sees the finished command without the e-stop fault.
    plc.estop_after_next_completion();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 7)).await.unwrap();
    let t = wait_for(&mut c, "T1", "finished", |t| {
        t.state == pb::TaskState::Completed as i32 || t.state == pb::TaskState::Failed as i32
    })
    .await;
    assert_eq!(t.state, pb::TaskState::Completed as i32, "{}", t.reason);
    assert_eq!(t.steps[0].state, pb::StepState::Completed as i32);
    // The PLC agrees: the transfer was done, the tote is at the station, and
    // the conveyor is in e-stop now.
    let records = transfers_of(&plc, 7);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, CommandOutcome::Done);
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(11)));
    let mut d = devices(&gw).await;
    let dev = wait_device(
        &mut d,
        "in fault",
        availability(pb::DeviceAvailability::Fault),
    )
    .await;
    assert!(
        dev.reason.contains("emergency stop pressed"),
        "{}",
        dev.reason
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_hmi_writing_the_mailbox_during_the_move_is_refused_and_the_step_completes() {
    let plc = plc(Duration::from_millis(1_500)).await;
    plc.place_tote(8, 1);
    plc.place_tote(80, 2);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    let mut hmi = Hmi::connect(plc.addr(), profile()).await.unwrap();
    submit(&mut c, transfer("T1", 8)).await.unwrap();
    // The operator panel starts a transfer of its own while floorgate's runs.
    const HMI_SEQ: u16 = 60_001;
    let answer = hmi
        .write_while_running(
            "transfer",
            &[("tote", 80.0), ("from", 2.0), ("to", 12.0)],
            HMI_SEQ,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(answer.refused(HMI_SEQ), "{answer:?}");
    let t = wait_for(&mut c, "T1", "finished", |t| {
        t.state == pb::TaskState::Completed as i32 || t.state == pb::TaskState::Failed as i32
    })
    .await;
    assert_eq!(t.state, pb::TaskState::Completed as i32, "{}", t.reason);
    // The PLC's record: floorgate's transfer done, the HMI's refused busy.
    let hmi_records = plc.records_of(HMI_SEQ);
    assert_eq!(hmi_records.len(), 1, "{hmi_records:?}");
    assert_eq!(hmi_records[0].outcome, CommandOutcome::RefusedBusy);
    let ours = transfers_of(&plc, 8);
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].outcome, CommandOutcome::Done);
    assert_eq!(plc.tote_location(8), Some(ToteLocation::At(11)));
    assert_eq!(
        plc.tote_location(80),
        Some(ToteLocation::At(2)),
        "the HMI's tote stayed"
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_move_the_plc_ends_with_a_non_zero_result_fails_naming_the_profiles_fault() {
    let plc = plc(Duration::from_millis(200)).await;
    plc.place_tote(9, 1);
    let p = profile();
    plc.fail_next_with(p.fault_code("not_delivered").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 9)).await.unwrap();
    let t = wait_for(&mut c, "T1", "finished", |t| {
        t.state == pb::TaskState::Completed as i32 || t.state == pb::TaskState::Failed as i32
    })
    .await;
    assert_eq!(t.state, pb::TaskState::Failed as i32);
    assert_eq!(t.steps[0].state, pb::StepState::Failed as i32);
    assert!(
        t.reason
            .contains("the tote did not arrive at the destination"),
        "{}",
        t.reason
    );
    assert!(t.reason.contains("not_delivered"), "{}", t.reason);
    let records = transfers_of(&plc, 9);
    assert_eq!(
        records[0].outcome,
        CommandOutcome::Failed {
            code: p.fault_code("not_delivered").unwrap()
        }
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_plc_whose_last_command_failed_is_online_and_takes_the_next_task() {
    let plc = plc(Duration::from_millis(200)).await;
    plc.place_tote(10, 1);
    let p = profile();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    // No tote 5 at the infeed: the PLC refuses the transfer.
    submit(&mut c, transfer("T1", 5)).await.unwrap();
    let t = wait_for(&mut c, "T1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.reason.contains("no tote at the source port"),
        "{}",
        t.reason
    );
    // The PLC is idle; its fault register still holds the last command's
    // failure, which is the command's result and not a device fault.
    let s = plc.status();
    assert_eq!(s.state, p.state_code("idle").unwrap());
    assert_eq!(s.fault_code, p.fault_code("no_tote").unwrap());
    let mut d = devices(&gw).await;
    let dev = wait_device(
        &mut d,
        "online",
        availability(pb::DeviceAvailability::Online),
    )
    .await;
    assert!(dev.current.is_none(), "{dev:?}");

    submit(&mut c, transfer("T2", 10)).await.unwrap();
    let t = wait_for(&mut c, "T2", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(t.steps[0].device_id, "conv-1");
    assert_eq!(plc.tote_location(10), Some(ToteLocation::At(11)));
    assert_eq!(transfers_of(&plc, 10)[0].outcome, CommandOutcome::Done);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_status_polls_leave_the_plc_offline_with_the_device_unit_and_exception() {
    // The site says unit 3; the PLC answers unit 1 only.
    let plc = plc(Duration::from_millis(100)).await;
    plc.place_tote(11, 1);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "unit_id = 3\n").await;
    let mut d = devices(&gw).await;
    let dev = wait_device(&mut d, "refused", |d| d.reason.contains("refused")).await;
    assert_eq!(dev.availability, pb::DeviceAvailability::Offline as i32);
    assert_eq!(
        dev.reason,
        "conv-1 (unit 3): status poll refused: exception 0x0B gateway target device failed to respond"
    );
    // No work goes to it: the task waits, and the PLC took nothing.
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 11)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = get(&mut c, "T1").await;
    assert_eq!(t.state, pb::TaskState::Planned as i32, "{t:?}");
    assert!(plc.records().is_empty());

    // The PLC answers unit 3 from now on: it comes online and takes the task.
    plc.set_unit_id(3);
    wait_device(
        &mut d,
        "online",
        availability(pb::DeviceAvailability::Online),
    )
    .await;
    wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_unit_id_from_the_site_file_overrides_the_profiles() {
    let plc = plc(Duration::from_millis(100)).await;
    plc.set_unit_id(7);
    plc.place_tote(12, 1);
    assert_eq!(profile().unit_id, 1, "the profile says unit 1");
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "unit_id = 7\n").await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 12)).await.unwrap();
    wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(transfers_of(&plc, 12)[0].outcome, CommandOutcome::Done);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_command_re_sent_after_an_unconfirmed_write_runs_once_on_the_plc() {
    let plc = plc(Duration::from_millis(300)).await;
    plc.place_tote(13, 1);
    // The PLC takes the transfer, but its answer never reaches floorgate.
    plc.drop_reply_to_next_write();
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 13)).await.unwrap();
    let t = wait_for(&mut c, "T1", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(t.steps[0].device_id, "conv-1");
    let records = transfers_of(&plc, 13);
    assert_eq!(records.len(), 1, "one command on the PLC: {records:?}");
    assert_eq!(records[0].outcome, CommandOutcome::Done);
    assert_eq!(plc.executions(records[0].seq), 1);
    assert!(
        plc.connections_total() >= 2,
        "the write's connection was dropped"
    );
    assert_eq!(plc.tote_location(13), Some(ToteLocation::At(11)));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_move_that_ended_while_the_gateway_was_down_is_read_from_the_plcs_log_and_runs_once() {
    let plc = plc(Duration::from_millis(800)).await;
    plc.place_tote(14, 1);
    plc.place_tote(81, 2);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, transfer("T1", 14)).await.unwrap();
    wait_for(
        &mut c,
        "T1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    gw.shutdown().await.unwrap();

    // While the gateway is down the transfer finishes, and the HMI runs a
    // transfer of its own: done_seq and acked_seq now name the HMI's.
    until("floorgate's transfer done", || {
        transfers_of(&plc, 14).first().map(|r| &r.outcome) == Some(&CommandOutcome::Done)
    })
    .await;
    const HMI_SEQ: u16 = 60_002;
    let mut hmi = Hmi::connect(plc.addr(), profile()).await.unwrap();
    let answer = hmi
        .write_command(
            "transfer",
            &[("tote", 81.0), ("from", 2.0), ("to", 12.0)],
            HMI_SEQ,
        )
        .await
        .unwrap();
    assert!(!answer.refused(HMI_SEQ), "{answer:?}");
    until("the HMI's transfer done", || {
        plc.status().done_seq == HMI_SEQ
    })
    .await;

    // The restarted gateway re-sends its command with the same seq: the PLC
    // finds it in its completion log, runs nothing, and floorgate reads the
    // outcome from the log.
    let gw = gateway(dir.path(), &plc, "").await;
    let mut c = client(gw.addr()).await;
    let t = wait_for(&mut c, "T1", "finished", |t| {
        t.state == pb::TaskState::Completed as i32 || t.state == pb::TaskState::Failed as i32
    })
    .await;
    assert_eq!(t.state, pb::TaskState::Completed as i32, "{}", t.reason);
    let ours = transfers_of(&plc, 14);
    assert_eq!(ours.len(), 1, "ran once: {ours:?}");
    assert_eq!(plc.executions(ours[0].seq), 1);
    assert_eq!(plc.tote_location(14), Some(ToteLocation::At(11)));
    assert_eq!(plc.tote_location(81), Some(ToteLocation::At(12)));
    gw.shutdown().await.unwrap();
}

//! The simulated PLC over Modbus TCP with two masters on its mailbox, a
//! lost answer and a unit id it does not answer to; its own record says what
//! happened to each command.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use floorgate_protocols::modbus::ModbusProfile;
use floorgate_sim::plc::{CommandOutcome, Hmi, HmiAnswer, HmiError, Machine, SimPlc};
use tokio_modbus::ExceptionCode;

fn profile() -> Arc<ModbusProfile> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices/conveyor-modbus.toml");
    Arc::new(ModbusProfile::load(&path).unwrap())
}

const TRANSFER: [(&str, f64); 3] = [("tote", 7.0), ("from", 1.0), ("to", 11.0)];

#[tokio::test]
async fn a_second_master_is_refused_busy_per_seq_while_the_first_masters_command_runs() {
    let plc = SimPlc::start(profile(), Machine::conveyor(Duration::from_millis(400)))
        .await
        .unwrap();
    plc.place_tote(7, 1);
    plc.place_tote(8, 2);
    let mut gateway = Hmi::connect(plc.addr(), profile()).await.unwrap();
    let mut panel = Hmi::connect(plc.addr(), profile()).await.unwrap();
    let first = gateway
        .write_command("transfer", &TRANSFER, 5)
        .await
        .unwrap();
    assert!(!first.refused(5), "{first:?}");
    let second = panel
        .write_while_running(
            "transfer",
            &[("tote", 8.0), ("from", 2.0), ("to", 12.0)],
            900,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let busy = profile().fault_code("busy").unwrap();
    assert_eq!(
        second,
        HmiAnswer::Written {
            acked_seq: 900,
            done_seq: 900,
            result: busy,
            active_seq: 5
        }
    );
    // The first master's command still finishes OK.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while plc.status().done_seq != 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "seq 5 never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(plc.status().result, 0);
    let outcomes: Vec<_> = plc
        .records()
        .into_iter()
        .map(|r| (r.seq, r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (5, CommandOutcome::Done),
            (900, CommandOutcome::RefusedBusy)
        ]
    );
}

#[tokio::test]
async fn a_write_whose_answer_is_dropped_still_takes_the_command() {
    let plc = SimPlc::start(profile(), Machine::conveyor(Duration::from_secs(5)))
        .await
        .unwrap();
    plc.place_tote(7, 1);
    let mut master = Hmi::connect(plc.addr(), profile()).await.unwrap();
    plc.drop_reply_to_next_write();
    let lost = master.write_command("transfer", &TRANSFER, 3).await;
    assert!(matches!(lost, Err(HmiError::Io(_))), "{lost:?}");
    let records = plc.records_of(3);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, CommandOutcome::Running);
    // The same seq again, on a new connection, is a re-send: answered, not run.
    let mut again = Hmi::connect(plc.addr(), profile()).await.unwrap();
    let answer = again.write_command("transfer", &TRANSFER, 3).await.unwrap();
    assert!(
        matches!(answer, HmiAnswer::Written { active_seq: 3, .. }),
        "{answer:?}"
    );
    assert_eq!(plc.executions(3), 1);
}

#[tokio::test]
async fn a_request_for_another_unit_id_is_answered_with_exception_0x0b() {
    let plc = SimPlc::start(profile(), Machine::conveyor(Duration::from_millis(100)))
        .await
        .unwrap();
    plc.set_unit_id(3);
    let mut wrong = Hmi::connect(plc.addr(), profile()).await.unwrap();
    let answer = wrong.write_command("reset", &[], 1).await.unwrap();
    assert_eq!(
        answer,
        HmiAnswer::Exception(ExceptionCode::GatewayTargetDevice)
    );
    assert!(plc.records().is_empty());
}

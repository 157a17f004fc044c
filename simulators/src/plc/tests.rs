//! The PLC program driven by hand: no sockets, made-up instants.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floorgate_protocols::modbus::ModbusProfile;
use tokio_modbus::ExceptionCode;

use super::{Machine, PlcProgram, ToteLocation};

fn conveyor() -> (PlcProgram, Arc<ModbusProfile>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices/conveyor-modbus.toml");
    let profile = Arc::new(ModbusProfile::load(&path).unwrap());
    let mut plc = PlcProgram::new(
        Arc::clone(&profile),
        Machine::conveyor(Duration::from_secs(1)),
    )
    .unwrap();
    plc.place_tote(7, 1);
    (plc, profile)
}

fn mailbox(profile: &ModbusProfile, command: &str, args: &[(&str, f64)], seq: u16) -> Vec<u16> {
    let mut words = profile.encode_args(args).unwrap();
    words.push(profile.command_code(command).unwrap_or(99));
    words.push(seq);
    words
}

const TRANSFER: [(&str, f64); 3] = [("tote", 7.0), ("from", 1.0), ("to", 11.0)];

#[test]
fn a_transfer_is_acknowledged_at_once_and_done_after_the_travel_time() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    let s = plc.status();
    assert_eq!(
        (s.acked_seq, s.done_seq, s.state),
        (1, 0, p.state_code("running").unwrap())
    );
    assert_eq!(
        plc.tote_location(7),
        Some(ToteLocation::InTransit { from: 1, to: 11 })
    );

    plc.tick(t0 + Duration::from_millis(999));
    assert_eq!(plc.status().done_seq, 0);
    plc.tick(t0 + Duration::from_secs(1));
    let s = plc.status();
    assert_eq!(
        (s.done_seq, s.state, s.fault_code),
        (1, p.state_code("idle").unwrap(), 0)
    );
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(11)));
}

#[test]
fn a_repeated_sequence_is_not_run_again() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    let words = mailbox(&p, "transfer", &TRANSFER, 1);
    plc.write(t0, 100, &words).unwrap();
    plc.write(t0, 100, &words).unwrap();
    plc.tick(t0 + Duration::from_secs(2));
    plc.write(t0 + Duration::from_secs(2), 100, &words).unwrap();
    assert_eq!(plc.executions(1), 1);
    assert_eq!(plc.executions_total(), 1);
}

#[test]
fn an_unknown_code_is_refused_with_its_fault_code() {
    let (mut plc, p) = conveyor();
    plc.write(Instant::now(), 100, &mailbox(&p, "nope", &[], 4))
        .unwrap();
    let s = plc.status();
    assert_eq!(
        (s.acked_seq, s.done_seq, s.fault_code),
        (4, 4, p.fault_code("unknown_command").unwrap())
    );
    assert_eq!(plc.executions(4), 0);
}

#[test]
fn a_busy_plc_refuses_everything_but_stop() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    assert_eq!(
        plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 2)),
        Err(ExceptionCode::ServerDeviceBusy)
    );
    assert_eq!(plc.status().acked_seq, 1);
    plc.write(t0, 100, &mailbox(&p, "stop", &[], 3)).unwrap();
    assert_eq!(plc.status().done_seq, 3);
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(1)));
}

#[test]
fn addresses_outside_the_map_and_writes_outside_the_mailbox_are_illegal() {
    let (mut plc, _) = conveyor();
    let now = Instant::now();
    assert_eq!(
        plc.read(now, 200, 1),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        plc.read(now, 105, 2),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert!(plc.read(now, 0, 106).is_ok());
    assert_eq!(
        plc.write(now, 3, &[1]),
        Err(ExceptionCode::IllegalDataAddress)
    );
    assert_eq!(
        plc.write(now, 99, &[1, 2]),
        Err(ExceptionCode::IllegalDataAddress)
    );
}

#[test]
fn a_jam_holds_the_tote_until_stop_resets_the_conveyor() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    plc.inject_jam();
    plc.tick(t0 + Duration::from_secs(5));
    let s = plc.status();
    assert_eq!(
        (s.state, s.fault_code, s.done_seq),
        (
            p.state_code("fault").unwrap(),
            p.fault_code("jam").unwrap(),
            0
        )
    );
    assert_eq!(
        plc.tote_location(7),
        Some(ToteLocation::InTransit { from: 1, to: 11 })
    );

    plc.write(t0, 100, &mailbox(&p, "stop", &[], 2)).unwrap();
    let s = plc.status();
    assert_eq!(
        (s.state, s.fault_code, s.done_seq),
        (p.state_code("idle").unwrap(), 0, 2)
    );
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(1)));
}

#[test]
fn named_values_follow_the_machine() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    let speed = &p.registers["belt_speed"];
    let words = plc.read(t0, speed.address, 2).unwrap();
    assert_eq!(speed.decode(&words).unwrap(), 1.5);
    plc.tick(t0 + Duration::from_secs(1));
    let total = &p.registers["transfers_total"];
    assert_eq!(
        total
            .decode(
                &plc.read(t0 + Duration::from_secs(1), total.address, 2)
                    .unwrap()
            )
            .unwrap(),
        1.0
    );
}

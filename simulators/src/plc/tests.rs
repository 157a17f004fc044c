//! The PLC program driven by hand: no sockets, made-up instants.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floorgate_protocols::modbus::ModbusProfile;
use tokio_modbus::ExceptionCode;

use super::{CommandOutcome, Machine, PlcProgram, ToteLocation};

fn conveyor() -> (PlcProgram, Arc<ModbusProfile>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices/conveyor-modbus.toml");
    with_profile(ModbusProfile::load(&path).unwrap())
}

/// The shipped conveyor profile without the per-command result registers.
fn legacy_conveyor() -> (PlcProgram, Arc<ModbusProfile>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices/conveyor-modbus.toml");
    let mut profile = ModbusProfile::load(&path).unwrap();
    profile.status.result = None;
    profile.status.active_seq = None;
    with_profile(profile)
}

fn with_profile(profile: ModbusProfile) -> (PlcProgram, Arc<ModbusProfile>) {
    let profile = Arc::new(profile);
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
fn a_busy_plc_refuses_another_command_per_seq_and_keeps_the_running_one() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    // Another master's command: seen, refused as busy, the running command untouched.
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 900))
        .unwrap();
    let s = plc.status();
    assert_eq!(
        (s.acked_seq, s.done_seq, s.result, s.active_seq),
        (900, 900, p.fault_code("busy").unwrap(), 1)
    );
    // The running command's re-send is still a re-send.
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    plc.tick(t0 + Duration::from_secs(1));
    let s = plc.status();
    assert_eq!((s.done_seq, s.result, s.active_seq), (1, 0, 0));
    assert_eq!(plc.executions(1), 1);
    let outcomes: Vec<_> = plc
        .records()
        .iter()
        .map(|r| (r.seq, r.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, CommandOutcome::Done),
            (900, CommandOutcome::RefusedBusy)
        ]
    );
}

#[test]
fn a_fault_after_completion_leaves_the_commands_result_ok() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.estop_after_next_completion();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    plc.tick(t0 + Duration::from_secs(1));
    let s = plc.status();
    assert_eq!(
        (s.done_seq, s.result, s.state, s.fault_code),
        (
            1,
            0,
            p.state_code("estop").unwrap(),
            p.fault_code("estop").unwrap()
        )
    );
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(11)));
    assert_eq!(plc.records()[0].outcome, CommandOutcome::Done);
}

#[test]
fn an_injected_failure_ends_the_command_with_its_result_and_leaves_the_plc_idle() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    let code = p.fault_code("not_delivered").unwrap();
    plc.fail_next_with(code);
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    plc.tick(t0 + Duration::from_secs(1));
    let s = plc.status();
    assert_eq!(
        (s.done_seq, s.result, s.state),
        (1, code, p.state_code("idle").unwrap())
    );
    assert_eq!(plc.records()[0].outcome, CommandOutcome::Failed { code });
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(1)));
}

#[test]
fn reset_clears_a_latched_jam() {
    let (mut plc, p) = conveyor();
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 1))
        .unwrap();
    plc.inject_jam();
    assert_eq!(plc.status().state, p.state_code("fault").unwrap());
    plc.write(t0, 100, &mailbox(&p, "reset", &[], 2)).unwrap();
    let s = plc.status();
    assert_eq!(
        (s.state, s.fault_code, s.done_seq, s.result),
        (p.state_code("idle").unwrap(), 0, 2, 0)
    );
    assert_eq!(plc.tote_location(7), Some(ToteLocation::At(1)));
    let jam = p.fault_code("jam").unwrap();
    let outcomes: Vec<_> = plc
        .records()
        .iter()
        .map(|r| (r.seq, r.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, CommandOutcome::Failed { code: jam }),
            (2, CommandOutcome::Done)
        ]
    );
}

#[test]
fn a_busy_legacy_plc_refuses_everything_but_stop() {
    let (mut plc, p) = legacy_conveyor();
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
    // The jam ends the command with its result, and holds the machine in fault.
    assert_eq!(
        (s.state, s.fault_code, s.done_seq, s.result),
        (
            p.state_code("fault").unwrap(),
            p.fault_code("jam").unwrap(),
            1,
            p.fault_code("jam").unwrap()
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

#[test]
fn the_completion_log_keeps_an_end_another_command_replaced_and_a_re_send_of_it_runs_nothing() {
    let (mut plc, p) = conveyor();
    plc.place_tote(8, 2);
    let t0 = Instant::now();
    plc.write(t0, 100, &mailbox(&p, "transfer", &TRANSFER, 5))
        .unwrap();
    let t1 = t0 + Duration::from_secs(1);
    plc.tick(t1);
    let other = [("tote", 8.0), ("from", 2.0), ("to", 12.0)];
    plc.write(t1, 100, &mailbox(&p, "transfer", &other, 900))
        .unwrap();
    plc.tick(t1 + Duration::from_secs(1));
    assert_eq!(plc.status().done_seq, 900);
    assert_eq!(&plc.history()[..3], &[(900, 0), (5, 0), (0, 0)]);
    // Seq 5 again, after another command ended: still a re-send.
    plc.write(
        t1 + Duration::from_secs(1),
        100,
        &mailbox(&p, "transfer", &TRANSFER, 5),
    )
    .unwrap();
    assert_eq!(plc.executions(5), 1);
    assert_eq!(plc.status().done_seq, 900);
}

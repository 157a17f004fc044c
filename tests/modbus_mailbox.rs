//! The Modbus mailbox against the simulated conveyor/lift PLC, over loopback TCP.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use floorgate::modbus::profile::RegisterDef;
use floorgate::modbus::{
    ExceptionCode, LinkState, Mailbox, MailboxEvent, ModbusClient, ModbusError, ModbusProfile,
    PlcFault,
};
use floorgate_sim::plc::{Machine, RequestKind, SimPlc, ToteLocation};

const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test exceeded its time limit")
}

fn profile(file: &str) -> ModbusProfile {
    let mut p = ModbusProfile::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("devices")
            .join(file),
    )
    .unwrap();
    p.poll.period_ms = 10;
    p.timing.request_timeout_ms = 300;
    p.timing.ack_timeout_ms = 1_000;
    p.timing.ack_retry_ms = 5;
    p.timing.completion_timeout_ms = 5_000;
    p.timing.reconnect_min_ms = 20;
    p.timing.reconnect_max_ms = 200;
    p
}

struct Rig {
    plc: SimPlc,
    mailbox: Mailbox,
}

impl Rig {
    async fn conveyor(travel: Duration) -> Rig {
        Self::with(profile("conveyor-modbus.toml"), Machine::conveyor(travel)).await
    }

    async fn with(profile: ModbusProfile, machine: Machine) -> Rig {
        let profile = Arc::new(profile);
        let plc = SimPlc::start(Arc::clone(&profile), machine).await.unwrap();
        let client = ModbusClient::spawn(plc.addr(), profile);
        Rig {
            plc,
            mailbox: Mailbox::new(client),
        }
    }

    fn client(&self) -> &ModbusClient {
        self.mailbox.client()
    }

    async fn first_poll(&self) {
        let mut status = self.client().status();
        status.wait_for(|s| s.is_some()).await.unwrap();
    }
}

fn transfer(tote: u32, from: u16, to: u16) -> [(&'static str, f64); 3] {
    [
        ("tote", f64::from(tote)),
        ("from", f64::from(from)),
        ("to", f64::from(to)),
    ]
}

#[tokio::test]
async fn a_transfer_is_acknowledged_then_completes_and_the_tote_arrives() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_millis(100)).await;
        rig.plc.place_tote(7, 1);
        let mut events = rig.mailbox.subscribe();

        let acked = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(acked.seq, 1);
        assert_eq!(acked.handshake.acked_seq, 1);
        assert_eq!(
            rig.plc.tote_location(7),
            Some(ToteLocation::InTransit { from: 1, to: 11 })
        );

        let done = rig.mailbox.wait_completion(&acked).await.unwrap().unwrap();
        assert_eq!(done.seq, 1);
        assert_eq!(done.state_name.as_deref(), Some("idle"));
        assert_eq!(done.snapshot.values["transfers_total"], 1.0);
        assert_eq!(rig.plc.tote_location(7), Some(ToteLocation::At(11)));
        assert_eq!(rig.plc.executions(1), 1);

        assert_eq!(
            events.recv().await.unwrap(),
            MailboxEvent::Acked { seq: 1, code: 1 }
        );
        assert!(matches!(
            events.recv().await.unwrap(),
            MailboxEvent::Done { seq: 1, .. }
        ));
    })
    .await;
}

#[tokio::test]
async fn re_sending_the_same_seq_runs_the_command_once() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_millis(100)).await;
        rig.plc.place_tote(7, 1);

        let first = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 5)
            .await
            .unwrap()
            .unwrap();
        // A re-send while it runs (say, after a gateway restart) is acknowledged, not run.
        let again = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.seq, 5);
        rig.mailbox.wait_completion(&first).await.unwrap().unwrap();

        // And a re-send after it finished reports the finished command.
        let late = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 5)
            .await
            .unwrap()
            .unwrap();
        rig.mailbox.wait_completion(&late).await.unwrap().unwrap();

        assert_eq!(rig.plc.executions(5), 1);
        assert_eq!(rig.plc.tote_location(7), Some(ToteLocation::At(11)));
    })
    .await;
}

#[tokio::test]
async fn an_unknown_command_code_is_a_plc_fault_with_the_profile_reason() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_millis(50)).await;
        let outcome = rig.mailbox.send_command(99, &[], 3).await.unwrap();
        match outcome {
            Err(PlcFault::Fault {
                seq: 3,
                fault,
                refused: true,
                ..
            }) => {
                assert_eq!(fault.name.as_deref(), Some("unknown_command"));
                assert_eq!(fault.reason, "the PLC does not know this command code");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(rig.plc.executions(3), 0);
    })
    .await;
}

#[tokio::test]
async fn an_illegal_address_is_an_exception_not_a_transport_error() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_millis(50)).await;
        rig.first_poll().await;

        let read = rig.client().read_holding_registers(9_000, 2).await;
        assert!(
            matches!(read, Ok(Err(ExceptionCode::IllegalDataAddress))),
            "{read:?}"
        );
        // The status block belongs to the PLC.
        let write = rig.client().write_multiple_registers(0, &[1]).await;
        assert!(
            matches!(write, Ok(Err(ExceptionCode::IllegalDataAddress))),
            "{write:?}"
        );

        // A profile whose mailbox is not where the PLC has it gets the exception too.
        let mut wrong = profile("conveyor-modbus.toml");
        for arg in wrong.mailbox.args.values_mut() {
            arg.address += 400;
        }
        wrong.mailbox.code += 400;
        wrong.mailbox.seq += 400;
        let wrong_box = Mailbox::new(ModbusClient::spawn(rig.plc.addr(), Arc::new(wrong)));
        let sent = wrong_box.send_command(1, &[], 1).await;
        assert!(
            matches!(
                sent,
                Ok(Err(PlcFault::Exception {
                    op: "write",
                    exception: ExceptionCode::IllegalDataAddress
                }))
            ),
            "{sent:?}"
        );

        // The connection survived all of it.
        assert_eq!(
            *rig.client().link().borrow(),
            LinkState::Connected { generation: 1 }
        );
    })
    .await;
}

#[tokio::test]
async fn a_jam_is_a_fault_with_the_profile_reason_and_stop_resets_it() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_secs(2)).await;
        rig.plc.place_tote(7, 1);

        let acked = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 1)
            .await
            .unwrap()
            .unwrap();
        // The tote jams while it moves.
        rig.plc.inject_jam();
        match rig.mailbox.wait_completion(&acked).await.unwrap() {
            Err(PlcFault::Fault {
                seq: 1,
                fault,
                refused: false,
                state,
            }) => {
                assert_eq!(fault.name.as_deref(), Some("jam"));
                assert_eq!(fault.reason, "tote jammed on the conveyor");
                assert_eq!(state, rig.client().profile().state_code("fault").unwrap());
            }
            other => panic!("expected a jam, got {other:?}"),
        }

        // A jammed conveyor refuses work until it is reset with "stop".
        let refused = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 2)
            .await
            .unwrap();
        assert!(
            matches!(
                refused,
                Err(PlcFault::Fault {
                    seq: 2,
                    refused: true,
                    ..
                })
            ),
            "{refused:?}"
        );
        rig.mailbox
            .send_named("stop", &[], 3)
            .await
            .unwrap()
            .unwrap();
        let acked = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 4)
            .await
            .unwrap()
            .unwrap();
        rig.mailbox.wait_completion(&acked).await.unwrap().unwrap();
        assert_eq!(rig.plc.tote_location(7), Some(ToteLocation::At(11)));
    })
    .await;
}

#[tokio::test]
async fn a_second_command_while_one_runs_is_refused_per_seq_and_the_first_goes_on() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_millis(300)).await;
        rig.plc.place_tote(7, 1);
        rig.plc.place_tote(8, 2);
        let first = rig
            .mailbox
            .send_named("transfer", &transfer(7, 1, 11), 1)
            .await
            .unwrap()
            .unwrap();
        let busy = rig
            .mailbox
            .send_named("transfer", &transfer(8, 2, 12), 2)
            .await
            .unwrap();
        assert!(
            matches!(
                &busy,
                Err(PlcFault::Fault { seq: 2, refused: true, fault, .. }) if fault.name.as_deref() == Some("busy")
            ),
            "{busy:?}"
        );
        assert_eq!(rig.plc.executions(2), 0);
        // The refusal of seq 2 (acked_seq 2 now) does not end seq 1.
        rig.mailbox.wait_completion(&first).await.unwrap().unwrap();
        assert_eq!(rig.plc.tote_location(7), Some(ToteLocation::At(11)));
    })
    .await;
}

#[tokio::test]
async fn a_second_command_while_one_runs_is_refused_as_busy_by_a_legacy_plc() {
    bounded(async {
        let mut p = profile("conveyor-modbus.toml");
        p.status.result = None;
        p.status.active_seq = None;
        let rig = Rig::with(p, Machine::conveyor(Duration::from_secs(2))).await;
        rig.plc.place_tote(7, 1);
        rig.plc.place_tote(8, 2);
        rig.mailbox
            .send_named("transfer", &transfer(7, 1, 11), 1)
            .await
            .unwrap()
            .unwrap();
        let busy = rig
            .mailbox
            .send_named("transfer", &transfer(8, 2, 12), 2)
            .await
            .unwrap();
        assert!(
            matches!(
                busy,
                Err(PlcFault::Exception {
                    op: "write",
                    exception: ExceptionCode::ServerDeviceBusy
                })
            ),
            "{busy:?}"
        );
        assert_eq!(rig.plc.executions(2), 0);
    })
    .await;
}

#[tokio::test]
async fn an_emergency_stop_faults_the_running_command() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_secs(2)).await;
        rig.plc.place_tote(7, 1);
        let acked = rig.mailbox.send_named("transfer", &transfer(7, 1, 11), 1).await.unwrap().unwrap();
        rig.plc.set_estop(true);
        let outcome = rig.mailbox.wait_completion(&acked).await.unwrap();
        assert!(
            matches!(&outcome, Err(PlcFault::Fault { fault, .. }) if fault.reason == "emergency stop pressed"),
            "{outcome:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_lift_move_reaches_the_level() {
    bounded(async {
        let rig = Rig::with(profile("lift-modbus.toml"), Machine::lift(6, Duration::from_millis(30))).await;
        let acked = rig.mailbox.send_named("lift_move", &[("level", 3.0)], 1).await.unwrap().unwrap();
        let done = rig.mailbox.wait_completion(&acked).await.unwrap().unwrap();
        assert_eq!(done.snapshot.values["level"], 3.0);
        assert_eq!(done.snapshot.values["position"], 9_000.0);

        let out_of_range = rig.mailbox.send_named("lift_move", &[("level", 9.0)], 2).await.unwrap();
        assert!(
            matches!(&out_of_range, Err(PlcFault::Fault { fault, .. }) if fault.reason == "level out of range"),
            "{out_of_range:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dropped_connection_comes_back_and_polling_and_commands_resume() {
    bounded(async {
        let rig = Rig::conveyor(Duration::from_millis(50)).await;
        rig.plc.place_tote(7, 1);
        rig.first_poll().await;
        let mut link = rig.client().link();

        assert_eq!(rig.plc.drop_connections(), 1);
        link.wait_for(|l| matches!(l, LinkState::Connected { generation: 2.. }))
            .await
            .unwrap();

        // Polling resumed on the new connection.
        let mut status = rig.client().status();
        let before = status
            .borrow_and_update()
            .as_ref()
            .map_or(0, |s| s.poll_number);
        status
            .wait_for(|s| s.as_ref().is_some_and(|s| s.poll_number > before + 2))
            .await
            .unwrap();

        // And commands go through the same client; a transport error is retried with the
        // same seq, which the PLC runs once.
        let acked = loop {
            match rig
                .mailbox
                .send_named("transfer", &transfer(7, 1, 11), 1)
                .await
            {
                Ok(outcome) => break outcome.unwrap(),
                Err(
                    ModbusError::NotConnected(_)
                    | ModbusError::Timeout { .. }
                    | ModbusError::Transport(_)
                    | ModbusError::Unconfirmed { .. }
                    | ModbusError::AckTimeout { .. },
                ) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(other) => panic!("{other}"),
            }
        };
        rig.mailbox.wait_completion(&acked).await.unwrap().unwrap();
        assert_eq!(rig.plc.executions(1), 1);
        assert_eq!(rig.plc.connections_total(), 2);
    })
    .await;
}

#[tokio::test]
async fn commands_go_ahead_of_queued_status_polls() {
    bounded(async {
        // Spread the named registers so that one poll takes many reads.
        let mut p = profile("conveyor-modbus.toml");
        p.poll.max_gap = 0;
        p.poll.period_ms = 1;
        for i in 0..8u16 {
            p.registers.insert(
                format!("spare_{i}"),
                RegisterDef {
                    address: 130 + 10 * i,
                    ty: floorgate::modbus::codec::RegisterType::U16,
                    word_order: Default::default(),
                    scale: 1.0,
                    unit: None,
                },
            );
        }
        p.validate().unwrap();
        let reads_per_poll = floorgate::modbus::plan::poll_plan(&p).len();
        assert!(reads_per_poll >= 8, "{reads_per_poll}");

        let rig = Rig::with(p, Machine::conveyor(Duration::from_millis(50))).await;
        rig.plc.place_tote(7, 1);
        rig.plc.set_response_delay(Duration::from_millis(3));
        let mut status = rig.client().status();
        status
            .wait_for(|s| s.as_ref().is_some_and(|s| s.poll_number >= 2))
            .await
            .unwrap();

        // Polls run back to back now; the command is queued in the middle of one.
        let from = rig.plc.next_request_index();
        rig.mailbox
            .send_named("transfer", &transfer(7, 1, 11), 1)
            .await
            .unwrap()
            .unwrap();

        let log: Vec<_> = rig
            .plc
            .request_log()
            .into_iter()
            .filter(|r| r.index >= from)
            .collect();
        let write = log
            .iter()
            .position(|r| r.kind == RequestKind::Write)
            .expect("the mailbox write was logged");
        // At most the one read already on the wire precedes the write, not the rest of the poll.
        assert!(
            write <= 1,
            "{write} requests went ahead of the command: {log:?}"
        );
        // The ack read-back follows, again ahead of the poll (behind at most the read in flight).
        let (first, last) = rig.client().profile().status.span();
        let readback = log[write + 1..].iter().position(|r| {
            (r.kind, r.addr, r.count) == (RequestKind::Read, first, last - first + 1)
        });
        assert!(readback.is_some_and(|at| at <= 1), "{log:?}");
    })
    .await;
}

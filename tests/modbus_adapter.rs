//! The Modbus adapter on its own, against the simulated conveyor PLC on
//! 127.0.0.1:0: the three outcomes of a send, operator commands, and what
//! the PLC's own record says happened.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use floorgate::adapters::modbus::ModbusAdapter;
use floorgate::adapters::AdapterContext;
use floorgate::admin::{Metrics, Readiness};
use floorgate::engine::adapter::{
    Availability, Delivery, DeviceAdapter, DeviceCommand, DeviceOperation, DeviceReport, Endpoint,
    OperateError,
};
use floorgate::engine::model::DeviceKind;
use floorgate::engine::runtime::report_channel;
use floorgate::engine::site::{DeviceSpec, Site};
use floorgate::modbus::ModbusProfile;
use floorgate_sim::plc::{CommandOutcome, Machine, SimPlc, ToteLocation};
use tokio::sync::mpsc::UnboundedReceiver;

const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test exceeded its time limit")
}

fn devices() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("devices")
}

fn profile() -> Arc<ModbusProfile> {
    Arc::new(ModbusProfile::load(&devices().join("conveyor-modbus.toml")).unwrap())
}

struct Rig {
    plc: Option<SimPlc>,
    adapter: ModbusAdapter,
    reports: UnboundedReceiver<DeviceReport>,
    /// Every report received so far, in order.
    seen: Vec<DeviceReport>,
}

impl Rig {
    fn plc(&self) -> &SimPlc {
        self.plc.as_ref().expect("the PLC runs")
    }

    async fn start(travel: Duration) -> Rig {
        let plc = SimPlc::start(profile(), Machine::conveyor(travel))
            .await
            .unwrap();
        let mut site = Site::default();
        site.devices.insert(
            "conv-1".into(),
            DeviceSpec {
                id: "conv-1".into(),
                kind: DeviceKind::Conveyor,
                profile: "conveyor-modbus".into(),
                address: plc.addr().to_string(),
                unit_id: None,
            },
        );
        let (sink, reports) = report_channel();
        let cx = AdapterContext {
            sink,
            metrics: Metrics::new(),
            readiness: Readiness::new(),
        };
        let adapter = ModbusAdapter::start(&site, &devices(), &cx).unwrap();
        Rig {
            plc: Some(plc),
            adapter,
            reports,
            seen: Vec::new(),
        }
    }

    /// The first report since the start that `pick` selects.
    async fn report<T>(&mut self, pick: impl Fn(&DeviceReport) -> Option<T>) -> T {
        self.report_after(0, pick).await
    }

    /// The first report from position `from` on that `pick` selects.
    async fn report_after<T>(
        &mut self,
        from: usize,
        pick: impl Fn(&DeviceReport) -> Option<T>,
    ) -> T {
        let mut i = from;
        loop {
            while i < self.seen.len() {
                if let Some(t) = pick(&self.seen[i]) {
                    return t;
                }
                i += 1;
            }
            let r = self.reports.recv().await.expect("the adapter reports");
            self.seen.push(r);
        }
    }

    /// Position of the next report to arrive.
    fn mark(&self) -> usize {
        self.seen.len()
    }

    async fn availability(&mut self, wanted: Availability) -> String {
        self.availability_after(0, wanted).await
    }

    async fn availability_after(&mut self, from: usize, wanted: Availability) -> String {
        self.report_after(from, |r| match r {
            DeviceReport::Availability {
                availability,
                reason,
                ..
            } if *availability == wanted => Some(reason.clone()),
            _ => None,
        })
        .await
    }
}

fn endpoint(location: &str, plc_address: u16) -> Endpoint {
    Endpoint {
        location: location.into(),
        node: None,
        station_type: None,
        load_type: None,
        plc_address: Some(plc_address),
    }
}

fn transfer(id: &str, tote: u32, sequence: u32) -> DeviceCommand {
    DeviceCommand {
        command_id: id.into(),
        sequence,
        stop_sequence: sequence + 1,
        device_id: "conv-1".into(),
        device_kind: DeviceKind::Conveyor,
        command: "transfer".into(),
        from: endpoint("INBOUND-1", 1),
        to: endpoint("PICK-3", 11),
        load_id: format!("TOTE-{tote}"),
        params: BTreeMap::new(),
    }
}

#[tokio::test]
async fn operator_reset_clears_a_latched_jam_and_the_plc_comes_back_online() {
    bounded(async {
        let mut rig = Rig::start(Duration::from_secs(2)).await;
        rig.plc().place_tote(7, 1);
        rig.availability(Availability::Online).await;
        rig.adapter.send(transfer("T1#0", 7, 10)).await.unwrap();
        rig.plc().inject_jam();
        let reason = rig
            .report(|r| match r {
                DeviceReport::Failed { command_id, reason } if command_id == "T1#0" => {
                    Some(reason.clone())
                }
                _ => None,
            })
            .await;
        assert!(reason.contains("tote jammed on the conveyor"), "{reason}");
        let fault = rig.availability(Availability::Fault).await;
        assert!(fault.contains("jammed"), "{fault}");

        let mark = rig.mark();
        rig.adapter
            .operate("conv-1", DeviceOperation::Reset, 12)
            .await
            .unwrap();
        rig.availability_after(mark, Availability::Online).await;
        let reset = rig.plc().records_of(12);
        assert_eq!(reset.len(), 1, "{reset:?}");
        assert_eq!(reset[0].command.as_deref(), Some("reset"));
        assert_eq!(reset[0].outcome, CommandOutcome::Done);
        assert_eq!(rig.plc().tote_location(7), Some(ToteLocation::At(1)));
    })
    .await;
}

#[tokio::test]
async fn operator_reset_refused_by_the_plc_names_its_reason_and_pause_is_unsupported() {
    bounded(async {
        let mut rig = Rig::start(Duration::from_millis(100)).await;
        rig.availability(Availability::Online).await;
        rig.plc().set_estop(true);
        match rig
            .adapter
            .operate("conv-1", DeviceOperation::Reset, 3)
            .await
        {
            Err(OperateError::Refused(reason)) => {
                assert!(reason.contains("emergency stop pressed"), "{reason}");
                assert!(reason.contains("conv-1"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        for op in [DeviceOperation::Pause, DeviceOperation::Resume] {
            match rig.adapter.operate("conv-1", op, 4).await {
                Err(OperateError::Unsupported(m)) => {
                    assert!(m.contains("conv-1"), "{m}");
                    assert!(m.contains("conveyor-modbus"), "{m}");
                    assert!(m.contains(op.as_str()), "{m}");
                }
                other => panic!("expected unsupported, got {other:?}"),
            }
        }
        assert!(rig.plc().records_of(4).is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_unconfirmed_and_its_re_send_runs_once() {
    bounded(async {
        let mut rig = Rig::start(Duration::from_millis(300)).await;
        rig.plc().place_tote(7, 1);
        rig.availability(Availability::Online).await;
        rig.plc().drop_reply_to_next_write();
        let err = rig
            .adapter
            .send(transfer("T1#0", 7, 20))
            .await
            .expect_err("the answer never came");
        assert_eq!(err.delivery, Delivery::Unconfirmed, "{err}");
        // The PLC has it nonetheless.
        assert_eq!(rig.plc().records_of(20).len(), 1);

        // The engine re-sends with the same sequence until the PLC answers.
        let mut attempts = 0;
        while let Err(e) = rig.adapter.send(transfer("T1#0", 7, 20)).await {
            attempts += 1;
            assert!(attempts < 50, "the re-send never got through: {e}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rig.report(|r| {
            matches!(r, DeviceReport::Completed { command_id } if command_id == "T1#0")
                .then_some(())
        })
        .await;
        let records = rig.plc().records_of(20);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].outcome, CommandOutcome::Done);
        assert_eq!(rig.plc().executions(20), 1);
        assert_eq!(rig.plc().tote_location(7), Some(ToteLocation::At(11)));
    })
    .await;
}

#[tokio::test]
async fn a_send_to_an_unreachable_plc_is_not_sent() {
    bounded(async {
        let mut rig = Rig::start(Duration::from_millis(100)).await;
        rig.availability(Availability::Online).await;
        let addr = rig.plc().addr();
        let mark = rig.mark();
        drop(rig.plc.take());
        rig.availability_after(mark, Availability::Offline).await;
        // Nothing listens there now: every attempt fails before the write.
        let err = rig
            .adapter
            .send(transfer("T1#0", 7, 30))
            .await
            .expect_err("no PLC");
        assert_eq!(err.delivery, Delivery::NotSent, "{err} ({addr})");
    })
    .await;
}

//! One task, three protocols: the demo site's AS/RS (OPC-UA), conveyor
//! (Modbus TCP) and AMR (VDA 5050) serve a pick out of storage and the put
//! back, through gRPC, the engine and the three adapters, against the
//! simulators on 127.0.0.1 (OS-assigned ports; the MQTT broker is the
//! embedded one or `FLOORGATE_TEST_MQTT_BROKER`).
//!
//! The simulated site: the AS/RS output port `OUT-1` sits on conveyor port 2
//! and conveyor port 3 feeds its input port `IN-1`
//! (`floorgate_sim::handoff`). The AMR simulator does not hand totes to the
//! conveyor, so a test that needs the tote at the conveyor's return infeed
//! (13) puts it there itself.
//!
//! Cancel, per kind of step, ends with every device idle (GetDevice shows no
//! current command, the simulators show idle) and the tote in one place:
//! - during the AS/RS retrieval: still in its bin (the crane put it back);
//! - during the conveyor transfer: back at the transfer's source, conveyor
//!   port 2 (the AS/RS output port), the bin empty;
//! - during the AMR transport, before the pick: at the pickup, the
//!   conveyor's outfeed (14), never picked.
//!
//! The task reports where: the step that was cancelled and every step after
//! it are CANCELLED, every step before it COMPLETED.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use amr::{broker, device, fleet_config, get, is, wait_device, wait_task, Devices, Tasks};
use floorgate::api::pb;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate_sim::amr::Fleet;
use floorgate_sim::asrs::{Asrs, SimAsrs, SimOptions, Tote};
use floorgate_sim::handoff::{couple_asrs_and_conveyor, AsrsConveyorLink};
use floorgate_sim::plc::{Machine, SimPlc, ToteLocation};
use pb::{DeviceAvailability, StepState, TaskKind, TaskState};

/// The conveyor locations of the demo site.
const ASRS_OUT: u16 = 2;
const RETURN_INFEED: u16 = 13;
const OUTFEED: u16 = 14;

fn tote_1() -> Tote {
    Tote {
        id: "TOTE-1".into(),
        sku: "SKU-42".into(),
        quantity: 6,
    }
}

/// Runs a scenario with an upper bound, so a hang fails instead of blocking
/// the suite.
async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("scenario timed out");
}

/// How fast the simulated machines are.
struct Pace {
    crane: Duration,
    conveyor: Duration,
    amr_speed: f64,
    /// Where the one AMR starts.
    amr_at: &'static str,
}

impl Pace {
    fn quick() -> Pace {
        Pace {
            crane: Duration::from_millis(300),
            conveyor: Duration::from_millis(300),
            amr_speed: 25.0,
            amr_at: "N1",
        }
    }
}

/// The demo site on simulators: one AMR, the conveyor PLC, the AS/RS with
/// bins `ASRS1-01-01` … `ASRS1-02-03` and `TOTE-1` in `ASRS1-01-01`.
struct Floor {
    asrs: SimAsrs,
    plc: SimPlc,
    fleet: Option<Fleet>,
    gw: Option<Gateway>,
    tasks: Tasks,
    devices: Devices,
    _dir: tempfile::TempDir,
}

impl Floor {
    async fn start(manufacturer: &str, pace: Pace) -> Floor {
        let bins = (1..=2).flat_map(|a| (1..=3).map(move |l| format!("ASRS1-{a:02}-{l:02}")));
        let mut m = Asrs::new(bins, &["IN-1"], &["OUT-1"], pace.crane, pace.crane);
        m.put_in_bin("ASRS1-01-01", tote_1());
        let asrs = SimAsrs::start(m, SimOptions::default()).await.unwrap();
        let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
        let profile = Arc::new(floorgate::modbus::ModbusProfile::load(&profile).unwrap());
        let plc = SimPlc::start(profile, Machine::conveyor(pace.conveyor))
            .await
            .unwrap();
        couple_asrs_and_conveyor(
            &asrs,
            &plc,
            &AsrsConveyorLink {
                output_ports: vec![("OUT-1".into(), ASRS_OUT)],
                input_ports: vec![(3, "IN-1".into())],
            },
        );
        let mut fc = fleet_config(manufacturer, 1, &[pace.amr_at]);
        fc.speed = pace.amr_speed;
        let fleet = Fleet::spawn(&fc);
        let dir = tempfile::tempdir().unwrap();
        let cfg = site(dir.path(), manufacturer, plc.addr(), &asrs.url());
        let gw = Gateway::start(cfg, RunOptions::default()).await.unwrap();
        let url = format!("http://{}", gw.addr());
        let tasks = Tasks::connect(url.clone()).await.unwrap();
        let mut devices = Devices::connect(url).await.unwrap();
        for d in ["amr-1", "conv-1", "asrs-1"] {
            wait_device(&mut devices, d, DeviceAvailability::Online).await;
        }
        Floor {
            asrs,
            plc,
            fleet: Some(fleet),
            gw: Some(gw),
            tasks,
            devices,
            _dir: dir,
        }
    }

    async fn submit(&mut self, task: pb::Task) {
        common::submit(&mut self.tasks, task).await.unwrap();
    }

    async fn wait(&mut self, id: &str, state: TaskState) -> pb::Task {
        wait_task(&mut self.tasks, id, Duration::from_secs(30), is(state)).await
    }

    /// Waits until step `step` of the task is on its device (acknowledged).
    async fn wait_step_running(&mut self, id: &str, step: usize) {
        wait_task(&mut self.tasks, id, Duration::from_secs(30), |t| {
            t.steps[step].state == StepState::Acknowledged as i32
        })
        .await;
    }

    async fn cancel(&mut self, id: &str) -> pb::Task {
        self.tasks
            .cancel_task(pb::CancelTaskRequest {
                task_id: id.into(),
                reason: "order withdrawn".into(),
            })
            .await
            .unwrap();
        self.wait(id, TaskState::Cancelled).await
    }

    fn amr_counts(&self, tote: &str) -> (u32, u32) {
        let c = self.fleet.as_ref().unwrap().robot(0).counters();
        (
            c.picks.get(tote).copied().unwrap_or(0),
            c.drops.get(tote).copied().unwrap_or(0),
        )
    }

    /// Every device idle: the gateway has no command on any of them, the
    /// AS/RS crane, the conveyor and the robot stand still.
    async fn assert_all_idle(&mut self) {
        for d in ["asrs-1", "conv-1", "amr-1"] {
            let dev = device(&mut self.devices, d).await;
            assert!(dev.current.is_none(), "{d} still has a command: {dev:?}");
        }
        let s = self.asrs.with(|m| m.status());
        assert_eq!((s.state, s.current_task_id.as_str()), ("Idle", ""));
        // State register 1: 0 is idle in devices/conveyor-modbus.toml.
        assert_eq!(self.plc.status().state, 0, "the conveyor is idle");
        let busy = self
            .fleet
            .as_ref()
            .unwrap()
            .robot(0)
            .with_robot(|r| r.is_busy());
        assert!(!busy, "the robot has no order left");
    }

    async fn stop(mut self) {
        self.gw.take().unwrap().shutdown().await.unwrap();
        amr::stop_fleet(self.fleet.take().unwrap()).await;
    }
}

/// The demo site with one AMR of `manufacturer`, the PLC and the AS/RS at
/// the simulators' addresses, and the test broker.
fn site(
    data: &Path,
    manufacturer: &str,
    plc: SocketAddr,
    asrs: &str,
) -> floorgate::config::LoadedConfig {
    let path = common::demo_site();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for n in 1..=3 {
        let block = format!(
            "[[devices]]\nid = \"amr-{n}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"acme/AMR-000{n}\"\n\n"
        );
        assert!(text.contains(&block), "the demo site changed: {block}");
        let one = format!(
            "[[devices]]\nid = \"amr-1\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"{manufacturer}/AMR-000\"\n\n"
        );
        text = text.replace(&block, if n == 1 { &one } else { "" });
    }
    for (from, to) in [
        ("127.0.0.1:5020", plc.to_string()),
        ("opc.tcp://127.0.0.1:4840/", asrs.to_string()),
    ] {
        assert!(text.contains(from), "the demo site has no {from}");
        text = text.replace(from, &to);
    }
    let (host, port) = broker();
    // The demo's plaintext broker section gives way to the test broker's.
    let demo_mqtt = "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\nmqtt_plaintext = true\n";
    assert!(
        text.contains(demo_mqtt),
        "the demo site changed: {demo_mqtt}"
    );
    text = text.replace(demo_mqtt, "");
    text.push_str(&format!(
        "\n[gateway.mqtt]\nbroker = \"{host}:{port}\"\nmqtt_plaintext = true\nclient_id = \"floorgate-{manufacturer}\"\nkeep_alive_secs = 5\nresend_interval_ms = 200\n"
    ));
    let data = data.to_string_lossy().to_string();
    floorgate::config::load_str(&path, &text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .unwrap()
}

fn task(id: &str, kind: TaskKind, source: &str, destination: &str) -> pb::Task {
    pb::Task {
        task_id: id.into(),
        kind: kind as i32,
        sku: "SKU-42".into(),
        quantity: 1,
        load_id: "TOTE-1".into(),
        source: source.into(),
        destination: destination.into(),
        ..Default::default()
    }
}

fn steps(t: &pb::Task) -> Vec<(&str, &str, &str, &str)> {
    t.steps
        .iter()
        .map(|s| {
            (
                s.device_id.as_str(),
                s.command.as_str(),
                s.from.as_str(),
                s.to.as_str(),
            )
        })
        .collect()
}

fn step_states(t: &pb::Task) -> Vec<i32> {
    t.steps.iter().map(|s| s.state).collect()
}

const DONE: i32 = StepState::Completed as i32;
const CANCELLED: i32 = StepState::Cancelled as i32;

#[tokio::test]
async fn a_pick_runs_asrs_conveyor_and_amr_to_the_station_and_the_put_fills_the_bin_again() {
    bounded(90, async {
        let mut f = Floor::start("t-wf-chain", Pace::quick()).await;

        f.submit(task("P1", TaskKind::Pick, "ASRS1-01-01", "PICK-1"))
            .await;
        let t = f.wait("P1", TaskState::Completed).await;
        assert_eq!(
            steps(&t),
            [
                ("asrs-1", "retrieve", "ASRS1-01-01", "ASRS1-OUT"),
                ("conv-1", "transfer", "ASRS1-OUT", "CONV1-END"),
                ("amr-1", "transport", "CONV1-END", "PICK-1"),
            ]
        );
        // The tote's path: out of its bin (once), off the AS/RS port onto
        // the conveyor, along it to the outfeed, picked there and dropped
        // at the station by the robot.
        f.asrs.with(|m| {
            assert_eq!(m.bin("ASRS1-01-01"), None, "the bin was emptied");
            assert_eq!(m.executions("P1#0"), 1);
            assert_eq!(m.at_port("OUT-1"), None, "the conveyor took the tote");
        });
        assert_eq!(f.plc.tote_location(1), Some(ToteLocation::At(OUTFEED)));
        assert_eq!(f.plc.with_program(|p| p.executions_total()), 1);
        assert_eq!(f.amr_counts("TOTE-1"), (1, 1));
        let kinds: Vec<_> = common::journal(&mut f.tasks, 0)
            .await
            .iter()
            .filter(|e| e.task_id == "P1")
            .map(common::kind_name)
            .collect();
        let step = ["step_dispatched", "step_acknowledged", "step_completed"];
        let mut want = vec!["task_accepted", "task_planned", "task_started"];
        for _ in 0..3 {
            want.extend(step);
        }
        want.push("task_completed");
        assert_eq!(kinds, want);

        // The robot brings the tote to the return infeed, where the
        // conveyor finds it (placed here: the AMR simulator hands nothing
        // over).
        f.plc.place_tote(1, RETURN_INFEED);
        f.submit(task("S1", TaskKind::Put, "PICK-1", "ASRS1-02-03"))
            .await;
        let t = f.wait("S1", TaskState::Completed).await;
        assert_eq!(
            steps(&t),
            [
                ("amr-1", "transport", "PICK-1", "CONV1-RETURN"),
                ("conv-1", "transfer", "CONV1-RETURN", "ASRS1-IN"),
                ("asrs-1", "store", "ASRS1-IN", "ASRS1-02-03"),
            ]
        );
        f.asrs.with(|m| {
            assert_eq!(
                m.bin("ASRS1-02-03"),
                Some(&tote_1()),
                "the same tote, with what it held, is stored again"
            );
            assert_eq!(m.at_port("IN-1"), None);
            assert_eq!(m.executions("S1#2"), 1);
        });
        assert_eq!(f.plc.tote_location(1), None, "the AS/RS took it over");
        assert_eq!(f.amr_counts("TOTE-1"), (2, 2));
        f.assert_all_idle().await;
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn cancel_during_the_asrs_retrieval_cancels_it_on_the_asrs_and_the_tote_stays_in_its_bin() {
    bounded(60, async {
        let pace = Pace {
            crane: Duration::from_secs(4),
            ..Pace::quick()
        };
        let mut f = Floor::start("t-wf-cancel-asrs", pace).await;
        f.submit(task("P1", TaskKind::Pick, "ASRS1-01-01", "PICK-1"))
            .await;
        f.wait_step_running("P1", 0).await;
        let t = f.cancel("P1").await;
        assert_eq!(step_states(&t), [CANCELLED, CANCELLED, CANCELLED]);
        f.assert_all_idle().await;
        f.asrs.with(|m| {
            assert!(m.is_cancelled("P1#0"), "the AS/RS got the cancel");
            assert_eq!(m.bin("ASRS1-01-01"), Some(&tote_1()), "still in its bin");
            assert_eq!(m.at_port("OUT-1"), None);
            assert_eq!(m.executions("P1#0"), 0);
        });
        assert_eq!(f.plc.tote_location(1), None, "never on the conveyor");
        assert_eq!(f.plc.with_program(|p| p.executions_total()), 0);
        assert_eq!(f.amr_counts("TOTE-1"), (0, 0));
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn cancel_during_the_conveyor_transfer_stops_the_belt_and_the_tote_is_back_at_the_asrs_port()
{
    bounded(60, async {
        let pace = Pace {
            conveyor: Duration::from_secs(4),
            ..Pace::quick()
        };
        let mut f = Floor::start("t-wf-cancel-conv", pace).await;
        f.submit(task("P1", TaskKind::Pick, "ASRS1-01-01", "PICK-1"))
            .await;
        f.wait_step_running("P1", 1).await;
        assert!(
            matches!(
                f.plc.tote_location(1),
                Some(ToteLocation::InTransit { from: ASRS_OUT, .. })
            ),
            "on the belt"
        );
        let t = f.cancel("P1").await;
        assert_eq!(step_states(&t), [DONE, CANCELLED, CANCELLED]);
        f.assert_all_idle().await;
        assert_eq!(
            f.plc.tote_location(1),
            Some(ToteLocation::At(ASRS_OUT)),
            "back at the transfer's source, the AS/RS output port"
        );
        f.asrs.with(|m| {
            assert_eq!(m.bin("ASRS1-01-01"), None);
            assert_eq!(m.executions("P1#0"), 1);
        });
        assert_eq!(f.amr_counts("TOTE-1"), (0, 0));
        f.stop().await;
    })
    .await;
}

#[tokio::test]
async fn cancel_during_the_amr_transport_cancels_the_order_and_the_tote_waits_at_the_pickup() {
    bounded(60, async {
        // A slow robot far from the pickup (N7 → N3 is 20 m at 1 m/s).
        let pace = Pace {
            amr_speed: 1.0,
            amr_at: "N7",
            ..Pace::quick()
        };
        let mut f = Floor::start("t-wf-cancel-amr", pace).await;
        f.submit(task("P1", TaskKind::Pick, "ASRS1-01-01", "PICK-1"))
            .await;
        f.wait_step_running("P1", 2).await;
        let t = f.cancel("P1").await;
        assert_eq!(step_states(&t), [DONE, DONE, CANCELLED]);
        f.assert_all_idle().await;
        assert_eq!(f.amr_counts("TOTE-1"), (0, 0), "never picked");
        assert_eq!(
            f.plc.tote_location(1),
            Some(ToteLocation::At(OUTFEED)),
            "at the pickup, the conveyor's outfeed"
        );
        f.asrs.with(|m| assert_eq!(m.bin("ASRS1-01-01"), None));
        assert_eq!(
            get(&mut f.tasks, "P1").await.state,
            TaskState::Cancelled as i32
        );
        f.stop().await;
    })
    .await;
}

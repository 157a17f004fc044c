//! Operator commands on AMRs through the VDA 5050 adapter's `operate`: pause and resume
//! answered by the robot's `paused`, a stop with nothing to cancel, and commands the robot's
//! profile or factsheet lacks. Embedded broker, simulated fleet, real gateway.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::time::Duration;

use amr::*;
use floorgate::engine::adapter::{DeviceAdapter, DeviceOperation, OperateError};
use floorgate::vda5050::{ProtocolVersion, TopicKind};
use floorgate_sim::amr::{Fleet, Happened, INSTANT_ACTIONS};
use pb::{DeviceAvailability, TaskKind, TaskState};

use floorgate::api::pb;

const AMR: &str = "amr-vda5050";
const AMR_V30: &str = "amr-vda5050-v30";

async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("scenario timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_and_resuming_a_driving_robot_through_operate_shows_paused_in_its_state() {
    pause_and_resume("t-pause", ProtocolVersion::V2_1, AMR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_and_resuming_a_3_0_robot_through_operate_shows_paused_in_its_state() {
    pause_and_resume("t-pause-v3", ProtocolVersion::V3_0, AMR_V30).await;
}

/// A robot of `version` (profile `profile`) driving a task is paused and resumed through
/// `operate`; every message floorgate sends is valid in `version`.
async fn pause_and_resume(mfr: &str, version: ProtocolVersion, profile: &'static str) {
    bounded(40, async {
        let capture = Capture::start(mfr).await;
        let mut cfg = fleet_config(mfr, 1, &["N7"]);
        cfg.speed = 3.0;
        cfg.version = version;
        let fleet = Fleet::spawn(&cfg);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, profile))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let amr = gw.amr_adapter().expect("the site has AMRs");

        common::submit(&mut tasks, task("P1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        eventually("the robot drives", Duration::from_secs(10), || {
            robot.snapshot().driving
        })
        .await;

        amr.operate("amr-1", DeviceOperation::Pause, 11)
            .await
            .expect("paused");
        let s = robot.snapshot();
        assert_eq!(s.paused, Some(true));
        assert!(!s.driving);
        let (x, y) = robot.with_robot(|r| r.position());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(robot.with_robot(|r| r.position()), (x, y), "stands still");
        assert_eq!(
            common::get(&mut tasks, "P1").await.state,
            TaskState::Running as i32
        );

        amr.operate("amr-1", DeviceOperation::Resume, 12)
            .await
            .expect("resumed");
        assert_eq!(robot.snapshot().paused, Some(false));
        wait_task(
            &mut tasks,
            "P1",
            Duration::from_secs(20),
            is(TaskState::Completed),
        )
        .await;

        let record = robot.record();
        assert_eq!(
            record
                .iter()
                .filter(|h| matches!(h, Happened::Paused | Happened::Resumed))
                .collect::<Vec<_>>(),
            [&Happened::Paused, &Happened::Resumed],
            "each sent once and answered"
        );
        // The states on the wire said so, and what floorgate sent is valid VDA 5050.
        let paused_states = capture
            .all()
            .iter()
            .filter(|s| s.kind == Some(TopicKind::State) && s.json["paused"] == true)
            .count();
        assert!(paused_states >= 1);
        let schemas = Schemas::load(version);
        let sent = capture.sent_by_floorgate();
        for s in &sent {
            schemas.check(s);
        }
        let types: Vec<_> = sent
            .iter()
            .filter(|s| s.kind == Some(TopicKind::InstantActions))
            .map(|s| {
                s.json["actions"][0]["actionType"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(types.contains(&"startPause".to_string()), "{types:?}");
        assert!(types.contains(&"stopPause".to_string()), "{types:?}");

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_command_the_robots_factsheet_lacks_is_unsupported_and_nothing_is_sent() {
    bounded(40, async {
        let mfr = "t-nopause";
        let capture = Capture::start(mfr).await;
        let mut cfg = fleet_config(mfr, 1, &["N1"]);
        cfg.instant_actions = INSTANT_ACTIONS
            .iter()
            .filter(|a| **a != "startPause")
            .map(|a| a.to_string())
            .collect();
        let fleet = Fleet::spawn(&cfg);
        let dir = tempfile::tempdir().unwrap();
        let (gw, _tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let amr = gw.amr_adapter().expect("the site has AMRs");
        eventually("the factsheet arrives", Duration::from_secs(10), || {
            amr.has_factsheet("amr-1") == Some(true)
        })
        .await;

        match amr.operate("amr-1", DeviceOperation::Pause, 1).await {
            Err(OperateError::Unsupported(why)) => assert!(why.contains("startPause"), "{why}"),
            other => panic!("{other:?}"),
        }
        // VDA 5050 has no reset, and the profile names no vendor action for one.
        match amr.operate("amr-1", DeviceOperation::Reset, 2).await {
            Err(OperateError::Unsupported(why)) => assert!(why.contains("reset"), "{why}"),
            other => panic!("{other:?}"),
        }
        // What the factsheet declares still works.
        amr.operate("amr-1", DeviceOperation::Resume, 3)
            .await
            .expect("stopPause is declared");
        let sent: Vec<_> = capture
            .sent_by_floorgate()
            .into_iter()
            .filter(|s| s.kind == Some(TopicKind::InstantActions))
            .map(|s| {
                s.json["actions"][0]["actionType"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(!sent.contains(&"startPause".to_string()), "{sent:?}");

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_an_idle_robot_through_operate_is_done_when_it_has_nothing_to_cancel() {
    bounded(40, async {
        let mfr = "t-opstop";
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, _tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let amr = gw.amr_adapter().expect("the site has AMRs");

        amr.operate("amr-1", DeviceOperation::Stop, 5)
            .await
            .expect("nothing to cancel is done");
        assert!(robot
            .record()
            .iter()
            .any(|h| matches!(h, Happened::NothingToCancel { .. })));
        match amr.operate("amr-9", DeviceOperation::Pause, 6).await {
            Err(OperateError::Transport(e)) => assert_eq!(e.device_id, "amr-9"),
            other => panic!("{other:?}"),
        }

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_robot_driving_an_order_floorgate_did_not_give_cancels_that_order() {
    bounded(40, async {
        let mfr = "t-opcancel";
        let capture = Capture::start(mfr).await;
        let mut cfg = fleet_config(mfr, 1, &["N1"]);
        cfg.speed = 0.5;
        let fleet = Fleet::spawn(&cfg);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, _tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let amr = gw.amr_adapter().expect("the site has AMRs");

        // An order from somewhere else (a vendor tool at the vehicle, say).
        let order = serde_json::json!({
            "headerId": 1, "timestamp": "2024-01-01T00:00:00.00Z", "version": "2.1.0",
            "manufacturer": mfr, "serialNumber": "AMR-000",
            "orderId": "foreign-1", "orderUpdateId": 0,
            "nodes": [
                {"nodeId": "N1", "sequenceId": 0, "released": true, "actions": []},
                {"nodeId": "N2", "sequenceId": 2, "released": true, "actions": [],
                 "nodePosition": {"x": 5.0, "y": 0.0, "mapId": "map"}}
            ],
            "edges": [{"edgeId": "N1-N2", "sequenceId": 1, "released": true,
                       "startNodeId": "N1", "endNodeId": "N2", "actions": []}]
        });
        capture
            .client
            .publish(
                format!("uagv/v2/{mfr}/AMR-000/order"),
                rumqttc::QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&order).unwrap(),
            )
            .await
            .unwrap();
        eventually("the robot drives", Duration::from_secs(10), || {
            robot.snapshot().driving
        })
        .await;

        amr.operate("amr-1", DeviceOperation::Stop, 7)
            .await
            .expect("cancelled");
        let s = robot.snapshot();
        assert!(!s.driving && s.node_states.is_empty(), "{s:?}");
        assert!(
            robot.record().iter().any(|h| matches!(h,
                Happened::CancelAccepted { order_id, .. } if order_id == "foreign-1")),
            "{:?}",
            robot.record()
        );
        let schemas = Schemas::load(ProtocolVersion::V2_1);
        for s in capture
            .sent_by_floorgate()
            .iter()
            .filter(|s| s.kind == Some(TopicKind::InstantActions))
        {
            schemas.check(s);
        }

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

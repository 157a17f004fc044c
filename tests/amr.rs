//! AMR transports end to end: tasks over gRPC, the engine, the VDA 5050 adapter, an MQTT
//! broker (embedded, or `FLOORGATE_TEST_MQTT_BROKER=host:port`) and the simulated fleet.
//! Each test has its own manufacturer, so tests sharing the broker never hear each other.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use amr::*;
use floorgate::api::pb;
use floorgate::vda5050::{decode, validate_order, Order, ProtocolVersion, TopicKind};
use floorgate_sim::amr::Fleet;
use pb::{DeviceAvailability, StepState, TaskKind, TaskState};
use serde_json::{json, Value};

const AMR: &str = "amr-vda5050";
const AMR_V20: &str = "amr-vda5050-v20";
const AMR_V30: &str = "amr-vda5050-v30";

/// Runs a scenario with an upper bound, so a hang fails instead of blocking the suite.
async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("scenario timed out");
}

fn events_of(events: &[pb::Event], task: &str) -> Vec<&'static str> {
    events
        .iter()
        .filter(|e| e.task_id == task)
        .map(common::kind_name)
        .collect()
}

fn node_ids(order: &Value) -> Vec<&str> {
    order["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeId"].as_str().unwrap())
        .collect()
}

fn param<'a>(action: &'a Value, key: &str) -> Option<&'a Value> {
    action["actionParameters"]
        .as_array()?
        .iter()
        .find(|p| p["key"] == key)
        .map(|p| &p["value"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_completes_and_every_message_on_the_wire_is_valid_vda_5050() {
    bounded(40, async {
        let mfr = "t-transport";
        let capture = Capture::start(mfr).await;
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        common::submit(&mut tasks, task("T1", TaskKind::Pick, "BUF-07", "PICK-1"))
            .await
            .unwrap();
        let t = wait_task(
            &mut tasks,
            "T1",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(t.steps[0].device_id, "amr-1");
        assert_eq!(t.steps[0].state, StepState::Completed as i32);
        let journal = common::journal(&mut tasks, 0).await;
        assert_eq!(
            events_of(&journal, "T1"),
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
        let counters = fleet.robot(0).counters();
        assert_eq!(counters.picks.get("TOTE-T1"), Some(&1));
        assert_eq!(counters.drops.get("TOTE-T1"), Some(&1));

        // Everything floorgate published is valid 2.1, and the order is what the site says.
        let schemas = Schemas::load(ProtocolVersion::V2_1);
        let sent = capture.sent_by_floorgate();
        assert!(sent
            .iter()
            .any(|s| s.kind == Some(TopicKind::InstantActions)));
        for s in &sent {
            schemas.check(s);
        }
        let orders = capture.orders_to("AMR-000");
        assert!(!orders.is_empty());
        for o in &orders {
            let order: Order = decode(&serde_json::to_vec(o).unwrap()).unwrap();
            validate_order(&order).unwrap();
            for n in &order.nodes {
                assert_eq!(n.sequence_id % 2, 0, "node sequenceIds are even");
            }
            for e in &order.edges {
                assert_eq!(e.sequence_id % 2, 1, "edge sequenceIds are odd");
            }
        }
        let first = &orders[0];
        assert_eq!(first["orderUpdateId"], 0);
        assert_eq!(
            node_ids(first).first(),
            Some(&"N1"),
            "starts where the robot stands"
        );
        assert_eq!(node_ids(first).last(), Some(&"N6"), "ends at PICK-1's node");
        let nodes = first["nodes"].as_array().unwrap();
        assert!(
            nodes.iter().all(|n| n["released"] == true),
            "4 nodes fit the base"
        );
        let pick = &nodes[0]["actions"][0];
        assert_eq!(pick["actionType"], "pick");
        assert_eq!(pick["blockingType"], "HARD");
        assert_eq!(param(pick, "loadId"), Some(&json!("TOTE-T1")));
        assert_eq!(param(pick, "stationName"), Some(&json!("BUF-07")));
        assert_eq!(param(pick, "stationType"), Some(&json!("rack")));
        let drop = &nodes[nodes.len() - 1]["actions"][0];
        assert_eq!(drop["actionType"], "drop");
        assert_eq!(param(drop, "stationName"), Some(&json!("PICK-1")));
        assert_eq!(param(drop, "stationType"), Some(&json!("pick-station")));
        for n in &nodes[1..nodes.len() - 1] {
            assert_eq!(n["actions"], json!([]));
        }

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_longer_than_the_base_goes_out_as_base_and_horizon_and_is_extended_by_updates() {
    bounded(40, async {
        let mfr = "t-horizon";
        let capture = Capture::start(mfr).await;
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N7"]));
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        // N7 → N1 (pick) → N6 (drop): six nodes, the profile releases four at a time.
        common::submit(&mut tasks, task("H1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        wait_task(
            &mut tasks,
            "H1",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;

        let orders = capture.orders_to("AMR-000");
        // headerId rises by exactly one per message sent on the order topic, updates and
        // re-sends included.
        let headers: Vec<u64> = orders
            .iter()
            .map(|o| o["headerId"].as_u64().unwrap())
            .collect();
        assert!(
            headers.windows(2).all(|w| w[1] == w[0] + 1),
            "headerIds {headers:?}"
        );
        let first = &orders[0];
        assert_eq!(node_ids(first).len(), 6);
        let released: Vec<bool> = first["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["released"].as_bool().unwrap())
            .collect();
        assert_eq!(released, [true, true, true, true, false, false]);
        let mut updates: Vec<u64> = orders
            .iter()
            .map(|o| o["orderUpdateId"].as_u64().unwrap())
            .collect();
        updates.dedup();
        assert!(updates.len() >= 2, "extended by updates: {updates:?}");
        assert!(
            updates.windows(2).all(|w| w[0] < w[1]),
            "rising: {updates:?}"
        );
        let ids: BTreeSet<&str> = orders
            .iter()
            .map(|o| o["orderId"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "one orderId: {ids:?}");
        // An update starts at the stitching node, the last base node of the message before.
        let update = orders.iter().find(|o| o["orderUpdateId"] == 1).unwrap();
        assert_eq!(update["nodes"][0]["nodeId"], first["nodes"][3]["nodeId"]);
        assert_eq!(update["nodes"][0]["sequenceId"], 6);
        let counters = fleet.robot(0).counters();
        assert_eq!(counters.orders_rejected, 0);
        assert_eq!(counters.picks.get("TOTE-H1"), Some(&1));
        assert_eq!(counters.drops.get("TOTE-H1"), Some(&1));

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_driving_robot_sends_cancel_order_and_no_new_order_before_it_is_finished() {
    cancel_a_driving_robot("t-cancel", ProtocolVersion::V2_1, AMR).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_driving_3_0_robot_waits_for_the_cancel_among_its_instant_action_states() {
    cancel_a_driving_robot("t-cancel-v3", ProtocolVersion::V3_0, AMR_V30).await;
}

/// A robot of `version` (profile `profile`) is cancelled while it drives; the next task's
/// order goes out only after the cancel is FINISHED, and every message on the wire is valid
/// in `version`.
async fn cancel_a_driving_robot(mfr: &str, version: ProtocolVersion, profile: &'static str) {
    bounded(40, async {
        let capture = Capture::start(mfr).await;
        let mut cfg = fleet_config(mfr, 1, &["N7"]);
        cfg.speed = 2.0;
        cfg.version = version;
        let fleet = Fleet::spawn(&cfg);
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, profile))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        common::submit(&mut tasks, task("C1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        let driving = |t: &pb::Task| t.steps[0].state == StepState::Acknowledged as i32;
        wait_task(&mut tasks, "C1", Duration::from_secs(10), driving).await;
        let robot = fleet.robot(0).clone();
        eventually("the robot drives", Duration::from_secs(5), || {
            robot.snapshot().driving
        })
        .await;

        tasks
            .cancel_task(pb::CancelTaskRequest {
                task_id: "C1".into(),
                reason: "withdrawn".into(),
            })
            .await
            .unwrap();
        // Another task for the only robot, while the cancel may still be running.
        common::submit(&mut tasks, task("C2", TaskKind::Pick, "BUF-02", "PICK-2"))
            .await
            .unwrap();
        let t = wait_task(
            &mut tasks,
            "C1",
            Duration::from_secs(10),
            is(TaskState::Cancelled),
        )
        .await;
        assert_eq!(t.steps[0].state, StepState::Cancelled as i32);
        wait_task(
            &mut tasks,
            "C2",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(
            robot.counters().picks.get("TOTE-C1"),
            None,
            "cancelled before the pick"
        );

        // On the wire: cancelOrder, then the state showing it FINISHED, then C2's order.
        let all = capture.all();
        let cancel_at = all
            .iter()
            .position(|s| {
                s.kind == Some(TopicKind::InstantActions)
                    && s.json["actions"][0]["actionType"] == "cancelOrder"
            })
            .expect("a cancelOrder was sent");
        let cancel_id = all[cancel_at].json["actions"][0]["actionId"].clone();
        // 3.0 reports instant actions apart from the order's.
        let instant_states = if version.is_v3() {
            "instantActionStates"
        } else {
            "actionStates"
        };
        let finished_at = all
            .iter()
            .position(|s| {
                s.kind == Some(TopicKind::State)
                    && s.json[instant_states].as_array().is_some_and(|a| {
                        a.iter()
                            .any(|a| a["actionId"] == cancel_id && a["actionStatus"] == "FINISHED")
                    })
            })
            .expect("the cancel finished");
        let c2_at = all
            .iter()
            .position(|s| {
                s.kind == Some(TopicKind::Order)
                    && s.json["orderId"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("C2#"))
            })
            .expect("C2's order");
        assert!(
            cancel_at < finished_at && finished_at < c2_at,
            "{cancel_at} {finished_at} {c2_at}"
        );
        // The robot stopped between two nodes; C2's order starts at the node it passed last
        // (or, should its state have shown it clear of that node first, at the end of the
        // lane it stopped in: C1's next node), with an allowed deviation that covers where
        // it stands (VDA 5050 2.1 6.6.3.1), and the robot took it.
        let stopped = &all[finished_at].json;
        let first = &all[c2_at].json["nodes"][0];
        let c1_nodes: Vec<&Value> = all
            .iter()
            .filter(|s| {
                s.kind == Some(TopicKind::Order)
                    && s.json["orderId"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("C1#"))
            })
            .flat_map(|s| s.json["nodes"].as_array().into_iter().flatten())
            .map(|n| &n["nodeId"])
            .collect();
        let after_last = c1_nodes
            .windows(2)
            .find(|w| *w[0] == stopped["lastNodeId"])
            .map(|w| w[1]);
        assert!(
            first["nodeId"] == stopped["lastNodeId"] || Some(&first["nodeId"]) == after_last,
            "C2 starts at {} after the robot stopped past {}",
            first["nodeId"],
            stopped["lastNodeId"]
        );
        let (nx, ny) = (
            first["nodePosition"]["x"].as_f64().unwrap(),
            first["nodePosition"]["y"].as_f64().unwrap(),
        );
        let position = if version.is_v3() {
            "mobileRobotPosition"
        } else {
            "agvPosition"
        };
        let (rx, ry) = (
            stopped[position]["x"].as_f64().unwrap(),
            stopped[position]["y"].as_f64().unwrap(),
        );
        // A radius in 2.x, an ellipse {a, b, theta} in 3.0.
        let deviation = &first["nodePosition"]["allowedDeviationXY"];
        let allowed = deviation.as_f64().unwrap_or_else(|| {
            deviation["a"]
                .as_f64()
                .unwrap()
                .min(deviation["b"].as_f64().unwrap())
        });
        assert!(
            allowed >= (nx - rx).hypot(ny - ry),
            "deviation {allowed} m, robot {:.2} m from {}",
            (nx - rx).hypot(ny - ry),
            first["nodeId"]
        );
        assert_eq!(robot.counters().orders_rejected, 0);
        let schemas = Schemas::load(version);
        for s in &all {
            schemas.check(s);
        }

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robots_last_will_takes_it_out_of_dispatch_until_it_reconnects() {
    bounded(70, async {
        let mfr = "t-lastwill";
        // amr-1 waits next to the buffer (N4, 5 m from N1), amr-2 farther (N3, 10 m). An
        // offline robot keeps its node under traffic control, so amr-2 drives around N4.
        let fleet = Fleet::spawn(&fleet_config(mfr, 2, &["N4", "N3"]));
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(2, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        wait_device(&mut devices, "amr-2", DeviceAvailability::Online).await;

        fleet.robot(0).disconnect();
        wait_device(&mut devices, "amr-1", DeviceAvailability::Offline).await;
        assert!(device(&mut devices, "amr-1")
            .await
            .reason
            .contains("last will"));
        common::submit(&mut tasks, task("W1", TaskKind::Pick, "BUF-03", "PICK-1"))
            .await
            .unwrap();
        // amr-2's shortest way on from the buffer may run through N4, where the offline
        // amr-1 stands: it waits there until traffic control re-plans it around (the demo
        // site's `replan_after_secs`).
        let t = wait_task(
            &mut tasks,
            "W1",
            Duration::from_secs(30),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(
            t.steps[0].device_id, "amr-2",
            "the nearest robot is offline"
        );

        fleet.robot(0).reconnect();
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        common::submit(&mut tasks, task("W2", TaskKind::Pick, "BUF-04", "PICK-2"))
            .await
            .unwrap();
        let t = wait_task(
            &mut tasks,
            "W2",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(
            t.steps[0].device_id, "amr-1",
            "back, and nearest to the buffer"
        );

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restarted_mid_order_adopts_the_robots_order_and_the_pick_happens_once() {
    bounded(50, async {
        let mfr = "t-restart";
        let mut cfg = fleet_config(mfr, 1, &["N7"]);
        cfg.speed = 10.0;
        cfg.handling_s = 1.0;
        let fleet = Fleet::spawn(&cfg);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        common::submit(&mut tasks, task("R1", TaskKind::Pick, "BUF-05", "PICK-1"))
            .await
            .unwrap();
        // Stop the gateway while the robot is picking.
        let picking = || {
            robot.with_robot(|r| r.action_status("R1#0/pick"))
                == Some(floorgate::vda5050::ActionStatus::Running)
        };
        eventually("the robot picks", Duration::from_secs(10), picking).await;
        drop((tasks, devices));
        gw.shutdown().await.unwrap();

        let (gw, mut tasks, _devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_task(
            &mut tasks,
            "R1",
            Duration::from_secs(20),
            is(TaskState::Completed),
        )
        .await;
        let counters = robot.counters();
        assert_eq!(counters.picks.get("TOTE-R1"), Some(&1), "{counters:?}");
        assert_eq!(counters.drops.get("TOTE-R1"), Some(&1), "{counters:?}");
        assert_eq!(counters.orders_rejected, 0, "{counters:?}");

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_robot_messages_are_counted_and_ignored_and_the_fleet_carries_on() {
    bounded(40, async {
        let mfr = "t-malformed";
        let fleet = Fleet::spawn(&fleet_config(mfr, 2, &["N8", "N1"]));
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(2, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        wait_device(&mut devices, "amr-2", DeviceAvailability::Online).await;

        // Someone publishes garbage on amr-1's state topic.
        let capture = Capture::start(mfr).await;
        let topic = format!("uagv/v2/{mfr}/AMR-000/state");
        let mut valid = serde_json::to_value(fleet.robot(0).snapshot()).unwrap();
        let mut wrong_type = valid.clone();
        wrong_type["batteryState"]["batteryCharge"] = json!("full");
        valid["operatingMode"] = json!("FLYING");
        let bad: [Vec<u8>; 3] = [
            b"{\"headerId\": 1, \"timestamp\": ".to_vec(),
            serde_json::to_vec(&wrong_type).unwrap(),
            serde_json::to_vec(&valid).unwrap(),
        ];
        for payload in bad {
            capture
                .client
                .publish(&topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
        let amr = gw.amr_adapter().expect("the site has AMRs");
        eventually("three messages counted", Duration::from_secs(5), || {
            amr.malformed_messages_from("amr-1") == Some(3)
        })
        .await;
        assert_eq!(amr.malformed_messages_from("amr-2"), Some(0));
        assert_eq!(amr.malformed_messages(), 3);
        assert_eq!(
            device(&mut devices, "amr-1").await.availability,
            DeviceAvailability::Online as i32
        );

        common::submit(&mut tasks, task("M1", TaskKind::Pick, "BUF-06", "PICK-1"))
            .await
            .unwrap();
        let t = wait_task(
            &mut tasks,
            "M1",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(t.steps[0].device_id, "amr-2");

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_speaking_2_0_and_2_1_both_complete_transports() {
    bounded(40, async {
        let mfr = "t-versions";
        let capture = Capture::start(mfr).await;
        let v21 = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let mut cfg = fleet_config(mfr, 1, &["N1"]);
        cfg.version = ProtocolVersion::V2_0;
        cfg.serial_prefix = "AMR20-".into();
        let v20 = Fleet::spawn(&cfg);
        let site_amrs = vec![
            Amr {
                profile: AMR,
                serial: "AMR-000".into(),
            },
            Amr {
                profile: AMR_V20,
                serial: "AMR20-000".into(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &site_amrs)).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        wait_device(&mut devices, "amr-2", DeviceAvailability::Online).await;

        for (id, to) in [("V1", "PICK-1"), ("V2", "PICK-2")] {
            common::submit(&mut tasks, task(id, TaskKind::Pick, "BUF-08", to))
                .await
                .unwrap();
        }
        let mut used = BTreeSet::new();
        for id in ["V1", "V2"] {
            let t = wait_task(
                &mut tasks,
                id,
                Duration::from_secs(15),
                is(TaskState::Completed),
            )
            .await;
            used.insert(t.steps[0].device_id.clone());
        }
        assert_eq!(
            used,
            BTreeSet::from(["amr-1".to_string(), "amr-2".to_string()])
        );

        let (s20, s21) = (
            Schemas::load(ProtocolVersion::V2_0),
            Schemas::load(ProtocolVersion::V2_1),
        );
        let sent = capture.sent_by_floorgate();
        for s in &sent {
            match s.serial.as_str() {
                "AMR-000" => s21.check(s),
                "AMR20-000" => s20.check(s),
                other => panic!("a message to {other}"),
            }
        }
        assert!(sent
            .iter()
            .any(|s| s.serial == "AMR20-000" && s.kind == Some(TopicKind::Order)));

        gw.shutdown().await.unwrap();
        stop_fleet(v21).await;
        stop_fleet(v20).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_speaking_2_0_2_1_and_3_0_side_by_side_each_complete_a_transport_in_their_own_version(
) {
    bounded(40, async {
        let mfr = "t-three-versions";
        let capture = Capture::start(mfr).await;
        let mut fleets = Vec::new();
        for (version, prefix) in [
            (ProtocolVersion::V2_1, "AMR-"),
            (ProtocolVersion::V2_0, "AMR20-"),
            (ProtocolVersion::V3_0, "AMR30-"),
        ] {
            let mut cfg = fleet_config(mfr, 1, &["N1"]);
            cfg.version = version;
            cfg.serial_prefix = prefix.into();
            fleets.push(Fleet::spawn(&cfg));
        }
        let site_amrs = [
            (AMR, "AMR-000"),
            (AMR_V20, "AMR20-000"),
            (AMR_V30, "AMR30-000"),
        ]
        .map(|(profile, serial)| Amr {
            profile,
            serial: serial.into(),
        });
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &site_amrs)).await;
        for amr in ["amr-1", "amr-2", "amr-3"] {
            wait_device(&mut devices, amr, DeviceAvailability::Online).await;
        }

        for (id, from, to) in [
            ("W1", "BUF-08", "PICK-1"),
            ("W2", "BUF-08", "PICK-2"),
            ("W3", "BUF-07", "PICK-1"),
        ] {
            common::submit(&mut tasks, task(id, TaskKind::Pick, from, to))
                .await
                .unwrap();
        }
        let mut used = BTreeSet::new();
        for id in ["W1", "W2", "W3"] {
            let t = wait_task(
                &mut tasks,
                id,
                Duration::from_secs(25),
                is(TaskState::Completed),
            )
            .await;
            used.insert(t.steps[0].device_id.clone());
        }
        assert_eq!(used.len(), 3, "each robot took one: {used:?}");

        // Every message on the wire, both ways, valid in its robot's own version.
        let schemas = [
            ("AMR-000", Schemas::load(ProtocolVersion::V2_1)),
            ("AMR20-000", Schemas::load(ProtocolVersion::V2_0)),
            ("AMR30-000", Schemas::load(ProtocolVersion::V3_0)),
        ];
        let seen = capture.all();
        check_each_in_its_version(&seen, &schemas);
        let v3: Vec<&Seen> = seen.iter().filter(|s| s.serial == "AMR30-000").collect();
        for kind in [TopicKind::Order, TopicKind::State, TopicKind::Connection] {
            assert!(v3.iter().any(|s| s.kind == Some(kind)), "no 3.0 {kind}");
        }
        let states = v3.iter().filter(|s| s.kind == Some(TopicKind::State));
        assert!(states.clone().all(|s| s.json.get("powerSupply").is_some()
            && s.json.get("batteryState").is_none()
            && s.json["instantActionStates"].is_array()));
        let pick_done = states.clone().any(|s| {
            s.json["actionStates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["actionType"] == "pick" && a["actionStatus"] == "FINISHED")
        });
        assert!(pick_done, "the 3.0 robot reported its pick finished");

        gw.shutdown().await.unwrap();
        for fleet in fleets {
            stop_fleet(fleet).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_that_wants_the_legacy_instant_actions_name_is_paused_and_resumed_with_it() {
    bounded(40, async {
        let mfr = "t-legacy";
        let capture = Capture::start(mfr).await;
        // The shipped profiles, and a 3.0 one for a stack that wants the 1.x array name.
        let profiles = tempfile::tempdir().unwrap();
        let devices = concat!(env!("CARGO_MANIFEST_DIR"), "/devices");
        for entry in std::fs::read_dir(devices).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&path, profiles.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let v30 = std::fs::read_to_string(format!("{devices}/{AMR_V30}.toml")).unwrap();
        let legacy = v30
            .replace("model = \"amr-vda5050-v30\"", "model = \"amr-legacy\"")
            .replace(
                "legacy_instant_actions = false",
                "legacy_instant_actions = true",
            );
        assert!(legacy.contains("legacy_instant_actions = true"));
        std::fs::write(profiles.path().join("amr-legacy.toml"), legacy).unwrap();

        let mut cfg = fleet_config(mfr, 1, &["N7"]);
        cfg.version = ProtocolVersion::V3_0;
        cfg.legacy_instant_actions = true;
        cfg.speed = 3.0;
        let fleet = Fleet::spawn(&cfg);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let site = site_with_profiles(
            dir.path(),
            mfr,
            &amrs(1, "amr-legacy"),
            "",
            Some(profiles.path()),
        );
        let (gw, mut tasks, mut devices) = start(site).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        let amr = gw.amr_adapter().expect("the site has AMRs");

        common::submit(&mut tasks, task("L1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        eventually("the robot drives", Duration::from_secs(10), || {
            robot.snapshot().driving
        })
        .await;
        // The robot reads instant actions only under `instantActions`: answered means heard.
        use floorgate::engine::adapter::{DeviceAdapter, DeviceOperation};
        amr.operate("amr-1", DeviceOperation::Pause, 21)
            .await
            .expect("paused");
        assert_eq!(robot.snapshot().paused, Some(true));
        amr.operate("amr-1", DeviceOperation::Resume, 22)
            .await
            .expect("resumed");
        wait_task(
            &mut tasks,
            "L1",
            Duration::from_secs(20),
            is(TaskState::Completed),
        )
        .await;

        let sent = capture.sent_by_floorgate();
        let instant: Vec<&Seen> = sent
            .iter()
            .filter(|s| s.kind == Some(TopicKind::InstantActions))
            .collect();
        assert!(instant.len() >= 2, "{instant:?}");
        for s in &instant {
            assert!(s.json.get("actions").is_none(), "{}", s.json);
            assert!(s.json["instantActions"].is_array(), "{}", s.json);
        }
        let schemas = Schemas::load(ProtocolVersion::V3_0);
        for s in sent.iter().filter(|s| s.kind == Some(TopicKind::Order)) {
            schemas.check(s);
        }

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_robots_complete_two_hundred_tasks() {
    bounded(60, async {
        let mfr = "t-fifty";
        let starts = ["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"];
        // Fifty robots on eight nodes cannot be kept apart: this is the adapter at scale,
        // with traffic control off and robots that pass through each other.
        let mut cfg = fleet_config(mfr, 50, &starts).pass_through();
        cfg.speed = 50.0;
        cfg.handling_s = 0.05;
        cfg.tick = Duration::from_millis(25);
        let fleet = Fleet::spawn(&cfg);
        let dir = tempfile::tempdir().unwrap();
        let untrafficked = "\n[traffic]\nenabled = false\n";
        let (gw, mut tasks, mut devices) =
            start(site_with(dir.path(), mfr, &amrs(50, AMR), untrafficked)).await;
        for i in 1..=50 {
            wait_device(
                &mut devices,
                &format!("amr-{i}"),
                DeviceAvailability::Online,
            )
            .await;
        }
        let started = std::time::Instant::now();
        for i in 0..200 {
            let t = if i % 2 == 0 {
                task(
                    &format!("F{i}"),
                    TaskKind::Pick,
                    &format!("BUF-{i}"),
                    ["PICK-1", "PICK-2"][i / 2 % 2],
                )
            } else {
                task(
                    &format!("F{i}"),
                    TaskKind::Put,
                    ["PICK-1", "PICK-2"][i / 2 % 2],
                    &format!("BUF-{i}"),
                )
            };
            common::submit(&mut tasks, t).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
        loop {
            let done = tasks
                .list_tasks(pb::ListTasksRequest {
                    states: vec![TaskState::Completed as i32],
                    page_size: 1000,
                    page_token: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .tasks
                .len();
            if done == 200 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{done} of 200 tasks completed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("200 tasks on 50 AMRs in {:?}", started.elapsed());
        let (mut picks, mut drops) = (0, 0);
        for r in fleet.robots() {
            let c = r.counters();
            assert!(
                c.picks.values().chain(c.drops.values()).all(|n| *n == 1),
                "{c:?}"
            );
            picks += c.picks.len();
            drops += c.drops.len();
        }
        assert_eq!((picks, drops), (200, 200));

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

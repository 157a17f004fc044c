//! Traffic control through the broker and the simulated fleet, judged by an observer that
//! reads the robots' own `state` messages (not floorgate's view): no two robots ever stand
//! on the same node (their `lastNodeId`, with their `agvPosition` within a robot's length
//! of it: a robot that reports a node last but is that far past it has left it), none
//! come closer than a robot's length (their `agvPosition`), and the fleet's own physical
//! world counts no conflict.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::collections::HashMap;
use std::time::Duration;

use amr::*;
use floorgate_sim::amr::{Fleet, Happened};
use pb::{TaskKind, TaskState};

use floorgate::api::pb;

const AMR: &str = "amr-vda5050";

/// Closest two robots may come, from their own positions (m).
const MIN_GAP_M: f64 = 1.0;

/// `n` robots of `cfg` (started after a capture of their messages) and a gateway on the
/// demo site (with `extra` appended), every robot online.
struct Floor {
    capture: Capture,
    fleet: Fleet,
    gw: floorgate::daemon::Gateway,
    tasks: Tasks,
    devices: Devices,
    _dir: tempfile::TempDir,
}

async fn floor(n: usize, mfr: &str, cfg: floorgate_sim::amr::FleetConfig, extra: &str) -> Floor {
    let capture = Capture::start(mfr).await;
    let fleet = Fleet::spawn(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let (gw, tasks, mut devices) = start(site_with(dir.path(), mfr, &amrs(n, AMR), extra)).await;
    wait_all_online(&mut devices, n).await;
    Floor {
        capture,
        fleet,
        gw,
        tasks,
        devices,
        _dir: dir,
    }
}

/// Walks the captured `state` messages in the order the broker delivered them and checks
/// that no two robots share a node or come closer than [`MIN_GAP_M`]. Returns how many
/// states it read.
fn observe(capture: &Capture) -> usize {
    let mut at: HashMap<String, (String, f64, f64)> = HashMap::new();
    let mut states = 0;
    for seen in capture.all() {
        if seen.kind != Some(floorgate::vda5050::TopicKind::State) {
            continue;
        }
        states += 1;
        let s = &seen.json;
        let node = s["lastNodeId"].as_str().unwrap_or_default().to_string();
        let x = s["agvPosition"]["x"].as_f64().unwrap_or(f64::NAN);
        let y = s["agvPosition"]["y"].as_f64().unwrap_or(f64::NAN);
        at.insert(seen.serial.clone(), (node, x, y));
        let me = &at[&seen.serial];
        for (other, (n, ox, oy)) in &at {
            if other == &seen.serial {
                continue;
            }
            let on = |node: &str, x: f64, y: f64| {
                NODES
                    .iter()
                    .find(|p| p.0 == node)
                    .is_none_or(|p| (p.1 - x).hypot(p.2 - y) < MIN_GAP_M)
            };
            assert!(
                me.0.is_empty() || &me.0 != n || !(on(n, me.1, me.2) && on(n, *ox, *oy)),
                "{} and {other} both stand on node {n} (state #{states})",
                seen.serial
            );
            let gap = (me.1 - ox).hypot(me.2 - oy);
            assert!(
                !(gap < MIN_GAP_M),
                "{} and {other} came {gap:.2} m close (state #{states})",
                seen.serial
            );
        }
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_whose_routes_cross_at_the_buffer_take_turns_and_never_share_a_node() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let mfr = "t-traffic-cross";
        // amr-1 comes from N3 over N2, amr-2 from N7 over N4; both pick at N1 (the
        // buffer) and leave for PICK-1 (N6) and PICK-2 (N8), across each other's way.
        let mut cfg = fleet_config(mfr, 2, &["N3", "N7"]);
        cfg.speed = 5.0;
        let Floor {
            capture,
            fleet,
            gw,
            mut tasks,
            mut devices,
            ..
        } = floor(2, mfr, cfg, "").await;
        for (id, bin, to) in [("X1", "BUF-11", "PICK-1"), ("X2", "BUF-12", "PICK-2")] {
            common::submit(&mut tasks, task(id, TaskKind::Pick, bin, to))
                .await
                .unwrap();
        }
        let mut devices_used = Vec::new();
        for id in ["X1", "X2"] {
            let t = wait_task(&mut tasks, id, Duration::from_secs(60), |t| {
                t.state == TaskState::Completed as i32
            })
            .await;
            devices_used.push(t.steps[0].device_id.clone());
        }
        devices_used.sort();
        assert_eq!(devices_used, ["amr-1", "amr-2"], "both robots drove");
        // DeviceService shows what traffic control holds for each robot: the node it
        // stands on, as the robot itself reports it.
        for (i, id) in ["amr-1", "amr-2"].into_iter().enumerate() {
            let here = fleet.robot(i).snapshot().last_node_id;
            let mut held = Vec::new();
            for _ in 0..50 {
                held = device(&mut devices, id)
                    .await
                    .traffic
                    .unwrap_or_default()
                    .held;
                if held.contains(&format!("node {here}")) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(
                held.contains(&format!("node {here}")),
                "{id} at {here} holds {held:?}"
            );
        }
        let states = observe(&capture);
        assert!(
            states > 20,
            "the observer saw the robots drive ({states} states)"
        );
        let world = fleet.world();
        assert_eq!(world.conflicts, 0, "{world:?}");
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await
    .expect("scenario timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_sent_head_on_along_one_lane_never_meet_in_it() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let mfr = "t-traffic-headon";
        // amr-1 at the buffer (N1) takes the pick to PICK-1 (N6); amr-2 next to PICK-1
        // (N3) takes the put from PICK-1 back to the buffer: their ways run through the
        // lane N1-N2-N3 in opposite directions.
        let mut cfg = fleet_config(mfr, 2, &["N1", "N3"]);
        cfg.speed = 5.0;
        let Floor {
            capture,
            fleet,
            gw,
            mut tasks,
            ..
        } = floor(2, mfr, cfg, "").await;
        common::submit(&mut tasks, task("HO1", TaskKind::Pick, "BUF-41", "PICK-1"))
            .await
            .unwrap();
        common::submit(&mut tasks, task("HO2", TaskKind::Put, "PICK-1", "BUF-42"))
            .await
            .unwrap();
        let mut used = Vec::new();
        for id in ["HO1", "HO2"] {
            let t = wait_task(&mut tasks, id, Duration::from_secs(60), |t| {
                t.state == TaskState::Completed as i32
            })
            .await;
            used.push(t.steps[0].device_id.clone());
        }
        assert_eq!(
            used,
            ["amr-1", "amr-2"],
            "each robot took the task at its node"
        );
        observe(&capture);
        assert_eq!(fleet.world().conflicts, 0, "{:?}", fleet.world());
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await
    .expect("scenario timed out");
}

/// Four locations on the arms of the demo layout's crossing N5 (N2 south, N4 west, N6
/// east, N8 north), and a route carrying a load from one arm to another.
const CROSSING: &str = r#"
[[locations]]
id = "ARM-S"
kind = "storage"
zone = "arms"
node = "N2"

[[locations]]
id = "ARM-W"
kind = "storage"
zone = "arms"
node = "N4"

[[locations]]
id = "ARM-E"
kind = "storage"
zone = "arms"
node = "N6"

[[locations]]
id = "ARM-N"
kind = "storage"
zone = "arms"
node = "N8"

[[routes]]
id = "arm-to-arm"
kind = "pick"
from_zone = "arms"
to_zone = "arms"
steps = [
  { device_kind = "amr", command = "transport", from = "$source", to = "$destination" },
]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_robots_around_a_crossing_each_to_the_next_arm_all_arrive_without_meeting() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let mfr = "t-traffic-four";
        // A robot on each arm of the crossing N5, each sent to the next arm round it:
        // every way runs through N5 and ends where another robot stands, so no robot
        // can go until another has left, and one has to step aside into a corner
        // (N1, N3, N7) for the ring to turn.
        let arms = [
            ("N2", "ARM-S"),
            ("N4", "ARM-W"),
            ("N8", "ARM-N"),
            ("N6", "ARM-E"),
        ];
        let starts: Vec<&str> = arms.iter().map(|a| a.0).collect();
        let mut cfg = fleet_config(mfr, 4, &starts);
        cfg.speed = 5.0;
        let Floor {
            capture,
            fleet,
            gw,
            mut tasks,
            ..
        } = floor(4, mfr, cfg, CROSSING).await;
        for i in 0..4 {
            let (from, to) = (arms[i].1, arms[(i + 1) % 4].1);
            let id = format!("RING-{i}");
            common::submit(&mut tasks, task(&id, TaskKind::Pick, from, to))
                .await
                .unwrap();
        }
        let mut used = Vec::new();
        for i in 0..4 {
            let t = wait_task(
                &mut tasks,
                &format!("RING-{i}"),
                Duration::from_secs(120),
                |t| t.state == TaskState::Completed as i32,
            )
            .await;
            let device = t.steps[0].device_id.clone();
            // The robot's own record: it picked on this arm and dropped on the next
            // (where it stands afterwards is traffic control's business: an idle robot
            // steps aside for another's route).
            let k: usize = device.trim_start_matches("amr-").parse().unwrap();
            let record = fleet.robot(k - 1).record();
            let (from, to) = (arms[i].0, arms[(i + 1) % 4].0);
            let at = |dropped: bool, node: &str| {
                record.iter().any(|h| match h {
                    Happened::Picked { node_id, .. } => !dropped && node_id == node,
                    Happened::Dropped { node_id, .. } => dropped && node_id == node,
                    _ => false,
                })
            };
            assert!(
                at(false, from) && at(true, to),
                "{device} for RING-{i}: {record:?}"
            );
            used.push(device);
        }
        used.sort();
        used.dedup();
        assert_eq!(used.len(), 4, "each robot carried one load: {used:?}");
        let states = observe(&capture);
        assert!(
            states > 20,
            "the observer saw the robots drive ({states} states)"
        );
        assert_eq!(fleet.world().conflicts, 0, "{:?}", fleet.world());
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await
    .expect("scenario timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_dying_in_a_lane_keeps_it_and_the_other_goes_around() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mfr = "t-traffic-dying";
        let mut cfg = fleet_config(mfr, 2, &["N3", "N7"]);
        cfg.speed = 2.0;
        let Floor {
            capture,
            fleet,
            gw,
            mut tasks,
            ..
        } = floor(2, mfr, cfg, "").await;
        // amr-1 (N3) drives to the buffer over N2; it dies between N3 and N1.
        common::submit(&mut tasks, task("D1", TaskKind::Pick, "BUF-51", "PICK-1"))
            .await
            .unwrap();
        let dying = fleet.robot(0).clone();
        eventually("amr-1 is on its way", Duration::from_secs(20), || {
            let s = dying.snapshot();
            s.driving && s.last_node_id == "N3"
        })
        .await;
        dying.inject_fatal("motorFault");
        let died_at = dying.snapshot().last_node_id.clone();
        // amr-2 (N7) is sent to the buffer too: it must not be released into amr-1's lane.
        common::submit(&mut tasks, task("D2", TaskKind::Pick, "BUF-52", "PICK-2"))
            .await
            .unwrap();
        let t = wait_task(&mut tasks, "D2", Duration::from_secs(60), |t| {
            t.state == TaskState::Completed as i32
        })
        .await;
        assert_eq!(t.steps[0].device_id, "amr-2");
        observe(&capture);
        assert_eq!(fleet.world().conflicts, 0, "{:?}", fleet.world());
        // amr-2 never passed the node amr-1 died behind, nor the one it was heading to.
        let passed: Vec<String> = capture
            .all()
            .into_iter()
            .filter(|m| {
                m.serial == "AMR-001" && m.kind == Some(floorgate::vda5050::TopicKind::State)
            })
            .filter_map(|m| m.json["lastNodeId"].as_str().map(str::to_string))
            .collect();
        assert!(
            !passed.iter().any(|n| n == &died_at || n == "N2"),
            "amr-2 went through the dead robot's lane: {passed:?}"
        );
        let d1 = common::get(&mut tasks, "D1").await;
        assert_ne!(
            d1.state,
            TaskState::Completed as i32,
            "the dead robot did not deliver"
        );
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await
    .expect("scenario timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_catches_robots_that_pass_through_each_other_without_traffic_control() {
    // The same crossing with traffic control off and a fleet that ignores its safety
    // fields: the observer must see them meet, or it proves nothing above.
    tokio::time::timeout(Duration::from_secs(90), async {
        let mfr = "t-traffic-off";
        let mut cfg = fleet_config(mfr, 2, &["N2", "N4"]).pass_through();
        cfg.speed = 5.0;
        let off = "\n[traffic]\nenabled = false\n";
        let Floor {
            capture,
            fleet,
            gw,
            mut tasks,
            ..
        } = floor(2, mfr, cfg, off).await;
        for (id, bin, to) in [("Y1", "BUF-21", "PICK-1"), ("Y2", "BUF-22", "PICK-2")] {
            common::submit(&mut tasks, task(id, TaskKind::Pick, bin, to))
                .await
                .unwrap();
        }
        for id in ["Y1", "Y2"] {
            wait_task(&mut tasks, id, Duration::from_secs(60), |t| {
                t.state == TaskState::Completed as i32
            })
            .await;
        }
        let met = std::panic::catch_unwind(|| observe(&capture)).is_err();
        assert!(met, "two robots sent to one buffer at once met there");
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await
    .expect("scenario timed out");
}

/// Three locations along the demo layout's bottom row N1 → N2 → N3, and a route carrying a
/// load from one to another.
const LINE: &str = r#"
[[locations]]
id = "LINE-1"
kind = "storage"
zone = "line"
node = "N1"

[[locations]]
id = "LINE-2"
kind = "storage"
zone = "line"
node = "N2"

[[locations]]
id = "LINE-3"
kind = "storage"
zone = "line"
node = "N3"

[[routes]]
id = "along-the-line"
kind = "pick"
from_zone = "line"
to_zone = "line"
steps = [
  { device_kind = "amr", command = "transport", from = "$source", to = "$destination" },
]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_released_the_node_its_leader_drove_clear_of_before_the_leader_reaches_the_next(
) {
    tokio::time::timeout(Duration::from_secs(90), async {
        let mfr = "t-traffic-follow";
        // amr-1 on N2 carries a load to N3; amr-2 on N1 one to N2, right behind it. The
        // robots report every step, so their positions between nodes reach the gateway,
        // and the profile frees a node once its robot is 1 m past it.
        let mut cfg = fleet_config(mfr, 2, &["N2", "N1"]);
        cfg.speed = 5.0;
        cfg.state_interval = cfg.tick;
        let Floor {
            capture,
            fleet,
            gw,
            mut tasks,
            ..
        } = floor(2, mfr, cfg, LINE).await;
        common::submit(&mut tasks, task("F1", TaskKind::Pick, "LINE-2", "LINE-3"))
            .await
            .unwrap();
        common::submit(&mut tasks, task("F2", TaskKind::Pick, "LINE-1", "LINE-2"))
            .await
            .unwrap();
        let mut used = Vec::new();
        for id in ["F1", "F2"] {
            let t = wait_task(&mut tasks, id, Duration::from_secs(60), |t| {
                t.state == TaskState::Completed as i32
            })
            .await;
            used.push(t.steps[0].device_id.clone());
        }
        assert_eq!(
            used,
            ["amr-1", "amr-2"],
            "each robot took the load at its node"
        );
        // In the order the broker delivered them: the order (update) that first released
        // N2 to the follower went out while the leader's own last state still named N2 as
        // the node it passed last, with its position at least 1 m past it (x = 5 m).
        let (lead, follow) = ("AMR-000", "AMR-001");
        let mut leader: Option<(String, f64)> = None;
        let mut released_at = None;
        for seen in capture.all() {
            match seen.kind {
                Some(floorgate::vda5050::TopicKind::State) if seen.serial == lead => {
                    let s = &seen.json;
                    leader = Some((
                        s["lastNodeId"].as_str().unwrap_or_default().to_string(),
                        s["agvPosition"]["x"].as_f64().unwrap_or(f64::NAN),
                    ));
                }
                Some(floorgate::vda5050::TopicKind::Order) if seen.serial == follow => {
                    let releases_n2 = seen.json["nodes"].as_array().is_some_and(|ns| {
                        ns.iter()
                            .any(|n| n["nodeId"] == "N2" && n["released"] == true)
                    });
                    if releases_n2 && released_at.is_none() {
                        released_at = Some(leader.clone());
                    }
                }
                _ => {}
            }
        }
        let Some(Some((node, x))) = released_at else {
            panic!("N2 was never released to the follower: {released_at:?}");
        };
        assert_eq!(node, "N2", "released before the leader reported N3");
        assert!(x >= 6.0 - 1e-6, "the leader was {:.2} m past N2", x - 5.0);
        observe(&capture);
        assert_eq!(fleet.world().conflicts, 0, "{:?}", fleet.world());
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await
    .expect("scenario timed out");
}

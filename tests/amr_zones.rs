//! VDA 5050 3.0 zones and a mixed fleet, through the broker and the simulated fleet: the
//! site file's zones reach the 3.0 robots as their zone set (published, enabled, reported
//! back ENABLED), a RELEASE zone is entered only with a grant from traffic control and
//! shared with a 2.1 robot, which takes it through its route — judged by an observer that
//! reads the robots' own `state` positions — and a fleet of 2.0, 2.1 and 3.0 robots
//! completes a hundred tasks with every message valid in its robot's own version; a
//! hibernating 3.0 robot sleeps until a task needs it and is then woken.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use amr::*;
use floorgate::api::pb;
use floorgate::vda5050::{ProtocolVersion, TopicKind};
use floorgate_sim::amr::{Fleet, Happened};
use pb::{DeviceAvailability, TaskKind, TaskState};

const AMR: &str = "amr-vda5050";
const AMR_V20: &str = "amr-vda5050-v20";
const AMR_V30: &str = "amr-vda5050-v30";

/// An L around N1 (0, 0), N2 (5, 0) and N4 (0, 5): the buffer and both ways into it.
const BUFFER_ZONE: [[f64; 2]; 6] = [
    [-1.0, -1.0],
    [6.0, -1.0],
    [6.0, 1.0],
    [1.0, 1.0],
    [1.0, 6.0],
    [-1.0, 6.0],
];

fn inside(x: f64, y: f64) -> bool {
    floorgate::vda5050::site_zones::contains(&BUFFER_ZONE, x, y)
}

/// The robot's position in its own `state` (2.x `agvPosition`, 3.0 `mobileRobotPosition`).
fn position(state: &serde_json::Value) -> Option<(f64, f64)> {
    let p = state
        .get("agvPosition")
        .or_else(|| state.get("mobileRobotPosition"))?;
    Some((p["x"].as_f64()?, p["y"].as_f64()?))
}

async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("scenario timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_zone_reaches_the_3_0_robot_and_holds_one_robot_of_either_version_at_a_time() {
    bounded(90, async {
        let mfr = "t-zone-release";
        let capture = Capture::start(mfr).await;
        // AMR-000 speaks 2.1 and comes from N3 over N2; AMR-001 speaks 3.0 and comes from
        // N7 over N4. Both pick at N1, in the zone, and leave it for PICK-1 / PICK-2.
        let mut cfg = fleet_config(mfr, 2, &["N3", "N7"]);
        cfg.versions = vec![ProtocolVersion::V2_1, ProtocolVersion::V3_0];
        cfg.speed = 5.0;
        let fleet = Fleet::spawn(&cfg);
        let zone = format!(
            "\n[[layout.zones]]\nid = \"buffer\"\nkind = \"release\"\nvertices = {:?}\n",
            BUFFER_ZONE
        );
        let site_amrs = [(AMR, "AMR-000"), (AMR_V30, "AMR-001")].map(|(profile, serial)| Amr {
            profile,
            serial: serial.into(),
        });
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) =
            start(site_with(dir.path(), mfr, &site_amrs, &zone)).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        wait_device(&mut devices, "amr-2", DeviceAvailability::Online).await;
        // The 3.0 robot holds the zone set and has it enabled before any task.
        eventually(
            "the 3.0 robot reports the zone set ENABLED",
            Duration::from_secs(20),
            || {
                capture.all().iter().any(|s| {
                    s.serial == "AMR-001"
                        && s.kind == Some(TopicKind::State)
                        && s.json["zoneSets"]
                            .as_array()
                            .is_some_and(|z| z.iter().any(|z| z["zoneSetStatus"] == "ENABLED"))
                })
            },
        )
        .await;
        for round in 0..2 {
            for (i, to) in ["PICK-1", "PICK-2"].into_iter().enumerate() {
                let id = format!("Z{round}{i}");
                let bin = format!("BUF-{}", 20 + 2 * round + i);
                common::submit(&mut tasks, task(&id, TaskKind::Pick, &bin, to))
                    .await
                    .unwrap();
            }
            for i in 0..2 {
                wait_task(
                    &mut tasks,
                    &format!("Z{round}{i}"),
                    Duration::from_secs(40),
                    |t| t.state == TaskState::Completed as i32,
                )
                .await;
            }
        }

        // The observer: robots inside the zone at once, by their own positions, in the
        // order the broker delivered their states.
        let seen = capture.all();
        let mut inside_now: HashMap<String, bool> = HashMap::new();
        let mut entered: BTreeSet<String> = BTreeSet::new();
        for s in seen.iter().filter(|s| s.kind == Some(TopicKind::State)) {
            let Some((x, y)) = position(&s.json) else {
                continue;
            };
            inside_now.insert(s.serial.clone(), inside(x, y));
            if inside(x, y) {
                entered.insert(s.serial.clone());
            }
            let n = inside_now.values().filter(|&&i| i).count();
            assert!(
                n <= 1,
                "{n} robots inside the release zone at once: {inside_now:?}"
            );
        }
        assert_eq!(
            entered.len(),
            2,
            "both robots went through the zone: {entered:?}"
        );
        // The 3.0 robot asked before it entered, and traffic control granted every entry.
        let record = fleet.robot(1).record();
        let entries: Vec<bool> = record
            .iter()
            .filter_map(|h| match h {
                Happened::ZoneEntered {
                    zone_id, granted, ..
                } if zone_id == "buffer" => Some(*granted),
                _ => None,
            })
            .collect();
        assert!(
            !entries.is_empty() && entries.iter().all(|g| *g),
            "{record:?}"
        );
        assert!(record
            .iter()
            .any(|h| matches!(h, Happened::ZoneSetEnabled { .. })));
        assert_eq!(fleet.world().zone_entries_without_grant, 0);
        // The zone set and the answers went out under v3, valid against the 3.0 schemas;
        // nothing of the kind went to the 2.1 robot.
        let v3 = Schemas::load(ProtocolVersion::V3_0);
        let v21 = Schemas::load(ProtocolVersion::V2_1);
        let mut kinds = BTreeMap::new();
        for s in &seen {
            match s.serial.as_str() {
                "AMR-001" => v3.check(s),
                _ => v21.check(s),
            }
            *kinds.entry((s.serial.clone(), s.kind)).or_insert(0) += 1;
        }
        for kind in [TopicKind::ZoneSet, TopicKind::Responses] {
            assert!(
                kinds.contains_key(&("AMR-001".into(), Some(kind))),
                "no {kind} to the 3.0 robot"
            );
            assert!(!kinds.contains_key(&("AMR-000".into(), Some(kind))));
        }
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_2_0_2_1_and_3_0_robots_completes_a_hundred_tasks_each_in_its_own_version() {
    bounded(240, async {
        let mfr = "t-mixed-100";
        let capture = Capture::start(mfr).await;
        let mut cfg = fleet_config(mfr, 3, &["N3", "N7", "N8"]);
        cfg.versions = vec![
            ProtocolVersion::V2_0,
            ProtocolVersion::V2_1,
            ProtocolVersion::V3_0,
        ];
        // What is under test is the versions, not traffic: robots that pass through each
        // other, traffic control off.
        cfg.physical = false;
        let fleet = Fleet::spawn(&cfg);
        let site_amrs = [(AMR_V20, "AMR-000"), (AMR, "AMR-001"), (AMR_V30, "AMR-002")].map(
            |(profile, serial)| Amr {
                profile,
                serial: serial.into(),
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site_with(
            dir.path(),
            mfr,
            &site_amrs,
            "[traffic]\nenabled = false\n",
        ))
        .await;
        for amr in ["amr-1", "amr-2", "amr-3"] {
            wait_device(&mut devices, amr, DeviceAvailability::Online).await;
        }
        const N: usize = 100;
        for i in 0..N {
            let to = ["PICK-1", "PICK-2"][i % 2];
            let bin = format!("BUF-{:02}", i % 50);
            common::submit(
                &mut tasks,
                task(&format!("M{i:03}"), TaskKind::Pick, &bin, to),
            )
            .await
            .unwrap();
        }
        let started = std::time::Instant::now();
        let mut by_robot: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..N {
            let t = wait_task(
                &mut tasks,
                &format!("M{i:03}"),
                Duration::from_secs(200),
                |t| t.state == TaskState::Completed as i32,
            )
            .await;
            *by_robot.entry(t.steps[0].device_id.clone()).or_default() += 1;
        }
        eprintln!(
            "{N} tasks in {:.1} s: {by_robot:?}",
            started.elapsed().as_secs_f64()
        );
        assert_eq!(by_robot.values().sum::<usize>(), N);
        assert_eq!(by_robot.len(), 3, "every robot worked: {by_robot:?}");
        // Every message on the wire, both ways, valid in its robot's version, on its
        // version's topic level.
        let schemas = [
            ("AMR-000", Schemas::load(ProtocolVersion::V2_0)),
            ("AMR-001", Schemas::load(ProtocolVersion::V2_1)),
            ("AMR-002", Schemas::load(ProtocolVersion::V3_0)),
        ];
        check_each_in_its_version(&capture.all(), &schemas);
        // Each robot's own record: as many drops as the tasks floorgate says it did.
        for (i, id) in ["amr-1", "amr-2", "amr-3"].into_iter().enumerate() {
            let drops = fleet
                .robot(i)
                .record()
                .iter()
                .filter(|h| matches!(h, Happened::Dropped { .. }))
                .count();
            assert_eq!(drops, by_robot[id], "{id}: its own record of drops");
        }
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hibernating_3_0_robot_is_asleep_until_a_task_needs_it_then_woken_and_sent() {
    bounded(60, async {
        let mfr = "t-hibernate";
        let capture = Capture::start(mfr).await;
        let mut cfg = fleet_config(mfr, 1, &["N3"]);
        cfg.version = ProtocolVersion::V3_0;
        let fleet = Fleet::spawn(&cfg);
        fleet.robot(0).hibernate();
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR_V30))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Asleep).await;
        // Asleep, nothing but a wake-up may go to it: no order, no state request.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            capture.sent_by_floorgate().is_empty(),
            "{:?}",
            capture.sent_by_floorgate()
        );
        common::submit(&mut tasks, task("H1", TaskKind::Pick, "BUF-30", "PICK-1"))
            .await
            .unwrap();
        wait_task(&mut tasks, "H1", Duration::from_secs(30), |t| {
            t.state == TaskState::Completed as i32
        })
        .await;
        // The first thing floorgate sent was the wake-up; the robot's own record says it
        // slept, woke, then carried the load.
        let first = &capture.sent_by_floorgate()[0];
        assert_eq!(
            first.json["actions"][0]["actionType"], "stopHibernation",
            "{first:?}"
        );
        let record = fleet.robot(0).record();
        let at = |p: &dyn Fn(&Happened) -> bool| record.iter().position(|h| p(h));
        let woke = at(&|h| matches!(h, Happened::Woke)).expect("woke");
        let picked = at(&|h| matches!(h, Happened::Picked { .. })).expect("picked");
        assert!(woke < picked, "{record:?}");
        // The journal: asleep, then online, and the wake-up floorgate sent, with why
        // (journaled once the robot carried it out: when it said ONLINE).
        let journal = common::journal(&mut tasks, 0).await;
        let kinds: Vec<&str> = journal
            .iter()
            .map(common::kind_name)
            .filter(|k| k.starts_with("device_"))
            .collect();
        let asleep = kinds
            .iter()
            .position(|x| *x == "device_asleep")
            .expect("device_asleep");
        let online = kinds
            .iter()
            .rposition(|x| *x == "device_online")
            .expect("device_online");
        assert!(asleep < online, "{kinds:?}");
        let wake = journal
            .iter()
            .find_map(|e| match &e.kind {
                Some(pb::event::Kind::DeviceCommanded(c)) => Some(c.clone()),
                _ => None,
            })
            .expect("the wake-up journaled");
        assert_eq!(
            (wake.device_id.as_str(), wake.operation.as_str()),
            ("amr-1", "wake")
        );
        assert!(wake.reason.contains("H1"), "{}", wake.reason);
        // Every message valid 3.0.
        let v3 = Schemas::load(ProtocolVersion::V3_0);
        for s in capture.all() {
            v3.check(&s);
        }
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

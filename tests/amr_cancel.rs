//! Cancelling an AMR transport when the robot does not simply obey: the robot's own record
//! (what it picked, dropped, refused) against what floorgate reports, through the embedded
//! broker, the simulated fleet and the real gateway. Each test has its own manufacturer.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::time::Duration;

use amr::*;
use floorgate::api::pb;
use floorgate::vda5050::{ProtocolVersion, TopicKind};
use floorgate_sim::amr::{CancelPolicy, Fleet, Happened, RobotHandle};
use pb::{DeviceAvailability, StepState, TaskKind, TaskState};

const AMR: &str = "amr-vda5050";

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

/// The `cancelOrder` messages floorgate sent to `serial`, with when the capture saw them.
fn cancels_to(capture: &Capture, serial: &str) -> Vec<String> {
    capture
        .sent_by_floorgate()
        .into_iter()
        .filter(|s| {
            s.serial == serial
                && s.kind == Some(TopicKind::InstantActions)
                && s.json["actions"][0]["actionType"] == "cancelOrder"
        })
        .map(|s| {
            s.json["actions"][0]["actionId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn count(record: &[Happened], f: impl Fn(&Happened) -> bool) -> usize {
    record.iter().filter(|h| f(h)).count()
}

fn picked(robot: &RobotHandle) -> bool {
    robot
        .record()
        .iter()
        .any(|h| matches!(h, Happened::Picked { .. }))
}

async fn cancel(tasks: &mut Tasks, id: &str) {
    tasks
        .cancel_task(pb::CancelTaskRequest {
            task_id: id.into(),
            reason: "withdrawn".into(),
        })
        .await
        .unwrap();
}

/// One robot at N7 that refuses or ignores cancels once loaded; the transport BUF-01 (N1)
/// → PICK-1 (N6) is 10 m to the pick and 15 m on to the drop.
fn loaded_fleet(mfr: &str, speed: f64, policy: CancelPolicy) -> Fleet {
    let mut cfg = fleet_config(mfr, 1, &["N7"]);
    cfg.speed = speed;
    let fleet = Fleet::spawn(&cfg);
    fleet.robot(0).with_robot(|r| r.set_cancel_policy(policy));
    fleet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_that_finished_while_the_robot_refused_the_cancel_completes_the_step_and_the_cancel_is_not_re_sent(
) {
    bounded(45, async {
        let mfr = "t-refused";
        let capture = Capture::start(mfr).await;
        let fleet = loaded_fleet(mfr, 4.0, CancelPolicy::RefuseOnceLoaded);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        common::submit(&mut tasks, task("X1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        eventually("the robot picks", Duration::from_secs(15), || {
            picked(&robot)
        })
        .await;
        cancel(&mut tasks, "X1").await;

        let t = wait_task(&mut tasks, "X1", Duration::from_secs(20), |t| {
            t.state != TaskState::Running as i32
        })
        .await;
        let record = robot.record();
        assert_eq!(t.state, TaskState::Completed as i32, "{t:?}\n{record:#?}");
        assert_eq!(t.steps[0].state, StepState::Completed as i32);
        let journal = common::journal(&mut tasks, 0).await;
        let events = events_of(&journal, "X1");
        assert!(
            events.ends_with(&["step_completed", "task_completed"]),
            "{events:?}"
        );
        assert!(!events.contains(&"task_cancelled"), "{events:?}");

        // The robot's own record: one pick, one drop, and every cancel it got refused.
        assert_eq!(count(&record, |h| matches!(h, Happened::Picked { .. })), 1);
        assert_eq!(count(&record, |h| matches!(h, Happened::Dropped { .. })), 1);
        let refused = count(&record, |h| matches!(h, Happened::CancelRefused { .. }));
        assert!(refused >= 1, "{record:#?}");
        assert_eq!(
            count(&record, |h| matches!(h, Happened::CancelAccepted { .. })),
            0
        );

        // On the wire: the refusal ended the re-sending (a re-send may cross the answer).
        let sent = cancels_to(&capture, "AMR-000");
        assert!(!sent.is_empty() && sent.len() <= 2, "{sent:?}");
        assert!(sent.iter().all(|id| id == "X1#0/cancel"), "{sent:?}");
        let schemas = Schemas::load(ProtocolVersion::V2_1);
        for s in capture.sent_by_floorgate() {
            schemas.check(&s);
        }

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_that_finished_while_the_gateway_was_down_with_a_refused_cancel_pending_completes_the_task(
) {
    bounded(60, async {
        let mfr = "t-refused-restart";
        let capture = Capture::start(mfr).await;
        let fleet = loaded_fleet(mfr, 3.0, CancelPolicy::RefuseOnceLoaded);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        common::submit(&mut tasks, task("X2", TaskKind::Pick, "BUF-02", "PICK-1"))
            .await
            .unwrap();
        eventually("the robot picks", Duration::from_secs(15), || {
            picked(&robot)
        })
        .await;
        cancel(&mut tasks, "X2").await;
        let refused = || {
            robot
                .record()
                .iter()
                .any(|h| matches!(h, Happened::CancelRefused { .. }))
        };
        eventually(
            "the robot refuses the cancel",
            Duration::from_secs(5),
            refused,
        )
        .await;
        drop((tasks, devices));
        gw.shutdown().await.unwrap();

        // The load reaches its destination while floorgate is away.
        let dropped = || {
            robot
                .record()
                .iter()
                .any(|h| matches!(h, Happened::Dropped { .. }))
        };
        eventually("the robot drops", Duration::from_secs(20), dropped).await;
        let before = cancels_to(&capture, "AMR-000").len();

        let (gw, mut tasks, _devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        let t = wait_task(&mut tasks, "X2", Duration::from_secs(15), |t| {
            t.state != TaskState::Running as i32
        })
        .await;
        assert_eq!(t.state, TaskState::Completed as i32, "{t:?}");
        assert_eq!(t.steps[0].state, StepState::Completed as i32);
        let journal = common::journal(&mut tasks, 0).await;
        let events = events_of(&journal, "X2");
        assert!(
            events.ends_with(&["step_completed", "task_completed"]),
            "{events:?}"
        );
        assert!(!events.contains(&"task_cancelled"), "{events:?}");
        let record = robot.record();
        assert_eq!(count(&record, |h| matches!(h, Happened::Picked { .. })), 1);
        assert_eq!(count(&record, |h| matches!(h, Happened::Dropped { .. })), 1);
        assert_eq!(
            cancels_to(&capture, "AMR-000").len(),
            before,
            "the robot's state decided it: no cancel after the restart"
        );

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_the_robot_never_answers_is_re_sent_with_backoff_a_bounded_number_of_times_and_the_step_follows_the_robot(
) {
    bounded(60, async {
        let mfr = "t-unanswered";
        let capture = Capture::start(mfr).await;
        // 15 m at 1 m/s after the pick: longer than every re-send and the wait after the last.
        let fleet = loaded_fleet(mfr, 1.0, CancelPolicy::IgnoreOnceLoaded);
        let robot = fleet.robot(0).clone();
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        common::submit(&mut tasks, task("X3", TaskKind::Pick, "BUF-03", "PICK-1"))
            .await
            .unwrap();
        eventually("the robot picks", Duration::from_secs(20), || {
            picked(&robot)
        })
        .await;
        let cancelled_at = tokio::time::Instant::now();
        cancel(&mut tasks, "X3").await;
        let t = wait_task(&mut tasks, "X3", Duration::from_secs(30), |t| {
            t.state != TaskState::Running as i32
        })
        .await;
        assert_eq!(t.state, TaskState::Completed as i32, "{t:?}");
        assert!(
            cancelled_at.elapsed() > Duration::from_secs(10),
            "the robot drove on for longer than the re-sends"
        );

        let sent = cancels_to(&capture, "AMR-000");
        let record = robot.record();
        let ignored = count(&record, |h| matches!(h, Happened::CancelIgnored { .. }));
        assert_eq!(sent.len(), 6, "bounded: {sent:?}");
        assert_eq!(ignored, 6, "{record:#?}");
        assert_eq!(count(&record, |h| matches!(h, Happened::Dropped { .. })), 1);

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

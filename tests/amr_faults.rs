//! A robot that faults right after it finished floorgate's command: the command is done (the
//! fault is the robot's state now, not the command's outcome), and the robot takes no new
//! work until the fault is cleared. Embedded broker, simulated fleet, real gateway.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::time::Duration;

use amr::*;
use floorgate::api::pb;
use floorgate_sim::amr::{Fleet, Happened};
use pb::{DeviceAvailability, StepState, TaskKind, TaskState};

const AMR: &str = "amr-vda5050";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_raised_right_after_the_drop_completes_the_step_and_holds_the_robot_back() {
    let scenario = async {
        let mfr = "t-fault-after";
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let robot = fleet.robot(0).clone();
        robot.with_robot(|r| r.fault_after_next_drop("laserScannerFault"));
        let dir = tempfile::tempdir().unwrap();
        let (gw, mut tasks, mut devices) = start(site(dir.path(), mfr, &amrs(1, AMR))).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;

        common::submit(&mut tasks, task("F1", TaskKind::Pick, "BUF-01", "PICK-1"))
            .await
            .unwrap();
        let t = wait_task(&mut tasks, "F1", Duration::from_secs(15), |t| {
            t.state != TaskState::Running as i32 && t.state != TaskState::Planned as i32
        })
        .await;
        assert_eq!(t.state, TaskState::Completed as i32, "{t:?}");
        assert_eq!(t.steps[0].state, StepState::Completed as i32);
        let record = robot.record();
        let dropped = record
            .iter()
            .position(|h| matches!(h, Happened::Dropped { .. }))
            .expect("dropped");
        assert!(
            matches!(record.get(dropped + 1), Some(Happened::Faulted { .. })),
            "{record:?}"
        );
        wait_device(&mut devices, "amr-1", DeviceAvailability::Fault).await;

        // No new work while faulted; cleared at the vehicle, it takes the next task.
        common::submit(&mut tasks, task("F2", TaskKind::Pick, "BUF-02", "PICK-2"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            common::get(&mut tasks, "F2").await.steps[0].state,
            StepState::Pending as i32
        );
        robot.clear_errors();
        wait_task(
            &mut tasks,
            "F2",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;

        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    };
    tokio::time::timeout(Duration::from_secs(45), scenario)
        .await
        .expect("scenario timed out");
}

//! Persist before acknowledge, checked with a real process: the daemon runs
//! as a child, is killed with SIGKILL right after SubmitTask answered OK,
//! and restarted on the same data directory.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use floorgate::api::pb;

#[tokio::test]
async fn a_task_acknowledged_before_sigkill_is_there_after_restart_with_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for round in 0..3 {
        let mut d = spawn(&data);
        let mut c = pb::task_service_client::TaskServiceClient::connect(d.addr.clone())
            .await
            .unwrap();
        // Several submits in flight at once share flushes; the kill comes
        // the moment the first answers.
        let mut handles = Vec::new();
        for i in 0..8 {
            let mut c = c.clone();
            handles.push(tokio::spawn(async move {
                submit(&mut c, pick(&format!("R{round}-{i}"))).await
            }));
        }
        let first = handles
            .remove(0)
            .await
            .unwrap()
            .expect("submit answered OK");
        d.child.kill().unwrap(); // SIGKILL
        d.child.wait().unwrap();
        let mut acked = vec![first.task.unwrap()];
        for h in handles {
            if let Ok(Ok(r)) = h.await {
                acked.push(r.task.unwrap());
            }
        }

        let mut d = spawn(&data);
        c = pb::task_service_client::TaskServiceClient::connect(d.addr.clone())
            .await
            .unwrap();
        for t in &acked {
            let got = c
                .get_task(pb::GetTaskRequest {
                    task_id: t.task_id.clone(),
                })
                .await
                .unwrap_or_else(|e| panic!("{} was acknowledged, then lost: {e}", t.task_id))
                .into_inner();
            assert_eq!(got.state, t.state, "{}", t.task_id);
            assert_eq!(got.steps, t.steps, "{}", t.task_id);
            assert_eq!(got.load_id, t.load_id);
        }
        // The journal stays dense across the kill.
        let events = journal(&mut c, 0).await;
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "gap or duplicate in the journal");
        }
        d.child.kill().unwrap();
        d.child.wait().unwrap();
    }
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero_with_everything_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut d = spawn(&data);
    let mut c = pb::task_service_client::TaskServiceClient::connect(d.addr.clone())
        .await
        .unwrap();
    submit(&mut c, pick("T1")).await.unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit after SIGTERM"
        );
        // Yield to the runtime so the client sees the server's GOAWAY.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(code.success(), "exit status {code:?}");
    let mut d = spawn(&data);
    let mut c = pb::task_service_client::TaskServiceClient::connect(d.addr.clone())
        .await
        .unwrap();
    assert!(c
        .get_task(pb::GetTaskRequest {
            task_id: "T1".into()
        })
        .await
        .is_ok());
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}

//! The engine loop with a scripted device adapter standing in for a
//! protocol: what is sent, when, and what happens after a restart. The
//! adapter here records commands and the test plays the device's answers.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use floorgate::engine::adapter::{
    Availability, BoxFuture, DeviceAdapter, DeviceCommand, DeviceReport, ReportSink, TransportError,
};
use floorgate::engine::model::{DeviceKind, StepState, TaskKind, TaskSpec, TaskState};
use floorgate::engine::{self, runtime::report_channel, EngineConfig, EngineHandle};
use floorgate::store::Store;

#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<DeviceCommand>>,
    stopped: Mutex<Vec<DeviceCommand>>,
}

struct ScriptedAmrs(Arc<Recorder>);

impl DeviceAdapter for ScriptedAmrs {
    fn kinds(&self) -> &[DeviceKind] {
        &[DeviceKind::Amr]
    }
    fn send(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        self.0.sent.lock().unwrap().push(c);
        Box::pin(async { Ok(()) })
    }
    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        self.0.stopped.lock().unwrap().push(c);
        Box::pin(async { Ok(()) })
    }
}

struct Running {
    engine: EngineHandle,
    sink: ReportSink,
    rec: Arc<Recorder>,
    store: Store,
    join: tokio::task::JoinHandle<()>,
}

fn start(dir: &std::path::Path) -> Running {
    let cfg = common::demo_config(dir, &[]);
    let store = Store::open(&cfg.gateway.data_dir).unwrap();
    let rec = Arc::new(Recorder::default());
    let (sink, reports) = report_channel();
    let (engine, join) = engine::start(
        store.clone(),
        cfg.site.clone(),
        vec![Arc::new(ScriptedAmrs(rec.clone()))],
        reports,
        EngineConfig::default(),
    )
    .unwrap();
    Running {
        engine,
        sink,
        rec,
        store,
        join,
    }
}

async fn stop(r: Running) {
    let Running {
        engine,
        join,
        store,
        ..
    } = r;
    drop(engine);
    join.await.unwrap();
    store.flush().await.unwrap();
}

fn spec(id: &str, priority: i32) -> TaskSpec {
    TaskSpec {
        task_id: id.into(),
        kind: TaskKind::Pick,
        sku: "SKU".into(),
        quantity: 1,
        load_id: format!("TOTE-{id}"),
        source: "BUF-1".into(),
        destination: "PICK-1".into(),
        priority,
        deadline_unix_ms: 0,
        attributes: Default::default(),
    }
}

fn online(sink: &ReportSink, id: &str) {
    sink.report(DeviceReport::Availability {
        device_id: id.into(),
        availability: Availability::Online,
        reason: String::new(),
    });
}

async fn until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

fn sent(r: &Running) -> Vec<DeviceCommand> {
    r.rec.sent.lock().unwrap().clone()
}

#[tokio::test]
async fn a_command_is_in_the_outbox_and_durable_before_the_device_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    let s = r.engine.submit(spec("T1", 0)).await.unwrap();
    r.store.wait_durable(s.ticket).await.unwrap();
    assert!(sent(&r).is_empty(), "no device is online yet");
    online(&r.sink, "amr-2");
    let cmds = until(|| Some(sent(&r)).filter(|v| !v.is_empty())).await;
    assert_eq!(cmds.len(), 1);
    let c = &cmds[0];
    assert_eq!(c.device_id, "amr-2");
    assert_eq!(c.command, "transport");
    assert_eq!(c.load_id, "TOTE-T1");
    assert_eq!(c.from.node.as_deref(), Some("N1"));
    assert_eq!(c.to.node.as_deref(), Some("N6"));
    assert_eq!(c.to.station_type.as_deref(), Some("pick-station"));
    // By the time the adapter got it, the outbox entry was durable.
    assert!(*r.store.durable_seq().borrow() >= c.sequence as u64);
    assert_eq!(r.store.outbox().unwrap().len(), 1);
    stop(r).await;
}

#[tokio::test]
async fn completion_completes_the_task_and_clears_the_outbox_and_a_repeat_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    r.sink.report(DeviceReport::Acknowledged {
        command_id: c.command_id.clone(),
    });
    r.sink.report(DeviceReport::Completed {
        command_id: c.command_id.clone(),
    });
    r.sink.report(DeviceReport::Completed {
        command_id: c.command_id.clone(),
    });
    let t = until(|| {
        r.store
            .get_task("T1")
            .unwrap()
            .filter(|t| t.state == TaskState::Completed)
    })
    .await;
    assert_eq!(t.steps[0].state, StepState::Completed);
    r.store.flush().await.unwrap();
    assert!(r.store.outbox().unwrap().is_empty());
    let kinds: Vec<String> = r
        .store
        .events_after(0, u64::MAX, 100)
        .unwrap()
        .iter()
        .filter(|e| e.task_id == "T1")
        .map(|e| {
            format!("{:?}", e.kind)
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "TaskAccepted",
            "TaskPlanned",
            "TaskStarted",
            "StepDispatched",
            "StepAcknowledged",
            "StepCompleted",
            "TaskCompleted"
        ]
    );
    stop(r).await;
}

#[tokio::test]
async fn after_a_restart_the_unfinished_command_is_re_sent_with_the_same_id_and_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let before = until(|| sent(&r).first().cloned()).await;
    stop(r).await;

    let r = start(dir.path());
    let again = until(|| sent(&r).first().cloned()).await;
    assert_eq!(again, before, "the same command, id and sequence");
    // The device is still busy with it: a second task does not go to it.
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T2", 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sent(&r).len(), 1);
    r.sink.report(DeviceReport::Completed {
        command_id: before.command_id.clone(),
    });
    let next = until(|| sent(&r).get(1).cloned()).await;
    assert_eq!(next.load_id, "TOTE-T2");
    stop(r).await;
}

#[tokio::test]
async fn higher_priority_tasks_take_the_free_device_first() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    r.engine.submit(spec("LOW", 0)).await.unwrap();
    r.engine.submit(spec("HIGH", 5)).await.unwrap();
    online(&r.sink, "amr-3");
    let first = until(|| sent(&r).first().cloned()).await;
    assert_eq!(first.load_id, "TOTE-HIGH");
    stop(r).await;
}

#[tokio::test]
async fn cancel_during_a_step_stops_the_device_and_ends_cancelled_when_it_has_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    let (t, _) = r
        .engine
        .cancel("T1".into(), "withdrawn".into())
        .await
        .unwrap();
    assert_eq!(t.state, TaskState::Running, "waits for the device to stop");
    let stopped = until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    assert_eq!(stopped.command_id, c.command_id);
    r.sink.report(DeviceReport::Stopped {
        command_id: c.command_id.clone(),
    });
    let t = until(|| {
        r.store
            .get_task("T1")
            .unwrap()
            .filter(|t| t.state == TaskState::Cancelled)
    })
    .await;
    assert_eq!(t.reason, "withdrawn");
    assert_eq!(t.steps[0].state, StepState::Cancelled);
    stop(r).await;
}

#[tokio::test]
async fn a_device_failure_fails_the_task_naming_the_step_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    r.sink.report(DeviceReport::Failed {
        command_id: c.command_id.clone(),
        reason: "FATAL: lidar blocked".into(),
    });
    let t = until(|| {
        r.store
            .get_task("T1")
            .unwrap()
            .filter(|t| t.state == TaskState::Failed)
    })
    .await;
    assert!(t.reason.contains("step 0 (transport)"), "{}", t.reason);
    assert!(t.reason.contains("lidar blocked"), "{}", t.reason);
    stop(r).await;
}

#[tokio::test]
async fn the_idle_amr_nearest_to_the_pickup_by_layout_distance_takes_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    for (id, node) in [("amr-1", "N8"), ("amr-2", "N5"), ("amr-3", "N2")] {
        r.sink.report(DeviceReport::Position {
            device_id: id.into(),
            node: node.into(),
        });
        online(&r.sink, id);
    }
    // BUF-* is reached at N1: amr-3 at N2 is 5 m away, amr-2 at N5 10 m,
    // amr-1 at N8 15 m.
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let first = until(|| sent(&r).first().cloned()).await;
    assert_eq!(first.device_id, "amr-3");
    r.engine.submit(spec("T2", 0)).await.unwrap();
    let second = until(|| sent(&r).get(1).cloned()).await;
    assert_eq!(second.device_id, "amr-2", "the nearest idle one");
    stop(r).await;
}

#[tokio::test]
async fn a_cancel_pending_at_a_restart_is_carried_out_by_stopping_the_device_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    r.engine
        .cancel("T1".into(), "withdrawn".into())
        .await
        .unwrap();
    until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    // The gateway stops before the device confirmed the stop.
    stop(r).await;

    let r = start(dir.path());
    let again = until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    assert_eq!(again.command_id, c.command_id);
    assert!(sent(&r).is_empty(), "a cancelled command is not sent again");
    r.sink.report(DeviceReport::Stopped {
        command_id: c.command_id.clone(),
    });
    let t = until(|| {
        r.store
            .get_task("T1")
            .unwrap()
            .filter(|t| t.state == TaskState::Cancelled)
    })
    .await;
    assert_eq!(t.reason, "withdrawn");
    stop(r).await;
}

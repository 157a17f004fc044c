//! The engine loop with a scripted device adapter standing in for a
//! protocol: what is sent, when, and what happens after a restart. The
//! adapter here records commands and the test plays the device's answers.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use floorgate::engine::adapter::{
    Availability, BoxFuture, DeviceAdapter, DeviceCommand, DeviceOperation, DeviceReport,
    OperateError, ReportSink, TransportError,
};
use floorgate::engine::model::{DeviceKind, StepState, TaskKind, TaskSpec, TaskState};
use floorgate::engine::{self, runtime::report_channel, EngineConfig, EngineHandle};
use floorgate::store::Store;

#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<DeviceCommand>>,
    stopped: Mutex<Vec<DeviceCommand>>,
    /// When each send was attempted, failed ones included.
    attempts: Mutex<Vec<Instant>>,
    /// This many sends fail with a transport error before any succeeds.
    failing_sends: AtomicU32,
    /// Failing sends never left floorgate (else: unconfirmed).
    not_sent: std::sync::atomic::AtomicBool,
    /// Device commands outside tasks (wake-ups among them).
    operated: Mutex<Vec<(String, DeviceOperation)>>,
}

/// Stands in for the AMR and conveyor adapters.
struct ScriptedAmrs(Arc<Recorder>);

impl DeviceAdapter for ScriptedAmrs {
    fn kinds(&self) -> &[DeviceKind] {
        &[DeviceKind::Amr, DeviceKind::Conveyor]
    }
    fn send(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        self.0.attempts.lock().unwrap().push(Instant::now());
        let failing = self
            .0
            .failing_sends
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            let not_sent = self.0.not_sent.load(Ordering::SeqCst);
            return Box::pin(async move {
                if not_sent {
                    Err(TransportError::not_sent(c.device_id, "not connected"))
                } else {
                    Err(TransportError::unconfirmed(c.device_id, "connection reset"))
                }
            });
        }
        self.0.sent.lock().unwrap().push(c);
        Box::pin(async { Ok(()) })
    }
    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        self.0.stopped.lock().unwrap().push(c);
        Box::pin(async { Ok(()) })
    }
    fn operate(
        &self,
        device_id: &str,
        operation: DeviceOperation,
        _sequence: u32,
    ) -> BoxFuture<'_, Result<(), OperateError>> {
        // Robots that sleep wake and sleep; nothing else is scripted (a reset is refused
        // as the default refuses it).
        if !matches!(
            operation,
            DeviceOperation::Wake | DeviceOperation::Hibernate
        ) {
            let message = format!(
                "device {device_id}: its profile has no {} command",
                operation.as_str()
            );
            return Box::pin(async move { Err(OperateError::Unsupported(message)) });
        }
        self.0
            .operated
            .lock()
            .unwrap()
            .push((device_id.to_string(), operation));
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
    start_edited(dir, &[], EngineConfig::default())
}

/// The engine on the demo site with text replacements applied to it.
fn start_edited(dir: &std::path::Path, replace: &[(&str, &str)], config: EngineConfig) -> Running {
    let cfg = common::demo_config_edited(dir, &[], replace);
    let store = Store::open(&cfg.gateway.data_dir).unwrap();
    let rec = Arc::new(Recorder::default());
    let (sink, reports) = report_channel();
    let (engine, join) = engine::start(
        store.clone(),
        cfg.site.clone(),
        vec![Arc::new(ScriptedAmrs(rec.clone()))],
        reports,
        config,
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

/// Accepting a task and dispatching it to a free device happen in one pass
/// of the engine loop, and one flush makes both durable: the command waits
/// for one fsync, not two (the flusher runs on another worker and would
/// otherwise race the dispatch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_accepted_with_a_device_free_is_dispatched_after_a_single_flush() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    for _ in 0..500 {
        let devices = r.engine.devices().await.unwrap();
        if devices
            .iter()
            .any(|d| d.spec.id == "amr-1" && d.availability == Availability::Online)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r.store.flush().await.unwrap();
    for round in 0..5 {
        let before = r.store.flushes();
        let id = format!("T{round}");
        let s = r.engine.submit(spec(&id, 0)).await.unwrap();
        r.store.wait_durable(s.ticket).await.unwrap();
        let c = until(|| sent(&r).into_iter().find(|c| c.command_id.starts_with(&id))).await;
        assert!(*r.store.durable_seq().borrow() >= c.sequence as u64);
        assert_eq!(
            r.store.flushes() - before,
            1,
            "accepting and dispatching {id} took more than one flush"
        );
        r.sink.report(DeviceReport::Completed {
            command_id: c.command_id.clone(),
        });
        until_state(&r, &id, TaskState::Completed).await;
        r.store.flush().await.unwrap();
    }
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

/// The AMR route step of the buffer routes, as the demo site writes it.
const BUFFER_STEP: &str =
    r#"{ device_kind = "amr", command = "transport", from = "$source", to = "$destination" },"#;

fn event_names(store: &Store, task_id: &str) -> Vec<String> {
    store
        .events_after(0, u64::MAX, 1000)
        .unwrap()
        .iter()
        .filter(|e| e.task_id == task_id)
        .map(|e| {
            format!("{:?}", e.kind)
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn until_state(r: &Running, id: &str, state: TaskState) -> floorgate::engine::model::Task {
    until(|| r.store.get_task(id).unwrap().filter(|t| t.state == state)).await
}

#[tokio::test]
async fn a_step_still_on_its_device_at_its_timeout_is_stopped_and_fails_once_the_device_confirms() {
    // Durability: the deadline is the persisted dispatch time plus the
    // step's timeout, both written in the dispatch's own transaction. The
    // stop request is one change (the step keeps its device and its outbox
    // entry: the device may still be at it); the failure, its events and
    // the outbox deletion are the next, made only once the device stopped.
    let dir = tempfile::tempdir().unwrap();
    let timed = BUFFER_STEP.replace(" },", ", timeout_secs = 1 },");
    let r = start_edited(
        dir.path(),
        &[(BUFFER_STEP, &timed)],
        EngineConfig::default(),
    );
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    r.sink.report(DeviceReport::Acknowledged {
        command_id: c.command_id.clone(),
    });
    let stopped = until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    assert_eq!(stopped.command_id, c.command_id);
    let requested = until(|| stop_requested_at(&r.store, "T1")).await;
    let t = r.store.get_task("T1").unwrap().unwrap();
    let waited = requested - t.steps[0].dispatched_unix_ms.unwrap();
    assert!(
        (1000..2000).contains(&waited),
        "stop requested {waited} ms after dispatch"
    );
    // Not failed yet, and no other task may take amr-1.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = r.store.get_task("T1").unwrap().unwrap();
    assert_eq!(t.state, TaskState::Running);
    assert_eq!(t.steps[0].state, StepState::Acknowledged);
    r.store.flush().await.unwrap();
    assert_eq!(r.store.outbox().unwrap().len(), 1);
    r.engine.submit(spec("T2", 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sent(&r).len(), 1, "amr-1 is still held by T1");

    r.sink.report(DeviceReport::Stopped {
        command_id: c.command_id.clone(),
    });
    let t = until_state(&r, "T1", TaskState::Failed).await;
    assert!(
        t.reason
            .contains("step 0 (transport) failed: timed out after 1 s"),
        "{}",
        t.reason
    );
    // A late completion of the stopped command changes nothing.
    r.sink.report(DeviceReport::Completed {
        command_id: c.command_id.clone(),
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        r.store.get_task("T1").unwrap().unwrap().state,
        TaskState::Failed
    );
    assert_eq!(
        event_names(&r.store, "T1")[3..],
        [
            "StepDispatched",
            "StepAcknowledged",
            "StepStopRequested",
            "StepFailed",
            "TaskFailed"
        ]
    );
    // Now the device is free for the next task.
    let next = until(|| sent(&r).get(1).cloned()).await;
    assert_eq!(next.load_id, "TOTE-T2");
    stop(r).await;
}

/// When the engine asked the device to stop `task_id`'s step.
fn stop_requested_at(store: &Store, task_id: &str) -> Option<i64> {
    store
        .events_after(0, u64::MAX, 1000)
        .unwrap()
        .into_iter()
        .find(|e| {
            e.task_id == task_id
                && matches!(
                    e.kind,
                    floorgate::engine::model::EventKind::StepStopRequested(_)
                )
        })
        .map(|e| e.time_unix_ms)
}

#[tokio::test]
async fn a_step_timer_survives_a_restart_and_keeps_counting_from_the_dispatch() {
    let dir = tempfile::tempdir().unwrap();
    let timed = BUFFER_STEP.replace(" },", ", timeout_secs = 2 },");
    let replace = [(BUFFER_STEP, timed.as_str())];
    let r = start_edited(dir.path(), &replace, EngineConfig::default());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    stop(r).await;
    // Down for 1.2 s: a timer restarted at recovery would fire at +3.2 s.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let r = start_edited(dir.path(), &replace, EngineConfig::default());
    let again = until(|| sent(&r).first().cloned()).await;
    assert_eq!(again.command_id, c.command_id, "re-sent from the outbox");
    let requested = until(|| stop_requested_at(&r.store, "T1")).await;
    let t = r.store.get_task("T1").unwrap().unwrap();
    let waited = requested - t.steps[0].dispatched_unix_ms.unwrap();
    assert!(
        (2000..3000).contains(&waited),
        "stopped {waited} ms after the dispatch, not 2 s"
    );
    let stopped = until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    assert_eq!(stopped.command_id, c.command_id);
    r.sink.report(DeviceReport::Stopped {
        command_id: c.command_id.clone(),
    });
    let t = until_state(&r, "T1", TaskState::Failed).await;
    assert!(t.reason.contains("timed out after 2 s"), "{}", t.reason);
    stop(r).await;
}

#[tokio::test]
async fn a_stop_requested_before_a_restart_is_sent_again_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let timed = BUFFER_STEP.replace(" },", ", timeout_secs = 1 },");
    let replace = [(BUFFER_STEP, timed.as_str())];
    let r = start_edited(dir.path(), &replace, EngineConfig::default());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    until(|| stop_requested_at(&r.store, "T1")).await;
    stop(r).await;

    let r = start_edited(dir.path(), &replace, EngineConfig::default());
    let stopped = until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    assert_eq!(stopped.command_id, c.command_id);
    r.sink.report(DeviceReport::Stopped {
        command_id: c.command_id.clone(),
    });
    let t = until_state(&r, "T1", TaskState::Failed).await;
    assert!(t.reason.contains("timed out after 1 s"), "{}", t.reason);
    stop(r).await;
}

#[tokio::test]
async fn transport_errors_are_retried_with_growing_backoff_then_the_step_fails_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        send_attempts: 4,
        send_backoff: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    let r = start_edited(dir.path(), &[], config.clone());
    // Two transport errors, then the send goes through: the step goes on.
    r.rec.failing_sends.store(2, Ordering::SeqCst);
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    let at = r.rec.attempts.lock().unwrap().clone();
    assert_eq!(at.len(), 3, "two failed attempts and one that went through");
    let (gap1, gap2) = (at[1] - at[0], at[2] - at[1]);
    assert!(gap1 >= Duration::from_millis(50), "{gap1:?}");
    assert!(
        gap2 >= Duration::from_millis(100),
        "backoff doubles: {gap2:?}"
    );
    r.sink.report(DeviceReport::Completed {
        command_id: c.command_id.clone(),
    });
    until_state(&r, "T1", TaskState::Completed).await;

    // Every attempt fails before anything left floorgate: the device
    // certainly lacks the command, and the step fails saying so.
    r.rec.not_sent.store(true, Ordering::SeqCst);
    r.rec.failing_sends.store(4, Ordering::SeqCst);
    r.rec.attempts.lock().unwrap().clear();
    r.engine.submit(spec("T2", 0)).await.unwrap();
    let t = until_state(&r, "T2", TaskState::Failed).await;
    assert_eq!(r.rec.attempts.lock().unwrap().len(), 4);
    assert!(
        t.reason
            .contains("could not reach the device after 4 attempts: not connected"),
        "{}",
        t.reason
    );
    stop(r).await;
}

#[tokio::test]
async fn an_unconfirmed_send_holds_the_step_on_its_device_and_is_re_sent_until_the_device_answers()
{
    // A write whose answer was lost may have been taken: the step never
    // moves to another device (it has a fallback here), it is journaled as
    // outcome unknown, and the same command is sent again until it goes
    // through and the device's own reports decide.
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        send_attempts: 2,
        send_backoff: Duration::from_millis(20),
        ..EngineConfig::default()
    };
    let fallback = BUFFER_STEP.replace(
        " },",
        r#", on_failure = "retry_other_device", max_reassignments = 2 },"#,
    );
    let r = start_edited(dir.path(), &[(BUFFER_STEP, fallback.as_str())], config);
    r.rec.failing_sends.store(4, Ordering::SeqCst);
    online(&r.sink, "amr-1");
    online(&r.sink, "amr-3");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let t = until(|| {
        r.store
            .get_task("T1")
            .unwrap()
            .filter(|t| t.steps[0].state == StepState::OutcomeUnknown)
    })
    .await;
    let held = t.steps[0].device_id.clone().unwrap();
    assert!(
        t.steps[0].reason.contains("it may have taken the command"),
        "{}",
        t.steps[0].reason
    );
    // Re-sent under the same id to the same device until it goes through.
    let c = until(|| sent(&r).first().cloned()).await;
    assert_eq!(
        (c.command_id.as_str(), c.device_id.as_str()),
        ("T1#0", held.as_str())
    );
    assert_eq!(r.rec.attempts.lock().unwrap().len(), 5);
    r.sink.report(DeviceReport::Acknowledged {
        command_id: c.command_id.clone(),
    });
    r.sink.report(DeviceReport::Completed {
        command_id: c.command_id.clone(),
    });
    let t = until_state(&r, "T1", TaskState::Completed).await;
    assert_eq!(t.steps[0].attempt, 0, "never re-planned");
    assert_eq!(
        event_names(&r.store, "T1")[3..],
        [
            "StepDispatched",
            "StepOutcomeUnknown",
            "StepAcknowledged",
            "StepCompleted",
            "TaskCompleted"
        ]
    );
    stop(r).await;
}

#[tokio::test]
async fn an_unknown_outcome_is_resolved_by_an_operator_and_journaled_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    // Resolving a step the device still reports on is refused.
    let e = r
        .engine
        .resolve("amr-1".into(), true, "looked".into())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not outcome unknown"), "{e}");
    r.sink.report(DeviceReport::OutcomeUnknown {
        command_id: c.command_id.clone(),
        reason: "finished while the gateway was away".into(),
    });
    until(|| {
        r.store
            .get_task("T1")
            .unwrap()
            .filter(|t| t.steps[0].state == StepState::OutcomeUnknown)
    })
    .await;
    // The device is held: a second task waits.
    r.engine.submit(spec("T2", 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sent(&r).len(), 1);
    let (t, _) = r
        .engine
        .resolve("amr-1".into(), true, "load seen at PICK-1".into())
        .await
        .unwrap();
    assert_eq!(t.state, TaskState::Completed);
    let commanded: Vec<_> = r
        .store
        .events_after(0, u64::MAX, 1000)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            floorgate::engine::model::EventKind::DeviceCommanded {
                device_id,
                operation,
                reason,
            } => Some((device_id, operation, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        commanded,
        [(
            "amr-1".to_string(),
            "resolve_completed".to_string(),
            "load seen at PICK-1".to_string()
        )]
    );
    let next = until(|| sent(&r).get(1).cloned()).await;
    assert_eq!(next.load_id, "TOTE-T2");
    stop(r).await;
}

#[tokio::test]
async fn an_operator_stop_of_a_busy_device_stops_its_step_and_an_unsupported_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    // The scripted adapter has no reset: refused, nothing journaled.
    let e = r
        .engine
        .operate(
            "amr-1".into(),
            floorgate::engine::adapter::DeviceOperation::Reset,
            "try".into(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, floorgate::engine::EngineError::FailedPrecondition(ref m) if m.contains("no reset command")),
        "{e}"
    );
    let commanded = |store: &Store| {
        store
            .events_after(0, u64::MAX, 1000)
            .unwrap()
            .into_iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    floorgate::engine::model::EventKind::DeviceCommanded { .. }
                )
            })
            .count()
    };
    assert_eq!(commanded(&r.store), 0);
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    r.engine
        .operate(
            "amr-1".into(),
            floorgate::engine::adapter::DeviceOperation::Stop,
            "aisle blocked".into(),
        )
        .await
        .unwrap();
    let stopped = until(|| r.rec.stopped.lock().unwrap().first().cloned()).await;
    assert_eq!(stopped.command_id, c.command_id);
    r.sink.report(DeviceReport::Stopped {
        command_id: c.command_id.clone(),
    });
    let t = until_state(&r, "T1", TaskState::Failed).await;
    assert!(
        t.reason.contains("stopped by an operator: aisle blocked"),
        "{}",
        t.reason
    );
    assert_eq!(
        commanded(&r.store),
        1,
        "the stop is journaled with its reason"
    );
    stop(r).await;
}

#[tokio::test]
async fn each_device_numbers_its_commands_itself_and_the_numbers_survive_a_restart() {
    // The Modbus mailbox keys commands by a 16-bit sequence: allocated per
    // device (command, then its stop), committed with the dispatch, so no
    // two commands to one device share one, whatever the journal's seq.
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let first = until(|| sent(&r).first().cloned()).await;
    assert_eq!((first.sequence, first.stop_sequence), (1, 2));
    r.sink.report(DeviceReport::Completed {
        command_id: first.command_id.clone(),
    });
    r.engine.submit(spec("T2", 0)).await.unwrap();
    let second = until(|| sent(&r).get(1).cloned()).await;
    assert_eq!((second.sequence, second.stop_sequence), (3, 4));
    r.sink.report(DeviceReport::Completed {
        command_id: second.command_id.clone(),
    });
    until_state(&r, "T2", TaskState::Completed).await;
    stop(r).await;

    let r = start(dir.path());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T3", 0)).await.unwrap();
    let third = until(|| sent(&r).first().cloned()).await;
    assert_eq!((third.sequence, third.stop_sequence), (5, 6));
    stop(r).await;
    // The wrap skips 0 and never repeats the previous value.
    use floorgate::engine::adapter::next_device_sequence;
    assert_eq!(next_device_sequence(0), 1);
    assert_eq!(next_device_sequence(65_534), 65_535);
    assert_eq!(next_device_sequence(65_535), 1);
}

#[tokio::test]
async fn a_step_with_a_fallback_moves_to_another_amr_with_a_new_command_id_and_the_failure_journaled(
) {
    // Durability: the failure (StepFailed, the step back to pending with its
    // next attempt, the outbox entry deleted) is one transaction; the next
    // dispatch is another, with its own outbox entry under the new command
    // id, so a restart between the two re-plans nothing twice.
    let dir = tempfile::tempdir().unwrap();
    let fallback = BUFFER_STEP.replace(
        " },",
        r#", on_failure = "retry_other_device", max_reassignments = 2 },"#,
    );
    let replace = [(BUFFER_STEP, fallback.as_str())];
    let r = start_edited(dir.path(), &replace, EngineConfig::default());
    online(&r.sink, "amr-1");
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let first = until(|| sent(&r).first().cloned()).await;
    assert_eq!(
        (first.command_id.as_str(), first.device_id.as_str()),
        ("T1#0", "amr-1")
    );
    r.sink.report(DeviceReport::Failed {
        command_id: first.command_id.clone(),
        reason: "FATAL: lidar blocked".into(),
    });
    // No other AMR is online yet: the task waits, still running.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = r.store.get_task("T1").unwrap().unwrap();
    assert_eq!(t.state, TaskState::Running);
    assert_eq!(t.steps[0].failed_devices, ["amr-1"]);
    stop(r).await;

    // Across a restart, onto another AMR, never back onto amr-1.
    let r = start_edited(dir.path(), &replace, EngineConfig::default());
    online(&r.sink, "amr-1");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sent(&r).is_empty(), "amr-1 failed this step once");
    online(&r.sink, "amr-3");
    let second = until(|| sent(&r).first().cloned()).await;
    assert_eq!(
        (second.command_id.as_str(), second.device_id.as_str()),
        ("T1#0.1", "amr-3")
    );
    // Each device numbers its own commands.
    assert_eq!((first.sequence, second.sequence), (1, 1));
    // A late report about the first attempt touches nothing.
    r.sink.report(DeviceReport::Completed {
        command_id: first.command_id.clone(),
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        r.store.get_task("T1").unwrap().unwrap().steps[0].state,
        StepState::Dispatched
    );
    r.sink.report(DeviceReport::Completed {
        command_id: second.command_id.clone(),
    });
    let t = until_state(&r, "T1", TaskState::Completed).await;
    assert_eq!(t.steps[0].device_id.as_deref(), Some("amr-3"));
    assert_eq!(t.steps[0].attempt, 1);
    assert_eq!(
        event_names(&r.store, "T1"),
        [
            "TaskAccepted",
            "TaskPlanned",
            "TaskStarted",
            "StepDispatched",
            "StepFailed",
            "StepDispatched",
            "StepCompleted",
            "TaskCompleted"
        ]
    );
    let events = r.store.events_after(0, u64::MAX, 1000).unwrap();
    let refs: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            floorgate::engine::model::EventKind::StepDispatched(s)
            | floorgate::engine::model::EventKind::StepFailed(s) => {
                Some((s.step_index, s.device_id.as_str(), s.attempt))
            }
            _ => None,
        })
        .collect();
    assert_eq!(refs, [(0, "amr-1", 0), (0, "amr-1", 0), (0, "amr-3", 1)]);
    stop(r).await;
}

/// A transfer from the inbound port to the conveyor-fed station: one step
/// on the one conveyor.
fn conveyor_spec(id: &str, priority: i32) -> TaskSpec {
    TaskSpec {
        source: "INBOUND-1".into(),
        destination: "PICK-3".into(),
        ..spec(id, priority)
    }
}

#[tokio::test]
async fn a_conveyor_with_waiting_tasks_serves_them_by_priority_one_command_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    for (id, priority) in [
        ("LOW", 0),
        ("HIGH", 9),
        ("MID", 5),
        ("MID2", 5),
        ("LOW2", 0),
    ] {
        r.engine.submit(conveyor_spec(id, priority)).await.unwrap();
    }
    online(&r.sink, "conv-1");
    let mut order = Vec::new();
    for n in 1..=5 {
        let c = until(|| sent(&r).get(n - 1).cloned()).await;
        // While it runs, nothing else goes to the conveyor.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sent(&r).len(), n, "a second command while one runs");
        assert_eq!(r.store.outbox().unwrap().len(), 1);
        order.push(c.load_id.trim_start_matches("TOTE-").to_string());
        r.sink.report(DeviceReport::Completed {
            command_id: c.command_id.clone(),
        });
    }
    // By priority, then by age within a priority.
    assert_eq!(order, ["HIGH", "MID", "MID2", "LOW", "LOW2"]);
    stop(r).await;
}

#[tokio::test]
async fn a_task_started_before_its_deadline_is_not_interrupted_when_it_passes() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    online(&r.sink, "amr-1");
    let mut s = spec("T1", 0);
    s.deadline_unix_ms = floorgate::engine::model::now_unix_ms() + 300;
    r.engine.submit(s).await.unwrap();
    let c = until(|| sent(&r).first().cloned()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        r.store.get_task("T1").unwrap().unwrap().state,
        TaskState::Running
    );
    r.sink.report(DeviceReport::Completed {
        command_id: c.command_id.clone(),
    });
    until_state(&r, "T1", TaskState::Completed).await;
    // One not started by then expires.
    let mut late = spec("T2", 0);
    late.deadline_unix_ms = floorgate::engine::model::now_unix_ms() - 1;
    let t2 = r.engine.submit(late).await.unwrap();
    assert!(t2.created);
    let t = until_state(&r, "T2", TaskState::Expired).await;
    assert!(t.steps.iter().all(|s| s.state == StepState::Cancelled));
    assert_eq!(sent(&r).len(), 1, "an expired task starts nothing");
    stop(r).await;
}

fn asleep(sink: &ReportSink, id: &str) {
    sink.report(DeviceReport::Availability {
        device_id: id.into(),
        availability: Availability::Asleep,
        reason: "hibernating".into(),
    });
}

#[tokio::test]
async fn a_step_with_only_sleeping_robots_wakes_the_nearest_once_and_goes_to_it_when_it_is_online()
{
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path());
    for (id, node) in [("amr-1", "N8"), ("amr-2", "N2")] {
        r.sink.report(DeviceReport::Position {
            device_id: id.into(),
            node: node.into(),
        });
        asleep(&r.sink, id);
    }
    r.engine.submit(spec("T1", 0)).await.unwrap();
    let woken = until(|| {
        let o = r.rec.operated.lock().unwrap().clone();
        (!o.is_empty()).then_some(o)
    })
    .await;
    assert_eq!(
        woken,
        [("amr-2".to_string(), DeviceOperation::Wake)],
        "the nearest sleeper"
    );
    // More inputs while it wakes: not woken again, the other sleeper left alone, nothing sent.
    for _ in 0..5 {
        asleep(&r.sink, "amr-2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(r.rec.operated.lock().unwrap().len(), 1);
    assert!(sent(&r).is_empty(), "nothing goes to a sleeping robot");
    // A second waiting task wakes the second sleeper.
    r.engine.submit(spec("T2", 0)).await.unwrap();
    until(|| (r.rec.operated.lock().unwrap().len() == 2).then_some(())).await;
    assert_eq!(r.rec.operated.lock().unwrap()[1].0, "amr-1");
    // Awake: the step goes to it.
    online(&r.sink, "amr-2");
    let first = until(|| sent(&r).first().cloned()).await;
    assert_eq!(first.device_id, "amr-2");
    // The journal says what happened: asleep, woken (device_commanded), online.
    let kinds: Vec<String> = r
        .store
        .events_after(0, u64::MAX, 1000)
        .unwrap()
        .iter()
        .map(|e| format!("{:?}", e.kind))
        .filter(|k| k.contains("amr-2"))
        .map(|k| k.split([' ', '{']).next().unwrap().to_string())
        .collect();
    let at = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k} in {kinds:?}"))
    };
    assert!(
        at("DeviceAsleep") < at("DeviceCommanded") && at("DeviceCommanded") < at("DeviceOnline"),
        "{kinds:?}"
    );
    stop(r).await;
}

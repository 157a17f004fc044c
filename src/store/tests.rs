//! The store's invariants, each checked directly against sled.

use std::collections::BTreeMap;

use super::*;
use crate::engine::adapter::{DeviceCommand, Endpoint};
use crate::engine::model::{DeviceKind, TaskKind, TaskSpec};

fn task(id: &str, state: TaskState) -> Task {
    Task {
        spec: TaskSpec {
            task_id: id.into(),
            kind: TaskKind::Pick,
            sku: "S".into(),
            quantity: 1,
            load_id: "L".into(),
            source: "A".into(),
            destination: "B".into(),
            priority: 0,
            deadline_unix_ms: 0,
            attributes: BTreeMap::new(),
        },
        state,
        steps: vec![],
        reason: String::new(),
        cancel_requested: None,
        created_unix_ms: 0,
        updated_unix_ms: 0,
    }
}

fn accepted(id: &str) -> Change {
    let t = task(id, TaskState::Planned);
    Change {
        events: vec![(
            id.into(),
            EventKind::TaskAccepted {
                spec: t.spec.clone(),
            },
        )],
        task: Some(t),
        ..Change::default()
    }
}

fn command(id: &str) -> OutboxEntry {
    let ep = |l: &str| Endpoint {
        location: l.into(),
        node: None,
        station_type: None,
        load_type: None,
        plc_address: None,
    };
    OutboxEntry {
        task_id: "T".into(),
        step: 0,
        command: DeviceCommand {
            command_id: id.into(),
            sequence: 7,
            stop_sequence: 0,
            device_id: "amr-1".into(),
            device_kind: DeviceKind::Amr,
            command: "transport".into(),
            from: ep("A"),
            to: ep("B"),
            load_id: "L".into(),
            params: BTreeMap::new(),
        },
    }
}

#[tokio::test]
async fn seqs_are_dense_across_commits_and_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        let a = s.commit(accepted("T1")).unwrap();
        let b = s
            .commit(Change {
                events: vec![
                    ("T2".into(), EventKind::TaskStarted),
                    ("T2".into(), EventKind::TaskCompleted),
                ],
                ..Change::default()
            })
            .unwrap();
        assert_eq!(a.events[0].seq, 1);
        assert_eq!(b.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
        s.wait_durable(b.ticket).await.unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(*s.durable_seq().borrow(), 3);
    let c = s.commit(accepted("T3")).unwrap();
    assert_eq!(c.events[0].seq, 4);
    let all = s.events_after(0, 10, 100).unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_commit_is_visible_to_watchers_only_once_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let durable = s.durable_seq();
    // The test runtime is single-threaded: the flusher cannot run until we
    // await, so the commit is written but not yet durable.
    let c = s.commit(accepted("T1")).unwrap();
    assert_eq!(*durable.borrow(), 0);
    s.wait_durable(c.ticket).await.unwrap();
    assert_eq!(*durable.borrow(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_under_a_batch_become_durable_in_one_flush() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let before = s.flushes();
    let batch = s.batch();
    let first = s.commit(accepted("T1")).unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.wait_durable(first.ticket).await })
    };
    // The flusher runs on the other worker; while the batch is open it must
    // not flush, so the first commit is not durable however long we wait.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "a flush started inside the batch");
    assert_eq!(*s.durable_seq().borrow(), 0);
    let second = s.commit(accepted("T2")).unwrap();
    drop(batch);
    waiter.await.unwrap().unwrap();
    s.wait_durable(second.ticket).await.unwrap();
    assert_eq!(s.flushes() - before, 1, "both commits in one flush");
    assert_eq!(*s.durable_seq().borrow(), 2);
}

#[tokio::test]
async fn concurrent_commits_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let mut waits = Vec::new();
    for i in 0..200 {
        let c = s.commit(accepted(&format!("T{i}"))).unwrap();
        let s = s.clone();
        waits.push(tokio::spawn(async move { s.wait_durable(c.ticket).await }));
    }
    for w in waits {
        w.await.unwrap().unwrap();
    }
    assert!(
        s.flushes() < 10,
        "200 concurrent commits took {} flushes",
        s.flushes()
    );
    assert_eq!(*s.durable_seq().borrow(), 200);
}

#[tokio::test]
async fn task_event_and_outbox_entry_are_written_together_and_removed_together() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let mut change = accepted("T1");
    change.outbox_put.push(command("T1#0"));
    s.commit(change).unwrap();
    assert_eq!(s.outbox().unwrap(), vec![command("T1#0")]);
    assert!(s.get_task("T1").unwrap().is_some());
    let c = s
        .commit(Change {
            task: Some(task("T1", TaskState::Completed)),
            events: vec![("T1".into(), EventKind::TaskCompleted)],
            outbox_delete: vec!["T1#0".into()],
            ..Change::default()
        })
        .unwrap();
    s.wait_durable(c.ticket).await.unwrap();
    assert!(s.outbox().unwrap().is_empty());
    assert_eq!(
        s.get_task("T1").unwrap().unwrap().state,
        TaskState::Completed
    );
    assert!(s.open_tasks().unwrap().is_empty());
}

#[tokio::test]
async fn ack_compacts_up_to_the_durable_end_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        for i in 0..5 {
            s.commit(accepted(&format!("T{i}"))).unwrap();
        }
        s.flush().await.unwrap();
        let pos = s.ack(3).await.unwrap();
        assert_eq!(
            pos,
            JournalPosition {
                last_seq: 5,
                acked_seq: 3
            }
        );
        // Beyond the end clamps to what is durable.
        let pos = s.ack(99).await.unwrap();
        assert_eq!(pos.acked_seq, 5);
        assert!(s.events_after(0, 5, 10).unwrap().is_empty());
        s.commit(accepted("T9")).unwrap();
        s.flush().await.unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    let pos = s.position().unwrap();
    assert_eq!(
        pos,
        JournalPosition {
            last_seq: 6,
            acked_seq: 5
        }
    );
    let rest = s.events_after(0, 6, 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].seq, 6, "seqs are never reused after compaction");
}

/// A watcher reading in batches while the cloud acknowledges ahead of it (the
/// acknowledged events deleted under its cursor) gets every event still kept,
/// each once, in order, and never more than it asked for.
#[tokio::test]
async fn a_batched_reader_skips_what_is_acknowledged_under_it_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for i in 0..60 {
        s.commit(accepted(&format!("T{i}"))).unwrap();
    }
    s.flush().await.unwrap();
    let (mut cursor, mut seen) = (0u64, Vec::new());
    loop {
        let batch = s.events_after(cursor, 60, 7).unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 7, "a batch of {}", batch.len());
        for e in &batch {
            assert!(e.seq > cursor, "seq {} after cursor {cursor}", e.seq);
            cursor = e.seq;
            seen.push(e.seq);
        }
        // The cloud runs ahead: everything up to three past the cursor is gone.
        if cursor + 3 <= 60 {
            s.ack(cursor + 3).await.unwrap();
        }
    }
    let mut expected = Vec::new();
    let mut c = 0;
    while c < 60 {
        let batch_end = (c + 7).min(60);
        expected.extend(c + 1..=batch_end);
        c = batch_end;
        if c + 3 <= 60 {
            c += 3;
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn list_tasks_pages_in_key_order_with_a_state_filter() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for (i, st) in [
        TaskState::Planned,
        TaskState::Completed,
        TaskState::Planned,
        TaskState::Planned,
    ]
    .into_iter()
    .enumerate()
    {
        s.commit(Change {
            task: Some(task(&format!("T{i}"), st)),
            ..Change::default()
        })
        .unwrap();
    }
    let (page, more) = s.list_tasks(&[TaskState::Planned], None, 2).unwrap();
    assert_eq!(
        page.iter().map(|t| t.id()).collect::<Vec<_>>(),
        ["T0", "T2"]
    );
    assert!(more);
    let (page, more) = s.list_tasks(&[TaskState::Planned], Some("T2"), 2).unwrap();
    assert_eq!(page.iter().map(|t| t.id()).collect::<Vec<_>>(), ["T3"]);
    assert!(!more);
}

#[test]
fn a_data_directory_of_another_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert(FORMAT_KEY, &99u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _g = rt.enter();
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::Format { found: 99 })
    ));
}

#[tokio::test]
async fn a_journal_keeps_its_id_across_reopens_and_a_new_directory_gets_another() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let s = Store::open(dir.path()).unwrap();
        let id = s.journal_id().to_string();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        s.flush().await.unwrap();
        id
    };
    // sled releases the directory lock once its own flusher stops.
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.journal_id(), id);
    let other = tempfile::tempdir().unwrap();
    let fresh = Store::open(other.path()).unwrap();
    assert_ne!(
        fresh.journal_id(),
        id,
        "a replaced data directory is told apart"
    );
}

/// `id` moved to `state` at `at_ms`, with an event (as the engine writes it).
fn moved(id: &str, state: TaskState, at_ms: i64) -> Change {
    let mut t = task(id, state);
    t.updated_unix_ms = at_ms;
    Change {
        events: vec![(id.into(), EventKind::TaskCompleted)],
        task: Some(t),
        ..Change::default()
    }
}

fn count(s: &Store, state: TaskState) -> u64 {
    s.task_counts()
        .unwrap()
        .into_iter()
        .find(|(x, _)| *x == state)
        .unwrap()
        .1
}

#[tokio::test]
async fn task_counts_and_the_state_index_follow_every_change_in_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for id in ["T1", "T2", "T3"] {
        s.commit(accepted(id)).unwrap();
    }
    s.commit(moved("T2", TaskState::Completed, 5)).unwrap();
    assert_eq!(count(&s, TaskState::Planned), 2);
    assert_eq!(count(&s, TaskState::Completed), 1);
    // A filtered list reads only the index's tasks, in id order.
    let (planned, more) = s.list_tasks(&[TaskState::Planned], None, 10).unwrap();
    assert_eq!(
        planned.iter().map(|t| t.id()).collect::<Vec<_>>(),
        ["T1", "T3"]
    );
    assert!(!more);
    let (both, _) = s
        .list_tasks(&[TaskState::Completed, TaskState::Planned], Some("T1"), 10)
        .unwrap();
    assert_eq!(
        both.iter().map(|t| t.id()).collect::<Vec<_>>(),
        ["T2", "T3"]
    );
    let open: Vec<String> = s
        .open_tasks()
        .unwrap()
        .iter()
        .map(|t| t.id().to_string())
        .collect();
    assert_eq!(open, ["T1", "T3"]);
    s.flush().await.unwrap();
    drop(s);
    // The counts are durable with the changes.
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(count(&s, TaskState::Planned), 2);
    assert_eq!(count(&s, TaskState::Completed), 1);
}

#[tokio::test]
async fn a_data_directory_from_before_the_indexes_gets_them_built_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.commit(accepted("T1")).unwrap();
        s.commit(accepted("T2")).unwrap();
        s.commit(moved("T2", TaskState::Failed, 5)).unwrap();
        s.flush().await.unwrap();
        // As an older build left it: no indexes, no counts.
        for name in ["by_state", "ended"] {
            s.inner.db.drop_tree(name).unwrap();
        }
        s.inner.meta.remove(index::INDEX_FORMAT_KEY).unwrap();
        for st in TaskState::ALL {
            s.inner.meta.remove(index::count_key(st)).unwrap();
        }
        s.inner.db.flush().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(count(&s, TaskState::Planned), 1);
    assert_eq!(count(&s, TaskState::Failed), 1);
    let (failed, _) = s.list_tasks(&[TaskState::Failed], None, 10).unwrap();
    assert_eq!(failed[0].id(), "T2");
}

#[tokio::test]
async fn ended_tasks_are_retired_only_once_acknowledged_and_past_retention_or_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for (i, id) in ["A", "B", "C"].iter().enumerate() {
        s.commit(accepted(id)).unwrap();
        s.commit(moved(id, TaskState::Completed, 1000 * (i as i64 + 1)))
            .unwrap();
    }
    s.commit(accepted("OPEN")).unwrap();
    s.flush().await.unwrap();
    // Nothing acknowledged yet: nothing goes, however old.
    assert_eq!(s.retire(1_000_000, 0, 0, 100).unwrap(), 0);
    // A and B acknowledged (their events are seqs 1..=4).
    s.ack(4).await.unwrap();
    // Within retention and under the count: kept.
    assert_eq!(s.retire(2_500, 10_000, 10, 100).unwrap(), 0);
    // Past retention: A and B go, C (not acknowledged) stays.
    assert_eq!(s.retire(20_000, 10_000, 10, 100).unwrap(), 2);
    assert!(s.get_task("A").unwrap().is_none());
    assert!(s.get_task("B").unwrap().is_none());
    assert!(s.get_task("C").unwrap().is_some());
    assert!(
        s.get_task("OPEN").unwrap().is_some(),
        "open tasks are never retired"
    );
    assert_eq!(count(&s, TaskState::Completed), 1);
    assert!(
        s.list_tasks(&[TaskState::Completed], None, 10)
            .unwrap()
            .0
            .len()
            == 1
    );
    // Over the count, C goes sooner once acknowledged.
    s.ack(u64::MAX).await.unwrap();
    assert_eq!(s.retire(3_100, 1_000_000, 0, 100).unwrap(), 1);
    assert_eq!(count(&s, TaskState::Completed), 0);
    assert_eq!(count(&s, TaskState::Planned), 1);
}

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

/// `n` events in commits of 1 to 7, some with a large payload (so blocks
/// are sealed by size as well as by count); returns them as committed.
fn journal(s: &Store, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n {
        let k = (i % 7 + 1).min(n - out.len());
        let events = (0..k)
            .map(|j| {
                let mut t = task(&format!("T{i}-{j}"), TaskState::Planned);
                if (i + j) % 5 == 0 {
                    t.spec.attributes.insert("note".into(), "x".repeat(900));
                }
                (
                    t.spec.task_id.clone(),
                    EventKind::TaskAccepted { spec: t.spec },
                )
            })
            .collect();
        let c = s
            .commit(Change {
                events,
                ..Change::default()
            })
            .unwrap();
        out.extend(c.events);
        i += 1;
    }
    out
}

/// The same events: seqs compared first, so a failure prints seqs, not
/// thousands of events.
#[track_caller]
fn same(got: &[Event], want: &[Event], what: &str) {
    let seqs = |e: &[Event]| e.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(got), seqs(want), "{what}");
    assert!(got == want, "{what}: same seqs, other contents");
}

fn loose_and_blocks(s: &Store) -> (usize, usize) {
    (s.inner.events.len(), s.inner.blocks.len())
}

#[tokio::test]
async fn older_events_move_into_blocks_and_read_back_exactly_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let s = Store::open(dir.path()).unwrap();
        let written = journal(&s, 1000);
        s.compact_now().unwrap();
        let (loose, in_blocks) = loose_and_blocks(&s);
        assert!(
            loose as u64 <= blocks::KEEP_LOOSE + blocks::BLOCK_EVENTS,
            "only the newest stay one per key: {loose}"
        );
        assert!(in_blocks >= (1000 - loose) / blocks::BLOCK_EVENTS as usize);
        // Every window, including ones that start and end inside a block.
        for (after, up_to, limit) in [
            (0, 1000, 2000),
            (0, 1000, 1),
            (5, 37, 10),
            (31, 1000, 33),
            (300, 900, 512),
            (700, 800, 1000),
            (999, 1000, 10),
            (1000, 1000, 10),
        ] {
            let got = s.events_after(after, up_to, limit).unwrap();
            let want: Vec<_> = written
                .iter()
                .filter(|e| e.seq > after && e.seq <= up_to)
                .take(limit)
                .cloned()
                .collect();
            same(
                &got,
                &want,
                &format!("after {after}, up to {up_to}, limit {limit}"),
            );
        }
        s.flush().await.unwrap();
        written
    };
    let s = Store::open(dir.path()).unwrap();
    same(
        &s.events_after(0, 1000, 2000).unwrap(),
        &written,
        "after reopening",
    );
    assert_eq!(s.position().unwrap().last_seq, 1000);
    let more = journal(&s, 1);
    assert_eq!(more[0].seq, 1001, "seqs go on after blocks");
}

#[tokio::test]
async fn an_acknowledgement_deletes_whole_blocks_and_reads_skip_the_acknowledged_part_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let written = journal(&s, 1000);
    s.compact_now().unwrap();
    s.flush().await.unwrap();
    s.ack(500).await.unwrap();
    let rest = s.events_after(0, 1000, 2000).unwrap();
    same(&rest, &written[500..], "nothing acknowledged is replayed");
    for kv in s.inner.blocks.iter() {
        let (k, v) = kv.unwrap();
        assert!(
            be(&k) > 500,
            "a block whose events are all acknowledged is gone"
        );
        assert!(blocks::decode(&v).unwrap().iter().any(|e| e.seq > 500));
    }
    // New blocks start after what is acknowledged.
    s.ack(1000).await.unwrap();
    let later = journal(&s, 600);
    s.compact_now().unwrap();
    assert!(loose_and_blocks(&s).1 > 0);
    same(
        &s.events_after(1000, 1600, 2000).unwrap(),
        &later,
        "after the ack",
    );
    same(&s.events_after(0, 1600, 2000).unwrap(), &later, "from 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_every_seq_once_while_blocks_are_made_behind_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let writer = {
        let s = s.clone();
        tokio::task::spawn_blocking(move || journal(&s, 4000))
    };
    // Reads chase the writer while the background compaction moves what
    // the reader has not reached yet.
    let mut cursor = 0;
    let mut read = Vec::new();
    while cursor < 4000 {
        let last = s.position().unwrap().last_seq;
        for e in s.events_after(cursor, last, 97).unwrap() {
            assert_eq!(e.seq, cursor + 1, "dense, in order, never twice");
            cursor = e.seq;
            read.push(e);
        }
        tokio::task::yield_now().await;
    }
    let written = writer.await.unwrap();
    same(&read, &written, "read while written");
    s.compact_now().unwrap();
    assert!(loose_and_blocks(&s).1 > 0, "blocks were made meanwhile");
}

#[tokio::test]
async fn a_layout_1_directory_is_upgraded_and_its_backlog_blocked_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<Event> = (1..=600)
        .map(|seq| Event {
            seq,
            time_unix_ms: seq as i64,
            task_id: format!("T{seq}"),
            kind: EventKind::TaskCompleted,
        })
        .collect();
    {
        // As a build of layout 1 left it: one key per event.
        let db = sled::open(dir.path()).unwrap();
        let events = db.open_tree("events").unwrap();
        for e in &written {
            events
                .insert(e.seq.to_be_bytes(), serde_json::to_vec(e).unwrap())
                .unwrap();
        }
        let meta = db.open_tree("meta").unwrap();
        meta.insert(FORMAT_KEY, &1u64.to_be_bytes()).unwrap();
        meta.insert(LAST_SEQ, &600u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(be(&s.inner.meta.get(FORMAT_KEY).unwrap().unwrap()), FORMAT);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.inner.compacting.load(Ordering::Acquire) || loose_and_blocks(&s).1 == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog was never blocked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(loose_and_blocks(&s).0 as u64 <= blocks::KEEP_LOOSE + blocks::BLOCK_EVENTS);
    same(&s.events_after(0, 600, 1000).unwrap(), &written, "upgraded");
}

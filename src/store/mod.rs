//! The durable journal: a small typed API over sled.
//!
//! # Key layout
//!
//! | tree     | key                                  | value                                  |
//! |----------|--------------------------------------|----------------------------------------|
//! | `tasks`  | task id, UTF-8                       | [`Task`] as JSON                       |
//! | `events` | seq, `u64` big-endian (8 bytes)      | [`Event`] as JSON                      |
//! | `outbox` | command id, UTF-8                    | [`OutboxEntry`] as JSON                |
//! | `by_state`, `ended` | see [`index`]             | task indexes, counts in `meta`         |
//! | `meta`   | `last_seq`, `acked_seq`: `u64` BE    | see the key                            |
//! |          | `format`: `u64` BE                   | the layout version ([`FORMAT`])        |
//! |          | `device_seq/{device id}`: `u32` BE   | the device's last command sequence     |
//! |          | `journal_id`: UTF-8                  | this journal's id, made at creation    |
//!
//! The journal id is made when the data directory is (32 random hex digits)
//! and flushed before anything else is written: a wiped or replaced
//! directory has another id, so a consumer's cursor cannot silently apply
//! to a journal it was not taken from.
//!
//! Big-endian seq keys make sled's key order the journal order, so a replay
//! is one range scan. `last_seq` is the seq of the newest event ever written
//! (it survives compaction, so seqs are never reused); `acked_seq` is the
//! highest seq the cloud acknowledged. Events `<= acked_seq` are deleted.
//!
//! # Invariants
//!
//! * Every state change and the events reporting it are one sled
//!   transaction ([`Store::commit`]): a reader never sees a task state
//!   without its event, nor an event without its state.
//! * Seqs are dense: the transaction reads `last_seq`, appends `last_seq+1…`
//!   and writes the new `last_seq` back, all or nothing.
//! * Nothing is acknowledged to anyone before it is flushed:
//!   [`Store::commit`] returns a ticket and [`Store::wait_durable`] resolves
//!   once a flush covering that ticket has finished (group commit, see
//!   [`commit`]). Events become visible to watchers only when durable
//!   ([`Store::durable_seq`]), so a seq a consumer has seen is never
//!   reassigned after a crash.
//!   A [`Batch`] ([`Store::batch`]) only delays the flush that covers its
//!   commits; it never lets anything be acknowledged earlier.
//! * A device command is written to `outbox` in the same transaction as the
//!   step that dispatches it, and deleted in the same transaction as the
//!   step's end.
//! * A device's command sequence (`device_seq/…`, the Modbus mailbox `seq`)
//!   is written in the same transaction as the command or operator event
//!   that uses it, so a sequence handed to a device is never handed out
//!   again after a crash.

mod commit;
mod index;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::watch;

use crate::engine::adapter::DeviceCommand;
use crate::engine::model::{Event, EventKind, Task, TaskState};

pub use commit::{Batch, Ticket};

/// The layout version written in `meta/format`.
pub const FORMAT: u64 = 1;

const LAST_SEQ: &[u8] = b"last_seq";
const ACKED_SEQ: &[u8] = b"acked_seq";
const FORMAT_KEY: &[u8] = b"format";
const DEVICE_SEQ_PREFIX: &[u8] = b"device_seq/";
const JOURNAL_ID: &[u8] = b"journal_id";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record in tree {tree}: {source}")]
    Corrupt {
        tree: &'static str,
        source: serde_json::Error,
    },
    #[error("data directory has layout version {found}, this build reads {FORMAT}")]
    Format { found: u64 },
    #[error("the store is shutting down")]
    Closed,
}

/// A device command waiting for its device's final answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub task_id: String,
    pub step: u32,
    pub command: DeviceCommand,
}

/// Everything one state change writes.
#[derive(Debug, Default)]
pub struct Change {
    /// The task's new state.
    pub task: Option<Task>,
    /// Events to append, each for a task id ("" for device events).
    pub events: Vec<(String, EventKind)>,
    pub outbox_put: Vec<OutboxEntry>,
    /// Command ids whose outbox entries are removed.
    pub outbox_delete: Vec<String>,
    /// Devices' new last command sequences (device id, sequence).
    pub device_sequences: Vec<(String, u32)>,
}

/// What a committed change produced.
#[derive(Debug)]
pub struct Committed {
    pub events: Vec<Event>,
    pub ticket: Ticket,
}

/// The journal's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalPosition {
    pub last_seq: u64,
    pub acked_seq: u64,
}

impl JournalPosition {
    pub fn unacked(&self) -> u64 {
        self.last_seq - self.acked_seq
    }
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

struct Inner {
    journal_id: String,
    db: sled::Db,
    tasks: sled::Tree,
    by_state: sled::Tree,
    ended: sled::Tree,
    events: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
    commit: commit::GroupCommit,
}

impl Store {
    /// Opens (or creates) the store in `dir` and starts its flusher. Must be
    /// called inside a tokio runtime.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with sled's page cache capped at `cache_bytes`
    /// (`[gateway] store_cache_mb`).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let db = open_db(dir, cache_bytes)?;
        let tasks = db.open_tree("tasks")?;
        let events = db.open_tree("events")?;
        let outbox = db.open_tree("outbox")?;
        let meta = db.open_tree("meta")?;
        let by_state = db.open_tree("by_state")?;
        let ended = db.open_tree("ended")?;
        match meta.get(FORMAT_KEY)? {
            Some(v) if be(&v) != FORMAT => return Err(StoreError::Format { found: be(&v) }),
            Some(_) => {}
            None => {
                meta.insert(FORMAT_KEY, &FORMAT.to_be_bytes())?;
            }
        }
        let journal_id = match meta.get(JOURNAL_ID)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => {
                let id = new_journal_id();
                meta.insert(JOURNAL_ID, id.as_bytes())?;
                db.flush()?;
                id
            }
        };
        let last_seq = meta.get(LAST_SEQ)?.map(|v| be(&v)).unwrap_or(0);
        index::build(&tasks, &by_state, &ended, &meta, last_seq)?;
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            Inner {
                journal_id,
                by_state,
                ended,
                db,
                tasks,
                events,
                outbox,
                meta,
                commit: commit::GroupCommit::start(
                    move || weak.upgrade().map(|i| i.db.clone()),
                    last_seq,
                ),
            }
        });
        Ok(Store { inner })
    }

    /// Writes `change` in one transaction and returns the events it appended
    /// with their seqs. The change is not durable until
    /// [`wait_durable`](Self::wait_durable) of the ticket resolves.
    pub fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        let i = &*self.inner;
        let now = crate::engine::model::now_unix_ms();
        let task_bytes = change
            .task
            .as_ref()
            .map(|t| serde_json::to_vec(t).map(|b| (t.spec.task_id.clone(), b)))
            .transpose()
            .map_err(|source| StoreError::Corrupt {
                tree: "tasks",
                source,
            })?;
        let mut outbox_bytes = Vec::with_capacity(change.outbox_put.len());
        for e in &change.outbox_put {
            let b = serde_json::to_vec(e).map_err(|source| StoreError::Corrupt {
                tree: "outbox",
                source,
            })?;
            outbox_bytes.push((e.command.command_id.clone(), b));
        }
        let result = (
            &i.tasks,
            &i.events,
            &i.outbox,
            &i.meta,
            &i.by_state,
            &i.ended,
        )
            .transaction(|(tasks, events, outbox, meta, by_state, ended)| {
                let mut seq = meta.get(LAST_SEQ)?.map(|v| be(&v)).unwrap_or(0);
                let mut appended = Vec::with_capacity(change.events.len());
                for (task_id, kind) in &change.events {
                    seq += 1;
                    let event = Event {
                        seq,
                        time_unix_ms: now,
                        task_id: task_id.clone(),
                        kind: kind.clone(),
                    };
                    let bytes =
                        serde_json::to_vec(&event).map_err(ConflictableTransactionError::Abort)?;
                    events.insert(&seq.to_be_bytes(), bytes)?;
                    appended.push(event);
                }
                if !appended.is_empty() {
                    meta.insert(LAST_SEQ, &seq.to_be_bytes())?;
                }
                if let (Some((id, bytes)), Some(task)) = (&task_bytes, &change.task) {
                    let old = tasks
                        .insert(id.as_bytes(), bytes.as_slice())?
                        .and_then(|v| index::state_of(&v));
                    index::reindex(
                        by_state,
                        ended,
                        meta,
                        id,
                        old,
                        task.state,
                        task.updated_unix_ms,
                        seq,
                    )?;
                }
                for (id, bytes) in &outbox_bytes {
                    outbox.insert(id.as_bytes(), bytes.as_slice())?;
                }
                for id in &change.outbox_delete {
                    outbox.remove(id.as_bytes())?;
                }
                for (device, n) in &change.device_sequences {
                    meta.insert(device_seq_key(device), &n.to_be_bytes())?;
                }
                Ok((appended, seq))
            });
        let (events, last_seq) = match result {
            Ok(v) => v,
            Err(TransactionError::Abort(source)) => {
                return Err(StoreError::Corrupt {
                    tree: "events",
                    source,
                })
            }
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        };
        let ticket = i.commit.written(last_seq);
        Ok(Committed { events, ticket })
    }

    /// Resolves once everything committed up to `ticket` is on disk. Many
    /// concurrent callers share one flush.
    pub async fn wait_durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.inner.commit.wait(ticket).await
    }

    /// Holds back flushes while the returned [`Batch`] lives, so commits
    /// made under it become durable in one flush. Keep it for a pass of
    /// synchronous work only: every durability waiter waits for it.
    pub fn batch(&self) -> Batch {
        self.inner.commit.batch()
    }

    /// A ticket covering everything committed so far.
    pub fn current_ticket(&self) -> Ticket {
        self.inner.commit.current()
    }

    /// The seq of the newest durable event; changes after each flush.
    pub fn durable_seq(&self) -> watch::Receiver<u64> {
        self.inner.commit.durable_seq()
    }

    /// Flushes everything now (used at shutdown).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let t = self.current_ticket();
        self.wait_durable(t).await
    }

    pub fn get_task(&self, task_id: &str) -> Result<Option<Task>, StoreError> {
        self.inner
            .tasks
            .get(task_id.as_bytes())?
            .map(|v| decode("tasks", &v))
            .transpose()
    }

    /// Tasks in key order after `after_id`, filtered by state, at most
    /// `limit`; also returns whether more matching tasks follow. A state
    /// filter reads the `by_state` index: only matching tasks are read.
    pub fn list_tasks(
        &self,
        states: &[TaskState],
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Task>, bool), StoreError> {
        if !states.is_empty() {
            return self.list_by_state(states, after_id, limit);
        }
        let range = match after_id {
            Some(a) => self.inner.tasks.range::<&[u8], _>((
                std::ops::Bound::Excluded(a.as_bytes()),
                std::ops::Bound::Unbounded,
            )),
            None => self.inner.tasks.iter(),
        };
        let mut out = Vec::new();
        for kv in range {
            let (_, v) = kv?;
            let t: Task = decode("tasks", &v)?;
            if !states.is_empty() && !states.contains(&t.state) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(t);
        }
        Ok((out, false))
    }

    /// The ids of tasks in `states` after `after_id`, merged in id order,
    /// at most `limit + 1` (to tell whether more follow).
    fn list_by_state(
        &self,
        states: &[TaskState],
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Task>, bool), StoreError> {
        let mut ids: Vec<String> = Vec::new();
        for s in states {
            let prefix = [index::state_byte(*s)];
            let start = match after_id {
                Some(a) => std::ops::Bound::Excluded(index::by_state_key(*s, a)),
                None => std::ops::Bound::Included(prefix.to_vec()),
            };
            let end = std::ops::Bound::Excluded(vec![prefix[0] + 1]);
            for k in self
                .inner
                .by_state
                .range::<Vec<u8>, _>((start, end))
                .keys()
                .take(limit + 1)
            {
                ids.push(String::from_utf8_lossy(&k?[1..]).into_owned());
            }
        }
        ids.sort();
        ids.dedup();
        let more = ids.len() > limit;
        ids.truncate(limit);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = self.get_task(&id)? {
                out.push(t);
            }
        }
        Ok((out, more))
    }

    /// Every task not yet in a terminal state (read at start-up, through
    /// the state index: terminal tasks are not read).
    pub fn open_tasks(&self) -> Result<Vec<Task>, StoreError> {
        let open: Vec<TaskState> = TaskState::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) = self.list_by_state(&open, after.as_deref(), 1024)?;
            after = page.last().map(|t| t.spec.task_id.clone());
            out.extend(page);
            if !more {
                return Ok(out);
            }
        }
    }

    /// Tasks per state, kept with every change (no scan).
    pub fn task_counts(&self) -> Result<Vec<(TaskState, u64)>, StoreError> {
        Ok(index::counts(&self.inner.meta)?)
    }

    /// Deletes terminal tasks whose events the cloud has acknowledged and
    /// that ended at least `retain_ms` before `now_ms` — or, past
    /// `max_terminal` terminal tasks, the oldest of them even sooner — with
    /// their index entries, at most `batch` per call, oldest first. A task
    /// whose end the cloud has not acknowledged is never deleted (nor any
    /// after it). Returns how many were deleted. The same id submitted after
    /// its task was deleted is a new task: retention is the idempotency
    /// window.
    pub fn retire(
        &self,
        now_ms: i64,
        retain_ms: i64,
        max_terminal: u64,
        batch: usize,
    ) -> Result<usize, StoreError> {
        let i = &*self.inner;
        let acked = self.position()?.acked_seq;
        let mut terminal: u64 = self
            .task_counts()?
            .iter()
            .filter(|(s, _)| s.is_terminal())
            .map(|(_, n)| n)
            .sum();
        let mut deleted = 0;
        for kv in i.ended.iter() {
            if deleted == batch {
                break;
            }
            let (k, v) = kv?;
            let seq = be(&v);
            let Some((ended_ms, id)) = index::parse_ended_key(&k) else {
                i.ended.remove(&k)?;
                continue;
            };
            let old_enough = now_ms.saturating_sub(ended_ms) >= retain_ms;
            if seq > acked || !(old_enough || terminal > max_terminal) {
                break;
            }
            let r = (&i.tasks, &i.by_state, &i.ended, &i.meta).transaction(
                |(tasks, by_state, ended, meta)| {
                    if let Some(v) = tasks.remove(id.as_bytes())? {
                        if let Some(s) = index::state_of(&v) {
                            by_state.remove(index::by_state_key(s, &id))?;
                            index::bump(meta, s, -1)?;
                        }
                    }
                    ended.remove(k.as_ref())?;
                    Ok(())
                },
            );
            match r {
                Ok(()) => {}
                Err(TransactionError::Abort(source)) => {
                    return Err(StoreError::Corrupt {
                        tree: "tasks",
                        source,
                    })
                }
                Err(TransactionError::Storage(e)) => return Err(e.into()),
            }
            deleted += 1;
            terminal = terminal.saturating_sub(1);
        }
        if deleted > 0 {
            self.inner.commit.touch();
        }
        Ok(deleted)
    }

    /// Events with `after < seq <= up_to`, in order, at most `limit`.
    pub fn events_after(
        &self,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        if up_to <= after {
            return Ok(Vec::new());
        }
        // Point reads, not an iterator: sled 0.34 weighs evicting a page only
        // once 64 accesses have queued up in that page's LRU shard (of 256),
        // and an iterator touches each leaf once, so a long scan kept up to
        // 16k leaves resident whatever the cache size. A read per event
        // touches each leaf once per entry and keeps the cache to its size.
        let hi = up_to.to_be_bytes();
        let mut out = Vec::with_capacity(limit.min((up_to - after) as usize));
        let mut seq = after + 1;
        while seq <= up_to && out.len() < limit {
            if let Some(v) = self.inner.events.get(seq.to_be_bytes())? {
                out.push(decode("events", &v)?);
                seq += 1;
                continue;
            }
            // Acknowledged (and deleted) meanwhile: on from the next one kept.
            match self.inner.events.range(seq.to_be_bytes()..=hi).next() {
                Some(kv) => {
                    let (k, v) = kv?;
                    out.push(decode("events", &v)?);
                    seq = be(&k) + 1;
                }
                None => break,
            }
        }
        Ok(out)
    }

    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.outbox.iter() {
            let (_, v) = kv?;
            out.push(decode("outbox", &v)?);
        }
        Ok(out)
    }

    /// This journal's id, made with the data directory.
    pub fn journal_id(&self) -> &str {
        &self.inner.journal_id
    }

    /// Every device's last command sequence, as committed.
    pub fn device_sequences(&self) -> Result<Vec<(String, u32)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.inner.meta.scan_prefix(DEVICE_SEQ_PREFIX) {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k[DEVICE_SEQ_PREFIX.len()..]).into_owned();
            let n = <[u8; 4]>::try_from(v.as_ref()).map(u32::from_be_bytes);
            if let Ok(n) = n {
                out.push((id, n));
            }
        }
        Ok(out)
    }

    pub fn position(&self) -> Result<JournalPosition, StoreError> {
        let m = &self.inner.meta;
        Ok(JournalPosition {
            last_seq: m.get(LAST_SEQ)?.map(|v| be(&v)).unwrap_or(0),
            acked_seq: m.get(ACKED_SEQ)?.map(|v| be(&v)).unwrap_or(0),
        })
    }

    /// Records that the consumer has every event up to `up_to` (clamped to
    /// the newest durable event) and deletes them. Returns the position
    /// after the acknowledgement; an older ack than the recorded one changes
    /// nothing.
    pub async fn ack(&self, up_to: u64) -> Result<JournalPosition, StoreError> {
        let durable = *self.inner.commit.durable_seq().borrow();
        let up_to = up_to.min(durable);
        let meta = self.inner.meta.clone();
        let new = meta
            .fetch_and_update(ACKED_SEQ, |old| {
                let old = old.map(be).unwrap_or(0);
                Some(old.max(up_to).to_be_bytes().to_vec())
            })?
            .map(|v| be(&v))
            .unwrap_or(0)
            .max(up_to);
        let events = self.inner.events.clone();
        // Deleting a long backlog takes a while: keep it off the runtime's
        // worker threads.
        tokio::task::spawn_blocking(move || -> Result<(), sled::Error> {
            // In bounded batches: a long backlog is never held in memory.
            const BATCH: usize = 4096;
            let hi = new.to_be_bytes();
            loop {
                let keys: Vec<_> = events
                    .range(..=hi)
                    .keys()
                    .take(BATCH)
                    .collect::<Result<_, _>>()?;
                for k in &keys {
                    events.remove(k)?;
                }
                if keys.len() < BATCH {
                    return Ok(());
                }
            }
        })
        .await
        .map_err(|_| StoreError::Closed)??;
        let ticket = self.inner.commit.touch();
        self.wait_durable(ticket).await?;
        self.position()
    }

    /// Flushes the group commit has done since the store was opened.
    pub fn flushes(&self) -> u64 {
        self.inner.commit.flushes()
    }

    /// Size of the data directory on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()?)
    }
}

/// 128 bits from the process's random hash keys, the clock and the pid, as
/// 32 hex digits.
fn new_journal_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut out = String::with_capacity(32);
    for round in 0u8..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u8(round);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn device_seq_key(device: &str) -> Vec<u8> {
    [DEVICE_SEQ_PREFIX, device.as_bytes()].concat()
}

/// sled's page cache unless `[gateway] store_cache_mb` says otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = DEFAULT_CACHE_MB << 20;
/// [`DEFAULT_CACHE_BYTES`] in MiB.
pub const DEFAULT_CACHE_MB: u64 = 4;

/// Opens sled, waiting up to two seconds for the directory's file lock: a
/// previous store in this process releases it only once sled's own flusher
/// thread has let go of the database.
fn open_db(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let mut tries = 0;
    loop {
        let config = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(500))
            // The page cache, not the journal's size: sled's 1 GiB default
            // does not fit an edge box next to its other services.
            .cache_capacity(cache_bytes);
        match config.open() {
            Err(sled::Error::Io(e))
                if tries < 40 && e.to_string().contains("could not acquire lock") =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return Ok(r?),
        }
    }
}

fn be(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[8 - n..].copy_from_slice(&v[v.len() - n..]);
    u64::from_be_bytes(b)
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|source| StoreError::Corrupt { tree, source })
}

#[cfg(test)]
mod tests;

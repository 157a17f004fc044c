//! The task indexes, kept in the same transaction as the task they index:
//!
//! | tree       | key                                        | value                    |
//! |------------|--------------------------------------------|--------------------------|
//! | `by_state` | state byte ([`state_byte`]), then task id  | empty                    |
//! | `ended`    | end time `i64` BE (8 bytes), then task id  | seq of the end, `u64` BE |
//! | `meta`     | `count/{state}`: `u64` BE                  | tasks in that state      |
//! |            | `index_format`: `u64` BE                   | [`INDEX_FORMAT`]         |
//!
//! `by_state` serves `ListTasks` with a state filter and the recovery of
//! open tasks without reading every task ever written; the counts serve the
//! `floorgate_tasks` gauge without a scan; `ended` orders terminal tasks by
//! when they ended, for retention ([`super::Store::retire`]). A data
//! directory written before the indexes existed gets them built once, at
//! open ([`build`]).

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::engine::model::TaskState;

/// The index layout version in `meta/index_format`.
pub const INDEX_FORMAT: u64 = 1;
pub const INDEX_FORMAT_KEY: &[u8] = b"index_format";

/// A task state as one byte: its place in [`TaskState::ALL`].
pub fn state_byte(s: TaskState) -> u8 {
    TaskState::ALL
        .iter()
        .position(|x| *x == s)
        .expect("every state is in ALL") as u8
}

pub fn by_state_key(s: TaskState, task_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + task_id.len());
    k.push(state_byte(s));
    k.extend_from_slice(task_id.as_bytes());
    k
}

pub fn ended_key(at_ms: i64, task_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + task_id.len());
    k.extend_from_slice(&at_ms.to_be_bytes());
    k.extend_from_slice(task_id.as_bytes());
    k
}

/// The task id and end time of an `ended` key.
pub fn parse_ended_key(k: &[u8]) -> Option<(i64, String)> {
    let at = i64::from_be_bytes(k.get(..8)?.try_into().ok()?);
    Some((at, String::from_utf8(k[8..].to_vec()).ok()?))
}

pub fn count_key(s: TaskState) -> Vec<u8> {
    format!("count/{}", s.as_str()).into_bytes()
}

/// The state of a stored task, read without decoding the rest of it.
pub fn state_of(task_json: &[u8]) -> Option<TaskState> {
    #[derive(serde::Deserialize)]
    struct StateOnly {
        state: TaskState,
    }
    serde_json::from_slice::<StateOnly>(task_json)
        .ok()
        .map(|s| s.state)
}

fn u64_of(v: &[u8]) -> u64 {
    <[u8; 8]>::try_from(v).map(u64::from_be_bytes).unwrap_or(0)
}

/// Adds `delta` to the count of `s`, inside a transaction.
pub fn bump(
    meta: &TransactionalTree,
    s: TaskState,
    delta: i64,
) -> Result<(), ConflictableTransactionError<serde_json::Error>> {
    let k = count_key(s);
    let n = meta.get(&k)?.map(|v| u64_of(&v)).unwrap_or(0);
    let n = (n as i64 + delta).max(0) as u64;
    meta.insert(k, &n.to_be_bytes())?;
    Ok(())
}

/// Moves task `id` from `old` (none: a new task) to `new` in the indexes,
/// inside the transaction that writes it; `at_ms` and `seq` date an end.
pub fn reindex(
    by_state: &TransactionalTree,
    ended: &TransactionalTree,
    meta: &TransactionalTree,
    id: &str,
    old: Option<TaskState>,
    new: TaskState,
    at_ms: i64,
    seq: u64,
) -> Result<(), ConflictableTransactionError<serde_json::Error>> {
    if old == Some(new) {
        return Ok(());
    }
    if let Some(o) = old {
        by_state.remove(by_state_key(o, id))?;
        bump(meta, o, -1)?;
    }
    by_state.insert(by_state_key(new, id), &[])?;
    bump(meta, new, 1)?;
    if new.is_terminal() && !old.is_some_and(TaskState::is_terminal) {
        ended.insert(ended_key(at_ms, id), &seq.to_be_bytes())?;
    }
    Ok(())
}

/// Tasks per state, from the counts.
pub fn counts(meta: &sled::Tree) -> Result<Vec<(TaskState, u64)>, sled::Error> {
    TaskState::ALL
        .iter()
        .map(|s| {
            Ok((
                *s,
                meta.get(count_key(*s))?.map(|v| u64_of(&v)).unwrap_or(0),
            ))
        })
        .collect()
}

/// Builds the indexes of a data directory written before they existed:
/// one pass over the tasks. A terminal task's end is dated by its last
/// update and the journal's current end (so it is retired only once the
/// cloud has acknowledged everything up to now).
pub fn build(
    tasks: &sled::Tree,
    by_state: &sled::Tree,
    ended: &sled::Tree,
    meta: &sled::Tree,
    last_seq: u64,
) -> Result<(), super::StoreError> {
    if meta.get(INDEX_FORMAT_KEY)?.is_some() {
        return Ok(());
    }
    let mut counts = [0u64; TaskState::ALL.len()];
    for kv in tasks.iter() {
        let (k, v) = kv?;
        let t: crate::engine::model::Task = super::decode("tasks", &v)?;
        let id = String::from_utf8_lossy(&k).into_owned();
        by_state.insert(by_state_key(t.state, &id), &[])?;
        counts[state_byte(t.state) as usize] += 1;
        if t.state.is_terminal() {
            ended.insert(ended_key(t.updated_unix_ms, &id), &last_seq.to_be_bytes())?;
        }
    }
    for (s, n) in TaskState::ALL.iter().zip(counts) {
        meta.insert(count_key(*s), &n.to_be_bytes())?;
    }
    meta.insert(INDEX_FORMAT_KEY, &INDEX_FORMAT.to_be_bytes())?;
    Ok(())
}

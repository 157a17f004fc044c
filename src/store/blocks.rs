//! Sealed blocks of events.
//!
//! sled 0.34 splits a leaf at 16 entries and keeps a page-table entry for
//! every page from the moment it opens, so a journal of one key per event
//! costs memory in proportion to its backlog before anything is read (a
//! million events: ~92k pages, ~23 MB). A cloud away for long leaves exactly
//! such a backlog. So events are written one per key (the *loose* events,
//! tree `events`) and, once more than [`KEEP_LOOSE`] of them wait behind the
//! newest, the oldest are moved into sealed blocks (tree `event_blocks`) of up
//! to [`BLOCK_EVENTS`] events or [`BLOCK_BYTES`] bytes, one key per block.
//!
//! # Layout
//!
//! `event_blocks` key: the seq of the block's *last* event, `u64` big-endian,
//! so `range(after + 1..)` starts at the block holding `after + 1`. Value: the
//! first seq (`u64` BE), the number of events (`u32` BE), then the events as
//! one JSON array. `meta/blocked_seq` is the seq of the last event moved into a
//! block.
//!
//! # Invariants
//!
//! * A block is written once, in the same transaction that deletes the loose
//!   keys it replaces and moves `blocked_seq`: after a crash every event is in
//!   exactly one of the two trees.
//! * Blocks hold only events after `acked_seq` when they are made, in seq
//!   order; every loose event is after `blocked_seq`. A reader takes the
//!   blocks first, then the loose events after the last block it read.
//! * A reader and a compaction never interleave (a lock in the store): a
//!   reader that had read the blocks before a compaction and the loose keys
//!   after it would miss the moved events.
//! * Acknowledged events go with their block once the block's last event is
//!   acknowledged; reads skip what is acknowledged inside a block.

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::{be, StoreError, ACKED_SEQ, LAST_SEQ};
use crate::engine::model::Event;

/// Events in a block, at most.
pub(super) const BLOCK_EVENTS: u64 = 32;
/// A block is sealed early once its events reach this many bytes: a leaf of
/// 17 blocks then stays below sled's inline limit (a quarter of its 512 KiB
/// segment), so pages never become separate blob files.
pub(super) const BLOCK_BYTES: usize = 6 * 1024;
/// The newest events stay loose: a connected cloud acknowledges them long
/// before they would be blocked, and watchers read them without decoding a
/// block.
pub(super) const KEEP_LOOSE: u64 = 256;

pub(super) const BLOCKED_SEQ: &[u8] = b"blocked_seq";
const HEADER: usize = 12;

/// The first seq compaction would block next, and the `last_seq` at which it
/// has a whole block to move.
pub(super) fn next_due(blocked_seq: u64, acked_seq: u64) -> u64 {
    blocked_seq.max(acked_seq) + KEEP_LOOSE + BLOCK_EVENTS
}

/// A block's value from its events' stored JSON, in seq order.
fn encode(first: u64, events: &[sled::IVec]) -> Vec<u8> {
    let body: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut out = Vec::with_capacity(HEADER + body + 1);
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    out.push(b'[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.push(b']');
    out
}

/// The number of events a block value holds, from its header alone.
pub fn block_len(value: &[u8]) -> u32 {
    value
        .get(8..HEADER)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0)
}

/// A block's events.
pub(super) fn decode(value: &[u8]) -> Result<Vec<Event>, StoreError> {
    let body = value.get(HEADER..).unwrap_or_default();
    serde_json::from_slice(body).map_err(|source| StoreError::Corrupt {
        tree: "event_blocks",
        source,
    })
}

/// Moves the oldest loose events into one block, if more than
/// [`KEEP_LOOSE`] + [`BLOCK_EVENTS`] of them wait. Returns the `last_seq` at
/// which the next block is due, or `None` when it made one (call again).
pub(super) fn compact_one(
    events: &sled::Tree,
    blocks: &sled::Tree,
    meta: &sled::Tree,
) -> Result<Option<u64>, StoreError> {
    let r = (events, blocks, meta).transaction(|(events, blocks, meta)| {
        let get = |k: &[u8]| -> Result<u64, ConflictableTransactionError<()>> {
            Ok(meta.get(k)?.map(|v| be(&v)).unwrap_or(0))
        };
        let (last, acked, blocked) = (get(LAST_SEQ)?, get(ACKED_SEQ)?, get(BLOCKED_SEQ)?);
        let due = next_due(blocked, acked);
        if last < due {
            return Ok(Some(due));
        }
        let first = blocked.max(acked) + 1;
        let mut taken = Vec::new();
        let mut bytes = 0;
        let mut seq = first;
        while seq < first + BLOCK_EVENTS && bytes < BLOCK_BYTES {
            // An acknowledgement racing this one may have deleted a few
            // of the oldest: they are acknowledged, so they go unblocked.
            if let Some(v) = events.get(seq.to_be_bytes())? {
                bytes += v.len();
                taken.push(v);
            }
            seq += 1;
        }
        let end = seq - 1;
        for s in first..=end {
            events.remove(&s.to_be_bytes())?;
        }
        if !taken.is_empty() {
            blocks.insert(&end.to_be_bytes(), encode(first, &taken))?;
        }
        meta.insert(BLOCKED_SEQ, &end.to_be_bytes())?;
        Ok(None)
    });
    r.map_err(|e| match e {
        sled::transaction::TransactionError::Abort(()) => {
            StoreError::Sled(sled::Error::Unsupported("event block aborted".into()))
        }
        sled::transaction::TransactionError::Storage(e) => e.into(),
    })
}

//! Group commit. sled flushes on its own only every 500 ms, so a write that
//! must be durable before it is acknowledged asks for a flush. One flusher
//! task serves every waiter: writers take a ticket (a counter bumped after
//! each committed transaction) and wait until the flushed counter reaches
//! it. Writers that arrive while a flush runs share the next one, so N
//! concurrent submits cost about two fsyncs, not N.
//!
//! A writer that makes several commits in a row which belong together (the
//! engine accepting a task and dispatching its first step in the same pass)
//! holds a [`Batch`] across them: no flush starts while one is held, so one
//! flush makes them all durable, instead of the first flush racing the
//! later commits and a second flush being needed for the rest.

use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};

use super::StoreError;

/// Identifies a point in the commit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Written state not yet flushed: (ticket counter, newest event seq), and
/// how many [`Batch`]es are open.
struct Pending {
    ticket: u64,
    last_seq: u64,
    batches: u32,
}

/// Holds back flushes while alive (see the module note). Dropping it lets
/// the flusher cover everything committed meanwhile.
#[must_use = "a batch holds back flushes only while alive"]
pub struct Batch {
    pending: Arc<Mutex<Pending>>,
    kick: Arc<Notify>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").finish_non_exhaustive()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.batches -= 1;
        }
        self.kick.notify_one();
    }
}

pub(super) struct GroupCommit {
    pending: Arc<Mutex<Pending>>,
    kick: Arc<Notify>,
    flushed: watch::Receiver<u64>,
    flushes: Arc<std::sync::atomic::AtomicU64>,
    durable_seq: watch::Receiver<u64>,
}

impl GroupCommit {
    /// Starts the flusher. It reaches the database through `db`, which
    /// answers `None` once the store is dropped: the flusher then ends, so
    /// it never keeps the data directory locked after the store is gone.
    pub(super) fn start(
        db: impl Fn() -> Option<sled::Db> + Send + 'static,
        last_seq: u64,
    ) -> GroupCommit {
        let pending = Arc::new(Mutex::new(Pending {
            ticket: 0,
            last_seq,
            batches: 0,
        }));
        let kick = Arc::new(Notify::new());
        let (flushed_tx, flushed) = watch::channel(0u64);
        let (seq_tx, durable_seq) = watch::channel(last_seq);
        let flushes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let f = flushes.clone();
        let p = pending.clone();
        let k = kick.clone();
        tokio::spawn(async move {
            loop {
                k.notified().await;
                let (ticket, seq) = {
                    let p = p.lock().expect("commit lock poisoned");
                    if p.batches > 0 {
                        // The last batch to close kicks again.
                        continue;
                    }
                    (p.ticket, p.last_seq)
                };
                if *flushed_tx.borrow() >= ticket {
                    continue;
                }
                let mut backoff = std::time::Duration::from_millis(50);
                loop {
                    let Some(db) = db() else { return };
                    match db.flush_async().await {
                        Ok(_) => {
                            f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "flushing the store failed; retrying");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                        }
                    }
                }
                seq_tx.send_if_modified(|s| {
                    let changed = seq > *s;
                    *s = (*s).max(seq);
                    changed
                });
                if flushed_tx.send(ticket).is_err() {
                    return;
                }
            }
        });
        GroupCommit {
            pending,
            kick,
            flushed,
            flushes,
            durable_seq,
        }
    }

    /// Records a committed transaction whose newest event has `last_seq`.
    pub(super) fn written(&self, last_seq: u64) -> Ticket {
        let (t, held) = {
            let mut p = self.pending.lock().expect("commit lock poisoned");
            p.ticket += 1;
            p.last_seq = p.last_seq.max(last_seq);
            (p.ticket, p.batches > 0)
        };
        if !held {
            // Else the batch kicks when it closes.
            self.kick.notify_one();
        }
        Ticket(t)
    }

    /// Holds back flushes until the returned batch is dropped.
    pub(super) fn batch(&self) -> Batch {
        self.pending.lock().expect("commit lock poisoned").batches += 1;
        Batch {
            pending: self.pending.clone(),
            kick: self.kick.clone(),
        }
    }

    /// Records a write that appended no event.
    pub(super) fn touch(&self) -> Ticket {
        self.written(0)
    }

    pub(super) fn current(&self) -> Ticket {
        let t = self.pending.lock().expect("commit lock poisoned").ticket;
        self.kick.notify_one();
        Ticket(t)
    }

    pub(super) async fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut rx = self.flushed.clone();
        rx.wait_for(|f| *f >= ticket.0)
            .await
            .map(|_| ())
            .map_err(|_| StoreError::Closed)
    }

    /// Flushes done so far.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn durable_seq(&self) -> watch::Receiver<u64> {
        self.durable_seq.clone()
    }
}

//! Connection state and counters of a [`super::ModbusClient`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_modbus::ExceptionCode;

use super::error::exception_text;

/// How often a repeated identical warning is summarised (its first occurrence is logged at
/// once; the counters stay exact regardless).
pub const WARNING_SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// Connection state of a client, published on a watch channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// A connection attempt is under way.
    Connecting,
    /// Connected; `generation` counts successful connections since the client started.
    Connected {
        /// 1 for the first connection, 2 after the first reconnect, ...
        generation: u64,
    },
    /// Not connected; the next attempt starts after `retry_in`.
    Disconnected {
        /// Why the last connection or attempt failed.
        error: String,
        /// Backoff before the next attempt.
        retry_in: Duration,
    },
}

/// Counters of one client (`modbus_<name>_total`).
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Successful connections.
    pub connects_total: AtomicU64,
    /// Failed connection attempts.
    pub connect_failures_total: AtomicU64,
    /// Connections lost after being established.
    pub disconnects_total: AtomicU64,
    /// Requests sent from the lane (writes and read-backs).
    pub lane_requests_total: AtomicU64,
    /// Status polls completed.
    pub polls_total: AtomicU64,
    /// Status polls abandoned because the PLC answered a read with an exception.
    pub poll_exceptions_total: AtomicU64,
    /// Requests answered with an exception.
    pub exceptions_total: AtomicU64,
    /// Requests that failed in transport (timeout, socket error).
    pub transport_errors_total: AtomicU64,
}

impl ClientCounters {
    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
    pub(super) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A status poll the PLC answered with an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollRefusal {
    /// The exception code.
    pub exception: ExceptionCode,
    /// First register of the refused read.
    pub start: u16,
    /// Registers in the refused read.
    pub count: u16,
}

impl fmt::Display for PollRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status poll refused: {} (read of {} registers at {})",
            exception_text(self.exception),
            self.count,
            self.start
        )
    }
}

/// Logs a warning once, then only a periodic summary while the same warning repeats.
#[derive(Debug, Default)]
pub(super) struct WarnLimiter {
    /// The warning repeating now, when it was last logged, and repeats since.
    current: Option<(String, Instant, u64)>,
}

impl WarnLimiter {
    /// Records one occurrence of `key` at `now`; calls `log(0)` for a new warning,
    /// `log(n)` with the repeats since the last log line once a summary period passed.
    pub(super) fn warn(&mut self, key: String, now: Instant, log: impl FnOnce(u64)) {
        match &mut self.current {
            Some((k, logged, repeats)) if *k == key => {
                *repeats += 1;
                if now.duration_since(*logged) >= WARNING_SUMMARY_PERIOD {
                    log(*repeats);
                    *logged = now;
                    *repeats = 0;
                }
            }
            _ => {
                log(0);
                self.current = Some((key, now, 0));
            }
        }
    }

    /// The condition ended: calls `summary(repeats, key)` when unlogged repeats remain.
    pub(super) fn clear(&mut self, summary: impl FnOnce(u64, &str)) {
        if let Some((key, _, repeats)) = self.current.take() {
            summary(repeats, &key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_logged_once_then_summarised_with_its_count() {
        let mut w = WarnLimiter::default();
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for i in 0..10u64 {
            w.warn("refused".into(), t0 + Duration::from_secs(i), |n| {
                lines.push(n)
            });
        }
        assert_eq!(lines, vec![0]);
        w.warn("refused".into(), t0 + Duration::from_secs(61), |n| {
            lines.push(n)
        });
        assert_eq!(lines, vec![0, 10]);
        w.warn("other".into(), t0 + Duration::from_secs(62), |n| {
            lines.push(n)
        });
        assert_eq!(lines, vec![0, 10, 0]);
        let mut summary = None;
        w.clear(|n, key| summary = Some((n, key.to_owned())));
        assert_eq!(summary, Some((0, "other".to_owned())));
    }
}

//! Connection state and counters of a [`super::ModbusClient`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_modbus::ExceptionCode;

use super::error::exception_text;

pub use crate::ratelimit::WARNING_SUMMARY_PERIOD;

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

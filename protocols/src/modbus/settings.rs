//! Timing and polling settings of a device profile (`[timing]` and `[poll]` tables).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest quantity of a Read Holding Registers request (Modbus application protocol 6.3).
pub const MAX_READ_REGISTERS: u16 = 125;

/// Timeouts, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// Deadline of one Modbus request (sent until response received).
    pub request_timeout_ms: u64,
    /// Deadline of establishing the TCP connection.
    pub connect_timeout_ms: u64,
    /// How long to read back the acknowledged sequence before giving up on a command write.
    pub ack_timeout_ms: u64,
    /// Pause between two read-backs of the acknowledged sequence.
    pub ack_retry_ms: u64,
    /// How long a command may run before completion tracking gives up.
    pub completion_timeout_ms: u64,
    /// First reconnect delay; doubles after each failed attempt.
    pub reconnect_min_ms: u64,
    /// Upper bound of the reconnect delay.
    pub reconnect_max_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request_timeout_ms: 500,
            connect_timeout_ms: 1_000,
            ack_timeout_ms: 2_000,
            ack_retry_ms: 10,
            completion_timeout_ms: 120_000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5_000,
        }
    }
}

impl Timing {
    /// [`Timing::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    /// [`Timing::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    /// [`Timing::ack_timeout_ms`] as a duration.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }
    /// [`Timing::ack_retry_ms`] as a duration.
    pub fn ack_retry(&self) -> Duration {
        Duration::from_millis(self.ack_retry_ms)
    }
    /// [`Timing::completion_timeout_ms`] as a duration.
    pub fn completion_timeout(&self) -> Duration {
        Duration::from_millis(self.completion_timeout_ms)
    }
    /// [`Timing::reconnect_min_ms`] as a duration.
    pub fn reconnect_min(&self) -> Duration {
        Duration::from_millis(self.reconnect_min_ms)
    }
    /// [`Timing::reconnect_max_ms`] as a duration.
    pub fn reconnect_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_max_ms)
    }
}

/// How the status registers are polled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollSettings {
    /// Period between two status polls, in milliseconds.
    pub period_ms: u64,
    /// Two register spans separated by at most this many unused registers are read in one
    /// request (reading a few unused registers is cheaper than a second round trip).
    pub max_gap: u16,
    /// Upper bound of registers per read request (at most 125).
    pub max_registers: u16,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            period_ms: 100,
            max_gap: 8,
            max_registers: MAX_READ_REGISTERS,
        }
    }
}

impl PollSettings {
    /// [`PollSettings::period_ms`] as a duration.
    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms)
    }
}

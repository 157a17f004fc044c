//! Transport-level failures of the Modbus layer.
//!
//! These are the "the wire broke" outcomes: retry with the same sequence number. A PLC
//! that answered "no" is not an error here but a [`super::PlcFault`] inside the `Ok`.

use std::time::Duration;

/// A request or handshake that did not get an answer from the PLC.
#[derive(Debug, thiserror::Error)]
pub enum ModbusError {
    /// The client has no connection right now (it is reconnecting with backoff).
    #[error("not connected to the PLC: {0}")]
    NotConnected(String),
    /// A request got no response in time; the connection is re-established.
    #[error("{op} timed out after {after:?}")]
    Timeout {
        /// The request ("read", "write", "connect").
        op: &'static str,
        /// The deadline that elapsed.
        after: Duration,
    },
    /// The connection failed or the response was malformed.
    #[error("modbus transport: {0}")]
    Transport(#[from] tokio_modbus::Error),
    /// The PLC answered with a response that does not match the request.
    #[error("unexpected response to {op}")]
    UnexpectedResponse {
        /// The request.
        op: &'static str,
    },
    /// The acknowledged sequence did not reach `seq` in time; re-sending the same `seq` is
    /// harmless.
    #[error("the PLC did not acknowledge seq {seq} within {after:?} (acked_seq is {acked_seq:?})")]
    AckTimeout {
        /// Sequence number that was written.
        seq: u16,
        /// Last acknowledged sequence read back, if any read succeeded.
        acked_seq: Option<u16>,
        /// The ack deadline.
        after: Duration,
    },
    /// The command was acknowledged but did not finish in time.
    #[error("seq {seq} did not complete within {after:?}")]
    CompletionTimeout {
        /// Sequence number of the command.
        seq: u16,
        /// The completion deadline.
        after: Duration,
    },
    /// The caller asked for something the mailbox cannot carry.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The client's connection task has stopped.
    #[error("the modbus client has stopped")]
    Closed,
}

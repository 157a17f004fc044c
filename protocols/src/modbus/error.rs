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
    /// The mailbox write was issued but no answer confirmed it (timeout, connection lost
    /// after the request left): the PLC may have taken the command. Re-send the same
    /// `seq`, never another device.
    #[error("seq {seq} was written but not confirmed: {source}")]
    Unconfirmed {
        /// Sequence number that was written.
        seq: u16,
        /// What broke.
        source: Box<ModbusError>,
    },
    /// The acknowledged command is neither executing nor the last one done: it ended while
    /// nobody looked and a later command's end replaced its result.
    #[error("the outcome of seq {seq} was not observed: the PLC reports done_seq {done_seq} and active_seq {active_seq}")]
    OutcomeLost {
        /// Sequence number of the command.
        seq: u16,
        /// The last command the PLC reports done.
        done_seq: u16,
        /// The command executing now (0 = none).
        active_seq: u16,
    },
    /// The caller asked for something the mailbox cannot carry.
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    /// The client's connection task has stopped.
    #[error("the modbus client has stopped")]
    Closed,
}

impl ModbusError {
    /// Whether the request may have reached the PLC: false only when it was never issued
    /// (no connection, client stopped, a command the mailbox cannot carry).
    pub fn may_have_reached_plc(&self) -> bool {
        !matches!(
            self,
            ModbusError::NotConnected(_) | ModbusError::Closed | ModbusError::InvalidCommand(_)
        )
    }
}

/// A Modbus exception as operators read it: `exception 0x0B gateway target device failed
/// to respond`.
pub fn exception_text(exception: tokio_modbus::ExceptionCode) -> String {
    use tokio_modbus::ExceptionCode as E;
    let what = match exception {
        E::IllegalFunction => "illegal function",
        E::IllegalDataAddress => "illegal data address",
        E::IllegalDataValue => "illegal data value",
        E::ServerDeviceFailure => "server device failure",
        E::Acknowledge => "acknowledge",
        E::ServerDeviceBusy => "server device busy",
        E::MemoryParityError => "memory parity error",
        E::GatewayPathUnavailable => "gateway path unavailable",
        E::GatewayTargetDevice => "gateway target device failed to respond",
        E::Custom(_) => "vendor-specific exception",
    };
    format!("exception 0x{:02X} {what}", u8::from(exception))
}

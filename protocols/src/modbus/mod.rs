//! Modbus TCP adapter layer for conveyors, lifts and other PLC-driven machines.
//!
//! This module knows registers, sequence numbers, state and fault codes; it never knows
//! what a task is. The engine persists a command with its sequence number, then hands the
//! code, argument words and sequence to [`Mailbox::send_command`].
//!
//! # Register layout (per device profile, `devices/*-modbus.toml`)
//!
//! All values live in holding registers (zero-based addresses):
//!
//! | block     | registers                                   | written by |
//! |-----------|---------------------------------------------|------------|
//! | mailbox   | `args…`, `code`, `seq` (contiguous, in that order) | gateway |
//! | status    | `acked_seq`, `state`, `fault_code`, `done_seq`     | PLC     |
//! | registers | named values (u16/i16/u32/i32/f32, word order, scale) | PLC  |
//!
//! 32-bit values take two registers; the profile's `word_order` says which comes first and
//! `scale` maps raw to engineering units ([`codec`]).
//!
//! # Mailbox handshake
//!
//! 1. The gateway writes the whole mailbox in **one** Write Multiple Registers: arguments,
//!    then the command code, then the sequence number *last*. A PLC that scans the `seq`
//!    register therefore never sees a new sequence with stale arguments.
//! 2. When the PLC sees `seq` differ from `acked_seq`, it takes the command: it copies
//!    `seq` to `acked_seq`, and either starts it (`state` = running, `fault_code` = 0) or
//!    refuses it at once (`fault_code` = the reason, `done_seq` = `seq`). A PLC that is
//!    busy with another command answers the write with exception `ServerDeviceBusy`
//!    instead (only `stop` is taken while busy; it supersedes the running command).
//! 3. The gateway reads the status block back until `acked_seq == seq`: *verified
//!    actuation*. No acknowledgement within `timing.ack_timeout_ms` is a transport-class
//!    failure ([`ModbusError::AckTimeout`]): re-send with the same `seq`.
//! 4. When the command finishes, the PLC sets `done_seq = seq` (fault 0). A fault while it
//!    runs (jam, e-stop) sets `fault_code` and the fault `state` while `acked_seq == seq`.
//!    The status poller sees either; [`Mailbox::wait_completion`] reports it.
//!
//! Re-sending a sequence the PLC already took is harmless: `seq == acked_seq`, so the PLC
//! ignores it, and the read-back confirms the earlier acknowledgement. Sequence 0 means
//! "no command"; the caller's sequence must differ from the previous command's (wrapping
//! from 65535 to 1 is fine). The fault register describes the last taken command until
//! the next one, unless a machine fault (e-stop) overrides it.
//!
//! # Two kinds of failure
//!
//! As in tokio-modbus, results are `Result<Result<T, PlcFault>, ModbusError>`: the outer
//! error is the transport (timeout, socket, not connected: retry), the inner one is the
//! PLC saying no (a Modbus exception such as `IllegalDataAddress`, or a fault code
//! resolved to the profile's readable reason).
//!
//! # Connection and polling
//!
//! [`ModbusClient`] owns one connection per PLC in one task. Status polling reads the
//! profile's registers with as few Read Holding Registers as [`plan::coalesce`] allows.
//! Command writes and their read-backs go through a *lane* checked before every poll read,
//! so a command waits at most for one read in flight, never behind queued polls.
//!
//! Layout: [`profile`] (+ [`settings`], `validate`), [`codec`], [`plan`], [`client`] (+ [`link`]),
//! [`status`], [`mailbox`], [`error`].

pub mod client;
pub mod codec;
pub mod error;
pub mod link;
pub mod mailbox;
pub mod plan;
pub mod profile;
pub mod settings;
pub mod status;
mod validate;

pub use client::{ClientCounters, LinkState, ModbusClient, Reply};
pub use error::ModbusError;
pub use mailbox::{Acked, Done, Handshake, Mailbox, MailboxEvent, PlcFault};
pub use profile::{FaultInfo, ModbusProfile, ProfileError, ProfileErrors};
pub use status::StatusSnapshot;
pub use tokio_modbus::ExceptionCode;

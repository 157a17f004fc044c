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
//! | mailbox   | `args…`, `code`, `seq` (contiguous, in that order) | gateway, HMI |
//! | status    | `acked_seq`, `state`, `fault_code`, `done_seq`, optional `result`, `active_seq`, `history` | PLC |
//! | registers | named values (u16/i16/u32/i32/f32, word order, scale) | PLC  |
//!
//! 32-bit values take two registers; the profile's `word_order` says which comes first and
//! `scale` maps raw to engineering units ([`codec`]).
//!
//! # Sequence numbers (the idempotency key)
//!
//! `seq` is 1..=65535; 0 means "no command". The gateway's engine allocates it per device
//! when it dispatches a command and persists it with the command (`DeviceCommand.sequence`,
//! the next after the device's previous one, wrapping 65535 → 1, never 0, never the
//! previous value), so a re-send after a restart carries the same `seq` and two commands
//! in a row never share one. A stop carries its own, allocated with the command
//! (`DeviceCommand.stop_sequence`); an operator's reset or stop carries a fresh one.
//! Commands persisted by an older build (no stop sequence, or a sequence above 65535)
//! keep the older derivation: `seq = sequence mod 65535 + 1`, and the stop `seq` half the
//! range away (`src/adapters/modbus.rs`, `mailbox_seq` / `stop_seq`).
//!
//! Another master on the same mailbox (an HMI, a commissioning tool) must keep to
//! sequences floorgate does not use at the time; the PLC cannot tell masters apart, only
//! sequences.
//!
//! # Mailbox handshake
//!
//! 1. The writer puts the whole mailbox in **one** Write Multiple Registers: arguments,
//!    then the command code, then the sequence number *last*. A PLC that scans the `seq`
//!    register therefore never sees a new sequence with stale arguments.
//! 2. A `seq` equal to `acked_seq`, `active_seq` or `done_seq`, or found in the completion
//!    log, is a re-send: the PLC takes nothing. Any other `seq` is new: the PLC copies it to `acked_seq` (the last
//!    sequence it *saw*, from any master) and then
//!    * starts it (`state` running, `active_seq = seq`), or
//!    * refuses it at once: `done_seq = seq`, `result` = the reason (unknown code, bad
//!      argument, device in fault, **busy** with another command: only `stop` is taken
//!      while a command runs). The running command's `active_seq` is untouched, so a
//!      refused write from another master is visibly *not* the running command.
//! 3. The gateway reads the status block back until the PLC took `seq` (`acked_seq`,
//!    `active_seq` or `done_seq` equal to it): *verified actuation*. No acknowledgement
//!    within `timing.ack_timeout_ms` is a transport-class failure
//!    ([`ModbusError::AckTimeout`]): re-send with the same `seq`.
//! 4. When the command ends, in one scan, the PLC sets `done_seq = seq`, `result` (0 = done
//!    OK, else a `[faults]` code: a jam, an e-stop that aborted it, a stop),
//!    `active_seq = 0`, and pushes `(seq, result)` onto the completion log
//!    (`status.history`: `len` register pairs, newest first, the oldest dropping off).
//!    Refusals (step 2) are logged the same way. Machine faults (jam, e-stop) set `state` to a fault state and
//!    `fault_code`; they describe the device *now* and never change a `result` written
//!    before. A `reset` command clears a latched fault.
//!
//! The gateway decides a command by `done_seq` + `result` alone ([`outcome::judge`]): a
//! later `acked_seq` from another master does not end it, a fault after completion does
//! not fail it. A command that ended while floorgate was not looking (the gateway was
//! down, another master's command ended since) is found in the completion log, and its
//! re-send after a restart is recognised there instead of running again. A command that
//! is neither active, nor done, nor in the log: the outcome is unknown
//! ([`ModbusError::OutcomeLost`]), never guessed. Without a log, a re-send after another
//! master's command ended is new to the PLC: profiles shared with another master should
//! have one.
//!
//! The status registers, log included, are always read in one request (the poll plan
//! keeps them one span; validation requires that they fit one read), so a `result` never
//! straddles two reads.
//!
//! **Legacy profiles** (no `result` register) are read as before: at `done_seq == seq`
//! the *fault register* is the outcome, a different `acked_seq` supersedes the command,
//! and a busy PLC answers the write with exception `ServerDeviceBusy`. That is weaker: a
//! fault after completion, or another master's write, can be taken for the command's
//! outcome. `active_seq` requires `result`.
//!
//! # Device fault and availability
//!
//! The device is in fault only while `state` is one of the profile's `fault_states`
//! (default: the states named `fault` and `estop`). An idle PLC whose last command failed
//! is available. A PLC that answers status polls with an exception (wrong unit id behind
//! a gateway, a register map it lacks) is not available ([`ModbusClient::poll_refusal`]);
//! identical poll warnings are logged once, then summarised every minute with their count.
//!
//! # Two kinds of failure
//!
//! As in tokio-modbus, results are `Result<Result<T, PlcFault>, ModbusError>`: the outer
//! error is the transport (timeout, socket, not connected: retry), the inner one is the
//! PLC saying no (a Modbus exception such as `IllegalDataAddress`, or a fault code
//! resolved to the profile's readable reason). A transport error also says whether the
//! write may have reached the PLC ([`ModbusError::may_have_reached_plc`]): a request that
//! was never issued (`NotConnected`) leaves the command free to go elsewhere; one issued
//! but not confirmed ([`ModbusError::Unconfirmed`], `AckTimeout`) is re-sent with the same
//! `seq` until the PLC answers.
//!
//! # Connection and polling
//!
//! [`ModbusClient`] owns one connection per PLC in one task. Status polling reads the
//! profile's registers with as few Read Holding Registers as [`plan::coalesce`] allows.
//! Command writes and their read-backs go through a *lane* checked before every poll read,
//! so a command waits at most for one read in flight, never behind queued polls.
//!
//! Layout: [`profile`] (+ [`settings`], `validate`), [`codec`], [`plan`], [`client`] (+ [`link`]),
//! [`status`], [`mailbox`] (+ [`outcome`]: how a command's fate is read), [`error`].

pub mod client;
pub mod codec;
pub mod error;
pub mod link;
pub mod mailbox;
pub mod outcome;
pub mod plan;
pub mod profile;
pub mod settings;
pub mod status;
mod validate;

pub use client::{ClientCounters, LinkState, ModbusClient, PollRefusal, Reply};
pub use error::{exception_text, ModbusError};
pub use mailbox::{Acked, Done, Handshake, Mailbox, MailboxEvent, PlcFault};
pub use profile::{FaultInfo, ModbusProfile, ProfileError, ProfileErrors};
pub use status::StatusSnapshot;
pub use tokio_modbus::ExceptionCode;

//! A simulated conveyor/lift PLC speaking Modbus TCP.
//!
//! [`PlcProgram`] is the PLC: holding registers, the command mailbox exactly as
//! `floorgate_protocols::modbus` documents it, and a [`Machine`] (conveyor network or lift). It does
//! no IO and is advanced by the instants passed in. [`SimPlc`] is the thin shell: a
//! tokio-modbus TCP server on loopback that locks the program for each request, plus fault
//! injection (jam, e-stop, slow responses, dropped connections) and counters for tests
//! (executions per sequence number, tote positions, the request log), and the PLC's own
//! record of every command ([`CommandRecord`]). [`Hmi`] is a second Modbus master that
//! writes the same mailbox, as an operator panel would.
//!
//! Mailbox behaviour, as a PLC scan would do it (legacy profiles; with a `result`
//! register see `program.rs`: per-seq results and refusals, `active_seq`):
//! - a write that leaves `seq` equal to `acked_seq` (a re-send) changes nothing;
//! - a new `seq` is copied to `acked_seq`; the command then starts (`state` running), or is
//!   refused with a fault code and `done_seq = seq` (unknown code, bad argument, no tote,
//!   device jammed or e-stopped);
//! - while a command runs, only `stop` is taken; anything else gets `ServerDeviceBusy`;
//! - a finished command sets `done_seq = seq` and `state` idle; a jam sets `state` fault
//!   and the jam code, cleared by `stop`;
//! - registers outside the map answer `IllegalDataAddress`, writes outside the mailbox too.

mod hmi;
mod machine;
mod program;
mod record;
mod server;

pub use hmi::{Hmi, HmiAnswer, HmiError};
pub use machine::{Conveyor, Lift, Machine, Motion, Refusal, SetupError, ToteLocation};
pub use program::{PlcProgram, Status};
pub use record::{CommandOutcome, CommandRecord};
pub use server::{LoggedRequest, PlcHandle, RequestKind, SimPlc, SimPlcError};

#[cfg(test)]
mod tests;

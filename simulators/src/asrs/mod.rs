//! A simulated AS/RS (a crane aisle) with an OPC-UA server.
//!
//! [`Asrs`] is the machine: a grid of bins holding totes, input and output
//! ports, one crane with retrieval and store times working one queue of
//! tasks from any client, idempotent on task id, each ended task published
//! as `LastCompletedTaskId` with its `LastResult`, a per-task status, a
//! reset, the mode where `FaultCode` is the last result, and fault
//! injection (stuck crane, missing bin, blocked port, a fault after the
//! completion, a refused reset). It does no IO and is advanced by the
//! instants passed in (`machine.rs`; the record of every task id in
//! `machine/record.rs`). [`SimAsrs`] is the thin shell: an async-opcua
//! server on 127.0.0.1 (OS-assigned port) serving both interface styles of
//! `devices/asrs-opcua-*.toml` (`server.rs`, address space in `space.rs`,
//! the PLC scan in `scan.rs`), a Bad-status and a stalled-answer injection
//! for method calls, and a restart on request; the machine stays readable
//! for tests (inventory, [`TaskRecord`] per task id, calls).

mod machine;
mod scan;
mod server;
mod space;

pub use machine::{
    Asrs, Status, TaskKind, TaskOutcome, TaskRecord, Tote, COMPLETION_LOG_LEN, FAULT_BIN_NOT_FOUND,
    FAULT_CRANE_STUCK, FAULT_EMERGENCY_STOP, FAULT_PORT_BLOCKED, REFUSED_BIN_EMPTY,
    REFUSED_BIN_OCCUPIED, REFUSED_UNKNOWN_COMMAND, REFUSED_WRONG_PORT,
};
pub use server::{
    make_certificate, trust_certificate, AsrsHandle, SimAsrs, SimOptions, SimSecurity, NAMESPACE,
};

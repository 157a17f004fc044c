//! A simulated AS/RS (a crane aisle) with an OPC-UA server.
//!
//! [`Asrs`] is the machine: a grid of bins holding totes, input and output
//! ports, one crane with retrieval and store times, idempotent on task id,
//! with fault injection (stuck crane, missing bin, blocked port). It does no
//! IO and is advanced by the instants passed in. [`SimAsrs`] is the thin
//! shell: an async-opcua server on 127.0.0.1 (OS-assigned port) serving both
//! interface styles of `devices/asrs-opcua-*.toml`, a scan loop, a Bad-status
//! injection for method calls, and a restart on request; the machine stays
//! readable for tests (inventory, executions per task id, calls).

mod machine;
mod server;

pub use machine::{
    Asrs, Status, TaskKind, Tote, FAULT_BIN_NOT_FOUND, FAULT_CRANE_STUCK, FAULT_PORT_BLOCKED,
};
pub use server::{
    make_certificate, trust_certificate, AsrsHandle, SimAsrs, SimOptions, SimSecurity, NAMESPACE,
};

//! The boundary between the engine and the protocols. An adapter drives one
//! kind of device (VDA 5050 AMRs, OPC-UA AS/RS, Modbus conveyors) and speaks
//! in commands and reports; it never sees a task. The engine never sees a
//! topic, a node id or a register.
//!
//! Idempotency: every [`DeviceCommand`] carries a `command_id` that stays the
//! same when the command is re-sent (after a restart, say). The adapter maps
//! it onto its protocol's own key — the VDA 5050 `orderId`, the Modbus
//! mailbox sequence number, the AS/RS method's task id — so a repeat is
//! harmless on the device.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::model::DeviceKind;

/// A command for one device, as persisted in the outbox before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCommand {
    /// Stable across re-sends; the protocol's idempotency key derives from it.
    pub command_id: String,
    /// A protocol-level sequence number allocated once per command (the
    /// Modbus mailbox uses it), persisted with the command.
    pub sequence: u32,
    pub device_id: String,
    pub device_kind: DeviceKind,
    /// transport, retrieve, store, transfer, lift…
    pub command: String,
    pub from: Endpoint,
    pub to: Endpoint,
    /// The tote or load carrier.
    pub load_id: String,
    /// Extra parameters from the site file and the task.
    pub params: BTreeMap<String, String>,
}

/// A place as the device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Location id from the site file.
    pub location: String,
    /// Layout-graph node, for AMRs.
    pub node: Option<String>,
    /// VDA 5050 stationType or the PLC's port name.
    pub station_type: Option<String>,
    /// The location's number in a PLC program (conveyor port, station, lift
    /// level).
    #[serde(default)]
    pub plc_address: Option<u16>,
}

/// How a device answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceReport {
    Availability {
        device_id: String,
        availability: Availability,
        reason: String,
    },
    /// The device confirmed it took the command.
    Acknowledged {
        command_id: String,
    },
    Completed {
        command_id: String,
    },
    /// The device refused or failed the command (not a transport error).
    Failed {
        command_id: String,
        reason: String,
    },
    /// The device stopped the command after a [`DeviceAdapter::stop`].
    Stopped {
        command_id: String,
    },
    /// Where a mobile device is: the layout node it last passed.
    Position {
        device_id: String,
        node: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Offline,
    Online,
    Fault,
}

/// A send that did not reach the device. Retried with backoff; distinct from
/// a device refusing the command, which arrives as [`DeviceReport::Failed`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{device_id}: {message}")]
pub struct TransportError {
    pub device_id: String,
    pub message: String,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Implemented once per protocol. Reports flow back through the
/// [`ReportSink`] the adapter was given when it was built.
pub trait DeviceAdapter: Send + Sync + 'static {
    /// The device kinds this adapter drives.
    fn kinds(&self) -> &[DeviceKind];
    /// Sends (or re-sends) a command. Resolves once the command is on the
    /// wire, not when the device has done it.
    fn send(&self, command: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Stops a command in the device's own way (cancelOrder, the AS/RS
    /// cancel, the conveyor's stop command).
    fn stop(&self, command: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>>;
}

/// Where adapters send what devices say.
#[derive(Debug, Clone)]
pub struct ReportSink(pub(crate) tokio::sync::mpsc::UnboundedSender<DeviceReport>);

impl ReportSink {
    pub fn report(&self, report: DeviceReport) {
        // The engine has stopped: nothing is listening, and at restart the
        // outbox re-sends every unfinished command anyway.
        let _ = self.0.send(report);
    }
}

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
    /// The device's own command sequence, allocated per device at dispatch
    /// and persisted with the command: 1..=65535, never 0, never the
    /// device's previous value (see [`next_device_sequence`]). The Modbus
    /// mailbox carries it as its `seq`.
    pub sequence: u32,
    /// The sequence a stop of this command carries (allocated with the
    /// command, right after `sequence`, so it differs from it and from the
    /// next command's). 0 in commands written by an older build.
    #[serde(default)]
    pub stop_sequence: u32,
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
    /// VDA 5050 loadType of what is picked or dropped here (the location's default; a
    /// task's `load_type` attribute wins). Absent in commands written by an older build.
    #[serde(default)]
    pub load_type: Option<String>,
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
    /// The adapter cannot tell what the device did with the command: it
    /// ended while floorgate was away and the device keeps no per-command
    /// record the adapter could ask. The engine journals
    /// `step_outcome_unknown` naming the device and holds the device (no new
    /// command) until an operator resolves the step; never guessed.
    OutcomeUnknown {
        command_id: String,
        reason: String,
    },
    /// A link an adapter reaches many devices through (the AMRs' broker)
    /// went down (`up = false`) or came back. Not a device: the devices
    /// behind it report their own availability.
    Link {
        endpoint: String,
        up: bool,
        reason: String,
    },
    /// Traffic control ended a deadlock by sending this AMR aside.
    TrafficResolved {
        device_id: String,
        reason: String,
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
    /// Connected but asleep (a VDA 5050 3.0 robot hibernating): takes no command until
    /// woken ([`DeviceOperation::Wake`]), which the engine does when a step waits for it.
    Asleep,
}

/// A send (or stop) the device did not confirm. Retried with backoff;
/// distinct from a device refusing the command, which arrives as
/// [`DeviceReport::Failed`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{device_id}: {message}")]
pub struct TransportError {
    pub device_id: String,
    pub message: String,
    /// Whether the request may have reached the device.
    pub delivery: Delivery,
}

/// What a failed send says about the device having the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing left floorgate (no connection, the request could not be
    /// built): the device certainly does not have the command, so the step
    /// may move to another device.
    NotSent,
    /// The request went out and no answer came back (a timeout after the
    /// write, a connection lost mid-request): the device may be running the
    /// command. Never a reason to move the step; the engine re-sends with the
    /// same key (harmless on the device) until the device answers, or an
    /// operator resolves the step.
    Unconfirmed,
}

impl TransportError {
    /// The request never left floorgate.
    pub fn not_sent(device_id: impl Into<String>, message: impl Into<String>) -> Self {
        TransportError {
            device_id: device_id.into(),
            message: message.into(),
            delivery: Delivery::NotSent,
        }
    }

    /// The request may have reached the device.
    pub fn unconfirmed(device_id: impl Into<String>, message: impl Into<String>) -> Self {
        TransportError {
            device_id: device_id.into(),
            message: message.into(),
            delivery: Delivery::Unconfirmed,
        }
    }
}

/// An operator's command to a device, outside any task (DeviceService).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceOperation {
    /// Clear a fault (the profile's reset command, node or method).
    Reset,
    /// Stop whatever the device is doing (the engine stops a running step
    /// through [`DeviceAdapter::stop`] instead).
    Stop,
    /// Pause motion (VDA 5050 `startPause`).
    Pause,
    /// Resume after a pause (VDA 5050 `stopPause`).
    Resume,
    /// Wake a device that sleeps (VDA 5050 3.0 `stopHibernation`).
    Wake,
    /// Put an idle device to sleep (VDA 5050 3.0 `startHibernation`).
    Hibernate,
}

impl DeviceOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceOperation::Reset => "reset",
            DeviceOperation::Stop => "stop",
            DeviceOperation::Pause => "pause",
            DeviceOperation::Resume => "resume",
            DeviceOperation::Wake => "wake",
            DeviceOperation::Hibernate => "hibernate",
        }
    }
}

/// Why an operator's device command was not carried out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OperateError {
    /// The device's profile has no such command (FAILED_PRECONDITION).
    #[error("{0}")]
    Unsupported(String),
    /// The device said no (FAILED_PRECONDITION, with its reason).
    #[error("{0}")]
    Refused(String),
    /// No answer from the device (UNAVAILABLE).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The device sequence that follows `previous` (0: none yet): 1..=65535,
/// skipping 0, so it never equals `previous`. The Modbus mailbox and any
/// other protocol that keys commands by a 16-bit sequence take it as is.
pub fn next_device_sequence(previous: u32) -> u32 {
    if previous == 0 || previous >= 65_535 {
        1
    } else {
        previous + 1
    }
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
    /// cancel, the conveyor's stop command). `Ok` means the stop is on its
    /// way; the device confirming it arrives as [`DeviceReport::Stopped`],
    /// a device that finished first as [`DeviceReport::Completed`], one
    /// that refused the stop as nothing (the command goes on and ends in its
    /// own way).
    fn stop(&self, command: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Carries out an operator's command on a device (one with no command
    /// of floorgate's on it, for `Reset`; pause and resume also while it
    /// drives). `sequence` is a fresh device sequence the engine allocated
    /// and persisted for it (see [`next_device_sequence`]), for protocols
    /// that key commands by one. Resolves once the device confirmed it. The
    /// default: the kind has no such command.
    fn operate(
        &self,
        device_id: &str,
        operation: DeviceOperation,
        sequence: u32,
    ) -> BoxFuture<'_, Result<(), OperateError>> {
        let _ = sequence;
        let message = format!(
            "device {device_id}: its profile has no {} command",
            operation.as_str()
        );
        Box::pin(async move { Err(OperateError::Unsupported(message)) })
    }
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

/// What a traffic controller shows of one device: what it holds, what it waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceTraffic {
    /// The resources it holds ("node N1", "lane N1-N2", "block X1").
    pub held: Vec<String>,
    /// Why it gets no more of its route, if it waits.
    pub waiting_for: Option<String>,
}

/// A source of [`DeviceTraffic`] (the AMR adapter under traffic control).
pub trait TrafficView: Send + Sync {
    /// `None`: not a device it controls, or not placed yet.
    fn traffic(&self, device_id: &str) -> Option<DeviceTraffic>;
}

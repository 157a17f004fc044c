//! Conveyors and lifts over Modbus TCP: the command mailbox of
//! [`crate::modbus`] behind the engine's [`DeviceAdapter`].
//!
//! * One [`ModbusClient`] + [`Mailbox`] per PLC, started at construction; the
//!   client reconnects by itself. The unit id is the device's `unit_id` from
//!   the site file, else the profile's.
//! * Availability ([`availability`]): the link, refused status polls
//!   (offline, naming device, unit and exception), the profile's
//!   `fault_states` (fault). An idle PLC whose last command failed is online.
//! * A command's arguments come from the command: `tote` is the load id's
//!   number, `from`/`to` (and a lift's `level`) the locations' `plc_address`
//!   from the site file, anything else a numeric task attribute of that name.
//! * The mailbox `seq` is the command's persisted device sequence
//!   ([`command_seq`]; older commands: [`mailbox_seq`]), so a re-send after a
//!   restart or an unconfirmed write carries the same one and the PLC ignores
//!   it.
//! * Three send outcomes: nothing written (no connection) →
//!   [`TransportError::not_sent`]; written but not confirmed (timeout,
//!   connection lost after the write) → [`TransportError::unconfirmed`], the
//!   engine re-sends with the same `seq`; the PLC saying no (exception,
//!   refusal) → [`DeviceReport::Failed`] with the profile's reason.
//! * The outcome (`ModbusAdapter::follow`) is decided by
//!   `protocols/src/modbus/outcome.rs` (`judge`): `done_seq` + `result`, or
//!   the PLC's completion log, for profiles with a result register; an
//!   outcome the PLC no longer shows, or one that did not come within the
//!   profile's completion timeout, is [`DeviceReport::OutcomeUnknown`].
//! * Stop: the profile's `stop` command with the command's stop sequence
//!   ([`stop_command_seq`]); once acknowledged the step is reported stopped,
//!   unless the PLC shows the command already ended (read before the stop,
//!   and in the completion log read back with the stop's acknowledgement:
//!   then that outcome).
//! * Operator commands ([`DeviceAdapter::operate`]): `reset` and `stop` from
//!   the profile; pause and resume are not Modbus conveyor commands.

mod availability;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{AdapterContext, AdapterError};
use crate::engine::adapter::{
    BoxFuture, DeviceAdapter, DeviceCommand, DeviceOperation, DeviceReport, OperateError,
    ReportSink, TransportError,
};
use crate::engine::model::DeviceKind;
use crate::engine::site::Site;
use crate::modbus::outcome::{self, Verdict};
use crate::modbus::{Acked, Mailbox, ModbusClient, ModbusError, ModbusProfile, PlcFault};

pub use availability::availability;

/// The older derivation of the mailbox sequence from the command's sequence
/// (for commands persisted before per-device sequences): a non-zero u16.
pub fn mailbox_seq(sequence: u32) -> u16 {
    (sequence % 65_535) as u16 + 1
}

/// The older derivation of a stop's sequence: half the range away from the
/// command's own.
pub fn stop_seq(sequence: u32) -> u16 {
    mailbox_seq(sequence.wrapping_add(32_767))
}

/// Whether a command carries the engine's per-device sequences (1..=65535,
/// with a stop sequence allocated alongside).
fn per_device(c: &DeviceCommand) -> bool {
    c.stop_sequence != 0 && (1..=65_535).contains(&c.sequence)
}

/// The mailbox `seq` of a command: its device sequence itself; for commands
/// written by an older build, [`mailbox_seq`].
pub fn command_seq(c: &DeviceCommand) -> u16 {
    if per_device(c) {
        c.sequence as u16
    } else {
        mailbox_seq(c.sequence)
    }
}

/// The mailbox `seq` of a command's stop: its stop sequence; for commands
/// written by an older build, [`stop_seq`].
pub fn stop_command_seq(c: &DeviceCommand) -> u16 {
    match u16::try_from(c.stop_sequence) {
        Ok(s) if s != 0 && per_device(c) => s,
        _ => stop_seq(c.sequence),
    }
}

struct Plc {
    mailbox: Mailbox,
    profile: Arc<ModbusProfile>,
}

/// The adapter for every conveyor and lift of the site.
pub struct ModbusAdapter {
    plcs: HashMap<String, Plc>,
    sink: ReportSink,
    /// Commands being stopped: their aborted end is reported by the stop.
    stopping: Arc<Mutex<HashSet<String>>>,
    /// Commands whose completion is being followed (a re-send adds no second follower).
    following: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for ModbusAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModbusAdapter")
            .field("plcs", &self.plcs.keys().collect::<Vec<_>>())
            .finish()
    }
}

const KINDS: [DeviceKind; 2] = [DeviceKind::Conveyor, DeviceKind::Lift];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain sets of ids: a panic elsewhere leaves them usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ModbusAdapter {
    /// Starts a client for every conveyor and lift in `site`, with profiles
    /// from `profiles_dir`. Must be called inside a tokio runtime.
    pub fn start(
        site: &Site,
        profiles_dir: &Path,
        cx: &AdapterContext,
    ) -> Result<ModbusAdapter, AdapterError> {
        let sink = cx.sink.clone();
        let mut plcs = HashMap::new();
        for d in site.devices.values().filter(|d| KINDS.contains(&d.kind)) {
            let err = |message: String| AdapterError::Device {
                device: d.id.clone(),
                message,
            };
            let addr: SocketAddr = d
                .address
                .parse()
                .map_err(|e| err(format!("address {:?} is not host:port: {e}", d.address)))?;
            let path = profiles_dir.join(format!("{}.toml", d.profile));
            let mut profile = ModbusProfile::load(&path)
                .map_err(|e| err(format!("profile {}: {e}", path.display())))?;
            if let Some(unit) = d.unit_id {
                profile.unit_id = unit;
            }
            let profile = Arc::new(profile);
            let client = ModbusClient::spawn(addr, profile.clone());
            let endpoint = format!("plc:{}", d.id);
            let reached = cx.readiness.require(endpoint.clone());
            let metrics = cx.metrics.clone();
            availability::watch(d.id.clone(), client.clone(), sink.clone(), move |up| {
                metrics.set_connection_up(&endpoint, up);
                if up {
                    reached.met();
                }
            });
            plcs.insert(
                d.id.clone(),
                Plc {
                    mailbox: Mailbox::new(client),
                    profile,
                },
            );
        }
        Ok(ModbusAdapter {
            plcs,
            sink,
            stopping: Arc::default(),
            following: Arc::default(),
        })
    }

    fn plc(&self, c: &DeviceCommand) -> Result<&Plc, TransportError> {
        self.plcs.get(&c.device_id).ok_or_else(|| {
            TransportError::not_sent(c.device_id.clone(), "not a Modbus device of this site")
        })
    }

    fn failed(&self, c: &DeviceCommand, reason: String) {
        self.sink.report(DeviceReport::Failed {
            command_id: c.command_id.clone(),
            reason,
        });
    }

    /// Follows an acknowledged command until the PLC shows how it ended.
    fn follow(&self, c: &DeviceCommand, mailbox: Mailbox, acked: Acked) {
        if !lock(&self.following).insert(c.command_id.clone()) {
            return;
        }
        let (sink, stopping, following) = (
            self.sink.clone(),
            self.stopping.clone(),
            self.following.clone(),
        );
        let command_id = c.command_id.clone();
        let device_id = c.device_id.clone();
        tokio::spawn(async move {
            let outcome = mailbox.wait_completion(&acked).await;
            lock(&following).remove(&command_id);
            let stopped = lock(&stopping).contains(&command_id);
            let report = match outcome {
                Ok(Ok(_done)) => DeviceReport::Completed {
                    command_id: command_id.clone(),
                },
                // The stop reports the step; the aborted end is its echo.
                Ok(Err(_)) | Err(ModbusError::OutcomeLost { .. }) if stopped => return,
                Ok(Err(fault)) => DeviceReport::Failed {
                    command_id: command_id.clone(),
                    reason: describe(&fault),
                },
                Err(ModbusError::Closed) => return,
                Err(e) => DeviceReport::OutcomeUnknown {
                    command_id: command_id.clone(),
                    reason: format!("{device_id}: {e}"),
                },
            };
            lock(&stopping).remove(&command_id);
            sink.report(report);
        });
    }
}

/// A PLC's refusal or failure as an operator reads it: the profile's reason,
/// its fault name and code, the sequence.
pub fn describe(fault: &PlcFault) -> String {
    match fault {
        PlcFault::Fault {
            seq,
            fault,
            refused,
            ..
        } => format!(
            "{}{} (fault {} = {}, seq {seq})",
            if *refused { "refused: " } else { "" },
            fault.reason,
            fault.name.as_deref().unwrap_or("unknown"),
            fault.code
        ),
        PlcFault::Exception { op, exception } => format!(
            "the PLC answered the {op} with exception {exception:?} ({})",
            crate::modbus::exception_text(*exception)
        ),
        other => other.to_string(),
    }
}

/// The mailbox arguments of a command, by the profile's argument names.
pub fn command_args(
    profile: &ModbusProfile,
    c: &DeviceCommand,
) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for name in profile.mailbox.args.keys() {
        let v = match name.as_str() {
            "tote" => tote_number(&c.load_id)? as f64,
            "from" => plc_address(&c.from, "from")?,
            "to" | "level" => plc_address(&c.to, "to")?,
            other => c
                .params
                .get(other)
                .ok_or_else(|| {
                    format!("the PLC needs argument {other:?}: no task attribute of that name")
                })?
                .parse::<f64>()
                .map_err(|_| format!("task attribute {other:?} is not a number"))?,
        };
        out.push((name.clone(), v));
    }
    Ok(out)
}

fn plc_address(e: &crate::engine::adapter::Endpoint, which: &str) -> Result<f64, String> {
    e.plc_address.map(f64::from).ok_or_else(|| {
        format!(
            "location {:?} ({which}) has no plc_address in the site file",
            e.location
        )
    })
}

/// The number a PLC tracks a tote by: the digits of its load id
/// (`TOTE-000123` → 123).
pub fn tote_number(load_id: &str) -> Result<u32, String> {
    let digits: String = load_id.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .map_err(|_| format!("load id {load_id:?} has no number that fits the PLC's tote register"))
}

/// A transport error as the engine needs it: did the request leave?
fn transport(device_id: &str, e: &ModbusError) -> TransportError {
    if e.may_have_reached_plc() {
        TransportError::unconfirmed(device_id, e.to_string())
    } else {
        TransportError::not_sent(device_id, e.to_string())
    }
}

impl DeviceAdapter for ModbusAdapter {
    fn kinds(&self) -> &[DeviceKind] {
        &KINDS
    }

    fn send(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let plc = self.plc(&c)?;
            let args = match command_args(&plc.profile, &c) {
                Ok(a) => a,
                Err(reason) => {
                    self.failed(&c, reason);
                    return Ok(());
                }
            };
            let args: Vec<(&str, f64)> = args.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let seq = command_seq(&c);
            let acked = match plc.mailbox.send_named(&c.command, &args, seq).await {
                Err(ModbusError::InvalidCommand(reason)) => {
                    self.failed(&c, reason);
                    return Ok(());
                }
                Err(e) => return Err(transport(&c.device_id, &e)),
                Ok(Err(fault)) => {
                    self.failed(&c, describe(&fault));
                    return Ok(());
                }
                Ok(Ok(acked)) => acked,
            };
            self.sink.report(DeviceReport::Acknowledged {
                command_id: c.command_id.clone(),
            });
            self.follow(&c, plc.mailbox.clone(), acked);
            Ok(())
        })
    }

    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let plc = self.plc(&c)?;
            if plc.profile.command_code("stop").is_none() {
                return Err(TransportError::not_sent(
                    c.device_id.clone(),
                    format!("profile {} has no stop command", plc.profile.model),
                ));
            }
            let seq = command_seq(&c);
            // With per-command results: a command that already ended keeps its outcome.
            if plc.profile.status.result.is_some() {
                if let Ok(Ok(h)) = plc.mailbox.read_handshake().await {
                    match outcome::judge(&plc.profile, seq, &h) {
                        Verdict::Done => {
                            self.sink.report(DeviceReport::Completed {
                                command_id: c.command_id.clone(),
                            });
                            return Ok(());
                        }
                        Verdict::Failed { fault, .. } => {
                            self.failed(
                                &c,
                                describe(&PlcFault::Fault {
                                    seq,
                                    fault,
                                    state: h.state,
                                    refused: false,
                                }),
                            );
                            return Ok(());
                        }
                        _ => {}
                    }
                }
            }
            lock(&self.stopping).insert(c.command_id.clone());
            match plc
                .mailbox
                .send_named("stop", &[], stop_command_seq(&c))
                .await
            {
                Ok(Ok(stop)) => {
                    // The completion log, read back with the stop's acknowledgement, says
                    // whether the command finished before the stop reached the PLC.
                    let finished = plc.profile.status.history.is_some()
                        && outcome::judge(&plc.profile, seq, &stop.handshake) == Verdict::Done;
                    let command_id = c.command_id.clone();
                    self.sink.report(if finished {
                        DeviceReport::Completed { command_id }
                    } else {
                        DeviceReport::Stopped { command_id }
                    });
                    Ok(())
                }
                Ok(Err(fault)) => {
                    // The PLC refused the stop: the command goes on and ends its own way.
                    lock(&self.stopping).remove(&c.command_id);
                    tracing::warn!(device = %c.device_id, command = %c.command_id, reason = %describe(&fault), "stop refused by the PLC");
                    Ok(())
                }
                Err(e) => Err(transport(&c.device_id, &e)),
            }
        })
    }

    fn operate(
        &self,
        device_id: &str,
        operation: DeviceOperation,
        sequence: u32,
    ) -> BoxFuture<'_, Result<(), OperateError>> {
        let device_id = device_id.to_owned();
        Box::pin(async move {
            let Some(plc) = self.plcs.get(&device_id) else {
                return Err(OperateError::Unsupported(format!(
                    "device {device_id}: not a Modbus device of this site"
                )));
            };
            let name = operation.as_str();
            let supported = matches!(operation, DeviceOperation::Reset | DeviceOperation::Stop)
                && plc.profile.command_code(name).is_some();
            if !supported {
                return Err(OperateError::Unsupported(format!(
                    "device {device_id}: its profile {} has no {name} command",
                    plc.profile.model
                )));
            }
            let seq = match u16::try_from(sequence) {
                Ok(s) if s != 0 => s,
                _ => mailbox_seq(sequence),
            };
            match plc.mailbox.send_named(name, &[], seq).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(fault)) => Err(OperateError::Refused(format!(
                    "device {device_id}: {name} {}",
                    describe(&fault)
                ))),
                Err(e) => Err(OperateError::Transport(transport(&device_id, &e))),
            }
        })
    }
}

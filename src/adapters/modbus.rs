//! Conveyors and lifts over Modbus TCP: the command mailbox of
//! [`crate::modbus`] behind the engine's [`DeviceAdapter`].
//!
//! * One [`ModbusClient`] + [`Mailbox`] per PLC, started at construction; the
//!   client reconnects by itself.
//! * Availability follows the link (connected → online) and the status
//!   block (a state named `fault` or `estop` → fault).
//! * A command's arguments come from the command: `tote` is the load id's
//!   number, `from`/`to` (and a lift's `level`) the locations' `plc_address`
//!   from the site file, anything else a numeric task attribute of that name.
//! * The mailbox sequence is derived from the command's persisted sequence
//!   ([`mailbox_seq`]), so a re-send after a restart carries the same one and
//!   the PLC ignores it. A transport error (no connection, no
//!   acknowledgement in time) goes back to the engine, which retries; the PLC
//!   saying no (exception, fault code) fails the step with the reason.
//! * Stop: the profile's `stop` command with a sequence of its own
//!   ([`stop_seq`]); once acknowledged the step is reported stopped.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{AdapterContext, AdapterError};
use crate::engine::adapter::{
    Availability, BoxFuture, DeviceAdapter, DeviceCommand, DeviceReport, ReportSink, TransportError,
};
use crate::engine::model::DeviceKind;
use crate::engine::site::Site;
use crate::modbus::{LinkState, Mailbox, ModbusClient, ModbusProfile, PlcFault};

/// Maps the engine's command sequence onto the mailbox's non-zero u16.
pub fn mailbox_seq(sequence: u32) -> u16 {
    (sequence % 65_535) as u16 + 1
}

/// The sequence of the stop that cancels the command with `sequence`: half
/// the range away from it, so it never equals a command's own.
pub fn stop_seq(sequence: u32) -> u16 {
    mailbox_seq(sequence.wrapping_add(32_767))
}

struct Plc {
    mailbox: Mailbox,
    profile: Arc<ModbusProfile>,
}

/// The adapter for every conveyor and lift of the site.
pub struct ModbusAdapter {
    plcs: HashMap<String, Plc>,
    sink: ReportSink,
    /// Commands being stopped: their superseded completion is not a failure.
    stopping: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for ModbusAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModbusAdapter")
            .field("plcs", &self.plcs.keys().collect::<Vec<_>>())
            .finish()
    }
}

const KINDS: [DeviceKind; 2] = [DeviceKind::Conveyor, DeviceKind::Lift];

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
            let profile = Arc::new(
                ModbusProfile::load(&path)
                    .map_err(|e| err(format!("profile {}: {e}", path.display())))?,
            );
            let client = ModbusClient::spawn(addr, profile.clone());
            let endpoint = format!("plc:{}", d.id);
            let reached = cx.readiness.require(endpoint.clone());
            let metrics = cx.metrics.clone();
            watch_availability(d.id.clone(), client.clone(), sink.clone(), move |up| {
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
        })
    }

    fn plc(&self, c: &DeviceCommand) -> Result<&Plc, TransportError> {
        self.plcs.get(&c.device_id).ok_or_else(|| TransportError {
            device_id: c.device_id.clone(),
            message: "not a Modbus device of this site".into(),
        })
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
                    self.sink.report(DeviceReport::Failed {
                        command_id: c.command_id,
                        reason,
                    });
                    return Ok(());
                }
            };
            let args: Vec<(&str, f64)> = args.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let seq = mailbox_seq(c.sequence);
            let acked = match plc.mailbox.send_named(&c.command, &args, seq).await {
                Err(crate::modbus::ModbusError::InvalidCommand(reason)) => {
                    self.sink.report(DeviceReport::Failed {
                        command_id: c.command_id,
                        reason,
                    });
                    return Ok(());
                }
                Err(e) => {
                    return Err(TransportError {
                        device_id: c.device_id,
                        message: e.to_string(),
                    })
                }
                Ok(Err(fault)) => {
                    self.sink.report(DeviceReport::Failed {
                        command_id: c.command_id,
                        reason: fault.to_string(),
                    });
                    return Ok(());
                }
                Ok(Ok(acked)) => acked,
            };
            self.sink.report(DeviceReport::Acknowledged {
                command_id: c.command_id.clone(),
            });
            let mailbox = plc.mailbox.clone();
            let sink = self.sink.clone();
            let stopping = self.stopping.clone();
            tokio::spawn(async move {
                let report = match mailbox.wait_completion(&acked).await {
                    Ok(Ok(_done)) => DeviceReport::Completed {
                        command_id: c.command_id.clone(),
                    },
                    Ok(Err(PlcFault::Superseded { .. }))
                        if stopping.lock().expect("poisoned").contains(&c.command_id) =>
                    {
                        return;
                    }
                    Ok(Err(fault)) => DeviceReport::Failed {
                        command_id: c.command_id.clone(),
                        reason: fault.to_string(),
                    },
                    Err(crate::modbus::ModbusError::Closed) => return,
                    Err(e) => DeviceReport::Failed {
                        command_id: c.command_id.clone(),
                        reason: e.to_string(),
                    },
                };
                sink.report(report);
            });
            Ok(())
        })
    }

    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let plc = self.plc(&c)?;
            let transport = |message: String| TransportError {
                device_id: c.device_id.clone(),
                message,
            };
            if plc.profile.command_code("stop").is_none() {
                return Err(transport(format!(
                    "profile {} has no stop command",
                    plc.profile.model
                )));
            }
            self.stopping
                .lock()
                .expect("poisoned")
                .insert(c.command_id.clone());
            match plc
                .mailbox
                .send_named("stop", &[], stop_seq(c.sequence))
                .await
            {
                Ok(Ok(_)) => {
                    self.sink.report(DeviceReport::Stopped {
                        command_id: c.command_id.clone(),
                    });
                    Ok(())
                }
                Ok(Err(fault)) => Err(transport(format!("stop refused: {fault}"))),
                Err(e) => Err(transport(e.to_string())),
            }
        })
    }
}

/// Reports the PLC online while connected, in fault while its state is
/// named `fault` or `estop`, offline otherwise; tells `on_link` whether the
/// link is up at every change.
fn watch_availability(
    device_id: String,
    client: ModbusClient,
    sink: ReportSink,
    on_link: impl Fn(bool) + Send + 'static,
) {
    tokio::spawn(async move {
        let mut link = client.link();
        let mut status = client.status();
        let mut last: Option<(Availability, String)> = None;
        loop {
            on_link(matches!(&*link.borrow(), LinkState::Connected { .. }));
            let (availability, reason) = match &*link.borrow_and_update() {
                LinkState::Connected { .. } => match &*status.borrow_and_update() {
                    Some(s) if matches!(s.state_name.as_deref(), Some("fault" | "estop")) => (
                        Availability::Fault,
                        s.fault
                            .as_ref()
                            .map(|f| f.reason.clone())
                            .unwrap_or_else(|| {
                                format!("state {}", s.state_name.as_deref().unwrap_or("?"))
                            }),
                    ),
                    _ => (Availability::Online, String::new()),
                },
                LinkState::Connecting => (Availability::Offline, "connecting".into()),
                LinkState::Disconnected { error, .. } => (Availability::Offline, error.clone()),
            };
            if last.as_ref() != Some(&(availability, reason.clone())) {
                sink.report(DeviceReport::Availability {
                    device_id: device_id.clone(),
                    availability,
                    reason: reason.clone(),
                });
                last = Some((availability, reason));
            }
            tokio::select! {
                r = link.changed() => if r.is_err() { return },
                r = status.changed() => if r.is_err() { return },
            }
        }
    });
}

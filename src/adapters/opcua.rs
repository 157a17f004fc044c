//! AS/RS over OPC-UA: the session supervisor of [`crate::opcua`] behind the
//! engine's [`DeviceAdapter`].
//!
//! * One [`AsrsClient`] per AS/RS, started at construction; it reconnects
//!   with backoff and re-creates its status subscription on every connect.
//! * Commands: `retrieve` (storage location → output port) and `store`
//!   (input port → storage location), or any command the profile names.
//!   Arguments by name: `task_id` is the command id (the AS/RS's idempotency
//!   key: a re-send after a restart carries the same one and the AS/RS does
//!   not run it twice), `location` the storage side's location id, `port`
//!   the port side's `station_type` (its name in the PLC) or location id,
//!   `from`/`to`/`load` as given, and any task attribute (`sku`,
//!   `quantity`…).
//! * The AS/RS accepting is the acknowledgement; completion is the status
//!   node `LastCompletedTaskId` reaching the task id; a fault code while the
//!   task is current fails the step with the profile's fault name. A
//!   refusal or a Bad status code fails the step naming it; a transport
//!   error goes back to the engine, which retries.
//! * Stop: the profile's optional `cancel` command, naming the task by its
//!   command id (`task_id` for a method, `cancel_task_id` in a handshake,
//!   whose own task id is the command id with `/cancel` appended, so its
//!   acknowledgement is told apart from the command's). The AS/RS accepting
//!   the cancel reports the step stopped; a refusal (the task already
//!   ended, or has not arrived yet) is returned to the engine, which retries
//!   and otherwise waits for the step's own end. Without a `cancel` the
//!   stop is refused the same way.
//! * Availability: online while the session is active and the fault code is
//!   0; fault while the fault code is set or the server does not match the
//!   profile (the reason names the node); offline otherwise.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{AdapterContext, AdapterError};
use crate::engine::adapter::{
    Availability, BoxFuture, DeviceAdapter, DeviceCommand, DeviceReport, Endpoint, ReportSink,
    TransportError,
};
use crate::engine::model::DeviceKind;
use crate::engine::site::Site;
use crate::opcua::{AsrsClient, AsrsProfile, AsrsStatus, LinkState, SecuritySettings, Style};

/// The adapter for every AS/RS of the site.
pub struct OpcUaAdapter {
    devices: HashMap<String, AsrsClient>,
    sink: ReportSink,
}

impl std::fmt::Debug for OpcUaAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpcUaAdapter")
            .field("devices", &self.devices.keys().collect::<Vec<_>>())
            .finish()
    }
}

const KINDS: [DeviceKind; 1] = [DeviceKind::Asrs];

impl OpcUaAdapter {
    /// Starts a session supervisor for every AS/RS in `site`, with profiles
    /// from `profiles_dir`. Must be called inside a tokio runtime.
    pub fn start(
        site: &Site,
        profiles_dir: &Path,
        security: &SecuritySettings,
        cx: &AdapterContext,
    ) -> Result<OpcUaAdapter, AdapterError> {
        let sink = cx.sink.clone();
        let mut devices = HashMap::new();
        for d in site.devices.values().filter(|d| KINDS.contains(&d.kind)) {
            let err = |message: String| AdapterError::Device {
                device: d.id.clone(),
                message,
            };
            if !d.address.starts_with("opc.tcp://") {
                return Err(err(format!(
                    "address {:?} is not an opc.tcp:// URL",
                    d.address
                )));
            }
            let path = profiles_dir.join(format!("{}.toml", d.profile));
            let profile = AsrsProfile::load(&path)
                .map_err(|e| err(format!("profile {}: {e}", path.display())))?;
            security
                .check()
                .map_err(|e| err(format!("[gateway.opcua]: {e}")))?;
            let client = AsrsClient::spawn(d.address.clone(), Arc::new(profile), security.clone());
            let endpoint = format!("opcua:{}", d.id);
            let reached = cx.readiness.require(endpoint.clone());
            let metrics = cx.metrics.clone();
            watch_availability(d.id.clone(), &client, sink.clone(), move |up| {
                metrics.set_connection_up(&endpoint, up);
                if up {
                    reached.met();
                }
            });
            devices.insert(d.id.clone(), client);
        }
        Ok(OpcUaAdapter { devices, sink })
    }

    fn client(&self, c: &DeviceCommand) -> Result<&AsrsClient, TransportError> {
        self.devices
            .get(&c.device_id)
            .ok_or_else(|| TransportError {
                device_id: c.device_id.clone(),
                message: "not an AS/RS of this site".into(),
            })
    }

    fn fail(&self, c: &DeviceCommand, reason: String) {
        self.sink.report(DeviceReport::Failed {
            command_id: c.command_id.clone(),
            reason,
        });
    }

    /// Sends `command` for `c` in the profile's style and reports the
    /// answer; a transport error is returned for the engine to retry.
    async fn submit(
        &self,
        client: &AsrsClient,
        command: &str,
        c: &DeviceCommand,
    ) -> Result<bool, TransportError> {
        let args = command_args(command, c);
        let args_ref: HashMap<&str, String> =
            args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let r = match client.profile().style {
            Style::Method => client.call(command, &args_ref).await,
            Style::Handshake => client.handshake(command, &c.command_id, &args_ref).await,
        };
        match r {
            Ok(Ok(())) => Ok(true),
            Ok(Err(reason)) => {
                self.fail(c, reason);
                Ok(false)
            }
            Err(e) if e.is_permanent() => {
                self.fail(c, e.to_string());
                Ok(false)
            }
            Err(e) => Err(TransportError {
                device_id: c.device_id.clone(),
                message: e.to_string(),
            }),
        }
    }
}

/// The named arguments of a command (see the module notes).
pub fn command_args(command: &str, c: &DeviceCommand) -> Vec<(String, String)> {
    let port_name = |e: &Endpoint| e.station_type.clone().unwrap_or_else(|| e.location.clone());
    let (storage, port) = if command == "store" {
        (&c.to, &c.from)
    } else {
        (&c.from, &c.to)
    };
    let mut out: Vec<(String, String)> = c
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.extend([
        ("task_id".to_string(), c.command_id.clone()),
        ("location".into(), storage.location.clone()),
        ("port".into(), port_name(port)),
        ("from".into(), c.from.location.clone()),
        ("to".into(), c.to.location.clone()),
        ("load".into(), c.load_id.clone()),
    ]);
    out
}

impl DeviceAdapter for OpcUaAdapter {
    fn kinds(&self) -> &[DeviceKind] {
        &KINDS
    }

    fn send(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let client = self.client(&c)?;
            let status = client.status();
            if !self.submit(client, &c.command, &c).await? {
                return Ok(());
            }
            self.sink.report(DeviceReport::Acknowledged {
                command_id: c.command_id.clone(),
            });
            let sink = self.sink.clone();
            let profile = client.profile_arc();
            tokio::spawn(async move {
                if let Some(report) = wait_completion(status, &profile, &c.command_id).await {
                    sink.report(report);
                }
            });
            Ok(())
        })
    }

    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let client = self.client(&c)?;
            if !client.profile().commands.contains_key("cancel") {
                return Err(TransportError {
                    device_id: c.device_id.clone(),
                    message: format!("profile {} has no cancel command", client.profile().model),
                });
            }
            let mut args = command_args("cancel", &c);
            args.push(("cancel_task_id".into(), c.command_id.clone()));
            let args: HashMap<&str, String> =
                args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            let r = match client.profile().style {
                Style::Method => client.call("cancel", &args).await,
                Style::Handshake => {
                    client
                        .handshake("cancel", &format!("{}/cancel", c.command_id), &args)
                        .await
                }
            };
            let refused = |message: String| TransportError {
                device_id: c.device_id.clone(),
                message,
            };
            match r {
                Ok(Ok(())) => {
                    self.sink.report(DeviceReport::Stopped {
                        command_id: c.command_id.clone(),
                    });
                    Ok(())
                }
                Ok(Err(reason)) => Err(refused(reason)),
                Err(e) => Err(refused(e.to_string())),
            }
        })
    }
}

/// Waits until the status says `task_id` completed or failed. `None` when
/// the client stopped (the gateway is shutting down; the outbox re-sends).
async fn wait_completion(
    mut status: tokio::sync::watch::Receiver<AsrsStatus>,
    profile: &AsrsProfile,
    task_id: &str,
) -> Option<DeviceReport> {
    let faulted = |s: &AsrsStatus| {
        s.fault_code != 0 && s.current_task_id.as_deref().is_none_or(|t| t == task_id)
    };
    let s = status
        .wait_for(|s| s.last_completed_task_id.as_deref() == Some(task_id) || faulted(s))
        .await
        .ok()?
        .clone();
    Some(if s.last_completed_task_id.as_deref() == Some(task_id) {
        DeviceReport::Completed {
            command_id: task_id.into(),
        }
    } else {
        DeviceReport::Failed {
            command_id: task_id.into(),
            reason: fault_reason(profile, &s),
        }
    })
}

fn fault_reason(p: &AsrsProfile, s: &AsrsStatus) -> String {
    let mut r = format!("AS/RS fault {}", p.fault_name(s.fault_code));
    if let Some(t) = s.fault_text.as_deref().filter(|t| !t.is_empty()) {
        r.push_str(": ");
        r.push_str(t);
    }
    r
}

/// Reports the AS/RS online while its session is active and it has no
/// fault, in fault while it has one or does not match its profile, offline
/// otherwise; tells `on_link` whether the session is up at every change.
fn watch_availability(
    device_id: String,
    client: &AsrsClient,
    sink: ReportSink,
    on_link: impl Fn(bool) + Send + 'static,
) {
    // Only receivers: the watcher ends with the client.
    let mut link = client.link();
    let mut status = client.status();
    let profile = client.profile_arc();
    tokio::spawn(async move {
        let mut last: Option<(Availability, String)> = None;
        let mut was_up = None;
        loop {
            let up = *link.borrow() == LinkState::Connected;
            if was_up != Some(up) {
                on_link(up);
                was_up = Some(up);
            }
            let now = match &*link.borrow_and_update() {
                LinkState::Connected => {
                    let s = status.borrow_and_update();
                    if s.fault_code != 0 {
                        (Availability::Fault, fault_reason(&profile, &s))
                    } else {
                        (Availability::Online, String::new())
                    }
                }
                LinkState::Misconfigured { error } => (Availability::Fault, error.clone()),
                LinkState::Connecting => (Availability::Offline, "connecting".into()),
                LinkState::Disconnected { error } => (Availability::Offline, error.clone()),
            };
            if last.as_ref() != Some(&now) {
                sink.report(DeviceReport::Availability {
                    device_id: device_id.clone(),
                    availability: now.0,
                    reason: now.1.clone(),
                });
                last = Some(now);
            }
            tokio::select! {
                r = link.changed() => if r.is_err() { return },
                r = status.changed() => if r.is_err() { return },
            }
        }
    });
}

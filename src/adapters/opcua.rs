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
//! * Sending has three outcomes: the AS/RS accepting is the
//!   acknowledgement; the AS/RS refusing (its code named through
//!   `[faults]`) or a Bad status code fails the step; no session is
//!   [`TransportError::not_sent`], a call or write that went out without an
//!   answer [`TransportError::unconfirmed`].
//! * The outcome of an accepted command is decided by [`watch_command`]
//!   from what the PLC says about that task id, judged by
//!   [`crate::opcua::outcome::judge`]: every status change (and every
//!   reconnect) triggers one Read of all status nodes, so the completed
//!   task id and its result come from the same moment; a non-OK result
//!   fails the step with the fault's name; a device fault after the
//!   completion changes nothing. A command that ended out of the adapter's
//!   sight (the gateway was down, the link was lost, or completions passed
//!   faster than it read) is asked of the profile's per-task status method
//!   or its completion log, or reported [`DeviceReport::OutcomeUnknown`]
//!   naming the device. A
//!   re-sent command the AS/RS already knows goes the same way.
//! * Stop: the profile's optional `cancel` command, naming the task by its
//!   command id (`task_id` for a method, `cancel_task_id` in a handshake,
//!   whose own task id is the command id with `/cancel` appended, so its
//!   acknowledgement is told apart from the command's). The AS/RS accepting
//!   the cancel reports the step stopped; after a refusal (the task already
//!   ended, or has not arrived yet) the command's watcher reports its own
//!   end. Without a `cancel` the stop is [`TransportError::not_sent`].
//! * Operator commands ([`DeviceAdapter::operate`]): `reset` and `stop` as
//!   the profile names them (a method without arguments, or a handshake
//!   command whose task id is `reset/<sequence>`); pause and resume are
//!   unsupported.
//! * Availability: online while the session is active and the device is
//!   not faulted (`status.fault_states`, or a fault code with none listed;
//!   a fault code that is the last command's result is not a device
//!   fault); fault while it is or the server does not match the profile
//!   (the reason names the node); offline otherwise.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AdapterContext, AdapterError};
use crate::engine::adapter::{
    Availability, BoxFuture, DeviceAdapter, DeviceCommand, DeviceOperation, DeviceReport, Endpoint,
    OperateError, ReportSink, TransportError,
};
use crate::engine::model::DeviceKind;
use crate::engine::site::Site;
use crate::opcua::outcome::{self, Seen};
use crate::opcua::{
    AsrsClient, AsrsProfile, LinkState, OpcUaError, SecuritySettings, Snapshot, Style, TaskStatus,
    Verdict,
};

/// The adapter for every AS/RS of the site.
pub struct OpcUaAdapter {
    devices: HashMap<String, AsrsClient>,
    sink: ReportSink,
    watches: Arc<Mutex<Watches>>,
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
        Ok(OpcUaAdapter {
            devices,
            sink,
            watches: Arc::default(),
        })
    }

    fn client(&self, c: &DeviceCommand) -> Result<&AsrsClient, TransportError> {
        self.devices.get(&c.device_id).ok_or_else(|| {
            TransportError::not_sent(c.device_id.clone(), "not an AS/RS of this site")
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
            Err(e) => Err(transport(&c.device_id, e)),
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
            if !self.submit(client, &c.command, &c).await? {
                return Ok(());
            }
            self.sink.report(DeviceReport::Acknowledged {
                command_id: c.command_id.clone(),
            });
            let task = tokio::spawn(watch_command(
                client.clone(),
                self.sink.clone(),
                self.watches.clone(),
                c.device_id.clone(),
                c.command_id.clone(),
            ));
            // A re-send replaces the earlier watcher of the same command.
            if let Some(old) = self
                .watches
                .lock()
                .expect("poisoned")
                .watchers
                .insert(c.command_id.clone(), task.abort_handle())
            {
                old.abort();
            }
            Ok(())
        })
    }

    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let client = self.client(&c)?;
            if !client.profile().commands.contains_key("cancel") {
                return Err(TransportError::not_sent(
                    c.device_id.clone(),
                    format!("profile {} has no cancel command", client.profile().model),
                ));
            }
            let mut args = command_args("cancel", &c);
            args.push(("cancel_task_id".into(), c.command_id.clone()));
            let args: HashMap<&str, String> =
                args.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            self.watches
                .lock()
                .expect("poisoned")
                .stopping
                .insert(c.command_id.clone());
            let r = match client.profile().style {
                Style::Method => client.call("cancel", &args).await,
                Style::Handshake => {
                    client
                        .handshake("cancel", &format!("{}/cancel", c.command_id), &args)
                        .await
                }
            };
            match r {
                Ok(Ok(())) => {
                    if let Some(w) = self.watches.lock().expect("poisoned").end(&c.command_id) {
                        w.abort();
                    }
                    self.sink.report(DeviceReport::Stopped {
                        command_id: c.command_id.clone(),
                    });
                    Ok(())
                }
                // The AS/RS said no (the task already ended, say): the
                // command goes on and its watcher reports how it ends.
                Ok(Err(reason)) => {
                    tracing::info!(device_id = %c.device_id, command_id = %c.command_id, %reason, "the AS/RS refused the cancel");
                    self.watches
                        .lock()
                        .expect("poisoned")
                        .stopping
                        .remove(&c.command_id);
                    Ok(())
                }
                Err(e) => Err(transport(&c.device_id, e)),
            }
        })
    }

    fn operate(
        &self,
        device_id: &str,
        operation: DeviceOperation,
        sequence: u32,
    ) -> BoxFuture<'_, Result<(), OperateError>> {
        let device_id = device_id.to_string();
        Box::pin(async move {
            let Some(client) = self.devices.get(&device_id) else {
                return Err(OperateError::Unsupported(format!(
                    "device {device_id} is not an AS/RS of this site"
                )));
            };
            let p = client.profile();
            let name = match operation {
                DeviceOperation::Reset => "reset",
                DeviceOperation::Stop => "stop",
                DeviceOperation::Pause
                | DeviceOperation::Resume
                | DeviceOperation::Wake
                | DeviceOperation::Hibernate => {
                    return Err(OperateError::Unsupported(format!(
                        "device {device_id}: its profile {} has no {} command (an AS/RS over OPC-UA does not pause or sleep)",
                        p.model,
                        operation.as_str()
                    )))
                }
            };
            if !p.commands.contains_key(name) {
                return Err(OperateError::Unsupported(format!(
                    "device {device_id}: its profile {} has no {name} command",
                    p.model
                )));
            }
            let args = HashMap::new();
            let r = match p.style {
                Style::Method => client.call(name, &args).await,
                Style::Handshake => {
                    client
                        .handshake(name, &format!("{name}/{sequence}"), &args)
                        .await
                }
            };
            match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(OperateError::Refused(format!(
                    "device {device_id}: {reason}"
                ))),
                Err(e) if e.is_permanent() => {
                    Err(OperateError::Refused(format!("device {device_id}: {e}")))
                }
                Err(e) => Err(OperateError::Transport(transport(&device_id, e))),
            }
        })
    }
}

impl Drop for OpcUaAdapter {
    /// Watchers hold a client each; they end with the adapter (the
    /// gateway is stopping, and the outbox re-sends at the next start).
    fn drop(&mut self) {
        let mut w = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        for (_, watcher) in w.watchers.drain() {
            watcher.abort();
        }
    }
}

/// A transport failure: nothing left without a session, otherwise the
/// request may have reached the AS/RS.
fn transport(device_id: &str, e: OpcUaError) -> TransportError {
    match e {
        OpcUaError::NotConnected(_) => TransportError::not_sent(device_id, e.to_string()),
        e => TransportError::unconfirmed(device_id, e.to_string()),
    }
}

/// The commands being watched and the ones floorgate asked to stop.
#[derive(Debug, Default)]
struct Watches {
    watchers: HashMap<String, tokio::task::AbortHandle>,
    stopping: HashSet<String>,
}

impl Watches {
    /// Forgets `command_id`; its watcher, if any.
    fn end(&mut self, command_id: &str) -> Option<tokio::task::AbortHandle> {
        self.stopping.remove(command_id);
        self.watchers.remove(command_id)
    }
}

/// How often a waiting command's status is read again without a change
/// (a safety net under the subscription).
const RECHECK: Duration = Duration::from_secs(2);

/// Watches one accepted command until the AS/RS says how it ended, and
/// reports that. Re-reads on every status change, every reconnect, at the
/// settle time and every [`RECHECK`]; ends quietly when the client stops
/// (the gateway is shutting down; the outbox re-sends).
async fn watch_command(
    client: AsrsClient,
    sink: ReportSink,
    watches: Arc<Mutex<Watches>>,
    device_id: String,
    task_id: String,
) {
    let p = client.profile_arc();
    let settle = Duration::from_millis(p.timing.settle_ms);
    let accepted = tokio::time::Instant::now();
    let mut link = client.link();
    let mut status = client.status();
    let mut seen = Seen::default();
    loop {
        let connected = *link.borrow_and_update() == LinkState::Connected;
        status.borrow_and_update();
        if connected {
            seen.settled = accepted.elapsed() >= settle;
            match decide(&client, &p, &device_id, &task_id, &mut seen).await {
                Ok(Some(report)) => {
                    let stopping = {
                        let mut w = watches.lock().expect("poisoned");
                        let stopping = w.stopping.contains(&task_id);
                        w.end(&task_id);
                        stopping
                    };
                    sink.report(match report {
                        // A cancel floorgate did not ask for: the command
                        // was not done.
                        DeviceReport::Stopped { command_id } if !stopping => DeviceReport::Failed {
                            command_id,
                            reason: format!(
                                "device {device_id}: the AS/RS cancelled task {task_id} (not at floorgate's request)"
                            ),
                        },
                        r => r,
                    });
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(%device_id, %task_id, error = %e, "reading the AS/RS status failed; waiting for the link")
                }
            }
        }
        let wake = if seen.settled {
            RECHECK
        } else {
            settle.saturating_sub(accepted.elapsed())
        };
        tokio::select! {
            r = status.changed() => if r.is_err() { return },
            r = link.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wake), if connected => {}
        }
    }
}

/// One look at the AS/RS for `task_id`: `Some` once its end is known.
async fn decide(
    client: &AsrsClient,
    p: &AsrsProfile,
    device_id: &str,
    task_id: &str,
    seen: &mut Seen,
) -> Result<Option<DeviceReport>, OpcUaError> {
    let snapshot = client.read_snapshot().await?;
    let mut verdict = outcome::judge(p, &snapshot, task_id, *seen);
    let can_ask = p.task_status.is_some() || p.completion_log.is_some();
    let ask = match &verdict {
        Verdict::EndedUnseen(_) => true,
        // Queued, or ended before the gateway looked: the per-task status
        // tells at once.
        Verdict::Waiting => seen.settled && can_ask,
        _ => false,
    };
    if ask {
        verdict = if p.task_status.is_some() {
            match client.task_status(task_id).await? {
                Some(t) => outcome::from_task_status(p, task_id, &t),
                None => verdict,
            }
        } else if let Some(log) = &p.completion_log {
            match client.completion_log_result(task_id).await? {
                Some(result) => outcome::from_task_status(p, task_id, &TaskStatus::Ended(result)),
                None => match verdict {
                    Verdict::EndedUnseen(reason) => Verdict::Unknown(format!(
                        "{reason}; it is not in the completion log {}",
                        log.task_ids.node
                    )),
                    v => v,
                },
            }
        } else {
            match verdict {
                Verdict::EndedUnseen(reason) => Verdict::Unknown(format!(
                    "{reason}; profile {} names no per-task status",
                    p.model
                )),
                v => v,
            }
        };
    }
    let command_id = task_id.to_string();
    Ok(match verdict {
        Verdict::Completed => Some(DeviceReport::Completed { command_id }),
        Verdict::Failed(reason) => Some(DeviceReport::Failed { command_id, reason }),
        Verdict::Cancelled => Some(DeviceReport::Stopped { command_id }),
        Verdict::Unknown(reason) => Some(DeviceReport::OutcomeUnknown {
            command_id,
            reason: format!("device {device_id}: {reason}"),
        }),
        Verdict::Running => {
            seen.running = true;
            None
        }
        Verdict::Waiting | Verdict::EndedUnseen(_) => None,
    })
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
                    if profile.is_device_fault(s.state.as_deref(), s.fault_code) {
                        let reason = outcome::fault_reason(&profile, &Snapshot::from(&*s));
                        (Availability::Fault, reason)
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

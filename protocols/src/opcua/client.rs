//! One OPC-UA client session per AS/RS, kept alive by a supervisor task.
//!
//! Each connect is a fresh session: the crate's own reconnect is turned off
//! (`session_retry_limit(0)`, `disable_reconnects`), so a lost connection
//! ends the session's event loop and the supervisor starts over after a
//! backoff (`timing.reconnect_min_ms` doubling to `reconnect_max_ms`). On
//! every connect it looks the profile's namespace up, checks each profiled
//! variable's DataType against the profile, and creates the status
//! subscription anew: a server that restarted has forgotten the old one, and
//! the monitored items' initial values bring the status up to date (a
//! completion that happened while the link was down is seen then).
//!
//! Commands go through the live session: method calls ([`AsrsClient::call`])
//! or writes then a trigger ([`AsrsClient::handshake`]). Results have two
//! layers: the outer error is the transport (no session — nothing left,
//! [`OpcUaError::NotConnected`] — or a request that went out without an
//! answer), the inner one the device saying no (a refusal, its code named
//! through `[faults]`, or an operation-level Bad status code, named).
//!
//! The subscription ([`AsrsClient::status`]) says *that* something
//! changed; outcomes are judged from [`AsrsClient::read_snapshot`], every
//! status node in one Read service call, and from the per-task status
//! method ([`AsrsClient::task_status`]).
//!
//! The supervisor itself lives in `session.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opcua::types::{
    AttributeId, CallMethodRequest, DataValue, NodeId, ReadValueId, TimestampsToReturn, Variant,
    WriteValue,
};
use tokio::sync::watch;

use super::node::{variant_int, variant_text};
use super::outcome::{task_status_of, Snapshot, TaskStatus};
use super::profile::{AsrsProfile, NodeRef, ProfileNodeId, ValueType};
use super::security::SecuritySettings;
use super::session::{supervise, Live, Shared};
use super::OpcUaError;

/// The session's state, as the adapter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    /// Session active, namespace resolved, types checked, subscribed.
    Connected,
    Disconnected {
        error: String,
    },
    /// The server does not match the profile (a missing node, another data
    /// type) or its certificate is not trusted; retried like a lost link, in
    /// case the PLC program or the trust list changes.
    Misconfigured {
        error: String,
    },
}

/// The monitored values, as last published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsrsStatus {
    pub last_completed_task_id: Option<String>,
    /// The profile's `last_result` node (0 without one).
    pub last_result: i64,
    pub current_task_id: Option<String>,
    pub state: Option<String>,
    pub fault_code: i64,
    pub fault_text: Option<String>,
    pub ack_task_id: Option<String>,
    pub ack_result: i64,
    pub ack_reason: Option<String>,
    /// Counts subscriptions created; a new one means the values were
    /// re-read from the server.
    pub subscription: u64,
}

impl From<&AsrsStatus> for Snapshot {
    /// The subscribed values as a snapshot: for the device's state now
    /// (availability), never for a command's outcome — the values may come
    /// from different notifications.
    fn from(s: &AsrsStatus) -> Snapshot {
        Snapshot {
            last_completed_task_id: s.last_completed_task_id.clone(),
            last_result: Some(s.last_result),
            current_task_id: s.current_task_id.clone(),
            state: s.state.clone(),
            fault_code: s.fault_code,
            fault_text: s.fault_text.clone(),
        }
    }
}

/// The device's answer to a command: accepted, or refused with a reason.
pub type Answer = Result<(), String>;

/// A handle on one AS/RS's session; cheap to clone.
#[derive(Clone)]
pub struct AsrsClient {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

struct StopOnDrop(tokio::task::AbortHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for AsrsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsrsClient")
            .field("url", &self.shared.url)
            .finish()
    }
}

impl AsrsClient {
    /// Starts the supervisor for the server at `url` (`opc.tcp://…`). Must
    /// be called inside a tokio runtime.
    pub fn spawn(url: String, profile: Arc<AsrsProfile>, security: SecuritySettings) -> AsrsClient {
        let shared = Arc::new(Shared {
            url,
            profile,
            security,
            link: watch::channel(LinkState::Connecting).0,
            status: watch::channel(AsrsStatus::default()).0,
            live: Mutex::new(None),
            handshake: tokio::sync::Mutex::new(()),
        });
        let task = tokio::spawn(supervise(shared.clone()));
        AsrsClient {
            shared,
            _stop: Arc::new(StopOnDrop(task.abort_handle())),
        }
    }

    pub fn link(&self) -> watch::Receiver<LinkState> {
        self.shared.link.subscribe()
    }

    pub fn status(&self) -> watch::Receiver<AsrsStatus> {
        self.shared.status.subscribe()
    }

    pub fn profile(&self) -> &AsrsProfile {
        &self.shared.profile
    }

    pub fn profile_arc(&self) -> Arc<AsrsProfile> {
        self.shared.profile.clone()
    }

    fn live(&self) -> Result<Arc<Live>, OpcUaError> {
        self.shared
            .live
            .lock()
            .expect("poisoned")
            .clone()
            .ok_or_else(|| OpcUaError::NotConnected(current_error(&self.shared.link.borrow())))
    }

    /// Method style: calls the command's method with `args` (name → text,
    /// encoded per the profile) in the profile's order. The method answers
    /// `[accepted: Boolean, reason: String]`.
    pub async fn call(
        &self,
        command: &str,
        args: &HashMap<&str, String>,
    ) -> Result<Answer, OpcUaError> {
        let p = &self.shared.profile;
        let def = p
            .commands
            .get(command)
            .ok_or_else(|| OpcUaError::UnknownCommand(command.into()))?;
        let (Some(object), Some(method)) = (&def.object, &def.method) else {
            return Err(OpcUaError::UnknownCommand(command.into()));
        };
        let mut inputs = Vec::new();
        for name in &def.args {
            let text = args
                .get(name.as_str())
                .ok_or_else(|| OpcUaError::MissingArgument(name.clone()))?;
            let ty = def
                .arg_types
                .get(name)
                .copied()
                .unwrap_or(ValueType::String);
            inputs.push(
                ty.encode(text)
                    .map_err(|e| OpcUaError::BadArgument(name.clone(), e))?,
            );
        }
        let live = self.live()?;
        let object_id = resolve(object, live.ns);
        let method_id = resolve(method, live.ns);
        let request = CallMethodRequest {
            object_id,
            method_id: method_id.clone(),
            input_arguments: Some(inputs),
        };
        let r = self.timed(live.session.call_one(request)).await?;
        if r.status_code.is_bad() {
            return Ok(Err(format!(
                "{command} (method {method_id}): {}",
                r.status_code
            )));
        }
        let out = r.output_arguments.unwrap_or_default();
        match (out.first(), out.get(1)) {
            (Some(Variant::Boolean(true)), _) => Ok(Ok(())),
            (Some(Variant::Boolean(false)), reason) => Ok(Err(refusal(
                p,
                command,
                out.get(2).and_then(variant_int),
                reason.and_then(variant_text),
            ))),
            _ => Ok(Err(format!(
                "{command} (method {method_id}): the answer is not [accepted: Boolean, reason: String]: {out:?}"
            ))),
        }
    }

    /// Handshake style: writes the task id, the command code and the
    /// arguments, then the trigger, and waits until the acknowledgement
    /// node carries `task_id`.
    pub async fn handshake(
        &self,
        command: &str,
        task_id: &str,
        args: &HashMap<&str, String>,
    ) -> Result<Answer, OpcUaError> {
        let p = &self.shared.profile;
        let h = p
            .handshake
            .as_ref()
            .ok_or_else(|| OpcUaError::UnknownCommand(command.into()))?;
        let def = p
            .commands
            .get(command)
            .ok_or_else(|| OpcUaError::UnknownCommand(command.into()))?;
        let code = def
            .code
            .ok_or_else(|| OpcUaError::UnknownCommand(command.into()))?;
        let mut writes: Vec<(&NodeRef, String)> =
            vec![(&h.task_id, task_id.into()), (&h.command, code.to_string())];
        for name in &def.args {
            let text = args
                .get(name.as_str())
                .ok_or_else(|| OpcUaError::MissingArgument(name.clone()))?;
            writes.push((&h.args[name], text.clone()));
        }
        let _one = self.shared.handshake.lock().await;
        let live = self.live()?;
        let mut values = Vec::new();
        for (n, text) in &writes {
            values.push(
                write_value(n, text, live.ns)
                    .map_err(|e| OpcUaError::BadArgument(n.node.clone(), e))?,
            );
        }
        let mut status = self.status();
        if let Some(refusal) = self.write_all(&live, &values).await? {
            return Ok(Err(refusal));
        }
        let trigger = write_value(&h.trigger, "true", live.ns)
            .map_err(|e| OpcUaError::BadArgument(h.trigger.node.clone(), e))?;
        if let Some(refusal) = self.write_all(&live, &[trigger]).await? {
            return Ok(Err(refusal));
        }
        let wait = Duration::from_millis(p.timing.ack_timeout_ms);
        let acked = tokio::time::timeout(
            wait,
            status.wait_for(|s| s.ack_task_id.as_deref() == Some(task_id)),
        )
        .await;
        match acked {
            Err(_) => Err(OpcUaError::Timeout(format!(
                "no acknowledgement of {task_id:?} in {} within {wait:?}",
                h.ack_task_id.node
            ))),
            Ok(Err(_)) => Err(OpcUaError::NotConnected("client stopped".into())),
            Ok(Ok(s)) if s.ack_result == 0 => Ok(Ok(())),
            Ok(Ok(s)) => Ok(Err(refusal(
                p,
                command,
                Some(s.ack_result),
                s.ack_reason.clone().filter(|r| !r.is_empty()),
            ))),
        }
    }

    /// Every status node in one Read service call: `LastCompletedTaskId`
    /// and its result come from the same moment.
    pub async fn read_snapshot(&self) -> Result<Snapshot, OpcUaError> {
        let p = &self.shared.profile;
        let s = &p.status;
        let mut nodes: Vec<&NodeRef> = vec![&s.last_completed_task_id, &s.state, &s.fault_code];
        let optional = [&s.last_result, &s.current_task_id, &s.fault_text];
        nodes.extend(optional.iter().filter_map(|n| n.as_ref()));
        let live = self.live()?;
        let reads: Vec<ReadValueId> = nodes
            .iter()
            .map(|n| ReadValueId {
                node_id: resolve(&n.node, live.ns),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            })
            .collect();
        let values = self
            .timed(live.session.read(&reads, TimestampsToReturn::Neither, 0.0))
            .await?;
        let mut by_node: HashMap<&str, Variant> = HashMap::new();
        for (n, v) in nodes.iter().zip(values) {
            if v.status().is_bad() {
                return Err(OpcUaError::Profile(format!(
                    "reading {}: {}",
                    n.node,
                    v.status()
                )));
            }
            by_node.insert(n.node.as_str(), v.value.unwrap_or_default());
        }
        let get = |n: &NodeRef| by_node.get(n.node.as_str()).cloned().unwrap_or_default();
        let opt = |n: &Option<NodeRef>| n.as_ref().map(get);
        Ok(Snapshot {
            last_completed_task_id: variant_text(&get(&s.last_completed_task_id)),
            last_result: opt(&s.last_result).map(|v| variant_int(&v).unwrap_or(0)),
            current_task_id: opt(&s.current_task_id).and_then(|v| variant_text(&v)),
            state: variant_text(&get(&s.state)),
            fault_code: variant_int(&get(&s.fault_code)).unwrap_or(0),
            fault_text: opt(&s.fault_text).and_then(|v| variant_text(&v)),
        })
    }

    /// The result of `task_id` in the profile's completion log (both arrays
    /// in one Read service call): `Ok(None)` when the log does not hold it
    /// or the profile names none.
    pub async fn completion_log_result(&self, task_id: &str) -> Result<Option<i64>, OpcUaError> {
        let Some(log) = &self.shared.profile.completion_log else {
            return Ok(None);
        };
        let live = self.live()?;
        let reads: Vec<ReadValueId> = [&log.task_ids, &log.results]
            .iter()
            .map(|n| ReadValueId {
                node_id: resolve(&n.node, live.ns),
                attribute_id: AttributeId::Value as u32,
                ..Default::default()
            })
            .collect();
        let values = self
            .timed(live.session.read(&reads, TimestampsToReturn::Neither, 0.0))
            .await?;
        let array = |v: &DataValue, n: &NodeRef| -> Result<Vec<Variant>, OpcUaError> {
            if v.status().is_bad() {
                return Err(OpcUaError::Profile(format!(
                    "reading {}: {}",
                    n.node,
                    v.status()
                )));
            }
            match &v.value {
                Some(Variant::Array(a)) => Ok(a.values.clone()),
                None | Some(Variant::Empty) => Ok(Vec::new()),
                Some(other) => Err(OpcUaError::Profile(format!(
                    "{} holds {other:?}, not an array",
                    n.node
                ))),
            }
        };
        let (Some(ids), Some(results)) = (values.first(), values.get(1)) else {
            return Err(OpcUaError::Profile(
                "the completion log read came back short".into(),
            ));
        };
        let ids = array(ids, &log.task_ids)?;
        let results = array(results, &log.results)?;
        if ids.len() != results.len() {
            return Err(OpcUaError::Profile(format!(
                "completion log: {} task ids in {}, {} results in {}",
                ids.len(),
                log.task_ids.node,
                results.len(),
                log.results.node
            )));
        }
        // The latest entry for the id counts.
        Ok(ids
            .iter()
            .zip(&results)
            .rev()
            .find(|(id, _)| variant_text(id).as_deref() == Some(task_id))
            .map(|(_, r)| variant_int(r).unwrap_or(-1)))
    }

    /// Asks the profile's per-task status method about `task_id`; `None`
    /// when the profile names none. A Bad status code or an answer that
    /// is not `[state: String, result: integer]` is
    /// [`TaskStatus::Other`].
    pub async fn task_status(&self, task_id: &str) -> Result<Option<TaskStatus>, OpcUaError> {
        let p = &self.shared.profile;
        let Some(def) = &p.task_status else {
            return Ok(None);
        };
        let live = self.live()?;
        let request = CallMethodRequest {
            object_id: resolve(&def.object, live.ns),
            method_id: resolve(&def.method, live.ns),
            input_arguments: Some(vec![Variant::String(task_id.into())]),
        };
        let r = self.timed(live.session.call_one(request)).await?;
        if r.status_code.is_bad() {
            return Ok(Some(TaskStatus::Other(format!(
                "{} (method {})",
                r.status_code, def.method
            ))));
        }
        let out = r.output_arguments.unwrap_or_default();
        Ok(Some(
            match (out.first(), out.get(1).and_then(variant_int)) {
                (Some(Variant::String(state)), result) => {
                    task_status_of(p, state.as_ref(), result.unwrap_or(0))
                }
                _ => TaskStatus::Other(format!("{out:?}")),
            },
        ))
    }

    /// Writes `values`; a Bad status on any is the device's refusal,
    /// naming the node.
    async fn write_all(
        &self,
        live: &Live,
        values: &[WriteValue],
    ) -> Result<Option<String>, OpcUaError> {
        let results = self.timed(live.session.write(values)).await?;
        for (v, s) in values.iter().zip(results) {
            if s.is_bad() {
                return Ok(Some(format!("write {}: {s}", v.node_id)));
            }
        }
        Ok(None)
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, opcua::types::Error>>,
    ) -> Result<T, OpcUaError> {
        let t = Duration::from_millis(self.shared.profile.timing.request_timeout_ms);
        match tokio::time::timeout(t, f).await {
            Err(_) => Err(OpcUaError::Timeout(format!("no answer within {t:?}"))),
            Ok(Err(e)) => Err(OpcUaError::Service(e.status())),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

/// A refusal as a person reads it: the command, the code named through the
/// profile's `[faults]`, and the device's reason.
fn refusal(p: &AsrsProfile, command: &str, code: Option<i64>, reason: Option<String>) -> String {
    let reason = reason.unwrap_or_else(|| "no reason given".into());
    match code {
        Some(code) => format!("{command} rejected: {}: {reason}", p.fault_name(code)),
        None => format!("{command} rejected: {reason}"),
    }
}

fn current_error(l: &LinkState) -> String {
    match l {
        LinkState::Connecting => "connecting".into(),
        LinkState::Connected => "reconnecting".into(),
        LinkState::Disconnected { error } | LinkState::Misconfigured { error } => error.clone(),
    }
}

pub(super) fn resolve(text: &str, ns: u16) -> NodeId {
    // Profiles are validated when loaded: the ids parse.
    ProfileNodeId::parse(text)
        .map(|p| p.resolve(ns))
        .unwrap_or_else(|_| NodeId::null())
}

fn write_value(n: &NodeRef, text: &str, ns: u16) -> Result<WriteValue, String> {
    Ok(WriteValue {
        node_id: resolve(&n.node, ns),
        attribute_id: AttributeId::Value as u32,
        index_range: Default::default(),
        value: DataValue::new_now(n.ty.encode(text)?),
    })
}

//! AS/RS OPC-UA profiles (`devices/asrs-opcua-*.toml`): which nodes carry
//! the commands and the status, and their data types. No standard command
//! interface exists for AS/RS, so everything the client touches is named
//! here.
//!
//! Node ids are written in the OPC-UA text form. A node id without `ns=`
//! (`s=ASRS.Status.State`, `i=6001`) lives in the profile's
//! `namespace_uri`, whose index the client looks up on each connect; an id
//! with `ns=N;` is taken as written.
//!
//! ```toml
//! model = "asrs-opcua-method"
//! namespace_uri = "urn:floorgate:sim:asrs"
//! style = "method"                 # or "handshake"
//!
//! [status]                          # subscribed (monitored items)
//! last_completed_task_id = { node = "s=ASRS.Status.LastCompletedTaskId", type = "String" }
//! state = { node = "s=ASRS.Status.State", type = "String" }
//! fault_code = { node = "s=ASRS.Status.FaultCode", type = "UInt32" }
//!
//! [commands.retrieve]               # method style
//! object = "s=ASRS"
//! method = "s=ASRS.Retrieve"
//! args = ["task_id", "location", "port"]
//! ```
//!
//! Handshake style instead names `[handshake]` nodes (task id, command code,
//! arguments, trigger, and the acknowledgement) and gives each command a
//! `code`; a refusal's acknowledgement code is named through `[faults]`.
//!
//! Outcomes: `status.last_result` (or `fault_code` in the
//! `fault_code_meaning = "last_result"` mode) is the result of the task in
//! `last_completed_task_id`; `status.fault_states` are the states in which
//! the *device* is faulted; `[task_status]` names a per-task status method
//! (`GetTaskStatus(taskId) → [state, result]`) and `[completion_log]` two
//! array nodes (the last ended task ids and their results), for commands
//! that ended out of the gateway's sight. Optional commands `reset` and `stop` serve
//! operators.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use super::node::{NodeRef, ProfileNodeId, ValueType};
pub use lookup::{CompletionLog, TaskStates, TaskStatusDef};

mod lookup;

/// How commands reach the PLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// One method call per command, answering accepted or rejected.
    Method,
    /// Command nodes written, then a trigger; the PLC acknowledges in nodes.
    Handshake,
}

/// Timing of the session and the commands.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    pub request_timeout_ms: u64,
    /// First reconnect delay; doubles up to `reconnect_max_ms`.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// The subscription's publishing interval (and the monitored items'
    /// sampling interval).
    pub publishing_interval_ms: u64,
    /// How long a handshake waits for the acknowledgement node.
    pub ack_timeout_ms: u64,
    /// How long after accepting a command the PLC may take to show it
    /// running (its scan cycle and the publishing interval): an idle PLC
    /// that still does not show the task after this had ended it before.
    pub settle_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request_timeout_ms: 3000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5000,
            publishing_interval_ms: 100,
            ack_timeout_ms: 3000,
            settle_ms: 500,
        }
    }
}

/// The status block, monitored by one subscription.
///
/// The *device's* fault and the *last command's* result are separate: the
/// device is faulted when `state` is one of `fault_states` (or, with none
/// listed and `fault_code_meaning = "device_fault"`, while `fault_code` is
/// not 0); a command's result is `last_result` (or `fault_code` when
/// `fault_code_meaning = "last_result"`), read in the same Read service call
/// as `last_completed_task_id`, never from two reads that could straddle a
/// change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusNodes {
    /// The task id of the command the PLC finished last, OK or not.
    pub last_completed_task_id: NodeRef,
    /// The result code of the task in `last_completed_task_id` (0 OK, any
    /// other a code of `[faults]`), written by the PLC together with it.
    /// Without it (and without `fault_code_meaning = "last_result"`), a task
    /// reaching `last_completed_task_id` is taken as done OK.
    #[serde(default)]
    pub last_result: Option<NodeRef>,
    pub state: NodeRef,
    pub fault_code: NodeRef,
    /// What `fault_code` holds.
    #[serde(default)]
    pub fault_code_meaning: FaultCodeMeaning,
    /// `state` values meaning the device is faulted and needs a reset.
    #[serde(default)]
    pub fault_states: Vec<String>,
    /// `state` values meaning nothing is running and nothing queued. Lets
    /// the adapter tell a command the PLC finished out of its sight (it
    /// accepted the task id again and went idle without running it) from
    /// one still queued.
    #[serde(default)]
    pub idle_states: Vec<String>,
    /// The task the machine is working on (its fault belongs to it).
    #[serde(default)]
    pub current_task_id: Option<NodeRef>,
    #[serde(default)]
    pub fault_text: Option<NodeRef>,
}

/// What the profile's `fault_code` node holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultCodeMeaning {
    /// The device's fault now: not 0 while the device is faulted.
    #[default]
    DeviceFault,
    /// The result of the last completed command (the task in
    /// `last_completed_task_id`): an idle PLC whose last command failed
    /// shows that command's code and is available.
    LastResult,
}

/// Handshake-style command nodes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeNodes {
    pub task_id: NodeRef,
    pub command: NodeRef,
    /// Argument name → node, written before the trigger.
    #[serde(default)]
    pub args: BTreeMap<String, NodeRef>,
    /// Set true last; the PLC resets it once it has read the command.
    pub trigger: NodeRef,
    /// The task id the PLC acknowledged (monitored).
    pub ack_task_id: NodeRef,
    /// 0 accepted, anything else a refusal (monitored).
    pub ack_result: NodeRef,
    #[serde(default)]
    pub ack_reason: Option<NodeRef>,
}

/// One command of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    /// Method style: the object the method is called on, and the method.
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Method style: input argument names in order (all typed String
    /// unless `arg_types` says otherwise).
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub arg_types: BTreeMap<String, ValueType>,
    /// Handshake style: the command code written to `handshake.command`.
    #[serde(default)]
    pub code: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrsProfile {
    pub model: String,
    pub namespace_uri: String,
    pub style: Style,
    #[serde(default)]
    pub timing: Timing,
    pub status: StatusNodes,
    #[serde(default)]
    pub handshake: Option<HandshakeNodes>,
    /// `retrieve`, `store`, and the optional `cancel` (a task), `reset`
    /// (clears the device's fault) and `stop` (stops the device, no task).
    pub commands: BTreeMap<String, CommandDef>,
    /// The optional per-task status method.
    #[serde(default)]
    pub task_status: Option<TaskStatusDef>,
    /// The optional completion log (asked when the profile names no
    /// `task_status`).
    #[serde(default)]
    pub completion_log: Option<CompletionLog>,
    /// Code → name, for fault codes, command results and handshake
    /// refusal codes, so a step failure names what a person can read.
    #[serde(default)]
    pub faults: BTreeMap<String, String>,
}

impl AsrsProfile {
    pub fn load(path: &Path) -> Result<AsrsProfile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        AsrsProfile::from_toml_str(&text)
    }

    /// Parses and validates; the error names every bad field and node.
    pub fn from_toml_str(text: &str) -> Result<AsrsProfile, String> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| {
            // Where the syntax error is, as a person counts: line and column.
            match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("line {line}, column {column}: {}", e.message())
                }
                None => e.message().to_string(),
            }
        })?;
        let p: AsrsProfile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner().message())
        })?;
        let errors = p.validate();
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Every (field, node) the profile names.
    pub fn nodes(&self) -> Vec<(String, &NodeRef)> {
        let s = &self.status;
        let mut out = vec![
            (
                "status.last_completed_task_id".to_string(),
                &s.last_completed_task_id,
            ),
            ("status.state".into(), &s.state),
            ("status.fault_code".into(), &s.fault_code),
        ];
        if let Some(n) = &s.last_result {
            out.push(("status.last_result".into(), n));
        }
        if let Some(l) = &self.completion_log {
            out.push(("completion_log.task_ids".into(), &l.task_ids));
            out.push(("completion_log.results".into(), &l.results));
        }
        if let Some(n) = &s.current_task_id {
            out.push(("status.current_task_id".into(), n));
        }
        if let Some(n) = &s.fault_text {
            out.push(("status.fault_text".into(), n));
        }
        if let Some(h) = &self.handshake {
            out.push(("handshake.task_id".into(), &h.task_id));
            out.push(("handshake.command".into(), &h.command));
            out.push(("handshake.trigger".into(), &h.trigger));
            out.push(("handshake.ack_task_id".into(), &h.ack_task_id));
            out.push(("handshake.ack_result".into(), &h.ack_result));
            if let Some(n) = &h.ack_reason {
                out.push(("handshake.ack_reason".into(), n));
            }
            for (name, n) in &h.args {
                out.push((format!("handshake.args.{name}"), n));
            }
        }
        out
    }

    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (field, n) in self.nodes() {
            if let Err(e) = ProfileNodeId::parse(&n.node) {
                errors.push(format!("{field}: {e}"));
            }
        }
        let expect = |errors: &mut Vec<String>, field: &str, n: &NodeRef, types: &[ValueType]| {
            if !types.contains(&n.ty) {
                errors.push(format!(
                    "{field}: node {:?} is typed {:?}, must be one of {types:?}",
                    n.node, n.ty
                ));
            }
        };
        let ints = [
            ValueType::Int16,
            ValueType::UInt16,
            ValueType::Int32,
            ValueType::UInt32,
        ];
        expect(
            &mut errors,
            "status.last_completed_task_id",
            &self.status.last_completed_task_id,
            &[ValueType::String],
        );
        expect(
            &mut errors,
            "status.fault_code",
            &self.status.fault_code,
            &ints,
        );
        if let Some(n) = &self.status.current_task_id {
            expect(
                &mut errors,
                "status.current_task_id",
                n,
                &[ValueType::String],
            );
        }
        if let Some(n) = &self.status.fault_text {
            expect(&mut errors, "status.fault_text", n, &[ValueType::String]);
        }
        if let Some(n) = &self.status.last_result {
            expect(&mut errors, "status.last_result", n, &ints);
        }
        if self.status.fault_code_meaning == FaultCodeMeaning::LastResult {
            if self.status.last_result.is_some() {
                errors.push("status.fault_code_meaning: \"last_result\" names fault_code as the result node; drop status.last_result or the mode".into());
            }
            if self.status.fault_states.is_empty() {
                errors.push("status.fault_states: with fault_code_meaning = \"last_result\" the device's fault is a state; list its values".into());
            }
        }
        if let Some(l) = &self.completion_log {
            expect(
                &mut errors,
                "completion_log.task_ids",
                &l.task_ids,
                &[ValueType::String],
            );
            expect(&mut errors, "completion_log.results", &l.results, &ints);
        }
        if let Some(t) = &self.task_status {
            for (field, id) in [("object", &t.object), ("method", &t.method)] {
                if let Err(e) = ProfileNodeId::parse(id) {
                    errors.push(format!("task_status.{field}: {e}"));
                }
            }
        }
        match (self.style, &self.handshake) {
            (Style::Handshake, None) => {
                errors.push("handshake: the handshake style needs a [handshake] table".into())
            }
            (Style::Method, Some(_)) => {
                errors.push("handshake: only the handshake style has a [handshake] table".into())
            }
            (_, Some(h)) => {
                expect(
                    &mut errors,
                    "handshake.task_id",
                    &h.task_id,
                    &[ValueType::String],
                );
                expect(&mut errors, "handshake.command", &h.command, &ints);
                expect(
                    &mut errors,
                    "handshake.trigger",
                    &h.trigger,
                    &[ValueType::Boolean],
                );
                expect(
                    &mut errors,
                    "handshake.ack_task_id",
                    &h.ack_task_id,
                    &[ValueType::String],
                );
                expect(&mut errors, "handshake.ack_result", &h.ack_result, &ints);
                if let Some(n) = &h.ack_reason {
                    expect(&mut errors, "handshake.ack_reason", n, &[ValueType::String]);
                }
            }
            (Style::Method, None) => {}
        }
        for (name, c) in &self.commands {
            let f = |x: &str| format!("commands.{name}.{x}");
            match self.style {
                Style::Method => {
                    for (field, v) in [("object", &c.object), ("method", &c.method)] {
                        match v {
                            None => errors
                                .push(format!("{}: a method-style command needs it", f(field))),
                            Some(id) => {
                                if let Err(e) = ProfileNodeId::parse(id) {
                                    errors.push(format!("{}: {e}", f(field)));
                                }
                            }
                        }
                    }
                    for a in c.arg_types.keys() {
                        if !c.args.contains(a) {
                            errors
                                .push(format!("{}: {a:?} is not one of the args", f("arg_types")));
                        }
                    }
                }
                Style::Handshake => {
                    if c.code.is_none() {
                        errors.push(format!(
                            "{}: a handshake-style command needs a code",
                            f("code")
                        ));
                    }
                    if let Some(h) = &self.handshake {
                        for a in &c.args {
                            if !h.args.contains_key(a) {
                                errors.push(format!(
                                    "{}: no handshake.args node for {a:?}",
                                    f("args")
                                ));
                            }
                        }
                    }
                }
            }
        }
        errors
    }

    /// A fault code as a person reads it (`3 (port blocked)`).
    pub fn fault_name(&self, code: i64) -> String {
        match self.faults.get(&code.to_string()) {
            Some(name) => format!("{code} ({name})"),
            None => code.to_string(),
        }
    }

    /// The node holding the result of the task in `last_completed_task_id`,
    /// if the profile names one.
    pub fn result_node(&self) -> Option<&NodeRef> {
        match self.status.fault_code_meaning {
            FaultCodeMeaning::LastResult => Some(&self.status.fault_code),
            FaultCodeMeaning::DeviceFault => self.status.last_result.as_ref(),
        }
    }

    /// Whether a status with `state` and `fault_code` is a device fault.
    pub fn is_device_fault(&self, state: Option<&str>, fault_code: i64) -> bool {
        let s = &self.status;
        if !s.fault_states.is_empty() {
            return state.is_some_and(|v| s.fault_states.iter().any(|f| f == v));
        }
        s.fault_code_meaning == FaultCodeMeaning::DeviceFault && fault_code != 0
    }

    /// Whether `state` says nothing is running or queued (`false` when the
    /// profile lists no idle states).
    pub fn is_idle(&self, state: Option<&str>) -> bool {
        state.is_some_and(|v| self.status.idle_states.iter().any(|i| i == v))
    }
}

#[cfg(test)]
mod tests;

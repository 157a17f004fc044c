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
//! `code`.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use opcua::types::{DataTypeId, NodeId, Variant};
use serde::Deserialize;

/// How commands reach the PLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// One method call per command, answering accepted or rejected.
    Method,
    /// Command nodes written, then a trigger; the PLC acknowledges in nodes.
    Handshake,
}

/// The data types a profile may name (OPC-UA built-in type names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ValueType {
    Boolean,
    Int16,
    UInt16,
    Int32,
    UInt32,
    String,
}

impl ValueType {
    /// The standard DataType node of the type.
    pub fn data_type_id(self) -> NodeId {
        let id = match self {
            ValueType::Boolean => DataTypeId::Boolean,
            ValueType::Int16 => DataTypeId::Int16,
            ValueType::UInt16 => DataTypeId::UInt16,
            ValueType::Int32 => DataTypeId::Int32,
            ValueType::UInt32 => DataTypeId::UInt32,
            ValueType::String => DataTypeId::String,
        };
        id.into()
    }

    /// `text` as a value of this type, for writes and method arguments.
    pub fn encode(self, text: &str) -> Result<Variant, String> {
        let bad = |_| format!("{text:?} is not a {self:?}");
        Ok(match self {
            ValueType::Boolean => Variant::Boolean(
                text.parse()
                    .map_err(|_| format!("{text:?} is not a Boolean"))?,
            ),
            ValueType::Int16 => Variant::Int16(text.parse().map_err(bad)?),
            ValueType::UInt16 => Variant::UInt16(text.parse().map_err(bad)?),
            ValueType::Int32 => Variant::Int32(text.parse().map_err(bad)?),
            ValueType::UInt32 => Variant::UInt32(text.parse().map_err(bad)?),
            ValueType::String => Variant::String(text.into()),
        })
    }
}

/// A variable the client reads, writes or monitors.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRef {
    pub node: String,
    #[serde(rename = "type")]
    pub ty: ValueType,
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
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            request_timeout_ms: 3000,
            reconnect_min_ms: 100,
            reconnect_max_ms: 5000,
            publishing_interval_ms: 100,
            ack_timeout_ms: 3000,
        }
    }
}

/// The status block, monitored by one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusNodes {
    pub last_completed_task_id: NodeRef,
    pub state: NodeRef,
    pub fault_code: NodeRef,
    /// The task the machine is working on (its fault belongs to it).
    #[serde(default)]
    pub current_task_id: Option<NodeRef>,
    #[serde(default)]
    pub fault_text: Option<NodeRef>,
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
    pub commands: BTreeMap<String, CommandDef>,
    /// Fault code → name, for step failures a person can read.
    #[serde(default)]
    pub faults: BTreeMap<String, String>,
}

/// A node id of the profile: relative to the profile's namespace, or
/// absolute (`ns=N;…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileNodeId {
    Relative(NodeId),
    Absolute(NodeId),
}

impl ProfileNodeId {
    pub fn parse(text: &str) -> Result<ProfileNodeId, String> {
        let bad = || {
            format!("node {text:?} is not an OPC-UA node id (e.g. \"s=ASRS.State\", \"ns=2;i=42\")")
        };
        if text.starts_with("ns=") {
            NodeId::from_str(text)
                .map(ProfileNodeId::Absolute)
                .map_err(|_| bad())
        } else {
            NodeId::from_str(&format!("ns=1;{text}"))
                .map(ProfileNodeId::Relative)
                .map_err(|_| bad())
        }
    }

    /// The node id on a server where the profile's namespace has `ns`.
    pub fn resolve(&self, ns: u16) -> NodeId {
        match self {
            ProfileNodeId::Absolute(id) => id.clone(),
            ProfileNodeId::Relative(id) => NodeId {
                namespace: ns,
                identifier: id.identifier.clone(),
            },
        }
    }
}

impl AsrsProfile {
    pub fn load(path: &Path) -> Result<AsrsProfile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        AsrsProfile::from_toml_str(&text)
    }

    /// Parses and validates; the error names every bad field and node.
    pub fn from_toml_str(text: &str) -> Result<AsrsProfile, String> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| e.message().to_string())?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../devices")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_shipped_profiles_are_valid() {
        let m = AsrsProfile::from_toml_str(&profile("asrs-opcua-method.toml")).unwrap();
        assert_eq!(m.style, Style::Method);
        let h = AsrsProfile::from_toml_str(&profile("asrs-opcua-handshake.toml")).unwrap();
        assert_eq!(h.style, Style::Handshake);
    }

    #[test]
    fn an_unknown_data_type_names_the_node_field() {
        let text = profile("asrs-opcua-method.toml").replace(
            "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"UInt32\" }",
            "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"Uint32\" }",
        );
        let e = AsrsProfile::from_toml_str(&text).unwrap_err();
        assert!(e.contains("status.fault_code"), "{e}");
        assert!(e.contains("Uint32"), "{e}");
    }

    #[test]
    fn a_fault_code_typed_string_is_refused_naming_the_node() {
        let text = profile("asrs-opcua-method.toml").replace(
            "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"UInt32\" }",
            "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"String\" }",
        );
        let e = AsrsProfile::from_toml_str(&text).unwrap_err();
        assert!(
            e.contains("status.fault_code: node \"s=ASRS.Status.FaultCode\""),
            "{e}"
        );
    }

    #[test]
    fn node_ids_resolve_against_the_profiles_namespace() {
        let rel = ProfileNodeId::parse("s=ASRS.State").unwrap();
        assert_eq!(rel.resolve(3), NodeId::new(3, "ASRS.State"));
        let abs = ProfileNodeId::parse("ns=0;i=2255").unwrap();
        assert_eq!(abs.resolve(3), NodeId::new(0, 2255u32));
        assert!(ProfileNodeId::parse("x=1").is_err());
    }
}

//! Node ids and value types as profiles write them.
//!
//! A node id without `ns=` (`s=ASRS.Status.State`, `i=6001`) lives in the
//! profile's `namespace_uri`, whose index the client looks up on each
//! connect; an id with `ns=N;` is taken as written. Values are written in
//! profiles and commands as text and encoded per the named built-in type.

use std::str::FromStr;

use opcua::types::{DataTypeId, NodeId, Variant};
use serde::Deserialize;

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

/// An integer value of any of the profile's integer types (`None` for
/// anything else).
pub fn variant_int(v: &Variant) -> Option<i64> {
    Some(match v {
        Variant::Int16(n) => *n as i64,
        Variant::UInt16(n) => *n as i64,
        Variant::Int32(n) => *n as i64,
        Variant::UInt32(n) => *n as i64,
        Variant::Int64(n) => *n,
        Variant::UInt64(n) => i64::try_from(*n).ok()?,
        Variant::Byte(n) => *n as i64,
        Variant::SByte(n) => *n as i64,
        _ => return None,
    })
}

/// A text value (`None` for an empty or null string).
pub fn variant_text(v: &Variant) -> Option<String> {
    match v {
        Variant::String(t) if !t.is_null() && !t.is_empty() => Some(t.to_string()),
        Variant::String(_) | Variant::Empty => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_resolve_against_the_profiles_namespace() {
        let rel = ProfileNodeId::parse("s=ASRS.State").unwrap();
        assert_eq!(rel.resolve(3), NodeId::new(3, "ASRS.State"));
        let abs = ProfileNodeId::parse("ns=0;i=2255").unwrap();
        assert_eq!(abs.resolve(3), NodeId::new(0, 2255u32));
        assert!(ProfileNodeId::parse("x=1").is_err());
    }
}

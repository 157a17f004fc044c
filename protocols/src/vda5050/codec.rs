//! Encoding and decoding of messages. Decoding never panics: malformed JSON, a wrong type, a
//! missing field or an unknown enum value each give a [`DecodeError`] naming the field.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::connection::{Connection, Visualization};
use super::factsheet::Factsheet;
use super::header::ProtocolVersion;
use super::order::{InstantActions, Order};
use super::state::State;
use super::topic::TopicKind;
use super::zones::{Responses, ZoneSetMessage};

/// Why an incoming payload is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all (or cut short).
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Valid JSON that is not this message: a wrong type, a missing field, an unknown enum value.
    #[error("invalid field `{path}`: {message}")]
    Invalid {
        /// Where in the document, e.g. `nodes[0].actions[1].blockingType`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The header names a version floorgate does not speak.
    #[error("unsupported protocol version {0:?}")]
    UnsupportedVersion(String),
}

/// Decodes one message from a JSON payload.
///
/// A valid payload (nearly every one: a fleet's `state` messages are the gateway's hot path)
/// is parsed once, without tracking the path; only a payload that fails is parsed again with
/// `serde_path_to_error` to name the field. Both parses accept exactly the same input.
///
/// The payload is checked to be UTF-8 once, as a whole, and parsed as text: parsing bytes
/// would check every string in it again, one call per key and value (7 % of a `state`
/// decode). JSON is UTF-8 (RFC 8259), so nothing valid is lost; a payload that is not is
/// left to the byte parser, which names where it goes wrong.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    if let Ok(text) = std::str::from_utf8(payload) {
        if let Ok(value) = serde_json::from_str(text) {
            return Ok(value);
        }
    }
    decode_naming_the_field(payload)
}

/// Decodes one message from a JSON payload into `place`, reusing its strings and vectors
/// (serde's `deserialize_in_place`): a fleet's `state`s, decoded into the buffer of an
/// earlier one, cost no allocation for every string and list no longer than before.
///
/// On success `place` equals what [`decode`] returns. On error `place` is left in an
/// unspecified (memory-safe) state, part old and part new: decode into a spare buffer, never
/// into the only copy of anything. Accepts and refuses exactly what [`decode`] does.
pub fn decode_in_place<T: DeserializeOwned>(
    payload: &[u8],
    place: &mut T,
) -> Result<(), DecodeError> {
    if let Ok(text) = std::str::from_utf8(payload) {
        let mut de = serde_json::Deserializer::from_str(text);
        if T::deserialize_in_place(&mut de, place).is_ok() && de.end().is_ok() {
            return Ok(());
        }
    }
    *place = decode_naming_the_field(payload)?;
    Ok(())
}

fn decode_naming_the_field<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        match classify(e.into_inner(), path.clone()) {
            // serde_json refuses a JSON value of the wrong kind for an enum (`null`, a
            // number, a list where a string is expected) as a syntax error ("expected
            // value"), though the text is valid JSON: name the field instead.
            DecodeError::Syntax { .. } if is_json(payload) => DecodeError::Invalid {
                path,
                message: String::from("wrong type of value: not one of this field's values"),
            },
            other => other,
        }
    })?;
    de.end().map_err(|e| classify(e, String::from(".")))?;
    Ok(value)
}

/// Whether `payload` is syntactically valid JSON (whatever its shape).
fn is_json(payload: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok()
}

fn classify(e: serde_json::Error, path: String) -> DecodeError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => DecodeError::Invalid {
            path,
            message: strip_position(&e),
        },
        Category::Syntax | Category::Eof | Category::Io => DecodeError::Syntax {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e),
        },
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A message type: the topic it travels on and the version its header claims, which decides
/// the names it is written with ([`encode`]).
pub trait Wire: Serialize {
    /// The topic kind of this message type.
    const KIND: TopicKind;
    /// The header `version` string.
    fn header_version(&self) -> &str;
}

macro_rules! wire {
    ($($ty:ty => $kind:ident, |$m:ident| $version:expr;)*) => {$(
        impl Wire for $ty {
            const KIND: TopicKind = TopicKind::$kind;
            fn header_version(&self) -> &str {
                let $m = self;
                $version
            }
        }
    )*};
}

wire! {
    Order => Order, |m| &m.header.version;
    InstantActions => InstantActions, |m| &m.header.version;
    State => State, |m| &m.version;
    Visualization => Visualization, |m| &m.header.version;
    Connection => Connection, |m| &m.header.version;
    Factsheet => Factsheet, |m| &m.version;
    ZoneSetMessage => ZoneSet, |m| &m.header.version;
    Responses => Responses, |m| &m.header.version;
}

impl<T: Wire> Wire for Box<T> {
    const KIND: TopicKind = T::KIND;
    fn header_version(&self) -> &str {
        (**self).header_version()
    }
}

/// Encodes a message as compact JSON, with the field names of the version its header claims:
/// a 3.0 message is written with the 3.0 names ([`super::v3`]), any other as it is.
pub fn encode<T: Wire>(message: &T) -> Vec<u8> {
    // The message types have string keys only, so serialization cannot fail.
    let is_v3 = ProtocolVersion::from_header_version(message.header_version())
        .is_some_and(ProtocolVersion::is_v3);
    if !is_v3 {
        return serde_json::to_vec(message).expect("VDA 5050 message types always serialize");
    }
    let mut value = serde_json::to_value(message).expect("VDA 5050 message types always serialize");
    super::v3::to_v3(T::KIND, &mut value);
    serde_json::to_vec(&value).expect("JSON values always serialize")
}

/// Checks that a header `version` string is one floorgate speaks.
pub fn check_version(version: &str) -> Result<ProtocolVersion, DecodeError> {
    ProtocolVersion::from_header_version(version)
        .ok_or_else(|| DecodeError::UnsupportedVersion(version.to_string()))
}

/// Any VDA 5050 message, decoded according to the topic it arrived on.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// From `order`.
    Order(Order),
    /// From `instantActions`.
    InstantActions(InstantActions),
    /// From `state`.
    State(Box<State>),
    /// From `visualization`.
    Visualization(Visualization),
    /// From `connection`.
    Connection(Connection),
    /// From `factsheet`.
    Factsheet(Box<Factsheet>),
    /// From `zoneSet` (3.0).
    ZoneSet(Box<ZoneSetMessage>),
    /// From `responses` (3.0).
    Responses(Responses),
}

impl Message {
    /// Decodes `payload` as the message carried by topics of `kind`.
    pub fn decode(kind: TopicKind, payload: &[u8]) -> Result<Message, DecodeError> {
        Ok(match kind {
            TopicKind::Order => Message::Order(decode(payload)?),
            TopicKind::InstantActions => Message::InstantActions(decode(payload)?),
            TopicKind::State => Message::State(Box::new(decode(payload)?)),
            TopicKind::Visualization => Message::Visualization(decode(payload)?),
            TopicKind::Connection => Message::Connection(decode(payload)?),
            TopicKind::Factsheet => Message::Factsheet(Box::new(decode(payload)?)),
            TopicKind::ZoneSet => Message::ZoneSet(Box::new(decode(payload)?)),
            TopicKind::Responses => Message::Responses(decode(payload)?),
        })
    }

    /// The topic kind this message travels on.
    pub fn kind(&self) -> TopicKind {
        match self {
            Message::Order(_) => TopicKind::Order,
            Message::InstantActions(_) => TopicKind::InstantActions,
            Message::State(_) => TopicKind::State,
            Message::Visualization(_) => TopicKind::Visualization,
            Message::Connection(_) => TopicKind::Connection,
            Message::Factsheet(_) => TopicKind::Factsheet,
            Message::ZoneSet(_) => TopicKind::ZoneSet,
            Message::Responses(_) => TopicKind::Responses,
        }
    }

    /// The header `version` string of the message.
    pub fn version(&self) -> &str {
        match self {
            Message::Order(m) => &m.header.version,
            Message::InstantActions(m) => &m.header.version,
            Message::State(m) => &m.version,
            Message::Visualization(m) => &m.header.version,
            Message::Connection(m) => &m.header.version,
            Message::Factsheet(m) => &m.version,
            Message::ZoneSet(m) => &m.header.version,
            Message::Responses(m) => &m.header.version,
        }
    }
}

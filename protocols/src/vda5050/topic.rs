//! MQTT topics: `{interface}/{majorVersion}/{manufacturer}/{serialNumber}/{topic}` and the QoS
//! and retain flag of each topic.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::header::ProtocolVersion;

/// The topic level `majorVersion` of every 2.x version.
pub const MAJOR_VERSION: &str = "v2";

/// The topic levels `majorVersion` floorgate speaks: `v2` (2.0, 2.1) and `v3` (3.0).
pub const MAJOR_VERSIONS: [&str; 2] = ["v2", "v3"];

/// The default interface name (the first topic level), as suggested by the specification.
pub const DEFAULT_INTERFACE: &str = "uagv";

/// The last topic level: which message travels on the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicKind {
    /// Master control → AGV: orders and order updates.
    Order,
    /// Master control → AGV: actions to perform now.
    InstantActions,
    /// AGV → master control: the full state.
    State,
    /// AGV → visualization: position at a higher rate.
    Visualization,
    /// AGV/broker → master control: ONLINE, OFFLINE, CONNECTIONBROKEN (last will).
    Connection,
    /// AGV → master control: the type's capabilities and limits.
    Factsheet,
    /// Master control → AGV: the zones of a map (3.0 only).
    ZoneSet,
    /// Master control → AGV: answers to the AGV's zone and corridor requests (3.0 only).
    Responses,
}

impl TopicKind {
    /// Every topic kind.
    pub const ALL: [TopicKind; 8] = [
        TopicKind::Order,
        TopicKind::InstantActions,
        TopicKind::State,
        TopicKind::Visualization,
        TopicKind::Connection,
        TopicKind::Factsheet,
        TopicKind::ZoneSet,
        TopicKind::Responses,
    ];

    /// The topic level as spelled on the wire, e.g. `"instantActions"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Order => "order",
            TopicKind::InstantActions => "instantActions",
            TopicKind::State => "state",
            TopicKind::Visualization => "visualization",
            TopicKind::Connection => "connection",
            TopicKind::Factsheet => "factsheet",
            TopicKind::ZoneSet => "zoneSet",
            TopicKind::Responses => "responses",
        }
    }

    /// Whether the topic exists in `version` (`zoneSet` and `responses` are 3.0 only).
    pub fn exists_in(self, version: ProtocolVersion) -> bool {
        version.is_v3() || !matches!(self, TopicKind::ZoneSet | TopicKind::Responses)
    }

    /// The kind named by a topic level, if any.
    pub fn from_level(level: &str) -> Option<TopicKind> {
        TopicKind::ALL.into_iter().find(|k| k.as_str() == level)
    }

    /// Whether messages on this topic are sent retained (`connection` and `factsheet`).
    pub fn retained(self) -> bool {
        matches!(self, TopicKind::Connection | TopicKind::Factsheet)
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An MQTT quality of service level, written as the number 0, 1 or 2 in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// 0: at most once (best effort).
    AtMostOnce,
    /// 1: at least once.
    AtLeastOnce,
    /// 2: exactly once.
    ExactlyOnce,
}

impl Qos {
    /// The level as a number.
    pub fn level(self) -> u8 {
        match self {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
            Qos::ExactlyOnce => 2,
        }
    }

    /// The QoS of a level number, if it is 0, 1 or 2.
    pub fn from_level(level: u8) -> Option<Qos> {
        match level {
            0 => Some(Qos::AtMostOnce),
            1 => Some(Qos::AtLeastOnce),
            2 => Some(Qos::ExactlyOnce),
            _ => None,
        }
    }
}

impl Serialize for Qos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.level())
    }
}

impl<'de> Deserialize<'de> for Qos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(d)?;
        Qos::from_level(n).ok_or_else(|| serde::de::Error::custom("QoS must be 0, 1 or 2"))
    }
}

/// The QoS of each topic. Defaults per specification section 6.2 (3.0: 4.1): QoS 0 for order,
/// instantActions, state, factsheet, zoneSet, responses and visualization; QoS 1 for
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", default)]
pub struct TopicQos {
    /// QoS of `order`.
    pub order: Qos,
    /// QoS of `instantActions`.
    pub instant_actions: Qos,
    /// QoS of `state`.
    pub state: Qos,
    /// QoS of `visualization`.
    pub visualization: Qos,
    /// QoS of `connection` (and of the last will).
    pub connection: Qos,
    /// QoS of `factsheet`.
    pub factsheet: Qos,
    /// QoS of `zoneSet` (3.0).
    pub zone_set: Qos,
    /// QoS of `responses` (3.0).
    pub responses: Qos,
}

impl Default for TopicQos {
    fn default() -> Self {
        TopicQos {
            order: Qos::AtMostOnce,
            instant_actions: Qos::AtMostOnce,
            state: Qos::AtMostOnce,
            visualization: Qos::AtMostOnce,
            connection: Qos::AtLeastOnce,
            factsheet: Qos::AtMostOnce,
            zone_set: Qos::AtMostOnce,
            responses: Qos::AtMostOnce,
        }
    }
}

impl TopicQos {
    /// The QoS of one topic.
    pub fn of(&self, kind: TopicKind) -> Qos {
        match kind {
            TopicKind::Order => self.order,
            TopicKind::InstantActions => self.instant_actions,
            TopicKind::State => self.state,
            TopicKind::Visualization => self.visualization,
            TopicKind::Connection => self.connection,
            TopicKind::Factsheet => self.factsheet,
            TopicKind::ZoneSet => self.zone_set,
            TopicKind::Responses => self.responses,
        }
    }
}

/// How topics are named and delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicConfig {
    /// The first topic level (default `"uagv"`). May contain `/` to add prefix levels, as
    /// cloud brokers require.
    pub interface_name: String,
    /// QoS per topic.
    pub qos: TopicQos,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            interface_name: DEFAULT_INTERFACE.to_string(),
            qos: TopicQos::default(),
        }
    }
}

/// A topic parsed back into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTopic {
    /// The manufacturer level.
    pub manufacturer: String,
    /// The serial number level.
    pub serial_number: String,
    /// The topic kind.
    pub kind: TopicKind,
}

/// A topic that is not a VDA 5050 topic of this interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The topic does not start with `{interface}/v2/`.
    #[error("topic {0:?} is not under this interface and major version")]
    WrongPrefix(String),
    /// The topic does not have exactly manufacturer, serial number and kind after the prefix.
    #[error("topic {0:?} does not have the levels manufacturer/serialNumber/topic")]
    WrongLevels(String),
    /// The last level is not a VDA 5050 topic.
    #[error("unknown VDA 5050 topic {0:?}")]
    UnknownKind(String),
    /// A manufacturer or serial number that cannot be a topic level.
    #[error("{0:?} cannot be a topic level (empty, or contains '/', '+', '#' or '$')")]
    BadLevel(String),
}

/// Checks that `s` can stand as one topic level: not empty, no `/`, `+`, `#`, `$`.
pub fn check_level(s: &str) -> Result<(), TopicError> {
    if s.is_empty() || s.contains(['/', '+', '#', '$']) {
        return Err(TopicError::BadLevel(s.to_string()));
    }
    Ok(())
}

impl TopicConfig {
    /// The topic of one 2.x AGV, e.g. `uagv/v2/KIT/0001/order`.
    pub fn topic(&self, manufacturer: &str, serial_number: &str, kind: TopicKind) -> String {
        self.topic_for(ProtocolVersion::V2_1, manufacturer, serial_number, kind)
    }

    /// The topic of one AGV speaking `version`, e.g. `uagv/v3/KIT/0001/order` for 3.0.
    pub fn topic_for(
        &self,
        version: ProtocolVersion,
        manufacturer: &str,
        serial_number: &str,
        kind: TopicKind,
    ) -> String {
        format!(
            "{}/{}/{manufacturer}/{serial_number}/{}",
            self.interface_name,
            version.topic_major(),
            kind
        )
    }

    /// A subscription filter for one kind across all 2.x AGVs, e.g. `uagv/v2/+/+/state`.
    pub fn filter_all(&self, kind: TopicKind) -> String {
        format!("{}/{MAJOR_VERSION}/+/+/{}", self.interface_name, kind)
    }

    /// A subscription filter for one kind across all AGVs of `version`'s major version.
    pub fn filter_all_for(&self, version: ProtocolVersion, kind: TopicKind) -> String {
        format!(
            "{}/{}/+/+/{}",
            self.interface_name,
            version.topic_major(),
            kind
        )
    }

    /// The QoS of a topic kind.
    pub fn qos(&self, kind: TopicKind) -> Qos {
        self.qos.of(kind)
    }

    /// Parses an incoming topic (major version `v2` or `v3`) back into manufacturer, serial
    /// number and kind.
    pub fn parse(&self, topic: &str) -> Result<ParsedTopic, TopicError> {
        self.parse_versioned(topic).map(|(_, parsed)| parsed)
    }

    /// [`parse`](Self::parse), also returning the major version level (`"v2"` or `"v3"`).
    pub fn parse_versioned(&self, topic: &str) -> Result<(&'static str, ParsedTopic), TopicError> {
        let wrong = || TopicError::WrongPrefix(topic.to_string());
        let after_interface = topic
            .strip_prefix(self.interface_name.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(wrong)?;
        let (major, rest) = MAJOR_VERSIONS
            .into_iter()
            .find_map(|m| {
                let r = after_interface.strip_prefix(m)?.strip_prefix('/')?;
                Some((m, r))
            })
            .ok_or_else(wrong)?;
        let levels: Vec<&str> = rest.split('/').collect();
        let [manufacturer, serial_number, kind] = levels[..] else {
            return Err(TopicError::WrongLevels(topic.to_string()));
        };
        check_level(manufacturer)?;
        check_level(serial_number)?;
        let kind =
            TopicKind::from_level(kind).ok_or_else(|| TopicError::UnknownKind(kind.to_string()))?;
        Ok((
            major,
            ParsedTopic {
                manufacturer: manufacturer.to_string(),
                serial_number: serial_number.to_string(),
                kind,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_suggested_levels_and_parse_back() {
        let cfg = TopicConfig::default();
        let t = cfg.topic("KIT", "0001", TopicKind::InstantActions);
        assert_eq!(t, "uagv/v2/KIT/0001/instantActions");
        let p = cfg.parse(&t).unwrap();
        assert_eq!(
            (p.manufacturer.as_str(), p.serial_number.as_str()),
            ("KIT", "0001")
        );
        assert_eq!(p.kind, TopicKind::InstantActions);
        assert_eq!(cfg.filter_all(TopicKind::State), "uagv/v2/+/+/state");
    }

    #[test]
    fn version_3_topics_use_the_v3_level_and_parse_back() {
        let cfg = TopicConfig::default();
        let v3 = ProtocolVersion::V3_0;
        let t = cfg.topic_for(v3, "KIT", "0001", TopicKind::ZoneSet);
        assert_eq!(t, "uagv/v3/KIT/0001/zoneSet");
        let (major, p) = cfg.parse_versioned(&t).unwrap();
        assert_eq!((major, p.kind), ("v3", TopicKind::ZoneSet));
        assert_eq!(
            cfg.parse("uagv/v3/KIT/0001/responses").unwrap().kind,
            TopicKind::Responses
        );
        assert_eq!(
            cfg.filter_all_for(v3, TopicKind::State),
            "uagv/v3/+/+/state"
        );
        assert!(cfg.parse("uagv/v4/KIT/0001/state").is_err());
        assert!(TopicKind::ZoneSet.exists_in(v3));
        assert!(!TopicKind::Responses.exists_in(ProtocolVersion::V2_1));
    }

    #[test]
    fn foreign_or_malformed_topics_are_refused() {
        let cfg = TopicConfig {
            interface_name: "site/a".into(),
            ..TopicConfig::default()
        };
        assert!(cfg.parse("site/a/v2/KIT/1/state").is_ok());
        assert!(matches!(
            cfg.parse("uagv/v2/KIT/1/state"),
            Err(TopicError::WrongPrefix(_))
        ));
        assert!(matches!(
            cfg.parse("site/a/v2/KIT/state"),
            Err(TopicError::WrongLevels(_))
        ));
        assert!(matches!(
            cfg.parse("site/a/v2/KIT/1/foo"),
            Err(TopicError::UnknownKind(_))
        ));
        assert!(matches!(
            cfg.parse("site/a/v2/$K/1/state"),
            Err(TopicError::BadLevel(_))
        ));
    }

    #[test]
    fn default_qos_follows_the_specification() {
        let q = TopicQos::default();
        assert_eq!(q.of(TopicKind::Connection), Qos::AtLeastOnce);
        for k in [
            TopicKind::Order,
            TopicKind::InstantActions,
            TopicKind::State,
        ] {
            assert_eq!(q.of(k), Qos::AtMostOnce);
        }
        assert!(TopicKind::Connection.retained() && !TopicKind::State.retained());
    }
}

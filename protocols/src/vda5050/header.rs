//! The protocol header every message starts with, and the protocol version that decides it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::topic::TopicKind;

/// The VDA 5050 versions floorgate speaks. 2.0 and 2.1 share the topic major version `v2` and
/// differ in a few optional fields; 3.0 (topic level `v3`) renames many fields (see the module
/// note and [`v3`](super::v3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ProtocolVersion {
    /// VDA 5050 2.0.0.
    V2_0,
    /// VDA 5050 2.1.0.
    #[default]
    V2_1,
    /// VDA 5050 3.0.0.
    V3_0,
}

impl ProtocolVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ProtocolVersion; 3] = [
        ProtocolVersion::V2_0,
        ProtocolVersion::V2_1,
        ProtocolVersion::V3_0,
    ];

    /// The `version` header field: `"2.0.0"`, `"2.1.0"` or `"3.0.0"`.
    pub fn header_version(self) -> &'static str {
        match self {
            ProtocolVersion::V2_0 => "2.0.0",
            ProtocolVersion::V2_1 => "2.1.0",
            ProtocolVersion::V3_0 => "3.0.0",
        }
    }

    /// The short form used in profiles and on the command line: `"2.0"`, `"2.1"` or `"3.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2_0 => "2.0",
            ProtocolVersion::V2_1 => "2.1",
            ProtocolVersion::V3_0 => "3.0",
        }
    }

    /// The topic level `majorVersion`: `"v2"` for every 2.x version, `"v3"` for 3.0.
    pub fn topic_major(self) -> &'static str {
        match self {
            ProtocolVersion::V2_0 | ProtocolVersion::V2_1 => "v2",
            ProtocolVersion::V3_0 => "v3",
        }
    }

    /// Whether this version writes its messages with the 3.0 names (`powerSupply`,
    /// `mobileRobotPosition`, `instantActionStates`, …; see [`v3`](super::v3)).
    pub fn is_v3(self) -> bool {
        self >= ProtocolVersion::V3_0
    }

    /// Whether `state.maps` (map distribution) exists in this version (2.1 and later).
    pub fn has_state_maps(self) -> bool {
        self >= ProtocolVersion::V2_1
    }

    /// Whether `error.errorHint` exists in this version (2.1 and later).
    pub fn has_error_hint(self) -> bool {
        self >= ProtocolVersion::V2_1
    }

    /// Whether `edge.corridor` exists in this version (2.1 and later).
    pub fn has_corridors(self) -> bool {
        self >= ProtocolVersion::V2_1
    }

    /// Reads a header `version` string such as `"2.1.0"` (any patch level) or the short `"2.1"`.
    pub fn from_header_version(s: &str) -> Option<ProtocolVersion> {
        let mut parts = s.trim().split('.');
        let major = parts.next()?;
        let minor = parts.next()?;
        if let Some(patch) = parts.next() {
            if patch.parse::<u32>().is_err() || parts.next().is_some() {
                return None;
            }
        }
        match (major, minor) {
            ("2", "0") => Some(ProtocolVersion::V2_0),
            ("2", "1") => Some(ProtocolVersion::V2_1),
            ("3", "0") => Some(ProtocolVersion::V3_0),
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`ProtocolVersion`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported VDA 5050 version {0:?} (expected \"2.0\", \"2.1\" or \"3.0\")")]
pub struct UnsupportedVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnsupportedVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolVersion::from_header_version(s).ok_or_else(|| UnsupportedVersion(s.to_string()))
    }
}

impl Serialize for ProtocolVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The header fields shared by all messages (flattened into each message on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    /// Rising by one per topic with each message sent.
    pub header_id: u32,
    /// ISO 8601 UTC, `YYYY-MM-DDTHH:mm:ss.ffZ`.
    pub timestamp: String,
    /// Protocol version `[Major].[Minor].[Patch]`.
    pub version: String,
    /// Manufacturer of the AGV.
    pub manufacturer: String,
    /// Serial number of the AGV.
    pub serial_number: String,
}

impl Header {
    /// The protocol version this header claims, if floorgate supports it.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        ProtocolVersion::from_header_version(&self.version)
    }
}

/// Stamps outgoing messages of one AGV (or of master control towards one AGV): the version,
/// the identity and a `headerId` counter per topic.
#[derive(Debug, Clone)]
pub struct HeaderFactory {
    version: ProtocolVersion,
    manufacturer: String,
    serial_number: String,
    next_ids: HashMap<TopicKind, u32>,
}

impl HeaderFactory {
    /// A factory whose counters all start at 0.
    pub fn new(version: ProtocolVersion, manufacturer: &str, serial_number: &str) -> Self {
        HeaderFactory {
            version,
            manufacturer: manufacturer.to_string(),
            serial_number: serial_number.to_string(),
            next_ids: HashMap::new(),
        }
    }

    /// The protocol version stamped into headers.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The manufacturer stamped into headers.
    pub fn manufacturer(&self) -> &str {
        &self.manufacturer
    }

    /// The serial number stamped into headers.
    pub fn serial_number(&self) -> &str {
        &self.serial_number
    }

    /// The next header for `topic`, stamped now; the topic's `headerId` rises by one.
    pub fn next(&mut self, topic: TopicKind) -> Header {
        self.next_at(topic, SystemTime::now())
    }

    /// The next header for `topic`, stamped with `at`.
    pub fn next_at(&mut self, topic: TopicKind, at: SystemTime) -> Header {
        let id = self.next_ids.entry(topic).or_insert(0);
        let header_id = *id;
        *id = id.wrapping_add(1);
        Header {
            header_id,
            timestamp: format_timestamp(at),
            version: self.version.header_version().to_string(),
            manufacturer: self.manufacturer.clone(),
            serial_number: self.serial_number.clone(),
        }
    }
}

/// Formats `t` as `YYYY-MM-DDTHH:mm:ss.ffZ` (UTC, hundredths of a second). Times before 1970
/// are clamped to the epoch.
pub fn format_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let centis = since.subsec_millis() / 10;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{centis:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after H. Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_iso8601_utc_with_hundredths() {
        let t = UNIX_EPOCH + Duration::from_millis(1_492_256_403_120);
        assert_eq!(format_timestamp(t), "2017-04-15T11:40:03.12Z");
        assert_eq!(format_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_timestamp(leap), "2000-02-29T00:00:00.00Z");
    }

    #[test]
    fn header_ids_rise_per_topic() {
        let mut f = HeaderFactory::new(ProtocolVersion::V2_0, "acme", "r1");
        assert_eq!(f.next(TopicKind::State).header_id, 0);
        assert_eq!(f.next(TopicKind::State).header_id, 1);
        let c = f.next(TopicKind::Connection);
        assert_eq!(c.header_id, 0);
        assert_eq!(c.version, "2.0.0");
    }

    #[test]
    fn versions_parse_from_header_and_short_forms() {
        assert_eq!(
            "2.1.0".parse::<ProtocolVersion>(),
            Ok(ProtocolVersion::V2_1)
        );
        assert_eq!("2.0".parse::<ProtocolVersion>(), Ok(ProtocolVersion::V2_0));
        assert_eq!(
            "2.0.3".parse::<ProtocolVersion>(),
            Ok(ProtocolVersion::V2_0)
        );
        assert_eq!(
            "3.0.0".parse::<ProtocolVersion>(),
            Ok(ProtocolVersion::V3_0)
        );
        assert_eq!(ProtocolVersion::V3_0.topic_major(), "v3");
        assert_eq!(ProtocolVersion::V3_0.header_version(), "3.0.0");
        assert!("3.1.0".parse::<ProtocolVersion>().is_err());
        assert!("2".parse::<ProtocolVersion>().is_err());
    }
}

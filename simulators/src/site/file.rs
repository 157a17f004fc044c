//! The parts of a floorgate site file the simulators need: the devices with their kinds,
//! profiles and addresses, the broker of `[gateway.mqtt]`, the profiles directory, the
//! locations (node, PLC address, port name), the routes' AS/RS steps and the layout's nodes.
//!
//! floorgate's own loader is out of reach (floorgate depends on this crate), and the
//! simulators need far less of the file, so this reads it with serde and `toml` into
//! structs that ignore every field they do not name: a site file floorgate accepts is
//! always read here, whatever it grew since.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What went wrong reading a site file.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, or a field the simulators need has the wrong type.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: toml::de::Error,
    },
    /// The file parses but cannot be simulated as it is.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A site file, as far as the simulators read it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SiteFile {
    /// `[gateway]`.
    pub gateway: Gateway,
    /// `[[devices]]`.
    pub devices: Vec<Device>,
    /// `[[locations]]`.
    pub locations: Vec<Location>,
    /// `[[routes]]`.
    pub routes: Vec<Route>,
    /// `[layout]`.
    pub layout: Option<Layout>,
}

/// `[gateway]`: where the profiles are and the broker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Gateway {
    /// Relative to the site file; its directory when absent.
    pub profiles_dir: Option<PathBuf>,
    /// `[gateway.mqtt]`.
    pub mqtt: Mqtt,
}

/// `[gateway.mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Mqtt {
    /// `host:port`.
    pub broker: String,
}

impl Default for Mqtt {
    fn default() -> Self {
        Mqtt {
            broker: "127.0.0.1:1883".into(),
        }
    }
}

/// One `[[devices]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Device {
    /// The device id.
    pub id: String,
    /// `amr`, `conveyor`, `lift` or `asrs`.
    pub kind: String,
    /// A profile file name in the profiles directory, without `.toml`.
    pub profile: String,
    /// `manufacturer/serialNumber` or a serial (AMR), `host:port` (PLC), `opc.tcp://…` (AS/RS).
    pub address: String,
}

/// One `[[locations]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Location {
    /// The id; ending in `*`, a storage area.
    pub id: String,
    /// `storage`, `port`, `station`, `buffer`, …
    pub kind: String,
    /// The AMR layout node.
    pub node: Option<String>,
    /// The AS/RS port name or VDA 5050 station type.
    pub station_type: Option<String>,
    /// The number in a PLC program.
    pub plc_address: Option<u16>,
}

/// One `[[routes]]` entry: only its steps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Route {
    /// The chain of device steps.
    pub steps: Vec<Step>,
}

/// One route step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Step {
    /// The command (`retrieve`, `store`, `transfer`, `transport`).
    pub command: String,
    /// Source location, or `$source`.
    pub from: String,
    /// Destination location, or `$destination`.
    pub to: String,
}

/// `[layout]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Layout {
    /// The map of nodes that name none.
    pub map_id: Option<String>,
    /// `[[layout.nodes]]`.
    pub nodes: Vec<Node>,
}

/// One layout node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Its id.
    pub id: String,
    /// X in metres.
    pub x: f64,
    /// Y in metres.
    pub y: f64,
    /// Marked as a parking node (`parking = true`, or `kind = "parking"`).
    pub parking: bool,
    /// A node kind, if the layout names one.
    pub kind: Option<String>,
}

impl Node {
    /// Whether the layout marks the node for parking.
    pub fn is_parking(&self) -> bool {
        self.parking || self.kind.as_deref() == Some("parking")
    }
}

/// A site file read from disk.
#[derive(Debug, Clone)]
pub struct Site {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub file: SiteFile,
}

impl Site {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Site, SiteError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SiteError::Io {
            path: shown.clone(),
            source,
        })?;
        Site::parse(path, &text)
    }

    /// Parses `text`, the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Site, SiteError> {
        let file: SiteFile = toml::from_str(text).map_err(|source| SiteError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Site {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The profile file of `device`.
    pub fn profile_path(&self, device: &Device) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let profiles = match &self.file.gateway.profiles_dir {
            Some(p) => dir.join(p),
            None => dir.to_path_buf(),
        };
        profiles.join(format!("{}.toml", device.profile))
    }

    /// The devices of `kind`, in file order.
    pub fn devices<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Device> + 'a {
        self.file.devices.iter().filter(move |d| d.kind == kind)
    }

    /// An error about this file.
    pub fn invalid(&self, message: String) -> SiteError {
        SiteError::Invalid {
            path: self.path.display().to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_the_simulators_do_not_know_are_ignored() {
        let site = Site::parse(
            Path::new("/x/site.toml"),
            r#"
            [site]
            name = "s"
            [gateway]
            grpc_listen = "127.0.0.1:1"
            [gateway.mqtt]
            broker = "127.0.0.1:2883"
            resend_interval_ms = 5
            [[devices]]
            id = "amr-1"
            kind = "amr"
            profile = "amr-vda5050"
            address = "acme/A1"
            future_field = 3
            [[layout.nodes]]
            id = "P1"
            x = 1.0
            y = 2.0
            parking = true
            waiting = false
            "#,
        )
        .unwrap();
        assert_eq!(site.file.gateway.mqtt.broker, "127.0.0.1:2883");
        assert_eq!(site.devices("amr").count(), 1);
        assert!(site.file.layout.as_ref().unwrap().nodes[0].is_parking());
        assert_eq!(
            site.profile_path(&site.file.devices[0]),
            Path::new("/x/amr-vda5050.toml")
        );
    }

    #[test]
    fn the_demo_site_is_read() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices/site-demo.toml");
        let site = Site::load(&path).unwrap();
        assert_eq!(site.devices("amr").count(), 3);
        assert_eq!(site.devices("conveyor").count(), 1);
        assert_eq!(site.devices("asrs").count(), 1);
        assert!(site.file.layout.is_some());
    }
}

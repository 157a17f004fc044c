//! The site file's typed shape. Unknown fields are errors; defaults live here.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::engine::model::{DeviceKind, OnFailure, TaskKind};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteFile {
    pub site: SiteSection,
    #[serde(default)]
    pub gateway: GatewaySection,
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
    #[serde(default)]
    pub locations: Vec<LocationEntry>,
    #[serde(default)]
    pub routes: Vec<RouteEntry>,
    /// The AMR layout graph (nodes and edges): orders are built on it and
    /// the nearest AMR is chosen by its distances.
    #[serde(default)]
    pub layout: Option<Spanned<crate::vda5050::LayoutConfig>>,
    /// Traffic control of the AMRs on the layout.
    #[serde(default)]
    pub traffic: TrafficSection,
}

/// `[traffic]`: how floorgate coordinates the AMRs it commands (see
/// ARCHITECTURE.md, "Traffic control").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficSection {
    /// Release each robot's base only over nodes and lanes it holds alone
    /// (default). Off, every order releases `max_base_nodes` at a time and
    /// robots are not kept apart — for a single robot, a layout with fewer
    /// free nodes than robots need to pass each other, or a fleet manager
    /// that coordinates them itself.
    pub enabled: bool,
    /// A robot waiting this long for a node or lane is re-planned around it.
    pub replan_after_secs: u64,
    /// Segments are granted until a robot has this many nodes released ahead
    /// of it (1 to 50).
    pub lookahead_nodes: usize,
    /// Nodes a grant takes at most (0 to 50): 1 (default) releases a robot's
    /// route node by node, each one checked against the wait-for graph; 0
    /// releases whole segments up to the next node on no other robot's route.
    pub segment_nodes: usize,
    /// Idle robots are sent to a free parking node (and always moved off a
    /// node another robot's route needs).
    pub park_idle: bool,
}

impl Default for TrafficSection {
    fn default() -> Self {
        TrafficSection {
            enabled: true,
            replan_after_secs: 30,
            lookahead_nodes: 3,
            segment_nodes: 1,
            park_idle: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    /// The site's name, shown in logs and in `floorgate devices`.
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Where the gRPC API listens. Env: `FLOORGATE_GRPC_LISTEN`.
    pub grpc_listen: SocketAddr,
    /// TLS for the gRPC API (mutual TLS when `client_ca_file` is set).
    pub grpc_tls: Option<GrpcTls>,
    /// Serve gRPC without TLS. Must be said explicitly: without `grpc_tls`
    /// and without this, the site file is refused. Env:
    /// `FLOORGATE_GRPC_PLAINTEXT` (`true`/`false`).
    pub grpc_plaintext: bool,
    /// The sled directory. Relative paths are relative to the site file.
    /// Env: `FLOORGATE_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Where device profiles are looked up, relative to the site file.
    /// Env: `FLOORGATE_PROFILES_DIR`.
    pub profiles_dir: PathBuf,
    /// How long in-flight requests may take to finish at shutdown.
    /// Env: `FLOORGATE_SHUTDOWN_GRACE_SECS`.
    pub shutdown_grace_secs: u64,
    /// New tasks are refused while this many events are unacknowledged.
    /// Env: `FLOORGATE_MAX_UNACKED_EVENTS`.
    pub max_unacked_events: u64,
    /// sled's page cache, in MiB (1 to 4096): what the journal keeps in
    /// memory of what it read or wrote. Env: `FLOORGATE_STORE_CACHE_MB`.
    pub store_cache_mb: u64,
    /// Where the admin HTTP listener (`/healthz`, `/readyz`, `/metrics`)
    /// listens, or `"off"` for none. Env: `FLOORGATE_ADMIN_LISTEN`.
    #[serde(deserialize_with = "admin_listen")]
    pub admin_listen: Option<SocketAddr>,
    /// The site's MQTT broker, through which the AMRs are reached.
    pub mqtt: MqttSection,
    /// How the AS/RS OPC-UA sessions are secured.
    pub opcua: OpcUaSection,
    /// How long a step may stay on its device before it fails, per device
    /// kind; a route step's `timeout_secs` wins.
    pub step_timeouts: StepTimeouts,
    /// Limits of the gRPC server.
    pub grpc: GrpcSection,
    /// How long ended tasks are kept.
    pub retention: RetentionSection,
    /// The operator console on the admin listener: its admin token.
    pub console: super::console::ConsoleSection,
}

/// `[gateway.retention]`: ended tasks (completed, failed, cancelled,
/// expired) are deleted once the cloud has acknowledged their events and
/// they ended `terminal_secs` ago — or sooner, oldest first, while more
/// than `max_terminal_tasks` are kept. An id submitted again after its task
/// was deleted is a new task: this is the window of idempotent submission.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    pub terminal_secs: u64,
    pub max_terminal_tasks: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            terminal_secs: 7 * 24 * 3600,
            max_terminal_tasks: 100_000,
        }
    }
}

/// `[gateway.grpc]`: what the gRPC server accepts and how it keeps idle
/// connections honest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcSection {
    /// The largest request decoded, in bytes (larger: RESOURCE_EXHAUSTED);
    /// 1024 to 67108864.
    pub max_request_bytes: usize,
    /// The largest reply encoded, in bytes; 1024 to 67108864.
    pub max_response_bytes: usize,
    /// HTTP/2 streams (concurrent calls, open watches included) per client
    /// connection; 1 to 10000.
    pub max_concurrent_streams: u32,
    /// HTTP/2 PING to an idle client this often, in seconds (0: never).
    pub keepalive_interval_secs: u64,
    /// A client that does not answer the PING within this many seconds is
    /// disconnected.
    pub keepalive_timeout_secs: u64,
}

impl Default for GrpcSection {
    fn default() -> Self {
        GrpcSection {
            max_request_bytes: 4 << 20,
            max_response_bytes: 4 << 20,
            max_concurrent_streams: 256,
            keepalive_interval_secs: 30,
            keepalive_timeout_secs: 10,
        }
    }
}

/// `[gateway.step_timeouts]`, in seconds; 0 means no limit. A step still on
/// its device at its deadline fails naming the timeout, and the device is
/// told to stop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepTimeouts {
    /// For every kind not named below.
    pub default_secs: u64,
    pub amr_secs: Option<u64>,
    pub asrs_secs: Option<u64>,
    pub conveyor_secs: Option<u64>,
    pub lift_secs: Option<u64>,
}

impl Default for StepTimeouts {
    fn default() -> Self {
        StepTimeouts {
            default_secs: 600,
            amr_secs: None,
            asrs_secs: None,
            conveyor_secs: None,
            lift_secs: None,
        }
    }
}

impl StepTimeouts {
    /// The timeout of a step on a device of `kind`, in seconds.
    pub fn secs_for(&self, kind: DeviceKind) -> u64 {
        match kind {
            DeviceKind::Amr => self.amr_secs,
            DeviceKind::Asrs => self.asrs_secs,
            DeviceKind::Conveyor => self.conveyor_secs,
            DeviceKind::Lift => self.lift_secs,
        }
        .unwrap_or(self.default_secs)
    }
}

/// Parses `admin_listen`: a socket address, or `"off"` / `""` for none.
pub fn parse_admin_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    match s.trim() {
        "" | "off" => Ok(None),
        a => a
            .parse()
            .map(Some)
            .map_err(|e| format!("{s:?} is not a socket address or \"off\": {e}")),
    }
}

fn admin_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    parse_admin_listen(&s).map_err(serde::de::Error::custom)
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            grpc_listen: "127.0.0.1:50051".parse().expect("valid default"),
            grpc_tls: None,
            grpc_plaintext: false,
            data_dir: PathBuf::from("floorgate-data"),
            profiles_dir: PathBuf::from("."),
            shutdown_grace_secs: 10,
            max_unacked_events: 5_000_000,
            store_cache_mb: crate::store::DEFAULT_CACHE_MB,
            admin_listen: Some("127.0.0.1:9464".parse().expect("valid default")),
            mqtt: MqttSection::default(),
            opcua: OpcUaSection::default(),
            step_timeouts: StepTimeouts::default(),
            grpc: GrpcSection::default(),
            retention: RetentionSection::default(),
            console: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// Unique device id, used in routes and in the API.
    pub id: Spanned<String>,
    pub kind: Spanned<DeviceKind>,
    /// A profile file name in the profiles directory, without `.toml`.
    pub profile: Spanned<String>,
    /// Protocol address: `manufacturer/serialNumber` for AMRs, an
    /// `opc.tcp://` URL for AS/RS, `host:port` for Modbus PLCs.
    #[serde(default)]
    pub address: String,
    /// Modbus PLCs only: the unit id (slave id) this PLC answers to, 1..=247
    /// or 255; absent: the profile's `unit_id`. Read wide so that an out of
    /// range value gets a message of its own, not a parse error.
    #[serde(default)]
    pub unit_id: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKindEntry {
    Storage,
    Station,
    Port,
    Buffer,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationEntry {
    /// A location id, or a prefix ending in `*` for a storage area.
    pub id: Spanned<String>,
    pub kind: LocationKindEntry,
    /// Routes match tasks by the zones of their source and destination.
    pub zone: String,
    /// The layout-graph node an AMR drives to for this location.
    #[serde(default)]
    pub node: Option<Spanned<String>>,
    /// VDA 5050 stationType, or the PLC's port name.
    #[serde(default)]
    pub station_type: Option<String>,
    /// VDA 5050 loadType of the loads picked or dropped here (an AMR's pick and drop
    /// carry it): behind a task's `load_type` attribute, before the profile's default.
    #[serde(default)]
    pub load_type: Option<String>,
    /// The location's number in the PLC program that serves it (conveyor
    /// port or station, lift level).
    #[serde(default)]
    pub plc_address: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    pub id: Spanned<String>,
    pub kind: TaskKind,
    pub from_zone: Spanned<String>,
    pub to_zone: Spanned<String>,
    pub steps: Vec<RouteStepEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteStepEntry {
    pub device_kind: DeviceKind,
    /// What the device does: `transport` (AMR), `retrieve`/`store`
    /// (AS/RS), a command of the Modbus profile (`transfer`, …).
    pub command: Spanned<String>,
    /// Devices that may do the step; empty means every device of the kind.
    #[serde(default)]
    pub devices: Vec<Spanned<String>>,
    /// `$source`, `$destination`, or a location id.
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    /// How long the step may stay on its device, in seconds (0: no limit).
    /// Default: `[gateway.step_timeouts]` for the device kind.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// `fail` (default): a failed step fails the task. `retry_other_device`:
    /// the step is planned again onto another of its devices.
    #[serde(default)]
    pub on_failure: Option<Spanned<OnFailure>>,
    /// With `retry_other_device`: how many times the step may move to
    /// another device (default 1).
    #[serde(default)]
    pub max_reassignments: Option<Spanned<u32>>,
}

/// `[gateway.mqtt]`: the broker floorgate (VDA 5050 master control) and the
/// AMRs share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttSection {
    /// `host:port` of the broker. Env: `FLOORGATE_MQTT_BROKER`.
    pub broker: String,
    /// The client id floorgate connects with; one master control per id.
    pub client_id: String,
    /// Env: `FLOORGATE_MQTT_USERNAME`.
    pub username: Option<String>,
    /// Env: `FLOORGATE_MQTT_PASSWORD`.
    pub password: Option<String>,
    /// MQTT keep-alive, in seconds.
    pub keep_alive_secs: u64,
    /// How long a step waits for an AMR that dropped off mid-order before it
    /// fails (the AMR keeps its order, per VDA 5050).
    pub offline_timeout_secs: u64,
    /// Re-send an order this often until the AMR's state echoes it.
    pub resend_interval_ms: u64,
    /// How long, in seconds, the AMRs keep their availability across the
    /// gateway's own broker reconnects, waiting for their retained
    /// `connection` or next `state`; 0 makes them offline at once. 0 to 3600.
    pub reconnect_grace_secs: u64,
    /// TLS to the broker: its certificate checked against `ca_file` and the
    /// host of `broker` (or `server_name`), a client certificate for mutual
    /// TLS.
    pub tls: Option<MqttTls>,
    /// Connect to the broker without TLS. Must be said explicitly: a site
    /// with AMRs and neither `[gateway.mqtt.tls]` nor this is refused. Env:
    /// `FLOORGATE_MQTT_PLAINTEXT` (`true`/`false`).
    pub mqtt_plaintext: bool,
}

/// `[gateway.mqtt.tls]`: PEM files, relative to the site file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTls {
    /// The CA the broker's certificate must chain to. Env:
    /// `FLOORGATE_MQTT_TLS_CA`.
    pub ca_file: PathBuf,
    /// The gateway's client certificate (chain), for brokers that require
    /// one (mutual TLS); with `client_key_file`. Env:
    /// `FLOORGATE_MQTT_TLS_CERT`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key. Env: `FLOORGATE_MQTT_TLS_KEY`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// The name the broker's certificate must carry, when it is not the host
    /// of `broker` (a broker reached by IP address whose certificate names
    /// its DNS name). Env: `FLOORGATE_MQTT_TLS_SERVER_NAME`.
    #[serde(default)]
    pub server_name: Option<String>,
}

impl Default for MqttSection {
    fn default() -> Self {
        MqttSection {
            broker: "127.0.0.1:1883".into(),
            client_id: "floorgate".into(),
            username: None,
            password: None,
            keep_alive_secs: 30,
            offline_timeout_secs: 120,
            resend_interval_ms: 1000,
            reconnect_grace_secs: 10,
            tls: None,
            mqtt_plaintext: false,
        }
    }
}

/// `[gateway.grpc_tls]`: PEM files, relative to the site file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcTls {
    /// The server's certificate chain. Env: `FLOORGATE_GRPC_TLS_CERT`.
    pub cert_file: PathBuf,
    /// The server's private key. Env: `FLOORGATE_GRPC_TLS_KEY`.
    pub key_file: PathBuf,
    /// When set, clients must present a certificate issued by this CA
    /// (mutual TLS). Env: `FLOORGATE_GRPC_TLS_CLIENT_CA`.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// `[gateway.opcua]`: message security of every AS/RS session. Paths are
/// relative to the site file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpcUaSection {
    /// `None` (default) or `Basic256Sha256`. Env:
    /// `FLOORGATE_OPCUA_SECURITY_POLICY`.
    pub security_policy: crate::opcua::Policy,
    /// `None` (default), `Sign` or `SignAndEncrypt`; must match the policy.
    /// Env: `FLOORGATE_OPCUA_SECURITY_MODE`.
    pub security_mode: crate::opcua::Mode,
    /// The gateway's application instance certificate (DER). Env:
    /// `FLOORGATE_OPCUA_CLIENT_CERT`.
    pub client_certificate: Option<PathBuf>,
    /// Its private key (PEM). Env: `FLOORGATE_OPCUA_CLIENT_KEY`.
    pub client_private_key: Option<PathBuf>,
    /// The trust list: `trusted/` holds the server certificates (DER) the
    /// gateway trusts, refused ones are copied to `rejected/`. Default:
    /// `opcua-pki` in the data directory. Env: `FLOORGATE_OPCUA_PKI_DIR`.
    pub pki_dir: Option<PathBuf>,
    /// Trust a server certificate that is not in the trust list. Off by
    /// default; a site must opt in explicitly. Env:
    /// `FLOORGATE_OPCUA_ACCEPT_UNTRUSTED` (`true`/`false`).
    pub accept_untrusted_server_certs: bool,
    /// The gateway's application URI (in its sessions and its certificate;
    /// OPC-UA servers compare the two). Default `urn:floorgate:gateway`.
    pub application_uri: Option<String>,
}

impl OpcUaSection {
    /// The protocol layer's settings; `data_dir` holds the default trust list.
    pub fn settings(&self, data_dir: &std::path::Path) -> crate::opcua::SecuritySettings {
        crate::opcua::SecuritySettings {
            policy: self.security_policy,
            mode: self.security_mode,
            certificate: self.client_certificate.clone(),
            private_key: self.client_private_key.clone(),
            pki_dir: self
                .pki_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("opcua-pki")),
            accept_untrusted_server_certs: self.accept_untrusted_server_certs,
            application_uri: self
                .application_uri
                .clone()
                .unwrap_or_else(|| crate::opcua::pki::DEFAULT_APPLICATION_URI.to_string()),
        }
    }
}

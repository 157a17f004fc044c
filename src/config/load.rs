//! Parsing and validation of the site file. Syntax and type errors come from
//! the TOML parser with their span; reference errors (an unknown device, a
//! location no route can reach) use the spans the typed structs keep. Every
//! error is reported, not only the first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_spanned::Spanned;

use super::env;
use super::types::*;
use crate::engine::model::{DeviceKind, OnFailure};
use crate::engine::site::{DeviceSpec, Location, LocationKind, Place, Route, RouteStep, Site};

/// One problem in the site file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place in the file (an environment
    /// variable, a missing file).
    pub line: usize,
    pub column: usize,
    /// The field's path, e.g. `devices[2].profile`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A validated site file.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub file: SiteFile,
    /// `[gateway]` with environment overrides applied and paths resolved
    /// against the site file's directory.
    pub gateway: GatewaySection,
    pub site: Arc<Site>,
}

/// Reads, parses and validates the site file at `path`, applying
/// `FLOORGATE_*` overrides from the process environment.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read the site file: {e}"),
        }])
    })?;
    load_str(path, &text, &|k| std::env::var(k).ok())
}

/// Parses and validates `text` as if read from `path`.
pub fn load_str(
    path: &Path,
    text: &str,
    env_get: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let mut cx = Cx {
        path,
        text,
        errors: Vec::new(),
    };
    let file = match parse(text) {
        Ok(f) => f,
        Err((span, field, message)) => {
            cx.at(span, &field, message);
            return Err(ConfigErrors(cx.errors));
        }
    };
    let mut gateway = file.gateway.clone();
    for (var, message) in env::apply(&mut gateway, env_get) {
        cx.errors.push(ConfigError {
            file: PathBuf::from(format!("environment {var}")),
            line: 0,
            column: 0,
            field: String::new(),
            message,
        });
    }
    // Every path is resolved once, here, against the site file's directory,
    // and made absolute: nothing downstream joins it to anything again (the
    // OPC-UA stack would join a relative certificate path to its PKI dir).
    let base = path.parent().unwrap_or(Path::new("."));
    let at = |f: &Path| {
        let p = base.join(f);
        std::path::absolute(&p).unwrap_or(p)
    };
    gateway.data_dir = at(&gateway.data_dir);
    gateway.profiles_dir = at(&gateway.profiles_dir);
    if let Some(tls) = &mut gateway.grpc_tls {
        tls.cert_file = at(&tls.cert_file);
        tls.key_file = at(&tls.key_file);
        tls.client_ca_file = tls.client_ca_file.as_deref().map(at);
    }
    if let Some(tls) = &mut gateway.mqtt.tls {
        tls.ca_file = at(&tls.ca_file);
        tls.client_cert_file = tls.client_cert_file.as_deref().map(at);
        tls.client_key_file = tls.client_key_file.as_deref().map(at);
    }
    {
        let o = &mut gateway.opcua;
        o.client_certificate = o.client_certificate.as_deref().map(at);
        o.client_private_key = o.client_private_key.as_deref().map(at);
        o.pki_dir = o.pki_dir.as_deref().map(at);
    }
    gateway.console.admin_token_file = gateway.console.admin_token_file.as_deref().map(at);
    if let Err((field, message)) = gateway.console.token() {
        cx.at(None, field, message);
    }
    cx.check_grpc_security(&gateway);
    cx.check_grpc_limits(&gateway);
    cx.check_mqtt(&gateway);
    cx.check_store(&gateway);
    cx.check_mqtt_security(&file, &gateway);
    cx.check_opcua_files(&gateway);
    let site = cx.validate(&file, &gateway);
    if cx.errors.is_empty() {
        Ok(LoadedConfig {
            path: path.to_path_buf(),
            file,
            gateway,
            site: Arc::new(site),
        })
    } else {
        Err(ConfigErrors(cx.errors))
    }
}

type ParseError = (Option<std::ops::Range<usize>>, String, String);

fn parse(text: &str) -> Result<SiteFile, ParseError> {
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| (e.span(), String::new(), e.message().to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let field = if field == "." { String::new() } else { field };
        (inner.span(), field, inner.message().to_string())
    })
}

struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Cx<'_> {
    fn at(&mut self, span: Option<std::ops::Range<usize>>, field: &str, message: String) {
        let (line, column) = match span {
            Some(s) => line_col(self.text, s.start),
            None => (0, 0),
        };
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            field: field.to_string(),
            message,
        });
    }

    fn err<T>(&mut self, v: &Spanned<T>, field: String, message: String) {
        self.at(Some(v.span()), &field, message);
    }

    /// The `unit_id` of device `i`: Modbus devices only, 1..=247 or 255.
    fn unit_id(&mut self, i: usize, d: &DeviceEntry) -> Option<u8> {
        let v = d.unit_id.as_ref()?;
        let field = format!("devices[{i}].unit_id");
        if !matches!(d.kind.get_ref(), DeviceKind::Conveyor | DeviceKind::Lift) {
            self.err(
                v,
                field,
                "only Modbus devices (conveyor, lift) have a unit id".into(),
            );
            return None;
        }
        match u8::try_from(*v.get_ref()) {
            Ok(u) if (1..=247).contains(&u) || u == 255 => Some(u),
            _ => {
                self.err(
                    v,
                    field,
                    format!(
                        "{} is not a unit id a PLC answers to (1..=247, or 255)",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// The gRPC API is served over TLS, or in plaintext only when the file
    /// says so; the PEM files must be readable.
    fn check_grpc_security(&mut self, g: &GatewaySection) {
        let mut file_err = |field: &str, message: String| {
            self.errors.push(ConfigError {
                file: self.path.to_path_buf(),
                line: 0,
                column: 0,
                field: field.to_string(),
                message,
            })
        };
        match &g.grpc_tls {
            None if !g.grpc_plaintext => file_err(
                "gateway.grpc_tls",
                "no TLS configured for the gRPC API: set cert_file and key_file (and client_ca_file for mutual TLS), or grpc_plaintext = true to serve without TLS".into(),
            ),
            None => {}
            Some(t) => {
                let mut files = vec![("gateway.grpc_tls.cert_file", &t.cert_file), ("gateway.grpc_tls.key_file", &t.key_file)];
                if let Some(ca) = &t.client_ca_file {
                    files.push(("gateway.grpc_tls.client_ca_file", ca));
                }
                for (field, f) in files {
                    if let Err(e) = std::fs::read(f) {
                        file_err(field, format!("cannot read {}: {e}", f.display()));
                    }
                }
            }
        }
    }

    /// The OPC-UA identity files named in the site file: both or neither;
    /// named ones must be readable (a missing default identity is made at
    /// the first secure start, or by `floorgate opcua pki init`).
    fn check_opcua_files(&mut self, g: &GatewaySection) {
        let o = &g.opcua;
        let mut bad = |field: &str, message: String| {
            self.errors.push(ConfigError {
                file: self.path.to_path_buf(),
                line: 0,
                column: 0,
                field: format!("gateway.opcua.{field}"),
                message,
            })
        };
        match (&o.client_certificate, &o.client_private_key) {
            (Some(_), None) => bad(
                "client_private_key",
                "client_certificate is set: name its key too".into(),
            ),
            (None, Some(_)) => bad(
                "client_certificate",
                "client_private_key is set: name its certificate too".into(),
            ),
            (Some(c), Some(k)) => {
                for (field, f) in [("client_certificate", c), ("client_private_key", k)] {
                    if let Err(e) = std::fs::metadata(f) {
                        bad(
                            field,
                            format!(
                                "{}: {e} (`floorgate opcua pki init --config FILE` makes the identity)",
                                f.display()
                            ),
                        );
                    }
                }
            }
            (None, None) => {}
        }
        if let Some(uri) = &o.application_uri {
            if !uri.contains(':') || uri.chars().any(char::is_whitespace) {
                bad(
                    "application_uri",
                    format!("{uri:?} is not a URI (e.g. urn:site-7:floorgate)"),
                );
            }
        }
    }

    /// `[gateway] store_cache_mb` within its range.
    fn check_store(&mut self, g: &GatewaySection) {
        let mb = g.store_cache_mb;
        if !(1..=4096).contains(&mb) {
            self.errors.push(ConfigError {
                file: self.path.to_path_buf(),
                line: 0,
                column: 0,
                field: "gateway.store_cache_mb".into(),
                message: format!("{mb} is outside 1..=4096"),
            });
        }
    }

    /// `[gateway.mqtt]` values within their ranges.
    fn check_mqtt(&mut self, g: &GatewaySection) {
        let grace = g.mqtt.reconnect_grace_secs;
        if grace > 3600 {
            self.errors.push(ConfigError {
                file: self.path.to_path_buf(),
                line: 0,
                column: 0,
                field: "gateway.mqtt.reconnect_grace_secs".into(),
                message: format!("{grace} is outside 0..=3600"),
            });
        }
    }

    /// The AMRs' broker is reached over TLS, or in plaintext only when the
    /// file says so; the TLS files must be readable PEM (the configuration the
    /// link would use is built here).
    fn check_mqtt_security(&mut self, file: &SiteFile, g: &GatewaySection) {
        let m = &g.mqtt;
        match &m.tls {
            Some(_) if m.mqtt_plaintext => {
                let span = self.mqtt_span();
                self.at(
                    span,
                    "gateway.mqtt.mqtt_plaintext",
                    "mqtt_plaintext = true and [gateway.mqtt.tls] contradict each other: keep one"
                        .into(),
                );
            }
            Some(tls) => {
                if let Err(e) = crate::adapters::mqtt_tls::client_config(tls) {
                    self.errors.push(ConfigError {
                        file: self.path.to_path_buf(),
                        line: 0,
                        column: 0,
                        field: format!("gateway.mqtt.tls.{}", e.field()),
                        message: e.to_string(),
                    });
                }
            }
            None if m.mqtt_plaintext => {}
            None => {
                let Some(amr) = file
                    .devices
                    .iter()
                    .find(|d| *d.kind.get_ref() == DeviceKind::Amr)
                else {
                    return;
                };
                let span = self.mqtt_span().or(Some(amr.kind.span()));
                self.at(
                    span,
                    "gateway.mqtt",
                    format!(
                        "the AMRs' broker {} has no TLS configured: add [gateway.mqtt.tls] with ca_file \
                         (and client_cert_file + client_key_file for mutual TLS), or mqtt_plaintext = true \
                         under [gateway.mqtt] to connect without TLS",
                        m.broker
                    ),
                );
            }
        }
    }

    /// Where `[gateway.mqtt]` starts in the file, if it is there as a table.
    fn mqtt_span(&self) -> Option<std::ops::Range<usize>> {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim_start();
            if t.starts_with("[gateway.mqtt]") {
                let start = offset + (line.len() - t.len());
                return Some(start..start + "[gateway.mqtt]".len());
            }
            offset += line.len();
        }
        None
    }

    /// `[gateway.grpc]` limits within their ranges.
    fn check_grpc_limits(&mut self, g: &GatewaySection) {
        let l = &g.grpc;
        let mut bad = |field: &str, message: String| {
            self.errors.push(ConfigError {
                file: self.path.to_path_buf(),
                line: 0,
                column: 0,
                field: format!("gateway.grpc.{field}"),
                message,
            })
        };
        for (field, v) in [
            ("max_request_bytes", l.max_request_bytes),
            ("max_response_bytes", l.max_response_bytes),
        ] {
            if !(1024..=64 << 20).contains(&v) {
                bad(field, format!("{v} is outside 1024..=67108864"));
            }
        }
        if !(1..=10_000).contains(&l.max_concurrent_streams) {
            bad(
                "max_concurrent_streams",
                format!("{} is outside 1..=10000", l.max_concurrent_streams),
            );
        }
        if l.keepalive_interval_secs > 0 && l.keepalive_timeout_secs == 0 {
            bad(
                "keepalive_timeout_secs",
                "must be at least 1 while keepalive_interval_secs is set".into(),
            );
        }
    }

    fn validate(&mut self, file: &SiteFile, gateway: &GatewaySection) -> Site {
        let mut site = Site {
            name: file.site.name.clone(),
            ..Site::default()
        };
        // Command names each device's profile knows (Modbus: the register
        // map's commands; AS/RS: the profile's commands; AMR: `transport`
        // when the profile can pick and drop loads).
        let mut modbus_commands: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (i, d) in file.devices.iter().enumerate() {
            let id = d.id.get_ref();
            if id.is_empty() {
                self.err(
                    &d.id,
                    format!("devices[{i}].id"),
                    "must not be empty".into(),
                );
            } else if site.devices.contains_key(id) {
                self.err(
                    &d.id,
                    format!("devices[{i}].id"),
                    format!("duplicate device id {id:?}"),
                );
            }
            let profile_path = gateway
                .profiles_dir
                .join(format!("{}.toml", d.profile.get_ref()));
            match std::fs::read_to_string(&profile_path) {
                Err(e) => self.err(
                    &d.profile,
                    format!("devices[{i}].profile"),
                    format!(
                        "profile {:?} not found at {}: {e}",
                        d.profile.get_ref(),
                        profile_path.display()
                    ),
                ),
                Ok(t) => {
                    match d.kind.get_ref() {
                        DeviceKind::Conveyor | DeviceKind::Lift => {
                            match crate::modbus::ModbusProfile::from_toml_str(&t) {
                                Ok(p) => {
                                    modbus_commands
                                        .insert(id.clone(), p.commands.keys().cloned().collect());
                                }
                                Err(errors) => self.err(
                                    &d.profile,
                                    format!("devices[{i}].profile"),
                                    format!("profile {}: {errors}", profile_path.display()),
                                ),
                            }
                            if d.address.parse::<std::net::SocketAddr>().is_err() {
                                self.err(
                                    &d.id,
                                    format!("devices[{i}].address"),
                                    format!("{:?} is not host:port of the PLC", d.address),
                                );
                            }
                        }
                        DeviceKind::Asrs => {
                            match crate::opcua::AsrsProfile::from_toml_str(&t) {
                                Ok(p) => {
                                    modbus_commands
                                        .insert(id.clone(), p.commands.keys().cloned().collect());
                                }
                                Err(errors) => self.err(
                                    &d.profile,
                                    format!("devices[{i}].profile"),
                                    format!("profile {}: {errors}", profile_path.display()),
                                ),
                            }
                            if !d.address.starts_with("opc.tcp://") {
                                self.err(
                                &d.id,
                                format!("devices[{i}].address"),
                                format!("{:?} is not an opc.tcp:// URL of the AS/RS's OPC-UA server", d.address),
                            );
                            }
                            let reported = self.errors.iter().any(|e| e.field == "gateway.opcua");
                            if let (Err(e), false) =
                                (gateway.opcua.settings(&gateway.data_dir).check(), reported)
                            {
                                self.errors.push(ConfigError {
                                    file: self.path.to_path_buf(),
                                    line: 0,
                                    column: 0,
                                    field: "gateway.opcua".into(),
                                    message: e,
                                });
                            }
                        }
                        DeviceKind::Amr => {
                            match crate::vda5050::profile::AmrProfile::from_toml(
                                &t,
                                &profile_path.display().to_string(),
                            ) {
                                Ok(p) => {
                                    let mut known = BTreeSet::new();
                                    if p.handles_loads() {
                                        known.insert(
                                            crate::adapters::vda5050::plan::TRANSPORT.to_string(),
                                        );
                                    }
                                    modbus_commands.insert(id.clone(), known);
                                }
                                Err(e) => self.err(
                                    &d.profile,
                                    format!("devices[{i}].profile"),
                                    format!("profile {}: {e}", profile_path.display()),
                                ),
                            }
                        }
                    }
                }
            }
            site.devices.insert(
                id.clone(),
                DeviceSpec {
                    id: id.clone(),
                    kind: *d.kind.get_ref(),
                    profile: d.profile.get_ref().clone(),
                    address: d.address.clone(),
                    unit_id: self.unit_id(i, d),
                },
            );
        }
        let layout_nodes: Option<BTreeSet<String>> = file
            .layout
            .as_ref()
            .map(|l| l.get_ref().nodes.iter().map(|n| n.id.clone()).collect());
        let blocked_nodes: BTreeSet<String> = file
            .layout
            .as_ref()
            .map(|l| {
                l.get_ref()
                    .blocked_nodes()
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(l) = &file.layout {
            match crate::vda5050::LayoutGraph::new(l.get_ref().clone()) {
                Ok(g) => site.layout = Some(Arc::new(g)),
                Err(e) => self.err(l, "layout".into(), e.to_string()),
            }
            let t = &file.traffic;
            if !(1..=50).contains(&t.lookahead_nodes) {
                self.at(None, "traffic.lookahead_nodes", "must be 1 to 50".into());
            }
            if t.segment_nodes > 50 {
                self.at(None, "traffic.segment_nodes", "must be 0 to 50".into());
            }
            let releases = l.get_ref().release_zones();
            if !t.enabled {
                if let Some((z, _, _)) = releases.first() {
                    self.err(
                        l,
                        "layout.zones".into(),
                        format!(
                            "zone {:?} needs a release to enter, which traffic control grants: \
                             set [traffic] enabled = true, or give the zone another kind",
                            z.id
                        ),
                    );
                }
            }
            for (z, nodes, _) in &releases {
                if nodes.is_empty() {
                    self.err(
                        l,
                        "layout.zones".into(),
                        format!("zone {:?} contains no layout node of its map", z.id),
                    );
                }
            }
            let spec = crate::traffic::LayoutSpec::from(l.get_ref());
            match crate::traffic::ResourceMap::new(spec) {
                Ok(map) if t.enabled && site.layout.is_some() => {
                    site.traffic = Some(Arc::new(crate::engine::site::TrafficSetup {
                        map,
                        config: crate::traffic::Config {
                            replan_after: std::time::Duration::from_secs(t.replan_after_secs),
                            lookahead_nodes: t.lookahead_nodes,
                            max_segment_nodes: t.segment_nodes,
                            ..crate::traffic::Config::default()
                        },
                        park_idle: t.park_idle,
                    }))
                }
                Ok(_) => {}
                Err(e) => self.err(l, "layout".into(), e.to_string()),
            }
        }
        let mut seen = BTreeSet::new();
        for (i, l) in file.locations.iter().enumerate() {
            let raw = l.id.get_ref();
            let (id, is_prefix) = match raw.strip_suffix('*') {
                Some(p) => (p.to_string(), true),
                None => (raw.clone(), false),
            };
            if id.is_empty() {
                self.err(
                    &l.id,
                    format!("locations[{i}].id"),
                    "must not be empty".into(),
                );
            }
            if !seen.insert(raw.clone()) {
                self.err(
                    &l.id,
                    format!("locations[{i}].id"),
                    format!("duplicate location id {raw:?}"),
                );
            }
            if let (Some(node), Some(nodes)) = (&l.node, &layout_nodes) {
                if !nodes.contains(node.get_ref()) {
                    self.err(
                        node,
                        format!("locations[{i}].node"),
                        format!("layout has no node {:?}", node.get_ref()),
                    );
                } else if blocked_nodes.contains(node.get_ref()) {
                    self.err(
                        node,
                        format!("locations[{i}].node"),
                        format!(
                            "node {:?} lies inside a blocked zone: no robot may drive there",
                            node.get_ref()
                        ),
                    );
                }
            }
            site.locations.push(Location {
                id,
                is_prefix,
                kind: match l.kind {
                    LocationKindEntry::Storage => LocationKind::Storage,
                    LocationKindEntry::Station => LocationKind::Station,
                    LocationKindEntry::Port => LocationKind::Port,
                    LocationKindEntry::Buffer => LocationKind::Buffer,
                },
                zone: l.zone.clone(),
                node: l.node.as_ref().map(|n| n.get_ref().clone()),
                station_type: l.station_type.clone(),
                load_type: l.load_type.clone(),
                plc_address: l.plc_address,
            });
        }
        let zones: BTreeSet<&str> = file.locations.iter().map(|l| l.zone.as_str()).collect();
        let mut route_ids = BTreeSet::new();
        let mut served = BTreeMap::new();
        for (i, r) in file.routes.iter().enumerate() {
            let f = |s: &str| format!("routes[{i}].{s}");
            if !route_ids.insert(r.id.get_ref().clone()) {
                self.err(
                    &r.id,
                    f("id"),
                    format!("duplicate route id {:?}", r.id.get_ref()),
                );
            }
            for (name, z) in [("from_zone", &r.from_zone), ("to_zone", &r.to_zone)] {
                if !zones.contains(z.get_ref().as_str()) {
                    self.err(
                        z,
                        f(name),
                        format!("no location is in zone {:?}", z.get_ref()),
                    );
                }
            }
            let key = (
                r.kind,
                r.from_zone.get_ref().clone(),
                r.to_zone.get_ref().clone(),
            );
            if let Some(other) = served.insert(key, r.id.get_ref().clone()) {
                self.err(
                    &r.id,
                    f("id"),
                    format!("route {other:?} already serves the same kind and zones"),
                );
            }
            if r.steps.is_empty() {
                self.err(&r.id, f("steps"), "a route needs at least one step".into());
            }
            let mut steps = Vec::new();
            for (j, s) in r.steps.iter().enumerate() {
                let g = |x: &str| format!("routes[{i}].steps[{j}].{x}");
                let mut devices = Vec::new();
                for (k, d) in s.devices.iter().enumerate() {
                    match site.devices.get(d.get_ref()) {
                        None => self.err(
                            d,
                            g(&format!("devices[{k}]")),
                            format!("unknown device {:?}", d.get_ref()),
                        ),
                        Some(spec) if spec.kind != s.device_kind => self.err(
                            d,
                            g(&format!("devices[{k}]")),
                            format!(
                                "device {:?} is a {}, the step needs a {}",
                                d.get_ref(),
                                spec.kind,
                                s.device_kind
                            ),
                        ),
                        Some(_) => {}
                    }
                    devices.push(d.get_ref().clone());
                }
                let step_devices: Vec<&String> = if s.devices.is_empty() {
                    site.devices
                        .values()
                        .filter(|d| d.kind == s.device_kind)
                        .map(|d| &d.id)
                        .collect()
                } else {
                    devices.iter().collect()
                };
                let candidates = step_devices.len();
                for d in step_devices {
                    if let Some(commands) = modbus_commands.get(d) {
                        if !commands.contains(s.command.get_ref()) {
                            let profile = &site.devices[d].profile;
                            self.err(
                                &s.command,
                                g("command"),
                                format!(
                                    "device {d:?} (profile {profile:?}) has no command {:?}; it knows {:?}",
                                    s.command.get_ref(), commands
                                ),
                            );
                        }
                    }
                }
                let on_failure = s
                    .on_failure
                    .as_ref()
                    .map(|o| *o.get_ref())
                    .unwrap_or_default();
                let max_reassignments = match (&s.on_failure, &s.max_reassignments) {
                    (_, Some(m)) if on_failure != OnFailure::RetryOtherDevice => {
                        self.err(
                            m,
                            g("max_reassignments"),
                            "needs on_failure = \"retry_other_device\"".into(),
                        );
                        0
                    }
                    (_, Some(m)) if *m.get_ref() == 0 => {
                        self.err(m, g("max_reassignments"), "must be at least 1".into());
                        0
                    }
                    (_, Some(m)) => *m.get_ref(),
                    (Some(_), None) if on_failure == OnFailure::RetryOtherDevice => 1,
                    _ => 0,
                };
                if let (Some(o), OnFailure::RetryOtherDevice) = (&s.on_failure, on_failure) {
                    if candidates < 2 {
                        self.err(
                            o,
                            g("on_failure"),
                            format!(
                                "retry_other_device needs another device to retry on; the step has {candidates}"
                            ),
                        );
                    }
                }
                let timeout_secs = s
                    .timeout_secs
                    .unwrap_or_else(|| gateway.step_timeouts.secs_for(s.device_kind));
                if s.devices.is_empty() && !site.devices.values().any(|d| d.kind == s.device_kind) {
                    self.err(
                        &r.id,
                        g("device_kind"),
                        format!("the site has no {} device", s.device_kind),
                    );
                }
                let from = self.place(&site, &s.from, g("from"));
                let to = self.place(&site, &s.to, g("to"));
                steps.push(RouteStep {
                    device_kind: s.device_kind,
                    command: s.command.get_ref().clone(),
                    devices,
                    from,
                    to,
                    timeout_ms: timeout_secs.saturating_mul(1000),
                    on_failure,
                    max_reassignments,
                });
            }
            site.routes.push(Route {
                id: r.id.get_ref().clone(),
                kind: r.kind,
                from_zone: r.from_zone.get_ref().clone(),
                to_zone: r.to_zone.get_ref().clone(),
                steps,
            });
        }
        self.check_stations_reachable(file, &site);
        site
    }

    /// Every station must be where some route delivers: a route into its
    /// zone, or a route step that names it as a fixed destination.
    fn check_stations_reachable(&mut self, file: &SiteFile, site: &Site) {
        for (i, l) in file.locations.iter().enumerate() {
            if l.kind != LocationKindEntry::Station {
                continue;
            }
            let id = l.id.get_ref().trim_end_matches('*');
            let reached = site.routes.iter().any(|r| {
                r.to_zone == l.zone
                    || r.steps
                        .iter()
                        .any(|s| matches!(&s.to, Place::Fixed(to) if to == id))
            });
            if !reached {
                self.err(
                    &l.id,
                    format!("locations[{i}].id"),
                    format!(
                        "station {:?} (zone {:?}) is unreachable: no route ends in its zone",
                        l.id.get_ref(),
                        l.zone
                    ),
                );
            }
        }
    }

    fn place(&mut self, site: &Site, v: &Spanned<String>, field: String) -> Place {
        match v.get_ref().as_str() {
            "$source" => Place::Source,
            "$destination" => Place::Destination,
            id => {
                if site.location(id).is_none() {
                    self.err(
                        v,
                        field,
                        format!(
                            "unknown location {id:?} (use $source, $destination or a location id)"
                        ),
                    );
                }
                Place::Fixed(id.to_string())
            }
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|p| offset - p).unwrap_or(offset + 1);
    (line, col)
}

#[cfg(test)]
mod tests;

//! The virtual site: the demo site file and its profiles, embedded in the
//! binary so `floorgate simulate` needs nothing on disk, with the AMR fleet
//! resized and the simulators' addresses (broker, conveyor PLC, AS/RS)
//! filled in.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use floorgate_sim::amr::FleetConfig;

use super::SimulateOptions;
use crate::config::LoadedConfig;
use crate::vda5050::ProtocolVersion;

const SITE: &str = include_str!("../../devices/site-demo.toml");
pub(super) const AMR_PROFILE: &str = include_str!("../../devices/amr-vda5050.toml");
const AMR_PROFILE_V20: &str = include_str!("../../devices/amr-vda5050-v20.toml");
const AMR_PROFILE_V30: &str = include_str!("../../devices/amr-vda5050-v30.toml");

/// The AMR profiles of the three versions, as files of a site's profile directory.
pub(super) const AMR_PROFILES: [(&str, &str); 3] = [
    ("amr-vda5050-v20.toml", AMR_PROFILE_V20),
    ("amr-vda5050.toml", AMR_PROFILE),
    ("amr-vda5050-v30.toml", AMR_PROFILE_V30),
];

/// The profile of the AMR type speaking `v`.
fn profile_of(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V2_0 => "amr-vda5050-v20",
        ProtocolVersion::V3_0 => "amr-vda5050-v30",
        _ => "amr-vda5050",
    }
}

/// Gives AMR `amr-{k}` of a site file written with profile `amr-vda5050` throughout the
/// profile of the version it speaks (`vda`, round the fleet).
pub(super) fn assign_profiles(text: &str, amrs: usize, vda: super::Vda) -> anyhow::Result<String> {
    let versions = vda.versions();
    let mut text = text.to_string();
    for k in 1..=amrs {
        let block = format!("id = \"amr-{k}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\n");
        if !text.contains(&block) {
            bail!("the site file no longer lists amr-{k} with profile amr-vda5050 as expected");
        }
        let profile = profile_of(versions[(k - 1) % versions.len()]);
        let with = format!("id = \"amr-{k}\"\nkind = \"amr\"\nprofile = \"{profile}\"\n");
        text = text.replacen(&block, &with, 1);
    }
    Ok(text)
}
pub(super) const CONVEYOR_PROFILE: &str = include_str!("../../devices/conveyor-modbus.toml");
const ASRS_PROFILE: &str = include_str!("../../devices/asrs-opcua-method.toml");

/// The demo site's AS/RS address, replaced by the simulator's.
const ASRS_ADDRESS: &str = "opc.tcp://127.0.0.1:4840/";

/// The manufacturer the demo site's AMRs are addressed by.
const MANUFACTURER: &str = "acme";

/// Writes the site file and profiles into `dir` and loads them, with `amrs`
/// AMRs, the broker, the conveyor PLC and the AS/RS (`asrs_url`) at the
/// given addresses, gRPC on a free loopback port and no admin listener.
pub(super) fn write(
    dir: &Path,
    amrs: usize,
    vda: super::Vda,
    broker: SocketAddr,
    plc: SocketAddr,
    asrs_url: &str,
) -> anyhow::Result<LoadedConfig> {
    if amrs == 0 {
        bail!("--amrs must be at least 1");
    }
    let mut text = SITE.to_string();
    let mut devices = String::new();
    for i in 0..amrs {
        devices.push_str(&format!(
            "[[devices]]\nid = \"amr-{}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"{MANUFACTURER}/AMR-{i:03}\"\n\n",
            i + 1
        ));
    }
    for n in 1..=3 {
        let block = format!(
            "[[devices]]\nid = \"amr-{n}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"{MANUFACTURER}/AMR-000{n}\"\n\n"
        );
        if !text.contains(&block) {
            bail!("the embedded demo site no longer lists amr-{n} as expected");
        }
        text = text.replace(&block, if n == 1 { &devices } else { "" });
    }
    text = text.replace("127.0.0.1:5020", &plc.to_string());
    if !text.contains(ASRS_ADDRESS) {
        bail!("the embedded demo site no longer has its AS/RS at {ASRS_ADDRESS}");
    }
    text = text.replace(ASRS_ADDRESS, asrs_url);
    // The demo's plaintext broker section gives way to the embedded broker's.
    let demo_mqtt = "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\nmqtt_plaintext = true\n";
    if !text.contains(demo_mqtt) {
        bail!("the embedded demo site no longer has its [gateway.mqtt] section as expected");
    }
    text = text.replace(demo_mqtt, "");
    text.push_str(&format!(
        "\n[gateway.mqtt]\nbroker = \"{broker}\"\nmqtt_plaintext = true\nclient_id = \"floorgate-simulate\"\nkeep_alive_secs = 5\nresend_interval_ms = 500\n"
    ));
    let text = assign_profiles(&text, amrs, vda)?;
    let mut profiles = AMR_PROFILES.to_vec();
    profiles.push(("conveyor-modbus.toml", CONVEYOR_PROFILE));
    profiles.push(("asrs-opcua-method.toml", ASRS_PROFILE));
    load(dir, &text, &profiles, "the embedded demo site")
}

/// Writes the site file `text` and its `profiles` into `dir` and loads it with gRPC on a
/// free loopback port, no admin listener and the store in `dir/data`.
pub(super) fn load(
    dir: &Path,
    text: &str,
    profiles: &[(&str, &str)],
    what: &str,
) -> anyhow::Result<LoadedConfig> {
    let site = dir.join("site.toml");
    for (name, body) in [("site.toml", text)].iter().chain(profiles) {
        std::fs::write(dir.join(name), body).with_context(|| format!("writing {name}"))?;
    }
    let data = dir.join("data").to_string_lossy().to_string();
    crate::config::load_str(&site, text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_ADMIN_LISTEN" => Some("off".into()),
        "FLOORGATE_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// The simulated fleet's settings both sites share: `opts.amrs` robots of `manufacturer`
/// on `broker`, `speed` m/s, half-second picks and drops.
pub(super) fn base_fleet(
    manufacturer: &str,
    opts: &SimulateOptions,
    broker: SocketAddr,
    speed: f64,
) -> FleetConfig {
    let mut f = FleetConfig::new(&broker.ip().to_string(), broker.port(), opts.amrs);
    f.versions = opts.vda.versions();
    f.manufacturer = manufacturer.into();
    f.serial_prefix = "AMR-".into();
    f.speed = speed;
    f.handling_s = 0.5;
    f.tick = Duration::from_millis(50);
    f.state_interval = Duration::from_secs(10);
    f
}

/// The fleet for the site: robots spread over the layout's nodes.
pub(super) fn fleet(cfg: &LoadedConfig, opts: &SimulateOptions, broker: SocketAddr) -> FleetConfig {
    let mut f = base_fleet(MANUFACTURER, opts, broker, 3.0);
    if let Some(layout) = &cfg.site.layout {
        f.start_nodes = layout.nodes().map(|n| (n.id.clone(), n.x, n.y)).collect();
        // Parking spots first, then the other nodes, each by name.
        let parking = |id: &str| {
            cfg.site
                .traffic
                .as_ref()
                .is_some_and(|t| t.map.is_parking(id))
        };
        f.start_nodes
            .sort_by(|a, b| (!parking(&a.0), &a.0).cmp(&(!parking(&b.0), &b.0)));
    }
    f
}

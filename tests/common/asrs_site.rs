//! The AS/RS test site, shared by `tests/asrs*.rs` (included with
//! `#[path]`): simulated AS/RS on 127.0.0.1:0, the shipped profiles
//! (edited per test), a site file with one or more AS/RS, their storage
//! areas, ports and routes, and a gateway on it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Arc;

use floorgate::adapters::opcua::OpcUaAdapter;
use floorgate::adapters::AdapterContext;
use floorgate::api::pb;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate::engine::adapter::{DeviceCommand, DeviceReport, Endpoint};
use floorgate::engine::model::DeviceKind;
use floorgate::opcua::{AsrsClient, AsrsProfile, LinkState, SecuritySettings};
use floorgate_sim::asrs::{Asrs, SimAsrs, SimOptions, TaskRecord, Tote};
use tokio::sync::mpsc::UnboundedReceiver;

pub const METHOD: &str = "asrs-opcua-method";
pub const HANDSHAKE: &str = "asrs-opcua-handshake";

pub fn tote(id: &str) -> Tote {
    Tote {
        id: id.into(),
        sku: "SKU-42".into(),
        quantity: 6,
    }
}

/// An AS/RS whose bins are `{prefix}-01-01` … `{prefix}-02-03`, with tote
/// `TOTE-1` in `{prefix}-01-01` and `TOTE-2` waiting at input port `IN-1`.
pub async fn sim(prefix: &str, crane: Duration, opts: SimOptions) -> SimAsrs {
    let bins = (1..=2).flat_map(|a| (1..=3).map(move |l| format!("{prefix}-{a:02}-{l:02}")));
    let mut m = Asrs::new(bins, &["IN-1"], &["OUT-1"], crane, crane);
    m.put_in_bin(&format!("{prefix}-01-01"), tote("TOTE-1"));
    m.put_at_port("IN-1", tote("TOTE-2"));
    SimAsrs::start(m, opts).await.unwrap()
}

/// A profiles directory holding the shipped AS/RS profiles, each edited by
/// `edit` (profile name, text) → text.
pub fn profiles(dir: &Path, edit: impl Fn(&str, String) -> String) -> PathBuf {
    let out = dir.join("profiles");
    std::fs::create_dir_all(&out).unwrap();
    for name in [METHOD, HANDSHAKE] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("devices/{name}.toml"));
        let text = edit(name, std::fs::read_to_string(src).unwrap());
        std::fs::write(out.join(format!("{name}.toml")), text).unwrap();
    }
    out
}

/// The site text: device `asrs-{n}` with `profile` at `url`, storage area
/// `ASRS{n}-*`, ports `ASRS{n}-OUTPORT`/`ASRS{n}-INPORT` (PLC names OUT-1,
/// IN-1), and its pick and put routes.
pub fn site(profiles_dir: &Path, devices: &[(&str, &str)], gateway_extra: &str) -> String {
    let mut t = format!(
        "[site]\nname = \"asrs-test\"\n\n[gateway]\ngrpc_plaintext = true\nprofiles_dir = {:?}\n{gateway_extra}\n",
        profiles_dir.display().to_string()
    );
    for (i, (profile, url)) in devices.iter().enumerate() {
        let n = i + 1;
        t.push_str(&format!(
            r#"
[[devices]]
id = "asrs-{n}"
kind = "asrs"
profile = "{profile}"
address = "{url}"

[[locations]]
id = "ASRS{n}-*"
kind = "storage"
zone = "asrs{n}"

[[locations]]
id = "OUTPORT-{n}"
kind = "port"
zone = "asrs{n}-out"
station_type = "OUT-1"

[[locations]]
id = "INPORT-{n}"
kind = "port"
zone = "asrs{n}-in"
station_type = "IN-1"

[[routes]]
id = "pick-asrs{n}"
kind = "pick"
from_zone = "asrs{n}"
to_zone = "asrs{n}-out"
steps = [{{ device_kind = "asrs", command = "retrieve", devices = ["asrs-{n}"], from = "$source", to = "$destination" }}]

[[routes]]
id = "put-asrs{n}"
kind = "put"
from_zone = "asrs{n}-in"
to_zone = "asrs{n}"
steps = [{{ device_kind = "asrs", command = "store", devices = ["asrs-{n}"], from = "$source", to = "$destination" }}]
"#
        ));
    }
    t
}

pub fn load(
    dir: &Path,
    text: &str,
) -> Result<floorgate::config::LoadedConfig, floorgate::config::ConfigErrors> {
    let data = dir.join("data").display().to_string();
    floorgate::config::load_str(&dir.join("site.toml"), text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
}

pub async fn gateway(dir: &Path, text: &str) -> Gateway {
    Gateway::start(load(dir, text).unwrap(), RunOptions::default())
        .await
        .unwrap()
}

pub fn pick(id: &str, n: usize, from: &str) -> pb::Task {
    pb::Task {
        task_id: id.into(),
        kind: pb::TaskKind::Pick as i32,
        sku: "SKU-42".into(),
        quantity: 1,
        load_id: "TOTE-1".into(),
        source: from.into(),
        destination: format!("OUTPORT-{n}"),
        ..Default::default()
    }
}

pub fn put(id: &str, n: usize, to: &str) -> pb::Task {
    pb::Task {
        task_id: id.into(),
        kind: pb::TaskKind::Put as i32,
        sku: "SKU-42".into(),
        quantity: 1,
        load_id: "TOTE-2".into(),
        source: format!("INPORT-{n}"),
        destination: to.into(),
        ..Default::default()
    }
}

pub async fn device(addr: std::net::SocketAddr, id: &str) -> pb::Device {
    let mut d = pb::device_service_client::DeviceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    d.get_device(pb::GetDeviceRequest {
        device_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Polls the device until `done` holds (bounded: 20 s).
pub async fn wait_device(
    addr: std::net::SocketAddr,
    id: &str,
    what: &str,
    done: impl Fn(&pb::Device) -> bool,
) -> pb::Device {
    for _ in 0..200 {
        let d = device(addr, id).await;
        if done(&d) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "device {id} never became {what}: {:?}",
        device(addr, id).await
    );
}

/// Another OPC-UA client of the AS/RS (an HMI, a second system), speaking
/// the profile `profile` of `profiles_dir`; connected when returned.
pub async fn other_client(url: &str, profiles_dir: &Path, profile: &str) -> AsrsClient {
    let p = AsrsProfile::load(&profiles_dir.join(format!("{profile}.toml"))).unwrap();
    let pki = profiles_dir.join("other-client-pki");
    let security = SecuritySettings {
        policy: floorgate::opcua::Policy::None,
        mode: floorgate::opcua::Mode::None,
        certificate: None,
        private_key: None,
        pki_dir: pki,
        accept_untrusted_server_certs: false,
        ..SecuritySettings::default()
    };
    let c = AsrsClient::spawn(url.into(), Arc::new(p), security);
    let mut link = c.link();
    tokio::time::timeout(
        Duration::from_secs(20),
        link.wait_for(|l| *l == LinkState::Connected),
    )
    .await
    .expect("the other client connects")
    .unwrap();
    c
}

/// The other client queues a retrieval of `location` to `OUT-1` as
/// `task_id` (method style).
pub async fn other_retrieve(c: &AsrsClient, task_id: &str, location: &str) {
    let args = std::collections::HashMap::from([
        ("task_id", task_id.to_string()),
        ("location", location.to_string()),
        ("port", "OUT-1".to_string()),
    ]);
    c.call("retrieve", &args).await.unwrap().unwrap();
}

/// Polls the simulator until `done` holds for the record of `task_id`
/// (bounded: 20 s).
pub async fn wait_record(
    asrs: &SimAsrs,
    task_id: &str,
    what: &str,
    done: impl Fn(&TaskRecord) -> bool,
) -> TaskRecord {
    for _ in 0..400 {
        if let Some(r) = asrs.with(|m| m.record(task_id)).filter(|r| done(r)) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "task {task_id} never became {what} on the AS/RS: {:?}",
        asrs.with(|m| m.record(task_id))
    );
}

/// The OPC-UA adapter alone on the site `text` (no engine), and what it
/// reports.
pub fn adapter(dir: &Path, text: &str) -> (OpcUaAdapter, UnboundedReceiver<DeviceReport>) {
    let cfg = load(dir, text).unwrap();
    let (sink, rx) = floorgate::engine::runtime::report_channel();
    let cx = AdapterContext {
        sink,
        metrics: floorgate::admin::Metrics::new(),
        readiness: floorgate::admin::Readiness::new(),
    };
    let security = cfg.gateway.opcua.settings(&dir.join("data"));
    let a = OpcUaAdapter::start(&cfg.site, &cfg.gateway.profiles_dir, &security, &cx).unwrap();
    (a, rx)
}

/// A retrieval of `from` to output port `OUT-1` on `asrs-1`, as the engine
/// would persist it.
pub fn retrieve_command(command_id: &str, from: &str) -> DeviceCommand {
    let at = |location: &str, station: Option<&str>| Endpoint {
        location: location.into(),
        node: None,
        station_type: station.map(Into::into),
        load_type: None,
        plc_address: None,
    };
    DeviceCommand {
        command_id: command_id.into(),
        sequence: 1,
        stop_sequence: 2,
        device_id: "asrs-1".into(),
        device_kind: DeviceKind::Asrs,
        command: "retrieve".into(),
        from: at(from, None),
        to: at("OUTPORT-1", Some("OUT-1")),
        load_id: "TOTE-1".into(),
        params: BTreeMap::new(),
    }
}

/// The next report for which `pick` says something (bounded: 20 s); other
/// reports are skipped.
pub async fn next_report<T>(
    rx: &mut UnboundedReceiver<DeviceReport>,
    what: &str,
    pick: impl Fn(&DeviceReport) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => {
                if let Some(t) = pick(&r) {
                    return t;
                }
            }
            Ok(None) => panic!("the adapter stopped before {what}"),
            Err(_) => panic!("no {what} within 20 s"),
        }
    }
}

/// Waits for the adapter's first "online" report.
pub async fn wait_online(rx: &mut UnboundedReceiver<DeviceReport>) {
    use floorgate::engine::adapter::Availability;
    next_report(rx, "online", |r| {
        matches!(
            r,
            DeviceReport::Availability {
                availability: Availability::Online,
                ..
            }
        )
        .then_some(())
    })
    .await;
}

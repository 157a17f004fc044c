//! AMR test scaffolding: a broker (the embedded one, or the external one named by
//! `FLOORGATE_TEST_MQTT_BROKER=host:port`), a site with N AMRs under a manufacturer of the
//! test's own (tests share the broker, so each keeps to its own topics), a simulated fleet
//! standing on layout nodes, a wire capture, and the VDA 5050 JSON schemas.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use floorgate::api::pb;
use floorgate::broker::EmbeddedBroker;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate::vda5050::{ProtocolVersion, TopicKind};
use floorgate_sim::amr::{Fleet, FleetConfig};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use crate::common::{get, is, Tasks};
pub type Devices = pb::device_service_client::DeviceServiceClient<Channel>;

/// Positions of the demo site's layout nodes.
pub const NODES: [(&str, f64, f64); 8] = [
    ("N1", 0.0, 0.0),
    ("N2", 5.0, 0.0),
    ("N3", 10.0, 0.0),
    ("N4", 0.0, 5.0),
    ("N5", 5.0, 5.0),
    ("N6", 10.0, 5.0),
    ("N7", 0.0, 10.0),
    ("N8", 5.0, 10.0),
];

/// The broker the tests use: `FLOORGATE_TEST_MQTT_BROKER` or one embedded broker per test
/// binary.
pub fn broker() -> (String, u16) {
    static EMBEDDED: OnceLock<EmbeddedBroker> = OnceLock::new();
    if let Ok(addr) = std::env::var("FLOORGATE_TEST_MQTT_BROKER") {
        let (host, port) = addr
            .rsplit_once(':')
            .expect("FLOORGATE_TEST_MQTT_BROKER is host:port");
        return (host.to_string(), port.parse().expect("a port"));
    }
    let b = EMBEDDED.get_or_init(|| EmbeddedBroker::start().expect("embedded broker"));
    (b.host(), b.port())
}

/// One AMR of a test site.
#[derive(Debug, Clone)]
pub struct Amr {
    /// The profile file (`devices/<profile>.toml`).
    pub profile: &'static str,
    /// Serial number; the manufacturer is the test's.
    pub serial: String,
}

/// A test site: the demo site with its AMRs replaced by `amrs` (ids `amr-1`…), all with the
/// manufacturer `manufacturer`, and a `[gateway.mqtt]` section for the test broker.
pub fn site(data_dir: &Path, manufacturer: &str, amrs: &[Amr]) -> floorgate::config::LoadedConfig {
    site_with(data_dir, manufacturer, amrs, "")
}

/// [`site`] with `extra` appended to the site file. The AMR tests run with traffic control
/// on; a `[traffic]` section in `extra` replaces that.
pub fn site_with(
    data_dir: &Path,
    manufacturer: &str,
    amrs: &[Amr],
    extra: &str,
) -> floorgate::config::LoadedConfig {
    site_with_profiles(data_dir, manufacturer, amrs, extra, None)
}

/// [`site_with`], the device profiles read from `profiles_dir` instead of `devices/`.
pub fn site_with_profiles(
    data_dir: &Path,
    manufacturer: &str,
    amrs: &[Amr],
    extra: &str,
    profiles_dir: Option<&Path>,
) -> floorgate::config::LoadedConfig {
    let path = crate::common::demo_site();
    let mut text = std::fs::read_to_string(&path).unwrap();
    let mut devices = String::new();
    for (i, a) in amrs.iter().enumerate() {
        devices.push_str(&format!(
            "[[devices]]\nid = \"amr-{}\"\nkind = \"amr\"\nprofile = \"{}\"\naddress = \"{manufacturer}/{}\"\n\n",
            i + 1,
            a.profile,
            a.serial
        ));
    }
    for n in 1..=3 {
        let block = format!(
            "[[devices]]\nid = \"amr-{n}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"acme/AMR-000{n}\"\n\n"
        );
        assert!(text.contains(&block), "the demo site changed: {block}");
        text = text.replace(&block, if n == 1 { &devices } else { "" });
    }
    let (host, port) = broker();
    // The demo's plaintext broker section gives way to the test broker's.
    let demo_mqtt = "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\nmqtt_plaintext = true\n";
    assert!(
        text.contains(demo_mqtt),
        "the demo site changed: {demo_mqtt}"
    );
    text = text.replace(demo_mqtt, "");
    text.push_str(&format!(
        "\n[gateway.mqtt]\nbroker = \"{host}:{port}\"\nmqtt_plaintext = true\nclient_id = \"floorgate-{manufacturer}\"\nkeep_alive_secs = 5\noffline_timeout_secs = 20\nresend_interval_ms = 200\n"
    ));
    // Traffic control on (the demo leaves it off), unless the test says otherwise.
    let demo_traffic = "[traffic]\nenabled = false\nreplan_after_secs = 5\n";
    assert!(
        text.contains(demo_traffic),
        "the demo site changed: {demo_traffic}"
    );
    let traffic = if extra.contains("[traffic]") {
        ""
    } else {
        "[traffic]\nenabled = true\nreplan_after_secs = 5\n"
    };
    text = text.replace(demo_traffic, traffic);
    text.push_str(extra);
    let data_dir = data_dir.to_string_lossy().to_string();
    let profiles_dir = profiles_dir.map(|p| p.to_string_lossy().to_string());
    floorgate::config::load_str(&path, &text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data_dir.clone()),
        "FLOORGATE_PROFILES_DIR" => profiles_dir.clone(),
        _ => None,
    })
    .unwrap()
}

/// `n` AMRs of `profile`, serials `AMR-000`, `AMR-001`… (as the fleet numbers them).
pub fn amrs(n: usize, profile: &'static str) -> Vec<Amr> {
    (0..n)
        .map(|i| Amr {
            profile,
            serial: format!("AMR-{i:03}"),
        })
        .collect()
}

/// A fleet of `n` fast robots for `manufacturer`, robot `i` on `start[i % len]`.
pub fn fleet_config(manufacturer: &str, n: usize, start: &[&str]) -> FleetConfig {
    let (host, port) = broker();
    let mut cfg = FleetConfig::new(&host, port, n);
    cfg.manufacturer = manufacturer.into();
    cfg.serial_prefix = "AMR-".into();
    cfg.speed = 25.0;
    cfg.handling_s = 0.1;
    cfg.tick = Duration::from_millis(20);
    cfg.state_interval = Duration::from_secs(5);
    cfg.start_nodes = start
        .iter()
        .map(|id| {
            let (_, x, y) = NODES.iter().find(|n| n.0 == *id).expect("a demo node");
            (id.to_string(), *x, *y)
        })
        .collect();
    cfg
}

/// Waits until `amr-1` … `amr-{n}` are online.
pub async fn wait_all_online(devices: &mut Devices, n: usize) {
    for i in 1..=n {
        wait_device(
            devices,
            &format!("amr-{i}"),
            floorgate::api::pb::DeviceAvailability::Online,
        )
        .await;
    }
}

pub async fn start(cfg: floorgate::config::LoadedConfig) -> (Gateway, Tasks, Devices) {
    let gw = Gateway::start(cfg, RunOptions::default()).await.unwrap();
    let url = format!("http://{}", gw.addr());
    let tasks = Tasks::connect(url.clone()).await.unwrap();
    let devices = Devices::connect(url).await.unwrap();
    (gw, tasks, devices)
}

/// A task from `source` to `destination`.
pub fn task(id: &str, kind: pb::TaskKind, source: &str, destination: &str) -> pb::Task {
    pb::Task {
        task_id: id.into(),
        kind: kind as i32,
        sku: "SKU-1".into(),
        quantity: 1,
        load_id: format!("TOTE-{id}"),
        source: source.into(),
        destination: destination.into(),
        ..Default::default()
    }
}

/// Polls until `done` holds for the task, at most `within`.
pub async fn wait_task(
    c: &mut Tasks,
    id: &str,
    within: Duration,
    done: impl Fn(&pb::Task) -> bool,
) -> pb::Task {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let t = get(c, id).await;
        if done(&t) {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} did not get there in {within:?}: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn device(d: &mut Devices, id: &str) -> pb::Device {
    d.get_device(pb::GetDeviceRequest {
        device_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Polls until the device has `availability`, at most 10 s.
pub async fn wait_device(d: &mut Devices, id: &str, availability: pb::DeviceAvailability) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let dev = device(d, id).await;
        if dev.availability == availability as i32 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never became {availability:?}: {dev:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls until `cond` holds, at most `within`.
pub async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One message seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub kind: Option<TopicKind>,
    pub serial: String,
    pub json: Value,
}

/// Every message under `uagv/v2/{manufacturer}/#` and `uagv/v3/{manufacturer}/#`, in the
/// order the broker delivered them.
#[derive(Debug, Clone)]
pub struct Capture {
    seen: Arc<Mutex<Vec<Seen>>>,
    pub client: AsyncClient,
}

impl Capture {
    pub async fn start(manufacturer: &str) -> Capture {
        let (host, port) = broker();
        let mut opts = MqttOptions::new(format!("capture-{manufacturer}"), host, port);
        opts.set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(opts, 64);
        let filters = ["v2", "v3"].map(|major| rumqttc::SubscribeFilter {
            path: format!("uagv/{major}/{manufacturer}/#"),
            qos: QoS::AtLeastOnce,
        });
        client.subscribe_many(filters).await.unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let sink = seen.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let levels: Vec<&str> = p.topic.split('/').collect();
                        let kind = levels.last().and_then(|k| TopicKind::from_level(k));
                        let serial = levels.get(3).unwrap_or(&"").to_string();
                        let json = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        sink.lock().unwrap().push(Seen {
                            topic: p.topic.clone(),
                            kind,
                            serial,
                            json,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), subscribed)
            .await
            .expect("the capture subscribed")
            .unwrap();
        Capture { seen, client }
    }

    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// What floorgate published (orders and instant actions), in order.
    pub fn sent_by_floorgate(&self) -> Vec<Seen> {
        self.all()
            .into_iter()
            .filter(|s| matches!(s.kind, Some(TopicKind::Order | TopicKind::InstantActions)))
            .collect()
    }

    /// The orders floorgate sent to `serial`.
    pub fn orders_to(&self, serial: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|s| s.kind == Some(TopicKind::Order) && s.serial == serial)
            .map(|s| s.json)
            .collect()
    }
}

/// The official JSON schemas of one version.
pub struct Schemas {
    pub version: ProtocolVersion,
    validators: Vec<(TopicKind, jsonschema::Validator)>,
}

impl Schemas {
    pub fn load(version: ProtocolVersion) -> Schemas {
        let validators = crate::common::vda5050_validators(version);
        Schemas {
            version,
            validators,
        }
    }

    /// Panics with every schema error of `seen`.
    pub fn check(&self, seen: &Seen) {
        let kind = seen.kind.expect("a VDA 5050 topic");
        let (_, v) = self
            .validators
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("a schema for the topic");
        let errors: Vec<String> = v
            .iter_errors(&seen.json)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} is not valid VDA 5050 {}: {errors:#?}\n{:#}",
            seen.topic,
            self.version,
            seen.json
        );
        assert_eq!(
            seen.json["version"],
            self.version.header_version(),
            "{}",
            seen.topic
        );
    }
}

/// Checks every message of `seen` against the schemas of its robot (by serial) and that it
/// travelled under its version's topic level; panics naming the first that is not valid.
pub fn check_each_in_its_version(seen: &[Seen], schemas: &[(&str, Schemas)]) {
    for s in seen {
        let (_, schema) = schemas
            .iter()
            .find(|(serial, _)| *serial == s.serial)
            .unwrap_or_else(|| panic!("a message of {}", s.serial));
        let major = schema.version.topic_major();
        assert!(
            s.topic.starts_with(&format!("uagv/{major}/")),
            "{}",
            s.topic
        );
        schema.check(s);
    }
}

/// Shuts the fleet down (bounded).
pub async fn stop_fleet(fleet: Fleet) {
    fleet.shutdown(Duration::from_secs(2)).await;
}

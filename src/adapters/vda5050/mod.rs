//! AMRs over VDA 5050 (2.0, 2.1 and 3.0, the version a property of each robot's profile) and
//! MQTT: floorgate as the robots' master control, behind the engine's [`DeviceAdapter`].
//!
//! * One MQTT client for the whole fleet ([`link`]), subscribed to the `state`,
//!   `connection` and `factsheet` topics of every AMR in the site file. The client
//!   reconnects by itself. The broker link going down and up is reported once, as the
//!   availability of the endpoint [`BROKER_ENDPOINT`]; the robots keep theirs across the
//!   gateway's own reconnect until their `connection` or `state` speaks, or
//!   `reconnect_grace_secs` passes with neither (`robot/link.rs`).
//! * A device's `address` is `manufacturer/serialNumber`, or the serial number alone with
//!   the manufacturer from its profile (`devices/<profile>.toml`, which also gives the
//!   protocol version, topics, base length and supported actions).
//! * Each robot is a [`robot::Robot`]: a state machine without IO that turns messages,
//!   commands and time into messages to publish and reports (its `//!` note walks a
//!   command's life: order, re-send until echoed, updates, completion, cancel, restart).
//! * [`plan`] builds the order of a `transport` command on the site's layout, with an
//!   order id derived from the command id, so a re-send after a restart is the same order.
//! * Incoming payloads that do not decode (malformed JSON, a wrong type, an unknown enum
//!   value, an unsupported version) are counted ([`Vda5050Adapter::malformed_messages`],
//!   `floorgate_telemetry_dropped_total{reason="malformed_vda5050"}`) and ignored; payloads
//!   larger than the profile's `max_message_bytes` are dropped undecoded and counted
//!   (`reason="oversized"`). The log names the robot once per robot, topic and reason, then
//!   summarises the repeats with their count every minute
//!   ([`floorgate_protocols::ratelimit::KeyedLimiter`]); the counters stay exact.
//! * Publishing happens under the fleet lock with `try_publish`, so the messages of one
//!   robot leave in the order they were decided (an update never overtakes a re-send of
//!   the message before it).
//!
//! `send` and `stop` have three outcomes ([`robot::Sent`]): `Ok` once the order (or the
//! cancel) is on the wire, the robot already holds it, or the outcome is decided;
//! `TransportError::not_sent` when nothing could be queued to the broker (the broker or the
//! robot unreachable, the client gone: a `send` is then withdrawn, the robot never had it);
//! `TransportError::unconfirmed` when the robot has not been heard from since the gateway
//! started within [`SETTLE_WAIT`] (it may hold the command from before a restart; the job
//! stays and goes on once its state arrives). The order is re-sent until echoed; a robot
//! that drops off mid-order for `offline_timeout_secs` makes the step's outcome unknown
//! (`DeviceReport::OutcomeUnknown`) until it is back and its state decides.
//!
//! What decides a command's outcome is the robot's own state, never floorgate's guess:
//! `robot/job.rs` (`Robot::follow_order`) for a running command, `robot/cancel.rs`
//! (`Robot::follow_stop`) for one being stopped — a drop FINISHED completes it even with a
//! cancel pending or refused.
//!
//! `operate` (operator commands: pause, resume, stop, reset) hands the robot a request
//! number and waits for its [`robot::Operated`] answer, which the state machine gives from
//! the robot's state or its own clock (`robot/operate.rs`). The engine-facing side —
//! `send`, `stop`, `operate` — is `commands.rs`.

mod commands;
mod link;
pub mod plan;
pub mod robot;
#[cfg(test)]
mod tests;
mod traffic;
mod view;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{AdapterContext, AdapterError};
use crate::admin::{Condition, Metrics};
use crate::config::MqttSection;
use crate::engine::adapter::{DeviceReport, ReportSink, TransportError};
use crate::engine::model::DeviceKind;
use crate::engine::site::Site;
use crate::vda5050::codec::check_version;
use crate::vda5050::topic::check_level;
use crate::vda5050::{
    decode, decode_in_place, AmrProfile, Connection, DecodeError, Factsheet, State, TopicKind,
};
pub use commands::{OPERATE_TIMEOUT, SETTLE_WAIT};
use floorgate_protocols::ratelimit::KeyedLimiter;
use robot::{Operated, Out, Robot, Timing};
use traffic::FleetTraffic;
pub use traffic::RobotTraffic;
pub use view::RobotPosition;

const KINDS: [DeviceKind; 1] = [DeviceKind::Amr];

/// The endpoint name of the broker in readiness and `floorgate_connection_up`.
pub const BROKER_ENDPOINT: &str = "mqtt:broker";

/// The adapter for every AMR of the site.
pub struct Vda5050Adapter {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Vda5050Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vda5050Adapter")
            .field("robots", &self.shared.lock().robots.len())
            .finish()
    }
}

/// What the link task, the ticker and the adapter share.
struct Shared {
    core: Mutex<Fleet>,
    client: rumqttc::AsyncClient,
    sink: ReportSink,
    metrics: Metrics,
    /// Met the first time the broker is reached.
    reached: Condition,
    malformed: AtomicU64,
    /// Connections to the broker made (1 once connected; each reconnect adds one).
    connects: AtomicU64,
    closing: AtomicBool,
    /// Operator commands waiting for their robot's answer, by request number.
    waiters: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Operated>>>,
    next_request: AtomicU64,
}

/// The robots, and which topic belongs to whom.
struct Fleet {
    robots: Vec<Robot>,
    by_device: HashMap<String, usize>,
    by_topic: HashMap<String, (usize, TopicKind)>,
    /// Every robot's `state` is decoded into this one (see [`take_state`]).
    scratch: Option<State>,
    /// Warnings about dropped messages, per robot (index), topic and reason.
    warnings: KeyedLimiter<(usize, TopicKind, &'static str)>,
    /// Traffic control (`None`: off, or no layout).
    traffic: Option<FleetTraffic>,
}

impl Fleet {
    /// Robot `i` took an input: traffic control follows it, and its zones (3.0) with it.
    /// Robots that wait for one whose holdings this changed are asked for at once (a
    /// follower moves up as soon as its leader's state says it left a node, not at the
    /// next tick), in the allocator's order (the longest-waiting first), and so on down the
    /// queue: each robot at most once per input.
    fn follow_traffic(&mut self, i: usize, now: Instant, out: &mut Vec<Out>) {
        self.follow_one(i, now, out);
        let Some(t) = &mut self.traffic else {
            return;
        };
        let mut woken = std::collections::VecDeque::from(t.alloc.take_woken());
        if woken.is_empty() {
            return;
        }
        let mut done = vec![i];
        while let Some(id) = woken.pop_front() {
            let Some(&j) = self.by_device.get(&id) else {
                continue;
            };
            if done.contains(&j) {
                continue;
            }
            done.push(j);
            self.follow_one(j, now, out);
            if let Some(t) = &mut self.traffic {
                woken.extend(t.alloc.take_woken());
            }
        }
    }

    fn follow_one(&mut self, i: usize, now: Instant, out: &mut Vec<Out>) {
        if let Some(t) = &mut self.traffic {
            t.follow(&mut self.robots[i], now, out);
        }
        let alloc = self.traffic.as_mut().map(|t| &mut t.alloc);
        self.robots[i].follow_zones(alloc, now, out);
    }
}

/// Why a message from a robot did not decode: the key of its rate-limited warning (the
/// metric counts them all as `malformed_vda5050`).
fn drop_reason(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::Syntax { .. } => "syntax",
        DecodeError::Invalid { .. } => "invalid",
        DecodeError::UnsupportedVersion(_) => "unsupported_version",
    }
}

/// The hot path: a `state` payload decoded into `scratch`, the one buffer shared by the
/// fleet (hot in cache, its strings and lists reused: `decode_in_place`), then handed to
/// the robot, which copies what changed (`robot/seen.rs`). A payload that does not decode
/// leaves `scratch` half-written and the robot untouched.
fn take_state(
    robot: &mut Robot,
    scratch: &mut Option<State>,
    payload: &[u8],
    now: Instant,
    out: &mut Vec<Out>,
) -> Result<(), DecodeError> {
    let s = match scratch {
        Some(s) => {
            decode_in_place(payload, s)?;
            s
        }
        None => scratch.insert(decode(payload)?),
    };
    check_version(&s.version)?;
    robot.on_state(s, now, out);
    Ok(())
}

impl Vda5050Adapter {
    /// Connects to the broker of `mqtt` and follows every AMR of `site`, with profiles from
    /// `profiles_dir`. Must be called inside a tokio runtime.
    pub fn start(
        site: &Site,
        profiles_dir: &Path,
        mqtt: &MqttSection,
        cx: &AdapterContext,
    ) -> Result<Vda5050Adapter, AdapterError> {
        let timing = Timing {
            resend: Duration::from_millis(mqtt.resend_interval_ms.max(10)),
            offline_timeout: Duration::from_secs(mqtt.offline_timeout_secs),
            operate_timeout: OPERATE_TIMEOUT,
            reconnect_grace: Duration::from_secs(mqtt.reconnect_grace_secs),
        };
        if site.layout.is_none() {
            tracing::warn!("the site file has no [layout]: AMR commands will fail");
        }
        let mut profiles: HashMap<String, Arc<AmrProfile>> = HashMap::new();
        let mut fleet = Fleet {
            robots: Vec::new(),
            by_device: HashMap::new(),
            by_topic: HashMap::new(),
            scratch: None,
            warnings: KeyedLimiter::default(),
            traffic: site.traffic.as_deref().map(FleetTraffic::new),
        };
        for d in site.devices.values().filter(|d| d.kind == DeviceKind::Amr) {
            let err = |message: String| AdapterError::Device {
                device: d.id.clone(),
                message,
            };
            let profile = match profiles.get(&d.profile) {
                Some(p) => p.clone(),
                None => {
                    let path = profiles_dir.join(format!("{}.toml", d.profile));
                    let p = Arc::new(AmrProfile::load(&path).map_err(|e| err(e.to_string()))?);
                    profiles.insert(d.profile.clone(), p.clone());
                    p
                }
            };
            let (manufacturer, serial) = parse_address(&d.address, &profile).map_err(err)?;
            let robot = Robot::new(
                &d.id,
                &manufacturer,
                &serial,
                profile,
                site.layout.clone(),
                timing,
            );
            let mut robot = robot;
            if fleet.traffic.is_some() {
                robot.control_traffic();
            }
            let index = fleet.robots.len();
            for kind in [
                TopicKind::State,
                TopicKind::Connection,
                TopicKind::Factsheet,
            ] {
                if let Some((other, _)) = fleet.by_topic.insert(robot.topic(kind), (index, kind)) {
                    return Err(err(format!(
                        "same manufacturer and serial number as {}",
                        fleet.robots[other].device_id()
                    )));
                }
            }
            fleet.by_device.insert(d.id.clone(), index);
            fleet.robots.push(robot);
        }
        let subscriptions = fleet
            .robots
            .iter()
            .flat_map(Robot::subscriptions)
            .collect::<Vec<_>>();
        let (client, events) =
            link::connect(mqtt, fleet.robots.len()).map_err(|message| AdapterError::Broker {
                broker: mqtt.broker.clone(),
                message,
            })?;
        let shared = Arc::new(Shared {
            core: Mutex::new(fleet),
            client,
            sink: cx.sink.clone(),
            metrics: cx.metrics.clone(),
            reached: cx.readiness.require(BROKER_ENDPOINT),
            malformed: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            waiters: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
        });
        let tick = (timing.resend / 4).clamp(Duration::from_millis(20), Duration::from_millis(250));
        let tasks = vec![
            tokio::spawn(link::run(
                shared.clone(),
                events,
                subscriptions,
                mqtt.broker.clone(),
            )),
            tokio::spawn(tick_loop(shared.clone(), tick)),
        ];
        Ok(Vda5050Adapter {
            shared,
            tasks: Mutex::new(tasks),
        })
    }

    /// Incoming messages that could not be decoded, from all robots.
    pub fn malformed_messages(&self) -> u64 {
        self.shared.malformed.load(Ordering::Relaxed)
    }

    /// Connections to the broker made so far (a reconnect adds one).
    pub fn broker_connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// Incoming messages from `device_id` that could not be decoded.
    pub fn malformed_messages_from(&self, device_id: &str) -> Option<u64> {
        let core = self.shared.lock();
        core.by_device
            .get(device_id)
            .map(|&i| core.robots[i].malformed)
    }

    /// Whether `device_id`'s factsheet has arrived (`None`: not an AMR of this site).
    pub fn has_factsheet(&self, device_id: &str) -> Option<bool> {
        let core = self.shared.lock();
        core.by_device
            .get(device_id)
            .map(|&i| core.robots[i].has_factsheet())
    }

    /// What traffic control shows of `device_id` (`None`: not an AMR of this site, or
    /// traffic control is off or has not placed it yet).
    pub fn traffic(&self, device_id: &str) -> Option<RobotTraffic> {
        self.shared.lock().traffic.as_ref()?.robot(device_id)
    }

    /// Traffic control's counters (`None`: off).
    pub fn traffic_counters(&self) -> Option<crate::traffic::Counters> {
        let now = Instant::now();
        Some(self.shared.lock().traffic.as_ref()?.counters(now))
    }

    /// Disconnects from the broker and stops the adapter's tasks.
    pub async fn close(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        let _ = self.shared.client.try_disconnect();
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let mut tasks = tasks.into_iter();
        if let Some(link) = tasks.next() {
            let abort = link.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), link)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for t in tasks {
            t.abort();
        }
    }
}

impl Drop for Vda5050Adapter {
    fn drop(&mut self) {
        for t in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// `manufacturer/serialNumber`, or a serial number with the profile's manufacturer.
pub fn parse_address(address: &str, profile: &AmrProfile) -> Result<(String, String), String> {
    let (manufacturer, serial) = match address.split_once('/') {
        Some((m, s)) => (m, s),
        None => (profile.manufacturer.as_str(), address),
    };
    for level in [manufacturer, serial] {
        check_level(level).map_err(|_| {
            format!("address {address:?} is not `manufacturer/serialNumber` or `serialNumber` (no '/', '+', '#', '$', not empty)")
        })?;
    }
    Ok((manufacturer.to_string(), serial.to_string()))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Fleet> {
        // A panic while holding the lock is a bug; the fleet's state stays usable.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the fleet and carries out what it decided, under the lock; also says
    /// whether every message could be queued to the broker.
    fn with_fleet<T>(&self, f: impl FnOnce(&mut Fleet, Instant, &mut Vec<Out>) -> T) -> (T, bool) {
        let mut core = self.lock();
        let mut out = Vec::new();
        let result = f(&mut core, Instant::now(), &mut out);
        let mut queued = true;
        for o in out {
            match o {
                Out::Publish {
                    topic,
                    qos,
                    payload,
                } => {
                    if let Err(e) = self
                        .client
                        .try_publish(&topic, link::qos(qos), false, payload)
                    {
                        queued = false;
                        tracing::warn!(%topic, error = %e, "could not queue an MQTT message");
                    }
                }
                Out::Report(r) => self.sink.report(r),
                Out::Operated { request, result } => {
                    let waiter = self
                        .waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&request);
                    if let Some(tx) = waiter {
                        let _ = tx.send(result);
                    }
                }
            }
        }
        (result, queued)
    }

    fn on_publish(&self, topic: &str, payload: &[u8]) {
        self.with_fleet(|fleet, now, out| {
            let Some(&(i, kind)) = fleet.by_topic.get(topic) else {
                return;
            };
            self.metrics.telemetry_received();
            let robot = &mut fleet.robots[i];
            if payload.is_empty() {
                // A retained message being cleared.
                return;
            }
            if payload.len() > robot.max_message_bytes() {
                self.metrics.telemetry_dropped("oversized");
                let (size, max) = (payload.len(), robot.max_message_bytes());
                let id = robot.device_id();
                fleet
                    .warnings
                    .warn(&(i, kind, "oversized"), now, |n| match n {
                        0 => tracing::warn!(device_id = %id, topic = %kind, size, max,
                        "dropped a message larger than the profile's max_message_bytes"),
                        n => tracing::warn!(device_id = %id, topic = %kind, max, repeats = n,
                        "dropped {n} more messages larger than the profile's max_message_bytes"),
                    });
                return;
            }
            let outcome = match kind {
                TopicKind::State => take_state(robot, &mut fleet.scratch, payload, now, out),
                TopicKind::Connection => decode::<Connection>(payload).and_then(|c| {
                    check_version(&c.header.version)?;
                    robot.on_connection(c, now, out);
                    Ok(())
                }),
                TopicKind::Factsheet => decode::<Factsheet>(payload).map(|f| robot.on_factsheet(f)),
                _ => Ok(()),
            };
            if outcome.is_ok() && kind != TopicKind::Factsheet {
                fleet.follow_traffic(i, now, out);
            }
            let robot = &mut fleet.robots[i];
            if let Err(e) = outcome {
                robot.malformed += 1;
                self.malformed.fetch_add(1, Ordering::Relaxed);
                self.metrics.telemetry_dropped("malformed_vda5050");
                let id = robot.device_id();
                fleet
                    .warnings
                    .warn(&(i, kind, drop_reason(&e)), now, |n| match n {
                        0 => tracing::warn!(device_id = %id, topic = %kind, error = %e,
                            "ignored a message that is not valid VDA 5050"),
                        n => tracing::warn!(device_id = %id, topic = %kind, error = %e,
                            repeats = n, "ignored {n} more messages that are not valid VDA 5050"),
                    });
            }
        });
    }

    /// Summaries of the dropped-message warnings that repeated (see [`KeyedLimiter::flush`]).
    fn flush_warnings(fleet: &mut Fleet, now: Instant) {
        let Fleet {
            warnings, robots, ..
        } = fleet;
        warnings.flush(now, |&(i, kind, reason), n| {
            let id = robots.get(i).map(Robot::device_id).unwrap_or_default();
            tracing::warn!(device_id = %id, topic = %kind, reason, repeats = n,
                "dropped {n} more messages from the robot in the last minute");
        });
    }

    /// The broker link went up or down: reported once, as the availability of
    /// [`BROKER_ENDPOINT`]; each robot decides its own (it holds it across a reconnect).
    fn on_broker(&self, up: bool, reason: &str) {
        self.metrics.set_connection_up(BROKER_ENDPOINT, up);
        if up {
            self.reached.met();
            self.connects.fetch_add(1, Ordering::Relaxed);
        }
        self.sink.report(DeviceReport::Link {
            endpoint: BROKER_ENDPOINT.to_string(),
            up,
            reason: reason.to_string(),
        });
        self.with_fleet(|fleet, now, out| {
            for r in &mut fleet.robots {
                r.on_broker(up, now, out);
            }
        });
    }

    /// Runs `f` on robot `device_id`; also says whether every message could be queued.
    fn with_robot<T>(
        &self,
        device_id: &str,
        f: impl FnOnce(&mut Robot, Instant, &mut Vec<Out>) -> T,
    ) -> Result<(T, bool), TransportError> {
        let (result, queued) = self.with_fleet(|fleet, now, out| {
            let &i = fleet.by_device.get(device_id).ok_or_else(|| {
                TransportError::not_sent(device_id.to_string(), "not an AMR of this site")
            })?;
            let result = f(&mut fleet.robots[i], now, out);
            fleet.follow_traffic(i, now, out);
            Ok(result)
        });
        result.map(|r| (r, queued))
    }
}

async fn tick_loop(shared: Arc<Shared>, period: Duration) {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        shared.with_fleet(|fleet, now, out| {
            for i in 0..fleet.robots.len() {
                fleet.robots[i].tick(now, out);
                if fleet.robots[i].traffic_due_on_tick() {
                    fleet.follow_traffic(i, now, out);
                }
            }
            if let Some(t) = &mut fleet.traffic {
                t.duties(&mut fleet.robots, now, out);
                let c = t.counters(now);
                shared.metrics.set_traffic(
                    c.resources_held,
                    c.robots_blocked,
                    c.blocked_seconds,
                    c.replans,
                    c.deadlocks_resolved,
                );
            }
            Shared::flush_warnings(fleet, now);
        });
    }
}

impl crate::engine::adapter::TrafficView for Vda5050Adapter {
    fn traffic(&self, device_id: &str) -> Option<crate::engine::adapter::DeviceTraffic> {
        let t = Vda5050Adapter::traffic(self, device_id)?;
        Some(crate::engine::adapter::DeviceTraffic {
            held: t
                .holdings
                .resources()
                .iter()
                .map(traffic::resource_name)
                .collect(),
            waiting_for: t.waiting_for,
        })
    }
}

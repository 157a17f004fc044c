//! The IO shell of a simulated robot: one rumqttc client per robot, and a fleet of them.
//!
//! A 3.0 robot also subscribes to its `zoneSet` and `responses` topics. When it falls asleep
//! (`startHibernation`) it publishes the state reporting that, then HIBERNATING on the
//! connection topic (QoS 1, retained, like ONLINE) and no more state messages; waking, it
//! publishes ONLINE and states again. A hibernating robot that reconnects announces
//! HIBERNATING, not ONLINE.
//!
//! The robots of a [`Fleet`] share one [`World`]: each run loop advances its robot through
//! it every tick, so robots stop for each other ([`FleetConfig::physical`]) and the world
//! counts conflicts and blocked time ([`Fleet::world`]). A robot spawned alone with
//! [`RobotClient::spawn`] has a world of its own; [`RobotClient::spawn_in`] puts it on a
//! shared one.
//!
//! World fields of [`FleetConfig`]:
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `physical` | `true` | robots stop for each other; `false` ([`FleetConfig::pass_through`]): they pass through each other, conflicts still counted |
//! | `safety_distance_m` | 1.0 | how far ahead, centre to centre, the safety field stops a robot |
//! | `conflict_distance_m` | 0.5 | closer than this two robots touch (one conflict per encounter) |
//! | `time_lapse` | 1.0 | simulated time runs this many times faster than the wall clock: driving, picks and drops, battery; `state` still goes out on every change (and at least every `state_interval` of wall time) |

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use floorgate_protocols::vda5050::{
    decode, encode, Connection, ConnectionState, InstantActions, ProtocolVersion, Qos, State,
    TopicConfig, TopicKind,
};
use rumqttc::{AsyncClient, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::config::{default_instant_actions, RobotConfig, INSTANT_ACTIONS};
use super::record::Happened;
use super::robot::{Robot, RobotCounters};
use super::world::{SharedWorld, World, WorldConfig, WorldStats};

/// How the robots reach the broker and how often they report.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Number of robots.
    pub count: usize,
    /// `manufacturer` of all robots.
    pub manufacturer: String,
    /// Serial numbers are this prefix and a three-digit index.
    pub serial_prefix: String,
    /// Protocol version spoken (unless `versions` is given).
    pub version: ProtocolVersion,
    /// A mixed fleet: robot `i` speaks `versions[i % len]` (empty: all speak `version`).
    pub versions: Vec<ProtocolVersion>,
    /// Driving speed (m/s).
    pub speed: f64,
    /// Pick and drop duration (s).
    pub handling_s: f64,
    /// Start nodes (id, x, y), handed out round-robin; without any, robot `i` stands at
    /// (2·i, 0) on no node.
    pub start_nodes: Vec<(String, f64, f64)>,
    /// Topic naming and QoS.
    pub topics: TopicConfig,
    /// `state` is published on every change and at least this often.
    pub state_interval: Duration,
    /// Simulation step.
    pub tick: Duration,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// Instant actions the robots perform and declare in their factsheets (3.0 robots also
    /// perform [`super::config::V3_INSTANT_ACTIONS`]).
    pub instant_actions: Vec<String>,
    /// The robots read the instant-action array only under its 1.x name `instantActions`
    /// (a stack that wants the profile's `legacy_instant_actions`); default `false`: `actions`.
    pub legacy_instant_actions: bool,
    /// Robots stop for each other before they touch (default `true`); `false`: they pass
    /// through each other (see [`World`]).
    pub physical: bool,
    /// How far ahead, centre to centre, the safety field stops a robot (m).
    pub safety_distance_m: f64,
    /// Closer than this, centre to centre, two robots touch: a conflict (m).
    pub conflict_distance_m: f64,
    /// Simulated time runs this many times faster than the wall clock (driving, picks and
    /// drops, battery); `state` still goes out on every change.
    pub time_lapse: f64,
}

impl FleetConfig {
    /// `count` robots on `host:port`, version 2.1, 2 m/s, 1 s picks and drops.
    pub fn new(host: &str, port: u16, count: usize) -> Self {
        FleetConfig {
            host: host.to_string(),
            port,
            count,
            manufacturer: "floorgate-sim".into(),
            serial_prefix: "amr-".into(),
            version: ProtocolVersion::V2_1,
            versions: Vec::new(),
            speed: 2.0,
            handling_s: 1.0,
            start_nodes: Vec::new(),
            topics: TopicConfig::default(),
            state_interval: Duration::from_secs(30),
            tick: Duration::from_millis(50),
            keep_alive: Duration::from_secs(5),
            instant_actions: INSTANT_ACTIONS.iter().map(|a| a.to_string()).collect(),
            legacy_instant_actions: false,
            physical: true,
            safety_distance_m: 1.0,
            conflict_distance_m: 0.5,
            time_lapse: 1.0,
        }
    }

    /// The same fleet with robots that pass through each other (`physical = false`): the
    /// contention-free upper bound.
    pub fn pass_through(mut self) -> Self {
        self.physical = false;
        self
    }

    /// The world the fleet's robots share.
    pub fn world_config(&self) -> WorldConfig {
        WorldConfig {
            physical: self.physical,
            safety_distance_m: self.safety_distance_m,
            conflict_distance_m: self.conflict_distance_m,
        }
    }

    /// [`FleetConfig::time_lapse`], or 1 when it is not a positive number.
    fn lapse(&self) -> f64 {
        if self.time_lapse.is_finite() && self.time_lapse > 0.0 {
            self.time_lapse
        } else {
            1.0
        }
    }

    /// The protocol version robot `i` speaks.
    pub fn version_of(&self, i: usize) -> ProtocolVersion {
        match self.versions.len() {
            0 => self.version,
            n => self.versions[i % n],
        }
    }

    /// The robot configuration of robot `i`.
    pub fn robot_config(&self, i: usize) -> RobotConfig {
        let serial = format!("{}{i:03}", self.serial_prefix);
        let version = self.version_of(i);
        let mut cfg = RobotConfig::new(&self.manufacturer, &serial, version);
        cfg.speed = self.speed;
        cfg.pick_duration_s = self.handling_s;
        cfg.drop_duration_s = self.handling_s;
        cfg.instant_actions = default_instant_actions(version, &self.instant_actions);
        match self.start_nodes.get(i % self.start_nodes.len().max(1)) {
            Some((id, x, y)) => cfg.at_node(id, *x, *y),
            None => {
                cfg.start_x = 2.0 * i as f64;
                cfg
            }
        }
    }
}

enum Control {
    Disconnect,
    Reconnect,
    Shutdown,
}

/// A running robot: read its state and counters, inject faults.
#[derive(Debug, Clone)]
pub struct RobotHandle {
    serial_number: String,
    robot: Arc<Mutex<Robot>>,
    control: mpsc::UnboundedSender<ControlMsg>,
}

fn lock_world(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

struct ControlMsg(Control);

impl std::fmt::Debug for ControlMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlMsg")
    }
}

impl RobotHandle {
    /// The robot's serial number.
    pub fn serial_number(&self) -> &str {
        &self.serial_number
    }

    fn lock(&self) -> MutexGuard<'_, Robot> {
        // A panic while holding the lock is a bug in the simulator; keep going with its state.
        self.robot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counters (orders accepted/ignored/rejected, picks and drops per load).
    pub fn counters(&self) -> RobotCounters {
        self.lock().counters().clone()
    }

    /// What the robot really did, in order (its own record).
    pub fn record(&self) -> Vec<Happened> {
        self.lock().record().to_vec()
    }

    /// Seconds (simulated) its safety field held the robot.
    pub fn blocked_secs(&self) -> f64 {
        self.lock().blocked_secs()
    }

    /// The current state (without consuming a header id).
    pub fn snapshot(&self) -> State {
        self.lock().snapshot()
    }

    /// Runs `f` on the robot.
    pub fn with_robot<T>(&self, f: impl FnOnce(&mut Robot) -> T) -> T {
        f(&mut self.lock())
    }

    /// Fault injection: battery charge (%).
    pub fn inject_low_battery(&self, charge: f64) {
        self.lock().set_battery(charge);
    }

    /// Fault injection: a FATAL error.
    pub fn inject_fatal(&self, error_type: &str) {
        self.lock().inject_fatal(error_type, "injected fault");
    }

    /// Test hook: the robot falls asleep as if it had received `startHibernation` (its order
    /// cleared, no action to report): it publishes HIBERNATING and no state messages until
    /// `stopHibernation` comes on its `instantActions` topic.
    pub fn hibernate(&self) {
        self.lock().hibernate();
    }

    /// Whether the robot hibernates.
    pub fn is_hibernating(&self) -> bool {
        self.lock().is_hibernating()
    }

    /// Clears all errors.
    pub fn clear_errors(&self) {
        self.lock().clear_errors();
    }

    /// Fault injection: drops the TCP connection without an MQTT DISCONNECT, so the broker
    /// publishes the robot's last will (CONNECTIONBROKEN). The robot keeps driving offline.
    pub fn disconnect(&self) {
        let _ = self.control.send(ControlMsg(Control::Disconnect));
    }

    /// Connects again after [`RobotHandle::disconnect`].
    pub fn reconnect(&self) {
        let _ = self.control.send(ControlMsg(Control::Reconnect));
    }

    /// Goes offline gracefully: publishes OFFLINE, then disconnects.
    pub fn shutdown(&self) {
        let _ = self.control.send(ControlMsg(Control::Shutdown));
    }
}

/// Connects one robot to the broker and runs it.
#[derive(Debug)]
pub struct RobotClient;

impl RobotClient {
    /// Spawns the robot's task on the current tokio runtime, on a world of its own.
    pub fn spawn(robot: Robot, cfg: &FleetConfig) -> (RobotHandle, JoinHandle<()>) {
        RobotClient::spawn_in(robot, cfg, &World::shared(cfg.world_config()))
    }

    /// Spawns the robot's task on the current tokio runtime, on `world` (shared with other
    /// robots; its own configuration applies, not `cfg`'s world fields).
    pub fn spawn_in(
        robot: Robot,
        cfg: &FleetConfig,
        world: &SharedWorld,
    ) -> (RobotHandle, JoinHandle<()>) {
        let serial_number = robot.config().serial_number.clone();
        let index = lock_world(world).add(&robot);
        let robot = Arc::new(Mutex::new(robot));
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(robot.clone(), cfg.clone(), rx, world.clone(), index));
        (
            RobotHandle {
                serial_number,
                robot,
                control: tx,
            },
            task,
        )
    }
}

/// Many robots in one process.
#[derive(Debug)]
pub struct Fleet {
    robots: Vec<RobotHandle>,
    tasks: Vec<JoinHandle<()>>,
    world: SharedWorld,
}

impl Fleet {
    /// Spawns `cfg.count` robots on the current tokio runtime, on one world.
    pub fn spawn(cfg: &FleetConfig) -> Fleet {
        let world = World::shared(cfg.world_config());
        let (robots, tasks) = (0..cfg.count)
            .map(|i| RobotClient::spawn_in(Robot::new(cfg.robot_config(i)), cfg, &world))
            .unzip();
        Fleet {
            robots,
            tasks,
            world,
        }
    }

    /// What the fleet's world counted so far: conflicts, blocked seconds, safety stops.
    pub fn world(&self) -> WorldStats {
        lock_world(&self.world).stats()
    }

    /// The world the robots share.
    pub fn shared_world(&self) -> &SharedWorld {
        &self.world
    }

    /// The robots, in index order.
    pub fn robots(&self) -> &[RobotHandle] {
        &self.robots
    }

    /// Robot `i`.
    pub fn robot(&self, i: usize) -> &RobotHandle {
        &self.robots[i]
    }

    /// The robot with this serial number.
    pub fn by_serial(&self, serial: &str) -> Option<&RobotHandle> {
        self.robots.iter().find(|r| r.serial_number == serial)
    }

    /// Takes every robot offline gracefully and waits (at most `grace`) for them.
    pub async fn shutdown(self, grace: Duration) {
        for r in &self.robots {
            r.shutdown();
        }
        let all = futures_join(self.tasks);
        let _ = tokio::time::timeout(grace, all).await;
    }
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// One connection. rumqttc's `EventLoop::poll` is not cancel-safe while it connects (a
/// dropped poll drops the half-open connection, and the broker publishes the last will), so
/// the event loop runs in a task of its own and its events come through a channel, which the
/// robot's `select!` can wait on safely.
struct Link {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    poller: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        // Dropping the event loop closes the socket without a DISCONNECT packet.
        self.poller.abort();
    }
}

/// An `instantActions` payload as the robot reads it: under `actions`, or, for a `legacy`
/// robot, only under the 1.x name `instantActions`.
fn instant_actions(payload: &[u8], legacy: bool) -> Option<InstantActions> {
    if !legacy {
        return decode(payload).ok();
    }
    let renamed = floorgate_protocols::vda5050::v3::from_legacy_instant_actions(payload);
    (renamed != payload)
        .then(|| decode(&renamed).ok())
        .flatten()
}

fn connect(robot: &Mutex<Robot>, cfg: &FleetConfig) -> Link {
    let mut r = robot.lock().unwrap_or_else(|p| p.into_inner());
    let (manufacturer, serial, version) = (
        r.config().manufacturer.clone(),
        r.config().serial_number.clone(),
        r.config().version,
    );
    let topic = cfg
        .topics
        .topic_for(version, &manufacturer, &serial, TopicKind::Connection);
    let will = Connection {
        header: r.next_header(TopicKind::Connection),
        connection_state: ConnectionState::ConnectionBroken,
    };
    let mut opts = MqttOptions::new(format!("{manufacturer}-{serial}"), &cfg.host, cfg.port);
    opts.set_keep_alive(cfg.keep_alive)
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_last_will(LastWill::new(topic, encode(&will), QoS::AtLeastOnce, true));
    let (client, mut eventloop) = AsyncClient::new(opts, 256);
    let (tx, events) = mpsc::unbounded_channel();
    let poller = tokio::spawn(async move {
        loop {
            let event = eventloop.poll().await;
            let failed = event.is_err();
            if tx.send(event).is_err() {
                return;
            }
            if failed {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    Link {
        client,
        events,
        poller,
    }
}

async fn run(
    robot: Arc<Mutex<Robot>>,
    cfg: FleetConfig,
    mut control: mpsc::UnboundedReceiver<ControlMsg>,
    world: SharedWorld,
    index: usize,
) {
    let lapse = cfg.lapse();
    let (manufacturer, serial, version) = {
        let r = robot.lock().unwrap_or_else(|p| p.into_inner());
        (
            r.config().manufacturer.clone(),
            r.config().serial_number.clone(),
            r.config().version,
        )
    };
    let topic = |k| cfg.topics.topic_for(version, &manufacturer, &serial, k);
    let mut link = Some(connect(&robot, &cfg));
    let mut ticker = tokio::time::interval(cfg.tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    let mut last_state = Instant::now();
    let mut online = false;
    loop {
        let polled = async {
            match link.as_mut() {
                Some(l) => l.events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = polled => match ev {
                Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    let l = link.as_ref().expect("polled a link");
                    let _ = l.client.try_subscribe(topic(TopicKind::Order), qos(cfg.topics.qos(TopicKind::Order)));
                    let _ = l.client.try_subscribe(
                        topic(TopicKind::InstantActions),
                        qos(cfg.topics.qos(TopicKind::InstantActions)),
                    );
                    for kind in [TopicKind::ZoneSet, TopicKind::Responses] {
                        if kind.exists_in(version) {
                            let _ = l.client.try_subscribe(topic(kind), qos(cfg.topics.qos(kind)));
                        }
                    }
                    let online_msg = {
                        let mut r = robot.lock().unwrap_or_else(|p| p.into_inner());
                        // What it is now is announced; an earlier change need not follow.
                        let _ = r.take_connection_change();
                        Connection { header: r.next_header(TopicKind::Connection), connection_state: r.connection_state() }
                    };
                    let _ = l.client.try_publish(topic(TopicKind::Connection), QoS::AtLeastOnce, true, encode(&online_msg));
                    online = true;
                    robot.lock().unwrap_or_else(|p| p.into_inner()).changed = true;
                }
                Some(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let kind = cfg.topics.parse(&p.topic).ok().map(|t| t.kind);
                    let mut r = robot.lock().unwrap_or_else(|p| p.into_inner());
                    match kind {
                        Some(TopicKind::Order) => {
                            let _ = r.handle_order_payload(&p.payload);
                        }
                        Some(TopicKind::InstantActions) => {
                            if let Some(ia) = instant_actions(&p.payload, cfg.legacy_instant_actions) {
                                r.handle_instant_actions(ia);
                            }
                        }
                        Some(TopicKind::ZoneSet) => {
                            let _ = r.handle_zone_set_payload(&p.payload);
                        }
                        Some(TopicKind::Responses) => r.handle_responses_payload(&p.payload),
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(robot = %serial, error = %e, "mqtt connection error");
                    online = false;
                }
                None => {}
            },
            _ = ticker.tick() => {
                let now = Instant::now();
                let dt = (now - last_tick).mul_f64(lapse);
                last_tick = now;
                // The world first, then the robot: nothing locks them the other way round.
                let mut w = lock_world(&world);
                let mut r = robot.lock().unwrap_or_else(|p| p.into_inner());
                w.advance(index, &mut r, dt);
            }
            c = control.recv() => match c.map(|c| c.0) {
                Some(Control::Disconnect) => {
                    // Dropping the event loop closes the socket without a DISCONNECT packet.
                    link = None;
                    online = false;
                }
                Some(Control::Reconnect) => {
                    if link.is_none() {
                        link = Some(connect(&robot, &cfg));
                    }
                }
                Some(Control::Shutdown) | None => {
                    if let Some(mut l) = link.take() {
                        if online {
                            let msg = {
                                let mut r = robot.lock().unwrap_or_else(|p| p.into_inner());
                                Connection { header: r.next_header(TopicKind::Connection), connection_state: ConnectionState::Offline }
                            };
                            let _ = l.client.try_publish(topic(TopicKind::Connection), QoS::AtLeastOnce, true, encode(&msg));
                            let _ = l.client.try_disconnect();
                            let drain = async {
                                while let Some(Ok(ev)) = l.events.recv().await {
                                    if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                                        break;
                                    }
                                }
                            };
                            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                        }
                    }
                    return;
                }
            },
        }
        // Publish what is due.
        if let (Some(l), true) = (link.as_ref(), online) {
            let mut r = robot.lock().unwrap_or_else(|p| p.into_inner());
            let publish_connection = |r: &mut Robot| {
                if let Some(state) = r.take_connection_change() {
                    let msg = Connection {
                        header: r.next_header(TopicKind::Connection),
                        connection_state: state,
                    };
                    let _ = l.client.try_publish(
                        topic(TopicKind::Connection),
                        QoS::AtLeastOnce,
                        true,
                        encode(&msg),
                    );
                }
            };
            // ONLINE on waking before the first state; HIBERNATING after the last one.
            publish_connection(&mut r);
            let due = last_state.elapsed() >= cfg.state_interval;
            if r.publishes_state() && (r.take_changed() || due) {
                let state = r.state_message();
                last_state = Instant::now();
                let _ = l.client.try_publish(
                    topic(TopicKind::State),
                    qos(cfg.topics.qos(TopicKind::State)),
                    false,
                    encode(&state),
                );
            }
            publish_connection(&mut r);
            if r.take_factsheet_request() {
                let sheet = r.factsheet_message();
                let _ = l.client.try_publish(
                    topic(TopicKind::Factsheet),
                    qos(cfg.topics.qos(TopicKind::Factsheet)),
                    true,
                    encode(&sheet),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::instant_actions;
    use floorgate_protocols::vda5050::v3::legacy_instant_actions;
    use floorgate_protocols::vda5050::{
        encode, Action, BlockingType, HeaderFactory, InstantActions, ProtocolVersion, TopicKind,
    };

    #[test]
    fn a_legacy_robot_reads_instant_actions_only_under_the_1_x_name() {
        let mut h = HeaderFactory::new(ProtocolVersion::V3_0, "acme", "r1");
        let ia = InstantActions {
            header: h.next(TopicKind::InstantActions),
            actions: vec![Action::new("startPause", "p-1", BlockingType::None)],
        };
        let standard = encode(&ia);
        let legacy = legacy_instant_actions(&standard);
        assert_eq!(instant_actions(&standard, false), Some(ia.clone()));
        assert_eq!(instant_actions(&legacy, false), None);
        assert_eq!(instant_actions(&legacy, true), Some(ia));
        assert_eq!(instant_actions(&standard, true), None);
    }
}

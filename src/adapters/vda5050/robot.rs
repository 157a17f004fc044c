//! One AMR as master control sees it: its connection, last state and factsheet, the command
//! it carries out, the cancel in flight and the operator's instant actions. No IO: messages,
//! commands and time go in, messages to publish, reports for the engine and answers to
//! operator commands come out ([`Out`]).
//!
//! # A command's life
//!
//! 1. `send`: the job waits for the robot's `state` (asking with `stateRequest` if none was
//!    seen), and for any `cancelOrder` still in flight: no order goes out before that cancel
//!    is answered.
//! 2. If the state shows the robot already holds this command's order (a re-send after a
//!    restart), the plan is rebuilt from the order id ([`super::plan::start_of`]) and
//!    fast-forwarded to the robot's `orderUpdateId`: adopted, not restarted, so the pick
//!    happens once. Otherwise the order is planned from the robot's `lastNodeId`.
//! 3. The current message is re-published every `resend` (while the robot can hear) until
//!    the state echoes its `orderId`/`orderUpdateId`; the first echo is `Acknowledged`.
//! 4. Once the current message is echoed and the robot has passed the first node of it (or
//!    asks for a new base), the next part of the horizon is released by an order update.
//! 5. `Completed` once the drop is FINISHED and no node is left (an error the robot raises
//!    after that is its state now, not the command's outcome); `Failed` when the pick or drop
//!    FAILED, a FATAL error is active, or the robot rejected the order (an order warning
//!    referencing its `orderId`). A robot that stays offline longer than `offline_timeout`
//!    while it may hold the order (published, or never heard from since a restart) makes
//!    the command `OutcomeUnknown`, once per absence: the robot keeps its order per VDA 5050,
//!    and its state decides when it is back (its echo acknowledges again). A job that never
//!    left floorgate fails.
//!
//! `stop` sends `cancelOrder` and the robot's answer decides ([`cancel`]): the drop FINISHED
//! is `Completed` whatever became of the cancel, the cancel FINISHED is `Stopped`, a refused
//! or unanswered cancel is re-sent no more and the command follows the robot. A job never
//! published is stopped at once; a `stop` with no job in hand (after a restart) adopts the
//! robot's state first.
//!
//! The gateway's own broker link (held availability across a reconnect) is in [`link`].
//!
//! `send` and `stop` say where they stand on the link ([`Sent`]), which the adapter turns
//! into `Ok`, `TransportError::not_sent` or `TransportError::unconfirmed`. Operator commands
//! (`startPause`, `stopPause`, `cancelOrder` outside a command) are in [`operate`].

use std::sync::Arc;
use std::time::{Duration, Instant};

mod cancel;
mod job;
mod link;
mod operate;
mod seen;
mod traffic;
mod zones;

use crate::engine::adapter::{Availability, DeviceCommand, DeviceReport};
use crate::vda5050::order::action_types::{FACTSHEET_REQUEST, STATE_REQUEST};
use crate::vda5050::AmrProfile;
use crate::vda5050::{
    encode, Action, BlockingType, Connection, ConnectionState, Factsheet, HeaderFactory,
    InstantActions, LayoutGraph, Qos, State, TopicConfig, TopicKind,
};
use cancel::Cancel;
use job::Job;
pub use operate::Operated;
use operate::Operation;
use seen::Seen;

/// Something to do after an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Publish a message.
    Publish {
        /// The topic.
        topic: String,
        /// Its QoS.
        qos: Qos,
        /// The JSON payload.
        payload: Vec<u8>,
    },
    /// Tell the engine.
    Report(DeviceReport),
    /// The answer to operator command `request` ([`Robot::operate`]).
    Operated {
        /// The number the caller gave the command.
        request: u64,
        /// What the robot did.
        result: Operated,
    },
}

/// Timing of re-sends and offline tolerance.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Re-send an order (or instant action) this often until the state echoes it; the first
    /// wait between two `cancelOrder`s (it doubles).
    pub resend: Duration,
    /// How long a job waits for a robot that is offline.
    pub offline_timeout: Duration,
    /// How long an operator command waits for the robot's answer.
    pub operate_timeout: Duration,
    /// How long the robot keeps its availability across the gateway's own broker
    /// reconnects, waiting for its `connection` or `state` to say (0: offline at once).
    pub reconnect_grace: Duration,
}

/// Where a `send` or `stop` stands on the link, right after it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// On the wire, held by the robot already, waiting only behind a cancel in flight, or
    /// decided (reported): the robot's answer comes as a report.
    Accepted,
    /// The robot has not been heard from since the gateway started: whether it holds the
    /// command (sent before a restart) is not known yet. The job stays; it goes on once the
    /// robot's state arrives.
    Waiting,
    /// Nothing could be published: the robot or the broker is unreachable. A `send` is
    /// withdrawn (the robot never had it); a `stop` stays pending and goes out when the
    /// robot is back.
    Unreachable(String),
}

/// Order warnings that mean the robot refused an order message.
const REJECTIONS: [&str; 4] = [
    "orderError",
    "orderUpdateError",
    "noRouteError",
    "validationError",
];

/// One robot.
#[derive(Debug)]
pub struct Robot {
    device_id: String,
    profile: Arc<AmrProfile>,
    layout: Option<Arc<LayoutGraph>>,
    topics: TopicConfig,
    headers: HeaderFactory,
    timing: Timing,
    broker_up: bool,
    connection: Option<ConnectionState>,
    /// What the latest `state` said.
    state: Option<Seen>,
    factsheet: Option<Factsheet>,
    factsheet_asked: bool,
    state_asked: Option<Instant>,
    reported: Option<(Availability, String)>,
    position: Option<String>,
    job: Option<Job>,
    cancel: Option<Cancel>,
    /// Operator commands waiting for the robot's answer.
    operations: Vec<Operation>,
    offline_since: Option<Instant>,
    /// Since when the availability is held across a broker reconnect (see the module note).
    held_since: Option<Instant>,
    /// The broker link came back and the robot has not spoken since.
    unheard: bool,
    instant_seq: u64,
    /// Orders are released by traffic control (`robot/traffic.rs`).
    controlled: bool,
    /// An order of floorgate's own that moves the idle robot out of the way.
    errand: Option<job::Active>,
    errand_seq: u64,
    /// The order whose route the traffic allocator holds for this robot.
    traffic_order: Option<String>,
    /// The node traffic control last could not place the robot on (warned once).
    traffic_warned: Option<String>,
    /// Halted clear of the node it reports last (the first), with a follower on it: for
    /// traffic control it stands at the end of its lane (the second), where its next
    /// order starts.
    traffic_start: Option<(String, String)>,
    /// The status last given to the traffic allocator (it is told only of changes).
    traffic_status_sent: Option<crate::traffic::RobotStatus>,
    /// Zone sets offered and zone requests answered (3.0, `robot/zones.rs`).
    zones: zones::ZoneBook,
    /// Messages from this robot that could not be decoded.
    pub malformed: u64,
}

impl Robot {
    /// A robot not heard from yet.
    pub fn new(
        device_id: &str,
        manufacturer: &str,
        serial_number: &str,
        profile: Arc<AmrProfile>,
        layout: Option<Arc<LayoutGraph>>,
        timing: Timing,
    ) -> Self {
        Robot {
            device_id: device_id.to_string(),
            topics: profile.topics.clone(),
            headers: HeaderFactory::new(profile.protocol_version, manufacturer, serial_number),
            profile,
            layout,
            timing,
            broker_up: false,
            connection: None,
            state: None,
            factsheet: None,
            factsheet_asked: false,
            state_asked: None,
            reported: None,
            position: None,
            job: None,
            cancel: None,
            operations: Vec::new(),
            offline_since: None,
            held_since: None,
            unheard: false,
            instant_seq: 0,
            controlled: false,
            errand: None,
            errand_seq: 0,
            traffic_order: None,
            traffic_warned: None,
            traffic_start: None,
            traffic_status_sent: None,
            zones: zones::ZoneBook::default(),
            malformed: 0,
        }
    }

    /// The device id of the site file.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The largest message taken from this robot (its profile's `max_message_bytes`).
    pub fn max_message_bytes(&self) -> usize {
        self.profile.max_message_bytes
    }

    /// The topic of `kind` for this robot.
    pub fn topic(&self, kind: TopicKind) -> String {
        self.topics.topic_for(
            self.headers.version(),
            self.headers.manufacturer(),
            self.headers.serial_number(),
            kind,
        )
    }

    /// The topics master control subscribes to, with their QoS.
    pub fn subscriptions(&self) -> Vec<(String, Qos)> {
        [
            TopicKind::State,
            TopicKind::Connection,
            TopicKind::Factsheet,
        ]
        .into_iter()
        .map(|k| (self.topic(k), self.topics.qos(k)))
        .collect()
    }

    /// A `connection` message.
    pub fn on_connection(&mut self, c: Connection, now: Instant, out: &mut Vec<Out>) {
        self.heard();
        let was = self.connection.replace(c.connection_state);
        if c.connection_state == ConnectionState::Online && was != Some(ConnectionState::Online) {
            // Back (or first heard of): what it did meanwhile is in a fresh state.
            self.state_asked = None;
            self.ask_state(now, out);
        }
        self.progress(now, out);
    }

    /// A `state` message.
    pub fn on_state(&mut self, s: &State, now: Instant, out: &mut Vec<Out>) {
        self.heard();
        let first = self.state.is_none();
        match &mut self.state {
            Some(seen) => seen.update(s),
            None => self.state = Some(Seen::new(s)),
        }
        self.state_asked = None;
        if first && self.factsheet.is_none() && !self.factsheet_asked {
            self.factsheet_asked = true;
            if self.profile.supports(FACTSHEET_REQUEST) {
                let id = self.next_instant_id("factsheet");
                self.publish_instant(FACTSHEET_REQUEST, &id, out);
            }
        }
        self.progress(now, out);
    }

    /// A `factsheet` message: it limits what is sent from now on.
    pub fn on_factsheet(&mut self, f: Factsheet) {
        self.factsheet = Some(f);
    }

    /// Time passed.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Out>) {
        self.progress(now, out);
    }

    /// Whether the robot's factsheet has arrived.
    pub fn has_factsheet(&self) -> bool {
        self.factsheet.is_some()
    }

    /// Where the latest `state` says the robot is (the console's view, `super::view`).
    pub(crate) fn pose(&self) -> Option<super::view::Pose<'_>> {
        let s = self.state.as_ref()?;
        Some(super::view::Pose {
            last_node: &s.last_node_id,
            position: s.agv_position.as_ref(),
            battery: s.battery_charge,
            paused: s.paused,
        })
    }

    /// A command to carry out (or a re-send of the one in hand, which changes nothing).
    pub fn send(&mut self, command: DeviceCommand, now: Instant, out: &mut Vec<Out>) -> Sent {
        let cid = command.command_id.clone();
        match &self.job {
            Some(job) if job.command.command_id == cid => {}
            other => {
                if let Some(job) = other {
                    // The engine sends one command per device; a new one replaces a job the
                    // engine has given up on. Its order, if the robot took it, is the robot's
                    // to finish.
                    tracing::warn!(device_id = %self.device_id, old = %job.command.command_id,
                        new = %cid, "a new command replaces an unfinished one");
                    let old = job.command.command_id.clone();
                    self.detach_cancel(&old);
                }
                self.job = Some(Job::new(command, false));
                if !self.connected() {
                    self.offline_since.get_or_insert(now);
                }
            }
        }
        self.progress(now, out);
        let sent = self.delivery(&cid);
        if matches!(sent, Sent::Unreachable(_)) {
            // Nothing of it left floorgate: the engine may give it to another robot.
            self.job = None;
        }
        sent
    }

    /// Forgets command `command_id` if nothing of it reached the robot (its first publish
    /// could not be queued, or the robot cannot hear us): the engine may give it to another.
    pub fn withdraw(&mut self, command_id: &str) {
        let unheard = |j: &Job| {
            j.command.command_id == command_id
                && !j.stopping
                && !j.order.as_ref().is_some_and(|a| a.echoed)
        };
        if self.job.as_ref().is_some_and(unheard) {
            self.job = None;
        }
    }

    /// Where command `command_id` stands on the link (see [`Sent`]).
    pub fn delivery(&self, command_id: &str) -> Sent {
        let Some(job) = self
            .job
            .as_ref()
            .filter(|j| j.command.command_id == command_id)
        else {
            // Decided and reported, or replaced.
            return Sent::Accepted;
        };
        if job.stopping {
            return self.stop_delivery(command_id);
        }
        if job.published() {
            return Sent::Accepted;
        }
        if self.state.is_none() {
            return Sent::Waiting;
        }
        if !self.connected() {
            return Sent::Unreachable(self.availability().1);
        }
        Sent::Accepted
    }

    /// Whether the robot can hear us: the broker is reachable, it is not known offline (nor,
    /// in 3.0, hibernating: it then answers nothing but `stopHibernation`), and it has sent a
    /// state.
    fn connected(&self) -> bool {
        self.broker_up
            && !self.unheard
            && !matches!(
                self.connection,
                Some(
                    ConnectionState::Offline
                        | ConnectionState::ConnectionBroken
                        | ConnectionState::Hibernating
                )
            )
            && self.state.is_some()
    }

    /// Connected to the broker and hibernating (3.0): it hears only `stopHibernation`.
    fn asleep(&self) -> bool {
        self.broker_up && !self.unheard && self.connection == Some(ConnectionState::Hibernating)
    }

    fn availability(&self) -> (Availability, String) {
        if !self.broker_up {
            return (
                Availability::Offline,
                "the MQTT broker is unreachable".into(),
            );
        }
        if self.unheard {
            return (
                Availability::Offline,
                "not heard from since the MQTT broker link came back".into(),
            );
        }
        match self.connection {
            Some(ConnectionState::Offline) => {
                return (Availability::Offline, "the robot went offline".into())
            }
            Some(ConnectionState::ConnectionBroken) => {
                return (
                    Availability::Offline,
                    "the robot's connection broke (last will)".into(),
                )
            }
            // Neither gone nor available: still connected, but asleep, taking no orders until
            // woken (instant action `stopHibernation`, which the engine sends when a step
            // waits for the robot).
            Some(ConnectionState::Hibernating) => {
                return (
                    Availability::Asleep,
                    "hibernating: connected but asleep until woken (stopHibernation)".into(),
                )
            }
            _ => {}
        }
        let Some(s) = &self.state else {
            return (Availability::Offline, "no state received yet".into());
        };
        if let Some(e) = s.fatal_error() {
            return (Availability::Fault, describe_error(e));
        }
        let charge = s.battery_charge;
        if charge < self.profile.min_battery_percent {
            return (
                Availability::Fault,
                format!(
                    "battery at {charge:.0} %, below the minimum of {:.0} %",
                    self.profile.min_battery_percent
                ),
            );
        }
        (Availability::Online, String::new())
    }

    fn progress(&mut self, now: Instant, out: &mut Vec<Out>) {
        if self
            .held_since
            .is_some_and(|t| now.duration_since(t) >= self.timing.reconnect_grace)
        {
            self.held_since = None;
        }
        let availability = self.availability();
        if self.held_since.is_none() && self.reported.as_ref() != Some(&availability) {
            out.push(Out::Report(DeviceReport::Availability {
                device_id: self.device_id.clone(),
                availability: availability.0,
                reason: availability.1.clone(),
            }));
            self.reported = Some(availability);
        }
        self.report_position(out);
        if (self.state.is_none() && self.connection == Some(ConnectionState::Online))
            || self.unheard
        {
            // Online but silent (its first state went out before we subscribed), or silent
            // since the broker link came back: ask again.
            self.ask_state(now, out);
        }
        if self.connected() {
            self.offline_since = None;
        } else if self.job.is_some() {
            self.offline_since.get_or_insert(now);
        }
        self.observe_cancel();
        self.follow_job(now, out);
        self.send_cancel(now, out);
        self.follow_operations(now, out);
    }

    fn report_position(&mut self, out: &mut Vec<Out>) {
        let Some(s) = &self.state else { return };
        let node = if !s.last_node_id.is_empty() {
            // The usual case on every state message: the robot is where it was.
            if self.position.as_deref() == Some(s.last_node_id.as_str()) {
                return;
            }
            Some(s.last_node_id.clone())
        } else {
            let (layout, p) = (self.layout.as_ref(), s.agv_position.as_ref());
            layout
                .zip(p)
                .and_then(|(l, p)| l.nearest_node(p.x, p.y, &p.map_id))
                .map(|n| n.id.clone())
        };
        if let Some(node) = node {
            if self.position.as_ref() != Some(&node) {
                self.position = Some(node.clone());
                out.push(Out::Report(DeviceReport::Position {
                    device_id: self.device_id.clone(),
                    node,
                }));
            }
        }
    }

    fn ask_state(&mut self, now: Instant, out: &mut Vec<Out>) {
        let due = self
            .state_asked
            .is_none_or(|t| now.duration_since(t) >= self.timing.resend);
        if !due || !self.broker_up || !self.profile.supports(STATE_REQUEST) {
            return;
        }
        if matches!(
            self.connection,
            Some(
                ConnectionState::Offline
                    | ConnectionState::ConnectionBroken
                    | ConnectionState::Hibernating
            )
        ) {
            return;
        }
        self.state_asked = Some(now);
        let id = self.next_instant_id("state");
        self.publish_instant(STATE_REQUEST, &id, out);
    }

    fn next_instant_id(&mut self, what: &str) -> String {
        self.instant_seq += 1;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        format!("{what}-{stamp}-{}", self.instant_seq)
    }

    fn publish_instant(&mut self, action_type: &str, action_id: &str, out: &mut Vec<Out>) {
        let msg = InstantActions {
            header: self.headers.next(TopicKind::InstantActions),
            actions: vec![Action::new(action_type, action_id, BlockingType::Hard)],
        };
        self.publish_instant_message(&msg, out);
    }

    /// Publishes an `instantActions` message (under the 1.x array name if the profile
    /// wants it).
    fn publish_instant_message(&self, msg: &InstantActions, out: &mut Vec<Out>) {
        let mut payload = encode(msg);
        if self.profile.legacy_instant_actions {
            payload = crate::vda5050::v3::legacy_instant_actions(&payload);
        }
        out.push(Out::Publish {
            topic: self.topic(TopicKind::InstantActions),
            qos: self.topics.qos(TopicKind::InstantActions),
            payload,
        });
    }
}

/// `errorType: errorDescription`.
fn describe_error(e: &crate::vda5050::AgvError) -> String {
    match &e.error_description {
        Some(d) if !d.is_empty() => format!("{}: {d}", e.error_type),
        _ => e.error_type.clone(),
    }
}

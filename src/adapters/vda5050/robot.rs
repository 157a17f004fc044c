//! One AMR as master control sees it: its connection, last state and factsheet, the command
//! it carries out and the cancel in flight. No IO: messages, commands and time go in,
//! messages to publish and reports for the engine come out ([`Out`]).
//!
//! # A command's life
//!
//! 1. `send`: the job waits for the robot's `state` (asking with `stateRequest` if none was
//!    seen), and for any `cancelOrder` still in flight: no order goes out before that cancel
//!    is FINISHED.
//! 2. If the state shows the robot already holds this command's order (a re-send after a
//!    restart), the plan is rebuilt from the order id ([`super::plan::start_of`]) and
//!    fast-forwarded to the robot's `orderUpdateId`: adopted, not restarted, so the pick
//!    happens once. Otherwise the order is planned from the robot's `lastNodeId`.
//! 3. The current message is re-published every `resend` until the state echoes its
//!    `orderId`/`orderUpdateId`; the first echo is `Acknowledged`.
//! 4. Once the current message is echoed and the robot has passed the first node of it (or
//!    asks for a new base), the next part of the horizon is released by an order update.
//! 5. `Completed` once the drop is FINISHED and no node is left; `Failed` when the pick or
//!    drop FAILED, a FATAL error is active, or the robot rejected the order (an order warning
//!    referencing its `orderId`), or when the robot stays offline longer than
//!    `offline_timeout` (the robot keeps its order per VDA 5050, so a `cancelOrder` is sent
//!    when it returns, before anything else).
//!
//! `stop` sends `cancelOrder` (re-sent until the state lists it) and reports `Stopped` only
//! once it is FINISHED (or FAILED: nothing left to cancel); an order that finished meanwhile
//! is reported `Completed`. A job never published is stopped at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod job;
mod seen;

use super::plan;
use crate::engine::adapter::{Availability, DeviceCommand, DeviceReport};
use crate::vda5050::order::action_types::{CANCEL_ORDER, FACTSHEET_REQUEST, STATE_REQUEST};
use crate::vda5050::AmrProfile;
use crate::vda5050::{
    encode, Action, ActionStatus, BlockingType, Connection, ConnectionState, Factsheet,
    HeaderFactory, InstantActions, LayoutGraph, Qos, State, TopicConfig, TopicKind,
};
use job::Job;
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
}

/// Timing of re-sends and offline tolerance.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Re-send an order (or instant action) this often until the state echoes it.
    pub resend: Duration,
    /// How long a job waits for a robot that is offline.
    pub offline_timeout: Duration,
}

/// Order warnings that mean the robot refused an order message.
const REJECTIONS: [&str; 4] = [
    "orderError",
    "orderUpdateError",
    "noRouteError",
    "validationError",
];

#[derive(Debug)]
struct Cancel {
    /// The command whose stop waits for this cancel, if any.
    command_id: Option<String>,
    action_id: String,
    last_sent: Option<Instant>,
    /// The robot lists the action (any status): no more re-sends.
    seen: bool,
}

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
    offline_since: Option<Instant>,
    instant_seq: u64,
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
            offline_since: None,
            instant_seq: 0,
            malformed: 0,
        }
    }

    /// The device id of the site file.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The topic of `kind` for this robot.
    pub fn topic(&self, kind: TopicKind) -> String {
        self.topics.topic(
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

    /// The broker link went up or down.
    pub fn on_broker(&mut self, up: bool, now: Instant, out: &mut Vec<Out>) {
        self.broker_up = up;
        if !up {
            self.state_asked = None;
        }
        self.progress(now, out);
    }

    /// A `connection` message.
    pub fn on_connection(&mut self, c: Connection, now: Instant, out: &mut Vec<Out>) {
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

    /// A command to carry out (or a re-send of the one in hand, which changes nothing).
    pub fn send(&mut self, command: DeviceCommand, now: Instant, out: &mut Vec<Out>) {
        if let Some(job) = &self.job {
            if job.command.command_id == command.command_id {
                return;
            }
            // The engine sends one command per device; a new one replaces a job the engine
            // has given up on. Its order, if the robot took it, is the robot's to finish.
            tracing::warn!(device_id = %self.device_id, old = %job.command.command_id,
                new = %command.command_id, "a new command replaces an unfinished one");
        }
        self.job = Some(Job {
            command,
            order: None,
            stopping: false,
            acked: false,
        });
        if !self.connected() {
            self.offline_since.get_or_insert(now);
        }
        self.progress(now, out);
    }

    /// Stops `command` with `cancelOrder`.
    pub fn stop(&mut self, command: &DeviceCommand, now: Instant, out: &mut Vec<Out>) {
        let cid = &command.command_id;
        let published = match &mut self.job {
            Some(job) if &job.command.command_id == cid => {
                if job.stopping {
                    return;
                }
                job.stopping = true;
                job.order.as_ref().is_some_and(|a| a.last_sent.is_some())
            }
            _ => {
                // Not in hand (the gateway restarted, or it ended): cancel the robot's order
                // if it is this command's, else there is nothing to stop.
                self.state
                    .as_ref()
                    .is_some_and(|s| plan::start_of(&s.order_id, cid).is_some() && s.is_busy())
            }
        };
        if !published {
            if self
                .job
                .as_ref()
                .is_some_and(|j| &j.command.command_id == cid)
            {
                self.job = None;
            }
            out.push(Out::Report(DeviceReport::Stopped {
                command_id: cid.clone(),
            }));
            return;
        }
        match &mut self.cancel {
            Some(c) if c.command_id.is_none() => c.command_id = Some(cid.clone()),
            Some(_) => {}
            None => {
                self.cancel = Some(Cancel {
                    command_id: Some(cid.clone()),
                    action_id: format!("{cid}/cancel"),
                    last_sent: None,
                    seen: false,
                })
            }
        }
        self.progress(now, out);
    }

    /// Whether the robot can hear us: the broker is reachable, it is not known offline, and
    /// it has sent a state.
    fn connected(&self) -> bool {
        self.broker_up
            && !matches!(
                self.connection,
                Some(ConnectionState::Offline | ConnectionState::ConnectionBroken)
            )
            && self.state.is_some()
    }

    fn availability(&self) -> (Availability, String) {
        if !self.broker_up {
            return (
                Availability::Offline,
                "the MQTT broker is unreachable".into(),
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
        let availability = self.availability();
        if self.reported.as_ref() != Some(&availability) {
            out.push(Out::Report(DeviceReport::Availability {
                device_id: self.device_id.clone(),
                availability: availability.0,
                reason: availability.1.clone(),
            }));
            self.reported = Some(availability);
        }
        self.report_position(out);
        if self.state.is_none() && self.connection == Some(ConnectionState::Online) {
            // Online but silent (its first state went out before we subscribed): ask again.
            self.ask_state(now, out);
        }
        if self.connected() {
            self.offline_since = None;
        } else if self.job.is_some() {
            self.offline_since.get_or_insert(now);
        }
        self.follow_cancel(now, out);
        self.follow_job(now, out);
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

    fn follow_cancel(&mut self, now: Instant, out: &mut Vec<Out>) {
        let connected = self.connected();
        let Some(cancel) = &mut self.cancel else {
            return;
        };
        let status = self
            .state
            .as_ref()
            .and_then(|s| s.action_status(&cancel.action_id));
        match status {
            Some(ActionStatus::Finished | ActionStatus::Failed) => {}
            Some(_) => {
                cancel.seen = true;
                return;
            }
            None => {
                let due = cancel
                    .last_sent
                    .is_none_or(|t| now.duration_since(t) >= self.timing.resend);
                if !cancel.seen && due && connected {
                    cancel.last_sent = Some(now);
                    let id = cancel.action_id.clone();
                    self.publish_instant(CANCEL_ORDER, &id, out);
                }
                return;
            }
        }
        let cancel = self.cancel.take().expect("matched above");
        let Some(cid) = cancel.command_id else { return };
        let job = self.job.take_if(|j| j.command.command_id == cid);
        let drop_finished = job
            .as_ref()
            .and_then(|j| j.order.as_ref())
            .is_some_and(|a| {
                self.state.as_ref().is_some_and(|s| {
                    s.order_id == a.t.plan.order_id()
                        && s.action_status(&a.t.drop_id) == Some(ActionStatus::Finished)
                })
            });
        out.push(Out::Report(if drop_finished {
            DeviceReport::Completed { command_id: cid }
        } else {
            DeviceReport::Stopped { command_id: cid }
        }));
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
            Some(ConnectionState::Offline | ConnectionState::ConnectionBroken)
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
        out.push(Out::Publish {
            topic: self.topic(TopicKind::InstantActions),
            qos: self.topics.qos(TopicKind::InstantActions),
            payload: encode(&msg),
        });
    }
}

fn describe_error(e: &crate::vda5050::AgvError) -> String {
    match &e.error_description {
        Some(d) if !d.is_empty() => format!("{}: {d}", e.error_type),
        _ => e.error_type.clone(),
    }
}

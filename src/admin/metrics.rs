//! The gateway's metrics, served on `/metrics` in the Prometheus text format
//! (version 0.0.4).
//!
//! Built on `prometheus-client`: the registry is a value we own and pass
//! around (no process-global recorder, so every test and every gateway in a
//! process has its own), it encodes the text format itself, and it pulls in
//! three small crates. `metrics` + `metrics-exporter-prometheus` would have
//! meant a global recorder and an exporter that brings its own HTTP stack.
//!
//! # Names and labels
//!
//! Names follow `<namespace>_<name>_<unit>_total` with the namespace
//! `floorgate`; counters come in pairs (`…_appended_total`,
//! `…_acked_total`) so a backlog is their difference and a rate is each
//! one's `rate()`. Every label value is bounded: task states and device
//! kinds are enums, device ids, endpoints and step commands come from the
//! site file, drop reasons are `&'static str` chosen in code.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `floorgate_tasks` | gauge | `state` |
//! | `floorgate_events_appended_total`, `floorgate_events_acked_total` | counter | |
//! | `floorgate_outbox_appended_total`, `floorgate_outbox_acked_total` | counter | |
//! | `floorgate_commands_sent_total`, `…_acknowledged_total`, `…_failed_total` | counter | `kind` |
//! | `floorgate_device_available` | gauge (0/1) | `device` |
//! | `floorgate_step_duration_seconds` | histogram | `command` |
//! | `floorgate_telemetry_received_total` | counter | |
//! | `floorgate_telemetry_dropped_total` | counter | `reason` |
//! | `floorgate_connection_up` | gauge (0/1) | `endpoint` |
//! | `floorgate_traffic_resources_held`, `floorgate_traffic_robots_blocked` | gauge | |
//! | `floorgate_traffic_blocked_seconds_total`, `…_replans_total`, `…_deadlocks_resolved_total` | counter | |
//!
//! Drop reasons of `floorgate_telemetry_dropped_total` include `malformed_vda5050` (a robot's
//! message that does not decode) and `oversized` (larger than its profile's
//! `max_message_bytes`, dropped undecoded).
//!
//! The two journal counters are the store's `last_seq` and `acked_seq`,
//! which survive restarts, so they never go backwards across a restart.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::engine::model::{DeviceKind, TaskState};
use crate::store::JournalPosition;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    device: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabel {
    command: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

type HistogramFamily = Family<CommandLabel, Histogram, fn() -> Histogram>;

/// Step durations: half a second to about 17 minutes, doubling.
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 12))
}

const DEVICE_KINDS: [DeviceKind; 4] = [
    DeviceKind::Amr,
    DeviceKind::Asrs,
    DeviceKind::Conveyor,
    DeviceKind::Lift,
];

/// The metrics registry and handles to every metric. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    tasks: Family<StateLabel, Gauge>,
    events_appended: Counter,
    events_acked: Counter,
    outbox_appended: Counter,
    outbox_acked: Counter,
    commands_sent: Family<KindLabel, Counter>,
    commands_acknowledged: Family<KindLabel, Counter>,
    commands_failed: Family<KindLabel, Counter>,
    device_available: Family<DeviceLabel, Gauge>,
    step_duration: HistogramFamily,
    telemetry_received: Counter,
    telemetry_dropped: Family<ReasonLabel, Counter>,
    connection_up: Family<EndpointLabel, Gauge>,
    traffic: TrafficMetrics,
}

#[derive(Debug, Default)]
struct TrafficMetrics {
    held: Gauge,
    blocked: Gauge,
    blocked_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    replans: Counter,
    deadlocks_resolved: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric registered; task states and device
    /// kinds start at zero so they are listed before anything happens.
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("floorgate");
        let tasks = Family::<StateLabel, Gauge>::default();
        r.register("tasks", "Tasks in the journal by state", tasks.clone());
        let events_appended = Counter::default();
        r.register(
            "events_appended",
            "Task and device events written to the journal (the journal's last seq)",
            events_appended.clone(),
        );
        let events_acked = Counter::default();
        r.register(
            "events_acked",
            "Events the cloud acknowledged (the journal's acked seq)",
            events_acked.clone(),
        );
        let outbox_appended = Counter::default();
        r.register(
            "outbox_appended",
            "Device commands written to the outbox",
            outbox_appended.clone(),
        );
        let outbox_acked = Counter::default();
        r.register(
            "outbox_acked",
            "Device commands removed from the outbox after the device's final answer",
            outbox_acked.clone(),
        );
        let commands_sent = Family::<KindLabel, Counter>::default();
        r.register(
            "commands_sent",
            "Commands sent to devices, by device kind",
            commands_sent.clone(),
        );
        let commands_acknowledged = Family::<KindLabel, Counter>::default();
        r.register(
            "commands_acknowledged",
            "Commands a device acknowledged, by device kind",
            commands_acknowledged.clone(),
        );
        let commands_failed = Family::<KindLabel, Counter>::default();
        r.register(
            "commands_failed",
            "Commands a device refused or failed, by device kind",
            commands_failed.clone(),
        );
        let device_available = Family::<DeviceLabel, Gauge>::default();
        r.register(
            "device_available",
            "1 while the device is online, 0 when offline or in fault",
            device_available.clone(),
        );
        let step_duration: HistogramFamily = Family::new_with_constructor(step_histogram);
        r.register_with_unit(
            "step_duration",
            "Time from a step's dispatch to its end, by command",
            Unit::Seconds,
            step_duration.clone(),
        );
        let telemetry_received = Counter::default();
        r.register(
            "telemetry_received",
            "Device telemetry messages received for a device of the site (AMR state, connection, factsheet), decoded or not",
            telemetry_received.clone(),
        );
        let telemetry_dropped = Family::<ReasonLabel, Counter>::default();
        r.register(
            "telemetry_dropped",
            "Device telemetry messages dropped, by reason",
            telemetry_dropped.clone(),
        );
        let connection_up = Family::<EndpointLabel, Gauge>::default();
        r.register(
            "connection_up",
            "1 while the connection to a broker, PLC or server is up",
            connection_up.clone(),
        );
        let traffic = TrafficMetrics::default();
        r.register(
            "traffic_resources_held",
            "Layout nodes, lanes and block slots AMRs hold under traffic control",
            traffic.held.clone(),
        );
        r.register(
            "traffic_robots_blocked",
            "AMRs waiting at the end of their base for a node or lane another holds",
            traffic.blocked.clone(),
        );
        r.register(
            "traffic_blocked_seconds",
            "Seconds AMRs waited for a node or lane, summed over the fleet",
            traffic.blocked_seconds.clone(),
        );
        r.register(
            "traffic_replans",
            "Routes traffic control replaced before they were driven to the end",
            traffic.replans.clone(),
        );
        r.register(
            "traffic_deadlocks_resolved",
            "Deadlocks traffic control ended by sending one robot aside",
            traffic.deadlocks_resolved.clone(),
        );
        for s in TaskState::ALL {
            let _ = tasks.get_or_create(&StateLabel { state: s.as_str() });
        }
        for k in DEVICE_KINDS {
            let l = KindLabel { kind: k.as_str() };
            let _ = commands_sent.get_or_create(&l);
            let _ = commands_acknowledged.get_or_create(&l);
            let _ = commands_failed.get_or_create(&l);
        }
        Metrics {
            inner: Arc::new(Inner {
                registry: r,
                tasks,
                events_appended,
                events_acked,
                outbox_appended,
                outbox_acked,
                commands_sent,
                commands_acknowledged,
                commands_failed,
                device_available,
                step_duration,
                telemetry_received,
                telemetry_dropped,
                connection_up,
                traffic,
            }),
        }
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.inner.registry)
            .expect("writing to a String does not fail");
        out
    }

    /// Sets the task gauge of every state; states not given are zero.
    pub fn set_tasks(&self, counts: &[(TaskState, i64)]) {
        for s in TaskState::ALL {
            let n = counts
                .iter()
                .filter(|(st, _)| *st == s)
                .map(|(_, n)| n)
                .sum();
            self.inner
                .tasks
                .get_or_create(&StateLabel { state: s.as_str() })
                .set(n);
        }
    }

    /// Moves the journal counters up to the store's position (a lower
    /// position, which the store never reports, changes nothing).
    pub fn set_journal(&self, p: JournalPosition) {
        raise(&self.inner.events_appended, p.last_seq);
        raise(&self.inner.events_acked, p.acked_seq);
    }

    pub fn outbox_appended(&self) {
        self.inner.outbox_appended.inc();
    }

    pub fn outbox_acked(&self) {
        self.inner.outbox_acked.inc();
    }

    pub fn command_sent(&self, kind: DeviceKind) {
        self.inner
            .commands_sent
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .inc();
    }

    pub fn command_acknowledged(&self, kind: DeviceKind) {
        self.inner
            .commands_acknowledged
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .inc();
    }

    pub fn command_failed(&self, kind: DeviceKind) {
        self.inner
            .commands_failed
            .get_or_create(&KindLabel {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// `device` must be a device id from the site file.
    pub fn set_device_available(&self, device: &str, available: bool) {
        self.inner
            .device_available
            .get_or_create(&DeviceLabel {
                device: device.to_string(),
            })
            .set(i64::from(available));
    }

    /// `command` must be a route step's command from the site file.
    pub fn observe_step(&self, command: &str, took: Duration) {
        self.inner
            .step_duration
            .get_or_create(&CommandLabel {
                command: command.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One telemetry message arrived for a device of the site (one atomic add: it is on
    /// the hot path of every AMR state message).
    pub fn telemetry_received(&self) {
        self.inner.telemetry_received.inc();
    }

    pub fn telemetry_dropped(&self, reason: &'static str) {
        self.inner
            .telemetry_dropped
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// `endpoint` must come from the site file (a broker or PLC address).
    pub fn set_connection_up(&self, endpoint: &str, up: bool) {
        self.inner
            .connection_up
            .get_or_create(&EndpointLabel {
                endpoint: endpoint.to_string(),
            })
            .set(i64::from(up));
    }
}

impl Metrics {
    /// Traffic control's figures: gauges now, counters raised to their totals (only the AMR
    /// adapter's tick writes them).
    pub fn set_traffic(
        &self,
        held: u64,
        blocked: u64,
        blocked_seconds: f64,
        replans: u64,
        deadlocks_resolved: u64,
    ) {
        let t = &self.inner.traffic;
        t.held.set(held as i64);
        t.blocked.set(blocked as i64);
        let now = t.blocked_seconds.get();
        if blocked_seconds > now {
            t.blocked_seconds.inc_by(blocked_seconds - now);
        }
        raise(&t.replans, replans);
        raise(&t.deadlocks_resolved, deadlocks_resolved);
    }
}

/// Raises a counter to `to` (only the sampler writes these, so get-then-add
/// does not race with another writer).
fn raise(c: &Counter, to: u64) {
    let now = c.get();
    if to > now {
        c.inc_by(to - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_namespace_name_unit_total_convention() {
        let m = Metrics::new();
        m.set_journal(JournalPosition {
            last_seq: 7,
            acked_seq: 3,
        });
        m.command_sent(DeviceKind::Amr);
        m.observe_step("transport", Duration::from_secs(3));
        m.telemetry_dropped("queue_full");
        m.set_connection_up("127.0.0.1:1883", true);
        let text = m.encode();
        for line in [
            "floorgate_events_appended_total 7",
            "floorgate_events_acked_total 3",
            "floorgate_tasks{state=\"planned\"} 0",
            "floorgate_commands_sent_total{kind=\"amr\"} 1",
            "floorgate_commands_failed_total{kind=\"lift\"} 0",
            "floorgate_step_duration_seconds_count{command=\"transport\"} 1",
            "floorgate_telemetry_dropped_total{reason=\"queue_full\"} 1",
            "floorgate_connection_up{endpoint=\"127.0.0.1:1883\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in\n{text}"
            );
        }
    }
}

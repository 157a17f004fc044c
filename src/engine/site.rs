//! The site model: devices, locations (storage, stations, ports), and the
//! routes that turn a task into device steps. Built from the validated site
//! file; the engine plans with it and never reads the file itself.

use std::collections::BTreeMap;

use super::adapter::Endpoint;
use super::model::{DeviceKind, OnFailure, Step, StepState, TaskKind, TaskSpec};

#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub id: String,
    pub kind: DeviceKind,
    pub profile: String,
    pub address: String,
    /// Modbus unit id from the site file, overriding the profile's (`None`:
    /// the profile's).
    pub unit_id: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    Storage,
    Station,
    Port,
    Buffer,
}

#[derive(Debug, Clone)]
pub struct Location {
    /// An exact id, or a prefix when the site file's id ends in `*` (a
    /// storage area with many bins).
    pub id: String,
    pub is_prefix: bool,
    pub kind: LocationKind,
    pub zone: String,
    pub node: Option<String>,
    pub station_type: Option<String>,
    /// The VDA 5050 loadType of loads here, if the site file says.
    pub load_type: Option<String>,
    pub plc_address: Option<u16>,
}

/// Where a route step starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The task's source location.
    Source,
    /// The task's destination location.
    Destination,
    /// A fixed location of the site.
    Fixed(String),
}

#[derive(Debug, Clone)]
pub struct RouteStep {
    pub device_kind: DeviceKind,
    pub command: String,
    /// The devices that may do the step; every device of the kind when the
    /// site file names none.
    pub devices: Vec<String>,
    pub from: Place,
    pub to: Place,
    /// How long the step may stay on its device, in milliseconds (0: no
    /// limit): the route step's `timeout_secs`, else the `[gateway]` default
    /// for the device kind.
    pub timeout_ms: u64,
    pub on_failure: OnFailure,
    /// Re-plannings onto another device allowed with
    /// [`OnFailure::RetryOtherDevice`].
    pub max_reassignments: u32,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub id: String,
    pub kind: TaskKind,
    pub from_zone: String,
    pub to_zone: String,
    pub steps: Vec<RouteStep>,
}

#[derive(Debug, Clone, Default)]
pub struct Site {
    pub name: String,
    pub devices: BTreeMap<String, DeviceSpec>,
    pub locations: Vec<Location>,
    pub routes: Vec<Route>,
    /// Where AMRs drive; distances on it choose the nearest AMR.
    pub layout: Option<std::sync::Arc<crate::vda5050::LayoutGraph>>,
    /// Traffic control of the AMRs on the layout (`None`: off, or no layout).
    pub traffic: Option<std::sync::Arc<TrafficSetup>>,
}

/// What the AMR adapter builds its traffic allocator from.
#[derive(Debug, Clone)]
pub struct TrafficSetup {
    /// The layout's resources: nodes, lanes, blocks, parking and waiting nodes.
    pub map: crate::traffic::ResourceMap,
    /// The allocator's tuning.
    pub config: crate::traffic::Config,
    /// Send idle robots to parking nodes.
    pub park_idle: bool,
}

/// Why a task cannot be planned. Each names the task field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("task.{field}: unknown location {location:?}")]
    UnknownLocation {
        field: &'static str,
        location: String,
    },
    #[error("task.kind: no route serves a {kind} from zone {from_zone:?} to zone {to_zone:?}")]
    NoRoute {
        kind: TaskKind,
        from_zone: String,
        to_zone: String,
    },
}

impl Site {
    /// The location `id` names: an exact entry first, then the longest
    /// matching prefix entry.
    pub fn location(&self, id: &str) -> Option<&Location> {
        if id.is_empty() {
            return None;
        }
        self.locations
            .iter()
            .find(|l| !l.is_prefix && l.id == id)
            .or_else(|| {
                self.locations
                    .iter()
                    .filter(|l| l.is_prefix && id.starts_with(&l.id))
                    .max_by_key(|l| l.id.len())
            })
    }

    /// Turns a task into its device steps, all pending.
    pub fn plan(&self, spec: &TaskSpec) -> Result<Vec<Step>, PlanError> {
        let src = self
            .location(&spec.source)
            .ok_or_else(|| PlanError::UnknownLocation {
                field: "source",
                location: spec.source.clone(),
            })?;
        let dst = self
            .location(&spec.destination)
            .ok_or_else(|| PlanError::UnknownLocation {
                field: "destination",
                location: spec.destination.clone(),
            })?;
        let route = self
            .routes
            .iter()
            .find(|r| r.kind == spec.kind && r.from_zone == src.zone && r.to_zone == dst.zone)
            .ok_or_else(|| PlanError::NoRoute {
                kind: spec.kind,
                from_zone: src.zone.clone(),
                to_zone: dst.zone.clone(),
            })?;
        Ok(route
            .steps
            .iter()
            .enumerate()
            .map(|(i, rs)| Step {
                index: i as u32,
                device_kind: rs.device_kind,
                candidates: if rs.devices.is_empty() {
                    self.devices_of(rs.device_kind)
                } else {
                    rs.devices.clone()
                },
                device_id: None,
                command: rs.command.clone(),
                from: self.resolve(&rs.from, spec),
                to: self.resolve(&rs.to, spec),
                state: StepState::Pending,
                reason: String::new(),
                timeout_ms: rs.timeout_ms,
                dispatched_unix_ms: None,
                on_failure: rs.on_failure,
                max_reassignments: rs.max_reassignments,
                attempt: 0,
                failed_devices: Vec::new(),
                stop_reason: None,
            })
            .collect())
    }

    /// The endpoint a device needs for a location id.
    pub fn endpoint(&self, location: &str) -> Endpoint {
        let l = self.location(location);
        Endpoint {
            location: location.to_string(),
            node: l.and_then(|l| l.node.clone()),
            station_type: l.and_then(|l| l.station_type.clone()),
            load_type: l.and_then(|l| l.load_type.clone()),
            plc_address: l.and_then(|l| l.plc_address),
        }
    }

    /// Driving distance between two layout nodes, if both are on the layout
    /// and connected.
    pub fn distance(&self, from_node: &str, to_node: &str) -> Option<f64> {
        self.layout.as_ref()?.distance(from_node, to_node)
    }

    fn devices_of(&self, kind: DeviceKind) -> Vec<String> {
        self.devices
            .values()
            .filter(|d| d.kind == kind)
            .map(|d| d.id.clone())
            .collect()
    }

    fn resolve(&self, p: &Place, spec: &TaskSpec) -> String {
        match p {
            Place::Source => spec.source.clone(),
            Place::Destination => spec.destination.clone(),
            Place::Fixed(id) => id.clone(),
        }
    }
}

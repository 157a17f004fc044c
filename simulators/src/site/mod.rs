//! `floorgate-sim site`: every device a site file names, in one process, at its address —
//! the AMRs on their layout nodes, the conveyor and lift PLCs, the AS/RS (OPC-UA, both
//! interface styles, so either profile works), and the hand-offs between them — so the
//! daemon run on the same site file finds a floor to drive.
//!
//! * [`file`] reads what the simulators need of the site file, ignoring the rest.
//! * [`place`] decides, with no IO, where each robot starts, which AS/RS ports are inputs
//!   and outputs, which bins hold which totes, and where AMRs and the conveyor meet.
//! * [`SiteSim`] starts the devices (a subset for `floorgate-sim amr|plc|asrs --config`),
//!   and reads their records into a [`Summary`] when stopped.
//!
//! The AMRs share one floor ([`crate::amr::World`]): with [`SiteOptions::physical`] they stop
//! for each other, otherwise they pass through each other; either way the summary counts
//! their conflicts and blocked seconds. [`SiteOptions::time_lapse`] runs their time faster.
//! [`grid`] generates whole warehouse site files (`floorgate-sim site grid`).
//!
//! Hand-offs: the AS/RS and the conveyor are joined by [`crate::handoff`]. Between AMRs and
//! the conveyor, each robot tells the site the moment a pick or drop finishes
//! ([`Robot::on_happened`](crate::amr::Robot::on_happened)), with the node it stood on: a
//! load dropped on a node that is a conveyor location (`node` and `plc_address` on one
//! location) is placed on the conveyor there, a load picked there is taken off it — before
//! the robot's state reports the drop, as on a real floor, so the conveyor's next command
//! never finds the tote missing however fast the gateway reacts.

pub mod file;
pub mod grid;
pub mod place;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use floorgate_protocols::broker::EmbeddedBroker;
use floorgate_protocols::modbus::ModbusProfile;
use floorgate_protocols::vda5050::AmrProfile;
use tokio::task::JoinHandle;

use crate::amr::{
    FleetConfig, Happened, Robot, RobotClient, RobotConfig, RobotHandle, SharedWorld, World,
    WorldConfig,
};
use crate::asrs::{Asrs, SimAsrs, SimOptions, Tote};
use crate::handoff::{couple_asrs_and_conveyor, tote_number, AsrsConveyorLink};
use crate::plc::{Machine, SimPlc};
use crate::summary::Summary;
pub use file::{Site, SiteError};

/// Which devices of the site to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The AMRs.
    pub amrs: bool,
    /// The conveyor and lift PLCs.
    pub plcs: bool,
    /// The AS/RS.
    pub asrs: bool,
}

impl Parts {
    /// Every device.
    pub const ALL: Parts = Parts {
        amrs: true,
        plcs: true,
        asrs: true,
    };
}

/// How the site's devices behave, beyond what the site file says.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    /// The broker `HOST:PORT` the AMRs use; `None`: the site file's, where an embedded
    /// broker is started when `embedded_broker` is set.
    pub broker: Option<String>,
    /// Start an embedded broker on the site file's address when `broker` is `None`.
    pub embedded_broker: bool,
    /// AMR driving speed (m/s); `None`: the profile's.
    pub speed: Option<f64>,
    /// AMR pick and drop time (s); `None`: the profile's.
    pub handling_s: Option<f64>,
    /// AMR `state` at least this often.
    pub state_interval: Duration,
    /// Conveyor transfer time, or lift time per level.
    pub travel: Duration,
    /// Lift levels.
    pub levels: u16,
    /// AS/RS retrieval and store time.
    pub crane: Duration,
    /// The AMRs stop for each other before they touch (their safety fields); off: they pass
    /// through each other (an idle robot standing on a lane would otherwise hold up every
    /// robot routed through it). Conflicts are counted either way.
    pub physical: bool,
    /// The AMRs' simulated time runs this many times faster than the wall clock.
    pub time_lapse: f64,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions {
            broker: None,
            embedded_broker: true,
            speed: None,
            handling_s: None,
            state_interval: Duration::from_secs(10),
            travel: Duration::from_millis(1500),
            levels: 6,
            crane: Duration::from_secs(2),
            physical: false,
            time_lapse: 1.0,
        }
    }
}

/// A running simulated site.
pub struct SiteSim {
    /// The broker, if started here (lives until the process ends).
    pub broker: Option<EmbeddedBroker>,
    /// Where the AMRs reach the broker.
    pub broker_addr: String,
    robots: Vec<(String, RobotHandle)>,
    robot_tasks: Vec<JoinHandle<()>>,
    world: SharedWorld,
    plcs: Vec<(String, Arc<SimPlc>)>,
    asrs: Vec<(String, SimAsrs)>,
}

impl std::fmt::Debug for SiteSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteSim")
            .field("broker", &self.broker_addr)
            .field("robots", &self.robots.len())
            .field("plcs", &self.plcs.len())
            .field("asrs", &self.asrs.len())
            .finish()
    }
}

fn socket_addr(site: &Site, device: &str, address: &str) -> Result<SocketAddr, SiteError> {
    let hostport = address
        .strip_prefix("opc.tcp://")
        .map(|r| r.split('/').next().unwrap_or(r))
        .unwrap_or(address);
    hostport.parse().map_err(|_| {
        site.invalid(format!(
            "device {device}: address {address:?} is not IP:PORT (the simulators listen on IP addresses only)"
        ))
    })
}

fn host_port(site: &Site, broker: &str) -> Result<(String, u16), SiteError> {
    broker
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?)))
        .ok_or_else(|| site.invalid(format!("broker {broker:?} is not HOST:PORT")))
}

impl SiteSim {
    /// Starts the `parts` of `site`. Must be called inside a tokio runtime.
    pub async fn start(
        site: &Site,
        parts: Parts,
        opts: &SiteOptions,
    ) -> Result<SiteSim, SiteError> {
        let mut sim = SiteSim {
            broker: None,
            broker_addr: opts
                .broker
                .clone()
                .unwrap_or_else(|| site.file.gateway.mqtt.broker.clone()),
            robots: Vec::new(),
            robot_tasks: Vec::new(),
            world: World::shared(WorldConfig {
                physical: opts.physical,
                ..WorldConfig::default()
            }),
            plcs: Vec::new(),
            asrs: Vec::new(),
        };
        if parts.plcs {
            for d in site
                .file
                .devices
                .iter()
                .filter(|d| d.kind == "conveyor" || d.kind == "lift")
            {
                let addr = socket_addr(site, &d.id, &d.address)?;
                let profile = ModbusProfile::load(&site.profile_path(d))
                    .map_err(|e| site.invalid(format!("device {}: {e}", d.id)))?;
                let machine = if d.kind == "lift" {
                    Machine::lift(opts.levels, opts.travel)
                } else {
                    Machine::conveyor(opts.travel)
                };
                let plc = SimPlc::start_on(addr, Arc::new(profile), machine)
                    .await
                    .map_err(|e| site.invalid(format!("device {} on {addr}: {e}", d.id)))?;
                sim.plcs.push((d.id.clone(), Arc::new(plc)));
            }
        }
        if parts.asrs {
            let plan = place::asrs(site);
            for d in site.devices("asrs") {
                let addr = socket_addr(site, &d.id, &d.address)?;
                let inputs: Vec<&str> = plan.inputs.iter().map(String::as_str).collect();
                let outputs: Vec<&str> = plan.outputs.iter().map(String::as_str).collect();
                let mut machine =
                    Asrs::new(plan.bins.clone(), &inputs, &outputs, opts.crane, opts.crane);
                for (bin, tote) in &plan.stock {
                    machine.put_in_bin(
                        bin,
                        Tote {
                            id: tote.clone(),
                            sku: format!("SKU-{}", tote_number(tote).unwrap_or(0)),
                            quantity: 10,
                        },
                    );
                }
                let asrs = SimAsrs::start_on(addr, machine, SimOptions::default())
                    .await
                    .map_err(|e| site.invalid(format!("device {} on {addr}: {e}", d.id)))?;
                if let Some((_, plc)) = sim
                    .plcs
                    .iter()
                    .find(|(id, _)| site.devices("conveyor").any(|c| &c.id == id))
                {
                    couple_asrs_and_conveyor(
                        &asrs,
                        plc,
                        &AsrsConveyorLink {
                            output_ports: plan.output_links.clone(),
                            input_ports: plan.input_links.clone(),
                        },
                    );
                }
                sim.asrs.push((d.id.clone(), asrs));
            }
        }
        if parts.amrs && site.devices("amr").next().is_some() {
            if opts.broker.is_none() && opts.embedded_broker {
                let (host, port) = host_port(site, &sim.broker_addr)?;
                let addr: SocketAddr = format!("{host}:{port}").parse().map_err(|_| {
                    site.invalid(format!(
                        "broker {:?}: the embedded broker listens on an IP address",
                        sim.broker_addr
                    ))
                })?;
                let b = EmbeddedBroker::start_on(addr)
                    .map_err(|e| site.invalid(format!("broker on {addr}: {e}")))?;
                sim.broker = Some(b);
            }
            sim.start_robots(site, opts)?;
            sim.watch_amr_conveyor(site);
        }
        Ok(sim)
    }

    fn start_robots(&mut self, site: &Site, opts: &SiteOptions) -> Result<(), SiteError> {
        let (host, port) = host_port(site, &self.broker_addr)?;
        let map_id = site
            .file
            .layout
            .as_ref()
            .and_then(|l| l.map_id.clone())
            .unwrap_or_else(|| "map".into());
        for a in place::amrs(site)? {
            let d = site
                .file
                .devices
                .iter()
                .find(|d| d.id == a.device_id)
                .ok_or_else(|| site.invalid(format!("device {} vanished", a.device_id)))?;
            let profile = AmrProfile::load(&site.profile_path(d))
                .map_err(|e| site.invalid(format!("device {}: {e}", d.id)))?;
            let manufacturer = a
                .manufacturer
                .clone()
                .unwrap_or(profile.manufacturer.clone());
            let mut cfg = RobotConfig::new(&manufacturer, &a.serial, profile.protocol_version);
            cfg.speed = opts.speed.unwrap_or(profile.speed);
            cfg.pick_duration_s = opts.handling_s.unwrap_or(profile.pick_duration_s);
            cfg.drop_duration_s = opts.handling_s.unwrap_or(profile.drop_duration_s);
            cfg.supported_actions = profile.supported_actions.clone();
            cfg.map_id = map_id.clone();
            if let Some((node, x, y)) = &a.start {
                cfg = cfg.at_node(node, *x, *y);
            }
            let mut fleet = FleetConfig::new(&host, port, 1);
            fleet.manufacturer = manufacturer;
            fleet.version = profile.protocol_version;
            fleet.topics = profile.topics.clone();
            fleet.state_interval = opts.state_interval;
            fleet.instant_actions = cfg.instant_actions.clone();
            fleet.physical = opts.physical;
            fleet.time_lapse = opts.time_lapse;
            let (handle, task) = RobotClient::spawn_in(Robot::new(cfg), &fleet, &self.world);
            self.robots.push((a.device_id.clone(), handle));
            self.robot_tasks.push(task);
        }
        Ok(())
    }

    /// Loads dropped on a conveyor place go on the conveyor; loads picked there leave it.
    fn watch_amr_conveyor(&mut self, site: &Site) {
        let places = place::amr_conveyor_places(site);
        let Some(plc) = self
            .plcs
            .iter()
            .find(|(id, _)| site.devices("conveyor").any(|c| &c.id == id))
            .map(|(_, p)| Arc::downgrade(p))
        else {
            return;
        };
        if places.is_empty() {
            return;
        }
        // Told by each robot the moment a pick or drop finishes, where it stood: the tote
        // is on the conveyor before the state that reports the drop goes out.
        for (_, r) in &self.robots {
            let (places, plc) = (places.clone(), plc.clone());
            r.with_robot(move |robot| {
                robot.on_happened(move |h| {
                    let Some(plc) = plc.upgrade() else { return };
                    let at = |node: &str| places.iter().find(|(n, _)| n == node).map(|p| p.1);
                    match h {
                        Happened::Dropped {
                            load_id, node_id, ..
                        } => {
                            if let (Some(n), Some(at)) = (tote_number(load_id), at(node_id)) {
                                plc.place_tote(n, at);
                            }
                        }
                        Happened::Picked {
                            load_id, node_id, ..
                        } => {
                            if let (Some(n), Some(_)) = (tote_number(load_id), at(node_id)) {
                                plc.remove_tote(n);
                            }
                        }
                        _ => {}
                    }
                })
            });
        }
    }

    /// What every device did so far, from its own record.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for (_, r) in &self.robots {
            s.add_robot(&r.record());
        }
        s.add_world(&self.world.lock().unwrap_or_else(|p| p.into_inner()).stats());
        for (_, p) in &self.plcs {
            s.add_plc(&p.records());
        }
        for (_, a) in &self.asrs {
            let records = a.with(|m| m.records());
            s.add_asrs(records.values());
        }
        s
    }

    /// What runs where, one line per device.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.broker.is_some() {
            lines.push(format!("embedded MQTT broker on {}", self.broker_addr));
        }
        for (id, r) in &self.robots {
            let s = r.snapshot();
            lines.push(format!(
                "{id}: AMR {}/{} on node {} (broker {})",
                s.manufacturer, s.serial_number, s.last_node_id, self.broker_addr
            ));
        }
        for (id, p) in &self.plcs {
            lines.push(format!("{id}: PLC (Modbus TCP) on {}", p.addr()));
        }
        for (id, a) in &self.asrs {
            lines.push(format!("{id}: AS/RS (OPC-UA) on {}", a.url()));
        }
        lines
    }

    /// Takes the robots offline gracefully (at most `grace`).
    pub async fn stop(mut self, grace: Duration) {
        for (_, r) in &self.robots {
            r.shutdown();
        }
        let tasks = std::mem::take(&mut self.robot_tasks);
        let _ = tokio::time::timeout(grace, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
    }
}

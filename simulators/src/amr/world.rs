//! The one physical floor a simulated fleet shares: every robot's position, a safety field
//! that stops a robot before it hits another, and the counters a benchmark reads.
//!
//! The [`World`] does no IO. Each robot's run loop calls [`World::advance`] instead of
//! [`Robot::tick`]; the pure [`Robot`] stays testable without it.
//!
//! * **Steps.** `advance` cuts the tick into steps of at most a quarter of the safety
//!   distance of driving (and at most 0.5 m), so no robot leaps past another, even under a
//!   large time-lapse.
//! * **Safety field.** Before each step of a robot that wants to drive towards a node with a
//!   position, the world looks along its heading: another robot on the same map whose centre
//!   is ahead (projected distance in `(0, safety_distance_m + step]`) and within the robot's
//!   footprint of the driving line (lateral distance at most `conflict_distance_m`) stops it
//!   for that step ([`Robot::set_safety_stop`]); a robot behind it or beside the lane never
//!   does. The stopped robot's time counts as blocked. Its record gets one
//!   [`Happened::SafetyStop`] per encounter: a new entry once the other robot has been more
//!   than twice the safety distance away, or another robot stops it. Two robots head-on on
//!   one lane both stop and stay stopped — a safety field does not plan; traffic control
//!   must.
//! * **Conflicts.** Two robots on the same map whose centres come closer than
//!   `conflict_distance_m` count one conflict when they enter that zone; staying in it does
//!   not count again, leaving it and coming back does. Robots that overlap where they are
//!   placed at the start are not counted. Conflicts are counted in both modes.
//! * **Pass-through** (`physical = false`): robots ignore each other (no safety stops, no
//!   blocked time), conflicts are still counted — the contention-free upper bound a
//!   benchmark compares a physical fleet against.
//!
//! * **Zones** (3.0). After each step the world reads the zones each robot is inside
//!   ([`Robot::zones_inside`]: its centre, zones of its enabled zone sets) and counts, per
//!   `zoneId`, how many robots are in it now and at most at once, and how many times a robot
//!   came inside a RELEASE zone without a GRANTED request ([`WorldStats::zone_peak`],
//!   [`WorldStats::zone_entries_without_grant`]). Zones of different zone sets that share a
//!   `zoneId` count as one.
//!
//! All times are simulated seconds (see `FleetConfig::time_lapse`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use floorgate_protocols::vda5050::ZoneType;

use super::record::Happened;
use super::robot::Robot;

/// How the world treats its robots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorldConfig {
    /// Robots stop for each other (`false`: they pass through each other).
    pub physical: bool,
    /// How far ahead the safety field reaches, centre to centre (m).
    pub safety_distance_m: f64,
    /// Closer than this, centre to centre, two robots touch: a conflict (m); also the
    /// half-width of the safety field's corridor.
    pub conflict_distance_m: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            physical: true,
            safety_distance_m: 1.0,
            conflict_distance_m: 0.5,
        }
    }
}

/// One safety stop: `robot` would have hit `other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encounter {
    /// The stopped robot's `serialNumber`.
    pub robot: String,
    /// The robot in its field.
    pub other: String,
}

/// One robot's share of the world's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct RobotWorldStats {
    /// Its `serialNumber`.
    pub serial_number: String,
    /// Seconds it was held by its safety field.
    pub blocked_secs: f64,
    /// Encounters in which its safety field stopped it.
    pub safety_stops: u64,
}

/// What the world counted so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorldStats {
    /// Pairs of robots that came closer than the conflict distance (once per encounter).
    pub conflicts: u64,
    /// Seconds robots were held by their safety fields, summed over the robots.
    pub blocked_secs: f64,
    /// Every safety stop, in order.
    pub encounters: Vec<Encounter>,
    /// Per robot, in the order they joined.
    pub robots: Vec<RobotWorldStats>,
    /// Per `zoneId`: robots inside now (zones that were never entered are absent).
    pub zone_occupancy: BTreeMap<String, usize>,
    /// Per `zoneId`: the most robots that were inside at once.
    pub zone_peak: BTreeMap<String, usize>,
    /// Times a robot came inside a RELEASE zone without a GRANTED request for it.
    pub zone_entries_without_grant: u64,
}

/// A world shared by the run loops of a fleet.
pub type SharedWorld = Arc<Mutex<World>>;

#[derive(Debug, Clone)]
struct Body {
    serial: String,
    map: String,
    x: f64,
    y: f64,
    blocked_secs: f64,
    safety_stops: u64,
    /// The robot of the current encounter, until it is well away.
    partner: Option<usize>,
    /// The zones it is inside.
    zones: BTreeSet<String>,
}

/// The floor (see the module note).
#[derive(Debug, Clone)]
pub struct World {
    cfg: WorldConfig,
    bodies: Vec<Body>,
    /// Pairs (lower index first) closer than the conflict distance right now.
    near: BTreeSet<(usize, usize)>,
    conflicts: u64,
    encounters: Vec<Encounter>,
    zone_occupancy: BTreeMap<String, usize>,
    zone_peak: BTreeMap<String, usize>,
    zone_entries_without_grant: u64,
}

impl World {
    /// An empty floor.
    pub fn new(cfg: WorldConfig) -> World {
        World {
            cfg,
            bodies: Vec::new(),
            near: BTreeSet::new(),
            conflicts: 0,
            encounters: Vec::new(),
            zone_occupancy: BTreeMap::new(),
            zone_peak: BTreeMap::new(),
            zone_entries_without_grant: 0,
        }
    }

    /// An empty floor in a mutex, for a fleet's run loops.
    pub fn shared(cfg: WorldConfig) -> SharedWorld {
        Arc::new(Mutex::new(World::new(cfg)))
    }

    /// How it treats its robots.
    pub fn config(&self) -> &WorldConfig {
        &self.cfg
    }

    /// Puts `robot` on the floor where it stands; returns its index for [`World::advance`].
    /// Robots it already overlaps are not a conflict.
    pub fn add(&mut self, robot: &Robot) -> usize {
        let (x, y) = robot.position();
        let me = self.bodies.len();
        self.bodies.push(Body {
            serial: robot.config().serial_number.clone(),
            map: robot.map_id().to_string(),
            x,
            y,
            blocked_secs: robot.blocked_secs(),
            safety_stops: 0,
            partner: None,
            zones: BTreeSet::new(),
        });
        self.zones_of(me, robot);
        for j in 0..me {
            if self
                .distance(me, j)
                .is_some_and(|d| d < self.cfg.conflict_distance_m)
            {
                self.near.insert((j, me));
            }
        }
        me
    }

    /// Advances robot `me` (the `robot` added as `me`) by `dt`, in steps, stopping it for
    /// robots in its safety field (see the module note).
    pub fn advance(&mut self, me: usize, robot: &mut Robot, dt: Duration) {
        let total = dt.as_secs_f64();
        let step_m = (self.cfg.safety_distance_m / 4.0).clamp(0.05, 0.5);
        let travel = robot.config().speed.max(0.0) * total;
        let steps = if robot.is_busy() && travel.is_finite() {
            ((travel / step_m).ceil() as usize).clamp(1, 100_000)
        } else {
            1
        };
        let sub = Duration::from_secs_f64(total / steps as f64);
        for _ in 0..steps {
            let blocker = if self.cfg.physical {
                robot
                    .heading()
                    .and_then(|h| self.ahead(me, robot.position(), h, step_m))
            } else {
                None
            };
            self.hold(me, robot, blocker);
            robot.tick(sub);
            self.moved(me, robot);
        }
    }

    /// The nearest robot in the safety field of `me` at `at` heading `h`.
    fn ahead(&self, me: usize, at: (f64, f64), h: (f64, f64), step_m: f64) -> Option<usize> {
        let reach = self.cfg.safety_distance_m + step_m;
        let map = &self.bodies[me].map;
        self.bodies
            .iter()
            .enumerate()
            .filter(|(j, b)| *j != me && &b.map == map)
            .filter_map(|(j, b)| {
                let (vx, vy) = (b.x - at.0, b.y - at.1);
                let along = vx * h.0 + vy * h.1;
                let lateral = (vx * h.1 - vy * h.0).abs();
                (along > 1e-9 && along <= reach && lateral <= self.cfg.conflict_distance_m)
                    .then_some((j, along))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(j, _)| j)
    }

    fn hold(&mut self, me: usize, robot: &mut Robot, blocker: Option<usize>) {
        let Some(j) = blocker else {
            robot.set_safety_stop(None);
            return;
        };
        let other = self.bodies[j].serial.clone();
        if self.bodies[me].partner != Some(j) {
            let body = &mut self.bodies[me];
            body.partner = Some(j);
            body.safety_stops += 1;
            self.encounters.push(Encounter {
                robot: body.serial.clone(),
                other: other.clone(),
            });
            robot.happened(Happened::SafetyStop { by: other.clone() });
        }
        robot.set_safety_stop(Some(&other));
    }

    /// Counts the zones robot `me` entered and left since it was last looked at.
    fn zones_of(&mut self, me: usize, robot: &Robot) {
        if self.bodies[me].zones.is_empty() && robot.zones_inside().next().is_none() {
            return;
        }
        let now: BTreeSet<String> = robot
            .zones_inside()
            .map(|(z, _, _)| z.to_string())
            .collect();
        for (zone, zone_type, granted) in robot.zones_inside() {
            if self.bodies[me].zones.contains(zone) {
                continue;
            }
            let n = self.zone_occupancy.entry(zone.to_string()).or_default();
            *n += 1;
            let peak = self.zone_peak.entry(zone.to_string()).or_default();
            *peak = (*peak).max(*n);
            if zone_type == ZoneType::Release && !granted {
                self.zone_entries_without_grant += 1;
            }
        }
        for zone in self.bodies[me].zones.difference(&now) {
            if let Some(n) = self.zone_occupancy.get_mut(zone) {
                *n = n.saturating_sub(1);
            }
        }
        self.bodies[me].zones = now;
    }

    fn moved(&mut self, me: usize, robot: &Robot) {
        self.zones_of(me, robot);
        let (x, y) = robot.position();
        {
            let body = &mut self.bodies[me];
            body.x = x;
            body.y = y;
            body.blocked_secs = robot.blocked_secs();
        }
        if let Some(p) = self.bodies[me].partner {
            let away = self
                .distance(me, p)
                .is_none_or(|d| d > 2.0 * self.cfg.safety_distance_m);
            if away {
                self.bodies[me].partner = None;
            }
        }
        for j in (0..self.bodies.len()).filter(|j| *j != me) {
            let pair = (me.min(j), me.max(j));
            match self.distance(me, j) {
                Some(d) if d < self.cfg.conflict_distance_m => {
                    if self.near.insert(pair) {
                        self.conflicts += 1;
                    }
                }
                _ => {
                    self.near.remove(&pair);
                }
            }
        }
    }

    /// Centre distance of two robots on the same map.
    fn distance(&self, a: usize, b: usize) -> Option<f64> {
        let (a, b) = (&self.bodies[a], &self.bodies[b]);
        (a.map == b.map).then(|| (a.x - b.x).hypot(a.y - b.y))
    }

    /// Conflicts so far.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Blocked seconds so far, summed over the robots.
    pub fn blocked_secs(&self) -> f64 {
        self.bodies.iter().map(|b| b.blocked_secs).sum()
    }

    /// Everything counted so far.
    pub fn stats(&self) -> WorldStats {
        WorldStats {
            conflicts: self.conflicts,
            blocked_secs: self.blocked_secs(),
            encounters: self.encounters.clone(),
            robots: self
                .bodies
                .iter()
                .map(|b| RobotWorldStats {
                    serial_number: b.serial.clone(),
                    blocked_secs: b.blocked_secs,
                    safety_stops: b.safety_stops,
                })
                .collect(),
            zone_occupancy: self.zone_occupancy.clone(),
            zone_peak: self.zone_peak.clone(),
            zone_entries_without_grant: self.zone_entries_without_grant,
        }
    }
}

//! Driving: the robot moves along released edges at its speed (or the edge's limit), its
//! position interpolated between nodes, and reaches nodes one by one.
//!
//! A safety stop ([`Robot::set_safety_stop`], set by [`crate::amr::World`] when another
//! robot is in the field ahead) keeps the robot where it is: actions go on, driving does not,
//! `driving` is false and `safetyState.fieldViolation` true, and every second it would have
//! driven counts as blocked ([`Robot::blocked_secs`]).
//!
//! Zones of an enabled 3.0 zone set (see `zones.rs`) hold the robot before a RELEASE zone it
//! has no grant for and before a BLOCKED zone (that is not a safety stop: not counted as
//! blocked), and cap its speed in and towards a SPEED_LIMIT zone; every move is checked for
//! the zones it enters and leaves.

use std::time::Duration;

use super::robot::Robot;

/// The distance assumed for an edge whose nodes have no position and which gives no length.
const UNKNOWN_EDGE_M: f64 = 1.0;

impl Robot {
    /// Advances the simulation by `dt`: finishes a pending cancel, runs actions, states the
    /// zone requests the path ahead needs, drives.
    pub fn tick(&mut self, dt: Duration) {
        let dt = dt.as_secs_f64();
        self.run_actions(dt);
        self.update_zones(dt);
        if self.safety_stop.is_some() && self.wants_to_drive() {
            self.blocked_secs += dt;
        }
        let was_driving = self.driving;
        self.drive(dt);
        if was_driving != self.driving {
            self.changed = true;
        }
        let at = self.position();
        self.track_zones(at);
        // Requests of the next edge (reached during this tick) go out in this tick's state.
        self.update_zones(0.0);
        // Actions triggered by a node reached during this tick start right away.
        self.run_actions(0.0);
    }

    pub(crate) fn current_speed(&self) -> f64 {
        let limit = self
            .edges
            .front()
            .and_then(|e| e.max_speed)
            .unwrap_or(f64::INFINITY);
        let zone = self.zone_speed_limit().unwrap_or(f64::INFINITY);
        self.cfg.speed.min(limit).min(zone)
    }

    fn may_drive(&self) -> bool {
        self.safety_stop.is_none() && self.wants_to_drive()
    }

    /// Whether the robot would drive now if nothing stood in its way.
    pub(crate) fn wants_to_drive(&self) -> bool {
        !self.paused
            && !self.has_fatal_error()
            && !self.is_hibernating()
            && !self.zone_holds()
            && !self.actions.blocks_driving()
            && self.nodes.front().is_some_and(|n| n.state.released)
            && self.edges.front().is_some_and(|e| e.state.released)
    }

    fn drive(&mut self, dt: f64) {
        let mut budget = dt;
        self.driving = false;
        while budget > 0.0 && self.may_drive() {
            self.driving = true;
            let speed = self.current_speed();
            if speed <= 0.0 {
                return;
            }
            let node = self.nodes.front().expect("may_drive checked");
            let edge = self.edges.front().expect("may_drive checked");
            let (sx, sy) = *self.edge_start.get_or_insert((self.x, self.y));
            let target = node.state.node_position.as_ref().map(|p| (p.x, p.y));
            let length = match target {
                Some((tx, ty)) => (tx - sx).hypot(ty - sy),
                None => edge.length.unwrap_or(UNKNOWN_EDGE_M),
            };
            let step = speed * budget;
            let left = length - self.edge_done_m;
            let from = (self.x, self.y);
            if step < left {
                self.edge_done_m += step;
                budget = 0.0;
                if let Some((tx, ty)) = target {
                    let f = if length > 0.0 {
                        self.edge_done_m / length
                    } else {
                        1.0
                    };
                    self.x = sx + (tx - sx) * f;
                    self.y = sy + (ty - sy) * f;
                    self.theta = (ty - sy).atan2(tx - sx);
                }
                self.drain(step);
                self.track_zones(from);
            } else {
                budget -= left / speed;
                self.drain(left);
                if let Some((tx, ty)) = target {
                    if length > 0.0 {
                        self.theta = (ty - sy).atan2(tx - sx);
                    }
                }
                self.edges.pop_front();
                let node = self.nodes.pop_front().expect("may_drive checked");
                self.edge_start = None;
                self.edge_done_m = 0.0;
                self.arrive(node);
                self.track_zones(from);
                self.zones_on_arrival();
                self.run_actions(0.0);
            }
        }
        self.driving = self.driving && self.may_drive();
    }

    /// The unit vector the robot drives along while it wants to drive towards a node with a
    /// position; `None` otherwise.
    pub fn heading(&self) -> Option<(f64, f64)> {
        if !self.wants_to_drive() {
            return None;
        }
        let p = self.nodes.front()?.state.node_position.as_ref()?;
        let (dx, dy) = (p.x - self.x, p.y - self.y);
        let d = dx.hypot(dy);
        (d > 1e-9).then(|| (dx / d, dy / d))
    }

    /// Holds the robot (`Some(serial)`: the robot seen ahead) or lets it drive (`None`).
    pub fn set_safety_stop(&mut self, by: Option<&str>) {
        if self.safety_stop.as_deref() != by {
            self.changed = true;
            self.safety_stop = by.map(str::to_string);
        }
    }

    /// The robot the safety field holds this one for, if any.
    pub fn safety_stop(&self) -> Option<&str> {
        self.safety_stop.as_deref()
    }

    /// Seconds of simulated time the safety field held the robot while it wanted to drive.
    pub fn blocked_secs(&self) -> f64 {
        self.blocked_secs
    }

    fn drain(&mut self, metres: f64) {
        if self.cfg.battery_per_metre > 0.0 {
            self.battery = (self.battery - metres * self.cfg.battery_per_metre).max(0.0);
            self.update_battery_warning();
        }
    }
}

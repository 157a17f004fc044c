//! What the simulated robot reports: the state message, and the faults a test can inject
//! into it (low battery, a FATAL error). A 3.0 state always carries `zoneSets` and
//! `zoneRequests` (empty arrays when there are none).

use floorgate_protocols::vda5050::state::{
    ActionState, AgvPosition, BatteryState, EStop, OperatingMode, SafetyState, Velocity,
};
use floorgate_protocols::vda5050::{AgvError, ErrorLevel, Header, State, TopicKind};

use super::robot::Robot;

impl Robot {
    /// Whether a FATAL error is active.
    pub fn has_fatal_error(&self) -> bool {
        self.errors
            .iter()
            .any(|e| e.error_level == ErrorLevel::Fatal)
    }

    /// Fault injection: a FATAL error of `error_type`; the robot stops and refuses orders.
    pub fn inject_fatal(&mut self, error_type: &str, description: &str) {
        self.changed = true;
        self.happened(super::record::Happened::Faulted {
            error_type: error_type.to_string(),
        });
        self.errors.push(AgvError {
            error_type: error_type.to_string(),
            error_references: None,
            error_description: Some(description.to_string()),
            error_hint: self
                .cfg
                .version
                .has_error_hint()
                .then(|| "clear the fault at the vehicle".to_string()),
            error_level: ErrorLevel::Fatal,
        });
    }

    /// Clears every error, as an operator at the vehicle would (a robot stopped by a lost
    /// release drives on).
    pub fn clear_errors(&mut self) {
        self.changed |= !self.errors.is_empty();
        self.errors.clear();
    }

    /// Fault injection: sets the battery charge (%); below the threshold a `batteryLow`
    /// warning is reported.
    pub fn set_battery(&mut self, charge: f64) {
        self.battery = charge.clamp(0.0, 100.0);
        self.update_battery_warning();
        self.changed = true;
    }

    pub(crate) fn update_battery_warning(&mut self) {
        let low = self.battery < self.cfg.low_battery_percent;
        let has = self.errors.iter().any(|e| e.error_type == "batteryLow");
        if low && !has {
            self.changed = true;
            self.errors.push(AgvError {
                error_type: "batteryLow".into(),
                error_references: None,
                error_description: Some(format!("battery at {:.0} %", self.battery)),
                error_hint: None,
                error_level: ErrorLevel::Warning,
            });
        } else if !low && has {
            self.changed = true;
            self.errors.retain(|e| e.error_type != "batteryLow");
        }
    }

    /// The state message, stamped with the next `state` header.
    pub fn state_message(&mut self) -> State {
        let header = self.headers.next(TopicKind::State);
        let state = self.build_state(header);
        self.state_built();
        state
    }

    /// The current state without consuming a `headerId` (for inspection).
    pub fn snapshot(&self) -> State {
        let mut h = self.headers.clone();
        self.build_state(h.next(TopicKind::State))
    }

    fn build_state(&self, header: Header) -> State {
        let v = self.cfg.version;
        // 2.x reports every action in `actionStates`; 3.0 reports instant actions apart.
        let (instant, order): (Vec<ActionState>, Vec<ActionState>) = self
            .actions
            .states()
            .cloned()
            .partition(|s| v.is_v3() && self.actions.is_instant(&s.action_id));
        let Header {
            header_id,
            timestamp,
            version,
            manufacturer,
            serial_number,
        } = header;
        State {
            header_id,
            timestamp,
            version,
            manufacturer,
            serial_number,
            maps: v.has_state_maps().then(Vec::new),
            // 3.0: the stored zone sets, an empty array when there is none.
            zone_sets: v.is_v3().then(|| self.zone_sets()),
            order_id: self.order_id.clone(),
            order_update_id: self.order_update_id,
            zone_set_id: None,
            last_node_id: self.last_node_id.clone(),
            last_node_sequence_id: self.last_node_seq,
            node_states: self.nodes.iter().map(|n| n.state.clone()).collect(),
            edge_states: self.edges.iter().map(|e| e.state.clone()).collect(),
            agv_position: Some(AgvPosition {
                x: self.x,
                y: self.y,
                theta: self.theta,
                map_id: self.cfg.map_id.clone(),
                map_description: None,
                position_initialized: true,
                localization_score: None,
                deviation_range: None,
            }),
            velocity: Some(Velocity {
                vx: Some(if self.driving {
                    self.current_speed()
                } else {
                    0.0
                }),
                vy: Some(0.0),
                omega: Some(0.0),
            }),
            loads: Some(self.loads.clone()),
            driving: self.driving,
            paused: Some(self.paused),
            new_base_request: Some(
                self.nodes.iter().filter(|n| n.state.released).count() <= 1
                    && self.nodes.iter().any(|n| !n.state.released),
            ),
            distance_since_last_node: None,
            zone_requests: v.is_v3().then(|| self.zone_requests()),
            action_states: order,
            instant_action_states: v.is_v3().then_some(instant),
            battery_state: BatteryState {
                battery_charge: self.battery,
                battery_voltage: None,
                battery_health: None,
                charging: self.charging,
                reach: None,
            },
            operating_mode: OperatingMode::Automatic,
            errors: self
                .errors
                .iter()
                .cloned()
                .map(|mut e| {
                    if !v.has_error_hint() {
                        e.error_hint = None;
                    }
                    e
                })
                .collect(),
            information: Some(Vec::new()),
            safety_state: SafetyState {
                e_stop: EStop::None,
                field_violation: self.safety_stop.is_some(),
            },
        }
    }
}

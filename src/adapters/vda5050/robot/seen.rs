//! What the robot logic reads from a robot's latest `state`, kept member by member.
//!
//! A fleet of 1,000 robots at 10 Hz is 10,000 `state`s a second, nearly all of them saying
//! what the one before said, and each robot's memory is cold again by its next message (a
//! tenth of a second of 999 other robots later). So the adapter decodes every `state` into
//! one scratch [`State`] shared by the fleet and hot in cache (`decode_in_place`: no
//! allocation), and each robot keeps only this: a few cache lines, read to compare and
//! written only where a member changed (`clone_from`, reusing its buffers). Keeping each
//! robot's whole `State` instead, or decoding into a per-robot buffer, touched ten times as
//! many cold lines per message (`cargo bench --bench amr_scale`, BENCHMARKS.md).

use crate::vda5050::state::{self, AgvPosition, NodeState};
use crate::vda5050::{ActionState, ActionStatus, AgvError, State, ZoneRequest, ZoneSetState};

/// The members of the latest `state` that master control acts on.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) order_id: String,
    pub(super) order_update_id: u32,
    pub(super) last_node_id: String,
    pub(super) last_node_sequence_id: u32,
    pub(super) node_states: Vec<NodeState>,
    pub(super) action_states: Vec<ActionState>,
    /// `instantActionStates` (3.0, which reports instant actions apart; empty in 2.x, which
    /// lists them in `actionStates`).
    pub(super) instant_action_states: Vec<ActionState>,
    pub(super) errors: Vec<AgvError>,
    pub(super) battery_charge: f64,
    pub(super) agv_position: Option<AgvPosition>,
    pub(super) new_base_request: Option<bool>,
    /// `paused` (optional in 2.x: `None` when the robot does not say).
    pub(super) paused: Option<bool>,
    pub(super) operating_mode: state::OperatingMode,
    /// `zoneSets` (3.0; empty when not reported).
    pub(super) zone_sets: Vec<ZoneSetState>,
    /// `zoneRequests` (3.0; empty when none).
    pub(super) zone_requests: Vec<ZoneRequest>,
}

impl Seen {
    pub(super) fn new(s: &State) -> Seen {
        let mut seen = Seen::default();
        seen.update(s);
        seen
    }

    /// Takes the members of `s` that differ from what is kept.
    pub(super) fn update(&mut self, s: &State) {
        keep(&mut self.order_id, &s.order_id);
        self.order_update_id = s.order_update_id;
        keep(&mut self.last_node_id, &s.last_node_id);
        self.last_node_sequence_id = s.last_node_sequence_id;
        keep(&mut self.node_states, &s.node_states);
        keep(&mut self.action_states, &s.action_states);
        let instant = s.instant_action_states.as_deref().unwrap_or_default();
        keep_list(&mut self.instant_action_states, instant);
        keep(&mut self.errors, &s.errors);
        self.battery_charge = s.battery_state.battery_charge;
        keep(&mut self.agv_position, &s.agv_position);
        self.new_base_request = s.new_base_request;
        self.paused = s.paused;
        self.operating_mode = s.operating_mode;
        keep_list(
            &mut self.zone_sets,
            s.zone_sets.as_deref().unwrap_or_default(),
        );
        keep_list(
            &mut self.zone_requests,
            s.zone_requests.as_deref().unwrap_or_default(),
        );
    }

    /// The state of action `action_id`, if the robot reports it (in `actionStates` or, 3.0,
    /// `instantActionStates`).
    pub(super) fn action_status(&self, action_id: &str) -> Option<ActionStatus> {
        state::action_status(&self.action_states, action_id)
            .or_else(|| state::action_status(&self.instant_action_states, action_id))
    }

    /// The first error that references instant action `action_id` (`errorReferences`
    /// `actionId`), as the robot says why it refused it (`noOrderToCancel`, say).
    pub(super) fn error_about(&self, action_id: &str) -> Option<&AgvError> {
        self.errors.iter().find(|e| {
            e.error_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|r| r.reference_key == "actionId" && r.reference_value == action_id)
        })
    }

    /// The first active FATAL error.
    pub(super) fn fatal_error(&self) -> Option<&AgvError> {
        state::fatal_error(&self.errors)
    }
}

/// Copies `new` into `slot` only if they differ, reusing `slot`'s buffers.
fn keep<T: PartialEq + Clone>(slot: &mut T, new: &T) {
    if slot != new {
        slot.clone_from(new);
    }
}

/// [`keep`] for a list given as a slice.
fn keep_list<T: PartialEq + Clone>(slot: &mut Vec<T>, new: &[T]) {
    if slot.as_slice() != new {
        slot.truncate(new.len());
        let kept = slot.len();
        slot.clone_from_slice(&new[..kept]);
        slot.extend_from_slice(&new[kept..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vda5050::decode;

    fn state(last: &str, actions: &str, errors: &str) -> State {
        decode(
            format!(
                r#"{{"headerId":1,"timestamp":"2026-01-01T00:00:00.00Z","version":"2.0.0",
            "manufacturer":"m","serialNumber":"s","orderId":"o","orderUpdateId":2,
            "lastNodeId":"{last}","lastNodeSequenceId":4,"nodeStates":[],"edgeStates":[],
            "driving":false,"actionStates":[{actions}],"errors":[{errors}],
            "batteryState":{{"batteryCharge":50.0,"charging":false}},"operatingMode":"AUTOMATIC",
            "safetyState":{{"eStop":"NONE","fieldViolation":false}}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn an_update_takes_every_member_that_changed_and_keeps_equal_ones() {
        let mut seen = Seen::new(&state("N1", "", ""));
        let kept = seen.last_node_id.as_ptr();
        seen.update(&state(
            "N1",
            r#"{"actionId":"a","actionStatus":"RUNNING"}"#,
            "",
        ));
        assert_eq!(
            seen.last_node_id.as_ptr(),
            kept,
            "an equal member is not replaced"
        );
        assert_eq!(seen.action_status("a"), Some(ActionStatus::Running));
        assert!(state::is_busy(&seen.node_states, &seen.action_states));
        seen.update(&state(
            "N2",
            r#"{"actionId":"a","actionStatus":"FINISHED"}"#,
            r#"{"errorType":"x","errorLevel":"FATAL"}"#,
        ));
        assert_eq!(seen.last_node_id, "N2");
        assert_eq!(seen.action_status("a"), Some(ActionStatus::Finished));
        assert!(!state::is_busy(&seen.node_states, &seen.action_states));
        assert_eq!(seen.fatal_error().map(|e| e.error_type.as_str()), Some("x"));
        seen.update(&state("N2", "", ""));
        assert!(seen.fatal_error().is_none(), "a cleared error is gone");
        assert_eq!(seen.action_status("a"), None);
    }
}

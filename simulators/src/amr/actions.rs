//! Action bookkeeping of the simulated robot, and the instant actions it understands:
//! `cancelOrder`, `startPause`/`stopPause`, `stateRequest`, `factsheetRequest`,
//! `startCharging`/`stopCharging`, the 3.0 actions `enableZoneSet`/`deleteZoneSet` (see
//! `zones.rs`) and `startHibernation`/`stopHibernation` (see `hibernation.rs`), and the
//! vendor action `clearErrors` (those of them its configuration lists; others FAIL). A
//! hibernating robot answers only `stopHibernation` and drops every other instant action.
//! `cancelOrder` follows the robot's [`CancelPolicy`].
//!
//! Order actions run one after the other in the order their nodes were reached; a SOFT or
//! HARD action holds the robot on its node until it is done.

use std::collections::{HashMap, HashSet, VecDeque};

use floorgate_protocols::vda5050::order::action_types::{
    CANCEL_ORDER, FACTSHEET_REQUEST, START_CHARGING, START_HIBERNATION, START_PAUSE, STATE_REQUEST,
    STOP_CHARGING, STOP_HIBERNATION, STOP_PAUSE,
};
use floorgate_protocols::vda5050::state::{ActionState, Reference};
use floorgate_protocols::vda5050::{
    Action, ActionStatus, AgvError, BlockingType, ErrorLevel, InstantActions,
};

use super::config::CLEAR_ERRORS;
use super::record::{CancelPolicy, Happened};
use super::robot::Robot;
use super::zones::{DELETE_ZONE_SET, ENABLE_ZONE_SET};

#[derive(Debug, Default)]
pub(crate) struct Actions {
    states: Vec<ActionState>,
    defs: HashMap<String, Action>,
    instant: HashSet<String>,
    queue: VecDeque<String>,
    /// The order action being executed and the seconds it still needs.
    running: Option<(String, f64)>,
    /// A `cancelOrder` reported RUNNING, to be FINISHED on the next tick.
    pub(crate) cancel: Option<String>,
}

impl Actions {
    pub(crate) fn states(&self) -> impl Iterator<Item = &ActionState> {
        self.states.iter()
    }

    /// Whether `id` came as an instant action (3.0 reports those in `instantActionStates`).
    pub(crate) fn is_instant(&self, id: &str) -> bool {
        self.instant.contains(id)
    }

    pub(crate) fn status(&self, id: &str) -> Option<ActionStatus> {
        self.states
            .iter()
            .find(|s| s.action_id == id)
            .map(|s| s.action_status)
    }

    pub(crate) fn set(&mut self, id: &str, status: ActionStatus, result: Option<String>) {
        if let Some(s) = self.states.iter_mut().find(|s| s.action_id == id) {
            s.action_status = status;
            if result.is_some() {
                s.result_description = result;
            }
        }
    }

    fn add(&mut self, a: Action, status: ActionStatus, instant: bool) {
        self.states.retain(|s| s.action_id != a.action_id);
        self.states.push(ActionState {
            action_id: a.action_id.clone(),
            action_type: Some(a.action_type.clone()),
            action_description: a.action_description.clone(),
            action_status: status,
            result_description: None,
        });
        if instant {
            self.instant.insert(a.action_id.clone());
        } else {
            self.instant.remove(&a.action_id);
        }
        self.defs.insert(a.action_id.clone(), a);
    }

    pub(crate) fn add_order_action(&mut self, a: Action) {
        self.add(a, ActionStatus::Waiting, false);
    }

    /// Drops WAITING actions of a replaced horizon.
    pub(crate) fn forget_waiting(&mut self, ids: &[String]) {
        self.states
            .retain(|s| !(ids.contains(&s.action_id) && s.action_status == ActionStatus::Waiting));
    }

    /// A new order: every action state goes, except instant actions still running.
    pub(crate) fn clear_for_new_order(&mut self) {
        let instant = &self.instant;
        self.states
            .retain(|s| instant.contains(&s.action_id) && !s.action_status.is_done());
        let keep: HashSet<String> = self.states.iter().map(|s| s.action_id.clone()).collect();
        self.defs.retain(|id, _| keep.contains(id));
        self.instant.retain(|id| keep.contains(id));
        self.queue.clear();
        self.running = None;
    }

    pub(crate) fn trigger(&mut self, ids: &[String]) {
        self.queue.extend(ids.iter().cloned());
    }

    pub(crate) fn any_unfinished_order_action(&self) -> bool {
        self.states
            .iter()
            .any(|s| !self.instant.contains(&s.action_id) && !s.action_status.is_done())
    }

    /// Whether a triggered SOFT or HARD action keeps the robot on its node.
    pub(crate) fn blocks_driving(&self) -> bool {
        let blocking = |id: &String| {
            self.defs
                .get(id)
                .is_some_and(|a| a.blocking_type != BlockingType::None)
        };
        self.running.as_ref().is_some_and(|(id, _)| blocking(id)) || self.queue.iter().any(blocking)
    }

    /// Every unfinished order action fails (cancelOrder, hibernation).
    fn fail_order_actions(&mut self, why: &str) {
        self.queue.clear();
        self.running = None;
        for s in &mut self.states {
            if !self.instant.contains(&s.action_id) && !s.action_status.is_done() {
                s.action_status = ActionStatus::Failed;
                s.result_description = Some(why.into());
            }
        }
    }
}

impl Robot {
    /// Handles an `instantActions` message.
    pub fn handle_instant_actions(&mut self, ia: InstantActions) {
        for a in ia.actions {
            self.counters.instant_actions += 1;
            self.changed = true;
            let id = a.action_id.clone();
            let kind = a.action_type.clone();
            let zone_set_id = a.param_str("zoneSetId").map(str::to_string);
            if self.is_hibernating() && kind != STOP_HIBERNATION {
                continue;
            }
            if kind == CANCEL_ORDER
                && self.cfg.cancel_policy == CancelPolicy::IgnoreOnceLoaded
                && self.is_busy()
                && !self.loads.is_empty()
            {
                self.happened(Happened::CancelIgnored {
                    action_id: id,
                    order_id: self.order_id.clone(),
                });
                continue;
            }
            self.actions.add(a, ActionStatus::Running, true);
            if !self.cfg.instant_actions.contains(&kind) {
                let why = format!("instant action `{kind}` is not supported");
                self.actions.set(&id, ActionStatus::Failed, Some(why));
                continue;
            }
            let (status, result) = match kind.as_str() {
                CANCEL_ORDER => return_or(self.cancel_order(&id)),
                START_PAUSE => {
                    self.set_paused(true);
                    (ActionStatus::Finished, None)
                }
                STOP_PAUSE => {
                    self.set_paused(false);
                    (ActionStatus::Finished, None)
                }
                STATE_REQUEST => (ActionStatus::Finished, None),
                FACTSHEET_REQUEST => {
                    self.factsheet_requested = true;
                    (ActionStatus::Finished, None)
                }
                START_CHARGING | STOP_CHARGING => {
                    self.charging = kind == START_CHARGING;
                    (ActionStatus::Finished, None)
                }
                ENABLE_ZONE_SET => self.enable_zone_set(zone_set_id.as_deref()),
                DELETE_ZONE_SET => self.delete_zone_set(zone_set_id.as_deref()),
                START_HIBERNATION => self.start_hibernation(),
                STOP_HIBERNATION => self.stop_hibernation(),
                CLEAR_ERRORS => {
                    self.clear_errors();
                    (ActionStatus::Finished, None)
                }
                other => (
                    ActionStatus::Failed,
                    Some(format!("unknown instant action `{other}`")),
                ),
            };
            self.actions.set(&id, status, result);
        }
    }

    /// `cancelOrder`: RUNNING now, FINISHED at the next tick once the robot stands still;
    /// FAILED with a `noOrderToCancel` warning when there is nothing to cancel; FAILED with
    /// a `cancelRefused` warning when the policy refuses it.
    fn cancel_order(&mut self, id: &str) -> Option<(ActionStatus, Option<String>)> {
        if self.order_cancelled || !self.is_busy() {
            self.warn_about(id, "noOrderToCancel", "there is no order to cancel");
            self.happened(Happened::NothingToCancel {
                action_id: id.to_string(),
            });
            return Some((ActionStatus::Failed, None));
        }
        if self.cfg.cancel_policy == CancelPolicy::RefuseOnceLoaded && !self.loads.is_empty() {
            self.warn_about(id, "cancelRefused", "a load is on board: the order goes on");
            self.happened(Happened::CancelRefused {
                action_id: id.to_string(),
                order_id: self.order_id.clone(),
            });
            return Some((ActionStatus::Failed, Some("a load is on board".into())));
        }
        self.happened(Happened::CancelAccepted {
            action_id: id.to_string(),
            order_id: self.order_id.clone(),
        });
        self.clear_order("order cancelled");
        self.actions.cancel = Some(id.to_string());
        None
    }

    /// The order ends where the robot stands: unfinished order actions FAIL (`why`), no
    /// nodes or edges are left, zone requests it no longer needs go.
    pub(crate) fn clear_order(&mut self, why: &str) {
        self.actions.fail_order_actions(why);
        self.nodes.clear();
        self.edges.clear();
        self.edge_start = None;
        self.edge_done_m = 0.0;
        self.driving = false;
        self.order_cancelled = true;
        self.update_zones(0.0);
    }

    /// A warning of `error_type` referencing instant action `action_id` (and the order).
    fn warn_about(&mut self, action_id: &str, error_type: &str, description: &str) {
        let mut refs = vec![Reference::new("actionId", action_id)];
        if !self.order_id.is_empty() {
            refs.push(Reference::new("orderId", &self.order_id));
        }
        self.errors.retain(|e| e.error_type != error_type);
        self.errors.push(AgvError {
            error_type: error_type.into(),
            error_references: Some(refs),
            error_description: Some(description.into()),
            error_hint: None,
            error_level: ErrorLevel::Warning,
        });
    }

    fn set_paused(&mut self, paused: bool) {
        self.happened(if paused {
            Happened::Paused
        } else {
            Happened::Resumed
        });
        self.paused = paused;
        if let Some((id, _)) = self.actions.running.clone() {
            let status = if paused {
                ActionStatus::Paused
            } else {
                ActionStatus::Running
            };
            self.actions.set(&id, status, None);
        }
        if paused {
            self.driving = false;
        }
    }

    /// Runs triggered order actions for `dt` seconds.
    pub(crate) fn run_actions(&mut self, mut dt: f64) {
        if let Some(id) = self.actions.cancel.take() {
            self.actions.set(&id, ActionStatus::Finished, None);
            self.changed = true;
        }
        if self.paused || self.has_fatal_error() {
            return;
        }
        loop {
            let (id, remaining) = match self.actions.running.take() {
                Some(r) => r,
                None => {
                    let Some(id) = self.actions.queue.pop_front() else {
                        return;
                    };
                    let duration = match self.actions.defs.get(&id).map(|a| a.action_type.as_str())
                    {
                        Some(floorgate_protocols::vda5050::action_types::PICK) => {
                            self.cfg.pick_duration_s
                        }
                        Some(floorgate_protocols::vda5050::action_types::DROP) => {
                            self.cfg.drop_duration_s
                        }
                        _ => 0.0,
                    };
                    self.actions.set(&id, ActionStatus::Running, None);
                    self.changed = true;
                    (id, duration)
                }
            };
            if remaining > dt {
                self.actions.running = Some((id, remaining - dt));
                return;
            }
            dt -= remaining;
            self.finish_action(&id);
        }
    }

    fn finish_action(&mut self, id: &str) {
        self.changed = true;
        let Some(a) = self.actions.defs.get(id).cloned() else {
            return;
        };
        let load_id = a.param_str("loadId").unwrap_or("").to_string();
        match a.action_type.as_str() {
            floorgate_protocols::vda5050::action_types::PICK => {
                *self.counters.picks.entry(load_id.clone()).or_default() += 1;
                self.happened(Happened::Picked {
                    order_id: self.order_id.clone(),
                    load_id: load_id.clone(),
                    node_id: self.last_node_id.clone(),
                });
                self.loads.push(floorgate_protocols::vda5050::state::Load {
                    load_id: (!load_id.is_empty()).then(|| load_id.clone()),
                    load_type: a.param_str("loadType").map(str::to_string),
                    load_position: a.param_str("lhd").map(str::to_string),
                    weight: None,
                });
            }
            floorgate_protocols::vda5050::action_types::DROP => {
                *self.counters.drops.entry(load_id.clone()).or_default() += 1;
                self.happened(Happened::Dropped {
                    order_id: self.order_id.clone(),
                    load_id: load_id.clone(),
                    node_id: self.last_node_id.clone(),
                });
                if let Some(error_type) = self.fault_after_drop.take() {
                    self.inject_fatal(&error_type, "fault right after the drop");
                }
                match self
                    .loads
                    .iter()
                    .position(|l| l.load_id.as_deref().unwrap_or("") == load_id)
                {
                    Some(i) => {
                        self.loads.remove(i);
                    }
                    None => {
                        self.loads.pop();
                    }
                }
            }
            _ => {}
        }
        self.actions.set(id, ActionStatus::Finished, None);
    }
}

fn return_or(outcome: Option<(ActionStatus, Option<String>)>) -> (ActionStatus, Option<String>) {
    outcome.unwrap_or((ActionStatus::Running, None))
}

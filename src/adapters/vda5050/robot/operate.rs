//! Operator commands on a robot, outside any task (DeviceService): `Pause` → `startPause`,
//! `Resume` → `stopPause`, `Stop` → `cancelOrder` of whatever order the robot holds that is
//! not a floorgate command's (a command in hand is stopped through its task instead), and
//! `Reset` → the instant action [`RESET_ACTION`] (`clearErrors`) where the profile lists it:
//! VDA 5050 2.x defines no reset, so a robot whose profile does not name that vendor action
//! answers `Unsupported`.
//!
//! Before anything is sent: an action the profile does not list, or that the robot's
//! factsheet (once received) does not declare as an instant action, is `Unsupported`; a robot
//! that cannot hear us (broker down, robot offline, no state yet) is `NotSent`. Then the
//! instant action is published, re-sent every `resend` until the robot lists it, and the
//! robot's state answers:
//!
//! * FINISHED → `Done`; for a pause also `paused: true`, for a resume `paused: false` after
//!   it was `true` (robots that switch at once may never list the action);
//! * FAILED, or an error whose `errorReferences` name its `actionId` → `Refused` with the
//!   robot's reason — except `noOrderToCancel` for a stop: nothing to cancel is done;
//! * nothing within `operate_timeout` → `Unconfirmed` (it went out; the robot never said).
//!
//! `Wake` → `stopHibernation` (3.0) is the one command a hibernating robot hears: it goes
//! out while the robot's connection says HIBERNATING and is done when the connection says
//! ONLINE again (a sleeping robot sends no state to list the action in). `Hibernate` →
//! `startHibernation` is for an idle robot, done once FINISHED or the connection says
//! HIBERNATING.

use std::time::Instant;

use super::cancel::refusal;
use super::{describe_error, Out, Robot, Seen};
use crate::engine::adapter::DeviceOperation;
use crate::vda5050::factsheet::ActionScope;
use crate::vda5050::order::action_types::{
    CANCEL_ORDER, START_HIBERNATION, START_PAUSE, STOP_HIBERNATION, STOP_PAUSE,
};
use crate::vda5050::{ActionStatus, ConnectionState};

/// The vendor instant action an operator's `Reset` sends, where the profile lists it.
pub const RESET_ACTION: &str = "clearErrors";

/// What the robot did with an operator command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operated {
    /// The robot's state shows it done.
    Done,
    /// The profile or the factsheet has no such instant action.
    Unsupported(String),
    /// The robot said no; its reason.
    Refused(String),
    /// Nothing was published: the robot cannot hear us.
    NotSent(String),
    /// Published, and no answer came in time.
    Unconfirmed(String),
}

/// An operator command waiting for the robot's answer.
#[derive(Debug)]
pub(super) struct Operation {
    request: u64,
    op: DeviceOperation,
    action_type: &'static str,
    action_id: String,
    deadline: Instant,
    last_sent: Instant,
    /// The robot listed the action: no more re-sends.
    listed: bool,
    /// `paused` when the command was sent.
    paused_before: Option<bool>,
}

impl Robot {
    /// Carries out operator command `op`; the answer comes as [`Out::Operated`] with
    /// `request`. `sequence` (the engine's fresh device sequence) names the action.
    pub fn operate(
        &mut self,
        request: u64,
        op: DeviceOperation,
        sequence: u32,
        now: Instant,
        out: &mut Vec<Out>,
    ) {
        if let Err(result) = self.start_operation(request, op, sequence, now, out) {
            if let Operated::Unsupported(why) | Operated::Refused(why) | Operated::NotSent(why) =
                &result
            {
                tracing::info!(device_id = %self.device_id, operation = op.as_str(), reason = %why,
                    "operator command not carried out");
            }
            out.push(Out::Operated { request, result });
        }
    }

    fn start_operation(
        &mut self,
        request: u64,
        op: DeviceOperation,
        sequence: u32,
        now: Instant,
        out: &mut Vec<Out>,
    ) -> Result<(), Operated> {
        let device = &self.device_id;
        let action_type = match op {
            DeviceOperation::Pause => START_PAUSE,
            DeviceOperation::Resume => STOP_PAUSE,
            DeviceOperation::Stop => CANCEL_ORDER,
            DeviceOperation::Reset => RESET_ACTION,
            DeviceOperation::Wake => STOP_HIBERNATION,
            DeviceOperation::Hibernate => START_HIBERNATION,
        };
        if !self.profile.supports(action_type) {
            return Err(Operated::Unsupported(if op == DeviceOperation::Reset {
                format!(
                    "device {device}: VDA 5050 defines no reset, and profile {} lists no `{RESET_ACTION}` instant action",
                    self.profile.model
                )
            } else {
                format!(
                    "device {device}: profile {} does not list the `{action_type}` instant action",
                    self.profile.model
                )
            }));
        }
        if let Some(f) = &self.factsheet {
            if !f.supports_action(action_type, ActionScope::Instant) {
                return Err(Operated::Unsupported(format!(
                    "device {device}: the robot's factsheet does not declare the instant action `{action_type}`"
                )));
            }
        }
        if matches!(op, DeviceOperation::Stop | DeviceOperation::Hibernate) {
            if let Some(job) = &self.job {
                return Err(Operated::Refused(format!(
                    "device {device} is carrying out command {}: cancel its task to {} it",
                    job.command.command_id,
                    op.as_str()
                )));
            }
        }
        if op == DeviceOperation::Wake && !self.asleep() {
            return if self.connected() {
                // Awake already: nothing to do.
                Err(Operated::Done)
            } else {
                Err(Operated::NotSent(format!(
                    "device {device}: {}",
                    self.availability().1
                )))
            };
        }
        if !self.connected() && !(op == DeviceOperation::Wake && self.asleep()) {
            return Err(Operated::NotSent(format!(
                "device {device}: {}",
                self.availability().1
            )));
        }
        let action_id = self.next_instant_id(&format!("operator-{}-{sequence}", op.as_str()));
        self.publish_instant(action_type, &action_id, out);
        self.operations.push(Operation {
            request,
            op,
            action_type,
            action_id,
            deadline: now + self.timing.operate_timeout,
            last_sent: now,
            listed: false,
            paused_before: self.state.as_ref().and_then(|s| s.paused),
        });
        Ok(())
    }

    /// Whether an operator's `cancelOrder` is waiting for its answer (no order goes out
    /// meanwhile).
    pub(super) fn operator_cancel_pending(&self) -> bool {
        self.operations
            .iter()
            .any(|o| o.action_type == CANCEL_ORDER)
    }

    /// Answers the operator commands the latest state (or the clock) decides; re-sends the
    /// others when due.
    pub(super) fn follow_operations(&mut self, now: Instant, out: &mut Vec<Out>) {
        if self.operations.is_empty() {
            return;
        }
        let connected = self.connected();
        let asleep = self.asleep();
        let connection = self.connection;
        let mut resend = Vec::new();
        let mut i = 0;
        while i < self.operations.len() {
            let o = &mut self.operations[i];
            let by_connection = match (o.op, connection) {
                (DeviceOperation::Wake, Some(ConnectionState::Online)) => Some(Operated::Done),
                (DeviceOperation::Hibernate, Some(ConnectionState::Hibernating)) => {
                    Some(Operated::Done)
                }
                _ => None,
            };
            if let Some(result) = by_connection.or_else(|| judge(self.state.as_ref(), o, now)) {
                let o = self.operations.remove(i);
                tracing::info!(device_id = %self.device_id, operation = o.op.as_str(),
                    action_id = %o.action_id, ?result, "operator command answered");
                out.push(Out::Operated {
                    request: o.request,
                    result,
                });
                continue;
            }
            let hears = connected || (asleep && o.op == DeviceOperation::Wake);
            if !o.listed && hears && now.duration_since(o.last_sent) >= self.timing.resend {
                o.last_sent = now;
                resend.push((o.action_type, o.action_id.clone()));
            }
            i += 1;
        }
        for (action_type, action_id) in resend {
            self.publish_instant(action_type, &action_id, out);
        }
    }
}

/// What the state (or the clock) says about operation `o`, if it decides it.
fn judge(s: Option<&Seen>, o: &mut Operation, now: Instant) -> Option<Operated> {
    if let Some(s) = s {
        let stop = o.op == DeviceOperation::Stop;
        let nothing_to_cancel = |s: &Seen| {
            s.error_about(&o.action_id)
                .is_some_and(|e| e.error_type == "noOrderToCancel")
        };
        let status = s.action_status(&o.action_id);
        o.listed |= status.is_some();
        match status {
            Some(ActionStatus::Finished) => return Some(Operated::Done),
            Some(ActionStatus::Failed) if stop && nothing_to_cancel(s) => {
                return Some(Operated::Done)
            }
            Some(ActionStatus::Failed) => return Some(Operated::Refused(refusal(s, &o.action_id))),
            _ => {}
        }
        if let Some(e) = s.error_about(&o.action_id) {
            if stop && e.error_type == "noOrderToCancel" {
                return Some(Operated::Done);
            }
            return Some(Operated::Refused(describe_error(e)));
        }
        match o.op {
            DeviceOperation::Pause if s.paused == Some(true) => return Some(Operated::Done),
            DeviceOperation::Resume if o.paused_before == Some(true) && s.paused == Some(false) => {
                return Some(Operated::Done)
            }
            _ => {}
        }
    }
    (now >= o.deadline).then(|| {
        Operated::Unconfirmed(format!(
            "no answer from the robot to {} ({}) in time",
            o.action_type, o.action_id
        ))
    })
}

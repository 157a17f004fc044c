//! Stopping a command with `cancelOrder`, and what the robot's answer decides.
//!
//! A stopped command ends by what the robot's `state` says, in this order
//! ([`Robot::follow_stop`]):
//!
//! 1. the command's drop FINISHED → `Completed`: the load is where it was sent, whatever
//!    became of the cancel (the robot refused it, or had not processed it yet);
//! 2. the cancel FINISHED → `Stopped`;
//! 3. the cancel refused — its action state FAILED, or an error whose `errorReferences`
//!    name its `actionId` (`noOrderToCancel`, or a refusal of the robot's own) — or never
//!    answered after its last re-send: nothing more is sent and the command follows the
//!    robot: a FAILED pick or drop or a FATAL error → `Failed`, the drop FINISHED →
//!    `Completed` (1), a robot that does not hold the order → `Stopped` (nothing of it runs);
//! 4. otherwise the robot has not answered yet: a pick or drop that FAILED meanwhile is the
//!    cancel's doing (VDA 5050 6.6.3) and decides nothing.
//!
//! The cancel's `actionId` is `{command_id}/cancel` ([`plan::cancel_id`]), the same in every
//! process. After a restart the engine calls `stop` again with no job in hand: the job is
//! rebuilt from the robot's state (the order it holds, its actions, what became of an
//! earlier cancel) before anything is sent, so a drop that FINISHED while the gateway was
//! away is `Completed` and a cancel that FINISHED is `Stopped`, without a second cancel.
//!
//! Re-sends are bounded and back off: the first at once (while the robot can hear), then
//! after `resend`, doubling up to [`BACKOFF_CAP`], at most [`MAX_SENDS`] in all and none once
//! the robot lists the action; after the last, one warning. When the command ends first (its
//! drop FINISHED) an unanswered cancel is dropped — a late re-send must not cancel the next
//! order — and one the robot lists as running is kept until it ends: no order goes to a
//! robot while its `cancelOrder` runs.

use std::time::{Duration, Instant};

use super::job::{handling_failure, Job};
use super::{describe_error, Out, Robot, Seen, Sent, Timing};
use crate::adapters::vda5050::plan;
use crate::engine::adapter::{DeviceCommand, DeviceReport};
use crate::vda5050::order::action_types::CANCEL_ORDER;
use crate::vda5050::ActionStatus;

/// The most `cancelOrder` messages sent for one cancel.
pub(super) const MAX_SENDS: u32 = 6;
/// The longest wait between two of them.
pub(super) const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// What the robot said to a cancel so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    /// Nothing yet.
    Pending,
    /// Listed in `actionStates`, not done (WAITING, INITIALIZING, RUNNING, PAUSED).
    Listed,
    /// FINISHED: the order is cancelled.
    Finished,
    /// FAILED, or an error referencing it; the reason.
    Refused(String),
    /// Never listed nor refused after the last re-send.
    Unanswered,
}

/// A `cancelOrder` in flight.
#[derive(Debug)]
pub(super) struct Cancel {
    /// The command whose stop waits for this cancel (`None`: the command already ended, as
    /// after an offline timeout, and the robot's order is cancelled when it is back).
    pub(super) command_id: Option<String>,
    pub(super) action_id: String,
    /// `cancelOrder` messages published.
    pub(super) sends: u32,
    pub(super) last_sent: Option<Instant>,
    /// The first wait between two sends.
    resend: Duration,
    pub(super) answer: Answer,
}

impl Cancel {
    /// A cancel of `command_id`'s order, not sent yet; `stops` if a stop waits for it.
    pub(super) fn new(stops: Option<String>, command_id: &str, timing: &Timing) -> Cancel {
        Cancel {
            command_id: stops,
            action_id: plan::cancel_id(command_id),
            sends: 0,
            last_sent: None,
            resend: timing.resend,
            answer: Answer::Pending,
        }
    }

    /// Whether no order may go to the robot: not answered yet, or running on the robot.
    pub(super) fn blocks(&self) -> bool {
        matches!(self.answer, Answer::Pending | Answer::Listed)
    }

    /// The wait after the `sends`-th message: `resend`, doubling, capped.
    fn wait(&self) -> Duration {
        let doublings = self.sends.saturating_sub(1).min(16);
        self.resend
            .checked_mul(2u32.pow(doublings))
            .map_or(BACKOFF_CAP, |d| d.min(BACKOFF_CAP))
    }

    /// Takes what `s` says about the cancel; returns whether the answer changed.
    fn observe(&mut self, s: &Seen) -> bool {
        if matches!(self.answer, Answer::Finished | Answer::Refused(_)) {
            return false;
        }
        let answer = match s.action_status(&self.action_id) {
            Some(ActionStatus::Finished) => Answer::Finished,
            Some(ActionStatus::Failed) => Answer::Refused(refusal(s, &self.action_id)),
            other => match s.error_about(&self.action_id) {
                Some(e) => Answer::Refused(describe_error(e)),
                None if other.is_some() => Answer::Listed,
                None => return false,
            },
        };
        let changed = answer != self.answer;
        self.answer = answer;
        changed
    }
}

/// Why the robot refused instant action `action_id`: the error naming it, else the action's
/// `resultDescription`.
pub(super) fn refusal(s: &Seen, action_id: &str) -> String {
    if let Some(e) = s.error_about(action_id) {
        return describe_error(e);
    }
    let result = s
        .action_states
        .iter()
        .find(|a| a.action_id == action_id)
        .and_then(|a| a.result_description.as_deref())
        .filter(|r| !r.is_empty());
    match result {
        Some(r) => format!("FAILED: {r}"),
        None => "FAILED".into(),
    }
}

impl Robot {
    /// Stops `command` with `cancelOrder` (see the module note for what decides).
    pub fn stop(&mut self, command: &DeviceCommand, now: Instant, out: &mut Vec<Out>) -> Sent {
        let cid = command.command_id.clone();
        match &mut self.job {
            Some(job) if job.command.command_id == cid => {
                if !job.stopping {
                    job.stopping = true;
                    if job.order.is_some() && !job.published() {
                        // Planned, never left floorgate.
                        self.end_stop(DeviceReport::Stopped { command_id: cid }, out);
                        return Sent::Accepted;
                    }
                }
            }
            other => {
                if let Some(job) = other {
                    tracing::warn!(device_id = %self.device_id, old = %job.command.command_id,
                        new = %cid, "a stop for another command replaces the one in hand");
                    let old = job.command.command_id.clone();
                    self.detach_cancel(&old);
                }
                // Not in hand (the gateway restarted, or it ended): the robot's state says
                // whether it holds the order and what became of it.
                self.job = Some(Job::new(command.clone(), true));
            }
        }
        self.progress(now, out);
        self.delivery(&cid)
    }

    /// Where the stop of `command_id`, in hand, stands on the link.
    pub(super) fn stop_delivery(&self, command_id: &str) -> Sent {
        if self.state.is_none() {
            return Sent::Waiting;
        }
        match &self.cancel {
            Some(c)
                if c.command_id.as_deref() == Some(command_id)
                    && c.sends == 0
                    && c.answer == Answer::Pending
                    && !self.connected() =>
            {
                Sent::Unreachable(self.availability().1)
            }
            _ => Sent::Accepted,
        }
    }

    /// Whether a cancel keeps new orders from the robot.
    pub(super) fn cancel_blocks(&self) -> bool {
        self.cancel.as_ref().is_some_and(Cancel::blocks) || self.operator_cancel_pending()
    }

    /// Takes what the latest state says about the cancel in flight.
    pub(super) fn observe_cancel(&mut self) {
        let (Some(c), Some(s)) = (&mut self.cancel, &self.state) else {
            return;
        };
        if c.observe(s) {
            match &c.answer {
                Answer::Refused(reason) => {
                    tracing::warn!(device_id = %self.device_id, action_id = %c.action_id,
                        %reason, "the robot refused cancelOrder; no more re-sends, the step follows the robot")
                }
                Answer::Finished => {
                    tracing::info!(device_id = %self.device_id, action_id = %c.action_id,
                        "cancelOrder FINISHED")
                }
                _ => {}
            }
        }
    }

    /// Decides a job being stopped from the robot's state (the module note's rules).
    pub(super) fn follow_stop(&mut self, now: Instant, out: &mut Vec<Out>) {
        let Some(job) = self.job.as_ref().filter(|j| j.stopping) else {
            return;
        };
        let cid = job.command.command_id.clone();
        let Some(s) = &self.state else {
            return self.ask_state(now, out);
        };
        let holds = match &job.order {
            Some(a) => s.order_id == a.t.plan.order_id(),
            None => plan::start_of(&s.order_id, &cid).is_some(),
        };
        let (pick_id, drop_id) = (plan::action_id(&cid, "pick"), plan::action_id(&cid, "drop"));
        if holds && s.action_status(&drop_id) == Some(ActionStatus::Finished) {
            tracing::info!(device_id = %self.device_id, command_id = %cid,
                "the drop FINISHED while the cancel was pending: the command is done");
            return self.end_stop(DeviceReport::Completed { command_id: cid }, out);
        }
        let attached = self
            .cancel
            .as_ref()
            .is_some_and(|c| c.command_id.as_deref() == Some(cid.as_str()));
        if !attached {
            let sent_here = job.order.as_ref().is_some_and(|a| a.last_sent.is_some());
            if !holds && !sent_here {
                // The robot holds no order of this command and this process sent none:
                // nothing of it runs, nothing to cancel.
                return self.end_stop(DeviceReport::Stopped { command_id: cid }, out);
            }
            if let Some(old) = &self.cancel {
                tracing::debug!(device_id = %self.device_id, action_id = %old.action_id,
                    "an earlier cancel gives way to the stop of a command");
            }
            let mut c = Cancel::new(Some(cid.clone()), &cid, &self.timing);
            c.observe(s);
            self.cancel = Some(c);
        }
        let answer = self.cancel.as_ref().map(|c| c.answer.clone());
        let report = match answer {
            Some(Answer::Finished) => DeviceReport::Stopped { command_id: cid },
            Some(Answer::Refused(_) | Answer::Unanswered) => {
                if !holds {
                    DeviceReport::Stopped { command_id: cid }
                } else if let Some(reason) = handling_failure(s, &pick_id, &drop_id) {
                    DeviceReport::Failed {
                        command_id: cid,
                        reason,
                    }
                } else if let Some(e) = s.fatal_error() {
                    DeviceReport::Failed {
                        command_id: cid,
                        reason: format!("the robot reports a FATAL error: {}", describe_error(e)),
                    }
                } else {
                    // The robot goes on with the order: its end decides.
                    return;
                }
            }
            _ => return,
        };
        self.end_stop(report, out);
    }

    /// Ends the job being stopped with `report`.
    fn end_stop(&mut self, report: DeviceReport, out: &mut Vec<Out>) {
        if let Some(job) = self.job.take() {
            self.detach_cancel(&job.command.command_id);
        }
        if let DeviceReport::Failed { command_id, reason } = &report {
            tracing::warn!(device_id = %self.device_id, %command_id, %reason, "AMR command failed");
        }
        out.push(Out::Report(report));
    }

    /// `command_id` ended: its cancel is kept only while the robot runs it.
    pub(super) fn detach_cancel(&mut self, command_id: &str) {
        let Some(c) = &mut self.cancel else { return };
        if c.command_id.as_deref() != Some(command_id) {
            return;
        }
        if c.answer == Answer::Listed {
            c.command_id = None;
        } else {
            self.cancel = None;
        }
    }

    /// Publishes the cancel when due, gives up after the last re-send, and forgets a cancel
    /// no stop waits for once it is answered.
    pub(super) fn send_cancel(&mut self, now: Instant, out: &mut Vec<Out>) {
        let connected = self.connected();
        let Some(c) = &mut self.cancel else { return };
        if c.answer == Answer::Pending {
            let due = c
                .last_sent
                .is_none_or(|t| now.duration_since(t) >= c.wait());
            if due && c.sends >= MAX_SENDS {
                c.answer = Answer::Unanswered;
                tracing::warn!(device_id = %self.device_id, action_id = %c.action_id,
                    sends = c.sends, "no answer to cancelOrder; no more re-sends, the step follows the robot");
            } else if due && connected {
                c.sends += 1;
                c.last_sent = Some(now);
                let id = c.action_id.clone();
                self.publish_instant(CANCEL_ORDER, &id, out);
            }
        }
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.command_id.is_none() && !c.blocks())
        {
            self.cancel = None;
        }
    }
}

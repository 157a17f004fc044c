//! Hibernation (VDA 5050 3.0, instant actions `startHibernation` / `stopHibernation`).
//!
//! `startHibernation` is FINISHED at once and reported in one more state message; the active
//! order is cleared as by a cancel (its unfinished actions FAIL, the robot stops where it
//! is), and once that state message is built the robot wants its connection state to be
//! HIBERNATING ([`Robot::take_connection_change`]) and sends no more state messages
//! ([`Robot::publishes_state`]). A hibernating robot stands still and ignores orders, zone
//! sets, responses and every instant action but `stopHibernation` (no action state, no
//! error). `stopHibernation` wakes it: connection state ONLINE, the action FINISHED, state
//! messages again (one right away). [`Robot::hibernate`] puts a robot to sleep as if it had
//! received `startHibernation`, without an action to report.

use floorgate_protocols::vda5050::{ActionStatus, ConnectionState};

use super::record::Happened;
use super::robot::Robot;

#[derive(Debug, Default)]
pub(crate) struct Hibernation {
    asleep: bool,
    /// The state message reporting `startHibernation` FINISHED is still to be built.
    report_due: bool,
    /// A connection state to publish.
    connection: Option<ConnectionState>,
}

impl Robot {
    /// Whether the robot hibernates.
    pub fn is_hibernating(&self) -> bool {
        self.hibernation.asleep
    }

    /// Whether the robot sends state messages: not while it hibernates, except the one that
    /// reports `startHibernation` FINISHED.
    pub fn publishes_state(&self) -> bool {
        !self.hibernation.asleep || self.hibernation.report_due
    }

    /// The connection state the robot wants published (HIBERNATING after the last state
    /// message before its sleep, ONLINE when it wakes), if it changed; clears it.
    pub fn take_connection_change(&mut self) -> Option<ConnectionState> {
        self.hibernation.connection.take()
    }

    /// The connection state the robot is in while connected: ONLINE or HIBERNATING.
    pub fn connection_state(&self) -> ConnectionState {
        if self.hibernation.asleep {
            ConnectionState::Hibernating
        } else {
            ConnectionState::Online
        }
    }

    /// Test hook: the robot falls asleep as if it had received `startHibernation` (its order
    /// is cleared), and wants HIBERNATING published right away, with no state message first.
    pub fn hibernate(&mut self) {
        if self.hibernation.asleep {
            return;
        }
        self.fall_asleep();
        self.hibernation.report_due = false;
        self.hibernation.connection = Some(ConnectionState::Hibernating);
    }

    /// `startHibernation`: FINISHED; the robot sleeps once the state message reporting it is
    /// built.
    pub(crate) fn start_hibernation(&mut self) -> (ActionStatus, Option<String>) {
        self.fall_asleep();
        self.hibernation.report_due = true;
        (ActionStatus::Finished, None)
    }

    fn fall_asleep(&mut self) {
        self.changed = true;
        if self.is_busy() {
            self.clear_order("order cleared by hibernation");
        }
        self.hibernation.asleep = true;
        self.happened(Happened::Hibernated);
    }

    /// `stopHibernation`: awake (ONLINE), FINISHED; idempotent.
    pub(crate) fn stop_hibernation(&mut self) -> (ActionStatus, Option<String>) {
        if self.hibernation.asleep {
            self.hibernation.asleep = false;
            self.hibernation.report_due = false;
            self.hibernation.connection = Some(ConnectionState::Online);
            self.changed = true;
            self.happened(Happened::Woke);
        }
        (ActionStatus::Finished, None)
    }

    /// A state message was built: after the one reporting `startHibernation`, HIBERNATING is
    /// due.
    pub(crate) fn state_built(&mut self) {
        if self.hibernation.report_due {
            self.hibernation.report_due = false;
            self.hibernation.connection = Some(ConnectionState::Hibernating);
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use floorgate_protocols::vda5050::{
        encode, Action, ActionStatus, BlockingType, ConnectionState, HeaderFactory, InstantActions,
        OrderPlan, ProtocolVersion, TopicKind,
    };
    use serde_json::Value;

    use super::super::record::Happened;
    use super::super::robot::{OrderOutcome, Robot};

    use super::super::fixtures::{robot_v3 as robot, route};

    fn instant(h: &mut HeaderFactory, id: &str, kind: &str) -> InstantActions {
        InstantActions {
            header: h.next(TopicKind::InstantActions),
            actions: vec![Action::new(kind, id, BlockingType::None)],
        }
    }

    fn run(r: &mut Robot, secs: f64) {
        for _ in 0..(secs / 0.05).round() as usize {
            r.tick(Duration::from_millis(50));
        }
    }

    /// The state messages the robot sends now (as its client would): one if it publishes
    /// states and something changed.
    fn sent(r: &mut Robot) -> Option<Value> {
        (r.publishes_state() && r.take_changed())
            .then(|| serde_json::from_slice(&encode(&r.state_message())).unwrap())
    }

    #[test]
    fn a_hibernating_robot_sends_no_state_ignores_orders_and_wakes_on_stop_hibernation() {
        let mut h = HeaderFactory::new(ProtocolVersion::V3_0, "acme", "r1");
        let mut r = robot();
        let order = OrderPlan::new("o1", route(5), vec![], 8).unwrap();
        assert_eq!(
            r.handle_order(order.message(h.next(TopicKind::Order))),
            OrderOutcome::Accepted
        );
        run(&mut r, 1.5);
        sent(&mut r);
        assert_eq!(r.take_connection_change(), None);

        r.handle_instant_actions(instant(&mut h, "h1", "startHibernation"));
        assert!(r.is_hibernating());
        assert_eq!(
            r.take_connection_change(),
            None,
            "HIBERNATING only after the state that reports the action"
        );
        let last = sent(&mut r).expect("one state reports startHibernation");
        let done = last["instantActionStates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["actionId"] == "h1" && a["actionStatus"] == "FINISHED");
        assert!(done, "{last}");
        assert_eq!(last["nodeStates"], Value::Array(vec![]), "order cleared");
        assert_eq!(last["driving"], false);
        assert_eq!(
            r.take_connection_change(),
            Some(ConnectionState::Hibernating)
        );
        assert_eq!(r.connection_state(), ConnectionState::Hibernating);

        let at = r.position();
        run(&mut r, 3.0);
        assert_eq!(r.position(), at, "stands still");
        assert_eq!(sent(&mut r), None, "no state while hibernating");
        let next = OrderPlan::new("o2", route(3), vec![], 8).unwrap();
        assert_eq!(
            r.handle_order(next.message(h.next(TopicKind::Order))),
            OrderOutcome::Ignored
        );
        r.handle_instant_actions(instant(&mut h, "p1", "startPause"));
        assert_eq!(
            r.action_status("p1"),
            None,
            "other instant actions get no answer"
        );
        assert_eq!(r.snapshot().order_id, "o1");
        assert_eq!(sent(&mut r), None);

        r.handle_instant_actions(instant(&mut h, "w1", "stopHibernation"));
        assert!(!r.is_hibernating());
        assert_eq!(r.take_connection_change(), Some(ConnectionState::Online));
        let first = sent(&mut r).expect("states again, one right away");
        assert!(first["instantActionStates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["actionId"] == "w1" && a["actionStatus"] == "FINISHED"));
        assert_eq!(r.action_status("w1"), Some(ActionStatus::Finished));
        let again = OrderPlan::new("o3", route(3), vec![], 8).unwrap();
        let o3 = again.message(h.next(TopicKind::Order));
        // It stands where the hibernation caught it: start the next order there.
        let mut o3 = o3;
        o3.nodes[0].node_position.as_mut().unwrap().x = at.0;
        assert_eq!(r.handle_order(o3), OrderOutcome::Accepted);
        let seen: Vec<&Happened> = r
            .record()
            .iter()
            .filter(|h| matches!(h, Happened::Hibernated | Happened::Woke))
            .collect();
        assert_eq!(seen, [&Happened::Hibernated, &Happened::Woke]);
    }

    #[test]
    fn the_hibernate_hook_puts_the_robot_to_sleep_without_a_last_state() {
        let mut h = HeaderFactory::new(ProtocolVersion::V3_0, "acme", "r1");
        let mut r = robot();
        sent(&mut r);
        r.hibernate();
        assert_eq!(
            r.take_connection_change(),
            Some(ConnectionState::Hibernating)
        );
        assert_eq!(sent(&mut r), None);
        r.handle_instant_actions(instant(&mut h, "f", "factsheetRequest"));
        assert!(!r.take_factsheet_request());
        r.handle_instant_actions(instant(&mut h, "w", "stopHibernation"));
        assert_eq!(r.take_connection_change(), Some(ConnectionState::Online));
        assert!(sent(&mut r).is_some());
    }
}

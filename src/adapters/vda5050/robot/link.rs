//! The gateway's broker link, as one robot sees it.
//!
//! The broker going away is the gateway's link, not the robot's: the robot's availability
//! is held (no report) from the moment the link drops until the robot's own `connection`
//! (retained, so it comes with the renewed subscription) or its `state` (asked for with
//! `stateRequest` on reconnect) speaks, or until `reconnect_grace` passes with neither:
//! then it is offline ("the MQTT broker is unreachable", or "not heard from since the MQTT
//! broker link came back"). While the link is down nothing can be published, so a `send`
//! is `Unreachable` even while the availability is held.

use std::time::Instant;

use super::{Out, Robot};

impl Robot {
    /// The broker link went up or down.
    pub fn on_broker(&mut self, up: bool, now: Instant, out: &mut Vec<Out>) {
        let was = std::mem::replace(&mut self.broker_up, up);
        let known = self.state.is_some() || self.connection.is_some();
        if !up {
            self.state_asked = None;
            if was && known && !self.timing.reconnect_grace.is_zero() {
                self.held_since.get_or_insert(now);
            }
        } else if !was && known {
            // What the robot did meanwhile is in its retained connection and a fresh state.
            self.unheard = true;
            self.ask_state(now, out);
        }
        self.progress(now, out);
    }

    /// The robot spoke: its availability is its own again.
    pub(super) fn heard(&mut self) {
        self.held_since = None;
        self.unheard = false;
    }
}

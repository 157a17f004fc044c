//! What a simulated robot really did, in order, for tests to hold master control to the
//! truth: the orders it took, every pick and drop (with the order it belonged to), each
//! `cancelOrder` accepted, refused, ignored or answered with `noOrderToCancel`, pauses,
//! injected faults, and each encounter in which its safety field stopped it for another robot
//! (once per encounter, not per step: see [`crate::amr::World`]); for 3.0 also the zone
//! sets it stored, enabled and deleted, its zone requests and the answers to them, each zone
//! it entered (and whether it held a grant for it) and left, and hibernation. The record is
//! the robot's own: nothing master control says changes it.
//!
//! How the robot answers a cancel is a per-robot switch ([`CancelPolicy`]), like a vehicle
//! that will not abort once a load is on its forks.

use floorgate_protocols::vda5050::{GrantType, ZoneType};

use super::robot::Robot;

/// How the robot answers `cancelOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancelPolicy {
    /// Cancels its order (VDA 5050 2.1, 6.6.3).
    #[default]
    Accept,
    /// Once a load is on board: refuses, reporting the cancel FAILED and a `cancelRefused`
    /// warning whose `errorReferences` name the instant action's `actionId` and the order,
    /// and carries on with the order.
    RefuseOnceLoaded,
    /// Once a load is on board: drops the cancel without a word (no action state, no
    /// error), and carries on with the order.
    IgnoreOnceLoaded,
}

/// One thing the robot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// A new order was taken (updates of it are not listed).
    OrderTaken {
        /// Its `orderId`.
        order_id: String,
    },
    /// A pick FINISHED.
    Picked {
        /// The order it belonged to.
        order_id: String,
        /// Its `loadId` (`""` if none).
        load_id: String,
        /// The node the robot stood on.
        node_id: String,
    },
    /// A drop FINISHED.
    Dropped {
        /// The order it belonged to.
        order_id: String,
        /// Its `loadId` (`""` if none).
        load_id: String,
        /// The node the robot stood on.
        node_id: String,
    },
    /// A `cancelOrder` was carried out.
    CancelAccepted {
        /// The instant action's id.
        action_id: String,
        /// The order cancelled.
        order_id: String,
    },
    /// A `cancelOrder` was refused ([`CancelPolicy::RefuseOnceLoaded`]).
    CancelRefused {
        /// The instant action's id.
        action_id: String,
        /// The order that went on.
        order_id: String,
    },
    /// A `cancelOrder` was dropped unanswered ([`CancelPolicy::IgnoreOnceLoaded`]).
    CancelIgnored {
        /// The instant action's id.
        action_id: String,
        /// The order that went on.
        order_id: String,
    },
    /// A `cancelOrder` found nothing to cancel (`noOrderToCancel`).
    NothingToCancel {
        /// The instant action's id.
        action_id: String,
    },
    /// Paused (`startPause`).
    Paused,
    /// Resumed (`stopPause`).
    Resumed,
    /// A FATAL error was raised.
    Faulted {
        /// Its `errorType`.
        error_type: String,
    },
    /// The safety field stopped the robot: it would have hit this robot.
    SafetyStop {
        /// The other robot's `serialNumber`.
        by: String,
    },
    /// A `zoneSet` message came.
    ZoneSetReceived {
        /// Its `zoneSetId`.
        zone_set_id: String,
        /// Stored (DISABLED); `false`: not taken, a set of that id was stored already.
        stored: bool,
    },
    /// A zone set was enabled (`enableZoneSet`).
    ZoneSetEnabled {
        /// Its `zoneSetId`.
        zone_set_id: String,
    },
    /// A zone set was deleted (`deleteZoneSet`).
    ZoneSetDeleted {
        /// Its `zoneSetId`.
        zone_set_id: String,
    },
    /// The robot stated a zone request (ACCESS to a RELEASE zone).
    ZoneRequested {
        /// Its `requestId`.
        request_id: String,
        /// The zone.
        zone_id: String,
    },
    /// Master control answered one of the robot's zone requests.
    ZoneAnswered {
        /// The request's `requestId`.
        request_id: String,
        /// The zone.
        zone_id: String,
        /// The answer.
        grant_type: GrantType,
    },
    /// The `leaseExpiry` of a granted request passed.
    ZoneRequestExpired {
        /// The request's `requestId`.
        request_id: String,
        /// The zone.
        zone_id: String,
    },
    /// The robot lost its release inside a RELEASE zone (REVOKED or expired).
    ReleaseLost {
        /// The zone.
        zone_id: String,
        /// It stopped (`releaseLossBehavior` STOP); `false`: it drove on.
        stopped: bool,
    },
    /// The robot's centre came inside a zone of an enabled zone set.
    ZoneEntered {
        /// The zone.
        zone_id: String,
        /// Its type.
        zone_type: ZoneType,
        /// The robot held a GRANTED request for it (never for zones that need none).
        granted: bool,
    },
    /// The robot's centre left a zone (or its zone set was disabled or deleted meanwhile).
    ZoneLeft {
        /// The zone.
        zone_id: String,
    },
    /// Fell asleep (`startHibernation` or [`Robot::hibernate`]).
    Hibernated,
    /// Woke up (`stopHibernation`).
    Woke,
}

impl Robot {
    /// Everything the robot did, in order.
    pub fn record(&self) -> &[Happened] {
        &self.record
    }

    /// How the robot answers `cancelOrder` from now on.
    pub fn set_cancel_policy(&mut self, policy: CancelPolicy) {
        self.cfg.cancel_policy = policy;
    }

    /// Raises a FATAL error of `error_type` right after the next drop FINISHED, in the same
    /// state message (a fault after completion).
    pub fn fault_after_next_drop(&mut self, error_type: &str) {
        self.fault_after_drop = Some(error_type.to_string());
    }

    /// Calls `f` with everything that happens from now on, the moment it happens (before
    /// the state that shows it goes out): how the physical world next to the robot — a
    /// conveyor the load is put on — learns of it.
    pub fn on_happened(&mut self, f: impl FnMut(&Happened) + Send + 'static) {
        self.on_happened = Some(super::robot::HappenedHook(Box::new(f)));
    }

    pub(crate) fn happened(&mut self, h: Happened) {
        if let Some(hook) = self.on_happened.as_mut() {
            (hook.0)(&h);
        }
        self.record.push(h);
    }
}

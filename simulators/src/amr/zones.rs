//! The zones of VDA 5050 3.0 on the simulated robot (sections 6.4.2, 6.4.3 and 6.9).
//!
//! **Zone sets.** A `zoneSet` message is stored DISABLED. One whose `zoneSetId` is already
//! stored is not taken: a `DUPLICATE_ZONE_SET` warning, cleared after
//! [`DUPLICATE_WARNING_S`] seconds of robot time or by the next zone set stored. A malformed
//! one (bad JSON or structure, a zone with fewer than three vertices, a `zoneId` twice) is
//! refused with a `validationError` warning, as orders are. `enableZoneSet` (parameter
//! `zoneSetId`) enables a stored set and disables every other set of its map; an unknown id
//! FAILS. `deleteZoneSet` removes a set; it FAILS for an unknown id, and for an enabled set
//! in use (the robot has an order, or a zone request for it). A 3.0 state lists every stored
//! set under `zoneSets` (an empty array when there is none).
//!
//! Only the zone sets ENABLED for the robot's map act, and the robot's kinematic centre
//! (its position) decides whether it is inside a zone's polygon (ray casting); the path it
//! looks at is the straight line from where it stands to the next node's position.
//!
//! * **RELEASE.** While the rest of the path to the next released node would take the robot
//!   from outside a RELEASE zone into it (the node inside, or the line crossing the
//!   polygon), it does not drive without a GRANTED request for that zone: it states an
//!   ACCESS request (`requestId` `zr-<n>`, unique per robot, status REQUESTED) and waits
//!   where it is — at the node before the zone when the zone set was enabled before it set
//!   off. On the `responses` topic, GRANTED lets it in (a `leaseExpiry` is kept); QUEUED
//!   changes nothing (the 3.0 state has no QUEUED status, the request stays REQUESTED);
//!   REJECTED, and REVOKED before the robot is inside, remove the request, and the robot asks
//!   again with a new `requestId` after [`RETRY_S`] seconds of robot time. A `leaseExpiry`
//!   passed before the robot is inside makes the request EXPIRED: the robot does not enter,
//!   and replaces the request after [`RETRY_S`]. The lease is compared with the wall clock
//!   (UTC), since it is a timestamp; the other delays are robot time (`tick`). Inside, the
//!   request stays GRANTED; it is removed once the robot has left the polygon and reached a
//!   node outside it. REVOKED inside (or the lease running out inside) follows the zone's
//!   `releaseLossBehavior`: STOP (also when none is given) — the request says REVOKED
//!   (EXPIRED), the robot stops where it is with a CRITICAL `RELEASE_LOST` error and drives
//!   on only after a new GRANTED for that request (or `clearErrors`); CONTINUE and EVACUATE
//!   (the simulated robot has no evacuation planner) — it drives on along its order with a
//!   `RELEASE_LOST` warning, until it has left. A request the robot no longer needs before it
//!   is inside (the order is cancelled, done or re-routed) is removed.
//! * **BLOCKED.** A new order or an update with a node inside a BLOCKED zone is rejected
//!   (`noRouteError`); a robot whose path would enter one (a zone set enabled after the order
//!   came) does not set off.
//! * **SPEED_LIMIT.** Inside the zone, and on a path that enters it, the robot drives no
//!   faster than the zone's `maximumSpeed` (the lowest one of overlapping zones).
//!
//! Every zone entered and left is in the robot's record ([`Happened::ZoneEntered`] says
//! whether the robot held a GRANTED request for it), and [`Robot::zones_inside`] lists the
//! zones it is in now, which the [`crate::amr::World`] counts fleet-wide.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use floorgate_protocols::vda5050::state::Reference;
use floorgate_protocols::vda5050::zones::{ReleaseLossBehavior, Vertex};
use floorgate_protocols::vda5050::{
    decode, ActionStatus, AgvError, ErrorLevel, GrantType, Node, Order, RequestStatus, Responses,
    Zone, ZoneRequest, ZoneRequestType, ZoneSet, ZoneSetMessage, ZoneSetState, ZoneSetStatus,
    ZoneType,
};

use super::record::Happened;
use super::robot::Robot;

/// Instant action: enable a stored zone set (parameter `zoneSetId`).
pub const ENABLE_ZONE_SET: &str = "enableZoneSet";
/// Instant action: delete a stored zone set (parameter `zoneSetId`).
pub const DELETE_ZONE_SET: &str = "deleteZoneSet";

/// How long (robot time, s) a `DUPLICATE_ZONE_SET` warning stays.
pub const DUPLICATE_WARNING_S: f64 = 10.0;
/// How long (robot time, s) the robot waits after a REJECTED, REVOKED or EXPIRED request
/// before it asks again for the same zone.
pub const RETRY_S: f64 = 3.0;

const DUPLICATE_ZONE_SET: &str = "DUPLICATE_ZONE_SET";
const RELEASE_LOST: &str = "RELEASE_LOST";

/// What became of a `zoneSet` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSetOutcome {
    /// Stored, DISABLED.
    Stored,
    /// Not taken: a zone set of this id is stored (`DUPLICATE_ZONE_SET` warning).
    Duplicate,
    /// Refused as malformed (`validationError` warning).
    Invalid,
}

/// (zoneSetId, zoneId).
type ZoneKey = (String, String);

#[derive(Debug, Clone)]
struct Request {
    state: ZoneRequest,
    lease: Option<SystemTime>,
    /// The robot was inside the zone with this request.
    entered: bool,
}

impl Request {
    fn key(&self) -> ZoneKey {
        (self.state.zone_set_id.clone(), self.state.zone_id.clone())
    }

    fn is(&self, key: &ZoneKey) -> bool {
        self.state.zone_set_id == key.0 && self.state.zone_id == key.1
    }
}

#[derive(Debug, Clone, Copy)]
struct Inside {
    zone_type: ZoneType,
    granted: bool,
}

/// The robot's zone sets, zone requests and where it is (see the module note).
#[derive(Debug, Default)]
pub(crate) struct Zones {
    sets: Vec<(ZoneSet, ZoneSetStatus)>,
    requests: Vec<Request>,
    next_request: u64,
    /// Zones the robot does not ask for again before these seconds have passed.
    retry: BTreeMap<ZoneKey, f64>,
    /// Seconds the `DUPLICATE_ZONE_SET` warning still stays.
    duplicate_s: f64,
    inside: BTreeMap<ZoneKey, Inside>,
}

impl Zones {
    fn any_enabled(&self) -> bool {
        self.sets.iter().any(|(_, s)| *s == ZoneSetStatus::Enabled)
    }

    /// The zones of the sets enabled for `map`.
    fn enabled<'a>(&'a self, map: &'a str) -> impl Iterator<Item = (&'a ZoneSet, &'a Zone)> {
        self.sets
            .iter()
            .filter(move |(set, s)| *s == ZoneSetStatus::Enabled && set.map_id == map)
            .flat_map(|(set, _)| set.zones.iter().map(move |z| (set, z)))
    }

    fn zone(&self, key: &ZoneKey) -> Option<&Zone> {
        self.sets
            .iter()
            .find(|(set, _)| set.zone_set_id == key.0)
            .and_then(|(set, _)| set.zones.iter().find(|z| z.zone_id == key.1))
    }

    fn granted(&self, key: &ZoneKey) -> bool {
        self.requests
            .iter()
            .any(|r| r.is(key) && r.state.request_status == RequestStatus::Granted)
    }
}

impl Robot {
    /// Handles a raw payload from the `zoneSet` topic; malformed JSON is refused with a
    /// `validationError` warning.
    pub fn handle_zone_set_payload(&mut self, payload: &[u8]) -> ZoneSetOutcome {
        if self.is_hibernating() {
            return ZoneSetOutcome::Invalid;
        }
        match decode::<ZoneSetMessage>(payload) {
            Ok(msg) => self.handle_zone_set(msg),
            Err(e) => {
                self.zone_warning("validationError", &e.to_string(), vec![]);
                ZoneSetOutcome::Invalid
            }
        }
    }

    /// Handles a `zoneSet` message (see the module note).
    pub fn handle_zone_set(&mut self, msg: ZoneSetMessage) -> ZoneSetOutcome {
        if self.is_hibernating() {
            return ZoneSetOutcome::Invalid;
        }
        self.changed = true;
        let set = msg.zone_set;
        let refs = vec![Reference::new("zoneSetId", &set.zone_set_id)];
        if let Some(why) = malformed(&set) {
            self.zone_warning("validationError", &why, refs);
            return ZoneSetOutcome::Invalid;
        }
        let zone_set_id = set.zone_set_id.clone();
        if self
            .zones
            .sets
            .iter()
            .any(|(s, _)| s.zone_set_id == zone_set_id)
        {
            let why = format!("zone set `{zone_set_id}` is already stored; it was not taken");
            self.zone_warning(DUPLICATE_ZONE_SET, &why, refs);
            self.zones.duplicate_s = DUPLICATE_WARNING_S;
            self.happened(Happened::ZoneSetReceived {
                zone_set_id,
                stored: false,
            });
            return ZoneSetOutcome::Duplicate;
        }
        self.errors.retain(|e| e.error_type != DUPLICATE_ZONE_SET);
        self.zones.duplicate_s = 0.0;
        self.zones.sets.push((set, ZoneSetStatus::Disabled));
        self.happened(Happened::ZoneSetReceived {
            zone_set_id,
            stored: true,
        });
        ZoneSetOutcome::Stored
    }

    /// Handles a raw payload from the `responses` topic; malformed JSON is refused with a
    /// `validationError` warning.
    pub fn handle_responses_payload(&mut self, payload: &[u8]) {
        if self.is_hibernating() {
            return;
        }
        match decode::<Responses>(payload) {
            Ok(r) => self.handle_responses(r),
            Err(e) => self.zone_warning("validationError", &e.to_string(), vec![]),
        }
    }

    /// Handles a `responses` message: each answer to one of the robot's zone requests (see
    /// the module note); answers to requests it does not hold are ignored.
    pub fn handle_responses(&mut self, msg: Responses) {
        if self.is_hibernating() {
            return;
        }
        for answer in msg.responses {
            let Some(i) = self
                .zones
                .requests
                .iter()
                .position(|r| r.state.request_id == answer.request_id)
            else {
                continue;
            };
            self.changed = true;
            let key = self.zones.requests[i].key();
            self.happened(Happened::ZoneAnswered {
                request_id: answer.request_id.clone(),
                zone_id: key.1.clone(),
                grant_type: answer.grant_type,
            });
            let entered = self.zones.requests[i].entered;
            match answer.grant_type {
                GrantType::Granted => {
                    let r = &mut self.zones.requests[i];
                    r.state.request_status = RequestStatus::Granted;
                    r.lease = answer.lease_expiry.as_deref().and_then(parse_timestamp);
                    self.clear_release_lost(&answer.request_id);
                }
                GrantType::Queued => {}
                GrantType::Rejected | GrantType::Revoked if !entered => {
                    self.zones.requests.remove(i);
                    self.zones.retry.insert(key, RETRY_S);
                }
                GrantType::Rejected | GrantType::Revoked => {
                    self.release_lost(i, RequestStatus::Revoked);
                }
            }
        }
    }

    /// The stored zone sets and their status, in the order they came.
    pub fn zone_sets(&self) -> Vec<ZoneSetState> {
        self.zones
            .sets
            .iter()
            .map(|(set, status)| ZoneSetState {
                zone_set_id: set.zone_set_id.clone(),
                map_id: set.map_id.clone(),
                zone_set_status: *status,
            })
            .collect()
    }

    /// The robot's zone requests, oldest first.
    pub fn zone_requests(&self) -> Vec<ZoneRequest> {
        self.zones
            .requests
            .iter()
            .map(|r| r.state.clone())
            .collect()
    }

    /// The zones (of enabled zone sets) the robot is inside now: `zoneId`, its type, and
    /// whether the robot held a GRANTED request for it when it entered.
    pub fn zones_inside(&self) -> impl Iterator<Item = (&str, ZoneType, bool)> {
        self.zones
            .inside
            .iter()
            .map(|((_, zone), i)| (zone.as_str(), i.zone_type, i.granted))
    }

    /// `enableZoneSet`: FINISHED when the set is stored (every other set of its map is
    /// disabled), FAILED otherwise.
    pub(crate) fn enable_zone_set(&mut self, id: Option<&str>) -> (ActionStatus, Option<String>) {
        let Some(id) = id else {
            return (ActionStatus::Failed, Some("no zoneSetId given".into()));
        };
        let Some(map) = self
            .zones
            .sets
            .iter()
            .find(|(s, _)| s.zone_set_id == id)
            .map(|(s, _)| s.map_id.clone())
        else {
            return (ActionStatus::Failed, Some(format!("no zone set `{id}`")));
        };
        for (set, status) in &mut self.zones.sets {
            if set.map_id == map {
                *status = if set.zone_set_id == id {
                    ZoneSetStatus::Enabled
                } else {
                    ZoneSetStatus::Disabled
                };
            }
        }
        self.happened(Happened::ZoneSetEnabled {
            zone_set_id: id.to_string(),
        });
        let at = self.position();
        self.track_zones(at);
        (ActionStatus::Finished, None)
    }

    /// `deleteZoneSet`: FINISHED when the set is gone; FAILED for an unknown set and for an
    /// enabled one in use (an order, or a zone request for it).
    pub(crate) fn delete_zone_set(&mut self, id: Option<&str>) -> (ActionStatus, Option<String>) {
        let Some(id) = id else {
            return (ActionStatus::Failed, Some("no zoneSetId given".into()));
        };
        let Some(i) = self
            .zones
            .sets
            .iter()
            .position(|(s, _)| s.zone_set_id == id)
        else {
            return (ActionStatus::Failed, Some(format!("no zone set `{id}`")));
        };
        let requested = self
            .zones
            .requests
            .iter()
            .any(|r| r.state.zone_set_id == id);
        if self.zones.sets[i].1 == ZoneSetStatus::Enabled && (self.is_busy() || requested) {
            return (
                ActionStatus::Failed,
                Some(format!("zone set `{id}` is in use")),
            );
        }
        self.zones.sets.remove(i);
        self.zones.requests.retain(|r| r.state.zone_set_id != id);
        self.happened(Happened::ZoneSetDeleted {
            zone_set_id: id.to_string(),
        });
        let at = self.position();
        self.track_zones(at);
        (ActionStatus::Finished, None)
    }

    /// The next node the robot drives to, where its path ends, if it would drive there now
    /// (released node and edge ahead, the node has a position on its map).
    fn path_end(&self) -> Option<(f64, f64)> {
        let node = self.nodes.front().filter(|n| n.state.released)?;
        self.edges.front().filter(|e| e.state.released)?;
        let p = node.state.node_position.as_ref()?;
        (p.map_id == self.cfg.map_id).then_some((p.x, p.y))
    }

    /// The zones of enabled sets the rest of the path enters from outside.
    fn zones_ahead(&self) -> impl Iterator<Item = (&ZoneSet, &Zone)> {
        let from = self.position();
        let to = self.path_end();
        self.zones
            .enabled(&self.cfg.map_id)
            .filter(move |(_, z)| to.is_some_and(|to| enters(from, to, &z.vertices)))
    }

    /// Whether a zone holds the robot where it is: a BLOCKED zone ahead, a RELEASE zone ahead
    /// without a GRANTED request, or a release lost with STOP.
    pub(crate) fn zone_holds(&self) -> bool {
        if !self.zones.any_enabled() && self.zones.requests.is_empty() {
            return false;
        }
        let lost = self
            .errors
            .iter()
            .any(|e| e.error_type == RELEASE_LOST && e.error_level == ErrorLevel::Critical);
        lost || self.zones_ahead().any(|(set, z)| match z.zone_type {
            ZoneType::Blocked => true,
            ZoneType::Release => !self
                .zones
                .granted(&(set.zone_set_id.clone(), z.zone_id.clone())),
            _ => false,
        })
    }

    /// The lowest `maximumSpeed` of the SPEED_LIMIT zones the robot is in or its path enters.
    pub(crate) fn zone_speed_limit(&self) -> Option<f64> {
        if !self.zones.any_enabled() {
            return None;
        }
        let at = self.position();
        let to = self.path_end();
        self.zones
            .enabled(&self.cfg.map_id)
            .filter(|(_, z)| z.zone_type == ZoneType::SpeedLimit)
            .filter(|(_, z)| {
                contains(at, &z.vertices) || to.is_some_and(|to| enters(at, to, &z.vertices))
            })
            .filter_map(|(_, z)| z.maximum_speed)
            .min_by(f64::total_cmp)
    }

    /// A node of `order` inside a BLOCKED zone of a set enabled for the node's map, with the
    /// zone's id.
    pub(crate) fn node_in_blocked_zone<'a>(&self, order: &'a Order) -> Option<(&'a Node, String)> {
        if !self.zones.any_enabled() {
            return None;
        }
        order.nodes.iter().find_map(|n| {
            let p = n.node_position.as_ref()?;
            self.zones
                .enabled(&p.map_id)
                .find(|(_, z)| {
                    z.zone_type == ZoneType::Blocked && contains((p.x, p.y), &z.vertices)
                })
                .map(|(_, z)| (n, z.zone_id.clone()))
        })
    }

    /// Once per tick: warnings and waits that run out, leases, and the requests the path
    /// ahead needs (made) or no longer needs (removed).
    pub(crate) fn update_zones(&mut self, dt: f64) {
        if self.zones.duplicate_s > 0.0 {
            self.zones.duplicate_s -= dt;
            if self.zones.duplicate_s <= 0.0 {
                self.zones.duplicate_s = 0.0;
                self.errors.retain(|e| e.error_type != DUPLICATE_ZONE_SET);
                self.changed = true;
            }
        }
        if !self.zones.retry.is_empty() {
            let mut over = Vec::new();
            self.zones.retry.retain(|key, left| {
                *left -= dt;
                let keep = *left > 0.0;
                if !keep {
                    over.push(key.clone());
                }
                keep
            });
            for key in over {
                let before = self.zones.requests.len();
                self.zones.requests.retain(|r| {
                    !(r.is(&key) && r.state.request_status == RequestStatus::Expired && !r.entered)
                });
                self.changed |= before != self.zones.requests.len();
            }
        }
        if self.zones.requests.iter().any(|r| r.lease.is_some()) {
            self.expire_leases(SystemTime::now());
        }
        if !self.zones.any_enabled() && self.zones.requests.is_empty() {
            return;
        }
        let needed: Vec<ZoneKey> = self
            .zones_ahead()
            .filter(|(_, z)| z.zone_type == ZoneType::Release)
            .map(|(set, z)| (set.zone_set_id.clone(), z.zone_id.clone()))
            .collect();
        let before = self.zones.requests.len();
        self.zones
            .requests
            .retain(|r| r.entered || needed.iter().any(|k| r.is(k)));
        self.changed |= before != self.zones.requests.len();
        for key in needed {
            if self.zones.requests.iter().any(|r| r.is(&key)) || self.zones.retry.contains_key(&key)
            {
                continue;
            }
            self.zones.next_request += 1;
            let request_id = format!("zr-{}", self.zones.next_request);
            self.happened(Happened::ZoneRequested {
                request_id: request_id.clone(),
                zone_id: key.1.clone(),
            });
            self.zones.requests.push(Request {
                state: ZoneRequest {
                    request_id,
                    request_type: ZoneRequestType::Access,
                    zone_id: key.1,
                    zone_set_id: key.0,
                    request_status: RequestStatus::Requested,
                    trajectory: None,
                },
                lease: None,
                entered: false,
            });
            self.changed = true;
        }
    }

    /// GRANTED requests whose lease has run out by `now` become EXPIRED: before the zone the
    /// robot stays out, inside it the zone's `releaseLossBehavior` applies.
    fn expire_leases(&mut self, now: SystemTime) {
        for i in 0..self.zones.requests.len() {
            let r = &self.zones.requests[i];
            let over = r.state.request_status == RequestStatus::Granted
                && r.lease.is_some_and(|t| t <= now);
            if !over {
                continue;
            }
            let (request_id, key, entered) = (r.state.request_id.clone(), r.key(), r.entered);
            self.changed = true;
            self.happened(Happened::ZoneRequestExpired {
                request_id,
                zone_id: key.1.clone(),
            });
            if entered {
                self.release_lost(i, RequestStatus::Expired);
            } else {
                self.zones.requests[i].state.request_status = RequestStatus::Expired;
                self.zones.retry.insert(key, RETRY_S);
            }
        }
    }

    /// Request `i`, whose zone the robot is in, is no longer granted (`status`): the zone's
    /// `releaseLossBehavior` applies.
    fn release_lost(&mut self, i: usize, status: RequestStatus) {
        let r = &mut self.zones.requests[i];
        r.state.request_status = status;
        r.lease = None;
        let (request_id, key) = (r.state.request_id.clone(), r.key());
        let behavior = self
            .zones
            .zone(&key)
            .and_then(|z| z.release_loss_behavior)
            .unwrap_or(ReleaseLossBehavior::Stop);
        let stop = behavior == ReleaseLossBehavior::Stop;
        self.happened(Happened::ReleaseLost {
            zone_id: key.1.clone(),
            stopped: stop,
        });
        self.clear_release_lost(&request_id);
        self.errors.push(AgvError {
            error_type: RELEASE_LOST.into(),
            error_references: Some(vec![
                Reference::new("requestId", &request_id),
                Reference::new("zoneId", &key.1),
                Reference::new("zoneSetId", &key.0),
            ]),
            error_description: Some(if stop {
                format!("release of zone `{}` lost inside it: stopped", key.1)
            } else {
                format!("release of zone `{}` lost inside it: driving on", key.1)
            }),
            error_hint: None,
            error_level: if stop {
                ErrorLevel::Critical
            } else {
                ErrorLevel::Warning
            },
        });
        if stop {
            self.driving = false;
        }
    }

    fn clear_release_lost(&mut self, request_id: &str) {
        let before = self.errors.len();
        self.errors.retain(|e| {
            !(e.error_type == RELEASE_LOST
                && e.error_references.as_ref().is_some_and(|refs| {
                    refs.iter()
                        .any(|r| r.reference_key == "requestId" && r.reference_value == request_id)
                }))
        });
        self.changed |= before != self.errors.len();
    }

    /// The robot moved from `from` to where it stands: the zones it entered and left (also
    /// one it crossed within the move) go into its record, and GRANTED requests of zones it
    /// entered count as used.
    pub(crate) fn track_zones(&mut self, from: (f64, f64)) {
        if !self.zones.any_enabled() && self.zones.inside.is_empty() {
            return;
        }
        let to = self.position();
        let mut entered = Vec::new();
        let mut left = Vec::new();
        let mut seen = Vec::new();
        for (set, z) in self.zones.enabled(&self.cfg.map_id) {
            let key = (set.zone_set_id.clone(), z.zone_id.clone());
            let was = self.zones.inside.contains_key(&key);
            let is = contains(to, &z.vertices);
            if is && !was {
                entered.push((key.clone(), z.zone_type));
            } else if !is && was {
                left.push(key.clone());
            } else if !is && !was && from != to && enters(from, to, &z.vertices) {
                entered.push((key.clone(), z.zone_type));
                left.push(key.clone());
            }
            seen.push(key);
        }
        // Zones of sets no longer enabled are left too.
        for key in self.zones.inside.keys() {
            if !seen.contains(key) {
                left.push(key.clone());
            }
        }
        for (key, zone_type) in entered {
            let granted = self.zones.granted(&key);
            for r in self.zones.requests.iter_mut().filter(|r| r.is(&key)) {
                if r.state.request_status == RequestStatus::Granted {
                    r.entered = true;
                }
            }
            self.happened(Happened::ZoneEntered {
                zone_id: key.1.clone(),
                zone_type,
                granted,
            });
            self.zones.inside.insert(key, Inside { zone_type, granted });
        }
        for key in left {
            self.zones.inside.remove(&key);
            self.happened(Happened::ZoneLeft { zone_id: key.1 });
        }
    }

    /// The robot reached a node: requests of zones it has left are removed.
    pub(crate) fn zones_on_arrival(&mut self) {
        let done: Vec<String> = self
            .zones
            .requests
            .iter()
            .filter(|r| r.entered && !self.zones.inside.contains_key(&r.key()))
            .map(|r| r.state.request_id.clone())
            .collect();
        for id in done {
            self.zones.requests.retain(|r| r.state.request_id != id);
            self.clear_release_lost(&id);
            self.changed = true;
        }
    }

    /// A warning about a zone message (or its absence of sense).
    fn zone_warning(&mut self, error_type: &str, description: &str, refs: Vec<Reference>) {
        self.changed = true;
        self.errors.retain(|e| e.error_type != error_type);
        self.errors.push(AgvError {
            error_type: error_type.into(),
            error_references: Some(refs),
            error_description: Some(description.into()),
            error_hint: None,
            error_level: ErrorLevel::Warning,
        });
    }
}

/// Why a zone set is malformed, if it is.
fn malformed(set: &ZoneSet) -> Option<String> {
    for (i, z) in set.zones.iter().enumerate() {
        if z.vertices.len() < 3 {
            return Some(format!(
                "zone `{}` has {} vertices; a zone needs at least three",
                z.zone_id,
                z.vertices.len()
            ));
        }
        if set.zones[..i].iter().any(|o| o.zone_id == z.zone_id) {
            return Some(format!("zoneId `{}` is used twice", z.zone_id));
        }
        if z.zone_type == ZoneType::SpeedLimit
            && z.maximum_speed.is_none_or(|v| v.is_nan() || v < 0.0)
        {
            return Some(format!(
                "SPEED_LIMIT zone `{}` has no maximumSpeed",
                z.zone_id
            ));
        }
    }
    None
}

/// Whether `p` is inside the polygon (ray casting; the polygon is closed).
pub(crate) fn contains(p: (f64, f64), poly: &[Vertex]) -> bool {
    let (x, y) = p;
    let mut inside = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + n - 1) % n]);
        if (a.y > y) != (b.y > y) {
            let cross_x = a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y);
            if x < cross_x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Whether the line from `from` (outside the polygon) to `to` enters it: some part of it is
/// inside (touching a side or a corner is not entering). The line is cut where it crosses the
/// sides, and the middle of each piece is tested.
pub(crate) fn enters(from: (f64, f64), to: (f64, f64), poly: &[Vertex]) -> bool {
    if contains(from, poly) {
        return false;
    }
    if contains(to, poly) {
        return true;
    }
    let d = (to.0 - from.0, to.1 - from.1);
    let cross = |a: (f64, f64), b: (f64, f64)| a.0 * b.1 - a.1 * b.0;
    let n = poly.len();
    let mut cuts = vec![0.0, 1.0];
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let e = (b.x - a.x, b.y - a.y);
        let denom = cross(d, e);
        if denom.abs() < 1e-12 {
            // Parallel: running along a side is not entering; its corners cut elsewhere.
            continue;
        }
        let w = (a.x - from.0, a.y - from.1);
        let (t, u) = (cross(w, e) / denom, cross(w, d) / denom);
        if (0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u) {
            cuts.push(t);
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.windows(2).any(|w| {
        let mid = (w[0] + w[1]) / 2.0;
        w[1] - w[0] > 1e-9 && contains((from.0 + d.0 * mid, from.1 + d.1 * mid), poly)
    })
}

/// An ISO 8601 timestamp `YYYY-MM-DDTHH:mm:ss[.fff](Z|±HH:mm)`, as UTC; `None` when it is
/// not one (such a `leaseExpiry` is treated as absent).
pub(crate) fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain("000000000".chars()).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let offset_s = match &s[i..] {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if b[i + 3] != b':' {
                return None;
            }
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs =
        days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;

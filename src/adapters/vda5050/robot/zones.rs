//! Zones for a robot that speaks VDA 5050 3.0: the layout's zone sets kept on the robot and
//! enabled, and its zone requests answered from traffic control.
//!
//! **Zone sets** (3.0 section 6.4.2). The robot lists the sets it holds in `zoneSets`. A set
//! of the layout it does not list is published on its `zoneSet` topic; one it lists as
//! DISABLED is enabled with the instant action `enableZoneSet`. Both are repeated, with a
//! wait that doubles from the profile's re-send period up to a minute, until its state shows
//! the set ENABLED (QoS 0 may lose either message; a robot that cannot take zones is asked
//! rarely, not never).
//!
//! **Zone requests** (sections 6.4.3 and 6.9). A request the robot states (`REQUESTED`) for
//! a zone that needs a release is answered on `responses`: GRANTED when traffic control lets
//! the robot claim the zone's block ([`Allocator::claim_block`]: the block has room and the
//! claim closes no wait-for cycle), otherwise QUEUED, and GRANTED on a later state or tick
//! once it can be claimed. A request for a zone the layout does not have, for a zone that
//! needs no release, or with traffic control off is REJECTED. An answer is repeated every
//! re-send period while the robot still shows the request unanswered. A request the robot
//! reports GRANTED (after a gateway restart, say) is claimed as the fact it is. When the
//! robot drops the request from its state — it left the zone — the claim is given back.
//! 2.x robots take part through their routes: the zone's block is part of any segment that
//! enters it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Out, Robot};
use crate::traffic::{Allocator, TrafficError};
use crate::vda5050::order::action_types::ENABLE_ZONE_SET;
use crate::vda5050::site_zones::{needs_release, zone_block};
use crate::vda5050::zones::{
    GrantType, RequestStatus, Response, Responses, ZoneSetMessage, ZoneSetStatus,
};
use crate::vda5050::{encode, Action, BlockingType, InstantActions, TopicKind};

/// The longest wait between two offers of a zone set.
const MAX_ZONE_SET_WAIT: Duration = Duration::from_secs(60);

/// What the adapter has done about one robot's zones.
#[derive(Debug, Default)]
pub(crate) struct ZoneBook {
    /// Per zone set of the layout: when it (or its enabling) was last sent, and the wait
    /// before the next offer.
    offers: HashMap<String, (Instant, Duration)>,
    /// Per request id: the last answer sent and when.
    answers: HashMap<String, (GrantType, Instant)>,
    /// Per request id the robot holds a claim for: the zone's block.
    claims: HashMap<String, String>,
}

impl Robot {
    /// Keeps the layout's zone sets enabled on a 3.0 robot and answers its zone requests.
    pub(crate) fn follow_zones(
        &mut self,
        alloc: Option<&mut Allocator>,
        now: Instant,
        out: &mut Vec<Out>,
    ) {
        if !self.headers.version().is_v3() || !self.connected() {
            return;
        }
        let Some(layout) = self.layout.clone() else {
            return;
        };
        if layout.zone_sets().is_empty() {
            return;
        }
        self.offer_zone_sets(&layout, now, out);
        self.answer_zone_requests(&layout, alloc, now, out);
    }

    fn offer_zone_sets(
        &mut self,
        layout: &crate::vda5050::LayoutGraph,
        now: Instant,
        out: &mut Vec<Out>,
    ) {
        let Some(seen) = &self.state else { return };
        let mut due = Vec::new();
        for set in layout.zone_sets() {
            let status = seen
                .zone_sets
                .iter()
                .find(|z| z.zone_set_id == set.zone_set_id)
                .map(|z| z.zone_set_status);
            if status == Some(ZoneSetStatus::Enabled) {
                self.zones.offers.remove(&set.zone_set_id);
                continue;
            }
            let ready = self
                .zones
                .offers
                .get(&set.zone_set_id)
                .is_none_or(|&(at, wait)| now.duration_since(at) >= wait);
            if ready {
                due.push((set.clone(), status.is_some()));
            }
        }
        for (set, held) in due {
            let id = set.zone_set_id.clone();
            if held {
                if !self.profile.supports(ENABLE_ZONE_SET) {
                    continue;
                }
                let action_id = self.next_instant_id("zones");
                let msg = InstantActions {
                    header: self.headers.next(TopicKind::InstantActions),
                    actions: vec![Action::new(ENABLE_ZONE_SET, &action_id, BlockingType::None)
                        .with_param("zoneSetId", id.clone())],
                };
                self.publish_instant_message(&msg, out);
                tracing::debug!(device_id = %self.device_id, zone_set = %id, "zone set enabled");
            } else {
                let msg = ZoneSetMessage {
                    header: self.headers.next(TopicKind::ZoneSet),
                    zone_set: set,
                };
                out.push(Out::Publish {
                    topic: self.topic(TopicKind::ZoneSet),
                    qos: self.topics.qos(TopicKind::ZoneSet),
                    payload: encode(&msg),
                });
                tracing::debug!(device_id = %self.device_id, zone_set = %id, "zone set published");
            }
            let wait = match self.zones.offers.get(&id) {
                Some(&(_, w)) => (w * 2).min(MAX_ZONE_SET_WAIT),
                None => self.timing.resend,
            };
            self.zones.offers.insert(id, (now, wait));
        }
    }

    fn answer_zone_requests(
        &mut self,
        layout: &crate::vda5050::LayoutGraph,
        mut alloc: Option<&mut Allocator>,
        now: Instant,
        out: &mut Vec<Out>,
    ) {
        let Some(seen) = &self.state else { return };
        let requests = seen.zone_requests.clone();
        let device = self.device_id.clone();
        let mut answers = Vec::new();
        for req in &requests {
            let zone = layout
                .zone_sets()
                .iter()
                .find(|s| s.zone_set_id == req.zone_set_id)
                .and_then(|s| s.zones.iter().find(|z| z.zone_id == req.zone_id));
            let block = zone
                .filter(|z| needs_release(z.zone_type))
                .map(|z| zone_block(&z.zone_id));
            match req.request_status {
                RequestStatus::Requested | RequestStatus::Queued => {
                    let grant = match (&block, alloc.as_deref_mut()) {
                        (None, _) => {
                            tracing::warn!(device_id = %device, zone = %req.zone_id,
                                zone_set = %req.zone_set_id,
                                "zone request for a zone that needs no release or is not on the layout; rejected");
                            GrantType::Rejected
                        }
                        (Some(_), None) => GrantType::Rejected,
                        (Some(b), Some(a)) => match a.claim_block(&device, b) {
                            Ok(None) => GrantType::Granted,
                            Ok(Some(_)) | Err(TrafficError::NotPlaced(_)) => GrantType::Queued,
                            Err(e) => {
                                tracing::warn!(device_id = %device, error = %e, "zone request");
                                GrantType::Rejected
                            }
                        },
                    };
                    if grant == GrantType::Granted {
                        if let Some(b) = &block {
                            self.zones.claims.insert(req.request_id.clone(), b.clone());
                        }
                    }
                    let repeat =
                        self.zones
                            .answers
                            .get(&req.request_id)
                            .is_none_or(|&(sent, at)| {
                                sent != grant || now.duration_since(at) >= self.timing.resend
                            });
                    if repeat {
                        self.zones
                            .answers
                            .insert(req.request_id.clone(), (grant, now));
                        answers.push(Response {
                            request_id: req.request_id.clone(),
                            grant_type: grant,
                            lease_expiry: None,
                        });
                    }
                }
                RequestStatus::Granted => {
                    if let (Some(b), Some(a)) = (&block, alloc.as_deref_mut()) {
                        if !self.zones.claims.contains_key(&req.request_id) {
                            // Granted before we knew (a restart): the robot may be inside.
                            if let Ok(Some(why)) = a.claim_block(&device, b) {
                                tracing::warn!(device_id = %device, zone = %req.zone_id,
                                    blocker = ?why,
                                    "robot reports a zone release traffic control cannot hold");
                            }
                            self.zones.claims.insert(req.request_id.clone(), b.clone());
                        }
                    }
                }
                RequestStatus::Revoked | RequestStatus::Expired => {}
            }
        }
        // Claims whose request the robot no longer states (it left the zone), or that it
        // reports revoked or expired, are given back — unless another request holds the block.
        let live = |id: &str| {
            requests.iter().any(|r| {
                r.request_id == id
                    && matches!(
                        r.request_status,
                        RequestStatus::Requested | RequestStatus::Queued | RequestStatus::Granted
                    )
            })
        };
        let ended: Vec<String> = self
            .zones
            .claims
            .keys()
            .filter(|id| !live(id))
            .cloned()
            .collect();
        for id in ended {
            let block = self.zones.claims.remove(&id).unwrap_or_default();
            if !self.zones.claims.values().any(|b| *b == block) {
                if let Some(a) = alloc.as_deref_mut() {
                    let _ = a.release_block(&device, &block);
                }
            }
        }
        self.zones.answers.retain(|id, _| live(id));
        if !answers.is_empty() {
            let msg = Responses {
                header: self.headers.next(TopicKind::Responses),
                responses: answers,
            };
            out.push(Out::Publish {
                topic: self.topic(TopicKind::Responses),
                qos: self.topics.qos(TopicKind::Responses),
                payload: encode(&msg),
            });
        }
    }
}

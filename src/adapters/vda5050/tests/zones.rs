//! A 3.0 robot and the layout's zones: the zone set is published until the robot holds it,
//! enabled until it says ENABLED; zone requests are answered from traffic control's blocks,
//! and a claim is given back once the robot drops its request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::TIMING;
use crate::adapters::vda5050::robot::{Out, Robot};
use crate::traffic::{Allocator, Config, LayoutSpec, ResourceMap};
use crate::vda5050::layout::LayoutConfig;
use crate::vda5050::site_zones::LayoutZone;
use crate::vda5050::{decode, AmrProfile, Connection, LayoutGraph, State};

/// The line N0 … N4 (1 m apart) with a release zone `gate` around N3.
fn layout() -> LayoutConfig {
    let zone: LayoutZone = toml::from_str(
        "id = 'gate'\nkind = 'release'\nvertices = [[2.5, -1.0], [3.5, -1.0], [3.5, 1.0], [2.5, 1.0]]\n",
    )
    .unwrap();
    LayoutConfig {
        zones: vec![zone],
        ..super::line_layout()
    }
}

fn robot(serial: &str, cfg: &LayoutConfig) -> Robot {
    let profile = AmrProfile::from_toml(
        "model='m3'\nmanufacturer='acme'\nprotocol_version='3.0'\nsupported_actions=['pick','drop','cancelOrder','stateRequest','enableZoneSet']\nspeed=1.0\n",
        "test",
    )
    .unwrap();
    let layout = LayoutGraph::new(cfg.clone()).unwrap();
    Robot::new(
        &format!("amr-{serial}"),
        "acme",
        serial,
        Arc::new(profile),
        Some(Arc::new(layout)),
        TIMING,
    )
}

fn header(serial: &str) -> Value {
    json!({"headerId": 1, "timestamp": "2026-01-01T00:00:00.00Z", "version": "3.0.0",
           "manufacturer": "acme", "serialNumber": serial})
}

/// An idle 3.0 state at `node` with these `zoneSets` and `zoneRequests`.
fn state(serial: &str, node: &str, zone_sets: Value, zone_requests: Value) -> State {
    let mut v = header(serial);
    let body = json!({
        "orderId": "", "orderUpdateId": 0, "lastNodeId": node, "lastNodeSequenceId": 0,
        "nodeStates": [], "edgeStates": [], "driving": false, "errors": [],
        "actionStates": [], "instantActionStates": [],
        "zoneSets": zone_sets, "zoneRequests": zone_requests,
        "powerSupply": {"stateOfCharge": 80.0, "charging": false},
        "operatingMode": "AUTOMATIC",
        "safetyState": {"activeEmergencyStop": "NONE", "fieldViolation": false}
    });
    v.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    decode(&serde_json::to_vec(&v).unwrap()).unwrap()
}

fn online(r: &mut Robot, serial: &str, node: &str, t: Instant) {
    let mut v = header(serial);
    v["connectionState"] = json!("ONLINE");
    let c: Connection = decode(&serde_json::to_vec(&v).unwrap()).unwrap();
    let mut out = Vec::new();
    r.on_broker(true, t, &mut out);
    r.on_connection(c, t, &mut out);
    r.on_state(&state(serial, node, json!([]), json!([])), t, &mut out);
}

/// Messages published on topics ending in `/{kind}`.
fn on(out: &[Out], kind: &str) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Out::Publish { topic, payload, .. } if topic.ends_with(&format!("/{kind}")) => {
                Some(serde_json::from_slice(payload).unwrap())
            }
            _ => None,
        })
        .collect()
}

fn allocator(cfg: &LayoutConfig) -> Allocator {
    let map = ResourceMap::new(LayoutSpec::from(cfg)).unwrap();
    Allocator::new(map, Config::default())
}

fn request(id: &str, status: &str, set: &str) -> Value {
    json!([{"requestId": id, "requestType": "ACCESS", "zoneId": "gate",
            "zoneSetId": set, "requestStatus": status}])
}

#[test]
fn the_zone_set_is_published_until_held_then_enabled_until_the_robot_says_enabled() {
    let cfg = layout();
    let (mut r, t0) = (robot("r1", &cfg), Instant::now());
    online(&mut r, "r1", "N0", t0);
    let set_id = LayoutGraph::new(cfg.clone()).unwrap().zone_sets()[0]
        .zone_set_id
        .clone();
    let mut out = Vec::new();
    r.follow_zones(None, t0, &mut out);
    let sets = on(&out, "zoneSet");
    assert_eq!(sets.len(), 1, "published once");
    assert_eq!(sets[0]["zoneSet"]["zoneSetId"], set_id.as_str());
    assert_eq!(sets[0]["zoneSet"]["zones"][0]["zoneType"], "RELEASE");
    assert_eq!(
        sets[0]["zoneSet"]["zones"][0]["releaseLossBehavior"],
        "STOP"
    );
    assert!(out
        .iter()
        .all(|o| !matches!(o, Out::Publish { topic, .. } if topic.contains("/v2/"))));
    // Not again before the re-send period; again after it (QoS 0 may have lost it).
    let mut out = Vec::new();
    r.follow_zones(None, t0 + Duration::from_millis(10), &mut out);
    assert!(on(&out, "zoneSet").is_empty());
    let t1 = t0 + TIMING.resend;
    r.follow_zones(None, t1, &mut out);
    assert_eq!(on(&out, "zoneSet").len(), 1);
    // Held, disabled: enabled by the instant action, with the set's id.
    let held = json!([{"zoneSetId": set_id, "mapId": "map", "zoneSetStatus": "DISABLED"}]);
    let mut out = Vec::new();
    r.on_state(&state("r1", "N0", held, json!([])), t1, &mut out);
    r.follow_zones(None, t1 + Duration::from_secs(5), &mut out);
    let actions = on(&out, "instantActions");
    let enable = actions
        .iter()
        .flat_map(|m| m["actions"].as_array().unwrap().clone())
        .find(|a| a["actionType"] == "enableZoneSet")
        .expect("enableZoneSet sent");
    assert_eq!(enable["actionParameters"][0]["key"], "zoneSetId");
    assert_eq!(enable["actionParameters"][0]["value"], set_id.as_str());
    assert!(
        on(&out, "zoneSet").is_empty(),
        "a held set is not sent again"
    );
    // Enabled: nothing more, however long.
    let enabled = json!([{"zoneSetId": set_id, "mapId": "map", "zoneSetStatus": "ENABLED"}]);
    let mut out = Vec::new();
    r.on_state(&state("r1", "N0", enabled, json!([])), t1, &mut out);
    for s in 6..200 {
        r.follow_zones(None, t1 + Duration::from_secs(s), &mut out);
    }
    assert!(on(&out, "zoneSet").is_empty() && on(&out, "instantActions").is_empty());
}

#[test]
fn a_zone_request_is_granted_while_the_zone_has_room_queued_while_another_robot_holds_it() {
    let cfg = layout();
    let set_id = LayoutGraph::new(cfg.clone()).unwrap().zone_sets()[0]
        .zone_set_id
        .clone();
    let mut alloc = allocator(&cfg);
    let t = Instant::now();
    let (mut a, mut b) = (robot("ra", &cfg), robot("rb", &cfg));
    online(&mut a, "ra", "N2", t);
    online(&mut b, "rb", "N4", t);
    alloc.place("amr-ra", "N2").unwrap();
    alloc.place("amr-rb", "N4").unwrap();
    let mut out = Vec::new();
    a.on_state(
        &state("ra", "N2", json!([]), request("q1", "REQUESTED", &set_id)),
        t,
        &mut out,
    );
    a.follow_zones(Some(&mut alloc), t, &mut out);
    let answers = on(&out, "responses");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["responses"][0]["requestId"], "q1");
    assert_eq!(answers[0]["responses"][0]["grantType"], "GRANTED");
    assert_eq!(alloc.claimed_blocks("amr-ra"), ["zone:gate"]);
    // The second robot asks for the same zone: queued, not granted.
    let mut out = Vec::new();
    b.on_state(
        &state("rb", "N4", json!([]), request("w7", "REQUESTED", &set_id)),
        t,
        &mut out,
    );
    b.follow_zones(Some(&mut alloc), t, &mut out);
    assert_eq!(
        on(&out, "responses")[0]["responses"][0]["grantType"],
        "QUEUED"
    );
    // The first robot is through and drops its request: its claim goes, the second is
    // granted on its next state or tick.
    let mut out = Vec::new();
    a.on_state(&state("ra", "N4", json!([]), json!([])), t, &mut out);
    a.follow_zones(Some(&mut alloc), t, &mut out);
    assert!(alloc.claimed_blocks("amr-ra").is_empty());
    let mut out = Vec::new();
    b.follow_zones(Some(&mut alloc), t + Duration::from_millis(1), &mut out);
    assert_eq!(
        on(&out, "responses")[0]["responses"][0]["grantType"],
        "GRANTED"
    );
    assert_eq!(alloc.claimed_blocks("amr-rb"), ["zone:gate"]);
}

#[test]
fn requests_nobody_can_grant_are_rejected() {
    let cfg = layout();
    let set_id = LayoutGraph::new(cfg.clone()).unwrap().zone_sets()[0]
        .zone_set_id
        .clone();
    let t = Instant::now();
    let mut r = robot("r1", &cfg);
    online(&mut r, "r1", "N0", t);
    // A zone set floorgate never sent.
    let mut out = Vec::new();
    r.on_state(
        &state(
            "r1",
            "N0",
            json!([]),
            request("q1", "REQUESTED", "someone-elses"),
        ),
        t,
        &mut out,
    );
    let mut alloc = allocator(&cfg);
    alloc.place("amr-r1", "N0").unwrap();
    r.follow_zones(Some(&mut alloc), t, &mut out);
    assert_eq!(
        on(&out, "responses")[0]["responses"][0]["grantType"],
        "REJECTED"
    );
    // Traffic control off: nobody holds the picture, so nobody may grant.
    let mut out = Vec::new();
    r.on_state(
        &state("r1", "N0", json!([]), request("q2", "REQUESTED", &set_id)),
        t,
        &mut out,
    );
    r.follow_zones(None, t, &mut out);
    assert_eq!(
        on(&out, "responses")[0]["responses"][0]["grantType"],
        "REJECTED"
    );
}

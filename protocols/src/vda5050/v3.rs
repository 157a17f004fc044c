//! The 3.0 wire names. The message types carry the 2.x field names, and a 3.0 message decodes
//! into them through serde aliases (see [`super::state`], [`super::order`]). Encoding a message
//! whose header says 3.0 writes the 2.x form and renames it here, field by field, into what
//! the 3.0 schemas require:
//!
//! * `state`: `batteryState` → `powerSupply` (`batteryCharge` → `stateOfCharge`, `reach` →
//!   `range`), `agvPosition` → `mobileRobotPosition` (`positionInitialized` → `localized`),
//!   `safetyState.eStop` → `activeEmergencyStop` (3.0 has no `AUTOACK`: sent as `NONE`, the
//!   protective field is in `fieldViolation`), `instantActionStates` always present,
//!   `operatingMode` `TEACHIN` → `TEACH_IN`, `zoneSetId` left out (3.0 lists `zoneSets`).
//! * `order`: `maxSpeed` → `maximumSpeed`, `maxHeight` → `maximumMobileRobotHeight`,
//!   `minHeight` → `minimumLoadHandlingDeviceHeight`, `allowedDeviationXY` radius → the circle
//!   `{a: r, b: r, theta: 0}`, `corridorRefPoint` → `corridorReferencePoint`
//!   (`KINEMATIC_CENTER`), edges without `startNodeId`/`endNodeId`, no `zoneSetId`.
//! * `instantActions`: `blockingType` is always `NONE` (the only value 3.0 allows there).
//! * `connection`: `CONNECTIONBROKEN` → `CONNECTION_BROKEN`.
//! * `factsheet`: `agvGeometry` → `mobileRobotGeometry`, `vehicleConfig` →
//!   `mobileRobotConfiguration`, `agvActions` → `mobileRobotActions` (with `cancelAllowed` /
//!   `pauseAllowed`, `false` unless declared), `maxArrayLens` → `maximumArrayLengths`, and the
//!   `…Max`/`…Min` physical parameters → `maximum…`/`minimum…`.
//! * everywhere: `…Description` of nodes, edges, actions, maps, information → `…Descriptor`,
//!   `resultDescription` → `actionResult`.
//!
//! Only 3.0 messages pay for the detour through a JSON value; 2.x ones serialize directly.

use serde_json::{Map, Value};

use super::topic::TopicKind;

/// Renames `from` to `to` in `obj`, if present.
fn rename(obj: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = obj.remove(from) {
        obj.insert(to.to_string(), v);
    }
}

/// The objects of the array `key` of `obj`.
fn each<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    obj.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// The object `key` of `obj`, if it is one.
fn object<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    obj.get_mut(key).and_then(Value::as_object_mut)
}

/// Replaces the string `from` at `key` by `to`.
fn replace_value(obj: &mut Map<String, Value>, key: &str, from: &str, to: &str) {
    if obj.get(key).and_then(Value::as_str) == Some(from) {
        obj.insert(key.to_string(), Value::from(to));
    }
}

fn action(a: &mut Map<String, Value>) {
    rename(a, "actionDescription", "actionDescriptor");
}

fn action_state(a: &mut Map<String, Value>) {
    rename(a, "actionDescription", "actionDescriptor");
    rename(a, "resultDescription", "actionResult");
}

fn position(p: &mut Map<String, Value>) {
    rename(p, "positionInitialized", "localized");
    p.remove("mapDescription");
}

fn node(n: &mut Map<String, Value>) {
    rename(n, "nodeDescription", "nodeDescriptor");
    if let Some(p) = object(n, "nodePosition") {
        p.remove("mapDescription");
        if let Some(r) = p.get("allowedDeviationXY").and_then(Value::as_f64) {
            let ellipse = serde_json::json!({ "a": r, "b": r, "theta": 0.0 });
            p.insert("allowedDeviationXY".into(), ellipse);
        }
    }
    each(n, "actions").for_each(action);
}

fn edge(e: &mut Map<String, Value>) {
    rename(e, "edgeDescription", "edgeDescriptor");
    rename(e, "maxSpeed", "maximumSpeed");
    rename(e, "maxHeight", "maximumMobileRobotHeight");
    rename(e, "minHeight", "minimumLoadHandlingDeviceHeight");
    e.remove("startNodeId");
    e.remove("endNodeId");
    if let Some(c) = object(e, "corridor") {
        rename(c, "corridorRefPoint", "corridorReferencePoint");
        replace_value(
            c,
            "corridorReferencePoint",
            "KINEMATICCENTER",
            "KINEMATIC_CENTER",
        );
    }
    each(e, "actions").for_each(action);
}

fn state(s: &mut Map<String, Value>) {
    s.remove("zoneSetId");
    rename(s, "batteryState", "powerSupply");
    if let Some(p) = object(s, "powerSupply") {
        rename(p, "batteryCharge", "stateOfCharge");
        rename(p, "reach", "range");
    }
    rename(s, "agvPosition", "mobileRobotPosition");
    if let Some(p) = object(s, "mobileRobotPosition") {
        position(p);
    }
    if let Some(safety) = object(s, "safetyState") {
        rename(safety, "eStop", "activeEmergencyStop");
        replace_value(safety, "activeEmergencyStop", "AUTOACK", "NONE");
    }
    replace_value(s, "operatingMode", "TEACHIN", "TEACH_IN");
    s.entry("instantActionStates")
        .or_insert_with(|| Value::Array(Vec::new()));
    each(s, "actionStates").for_each(action_state);
    each(s, "instantActionStates").for_each(action_state);
    for n in each(s, "nodeStates") {
        rename(n, "nodeDescription", "nodeDescriptor");
        if let Some(p) = object(n, "nodePosition") {
            p.remove("mapDescription");
            if let Some(r) = p.get("allowedDeviationXY").and_then(Value::as_f64) {
                let ellipse = serde_json::json!({ "a": r, "b": r, "theta": 0.0 });
                p.insert("allowedDeviationXY".into(), ellipse);
            }
        }
    }
    each(s, "edgeStates").for_each(|e| rename(e, "edgeDescription", "edgeDescriptor"));
    each(s, "maps").for_each(|m| rename(m, "mapDescription", "mapDescriptor"));
    each(s, "information").for_each(|i| rename(i, "infoDescription", "infoDescriptor"));
}

fn order(o: &mut Map<String, Value>) {
    o.remove("zoneSetId");
    each(o, "nodes").for_each(node);
    each(o, "edges").for_each(edge);
}

fn instant_actions(m: &mut Map<String, Value>) {
    for a in each(m, "actions") {
        action(a);
        a.insert("blockingType".into(), Value::from("NONE"));
    }
}

fn factsheet(f: &mut Map<String, Value>) {
    rename(f, "agvGeometry", "mobileRobotGeometry");
    rename(f, "vehicleConfig", "mobileRobotConfiguration");
    if let Some(t) = object(f, "typeSpecification") {
        rename(t, "agvKinematic", "mobileRobotKinematics");
        rename(t, "agvClass", "mobileRobotClass");
        rename(t, "maxLoadMass", "maximumLoadMass");
    }
    if let Some(p) = object(f, "physicalParameters") {
        for (from, to) in [
            ("speedMin", "minimumSpeed"),
            ("speedMax", "maximumSpeed"),
            ("accelerationMax", "maximumAcceleration"),
            ("decelerationMax", "maximumDeceleration"),
            ("heightMin", "minimumHeight"),
            ("heightMax", "maximumHeight"),
        ] {
            rename(p, from, to);
        }
    }
    if let Some(l) = object(f, "protocolLimits") {
        rename(l, "maxStringLens", "maximumStringLengths");
        rename(l, "maxArrayLens", "maximumArrayLengths");
        if let Some(t) = object(l, "timing") {
            rename(t, "minOrderInterval", "minimumOrderInterval");
            rename(t, "minStateInterval", "minimumStateInterval");
        }
    }
    if let Some(p) = object(f, "protocolFeatures") {
        rename(p, "agvActions", "mobileRobotActions");
        for a in each(p, "mobileRobotActions") {
            rename(a, "resultDescription", "actionResult");
            for key in ["cancelAllowed", "pauseAllowed"] {
                a.entry(key).or_insert(Value::Bool(false));
            }
        }
    }
}

/// Rewrites `message`, a message of topic `kind` in its 2.x form, into its 3.0 form.
pub fn to_v3(kind: TopicKind, message: &mut Value) {
    let Some(m) = message.as_object_mut() else {
        return;
    };
    match kind {
        TopicKind::State => state(m),
        TopicKind::Order => order(m),
        TopicKind::InstantActions => instant_actions(m),
        TopicKind::Connection => replace_value(
            m,
            "connectionState",
            "CONNECTIONBROKEN",
            "CONNECTION_BROKEN",
        ),
        TopicKind::Visualization => {
            rename(m, "agvPosition", "mobileRobotPosition");
            if let Some(p) = object(m, "mobileRobotPosition") {
                position(p);
            }
        }
        TopicKind::Factsheet => factsheet(m),
        TopicKind::ZoneSet | TopicKind::Responses => {}
    }
}

/// Rewrites an encoded `instantActions` message so that its array is named `instantActions`
/// (the 1.x name) instead of `actions`, for robot stacks that still read that name. Anything
/// that is not such a message comes back unchanged.
pub fn legacy_instant_actions(payload: &[u8]) -> Vec<u8> {
    rename_top(payload, "actions", "instantActions")
}

/// The reverse of [`legacy_instant_actions`]: an `instantActions` message whose array is named
/// `instantActions` gets it named `actions`, ready for [`decode`](super::decode). Anything
/// else comes back unchanged (and decodes, or fails, as it would have).
pub fn from_legacy_instant_actions(payload: &[u8]) -> Vec<u8> {
    rename_top(payload, "instantActions", "actions")
}

fn rename_top(payload: &[u8], from: &str, to: &str) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(payload) else {
        return payload.to_vec();
    };
    match v.as_object_mut() {
        Some(m) if m.contains_key(from) && !m.contains_key(to) => rename(m, from, to),
        _ => return payload.to_vec(),
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| payload.to_vec())
}

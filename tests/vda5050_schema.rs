//! Every VDA 5050 message floorgate builds and every message the simulated AMR publishes
//! validates against the official JSON schemas of its version (2.0, 2.1 and 3.0, in
//! `protocols/schemas/vda5050/`), valid 3.0 messages from elsewhere decode, and malformed
//! input gives a typed error, never a panic.

mod common;

use std::time::Duration;

use floorgate::vda5050::codec::check_version;
use floorgate::vda5050::order::action_types::{
    CANCEL_ORDER, FACTSHEET_REQUEST, START_PAUSE, STATE_REQUEST, STOP_PAUSE,
};
use floorgate::vda5050::state::{Info, InfoLevel, Load, MapState, MapStatus, Reference};
use floorgate::vda5050::validate_order;
use floorgate::vda5050::zones::{Vertex, ZoneSet, ZoneSetMessage};
use floorgate::vda5050::{
    decode, encode, Action, AgvError, BlockingType, Connection, ConnectionState, DecodeError,
    ErrorLevel, HeaderFactory, InstantActions, LoadHandling, Message, Order, OrderPlan, PathEdge,
    PathNode, ProtocolVersion, Route, State, TopicKind, Visualization,
};
use floorgate_sim::amr::{Robot, RobotConfig};
use serde_json::Value;

struct Schemas {
    version: ProtocolVersion,
    validators: Vec<(TopicKind, jsonschema::Validator)>,
}

impl Schemas {
    fn load(version: ProtocolVersion) -> Schemas {
        let validators = crate::common::vda5050_validators(version);
        Schemas {
            version,
            validators,
        }
    }

    fn is_valid(&self, kind: TopicKind, instance: &Value) -> bool {
        let (_, v) = self.validators.iter().find(|(k, _)| *k == kind).unwrap();
        v.is_valid(instance)
    }

    fn check(&self, kind: TopicKind, payload: &[u8]) {
        let instance: Value = serde_json::from_slice(payload).unwrap();
        let (_, v) = self.validators.iter().find(|(k, _)| *k == kind).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{kind} message is not valid VDA 5050 {}: {errors:#?}\n{instance:#}",
            self.version
        );
        // And it reads back as the same kind of message.
        let decoded = Message::decode(kind, payload).unwrap();
        assert_eq!(check_version(decoded.version()), Ok(self.version));
    }
}

fn route(n: usize) -> Route {
    Route {
        nodes: (0..n)
            .map(|i| PathNode {
                node_id: format!("N{i}"),
                x: i as f64,
                y: 0.5,
                theta: (i == 0).then_some(1.5),
                map_id: "floor-1".into(),
            })
            .collect(),
        edges: (1..n)
            .map(|i| PathEdge {
                edge_id: format!("E{i}"),
                length: Some(1.0),
                max_speed: Some(1.2),
            })
            .collect(),
    }
}

fn pick_and_drop() -> Vec<(usize, Action)> {
    let pick = LoadHandling {
        action_id: "pick-1".into(),
        load_id: Some("TOTE-1".into()),
        load_type: Some("tote".into()),
        station_name: Some("rack-3".into()),
        station_type: Some("rack".into()),
        lhd: Some("LHD1".into()),
        height: Some(0.8),
    };
    let drop = LoadHandling {
        action_id: "drop-1".into(),
        load_id: Some("TOTE-1".into()),
        station_name: Some("port-1".into()),
        ..Default::default()
    };
    vec![(1, pick.pick()), (4, drop.drop_load())]
}

fn instant(h: &mut HeaderFactory, kinds: &[&str]) -> InstantActions {
    InstantActions {
        header: h.next(TopicKind::InstantActions),
        actions: kinds
            .iter()
            .enumerate()
            .map(|(i, k)| Action::new(k, &format!("ia-{i}-{k}"), BlockingType::Hard))
            .collect(),
    }
}

#[test]
fn messages_floorgate_builds_validate_for_every_version() {
    for version in ProtocolVersion::ALL {
        let schemas = Schemas::load(version);
        let mut h = HeaderFactory::new(version, "acme", "amr-001");
        let mut plan = OrderPlan::new("order-1", route(6), pick_and_drop(), 3).unwrap();
        schemas.check(
            TopicKind::Order,
            &encode(&plan.message(h.next(TopicKind::Order))),
        );
        while let Some(update) = plan.extend(h.next(TopicKind::Order)) {
            schemas.check(TopicKind::Order, &encode(&update));
        }
        let all = [
            CANCEL_ORDER,
            START_PAUSE,
            STOP_PAUSE,
            STATE_REQUEST,
            FACTSHEET_REQUEST,
        ];
        let mut ia = instant(&mut h, &all);
        ia.actions[0] = ia.actions[0]
            .clone()
            .with_param("reason", "test")
            .with_param("n", 3);
        schemas.check(TopicKind::InstantActions, &encode(&ia));
        let hibernating = version.is_v3().then_some(ConnectionState::Hibernating);
        for state in [
            ConnectionState::Online,
            ConnectionState::Offline,
            ConnectionState::ConnectionBroken,
        ]
        .into_iter()
        .chain(hibernating)
        {
            let c = Connection {
                header: h.next(TopicKind::Connection),
                connection_state: state,
            };
            schemas.check(TopicKind::Connection, &encode(&c));
        }
        // The validators do reject what the schemas forbid.
        let mut broken: Value =
            serde_json::to_value(plan.message(h.next(TopicKind::Order))).unwrap();
        assert!(schemas.is_valid(TopicKind::Order, &broken));
        broken["timestamp"] = Value::from("yesterday");
        assert!(
            !schemas.is_valid(TopicKind::Order, &broken),
            "date-time format is checked"
        );
        broken.as_object_mut().unwrap().remove("nodes");
        assert!(!schemas.is_valid(TopicKind::Order, &broken));
        let vis = Visualization {
            header: h.next(TopicKind::Visualization),
            agv_position: None,
            velocity: None,
            reference_state_header_id: version.is_v3().then_some(0),
        };
        schemas.check(TopicKind::Visualization, &encode(&vis));
    }
}

/// A robot's `state` with every optional part filled in, mid-order.
fn state_with_every_optional_part(version: ProtocolVersion) -> State {
    let mut robot =
        Robot::new(RobotConfig::new("acme", "amr-001", version).at_node("N0", 0.0, 0.5));
    let mut h = HeaderFactory::new(version, "acme", "amr-001");
    let plan = OrderPlan::new("order-1", route(4), pick_and_drop()[..1].to_vec(), 3).unwrap();
    robot.handle_order(plan.message(h.next(TopicKind::Order)));
    let mut s: State = robot.state_message();
    s.loads = Some(vec![Load {
        load_id: Some("T".into()),
        load_type: Some("tote".into()),
        load_position: Some("LHD1".into()),
        weight: Some(4.5),
    }]);
    s.errors.push(AgvError {
        error_type: "orderUpdateError".into(),
        error_references: Some(vec![Reference::new("orderId", "order-1")]),
        error_description: Some("lower orderUpdateId".into()),
        error_hint: version.has_error_hint().then(|| "send a higher one".into()),
        error_level: ErrorLevel::Warning,
    });
    s.information = Some(vec![Info {
        info_type: "note".into(),
        info_references: None,
        info_description: Some("x".into()),
        info_level: InfoLevel::Debug,
    }]);
    if version.has_state_maps() {
        s.maps = Some(vec![MapState {
            map_id: "floor-1".into(),
            map_version: "3".into(),
            map_description: None,
            map_status: MapStatus::Enabled,
        }]);
    }
    s.distance_since_last_node = Some(0.3);
    s.zone_set_id = Some("zones".into());
    s.battery_state.battery_health = Some(97);
    s.battery_state.battery_voltage = Some(48.1);
    s.battery_state.reach = Some(1200);
    s
}

#[test]
fn a_state_with_every_optional_part_validates_for_every_version() {
    for version in ProtocolVersion::ALL {
        let schemas = Schemas::load(version);
        schemas.check(
            TopicKind::State,
            &encode(&state_with_every_optional_part(version)),
        );
    }
}

/// The gateway decodes each robot's `state` into the buffer of the one before
/// (`decode_in_place`); whatever that buffer held, the result must be what a fresh decode
/// gives, and a payload that does not decode must give the same error.
#[test]
fn a_state_decoded_into_the_buffer_of_another_equals_a_fresh_decode() {
    let mut payloads = Vec::new();
    for version in ProtocolVersion::ALL {
        let at_rest = Robot::new(RobotConfig::new("acme", "amr-001", version)).state_message();
        let mut fewer_parts = state_with_every_optional_part(version);
        fewer_parts.loads = Some(vec![]);
        fewer_parts.errors.clear();
        fewer_parts.node_states.truncate(1);
        fewer_parts.order_id = "a much longer order id than the one before".into();
        payloads.push(encode(&at_rest));
        payloads.push(encode(&state_with_every_optional_part(version)));
        payloads.push(encode(&fewer_parts));
    }
    // The same state with its keys in another order, and with an escaped string.
    let mut reordered: Vec<(String, Value)> =
        serde_json::from_slice::<serde_json::Map<_, _>>(&payloads[1])
            .unwrap()
            .into_iter()
            .collect();
    reordered.reverse();
    reordered.push(("lastNodeId".into(), Value::from("N\"\u{e9}")));
    payloads.push(
        serde_json::to_vec(&reordered.into_iter().collect::<serde_json::Map<_, _>>()).unwrap(),
    );
    let fresh: Vec<State> = payloads.iter().map(|p| decode(p).unwrap()).collect();
    let mut bad_type: Value = serde_json::from_slice(&payloads[1]).unwrap();
    bad_type["agvPosition"]["x"] = Value::from("1.0");
    let bad = [
        serde_json::to_vec(&bad_type).unwrap(),
        payloads[1][..payloads[1].len() / 2].to_vec(),
        [&payloads[0][..20], &[0xff, 0xfe], &payloads[0][20..]].concat(),
    ];
    for (i, before) in fresh.iter().enumerate() {
        for (j, payload) in payloads.iter().enumerate() {
            let mut place = before.clone();
            floorgate::vda5050::decode_in_place(payload, &mut place).unwrap();
            assert_eq!(place, fresh[j], "state {j} decoded over state {i}");
        }
        for payload in &bad {
            let mut place = before.clone();
            assert_eq!(
                floorgate::vda5050::decode_in_place(payload, &mut place),
                decode::<State>(payload).map(|_| ()),
                "the same error in place as fresh"
            );
            assert!(decode::<State>(payload).is_err());
        }
    }
}

#[test]
fn every_message_the_simulated_amr_publishes_validates_for_every_version() {
    for version in ProtocolVersion::ALL {
        let schemas = Schemas::load(version);
        let mut cfg = RobotConfig::new("acme", "amr-001", version).at_node("N0", 0.0, 0.5);
        // On the map the orders name: a robot refuses an order that starts on another.
        cfg.map_id = "floor-1".into();
        cfg.speed = 2.0;
        cfg.pick_duration_s = 0.5;
        cfg.drop_duration_s = 0.5;
        let mut robot = Robot::new(cfg);
        let mut h = HeaderFactory::new(version, "acme", "amr-001");
        let mut published = Vec::new();
        let step = |robot: &mut Robot, published: &mut Vec<(TopicKind, Vec<u8>)>, secs: f64| {
            for _ in 0..(secs * 10.0) as usize {
                robot.tick(Duration::from_millis(100));
                if robot.take_changed() {
                    published.push((TopicKind::State, encode(&robot.state_message())));
                }
                if robot.take_factsheet_request() {
                    published.push((TopicKind::Factsheet, encode(&robot.factsheet_message())));
                }
            }
        };
        // Connection messages as the MQTT client sends them.
        for state in [
            ConnectionState::ConnectionBroken,
            ConnectionState::Online,
            ConnectionState::Offline,
        ] {
            let c = Connection {
                header: robot.next_header(TopicKind::Connection),
                connection_state: state,
            };
            published.push((TopicKind::Connection, encode(&c)));
        }
        let mut plan = OrderPlan::new("order-1", route(6), pick_and_drop(), 3).unwrap();
        let first = plan.message(h.next(TopicKind::Order));
        robot.handle_order(first.clone());
        step(&mut robot, &mut published, 1.0);
        robot.handle_order(first); // ignored
        robot.handle_order_payload(b"{not json"); // validationError
        robot.handle_instant_actions(instant(&mut h, &[START_PAUSE]));
        step(&mut robot, &mut published, 0.5);
        robot.handle_instant_actions(instant(
            &mut h,
            &[STOP_PAUSE, STATE_REQUEST, FACTSHEET_REQUEST, "unknownThing"],
        ));
        let update = plan.extend(h.next(TopicKind::Order)).unwrap();
        robot.handle_order(update);
        let mut stale = plan.message(h.next(TopicKind::Order));
        stale.order_update_id = 0;
        robot.handle_order(stale); // orderUpdateError
        robot.set_battery(5.0);
        robot.inject_fatal("motorFault", "injected");
        step(&mut robot, &mut published, 0.5);
        robot.clear_errors();
        step(&mut robot, &mut published, 6.0);
        robot.handle_instant_actions(instant(&mut h, &[CANCEL_ORDER]));
        published.push((TopicKind::State, encode(&robot.state_message())));
        step(&mut robot, &mut published, 0.5);
        robot.handle_instant_actions(instant(&mut h, &[CANCEL_ORDER])); // noOrderToCancel
        step(&mut robot, &mut published, 0.5);

        assert!(
            published
                .iter()
                .filter(|(k, _)| *k == TopicKind::State)
                .count()
                > 10
        );
        assert!(published.iter().any(|(k, _)| *k == TopicKind::Factsheet));
        for (kind, payload) in &published {
            schemas.check(*kind, payload);
        }
    }
}

#[test]
fn malformed_json_wrong_types_and_unknown_enum_values_are_errors() {
    let mut h = HeaderFactory::new(ProtocolVersion::V2_1, "acme", "amr-001");
    let plan = OrderPlan::new("order-1", route(3), pick_and_drop()[..1].to_vec(), 3).unwrap();
    let good: Value = serde_json::to_value(plan.message(h.next(TopicKind::Order))).unwrap();

    for bad in [
        &b""[..],
        b"{",
        b"{\"orderId\": \"x\", ",
        b"{\"orderId\": }",
        b"nul",
    ] {
        let e = decode::<Order>(bad).unwrap_err();
        assert!(
            matches!(e, DecodeError::Syntax { .. }),
            "{bad:?} gave {e:?}"
        );
    }

    let mut trailing = serde_json::to_vec(&good).unwrap();
    trailing.extend_from_slice(b" trailing");
    assert!(matches!(
        decode::<Order>(&trailing),
        Err(DecodeError::Syntax { .. })
    ));
    assert!(decode::<Order>(&serde_json::to_vec(&good).unwrap()).is_ok());

    let mut wrong_type = good.clone();
    wrong_type["orderUpdateId"] = Value::from("1");
    let e = decode::<Order>(&serde_json::to_vec(&wrong_type).unwrap()).unwrap_err();
    assert!(
        matches!(&e, DecodeError::Invalid { path, .. } if path == "orderUpdateId"),
        "{e:?}"
    );

    let mut negative = good.clone();
    negative["nodes"][0]["sequenceId"] = Value::from(-2);
    let e = decode::<Order>(&serde_json::to_vec(&negative).unwrap()).unwrap_err();
    assert!(
        matches!(&e, DecodeError::Invalid { path, .. } if path == "nodes[0].sequenceId"),
        "{e:?}"
    );

    let mut unknown_enum = good.clone();
    unknown_enum["nodes"][1]["actions"][0]["blockingType"] = Value::from("MEDIUM");
    let e = decode::<Order>(&serde_json::to_vec(&unknown_enum).unwrap()).unwrap_err();
    assert!(
        matches!(&e, DecodeError::Invalid { path, .. } if path == "nodes[1].actions[0].blockingType"),
        "{e:?}"
    );

    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("edges");
    assert!(matches!(
        decode::<Order>(&serde_json::to_vec(&missing).unwrap()),
        Err(DecodeError::Invalid { .. })
    ));

    // 3.0 spelling of the connection state is not 2.x, nor the 2.x one 3.0.
    let c3 = br#"{"headerId":1,"timestamp":"2024-01-01T00:00:00.00Z","version":"3.0.0","manufacturer":"a","serialNumber":"b","connectionState":"CONNECTIONBROKEN"}"#;
    assert!(matches!(
        decode::<Connection>(c3),
        Err(DecodeError::Invalid { .. })
    ));
    let c = br#"{"headerId":1,"timestamp":"2024-01-01T00:00:00.00Z","version":"2.1.0","manufacturer":"a","serialNumber":"b","connectionState":"CONNECTION_BROKEN"}"#;
    assert!(matches!(
        decode::<Connection>(c),
        Err(DecodeError::Invalid { .. })
    ));
    // 1.x named the list `instantActions`; 2.x calls it `actions`.
    let ia = br#"{"headerId":1,"timestamp":"2024-01-01T00:00:00.00Z","version":"2.1.0","manufacturer":"a","serialNumber":"b","instantActions":[]}"#;
    assert!(matches!(
        decode::<InstantActions>(ia),
        Err(DecodeError::Invalid { .. })
    ));

    let mut state_bad = serde_json::to_value(
        Robot::new(RobotConfig::new("a", "b", ProtocolVersion::V2_1)).snapshot(),
    )
    .unwrap();
    state_bad["actionStates"] = serde_json::json!([{ "actionId": "x", "actionStatus": "DONE" }]);
    assert!(matches!(
        Message::decode(TopicKind::State, &serde_json::to_vec(&state_bad).unwrap()),
        Err(DecodeError::Invalid { .. })
    ));

    assert_eq!(check_version("3.0.0"), Ok(ProtocolVersion::V3_0));
    assert_eq!(
        check_version("4.0.0"),
        Err(DecodeError::UnsupportedVersion("4.0.0".into()))
    );
}

#[test]
fn unknown_extra_fields_are_tolerated() {
    let mut h = HeaderFactory::new(ProtocolVersion::V2_0, "acme", "amr-001");
    let plan = OrderPlan::new("order-1", route(2), vec![], 3).unwrap();
    let order = plan.message(h.next(TopicKind::Order));
    let mut v = serde_json::to_value(&order).unwrap();
    v["vendorExtension"] = serde_json::json!({"a": 1});
    v["nodes"][0]["futureField"] = Value::from(true);
    v["edges"][0]["corridor"] = serde_json::json!({"leftWidth": 0.5, "rightWidth": 0.5});
    let back: Order = decode(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(back.nodes, order.nodes);
    assert_eq!(
        back.edges[0].corridor.as_ref().map(|c| c.left_width),
        Some(0.5)
    );
}

#[test]
fn zone_sets_and_responses_floorgate_builds_validate_for_3_0() {
    use floorgate::vda5050::{GrantType, Response, Responses, Zone, ZoneType};
    let schemas = Schemas::load(ProtocolVersion::V3_0);
    let mut h = HeaderFactory::new(ProtocolVersion::V3_0, "acme", "amr-001");
    let square = vec![
        Vertex { x: 0.0, y: 0.0 },
        Vertex { x: 2.0, y: 0.0 },
        Vertex { x: 2.0, y: 2.0 },
        Vertex { x: 0.0, y: 2.0 },
    ];
    let mut slow = Zone::new("slow", ZoneType::SpeedLimit, square.clone());
    slow.maximum_speed = Some(0.3);
    let mut gate = Zone::new("gate", ZoneType::Release, square.clone());
    gate.release_loss_behavior = Some(floorgate::vda5050::zones::ReleaseLossBehavior::Stop);
    let zones = ZoneSetMessage {
        header: h.next(TopicKind::ZoneSet),
        zone_set: ZoneSet {
            map_id: "floor-1".into(),
            zone_set_id: "zones-1".into(),
            zone_set_descriptor: None,
            zones: vec![slow, gate, Zone::new("wall", ZoneType::Blocked, square)],
        },
    };
    schemas.check(TopicKind::ZoneSet, &encode(&zones));
    let mut bare: Value = serde_json::from_slice(&encode(&zones)).unwrap();
    bare["zoneSet"]["zones"][0]
        .as_object_mut()
        .unwrap()
        .remove("maximumSpeed");
    assert!(
        !schemas.is_valid(TopicKind::ZoneSet, &bare),
        "a SPEED_LIMIT zone needs its maximumSpeed"
    );
    let answers = Responses {
        header: h.next(TopicKind::Responses),
        responses: vec![
            Response {
                request_id: "r1".into(),
                grant_type: GrantType::Granted,
                lease_expiry: Some("2030-01-01T00:00:00.00Z".into()),
            },
            Response {
                request_id: "r2".into(),
                grant_type: GrantType::Queued,
                lease_expiry: None,
            },
        ],
    };
    schemas.check(TopicKind::Responses, &encode(&answers));
    assert_eq!(
        decode::<Responses>(&encode(&answers)).unwrap(),
        answers,
        "responses round-trip"
    );
}

/// Messages as a 3.0 robot or another 3.0 master control writes them, checked against the
/// 3.0 schemas first so that the samples themselves are right.
const STATE_3_0: &str = r#"{"headerId":7,"timestamp":"2026-01-01T10:00:00.000Z","version":"3.0.0",
"manufacturer":"acme","serialNumber":"amr-009","orderId":"o-1","orderUpdateId":2,
"lastNodeId":"N1","lastNodeSequenceId":2,
"nodeStates":[{"nodeId":"N2","sequenceId":4,"released":true,"nodeDescriptor":"bay"}],
"edgeStates":[{"edgeId":"E2","sequenceId":3,"released":true,"edgeDescriptor":"aisle"}],
"mobileRobotPosition":{"x":1.5,"y":0.5,"theta":0.0,"mapId":"floor-1","localized":true,"localizationScore":0.9},
"driving":true,"paused":false,
"actionStates":[{"actionId":"pick-1","actionType":"pick","actionStatus":"RETRIABLE","actionResult":"no load","actionDescriptor":"pick tote"}],
"instantActionStates":[{"actionId":"ia-1","actionType":"startPause","actionStatus":"FINISHED"}],
"powerSupply":{"stateOfCharge":64.5,"charging":false,"batteryHealth":91.5,"range":1234.4,"batteryCurrent":-3.2},
"operatingMode":"TEACH_IN",
"errors":[{"errorType":"pickFailed","errorLevel":"CRITICAL"},{"errorType":"batteryLow","errorLevel":"URGENT"}],
"information":[{"infoType":"note","infoLevel":"INFO","infoDescriptor":"hello"}],
"safetyState":{"activeEmergencyStop":"NONE","fieldViolation":false},
"zoneSets":[{"mapId":"floor-1","zoneSetId":"zones-1","zoneSetStatus":"ENABLED"}],
"zoneRequests":[{"requestId":"r1","requestType":"ACCESS","zoneId":"gate","zoneSetId":"zones-1","requestStatus":"REQUESTED"}]}"#;

const ORDER_3_0: &str = r#"{"headerId":1,"timestamp":"2026-01-01T10:00:00.000Z","version":"3.0.0",
"manufacturer":"acme","serialNumber":"amr-009","orderId":"o-1","orderUpdateId":0,"orderDescription":"a transport",
"nodes":[{"nodeId":"N0","sequenceId":0,"released":true,"nodeDescriptor":"start",
  "nodePosition":{"x":0.0,"y":0.5,"mapId":"floor-1","allowedDeviationXY":{"a":0.8,"b":0.4,"theta":0.0}},"actions":[]},
 {"nodeId":"N1","sequenceId":2,"released":true,"actions":[{"actionType":"pick","actionId":"pick-1","blockingType":"SINGLE","retriable":true,
   "actionParameters":[{"key":"loadType","value":"tote"},{"key":"n","value":3}]}]}],
"edges":[{"edgeId":"E1","sequenceId":1,"released":true,"maximumSpeed":1.2,"maximumMobileRobotHeight":2.0,
  "corridor":{"leftWidth":0.5,"rightWidth":0.5,"corridorReferencePoint":"KINEMATIC_CENTER"},"actions":[]}]}"#;

const INSTANT_3_0: &str = r#"{"headerId":3,"timestamp":"2026-01-01T10:00:00.000Z","version":"3.0.0",
"manufacturer":"acme","serialNumber":"amr-009",
"actions":[{"actionType":"stopHibernation","actionId":"wake-1","blockingType":"NONE","actionDescriptor":"wake up"}]}"#;

const HIBERNATING_3_0: &str = r#"{"headerId":4,"timestamp":"2026-01-01T10:00:00.000Z","version":"3.0.0",
"manufacturer":"acme","serialNumber":"amr-009","connectionState":"HIBERNATING"}"#;

const BROKEN_3_0: &str = r#"{"headerId":5,"timestamp":"2026-01-01T10:00:00.000Z","version":"3.0.0",
"manufacturer":"acme","serialNumber":"amr-009","connectionState":"CONNECTION_BROKEN"}"#;

#[test]
fn valid_3_0_messages_from_elsewhere_decode() {
    use floorgate::vda5050::state::{ActionStatus, EStop, OperatingMode};
    let schemas = Schemas::load(ProtocolVersion::V3_0);
    for (kind, text) in [
        (TopicKind::State, STATE_3_0),
        (TopicKind::Order, ORDER_3_0),
        (TopicKind::InstantActions, INSTANT_3_0),
        (TopicKind::Connection, HIBERNATING_3_0),
        (TopicKind::Connection, BROKEN_3_0),
    ] {
        schemas.check(kind, text.as_bytes());
    }

    let s: State = decode(STATE_3_0.as_bytes()).unwrap();
    assert_eq!(s.battery_state.battery_charge, 64.5);
    assert_eq!(s.battery_state.reach, Some(1234));
    assert_eq!(s.battery_state.battery_health, Some(92));
    let p = s.agv_position.as_ref().unwrap();
    assert!(p.position_initialized && p.x == 1.5);
    assert_eq!(s.safety_state.e_stop, EStop::None);
    assert_eq!(s.operating_mode, OperatingMode::TeachIn);
    assert_eq!(s.errors[0].error_level, ErrorLevel::Critical);
    assert_eq!(s.errors[1].error_level, ErrorLevel::Urgent);
    assert_eq!(s.action_status("pick-1"), Some(ActionStatus::Retriable));
    assert_eq!(
        s.action_states[0].result_description.as_deref(),
        Some("no load")
    );
    assert_eq!(
        s.action_status("ia-1"),
        Some(ActionStatus::Finished),
        "instant actions are found in instantActionStates"
    );
    assert_eq!(s.node_states[0].node_description.as_deref(), Some("bay"));
    assert!(s.is_busy());

    // Into the scratch buffer of a 2.1 state, as the gateway decodes a mixed fleet.
    let mut place = state_with_every_optional_part(ProtocolVersion::V2_1);
    floorgate::vda5050::decode_in_place(STATE_3_0.as_bytes(), &mut place).unwrap();
    assert_eq!(place, s);
    // And a 3.0 state the simulated robot encodes reads back as what it was.
    let mine = state_with_every_optional_part(ProtocolVersion::V3_0);
    let mut back: State = decode(&encode(&mine)).unwrap();
    back.zone_set_id = mine.zone_set_id.clone(); // 3.0 lists zoneSets instead
    assert_eq!(back, mine);

    let o: Order = decode(ORDER_3_0.as_bytes()).unwrap();
    validate_order(&o).unwrap();
    let start = o.nodes[0].node_position.as_ref().unwrap();
    assert_eq!(
        start.allowed_deviation_xy,
        Some(0.4),
        "the ellipse's smaller half-axis"
    );
    assert_eq!(o.edges[0].max_speed, Some(1.2));
    assert_eq!(o.edges[0].max_height, Some(2.0));
    assert_eq!(o.nodes[1].actions[0].blocking_type, BlockingType::Single);
    assert_eq!(o.nodes[1].actions[0].param_str("loadType"), Some("tote"));
    assert_eq!(o.edges[0].start_node_id, "");

    let ia: InstantActions = decode(INSTANT_3_0.as_bytes()).unwrap();
    assert_eq!(ia.actions[0].action_description.as_deref(), Some("wake up"));
    let c: Connection = decode(HIBERNATING_3_0.as_bytes()).unwrap();
    assert_eq!(c.connection_state, ConnectionState::Hibernating);
    let c: Connection = decode(BROKEN_3_0.as_bytes()).unwrap();
    assert_eq!(c.connection_state, ConnectionState::ConnectionBroken);
    let sleeping_2_1 = HIBERNATING_3_0.replace("3.0.0", "2.1.0");
    assert!(
        decode::<Connection>(sleeping_2_1.as_bytes()).is_err(),
        "HIBERNATING is 3.0 only"
    );
}

#[test]
fn the_legacy_instant_actions_array_name_round_trips() {
    use floorgate::vda5050::v3::{from_legacy_instant_actions, legacy_instant_actions};
    for version in ProtocolVersion::ALL {
        let mut h = HeaderFactory::new(version, "acme", "amr-001");
        let ia = instant(&mut h, &[CANCEL_ORDER, START_PAUSE]);
        let legacy = legacy_instant_actions(&encode(&ia));
        let v: Value = serde_json::from_slice(&legacy).unwrap();
        assert!(v.get("actions").is_none() && v["instantActions"].is_array());
        assert!(
            decode::<InstantActions>(&legacy).is_err(),
            "not the 2.x/3.0 name"
        );
        let back: InstantActions = decode(&from_legacy_instant_actions(&legacy)).unwrap();
        assert_eq!(back.actions.len(), 2);
        assert_eq!(back.actions[0].action_type, CANCEL_ORDER);
        // A message already in the standard name passes unchanged.
        assert_eq!(from_legacy_instant_actions(&encode(&ia)), encode(&ia));
    }
}

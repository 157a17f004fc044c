//! The simulated fleet over a real MQTT broker (embedded, loopback): master control sends an
//! order with a pick and a drop and sees it done in `state`; a dropped robot connection makes
//! the broker publish the robot's CONNECTIONBROKEN last will.

use std::time::Duration;

use floorgate_protocols::broker::EmbeddedBroker;
use floorgate_protocols::vda5050::layout::{LayoutEdge, LayoutNode};
use floorgate_protocols::vda5050::ActionStatus;
use floorgate_protocols::vda5050::{
    decode, encode, Connection, ConnectionState, HeaderFactory, LayoutConfig, LayoutGraph,
    LoadHandling, OrderPlan, ProtocolVersion, State, TopicConfig, TopicKind,
};
use floorgate_sim::amr::{Fleet, FleetConfig};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

fn layout() -> LayoutGraph {
    let node = |id: &str, x: f64| LayoutNode {
        id: id.into(),
        x,
        y: 0.0,
        theta: None,
        map_id: None,
        parking: false,
        waiting: false,
    };
    let edge = |from: &str, to: &str| LayoutEdge {
        id: None,
        from: from.into(),
        to: to.into(),
        length: None,
        bidirectional: true,
        max_speed: None,
        two_way_wide: false,
    };
    LayoutGraph::new(LayoutConfig {
        map_id: "map".into(),
        nodes: vec![
            node("A", 0.0),
            node("B", 1.0),
            node("C", 2.0),
            node("D", 3.0),
        ],
        edges: vec![edge("A", "B"), edge("B", "C"), edge("C", "D")],
        blocks: Vec::new(),
        zones: Vec::new(),
    })
    .unwrap()
}

/// Master control's side: a plain client that hears every state and connection message.
async fn master(
    broker: &EmbeddedBroker,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut opts = MqttOptions::new("master-control", broker.host(), broker.port());
    opts.set_keep_alive(Duration::from_secs(5))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 64);
    let topics = TopicConfig::default();
    client
        .subscribe(topics.filter_all(TopicKind::State), QoS::AtMostOnce)
        .await
        .unwrap();
    client
        .subscribe(topics.filter_all(TopicKind::Connection), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    (client, rx)
}

async fn next_message(rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>) -> (String, Vec<u8>) {
    rx.recv()
        .await
        .expect("master control's event loop stopped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_control_sees_an_order_done_and_a_broken_connection() {
    timeout(Duration::from_secs(30), scenario())
        .await
        .expect("scenario timed out");
}

async fn scenario() {
    let broker = EmbeddedBroker::start().unwrap();
    let mut cfg = FleetConfig::new(&broker.host(), broker.port(), 3);
    cfg.manufacturer = "acme".into();
    cfg.version = ProtocolVersion::V2_0;
    cfg.speed = 4.0;
    cfg.handling_s = 0.2;
    cfg.start_nodes = vec![("A".into(), 0.0, 0.0)];
    cfg.state_interval = Duration::from_secs(1);
    let fleet = Fleet::spawn(&cfg);
    let (client, mut rx) = master(&broker).await;
    let topics = TopicConfig::default();
    let serial = fleet.robot(1).serial_number().to_string();
    let state_topic = topics.topic("acme", &serial, TopicKind::State);

    // All three robots come ONLINE (retained, so subscribing late is fine).
    let mut online = std::collections::HashSet::new();
    while online.len() < 3 {
        let (t, payload) = next_message(&mut rx).await;
        if t.ends_with("/connection") {
            let c: Connection = decode(&payload).unwrap();
            if c.connection_state == ConnectionState::Online {
                assert_eq!(c.header.version, "2.0.0");
                online.insert(c.header.serial_number);
            }
        }
    }

    // An order A → D with a pick at B and a drop at D, re-sent until the state echoes it.
    let g = layout();
    let route = g.route("A", "D").unwrap();
    let pick = LoadHandling {
        action_id: "pick-1".into(),
        load_id: Some("TOTE-7".into()),
        station_name: Some("rack-3".into()),
        ..Default::default()
    };
    let drop = LoadHandling {
        action_id: "drop-1".into(),
        load_id: Some("TOTE-7".into()),
        station_name: Some("port-1".into()),
        ..Default::default()
    };
    let plan = OrderPlan::new(
        "order-42",
        route,
        vec![(1, pick.pick()), (3, drop.drop_load())],
        8,
    )
    .unwrap();
    let mut headers = HeaderFactory::new(ProtocolVersion::V2_0, "acme", &serial);
    let order_topic = topics.topic("acme", &serial, TopicKind::Order);
    let mut echoed = false;
    let mut last_sent = Instant::now() - Duration::from_secs(1);
    let mut done = false;
    while !done {
        if !echoed && last_sent.elapsed() >= Duration::from_millis(300) {
            let msg = plan.message(headers.next(TopicKind::Order));
            client
                .publish(&order_topic, QoS::AtMostOnce, false, encode(&msg))
                .await
                .unwrap();
            last_sent = Instant::now();
        }
        let Ok((t, payload)) = timeout(Duration::from_millis(100), next_message(&mut rx)).await
        else {
            continue;
        };
        if t != state_topic {
            continue;
        }
        let s: State = decode(&payload).unwrap();
        if s.order_id == "order-42" {
            echoed = true;
            assert_eq!(s.order_update_id, 0);
            done = s.action_status("pick-1") == Some(ActionStatus::Finished)
                && s.action_status("drop-1") == Some(ActionStatus::Finished);
            if done {
                assert_eq!(s.last_node_id, "D");
                assert!(s.node_states.is_empty());
                assert_eq!(s.loads.as_deref(), Some(&[][..]));
            }
        }
    }
    let counters = fleet.robot(1).counters();
    assert_eq!(counters.picks.get("TOTE-7"), Some(&1));
    assert_eq!(counters.drops.get("TOTE-7"), Some(&1));
    assert_eq!(
        counters.orders_accepted, 1,
        "re-sent copies are ignored, not executed again"
    );
    assert_eq!(fleet.robot(0).counters().orders_accepted, 0);

    // Robot 2 loses its connection: the broker publishes its last will.
    let broken = fleet.robot(2).serial_number().to_string();
    let conn_topic = topics.topic("acme", &broken, TopicKind::Connection);
    fleet.robot(2).disconnect();
    loop {
        let (t, payload) = next_message(&mut rx).await;
        if t == conn_topic {
            let c: Connection = decode(&payload).unwrap();
            if c.connection_state == ConnectionState::ConnectionBroken {
                assert_eq!(c.header.serial_number, broken);
                break;
            }
        }
    }
    fleet.shutdown(Duration::from_secs(2)).await;
}

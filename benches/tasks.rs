//! Tasks: durable submissions over gRPC, and the time from acceptance to the device command
//! on the wire, on the simulate-mode stack (embedded broker, simulated AMR fleet answering
//! at once, the real `Gateway` in this process, durability on).
//!
//! * Latency: one task at a time on an idle fleet (`pick` from a buffer lane to a station, a
//!   single-step AMR route). A plain rumqttc client subscribed to the fleet's `order` topics
//!   notes when each order arrives (the order id is `{task}#{step}@{node}`). Two figures:
//!   submit sent → order on the wire, and OK received (accepted, durable) → order on the
//!   wire. Between the two the gateway plans, commits the dispatch with its outbox entry,
//!   waits for that to be durable, and publishes.
//! * Throughput: N tasks at concurrency C, each answered only once durable (group commit),
//!   on a fresh gateway: tasks/s and the p50/p99 of the submit call.
//! * Baselines in the same run: a bare MQTT publish → subscriber round trip through the same
//!   broker with no gateway, and a bare sled 0.34 insert + `flush_async` on the same disk.
//!
//! Run with `cargo bench --bench tasks`; sizes `FLOORGATE_BENCH_TASKS` (2000),
//! `FLOORGATE_BENCH_CONCURRENCY` (32), `FLOORGATE_BENCH_SAMPLES` (150).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use floorgate::api::pb;
use floorgate::daemon::{Gateway, RunOptions};
use floorgate_sim::amr::{Fleet, FleetConfig};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use tokio::sync::mpsc;
use tonic::transport::Channel;

type Tasks = pb::task_service_client::TaskServiceClient<Channel>;

const ROBOTS: usize = 4;

fn site(manufacturer: &str, data_dir: &std::path::Path) -> floorgate::config::LoadedConfig {
    let (host, port) = broker();
    let mut text = site_with_amrs(manufacturer, ROBOTS, "amr-vda5050", |i| {
        format!("AMR-{i:03}")
    });
    // The demo's plaintext broker section gives way to the test broker's.
    let demo_mqtt = "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\nmqtt_plaintext = true\n";
    assert!(
        text.contains(demo_mqtt),
        "the demo site changed: {demo_mqtt}"
    );
    text = text.replace(demo_mqtt, "");
    text.push_str(&format!(
        "\n[gateway.mqtt]\nbroker = \"{host}:{port}\"\nmqtt_plaintext = true\nclient_id = \"floorgate-{manufacturer}\"\nkeep_alive_secs = 5\noffline_timeout_secs = 20\nresend_interval_ms = 200\n"
    ));
    let data_dir = data_dir.to_string_lossy().to_string();
    floorgate::config::load_str(&demo_site(), &text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data_dir.clone()),
        _ => None,
    })
    .expect("the bench site loads")
}

fn fleet(manufacturer: &str) -> Fleet {
    let (host, port) = broker();
    // Every robot starts on N1: a benchmark of the task path, not of traffic, so they pass
    // through each other.
    let mut cfg = FleetConfig::new(&host, port, ROBOTS).pass_through();
    cfg.manufacturer = manufacturer.into();
    cfg.serial_prefix = "AMR-".into();
    cfg.speed = 200.0;
    cfg.handling_s = 0.0;
    cfg.tick = Duration::from_millis(5);
    cfg.state_interval = Duration::from_secs(5);
    cfg.start_nodes = vec![("N1".into(), 0.0, 0.0)];
    Fleet::spawn(&cfg)
}

fn task(id: &str) -> pb::Task {
    pb::Task {
        task_id: id.into(),
        kind: pb::TaskKind::Pick as i32,
        sku: "SKU-1".into(),
        quantity: 1,
        load_id: format!("TOTE-{id}"),
        source: "BUF-07".into(),
        destination: "PICK-1".into(),
        ..Default::default()
    }
}

async fn submit(c: &mut Tasks, id: &str) {
    c.submit_task(pb::SubmitTaskRequest {
        task: Some(task(id)),
    })
    .await
    .unwrap_or_else(|e| panic!("submit {id}: {e}"));
}

/// A plain MQTT client on `filter`: (topic, arrival) of every message.
async fn listen(
    client_id: &str,
    filter: &str,
) -> (
    AsyncClient,
    mpsc::UnboundedReceiver<(String, Vec<u8>, Instant)>,
) {
    let (host, port) = broker();
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(opts, 64);
    client
        .subscribe(filter, QoS::AtMostOnce)
        .await
        .expect("queue the subscription");
    let (tx, rx) = mpsc::unbounded_channel();
    let (sub_tx, sub_rx) = tokio::sync::oneshot::channel();
    let mut sub_tx = Some(sub_tx);
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    if tx.send((p.topic, p.payload.to_vec(), at)).is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(t) = sub_tx.take() {
                        let _ = t.send(());
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(5), sub_rx)
        .await
        .expect("subscribed")
        .expect("subscribed");
    (client, rx)
}

/// Baseline: publish → subscriber round trip through the broker, no gateway.
async fn mqtt_round_trip(samples: usize) -> Summary {
    let topic = format!("bench/rtt/{}", std::process::id());
    let (_sub, mut rx) = listen("bench-rtt-sub", &topic).await;
    let (host, port) = broker();
    let mut opts = MqttOptions::new("bench-rtt-pub", host, port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (publisher, mut events) = AsyncClient::new(opts, 64);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    // Warm up (connects the publisher).
    for _ in 0..20 {
        publisher
            .publish(&topic, QoS::AtMostOnce, false, vec![0u8; 400])
            .await
            .expect("publish");
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t0 = Instant::now();
        publisher
            .publish(&topic, QoS::AtMostOnce, false, vec![0u8; 400])
            .await
            .expect("publish");
        let (_, _, at) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the round trip came back")
            .expect("listener alive");
        out.push(at - t0);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    summarize("baseline: MQTT publish -> subscriber", out)
}

/// Baseline: a sled insert of a task-sized record, then `flush_async`, one at a time.
async fn sled_insert_flush(samples: usize) -> (Summary, f64) {
    let dir = temp_dir("sled-baseline-");
    let db = sled::open(dir.path()).expect("open sled");
    let value = vec![b'x'; 600];
    let mut out = Vec::with_capacity(samples);
    let started = Instant::now();
    for i in 0..samples as u64 {
        let t0 = Instant::now();
        db.insert(i.to_be_bytes(), value.as_slice())
            .expect("insert");
        db.flush_async().await.expect("flush");
        out.push(t0.elapsed());
    }
    let rate = samples as f64 / started.elapsed().as_secs_f64();
    let s = summarize("baseline: sled insert + flush_async", out);
    println!("baseline: sled insert + flush_async, one writer: {rate:.0}/s");
    (s, rate)
}

/// One task at a time: (submit → order, accepted → order).
async fn latency(samples: usize) -> (Summary, Summary) {
    let manufacturer = "benchlat";
    let dir = temp_dir("tasks-latency-");
    let _fleet = fleet(manufacturer);
    let (_capture, mut orders) = listen(
        "bench-order-capture",
        &format!("uagv/v2/{manufacturer}/+/order"),
    )
    .await;
    let gw = Gateway::start(site(manufacturer, dir.path()), RunOptions::default())
        .await
        .expect("gateway");
    let mut c = Tasks::connect(format!("http://{}", gw.addr()))
        .await
        .expect("connect");
    // Warm up: every robot online and a few tasks through.
    let mut submit_to_order = Vec::with_capacity(samples);
    let mut accepted_to_order = Vec::with_capacity(samples);
    let warm_up = 10;
    for i in 0..warm_up + samples {
        let id = format!("L{i}");
        let t0 = Instant::now();
        submit(&mut c, &id).await;
        let t1 = Instant::now();
        let prefix = format!("{id}#");
        let at = loop {
            let (_, payload, at) = tokio::time::timeout(Duration::from_secs(20), orders.recv())
                .await
                .unwrap_or_else(|_| panic!("no order for {id}"))
                .expect("capture alive");
            let order: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
            if order["orderId"].as_str().unwrap_or("").starts_with(&prefix) {
                break at;
            }
        };
        if i >= warm_up {
            submit_to_order.push(at - t0);
            accepted_to_order.push(at.saturating_duration_since(t1));
        }
        // Let the robot finish, so the next task finds an idle fleet.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = c
                .get_task(pb::GetTaskRequest {
                    task_id: id.clone(),
                })
                .await
                .expect("get")
                .into_inner();
            if t.state == pb::TaskState::Completed as i32 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} never completed: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        while orders.try_recv().is_ok() {}
    }
    gw.shutdown().await.expect("shutdown");
    (
        summarize("submit sent -> order on the wire", submit_to_order),
        summarize("accepted (OK) -> order on the wire", accepted_to_order),
    )
}

/// N tasks at concurrency C: tasks/s and the submit call's latency.
async fn throughput(n: usize, concurrency: usize) -> (f64, Summary) {
    let manufacturer = "benchtput";
    let dir = temp_dir("tasks-throughput-");
    let _fleet = fleet(manufacturer);
    let gw = Gateway::start(site(manufacturer, dir.path()), RunOptions::default())
        .await
        .expect("gateway");
    let c = Tasks::connect(format!("http://{}", gw.addr()))
        .await
        .expect("connect");
    let next = Arc::new(AtomicUsize::new(0));
    let calls: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (mut c, next, calls) = (c.clone(), next.clone(), calls.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let t0 = Instant::now();
                    submit(&mut c, &format!("T{i}")).await;
                    mine.push(t0.elapsed());
                }
                calls.lock().expect("not poisoned").extend(mine);
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let rate = n as f64 / elapsed.as_secs_f64();
    println!("{n} durable tasks at concurrency {concurrency} in {elapsed:.2?}: {rate:.0} tasks/s");
    let calls = std::mem::take(&mut *calls.lock().expect("not poisoned"));
    let s = summarize("submit call (durable OK)", calls);
    gw.shutdown().await.expect("shutdown");
    (rate, s)
}

fn main() {
    let n = size("TASKS", 2000);
    let concurrency = size("CONCURRENCY", 32);
    let samples = size("SAMPLES", 150);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (host, port) = broker();
    println!(
        "tasks: {n} at concurrency {concurrency}, {samples} latency samples; {} broker on {host}:{port}",
        broker_name()
    );
    runtime.block_on(async {
        let rtt = mqtt_round_trip(500).await;
        let (sled, sled_rate) = sled_insert_flush(500).await;
        let (submit_to_order, accepted_to_order) = latency(samples).await;
        let (rate, calls) = throughput(n, concurrency).await;
        let p99_ratio = ratio(
            accepted_to_order.p99.as_secs_f64(),
            rtt.p99.as_secs_f64(),
        );
        println!(
            "ratio accepted->order p99 / MQTT round trip p99: {p99_ratio:.2}x; submit->order p99 / MQTT p99: {:.2}x",
            ratio(submit_to_order.p99.as_secs_f64(), rtt.p99.as_secs_f64())
        );
        println!(
            "ratio tasks/s / sled insert+flush per s (one writer): {:.2}x",
            ratio(rate, sled_rate)
        );
        record(
            "tasks",
            json!({
                "command": "cargo bench --bench tasks",
                "broker": broker_name(),
                "tasks": n,
                "concurrency": concurrency,
                "tasks_per_s": round(rate, 0),
                "submit_call": calls.json(),
                "latency_samples": samples,
                "submit_to_order_on_wire": submit_to_order.json(),
                "accepted_to_order_on_wire": accepted_to_order.json(),
                "baseline_mqtt_round_trip": rtt.json(),
                "baseline_sled_insert_flush": sled.json(),
                "baseline_sled_insert_flush_per_s": round(sled_rate, 0),
                "ratio_accepted_to_order_p99_over_mqtt_p99": p99_ratio,
                "ratio_submit_to_order_p99_over_mqtt_p99": ratio(submit_to_order.p99.as_secs_f64(), rtt.p99.as_secs_f64()),
                "ratio_tasks_per_s_over_sled_flush_per_s": ratio(rate, sled_rate),
            }),
        );
    });
}

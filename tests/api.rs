//! The TaskService and DeviceService contract, end to end over gRPC on
//! 127.0.0.1:0 against a real store in a temporary directory.

mod common;

use common::*;
use floorgate::api::pb;
use tonic::Code;

#[tokio::test]
async fn submit_then_get_returns_the_task_planned_on_the_route() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let r = submit(&mut c, pick("T1")).await.unwrap();
    assert!(r.created);
    let t = c
        .get_task(pb::GetTaskRequest {
            task_id: "T1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.task_id, "T1");
    assert_eq!(t.sku, "SKU-42");
    assert_eq!(t.quantity, 3);
    assert_eq!(t.source, "BUF-07");
    // No device adapter is reachable, so the task waits for one.
    assert_eq!(t.state, pb::TaskState::Planned as i32);
    assert_eq!(t.steps.len(), 1);
    assert_eq!(t.steps[0].device_kind, "amr");
    assert_eq!(t.steps[0].command, "transport");
    assert_eq!(t.steps[0].state, pb::StepState::Pending as i32);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn submitting_the_same_task_twice_gives_one_task_and_one_accepted_event() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let first = submit(&mut c, pick("T1")).await.unwrap();
    let second = submit(&mut c, pick("T1")).await.unwrap();
    assert!(first.created);
    assert!(
        !second.created,
        "a retried submit must not create a second task"
    );
    assert_eq!(first.task, second.task);
    let events = journal(&mut c, 0).await;
    let accepted = events
        .iter()
        .filter(|e| kind_name(e) == "task_accepted" && e.task_id == "T1")
        .count();
    assert_eq!(accepted, 1);
    let list = c
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.tasks.len(), 1);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_same_id_with_a_different_body_is_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();
    let mut other = pick("T1");
    other.quantity = 4;
    let err = submit(&mut c, other).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains("T1"), "{}", err.message());
    let t = c
        .get_task(pb::GetTaskRequest {
            task_id: "T1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.quantity, 3, "the first body stays");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let cases: Vec<(&str, Box<dyn Fn(&mut pb::Task)>)> = vec![
        ("task.task_id", Box::new(|t| t.task_id.clear())),
        ("task.kind", Box::new(|t| t.kind = 7)),
        (
            "task.kind",
            Box::new(|t| t.kind = pb::TaskKind::Unspecified as i32),
        ),
        ("task.quantity", Box::new(|t| t.quantity = 0)),
        (
            "task.attributes",
            Box::new(|t| {
                t.attributes.insert("note".into(), "x".repeat(5000));
            }),
        ),
        (
            "task.attributes",
            Box::new(|t| {
                for i in 0..40 {
                    t.attributes.insert(format!("k{i}"), "v".into());
                }
            }),
        ),
        ("task.source", Box::new(|t| t.source = "NOWHERE".into())),
        (
            "task.destination",
            Box::new(|t| t.destination = "NOWHERE".into()),
        ),
        ("task.task_id", Box::new(|t| t.task_id = "has space".into())),
        ("task.kind", Box::new(|t| t.kind = pb::TaskKind::Put as i32)),
    ];
    for (i, (field, mutate)) in cases.iter().enumerate() {
        let mut t = pick(&format!("BAD-{i}"));
        mutate(&mut t);
        let err = submit(&mut c, t).await.unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "case {i}: {}",
            err.message()
        );
        assert!(
            err.message().starts_with(field),
            "case {i}: {:?} should name {field}",
            err.message()
        );
    }
    let err = c
        .submit_task(pb::SubmitTaskRequest { task: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Nothing was written: no task, and the first valid task's events start
    // the journal at seq 1.
    let list = c
        .list_tasks(pb::ListTasksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.tasks.is_empty(), "{:?}", list.tasks);
    submit(&mut c, pick("GOOD")).await.unwrap();
    let events = journal(&mut c, 0).await;
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].task_id, "GOOD");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_tasks_filters_by_state_and_pages_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    for i in 0..7 {
        submit(&mut c, pick(&format!("T{i}"))).await.unwrap();
    }
    for id in ["T1", "T4"] {
        c.cancel_task(pb::CancelTaskRequest {
            task_id: id.into(),
            reason: "cloud changed its mind".into(),
        })
        .await
        .unwrap();
    }
    let cancelled = c
        .list_tasks(pb::ListTasksRequest {
            states: vec![pb::TaskState::Cancelled as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = cancelled.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["T1", "T4"]);

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_tasks(pb::ListTasksRequest {
                states: vec![],
                page_size: 3,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.tasks.len() <= 3);
        seen.extend(page.tasks.into_iter().map(|t| t.task_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["T0", "T1", "T2", "T3", "T4", "T5", "T6"]);

    let err = c
        .list_tasks(pb::ListTasksRequest {
            states: vec![42],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn cancel_ends_a_waiting_task_once_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();
    let r = c
        .cancel_task(pb::CancelTaskRequest {
            task_id: "T1".into(),
            reason: "order withdrawn".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let t = r.task.unwrap();
    assert_eq!(t.state, pb::TaskState::Cancelled as i32);
    assert_eq!(t.reason, "order withdrawn");
    assert!(t
        .steps
        .iter()
        .all(|s| s.state == pb::StepState::Cancelled as i32));
    // Cancelling again is harmless and reports the same task.
    let again = c
        .cancel_task(pb::CancelTaskRequest {
            task_id: "T1".into(),
            reason: "again".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.task.unwrap().reason, "order withdrawn");
    let err = c
        .cancel_task(pb::CancelTaskRequest {
            task_id: "NOPE".into(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let kinds: Vec<_> = journal(&mut c, 0).await.iter().map(kind_name).collect();
    assert_eq!(kinds, ["task_accepted", "task_planned", "task_cancelled"]);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_replays_the_journal_then_follows_live_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();
    let mut s = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let replayed = take_events(&mut s, 2).await;
    assert_eq!(replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    submit(&mut c, pick("T2")).await.unwrap();
    c.cancel_task(pb::CancelTaskRequest {
        task_id: "T1".into(),
        reason: String::new(),
    })
    .await
    .unwrap();
    let live = take_events(&mut s, 3).await;
    assert_eq!(live.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(
        live.iter()
            .map(|e| (e.task_id.as_str(), kind_name(e)))
            .collect::<Vec<_>>(),
        [
            ("T2", "task_accepted"),
            ("T2", "task_planned"),
            ("T1", "task_cancelled")
        ]
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_a_restart_a_watcher_resuming_from_its_last_seq_sees_every_later_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    for i in 0..3 {
        submit(&mut c, pick(&format!("A{i}"))).await.unwrap();
    }
    // The watcher processed up to seq 4, then lost its connection.
    let mut s = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = take_events(&mut s, 4).await;
    drop(s);
    let last = first.last().unwrap().seq;
    assert_eq!(last, 4);
    gw.shutdown().await.unwrap();

    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    for i in 0..2 {
        submit(&mut c, pick(&format!("B{i}"))).await.unwrap();
    }
    let rest = journal(&mut c, last).await;
    let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (5..=10).collect::<Vec<_>>(),
        "dense, ordered, no duplicate"
    );
    let ids: Vec<&str> = rest.iter().map(|e| e.task_id.as_str()).collect();
    assert_eq!(ids, ["A2", "A2", "B0", "B0", "B1", "B1"]);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn acknowledged_events_are_compacted_and_a_resume_before_them_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    for i in 0..3 {
        submit(&mut c, pick(&format!("T{i}"))).await.unwrap();
    }
    let r = c
        .ack_events(pb::AckEventsRequest {
            up_to_seq: 4,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.acked_seq, r.first_seq), (4, 5));
    // Acknowledging beyond the journal's end clamps; an older ack changes nothing.
    let r = c
        .ack_events(pb::AckEventsRequest {
            up_to_seq: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.acked_seq, 4);
    let err = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange);
    let rest = journal(&mut c, 4).await;
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_full_journal_refuses_new_tasks_until_the_cloud_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start_with(dir.path(), &[("FLOORGATE_MAX_UNACKED_EVENTS", "4")]).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();
    submit(&mut c, pick("T2")).await.unwrap();
    let err = submit(&mut c, pick("T3")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    // A retry of an accepted task is still answered.
    assert!(!submit(&mut c, pick("T1")).await.unwrap().created);
    c.ack_events(pb::AckEventsRequest {
        up_to_seq: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(submit(&mut c, pick("T3")).await.unwrap().created);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn devices_are_listed_from_the_site_file_and_start_offline() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut d =
        pb::device_service_client::DeviceServiceClient::connect(format!("http://{}", gw.addr()))
            .await
            .unwrap();
    let list = d
        .list_devices(pb::ListDevicesRequest {})
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = list.devices.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(ids, ["amr-1", "amr-2", "amr-3", "asrs-1", "conv-1"]);
    let amr = d
        .get_device(pb::GetDeviceRequest {
            device_id: "amr-2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(amr.kind, "amr");
    assert_eq!(amr.address, "acme/AMR-0002");
    assert_eq!(amr.availability, pb::DeviceAvailability::Offline as i32);
    assert!(amr.current.is_none());
    let err = d
        .get_device(pb::GetDeviceRequest {
            device_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn reflection_lists_both_services_and_health_reports_serving() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let channel = channel(gw.addr()).await;
    let mut h = HealthClient::new(channel.clone());
    for service in ["", "floorgate.v1.TaskService", "floorgate.v1.DeviceService"] {
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, 1, "{service:?} should be SERVING");
    }

    let mut r = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer {resp:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"floorgate.v1.TaskService"), "{names:?}");
    assert!(names.contains(&"floorgate.v1.DeviceService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    gw.shutdown().await.unwrap();
}

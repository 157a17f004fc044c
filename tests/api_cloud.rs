//! The cloud's side of the API, tried the way a cloud team integrates:
//! reflection for tools, errors a client can act on, bounded pages, a
//! journal it can tell apart from a replaced one, deadlines honoured, the
//! site discoverable, filtered watches and batch submits. The demo site's
//! devices are not running here, so tasks wait PLANNED.

mod common;

use std::time::Duration;

use common::*;
use floorgate::api::pb;
use pb::event::Kind;
use tonic::Code;

async fn site(gw: &floorgate::daemon::Gateway) -> pb::Site {
    pb::site_service_client::SiteServiceClient::connect(format!("http://{}", gw.addr()))
        .await
        .unwrap()
        .get_site(pb::GetSiteRequest {})
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn reflection_v1alpha_lists_the_services_for_older_tools() {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;

    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let channel = channel(gw.addr()).await;
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
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "floorgate.v1.TaskService",
        "floorgate.v1.DeviceService",
        "floorgate.v1.SiteService",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_never_echo_more_than_a_short_piece_of_what_the_client_sent() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let huge = "k".repeat(100_000);
    let mut t = pick("T1");
    t.attributes.insert(huge.clone(), "v".into());
    let e = submit(&mut c, t).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("task.attributes"), "{}", e.message());
    assert!(e.message().len() < 400, "{} bytes", e.message().len());

    let e = c
        .get_task(pb::GetTaskRequest {
            task_id: huge.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().len() < 200, "{}", e.message().len());
    let e = c
        .cancel_task(pb::CancelTaskRequest {
            task_id: "T1".into(),
            reason: huge,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("reason:"), "{}", e.message());
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn pages_stay_under_a_mebibyte_and_page_tokens_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    // 40 tasks of ~33 kB each: 1.3 MB in all.
    for i in 0..40 {
        let mut t = pick(&format!("T{i:02}"));
        for a in 0..32 {
            t.attributes.insert(format!("a{a:02}"), "x".repeat(1024));
        }
        submit(&mut c, t).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_tasks(pb::ListTasksRequest {
                states: vec![],
                page_size: 1000,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        let bytes: usize = page
            .tasks
            .iter()
            .map(|t| prost::Message::encoded_len(t))
            .sum();
        assert!(bytes <= 1 << 20, "page of {bytes} bytes");
        seen.extend(page.tasks.into_iter().map(|t| t.task_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(pages >= 2, "cut by size, not by count");
    let want: Vec<String> = (0..40).map(|i| format!("T{i:02}")).collect();
    assert_eq!(seen, want, "every task once, in order");

    for garbage in ["T05", "p1.zz", "p1.abc", "nonsense"] {
        let e = c
            .list_tasks(pb::ListTasksRequest {
                states: vec![],
                page_size: 10,
                page_token: garbage.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{garbage}");
        assert!(e.message().contains("page_token"), "{}", e.message());
    }
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watch_open_at_shutdown_ends_unavailable_so_the_client_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();
    let mut s = c
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    take_events(&mut s, 2).await;
    let stopping = tokio::spawn(gw.shutdown());
    let end = tokio::time::timeout(Duration::from_secs(10), s.message())
        .await
        .expect("the stream ends at shutdown");
    let status = end.expect_err("an error status, not a plain end");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("resume"), "{}", status.message());
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn every_event_names_its_journal_and_a_cursor_from_another_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("T1")).await.unwrap();
    let id = site(&gw).await.journal_id;
    assert_eq!(id.len(), 32);
    let events = journal(&mut c, 0).await;
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.journal_id == id));

    let e = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            journal_id: "0123456789abcdef0123456789abcdef".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = c
        .ack_events(pb::AckEventsRequest {
            up_to_seq: 1,
            journal_id: "another".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // The right id is accepted; acknowledging returns it.
    let ack = c
        .ack_events(pb::AckEventsRequest {
            up_to_seq: 1,
            journal_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.journal_id, id);
    // A cursor beyond the end is not silently accepted.
    let e = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    gw.shutdown().await.unwrap();

    // A wiped data directory is another journal.
    let other = tempfile::tempdir().unwrap();
    let gw = start(other.path()).await;
    assert_ne!(site(&gw).await.journal_id, id);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_task_not_started_by_its_deadline_ends_expired_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let now = floorgate::engine::model::now_unix_ms();
    let mut late = pick("LATE");
    late.deadline_unix_ms = now - 3_600_000;
    let mut soon = pick("SOON");
    soon.deadline_unix_ms = now + 1_000;
    let mut none = pick("NONE");
    none.deadline_unix_ms = 0;
    for t in [late, soon, none] {
        submit(&mut c, t).await.unwrap();
    }
    for id in ["LATE", "SOON"] {
        let t = wait_for(&mut c, id, "expired", is(pb::TaskState::Expired)).await;
        assert!(t.reason.contains("deadline"), "{}", t.reason);
    }
    let none = c
        .get_task(pb::GetTaskRequest {
            task_id: "NONE".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.state, pb::TaskState::Planned as i32);
    let events = journal(&mut c, 0).await;
    let expired_ids: Vec<&str> = events
        .iter()
        .filter(|e| matches!(e.kind, Some(Kind::TaskExpired(_))))
        .map(|e| e.task_id.as_str())
        .collect();
    assert_eq!(expired_ids.len(), 2);
    assert!(expired_ids.contains(&"LATE") && expired_ids.contains(&"SOON"));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_site_is_discoverable_so_the_cloud_can_check_a_task_before_sending_it() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let s = site(&gw).await;
    assert!(!s.name.is_empty());
    let storage = s
        .locations
        .iter()
        .find(|l| l.id == "ASRS1-")
        .expect("the AS/RS storage area");
    assert!(storage.pattern);
    assert_eq!(storage.kind, "storage");
    assert!(s.locations.iter().any(|l| l.id == "PICK-1" && !l.pattern));
    let asrs = s
        .routes
        .iter()
        .find(|r| r.id == "pick-from-asrs")
        .expect("the AS/RS pick route");
    assert_eq!(asrs.kind, "pick");
    let kinds: Vec<&str> = asrs
        .steps
        .iter()
        .map(|st| st.device_kind.as_str())
        .collect();
    assert_eq!(kinds, ["asrs", "conveyor", "amr"]);
    assert!(asrs.steps[2].devices.len() >= 2, "the fleet");
    let conv = s.devices.iter().find(|d| d.device_id == "conv-1").unwrap();
    assert_eq!(conv.kind, "conveyor");
    assert!(conv.commands.contains(&"transfer".to_string()));
    assert!(s.layout.unwrap().nodes > 0);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_filtered_watch_sends_only_what_matches_with_the_global_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    for id in ["A", "B", "C"] {
        submit(&mut c, pick(id)).await.unwrap();
    }
    let mut s = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            task_ids: vec!["B".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let b = take_events(&mut s, 2).await;
    assert!(b.iter().all(|e| e.task_id == "B"));
    let all = journal(&mut c, 0).await;
    let b_seqs: Vec<u64> = all
        .iter()
        .filter(|e| e.task_id == "B")
        .map(|e| e.seq)
        .collect();
    assert_eq!(b.iter().map(|e| e.seq).collect::<Vec<_>>(), b_seqs);

    let mut s = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            kinds: vec!["task_accepted".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let accepted = take_events(&mut s, 3).await;
    assert!(accepted
        .iter()
        .all(|e| matches!(e.kind, Some(Kind::TaskAccepted(_)))));

    let e = c
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            kinds: vec!["task_exploded".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("task_accepted"),
        "lists the kinds: {}",
        e.message()
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn submit_tasks_answers_each_task_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let mut bad = pick("BAD");
    bad.quantity = 0;
    let r = c
        .submit_tasks(pb::SubmitTasksRequest {
            tasks: vec![pick("G1"), bad, pick("G2")],
        })
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<i32> = r.results.iter().map(|x| x.code).collect();
    assert_eq!(codes, [0, Code::InvalidArgument as i32, 0]);
    assert!(r.results[1].message.contains("task.quantity"));
    assert!(r.results[0].created && r.results[2].created);
    for id in ["G1", "G2"] {
        c.get_task(pb::GetTaskRequest { task_id: id.into() })
            .await
            .unwrap();
    }
    let e = c
        .get_task(pb::GetTaskRequest {
            task_id: "BAD".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .submit_tasks(pb::SubmitTasksRequest {
            tasks: (0..501).map(|i| pick(&format!("X{i}"))).collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    gw.shutdown().await.unwrap();
}

/// `GetTaskRequest` with its `task_id` as raw bytes, to send what a broken
/// client would.
#[derive(Clone, PartialEq, prost::Message)]
struct RawGetTask {
    #[prost(bytes = "vec", tag = "1")]
    task_id: Vec<u8>,
}

#[tokio::test]
async fn a_request_that_does_not_decode_is_invalid_argument_not_internal() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let channel = channel(gw.addr()).await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/floorgate.v1.TaskService/GetTask");
    let codec = tonic_prost::ProstCodec::<RawGetTask, pb::Task>::default();
    let e = grpc
        .unary(
            tonic::Request::new(RawGetTask {
                task_id: vec![b'T', 0xff, 0xfe],
            }),
            path,
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("task_id"),
        "names the field: {}",
        e.message()
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_over_the_size_limit_is_resource_exhausted_and_gzip_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let mut big = pick("BIG");
    big.sku = "s".repeat(5 << 20);
    let e = submit(&mut c, big).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");

    use tonic::codec::CompressionEncoding::Gzip;
    let mut gz = client(gw.addr())
        .await
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    let r = submit(&mut gz, pick("GZ")).await.unwrap();
    assert!(r.created);
    assert_eq!(r.task.unwrap().task_id, "GZ");
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_site_file_sets_the_request_limit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config_edited(
        dir.path(),
        &[],
        &[(
            "grpc_plaintext = true",
            "grpc_plaintext = true\ngrpc = { max_request_bytes = 65536, max_concurrent_streams = 8 }",
        )],
    );
    assert_eq!(cfg.gateway.grpc.max_request_bytes, 65536);
    let gw = floorgate::daemon::Gateway::start(cfg, floorgate::daemon::RunOptions::default())
        .await
        .unwrap();
    let mut c = client(gw.addr()).await;
    let mut t = pick("T1");
    t.sku = "s".repeat(100_000);
    let e = submit(&mut c, t).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    submit(&mut c, pick("T2")).await.unwrap();
    gw.shutdown().await.unwrap();

    // Out of range: check-config names the field.
    let path = demo_site();
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "grpc_plaintext = true",
        "grpc_plaintext = true\ngrpc = { max_request_bytes = 10 }",
    );
    let e = floorgate::config::load_str(&path, &text, &|_| None).unwrap_err();
    assert!(
        e.to_string().contains("gateway.grpc.max_request_bytes"),
        "{e}"
    );
}

#[tokio::test]
async fn every_refusal_carries_a_stable_reason_and_bad_input_names_the_field() {
    use tonic_types::StatusExt;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(dir.path()).await;
    let mut c = client(gw.addr()).await;
    let reason = |e: &tonic::Status| {
        e.get_details_error_info()
            .map(|i| (i.reason, i.domain))
            .expect("an ErrorInfo")
    };

    let mut bad = pick("T1");
    bad.quantity = 0;
    let e = submit(&mut c, bad).await.unwrap_err();
    assert_eq!(reason(&e), ("INVALID_FIELD".into(), "floorgate.io".into()));
    let v = e.get_details_bad_request().expect("a BadRequest");
    assert_eq!(v.field_violations[0].field, "task.quantity");
    assert_eq!(v.field_violations[0].description, "must be at least 1");

    let mut unknown = pick("T2");
    unknown.source = "NOWHERE".into();
    let e = submit(&mut c, unknown).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "task.source"
    );

    submit(&mut c, pick("T3")).await.unwrap();
    let mut other = pick("T3");
    other.quantity = 9;
    let e = submit(&mut c, other).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert_eq!(reason(&e).0, "TASK_EXISTS");

    let e = c
        .get_task(pb::GetTaskRequest {
            task_id: "NOPE".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "TASK_NOT_FOUND");
    let e = c
        .ack_events(pb::AckEventsRequest {
            up_to_seq: 1,
            journal_id: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "JOURNAL_MISMATCH");
    let mut d =
        pb::device_service_client::DeviceServiceClient::connect(format!("http://{}", gw.addr()))
            .await
            .unwrap();
    let e = d
        .get_device(pb::GetDeviceRequest {
            device_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&e).0, "DEVICE_NOT_FOUND");
    gw.shutdown().await.unwrap();
}

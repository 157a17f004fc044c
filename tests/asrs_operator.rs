//! The OPC-UA adapter on its own (no engine) against the simulated AS/RS:
//! operator commands through the profile's `reset`, and what a send says
//! when no request left or no answer came back.

#[path = "common/asrs_site.rs"]
mod asrs_site;
mod common;

use std::time::Duration;

use asrs_site::*;
use floorgate::engine::adapter::{
    Availability, Delivery, DeviceAdapter, DeviceOperation, DeviceReport, OperateError,
};
use floorgate_sim::asrs::SimOptions;

async fn an_operator_reset_clears_a_stuck_crane_fault(profile: &str) {
    let asrs = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    asrs.with(|m| m.jam_crane(true));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let (a, mut rx) = adapter(dir.path(), &site(&p, &[(profile, &asrs.url())], ""));
    wait_online(&mut rx).await;
    a.send(retrieve_command("P1#0", "ASRS1-01-01"))
        .await
        .unwrap();
    // The step's failure and the device's fault, in either order.
    let (mut failed, mut fault) = (None, None);
    while failed.is_none() || fault.is_none() {
        let (f, d) = next_report(&mut rx, "the failure and the fault", |r| match r {
            DeviceReport::Failed { reason, .. } => Some((Some(reason.clone()), None)),
            DeviceReport::Availability {
                availability: Availability::Fault,
                reason,
                ..
            } => Some((None, Some(reason.clone()))),
            _ => None,
        })
        .await;
        failed = failed.or(f);
        fault = fault.or(d);
    }
    let (failed, fault) = (failed.unwrap(), fault.unwrap());
    assert!(failed.contains("1 (crane stuck)"), "{failed}");
    assert!(fault.contains("crane stuck"), "{fault}");

    // A refused reset names the AS/RS's reason; the fault stays.
    asrs.with(|m| m.refuse_reset(Some("key switch off".into())));
    match a.operate("asrs-1", DeviceOperation::Reset, 7).await {
        Err(OperateError::Refused(r)) => {
            assert!(r.contains("asrs-1") && r.contains("key switch off"), "{r}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(asrs.with(|m| m.status().state), "Fault");

    asrs.with(|m| m.refuse_reset(None));
    a.operate("asrs-1", DeviceOperation::Reset, 8)
        .await
        .unwrap();
    wait_online(&mut rx).await;
    assert_eq!(asrs.with(|m| m.status().fault_code), 0);

    for op in [
        DeviceOperation::Pause,
        DeviceOperation::Resume,
        DeviceOperation::Stop,
    ] {
        match a.operate("asrs-1", op, 9).await {
            Err(OperateError::Unsupported(r)) => {
                assert!(r.contains("asrs-1") && r.contains(op.as_str()), "{r}")
            }
            other => panic!("{op:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn method_style_an_operator_reset_clears_a_stuck_crane_fault_and_the_asrs_is_online_again() {
    an_operator_reset_clears_a_stuck_crane_fault(METHOD).await;
}

#[tokio::test]
async fn handshake_style_an_operator_reset_clears_a_stuck_crane_fault_and_the_asrs_is_online_again()
{
    an_operator_reset_clears_a_stuck_crane_fault(HANDSHAKE).await;
}

#[tokio::test]
async fn reset_device_over_grpc_clears_the_fault_and_the_asrs_takes_the_next_task() {
    use common::*;
    use floorgate::api::pb;
    use floorgate::api::pb::device_service_client::DeviceServiceClient;
    let asrs = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    asrs.with(|m| m.jam_crane(true));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(HANDSHAKE, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, asrs_site::pick("P1", 1, "ASRS1-01-01"))
        .await
        .unwrap();
    wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    wait_device(gw.addr(), "asrs-1", "fault", |d| {
        d.availability == pb::DeviceAvailability::Fault as i32
    })
    .await;
    let mut d = DeviceServiceClient::connect(format!("http://{}", gw.addr()))
        .await
        .unwrap();
    let request = |reason: &str| pb::DeviceCommandRequest {
        device_id: "asrs-1".into(),
        reason: reason.into(),
    };
    let e = d.pause_device(request("try")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("asrs-1"), "{e:?}");
    d.reset_device(request("crane freed")).await.unwrap();
    wait_device(gw.addr(), "asrs-1", "online", |d| {
        d.availability == pb::DeviceAvailability::Online as i32
    })
    .await;
    // The tote never left its bin; the next retrieval takes it.
    submit(&mut c, asrs_site::pick("P2", 1, "ASRS1-01-01"))
        .await
        .unwrap();
    wait_for(&mut c, "P2", "completed", is(pb::TaskState::Completed)).await;
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_send_without_a_session_is_not_sent() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let url = format!("opc.tcp://127.0.0.1:{port}/");
    let (a, _rx) = adapter(dir.path(), &site(&p, &[(METHOD, &url)], ""));
    let e = a
        .send(retrieve_command("P1#0", "ASRS1-01-01"))
        .await
        .unwrap_err();
    assert_eq!(e.delivery, Delivery::NotSent, "{e}");
    assert_eq!(e.device_id, "asrs-1");
}

/// A simulated AS/RS on a runtime of its own, so a stalled answer blocks
/// only the AS/RS.
struct SimOnItsOwn {
    asrs: Option<floorgate_sim::asrs::SimAsrs>,
    rt: Option<tokio::runtime::Runtime>,
}

impl SimOnItsOwn {
    fn start(crane: Duration) -> SimOnItsOwn {
        let (rt, asrs) = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let asrs = rt.block_on(sim("ASRS1", crane, SimOptions::default()));
            (rt, asrs)
        })
        .join()
        .unwrap();
        SimOnItsOwn {
            asrs: Some(asrs),
            rt: Some(rt),
        }
    }
}

impl std::ops::Deref for SimOnItsOwn {
    type Target = floorgate_sim::asrs::SimAsrs;
    fn deref(&self) -> &Self::Target {
        self.asrs.as_ref().expect("running")
    }
}

impl Drop for SimOnItsOwn {
    fn drop(&mut self) {
        drop(self.asrs.take());
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[tokio::test]
async fn a_call_whose_answer_is_lost_is_unconfirmed_and_its_re_send_runs_once() {
    let asrs = SimOnItsOwn::start(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| {
        t.replace("request_timeout_ms = 3000", "request_timeout_ms = 500")
    });
    let (a, mut rx) = adapter(dir.path(), &site(&p, &[(METHOD, &asrs.url())], ""));
    wait_online(&mut rx).await;
    let command = retrieve_command("P1#0", "ASRS1-01-01");
    asrs.stall_next_call(Duration::from_millis(1500));
    let e = a.send(command.clone()).await.unwrap_err();
    assert_eq!(e.delivery, Delivery::Unconfirmed, "{e}");
    // The AS/RS has it; a re-send with the same task id is answered, and
    // the retrieval runs once.
    let mut sent = false;
    for _ in 0..50 {
        if a.send(command.clone()).await.is_ok() {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(sent, "the re-send was answered");
    let done = next_report(&mut rx, "the completion", |r| match r {
        DeviceReport::Completed { command_id } => Some(command_id.clone()),
        DeviceReport::Failed { reason, .. } => panic!("{reason}"),
        _ => None,
    })
    .await;
    assert_eq!(done, "P1#0");
    asrs.with(|m| {
        let r = m.record("P1#0").unwrap();
        assert_eq!(r.executions, 1);
        assert!(r.submissions >= 2, "{r:?}");
    });
}

//! DeviceService's operator commands over gRPC: what an operator may ask of
//! a device, what is refused and how, and that only what a device carried
//! out is journaled.

mod common;

use floorgate::api::pb;
use pb::device_service_client::DeviceServiceClient;
use tonic::Code;

async fn devices(
    gw: &floorgate::daemon::Gateway,
) -> DeviceServiceClient<tonic::transport::Channel> {
    DeviceServiceClient::connect(format!("http://{}", gw.addr()))
        .await
        .unwrap()
}

fn request(device: &str, reason: &str) -> pb::DeviceCommandRequest {
    pb::DeviceCommandRequest {
        device_id: device.into(),
        reason: reason.into(),
    }
}

#[tokio::test]
async fn operator_commands_a_device_cannot_carry_out_are_refused_and_journal_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gw = common::start(dir.path()).await;
    let mut d = devices(&gw).await;

    let e = d.reset_device(request("conv-9", "x")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = d.pause_device(request("", "x")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("device_id"), "{}", e.message());

    // A conveyor cannot pause: its profile has no such command.
    let e = d.pause_device(request("conv-1", "x")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("pause"), "{}", e.message());

    // Nothing to resolve on an idle device.
    let e = d
        .resolve_step(pb::ResolveStepRequest {
            device_id: "amr-1".into(),
            completed: true,
            reason: "looked".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("holds no step"), "{}", e.message());

    let mut c = common::client(gw.addr()).await;
    let journal = common::journal(&mut c, 0).await;
    assert!(
        journal
            .iter()
            .all(|e| common::kind_name(e) != "device_commanded"),
        "refused commands are not journaled"
    );
    gw.shutdown().await.unwrap();
}

//! The gRPC edge. Generated wire types ([`pb`]) stop here: requests are
//! converted into domain types with typed validation ([`convert`]), and
//! domain types back into replies. Also serves `grpc.health.v1` and server
//! reflection, so grpcurl and any gRPC client work without the .proto files.

pub mod convert;
mod device_service;
mod task_service;

use std::future::Future;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::engine::EngineHandle;
use crate::store::Store;

pub use device_service::DeviceApi;
pub use task_service::TaskApi;

/// The generated protobuf types and service stubs.
#[allow(clippy::all, missing_debug_implementations, rust_2018_idioms)]
pub mod pb {
    tonic::include_proto!("floorgate.v1");

    /// The encoded descriptor set of `proto/floorgate/v1`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/floorgate_descriptor.bin"));
}

/// Serves the API on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish. Open WatchEvents streams end at shutdown.
pub async fn serve(
    listener: TcpListener,
    engine: EngineHandle,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the embedded descriptor sets are valid");
    let tasks = TaskApi::new(engine.clone(), store, stop_rx);
    let devices = DeviceApi::new(engine);
    health
        .set_serving::<pb::task_service_server::TaskServiceServer<TaskApi>>()
        .await;
    health
        .set_serving::<pb::device_service_server::DeviceServiceServer<DeviceApi>>()
        .await;
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(pb::task_service_server::TaskServiceServer::new(tasks))
        .add_service(pb::device_service_server::DeviceServiceServer::new(devices))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}

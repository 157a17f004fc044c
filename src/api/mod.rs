//! The gRPC edge. Generated wire types ([`pb`]) stop here: requests are
//! converted into domain types with typed validation ([`convert`]), and
//! domain types back into replies. Also serves `grpc.health.v1` and server
//! reflection, so grpcurl and any gRPC client work without the .proto files.

pub mod codec;
pub mod convert;
mod device_service;
pub mod errors;
mod remap;
mod site_service;
mod task_service;
pub mod watch;

use std::future::Future;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;

use crate::engine::EngineHandle;
use crate::store::Store;

pub use device_service::DeviceApi;
pub use site_service::SiteApi;
pub use task_service::TaskApi;

use crate::config::GrpcSection;

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
    tls: Option<tonic::transport::ServerTlsConfig>,
    engine: EngineHandle,
    store: Store,
    site: std::sync::Arc<crate::engine::site::Site>,
    limits: GrpcSection,
    traffic: Option<std::sync::Arc<dyn crate::engine::adapter::TrafficView>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (health, health_service) = tonic_health::server::health_reporter();
    // Reflection v1 and v1alpha (older grpcurl, Python's
    // ProtoReflectionDescriptorDatabase) from one descriptor set.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the embedded descriptor sets are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the embedded descriptor sets are valid");
    let devices = DeviceApi::new(engine.clone(), store.clone(), traffic);
    let sites = SiteApi::new(&site, store.journal_id());
    let tasks = TaskApi::new(engine, store, stop_rx);
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
    let keepalive = (limits.keepalive_interval_secs > 0)
        .then(|| std::time::Duration::from_secs(limits.keepalive_interval_secs));
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(
            limits.keepalive_timeout_secs.max(1),
        )));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .layer(tower::util::MapResponseLayer::new(remap::remap))
        .layer(remap::DeadlineLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            pb::task_service_server::TaskServiceServer::new(tasks)
                .max_decoding_message_size(limits.max_request_bytes)
                .max_encoding_message_size(limits.max_response_bytes)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            pb::device_service_server::DeviceServiceServer::new(devices)
                .max_decoding_message_size(limits.max_request_bytes)
                .max_encoding_message_size(limits.max_response_bytes)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            pb::site_service_server::SiteServiceServer::new(sites)
                .max_encoding_message_size(limits.max_response_bytes)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}

/// The server TLS configuration of `[gateway.grpc_tls]`: the identity, and
/// the client CA when clients must present a certificate (mutual TLS).
pub fn server_tls(
    t: &crate::config::GrpcTls,
) -> std::io::Result<tonic::transport::ServerTlsConfig> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
    };
    let mut cfg = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(&t.cert_file)?, read(&t.key_file)?));
    if let Some(ca) = &t.client_ca_file {
        cfg = cfg.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    // Parse the PEM now, so a bad file stops the start instead of the server.
    tonic::transport::Server::builder()
        .tls_config(cfg.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(cfg)
}

//! DeviceService: the engine's view of each device.

use tonic::{Request, Response, Status};

use super::convert::{device_to_pb, task_to_pb};
use super::pb;
use super::task_service::engine_status;
use crate::engine::adapter::{DeviceOperation, TrafficView};
use crate::engine::runtime::DeviceStatus;
use crate::engine::EngineHandle;
use crate::store::Store;

#[derive(Clone)]
pub struct DeviceApi {
    engine: EngineHandle,
    store: Store,
    traffic: Option<std::sync::Arc<dyn TrafficView>>,
}

impl std::fmt::Debug for DeviceApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceApi").finish_non_exhaustive()
    }
}

impl DeviceApi {
    pub fn new(
        engine: EngineHandle,
        store: Store,
        traffic: Option<std::sync::Arc<dyn TrafficView>>,
    ) -> DeviceApi {
        DeviceApi {
            engine,
            store,
            traffic,
        }
    }

    /// The engine's view of a device, with what traffic control shows of it.
    fn to_pb(&self, d: &DeviceStatus) -> pb::Device {
        let mut out = device_to_pb(d);
        if let Some(t) = self
            .traffic
            .as_ref()
            .and_then(|v| v.traffic(&out.device_id))
        {
            out.traffic = Some(pb::TrafficHolding {
                held: t.held,
                waiting_for: t.waiting_for.unwrap_or_default(),
            });
        }
        out
    }

    async fn command(
        &self,
        req: Request<pb::DeviceCommandRequest>,
        operation: DeviceOperation,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        let pb::DeviceCommandRequest { device_id, reason } = req.into_inner();
        check_device_id(&device_id)?;
        super::convert::check_reason(&reason)?;
        let ticket = self
            .engine
            .operate(device_id.clone(), operation, reason)
            .await
            .map_err(engine_status)?;
        self.store
            .wait_durable(ticket)
            .await
            .map_err(super::task_service::store_status)?;
        let device = self.device(&device_id).await?;
        Ok(Response::new(pb::DeviceCommandResponse {
            device: Some(device),
        }))
    }

    async fn device(&self, device_id: &str) -> Result<pb::Device, Status> {
        let devices = self.engine.devices().await.map_err(engine_status)?;
        devices
            .iter()
            .find(|d| d.spec.id == device_id)
            .map(|d| self.to_pb(d))
            .ok_or_else(|| {
                super::errors::refuse(
                    tonic::Code::NotFound,
                    "DEVICE_NOT_FOUND",
                    format!("device {device_id:?} not found"),
                )
            })
    }
}

fn check_device_id(device_id: &str) -> Result<(), Status> {
    super::convert::check_request_id("device_id", device_id)
}

#[tonic::async_trait]
impl pb::device_service_server::DeviceService for DeviceApi {
    async fn list_devices(
        &self,
        _req: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        let devices = self.engine.devices().await.map_err(engine_status)?;
        Ok(Response::new(pb::ListDevicesResponse {
            devices: devices.iter().map(|d| self.to_pb(d)).collect(),
        }))
    }

    async fn get_device(
        &self,
        req: Request<pb::GetDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let pb::GetDeviceRequest { device_id } = req.into_inner();
        check_device_id(&device_id)?;
        self.device(&device_id).await.map(Response::new)
    }

    async fn reset_device(
        &self,
        req: Request<pb::DeviceCommandRequest>,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        self.command(req, DeviceOperation::Reset).await
    }

    async fn stop_device(
        &self,
        req: Request<pb::DeviceCommandRequest>,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        self.command(req, DeviceOperation::Stop).await
    }

    async fn pause_device(
        &self,
        req: Request<pb::DeviceCommandRequest>,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        self.command(req, DeviceOperation::Pause).await
    }

    async fn resume_device(
        &self,
        req: Request<pb::DeviceCommandRequest>,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        self.command(req, DeviceOperation::Resume).await
    }

    async fn wake_device(
        &self,
        req: Request<pb::DeviceCommandRequest>,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        self.command(req, DeviceOperation::Wake).await
    }

    async fn hibernate_device(
        &self,
        req: Request<pb::DeviceCommandRequest>,
    ) -> Result<Response<pb::DeviceCommandResponse>, Status> {
        self.command(req, DeviceOperation::Hibernate).await
    }

    async fn resolve_step(
        &self,
        req: Request<pb::ResolveStepRequest>,
    ) -> Result<Response<pb::ResolveStepResponse>, Status> {
        let pb::ResolveStepRequest {
            device_id,
            completed,
            reason,
        } = req.into_inner();
        check_device_id(&device_id)?;
        super::convert::check_reason(&reason)?;
        let (task, ticket) = self
            .engine
            .resolve(device_id, completed, reason)
            .await
            .map_err(engine_status)?;
        self.store
            .wait_durable(ticket)
            .await
            .map_err(super::task_service::store_status)?;
        Ok(Response::new(pb::ResolveStepResponse {
            task: Some(task_to_pb(&task)),
        }))
    }
}

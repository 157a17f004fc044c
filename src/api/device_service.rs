//! DeviceService: the engine's view of each device.

use tonic::{Request, Response, Status};

use super::convert::device_to_pb;
use super::pb;
use super::task_service::engine_status;
use crate::engine::EngineHandle;

#[derive(Clone)]
pub struct DeviceApi {
    engine: EngineHandle,
}

impl std::fmt::Debug for DeviceApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceApi").finish_non_exhaustive()
    }
}

impl DeviceApi {
    pub fn new(engine: EngineHandle) -> DeviceApi {
        DeviceApi { engine }
    }
}

#[tonic::async_trait]
impl pb::device_service_server::DeviceService for DeviceApi {
    async fn list_devices(
        &self,
        _req: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        let devices = self.engine.devices().await.map_err(engine_status)?;
        Ok(Response::new(pb::ListDevicesResponse {
            devices: devices.iter().map(device_to_pb).collect(),
        }))
    }

    async fn get_device(
        &self,
        req: Request<pb::GetDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let pb::GetDeviceRequest { device_id } = req.into_inner();
        let devices = self.engine.devices().await.map_err(engine_status)?;
        devices
            .iter()
            .find(|d| d.spec.id == device_id)
            .map(|d| Response::new(device_to_pb(d)))
            .ok_or_else(|| Status::not_found(format!("device {device_id:?} not found")))
    }
}

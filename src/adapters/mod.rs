//! The glue between the engine and the protocol modules: each adapter
//! implements [`DeviceAdapter`](crate::engine::adapter::DeviceAdapter) for a
//! family of devices, translating a [`DeviceCommand`] into its protocol
//! (registers, topics, nodes) and the device's answers into
//! [`DeviceReport`]s. Protocol modules (`crate::modbus`, `crate::vda5050`,
//! `crate::opcua`) know nothing of tasks; the engine knows nothing of bytes;
//! only this layer sees both a command id and a register.
//!
//! [`DeviceCommand`]: crate::engine::adapter::DeviceCommand
//! [`DeviceReport`]: crate::engine::adapter::DeviceReport

pub mod modbus;
pub mod mqtt_tls;
pub mod opcua;
pub mod vda5050;

use crate::admin::{Metrics, Readiness};
use crate::engine::adapter::ReportSink;

/// What every adapter gets at construction: where to report, the metrics to
/// feed (connection state per endpoint, dropped telemetry), and the
/// readiness latch, on which it registers one condition per endpoint
/// (`plc:conv-1`, `mqtt:broker`) met the first time that endpoint is
/// reached.
#[derive(Debug, Clone)]
pub struct AdapterContext {
    pub sink: ReportSink,
    pub metrics: Metrics,
    pub readiness: Readiness,
}

/// Why an adapter could not be built from the site file.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("device {device}: {message}")]
    Device { device: String, message: String },
    #[error("MQTT broker {broker}: {message}")]
    Broker { broker: String, message: String },
}

//! The glue between the engine and the protocol modules: each adapter
//! implements [`DeviceAdapter`](crate::engine::adapter::DeviceAdapter) for a
//! family of devices, translating a [`DeviceCommand`] into its protocol
//! (registers, topics, nodes) and the device's answers into
//! [`DeviceReport`]s. Protocol modules (`crate::modbus`, `crate::vda5050`)
//! know nothing of tasks; the engine knows nothing of bytes; only this layer
//! sees both a command id and a register.
//!
//! [`DeviceCommand`]: crate::engine::adapter::DeviceCommand
//! [`DeviceReport`]: crate::engine::adapter::DeviceReport

pub mod modbus;

/// Why an adapter could not be built from the site file.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("device {device}: {message}")]
    Device { device: String, message: String },
}

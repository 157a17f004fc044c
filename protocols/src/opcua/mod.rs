//! OPC-UA for AS/RS PLCs: profiles naming the nodes, and one supervised
//! client session per AS/RS. Knows nodes, data types and status codes,
//! never tasks; `crate::adapters::opcua` maps commands onto it.
//!
//! Built on `async-opcua` (pure Rust crypto, tokio-native; see the README's
//! "OPC-UA crate" section).
//!
//! - [`profile`]: the profile file (`devices/asrs-opcua-*.toml`): namespace,
//!   status nodes, the method or handshake command interface, fault names.
//! - [`node`]: node ids relative to the profile's namespace, value types.
//! - [`client`]: one AS/RS's session handle — the two command styles, one
//!   consistent read of the status nodes, the per-task status method; the
//!   supervisor behind it (`session.rs`) connects with backoff, looks the
//!   namespace up, checks data types and re-creates the status
//!   subscription on every connect.
//! - [`outcome`]: how a command ended, judged with no IO from what the PLC
//!   says about that task id.
//! - [`security`]: policy, mode, client certificate, trust list.

pub mod client;
pub mod node;
pub mod outcome;
pub mod pki;
pub mod profile;
pub mod security;
mod session;

pub use client::{Answer, AsrsClient, AsrsStatus, LinkState};
pub use outcome::{Snapshot, TaskStatus, Verdict};
pub use profile::{AsrsProfile, FaultCodeMeaning, Style, ValueType};
pub use security::{Mode, Policy, SecuritySettings};

use opcua::types::StatusCode;

/// A `tracing` filter directive for sites whose sessions all use security
/// `None` (`floorgate simulate`): async-opcua logs a missing application
/// instance certificate as an error on every connect, client and server
/// side, even when no endpoint needs one. Not for a site with message
/// security, where those lines matter.
pub const QUIET_INSECURE_LOG_DIRECTIVE: &str = "opcua_crypto::certificate_store=off,\
opcua_core::comms::secure_channel=off,opcua_server::server=off,\
opcua_client::session::client=off,opcua_client::config=off";

/// Why a request did not get the device's answer (retry), or why a
/// session could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpcUaError {
    #[error("not connected: {0}")]
    NotConnected(String),
    #[error("connect failed: {0}")]
    Connect(String),
    #[error("timed out: {0}")]
    Timeout(String),
    /// The whole request failed (service-level status).
    #[error("request failed: {0}")]
    Service(StatusCode),
    /// The server's certificate is not in the trust list.
    #[error(
        "{url}: the server certificate is not trusted ({code}); move its copy from rejected/ into {} after checking it, or set accept_untrusted_server_certs = true in [gateway.opcua]",
        trusted_dir.display()
    )]
    Untrusted {
        url: String,
        code: StatusCode,
        trusted_dir: std::path::PathBuf,
    },
    #[error("security: {0}")]
    Security(String),
    /// The server does not match the profile.
    #[error("{0}")]
    Profile(String),
    #[error("the profile has no command {0:?}")]
    UnknownCommand(String),
    #[error("argument {0:?} is missing")]
    MissingArgument(String),
    #[error("argument {0:?}: {1}")]
    BadArgument(String, String),
}

impl OpcUaError {
    /// Errors a retry cannot cure: the command itself is wrong for the
    /// profile.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            OpcUaError::UnknownCommand(_)
                | OpcUaError::MissingArgument(_)
                | OpcUaError::BadArgument(..)
        )
    }
}

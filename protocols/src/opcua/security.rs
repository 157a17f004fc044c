//! Message security of the client sessions: the policy and mode, the
//! client's application instance certificate, and the trust list.
//!
//! The trust list is a directory in the crate's layout: `trusted/` holds the
//! DER certificates of servers the gateway trusts, `rejected/` receives a
//! copy of every certificate refused (an operator moves it to `trusted/`
//! after checking it). An untrusted server certificate fails the connect
//! with [`OpcUaError::Untrusted`](super::OpcUaError::Untrusted) unless
//! `accept_untrusted_server_certs` is set, which the site file must say
//! explicitly.

use std::path::PathBuf;

use opcua::crypto::SecurityPolicy;
use opcua::types::MessageSecurityMode;

/// The security policies floorgate offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Policy {
    #[default]
    None,
    Basic256Sha256,
}

/// The message security modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Mode {
    #[default]
    None,
    Sign,
    SignAndEncrypt,
}

/// How every AS/RS session is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    pub policy: Policy,
    pub mode: Mode,
    /// The client's certificate (DER) and private key (PEM); required for
    /// a policy other than None.
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    /// The trust-list directory (`trusted/`, `rejected/`).
    pub pki_dir: PathBuf,
    /// Trust any server certificate (still checked for validity).
    pub accept_untrusted_server_certs: bool,
    /// The gateway's application URI: in its sessions, and in its
    /// certificate's subject alternative names (servers compare the two).
    pub application_uri: String,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            policy: Policy::None,
            mode: Mode::None,
            certificate: None,
            private_key: None,
            pki_dir: PathBuf::new(),
            accept_untrusted_server_certs: false,
            application_uri: super::pki::DEFAULT_APPLICATION_URI.to_string(),
        }
    }
}

impl SecuritySettings {
    pub fn policy(&self) -> SecurityPolicy {
        match self.policy {
            Policy::None => SecurityPolicy::None,
            Policy::Basic256Sha256 => SecurityPolicy::Basic256Sha256,
        }
    }

    pub fn mode(&self) -> MessageSecurityMode {
        match self.mode {
            Mode::None => MessageSecurityMode::None,
            Mode::Sign => MessageSecurityMode::Sign,
            Mode::SignAndEncrypt => MessageSecurityMode::SignAndEncrypt,
        }
    }

    /// The settings' own consistency: a secure policy needs a secure mode
    /// and a client certificate, None needs mode None.
    pub fn check(&self) -> Result<(), String> {
        match (self.policy, self.mode) {
            (Policy::None, Mode::None) => Ok(()),
            (Policy::None, m) => Err(format!(
                "security_mode {m:?} needs a security_policy other than None"
            )),
            (p, Mode::None) => Err(format!(
                "security_policy {p:?} needs security_mode Sign or SignAndEncrypt"
            )),
            _ => Ok(()),
        }
    }
}

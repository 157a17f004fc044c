//! TLS to the site's MQTT broker (`[gateway.mqtt.tls]`): the rustls client configuration of
//! the fleet's link, built from PEM files, with ring as the crypto provider (the one tonic's
//! `tls-ring` already brings; aws-lc-rs stays out of the tree).
//!
//! The broker's certificate must chain to `ca_file` — only that CA, not the system's — and
//! name the host of `broker`, or `server_name` when set (a broker reached by IP address
//! whose certificate names its DNS name). With `client_cert_file` and `client_key_file` the
//! gateway presents a client certificate (mutual TLS).
//!
//! `check-config` builds the same configuration ([`client_config`]), so a missing file, a
//! PEM without a certificate or key, or a key that is not the certificate's is refused
//! before the daemon starts, naming the field and the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::MqttTls;

/// Why the TLS configuration could not be built. `field` is the key of `[gateway.mqtt.tls]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable {
        field: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{}: {reason}", path.display())]
    BadPem {
        field: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{reason}")]
    Invalid { field: &'static str, reason: String },
}

impl TlsError {
    /// The key of `[gateway.mqtt.tls]` the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            TlsError::Unreadable { field, .. }
            | TlsError::BadPem { field, .. }
            | TlsError::Invalid { field, .. } => field,
        }
    }
}

/// The rustls client configuration of `tls`.
pub fn client_config(tls: &MqttTls) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in certificates("ca_file", &tls.ca_file)? {
        roots.add(cert).map_err(|e| TlsError::BadPem {
            field: "ca_file",
            path: tls.ca_file.clone(),
            reason: format!("not a CA certificate rustls accepts: {e}"),
        })?;
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Invalid {
            field: "ca_file",
            reason: format!("{}: {e}", tls.ca_file.display()),
        })?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid {
            field: "ca_file",
            reason: e.to_string(),
        })?;
    let builder = match &tls.server_name {
        None => builder.with_webpki_verifier(webpki),
        Some(name) => {
            let name = ServerName::try_from(name.clone()).map_err(|e| TlsError::Invalid {
                field: "server_name",
                reason: format!("{name:?} is not a DNS name or IP address: {e}"),
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NamedVerifier {
                    inner: webpki,
                    name,
                }))
        }
    };
    match (&tls.client_cert_file, &tls.client_key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(_), None) => Err(TlsError::Invalid {
            field: "client_key_file",
            reason: "client_cert_file is set: name its key too".into(),
        }),
        (None, Some(_)) => Err(TlsError::Invalid {
            field: "client_cert_file",
            reason: "client_key_file is set: name its certificate too".into(),
        }),
        (Some(cert), Some(key)) => {
            let chain = certificates("client_cert_file", cert)?;
            let key = private_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Invalid {
                    field: "client_key_file",
                    reason: format!(
                        "{} and {}: {e}",
                        cert.display(),
                        tls.client_key_file
                            .as_deref()
                            .unwrap_or(Path::new(""))
                            .display()
                    ),
                })
        }
    }
}

/// Every certificate of a PEM file; none is an error naming the file.
fn certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            field,
            path: path.to_path_buf(),
            reason: format!("not a PEM file: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::BadPem {
            field,
            path: path.to_path_buf(),
            reason: "no certificate in the file (PEM, -----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let field = "client_key_file";
    let bytes = read(field, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::BadPem {
        field,
        path: path.to_path_buf(),
        reason: format!("no private key in the file (PEM: PKCS#8, PKCS#1 or SEC1): {e}"),
    })
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Unreadable {
        field,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// WebPKI verification of the broker's certificate against `name` instead of the host the
/// link connects to (`server_name`).
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(dir: &Path, ca: &str) -> MqttTls {
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca).unwrap();
        MqttTls {
            ca_file,
            client_cert_file: None,
            client_key_file: None,
            server_name: None,
        }
    }

    #[test]
    fn a_pem_file_without_a_certificate_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = client_config(&tls(dir.path(), "not a certificate\n")).unwrap_err();
        assert_eq!(err.field(), "ca_file");
        let text = err.to_string();
        assert!(
            text.contains("ca.pem") && text.contains("no certificate"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = tls(dir.path(), "");
        t.ca_file = dir.path().join("absent.pem");
        let err = client_config(&t).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Unreadable {
                    field: "ca_file",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("absent.pem"), "{err}");
    }

    #[test]
    fn a_client_certificate_needs_its_key_and_a_server_name_must_be_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["broker".into()]).unwrap();
        let mut t = tls(dir.path(), &ca.cert.pem());
        assert!(client_config(&t).is_ok());
        t.client_cert_file = Some(t.ca_file.clone());
        assert_eq!(client_config(&t).unwrap_err().field(), "client_key_file");
        t.client_cert_file = None;
        t.server_name = Some("not a name!".into());
        assert_eq!(client_config(&t).unwrap_err().field(), "server_name");
    }
}

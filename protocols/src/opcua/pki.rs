//! The gateway's own OPC-UA identity and a trust list an operator can run.
//!
//! * **Identity.** The client certificate (DER) and private key (PEM) live
//!   at the paths the site file names, or by default under the trust-list
//!   directory (`own/cert.der`, `private/private.pem`). [`ensure_identity`]
//!   makes them when they are missing — `floorgate opcua pki init`, or the
//!   daemon's first start with a secure policy — as a self-signed
//!   certificate whose subject alternative names carry the application URI
//!   (first, as OPC-UA servers check it) and this machine's host names, so
//!   the operator only has to copy `own/cert.der` into the PLC's trust list.
//! * **Trust by thumbprint.** A server certificate is trusted when a
//!   certificate with its thumbprint is in `trusted/`, whatever the file is
//!   called: [`trust_by_thumbprint`] gives it the name the certificate
//!   store looks for. An operator may drop the PLC vendor's file there as
//!   it came, or move it from `rejected/`.
//!
//! With security `None` nothing here runs and no certificate is needed (the
//! daemon then filters async-opcua's complaints about the certificate such
//! sessions never use: `QUIET_INSECURE_LOG_DIRECTIVE`).

use std::path::{Path, PathBuf};

use opcua::crypto::{CertificateStore, X509Data, X509};

use super::SecuritySettings;

/// The application URI when the site file names none.
pub const DEFAULT_APPLICATION_URI: &str = "urn:floorgate:gateway";

/// The gateway's client certificate and key, as found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// SHA-1 thumbprint, hex: what a PLC's trust list shows.
    pub thumbprint: String,
    /// Made by this call (else it was there).
    pub created: bool,
}

/// Where the client certificate and key are: the site file's paths, or the
/// defaults under the trust-list directory.
pub fn identity_paths(sec: &SecuritySettings) -> (PathBuf, PathBuf) {
    (
        sec.certificate
            .clone()
            .unwrap_or_else(|| sec.pki_dir.join("own").join("cert.der")),
        sec.private_key
            .clone()
            .unwrap_or_else(|| sec.pki_dir.join("private").join("private.pem")),
    )
}

/// Reads the client identity, or makes it when neither file exists. One
/// file without the other is an error (a half-restored backup must not be
/// papered over with a new key).
pub fn ensure_identity(sec: &SecuritySettings) -> Result<ClientIdentity, String> {
    let (cert_path, key_path) = identity_paths(sec);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            let cert = CertificateStore::read_cert(&cert_path)
                .map_err(|e| format!("client certificate {}: {e}", cert_path.display()))?;
            CertificateStore::read_pkey(&key_path)
                .map_err(|e| format!("client private key {}: {e}", key_path.display()))?;
            Ok(ClientIdentity {
                certificate: cert_path,
                private_key: key_path,
                thumbprint: cert.thumbprint().as_hex_string(),
                created: false,
            })
        }
        (false, false) => {
            for p in [&cert_path, &key_path] {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                }
            }
            let mut names = vec![sec.application_uri.clone()];
            names.extend(X509Data::computer_hostnames());
            names.push("127.0.0.1".into());
            let data = X509Data {
                key_size: 2048,
                common_name: "floorgate".into(),
                organization: "floorgate".into(),
                organizational_unit: "gateway".into(),
                country: "DE".into(),
                state: "-".into(),
                alt_host_names: names.into(),
                certificate_duration_days: 3650,
            };
            let (cert, _key) =
                CertificateStore::create_certificate_and_key(&data, false, &cert_path, &key_path)?;
            Ok(ClientIdentity {
                certificate: cert_path,
                private_key: key_path,
                thumbprint: cert.thumbprint().as_hex_string(),
                created: true,
            })
        }
        (has_cert, _) => {
            let (there, missing) = if has_cert {
                (&cert_path, &key_path)
            } else {
                (&key_path, &cert_path)
            };
            Err(format!(
                "{} exists but {} does not: restore both, or remove the first to make a new identity",
                there.display(),
                missing.display()
            ))
        }
    }
}

/// Makes a server certificate trusted when a file with its thumbprint is in
/// `pki_dir/trusted/`, under whatever name: copies it to the name the
/// certificate store looks up. Returns whether the certificate is in the
/// trust list now.
/// The operator's decision wins: a copy of a trusted certificate left in
/// `rejected/` (copied rather than moved) is removed, since the store
/// refuses anything found there.
pub fn trust_by_thumbprint(pki_dir: &Path, cert: &X509) -> bool {
    let name = CertificateStore::cert_file_name(cert);
    let trusted = pki_dir.join("trusted");
    let canonical = trusted.join(&name);
    let found = canonical.exists() || {
        let want = cert.thumbprint().as_hex_string();
        std::fs::read_dir(&trusted)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                CertificateStore::read_cert(p).is_ok_and(|c| c.thumbprint().as_hex_string() == want)
            })
            .is_some_and(|p| std::fs::copy(&p, &canonical).is_ok())
    };
    if found {
        let _ = std::fs::remove_file(pki_dir.join("rejected").join(&name));
    }
    found
}

/// Puts the certificate file `cert` into the trust list under the name the
/// store looks up; returns that path.
pub fn trust_file(pki_dir: &Path, cert: &Path) -> Result<PathBuf, String> {
    let x = CertificateStore::read_cert(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let trusted = pki_dir.join("trusted");
    std::fs::create_dir_all(&trusted).map_err(|e| format!("{}: {e}", trusted.display()))?;
    let to = trusted.join(CertificateStore::cert_file_name(&x));
    let der = x.to_der().map_err(|e| format!("{}: {e}", cert.display()))?;
    std::fs::write(&to, der).map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> SecuritySettings {
        SecuritySettings {
            pki_dir: dir.join("pki"),
            application_uri: "urn:site-7:floorgate".into(),
            ..SecuritySettings::default()
        }
    }

    #[test]
    fn an_identity_is_made_once_with_the_application_uri_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let sec = settings(dir.path());
        let made = ensure_identity(&sec).unwrap();
        assert!(made.created);
        assert!(made.certificate.ends_with("own/cert.der"));
        let cert = CertificateStore::read_cert(&made.certificate).unwrap();
        assert!(cert
            .is_application_uri_valid("urn:site-7:floorgate")
            .is_ok());
        assert!(cert
            .is_application_uri_valid("urn:floorgate:gateway")
            .is_err());
        let again = ensure_identity(&sec).unwrap();
        assert!(!again.created);
        assert_eq!(again.thumbprint, made.thumbprint, "the same identity");
    }

    #[test]
    fn half_an_identity_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let sec = settings(dir.path());
        let made = ensure_identity(&sec).unwrap();
        std::fs::remove_file(&made.private_key).unwrap();
        let e = ensure_identity(&sec).unwrap_err();
        assert!(e.contains("exists but"), "{e}");
    }

    #[test]
    fn a_server_certificate_is_trusted_by_its_thumbprint_whatever_its_file_name() {
        let dir = tempfile::tempdir().unwrap();
        // A "server" certificate, as a PLC vendor ships it.
        let server = settings(&dir.path().join("server"));
        let id = ensure_identity(&server).unwrap();
        let cert = CertificateStore::read_cert(&id.certificate).unwrap();
        let pki = dir.path().join("gateway-pki");
        assert!(!trust_by_thumbprint(&pki, &cert), "not trusted yet");
        std::fs::create_dir_all(pki.join("trusted")).unwrap();
        std::fs::copy(
            &id.certificate,
            pki.join("trusted/plc-asrs-1 from vendor.der"),
        )
        .unwrap();
        assert!(trust_by_thumbprint(&pki, &cert));
        assert!(pki
            .join("trusted")
            .join(CertificateStore::cert_file_name(&cert))
            .exists());
        // trust_file does the same for an operator's file.
        let other = dir.path().join("other");
        let to = trust_file(&other, &id.certificate).unwrap();
        assert!(to.starts_with(other.join("trusted")));
        assert!(trust_by_thumbprint(&other, &cert));
    }
}

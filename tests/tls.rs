//! gRPC over TLS and mutual TLS: the cloud's client certificate must come
//! from the site's CA. Certificates are made for each test with rcgen.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use floorgate::api::pb;
use floorgate::daemon::{Gateway, RunOptions};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate and key signed by `issuer`, as PEM.
fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, name: &str, client: bool) -> (String, String) {
    let mut p =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

struct Pki {
    dir: PathBuf,
    site_ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let site_ca = ca("site CA");
        let (cert, key) = leaf(&site_ca, "gateway", false);
        std::fs::write(dir.join("ca.pem"), site_ca.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), cert).unwrap();
        std::fs::write(dir.join("server.key"), key).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            site_ca,
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().to_string()
    }
}

async fn tls_gateway(data: &Path, pki: &Pki, mutual: bool) -> Gateway {
    let cert = pki.file("server.pem");
    let key = pki.file("server.key");
    let ca = pki.file("ca.pem");
    let mut extra = vec![
        ("FLOORGATE_GRPC_PLAINTEXT", "false"),
        ("FLOORGATE_GRPC_TLS_CERT", cert.as_str()),
        ("FLOORGATE_GRPC_TLS_KEY", key.as_str()),
    ];
    if mutual {
        extra.push(("FLOORGATE_GRPC_TLS_CLIENT_CA", ca.as_str()));
    }
    Gateway::start(demo_config(data, &extra), RunOptions::default())
        .await
        .unwrap()
}

/// Asks the gateway for a task over TLS with an optional client identity.
async fn call(gw: &Gateway, pki: &Pki, identity: Option<(String, String)>) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.site_ca.pem()))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{}", gw.addr()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let mut c = pb::task_service_client::TaskServiceClient::new(channel);
    match c
        .submit_task(pb::SubmitTaskRequest {
            task: Some(pick("T1")),
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(s) => Err(format!("{s:?}")),
    }
}

#[tokio::test]
async fn a_client_with_a_certificate_from_the_site_ca_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let gw = tls_gateway(&dir.path().join("data"), &pki, true).await;
    let cloud = leaf(&pki.site_ca, "cloud", true);
    call(&gw, &pki, Some(cloud)).await.unwrap();
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let gw = tls_gateway(&dir.path().join("data"), &pki, true).await;
    assert!(call(&gw, &pki, None).await.is_err());
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let gw = tls_gateway(&dir.path().join("data"), &pki, true).await;
    let stranger = leaf(&ca("some other CA"), "intruder", true);
    assert!(call(&gw, &pki, Some(stranger)).await.is_err());
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_plaintext_client_gets_nothing_from_a_tls_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let gw = tls_gateway(&dir.path().join("data"), &pki, false).await;
    // Server-side TLS only: any client trusting the site CA is served…
    call(&gw, &pki, None).await.unwrap();
    // …but not one speaking plaintext.
    let plain = async {
        let mut c =
            pb::task_service_client::TaskServiceClient::connect(format!("http://{}", gw.addr()))
                .await?;
        c.get_task(pb::GetTaskRequest {
            task_id: "T1".into(),
        })
        .await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(
        tokio::time::timeout(std::time::Duration::from_secs(5), plain)
            .await
            .map(|r| r.is_err())
            .unwrap_or(true)
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_cli_talks_mutual_tls_with_its_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let gw = tls_gateway(&dir.path().join("data"), &pki, true).await;
    let (cert, key) = leaf(&pki.site_ca, "operator", true);
    std::fs::write(dir.path().join("op.pem"), cert).unwrap();
    std::fs::write(dir.path().join("op.key"), key).unwrap();
    let addr = format!("https://localhost:{}", gw.addr().port());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args(["devices", "--server", &addr, "--ca-file"])
        .arg(dir.path().join("ca.pem"))
        .arg("--cert-file")
        .arg(dir.path().join("op.pem"))
        .arg("--key-file")
        .arg(dir.path().join("op.key"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("amr-1"));
    gw.shutdown().await.unwrap();
}

#[test]
fn a_site_file_with_neither_tls_nor_explicit_plaintext_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/devices/site-demo.toml"),
        ])
        .env("FLOORGATE_GRPC_PLAINTEXT", "false")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway.grpc_tls"), "{err}");
    assert!(err.contains("grpc_plaintext = true"), "{err}");
}

//! The gateway's link to the site broker over TLS (`[gateway.mqtt.tls]`): the broker's
//! certificate is checked against the site file's CA and the broker's host name, and a
//! client certificate is presented for mutual TLS.
//!
//! The broker behind TLS is the tests' usual one (the embedded broker, or
//! `FLOORGATE_TEST_MQTT_BROKER`), reached through a TLS front made here with tokio-rustls
//! and certificates made here with rcgen, so nothing needs installing. The simulated robots
//! talk to the broker directly. `.ci/run` also runs these tests against Debian's mosquitto
//! with its own TLS listeners: `FLOORGATE_TEST_MQTT_TLS_BROKER` (server certificate only)
//! and `FLOORGATE_TEST_MQTT_MTLS_BROKER` (client certificate required), both `host:port`,
//! with `FLOORGATE_TEST_MQTT_TLS_DIR` holding `ca.pem`, `client.pem` and `client.key`.

#[path = "common/amr.rs"]
mod amr;
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use amr::*;
use floorgate::config::LoadedConfig;
use floorgate_sim::amr::Fleet;
use pb::{DeviceAvailability, TaskKind, TaskState};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use floorgate::api::pb;

const AMR: &str = "amr-vda5050";

async fn bounded(secs: u64, f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("the test took too long");
}

// --- certificates -----------------------------------------------------------------------

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

/// A certificate for `names` and its key signed by `issuer`, as PEM.
fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    client: bool,
) -> (String, String) {
    let mut p =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(
        DnType::CommonName,
        if client { "floorgate" } else { names[0] },
    );
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// The site's PKI in a directory: `ca.pem`, the broker's `server.pem`/`server.key` for
/// localhost and 127.0.0.1, the gateway's `client.pem`/`client.key`, and `other-ca.pem`,
/// a CA that signed nothing here.
struct Pki {
    dir: tempfile::TempDir,
    site_ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let site_ca = ca("site CA");
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &site_ca.pem());
        let (cert, key) = leaf(&site_ca, &["localhost", "127.0.0.1"], false);
        write("server.pem", &cert);
        write("server.key", &key);
        let (cert, key) = leaf(&site_ca, &["floorgate"], true);
        write("client.pem", &cert);
        write("client.key", &key);
        write("other-ca.pem", &ca("another CA").pem());
        Pki { dir, site_ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

// --- the TLS front ------------------------------------------------------------------------

/// A TLS listener on 127.0.0.1:0 relaying each connection, once its handshake is done, to
/// the tests' broker; with `client_ca`, a client certificate from that CA is required.
async fn tls_front(cert_pem: &[u8], key_pem: &[u8], client_ca: Option<&[u8]>) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let config = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    }
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (host, port) = broker();
    let upstream = format!("{host}:{port}");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(inbound).await else {
                    return;
                };
                if let Ok(mut out) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut out).await;
                }
            });
        }
    });
    addr
}

/// Where the gateway reaches the broker over TLS, and the PKI its files come from: the
/// external broker of `.ci/run` when the environment names one, else a front made here.
struct TlsBroker {
    addr: String,
    /// `ca.pem`, `client.pem`, `client.key`.
    files: PathBuf,
}

async fn tls_broker(pki: &Pki, mutual: bool) -> TlsBroker {
    let var = if mutual {
        "FLOORGATE_TEST_MQTT_MTLS_BROKER"
    } else {
        "FLOORGATE_TEST_MQTT_TLS_BROKER"
    };
    if let (Ok(addr), Ok(dir)) = (
        std::env::var(var),
        std::env::var("FLOORGATE_TEST_MQTT_TLS_DIR"),
    ) {
        return TlsBroker {
            addr,
            files: PathBuf::from(dir),
        };
    }
    let ca = pki.read("ca.pem");
    let front = tls_front(
        &pki.read("server.pem"),
        &pki.read("server.key"),
        mutual.then_some(&ca[..]),
    )
    .await;
    TlsBroker {
        addr: front.to_string(),
        files: pki.dir.path().to_path_buf(),
    }
}

// --- the site -------------------------------------------------------------------------------

/// A site file in `dir` with one AMR of `mfr` and `tls` as its `[gateway.mqtt.tls]` body
/// (paths relative to the site file), its broker `broker`; loaded as `floorgate run` would.
fn tls_site(dir: &Path, mfr: &str, broker: &str, tls: &str) -> LoadedConfig {
    let demo = common::demo_site();
    let mut text = std::fs::read_to_string(&demo).unwrap();
    for n in 1..=3 {
        let block = format!(
            "[[devices]]\nid = \"amr-{n}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"acme/AMR-000{n}\"\n\n"
        );
        assert!(text.contains(&block), "the demo site changed: {block}");
        let one = format!(
            "[[devices]]\nid = \"amr-1\"\nkind = \"amr\"\nprofile = \"{AMR}\"\naddress = \"{mfr}/AMR-000\"\n\n"
        );
        text = text.replace(&block, if n == 1 { &one } else { "" });
    }
    let demo_mqtt = "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\nmqtt_plaintext = true\n";
    assert!(
        text.contains(demo_mqtt),
        "the demo site changed: {demo_mqtt}"
    );
    text = text.replace(
        demo_mqtt,
        &format!(
            "[gateway.mqtt]\nbroker = \"{broker}\"\nclient_id = \"floorgate-{mfr}\"\nkeep_alive_secs = 5\noffline_timeout_secs = 20\nresend_interval_ms = 200\n\n[gateway.mqtt.tls]\n{tls}\n"
        ),
    );
    let profiles = demo.parent().unwrap().display().to_string();
    text = text.replace(
        "profiles_dir = \".\"",
        &format!("profiles_dir = {profiles:?}"),
    );
    let path = dir.join("site.toml");
    std::fs::write(&path, &text).unwrap();
    let data = dir.join("data").to_string_lossy().to_string();
    floorgate::config::load_str(&path, &text, &move |k| match k {
        "FLOORGATE_GRPC_LISTEN" | "FLOORGATE_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
        "FLOORGATE_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("the test site:\n{e}"))
}

/// Copies `names` from `from` into `to` (the site file names them relative to itself).
fn copy(from: &Path, to: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(from.join(n), to.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
}

/// `/readyz?verbose` of the gateway's admin listener.
async fn readyz_verbose(admin: SocketAddr) -> String {
    let mut s = TcpStream::connect(admin).await.unwrap();
    s.write_all(b"GET /readyz?verbose HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body
}

/// Waits until the gateway's broker line of `/readyz?verbose` shows a failed attempt; that
/// line. The link must never have come up.
async fn refused(gw: &floorgate::daemon::Gateway) -> String {
    let admin = gw.admin_addr().expect("an admin listener");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = readyz_verbose(admin).await;
        let line = body
            .lines()
            .find(|l| l.starts_with("mqtt:broker:"))
            .unwrap_or_default()
            .to_string();
        assert!(!line.contains(": reached"), "the link came up: {body}");
        if line.contains("last attempt") {
            assert_eq!(gw.amr_adapter().unwrap().broker_connects(), 0);
            return line;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt shown: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_verifying_the_broker_against_the_site_ca_completes_a_transport_over_tls() {
    bounded(40, async {
        let mfr = "t-tls-transport";
        let pki = Pki::new();
        let broker = tls_broker(&pki, false).await;
        let dir = tempfile::tempdir().unwrap();
        copy(&broker.files, dir.path(), &["ca.pem"]);
        let cfg = tls_site(dir.path(), mfr, &broker.addr, "ca_file = \"ca.pem\"");
        assert_eq!(
            cfg.gateway.mqtt.tls.as_ref().unwrap().ca_file,
            dir.path().join("ca.pem"),
            "resolved against the site file's directory"
        );
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let (gw, mut tasks, mut devices) = start(cfg).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        assert_eq!(gw.amr_adapter().unwrap().broker_connects(), 1);

        common::submit(&mut tasks, task("T1", TaskKind::Pick, "BUF-07", "PICK-1"))
            .await
            .unwrap();
        let t = wait_task(
            &mut tasks,
            "T1",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;
        assert_eq!(t.steps[0].device_id, "amr-1");
        let body = readyz_verbose(gw.admin_addr().unwrap()).await;
        assert!(body.contains("mqtt:broker: reached"), "{body}");
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_another_ca_keeps_the_link_down_and_says_why() {
    bounded(30, async {
        let pki = Pki::new();
        let broker = tls_broker(&pki, false).await;
        let dir = tempfile::tempdir().unwrap();
        copy(pki.dir.path(), dir.path(), &["other-ca.pem"]);
        let cfg = tls_site(
            dir.path(),
            "t-tls-other-ca",
            &broker.addr,
            "ca_file = \"other-ca.pem\"",
        );
        let (gw, _tasks, _devices) = start(cfg).await;
        let line = refused(&gw).await;
        assert!(
            line.contains("invalid peer certificate") && line.contains("UnknownIssuer"),
            "names the certificate problem: {line}"
        );
        assert!(
            line.contains("ca_file"),
            "says which setting decides: {line}"
        );
        gw.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_certificate_must_name_the_broker_unless_server_name_says_otherwise() {
    bounded(30, async {
        // A front of its own (any broker behind it): a certificate naming only the
        // broker's DNS name, reached by IP address.
        let pki = Pki::new();
        let (cert, key) = leaf(&pki.site_ca, &["broker.site.test"], false);
        let front = tls_front(cert.as_bytes(), key.as_bytes(), None).await;
        let dir = tempfile::tempdir().unwrap();
        copy(pki.dir.path(), dir.path(), &["ca.pem"]);

        let cfg = tls_site(
            dir.path(),
            "t-tls-name",
            &front.to_string(),
            "ca_file = \"ca.pem\"",
        );
        let (gw, _tasks, _devices) = start(cfg).await;
        let line = refused(&gw).await;
        assert!(line.contains("not valid for name \"127.0.0.1\""), "{line}");
        gw.shutdown().await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        copy(pki.dir.path(), dir.path(), &["ca.pem"]);
        let cfg = tls_site(
            dir.path(),
            "t-tls-name",
            &front.to_string(),
            "ca_file = \"ca.pem\"\nserver_name = \"broker.site.test\"",
        );
        let (gw, _tasks, _devices) = start(cfg).await;
        let adapter = gw.amr_adapter().unwrap();
        eventually(
            "connected under server_name",
            Duration::from_secs(10),
            || adapter.broker_connects() == 1,
        )
        .await;
        gw.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_requiring_client_certificates_takes_the_gateways_and_refuses_none() {
    bounded(40, async {
        let mfr = "t-tls-mutual";
        let pki = Pki::new();
        let broker = tls_broker(&pki, true).await;

        let dir = tempfile::tempdir().unwrap();
        copy(&broker.files, dir.path(), &["ca.pem", "client.pem", "client.key"]);
        let cfg = tls_site(
            dir.path(),
            mfr,
            &broker.addr,
            "ca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\"",
        );
        let fleet = Fleet::spawn(&fleet_config(mfr, 1, &["N1"]));
        let (gw, mut tasks, mut devices) = start(cfg).await;
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        common::submit(&mut tasks, task("T1", TaskKind::Pick, "BUF-07", "PICK-1"))
            .await
            .unwrap();
        wait_task(
            &mut tasks,
            "T1",
            Duration::from_secs(15),
            is(TaskState::Completed),
        )
        .await;
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;

        let dir = tempfile::tempdir().unwrap();
        copy(&broker.files, dir.path(), &["ca.pem"]);
        let cfg = tls_site(dir.path(), "t-tls-no-cert", &broker.addr, "ca_file = \"ca.pem\"");
        let (gw, _tasks, _devices) = start(cfg).await;
        let line = refused(&gw).await;
        assert!(line.to_lowercase().contains("certificate"), "{line}");
        gw.shutdown().await.unwrap();
    })
    .await;
}

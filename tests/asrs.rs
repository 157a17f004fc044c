//! AS/RS over OPC-UA end to end: tasks over gRPC, the engine, the OPC-UA
//! adapter (both profile styles), and the simulated AS/RS server on
//! 127.0.0.1 with an OS-assigned port. The site is built here: one or two
//! AS/RS, their storage areas and ports, a retrieve route (storage → output
//! port) and a store route (input port → storage).

mod common;

#[path = "common/asrs_site.rs"]
mod asrs_site;

use std::path::{Path, PathBuf};
use std::time::Duration;

use asrs_site::*;
use asrs_site::{pick, put};
use common::*;
use floorgate::api::pb;
use floorgate_sim::asrs::{make_certificate, trust_certificate, SimOptions, SimSecurity};

async fn pick_and_put_complete_and_the_inventory_changes(profile: &str) {
    let asrs = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(profile, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;

    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    let t = wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    assert_eq!(
        (t.steps[0].device_id.as_str(), t.steps[0].command.as_str()),
        ("asrs-1", "retrieve")
    );
    asrs.with(|m| {
        assert_eq!(m.bin("ASRS1-01-01"), None, "the bin was emptied");
        assert_eq!(
            m.at_port("OUT-1"),
            Some(&tote("TOTE-1")),
            "the tote is at the output port"
        );
    });

    submit(&mut c, put("S1", 1, "ASRS1-02-03")).await.unwrap();
    wait_for(&mut c, "S1", "completed", is(pb::TaskState::Completed)).await;
    asrs.with(|m| {
        assert_eq!(
            m.bin("ASRS1-02-03"),
            Some(&tote("TOTE-2")),
            "the tote is stored"
        );
        assert_eq!(m.at_port("IN-1"), None);
    });
    let kinds: Vec<_> = journal(&mut c, 0)
        .await
        .iter()
        .filter(|e| e.task_id == "P1")
        .map(kind_name)
        .collect();
    assert_eq!(
        kinds,
        [
            "task_accepted",
            "task_planned",
            "task_started",
            "step_dispatched",
            "step_acknowledged",
            "step_completed",
            "task_completed"
        ]
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn method_style_a_pick_and_a_put_complete_and_the_bins_change() {
    pick_and_put_complete_and_the_inventory_changes(METHOD).await;
}

#[tokio::test]
async fn handshake_style_a_pick_and_a_put_complete_and_the_bins_change() {
    pick_and_put_complete_and_the_inventory_changes(HANDSHAKE).await;
}

#[tokio::test]
async fn a_retrieval_re_sent_after_a_gateway_restart_runs_once() {
    let asrs = sim("ASRS1", Duration::from_millis(1500), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let text = site(&p, &[(METHOD, &asrs.url())], "");
    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    // Stop mid-retrieval; the command stays in the outbox.
    gw.shutdown().await.unwrap();

    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    asrs.with(|m| {
        assert!(
            m.submissions() >= 2,
            "the restarted gateway re-sent the command"
        );
        assert_eq!(m.executions("P1#0"), 1, "the same task id retrieves once");
        assert_eq!(m.at_port("OUT-1"), Some(&tote("TOTE-1")));
    });
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_opc_ua_server_restarted_mid_task_the_gateway_resubscribes_and_the_task_completes() {
    let asrs = sim("ASRS1", Duration::from_millis(800), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(METHOD, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    // Down longer than the retrieval: the completion happens while no
    // session exists; only a new subscription can show it.
    asrs.restart(Duration::from_millis(1500)).await.unwrap();
    wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    // And the new subscription follows live changes.
    submit(&mut c, put("S1", 1, "ASRS1-02-01")).await.unwrap();
    wait_for(&mut c, "S1", "completed", is(pb::TaskState::Completed)).await;
    asrs.with(|m| assert_eq!(m.bin("ASRS1-02-01"), Some(&tote("TOTE-2"))));
    gw.shutdown().await.unwrap();
}

struct Pki {
    server: SimSecurity,
    client_cert: PathBuf,
    client_key: PathBuf,
    client_pki: PathBuf,
}

/// Certificates for server and gateway, made now; each side's trust list
/// holds the other's certificate when `trust` is set.
fn pki(dir: &Path, trust: bool) -> Pki {
    let server_pki = dir.join("server-pki");
    let client_pki = dir.join("client-pki");
    for d in [&server_pki, &client_pki] {
        std::fs::create_dir_all(d.join("trusted")).unwrap();
        std::fs::create_dir_all(d.join("rejected")).unwrap();
        std::fs::create_dir_all(d.join("own")).unwrap();
        std::fs::create_dir_all(d.join("private")).unwrap();
    }
    let (sc, sk) = (
        server_pki.join("own/cert.der"),
        server_pki.join("private/private.pem"),
    );
    let (cc, ck) = (
        client_pki.join("own/cert.der"),
        client_pki.join("private/private.pem"),
    );
    make_certificate(&sc, &sk, "urn:floorgate:sim:asrs-server", "simulated AS/RS").unwrap();
    make_certificate(&cc, &ck, "urn:floorgate:gateway", "floorgate").unwrap();
    if trust {
        trust_certificate(&client_pki, &sc).unwrap();
    }
    trust_certificate(&server_pki, &cc).unwrap();
    Pki {
        server: SimSecurity {
            pki_dir: server_pki,
            certificate: sc,
            private_key: sk,
            trust_client_certs: false,
        },
        client_cert: cc,
        client_key: ck,
        client_pki,
    }
}

fn secure_gateway_section(p: &Pki) -> String {
    format!(
        "\n[gateway.opcua]\nsecurity_policy = \"Basic256Sha256\"\nsecurity_mode = \"SignAndEncrypt\"\nclient_certificate = {:?}\nclient_private_key = {:?}\npki_dir = {:?}\n",
        p.client_cert.display().to_string(),
        p.client_key.display().to_string(),
        p.client_pki.display().to_string()
    )
}

#[tokio::test]
async fn basic256sha256_sign_and_encrypt_a_pick_completes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = pki(dir.path(), true);
    let asrs = sim(
        "ASRS1",
        Duration::from_millis(200),
        SimOptions {
            security: Some(keys.server.clone()),
            pki_dir: None,
        },
    )
    .await;
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(
        dir.path(),
        &site(&p, &[(METHOD, &asrs.url())], &secure_gateway_section(&keys)),
    )
    .await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    asrs.with(|m| assert_eq!(m.at_port("OUT-1"), Some(&tote("TOTE-1"))));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let keys = pki(dir.path(), false);
    let asrs = sim(
        "ASRS1",
        Duration::from_millis(200),
        SimOptions {
            security: Some(keys.server.clone()),
            pki_dir: None,
        },
    )
    .await;
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(
        dir.path(),
        &site(&p, &[(METHOD, &asrs.url())], &secure_gateway_section(&keys)),
    )
    .await;
    let d = wait_device(gw.addr(), "asrs-1", "refused", |d| {
        d.reason.contains("server certificate is not trusted")
    })
    .await;
    assert_eq!(d.availability, pb::DeviceAvailability::Fault as i32);
    assert!(d.reason.contains("trusted"), "{}", d.reason);
    let rejected = std::fs::read_dir(keys.client_pki.join("rejected"))
        .unwrap()
        .count();
    assert_eq!(
        rejected, 1,
        "the refused certificate is kept for the operator"
    );
    // Nothing is sent to an untrusted server.
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&mut c, "P1").await.state, pb::TaskState::Planned as i32);
    assert_eq!(asrs.calls(), 0);

    // The operator checks the certificate and drops it into trusted/ under
    // a name of their own: trusted by its thumbprint, and the pick runs.
    let refused = std::fs::read_dir(keys.client_pki.join("rejected"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::create_dir_all(keys.client_pki.join("trusted")).unwrap();
    std::fs::copy(
        &refused,
        keys.client_pki.join("trusted/asrs-1 checked by ops.der"),
    )
    .unwrap();
    wait_for(&mut c, "P1", "completed", is(pb::TaskState::Completed)).await;
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_status_code_fails_the_step_naming_it_and_the_next_task_runs() {
    let asrs = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(METHOD, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    wait_device(gw.addr(), "asrs-1", "online", |d| {
        d.availability == pb::DeviceAvailability::Online as i32
    })
    .await;
    asrs.fail_next_call(opcua::types::StatusCode::BadOutOfService);
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    let t = wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.steps[0].reason.contains("BadOutOfService"),
        "{:?}",
        t.steps[0].reason
    );
    // A refusal with the AS/RS's reason, then a task that runs.
    submit(&mut c, pick("P2", 1, "ASRS1-02-02")).await.unwrap();
    let t = wait_for(&mut c, "P2", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.steps[0].reason.contains("bin ASRS1-02-02 is empty"),
        "{:?}",
        t.steps[0].reason
    );
    submit(&mut c, pick("P3", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(&mut c, "P3", "completed", is(pb::TaskState::Completed)).await;
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stuck_crane_fails_the_step_with_the_fault_name_and_the_device_shows_the_fault() {
    let asrs = sim("ASRS1", Duration::from_millis(300), SimOptions::default()).await;
    asrs.with(|m| m.jam_crane(true));
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(HANDSHAKE, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    let t = wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    assert!(
        t.steps[0].reason.contains("1 (crane stuck)"),
        "{:?}",
        t.steps[0].reason
    );
    let d = wait_device(gw.addr(), "asrs-1", "fault", |d| {
        d.availability == pb::DeviceAvailability::Fault as i32
    })
    .await;
    assert!(d.reason.contains("crane stuck"), "{}", d.reason);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_method_node_that_does_not_exist_fails_the_step_naming_it_while_another_asrs_carries_on()
{
    let bad = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    let good = sim("ASRS2", Duration::from_millis(200), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    // asrs-1 uses a profile whose Retrieve method is misnamed.
    let broken = std::fs::read_to_string(p.join(format!("{METHOD}.toml")))
        .unwrap()
        .replace("method = \"s=ASRS.Retrieve\"", "method = \"s=ASRS.Fetch\"");
    std::fs::write(p.join("asrs-broken.toml"), broken).unwrap();
    let text = site(
        &p,
        &[("asrs-broken", &bad.url()), (METHOD, &good.url())],
        "",
    );
    let gw = gateway(dir.path(), &text).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    submit(&mut c, pick("P2", 2, "ASRS2-01-01")).await.unwrap();
    let t = wait_for(&mut c, "P1", "failed", is(pb::TaskState::Failed)).await;
    let reason = &t.steps[0].reason;
    assert!(reason.contains("s=ASRS.Fetch"), "{reason}");
    assert!(reason.contains("Bad"), "{reason}");
    wait_for(&mut c, "P2", "completed", is(pb::TaskState::Completed)).await;
    good.with(|m| assert_eq!(m.at_port("OUT-1"), Some(&tote("TOTE-1"))));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_profile_data_type_the_server_does_not_have_puts_the_device_in_fault_naming_the_node() {
    let asrs = sim("ASRS1", Duration::from_millis(200), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| {
        t.replace(
            "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"UInt32\" }",
            "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"Int32\" }",
        )
    });
    let gw = gateway(dir.path(), &site(&p, &[(METHOD, &asrs.url())], "")).await;
    let d = wait_device(gw.addr(), "asrs-1", "fault", |d| {
        d.availability == pb::DeviceAvailability::Fault as i32
    })
    .await;
    assert!(d.reason.contains("s=ASRS.Status.FaultCode"), "{}", d.reason);
    assert!(d.reason.contains("Int32"), "{}", d.reason);
    gw.shutdown().await.unwrap();
}

#[test]
fn check_config_names_the_node_of_an_unknown_data_type_in_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| {
        t.replace("type = \"UInt32\"", "type = \"Uint32\"")
    });
    let e = load(
        dir.path(),
        &site(&p, &[(METHOD, "opc.tcp://127.0.0.1:4840/")], ""),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("devices[0].profile"), "{e}");
    assert!(e.contains("status.fault_code"), "{e}");
    assert!(e.contains("Uint32"), "{e}");
}

#[tokio::test]
async fn a_secure_site_without_a_client_certificate_gets_one_made_at_its_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let extra =
        "\n[gateway.opcua]\nsecurity_policy = \"Basic256Sha256\"\nsecurity_mode = \"Sign\"\n";
    let text = site(&p, &[(METHOD, "opc.tcp://127.0.0.1:4840/")], extra);
    load(dir.path(), &text).expect("check-config accepts it: the identity is made at start");
    let gw = gateway(dir.path(), &text).await;
    let pki = dir.path().join("data").join("opcua-pki");
    assert!(pki.join("own/cert.der").exists(), "client certificate made");
    assert!(pki.join("private/private.pem").exists(), "its key made");
    gw.shutdown().await.unwrap();
}

/// Cancel mid-retrieval goes to the AS/RS as the profile's `cancel`: the
/// crane stops with the tote still in its bin, the step ends CANCELLED, and
/// the AS/RS takes the next task.
async fn a_cancelled_retrieval_is_cancelled_on_the_asrs_and_the_tote_stays_in_its_bin(
    profile: &str,
) {
    let asrs = sim("ASRS1", Duration::from_secs(5), SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p = profiles(dir.path(), |_, t| t);
    let gw = gateway(dir.path(), &site(&p, &[(profile, &asrs.url())], "")).await;
    let mut c = client(gw.addr()).await;
    submit(&mut c, pick("P1", 1, "ASRS1-01-01")).await.unwrap();
    wait_for(
        &mut c,
        "P1",
        "acknowledged",
        step_is(pb::StepState::Acknowledged),
    )
    .await;
    c.cancel_task(pb::CancelTaskRequest {
        task_id: "P1".into(),
        reason: "withdrawn".into(),
    })
    .await
    .unwrap();
    let t = wait_for(&mut c, "P1", "cancelled", is(pb::TaskState::Cancelled)).await;
    assert_eq!(t.steps[0].state, pb::StepState::Cancelled as i32);
    asrs.with(|m| {
        assert!(m.is_cancelled("P1#0"));
        assert_eq!(m.status().state, "Idle");
        assert_eq!(m.bin("ASRS1-01-01"), Some(&tote("TOTE-1")));
        assert_eq!(m.at_port("OUT-1"), None);
    });
    let d = device(gw.addr(), "asrs-1").await;
    assert!(d.current.is_none(), "{d:?}");
    // The crane is free for the next task at once.
    submit(&mut c, put("S1", 1, "ASRS1-02-01")).await.unwrap();
    wait_for(&mut c, "S1", "completed", is(pb::TaskState::Completed)).await;
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn method_style_cancel_mid_retrieval_leaves_the_tote_in_its_bin() {
    a_cancelled_retrieval_is_cancelled_on_the_asrs_and_the_tote_stays_in_its_bin(METHOD).await;
}

#[tokio::test]
async fn handshake_style_cancel_mid_retrieval_leaves_the_tote_in_its_bin() {
    a_cancelled_retrieval_is_cancelled_on_the_asrs_and_the_tote_stays_in_its_bin(HANDSHAKE).await;
}

//! The command line as an operator and systemd use it.

mod common;

use std::process::{Command, Stdio};

fn floorgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_floorgate"))
}

#[test]
fn check_config_accepts_the_demo_site() {
    let out = floorgate()
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/devices/site-demo.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok (site \"demo\": 5 devices, 10 locations, 6 routes)"),
        "{stdout}"
    );
}

#[test]
fn check_config_rejects_a_malformed_site_file_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    std::fs::write(
        &file,
        "[site]\nname = \"x\"\n\n[[devices]]\nid = \"amr-1\"\nkind = \"hovercraft\"\nprofile = \"p\"\n",
    )
    .unwrap();
    let out = floorgate().arg("check-config").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:6:", file.display());
    assert!(err.contains(&expected), "{err:?} should name {expected}");
    assert!(err.contains("devices[0].kind"), "{err:?}");
}

#[test]
fn check_config_reports_every_reference_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    std::fs::write(
        &file,
        r#"[site]
name = "x"

[[devices]]
id = "amr-1"
kind = "amr"
profile = "missing-profile"

[[locations]]
id = "A"
kind = "station"
zone = "z"

[[routes]]
id = "r"
kind = "pick"
from_zone = "z"
to_zone = "nowhere"
steps = [{ device_kind = "amr", command = "transport", devices = ["amr-9"], from = "$source", to = "B" }]
"#,
    )
    .unwrap();
    let out = floorgate().arg("check-config").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let f = file.display().to_string();
    for (line, field) in [
        (7, "devices[0].profile"),
        (10, "locations[0].id"),
        (18, "routes[0].to_zone"),
        (19, "routes[0].steps[0].devices[0]"),
        (19, "routes[0].steps[0].to"),
    ] {
        let needle = format!("{f}:{line}:");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&needle) && l.contains(field)),
            "no error naming {field} at line {line} in:\n{err}"
        );
    }
}

#[test]
fn a_bad_environment_override_is_an_error_naming_the_variable() {
    let out = floorgate()
        .args([
            "check-config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/devices/site-demo.toml"),
        ])
        .env("FLOORGATE_GRPC_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FLOORGATE_GRPC_LISTEN"));
}

#[test]
fn version_is_printed() {
    let out = floorgate().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("floorgate "));
}

fn client(addr: &str, args: &[&str]) -> std::process::Output {
    floorgate()
        .env("FLOORGATE_SERVER", addr)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_client_commands_submit_get_list_cancel_and_watch_a_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = common::spawn(&dir.path().join("data"));
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = ok(client(
        &d.addr,
        &[
            "task",
            "submit",
            "--id",
            "T1",
            "--kind",
            "pick",
            "--sku",
            "SKU-1",
            "--load",
            "TOTE-1",
            "--from",
            "BUF-3",
            "--to",
            "PICK-2",
            "--attr",
            "order=O-9",
        ],
    ));
    assert!(
        out.starts_with("accepted: T1 pick planned BUF-3→PICK-2"),
        "{out}"
    );
    let out = ok(client(
        &d.addr,
        &[
            "task",
            "submit",
            "--id",
            "T1",
            "--kind",
            "pick",
            "--sku",
            "SKU-1",
            "--load",
            "TOTE-1",
            "--from",
            "BUF-3",
            "--to",
            "PICK-2",
            "--attr",
            "order=O-9",
        ],
    ));
    assert!(out.starts_with("already known: T1"), "{out}");
    let out = ok(client(&d.addr, &["task", "get", "T1"]));
    assert!(out.contains("step 0 amr transport BUF-3→PICK-2"), "{out}");
    let out = ok(client(&d.addr, &["task", "list", "--state", "planned"]));
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = ok(client(
        &d.addr,
        &["task", "cancel", "T1", "--reason", "withdrawn"],
    ));
    assert!(out.contains("cancelled"), "{out}");
    let out = ok(client(&d.addr, &["devices"]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("amr-1 amr acme/AMR-0001 offline")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("asrs-1 asrs opc.tcp://127.0.0.1:4840/ offline")),
        "{out}"
    );
    // A bad submit exits non-zero with the server's reason.
    let bad = client(
        &d.addr,
        &[
            "task",
            "submit",
            "--id",
            "T2",
            "--kind",
            "pick",
            "--quantity",
            "0",
            "--from",
            "BUF-3",
            "--to",
            "PICK-2",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("task.quantity"));
    // watch follows forever: read its first lines, then stop it.
    let mut w = floorgate()
        .env("FLOORGATE_SERVER", &d.addr)
        .args(["task", "watch", "--after", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(w.stdout.take().unwrap()));
    let first: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    assert_eq!(
        first,
        [
            "1 T1 task accepted",
            "2 T1 task planned (1 steps)",
            "3 T1 task cancelled: withdrawn"
        ]
    );
    w.kill().unwrap();
    w.wait().unwrap();
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = common::spawn_with(
        &dir.path().join("data"),
        &["--log-format", "json"],
        Stdio::piped(),
    );
    d.child.kill().unwrap();
    let out = d.child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stderr).unwrap();
    let first = text.lines().next().expect("a log line");
    let v: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{first:?}: {e}"));
    assert!(v.get("level").is_some() && v.get("fields").is_some(), "{v}");
}

#[test]
fn text_logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = common::spawn_with(&dir.path().join("data"), &[], Stdio::piped());
    d.child.kill().unwrap();
    let out = d.child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.lines().next().is_some(), "a log line");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape in a piped log: {text:?}"
    );
}

#[test]
fn opcua_pki_init_makes_the_client_identity_once_relative_to_the_site_file_and_trust_takes_any_name(
) {
    let dir = tempfile::tempdir().unwrap();
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let text = std::fs::read_to_string(common::demo_site())
        .unwrap()
        .replace(
        "[gateway]\n",
        "[gateway]\nopcua = { pki_dir = \"trust\", application_uri = \"urn:site-7:floorgate\" }\n",
    );
    std::fs::write(site_dir.join("site.toml"), text).unwrap();
    let profiles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices");
    // Run from the temporary directory with a relative --config, as an
    // operator would: the paths resolve once, against the site file.
    let run = |args: &[&str]| {
        floorgate()
            .current_dir(dir.path())
            .env("FLOORGATE_PROFILES_DIR", &profiles)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["opcua", "pki", "init", "--config", "site/site.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("made client certificate"), "{text}");
    assert!(text.contains("urn:site-7:floorgate"), "{text}");
    let cert = site_dir.join("trust/own/cert.der");
    assert!(cert.exists() && site_dir.join("trust/private/private.pem").exists());
    assert!(
        !site_dir.join("trust/site").exists(),
        "no path joined twice"
    );
    let thumb = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("thumbprint"))
            .map(str::to_string)
    };
    let again =
        String::from_utf8(run(&["opcua", "pki", "init", "--config", "site/site.toml"]).stdout)
            .unwrap();
    assert!(again.starts_with("found client certificate"), "{again}");
    assert_eq!(thumb(&again), thumb(&text), "the same identity");

    // A server certificate under a vendor's file name.
    let vendor = dir.path().join("asrs vendor cert.der");
    std::fs::copy(&cert, &vendor).unwrap();
    let out = run(&[
        "opcua",
        "pki",
        "trust",
        "--config",
        "site/site.toml",
        vendor.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trusted = String::from_utf8(out.stdout).unwrap();
    assert!(trusted.contains("trust/trusted/"), "{trusted}");
}

#[test]
fn check_config_names_an_opcua_identity_file_that_is_missing_or_half_given() {
    let dir = tempfile::tempdir().unwrap();
    for (opcua, field) in [
        (
            "opcua = { client_certificate = \"nope.der\", client_private_key = \"nope.pem\" }",
            "gateway.opcua.client_certificate",
        ),
        (
            "opcua = { client_certificate = \"c.der\" }",
            "gateway.opcua.client_private_key",
        ),
        (
            "opcua = { application_uri = \"not a uri\" }",
            "gateway.opcua.application_uri",
        ),
    ] {
        let text = std::fs::read_to_string(common::demo_site())
            .unwrap()
            .replace("[gateway]\n", &format!("[gateway]\n{opcua}\n"));
        let site = dir.path().join("site.toml");
        std::fs::write(&site, text).unwrap();
        let out = floorgate()
            .env(
                "FLOORGATE_PROFILES_DIR",
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices"),
            )
            .args(["check-config"])
            .arg(&site)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(field), "{field}: {err}");
    }
}

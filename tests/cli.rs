//! The command line as an operator and systemd use it.

use std::process::Command;

fn floorgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_floorgate"))
}

#[test]
fn check_config_accepts_the_demo_site() {
    let out = floorgate()
        .args(["check-config", concat!(env!("CARGO_MANIFEST_DIR"), "/devices/site-demo.toml")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
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
        (18, "routes[0].to_zone"),
        (19, "routes[0].steps[0].devices[0]"),
        (19, "routes[0].steps[0].to"),
    ] {
        let needle = format!("{f}:{line}:");
        assert!(
            err.lines().any(|l| l.starts_with(&needle) && l.contains(field)),
            "no error naming {field} at line {line} in:\n{err}"
        );
    }
}

#[test]
fn a_bad_environment_override_is_an_error_naming_the_variable() {
    let out = floorgate()
        .args(["check-config", concat!(env!("CARGO_MANIFEST_DIR"), "/devices/site-demo.toml")])
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

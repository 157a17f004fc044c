//! Site-file parsing and validation.

use std::path::Path;

use super::*;
use crate::engine::model::{TaskKind, TaskSpec};

fn demo() -> (PathBuf, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/site-demo.toml");
    let t = std::fs::read_to_string(&p).unwrap();
    (p, t)
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn the_demo_site_is_valid_and_paths_resolve_against_its_directory() {
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    assert_eq!(c.site.name, "demo");
    assert_eq!(c.gateway.profiles_dir, p.parent().unwrap().join("."));
    assert!(c.site.devices.contains_key("amr-1"));
}

#[test]
fn environment_overrides_replace_gateway_settings() {
    let (p, t) = demo();
    let c = load_str(&p, &t, &|k| match k {
        "FLOORGATE_GRPC_LISTEN" => Some("127.0.0.1:7000".into()),
        "FLOORGATE_DATA_DIR" => Some("/var/lib/floorgate".into()),
        "FLOORGATE_MAX_UNACKED_EVENTS" => Some("12".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.gateway.grpc_listen.port(), 7000);
    assert_eq!(c.gateway.data_dir, Path::new("/var/lib/floorgate"));
    assert_eq!(c.gateway.max_unacked_events, 12);
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let e = load_str(
        Path::new("s.toml"),
        "[site]\nname = \"x\"\nbroken = \n",
        &no_env,
    )
    .unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].line, 3, "{e}");
    assert!(e.to_string().starts_with("s.toml:3:"), "{e}");
}

#[test]
fn an_unknown_field_names_the_field_path_and_line() {
    let text =
        "[site]\nname = \"x\"\n\n[gateway]\ngrpc_listen = \"127.0.0.1:1\"\ncolour = \"red\"\n";
    let e = load_str(Path::new("s.toml"), text, &no_env).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("colour"), "{msg}");
    assert_eq!(e.0[0].line, 6, "{msg}");
}

#[test]
fn duplicate_ids_are_each_reported() {
    let (p, t) = demo();
    let t = t
        .replace("id = \"amr-2\"", "id = \"amr-1\"")
        .replace("id = \"PICK-2\"", "id = \"PICK-1\"");
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("duplicate device id \"amr-1\""), "{msg}");
    assert!(msg.contains("duplicate location id \"PICK-1\""), "{msg}");
}

#[test]
fn a_location_on_a_node_the_layout_lacks_is_an_error() {
    let (p, t) = demo();
    let t = t.replace("node = \"N6\"", "node = \"N99\"");
    let e = load_str(&p, &t, &no_env).unwrap_err();
    assert!(e.to_string().contains("layout has no node \"N99\""), "{e}");
}

#[test]
fn exact_locations_win_over_prefix_areas_and_plans_follow_routes() {
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    assert_eq!(c.site.location("BUF-17").unwrap().zone, "buffer");
    assert!(c.site.location("BUF").is_none());
    assert_eq!(c.site.location("PICK-1").unwrap().zone, "stations");
    let spec = TaskSpec {
        task_id: "T".into(),
        kind: TaskKind::Pick,
        sku: String::new(),
        quantity: 1,
        load_id: "L".into(),
        source: "INBOUND-1".into(),
        destination: "PICK-2".into(),
        priority: 0,
        deadline_unix_ms: 0,
        attributes: Default::default(),
    };
    let steps = c.site.plan(&spec).unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (steps[0].command.as_str(), steps[0].candidates.as_slice()),
        ("transfer", &["conv-1".to_string()][..])
    );
    assert_eq!(
        (steps[0].from.as_str(), steps[0].to.as_str()),
        ("INBOUND-1", "CONV1-END")
    );
    assert_eq!(steps[1].candidates, ["amr-1", "amr-2", "amr-3"]);
    assert_eq!(
        (steps[1].from.as_str(), steps[1].to.as_str()),
        ("CONV1-END", "PICK-2")
    );
    let put_from_buffer = TaskSpec {
        kind: TaskKind::Put,
        source: "BUF-1".into(),
        ..spec.clone()
    };
    assert!(c.site.plan(&put_from_buffer).is_err());
}

#[test]
fn the_demo_site_lists_its_devices_and_routes_a_pick_out_of_the_asrs_across_three_protocols() {
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    let devices: Vec<_> = c.site.devices.keys().map(String::as_str).collect();
    assert_eq!(devices, ["amr-1", "amr-2", "amr-3", "asrs-1", "conv-1"]);
    let spec = TaskSpec {
        task_id: "T".into(),
        kind: TaskKind::Pick,
        sku: String::new(),
        quantity: 1,
        load_id: "TOTE-1".into(),
        source: "ASRS1-03-02".into(),
        destination: "PICK-1".into(),
        priority: 0,
        deadline_unix_ms: 0,
        attributes: Default::default(),
    };
    let chain = |spec: &TaskSpec| -> Vec<(String, String, String, String)> {
        c.site
            .plan(spec)
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s.command.clone(),
                    s.candidates.join(","),
                    s.from.clone(),
                    s.to.clone(),
                )
            })
            .collect()
    };
    let row = |a: &str, b: &str, f: &str, t: &str| (a.into(), b.into(), f.into(), t.into());
    assert_eq!(
        chain(&spec),
        [
            row("retrieve", "asrs-1", "ASRS1-03-02", "ASRS1-OUT"),
            row("transfer", "conv-1", "ASRS1-OUT", "CONV1-END"),
            row("transport", "amr-1,amr-2,amr-3", "CONV1-END", "PICK-1"),
        ]
    );
    let put = TaskSpec {
        kind: TaskKind::Put,
        source: "PICK-2".into(),
        destination: "ASRS1-01-01".into(),
        ..spec
    };
    assert_eq!(
        chain(&put),
        [
            row("transport", "amr-1,amr-2,amr-3", "PICK-2", "CONV1-RETURN"),
            row("transfer", "conv-1", "CONV1-RETURN", "ASRS1-IN"),
            row("store", "asrs-1", "ASRS1-IN", "ASRS1-01-01"),
        ]
    );
    // Each end of the hand-offs carries what its protocol needs.
    let out = c.site.location("ASRS1-OUT").unwrap();
    assert_eq!(
        (out.station_type.as_deref(), out.plc_address),
        (Some("OUT-1"), Some(2))
    );
    let back = c.site.location("CONV1-RETURN").unwrap();
    assert_eq!(
        (back.node.as_deref(), back.plc_address),
        (Some("N2"), Some(13))
    );
}

/// The demo site with `from` replaced by `to` (which must occur).
fn demo_with(edits: &[(&str, &str)]) -> (PathBuf, String) {
    let (p, mut t) = demo();
    for (from, to) in edits {
        assert!(t.contains(from), "the demo site has no {from:?}");
        t = t.replacen(from, to, 1);
    }
    (p, t)
}

/// The one error naming `field`, with its 1-based line.
fn error_at(e: &ConfigErrors, field: &str) -> (usize, String) {
    let found: Vec<_> = e.0.iter().filter(|x| x.field == field).collect();
    assert_eq!(found.len(), 1, "one error naming {field} in:\n{e}");
    (found[0].line, found[0].message.clone())
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}"))
        + 1
}

#[test]
fn a_route_naming_an_unknown_device_is_an_error_at_the_device() {
    let (p, t) = demo_with(&[(
        r#"devices = ["conv-1"], from = "$source", to = "CONV1-END""#,
        r#"devices = ["conv-9"], from = "$source", to = "CONV1-END""#,
    )]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (line, msg) = error_at(&e, "routes[1].steps[0].devices[0]");
    assert_eq!(line, line_of(&t, "conv-9"));
    assert!(msg.contains("unknown device \"conv-9\""), "{msg}");
}

#[test]
fn a_station_no_route_reaches_is_an_error_at_the_location() {
    // PICK-3's zone is served by one route; send that route elsewhere.
    let (p, t) = demo_with(&[(
        "id = \"PICK-3\"\nkind = \"station\"\nzone = \"conveyor-stations\"",
        "id = \"PICK-3\"\nkind = \"station\"\nzone = \"dead-end\"",
    )]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (line, msg) = error_at(&e, "locations[9].id");
    assert_eq!(line, line_of(&t, "id = \"PICK-3\""));
    assert!(
        msg.contains("station \"PICK-3\" (zone \"dead-end\") is unreachable"),
        "{msg}"
    );
}

#[test]
fn a_step_command_the_device_profile_lacks_is_an_error_at_the_command() {
    // Modbus: the conveyor's register map has no `lift_move`; AMR: the
    // VDA 5050 adapter carries out `transport` only; AS/RS: the profile
    // names retrieve, store and cancel.
    let (p, t) = demo_with(&[
        (
            r#"command = "transfer", devices = ["conv-1"], from = "$source", to = "CONV1-END""#,
            r#"command = "lift_move", devices = ["conv-1"], from = "$source", to = "CONV1-END""#,
        ),
        (
            r#"command = "transport", from = "$source", to = "$destination" },"#,
            r#"command = "fly", from = "$source", to = "$destination" },"#,
        ),
        (r#"command = "retrieve""#, r#"command = "teleport""#),
    ]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (line, msg) = error_at(&e, "routes[1].steps[0].command");
    assert_eq!(line, line_of(&t, "lift_move"));
    assert!(msg.contains("has no command \"lift_move\""), "{msg}");
    let amr: Vec<_> =
        e.0.iter()
            .filter(|x| x.field == "routes[0].steps[0].command")
            .collect();
    assert_eq!(amr.len(), 3, "one per AMR of the fleet:\n{e}");
    assert_eq!(amr[0].line, line_of(&t, "\"fly\""));
    assert!(amr[0]
        .message
        .contains("(profile \"amr-vda5050\") has no command \"fly\""));
    let (line, msg) = error_at(&e, "routes[3].steps[0].command");
    assert_eq!(line, line_of(&t, "teleport"));
    assert!(msg.contains("has no command \"teleport\""), "{msg}");
}

#[test]
fn step_timeouts_come_from_the_route_step_else_the_gateway_default_for_the_kind() {
    let (p, t) = demo_with(&[
        (
            r#"command = "transport", from = "$source", to = "$destination" },"#,
            r#"command = "transport", from = "$source", to = "$destination", timeout_secs = 90 },"#,
        ),
        (
            "shutdown_grace_secs = 10\n",
            "shutdown_grace_secs = 10\n\n[gateway.step_timeouts]\ndefault_secs = 300\nconveyor_secs = 45\n",
        ),
    ]);
    let c = load_str(&p, &t, &no_env).unwrap();
    let timeouts = |route: &str| -> Vec<u64> {
        let r = c.site.routes.iter().find(|r| r.id == route).unwrap();
        r.steps.iter().map(|s| s.timeout_ms).collect()
    };
    assert_eq!(timeouts("pick-from-buffer"), [90_000]);
    assert_eq!(timeouts("pick-from-inbound"), [45_000, 300_000]);
    assert_eq!(timeouts("pick-from-asrs"), [300_000, 45_000, 300_000]);
    // Without a [gateway.step_timeouts]: ten minutes.
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    assert!(c
        .site
        .routes
        .iter()
        .flat_map(|r| &r.steps)
        .all(|s| s.timeout_ms == 600_000));
}

#[test]
fn a_fallback_needs_another_device_and_max_reassignments_needs_a_fallback() {
    let step =
        r#"{ device_kind = "amr", command = "transport", from = "$source", to = "$destination" },"#;
    let (p, t) = demo_with(&[(
        step,
        r#"{ device_kind = "amr", command = "transport", from = "$source", to = "$destination", on_failure = "retry_other_device", max_reassignments = 2 },"#,
    )]);
    let c = load_str(&p, &t, &no_env).unwrap();
    let s = &c.site.routes[0].steps[0];
    assert_eq!(
        (s.on_failure, s.max_reassignments),
        (OnFailure::RetryOtherDevice, 2)
    );
    let (p, t) = demo_with(&[
        (
            r#"devices = ["conv-1"], from = "$source", to = "CONV1-END" },"#,
            r#"devices = ["conv-1"], from = "$source", to = "CONV1-END", on_failure = "retry_other_device" },"#,
        ),
        (
            step,
            r#"{ device_kind = "amr", command = "transport", from = "$source", to = "$destination", max_reassignments = 2 },"#,
        ),
    ]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (line, msg) = error_at(&e, "routes[1].steps[0].on_failure");
    assert_eq!(line, line_of(&t, "retry_other_device"));
    assert!(msg.contains("needs another device"), "{msg}");
    let (line, msg) = error_at(&e, "routes[0].steps[0].max_reassignments");
    assert_eq!(line, line_of(&t, "max_reassignments = 2"));
    assert!(msg.contains("needs on_failure"), "{msg}");
}

#[test]
fn a_modbus_unit_id_from_the_site_file_reaches_the_device() {
    let (p, t) = demo_with(&[(
        "address = \"127.0.0.1:5020\"\n",
        "address = \"127.0.0.1:5020\"\nunit_id = 3\n",
    )]);
    let c = load_str(&p, &t, &no_env).unwrap();
    assert_eq!(c.site.devices["conv-1"].unit_id, Some(3));
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    assert_eq!(
        c.site.devices["conv-1"].unit_id, None,
        "absent: the profile's"
    );
}

#[test]
fn a_unit_id_a_plc_cannot_answer_to_is_an_error_at_its_line() {
    for bad in ["0", "248", "300", "-1"] {
        let (p, t) = demo_with(&[(
            "address = \"127.0.0.1:5020\"\n",
            &format!("address = \"127.0.0.1:5020\"\nunit_id = {bad}\n"),
        )]);
        let e = load_str(&p, &t, &no_env).unwrap_err();
        let field =
            e.0.iter()
                .find(|x| x.field.ends_with(".unit_id"))
                .unwrap_or_else(|| panic!("no unit_id error for {bad} in:\n{e}"))
                .field
                .clone();
        let (line, msg) = error_at(&e, &field);
        assert_eq!(line, line_of(&t, &format!("unit_id = {bad}")), "{bad}");
        assert!(msg.contains("1..=247, or 255"), "{msg}");
    }
    let (p, t) = demo_with(&[(
        "address = \"127.0.0.1:5020\"\n",
        "address = \"127.0.0.1:5020\"\nunit_id = 255\n",
    )]);
    assert!(load_str(&p, &t, &no_env).is_ok());
}

#[test]
fn the_broker_reconnect_grace_defaults_to_ten_seconds_and_is_checked() {
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    assert_eq!(c.gateway.mqtt.reconnect_grace_secs, 10);

    let edited = t.replace(
        "mqtt_plaintext = true\n",
        "mqtt_plaintext = true\nreconnect_grace_secs = 0\n",
    );
    let c = load_str(&p, &edited, &no_env).unwrap();
    assert_eq!(c.gateway.mqtt.reconnect_grace_secs, 0);

    let edited = t.replace(
        "mqtt_plaintext = true\n",
        "mqtt_plaintext = true\nreconnect_grace_secs = 7200\n",
    );
    let e = load_str(&p, &edited, &no_env).unwrap_err();
    let (_, message) = error_at(&e, "gateway.mqtt.reconnect_grace_secs");
    assert!(message.contains("0..=3600"), "{message}");

    let edited = t.replace(
        "mqtt_plaintext = true\n",
        "mqtt_plaintext = true\nreconnect_grace_secs = -1\n",
    );
    assert!(load_str(&p, &edited, &no_env).is_err());
}

#[test]
fn an_amr_broker_with_neither_tls_nor_mqtt_plaintext_is_refused_at_its_section() {
    let (p, t) = demo_with(&[("mqtt_plaintext = true\n", "")]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (line, message) = error_at(&e, "gateway.mqtt");
    assert_eq!(line, line_of(&t, "[gateway.mqtt]"));
    assert!(
        message.contains("[gateway.mqtt.tls]") && message.contains("mqtt_plaintext = true"),
        "says what to add: {message}"
    );
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("site-demo.toml:{line}:1: gateway.mqtt: ")),
        "file:line:col: {shown}"
    );

    // Without the section, the error points at the first AMR.
    let t = t.replace("[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\n", "");
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (line, _) = error_at(&e, "gateway.mqtt");
    assert_eq!(line, line_of(&t, "kind = \"amr\""));

    // The environment may say it instead.
    let c = load_str(&p, &t, &|k| {
        (k == "FLOORGATE_MQTT_PLAINTEXT").then(|| "true".to_string())
    })
    .unwrap();
    assert!(c.gateway.mqtt.mqtt_plaintext);
}

#[test]
fn a_site_without_amrs_needs_no_broker_security() {
    let t = "[site]\nname = \"x\"\n[gateway]\ngrpc_plaintext = true\n";
    load_str(Path::new("/x/site.toml"), t, &no_env).unwrap();
}

#[test]
fn mqtt_tls_files_resolve_against_the_site_file_and_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["broker.site".into()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.path().join("client.pem"), ca.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("client.key"),
        ca.signing_key.serialize_pem(),
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.pem"), "# no certificate here\n").unwrap();
    let (_, demo) = demo();
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices");
    let site = |tls: &str| {
        demo.replace(
            "mqtt_plaintext = true\n",
            &format!("\n[gateway.mqtt.tls]\n{tls}"),
        )
        .replace(
            "profiles_dir = \".\"",
            &format!("profiles_dir = {:?}", profiles.display().to_string()),
        )
    };
    let path = dir.path().join("site.toml");

    let t = site("ca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\"\nserver_name = \"broker.site\"\n");
    let c = load_str(&path, &t, &no_env).unwrap();
    let tls = c.gateway.mqtt.tls.as_ref().unwrap();
    assert_eq!(tls.ca_file, dir.path().join("ca.pem"));
    assert_eq!(
        tls.client_key_file.as_deref(),
        Some(dir.path().join("client.key").as_path())
    );
    assert_eq!(tls.server_name.as_deref(), Some("broker.site"));

    let e = load_str(&path, &site("ca_file = \"empty.pem\"\n"), &no_env).unwrap_err();
    let (_, message) = error_at(&e, "gateway.mqtt.tls.ca_file");
    assert!(
        message.contains("empty.pem") && message.contains("no certificate"),
        "{message}"
    );

    let e = load_str(&path, &site("ca_file = \"absent.pem\"\n"), &no_env).unwrap_err();
    let (_, message) = error_at(&e, "gateway.mqtt.tls.ca_file");
    assert!(message.contains("absent.pem"), "{message}");

    let e = load_str(
        &path,
        &site("ca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\n"),
        &no_env,
    )
    .unwrap_err();
    error_at(&e, "gateway.mqtt.tls.client_key_file");

    let both = site("ca_file = \"ca.pem\"\n").replace(
        "[gateway.mqtt]\n",
        "[gateway.mqtt]\nmqtt_plaintext = true\n",
    );
    let e = load_str(&path, &both, &no_env).unwrap_err();
    error_at(&e, "gateway.mqtt.mqtt_plaintext");
}

#[test]
fn the_store_cache_defaults_to_four_mib_and_is_checked() {
    let (p, t) = demo();
    let c = load_str(&p, &t, &no_env).unwrap();
    assert_eq!(c.gateway.store_cache_mb, 4);
    let env =
        |v: &'static str| move |k: &str| (k == "FLOORGATE_STORE_CACHE_MB").then(|| v.to_string());
    let c = load_str(&p, &t, &env("64")).unwrap();
    assert_eq!(c.gateway.store_cache_mb, 64);
    let e = load_str(&p, &t, &env("0")).unwrap_err();
    let (_, message) = error_at(&e, "gateway.store_cache_mb");
    assert!(message.contains("1..=4096"), "{message}");
}

#[test]
fn traffic_control_is_on_for_a_layout_unless_the_site_turns_it_off() {
    // The demo turns it off: its layout is too small to keep six robots apart.
    let (p, t) = demo();
    assert!(load_str(&p, &t, &no_env).unwrap().site.traffic.is_none());
    // Without a [traffic] section a site with a layout has it, with the defaults.
    let (p, t) = demo_with(&[("[traffic]\nenabled = false\nreplan_after_secs = 5\n", "")]);
    let c = load_str(&p, &t, &no_env).unwrap();
    let traffic = c
        .site
        .traffic
        .clone()
        .expect("traffic control on by default");
    assert_eq!(
        traffic.config.replan_after,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(traffic.config.lookahead_nodes, 3);
    assert_eq!(traffic.config.max_segment_nodes, 1, "node by node");
    assert!(traffic.map.has_node("N1"));
    // Parking and waiting marks and blocks come from the layout.
    let (p, t) = demo_with(&[
        (
            "[traffic]\nenabled = false\nreplan_after_secs = 5\n",
            "[traffic]\nreplan_after_secs = 5\n\n[[layout.blocks]]\nid = \"crossing\"\nnodes = [\"N5\"]\nedges = [[\"N2\", \"N5\"]]\n",
        ),
        ("id = \"N7\"\n", "id = \"N7\"\nparking = true\n"),
    ]);
    let c = load_str(&p, &t, &no_env).unwrap();
    let traffic = c.site.traffic.clone().expect("on");
    assert!(traffic.map.is_parking("N7"));
    assert!(!traffic.map.is_parking("N8"));
}

#[test]
fn traffic_settings_out_of_range_and_blocks_off_the_layout_are_errors() {
    let (p, t) = demo_with(&[(
        "[traffic]\nenabled = false\nreplan_after_secs = 5\n",
        "[traffic]\nlookahead_nodes = 0\n",
    )]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (_, message) = error_at(&e, "traffic.lookahead_nodes");
    assert!(message.contains("1 to 50"), "{message}");
    let (p, t) = demo_with(&[(
        "[traffic]\nenabled = false\nreplan_after_secs = 5\n",
        "[traffic]\nsegment_nodes = 51\n",
    )]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (_, message) = error_at(&e, "traffic.segment_nodes");
    assert!(message.contains("0 to 50"), "{message}");
    let (p, t) = demo_with(&[(
        "[traffic]\nenabled = false\nreplan_after_secs = 5\n",
        "[traffic]\n\n[[layout.blocks]]\nid = \"bay\"\nnodes = [\"N99\"]\n",
    )]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    assert!(e.to_string().contains("N99"), "{e}");
}

/// A zone of the demo layout around node N5 (5, 5).
fn zone_around_n5(kind: &str, extra: &str) -> String {
    format!(
        "[[layout.zones]]\nid = \"middle\"\nkind = \"{kind}\"\n{extra}vertices = [[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0]]\n\n[[layout.nodes]]\nid = \"N1\"\n"
    )
}

#[test]
fn a_release_zone_becomes_a_traffic_block_and_every_map_gets_a_zone_set() {
    let z = zone_around_n5("release", "capacity = 2\n");
    let (p, t) = demo_with(&[
        (
            "[traffic]\nenabled = false\n",
            "[traffic]\nenabled = true\n",
        ),
        ("[[layout.nodes]]\nid = \"N1\"\n", &z),
    ]);
    let c = load_str(&p, &t, &no_env).unwrap();
    let traffic = c.site.traffic.clone().expect("on");
    assert!(traffic.map.has_block("zone:middle"));
    let layout = c.site.layout.clone().expect("layout");
    let sets = layout.zone_sets();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].zones[0].zone_id, "middle");
    assert_eq!(
        sets[0].zones[0].zone_type,
        crate::vda5050::ZoneType::Release
    );
}

#[test]
fn zones_that_cannot_work_are_errors_that_name_them() {
    // A release zone with traffic control off: nobody could grant it.
    let z = zone_around_n5("release", "");
    let (p, t) = demo_with(&[("[[layout.nodes]]\nid = \"N1\"\n", &z)]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    let (_, message) = error_at(&e, "layout.zones");
    assert!(
        message.contains("\"middle\"") && message.contains("traffic"),
        "{message}"
    );
    // A speed limit without a speed.
    let z = zone_around_n5("speed_limit", "");
    let (p, t) = demo_with(&[("[[layout.nodes]]\nid = \"N1\"\n", &z)]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    assert!(e.to_string().contains("maximum_speed"), "{e}");
    // An unknown kind.
    let z = zone_around_n5("moat", "");
    let (p, t) = demo_with(&[("[[layout.nodes]]\nid = \"N1\"\n", &z)]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    assert!(e.to_string().contains("unknown kind"), "{e}");
}

#[test]
fn a_blocked_zone_closes_its_nodes_to_routes_and_to_locations() {
    // Around N6, where PICK-1 is: a location there is refused.
    let z = "[[layout.zones]]\nid = \"spill\"\nkind = \"blocked\"\nvertices = [[9.0, 4.0], [11.0, 4.0], [11.0, 6.0], [9.0, 6.0]]\n\n[[layout.nodes]]\nid = \"N1\"\n";
    let (p, t) = demo_with(&[("[[layout.nodes]]\nid = \"N1\"\n", z)]);
    let e = load_str(&p, &t, &no_env).unwrap_err();
    assert!(
        e.to_string().contains("\"N6\"") && e.to_string().contains("blocked zone"),
        "{e}"
    );
    // Around N5, which no location uses: loads, and no route runs through N5.
    let z = zone_around_n5("blocked", "");
    let (p, t) = demo_with(&[("[[layout.nodes]]\nid = \"N1\"\n", &z)]);
    let c = load_str(&p, &t, &no_env).unwrap();
    let layout = c.site.layout.clone().expect("layout");
    let (path, _) = layout.shortest_path("N4", "N6").expect("a way round");
    assert!(!path.contains(&"N5".to_string()), "{path:?}");
    assert!(layout.shortest_path("N4", "N5").is_none());
}

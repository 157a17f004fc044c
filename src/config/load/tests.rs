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

//! Fuzzing the site-file loader (`floorgate::config::load_str`) on stable Rust with
//! proptest: arbitrary text, line-level mutations of the demo site file (fields removed,
//! repeated, retyped, added), and arbitrary `FLOORGATE_*` override values.
//!
//! Properties:
//! * loading never panics and its heap stays within a small multiple of the input;
//! * every error says where: a line and column inside the text, or a field path, or
//!   (for an override) the environment variable;
//! * the unchanged demo file loads.
//!
//! `PROPTEST_CASES` sets the cases per property (256); see FUZZING.md.

#[path = "../protocols/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::{Path, PathBuf};

use floorgate::config::{load_str, ConfigErrors, LoadedConfig};
use fuzz_support::toml_edit::{any_line_edit, edit_toml, toml_value};
use fuzz_support::{config, heap_budget, peak_heap};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: fuzz_support::CountingAlloc = fuzz_support::CountingAlloc;

fn site_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("devices/site-demo.toml")
}

fn site_text() -> String {
    std::fs::read_to_string(site_path()).unwrap()
}

const VARS: [&str; 8] = [
    "FLOORGATE_GRPC_LISTEN",
    "FLOORGATE_GRPC_PLAINTEXT",
    "FLOORGATE_MQTT_BROKER",
    "FLOORGATE_SHUTDOWN_GRACE_SECS",
    "FLOORGATE_MAX_UNACKED_EVENTS",
    "FLOORGATE_ADMIN_LISTEN",
    "FLOORGATE_OPCUA_SECURITY_POLICY",
    "FLOORGATE_OPCUA_ACCEPT_UNTRUSTED",
];

fn load_checked(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let path = site_path();
    let (result, heap) = peak_heap(|| load_str(Path::new(&path), text, env));
    assert!(
        heap <= heap_budget(text.len()) + 4 * 1024 * 1024,
        "{} bytes of site file took {heap} bytes of heap",
        text.len()
    );
    if let Err(errors) = &result {
        assert!(!errors.0.is_empty(), "refused with no error");
        let lines = text.lines().count() + 1;
        for e in &errors.0 {
            let in_text = e.line >= 1 && e.line <= lines && e.column >= 1;
            let from_env = e
                .file
                .to_string_lossy()
                .starts_with("environment FLOORGATE_");
            assert!(
                in_text || !e.field.is_empty() || from_env,
                "error says neither where nor which field: {e:?}"
            );
            assert!(!e.message.is_empty(), "error without a message: {e:?}");
        }
        let _ = errors.to_string();
    }
    result
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn the_demo_site_file_loads() {
    load_checked(&site_text(), &no_env).unwrap();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_is_refused_saying_where(text in "\\PC{0,256}") {
        let _ = load_checked(&text, &no_env);
    }

    #[test]
    fn mutated_site_files_load_or_every_error_says_where(
        edits in prop::collection::vec(any_line_edit(), 1..5),
    ) {
        let _ = load_checked(&edit_toml(&site_text(), &edits), &no_env);
    }

    #[test]
    fn arbitrary_override_values_are_refused_naming_the_variable(
        var in prop::sample::select(VARS.to_vec()),
        value in prop_oneof![toml_value(), "\\PC{0,24}"],
    ) {
        let env = |k: &str| (k == var).then(|| value.clone());
        let _ = load_checked(&site_text(), &env);
    }
}

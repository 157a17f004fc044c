//! The shipped profiles load; bad fields are named.

use super::*;

fn profile(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../devices")
            .join(name),
    )
    .unwrap()
}

#[test]
fn the_shipped_profiles_are_valid() {
    let m = AsrsProfile::from_toml_str(&profile("asrs-opcua-method.toml")).unwrap();
    assert_eq!(m.style, Style::Method);
    let h = AsrsProfile::from_toml_str(&profile("asrs-opcua-handshake.toml")).unwrap();
    assert_eq!(h.style, Style::Handshake);
    assert!(h.completion_log.is_some() && h.task_status.is_none());
}

#[test]
fn an_unknown_data_type_names_the_node_field() {
    let text = profile("asrs-opcua-method.toml").replace(
        "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"UInt32\" }",
        "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"Uint32\" }",
    );
    let e = AsrsProfile::from_toml_str(&text).unwrap_err();
    assert!(e.contains("status.fault_code"), "{e}");
    assert!(e.contains("Uint32"), "{e}");
}

#[test]
fn a_fault_code_typed_string_is_refused_naming_the_node() {
    let text = profile("asrs-opcua-method.toml").replace(
        "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"UInt32\" }",
        "fault_code = { node = \"s=ASRS.Status.FaultCode\", type = \"String\" }",
    );
    let e = AsrsProfile::from_toml_str(&text).unwrap_err();
    assert!(
        e.contains("status.fault_code: node \"s=ASRS.Status.FaultCode\""),
        "{e}"
    );
}

#[test]
fn the_fault_code_as_last_result_needs_fault_states_and_no_second_result_node() {
    let text = profile("asrs-opcua-method.toml").replace(
        "fault_states = [\"Fault\"]",
        "fault_code_meaning = \"last_result\"",
    );
    let e = AsrsProfile::from_toml_str(&text).unwrap_err();
    assert!(e.contains("status.fault_states"), "{e}");
    assert!(e.contains("drop status.last_result"), "{e}");
}

#[test]
fn the_shipped_method_profile_separates_the_device_fault_from_the_last_result() {
    let p = AsrsProfile::from_toml_str(&profile("asrs-opcua-method.toml")).unwrap();
    assert!(p.is_device_fault(Some("Fault"), 0));
    assert!(!p.is_device_fault(Some("Idle"), 2));
    assert!(p.is_idle(Some("Idle")));
    assert_eq!(
        p.result_node().map(|n| n.node.as_str()),
        Some("s=ASRS.Status.LastResult")
    );
    assert!(p.task_status.is_some() && p.commands.contains_key("reset"));
}

#[test]
fn a_completion_log_of_task_ids_must_be_strings() {
    let text = profile("asrs-opcua-handshake.toml").replace(
        "task_ids = { node = \"s=ASRS.Status.CompletedTaskIds\", type = \"String\" }",
        "task_ids = { node = \"s=ASRS.Status.CompletedTaskIds\", type = \"UInt32\" }",
    );
    let e = AsrsProfile::from_toml_str(&text).unwrap_err();
    assert!(e.contains("completion_log.task_ids"), "{e}");
}

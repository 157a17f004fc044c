//! Fuzzing the OPC-UA status-value handling on stable Rust with proptest: values as an
//! AS/RS sends them (any Variant the binary decoder accepts from arbitrary bytes, and
//! typed ones), read with `variant_int` / `variant_text`, put into a status snapshot the
//! way the client does, and judged with `outcome::judge` for both shipped profiles; and
//! the AS/RS profile loader from arbitrary and damaged TOML.
//!
//! Properties:
//! * reading any value never panics, with bounded heap; `variant_int` is the value for
//!   every integer type that fits an i64 and `None` for everything else; `variant_text`
//!   is `None` exactly for an empty, null or absent string;
//! * `judge` never panics; `Completed` only for the task named in
//!   `LastCompletedTaskId`; a task that is not on the device and not ended is never
//!   `Completed` or `Running`;
//! * the per-task status answer maps every state string and result without a panic;
//! * a profile from damaged TOML is loaded or refused with a message, never a panic.
//!
//! `PROPTEST_CASES` sets the cases per property (256); see FUZZING.md.

mod fuzz_support;

use std::io::Cursor;
use std::path::PathBuf;

use floorgate_protocols::opcua::node::{variant_int, variant_text};
use floorgate_protocols::opcua::outcome::{
    fault_reason, from_task_status, judge, task_status_of, Seen, Snapshot, TaskStatus, Verdict,
};
use floorgate_protocols::opcua::AsrsProfile;
use fuzz_support::toml_edit;
use fuzz_support::{config, heap_budget, peak_heap};
use opcua::types::{BinaryDecodable, ContextOwned, UAString, Variant};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: fuzz_support::CountingAlloc = fuzz_support::CountingAlloc;

fn devices() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../devices")
}

const PROFILES: [&str; 2] = ["asrs-opcua-method.toml", "asrs-opcua-handshake.toml"];

fn profile_text(name: &str) -> String {
    std::fs::read_to_string(devices().join(name)).unwrap()
}

fn profile(which: usize) -> AsrsProfile {
    AsrsProfile::from_toml_str(&profile_text(PROFILES[which])).unwrap()
}

/// A Variant as the binary decoder makes it from bytes off the wire: an encoding mask
/// (mostly a scalar type id 1..=25, sometimes with the array bits) and a body.
fn wire_variant() -> impl Strategy<Value = Variant> {
    let mask = prop_oneof![
        4 => 0u8..=25,
        1 => (0u8..=25).prop_map(|t| t | 0x80),
        1 => (0u8..=25).prop_map(|t| t | 0xC0),
        1 => any::<u8>(),
    ];
    (mask, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(mask, body)| {
        let mut bytes = vec![mask];
        bytes.extend(body);
        decode_variant(&bytes).unwrap_or(Variant::Empty)
    })
}

fn decode_variant(bytes: &[u8]) -> Option<Variant> {
    let ctx = ContextOwned::default();
    let (v, heap) = peak_heap(|| Variant::decode(&mut Cursor::new(bytes), &ctx.context()));
    assert!(
        heap <= heap_budget(bytes.len()),
        "{heap} bytes of heap for {bytes:?}"
    );
    v.ok()
}

fn typed_variant() -> impl Strategy<Value = Variant> {
    prop_oneof![
        Just(Variant::Empty),
        any::<bool>().prop_map(Variant::Boolean),
        any::<i8>().prop_map(Variant::SByte),
        any::<u8>().prop_map(Variant::Byte),
        any::<i16>().prop_map(Variant::Int16),
        any::<u16>().prop_map(Variant::UInt16),
        any::<i32>().prop_map(Variant::Int32),
        any::<u32>().prop_map(Variant::UInt32),
        any::<i64>().prop_map(Variant::Int64),
        any::<u64>().prop_map(Variant::UInt64),
        any::<f32>().prop_map(Variant::Float),
        any::<f64>().prop_map(Variant::Double),
        Just(Variant::String(UAString::null())),
        "\\PC{0,16}".prop_map(|s| Variant::String(s.as_str().into())),
        prop_oneof![
            Just("T-1"),
            Just("T-2"),
            Just(""),
            Just("idle"),
            Just("fault")
        ]
        .prop_map(|s| Variant::String(s.into())),
    ]
}

fn any_variant() -> impl Strategy<Value = Variant> {
    prop_oneof![3 => typed_variant(), 2 => wire_variant()]
}

fn expected_int(v: &Variant) -> Option<i64> {
    match v {
        Variant::SByte(n) => Some(i64::from(*n)),
        Variant::Byte(n) => Some(i64::from(*n)),
        Variant::Int16(n) => Some(i64::from(*n)),
        Variant::UInt16(n) => Some(i64::from(*n)),
        Variant::Int32(n) => Some(i64::from(*n)),
        Variant::UInt32(n) => Some(i64::from(*n)),
        Variant::Int64(n) => Some(*n),
        Variant::UInt64(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

/// The snapshot the client builds from one Read of the status nodes
/// (`AsrsClient::status`), from arbitrary values.
fn snapshot(p: &AsrsProfile, v: &[Variant; 6]) -> Snapshot {
    let s = &p.status;
    Snapshot {
        last_completed_task_id: variant_text(&v[0]),
        last_result: s
            .last_result
            .as_ref()
            .map(|_| variant_int(&v[1]).unwrap_or(0)),
        current_task_id: s.current_task_id.as_ref().and_then(|_| variant_text(&v[2])),
        state: variant_text(&v[3]),
        fault_code: variant_int(&v[4]).unwrap_or(0),
        fault_text: s.fault_text.as_ref().and_then(|_| variant_text(&v[5])),
    }
}

fn task_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("T-1".to_string()),
        Just("T-2".to_string()),
        "\\PC{1,8}"
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_to_a_variant_or_an_error_never_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Some(v) = decode_variant(&bytes) {
            let _ = variant_int(&v);
            let _ = variant_text(&v);
        }
    }

    #[test]
    fn variant_int_is_the_value_of_every_integer_that_fits(v in any_variant()) {
        prop_assert_eq!(variant_int(&v), expected_int(&v));
    }

    #[test]
    fn variant_text_is_none_only_for_no_text(v in any_variant()) {
        let (text, heap) = peak_heap(|| variant_text(&v));
        prop_assert!(heap <= heap_budget(1024), "{heap} bytes of heap for {v:?}");
        let no_text = match &v {
            Variant::Empty => true,
            Variant::String(s) => s.is_null() || s.is_empty(),
            _ => false,
        };
        prop_assert_eq!(text.is_none(), no_text, "{:?} read as {:?}", v, text);
    }

    #[test]
    fn judging_any_status_values_never_panics_and_completes_only_the_named_task(
        which in 0usize..2,
        values in [any_variant(), any_variant(), any_variant(),
                   any_variant(), any_variant(), any_variant()],
        task_id in task_id(),
        running in any::<bool>(),
        settled in any::<bool>(),
    ) {
        let p = profile(which);
        let s = snapshot(&p, &values);
        let verdict = judge(&p, &s, &task_id, Seen { running, settled });
        let named = s.last_completed_task_id.as_deref() == Some(task_id.as_str());
        let current = s.current_task_id.as_deref() == Some(task_id.as_str());
        if matches!(verdict, Verdict::Completed) {
            prop_assert!(named, "{verdict:?} for {task_id} from {s:?}");
        }
        if matches!(verdict, Verdict::Running) {
            prop_assert!(current, "{verdict:?} for {task_id} from {s:?}");
        }
        if let Verdict::Failed(reason) | Verdict::EndedUnseen(reason) = &verdict {
            prop_assert!(!reason.is_empty());
        }
        let _ = fault_reason(&p, &s);
    }

    #[test]
    fn any_per_task_status_answer_is_judged(
        which in 0usize..2,
        state in prop_oneof![
            Just("queued".to_string()), Just("running".to_string()),
            Just("done".to_string()), Just("failed".to_string()), "\\PC{0,12}"
        ],
        result in any::<i64>(),
        task_id in task_id(),
    ) {
        let p = profile(which);
        let t = task_status_of(&p, &state, result);
        let verdict = from_task_status(&p, &task_id, &t);
        if let TaskStatus::Ended(code) = t {
            prop_assert_eq!(code == 0, verdict == Verdict::Completed);
        }
    }

    #[test]
    fn profiles_from_damaged_toml_load_or_say_why(
        which in 0usize..2,
        edits in prop::collection::vec(toml_edit::any_line_edit(), 1..5),
    ) {
        let text = toml_edit::edit_toml(&profile_text(PROFILES[which]), &edits);
        let (result, heap) = peak_heap(|| AsrsProfile::from_toml_str(&text));
        prop_assert!(heap <= heap_budget(text.len()), "{heap} bytes of heap");
        if let Err(message) = result {
            prop_assert!(!message.is_empty());
        }
    }

    #[test]
    fn profiles_from_arbitrary_text_never_panic(text in "\\PC{0,256}") {
        let _ = AsrsProfile::from_toml_str(&text);
    }
}

/// Found by `profiles_from_damaged_toml_load_or_say_why`: a TOML syntax error in an
/// AS/RS profile is reported without its line and column (`AsrsProfile::from_toml_str`
/// in `protocols/src/opcua/profile.rs` keeps only `toml::de::Error::message()`), unlike
/// the Modbus and AMR profile loaders. Not a crash; fixed (the loader names line and
/// column from the error's span).
#[test]
fn regression_an_asrs_profile_syntax_error_names_its_line() {
    let text = profile_text(PROFILES[0]).replacen("[status]", "[status", 1);
    let message = AsrsProfile::from_toml_str(&text).unwrap_err();
    assert!(message.contains("line"), "no position in: {message}");
}

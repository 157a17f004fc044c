//! Fuzzing the cloud's input on stable Rust with proptest: raw bytes through
//! `prost::Message::decode` for every request the task service takes, and the protobuf →
//! domain conversion (`TryFrom<pb::Task> for TaskSpec`) for arbitrary and near-valid
//! tasks.
//!
//! Properties:
//! * decoding any bytes is a message or an error, never a panic, and its heap stays
//!   within a small multiple of the input;
//! * a task is accepted exactly when every documented rule holds (ids, kind, quantity,
//!   deadline, attributes), and a refusal names one of the task's fields;
//! * an accepted task carries the request's values unchanged;
//! * echoed values are cut to 128 bytes on a character boundary.
//!
//! `PROPTEST_CASES` sets the cases per property (256); see FUZZING.md.

#[path = "../protocols/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::collections::HashMap;

use floorgate::api::convert::{clip, task_state_from_pb, MAX_ECHO};
use floorgate::api::pb;
use floorgate::engine::model::TaskSpec;
use fuzz_support::{config, heap_budget, peak_heap};
use proptest::prelude::*;
use prost::Message;

#[global_allocator]
static ALLOC: fuzz_support::CountingAlloc = fuzz_support::CountingAlloc;

const TASK_FIELDS: [&str; 10] = [
    "task_id",
    "kind",
    "sku",
    "quantity",
    "load_id",
    "source",
    "destination",
    "priority",
    "deadline_unix_ms",
    "attributes",
];

fn decodes_bounded<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    let (m, heap) = peak_heap(|| M::decode(bytes));
    assert!(
        heap <= heap_budget(bytes.len()),
        "{} bytes took {heap} bytes of heap",
        bytes.len()
    );
    m.ok()
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Z0-9-]{1,16}",
        1 => Just(String::new()),
        1 => "[A-Z]{129,140}",
        1 => "\\PC{0,20}",
        1 => prop::sample::select(vec![" ", "A B", "A\tB", "A\u{0}B", "é", "\u{2028}"])
            .prop_map(String::from),
    ]
}

fn attributes() -> impl Strategy<Value = HashMap<String, String>> {
    prop_oneof![
        4 => prop::collection::hash_map("[a-z]{1,8}", "\\PC{0,16}", 0..4),
        1 => prop::collection::hash_map("[a-z]{1,8}", Just(String::new()), 30..36),
        1 => prop::collection::hash_map(
            prop_oneof![Just(String::new()), "[a-z]{65,70}"],
            Just(String::from("v")),
            1..2,
        ),
        1 => prop::collection::hash_map("[a-z]{1,8}", "[a-z]{1020,1030}", 1..2),
    ]
}

fn any_task() -> impl Strategy<Value = pb::Task> {
    (
        (
            id(),
            prop_oneof![0i32..4, any::<i32>()],
            id(),
            prop_oneof![0u32..3, any::<u32>()],
        ),
        (id(), id(), id(), any::<i32>()),
        (
            prop_oneof![Just(0i64), -5i64..5, any::<i64>()],
            attributes(),
        ),
    )
        .prop_map(
            |(
                (task_id, kind, sku, quantity),
                (load_id, source, destination, priority),
                (deadline_unix_ms, attributes),
            )| pb::Task {
                task_id,
                kind,
                sku,
                quantity,
                load_id,
                source,
                destination,
                priority,
                deadline_unix_ms,
                attributes,
                ..pb::Task::default()
            },
        )
}

fn id_ok(v: &str, required: bool) -> bool {
    if v.is_empty() {
        return !required;
    }
    v.len() <= 128 && !v.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The rules of `task.proto` and the README's limits, written out independently.
fn acceptable(t: &pb::Task) -> bool {
    id_ok(&t.task_id, true)
        && (t.kind == pb::TaskKind::Pick as i32 || t.kind == pb::TaskKind::Put as i32)
        && id_ok(&t.sku, false)
        && t.quantity >= 1
        && id_ok(&t.load_id, false)
        && id_ok(&t.source, true)
        && id_ok(&t.destination, true)
        && t.deadline_unix_ms >= 0
        && t.attributes.len() <= 32
        && t.attributes
            .iter()
            .all(|(k, v)| !k.is_empty() && k.len() <= 64 && v.len() <= 1024)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_as_each_request_or_fail_without_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        if let Some(r) = decodes_bounded::<pb::SubmitTaskRequest>(&bytes) {
            if let Some(t) = r.task {
                let _ = TaskSpec::try_from(t);
            }
        }
        if let Some(r) = decodes_bounded::<pb::SubmitTasksRequest>(&bytes) {
            for t in r.tasks {
                let _ = TaskSpec::try_from(t);
            }
        }
        let _ = decodes_bounded::<pb::Task>(&bytes);
        let _ = decodes_bounded::<pb::ListTasksRequest>(&bytes);
        let _ = decodes_bounded::<pb::WatchEventsRequest>(&bytes);
        let _ = decodes_bounded::<pb::AckEventsRequest>(&bytes);
        let _ = decodes_bounded::<pb::CancelTaskRequest>(&bytes);
        let _ = decodes_bounded::<pb::DeviceCommandRequest>(&bytes);
        let _ = decodes_bounded::<pb::ResolveStepRequest>(&bytes);
    }

    #[test]
    fn damaged_encodings_of_valid_tasks_decode_or_fail_without_a_panic(
        task in any_task(),
        cut in any::<usize>(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = pb::SubmitTaskRequest { task: Some(task) }.encode_to_vec();
        for (at, b) in flips {
            if !bytes.is_empty() {
                let n = bytes.len();
                bytes[at % n] ^= b;
            }
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Some(r) = decodes_bounded::<pb::SubmitTaskRequest>(&bytes) {
            if let Some(t) = r.task {
                let _ = TaskSpec::try_from(t);
            }
        }
    }

    #[test]
    fn a_task_is_accepted_exactly_when_every_rule_holds_and_a_refusal_names_its_field(
        task in any_task(),
    ) {
        let expected = acceptable(&task);
        match TaskSpec::try_from(task.clone()) {
            Ok(spec) => {
                prop_assert!(expected, "accepted against the rules: {task:?}");
                prop_assert_eq!(&spec.task_id, &task.task_id);
                prop_assert_eq!(spec.quantity, task.quantity);
                prop_assert_eq!(&spec.source, &task.source);
                prop_assert_eq!(&spec.destination, &task.destination);
                prop_assert_eq!(spec.priority, task.priority);
                prop_assert_eq!(spec.deadline_unix_ms, task.deadline_unix_ms);
                prop_assert_eq!(spec.attributes.len(), task.attributes.len());
            }
            Err(e) => {
                prop_assert!(!expected, "refused within the rules ({e}): {task:?}");
                prop_assert!(TASK_FIELDS.contains(&e.field), "names no field: {e}");
                let shown = e.to_string();
                prop_assert!(shown.starts_with(&format!("task.{}: ", e.field)), "{shown}");
                prop_assert!(shown.len() < 512, "the message echoes too much: {} bytes", shown.len());
            }
        }
    }

    #[test]
    fn any_task_state_number_is_a_state_or_invalid_argument(v in any::<i32>()) {
        let _ = task_state_from_pb(v);
    }

    #[test]
    fn echoed_values_are_cut_on_a_character_boundary(v in "\\PC{0,200}") {
        let c = clip(&v);
        if v.len() <= MAX_ECHO {
            prop_assert_eq!(c.as_ref(), v.as_str());
        } else {
            prop_assert!(c.len() <= MAX_ECHO + '…'.len_utf8());
            prop_assert!(v.starts_with(c.trim_end_matches('…')));
        }
    }
}

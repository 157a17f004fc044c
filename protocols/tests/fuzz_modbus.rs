//! Fuzzing the Modbus side on stable Rust with proptest: register decoding (codec and
//! status snapshots), mailbox outcome judging, and profile loading from arbitrary TOML.
//!
//! Properties:
//! * decoding registers never panics; a type decodes exactly its own word count, and
//!   every decoded word pattern encodes back to the same words;
//! * encoding an engineering value never panics: NaN, infinities, zero scales and values
//!   out of range are errors;
//! * `judge` never panics and never says `Done`/`Failed` for a command that neither
//!   `done_seq` nor the completion log names; a per-command profile never reads the
//!   fault register, a legacy one never reports `Lost`;
//! * a profile from arbitrary or damaged TOML is loaded or refused, never a panic, with
//!   bounded heap, and every validation error names its field.
//!
//! `PROPTEST_CASES` sets the cases per property (256); see FUZZING.md.

mod fuzz_support;

use std::path::PathBuf;
use std::sync::Arc;

use floorgate_protocols::modbus::codec::{
    decode, decode_raw, encode, encode_raw, CodecError, RegisterType, WordOrder,
};
use floorgate_protocols::modbus::outcome::{judge, taken, Verdict};
use floorgate_protocols::modbus::plan::RegisterImage;
use floorgate_protocols::modbus::{
    mailbox, Handshake, ModbusProfile, ProfileError, StatusSnapshot,
};
use fuzz_support::toml_edit::{any_line_edit, edit_toml};
use fuzz_support::{config, heap_budget, peak_heap};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: fuzz_support::CountingAlloc = fuzz_support::CountingAlloc;

fn devices() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../devices")
}

fn profile_text(name: &str) -> String {
    std::fs::read_to_string(devices().join(name)).unwrap()
}

/// The shipped profiles: per-command results with a completion log (conveyor) and the
/// legacy handshake (lift).
fn profiles() -> Vec<ModbusProfile> {
    ["conveyor-modbus.toml", "lift-modbus.toml"]
        .iter()
        .map(|f| ModbusProfile::from_toml_str(&profile_text(f)).unwrap())
        .collect()
}

fn any_type() -> impl Strategy<Value = RegisterType> {
    prop::sample::select(vec![
        RegisterType::U16,
        RegisterType::I16,
        RegisterType::U32,
        RegisterType::I32,
        RegisterType::F32,
    ])
}

fn any_order() -> impl Strategy<Value = WordOrder> {
    prop_oneof![Just(WordOrder::Big), Just(WordOrder::Little)]
}

fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(f64::from(f32::MAX) * 1.0000001),
        -1e10..1e10f64,
    ]
}

fn any_handshake() -> impl Strategy<Value = Handshake> {
    // Small sequence numbers, so that equal ones happen.
    let seq = prop_oneof![0u16..6, any::<u16>()];
    (
        seq.clone(),
        0u16..8,
        prop_oneof![Just(0u16), any::<u16>()],
        seq.clone(),
        prop::option::of(prop_oneof![Just(0u16), any::<u16>()]),
        prop::option::of(seq.clone()),
        prop::collection::vec((seq, any::<u16>()), 0..10),
    )
        .prop_map(
            |(acked_seq, state, fault_code, done_seq, result, active_seq, history)| Handshake {
                acked_seq,
                state,
                fault_code,
                done_seq,
                result,
                active_seq,
                history,
            },
        )
}

/// The handshake as a poll with `profile` reads it: registers the profile lacks are `None`.
fn as_read(profile: &ModbusProfile, mut h: Handshake) -> Handshake {
    if profile.status.result.is_none() {
        h.result = None;
    } else if h.result.is_none() {
        h.result = Some(0);
    }
    if profile.status.active_seq.is_none() {
        h.active_seq = None;
    } else if h.active_seq.is_none() {
        h.active_seq = Some(0);
    }
    match profile.status.history {
        None => h.history.clear(),
        Some(layout) => h.history.truncate(usize::from(layout.len)),
    }
    h
}

fn ended(seq: u16, h: &Handshake) -> bool {
    h.done_seq == seq || h.history.iter().any(|(s, _)| *s == seq)
}

fn load_checked(text: &str) {
    let (result, heap) = peak_heap(|| ModbusProfile::from_toml_str(text));
    assert!(
        heap <= heap_budget(text.len()),
        "{} bytes of TOML took {heap} bytes of heap",
        text.len()
    );
    if let Err(errors) = result {
        assert!(!errors.0.is_empty(), "refused with no error");
        for e in &errors.0 {
            match e {
                ProfileError::Parse { message } => {
                    assert!(message.contains("line"), "parse error without a place: {e}")
                }
                other => assert!(!other.field().is_empty(), "error names no field: {other}"),
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn register_decoding_takes_exactly_the_types_word_count(
        ty in any_type(),
        order in any_order(),
        words in prop::collection::vec(any::<u16>(), 0..5),
        scale in any_float(),
    ) {
        let raw = decode_raw(ty, order, &words);
        prop_assert_eq!(raw.is_ok(), words.len() == usize::from(ty.word_count()));
        if let Ok(raw) = raw {
            prop_assert_eq!(encode_raw(raw, order), words.clone());
        }
        let _ = decode(ty, order, scale, &words);
    }

    #[test]
    fn encoding_any_value_is_a_value_or_an_error_never_a_panic(
        ty in any_type(),
        order in any_order(),
        scale in any_float(),
        value in any_float(),
    ) {
        match encode(ty, order, scale, value) {
            Ok(words) => {
                prop_assert_eq!(words.len(), usize::from(ty.word_count()));
                prop_assert!(value.is_finite() && scale.is_finite() && scale != 0.0);
                let back = decode(ty, order, scale, &words).unwrap();
                prop_assert!(back.is_finite(), "{value} / {scale} came back as {back}");
            }
            Err(CodecError::WrongLength { .. }) => prop_assert!(false, "encode gave WrongLength"),
            Err(_) => {}
        }
    }

    #[test]
    fn judging_names_an_outcome_only_for_a_command_that_ended(
        which in 0usize..2,
        seq in 0u16..6,
        h in any_handshake(),
    ) {
        let profile = &profiles()[which];
        let h = as_read(profile, h);
        let verdict = judge(profile, seq, &h);
        if matches!(verdict, Verdict::Done | Verdict::Failed { .. }) {
            let legacy_fault = profile.status.result.is_none() && h.fault_code != 0;
            prop_assert!(ended(seq, &h) || legacy_fault, "{verdict:?} for {seq} from {h:?}");
        }
        if profile.status.result.is_some() {
            // The fault register is the machine's now, never a command's result.
            let mut other = h.clone();
            other.fault_code = other.fault_code.wrapping_add(1);
            prop_assert_eq!(judge(profile, seq, &other), verdict.clone());
            let superseded = matches!(verdict, Verdict::Superseded { .. });
            prop_assert!(!superseded, "per-command profile said {:?}", verdict);
        } else {
            let lost = matches!(verdict, Verdict::Lost { .. });
            prop_assert!(!lost, "legacy profile said {:?}", verdict);
        }
        if let Verdict::Failed { fault, .. } = &verdict {
            prop_assert!(!fault.reason.is_empty());
        }
        let _ = taken(profile, seq, &h);
    }

    #[test]
    fn status_snapshots_decode_from_any_register_image(
        which in 0usize..2,
        blocks in prop::collection::vec(
            (prop_oneof![0u16..64, any::<u16>()], prop::collection::vec(any::<u16>(), 0..64)),
            0..4,
        ),
        seq in 0u16..6,
    ) {
        let profile = &profiles()[which];
        let mut image = RegisterImage::default();
        for (start, words) in &blocks {
            image.insert_block(*start, words);
        }
        let snapshot = StatusSnapshot::decode(profile, &image, tokio::time::Instant::now(), 1);
        if let Some(s) = snapshot {
            let s = Arc::new(s);
            let _ = mailbox::judge(profile, seq, &s);
            let _ = profile.decode_args(&[0; 8]);
        }
    }

    #[test]
    fn profiles_from_damaged_toml_load_or_name_the_field(
        which in 0usize..2,
        edits in prop::collection::vec(any_line_edit(), 1..5),
    ) {
        let file = ["conveyor-modbus.toml", "lift-modbus.toml"][which];
        load_checked(&edit_toml(&profile_text(file), &edits));
    }

    #[test]
    fn profiles_from_arbitrary_text_never_panic(text in "\\PC{0,256}") {
        load_checked(&text);
    }

    #[test]
    fn argument_words_of_any_length_decode_or_are_refused(
        which in 0usize..2,
        words in prop::collection::vec(any::<u16>(), 0..12),
        values in prop::collection::vec(any_float(), 0..4),
    ) {
        let profile = &profiles()[which];
        let _ = profile.decode_args(&words);
        let names: Vec<&str> = profile.mailbox.args.keys().map(String::as_str).collect();
        let args: Vec<(&str, f64)> = names.iter().copied().zip(values).collect();
        if let Ok(w) = profile.encode_args(&args) {
            prop_assert_eq!(w.len(), usize::from(profile.mailbox.args_len()));
        }
    }
}

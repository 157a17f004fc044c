//! Validation of a [`ModbusProfile`]: every error names the field it is about.

use std::collections::BTreeMap;

use super::profile::{
    ModbusProfile, ProfileError, ProfileErrors, MAX_READ_REGISTERS, MAX_WRITE_REGISTERS,
};

pub(super) fn validate(p: &ModbusProfile) -> Result<(), ProfileErrors> {
    let mut errs = Vec::new();
    let mut invalids = Vec::new();
    let mut invalid = |field: &str, message: String| {
        invalids.push(ProfileError::Invalid {
            field: field.to_owned(),
            message,
        });
    };

    if p.model.trim().is_empty() {
        invalid("model", "must not be empty".into());
    }
    if p.unit_id == 0 || (248..=254).contains(&p.unit_id) {
        invalid(
            "unit_id",
            format!(
                "{} is not a unit id a PLC answers to (1..=247 or 255)",
                p.unit_id
            ),
        );
    }

    let t = &p.timing;
    for (field, v) in [
        ("timing.request_timeout_ms", t.request_timeout_ms),
        ("timing.connect_timeout_ms", t.connect_timeout_ms),
        ("timing.ack_timeout_ms", t.ack_timeout_ms),
        ("timing.ack_retry_ms", t.ack_retry_ms),
        ("timing.completion_timeout_ms", t.completion_timeout_ms),
        ("timing.reconnect_min_ms", t.reconnect_min_ms),
        ("poll.period_ms", p.poll.period_ms),
    ] {
        if v == 0 {
            invalid(field, "must be greater than 0".into());
        }
    }
    if t.reconnect_max_ms < t.reconnect_min_ms {
        invalid(
            "timing.reconnect_max_ms",
            "must not be less than timing.reconnect_min_ms".into(),
        );
    }
    if t.ack_retry_ms >= t.ack_timeout_ms {
        invalid(
            "timing.ack_retry_ms",
            "must be less than timing.ack_timeout_ms".into(),
        );
    }
    if p.poll.max_registers == 0 || p.poll.max_registers > MAX_READ_REGISTERS {
        invalid(
            "poll.max_registers",
            format!("must be within 1..={MAX_READ_REGISTERS}"),
        );
    }

    // Mailbox shape: args contiguous from the start, then code, then seq (last).
    let mb = &p.mailbox;
    let mut args: Vec<_> = mb.args.iter().collect();
    args.sort_by_key(|(_, d)| d.address);
    let mut next = u32::from(mb.start());
    for (name, def) in &args {
        if u32::from(def.address) != next {
            invalid(
                &format!("mailbox.args.{name}"),
                format!(
                    "starts at {} but the argument block is contiguous: expected {next}",
                    def.address
                ),
            );
        }
        next = def.last() + 1;
    }
    if u32::from(mb.code) != next {
        invalid(
            "mailbox.code",
            format!(
                "must directly follow the arguments (expected address {next}, got {})",
                mb.code
            ),
        );
    }
    if u32::from(mb.seq) != u32::from(mb.code) + 1 {
        invalid(
            "mailbox.seq",
            format!("must be the last register of the block, right after mailbox.code (expected {}, got {})", u32::from(mb.code) + 1, mb.seq),
        );
    }
    if mb.seq >= mb.start() && mb.len() > MAX_WRITE_REGISTERS {
        invalid(
            "mailbox",
            format!(
                "{} registers do not fit one Write Multiple Registers (max {MAX_WRITE_REGISTERS})",
                mb.len()
            ),
        );
    }
    let (s_first, s_last) = p.status.span();
    if u32::from(s_last - s_first) + 1 > u32::from(p.poll.max_registers.min(MAX_READ_REGISTERS)) {
        invalid(
            "status",
            "the status registers must fit one read request".into(),
        );
    }
    if p.status.active_seq.is_some() && p.status.result.is_none() {
        invalid(
            "status.active_seq",
            "needs status.result: the end of the active command is read from done_seq + result"
                .into(),
        );
    }
    if let Some(h) = &p.status.history {
        if p.status.result.is_none() {
            invalid(
                "status.history",
                "needs status.result: the log holds results of ended commands".into(),
            );
        }
        if h.len == 0 || h.len > 32 {
            invalid("status.history.len", "must be within 1..=32".into());
        }
    }
    if let Some(names) = &p.fault_states {
        for (i, name) in names.iter().enumerate() {
            if !p.states.contains_key(name) {
                invalid(
                    &format!("fault_states[{i}]"),
                    format!("{name:?} is not one of the profile's states"),
                );
            }
        }
    }

    // Scales.
    for (prefix, map) in [("mailbox.args", &mb.args), ("registers", &p.registers)] {
        for (name, def) in map {
            if !def.scale.is_finite() || def.scale == 0.0 {
                invalid(
                    &format!("{prefix}.{name}.scale"),
                    format!("{} is not a usable scale", def.scale),
                );
            }
        }
    }

    // Register overlaps and the end of the address space.
    let mut spans: Vec<(String, u32, u32)> = Vec::new();
    for (name, def) in &mb.args {
        spans.push((
            format!("mailbox.args.{name}"),
            u32::from(def.address),
            def.last(),
        ));
    }
    spans.push(("mailbox.code".into(), mb.code.into(), mb.code.into()));
    spans.push(("mailbox.seq".into(), mb.seq.into(), mb.seq.into()));
    for (name, addr) in p.status.fields() {
        spans.push((format!("status.{name}"), addr.into(), addr.into()));
    }
    if let Some(h) = &p.status.history {
        if h.len > 0 {
            spans.push(("status.history".into(), h.address.into(), h.last()));
        }
    }
    for (name, def) in &p.registers {
        spans.push((
            format!("registers.{name}"),
            u32::from(def.address),
            def.last(),
        ));
    }
    spans.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
    let mut reach: Option<(usize, u32)> = None; // index and last register of the furthest span so far
    for (i, (field, first, last)) in spans.iter().enumerate() {
        if *last > u32::from(u16::MAX) {
            invalid(
                field,
                format!("runs past the last register address 65535 (to {last})"),
            );
        }
        if let Some((j, end)) = reach {
            if *first <= end {
                errs.push(ProfileError::Overlap {
                    field: field.clone(),
                    other: spans[j].0.clone(),
                    first: *first,
                    last: *last,
                });
            }
        }
        if reach.is_none_or(|(_, end)| *last > end) {
            reach = Some((i, *last));
        }
    }

    errs.extend(invalids);

    // Codes.
    if p.commands.is_empty() {
        errs.push(ProfileError::Missing {
            field: "commands".into(),
            message: "at least one command code is needed".into(),
        });
    }
    if p.states.is_empty() {
        errs.push(ProfileError::Missing {
            field: "states".into(),
            message: "the values of the state register must be named".into(),
        });
    }
    check_codes(
        &mut errs,
        "commands",
        p.commands.iter().map(|(n, c)| (n, *c)),
        true,
    );
    check_codes(
        &mut errs,
        "states",
        p.states.iter().map(|(n, c)| (n, *c)),
        false,
    );
    check_codes(
        &mut errs,
        "faults",
        p.faults.iter().map(|(n, f)| (n, f.code)),
        true,
    );
    for (name, f) in &p.faults {
        if f.reason.trim().is_empty() {
            errs.push(ProfileError::Invalid {
                field: format!("faults.{name}.reason"),
                message: "must not be empty".into(),
            });
        }
    }

    if errs.is_empty() {
        Ok(())
    } else {
        Err(ProfileErrors(errs))
    }
}

fn check_codes<'a>(
    errs: &mut Vec<ProfileError>,
    table: &str,
    codes: impl Iterator<Item = (&'a String, u16)>,
    zero_reserved: bool,
) {
    let mut seen: BTreeMap<u16, &String> = BTreeMap::new();
    for (name, code) in codes {
        let field = format!("{table}.{name}");
        if zero_reserved && code == 0 {
            errs.push(ProfileError::Invalid {
                field: field.clone(),
                message: "0 is reserved for \"none\"".into(),
            });
        }
        if let Some(other) = seen.insert(code, name) {
            errs.push(ProfileError::DuplicateCode {
                field,
                other: format!("{table}.{other}"),
                code,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::ModbusProfile;
    use super::*;

    const GOOD: &str = r#"
        model = "test"
        [mailbox]
        code = 102
        seq = 103
        [mailbox.args.tote]
        address = 100
        type = "u32"
        [status]
        acked_seq = 0
        state = 1
        fault_code = 2
        done_seq = 3
        [registers.speed]
        address = 10
        type = "f32"
        [commands]
        transfer = 1
        [states]
        idle = 0
        [faults.jam]
        code = 1
        reason = "jammed"
    "#;

    fn errors(text: &str) -> Vec<ProfileError> {
        match ModbusProfile::from_toml_str(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn a_good_profile_passes() {
        assert_eq!(errors(GOOD), vec![]);
    }

    #[test]
    fn the_shipped_device_profiles_are_valid() {
        for file in ["conveyor-modbus.toml", "lift-modbus.toml"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../devices")
                .join(file);
            if let Err(e) = ModbusProfile::load(&path) {
                panic!("{file}: {e}");
            }
        }
    }

    #[test]
    fn overlapping_registers_name_both_fields() {
        let text = GOOD.replace("address = 10\n", "address = 2\n");
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| matches!(e, ProfileError::Overlap { field, other, .. }
                if field == "registers.speed" && other == "status.fault_code")),
            "{errs:?}"
        );
    }

    #[test]
    fn a_32_bit_register_overlaps_through_its_second_word() {
        let text = GOOD.replace("address = 10\n", "address = 99\n");
        let errs = errors(&text);
        assert!(
            errs.iter().any(
                |e| matches!(e, ProfileError::Overlap { field, .. } if field == "mailbox.args.tote")
            ),
            "{errs:?}"
        );
    }

    #[test]
    fn a_missing_mailbox_is_a_parse_error_naming_it() {
        let text = GOOD
            .replace("[mailbox]\n        code = 102\n        seq = 103\n", "")
            .replace(
                "[mailbox.args.tote]\n        address = 100\n        type = \"u32\"\n",
                "",
            );
        let errs = errors(&text);
        assert!(
            matches!(&errs[..], [ProfileError::Parse { message }] if message.contains("mailbox")),
            "{errs:?}"
        );
    }

    #[test]
    fn the_sequence_must_be_the_last_register_of_the_mailbox() {
        let text = GOOD.replace(
            "code = 102\n        seq = 103",
            "code = 103\n        seq = 102",
        );
        let fields: Vec<_> = errors(&text).iter().map(|e| e.field().to_owned()).collect();
        assert!(fields.contains(&"mailbox.seq".to_owned()), "{fields:?}");
        assert!(fields.contains(&"mailbox.code".to_owned()), "{fields:?}");
    }

    #[test]
    fn a_gap_in_the_argument_block_is_refused() {
        let text = GOOD.replace(
            "code = 102\n        seq = 103",
            "code = 103\n        seq = 104",
        );
        let fields: Vec<_> = errors(&text).iter().map(|e| e.field().to_owned()).collect();
        assert_eq!(fields, vec!["mailbox.code".to_owned()]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = GOOD.replace(
            "[registers.speed]\n",
            "[registers.speed]\n        scal = 2.0\n",
        );
        assert!(
            matches!(&errors(&text)[..], [ProfileError::Parse { message }] if message.contains("scal"))
        );
    }

    #[test]
    fn duplicate_and_reserved_codes_are_refused() {
        let text = GOOD.replace(
            "transfer = 1\n",
            "transfer = 1\n        stop = 1\n        noop = 0\n",
        );
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| matches!(e, ProfileError::DuplicateCode { code: 1, .. })),
            "{errs:?}"
        );
        assert!(
            errs.iter().any(|e| e.field() == "commands.noop"),
            "{errs:?}"
        );
    }

    #[test]
    fn zero_scale_and_zero_timeouts_are_refused() {
        let text = GOOD.replace("type = \"f32\"\n", "type = \"f32\"\n        scale = 0.0\n")
            + "\n[timing]\nrequest_timeout_ms = 0\n";
        let fields: Vec<_> = errors(&text).iter().map(|e| e.field().to_owned()).collect();
        assert!(
            fields.contains(&"registers.speed.scale".to_owned()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"timing.request_timeout_ms".to_owned()),
            "{fields:?}"
        );
    }

    #[test]
    fn named_args_encode_into_the_argument_block() {
        let p = ModbusProfile::from_toml_str(GOOD).unwrap();
        assert_eq!(p.encode_args(&[("tote", 70_000.0)]).unwrap(), vec![1, 4464]);
        assert!(p.encode_args(&[("nope", 1.0)]).is_err());
        assert_eq!(p.decode_args(&[1, 4464]).unwrap()["tote"], 70_000.0);
    }
}

//! Line-level mutations of TOML files (site files, profiles): fields vanish, repeat,
//! change type or gain neighbours while the file's shape stays recognisable.

use proptest::prelude::*;

/// One edit of a TOML text, by line.
#[derive(Debug, Clone)]
pub enum LineEdit {
    Delete(usize),
    Duplicate(usize),
    ReplaceValue(usize, String),
    InsertLine(usize, String),
    Bytes(usize, Vec<u8>),
}

pub fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("65535".to_string()),
        Just("65536".to_string()),
        Just("4294967296".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("\"\"".to_string()),
        Just("\"u32\"".to_string()),
        Just("\"little\"".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("{ address = 65535, len = 65535 }".to_string()),
        Just("true".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\"[a-z_]{0,12}\"",
    ]
}

pub fn toml_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("address".to_string()),
        Just("type".to_string()),
        Just("len".to_string()),
        Just("scale".to_string()),
        Just("code".to_string()),
        Just("seq".to_string()),
        "[a-z_]{1,12}",
    ];
    prop_oneof![
        (key, toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        "\\[[a-z_.]{1,24}\\]",
        "\\[\\[[a-z_.]{1,24}\\]\\]",
    ]
}

pub fn any_line_edit() -> impl Strategy<Value = LineEdit> {
    prop_oneof![
        2 => any::<usize>().prop_map(LineEdit::Delete),
        1 => any::<usize>().prop_map(LineEdit::Duplicate),
        3 => (any::<usize>(), toml_value()).prop_map(|(i, v)| LineEdit::ReplaceValue(i, v)),
        2 => (any::<usize>(), toml_line()).prop_map(|(i, l)| LineEdit::InsertLine(i, l)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..6))
            .prop_map(|(i, b)| LineEdit::Bytes(i, b)),
    ]
}

pub fn edit_toml(text: &str, edits: &[LineEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            LineEdit::Delete(i) => {
                if !lines.is_empty() {
                    lines.remove(i % n);
                }
            }
            LineEdit::Duplicate(i) => {
                if !lines.is_empty() {
                    let l = lines[i % n].clone();
                    lines.insert(i % n, l);
                }
            }
            LineEdit::ReplaceValue(i, v) => {
                if let Some(l) = lines.get_mut(i % n) {
                    if let Some(eq) = l.find('=') {
                        *l = format!("{}= {v}", &l[..eq]);
                    }
                }
            }
            LineEdit::InsertLine(i, l) => lines.insert((i % n).min(lines.len()), l.clone()),
            LineEdit::Bytes(i, b) => {
                if let Some(l) = lines.get_mut(i % n) {
                    let mut bytes = std::mem::take(l).into_bytes();
                    let at = bytes.len() / 2;
                    bytes.splice(at..at, b.iter().copied());
                    *l = String::from_utf8_lossy(&bytes).into_owned();
                }
            }
        }
    }
    lines.join("\n")
}

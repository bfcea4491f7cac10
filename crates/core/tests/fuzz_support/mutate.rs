//! Mutators shared by the fuzz_* property tests of every crate (included with `#[path]`):
//! line-wise edits of YAML documents and byte-wise edits of binary inputs such as DER.
#![allow(dead_code)]

use proptest::prelude::*;

/// One edit of a YAML document, applied line-wise so the result stays YAML-shaped often enough
/// to reach the typed layer.
#[derive(Debug, Clone)]
pub enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceValue(usize, String),
    Indent(usize, usize),
    Dedent(usize),
    InsertLine(usize, String),
    Truncate(usize),
    SwapLines(usize, usize),
}

pub fn yaml_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("~".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e400".to_string()),
        Just("0s".to_string()),
        Just("yes".to_string()),
        Just("&a [*a]".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("'unterminated".to_string()),
        Just("\"\\uD800\"".to_string()),
        "[ -~]{0,24}",
        any::<String>().prop_map(|s| s.chars().take(24).collect()),
    ]
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), yaml_scalar()).prop_map(|(i, v)| Edit::ReplaceValue(i, v)),
        (any::<usize>(), 1usize..6).prop_map(|(i, n)| Edit::Indent(i, n)),
        any::<usize>().prop_map(Edit::Dedent),
        (any::<usize>(), yaml_scalar()).prop_map(|(i, v)| Edit::InsertLine(i, v)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

/// Applies the edits to `text`.
pub fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Edit::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::ReplaceValue(i, v) => {
                let l = &mut lines[i % n];
                match l.find(": ") {
                    Some(at) => l.replace_range(at + 2.., v),
                    None => match l.find("- ") {
                        Some(at) => l.replace_range(at + 2.., v),
                        None => l.push_str(v),
                    },
                }
            }
            Edit::Indent(i, k) => lines[i % n].insert_str(0, &" ".repeat(*k)),
            Edit::Dedent(i) => {
                let l = &mut lines[i % n];
                *l = l.trim_start().to_string();
            }
            Edit::InsertLine(i, v) => lines.insert(i % n, v.clone()),
            Edit::Truncate(i) => {
                let l = &mut lines[i % n];
                let cut = l
                    .char_indices()
                    .nth(l.chars().count() / 2)
                    .map_or(0, |c| c.0);
                let _ = i;
                l.truncate(cut);
            }
            Edit::SwapLines(a, b) => lines.swap(a % n, b % n),
        }
    }
    lines.join("\n")
}

#[derive(Debug, Clone)]
pub enum ByteEdit {
    Flip(usize, u8),
    Set(usize, u8),
    Remove(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        // DER length and tag bytes are where parsers go wrong: favour boundary values.
        (
            any::<usize>(),
            prop_oneof![
                Just(0u8),
                Just(0x7f),
                Just(0x80),
                Just(0x81),
                Just(0x84),
                Just(0xff),
                any::<u8>()
            ]
        )
            .prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| ByteEdit::Remove(i, n)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, v)| ByteEdit::Insert(i, v)),
        any::<usize>().prop_map(ByteEdit::Truncate),
    ]
}

pub fn mutate_bytes(mut b: Vec<u8>, edits: &[ByteEdit]) -> Vec<u8> {
    for e in edits {
        if b.is_empty() {
            break;
        }
        let n = b.len();
        match e {
            ByteEdit::Flip(i, x) => b[i % n] ^= x,
            ByteEdit::Set(i, x) => b[i % n] = *x,
            ByteEdit::Remove(i, k) => {
                let at = i % n;
                let end = (at + k).min(n);
                b.drain(at..end);
            }
            ByteEdit::Insert(i, v) => {
                let at = i % n;
                b.splice(at..at, v.iter().copied());
            }
            ByteEdit::Truncate(i) => b.truncate(i % n),
        }
    }
    b
}

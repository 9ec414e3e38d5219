//! The input data contract (`shared/data-contract.md`): reading its JSON Lines
//! into typed records, and saying precisely why a line is malformed.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

/// Longest raw text kept for a quarantined line; the whole line stays in its
/// source file, which the quarantine row names with its line number.
pub const MAX_RAW_CHARS: usize = 4096;

/// One `patient_data` record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PatientRecord<'a> {
    pub patient_id: i64,
    #[serde(borrow)]
    pub first_name: Cow<'a, str>,
    #[serde(borrow)]
    pub last_name: Cow<'a, str>,
    #[serde(borrow)]
    pub sex: Cow<'a, str>,
    pub age: i32,
    pub height: i32,
    pub weight: f64,
    #[serde(borrow)]
    pub address: Cow<'a, str>,
    #[serde(deserialize_with = "timestamp")]
    pub registered_at: NaiveDateTime,
}

/// One `log_data` record: a blood test.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TestRecord<'a> {
    #[serde(borrow)]
    pub test_id: Cow<'a, str>,
    pub patient_id: i64,
    pub doc_id: i64,
    #[serde(borrow)]
    pub doc_name: Cow<'a, str>,
    #[serde(borrow)]
    pub clinic: Cow<'a, str>,
    pub lab_id: i64,
    #[serde(borrow)]
    pub lab_name: Cow<'a, str>,
    #[serde(borrow)]
    pub city: Cow<'a, str>,
    #[serde(deserialize_with = "timestamp")]
    pub ts: NaiveDateTime,
    pub ap_hi: i32,
    pub ap_lo: i32,
    pub cholesterol: i32,
    pub gluc: i32,
    pub smoke: i32,
    pub alco: i32,
    pub active: i32,
    pub cardio: i32,
}

/// Why a line is malformed: the field at fault, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub field: Option<&'static str>,
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

fn timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let s = <Cow<'de, str>>::deserialize(d)?;
    parse_timestamp(&s).map_err(serde::de::Error::custom)
}

/// An RFC 3339 timestamp, as the UTC instant it names.
pub fn parse_timestamp(s: &str) -> Result<NaiveDateTime, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .map_err(|e| format!("{s:?} is not an RFC 3339 timestamp ({e})"))
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Number,
    Timestamp,
}

const PATIENT_FIELDS: &[(&str, Kind)] = &[
    ("patient_id", Kind::Int),
    ("first_name", Kind::Str),
    ("last_name", Kind::Str),
    ("sex", Kind::Str),
    ("age", Kind::Int),
    ("height", Kind::Int),
    ("weight", Kind::Number),
    ("address", Kind::Str),
    ("registered_at", Kind::Timestamp),
];

const TEST_FIELDS: &[(&str, Kind)] = &[
    ("test_id", Kind::Str),
    ("patient_id", Kind::Int),
    ("doc_id", Kind::Int),
    ("doc_name", Kind::Str),
    ("clinic", Kind::Str),
    ("lab_id", Kind::Int),
    ("lab_name", Kind::Str),
    ("city", Kind::Str),
    ("ts", Kind::Timestamp),
    ("ap_hi", Kind::Int),
    ("ap_lo", Kind::Int),
    ("cholesterol", Kind::Int),
    ("gluc", Kind::Int),
    ("smoke", Kind::Int),
    ("alco", Kind::Int),
    ("active", Kind::Int),
    ("cardio", Kind::Int),
];

/// Parse one `patient_data` line.
pub fn parse_patient(line: &[u8]) -> Result<PatientRecord<'_>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(blank_line());
    }
    let rec: PatientRecord =
        serde_json::from_slice(line).map_err(|e| explain(line, PATIENT_FIELDS, e))?;
    if rec.patient_id <= 0 {
        return Err(field_error(
            "patient_id",
            format!("{} is not > 0", rec.patient_id),
        ));
    }
    if rec.sex != "F" && rec.sex != "M" {
        return Err(field_error(
            "sex",
            format!("{:?} is not \"F\" or \"M\"", short(&rec.sex)),
        ));
    }
    Ok(rec)
}

/// Parse one `log_data` line.
pub fn parse_test(line: &[u8]) -> Result<TestRecord<'_>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(blank_line());
    }
    let rec: TestRecord =
        serde_json::from_slice(line).map_err(|e| explain(line, TEST_FIELDS, e))?;
    if rec.test_id.is_empty() || rec.test_id.len() > 64 {
        return Err(field_error("test_id", "must be 1 to 64 characters"));
    }
    Ok(rec)
}

fn field_error(field: &'static str, reason: impl Into<String>) -> LineError {
    LineError {
        field: Some(field),
        reason: reason.into(),
    }
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Turn a failed typed parse into an error that names the field at fault.
fn explain(line: &[u8], fields: &[(&'static str, Kind)], fast: serde_json::Error) -> LineError {
    let whole = |reason: String| LineError {
        field: None,
        reason,
    };
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return whole(format!("truncated JSON ({e})")),
        Err(e) => return whole(format!("not valid JSON ({e})")),
    };
    let Some(object) = value.as_object() else {
        let kind = match value {
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return whole(format!("expected a JSON object, found {kind}"));
    };
    for &(name, kind) in fields {
        let Some(v) = object.get(name) else {
            return field_error(name, "missing");
        };
        let problem = match kind {
            Kind::Str if !v.is_string() => Some("expected a string"),
            Kind::Int if !(v.is_i64() || v.is_u64()) => Some("expected an integer"),
            Kind::Number if !v.is_number() => Some("expected a number"),
            Kind::Timestamp => match v.as_str() {
                None => Some("expected an RFC 3339 timestamp string"),
                Some(s) => {
                    if let Err(e) = parse_timestamp(s) {
                        return field_error(name, e);
                    }
                    None
                }
            },
            _ => None,
        };
        if let Some(p) = problem {
            let shown: String = v.to_string().chars().take(40).collect();
            return field_error(name, format!("{p}, found {shown}"));
        }
        if matches!(kind, Kind::Int)
            && v.as_i64()
                .is_none_or(|n| i32::try_from(n).is_err() && name_is_i32(name))
        {
            return field_error(name, format!("{v} is out of range"));
        }
    }
    whole(fast.to_string())
}

fn name_is_i32(name: &str) -> bool {
    !matches!(name, "patient_id" | "doc_id" | "lab_id")
}

/// The lines of one file, numbered from 1: a UTF-8 byte-order mark at the
/// start is skipped and a `\r` before `\n` is dropped. The newline ending the
/// last line does not start another line.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let empty = bytes.is_empty();
    bytes
        .split(|&b| b == b'\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
}

/// The raw text kept for a quarantined line (lossy UTF-8, at most
/// [`MAX_RAW_CHARS`] characters).
pub fn raw_text(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.chars().count() <= MAX_RAW_CHARS {
        text.into_owned()
    } else {
        text.chars().take(MAX_RAW_CHARS).collect()
    }
}

/// A line that is blank (only whitespace) is malformed too.
fn blank_line() -> LineError {
    LineError {
        field: None,
        reason: "empty line".into(),
    }
}

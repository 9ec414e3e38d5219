//! The input data contract (`shared/data-contract.md`): reading its JSON Lines
//! into typed records, and saying precisely why a line is malformed.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

mod scan;

/// Longest raw text kept for a quarantined line; the whole line stays in its
/// source file, which the quarantine row names with its line number.
pub const MAX_RAW_CHARS: usize = 4096;

/// Longest line parsed, in bytes (1 MiB). A longer line is malformed without
/// being parsed: no record of the contract comes near it (its string fields
/// are bounded by their widths in [`PATIENT_FIELDS`] and [`TEST_FIELDS`]), and Redshift's
/// `COPY` refuses a JSON object above 4 MB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A field's type in the data contract, with what the warehouse makes of
/// it: a string's widest value in bytes is its staging column's width
/// (`VARCHAR(n)`, which Redshift counts in bytes; a longer value is
/// malformed, naming its field, and so is a value holding a NUL character,
/// which Redshift cannot load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text(usize),
    Int32,
    Int64,
    Number,
    Timestamp,
}

impl Kind {
    /// The column type both engines' tables give the field.
    pub fn sql_type(self) -> String {
        match self {
            Kind::Text(n) => format!("VARCHAR({n})"),
            Kind::Int32 => "INTEGER".into(),
            Kind::Int64 => "BIGINT".into(),
            Kind::Number => "DOUBLE PRECISION".into(),
            Kind::Timestamp => "TIMESTAMP".into(),
        }
    }
}

/// One field of a record of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

/// The fields of a `patient_data` record, in the contract's order: the one
/// list the parser, the staging and dimension DDL (`{{contract:patient_data}}`)
/// and Redshift's COPY layout are made from.
pub const PATIENT_FIELDS: &[Field; 9] = &[
    field("patient_id", Kind::Int64),
    field("first_name", Kind::Text(256)),
    field("last_name", Kind::Text(256)),
    field("sex", Kind::Text(1)),
    field("age", Kind::Int32),
    field("height", Kind::Int32),
    field("weight", Kind::Number),
    field("address", Kind::Text(1024)),
    field("registered_at", Kind::Timestamp),
];

/// The fields of a `log_data` record, in the contract's order (see
/// [`PATIENT_FIELDS`]).
pub const TEST_FIELDS: &[Field; 17] = &[
    field("test_id", Kind::Text(64)),
    field("patient_id", Kind::Int64),
    field("doc_id", Kind::Int64),
    field("doc_name", Kind::Text(256)),
    field("clinic", Kind::Text(256)),
    field("lab_id", Kind::Int64),
    field("lab_name", Kind::Text(256)),
    field("city", Kind::Text(256)),
    field("ts", Kind::Timestamp),
    field("ap_hi", Kind::Int32),
    field("ap_lo", Kind::Int32),
    field("cholesterol", Kind::Int32),
    field("gluc", Kind::Int32),
    field("smoke", Kind::Int32),
    field("alco", Kind::Int32),
    field("active", Kind::Int32),
    field("cardio", Kind::Int32),
];

/// The fields of a source's records.
pub fn fields(source: crate::params::Source) -> &'static [Field] {
    match source {
        crate::params::Source::PatientData => PATIENT_FIELDS,
        crate::params::Source::LogData => TEST_FIELDS,
    }
}

/// The string fields of a record with their widths, in order.
fn widths(fields: &'static [Field]) -> impl Iterator<Item = (&'static str, usize)> {
    fields.iter().filter_map(|f| match f.kind {
        Kind::Text(n) => Some((f.name, n)),
        _ => None,
    })
}

/// One `patient_data` record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PatientRecord<'a> {
    #[serde(deserialize_with = "integer")]
    pub patient_id: i64,
    #[serde(borrow)]
    pub first_name: Cow<'a, str>,
    #[serde(borrow)]
    pub last_name: Cow<'a, str>,
    #[serde(borrow)]
    pub sex: Cow<'a, str>,
    #[serde(deserialize_with = "integer")]
    pub age: i32,
    #[serde(deserialize_with = "integer")]
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
    #[serde(deserialize_with = "integer")]
    pub patient_id: i64,
    #[serde(deserialize_with = "integer")]
    pub doc_id: i64,
    #[serde(borrow)]
    pub doc_name: Cow<'a, str>,
    #[serde(borrow)]
    pub clinic: Cow<'a, str>,
    #[serde(deserialize_with = "integer")]
    pub lab_id: i64,
    #[serde(borrow)]
    pub lab_name: Cow<'a, str>,
    #[serde(borrow)]
    pub city: Cow<'a, str>,
    #[serde(deserialize_with = "timestamp")]
    pub ts: NaiveDateTime,
    #[serde(deserialize_with = "integer")]
    pub ap_hi: i32,
    #[serde(deserialize_with = "integer")]
    pub ap_lo: i32,
    #[serde(deserialize_with = "integer")]
    pub cholesterol: i32,
    #[serde(deserialize_with = "integer")]
    pub gluc: i32,
    #[serde(deserialize_with = "integer")]
    pub smoke: i32,
    #[serde(deserialize_with = "integer")]
    pub alco: i32,
    #[serde(deserialize_with = "integer")]
    pub active: i32,
    #[serde(deserialize_with = "integer")]
    pub cardio: i32,
}

/// Why a line is malformed: the field at fault, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    pub field: Option<&'static str>,
    pub reason: String,
}

impl LineError {
    /// A reason about the line as a whole, no field named.
    pub fn line(reason: impl Into<String>) -> Self {
        Self {
            field: None,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// A JSON integer within the field's type. `-0` is an integer (as 0), but
/// serde_json reads it as the float -0.0, so a negative zero is taken as 0
/// (which also takes `-0.0` as 0); any other fraction or float is refused.
fn integer<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::{Error, Unexpected, Visitor};
    struct Integer<T>(std::marker::PhantomData<T>);
    impl<T: TryFrom<i64>> Visitor<'_> for Integer<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
            i64::try_from(v)
                .ok()
                .and_then(|v| T::try_from(v).ok())
                .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
            if v == 0.0 && v.is_sign_negative() {
                self.visit_i64(0)
            } else {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Integer(std::marker::PhantomData))
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

/// Parse one `patient_data` line.
pub fn parse_patient(line: &[u8]) -> Result<PatientRecord<'_>, LineError> {
    check_line(line)?;
    let rec = match scan::patient(line) {
        Some(rec) => rec,
        None => full_patient(line)?,
    };
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
    check_strings(
        PATIENT_FIELDS,
        &[&rec.first_name, &rec.last_name, &rec.sex, &rec.address],
    )?;
    Ok(rec)
}

/// Parse one `log_data` line.
pub fn parse_test(line: &[u8]) -> Result<TestRecord<'_>, LineError> {
    check_line(line)?;
    let rec = match scan::test(line) {
        Some(rec) => rec,
        None => full_test(line)?,
    };
    if rec.test_id.is_empty() {
        return Err(field_error("test_id", "must not be empty"));
    }
    check_strings(
        TEST_FIELDS,
        &[
            &rec.test_id,
            &rec.doc_name,
            &rec.clinic,
            &rec.lab_name,
            &rec.city,
        ],
    )?;
    Ok(rec)
}

/// The full parser of a `patient_data` line: whatever the fast path
/// ([`scan`]) leaves, read or explained.
fn full_patient(line: &[u8]) -> Result<PatientRecord<'_>, LineError> {
    serde_json::from_slice(line).map_err(|e| explain(line, PATIENT_FIELDS, e))
}

/// The full parser of a `log_data` line (see [`full_patient`]).
fn full_test(line: &[u8]) -> Result<TestRecord<'_>, LineError> {
    serde_json::from_slice(line).map_err(|e| explain(line, TEST_FIELDS, e))
}

/// What is malformed before any parsing: a blank line, a line over
/// [`MAX_LINE_BYTES`].
fn check_line(line: &[u8]) -> Result<(), LineError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(LineError {
            field: None,
            reason: format!(
                "line of {} bytes is longer than the 1 MiB limit ({MAX_LINE_BYTES} bytes); not parsed",
                line.len()
            ),
        });
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(blank_line());
    }
    Ok(())
}

/// Each string value within its column's width, and without a NUL
/// character, which Redshift's `COPY` refuses (`widths` and `values` in the
/// same order).
/// The string fields' values, in the record's order, against their widths.
fn check_strings(fields: &'static [Field], values: &[&str]) -> Result<(), LineError> {
    debug_assert_eq!(widths(fields).count(), values.len());
    for ((name, max), value) in widths(fields).zip(values) {
        if value.len() > max {
            return Err(field_error(
                name,
                format!(
                    "{} bytes, longer than its column's {max} bytes",
                    value.len()
                ),
            ));
        }
        if value.contains('\0') {
            return Err(field_error(name, "holds a NUL character (U+0000)"));
        }
    }
    Ok(())
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
fn explain(line: &[u8], fields: &'static [Field], fast: serde_json::Error) -> LineError {
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
    for &Field { name, kind } in fields {
        let Some(v) = object.get(name) else {
            return field_error(name, "missing");
        };
        let problem = match kind {
            Kind::Text(_) if !v.is_string() => Some("expected a string"),
            Kind::Int32 | Kind::Int64 if !(v.is_i64() || v.is_u64() || negative_zero(v)) => {
                Some("expected an integer")
            }
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
        if matches!(kind, Kind::Int32 | Kind::Int64)
            && !negative_zero(v)
            && v.as_i64()
                .is_none_or(|n| i32::try_from(n).is_err() && kind == Kind::Int32)
        {
            return field_error(name, format!("{v} is out of range"));
        }
    }
    // Every field is there with its type: what is left is a field given
    // twice (the typed parse refuses it; the second value would win silently).
    let message = fast.to_string();
    if let Some(f) = fields
        .iter()
        .find(|f| message.starts_with(&format!("duplicate field `{}`", f.name)))
    {
        return field_error(f.name, "given more than once");
    }
    whole(message)
}

/// Whether a member of either record is an integer field.
pub fn is_integer_field(name: &str) -> bool {
    PATIENT_FIELDS
        .iter()
        .chain(TEST_FIELDS)
        .any(|f| f.name == name && matches!(f.kind, Kind::Int32 | Kind::Int64))
}

/// JSON's `-0`, which serde_json reads as the float -0.0 (see [`integer`]).
pub fn negative_zero(v: &serde_json::Value) -> bool {
    v.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative())
}

/// The lines of one file, numbered from 1: a UTF-8 byte-order mark at the
/// start is skipped and a `\r` before `\n` is dropped. The newline ending the
/// last line does not start another line, so an empty file has no line and
/// a file of one `\n` has one (blank) line.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let empty = bytes.is_empty();
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    ends.filter(move |_| !empty)
        .enumerate()
        .map(move |(i, end)| {
            let line = &bytes[start..end];
            start = end + 1;
            (i as u64 + 1, line.strip_suffix(b"\r").unwrap_or(line))
        })
}

/// The raw text kept for a quarantined line (lossy UTF-8, at most
/// [`MAX_RAW_CHARS`] characters).
pub fn raw_text(line: &[u8]) -> String {
    // A character is at most 4 bytes: this head holds the first
    // MAX_RAW_CHARS characters whole, however long the line.
    let head = &line[..line.len().min(4 * MAX_RAW_CHARS)];
    let text = String::from_utf8_lossy(head);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn test_line(over: serde_json::Value) -> String {
        let mut v = serde_json::json!({
            "test_id": "bt-1", "patient_id": 1, "doc_id": 7, "doc_name": "Dr. Grey",
            "clinic": "North Clinic", "lab_id": 3, "lab_name": "Central Lab", "city": "Lyon",
            "ts": "2025-03-14T10:00:00Z", "ap_hi": 120, "ap_lo": 80, "cholesterol": 1,
            "gluc": 1, "smoke": 0, "alco": 0, "active": 1, "cardio": 0
        });
        for (k, x) in over.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    }

    fn patient_line(over: serde_json::Value) -> String {
        let mut v = serde_json::json!({
            "patient_id": 1, "first_name": "Ada", "last_name": "Lovelace", "sex": "F",
            "age": 45, "height": 165, "weight": 70.5,
            "address": "1 Main Street, Springfield", "registered_at": "2025-03-14T08:00:00Z"
        });
        for (k, x) in over.as_object().unwrap() {
            v[k] = x.clone();
        }
        v.to_string()
    }

    fn test_error(line: &str) -> String {
        parse_test(line.as_bytes()).unwrap_err().to_string()
    }

    fn numbered(bytes: &[u8]) -> Vec<(u64, &[u8])> {
        lines(bytes).collect()
    }

    #[test]
    fn lines_are_numbered_from_one_without_bom_cr_or_the_final_newline() {
        assert!(numbered(b"").is_empty());
        assert!(numbered(b"\xEF\xBB\xBF").is_empty());
        assert_eq!(numbered(b"\n"), vec![(1, &b""[..])]);
        assert_eq!(numbered(b"\n\n"), vec![(1, &b""[..]), (2, &b""[..])]);
        assert_eq!(numbered(b"a"), vec![(1, &b"a"[..])]);
        assert_eq!(numbered(b"a\n"), vec![(1, &b"a"[..])]);
        assert_eq!(
            numbered(b"\xEF\xBB\xBFa\r\nb\r\n"),
            vec![(1, &b"a"[..]), (2, &b"b"[..])]
        );
        assert_eq!(
            numbered(b"a\n\nb"),
            vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..])]
        );
        // A BOM is skipped only at the start of the file.
        assert_eq!(
            numbered(b"a\n\xEF\xBB\xBFb\n"),
            vec![(1, &b"a"[..]), (2, &b"\xEF\xBB\xBFb"[..])]
        );
    }

    #[test]
    fn a_valid_record_parses_and_unknown_fields_are_ignored() {
        let line = test_line(serde_json::json!({}));
        let t = parse_test(line.as_bytes()).unwrap();
        assert_eq!((t.test_id.as_ref(), t.ap_hi), ("bt-1", 120));
        let extra = test_line(serde_json::json!({"note": {"nested": [1, 2]}, "x": null}));
        assert_eq!(parse_test(extra.as_bytes()).unwrap(), t);
        let line = patient_line(serde_json::json!({"weight": 70}));
        let p = parse_patient(line.as_bytes()).unwrap();
        assert_eq!(p.weight, 70.0);
    }

    #[test]
    fn each_malformed_line_says_why_naming_the_field() {
        let cases = [
            (
                test_line(serde_json::json!({"ap_hi": "120"})),
                "field `ap_hi`: expected an integer, found \"120\"",
            ),
            (
                test_line(serde_json::json!({"ap_hi": 120.0})),
                "field `ap_hi`: expected an integer, found 120.0",
            ),
            (
                test_line(serde_json::json!({"ap_lo": 3_000_000_000_i64})),
                "field `ap_lo`: 3000000000 is out of range",
            ),
            (
                test_line(serde_json::json!({"city": null})),
                "field `city`: expected a string, found null",
            ),
            (
                test_line(serde_json::json!({"ts": null})),
                "field `ts`: expected an RFC 3339 timestamp string, found null",
            ),
            (
                test_line(serde_json::json!({"ts": "2025-03-14 10:00"})),
                "field `ts`: \"2025-03-14 10:00\" is not an RFC 3339 timestamp",
            ),
            (
                test_line(serde_json::json!({"test_id": ""})),
                "field `test_id`: must not be empty",
            ),
            (
                test_line(serde_json::json!({})).replace(",\"gluc\":1", ""),
                "field `gluc`: missing",
            ),
            ("[1,2]".into(), "expected a JSON object, found an array"),
            ("42".into(), "expected a JSON object, found a number"),
            ("\"x\"".into(), "expected a JSON object, found a string"),
            ("true".into(), "expected a JSON object, found a boolean"),
            ("null".into(), "expected a JSON object, found null"),
            ("{\"test_id\": \"bt-1\"".into(), "truncated JSON"),
            ("test_id,patient_id".into(), "not valid JSON"),
            ("{} {}".into(), "not valid JSON"),
            ("   ".into(), "empty line"),
            (
                test_line(serde_json::json!({})).replace("\"gluc\":1", "\"gluc\":1,\"gluc\":2"),
                "field `gluc`: given more than once",
            ),
        ];
        for (line, expected) in cases {
            let got = test_error(&line);
            assert!(
                got.starts_with(expected),
                "{line}: `{got}` is not `{expected}…`"
            );
        }
        let e = parse_patient(patient_line(serde_json::json!({"patient_id": 0})).as_bytes())
            .unwrap_err();
        assert_eq!(e.field, Some("patient_id"));
        let e =
            parse_patient(patient_line(serde_json::json!({"sex": "X"})).as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "field `sex`: \"X\" is not \"F\" or \"M\"");
    }

    #[test]
    fn a_string_over_its_column_width_is_malformed_in_bytes() {
        for (field, max) in widths(TEST_FIELDS) {
            let fits = test_line(serde_json::json!({ field: "a".repeat(max) }));
            assert!(parse_test(fits.as_bytes()).is_ok(), "{field} at {max}");
            let over = test_line(serde_json::json!({ field: "a".repeat(max + 1) }));
            let e = parse_test(over.as_bytes()).unwrap_err();
            assert_eq!(e.field, Some(field));
            assert_eq!(
                e.reason,
                format!("{} bytes, longer than its column's {max} bytes", max + 1)
            );
        }
        for (field, max) in widths(PATIENT_FIELDS).filter(|(f, _)| *f != "sex") {
            let fits = patient_line(serde_json::json!({ field: "a".repeat(max) }));
            assert!(parse_patient(fits.as_bytes()).is_ok(), "{field} at {max}");
            let over = patient_line(serde_json::json!({ field: "a".repeat(max + 1) }));
            assert_eq!(
                parse_patient(over.as_bytes()).unwrap_err().field,
                Some(field)
            );
        }
        // Bytes, as Redshift's VARCHAR counts: 129 two-byte characters are 258 bytes.
        let wide = test_line(serde_json::json!({"city": "é".repeat(129)}));
        assert_eq!(parse_test(wide.as_bytes()).unwrap_err().field, Some("city"));
    }

    #[test]
    fn a_nul_character_in_a_string_is_malformed_other_characters_are_not() {
        let nul = test_line(serde_json::json!({"doc_name": "Dr.\u{0}Grey"}));
        assert_eq!(
            test_error(&nul),
            "field `doc_name`: holds a NUL character (U+0000)"
        );
        let nul = patient_line(serde_json::json!({"address": "1\u{0}Main"}));
        assert_eq!(
            parse_patient(nul.as_bytes()).unwrap_err().field,
            Some("address")
        );
        let fine = test_line(serde_json::json!({"doc_name": "Dr.\u{1}\tGrey \u{1F9EA}"}));
        assert!(parse_test(fine.as_bytes()).is_ok());
    }

    #[test]
    fn a_line_over_the_limit_is_malformed_without_being_parsed() {
        let mut at_limit = test_line(serde_json::json!({}));
        at_limit.push_str(&" ".repeat(MAX_LINE_BYTES - at_limit.len()));
        assert_eq!(at_limit.len(), MAX_LINE_BYTES);
        assert!(parse_test(at_limit.as_bytes()).is_ok());
        let over = format!("{at_limit} ");
        let e = parse_test(over.as_bytes()).unwrap_err();
        assert_eq!(e.field, None);
        assert_eq!(
            e.reason,
            "line of 1048577 bytes is longer than the 1 MiB limit (1048576 bytes); not parsed"
        );
        assert_eq!(parse_patient(over.as_bytes()).unwrap_err(), e);
    }

    #[test]
    fn invalid_utf8_is_malformed_and_its_raw_text_is_lossy() {
        let line = test_line(serde_json::json!({})).replace("Lyon", "Ly#n");
        let bad: Vec<u8> = line
            .bytes()
            .map(|b| if b == b'#' { 0xFF } else { b })
            .collect();
        let e = parse_test(&bad).unwrap_err();
        assert_eq!(e.field, None);
        assert!(e.reason.starts_with("not valid JSON"), "{e}");
        assert!(raw_text(&bad).contains("Ly\u{FFFD}n"));
    }

    #[test]
    fn raw_text_keeps_the_first_characters_of_a_long_line() {
        assert_eq!(raw_text(b"abc"), "abc");
        let long = "é".repeat(3 * MAX_RAW_CHARS);
        assert_eq!(raw_text(long.as_bytes()), "é".repeat(MAX_RAW_CHARS));
        let huge = vec![b'x'; 10 << 20];
        assert_eq!(raw_text(&huge).len(), MAX_RAW_CHARS);
        let astral = "😀".repeat(2 * MAX_RAW_CHARS);
        assert_eq!(raw_text(astral.as_bytes()), "😀".repeat(MAX_RAW_CHARS));
    }
}

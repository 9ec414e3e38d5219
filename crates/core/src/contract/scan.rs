//! The fast path of the contract's parser: one pass over a line that holds
//! exactly one JSON object with each of the record's members once, in any
//! order, with JSON whitespace anywhere between tokens, strings without
//! escapes and integers without fraction or exponent: the way the generator
//! writes every line.
//!
//! Anything else (an escape, a member that is not the record's, a member
//! given twice or missing, a `null`, a float or `-0` where an integer goes, an
//! integer out of its range, a timestamp that does not parse, trailing
//! text) makes it answer `None`, and the line takes the full parser
//! (`serde_json`), which either reads it or says what is wrong. So this path
//! decides only how fast a line is read, never what it reads: where it
//! answers, the record equals the full parser's (the tests below compare
//! the two on thousands of altered lines).

use std::borrow::Cow;

use super::{parse_timestamp, Field, Kind, PatientRecord, TestRecord, PATIENT_FIELDS, TEST_FIELDS};

/// A `log_data` line read on the fast path, or `None` for the full parser.
pub(super) fn test(line: &[u8]) -> Option<TestRecord<'_>> {
    let [test_id, patient_id, doc_id, doc_name, clinic, lab_id, lab_name, city, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio] =
        members(line, TEST_FIELDS)?;
    Some(TestRecord {
        test_id: Cow::Borrowed(test_id),
        patient_id: patient_id.parse().ok()?,
        doc_id: doc_id.parse().ok()?,
        doc_name: Cow::Borrowed(doc_name),
        clinic: Cow::Borrowed(clinic),
        lab_id: lab_id.parse().ok()?,
        lab_name: Cow::Borrowed(lab_name),
        city: Cow::Borrowed(city),
        ts: parse_timestamp(ts).ok()?,
        ap_hi: ap_hi.parse().ok()?,
        ap_lo: ap_lo.parse().ok()?,
        cholesterol: cholesterol.parse().ok()?,
        gluc: gluc.parse().ok()?,
        smoke: smoke.parse().ok()?,
        alco: alco.parse().ok()?,
        active: active.parse().ok()?,
        cardio: cardio.parse().ok()?,
    })
}

/// A `patient_data` line read on the fast path, or `None` for the full parser.
pub(super) fn patient(line: &[u8]) -> Option<PatientRecord<'_>> {
    let [patient_id, first_name, last_name, sex, age, height, weight, address, registered_at] =
        members(line, PATIENT_FIELDS)?;
    Some(PatientRecord {
        patient_id: patient_id.parse().ok()?,
        first_name: Cow::Borrowed(first_name),
        last_name: Cow::Borrowed(last_name),
        sex: Cow::Borrowed(sex),
        age: age.parse().ok()?,
        height: height.parse().ok()?,
        // serde_json's own number parser, so the value is the full parser's
        // to the last bit.
        weight: serde_json::from_str(weight).ok()?,
        address: Cow::Borrowed(address),
        registered_at: parse_timestamp(registered_at).ok()?,
    })
}

/// Each field's raw value, in the order of `fields`: a string's text
/// between its quotes, a number's text.
fn members<'a, const N: usize>(line: &'a [u8], fields: &[Field; N]) -> Option<[&'a str; N]> {
    let text = std::str::from_utf8(line).ok()?;
    let mut at = Cursor { text, i: 0 };
    let mut values = [""; N];
    let mut seen = 0u64;
    let mut next = 0;
    at.eat(b'{')?;
    loop {
        let name = at.string()?;
        // The generator writes the members in the contract's order: try the
        // field after the last one first.
        let index = if fields.get(next).is_some_and(|f| f.name == name) {
            next
        } else {
            fields.iter().position(|f| f.name == name)?
        };
        if seen & (1 << index) != 0 {
            return None;
        }
        seen |= 1 << index;
        next = index + 1;
        at.eat(b':')?;
        values[index] = match fields[index].kind {
            Kind::Text(_) | Kind::Timestamp => at.string()?,
            Kind::Int32 | Kind::Int64 => at.integer()?,
            Kind::Number => at.number()?,
        };
        at.skip_whitespace();
        match at.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    at.skip_whitespace();
    (at.i == line.len() && seen.count_ones() as usize == N).then_some(values)
}

/// A position in a line (UTF-8 already checked, once for the line).
struct Cursor<'a> {
    text: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The text from `start` to here; every token ends on an ASCII byte,
    /// so on a character boundary.
    fn from(&self, start: usize) -> &'a str {
        &self.text[start..self.i]
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The next token is `b`.
    fn eat(&mut self, b: u8) -> Option<()> {
        self.skip_whitespace();
        (self.next()? == b).then_some(())
    }

    /// A string without escapes or control characters: its text.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = &self.bytes()[start..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// An integer as JSON writes one (`-?(0|[1-9][0-9]*)`), not `-0`, not
    /// followed by a fraction or an exponent: its text.
    fn integer(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let digits = self.i;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
        let leading_zero = self.bytes().get(digits) == Some(&b'0');
        let count = self.i - digits;
        if count == 0 || (leading_zero && (count > 1 || negative)) {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(self.from(start))
    }

    /// A number's text; its grammar is left to the number parser.
    fn number(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.i;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.i += 1;
        }
        (self.i > start).then(|| self.from(start))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{full_patient, full_test};
    use super::*;

    const TEST: &str = r#"{"test_id":"bt-00856033","patient_id":339624,"doc_id":14,"doc_name":"Dr Anjali Ellis","clinic":"OVŌM Care Shoreditch","lab_id":24,"lab_name":"Kestrel Diagnostics","city":"Edinburgh","ts":"2025-03-23T09:00:00Z","ap_hi":121,"ap_lo":80,"cholesterol":1,"gluc":2,"smoke":6,"alco":3,"active":5,"cardio":4}"#;
    const PATIENT: &str = r#"{"patient_id":339624,"first_name":"Ada","last_name":"Lovelace","sex":"F","age":45,"height":165,"weight":70.25,"address":"1 Main Street, Springfield","registered_at":"2025-03-14T08:00:00+01:00"}"#;

    /// Where the fast path reads a line, the full parser reads the same
    /// record; returns whether the fast path read it. (Every integer of the
    /// two lines is distinct, so a field read into another's place shows.)
    fn agrees(line: &[u8]) -> bool {
        let read_test = same(line, test(line), full_test);
        let read_patient = same(line, patient(line), full_patient);
        read_test || read_patient
    }

    /// One record type's two paths on `line`: whether the fast one read it.
    fn same<'a, R: PartialEq + std::fmt::Debug>(
        line: &'a [u8],
        fast: Option<R>,
        full: fn(&'a [u8]) -> Result<R, crate::contract::LineError>,
    ) -> bool {
        if let Some(record) = &fast {
            let lossy = String::from_utf8_lossy(line);
            assert_eq!(Ok(record), full(line).as_ref(), "{lossy}");
        }
        fast.is_some()
    }

    #[test]
    fn the_generators_lines_take_the_fast_path_and_read_as_the_full_parser_reads_them() {
        for line in [TEST, PATIENT] {
            assert!(agrees(line.as_bytes()), "{line}");
        }
        let spaced = TEST.replace("\":", "\" :\t").replace(",\"", " , \"");
        assert!(agrees(format!(" {spaced}\r ").as_bytes()));
        // Any member order.
        let reordered = r#"{"cardio":0,"ts":"2025-01-01T00:00:00Z","test_id":"t","patient_id":1,"doc_id":2,"doc_name":"d","clinic":"c","lab_id":3,"lab_name":"l","city":"x","ap_hi":-5,"ap_lo":0,"cholesterol":1,"gluc":1,"smoke":0,"alco":0,"active":1}"#;
        assert!(agrees(reordered.as_bytes()));
    }

    #[test]
    fn what_the_fast_path_does_not_read_goes_to_the_full_parser() {
        let cases = [
            TEST.replace("Dr Anjali", r"Dr \u0041njali"), // an escape
            TEST.replace(r#""cardio":4"#, r#""cardio":4,"x":1"#), // an unknown member
            TEST.replace(r#""cardio":4"#, r#""cardio":4,"gluc":2"#), // a member twice
            TEST.replace(r#","cardio":4"#, ""),           // a member missing
            TEST.replace(r#""gluc":2"#, r#""gluc":-0"#),
            TEST.replace(r#""gluc":2"#, r#""gluc":2.0"#),
            TEST.replace(r#""gluc":2"#, r#""gluc":2e0"#),
            TEST.replace(r#""gluc":2"#, r#""gluc":02"#),
            TEST.replace(r#""gluc":2"#, r#""gluc":3000000000"#),
            TEST.replace(r#""gluc":2"#, r#""gluc":null"#),
            TEST.replace("T09:00:00Z", "T09:00"),
            format!("{TEST}{{}}"),
            format!("[{TEST}]"),
        ];
        for line in cases {
            assert!(test(line.as_bytes()).is_none(), "{line}");
            agrees(line.as_bytes());
        }
        assert!(patient(PATIENT.replace("70.25", "70.2.5").as_bytes()).is_none());
    }

    /// Every line one edit away from a valid one (a byte deleted, replaced
    /// or inserted, with bytes that matter to JSON): the fast path reads it
    /// as the full parser does, or leaves it to the full parser.
    #[test]
    fn lines_one_edit_from_valid_read_the_same_on_both_paths() {
        let bytes: &[&[u8]] = &[
            b"\"",
            b"\\",
            b",",
            b":",
            b"{",
            b"}",
            b"[",
            b"0",
            b"9",
            b"-",
            b"+",
            b".",
            b"e",
            b" ",
            b"\t",
            b"\x01",
            b"\0",
            b"n",
            b"\xC3\xA9",
            b"\xFF",
        ];
        let mut fast = 0;
        let mut lines = 0;
        for line in [TEST.as_bytes(), PATIENT.as_bytes()] {
            for at in 0..=line.len() {
                let mut edits = vec![];
                if at < line.len() {
                    edits.push([&line[..at], &line[at + 1..]].concat());
                }
                for b in bytes {
                    edits.push([&line[..at], b, &line[at..]].concat());
                    if at < line.len() {
                        edits.push([&line[..at], b, &line[at + 1..]].concat());
                    }
                }
                for edit in edits {
                    lines += 1;
                    fast += usize::from(agrees(&edit));
                }
            }
        }
        // Many edits leave a valid line (a digit for a digit, a space between
        // tokens, a character in a name): the fast path must take a share of them.
        assert!(
            lines > 10_000 && fast > 1_000,
            "{fast} of {lines} on the fast path"
        );
    }
}

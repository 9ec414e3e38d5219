//! The bad-input matrix: one table of cases, each a few hand-written files
//! run through the whole local pipeline (the state machine, day by day, or
//! `ovom run`), then checked line by line — the table each line ended in, the
//! reason or field it was given — and reconciled from the tables, per day and
//! in total: every line read is loaded, rejected, a duplicate or quarantined
//! (log_data), staged or quarantined (patient_data).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ovom_core::contract::MAX_LINE_BYTES;
use ovom_local::pipeline::{Pipeline, RunOptions};
use serde_json::json;

use crate::support::*;

const D1: &str = "2025-03-14";
const D2: &str = "2025-03-15";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where one line of input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// In `fact_bloodtest`.
    Loaded,
    /// In `rejects`, with this reason.
    Rejected(&'static str),
    /// In `duplicates`, of this kind.
    Duplicate(&'static str),
    /// In `pending_tests`: waiting for its patient's first record.
    Pending,
    /// A patient line in `staging_patient`.
    Staged,
    /// In `quarantine`, its error holding this text.
    Quarantined(&'static str),
    /// Nowhere: its day failed before the line was staged.
    Unstaged,
}
use Fate::*;

/// How a case is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `Pipeline::run_day` on an in-memory warehouse, every day in order.
    StateMachine,
    /// `ovom run` on a warehouse file.
    Cli,
}

/// The day that fails, and how.
struct Failure {
    day: &'static str,
    state: &'static str,
    error: &'static str,
    /// Text the failure's cause holds.
    cause: String,
}

struct Case {
    name: &'static str,
    /// The files of the data root, path → bytes; a path ending in `/` is an
    /// empty folder.
    files: Vec<(String, Vec<u8>)>,
    /// Days run besides the days the data has files for.
    days: &'static [&'static str],
    strict: bool,
    via: Via,
    /// Every line of every file, `(file, line number, fate)`.
    lines: Vec<(String, u64, Fate)>,
    /// `None`: every day succeeds.
    fails: Option<Failure>,
    /// Further checks of the warehouse.
    check: Option<fn(&Pipeline)>,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            name: "",
            files: vec![],
            days: &[],
            strict: false,
            via: Via::StateMachine,
            lines: vec![],
            fails: None,
            check: None,
        }
    }
}

// -- Building cases --------------------------------------------------------

fn pf(day: &str, part: u32) -> String {
    format!("patient_data/{}/part-{part:05}.json", folder(day))
}

fn lf(day: &str, part: u32) -> String {
    format!("log_data/{}/part-{part:05}.json", folder(day))
}

/// Lines, each ended by `\n`.
fn text(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect()
}

/// A valid test of patient `pid` on `day`.
fn ok(id: &str, pid: i64, day: &str) -> String {
    test(id, pid, day, json!({}))
}

/// A record without one of its fields.
fn without(line: &str, field: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    v.as_object_mut().unwrap().remove(field).expect("the field");
    v.to_string()
}

/// A patient file of valid records, registered on `day`.
fn patients(day: &str, ids: &[i64]) -> (String, Vec<u8>) {
    let lines: Vec<String> = ids.iter().map(|&id| patient(id, day)).collect();
    (pf(day, 0), text(&lines))
}

/// The fates of a file's lines, numbered from 1.
fn expect(file: &str, fates: &[Fate]) -> Vec<(String, u64, Fate)> {
    fates
        .iter()
        .enumerate()
        .map(|(i, f)| (file.to_owned(), i as u64 + 1, *f))
        .collect()
}

/// The case whose files are one day's patients 1 and 2 and one log file.
fn one_day(name: &'static str, log: Vec<u8>, fates: &[Fate]) -> Case {
    Case {
        name,
        files: vec![patients(D1, &[1, 2]), (lf(D1, 0), log)],
        lines: [
            expect(&pf(D1, 0), &[Staged, Staged]),
            expect(&lf(D1, 0), fates),
        ]
        .concat(),
        ..Case::default()
    }
}

fn cases() -> Vec<Case> {
    let cut = |line: String, n: usize| line[..n].to_owned();
    vec![
        // 1
        one_day(
            "truncated_line",
            text(&[
                ok("bt-1", 1, D1),
                cut(ok("bt-2", 1, D1), 60),
                ok("bt-3", 2, D1),
            ]),
            &[Loaded, Quarantined("truncated JSON"), Loaded],
        ),
        // 2
        one_day(
            "wrong_type",
            text(&[
                test("bt-1", 1, D1, json!({"ap_hi": "120"})),
                test("bt-2", 1, D1, json!({"ap_lo": 80.5})),
                test("bt-3", 1, D1, json!({"city": 75001})),
                ok("bt-4", 1, D1),
            ]),
            &[
                Quarantined("field `ap_hi`: expected an integer, found \"120\""),
                Quarantined("field `ap_lo`: expected an integer, found 80.5"),
                Quarantined("field `city`: expected a string, found 75001"),
                Loaded,
            ],
        ),
        // 3
        one_day(
            "missing_field",
            text(&[
                without(&ok("bt-1", 1, D1), "ap_lo"),
                without(&ok("bt-2", 1, D1), "test_id"),
                without(&ok("bt-3", 1, D1), "ts"),
                ok("bt-4", 1, D1),
            ]),
            &[
                Quarantined("field `ap_lo`: missing"),
                Quarantined("field `test_id`: missing"),
                Quarantined("field `ts`: missing"),
                Loaded,
            ],
        ),
        // 4
        Case {
            check: Some(|p| {
                assert_eq!(
                    rows(p, "SELECT test_id, ap_hi, ap_lo FROM fact_bloodtest"),
                    vec![vec!["bt-1".to_owned(), "120".into(), "80".into()]]
                );
            }),
            ..one_day(
                "extra_unknown_field",
                text(&[test(
                    "bt-1",
                    1,
                    D1,
                    json!({"nurse": "Jo", "notes": {"fasting": true, "tubes": [1, 2]}, "ap_hi2": "x"}),
                )]),
                &[Loaded],
            )
        },
        // 5
        one_day(
            "null_value",
            text(&[
                test("bt-1", 1, D1, json!({"cardio": null})),
                test("bt-2", 1, D1, json!({"city": null})),
                test("bt-3", 1, D1, json!({"ts": null})),
                test("bt-4", 1, D1, json!({"test_id": null})),
                ok("bt-5", 1, D1),
            ]),
            &[
                Quarantined("field `cardio`: expected an integer, found null"),
                Quarantined("field `city`: expected a string, found null"),
                Quarantined("field `ts`: expected an RFC 3339 timestamp string, found null"),
                Quarantined("field `test_id`: expected a string, found null"),
                Loaded,
            ],
        ),
        // 6
        one_day(
            "json_array_line",
            text(&[
                "[1,2,3]".to_owned(),
                format!("[{}]", ok("bt-2", 1, D1)),
                ok("bt-3", 1, D1),
            ]),
            &[
                Quarantined("expected a JSON object, found an array"),
                Quarantined("expected a JSON object, found an array"),
                Loaded,
            ],
        ),
        // 7
        one_day(
            "bare_scalar_line",
            text(&[
                "42".to_owned(),
                "\"bt-2\"".to_owned(),
                "null".to_owned(),
                "true".to_owned(),
                ok("bt-5", 1, D1),
            ]),
            &[
                Quarantined("expected a JSON object, found a number"),
                Quarantined("expected a JSON object, found a string"),
                Quarantined("expected a JSON object, found null"),
                Quarantined("expected a JSON object, found a boolean"),
                Loaded,
            ],
        ),
        // 8
        Case {
            check: Some(|p| {
                assert_eq!(
                    rows(
                        p,
                        "SELECT source, files, lines_read FROM stage_audit ORDER BY source"
                    ),
                    vec![
                        vec!["log_data".to_owned(), "1".into(), "0".into()],
                        vec!["patient_data".to_owned(), "1".into(), "2".into()],
                    ]
                );
            }),
            ..one_day("empty_file", vec![], &[])
        },
        // 9
        Case {
            name: "empty_day_folder",
            files: vec![
                (format!("patient_data/{}/", folder(D1)), vec![]),
                (format!("log_data/{}/", folder(D1)), vec![]),
            ],
            days: &[D1],
            check: Some(|p| {
                assert_eq!(
                    rows(p, "SELECT CAST(logical_date AS VARCHAR), source, files, lines_read FROM stage_audit ORDER BY source"),
                    vec![
                        vec![D1.to_owned(), "log_data".into(), "0".into(), "0".into()],
                        vec![D1.to_owned(), "patient_data".into(), "0".into(), "0".into()],
                    ]
                );
                assert_eq!(
                    rows(p, "SELECT status FROM executions"),
                    vec![vec!["SUCCEEDED".to_owned()]]
                );
            }),
            ..Case::default()
        },
        Case {
            name: "day_folder_with_only_empty_files",
            files: vec![(pf(D1, 0), vec![]), (lf(D1, 0), vec![])],
            check: Some(|p| {
                assert_eq!(
                    rows(
                        p,
                        "SELECT source, files, lines_read FROM stage_audit ORDER BY source"
                    ),
                    vec![
                        vec!["log_data".to_owned(), "1".into(), "0".into()],
                        vec!["patient_data".to_owned(), "1".into(), "0".into()],
                    ]
                );
                assert_eq!(
                    rows(p, "SELECT status FROM executions"),
                    vec![vec!["SUCCEEDED".to_owned()]]
                );
            }),
            ..Case::default()
        },
        // 10
        Case {
            name: "utf8_bom",
            files: vec![
                (pf(D1, 0), [BOM, &text(&[patient(1, D1)])].concat()),
                (
                    lf(D1, 0),
                    [
                        BOM,
                        &text(&[ok("bt-1", 1, D1), ok("bt-2", 1, D1)]),
                        // A second BOM, as `cat` of two exported files leaves
                        // it, is not at the start of the file: not JSON.
                        BOM,
                        &text(&[ok("bt-3", 1, D1)]),
                    ]
                    .concat(),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(
                    &lf(D1, 0),
                    &[
                        Loaded,
                        Loaded,
                        Quarantined("not valid JSON (expected value"),
                    ],
                ),
            ]
            .concat(),
            ..Case::default()
        },
        // 11
        Case {
            name: "crlf_line_ends",
            files: vec![
                (
                    pf(D1, 0),
                    format!("{}\r\n{}\r\n", patient(1, D1), patient(2, D1)).into_bytes(),
                ),
                (
                    lf(D1, 0),
                    // The last line without an end.
                    format!(
                        "{}\r\n{}\n{}",
                        ok("bt-1", 1, D1),
                        ok("bt-2", 2, D1),
                        ok("bt-3", 1, D1)
                    )
                    .into_bytes(),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged, Staged]),
                expect(&lf(D1, 0), &[Loaded, Loaded, Loaded]),
            ]
            .concat(),
            check: Some(|p| {
                assert_eq!(
                    scalar(p, "SELECT COUNT(*) FROM dim_lab WHERE city = 'Lyon'"),
                    1,
                    "no \\r left in the last field"
                );
            }),
            ..Case::default()
        },
        // 12
        Case {
            check: Some(|p| {
                let raw = rows(p, "SELECT raw FROM quarantine");
                assert!(
                    raw[0][0].contains("\"doc_name\":\"Dr. Gr\u{FFFD}\u{FFFD}y\""),
                    "{raw:?}"
                );
            }),
            ..one_day(
                "invalid_utf8",
                [
                    text(&[ok("bt-1", 1, D1)]),
                    ok("bt-2", 1, D1)
                        .replace("Grey", "Gr##y")
                        .into_bytes()
                        .iter()
                        .map(|&b| if b == b'#' { 0xC3 } else { b })
                        .collect(),
                    b"\n".to_vec(),
                    text(&[ok("bt-3", 1, D1)]),
                ]
                .concat(),
                &[Loaded, Quarantined("not valid JSON"), Loaded],
            )
        },
        // 13
        Case {
            check: Some(|p| {
                let raw = rows(p, "SELECT length(raw), error FROM quarantine");
                assert_eq!(
                    raw[0][0], "4096",
                    "raw text is cut to its first 4096 characters"
                );
                assert!(raw[0][1].contains("not parsed"), "{raw:?}");
            }),
            ..one_day(
                "ten_megabyte_line",
                text(&[
                    ok("bt-1", 1, D1),
                    test("bt-2", 1, D1, json!({"notes": "x".repeat(10 << 20)})),
                    ok("bt-3", 1, D1),
                ]),
                &[
                    Loaded,
                    Quarantined("longer than the 1 MiB limit (1048576 bytes)"),
                    Loaded,
                ],
            )
        },
        Case {
            name: "line_just_within_the_limit",
            files: vec![
                patients(D1, &[1]),
                (lf(D1, 0), {
                    let line = ok("bt-1", 1, D1);
                    let pad = MAX_LINE_BYTES - line.len();
                    // Whitespace inside the object: the line is exactly 1 MiB.
                    let mut text = format!("{{{}{}\n", " ".repeat(pad), &line[1..]);
                    text.push_str(&format!("{{{}{}\n", " ".repeat(pad + 1), &line[1..]));
                    text.into_bytes()
                }),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(
                    &lf(D1, 0),
                    &[
                        Loaded,
                        Quarantined("line of 1048577 bytes is longer than the 1 MiB limit"),
                    ],
                ),
            ]
            .concat(),
            ..Case::default()
        },
        Case {
            name: "string_longer_than_its_column",
            files: vec![
                (
                    pf(D1, 0),
                    text(&[
                        patient(1, D1),
                        patient(2, D1)
                            .replace("1 Main Street, Springfield, 12345", &"a".repeat(1025)),
                        patient(3, D1).replace("\"Ada\"", &format!("\"{}\"", "é".repeat(128))),
                        patient(4, D1).replace("\"Ada\"", &format!("\"{}\"", "é".repeat(129))),
                        patient(5, D1).replace("\"F\"", "\"FF\""),
                    ]),
                ),
                (
                    lf(D1, 0),
                    text(&[
                        test("bt-1", 1, D1, json!({"city": "c".repeat(257)})),
                        test(
                            "bt-2",
                            1,
                            D1,
                            json!({"doc_name": "d".repeat(256), "clinic": "k".repeat(256), "lab_name": "l".repeat(256), "city": "c".repeat(256)}),
                        ),
                        test(&"t".repeat(65), 1, D1, json!({})),
                        test(&"t".repeat(64), 1, D1, json!({})),
                        test("bt-5", 1, D1, json!({"lab_name": "l".repeat(300)})),
                        test("bt-6", 1, D1, json!({"clinic": "k".repeat(257)})),
                        test("bt-7", 1, D1, json!({"doc_name": "d".repeat(257)})),
                        test("bt-8", 2, D1, json!({})),
                        test("bt-9", 3, D1, json!({})),
                    ]),
                ),
            ],
            lines: [
                expect(
                    &pf(D1, 0),
                    &[
                        Staged,
                        Quarantined(
                            "field `address`: 1025 bytes, longer than its column's 1024 bytes",
                        ),
                        Staged,
                        Quarantined(
                            "field `first_name`: 258 bytes, longer than its column's 256 bytes",
                        ),
                        Quarantined("field `sex`: \"FF\" is not \"F\" or \"M\""),
                    ],
                ),
                expect(
                    &lf(D1, 0),
                    &[
                        Quarantined("field `city`: 257 bytes, longer than its column's 256 bytes"),
                        Loaded,
                        Quarantined("field `test_id`: 65 bytes, longer than its column's 64 bytes"),
                        Loaded,
                        Quarantined("field `lab_name`: 300 bytes"),
                        Quarantined("field `clinic`: 257 bytes"),
                        Quarantined("field `doc_name`: 257 bytes"),
                        Pending,
                        Loaded,
                    ],
                ),
            ]
            .concat(),
            ..Case::default()
        },
        // 14
        Case {
            check: Some(|p| {
                assert_eq!(
                    rows(
                        p,
                        "SELECT ap_hi, line_no FROM fact_bloodtest WHERE test_id = 'bt-1'"
                    ),
                    vec![vec!["120".to_owned(), "1".into()]]
                );
            }),
            ..one_day(
                "same_test_id_twice_in_a_file",
                text(&[
                    ok("bt-1", 1, D1),
                    test("bt-1", 1, D1, json!({"ap_hi": 130})),
                    ok("bt-2", 1, D1),
                ]),
                &[Loaded, Duplicate("same_day"), Loaded],
            )
        },
        // 15
        Case {
            name: "same_test_id_in_two_files_of_a_day",
            files: vec![
                patients(D1, &[1]),
                (lf(D1, 0), text(&[ok("bt-1", 1, D1), ok("bt-2", 1, D1)])),
                // The second delivery of bt-2 breaks a rule: a duplicate
                // all the same, since dedup comes first.
                (
                    lf(D1, 1),
                    text(&[test("bt-2", 1, D1, json!({"ap_hi": 20})), ok("bt-1", 1, D1)]),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(&lf(D1, 0), &[Loaded, Loaded]),
                expect(&lf(D1, 1), &[Duplicate("same_day"), Duplicate("same_day")]),
            ]
            .concat(),
            ..Case::default()
        },
        // 16
        Case {
            name: "same_test_id_on_a_later_day",
            files: vec![
                patients(D1, &[1]),
                (
                    lf(D1, 0),
                    text(&[ok("bt-1", 1, D1), test("bt-2", 1, D1, json!({"ap_hi": 20}))]),
                ),
                (
                    lf(D2, 0),
                    text(&[
                        test("bt-1", 1, D1, json!({"ap_hi": 130})),
                        ok("bt-2", 1, D1),
                        ok("bt-3", 1, D2),
                    ]),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(&lf(D1, 0), &[Loaded, Rejected("implausible_pressure")]),
                expect(
                    &lf(D2, 0),
                    &[Duplicate("other_day"), Duplicate("other_day"), Loaded],
                ),
            ]
            .concat(),
            check: Some(|p| {
                assert_eq!(
                    rows(p, "SELECT test_id, CAST(logical_date AS VARCHAR), ap_hi, line_no FROM fact_bloodtest ORDER BY test_id"),
                    vec![
                        vec!["bt-1".to_owned(), D1.into(), "120".into(), "1".into()],
                        vec!["bt-3".to_owned(), D2.into(), "120".into(), "3".into()],
                    ]
                );
                assert_eq!(
                    rows(
                        p,
                        "SELECT test_id, CAST(logical_date AS VARCHAR), ap_hi FROM rejects"
                    ),
                    vec![vec!["bt-2".to_owned(), D1.into(), "20".into()]]
                );
            }),
            ..Case::default()
        },
        // 17
        Case {
            name: "patient_update_on_a_later_day",
            files: vec![
                (
                    pf(D1, 0),
                    text(&[patient_at(1, &format!("{D1}T08:00:00Z"), 70.0)]),
                ),
                (
                    pf(D2, 0),
                    text(&[patient_at(1, &format!("{D2}T09:30:00Z"), 64.5)]),
                ),
                (lf(D1, 0), text(&[ok("bt-1", 1, D1)])),
                (lf(D2, 0), text(&[ok("bt-2", 1, D2)])),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(&pf(D2, 0), &[Staged]),
                expect(&lf(D1, 0), &[Loaded]),
                expect(&lf(D2, 0), &[Loaded]),
            ]
            .concat(),
            check: Some(|p| {
                assert_eq!(
                    rows(
                        p,
                        "SELECT patient_id, weight, registered_at, first_seen_on FROM dim_patient"
                    ),
                    vec![vec![
                        "1".to_owned(),
                        "64.5".into(),
                        format!("{D2}T09:30:00Z"),
                        D1.into()
                    ]]
                );
            }),
            ..Case::default()
        },
        // 18
        one_day(
            "unknown_patient",
            text(&[ok("bt-1", 99, D1), ok("bt-2", 1, D1)]),
            &[Pending, Loaded],
        ),
        // 19
        Case {
            name: "ts_outside_its_folders_day",
            files: vec![
                patients(D1, &[1]),
                (
                    lf(D2, 0),
                    text(&[
                        // Taken the day before its delivery.
                        ok("bt-1", 1, D1),
                        // Taken weeks before.
                        ok("bt-2", 1, "2025-02-01"),
                        // 00:30 on the 16th at UTC+2 is the 15th in UTC.
                        test("bt-3", 1, D2, json!({"ts": "2025-03-16T00:30:00+02:00"})),
                    ]),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(&lf(D2, 0), &[Loaded, Loaded, Loaded]),
            ]
            .concat(),
            check: Some(|p| {
                assert_eq!(
                    rows(p, "SELECT test_id, CAST(logical_date AS VARCHAR), date_key, ts FROM fact_bloodtest ORDER BY test_id"),
                    vec![
                        vec!["bt-1".to_owned(), D2.into(), "20250314".into(), format!("{D1}T10:00:00Z")],
                        vec!["bt-2".to_owned(), D2.into(), "20250201".into(), "2025-02-01T10:00:00Z".into()],
                        vec!["bt-3".to_owned(), D2.into(), "20250315".into(), "2025-03-15T22:30:00Z".into()],
                    ]
                );
                assert_eq!(
                    rows(p, "SELECT date_key FROM dim_date ORDER BY date_key"),
                    vec![
                        vec!["20250201".to_owned()],
                        vec!["20250314".into()],
                        vec!["20250315".into()]
                    ]
                );
            }),
            ..Case::default()
        },
        // 20
        Case {
            name: "file_that_is_not_json",
            files: vec![
                patients(D1, &[1]),
                (lf(D1, 0), text(&[ok("bt-1", 1, D1)])),
                (
                    lf(D1, 1),
                    b"test_id,patient_id,ap_hi,ap_lo\nbt-2,1,120,80\n\"bt-3\",1,\"130, high\",85\n"
                        .to_vec(),
                ),
                (
                    lf(D1, 2),
                    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01\n\x00".to_vec(),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(&lf(D1, 0), &[Loaded]),
                expect(&lf(D1, 1), &[Quarantined("not valid JSON"); 3]),
                expect(&lf(D1, 2), &[Quarantined("not valid JSON"); 4]),
            ]
            .concat(),
            check: Some(|p| {
                let raw = rows(
                    p,
                    &format!(
                        "SELECT raw FROM quarantine WHERE source_file = '{}' ORDER BY line_no",
                        lf(D1, 2)
                    ),
                );
                assert_eq!(raw[0][0], "\u{FFFD}PNG");
                assert_eq!(raw[2][0], "\0\0\0\rIHDR\u{FFFD}\u{FFFD}\0\u{1}");
            }),
            ..Case::default()
        },
        // 21
        Case {
            name: "malformed_patient_line",
            files: vec![
                (pf(D1, 0), text(&[patient(3, D1)])),
                (
                    pf(D2, 0),
                    text(&[
                        patient(1, D2),
                        cut(patient(2, D2), 50),
                        patient(3, D2).replace("\"age\":45", "\"age\":\"45\""),
                        without(&patient(4, D2), "registered_at"),
                        patient(5, D2).replace("\"weight\":70.5", "\"weight\":null"),
                    ]),
                ),
                (
                    lf(D2, 0),
                    text(&[
                        ok("bt-1", 1, D2),
                        ok("bt-2", 2, D2),
                        ok("bt-3", 3, D2),
                        ok("bt-4", 4, D2),
                        ok("bt-5", 5, D2),
                    ]),
                ),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(
                    &pf(D2, 0),
                    &[
                        Staged,
                        Quarantined("truncated JSON"),
                        Quarantined("field `age`: expected an integer, found \"45\""),
                        Quarantined("field `registered_at`: missing"),
                        Quarantined("field `weight`: expected a number, found null"),
                    ],
                ),
                expect(
                    &lf(D2, 0),
                    &[
                        Loaded, Pending, // Patient 3 has a record of the day before.
                        Loaded, Pending, Pending,
                    ],
                ),
            ]
            .concat(),
            check: Some(|p| {
                assert_eq!(
                    rows(p, "SELECT patient_id, registered_at, first_seen_on FROM dim_patient ORDER BY patient_id"),
                    vec![
                        vec!["1".to_owned(), format!("{D2}T08:00:00Z"), D2.into()],
                        vec!["3".to_owned(), format!("{D1}T08:00:00Z"), D1.into()],
                    ]
                );
            }),
            ..Case::default()
        },
        // 22
        strict_case(
            "strict_fails_the_day_at_the_first_malformed_line",
            Via::StateMachine,
        ),
        strict_case("strict_via_the_cli", Via::Cli),
        Case {
            name: "strict_with_a_malformed_patient_line",
            strict: true,
            files: vec![
                (
                    pf(D1, 0),
                    text(&[patient(1, D1), "{\"patient_id\": 2,".to_owned()]),
                ),
                (lf(D1, 0), text(&[ok("bt-1", 1, D1)])),
            ],
            lines: [
                expect(&pf(D1, 0), &[Unstaged, Unstaged]),
                expect(&lf(D1, 0), &[Unstaged]),
            ]
            .concat(),
            fails: Some(Failure {
                day: D1,
                state: "StagePatients",
                error: "MalformedInput",
                cause: format!("malformed input in {} line 2: truncated JSON", pf(D1, 0)),
            }),
            ..Case::default()
        },
        // Beyond the list: what else an export can hold.
        one_day(
            "blank_lines",
            format!("{}\n\n   \n\t\n{}\n", ok("bt-1", 1, D1), ok("bt-2", 1, D1)).into_bytes(),
            &[
                Loaded,
                Quarantined("empty line"),
                Quarantined("empty line"),
                Quarantined("empty line"),
                Loaded,
            ],
        ),
        Case {
            name: "file_of_one_newline",
            files: vec![
                patients(D1, &[1]),
                (lf(D1, 0), b"\n".to_vec()),
                (lf(D1, 1), b"\r\n".to_vec()),
            ],
            lines: [
                expect(&pf(D1, 0), &[Staged]),
                expect(&lf(D1, 0), &[Quarantined("empty line")]),
                expect(&lf(D1, 1), &[Quarantined("empty line")]),
            ]
            .concat(),
            ..Case::default()
        },
        one_day(
            "field_given_twice",
            text(&[
                ok("bt-1", 1, D1).replace("\"ap_hi\":120", "\"ap_hi\":120,\"ap_hi\":320"),
                ok("bt-2", 1, D1),
            ]),
            &[Quarantined("field `ap_hi`: given more than once"), Loaded],
        ),
        one_day(
            "two_objects_on_one_line",
            text(&[
                format!("{}{}", ok("bt-1", 1, D1), ok("bt-2", 1, D1)),
                ok("bt-3", 1, D1),
            ]),
            &[Quarantined("not valid JSON (trailing characters"), Loaded],
        ),
        // JSON's -0 is an integer: 0. Another float is not, even a whole one.
        one_day(
            "negative_zero_integer",
            text(&[
                ok("bt-1", 1, D1).replace("\"smoke\":0", "\"smoke\":-0"),
                ok("bt-2", 2, D1).replace("\"cardio\":0", "\"cardio\":-0"),
                ok("bt-3", 1, D1).replace("\"alco\":0", "\"alco\":0.0"),
            ]),
            &[
                Loaded,
                Loaded,
                Quarantined("field `alco`: expected an integer, found 0.0"),
            ],
        ),
        one_day(
            "values_out_of_range_or_form",
            text(&[
                test("bt-1", 1, D1, json!({"ap_hi": 3_000_000_000_i64})),
                test("bt-2", 1, D1, json!({"patient_id": 1e3})),
                test("bt-3", 1, D1, json!({"ts": "2025-03-14 10:00:00"})),
                test("bt-4", 1, D1, json!({"ts": "2025-03-14T10:00:00"})),
                test("bt-5", 1, D1, json!({"test_id": ""})),
                ok("bt-6", 1, D1).replace("\"ap_lo\":80", "\"ap_lo\":1e999"),
                // Whitespace around the object is JSON's.
                format!("  {}\t", ok("bt-7", 1, D1)),
            ]),
            &[
                Quarantined("field `ap_hi`: 3000000000 is out of range"),
                Quarantined("field `patient_id`: expected an integer, found 1000.0"),
                Quarantined("field `ts`: \"2025-03-14 10:00:00\" is not an RFC 3339 timestamp"),
                Quarantined("field `ts`: \"2025-03-14T10:00:00\" is not an RFC 3339 timestamp"),
                Quarantined("field `test_id`: must not be empty"),
                Quarantined("not valid JSON (number out of range"),
                Loaded,
            ],
        ),
        Case {
            check: Some(|p| {
                assert_eq!(
                    rows(p, "SELECT doc_name, length(doc_name) FROM dim_doctor"),
                    vec![vec!["Dr. \u{1}\tGrey \u{1F9EA}".to_owned(), "12".into()]]
                );
            }),
            ..one_day(
                "nul_and_other_control_characters",
                text(&[
                    test(
                        "bt-1",
                        1,
                        D1,
                        json!({"doc_name": "Dr. \u{1}\tGrey \u{1F9EA}"}),
                    ),
                    test("bt-2", 1, D1, json!({"doc_name": "Dr. \u{0}Grey"})),
                    test("bt-3", 1, D1, json!({"test_id": "bt-\u{0}3"})),
                ]),
                &[
                    Loaded,
                    Quarantined("field `doc_name`: holds a NUL character (U+0000)"),
                    Quarantined("field `test_id`: holds a NUL character (U+0000)"),
                ],
            )
        },
        Case {
            via: Via::Cli,
            ..mixed_bag("mixed_bad_input_via_the_cli")
        },
        mixed_bag("mixed_bad_input"),
    ]
}

/// Strict: the day fails at its first malformed line (here in the second
/// file), and nothing of its blood tests is staged, loaded or quarantined.
fn strict_case(name: &'static str, via: Via) -> Case {
    Case {
        name,
        strict: true,
        via,
        files: vec![
            patients(D1, &[1]),
            (lf(D1, 0), text(&[ok("bt-1", 1, D1), ok("bt-2", 1, D1)])),
            (
                lf(D1, 1),
                text(&[
                    ok("bt-3", 1, D1),
                    "{\"test_id\":".to_owned(),
                    "[]".to_owned(),
                ]),
            ),
        ],
        lines: [
            expect(&pf(D1, 0), &[Staged]),
            expect(&lf(D1, 0), &[Unstaged, Unstaged]),
            expect(&lf(D1, 1), &[Unstaged, Unstaged, Unstaged]),
        ]
        .concat(),
        fails: Some(Failure {
            day: D1,
            state: "StageBloodTests",
            error: "MalformedInput",
            cause: format!("malformed input in {} line 2: truncated JSON", lf(D1, 1)),
        }),
        check: Some(|p| {
            for table in [
                "staging_bloodtest",
                "fact_bloodtest",
                "rejects",
                "duplicates",
                "quarantine",
            ] {
                assert_eq!(
                    scalar(
                        p,
                        &format!("SELECT COUNT(*) FROM {table} WHERE logical_date = DATE '{D1}'")
                    ),
                    0,
                    "{table}"
                );
            }
            assert_eq!(
                rows(p, "SELECT status, failed_state, error FROM executions"),
                vec![vec![
                    "FAILED".to_owned(),
                    "StageBloodTests".into(),
                    "MalformedInput".into()
                ]]
            );
        }),
        ..Case::default()
    }
}

/// Two days, several kinds of bad input at once.
fn mixed_bag(name: &'static str) -> Case {
    Case {
        name,
        files: vec![
            (pf(D1, 0), text(&[patient(1, D1), "{}".to_owned()])),
            (
                lf(D1, 0),
                [
                    BOM,
                    format!("{}\r\n", ok("bt-1", 1, D1)).as_bytes(),
                    b"not json\r\n",
                    &text(&[test("bt-3", 7, D1, json!({})), ok("bt-1", 1, D1)]),
                ]
                .concat(),
            ),
            (lf(D1, 1), vec![]),
            (pf(D2, 0), text(&[patient(7, D2)])),
            (
                lf(D2, 0),
                text(&[
                    ok("bt-1", 1, D2),
                    test("bt-4", 7, D2, json!({"gluc": null})),
                    test("bt-5", 7, D1, json!({"smoke": 2})),
                    ok("bt-6", 7, D2),
                ]),
            ),
        ],
        lines: [
            expect(
                &pf(D1, 0),
                &[Staged, Quarantined("field `patient_id`: missing")],
            ),
            expect(
                &lf(D1, 0),
                &[
                    Loaded,
                    Quarantined("not valid JSON"),
                    // Patient 7's first record comes the next day: it waits,
                    // then loads.
                    Loaded,
                    Duplicate("same_day"),
                ],
            ),
            expect(&pf(D2, 0), &[Staged]),
            expect(
                &lf(D2, 0),
                &[
                    Duplicate("other_day"),
                    Quarantined("field `gluc`: expected an integer, found null"),
                    Rejected("out_of_domain"),
                    Loaded,
                ],
            ),
        ]
        .concat(),
        ..Case::default()
    }
}

// -- Running a case ---------------------------------------------------------

/// One day's lines by where they ended, counted from the tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    log_read: i64,
    log_staged: i64,
    loaded: i64,
    rejected: i64,
    duplicates: i64,
    pending: i64,
    log_quarantined: i64,
    patient_read: i64,
    patient_staged: i64,
    patient_quarantined: i64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Self) {
        self.log_read += o.log_read;
        self.log_staged += o.log_staged;
        self.loaded += o.loaded;
        self.rejected += o.rejected;
        self.duplicates += o.duplicates;
        self.pending += o.pending;
        self.log_quarantined += o.log_quarantined;
        self.patient_read += o.patient_read;
        self.patient_staged += o.patient_staged;
        self.patient_quarantined += o.patient_quarantined;
    }
}

impl Tally {
    /// Every line read is accounted for: log_data lines read = loaded +
    /// rejected + duplicates + pending + quarantined (and = staged +
    /// quarantined);
    /// patient_data lines read = staged + quarantined.
    fn assert_reconciles(&self, what: &str) {
        assert_eq!(
            self.log_read,
            self.loaded + self.rejected + self.duplicates + self.pending + self.log_quarantined,
            "{what}: log_data lines read ≠ loaded + rejected + duplicates + pending + quarantined: {self:?}"
        );
        assert_eq!(
            self.log_read,
            self.log_staged + self.log_quarantined,
            "{what}: log_data lines read ≠ staged + quarantined: {self:?}"
        );
        assert_eq!(
            self.patient_read,
            self.patient_staged + self.patient_quarantined,
            "{what}: patient_data lines read ≠ staged + quarantined: {self:?}"
        );
    }
}

/// The reconciliation, from the tables (not from any task's report): each
/// day's tally, each checked, and their total, checked too.
fn reconcile(p: &Pipeline) -> BTreeMap<String, Tally> {
    let sql = "
        WITH days AS (
            SELECT logical_date FROM stage_audit
            UNION SELECT logical_date FROM staging_patient
            UNION SELECT logical_date FROM staging_bloodtest
            UNION SELECT logical_date FROM quarantine
            UNION SELECT logical_date FROM fact_bloodtest
            UNION SELECT logical_date FROM rejects
            UNION SELECT logical_date FROM duplicates
            UNION SELECT logical_date FROM pending_tests
        )
        SELECT
            CAST(d.logical_date AS VARCHAR),
            (SELECT COALESCE(SUM(lines_read), 0) FROM stage_audit a
              WHERE a.logical_date = d.logical_date AND a.source = 'log_data'),
            (SELECT COUNT(*) FROM staging_bloodtest s WHERE s.logical_date = d.logical_date),
            (SELECT COUNT(*) FROM fact_bloodtest f WHERE f.logical_date = d.logical_date),
            (SELECT COUNT(*) FROM rejects r WHERE r.logical_date = d.logical_date),
            (SELECT COUNT(*) FROM duplicates u WHERE u.logical_date = d.logical_date),
            (SELECT COUNT(*) FROM pending_tests w WHERE w.logical_date = d.logical_date),
            (SELECT COUNT(*) FROM quarantine q
              WHERE q.logical_date = d.logical_date AND q.source = 'log_data'),
            (SELECT COALESCE(SUM(lines_read), 0) FROM stage_audit a
              WHERE a.logical_date = d.logical_date AND a.source = 'patient_data'),
            (SELECT COUNT(*) FROM staging_patient s WHERE s.logical_date = d.logical_date),
            (SELECT COUNT(*) FROM quarantine q
              WHERE q.logical_date = d.logical_date AND q.source = 'patient_data')
        FROM days AS d
        ORDER BY 1";
    let mut out = BTreeMap::new();
    let mut total = Tally::default();
    for r in rows(p, sql) {
        let n = |i: usize| -> i64 { r[i].parse().unwrap() };
        let t = Tally {
            log_read: n(1),
            log_staged: n(2),
            loaded: n(3),
            rejected: n(4),
            duplicates: n(5),
            pending: n(6),
            log_quarantined: n(7),
            patient_read: n(8),
            patient_staged: n(9),
            patient_quarantined: n(10),
        };
        t.assert_reconciles(&r[0]);
        total += t;
        out.insert(r[0].clone(), t);
    }
    total.assert_reconciles("in total");
    out
}

/// Where every line of the warehouse ended: (file, line) → (day, table,
/// reason/kind/error).
fn line_outcomes(p: &Pipeline) -> BTreeMap<(String, u64), (String, String, String)> {
    let sql = "
        SELECT CAST(logical_date AS VARCHAR), source_file, line_no, 'loaded', '' FROM fact_bloodtest
        UNION ALL SELECT CAST(logical_date AS VARCHAR), source_file, line_no, 'rejected', reason FROM rejects
        UNION ALL SELECT CAST(logical_date AS VARCHAR), source_file, line_no, 'duplicate', kind FROM duplicates
        UNION ALL SELECT CAST(logical_date AS VARCHAR), source_file, line_no, 'pending', '' FROM pending_tests
        UNION ALL SELECT CAST(logical_date AS VARCHAR), source_file, line_no, 'quarantined', error FROM quarantine
        UNION ALL SELECT CAST(logical_date AS VARCHAR), source_file, line_no, 'staged', '' FROM staging_patient";
    let mut out = BTreeMap::new();
    for r in rows(p, sql) {
        let key = (r[1].clone(), r[2].parse().unwrap());
        let value = (r[0].clone(), r[3].clone(), r[4].clone());
        if let Some(earlier) = out.insert(key.clone(), value.clone()) {
            panic!("{key:?} is in two tables: {earlier:?} and {value:?}");
        }
    }
    out
}

/// The day a key's folder names.
fn day_of(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    format!("{}-{}-{}", parts[1], parts[2], parts[3])
}

fn write(data: &Data, files: &[(String, Vec<u8>)]) {
    for (path, bytes) in files {
        if path.ends_with('/') {
            std::fs::create_dir_all(data.path().join(path)).unwrap();
        } else {
            data.bytes(path, bytes);
        }
    }
}

/// The days the case runs: those with files, and its own.
fn days_of(case: &Case, p: &Pipeline) -> BTreeSet<String> {
    let mut days: BTreeSet<String> = p.days().unwrap().iter().map(|d| d.to_string()).collect();
    days.extend(case.days.iter().map(|d| (*d).to_owned()));
    days
}

/// Run the case's days in order with the state machine, each ending as the
/// case says.
fn by_state_machine(case: &Case, p: &Pipeline) {
    let opts = RunOptions {
        strict: case.strict,
        ..Default::default()
    };
    for d in days_of(case, p) {
        let r = p.run_day(day(&d), opts, &clock()).unwrap();
        match (&r.result, &case.fails) {
            (Ok(_), Some(f)) if f.day == d => panic!("{d} succeeded; expected it to fail"),
            (Ok(_), _) => {}
            (Err(e), Some(f)) if f.day == d => {
                assert_eq!(
                    (r.failed_state.as_deref(), e.error.as_str()),
                    (Some(f.state), f.error),
                    "{}",
                    e.cause
                );
                assert!(
                    e.cause.contains(&f.cause),
                    "`{}` lacks `{}`",
                    e.cause,
                    f.cause
                );
            }
            (Err(e), _) => panic!("{d} failed in {}: {}: {}", e.state, e.error, e.cause),
        }
    }
}

/// Run the case with `ovom run` on `warehouse`, ending as the case says.
fn by_cli(case: &Case, data: &Path, warehouse: &Path) {
    assert!(case.days.is_empty(), "`ovom run` runs the days with files");
    let (root, wh) = (data.to_str().unwrap(), warehouse.to_str().unwrap());
    let mut args = vec!["run", "--data", root, "--warehouse", wh];
    if case.strict {
        args.push("--strict");
    }
    let o = ovom_cmd(warehouse.parent().unwrap(), &args);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    match &case.fails {
        None => assert!(o.status.success(), "{out}\n{err}"),
        Some(f) => {
            assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
            let said = format!("for {} failed in state {}: {}: ", f.day, f.state, f.error);
            assert!(out.contains(&said), "`{out}` lacks `{said}`");
            assert!(out.contains(&f.cause), "`{out}` lacks `{}`", f.cause);
        }
    }
}

fn run_case(case: &Case) {
    let data = Data::new();
    write(&data, &case.files);
    match case.via {
        Via::StateMachine => {
            let p = pipeline(data.path());
            by_state_machine(case, &p);
            check_case(case, &p);
            // Running every day again changes nothing.
            let once = fingerprints(&p);
            by_state_machine(case, &p);
            assert_eq!(fingerprints(&p), once, "case `{}`: a second run", case.name);
        }
        Via::Cli => {
            let dir = tempfile::tempdir().unwrap();
            let warehouse = dir.path().join("ovom.duckdb");
            by_cli(case, data.path(), &warehouse);
            let p = Pipeline::open(&warehouse, data.path()).unwrap();
            check_case(case, &p);
            let once = fingerprints(&p);
            drop(p);
            by_cli(case, data.path(), &warehouse);
            let p = Pipeline::open(&warehouse, data.path()).unwrap();
            assert_eq!(fingerprints(&p), once, "case `{}`: a second run", case.name);
        }
    }
}

/// Every line where the case says, each day's tally reconciled and as the
/// case's lines make it, and the case's own checks.
fn check_case(case: &Case, p: &Pipeline) {
    let mut got = line_outcomes(p);
    let mut wrong = vec![];
    for (file, line, fate) in &case.lines {
        let key = (file.clone(), *line);
        let outcome = got.remove(&key);
        let matches = match (&outcome, fate) {
            (None, Unstaged) => true,
            (None, _) | (Some(_), Unstaged) => false,
            (Some((d, table, detail)), fate) => {
                *d == day_of(file)
                    && match fate {
                        Loaded => table == "loaded",
                        Staged => table == "staged",
                        Rejected(r) => table == "rejected" && detail == r,
                        Duplicate(k) => table == "duplicate" && detail == k,
                        Pending => table == "pending",
                        Quarantined(e) => table == "quarantined" && detail.contains(e),
                        Unstaged => unreachable!(),
                    }
            }
        };
        if !matches {
            wrong.push(format!(
                "{file} line {line}: expected {fate:?}, got {outcome:?}"
            ));
        }
    }
    for (key, outcome) in got {
        wrong.push(format!("{key:?}: not in the case, got {outcome:?}"));
    }
    assert!(
        wrong.is_empty(),
        "case `{}`:\n{}",
        case.name,
        wrong.join("\n")
    );

    let mut expected: BTreeMap<String, Tally> = BTreeMap::new();
    for (file, _, fate) in &case.lines {
        if *fate == Unstaged {
            continue;
        }
        let t = expected.entry(day_of(file)).or_default();
        if file.starts_with("log_data/") {
            t.log_read += 1;
            match fate {
                Loaded => t.loaded += 1,
                Rejected(_) => t.rejected += 1,
                Duplicate(_) => t.duplicates += 1,
                Pending => t.pending += 1,
                _ => t.log_quarantined += 1,
            }
            if !matches!(fate, Quarantined(_)) {
                t.log_staged += 1;
            }
        } else {
            t.patient_read += 1;
            match fate {
                Staged => t.patient_staged += 1,
                _ => t.patient_quarantined += 1,
            }
        }
    }
    let tallies: BTreeMap<String, Tally> = reconcile(p)
        .into_iter()
        .filter(|(_, t)| *t != Tally::default())
        .collect();
    assert_eq!(tallies, expected, "case `{}`: each day's tally", case.name);

    if let Some(check) = case.check {
        check(p);
    }
}

crate::support::case_matrix! {
    truncated_line,
    wrong_type,
    missing_field,
    extra_unknown_field,
    null_value,
    json_array_line,
    bare_scalar_line,
    empty_file,
    empty_day_folder,
    day_folder_with_only_empty_files,
    utf8_bom,
    crlf_line_ends,
    invalid_utf8,
    ten_megabyte_line,
    line_just_within_the_limit,
    string_longer_than_its_column,
    same_test_id_twice_in_a_file,
    same_test_id_in_two_files_of_a_day,
    same_test_id_on_a_later_day,
    patient_update_on_a_later_day,
    unknown_patient,
    ts_outside_its_folders_day,
    file_that_is_not_json,
    malformed_patient_line,
    strict_fails_the_day_at_the_first_malformed_line,
    strict_via_the_cli,
    strict_with_a_malformed_patient_line,
    blank_lines,
    file_of_one_newline,
    field_given_twice,
    two_objects_on_one_line,
    values_out_of_range_or_form,
    negative_zero_integer,
    nul_and_other_control_characters,
    mixed_bad_input_via_the_cli,
    mixed_bad_input,
}

//! Each validity rule of the data contract, its order, and malformed lines:
//! one day of hand-written tests, one expected outcome each.

use serde_json::json;

use crate::support::*;

#[derive(Debug, PartialEq)]
enum Outcome {
    Loaded,
    Rejected(&'static str),
}
use Outcome::*;

const DAY: &str = "2025-03-14";

fn cases() -> Vec<(&'static str, serde_json::Value, Outcome)> {
    vec![
        ("valid", json!({}), Loaded),
        (
            "lowest plausible pressures",
            json!({"ap_hi": 60, "ap_lo": 30}),
            Loaded,
        ),
        (
            "highest plausible pressures",
            json!({"ap_hi": 250, "ap_lo": 200}),
            Loaded,
        ),
        (
            "systolic equal to diastolic",
            json!({"ap_hi": 100, "ap_lo": 100}),
            Loaded,
        ),
        (
            "systolic above 250",
            json!({"ap_hi": 251}),
            Rejected("implausible_pressure"),
        ),
        (
            "systolic below 60",
            json!({"ap_hi": 59, "ap_lo": 40}),
            Rejected("implausible_pressure"),
        ),
        (
            "diastolic below 30",
            json!({"ap_lo": 29}),
            Rejected("implausible_pressure"),
        ),
        (
            "diastolic above 200",
            json!({"ap_hi": 250, "ap_lo": 201}),
            Rejected("implausible_pressure"),
        ),
        (
            "negative systolic",
            json!({"ap_hi": -120}),
            Rejected("implausible_pressure"),
        ),
        (
            "systolic above 300",
            json!({"ap_hi": 1200}),
            Rejected("implausible_pressure"),
        ),
        (
            "systolic below diastolic",
            json!({"ap_hi": 90, "ap_lo": 100}),
            Rejected("systolic_below_diastolic"),
        ),
        (
            "cholesterol 4",
            json!({"cholesterol": 4}),
            Rejected("out_of_domain"),
        ),
        ("gluc 0", json!({"gluc": 0}), Rejected("out_of_domain")),
        ("smoke 2", json!({"smoke": 2}), Rejected("out_of_domain")),
        ("alco -1", json!({"alco": -1}), Rejected("out_of_domain")),
        ("active 2", json!({"active": 2}), Rejected("out_of_domain")),
        ("cardio 3", json!({"cardio": 3}), Rejected("out_of_domain")),
        (
            "unknown patient",
            json!({"patient_id": 999}),
            Rejected("unknown_patient"),
        ),
        (
            "pressure is checked first",
            json!({"ap_hi": 300, "cholesterol": 9, "patient_id": 999}),
            Rejected("implausible_pressure"),
        ),
        (
            "order before domain",
            json!({"ap_hi": 90, "ap_lo": 100, "gluc": 7}),
            Rejected("systolic_below_diastolic"),
        ),
        (
            "domain before patient",
            json!({"smoke": 5, "patient_id": 999}),
            Rejected("out_of_domain"),
        ),
    ]
}

#[test]
fn each_rule_rejects_with_its_reason_in_the_contracts_order() {
    let data = Data::new();
    let f = folder(DAY);
    data.file(
        &format!("patient_data/{f}/part-00000.json"),
        &[patient(1, DAY)],
    );
    let lines: Vec<String> = cases()
        .iter()
        .enumerate()
        .map(|(i, (_, over, _))| test(&format!("bt-{i:08}"), 1, DAY, over.clone()))
        .collect();
    data.file(&format!("log_data/{f}/part-00000.json"), &lines);
    let p = pipeline(data.path());
    run_ok(&p, DAY);
    // A test whose patient has no record waits for it (the late patient
    // window, 7 days); the window's last day, with no file, rejects it.
    let waiting: Vec<Vec<String>> = cases()
        .iter()
        .enumerate()
        .filter(|(_, (_, _, o))| *o == Rejected("unknown_patient"))
        .map(|(i, _)| vec![format!("bt-{i:08}")])
        .collect();
    assert!(!waiting.is_empty());
    assert_eq!(
        rows(&p, "SELECT test_id FROM pending_tests ORDER BY 1"),
        waiting
    );
    let closes = (day(DAY).date() + chrono::Days::new(7)).to_string();
    run_ok(&p, &closes);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM pending_tests"), 0);

    for (i, (name, _, expected)) in cases().into_iter().enumerate() {
        let id = format!("bt-{i:08}");
        let in_fact = scalar(
            &p,
            &format!("SELECT COUNT(*) FROM fact_bloodtest WHERE test_id = '{id}'"),
        );
        let reasons = rows(
            &p,
            &format!("SELECT reason FROM rejects WHERE test_id = '{id}'"),
        );
        let got = match (in_fact, reasons.as_slice()) {
            (1, []) => Loaded,
            (0, [r]) => Rejected(Box::leak(r[0].clone().into_boxed_str())),
            other => panic!("{name}: in fact {}, rejects {:?}", other.0, other.1),
        };
        assert_eq!(got, expected, "case `{name}`");
    }
}

/// Lines that are not a record of the contract: quarantined with file, line
/// and the field at fault, while the lines around them load.
#[test]
fn malformed_lines_are_quarantined_with_file_line_and_field() {
    let cases: Vec<(String, &str)> = vec![
        (test("bt-1", 1, DAY, json!({})), ""),
        (
            test("bt-2", 1, DAY, json!({"ap_hi": "120"})),
            "field `ap_hi`: expected an integer, found \"120\"",
        ),
        (
            test("bt-3", 1, DAY, json!({}))[..40].to_owned(),
            "truncated JSON",
        ),
        (
            test("bt-4", 1, DAY, json!({})).replace(",\"gluc\":1", ""),
            "field `gluc`: missing",
        ),
        (
            "[1,2,3]".to_owned(),
            "expected a JSON object, found an array",
        ),
        (
            test("bt-6", 1, DAY, json!({"ts": "yesterday"})),
            "field `ts`: \"yesterday\" is not an RFC 3339 timestamp",
        ),
        (
            test("bt-7", 1, DAY, json!({"cardio": null})),
            "field `cardio`: expected an integer, found null",
        ),
        (
            test("bt-8", 1, DAY, json!({"ap_lo": 1e20})),
            "field `ap_lo`: expected an integer",
        ),
        (test("bt-9", 1, DAY, json!({})), ""),
    ];
    let data = Data::new();
    let f = folder(DAY);
    data.file(
        &format!("patient_data/{f}/part-00000.json"),
        &[patient(1, DAY)],
    );
    let lines: Vec<String> = cases.iter().map(|(l, _)| l.clone()).collect();
    data.file(&format!("log_data/{f}/part-00000.json"), &lines);
    let p = pipeline(data.path());
    run_ok(&p, DAY);

    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest"), 2);
    let q = rows(
        &p,
        "SELECT source_file, line_no, error FROM quarantine ORDER BY line_no",
    );
    let expected: Vec<(usize, &str)> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.1.is_empty())
        .map(|(i, c)| (i + 1, c.1))
        .collect();
    assert_eq!(q.len(), expected.len(), "{q:?}");
    for (row, (line, error)) in q.iter().zip(expected) {
        assert_eq!(row[0], format!("log_data/{f}/part-00000.json"));
        assert_eq!(row[1], line.to_string());
        assert!(
            row[2].contains(error),
            "line {line}: `{}` does not say `{error}`",
            row[2]
        );
    }
}

/// `strict` turns the first malformed line into a failed day that stages
/// nothing.
#[test]
fn strict_fails_the_day_on_the_first_malformed_line() {
    let data = Data::new();
    let f = folder(DAY);
    data.file(
        &format!("patient_data/{f}/part-00000.json"),
        &[patient(1, DAY)],
    );
    data.file(
        &format!("log_data/{f}/part-00000.json"),
        &[
            test("bt-1", 1, DAY, json!({})),
            "{\"test_id\":".to_owned(),
            test("bt-3", 1, DAY, json!({})),
        ],
    );
    let p = pipeline(data.path());
    let opts = ovom_local::pipeline::RunOptions {
        strict: true,
        ..Default::default()
    };
    let r = p.run_day(day(DAY), opts, &clock()).unwrap();
    let f_err = r.result.unwrap_err();
    assert_eq!(f_err.error, "MalformedInput");
    assert!(
        f_err
            .cause
            .contains(&format!("log_data/{f}/part-00000.json line 2")),
        "{}",
        f_err.cause
    );
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM staging_bloodtest"), 0);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM quarantine"), 0);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest"), 0);
    let failed = rows(&p, "SELECT status, failed_state, error FROM executions");
    assert_eq!(
        failed,
        vec![vec![
            "FAILED".to_owned(),
            "StageBloodTests".to_owned(),
            "MalformedInput".to_owned()
        ]]
    );
}

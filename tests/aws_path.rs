//! The AWS path, executed: the daily state machine over the Lambda
//! functions' code, the Redshift Data API adapter against the Data API test
//! server on PostgreSQL, and the S3 adapter against moto. Its tables must
//! equal the embedded warehouse's, day by day and as a range.

use ovom_awspath::{input, AwsPath};
use ovom_core::params::{BackfillInput, Days};
use ovom_local::pipeline::Pipeline;
use serde_json::json;

use crate::support::*;

/// The data tables' rows, lineage (`run_id`) aside, each value as text,
/// sorted: what both engines must agree on. A range audits every day it
/// covers; day by day only the days run: audit rows of days with no file
/// are left out.
const TABLE_COLUMNS: [(&str, &str); 13] = [
    ("staging_patient", "logical_date, source_file, line_no, patient_id, first_name, last_name, sex, age, height, weight, address, registered_at"),
    ("staging_bloodtest", "logical_date, source_file, line_no, test_id, patient_id, doc_id, doc_name, clinic, lab_id, lab_name, city, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio"),
    ("quarantine", "logical_date, source, source_file, line_no, error, \"raw\""),
    ("stage_audit", "logical_date, source, files, lines_read"),
    ("rejects", "logical_date, reason, decided_on, source_file, line_no, test_id, patient_id, doc_id, lab_id, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio"),
    ("duplicates", "logical_date, kind, source_file, line_no, test_id"),
    ("pending_tests", "logical_date, source_file, line_no, test_id, patient_id, wait_until"),
    ("dim_patient", "patient_id, first_name, last_name, sex, age, height, weight, address, registered_at, first_seen_on"),
    ("dim_patient_history", "patient_version_key, patient_id, first_name, last_name, sex, age, height, weight, address, registered_at, valid_from, valid_to, is_current, version_no, logical_date, source_file, line_no"),
    ("dim_doctor", "doc_id, doc_name, clinic, last_seen_at"),
    ("dim_lab", "lab_id, lab_name, city, last_seen_at"),
    ("dim_date", "date_key, full_date, year, quarter, month, day_of_month, iso_day_of_week, is_weekend"),
    ("fact_bloodtest", "test_id, patient_id, patient_version_key, doc_id, lab_id, date_key, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, logical_date, decided_on, source_file, line_no"),
];

fn select(table: &str, columns: &str) -> String {
    // A DOUBLE is compared to the thousandth (the engines print 74.0 and 74).
    let cast: Vec<String> = columns
        .split(", ")
        .map(|c| match c {
            "weight" => "CAST(CAST(ROUND(weight * 1000) AS BIGINT) AS VARCHAR)".to_owned(),
            c => format!("CAST({c} AS VARCHAR)"),
        })
        .collect();
    let filter = if table == "stage_audit" {
        " WHERE NOT (files = 0 AND lines_read = 0)"
    } else {
        ""
    };
    format!("SELECT {} FROM {table}{filter}", cast.join(", "))
}

pub(crate) type Tables = Vec<(&'static str, Vec<Vec<String>>)>;

pub(crate) fn aws_tables(path: &AwsPath) -> Tables {
    TABLE_COLUMNS
        .iter()
        .map(|(t, c)| {
            let mut rows = path.query(&select(t, c)).unwrap();
            rows.sort();
            (*t, rows)
        })
        .collect()
}

pub(crate) fn duck_tables(p: &Pipeline) -> Tables {
    TABLE_COLUMNS
        .iter()
        .map(|(t, c)| {
            let mut r = rows(p, &select(t, c));
            r.sort();
            (*t, r)
        })
        .collect()
}

/// Equal tables, or a message with each table's first differing rows.
pub(crate) fn assert_tables_equal(aws: &Tables, duck: &Tables, what: &str) {
    let mut problems = vec![];
    for ((table, a), (_, d)) in aws.iter().zip(duck) {
        if a != d {
            let only_aws: Vec<_> = a.iter().filter(|r| !d.contains(r)).take(3).collect();
            let only_duck: Vec<_> = d.iter().filter(|r| !a.contains(r)).take(3).collect();
            problems.push(format!(
                "{table}: {} rows on the AWS path, {} embedded\n  only AWS: {only_aws:?}\n  only embedded: {only_duck:?}",
                a.len(),
                d.len()
            ));
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Three dirty weeks with a late re-delivery (2025-02-10's tests sent again
/// on 2025-02-15), malformed lines, rule breaks, duplicates and late patient
/// records.
pub(crate) fn dirty_weeks() -> (Data, Vec<String>) {
    let year = dirty_year();
    let weeks = Data::new();
    copy_days(year.path(), weeks.path(), "2025-02-01", "2025-02-21");
    // Late patient records: patient 9001's first record comes 3 days after
    // its test (loaded then), 9002's 12 days after (the test is rejected
    // when its window closes), 9003's never (its test still waits).
    let late = |d: &str, source: &str, line: String| {
        weeks.file(&format!("{source}/{}/part-00099.json", folder(d)), &[line]);
    };
    late("2025-02-05", "patient_data", patient(9001, "2025-02-05"));
    late("2025-02-15", "patient_data", patient(9002, "2025-02-15"));
    late(
        "2025-02-02",
        "log_data",
        test("bt-late-1", 9001, "2025-02-02", json!({})),
    );
    late(
        "2025-02-03",
        "log_data",
        test("bt-late-2", 9002, "2025-02-03", json!({})),
    );
    late(
        "2025-02-18",
        "log_data",
        test("bt-late-3", 9003, "2025-02-18", json!({})),
    );
    // Patient 9001 updated on 2025-02-10: its test of 2025-02-12 references
    // the second version, its earlier test the first.
    late(
        "2025-02-10",
        "patient_data",
        patient_at(9001, "2025-02-10T08:00:00Z", 82.5),
    );
    late(
        "2025-02-12",
        "log_data",
        test("bt-late-4", 9001, "2025-02-12", json!({})),
    );
    let days = (1..=21).map(|d| format!("2025-02-{d:02}")).collect();
    (weeks, days)
}

fn started(data: &Data) -> AwsPath {
    let path = AwsPath::start(None).unwrap();
    path.upload(data.path()).unwrap();
    path
}

pub(crate) fn run_ok(path: &AwsPath, name: &str, input: serde_json::Value) {
    if let Err(f) = path.execute(name, input) {
        panic!(
            "{name} failed in {}: {}: {}\nData API server log:\n{}",
            f.state,
            f.error,
            f.cause,
            path.dataapi.log_text()
        );
    }
}

#[test]
fn dirty_days_day_by_day_and_as_a_range_leave_the_embedded_warehouses_tables() {
    let (data, days) = dirty_weeks();
    let embedded = pipeline(data.path());
    for d in &days {
        super::support::run_ok(&embedded, d);
    }
    let expected = duck_tables(&embedded);
    assert!(
        expected
            .iter()
            .any(|(t, r)| *t == "quarantine" && !r.is_empty())
            && expected
                .iter()
                .any(|(t, r)| *t == "rejects" && !r.is_empty())
            && expected
                .iter()
                .any(|(t, r)| *t == "duplicates" && !r.is_empty()),
        "the data must hold malformed lines, rejects and duplicates"
    );
    // And tests that waited for a late patient record: loaded, rejected
    // when the window closed, and still waiting.
    for waited in [
        "SELECT COUNT(*) FROM fact_bloodtest WHERE decided_on > logical_date",
        "SELECT COUNT(*) FROM rejects WHERE decided_on > logical_date",
        "SELECT COUNT(*) FROM pending_tests",
        "SELECT COUNT(*) FROM fact_bloodtest WHERE patient_version_key % 100000 > 1",
    ] {
        assert!(scalar(&embedded, waited) > 0, "{waited}");
    }

    let by_day = started(&data);
    for d in &days {
        run_ok(&by_day, &format!("day-{d}"), input(d, None));
    }
    assert_tables_equal(&aws_tables(&by_day), &expected, "day by day");
    // And against the contract computed straight from the raw files.
    crate::pipeline::assert_tables_match_reference(&|sql| by_day.query(sql).unwrap(), data.path());

    let range = started(&data);
    run_ok(&range, "range", input(&days[0], Some(days.last().unwrap())));
    assert_tables_equal(&aws_tables(&range), &expected, "as one range");
}

#[test]
fn a_backfill_in_chunks_of_a_week_leaves_the_tables_of_a_day_by_day_one() {
    let (data, days) = dirty_weeks();
    let embedded = pipeline(data.path());
    for d in &days {
        super::support::run_ok(&embedded, d);
    }
    let expected = duck_tables(&embedded);
    for per in [7, 1] {
        let path = started(&data);
        let input = BackfillInput {
            days_per_execution: Some(per),
            ..BackfillInput::new(Days {
                first: day(&days[0]),
                last: day(days.last().unwrap()),
            })
        };
        let range = path
            .backfill(&format!("backfill-{per}"), &input)
            .unwrap_or_else(|f| panic!("{f}\nData API server log:\n{}", path.dataapi.log_text()));
        assert_eq!(
            (range.days, range.executions),
            (21, 21 / per as usize),
            "{range:?}"
        );
        assert_tables_equal(
            &aws_tables(&path),
            &expected,
            &format!("a backfill of {per} day(s) per execution"),
        );
    }
}

#[test]
fn a_rerun_of_every_day_leaves_the_tables_of_one_clean_run() {
    let (data, days) = dirty_weeks();
    let path = started(&data);
    for d in &days {
        run_ok(&path, &format!("day-{d}"), input(d, None));
    }
    let once = aws_tables(&path);
    // As a backfill runs them: only the last day would run later days again.
    for d in &days {
        let mut again = input(d, None);
        again["rerun_later_days"] = (Some(d) == days.last()).into();
        run_ok(&path, &format!("again-{d}"), again);
    }
    assert_tables_equal(&aws_tables(&path), &once, "after re-running every day");
}

#[test]
fn a_late_day_runs_the_days_after_it_again_to_a_clean_runs_tables() {
    let (data, days, expected) = three_days();
    // The middle day's files land after every day was loaded.
    let early = Data::new();
    for d in [&days[0], &days[2]] {
        copy_days(data.path(), early.path(), d, d);
    }
    let path = started(&early);
    for d in &days {
        run_ok(&path, &format!("day-{d}"), input(d, None));
    }
    path.upload(data.path()).unwrap();
    let late = path
        .execute(&format!("late-{}", days[1]), input(&days[1], None))
        .unwrap_or_else(|f| panic!("{}: {}: {}", f.state, f.error, f.cause));
    assert_eq!(
        late["stage_patients"]["later_days"]["from"],
        days[2].as_str()
    );
    assert_eq!(late["later_days"]["range"]["days"], 1);
    assert!(late["later_days"]["execution"]
        .as_str()
        .unwrap()
        .contains(":execution:ovom-backfill:later-"));
    assert_tables_equal(&aws_tables(&path), &expected, "after the late day");
}

// ------------------------------------------------------------------ faults

/// Three small dirty days: known and unknown patients, a patient updated,
/// a rule break of each kind, same-day and other-day duplicates, malformed
/// lines; and their embedded result.
fn three_days() -> (Data, Vec<String>, Tables) {
    let data = Data::new();
    let (d1, d2, d3) = ("2025-03-13", "2025-03-14", "2025-03-15");
    let log = |d: &str| format!("log_data/{}/part-00000.json", folder(d));
    let pat = |d: &str| format!("patient_data/{}/part-00000.json", folder(d));
    data.file(&pat(d1), &[patient(1, d1), patient(2, d1), patient(3, d1)]);
    data.file(
        &log(d1),
        &[
            test("bt-1", 1, d1, json!({})),
            test("bt-2", 2, d1, json!({"ap_hi": 500})),
            test("bt-3", 9, d1, json!({})),
            test("bt-4", 3, d1, json!({})),
            test("bt-1", 1, d1, json!({})),
            r#"{"test_id": "bt-bad", "patient_id": 1"#.to_owned(),
            test("bt-5", 1, d1, json!({})),
        ],
    );
    data.file(
        &pat(d2),
        &[
            patient(4, d2),
            patient_at(1, &format!("{d2}T09:00:00Z"), 80.25),
        ],
    );
    data.file(
        &log(d2),
        &[
            test("bt-6", 4, d2, json!({})),
            test("bt-1", 1, d2, json!({})),
            test("bt-7", 2, d2, json!({"ap_hi": 70, "ap_lo": 90})),
            test("bt-8", 3, d2, json!({})),
        ],
    );
    data.file(
        &log(d3),
        &[
            test("bt-9", 4, d3, json!({})),
            String::new(),
            test("bt-10", 1, d3, json!({"cholesterol": 3})),
            // JSON's -0 is the integer 0 on both engines.
            test("bt-11", 4, d3, json!({})).replace("\"smoke\":0", "\"smoke\":-0"),
        ],
    );
    let days: Vec<String> = [d1, d2, d3].iter().map(|d| d.to_string()).collect();
    let embedded = pipeline(data.path());
    for d in &days {
        super::support::run_ok(&embedded, d);
    }
    (data, days, duck_tables(&embedded))
}

#[test]
fn throttling_busy_statements_and_a_dropped_session_are_retried_to_a_clean_runs_tables() {
    let (data, days, expected) = three_days();
    let path = started(&data);
    for (i, d) in days.iter().enumerate() {
        let faults = match i {
            // The SDK's own retries, then the state machine's.
            0 => {
                json!([{"operation": "ExecuteStatement", "error": "ThrottlingException", "times": 4}])
            }
            // A busy warehouse when a load commits.
            1 => {
                json!([{"operation": "BatchExecuteStatement", "error": "ActiveStatementsExceededException", "times": 2}])
            }
            // The session dies in the middle of the stage (a Lambda that
            // timed out): its rows never reach the warehouse's tables.
            _ => {
                json!([{"drop_session": true, "sql_contains": "COPY ovom_copy_log_data", "times": 1}])
            }
        };
        path.dataapi.reset_stats().unwrap();
        path.dataapi.set_faults(&faults).unwrap();
        run_ok(&path, &format!("day-{d}"), input(d, None));
        let wanted: u64 = faults
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["times"].as_u64().unwrap())
            .sum();
        assert_eq!(
            path.dataapi.stats().unwrap()["faults"],
            wanted,
            "{d}: every injected fault happened"
        );
    }
    assert_tables_equal(&aws_tables(&path), &expected, "after the faults");
}

#[test]
fn a_redrive_after_a_permanent_failure_in_each_task_ends_as_a_clean_run() {
    let (data, days, expected) = three_days();
    let path = started(&data);
    let (first, rest) = days.split_first().unwrap();
    run_ok(&path, "day-1", input(first, None));
    let targets = [
        ("patient_data", "StagePatients"),
        ("dim_patient", "LoadDimPatient"),
        ("log_data", "StageBloodTests"),
        ("dim_lab", "LoadDimensions"),
        ("fact_bloodtest", "LoadFact"),
        ("quality", "CheckQuality"),
    ];
    for (i, (target, state)) in targets.iter().enumerate() {
        let d = &rest[i % rest.len()];
        let failing = Fault::always(&path.lambdas, target, "WarehouseError");
        let name = format!("fail-{target}-{d}");
        let (result, records) = path.execute_recorded(&name, input(d, None), &failing);
        let failure = result.expect_err("the injected failure fails the execution");
        assert_eq!(failure.error, "WarehouseError", "{target}");
        let (failed, state_input) = ovom_awspath::failed_state(&records).unwrap();
        assert_eq!(failed, *state, "{target}");
        path.redrive(&name, &failed, state_input)
            .unwrap_or_else(|f| panic!("redrive of {target}: {}: {}", f.error, f.cause));
    }
    for d in rest {
        // Days whose last execution failed before their last state are done
        // by the redrives; every day has now run to its end once at least.
        run_ok(&path, &format!("again-{d}"), input(d, None));
    }
    assert_tables_equal(&aws_tables(&path), &expected, "after the redrives");
}

#[test]
fn copy_rejects_count_against_the_budget_and_strict_fails_the_day_naming_the_line() {
    let (data, days, _) = three_days();
    let path = started(&data);
    let d = &days[1];
    // A line the contract accepts and COPY rejects: the second of the day's
    // blood-test file (a day without malformed lines).
    let file = std::fs::read_dir(data.path().join(format!("log_data/{}", folder(d))))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .min()
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let second = text.lines().nth(1).unwrap();
    let test_id = serde_json::from_str::<serde_json::Value>(second).unwrap()["test_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let needle = format!("\"{test_id}\"");
    let key = format!(
        "log_data/{}/{}",
        folder(d),
        file.file_name().unwrap().to_string_lossy()
    );

    // Strict: COPY's MAXERROR 1 fails the load at that line; nothing staged.
    path.dataapi
        .set_faults(&json!([{"copy_rejects": needle, "sql_contains": "COPY ovom_copy_log_data", "times": 1}]))
        .unwrap();
    let mut strict = input(d, None);
    strict["strict"] = true.into();
    let failure = path.execute("strict", strict).unwrap_err();
    assert_eq!(failure.error, "MalformedInput", "{}", failure.cause);
    assert!(
        failure.cause.contains(&key) && failure.cause.contains("line 2"),
        "{}",
        failure.cause
    );
    assert_eq!(
        path.query("SELECT COUNT(*) FROM staging_bloodtest")
            .unwrap(),
        [["0"]]
    );

    // Within the budget: the line is quarantined with COPY's reason, the
    // rest of the file loads and the day reconciles (its checks pass).
    path.dataapi
        .set_faults(&json!([{"copy_rejects": needle, "sql_contains": "COPY ovom_copy_log_data", "times": 1}]))
        .unwrap();
    run_ok(&path, "budget", input(d, None));
    let quarantined = path
        .query(&format!(
            "SELECT source_file, line_no, error FROM quarantine WHERE \"raw\" LIKE '%{test_id}%'"
        ))
        .unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0][0], key);
    assert_eq!(quarantined[0][1], "2");
    assert!(quarantined[0][2].contains("injected"), "{quarantined:?}");
    let in_fact = path
        .query(&format!(
            "SELECT COUNT(*) FROM fact_bloodtest WHERE test_id = '{test_id}'"
        ))
        .unwrap();
    assert_eq!(in_fact, [["0"]]);
}

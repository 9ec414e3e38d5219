//! The range path: one execution whose tasks cover many days in one pass
//! (`ovom run` over every day) leaves the warehouse exactly as running the
//! days one after another does.

use ovom_core::params::{Days, DimMode};
use ovom_local::pipeline::{Pipeline, RunOptions};
use serde_json::json;

use crate::support::*;

fn opts(dim_mode: DimMode) -> RunOptions {
    RunOptions {
        strict: false,
        dim_mode,
        leave_later_days: false,
        allow_empty: false,
    }
}

/// Each day of the data, one execution each, in order.
fn day_by_day(p: &Pipeline, days: &[ovom_core::params::LogicalDate], o: RunOptions) {
    for d in days {
        let run = p.run_day(*d, o, &clock()).unwrap();
        assert!(run.result.is_ok(), "{d}: {:?}", run.result.err());
    }
}

fn range(p: &Pipeline, first: &str, last: &str, o: RunOptions) {
    let run = p
        .run_range(Days::new(day(first), Some(day(last))).unwrap(), o, &clock())
        .unwrap();
    assert!(
        run.result.is_ok(),
        "{first} … {last}: {:?}",
        run.result.err()
    );
}

/// The data tables' fingerprints. A range records a stage audit row for every
/// day it covers, day by day only for the days run: the rows of days with no
/// file (zero files, zero lines) are left out of the comparison.
fn content(p: &Pipeline) -> Vec<(&'static str, (i64, String))> {
    p.warehouse()
        .connection()
        .execute_batch("DELETE FROM stage_audit WHERE files = 0 AND lines_read = 0")
        .unwrap();
    fingerprints(p)
}

fn assert_same(a: &Pipeline, b: &Pipeline, what: &str) {
    let (a, b) = (content(a), content(b));
    for ((table, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "{what}: {table} differs");
    }
}

#[test]
fn a_range_over_a_dirty_year_equals_its_days_run_one_after_another_in_each_mode() {
    let data = dirty_year();
    for mode in [DimMode::Merge, DimMode::TruncateInsert] {
        let (a, b) = (pipeline(data.path()), pipeline(data.path()));
        let days = a.days().unwrap();
        day_by_day(&a, &days, opts(mode));
        range(&b, "2025-01-01", "2025-12-31", opts(mode));
        assert!(
            scalar(
                &b,
                "SELECT COUNT(*) FROM duplicates WHERE kind = 'other_day'"
            ) > 0
        );
        assert!(
            scalar(
                &b,
                "SELECT COUNT(*) FROM rejects WHERE reason = 'unknown_patient'"
            ) > 0
        );
        assert!(scalar(&b, "SELECT COUNT(*) FROM quarantine") > 0);
        // Late patient records: tests loaded after their delivery day.
        assert!(
            scalar(
                &b,
                "SELECT COUNT(*) FROM fact_bloodtest WHERE decided_on > logical_date"
            ) > 0
        );
        assert_same(&a, &b, mode.as_str());
        crate::pipeline::assert_matches_reference(&b, data.path());
    }
}

#[test]
fn a_range_after_days_already_loaded_and_a_range_run_again_change_nothing_a_day_by_day_run_would_not(
) {
    let data = dirty_year();
    let o = opts(DimMode::Merge);
    let reference = pipeline(data.path());
    let days = reference.days().unwrap();
    day_by_day(&reference, &days, o);

    // The first half day by day, the rest as a range.
    let split = pipeline(data.path());
    let first_half: Vec<_> = days
        .iter()
        .copied()
        .filter(|d| d.to_string().as_str() < "2025-07-01")
        .collect();
    day_by_day(&split, &first_half, o);
    range(&split, "2025-07-01", "2025-12-31", o);
    assert_same(&reference, &split, "first half by day, second as a range");

    // A range over a warehouse that already holds the year replaces it with
    // the same content; so does a range over a part of it.
    range(&split, "2025-01-01", "2025-12-31", o);
    assert_same(&reference, &split, "the year again as a range");
    range(&split, "2025-03-10", "2025-04-20", o);
    assert_same(&reference, &split, "a part again as a range");
}

#[test]
fn a_range_decides_ties_duplicates_and_late_patients_as_day_by_day_does() {
    let (d1, d2, d3) = ("2025-03-01", "2025-03-02", "2025-03-03");
    let data = Data::new();
    let lf = |d: &str, n: u32| format!("log_data/{}/part-{n:05}.json", folder(d));
    let pf = |d: &str| format!("patient_data/{}/part-00000.json", folder(d));
    data.file(
        &pf(d1),
        &[
            patient(1, d1),
            patient_at(2, &format!("{d1}T09:00:00Z"), 60.0),
        ],
    )
    // Patient 2 again with the same registered_at on a later day: a
    // merge keeps the first day's record. Patient 3 arrives on day 3.
    .file(&pf(d2), &[patient_at(2, &format!("{d1}T09:00:00Z"), 99.0)])
    .file(
        &pf(d3),
        &[
            patient(3, d3),
            patient_at(1, &format!("{d3}T12:00:00Z"), 80.0),
        ],
    )
    .file(
        &lf(d1, 0),
        &[
            test("a", 1, d1, json!({})),
            test("a", 1, d1, json!({})),
            // Doctor 8 named otherwise at the very same instant on
            // day 2: a merge keeps the first day's name.
            test(
                "b",
                2,
                d1,
                json!({"ts": "2025-03-01T23:00:00Z", "doc_id": 8}),
            ),
            // Patient 3 is unknown on day 1 (registered on day 3): the
            // test waits for it.
            test("c", 3, d1, json!({})),
            test("bad", 1, d1, json!({"ap_hi": 20})),
        ],
    )
    .file(&lf(d1, 1), &[test("a", 1, d1, json!({}))])
    .file(
        &lf(d2, 0),
        &[
            test("a", 1, d2, json!({})),
            test("a", 1, d2, json!({})),
            test("bad", 1, d2, json!({})),
            test(
                "d",
                2,
                d2,
                json!({"ts": "2025-03-01T23:00:00Z", "doc_id": 8, "doc_name": "Dr. Gray"}),
            ),
        ],
    )
    .file(
        &lf(d3, 0),
        &[
            test("c", 3, d3, json!({})),
            test("e", 3, d3, json!({})),
            test("a", 1, d3, json!({})),
        ],
    );
    for mode in [DimMode::Merge, DimMode::TruncateInsert] {
        let (a, b) = (pipeline(data.path()), pipeline(data.path()));
        day_by_day(&a, &[day(d1), day(d2), day(d3)], opts(mode));
        range(&b, d1, d3, opts(mode));
        assert_same(&a, &b, mode.as_str());
        assert_eq!(
            rows(&b, "SELECT test_id, CAST(logical_date AS VARCHAR), kind FROM duplicates ORDER BY 2, 1, 3"),
            [
                ["a", d1, "same_day"],
                ["a", d1, "same_day"],
                ["a", d2, "other_day"],
                ["a", d2, "same_day"],
                ["bad", d2, "other_day"],
                ["a", d3, "other_day"],
                ["c", d3, "other_day"],
            ]
            .map(|r| r.map(str::to_owned).to_vec())
            .to_vec(),
            "{}",
            mode.as_str()
        );
        assert_eq!(
            rows(&b, "SELECT test_id, reason FROM rejects ORDER BY 1"),
            [["bad", "implausible_pressure"]]
                .map(|r| r.map(str::to_owned).to_vec())
                .to_vec()
        );
        // c waited for patient 3 from day 1 and loaded on day 3.
        assert_eq!(
            rows(&b, "SELECT CAST(logical_date AS VARCHAR), CAST(decided_on AS VARCHAR) FROM fact_bloodtest WHERE test_id = 'c'"),
            vec![vec![d1.to_owned(), d3.to_owned()]]
        );
        assert_eq!(
            rows(
                &b,
                "SELECT CAST(weight AS VARCHAR) FROM dim_patient WHERE patient_id = 2"
            ),
            vec![vec!["60.0".to_owned()]]
        );
        assert_eq!(
            rows(&b, "SELECT doc_name FROM dim_doctor WHERE doc_id = 8"),
            vec![vec!["Dr. Grey".to_owned()]]
        );
        assert_eq!(
            scalar(
                &b,
                "SELECT COUNT(*) FROM fact_bloodtest WHERE test_id = 'e'"
            ),
            1
        );
    }
}

#[test]
fn a_range_execution_is_recorded_once_and_its_days_count_as_succeeded() {
    let data = dirty_year();
    let p = pipeline(data.path());
    range(&p, "2025-02-01", "2025-02-28", opts(DimMode::Merge));
    assert_eq!(
        rows(
            &p,
            "SELECT execution_id, CAST(logical_date AS VARCHAR), CAST(through AS VARCHAR), status FROM executions"
        ),
        vec![vec![
            "pipeline-20250201-20250228-1".to_owned(),
            "2025-02-01".into(),
            "2025-02-28".into(),
            "SUCCEEDED".into()
        ]]
    );
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(DISTINCT run_id) FROM fact_bloodtest WHERE run_id = 'pipeline-20250201-20250228-1'"
        ),
        1
    );
    // Each of its days counts as loaded by it (the run history's
    // `execution_days`, which the report and a backfill's redrive read).
    assert_eq!(
        rows(
            &p,
            "SELECT COUNT(*), MIN(CAST(day AS VARCHAR)), MAX(CAST(day AS VARCHAR)) FROM execution_days WHERE status = 'SUCCEEDED' AND execution_id = 'pipeline-20250201-20250228-1'"
        ),
        vec![vec!["28".to_owned(), "2025-02-01".into(), "2025-02-28".into()]]
    );
}

#[test]
fn append_mode_refuses_a_range_and_the_state_machine_refuses_a_range_that_ends_before_it_starts() {
    let data = dirty_year();
    let p = pipeline(data.path());
    let run = p
        .run_range(
            Days::new(day("2025-01-01"), Some(day("2025-01-31"))).unwrap(),
            opts(DimMode::Append),
            &clock(),
        )
        .unwrap();
    let failure = run.result.unwrap_err();
    assert_eq!(failure.error, "InvalidParameters");
    assert!(failure.cause.contains("`through`"), "{}", failure.cause);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest"), 0);

    assert!(Days::new(day("2025-02-01"), Some(day("2025-01-31"))).is_err());
    for kind in ["stage", "load", "quality"] {
        let mut event = match kind {
            "stage" => json!({"source": "log_data"}),
            "load" => json!({"model": "fact_bloodtest"}),
            _ => json!({}),
        };
        event["logical_date"] = json!("2025-02-01");
        event["through"] = json!("2025-01-31");
        event["run_id"] = json!("r-1");
        let kind = ovom_core::handler::TaskKind::ALL
            .into_iter()
            .find(|k| k.name() == kind)
            .unwrap();
        let err = ovom_core::handler::handle(kind, &event, None, &mut *p.warehouse(), p.store())
            .unwrap_err();
        assert_eq!(err.name(), "InvalidParameters");
        assert!(err.to_string().contains("`through`"), "{err}");
    }
}

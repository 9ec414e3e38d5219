//! A check that does not hold fails the quality task; the state machine
//! retries it once, then the execution fails at CheckQuality.

use ovom_asl::{TaskFailure, TaskHandler};
use ovom_core::params::DimMode;
use ovom_local::pipeline::RunOptions;
use serde_json::json;

use crate::support::*;

/// Lets every task through, and after the fact is loaded slips in a row
/// that breaks a rule.
struct Tamper<'a> {
    inner: &'a ovom_local::pipeline::Pipeline,
}

impl TaskHandler for Tamper<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        ctx: &serde_json::Value,
    ) -> Result<serde_json::Value, TaskFailure> {
        let out = self.inner.tasks().invoke(resource, input, ctx)?;
        if input["model"] == "fact_bloodtest" {
            let wh = self.inner.warehouse();
            wh.connection()
                .execute_batch("INSERT INTO fact_bloodtest SELECT * REPLACE (test_id || '-x' AS test_id, 999 AS ap_hi) FROM fact_bloodtest LIMIT 1")
                .unwrap();
        }
        Ok(out)
    }
}

#[test]
fn a_failed_check_is_retried_once_then_the_execution_fails_at_check_quality_with_the_check_named() {
    const DAY: &str = "2025-03-14";
    let data = Data::new();
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(DAY)),
        &[patient(1, DAY)],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(DAY)),
        &[test("bt-1", 1, DAY, json!({}))],
    );
    let p = pipeline(data.path());
    let clock = clock();
    let run = p
        .run_day_with(day(DAY), Default::default(), &clock, &Tamper { inner: &p })
        .unwrap();

    let failure = run.result.unwrap_err();
    assert_eq!(failure.error, "QualityCheckFailed");
    assert!(
        failure.cause.contains("fact_rules_hold") && failure.cause.contains("got 1, expected = 0"),
        "{}",
        failure.cause
    );
    // Retried once after the policy's 60 s interval; the execution then fails
    // at CheckQuality, where a redrive would resume.
    assert_eq!(clock.sleeps(), vec![std::time::Duration::from_secs(60)]);
    let states = rows(&p, "SELECT state_name, status, attempts, error FROM state_runs WHERE path NOT LIKE '%/%' ORDER BY seq");
    assert_eq!(
        states.last().unwrap(),
        &vec![
            "CheckQuality".to_owned(),
            "FAILED".into(),
            "2".into(),
            "QualityCheckFailed".into()
        ]
    );
    assert_eq!(
        rows(&p, "SELECT status, failed_state, error FROM executions"),
        vec![vec![
            "FAILED".to_owned(),
            "CheckQuality".into(),
            "QualityCheckFailed".into()
        ]]
    );
    // Every task's writes are whole: the day's lines reconcile, and a clean
    // re-run of the day replaces the tampered rows.
    run_ok(&p, DAY);
    assert_eq!(
        rows(&p, "SELECT test_id FROM fact_bloodtest"),
        vec![vec!["bt-1".to_owned()]]
    );
    let clean = pipeline(data.path());
    run_ok(&clean, DAY);
    assert_eq!(fingerprints(&p), fingerprints(&clean));
}

#[test]
fn a_truncate_insert_rerun_that_orphans_another_days_fact_rows_fails_its_check() {
    // Patient 2 comes on the 14th and is tested on the 15th; the 14th is
    // then re-run without them (the file fixed by hand), rebuilding the
    // dimensions, and told to leave the 15th as it is.
    let (d1, d2) = ("2025-03-14", "2025-03-15");
    let data = Data::new();
    let pat = |d: &str| format!("patient_data/{}/part-00000.json", folder(d));
    let log = |d: &str| format!("log_data/{}/part-00000.json", folder(d));
    data.file(&pat(d1), &[patient(1, d1), patient(2, d1)]);
    data.file(&log(d1), &[test("bt-1", 1, d1, json!({}))]);
    data.file(&log(d2), &[test("bt-2", 2, d2, json!({}))]);
    let p = pipeline(data.path());
    let truncate = RunOptions {
        dim_mode: DimMode::TruncateInsert,
        ..RunOptions::default()
    };
    for d in [d1, d2] {
        assert!(p
            .run_day(day(d), truncate, &clock())
            .unwrap()
            .result
            .is_ok());
    }
    data.file(&pat(d1), &[patient(1, d1)]);
    let run = p
        .run_day(
            day(d1),
            RunOptions {
                leave_later_days: true,
                ..truncate
            },
            &clock(),
        )
        .unwrap();
    let failure = run.result.unwrap_err();
    assert_eq!(run.failed_state.as_deref(), Some("CheckQuality"));
    assert_eq!(failure.error, "QualityCheckFailed");
    assert!(
        failure.cause.contains("fact_joins_dimensions") && failure.cause.contains("got 1"),
        "{}",
        failure.cause
    );
}

//! Redrive: a failed execution resumes from the state that failed, with the
//! same input and id, without re-running the states that succeeded; the
//! warehouse then equals a clean run.

use ovom_local::pipeline::RunOptions;
use serde_json::json;

use crate::support::*;

fn two_days() -> Data {
    let data = Data::new();
    for (d, ids) in [
        ("2025-03-13", ["bt-1", "bt-2"]),
        ("2025-03-14", ["bt-3", "bt-4"]),
    ] {
        data.file(
            &format!("patient_data/{}/part-00000.json", folder(d)),
            &[patient(if d.ends_with("13") { 1 } else { 2 }, d)],
        );
        data.file(
            &format!("log_data/{}/part-00000.json", folder(d)),
            &[
                test(ids[0], 1, d, json!({})),
                test(ids[1], 1, d, json!({"ap_hi": 500})),
            ],
        );
    }
    data
}

#[test]
fn a_permanent_load_failure_fails_at_its_state_and_redrive_completes_it_without_rerunning_the_rest()
{
    let data = two_days();
    let p = pipeline(data.path());
    run_ok(&p, "2025-03-13");
    let fault = Fault::always(p.tasks(), "fact_bloodtest", "WarehouseError");
    let failed = p
        .run_day_with(day("2025-03-14"), Default::default(), &clock(), &fault)
        .unwrap();
    let f = failed.result.as_ref().unwrap_err();
    assert_eq!(
        (f.error.as_str(), f.state.as_str()),
        ("WarehouseError", "LoadFact")
    );
    assert_eq!(failed.failed_state.as_deref(), Some("LoadFact"));
    assert_eq!(
        rows(&p, "SELECT status, failed_state, error, redrive_count FROM executions WHERE execution_id = 'pipeline-20250314-1'"),
        vec![vec!["FAILED".to_owned(), "LoadFact".into(), "WarehouseError".into(), "0".into()]]
    );
    // The failed load wrote nothing of its day.
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM fact_bloodtest WHERE logical_date = DATE '2025-03-14'"
        ),
        0
    );

    // The fault is gone; redrive.
    let redriven = p
        .redrive("pipeline-20250314-1", &clock(), p.tasks())
        .unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    let ran: Vec<&str> = redriven.states.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(ran, ["LoadFact", "CheckQuality", "LaterDaysLoaded", "Done"]);
    assert_eq!(
        rows(&p, "SELECT status, failed_state, redrive_count FROM executions WHERE execution_id = 'pipeline-20250314-1'"),
        vec![vec!["SUCCEEDED".to_owned(), "NULL".into(), "1".into()]]
    );
    assert_eq!(
        rows(&p, "SELECT state_name, redrive_count FROM state_runs WHERE execution_id = 'pipeline-20250314-1' AND redrive_count = 1 ORDER BY seq"),
        vec![
            vec!["LoadFact".to_owned(), "1".into()],
            vec!["CheckQuality".to_owned(), "1".into()],
            vec!["LaterDaysLoaded".to_owned(), "1".into()],
            vec!["Done".to_owned(), "1".into()],
        ]
    );
    // The fact rows name the execution that loaded them: the redriven one.
    assert_eq!(
        rows(
            &p,
            "SELECT DISTINCT run_id FROM fact_bloodtest WHERE logical_date = DATE '2025-03-14'"
        ),
        vec![vec!["pipeline-20250314-1".to_owned()]]
    );
    let clean = pipeline(data.path());
    run_all(&clean);
    assert_eq!(fingerprints(&p), fingerprints(&clean));

    // A succeeded execution is refused.
    let err = p
        .redrive("pipeline-20250314-1", &clock(), p.tasks())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("succeeded: there is nothing to redrive"),
        "{err}"
    );
    let err = p
        .redrive("pipeline-20990101-1", &clock(), p.tasks())
        .unwrap_err();
    assert!(err.to_string().contains("no execution"), "{err}");
}

#[test]
fn a_failed_dimension_branch_is_redriven_at_its_parallel_state() {
    let data = two_days();
    let p = pipeline(data.path());
    let fault = Fault::always(p.tasks(), "dim_lab", "WarehouseError");
    let failed = p
        .run_day_with(day("2025-03-13"), Default::default(), &clock(), &fault)
        .unwrap();
    assert_eq!(failed.failed_state.as_deref(), Some("LoadDimensions"));
    let redriven = p
        .redrive("pipeline-20250313-1", &clock(), p.tasks())
        .unwrap();
    let top: Vec<&str> = redriven
        .states
        .iter()
        .filter(|r| !r.path.contains('/'))
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        top,
        [
            "LoadDimensions",
            "LoadFact",
            "CheckQuality",
            "LaterDaysLoaded",
            "Done"
        ]
    );
    run_ok(&p, "2025-03-14");
    let clean = pipeline(data.path());
    run_all(&clean);
    assert_eq!(fingerprints(&p), fingerprints(&clean));
}

#[test]
fn ovom_status_shows_a_failed_day_and_ovom_redrive_completes_it_once_the_file_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let data = Data {
        dir: tempfile::tempdir_in(dir.path()).unwrap(),
    };
    let root = data
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let bad = format!("log_data/{}/part-00000.json", folder("2025-03-14"));
    data.file(
        &format!("patient_data/{}/part-00000.json", folder("2025-03-14")),
        &[patient(1, "2025-03-14")],
    );
    data.file(
        &bad,
        &[
            test("bt-1", 1, "2025-03-14", json!({})),
            "{\"test_id\": \"bt-2\",".to_owned(),
        ],
    );

    let run = ovom_cmd(dir.path(), &["run", "--strict", "--data", &root]);
    assert_eq!(run.status.code(), Some(1));
    let status = ovom_cmd(dir.path(), &["status"]);
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        text.contains("pipeline-20250314-1")
            && text.contains("FAILED")
            && text.contains("StageBloodTests"),
        "{text}"
    );
    assert!(
        text.contains("MalformedInput") && text.contains("line 2"),
        "{text}"
    );

    // Fix the file, then redrive the latest failure.
    data.file(
        &bad,
        &[
            test("bt-1", 1, "2025-03-14", json!({})),
            test("bt-2", 1, "2025-03-14", json!({})),
        ],
    );
    let redrive = ovom_cmd(dir.path(), &["redrive", "--data", &root]);
    let out = String::from_utf8_lossy(&redrive.stdout).into_owned();
    assert!(
        redrive.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&redrive.stderr)
    );
    assert!(out.contains("loaded      2"), "{out}");
    let status = String::from_utf8_lossy(&ovom_cmd(dir.path(), &["status"]).stdout).into_owned();
    assert!(
        status.lines().nth(1).unwrap().contains("SUCCEEDED"),
        "{status}"
    );

    let again = ovom_cmd(
        dir.path(),
        &["redrive", "pipeline-20250314-1", "--data", &root],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("succeeded: there is nothing to redrive")
    );
}

/// Records the task each invocation is for, then runs it.
struct Counting<'a> {
    inner: &'a ovom_local::pipeline::Pipeline,
    seen: std::cell::RefCell<Vec<String>>,
}

impl ovom_asl::TaskHandler for Counting<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        ctx: &serde_json::Value,
    ) -> Result<serde_json::Value, ovom_asl::TaskFailure> {
        self.seen
            .borrow_mut()
            .push(task_key(input).unwrap_or("?").to_owned());
        ovom_asl::TaskHandler::invoke(self.inner.tasks(), resource, input, ctx)
    }
}

#[test]
fn a_redrive_of_the_dimensions_reruns_only_the_branches_that_did_not_succeed() {
    let data = two_days();
    let p = pipeline(data.path());
    let fault = Fault::always(p.tasks(), "dim_lab", "WarehouseError");
    let failed = p
        .run_day_with(day("2025-03-13"), Default::default(), &clock(), &fault)
        .unwrap();
    assert_eq!(failed.failed_state.as_deref(), Some("LoadDimensions"));
    let counting = Counting {
        inner: &p,
        seen: Default::default(),
    };
    let redriven = p
        .redrive(&failed.execution_id, &clock(), &counting)
        .unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    // As RedriveExecution: the doctor branch succeeded and is kept; the lab
    // branch failed and the date branch never ran.
    assert_eq!(
        counting.seen.into_inner(),
        ["dim_lab", "dim_date", "fact_bloodtest", "quality"]
    );
    let clean = pipeline(data.path());
    run_ok(&clean, "2025-03-13");
    for ((t, a), (_, b)) in fingerprints(&p).iter().zip(fingerprints(&clean)) {
        assert_eq!(*a, b, "{t}");
    }
}

#[test]
fn a_failed_range_stays_unresolved_until_each_of_its_days_has_succeeded() {
    let year = dirty_year();
    let data = Data::new();
    copy_days(year.path(), data.path(), "2025-03-01", "2025-03-05");
    let p = pipeline(data.path());
    let days = ovom_core::params::Days::new(day("2025-03-01"), Some(day("2025-03-05"))).unwrap();
    let fault = Fault::always(p.tasks(), "fact_bloodtest", "WarehouseError");
    let range = p
        .run_range_with(days, RunOptions::default(), &clock(), &fault)
        .unwrap();
    assert!(range.result.is_err());
    // One day of the range run again (leaving the days after it): the range
    // is still the failure to redrive, and the report does not call it
    // succeeded since.
    let leave = RunOptions {
        leave_later_days: true,
        ..RunOptions::default()
    };
    // Later than the range (the test clock stands still otherwise).
    let later = ovom_asl::ManualClock::new(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 2, 0, 0, 0).unwrap(),
    );
    let one = |d: &str| assert!(p.run_day(day(d), leave, &later).unwrap().result.is_ok());
    one("2025-03-01");
    assert_eq!(
        p.latest_unresolved_failure().unwrap().as_deref(),
        Some(range.execution_id.as_str())
    );
    let now = rows(
        &p,
        &ovom_local::sql::file("reports/report_failures").unwrap(),
    );
    assert_eq!(now[0][0], range.execution_id);
    assert_eq!(now[0][9], "FAILED");
    // Every day of it succeeded since: resolved.
    for d in ["2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05"] {
        one(d);
    }
    assert_eq!(p.latest_unresolved_failure().unwrap(), None);
    let now = rows(
        &p,
        &ovom_local::sql::file("reports/report_failures").unwrap(),
    );
    assert_eq!(now[0][9], "SUCCEEDED");
}

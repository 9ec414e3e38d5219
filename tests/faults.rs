//! Faults: transient errors are retried and leave a clean run's result; a
//! permanent error fails the execution at its state and leaves what the
//! failing task writes as it was, even when it strikes inside the task's
//! transaction; a process killed mid-load is resumed by running it again;
//! two processes on one warehouse do not interleave their writes.
//!
//! Faults come from the tests only: a `TaskHandler` in front of the
//! pipeline, or an object put in the warehouse's way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ovom_asl::{TaskFailure, TaskHandler};
use ovom_local::pipeline::Pipeline;
use serde_json::{json, Value};

use crate::support::*;

const D1: &str = "2025-03-13";
const D2: &str = "2025-03-14";

/// The task states, and the key the fault handler knows each by.
const TASKS: [(&str, &str); 8] = [
    ("StagePatients", "patient_data"),
    ("LoadDimPatient", "dim_patient"),
    ("StageBloodTests", "log_data"),
    ("LoadDimDoctor", "dim_doctor"),
    ("LoadDimLab", "dim_lab"),
    ("LoadDimDate", "dim_date"),
    ("LoadFact", "fact_bloodtest"),
    ("CheckQuality", "quality"),
];

/// What each task writes: a table, or the rows of one source in a table two
/// tasks share.
const WRITES: [(&str, Option<&str>, &str); 15] = [
    ("staging_patient", None, "StagePatients"),
    ("quarantine", Some("patient_data"), "StagePatients"),
    ("stage_audit", Some("patient_data"), "StagePatients"),
    ("dim_patient", None, "LoadDimPatient"),
    ("dim_patient_history", None, "LoadDimPatient"),
    ("staging_bloodtest", None, "StageBloodTests"),
    ("quarantine", Some("log_data"), "StageBloodTests"),
    ("stage_audit", Some("log_data"), "StageBloodTests"),
    ("dim_doctor", None, "LoadDimDoctor"),
    ("dim_lab", None, "LoadDimLab"),
    ("dim_date", None, "LoadDimDate"),
    ("fact_bloodtest", None, "LoadFact"),
    ("rejects", None, "LoadFact"),
    ("duplicates", None, "LoadFact"),
    ("pending_tests", None, "LoadFact"),
];

/// The top-level state a task's failure fails the execution at.
fn top_state(state: &str) -> &str {
    match state {
        "LoadDimDoctor" | "LoadDimLab" | "LoadDimDate" => "LoadDimensions",
        s => s,
    }
}

/// Two days; the second brings something new to every table: a patient, a
/// doctor, a lab, a date, a malformed line in each source, a pending test, a reject and
/// duplicates of both kinds.
fn two_days() -> Data {
    let data = Data::new();
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(D1)),
        &[patient(1, D1), patient(2, D1)],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(D1)),
        &[
            test("bt-1", 1, D1, json!({})),
            test("bt-2", 2, D1, json!({"ap_hi": 500})),
        ],
    );
    data.file(
        &format!("patient_data/{}/part-00000.json", folder(D2)),
        &[patient(3, D2), "{\"patient_id\": 4,".to_owned()],
    );
    data.file(
        &format!("log_data/{}/part-00000.json", folder(D2)),
        &[
            test(
                "bt-3",
                3,
                D2,
                json!({"doc_id": 8, "doc_name": "Dr. Blue", "lab_id": 4, "lab_name": "East Lab"}),
            ),
            test("bt-4", 1, D2, json!({})),
            test("bt-4", 1, D2, json!({})),
            test("bt-1", 1, D2, json!({})),
            test("bt-5", 3, D2, json!({"ap_hi": 70, "ap_lo": 90})),
            "{\"test_id\": \"bt-6\",".to_owned(),
            // No record of patient 9 yet: it waits.
            test("bt-8", 9, D2, json!({})),
        ],
    );
    data
}

/// The fingerprint of one entry of [`WRITES`] (as `support::fingerprint`,
/// restricted to a source's rows).
fn part(p: &Pipeline, table: &str, source: Option<&str>) -> (i64, String) {
    let cols: Vec<String> = rows(
        p,
        &format!("SELECT column_name FROM information_schema.columns WHERE table_name = '{table}' AND column_name <> 'run_id' ORDER BY ordinal_position"),
    )
    .into_iter()
    .map(|c| format!("\"{}\"", c[0]))
    .collect();
    let filter = source.map_or("TRUE".to_owned(), |s| format!("source = '{s}'"));
    let r = rows(
        p,
        &format!(
            "SELECT COUNT(*), COALESCE(md5(string_agg(row_text, '\n' ORDER BY row_text)), '') FROM (SELECT CAST(ROW({}) AS VARCHAR) AS row_text FROM {table} WHERE {filter})",
            cols.join(", ")
        ),
    );
    (r[0][0].parse().unwrap(), r[0][1].clone())
}

fn parts(p: &Pipeline) -> Vec<(i64, String)> {
    WRITES.iter().map(|(t, s, _)| part(p, t, *s)).collect()
}

/// The attempts of every task state of an execution, by state name.
fn attempts(p: &Pipeline, execution_id: &str) -> BTreeMap<String, i64> {
    rows(
        p,
        &format!("SELECT state_name, attempts FROM state_runs WHERE execution_id = '{execution_id}' AND state_type = 'Task'"),
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect()
}

#[test]
fn a_transient_failure_of_any_task_is_retried_once_and_the_day_equals_a_clean_run() {
    let data = two_days();
    let clean = pipeline(data.path());
    run_all(&clean);
    let want = fingerprints(&clean);
    for (state, key) in TASKS {
        let errors: &[&'static str] = if key.ends_with("_data") {
            &["WarehouseBusy", "StoreUnavailable"]
        } else {
            &["WarehouseBusy"]
        };
        for &error in errors {
            let p = pipeline(data.path());
            run_ok(&p, D1);
            let fault = Fault::on_attempts(p.tasks(), key, error, &[1]);
            let clock = clock();
            let run = p
                .run_day_with(day(D2), Default::default(), &clock, &fault)
                .unwrap();
            assert!(
                run.result.is_ok(),
                "{state} {error}: {:?}",
                run.result.unwrap_err()
            );
            assert_eq!(fault.seen.get(), 2, "{state} {error}: calls");
            assert_eq!(fingerprints(&p), want, "{state} {error}");
            let expected: BTreeMap<String, i64> = TASKS
                .iter()
                .map(|(s, _)| (s.to_string(), if *s == state { 2 } else { 1 }))
                .collect();
            assert_eq!(attempts(&p, &run.execution_id), expected, "{state} {error}");
            // One backoff sleep: IntervalSeconds 2 with full jitter.
            let sleeps = clock.sleeps();
            assert_eq!(sleeps.len(), 1, "{state} {error}: {sleeps:?}");
            assert!(sleeps[0] <= Duration::from_secs(2), "{state}: {sleeps:?}");
            assert_eq!(
                rows(
                    &p,
                    &format!(
                        "SELECT status FROM executions WHERE execution_id = '{}'",
                        run.execution_id
                    )
                ),
                vec![vec!["SUCCEEDED".to_owned()]]
            );
        }
    }
}

#[test]
fn a_permanent_failure_of_any_task_fails_at_its_state_and_leaves_what_it_writes_as_it_was() {
    let data = two_days();
    let clean = pipeline(data.path());
    run_all(&clean);
    let done = parts(&clean);
    let covered: BTreeSet<&str> = WRITES.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(covered, BTreeSet::from(DATA_TABLES));
    for (state, key) in TASKS {
        let p = pipeline(data.path());
        run_ok(&p, D1);
        let before = parts(&p);
        // The second day changes every table: a check below that a table
        // kept its content is not vacuous.
        for (i, (t, s, _)) in WRITES.iter().enumerate() {
            assert_ne!(before[i], done[i], "{t} {s:?}: D2 adds nothing");
        }
        let fault = Fault::always(p.tasks(), key, "WarehouseError");
        let clock = clock();
        let run = p
            .run_day_with(day(D2), Default::default(), &clock, &fault)
            .unwrap();
        let f = run.result.as_ref().unwrap_err();
        assert_eq!(f.error, "WarehouseError", "{state}");
        assert_eq!(run.failed_state.as_deref(), Some(top_state(state)));
        assert_eq!(
            rows(
                &p,
                &format!(
                    "SELECT status, failed_state, error FROM executions WHERE execution_id = '{}'",
                    run.execution_id
                )
            ),
            vec![vec![
                "FAILED".to_owned(),
                top_state(state).into(),
                "WarehouseError".into()
            ]]
        );
        assert!(clock.sleeps().is_empty(), "{state}: retried");
        assert_eq!(fault.seen.get(), 1, "{state}: retried");
        // What the tasks that succeeded wrote is committed; the failing
        // task, and those after it, left their tables as they were.
        let succeeded: BTreeSet<String> = rows(
            &p,
            &format!(
                "SELECT state_name FROM state_runs WHERE execution_id = '{}' AND state_type = 'Task' AND status = 'SUCCEEDED'",
                run.execution_id
            ),
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
        assert!(!succeeded.contains(state), "{state}");
        let after = parts(&p);
        for (i, (table, source, writer)) in WRITES.iter().enumerate() {
            let want = if succeeded.contains(*writer) {
                &done[i]
            } else {
                &before[i]
            };
            assert_eq!(&after[i], want, "{state} failed: {table} {source:?}");
        }
        // The first task failing leaves every data table as it was.
        if state == "StagePatients" {
            assert_eq!(after, before);
        }
    }
}

/// Lets the tasks through to the pipeline; `before` runs on the warehouse
/// right before each call of the task named `target` (1-based call number).
struct Before<'a, F: Fn(&Pipeline, u32)> {
    p: &'a Pipeline,
    target: &'static str,
    calls: std::cell::Cell<u32>,
    before: F,
}

impl<'a, F: Fn(&Pipeline, u32)> Before<'a, F> {
    fn new(p: &'a Pipeline, target: &'static str, before: F) -> Self {
        Self {
            p,
            target,
            calls: Default::default(),
            before,
        }
    }
}

impl<F: Fn(&Pipeline, u32)> TaskHandler for Before<'_, F> {
    fn invoke(&self, resource: &str, input: &Value, ctx: &Value) -> Result<Value, TaskFailure> {
        if task_key(input) == Some(self.target) {
            self.calls.set(self.calls.get() + 1);
            (self.before)(self.p, self.calls.get());
        }
        self.p.tasks().invoke(resource, input, ctx)
    }
}

fn sql(p: &Pipeline, batch: &str) {
    p.warehouse().connection().execute_batch(batch).unwrap();
}

/// The fact's rows, rejects and duplicates of a day with the execution that
/// wrote each.
fn fact_lineage(p: &Pipeline, d: &str) -> Vec<Vec<String>> {
    rows(
        p,
        &format!(
            "SELECT 'fact', test_id, run_id FROM fact_bloodtest WHERE logical_date = DATE '{d}'
             UNION ALL SELECT 'reject', test_id, run_id FROM rejects WHERE logical_date = DATE '{d}'
             UNION ALL SELECT 'duplicate', test_id, run_id FROM duplicates WHERE logical_date = DATE '{d}'
             ORDER BY 1, 2"
        ),
    )
}

#[test]
fn a_fact_load_failing_after_its_deletes_rolls_them_back_and_a_redrive_completes_it() {
    let data = two_days();
    let p = pipeline(data.path());
    run_ok(&p, D1);
    run_ok(&p, D2);
    let before = fingerprints(&p);
    let lineage = fact_lineage(&p, D2);
    let kinds: BTreeSet<&str> = lineage.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["duplicate", "fact", "reject"]));

    // Run the day again with a table in the way of the fact load's third
    // statement: it fails after the DELETEs of the day's rows ran, inside
    // the task's transaction.
    let handler = Before::new(&p, "fact_bloodtest", |p, _| {
        sql(p, "CREATE TEMP TABLE day_outcome (x INTEGER)")
    });
    let clock = clock();
    let run = p
        .run_day_with(day(D2), Default::default(), &clock, &handler)
        .unwrap();
    let f = run.result.as_ref().unwrap_err();
    assert_eq!(
        (f.error.as_str(), run.failed_state.as_deref()),
        ("WarehouseError", Some("LoadFact"))
    );
    assert!(f.cause.contains("day_outcome"), "{}", f.cause);
    assert!(clock.sleeps().is_empty());
    // The DELETEs were rolled back: the day's rows are still those the
    // first execution wrote.
    assert_eq!(fact_lineage(&p, D2), lineage);
    assert!(lineage.iter().all(|r| r[2] == "pipeline-20250314-1"));
    assert_eq!(fingerprints(&p), before);

    sql(&p, "DROP TABLE temp.day_outcome");
    let redriven = p.redrive(&run.execution_id, &clock, p.tasks()).unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    assert_eq!(fingerprints(&p), before);
    assert!(fact_lineage(&p, D2)
        .iter()
        .all(|r| r[2] == "pipeline-20250314-2"));
}

#[test]
fn a_stage_failing_after_it_cleared_and_copied_the_day_leaves_the_staged_day_as_it_was() {
    let data = two_days();
    let p = pipeline(data.path());
    run_ok(&p, D1);
    run_ok(&p, D2);
    let before = fingerprints(&p);
    // The day's file changes; the re-run's stage clears the day, copies the
    // new file, then fails on its audit row (a temporary table of the same
    // name is in the way), all in its transaction.
    let file = format!("log_data/{}/part-00001.json", folder(D2));
    data.file(&file, &[test("bt-7", 3, D2, json!({}))]);
    let handler = Before::new(&p, "log_data", |p, _| {
        sql(
            p,
            "CREATE TEMP TABLE stage_audit (logical_date DATE, source VARCHAR)",
        )
    });
    let clock = clock();
    let run = p
        .run_day_with(day(D2), Default::default(), &clock, &handler)
        .unwrap();
    let f = run.result.as_ref().unwrap_err();
    assert_eq!(
        (f.error.as_str(), run.failed_state.as_deref()),
        ("WarehouseError", Some("StageBloodTests"))
    );
    assert!(clock.sleeps().is_empty());
    assert!(f.cause.contains("stage_audit"), "{}", f.cause);
    sql(&p, "DROP TABLE temp.stage_audit");
    // Neither the clearing nor the copy of the new file is visible.
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM staging_bloodtest WHERE test_id = 'bt-7'"
        ),
        0
    );
    assert_eq!(fingerprints(&p), before);

    let redriven = p.redrive(&run.execution_id, &clock, p.tasks()).unwrap();
    assert!(redriven.result.is_ok(), "{:?}", redriven.result);
    let clean = pipeline(data.path());
    run_all(&clean);
    assert_eq!(fingerprints(&p), fingerprints(&clean));
    assert_ne!(fingerprints(&p), before);
}

#[test]
fn a_write_conflict_inside_a_task_is_retried_and_the_day_equals_a_clean_run() {
    let data = two_days();
    let p = pipeline(data.path());
    run_ok(&p, D1);
    run_ok(&p, D2);
    data.file(
        &format!("log_data/{}/part-00001.json", folder(D2)),
        &[test("bt-7", 3, D2, json!({}))],
    );
    // Another connection holds the day's audit row: the stage's first
    // attempt clears and copies the day, then conflicts on that row; the
    // conflict is gone by the second attempt.
    let other = p.warehouse().connection().try_clone().unwrap();
    let handler = Before::new(&p, "log_data", |_, call| {
        if call == 1 {
            other
                .execute_batch(&format!("BEGIN; DELETE FROM stage_audit WHERE logical_date = DATE '{D2}' AND source = 'log_data'"))
                .unwrap();
        } else {
            other.execute_batch("ROLLBACK").unwrap();
        }
    });
    let clock = clock();
    let run = p
        .run_day_with(day(D2), Default::default(), &clock, &handler)
        .unwrap();
    assert!(run.result.is_ok(), "{:?}", run.result);
    assert_eq!(handler.calls.get(), 2);
    assert_eq!(clock.sleeps().len(), 1);
    assert_eq!(attempts(&p, &run.execution_id)["StageBloodTests"], 2);
    let stage = run
        .states
        .iter()
        .find(|r| r.name == "StageBloodTests")
        .unwrap();
    assert_eq!(stage.attempts, 2);
    let clean = pipeline(data.path());
    run_all(&clean);
    assert_eq!(fingerprints(&p), fingerprints(&clean));
}

/// Executions still RUNNING in a warehouse file, read without changing it.
fn running(warehouse: &Path) -> Vec<String> {
    let wh = ovom_duckdb::DuckWarehouse::open_read_only(warehouse).unwrap();
    // A process killed while it created the schema has no audit table yet.
    let tables = ovom::query::run(
        wh.connection(),
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'executions'",
    )
    .unwrap();
    if tables.rows[0][0] == "0" {
        return vec![];
    }
    ovom::query::run(
        wh.connection(),
        "SELECT execution_id FROM executions WHERE status = 'RUNNING'",
    )
    .unwrap()
    .rows
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

#[test]
fn ovom_run_killed_mid_load_at_any_point_is_completed_by_running_it_again() {
    let all = tempfile::tempdir().unwrap();
    generate(all.path(), 700, 7000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_days(all.path(), &data, "2025-01-01", "2025-12-31");
    let wal = dir.path().join("ovom.duckdb.wal");
    let warehouse = dir.path().join("ovom.duckdb");

    // Each round starts `ovom run` (one execution over the year) and kills
    // it (SIGKILL) once its write-ahead log has grown past a threshold: at a
    // different point of the execution each time (a whole run writes about
    // 3 MB of log).
    // A round killed before it opened the warehouse leaves the previous
    // round's execution RUNNING: a set, so it counts once.
    let mut aborted = std::collections::BTreeSet::new();
    for threshold in [1_000, 40_000, 150_000, 900_000, 2_000_000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ovom"))
            .args(["run"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The log this process writes: a killed process's log is replayed
        // and emptied when the next one opens the warehouse.
        let spawned = std::time::SystemTime::now();
        let written = || {
            std::fs::metadata(&wal).map_or(0, |m| {
                if m.modified().unwrap() > spawned {
                    m.len()
                } else {
                    0
                }
            })
        };
        let started = Instant::now();
        while written() < threshold && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {threshold}: ended before the kill"
        );
        // The execution the process was in is still RUNNING in the file.
        aborted.extend(running(&warehouse));
    }
    assert!(!aborted.is_empty(), "no kill landed inside an execution");

    let again = ovom_cmd(dir.path(), &["run"]);
    assert!(
        again.status.success(),
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    let p = pipeline_file(&data, dir.path());
    // The clean run `ovom run` makes: the data's days as one range.
    let clean = pipeline(&data);
    let days = clean.days().unwrap();
    let range = ovom_core::params::Days::new(days[0], days.last().copied()).unwrap();
    let run = clean
        .run_range(range, ovom_local::pipeline::RunOptions::default(), &clock())
        .unwrap();
    assert!(run.result.is_ok());
    assert_eq!(fingerprints(&p), fingerprints(&clean));
    // Each killed execution was marked ABORTED when the warehouse was next
    // opened for writing.
    for id in &aborted {
        assert_eq!(
            rows(
                &p,
                &format!("SELECT status, error FROM executions WHERE execution_id = '{id}'")
            ),
            vec![vec!["ABORTED".to_owned(), "States.Aborted".into()]],
            "{id}"
        );
    }
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM executions WHERE status = 'RUNNING'"
        ),
        0
    );
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM executions WHERE status = 'ABORTED'"
        ),
        aborted.len() as i64
    );
}

fn busy_message(stderr: &str, warehouse: &str) -> bool {
    stderr.contains(&format!(
        "the warehouse {warehouse} is in use by another ovom process: wait for it to finish"
    ))
}

#[test]
fn a_second_ovom_on_a_warehouse_in_use_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("data"), 70, 700);
    let d = "2025-03-14";
    let first = ovom_cmd(dir.path(), &["run", "--date", d]);
    assert!(first.status.success());
    // This process holds the warehouse for writing, as an `ovom run` would.
    let held = pipeline_file(&dir.path().join("data"), dir.path());
    let before = fingerprints(&held);
    let out = ovom_cmd(dir.path(), &["run", "--date", d]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(busy_message(&stderr, "ovom.duckdb"), "{stderr}");
    let redrive = ovom_cmd(dir.path(), &["redrive", "pipeline-20250314-1"]);
    let stderr = String::from_utf8_lossy(&redrive.stderr).into_owned();
    assert!(busy_message(&stderr, "ovom.duckdb"), "{stderr}");
    assert_eq!(fingerprints(&held), before);
    assert_eq!(scalar(&held, "SELECT COUNT(*) FROM executions"), 1);
}

#[test]
fn two_ovom_runs_of_a_day_started_together_do_not_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&data, 700, 7000);
    let d = "2025-03-14";
    assert!(ovom_cmd(dir.path(), &["run", "--date", "2025-03-13"])
        .status
        .success());
    let clean = pipeline(&data);
    run_ok(&clean, "2025-03-13");
    run_ok(&clean, d);
    let want = fingerprints(&clean);

    let mut refused = 0;
    for round in 0..6 {
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_ovom"))
                .args(["run", "--date", d])
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let failed: Vec<_> = outs.iter().filter(|o| !o.status.success()).collect();
        assert!(failed.len() <= 1, "round {round}: both failed");
        for o in failed {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{stderr}");
            assert!(busy_message(&stderr, "ovom.duckdb"), "{stderr}");
            refused += 1;
        }
        let p = pipeline_file(&data, dir.path());
        assert_eq!(
            scalar(
                &p,
                "SELECT COUNT(*) - COUNT(DISTINCT test_id) FROM fact_bloodtest"
            ),
            0,
            "round {round}"
        );
        assert_eq!(fingerprints(&p), want, "round {round}");
        assert_eq!(
            scalar(
                &p,
                "SELECT COUNT(*) FROM executions WHERE status <> 'SUCCEEDED'"
            ),
            0
        );
    }
    // Started together, the two processes did meet on the warehouse.
    assert!(refused > 0, "the two runs never overlapped");
}

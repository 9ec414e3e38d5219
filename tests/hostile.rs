//! Hostile parameters at every entry point — the command line, the task
//! events, the state machine's input and the data roots — are refused with
//! an error that says what is wrong, are not retried, and change nothing.

use std::collections::BTreeSet;
use std::path::Path;

use ovom_asl::{Executor, NoopObserver};
use ovom_core::error::Retry;
use ovom_core::handler::{handle, TaskKind};
use ovom_core::local_dir::LocalDir;
use ovom_core::ports::ObjectStore;
use ovom_core::TaskError;
use ovom_local::pipeline::Pipeline;
use serde_json::{json, Value};

use crate::support::*;

const D1: &str = "2025-03-13";
const D2: &str = "2025-03-14";

/// Two days of valid data.
fn two_days() -> Data {
    let data = Data::new();
    for (i, d) in [D1, D2].into_iter().enumerate() {
        let id = i as i64 + 1;
        data.file(
            &format!("patient_data/{}/part-00000.json", folder(d)),
            &[patient(id, d)],
        );
        data.file(
            &format!("log_data/{}/part-00000.json", folder(d)),
            &[
                test(&format!("bt-{id}a"), id, d, json!({})),
                test(&format!("bt-{id}b"), id, d, json!({"ap_hi": 500})),
            ],
        );
    }
    data
}

/// The data tables' fingerprints, and the audit tables' rows.
type State = (Vec<(&'static str, (i64, String))>, Vec<Vec<String>>);

/// Everything a run can leave behind: the data tables and the audit.
fn state(p: &Pipeline) -> State {
    (
        fingerprints(p),
        rows(
            p,
            "SELECT * FROM executions UNION ALL BY NAME SELECT * FROM state_runs ORDER BY ALL",
        ),
    )
}

fn big(n: usize) -> String {
    "9".repeat(n)
}

// ---------------------------------------------------------------- the CLI

/// The files of a folder's top level (the WAL of a warehouse closed since
/// aside).
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".wal"))
        .collect()
}

#[test]
fn hostile_command_lines_are_refused_before_they_touch_the_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&data, 70, 700);
    assert!(ovom_cmd(dir.path(), &["run", "--date", D2])
        .status
        .success());
    let snapshot = || state(&pipeline_file(&data, dir.path()));
    let before = snapshot();
    let files = listing(dir.path());

    let huge = big(100_000);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                "--date",
                "2025-01-01'; DROP TABLE fact_bloodtest; --",
            ],
            "is not a date",
        ),
        (vec!["run", "--date", "99999-01-01"], "is not a date"),
        (vec!["run", "--date", "2025-03-14\n"], "is not a date"),
        (vec!["run", "--date", &huge], "is not a date"),
        (
            vec!["backfill", "--from", "0001-01-01", "--to", "9999-12-31"],
            "outside 1970..=2100",
        ),
        (
            vec!["backfill", "--from", "1970-01-01", "--to", "2100-12-31"],
            "a backfill loads at most",
        ),
        (
            vec!["backfill", "--from", "2025-03-14", "--to", &huge],
            "is not a date",
        ),
        (
            vec!["run", "--date", D2, "--dim-mode", "nonsense"],
            "invalid value 'nonsense' for '--dim-mode",
        ),
        (
            vec!["run", "--dim-mode", "merge'; DROP TABLE dim_patient; --"],
            "invalid value",
        ),
        (
            vec![
                "backfill",
                "--from",
                D1,
                "--to",
                D2,
                "--dim-mode",
                "truncate",
            ],
            "invalid value 'truncate'",
        ),
        (
            vec!["redrive", "x'; DROP TABLE executions; --"],
            "is not an execution id",
        ),
        (vec!["status", "--limit", "99999999999"], "invalid value"),
        (
            vec!["status", "--limit", "1; DROP TABLE executions"],
            "invalid value",
        ),
        // `ovom query` runs an analyst's SQL, read-only: no statement can
        // write the warehouse, nor any other file.
        (
            vec!["query", "DELETE FROM fact_bloodtest"],
            "read-only mode",
        ),
        (vec!["query", "DROP TABLE executions"], "read-only mode"),
        (
            vec!["query", "UPDATE executions SET status = 'SUCCEEDED'"],
            "read-only mode",
        ),
        (
            vec!["query", "INSERT INTO dim_lab SELECT * FROM dim_lab"],
            "read-only mode",
        ),
        (
            vec!["query", "SELECT 1; DELETE FROM fact_bloodtest"],
            "runs one statement",
        ),
        (
            vec!["query", "CREATE TABLE leak AS SELECT * FROM fact_bloodtest"],
            "read-only mode",
        ),
        (
            vec!["query", "COPY fact_bloodtest TO 'leak.csv'"],
            "file system operations are disabled",
        ),
        (
            vec!["query", "ATTACH 'other.duckdb' AS other (READ_WRITE)"],
            "file system operations are disabled",
        ),
        (
            vec![
                "query",
                "ATTACH 'ovom.duckdb' AS rw (READ_WRITE); DELETE FROM rw.fact_bloodtest",
            ],
            "runs one statement",
        ),
        (
            vec!["query", "ATTACH 'ovom.duckdb' AS rw (READ_WRITE)"],
            "Cannot attach",
        ),
        (
            vec!["query", "EXPORT DATABASE 'dump'"],
            "file system operations are disabled",
        ),
        (
            vec![
                "query",
                "SET enable_external_access = true; COPY fact_bloodtest TO 'leak.csv'",
            ],
            "runs one statement",
        ),
        (
            vec!["query", "SET enable_external_access = true"],
            "Cannot enable external access",
        ),
    ];
    for (args, needle) in cases {
        let out = ovom_cmd(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let shown: Vec<String> = args.iter().map(|a| a.chars().take(60).collect()).collect();
        assert_eq!(out.status.code(), Some(2), "{shown:?}: {stderr}");
        assert!(stderr.contains(needle), "{shown:?}: {stderr}");
        // A clear error: one that does not repeat 100 kB of input.
        assert!(stderr.len() < 4_000, "{shown:?}: {} bytes", stderr.len());
        assert_eq!(listing(dir.path()), files, "{shown:?} left a file");
    }
    assert_eq!(snapshot(), before);
}

// ------------------------------------------------------------ task events

/// A Lambda event refused as `InvalidParameters` naming `field`, not
/// retried, with a short message holding `says`.
fn refused(p: &Pipeline, kind: TaskKind, event: &Value, field: &str, says: &str) {
    let shown: String = event.to_string().chars().take(120).collect();
    let err = handle(kind, event, None, &mut *p.warehouse(), p.store()).unwrap_err();
    assert_eq!(err.retry(), Retry::Never, "{shown}");
    assert!(ovom_core::error::caught(err.name()), "{shown}");
    match &err {
        TaskError::InvalidParameters { field: f, reason } => {
            assert_eq!(f, field, "{shown}: {reason}");
            assert!(reason.contains(says), "{shown}: `{reason}` lacks `{says}`");
            assert!(reason.len() < 1_000, "{shown}: {} bytes", reason.len());
        }
        other => panic!("{shown}: {other:?}"),
    }
}

fn stage(over: Value) -> Value {
    with(
        json!({"source": "log_data", "logical_date": D2, "run_id": "r-1"}),
        over,
    )
}

fn load(over: Value) -> Value {
    with(
        json!({"model": "dim_patient", "mode": "merge", "logical_date": D2, "run_id": "r-1"}),
        over,
    )
}

fn quality(over: Value) -> Value {
    with(
        json!({"checks": ["test_id_unique"], "logical_date": D2, "run_id": "r-1"}),
        over,
    )
}

fn with(mut event: Value, over: Value) -> Value {
    for (k, v) in over.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

#[test]
fn hostile_task_events_are_refused_naming_the_field_and_change_nothing() {
    use TaskKind::*;
    let data = two_days();
    let p = pipeline(data.path());
    run_ok(&p, D1);
    run_ok(&p, D2);
    let before = state(&p);
    let long = "x".repeat(10_000);
    let huge = "x".repeat(100_000);
    // A 10 kB field name is named by its first 64 characters.
    let long_key = Value::Object([(long.clone(), json!(1))].into_iter().collect());
    let long_field = format!("{}…", &long[..64]);
    let cases: Vec<(TaskKind, Value, &str, &str)> = vec![
        // SQL in the day, the names and the run id.
        (
            Stage,
            stage(json!({"logical_date": "2025-01-01' OR '1'='1"})),
            "logical_date",
            "is not a date",
        ),
        (
            Load,
            load(json!({"logical_date": "2025-01-01; DROP TABLE fact_bloodtest"})),
            "logical_date",
            "is not a date",
        ),
        (
            Quality,
            quality(json!({"logical_date": "'; DELETE FROM rejects; --"})),
            "logical_date",
            "is not a date",
        ),
        (
            Load,
            load(json!({"model": "dim_patient; DROP TABLE fact_bloodtest; --"})),
            "model",
            "unknown variant",
        ),
        (
            Load,
            load(json!({"model": "DIM_PATIENT"})),
            "model",
            "unknown variant",
        ),
        (
            Load,
            load(json!({"model": "dim_patient\" OR 1=1"})),
            "model",
            "unknown variant",
        ),
        (
            Load,
            load(json!({"mode": "merge'; DROP TABLE dim_patient; --"})),
            "mode",
            "unknown variant",
        ),
        (
            Quality,
            quality(json!({"checks": ["test_id_unique", "1=1; DROP TABLE executions"]})),
            "checks",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"run_id": "r-1'; DROP TABLE executions; --"})),
            "run_id",
            "must be 1 to 80",
        ),
        (
            Stage,
            stage(json!({"run_id": "r\"1"})),
            "run_id",
            "must be 1 to 80",
        ),
        (
            Load,
            load(json!({"run_id": "r-1' OR ''='"})),
            "run_id",
            "must be 1 to 80",
        ),
        (
            Quality,
            quality(json!({"run_id": ""})),
            "run_id",
            "must be 1 to 80",
        ),
        (
            Stage,
            stage(json!({"run_id": "r\n1"})),
            "run_id",
            "must be 1 to 80",
        ),
        // Paths in the source: only the two folder names are sources.
        (
            Stage,
            stage(json!({"source": "../../etc/passwd"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "/etc/passwd"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "log_data/../patient_data"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "log_data/2025/03/14"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "log_data\u{0}"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "LOG_DATA"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "s3://other-bucket/log_data"})),
            "source",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"source": "file:///etc/passwd"})),
            "source",
            "unknown variant",
        ),
        // Days that only look like one.
        (
            Stage,
            stage(json!({"logical_date": "2025-03-14\n"})),
            "logical_date",
            "is not a date",
        ),
        (
            Stage,
            stage(json!({"logical_date": "２０２５-03-14"})),
            "logical_date",
            "is not a date",
        ),
        (
            Stage,
            stage(json!({"logical_date": "2025-3-14"})),
            "logical_date",
            "is not a date",
        ),
        (
            Stage,
            stage(json!({"logical_date": "99999-01-01"})),
            "logical_date",
            "is not a date",
        ),
        // Long strings: an event over 16 kB is refused whole; a long field
        // within it is refused without being repeated.
        (
            Stage,
            stage(json!({"logical_date": huge})),
            "event",
            "larger than",
        ),
        (Load, load(json!({"model": huge})), "event", "larger than"),
        (
            Quality,
            quality(json!({"checks": [huge]})),
            "event",
            "larger than",
        ),
        (
            Stage,
            stage(json!({"run_id": huge})),
            "event",
            "larger than",
        ),
        (
            Stage,
            stage(json!({"logical_date": long})),
            "logical_date",
            "is not a date",
        ),
        (
            Load,
            load(json!({"model": long})),
            "model",
            "unknown variant",
        ),
        (
            Stage,
            stage(json!({"run_id": long})),
            "run_id",
            "must be 1 to 80",
        ),
        (Stage, stage(long_key), &long_field, "unknown field"),
        // Unknown fields.
        (
            Stage,
            stage(json!({"sql": "DROP TABLE fact_bloodtest"})),
            "sql",
            "unknown field `sql`",
        ),
        (
            Stage,
            stage(json!({"Source": "log_data"})),
            "Source",
            "unknown field `Source`",
        ),
        (
            Stage,
            stage(json!({"model": "dim_patient"})),
            "model",
            "unknown field `model`",
        ),
        (
            Load,
            load(json!({"checks": ["test_id_unique"]})),
            "checks",
            "unknown field `checks`",
        ),
        (
            Quality,
            quality(json!({"strict": true})),
            "strict",
            "unknown field `strict`",
        ),
        // Wrong types.
        (
            Stage,
            stage(json!({"strict": "yes"})),
            "strict",
            "expected a boolean",
        ),
        (
            Stage,
            stage(json!({"strict": 1})),
            "strict",
            "expected a boolean",
        ),
        (
            Stage,
            stage(json!({"max_errors": -1})),
            "max_errors",
            "invalid value",
        ),
        (
            Stage,
            stage(json!({"max_errors": "10"})),
            "max_errors",
            "invalid type",
        ),
        (
            Stage,
            stage(json!({"max_errors": 1e9})),
            "max_errors",
            "invalid type",
        ),
        (
            Stage,
            stage(json!({"logical_date": 20250314})),
            "logical_date",
            "invalid type",
        ),
        (
            Stage,
            stage(json!({"logical_date": ["2025-03-14"]})),
            "logical_date",
            "invalid type",
        ),
        (
            Stage,
            stage(json!({"logical_date": {"$gt": ""}})),
            "logical_date",
            "invalid type",
        ),
        (
            Stage,
            stage(json!({"logical_date": null})),
            "logical_date",
            "invalid type",
        ),
        (
            Stage,
            stage(json!({"run_id": 42})),
            "run_id",
            "invalid type",
        ),
        (Stage, stage(json!({"source": 1})), "source", "invalid type"),
        (Load, load(json!({"model": null})), "model", "invalid type"),
        (Load, load(json!({"mode": 5})), "mode", "invalid type"),
        (
            Quality,
            quality(json!({"checks": "test_id_unique"})),
            "checks",
            "invalid type",
        ),
        (
            Quality,
            quality(json!({"checks": [1]})),
            "checks",
            "invalid type",
        ),
        // Values out of bounds.
        (
            Stage,
            stage(json!({"max_errors": 1_000_000})),
            "max_errors",
            "above 100000",
        ),
        (
            Load,
            load(json!({"model": "fact_bloodtest"})),
            "mode",
            "fact_bloodtest has no mode",
        ),
        (
            Quality,
            quality(json!({"checks": []})),
            "checks",
            "is empty",
        ),
        (
            Quality,
            quality(json!({"checks": vec!["test_id_unique"; 13]})),
            "checks",
            "too many",
        ),
        // Events that are not objects, or lack a field.
        (Stage, json!([]), "event", "expected struct StageParams"),
        (Load, json!(null), "event", "invalid type"),
        (Quality, json!("SELECT 1"), "event", "invalid type"),
        (Stage, json!(42), "event", "invalid type"),
        (Load, json!([{"model": "dim_patient"}]), "event", "expected"),
        (Stage, json!({}), "event", "missing field"),
        (
            Load,
            json!({"model": "dim_lab", "logical_date": D2}),
            "event",
            "missing field `run_id`",
        ),
    ];
    for (kind, event, field, says) in &cases {
        refused(&p, *kind, event, field, says);
    }
    assert_eq!(state(&p), before);
}

// ---------------------------------------------------- state machine input

#[test]
fn hostile_state_machine_input_ends_in_the_fail_state_unretried_and_changes_nothing() {
    let data = two_days();
    let p = pipeline(data.path());
    run_ok(&p, D1);
    let before = fingerprints(&p);
    let huge = big(100_000);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "pipeline-1",
            json!({"logical_date": "2025-01-01' OR 1=1 --", "dim_mode": "merge", "strict": false}),
            "is not a date",
        ),
        (
            "pipeline-2",
            json!({"logical_date": D2, "dim_mode": "merge", "strict": "yes"}),
            "rerun_later_days and allow_empty true or false",
        ),
        (
            "pipeline-2b",
            json!({"logical_date": D2, "dim_mode": "merge", "strict": false, "rerun_later_days": "yes"}),
            "rerun_later_days and allow_empty true or false",
        ),
        (
            "pipeline-3",
            json!({"logical_date": huge, "dim_mode": "merge", "strict": false}),
            "larger than",
        ),
        (
            "pipeline-4",
            json!({"logical_date": null, "dim_mode": "merge", "strict": false}),
            "invalid type",
        ),
        // The execution's name is every task's run id.
        (
            "x'; DROP TABLE executions; --",
            json!({"logical_date": D2, "dim_mode": "merge", "strict": false}),
            "must be 1 to 80",
        ),
        (
            "pipeline-6",
            json!({"logical_date": D2, "dim_mode": "upsert'; DROP TABLE dim_patient; --", "strict": false}),
            "dim_mode must be",
        ),
        (
            "pipeline-7",
            json!({"logical_date": D2, "strict": false}),
            "dim_mode must be",
        ),
    ];
    for (name, input, says) in cases {
        let shown: String = input.to_string().chars().take(120).collect();
        let clock = clock();
        let failure = Executor::new(p.machine(), p.tasks(), &clock, &NoopObserver)
            .with_execution_name(name)
            .run(input.clone())
            .unwrap_err();
        assert_eq!(
            (failure.error.as_str(), failure.state.as_str()),
            ("InvalidParameters", "Failed"),
            "{shown}: {}",
            failure.cause
        );
        assert!(failure.cause.contains(says), "{shown}: {}", failure.cause);
        assert!(failure.cause.len() < 1_000, "{shown}");
        assert!(clock.sleeps().is_empty(), "{shown}: retried");
        assert_eq!(fingerprints(&p), before, "{shown}");
    }
    // A scheduled time that is no timestamp: the date arithmetic (JSONata,
    // which no Catch can take) fails the execution before any task runs.
    let clock = clock();
    let failure = Executor::new(p.machine(), p.tasks(), &clock, &NoopObserver)
        .with_execution_name("pipeline-5")
        .run(json!({"scheduled_time": "2025-03-14'; DROP TABLE fact_bloodtest; --T23:50:00Z"}))
        .unwrap_err();
    assert_eq!(
        (failure.error.as_str(), failure.state.as_str()),
        ("States.QueryEvaluationError", "LogicalDateFromSchedule"),
        "{}",
        failure.cause
    );
    assert!(
        failure.cause.contains("is not an ISO 8601 timestamp"),
        "{}",
        failure.cause
    );
    assert!(clock.sleeps().is_empty(), "retried");
    assert_eq!(fingerprints(&p), before);
}

// ------------------------------------------------------------- data roots

#[test]
fn the_local_store_refuses_keys_that_leave_its_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("log_data")).unwrap();
    std::fs::write(outer.path().join("secret.json"), b"{\"secret\": true}\n").unwrap();
    std::fs::write(root.join("log_data/ok.json"), b"{}\n").unwrap();
    let store = LocalDir::new(&root);
    let outside = outer.path().join("secret.json").display().to_string();
    for key in [
        "../secret.json",
        "log_data/../../secret.json",
        "log_data/../../../etc/passwd",
        "/etc/passwd",
        outside.as_str(),
        "./../secret.json",
        "..",
        "",
        "log_data\\..\\..\\secret.json",
    ] {
        for result in [
            store.get(key).map(|_| ()),
            store.put(key, b"overwritten").map(|_| ()),
            store.list(key).map(|_| ()),
        ] {
            match result {
                Err(TaskError::StoreError { detail, .. }) => {
                    assert!(
                        detail.contains("relative path inside the data root"),
                        "{key:?}: {detail}"
                    )
                }
                other => panic!("{key:?} was not refused: {other:?}"),
            }
        }
    }
    // Nothing was written or overwritten, inside or outside the root.
    assert_eq!(
        std::fs::read(outer.path().join("secret.json")).unwrap(),
        b"{\"secret\": true}\n"
    );
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(outer.path()),
        BTreeSet::from(["root".into(), "secret.json".into()])
    );
    assert_eq!(names(&root), BTreeSet::from(["log_data".to_owned()]));
    assert_eq!(
        names(&root.join("log_data")),
        BTreeSet::from(["ok.json".to_owned()])
    );
    // A key inside the root still works.
    assert_eq!(store.get("log_data/ok.json").unwrap(), b"{}\n");
}

#[test]
fn s3_data_roots_that_leave_the_bucket_or_are_not_s3_are_refused() {
    // The adapter's own tests hold the long list; these are the roots they
    // did not name.
    for (root, says) in [
        ("s3://bucket/../x", "`..`"),
        ("s3:///x", "missing"),
        ("s3://Bad_Bucket", "lowercase"),
        ("s3://Bad_Bucket/raw", "lowercase"),
        ("file:///etc/passwd", "s3://"),
        ("file://ovom-bucket/raw", "s3://"),
        ("http://ovom-bucket/raw", "s3://"),
        ("http://169.254.169.254/latest/meta-data", "s3://"),
        ("s3://ovom-bucket/raw/..", "`..`"),
        ("s3://ovom-bucket/raw/%2F..%2F", "percent"),
    ] {
        match ovom_aws::s3::DataRoot::parse(root) {
            Err(TaskError::InvalidParameters { field, reason }) => {
                assert_eq!(field, "data_root", "{root}");
                assert!(reason.contains(says), "{root}: {reason}");
            }
            other => panic!("{root} was not refused: {other:?}"),
        }
    }
}

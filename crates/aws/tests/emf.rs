//! The functions' metric documents against the CloudWatch embedded metric
//! format specification, and the values they carry for each task type.
//!
//! `validate` follows the specification's rules: a `_aws` metadata object
//! with an integer `Timestamp` and a `CloudWatchMetrics` array of directives;
//! each directive exactly `Namespace`, `Dimensions` (at least one set, each
//! of at most 30 keys) and `Metrics` (at most 100 definitions of `Name` and
//! an optional `Unit` from CloudWatch's list); every dimension a top-level
//! string member and every metric a top-level number (or array of at most
//! 100 numbers); names 1 to 255 characters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ovom_aws::emf::{self, documents, Failure, Properties, METRIC_NAMES, NAMESPACE};
use ovom_core::handler::TaskKind;
use ovom_core::handler::TaskReport;
use ovom_core::params::{Check, DimMode, Model, Source};
use ovom_core::reports::{CheckResult, LoadReport, QualityReport, StageReport};
use ovom_core::sql::Comparison;
use ovom_core::TaskError;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// The validator
// ---------------------------------------------------------------------------

/// CloudWatch's metric units (`MetricDatum`), as the specification's schema
/// lists them.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const MAX_METRICS: usize = 100;
const MAX_DIMENSIONS: usize = 30;
const MAX_VALUES: usize = 100;
const MAX_NAME: usize = 255;
const MAX_DIMENSION_VALUE: usize = 1024;

/// What a valid document declares: `(dimension set, metric name, unit)` per
/// metric.
type Declared = Vec<(Vec<String>, String, String)>;

/// Check a document against the specification; its declared metrics, or
/// every problem found.
fn validate(doc: &Value) -> Result<Declared, Vec<String>> {
    let mut errors = vec![];
    let mut declared = vec![];
    let mut err = |e: String| errors.push(e);

    let line = doc.to_string();
    if line.len() > MAX_DOCUMENT_BYTES {
        err(format!("{} bytes is above the event limit", line.len()));
    }
    let Some(root) = doc.as_object() else {
        return Err(vec!["the root is not an object".into()]);
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return Err(vec!["no `_aws` metadata object".into()]);
    };
    for key in aws.keys() {
        if !["Timestamp", "CloudWatchMetrics"].contains(&key.as_str()) {
            err(format!("`_aws` has an unknown member `{key}`"));
        }
    }
    match aws.get("Timestamp") {
        Some(t) if t.is_u64() => {}
        other => err(format!("`_aws.Timestamp` is not an integer: {other:?}")),
    }
    let directives = match aws.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => d.as_slice(),
        other => {
            err(format!(
                "`CloudWatchMetrics` is not a non-empty array: {other:?}"
            ));
            &[]
        }
    };
    for (i, directive) in directives.iter().enumerate() {
        let Some(directive) = directive.as_object() else {
            err(format!("directive {i} is not an object"));
            continue;
        };
        for key in directive.keys() {
            if !["Namespace", "Dimensions", "Metrics"].contains(&key.as_str()) {
                err(format!("directive {i} has an unknown member `{key}`"));
            }
        }
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(ns) if name_ok(ns) && !ns.starts_with("AWS/") => {}
            other => err(format!("directive {i}: bad Namespace {other:?}")),
        }

        let mut dimension_names = BTreeSet::new();
        let mut sets: Vec<Vec<String>> = vec![];
        match directive.get("Dimensions").and_then(Value::as_array) {
            Some(d) if !d.is_empty() => {
                for set in d {
                    let Some(set) = set.as_array() else {
                        err(format!("directive {i}: a dimension set is not an array"));
                        continue;
                    };
                    if set.len() > MAX_DIMENSIONS {
                        err(format!("directive {i}: {} dimensions in a set", set.len()));
                    }
                    let mut names = vec![];
                    for key in set {
                        let Some(key) = key.as_str().filter(|k| name_ok(k)) else {
                            err(format!("directive {i}: bad dimension key {key}"));
                            continue;
                        };
                        if names.contains(&key.to_owned()) {
                            err(format!("directive {i}: dimension `{key}` twice in a set"));
                        }
                        names.push(key.to_owned());
                        dimension_names.insert(key.to_owned());
                        match root.get(key) {
                            Some(Value::String(v)) if dimension_value_ok(v) => {}
                            Some(other) => {
                                err(format!("dimension `{key}` is not a valid string: {other}"))
                            }
                            None => err(format!("dimension `{key}` is not a top-level member")),
                        }
                    }
                    sets.push(names);
                }
            }
            other => err(format!(
                "directive {i}: Dimensions is not a non-empty array: {other:?}"
            )),
        }

        let metrics = match directive.get("Metrics").and_then(Value::as_array) {
            Some(m) if !m.is_empty() => m.as_slice(),
            other => {
                err(format!(
                    "directive {i}: Metrics is not a non-empty array: {other:?}"
                ));
                &[]
            }
        };
        if metrics.len() > MAX_METRICS {
            err(format!(
                "directive {i}: {} metric definitions",
                metrics.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for definition in metrics {
            let Some(definition) = definition.as_object() else {
                err(format!(
                    "directive {i}: a metric definition is not an object"
                ));
                continue;
            };
            for key in definition.keys() {
                if !["Name", "Unit", "StorageResolution"].contains(&key.as_str()) {
                    err(format!("directive {i}: metric definition member `{key}`"));
                }
            }
            let Some(name) = definition
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| name_ok(n))
            else {
                err(format!("directive {i}: bad metric Name in {definition:?}"));
                continue;
            };
            if !seen.insert(name.to_owned()) {
                err(format!("directive {i}: metric `{name}` defined twice"));
            }
            if dimension_names.contains(name) {
                err(format!("`{name}` is both a dimension and a metric"));
            }
            let unit = match definition.get("Unit") {
                None => "None".to_owned(),
                Some(Value::String(u)) if UNITS.contains(&u.as_str()) => u.clone(),
                Some(other) => {
                    err(format!(
                        "metric `{name}`: unit {other} is not a CloudWatch unit"
                    ));
                    continue;
                }
            };
            match definition.get("StorageResolution") {
                None => {}
                Some(r) if r == 1 || r == 60 => {}
                Some(other) => err(format!("metric `{name}`: storage resolution {other}")),
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= MAX_VALUES && values.iter().all(Value::is_number) => {}
                Some(other) => err(format!("metric `{name}` is not a number: {other}")),
                None => err(format!("metric `{name}` is not a top-level member")),
            }
            for set in &sets {
                declared.push((set.clone(), name.to_owned(), unit.clone()));
            }
        }
    }
    if errors.is_empty() {
        Ok(declared)
    } else {
        Err(errors)
    }
}

/// A dimension or metric name, or a namespace: 1 to 255 ASCII characters,
/// not all blank, no control character, not beginning with `:`.
fn name_ok(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && printable(name)
}

fn dimension_value_ok(value: &str) -> bool {
    (1..=MAX_DIMENSION_VALUE).contains(&value.len()) && printable(value)
}

fn printable(s: &str) -> bool {
    s.is_ascii()
        && !s.starts_with(':')
        && !s.trim().is_empty()
        && !s.bytes().any(|b| b.is_ascii_control())
}

/// Validate every document, panicking with the problems.
fn valid(docs: &[Value]) -> Declared {
    assert!(!docs.is_empty());
    docs.iter()
        .flat_map(|d| validate(d).unwrap_or_else(|e| panic!("{d}\n{}", e.join("\n"))))
        .collect()
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const T0: u64 = 1_742_000_000_123;

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(T0)
}

fn props(kind: TaskKind) -> Properties {
    let event = match kind {
        TaskKind::Stage => {
            json!({"source": "log_data", "logical_date": "2025-03-14", "run_id": "exec-1"})
        }
        TaskKind::Load => {
            json!({"model": "fact_bloodtest", "logical_date": "2025-03-14", "run_id": "exec-1"})
        }
        TaskKind::Quality => json!({"logical_date": "2025-03-14", "run_id": "exec-1"}),
    };
    Properties {
        function: Some(format!("ovom-{}", kind.name())),
        ..Properties::from_event(kind, &event)
    }
}

fn day() -> ovom_core::params::LogicalDate {
    "2025-03-14".parse().unwrap()
}

fn stage_report() -> TaskReport {
    TaskReport::Stage(StageReport {
        source: Source::LogData,
        logical_date: day(),
        through: None,
        files: 2,
        lines_read: 1000,
        staged: 990,
        quarantined: 10,
        suppressed: 0,
        later_days: None,
    })
}

fn fact() -> LoadReport {
    LoadReport {
        model: Model::FactBloodtest,
        mode: None,
        logical_date: day(),
        through: None,
        loaded: Some(950),
        rejected: BTreeMap::from([
            ("implausible_pressure".to_owned(), 20),
            ("unknown_patient".to_owned(), 5),
        ]),
        duplicates: Some(15),
        pending: Some(4),
    }
}

fn fact_report() -> TaskReport {
    TaskReport::Load(fact())
}

fn dimension_report() -> TaskReport {
    TaskReport::Load(LoadReport {
        model: Model::DimDoctor,
        mode: Some(DimMode::Merge),
        logical_date: day(),
        through: None,
        loaded: None,
        rejected: BTreeMap::new(),
        duplicates: None,
        pending: None,
    })
}

fn quality_report() -> TaskReport {
    let check = |check| CheckResult {
        check,
        got: 0,
        comparison: Comparison::Eq,
        expected: 0,
        passed: true,
    };
    TaskReport::Quality(QualityReport {
        logical_date: day(),
        through: None,
        checks: vec![check(Check::TestIdUnique), check(Check::DayReconciles)],
    })
}

fn check_failed() -> TaskError {
    TaskError::QualityCheckFailed {
        check: ovom_core::params::Check::DayReconciles,
        logical_date: "2025-03-14".into(),
        got: 3,
        comparison: ovom_core::sql::Comparison::Eq,
        expected: 0,
    }
}

fn ok(kind: TaskKind, report: &TaskReport) -> Vec<Value> {
    documents(
        kind,
        Ok(report),
        Duration::from_millis(1234),
        at(),
        &props(kind),
    )
}

fn failed(kind: TaskKind, failure: Failure<'_>) -> Vec<Value> {
    documents(
        kind,
        Err(failure),
        Duration::from_millis(56),
        at(),
        &props(kind),
    )
}

/// The top-level members of a document that are neither `_aws`, dimensions
/// nor metrics.
fn properties_of(doc: &Value) -> BTreeMap<String, Value> {
    let declared = validate(doc).unwrap();
    doc.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            *k != "_aws"
                && !declared
                    .iter()
                    .any(|(set, m, _)| m == *k || set.contains(k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn metric_names(doc: &Value) -> Vec<String> {
    validate(doc)
        .unwrap()
        .into_iter()
        .map(|(_, m, _)| m)
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn a_stage_reports_its_lines() {
    let docs = ok(TaskKind::Stage, &stage_report());
    valid(&docs);
    assert_eq!(
        docs,
        vec![json!({
            "_aws": {
                "Timestamp": T0,
                "CloudWatchMetrics": [{
                    "Namespace": "OVOM/Warehouse",
                    "Dimensions": [["Task"]],
                    "Metrics": [
                        {"Name": "DurationMs", "Unit": "Milliseconds"},
                        {"Name": "TaskFailures", "Unit": "Count"},
                        {"Name": "LinesRead", "Unit": "Count"},
                        {"Name": "RowsStaged", "Unit": "Count"},
                        {"Name": "LinesQuarantined", "Unit": "Count"}
                    ]
                }]
            },
            "Task": "stage",
            "DurationMs": 1234,
            "TaskFailures": 0,
            "LinesRead": 1000,
            "RowsStaged": 990,
            "LinesQuarantined": 10,
            "logical_date": "2025-03-14",
            "run_id": "exec-1",
            "source": "log_data",
            "function": "ovom-stage"
        })]
    );
}

#[test]
fn a_load_of_the_fact_reports_its_outcomes_and_each_reject_reason() {
    let docs = ok(TaskKind::Load, &fact_report());
    let declared = valid(&docs);
    assert_eq!(docs.len(), 3, "the main document and one per reason");
    let main = &docs[0];
    assert_eq!(main["Task"], "load");
    assert_eq!(main["model"], "fact_bloodtest");
    assert_eq!(main["RowsLoaded"], 950);
    assert_eq!(main["RowsRejected"], 25);
    assert_eq!(main["Duplicates"], 15);
    assert_eq!(main["PendingTests"], 4);
    assert_eq!(main["TaskFailures"], 0);
    assert_eq!(
        metric_names(main),
        [
            "DurationMs",
            "TaskFailures",
            "RowsLoaded",
            "RowsRejected",
            "Duplicates",
            "PendingTests"
        ]
    );
    assert_eq!(
        docs[1],
        json!({
            "_aws": {
                "Timestamp": T0,
                "CloudWatchMetrics": [{
                    "Namespace": "OVOM/Warehouse",
                    "Dimensions": [["Task", "Reason"]],
                    "Metrics": [{"Name": "RowsRejected", "Unit": "Count"}]
                }]
            },
            "Task": "load",
            "Reason": "implausible_pressure",
            "RowsRejected": 20,
            "logical_date": "2025-03-14",
            "run_id": "exec-1",
            "model": "fact_bloodtest",
            "function": "ovom-load"
        })
    );
    assert_eq!(docs[2]["Reason"], "unknown_patient");
    assert_eq!(docs[2]["RowsRejected"], 5);
    let by_reason: Vec<_> = declared
        .iter()
        .filter(|(set, _, _)| set == &["Task", "Reason"])
        .map(|(_, m, u)| (m.as_str(), u.as_str()))
        .collect();
    assert_eq!(by_reason, [("RowsRejected", "Count"); 2]);
}

#[test]
fn a_day_without_rejects_reports_zero_and_no_reason() {
    let mut report = fact();
    report.rejected.clear();
    let docs = ok(TaskKind::Load, &TaskReport::Load(report));
    valid(&docs);
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["RowsRejected"], 0);
}

#[test]
fn a_reason_that_is_no_identifier_is_not_a_dimension_value() {
    let mut report = fact();
    report.rejected = BTreeMap::from([
        ("bad reason\n".to_owned(), 2),
        (String::new(), 1),
        ("out_of_domain".to_owned(), 4),
    ]);
    let docs = ok(TaskKind::Load, &TaskReport::Load(report));
    valid(&docs);
    let reasons: Vec<_> = docs[1..].iter().map(|d| d["Reason"].clone()).collect();
    assert_eq!(reasons, [json!("out_of_domain"), json!("unrecognised")]);
    assert_eq!(docs[2]["RowsRejected"], 3);
    assert_eq!(docs[0]["RowsRejected"], 7);
}

#[test]
fn a_load_of_a_dimension_reports_duration_and_failures_only() {
    let props = Properties {
        model: Some("dim_doctor"),
        ..props(TaskKind::Load)
    };
    let docs = documents(
        TaskKind::Load,
        Ok(&dimension_report()),
        Duration::from_millis(80),
        at(),
        &props,
    );
    valid(&docs);
    assert_eq!(docs.len(), 1);
    assert_eq!(metric_names(&docs[0]), ["DurationMs", "TaskFailures"]);
    assert_eq!(docs[0]["model"], "dim_doctor");
    assert_eq!(docs[0]["DurationMs"], 80);
}

#[test]
fn a_quality_run_reports_its_checks() {
    let docs = ok(TaskKind::Quality, &quality_report());
    valid(&docs);
    assert_eq!(
        docs,
        vec![json!({
            "_aws": {
                "Timestamp": T0,
                "CloudWatchMetrics": [{
                    "Namespace": "OVOM/Warehouse",
                    "Dimensions": [["Task"]],
                    "Metrics": [
                        {"Name": "DurationMs", "Unit": "Milliseconds"},
                        {"Name": "TaskFailures", "Unit": "Count"},
                        {"Name": "ChecksRun", "Unit": "Count"},
                        {"Name": "CheckFailures", "Unit": "Count"}
                    ]
                }]
            },
            "Task": "quality",
            "DurationMs": 1234,
            "TaskFailures": 0,
            "ChecksRun": 2,
            "CheckFailures": 0,
            "logical_date": "2025-03-14",
            "run_id": "exec-1",
            "function": "ovom-quality"
        })]
    );
}

#[test]
fn a_failed_check_is_one_check_failure_with_no_count_of_checks_run() {
    let e = check_failed();
    let docs = failed(TaskKind::Quality, Failure::Task(&e));
    valid(&docs);
    assert_eq!(
        docs,
        vec![json!({
            "_aws": {
                "Timestamp": T0,
                "CloudWatchMetrics": [{
                    "Namespace": "OVOM/Warehouse",
                    "Dimensions": [["Task"]],
                    "Metrics": [
                        {"Name": "DurationMs", "Unit": "Milliseconds"},
                        {"Name": "TaskFailures", "Unit": "Count"},
                        {"Name": "CheckFailures", "Unit": "Count"}
                    ]
                }]
            },
            "Task": "quality",
            "DurationMs": 56,
            "TaskFailures": 1,
            "CheckFailures": 1,
            "error": "QualityCheckFailed",
            "logical_date": "2025-03-14",
            "run_id": "exec-1",
            "function": "ovom-quality"
        })]
    );
}

#[test]
fn every_failure_reports_its_name_and_no_task_counts() {
    let errors = [
        TaskError::invalid("logical_date", "not a date"),
        TaskError::MalformedInput {
            file: "log_data/2025/03/14/part-00000.json".into(),
            line: 7,
            error: ovom_core::contract::LineError {
                field: Some("ap_hi"),
                reason: "expected an integer".into(),
            },
            budget: Some(10),
        },
        TaskError::WarehouseBusy("locked".into()),
        TaskError::WarehouseError("relation does not exist".into()),
        TaskError::StoreUnavailable("throttled".into()),
        TaskError::StoreError {
            key: "k".into(),
            detail: "denied".into(),
        },
        check_failed(),
    ];
    let failures = errors.iter().map(Failure::Task).chain([Failure::Panicked]);
    for failure in failures {
        for kind in TaskKind::ALL {
            let docs = failed(kind, failure);
            valid(&docs);
            assert_eq!(docs.len(), 1, "no per-reason document on failure");
            let doc = &docs[0];
            assert_eq!(doc["error"], failure.name());
            assert_eq!(doc["TaskFailures"], 1);
            assert_eq!(doc["DurationMs"], 56);
            assert_eq!(doc["Task"], kind.name());
            let extra = match (kind, failure) {
                (TaskKind::Quality, Failure::Task(TaskError::QualityCheckFailed { .. })) => {
                    vec!["CheckFailures"]
                }
                _ => vec![],
            };
            let expected: Vec<&str> = ["DurationMs", "TaskFailures"]
                .into_iter()
                .chain(extra)
                .collect();
            assert_eq!(metric_names(doc), expected, "{kind:?} {}", failure.name());
            // No message of the error reaches the metrics.
            let text = doc.to_string();
            for quoted in ["not a date", "locked", "relation", "denied", "got 3"] {
                assert!(!text.contains(quoted), "{text}");
            }
        }
    }
    let doc = &failed(TaskKind::Stage, Failure::Panicked)[0];
    assert_eq!(doc["error"], ovom_aws::lambda::PANIC_ERROR);
}

#[test]
fn properties_are_the_contracts_and_never_dimensions() {
    let e = check_failed();
    let all: Vec<Value> = [
        ok(TaskKind::Stage, &stage_report()),
        ok(TaskKind::Load, &fact_report()),
        failed(TaskKind::Quality, Failure::Task(&e)),
    ]
    .concat();
    for doc in &all {
        let declared = validate(doc).unwrap();
        for (set, _, _) in &declared {
            assert!(
                set == &["Task"] || set == &["Task", "Reason"],
                "dimension set {set:?}"
            );
        }
        let keys: BTreeSet<String> = properties_of(doc).into_keys().collect();
        let allowed = [
            "logical_date",
            "run_id",
            "source",
            "model",
            "error",
            "function",
        ];
        assert!(
            keys.iter().all(|k| allowed.contains(&k.as_str())),
            "{keys:?}"
        );
        assert!(keys.contains("logical_date") && keys.contains("run_id"));
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
    }
}

#[test]
fn every_metric_emitted_is_listed_and_every_listed_metric_is_emitted() {
    let e = check_failed();
    let docs: Vec<Value> = [
        ok(TaskKind::Stage, &stage_report()),
        ok(TaskKind::Load, &fact_report()),
        ok(TaskKind::Quality, &quality_report()),
        failed(TaskKind::Quality, Failure::Task(&e)),
    ]
    .concat();
    let mut emitted = BTreeSet::new();
    for doc in &docs {
        let task = doc["Task"].as_str().unwrap();
        let kind = TaskKind::ALL
            .into_iter()
            .find(|k| k.name() == task)
            .unwrap();
        for (_, name, unit) in validate(doc).unwrap() {
            assert!(METRIC_NAMES.contains(&name.as_str()), "{name}");
            assert!(
                emf::metrics_of(kind).contains(&name.as_str()),
                "{task} {name}"
            );
            assert_eq!(unit, emf::unit(&name));
            emitted.insert(name);
        }
    }
    let listed: BTreeSet<String> = METRIC_NAMES.iter().map(|m| m.to_string()).collect();
    assert_eq!(emitted, listed);
    assert_eq!(emf::unit("DurationMs"), "Milliseconds");
    assert!(METRIC_NAMES
        .iter()
        .filter(|m| **m != "DurationMs")
        .all(|m| emf::unit(m) == "Count"));
}

#[test]
fn properties_come_only_from_an_event_that_validates() {
    let stage = json!({"source": "patient_data", "logical_date": "2025-03-14", "run_id": "r-1"});
    assert_eq!(
        Properties::from_event(TaskKind::Stage, &stage),
        Properties {
            logical_date: Some("2025-03-14".into()),
            run_id: Some("r-1".into()),
            source: Some("patient_data"),
            model: None,
            function: None,
        }
    );
    let load = json!({"model": "dim_lab", "mode": "append", "logical_date": "2025-03-14", "run_id": "r-1"});
    let p = Properties::from_event(TaskKind::Load, &load);
    assert_eq!(p.model, Some("dim_lab"));
    assert_eq!(p.source, None);
    let quality =
        json!({"logical_date": "2025-03-14", "run_id": "r-1", "checks": ["day_reconciles"]});
    assert_eq!(
        Properties::from_event(TaskKind::Quality, &quality)
            .run_id
            .as_deref(),
        Some("r-1")
    );

    let invalid = [
        (
            TaskKind::Stage,
            json!({"source": "log_data", "logical_date": "2025-03-14"}),
        ),
        (
            TaskKind::Stage,
            json!({"source": "log_data", "logical_date": "2025-03-14", "run_id": "r 1"}),
        ),
        (
            TaskKind::Stage,
            json!({"source": "log_data", "logical_date": "2025-03-14", "run_id": "r1", "x": 1}),
        ),
        (
            TaskKind::Stage,
            json!({"source": "log_data", "logical_date": "2025-03-14", "run_id": "r1", "max_errors": 1_000_000}),
        ),
        (
            TaskKind::Load,
            json!({"model": "fact_bloodtest", "mode": "merge", "logical_date": "2025-03-14", "run_id": "r1"}),
        ),
        (
            TaskKind::Load,
            json!({"model": "dim_nothing", "logical_date": "2025-03-14", "run_id": "r1"}),
        ),
        (
            TaskKind::Quality,
            json!({"logical_date": "2025-02-30", "run_id": "r1"}),
        ),
        (
            TaskKind::Quality,
            json!({"logical_date": "2025-03-14", "run_id": "r1", "checks": []}),
        ),
        (TaskKind::Quality, json!("2025-03-14")),
    ];
    for (kind, event) in invalid {
        assert_eq!(
            Properties::from_event(kind, &event),
            Properties::default(),
            "{kind:?} {event}"
        );
        let docs = documents(
            kind,
            Err(Failure::Task(&TaskError::invalid("event", "bad"))),
            Duration::ZERO,
            at(),
            &Properties::from_event(kind, &event),
        );
        valid(&docs);
        let props = properties_of(&docs[0]);
        assert_eq!(props.keys().collect::<Vec<_>>(), ["error"], "{event}");
    }
}

#[test]
fn each_document_is_one_line() {
    for doc in ok(TaskKind::Load, &fact_report()) {
        let line = doc.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), doc);
    }
}

// ---------------------------------------------------------------------------
// The validator catches what it must
// ---------------------------------------------------------------------------

/// A change that makes a valid document invalid.
type Breaker = Box<dyn Fn(&mut Value)>;

fn directive(doc: &mut Value) -> &mut Value {
    &mut doc["_aws"]["CloudWatchMetrics"][0]
}

fn problems(doc: &Value) -> String {
    validate(doc)
        .expect_err("the document should be invalid")
        .join("\n")
}

#[test]
fn a_metric_named_but_missing_at_top_level_is_caught() {
    for doc in ok(TaskKind::Load, &fact_report()) {
        for name in metric_names(&doc) {
            let mut broken = doc.clone();
            broken.as_object_mut().unwrap().remove(&name);
            let p = problems(&broken);
            assert!(
                p.contains(&format!("metric `{name}` is not a top-level member")),
                "{p}"
            );
        }
    }
    // Nested under another member is not top level either.
    let mut nested = ok(TaskKind::Stage, &stage_report())[0].clone();
    let n = nested.as_object_mut().unwrap().remove("LinesRead").unwrap();
    nested["counts"] = json!({"LinesRead": n});
    assert!(problems(&nested).contains("`LinesRead` is not a top-level member"));
}

#[test]
fn the_validator_refuses_what_the_specification_forbids() {
    let good = ok(TaskKind::Stage, &stage_report())[0].clone();
    validate(&good).unwrap();
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut d = good.clone();
        f(&mut d);
        problems(&d)
    };
    let cases: Vec<(Breaker, &str)> = vec![
        (
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("_aws");
            }),
            "no `_aws`",
        ),
        (
            Box::new(|d| d["_aws"]["Timestamp"] = json!("2025-03-14T00:00:00Z")),
            "Timestamp",
        ),
        (
            Box::new(|d| d["_aws"]["Timestamp"] = json!(1.5)),
            "Timestamp",
        ),
        (
            Box::new(|d| {
                d["_aws"].as_object_mut().unwrap().remove("Timestamp");
            }),
            "Timestamp",
        ),
        (
            Box::new(|d| d["_aws"]["CloudWatchMetrics"] = json!([])),
            "CloudWatchMetrics",
        ),
        (
            Box::new(|d| d["_aws"]["Extra"] = json!(1)),
            "unknown member",
        ),
        (
            Box::new(|d| directive(d)["Namespace"] = json!("")),
            "Namespace",
        ),
        (
            Box::new(|d| directive(d)["Namespace"] = json!("AWS/Lambda")),
            "Namespace",
        ),
        (
            Box::new(|d| directive(d)["Dimensions"] = json!([])),
            "Dimensions",
        ),
        (
            Box::new(|d| directive(d)["Dimensions"] = json!(["Task"])),
            "not an array",
        ),
        (
            Box::new(|d| {
                let keys: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
                for k in &keys {
                    d[k.as_str()] = json!("x");
                }
                directive(d)["Dimensions"] = json!([keys]);
            }),
            "31 dimensions",
        ),
        (
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("Task");
            }),
            "dimension `Task` is not a top-level member",
        ),
        (
            Box::new(|d| d["Task"] = json!(1)),
            "dimension `Task` is not a valid string",
        ),
        (
            Box::new(|d| d["Task"] = json!(" ")),
            "dimension `Task` is not a valid string",
        ),
        (
            Box::new(|d| directive(d)["Metrics"][0]["Unit"] = json!("ms")),
            "not a CloudWatch unit",
        ),
        (
            Box::new(|d| directive(d)["Metrics"][0]["Name"] = json!("")),
            "bad metric Name",
        ),
        (
            Box::new(|d| directive(d)["Metrics"][0]["Name"] = json!("x".repeat(256))),
            "bad metric Name",
        ),
        (
            Box::new(|d| {
                let m = directive(d)["Metrics"][0].clone();
                directive(d)["Metrics"].as_array_mut().unwrap().push(m);
            }),
            "defined twice",
        ),
        (
            Box::new(|d| {
                let names: Vec<String> = (0..101).map(|i| format!("M{i}")).collect();
                for n in &names {
                    d[n.as_str()] = json!(1);
                }
                directive(d)["Metrics"] = Value::Array(
                    names
                        .iter()
                        .map(|n| json!({"Name": n, "Unit": "Count"}))
                        .collect(),
                );
            }),
            "101 metric definitions",
        ),
        (
            Box::new(|d| directive(d)["Metrics"][0]["StorageResolution"] = json!(5)),
            "storage resolution",
        ),
        (
            Box::new(|d| d["DurationMs"] = json!("1234")),
            "is not a number",
        ),
        (
            Box::new(|d| d["DurationMs"] = json!(vec![1; 101])),
            "is not a number",
        ),
        (
            Box::new(|d| {
                directive(d)["Metrics"][0]["Name"] = json!("Task");
            }),
            "both a dimension and a metric",
        ),
        (
            Box::new(|d| d["log"] = json!("x".repeat(MAX_DOCUMENT_BYTES))),
            "event limit",
        ),
    ];
    for (i, (breaker, expected)) in cases.iter().enumerate() {
        let p = broken(breaker.as_ref());
        assert!(
            p.contains(expected),
            "case {i}: expected {expected:?} in:\n{p}"
        );
    }
    // Arrays of numbers are metric values too.
    let mut arrays = good.clone();
    arrays["DurationMs"] = json!([1, 2, 3]);
    validate(&arrays).unwrap();
}

//! Task events are parsed into typed parameters; anything else is refused as
//! `InvalidParameters` before the task touches the warehouse.

use ovom_core::handler::{handle, TaskKind};
use serde_json::json;

use crate::support::*;

fn refused(kind: TaskKind, event: serde_json::Value, says: &str) {
    let data = Data::new();
    let p = pipeline(data.path());
    let before = fingerprints(&p);
    let err = handle(kind, &event, None, &mut *p.warehouse(), p.store()).unwrap_err();
    assert_eq!(err.name(), "InvalidParameters", "{event}: {err}");
    assert!(
        err.to_string().contains(says),
        "{event}: `{err}` does not say `{says}`"
    );
    assert_eq!(fingerprints(&p), before, "{event} left a trace");
}

#[test]
fn bad_events_are_refused_with_what_is_wrong() {
    use TaskKind::*;
    let ok_stage = json!({"source": "log_data", "logical_date": "2025-01-01", "run_id": "r-1"});
    let cases: Vec<(TaskKind, serde_json::Value, &str)> = vec![
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01", "run_id": "r-1", "sql": "DROP TABLE x"}),
            "unknown field `sql`",
        ),
        (
            Stage,
            json!({"source": "../etc", "logical_date": "2025-01-01", "run_id": "r-1"}),
            "unknown variant `../etc`",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01'; DROP TABLE fact_bloodtest; --", "run_id": "r-1"}),
            "is not a date",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-02-30", "run_id": "r-1"}),
            "is not a date",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "1969-12-31", "run_id": "r-1"}),
            "outside 1970..=2100",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": 20250101, "run_id": "r-1"}),
            "invalid type",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01", "run_id": "x' OR '1'='1"}),
            "must be 1 to 80",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01", "run_id": "r-1", "max_errors": 1_000_000}),
            "above 100000",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01"}),
            "missing field `run_id`",
        ),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01", "run_id": "r".repeat(100_000)}),
            "larger than",
        ),
        (
            Load,
            json!({"model": "fact_bloodtest; DROP TABLE dim_patient", "logical_date": "2025-01-01", "run_id": "r-1"}),
            "unknown variant",
        ),
        (
            Load,
            json!({"model": "dim_patient", "mode": "upsert", "logical_date": "2025-01-01", "run_id": "r-1"}),
            "unknown variant `upsert`",
        ),
        (
            Load,
            json!({"model": "fact_bloodtest", "mode": "merge", "logical_date": "2025-01-01", "run_id": "r-1"}),
            "fact_bloodtest has no mode",
        ),
        (
            Quality,
            json!({"logical_date": "2025-01-01", "run_id": "r-1", "checks": []}),
            "is empty",
        ),
        (
            Quality,
            json!({"logical_date": "2025-01-01", "run_id": "r-1", "checks": ["select 1"]}),
            "unknown variant",
        ),
        (Quality, ok_stage.clone(), "unknown field `source`"),
        (
            Stage,
            json!({"source": "log_data", "logical_date": "2025-01-01", "through": "2025-01-01' OR 1=1", "run_id": "r-1"}),
            "invalid parameter `through`: \"2025-01-01' OR 1=1\" is not a date",
        ),
        (
            Load,
            json!({"model": "fact_bloodtest", "logical_date": "2025-03-01", "through": "2025-02-28", "run_id": "r-1"}),
            "invalid parameter `through`: 2025-02-28 is before logical_date 2025-03-01",
        ),
        (
            Quality,
            json!({"logical_date": "2025-03-01", "through": "99999-01-01", "run_id": "r-1"}),
            "invalid parameter `through`",
        ),
        (Load, json!([1, 2]), "invalid type"),
    ];
    for (kind, event, says) in cases {
        refused(kind, event, says);
    }
}

#[test]
fn a_valid_event_runs_its_task() {
    let data = Data::new();
    let d = "2025-01-01";
    data.file(
        &format!("log_data/{}/part-00000.json", folder(d)),
        &[test("bt-1", 1, d, json!({}))],
    );
    let p = pipeline(data.path());
    let out = handle(
        TaskKind::Stage,
        &json!({"source": "log_data", "logical_date": d, "run_id": "r-1"}),
        None,
        &mut *p.warehouse(),
        p.store(),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"source": "log_data", "logical_date": d, "files": 1, "lines_read": 1, "staged": 1, "quarantined": 0})
    );
}

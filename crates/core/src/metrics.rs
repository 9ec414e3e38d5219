//! CloudWatch Embedded Metric Format: one JSON log line per task run that
//! CloudWatch turns into metrics, with no API call from the function.
//!
//! Metrics have the one dimension `Task`; the logical date, the execution and
//! the model are properties of the line (searchable in Logs Insights) rather
//! than dimensions, because every new dimension value is a new custom metric,
//! billed monthly, and a date would add a new one every day.

use std::time::Duration;

use serde_json::{json, Map, Value};

/// The metrics namespace.
pub const NAMESPACE: &str = "OVOM/Warehouse";

/// One metric of a line: name, value, unit.
pub type Metric = (String, f64, &'static str);

/// The metrics a task's JSON report holds, named in CloudWatch's style.
pub fn from_report(task: &str, report: &Value, duration: Duration) -> Vec<Metric> {
    let mut out: Vec<Metric> = vec![(
        "DurationMs".into(),
        duration.as_secs_f64() * 1e3,
        "Milliseconds",
    )];
    let count = |name: &str, v: &Value| v.as_u64().map(|n| (name.to_owned(), n as f64, "Count"));
    match task {
        "stage" => {
            out.extend(count("LinesRead", &report["lines_read"]));
            out.extend(count("RowsStaged", &report["staged"]));
            out.extend(count("RowsQuarantined", &report["quarantined"]));
        }
        "load" => {
            out.extend(count("RowsLoaded", &report["loaded"]));
            out.extend(count("Duplicates", &report["duplicates"]));
            if let Some(by_reason) = report["rejected"].as_object() {
                let total: u64 = by_reason.values().filter_map(Value::as_u64).sum();
                out.push(("RowsRejected".into(), total as f64, "Count"));
                for (reason, n) in by_reason {
                    out.extend(count(&format!("Rejected_{reason}"), n));
                }
            }
        }
        "quality" => {
            let checks = report["checks"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let failed = checks.iter().filter(|c| c["passed"] == false).count();
            out.push(("ChecksRun".into(), checks.len() as f64, "Count"));
            out.push(("CheckFailures".into(), failed as f64, "Count"));
        }
        _ => {}
    }
    out
}

/// An EMF line: metrics under the `Task` dimension, with `properties`
/// (logical date, execution id, model, error) alongside.
pub fn line(
    task: &str,
    timestamp_ms: i64,
    metrics: &[Metric],
    properties: &Map<String, Value>,
) -> Value {
    let mut root = Map::new();
    for (k, v) in properties {
        root.insert(k.clone(), v.clone());
    }
    root.insert("Task".into(), json!(task));
    for (name, value, _) in metrics {
        root.insert(name.clone(), json!(value));
    }
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Task"]],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(root)
}

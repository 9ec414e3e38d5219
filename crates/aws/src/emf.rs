//! CloudWatch metrics of each invocation, in the embedded metric format.
//!
//! After every invocation, succeeded or failed, a function writes one JSON
//! document a line to stdout; Lambda ships stdout to CloudWatch Logs, which
//! extracts the metrics the document's `_aws` member names. The deployment
//! template's dashboard and alarms read exactly these names:
//!
//! * namespace [`NAMESPACE`], dimension set `[["Task"]]` with `Task` one of
//!   `stage`, `load`, `quality` ([`TaskKind::name`]);
//! * every invocation: [`metric::DURATION_MS`] (milliseconds) and
//!   [`metric::TASK_FAILURES`] (0 or 1);
//! * stage: lines read, rows staged, lines quarantined; a load of the fact:
//!   rows loaded, rows rejected (in all), duplicates; quality: checks run and
//!   check failures (a failed check is one failure, the number run unknown);
//! * a load of the fact also writes one document per reject reason, with the
//!   dimension set `[["Task", "Reason"]]` and the metric
//!   [`metric::ROWS_REJECTED`].
//!
//! The other members are properties, searchable in Logs Insights but no
//! metric identity (a dimension per day or run would be a new billed metric
//! each time): the logical date, run id, source or model of the event, the
//! error's name and the function's name. Event values are taken from the
//! event only once it has parsed and validated as the task's parameters, so a
//! rejected event leaves no trace of its content in the logs.
//!
//! [`documents`] builds the documents, a pure function of the outcome;
//! [`emit`] writes them.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ovom_core::handler::{TaskKind, TaskParams, TaskReport};
use ovom_core::params::Model;
use ovom_core::TaskError;
use serde_json::{json, Map, Value};

use ovom_core::error::PANIC_ERROR;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "OVOM/Warehouse";

/// The metric names.
pub mod metric {
    /// Wall-clock time of the invocation, in milliseconds.
    pub const DURATION_MS: &str = "DurationMs";
    /// 1 when the invocation failed, 0 when it succeeded.
    pub const TASK_FAILURES: &str = "TaskFailures";
    /// Stage: lines of the day's files.
    pub const LINES_READ: &str = "LinesRead";
    /// Stage: rows copied into staging.
    pub const ROWS_STAGED: &str = "RowsStaged";
    /// Stage: malformed lines set aside.
    pub const LINES_QUARANTINED: &str = "LinesQuarantined";
    /// Load of the fact: tests loaded.
    pub const ROWS_LOADED: &str = "RowsLoaded";
    /// Load of the fact: tests rejected, in all (`[["Task"]]`) and by reason
    /// (`[["Task", "Reason"]]`).
    pub const ROWS_REJECTED: &str = "RowsRejected";
    /// Load of the fact: duplicate tests.
    pub const DUPLICATES: &str = "Duplicates";
    /// Load of the fact: tests of the days waiting for their patient's
    /// first record.
    pub const PENDING_TESTS: &str = "PendingTests";
    /// Quality: checks that ran.
    pub const CHECKS_RUN: &str = "ChecksRun";
    /// Quality: checks that did not hold.
    pub const CHECK_FAILURES: &str = "CheckFailures";
}

/// Every metric name, each once.
pub const METRIC_NAMES: &[&str] = &[
    metric::DURATION_MS,
    metric::TASK_FAILURES,
    metric::LINES_READ,
    metric::ROWS_STAGED,
    metric::LINES_QUARANTINED,
    metric::ROWS_LOADED,
    metric::ROWS_REJECTED,
    metric::DUPLICATES,
    metric::PENDING_TESTS,
    metric::CHECKS_RUN,
    metric::CHECK_FAILURES,
];

/// The metrics every invocation reports.
const EVERY_TASK: [&str; 2] = [metric::DURATION_MS, metric::TASK_FAILURES];

/// The metrics a task's documents may carry (with the dimension set
/// `[["Task"]]`; `RowsRejected` also by reason).
pub fn metrics_of(kind: TaskKind) -> &'static [&'static str] {
    match kind {
        TaskKind::Stage => &[
            EVERY_TASK[0],
            EVERY_TASK[1],
            metric::LINES_READ,
            metric::ROWS_STAGED,
            metric::LINES_QUARANTINED,
        ],
        TaskKind::Load => &[
            EVERY_TASK[0],
            EVERY_TASK[1],
            metric::ROWS_LOADED,
            metric::ROWS_REJECTED,
            metric::DUPLICATES,
            metric::PENDING_TESTS,
        ],
        TaskKind::Quality => &[
            EVERY_TASK[0],
            EVERY_TASK[1],
            metric::CHECKS_RUN,
            metric::CHECK_FAILURES,
        ],
    }
}

/// A metric's CloudWatch unit.
pub fn unit(metric: &str) -> &'static str {
    if metric == metric::DURATION_MS {
        "Milliseconds"
    } else {
        "Count"
    }
}

/// Dimension names.
pub mod dimension {
    /// The task type, [`ovom_core::handler::TaskKind::name`].
    pub const TASK: &str = "Task";
    /// A reject reason of the fact's load.
    pub const REASON: &str = "Reason";
}

/// The dimension set of every task's main document.
pub const TASK_DIMENSIONS: &[&str] = &[dimension::TASK];
/// The dimension set of the per-reason documents of the fact's load.
pub const REASON_DIMENSIONS: &[&str] = &[dimension::TASK, dimension::REASON];

/// The reason named when a report carries a reason that is no identifier
/// (the reasons come from the fact's SQL; this would be a bug there).
pub const UNRECOGNISED_REASON: &str = "unrecognised";

/// Property names: members that are neither metrics nor dimensions.
pub mod property {
    pub const LOGICAL_DATE: &str = "logical_date";
    pub const RUN_ID: &str = "run_id";
    pub const SOURCE: &str = "source";
    pub const MODEL: &str = "model";
    /// The failure's name: a [`ovom_core::TaskError::name`] or
    /// [`PANIC_ERROR`].
    pub const ERROR: &str = "error";
    /// The Lambda function's name.
    pub const FUNCTION: &str = "function";
}

/// The properties of an invocation's documents. Everything here is either a
/// validated parameter or set by the Lambda service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub logical_date: Option<String>,
    pub run_id: Option<String>,
    /// Stage: the source folder, `log_data` or `patient_data`.
    pub source: Option<&'static str>,
    /// Load: the model's table.
    pub model: Option<&'static str>,
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: Option<String>,
}

impl Properties {
    /// The event's parameters when they parse and validate as the task's
    /// parameters (as [`ovom_core::handler::handle`] parses them); none of
    /// them otherwise, so that nothing unvalidated reaches the logs.
    pub fn from_event(kind: TaskKind, event: &Value) -> Self {
        Self::from_params(TaskParams::parse(kind, event).ok().as_ref())
    }

    /// The validated parameters' properties (none when the event did not
    /// validate).
    pub fn from_params(params: Option<&TaskParams>) -> Self {
        let mut p = Self::default();
        match params {
            Some(TaskParams::Stage(s)) => {
                p.logical_date = Some(s.logical_date.to_string());
                p.run_id = Some(s.run_id.as_str().to_owned());
                p.source = Some(s.source.folder());
            }
            Some(TaskParams::Load(l)) => {
                p.logical_date = Some(l.logical_date.to_string());
                p.run_id = Some(l.run_id.as_str().to_owned());
                p.model = Some(l.model.table());
            }
            Some(TaskParams::Quality(q)) => {
                p.logical_date = Some(q.logical_date.to_string());
                p.run_id = Some(q.run_id.as_str().to_owned());
            }
            None => {}
        }
        p
    }

    /// With the function's name from the Lambda environment, if set.
    pub fn with_function_from_env(mut self) -> Self {
        self.function = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|f| !f.is_empty());
        self
    }

    fn write_to(&self, doc: &mut Map<String, Value>) {
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value {
                doc.insert(key.to_owned(), Value::from(v));
            }
        };
        put(property::LOGICAL_DATE, self.logical_date.as_deref());
        put(property::RUN_ID, self.run_id.as_deref());
        put(property::SOURCE, self.source);
        put(property::MODEL, self.model);
        put(property::FUNCTION, self.function.as_deref());
    }
}

/// Why an invocation failed.
#[derive(Debug, Clone, Copy)]
pub enum Failure<'a> {
    /// The task returned an error.
    Task(&'a TaskError),
    /// The task panicked ([`PANIC_ERROR`]).
    Panicked,
}

impl Failure<'_> {
    /// The name reported as the Lambda error type.
    pub fn name(&self) -> &'static str {
        match self {
            Failure::Task(e) => e.name(),
            Failure::Panicked => PANIC_ERROR,
        }
    }
}

/// The documents of one invocation: the task's main document, then, for a
/// load of the fact, one per reject reason.
///
/// `outcome` is the task's typed report or its failure; a count a report
/// does not hold (a dimension's rows) is left out rather than reported as
/// zero.
pub fn documents(
    kind: TaskKind,
    outcome: Result<&TaskReport, Failure<'_>>,
    duration: Duration,
    timestamp: SystemTime,
    properties: &Properties,
) -> Vec<Value> {
    let timestamp_ms = timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
    let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);

    let mut metrics: Vec<(&'static str, u64)> = vec![
        (metric::DURATION_MS, duration_ms),
        (metric::TASK_FAILURES, u64::from(outcome.is_err())),
    ];
    let mut reasons: Vec<(String, u64)> = vec![];
    match outcome {
        Ok(TaskReport::Stage(r)) => metrics.extend([
            (metric::LINES_READ, r.lines_read),
            (metric::ROWS_STAGED, r.staged),
            (metric::LINES_QUARANTINED, r.quarantined),
        ]),
        Ok(TaskReport::Load(r)) if r.model == Model::FactBloodtest => {
            metrics.extend(r.loaded.map(|n| (metric::ROWS_LOADED, n)));
            let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
            for (reason, n) in &r.rejected {
                let reason = if is_reason(reason) {
                    reason.clone()
                } else {
                    UNRECOGNISED_REASON.to_owned()
                };
                *by_reason.entry(reason).or_default() += n;
            }
            metrics.push((metric::ROWS_REJECTED, by_reason.values().sum()));
            metrics.extend(r.duplicates.map(|n| (metric::DUPLICATES, n)));
            metrics.extend(r.pending.map(|n| (metric::PENDING_TESTS, n)));
            reasons.extend(by_reason);
        }
        Ok(TaskReport::Quality(r)) => {
            let failed = r.checks.iter().filter(|c| !c.passed).count();
            metrics.push((metric::CHECKS_RUN, r.checks.len() as u64));
            metrics.push((metric::CHECK_FAILURES, failed as u64));
        }
        Err(Failure::Task(TaskError::QualityCheckFailed { .. })) if kind == TaskKind::Quality => {
            metrics.push((metric::CHECK_FAILURES, 1));
        }
        _ => {}
    }

    let error = outcome.err().map(|f| f.name());
    let mut docs = vec![document(
        timestamp_ms,
        &[(dimension::TASK, kind.name())],
        &metrics,
        properties,
        error,
    )];
    for (reason, n) in &reasons {
        docs.push(document(
            timestamp_ms,
            &[(dimension::TASK, kind.name()), (dimension::REASON, reason)],
            &[(metric::ROWS_REJECTED, *n)],
            properties,
            error,
        ));
    }
    docs
}

/// One document: one directive over one dimension set.
fn document(
    timestamp_ms: u64,
    dimensions: &[(&str, &str)],
    metrics: &[(&'static str, u64)],
    properties: &Properties,
    error: Option<&'static str>,
) -> Value {
    let directive = json!({
        "Namespace": NAMESPACE,
        "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
        "Metrics": metrics
            .iter()
            .map(|(name, _)| json!({"Name": name, "Unit": unit(name)}))
            .collect::<Vec<_>>(),
    });
    let mut doc = Map::new();
    doc.insert(
        "_aws".to_owned(),
        json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}),
    );
    for (name, value) in dimensions {
        doc.insert((*name).to_owned(), Value::from(*value));
    }
    for (name, value) in metrics {
        doc.insert((*name).to_owned(), Value::from(*value));
    }
    properties.write_to(&mut doc);
    if let Some(error) = error {
        doc.insert(property::ERROR.to_owned(), Value::from(error));
    }
    Value::Object(doc)
}

/// A reject reason as the fact's SQL names them: 1 to 64 of `a-z 0-9 _`.
fn is_reason(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Write the documents to stdout, each as one line in one locked write (not
/// through the tracing subscriber, whose JSON lines would wrap them). A
/// failed write is ignored: metrics never fail an invocation.
pub fn emit(documents: &[Value]) {
    let stdout = std::io::stdout();
    for doc in documents {
        let mut line = doc.to_string();
        line.push('\n');
        let mut out = stdout.lock();
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_each_listed_once_and_every_task_uses_only_them() {
        let mut names = METRIC_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRIC_NAMES.len());
        let mut used: Vec<&str> = TaskKind::ALL
            .iter()
            .flat_map(|k| metrics_of(*k).iter().copied())
            .collect();
        used.sort_unstable();
        used.dedup();
        assert_eq!(used, names, "every metric is some task's");
        for kind in TaskKind::ALL {
            assert_eq!(&metrics_of(kind)[..2], &EVERY_TASK);
        }
    }

    #[test]
    fn reasons_are_identifiers() {
        assert!(is_reason("implausible_pressure"));
        assert!(!is_reason(""));
        assert!(!is_reason("Out Of Domain"));
        assert!(!is_reason(&"a".repeat(65)));
    }
}

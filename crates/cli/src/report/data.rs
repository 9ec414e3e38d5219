//! The rows the page is made of, read from the warehouse by the queries
//! under `crates/local/sql/reports/report_*.sql`, through the warehouse
//! adapter's read-only connection. Each row deserialises into a struct by
//! its columns' names: a query that loses or renames a column fails with the
//! query's and the column's name, never shifts the values into the wrong
//! fields.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{NaiveDate, NaiveDateTime};
use ovom_core::ports::Warehouse;
use ovom_core::reports::QualityReport;
use ovom_duckdb::DuckWarehouse;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use ovom_local::pipeline::{load_definition, DEFINITION};

/// Everything the report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportData {
    /// The warehouse, as the user named it.
    pub warehouse: String,
    /// When the report was made (UTC).
    pub generated_at: Option<NaiveDateTime>,
    /// The daily state machine's top-level states, in definition order
    /// (then any other state the history names).
    pub steps: Vec<String>,
    pub totals: Totals,
    pub last_execution: Option<Execution>,
    /// The latest execution of the daily state machine for each logical day,
    /// in date order.
    pub days: Vec<Day>,
    /// Fact rows by delivery day.
    pub rows_per_day: Vec<(NaiveDate, i64)>,
    /// Rejects by delivery day and reason.
    pub rejects_per_day: Vec<(NaiveDate, String, i64)>,
    pub quality: Quality,
    /// The ten longest state runs.
    pub slowest: Vec<SlowRun>,
    /// Each step's median and longest run.
    pub step_durations: Vec<StepDuration>,
    /// The most recent failed executions, latest first.
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Totals {
    pub fact_rows: i64,
    pub rejects: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    /// Tests waiting for their patient's first record.
    pub pending: i64,
}

/// One execution, of any state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Execution {
    pub execution_id: String,
    pub state_machine: String,
    pub logical_date: Option<NaiveDate>,
    pub status: String,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub failed_state: Option<String>,
    pub error: Option<String>,
    pub redrive_count: i64,
}

/// A logical day: its latest execution and the states that execution ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Day {
    /// (`report_days` names it `logical_date`; read by [`DayRow`].)
    #[serde(skip)]
    pub date: NaiveDate,
    pub execution_id: String,
    pub status: String,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub failed_state: Option<String>,
    pub error: Option<String>,
    /// The backfill that started the execution, if one did.
    pub parent_execution_id: Option<String>,
    pub redrive_count: i64,
    /// How many executions the day has had.
    pub executions: i64,
    /// The run of each top-level state that stands, after redrives
    /// ([`resolve_states`]).
    #[serde(skip)]
    pub states: Vec<StateRun>,
}

/// One run of one top-level state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StateRun {
    #[serde(rename = "state_name")]
    pub name: String,
    /// SUCCEEDED, FAILED or CAUGHT.
    pub status: String,
    pub attempts: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Which redrive of the execution ran it (0: the first run).
    pub redrive_count: i64,
    pub seq: i64,
}

/// The latest quality checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quality {
    /// The latest CheckQuality run that passed, with every check's result.
    pub passed: Option<CheckRun>,
    /// The latest CheckQuality run, when it did not pass: its cause names
    /// the first check that failed.
    pub failed: Option<CheckRun>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRun {
    pub logical_date: Option<NaiveDate>,
    pub execution_id: String,
    pub status: String,
    pub checks: Vec<CheckResult>,
    /// The check that failed, from the failure's detail.
    pub failed_check: Option<CheckResult>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// One check's result, as the quality task reports it.
pub use ovom_core::reports::CheckResult;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SlowRun {
    pub execution_id: String,
    pub logical_date: Option<NaiveDate>,
    pub path: String,
    pub state_type: String,
    pub status: String,
    pub attempts: i64,
    pub duration_ms: i64,
    pub redrive_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StepDuration {
    pub step: String,
    pub state_type: String,
    pub runs: i64,
    pub median_ms: f64,
    pub max_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Failure {
    pub execution_id: String,
    pub state_machine: String,
    pub logical_date: Option<NaiveDate>,
    pub started_at: Option<NaiveDateTime>,
    pub failed_state: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub parent_execution_id: Option<String>,
    pub redrive_count: i64,
    /// The status of the day's latest execution now.
    pub day_status_now: Option<String>,
}

// ------------------------------------------------------------------ reading

/// Run one `crates/local/sql/reports/<name>.sql` query through the
/// warehouse adapter and read each row into `T` by column name.
fn query<T: DeserializeOwned>(wh: &mut DuckWarehouse, name: &str) -> Result<Vec<T>> {
    let file = format!("reports/{name}");
    let mut read = || -> Result<Vec<T>, ovom_core::TaskError> {
        wh.query_table(ovom_local::sql::file(&file)?, &[])?.read()
    };
    read().with_context(|| format!("reading crates/local/sql/{file}.sql"))
}

/// `report_day_states`' rows.
#[derive(Deserialize)]
struct DayStateRow {
    logical_date: Option<NaiveDate>,
    #[serde(flatten)]
    run: StateRun,
}

/// `report_days`' rows.
#[derive(Deserialize)]
struct DayRow {
    logical_date: Option<NaiveDate>,
    #[serde(flatten)]
    day: Day,
}

/// `report_rows_per_day`'s rows.
#[derive(Deserialize)]
struct RowsOfDay {
    logical_date: Option<NaiveDate>,
    fact_rows: i64,
}

/// `report_rejects_per_day`'s rows.
#[derive(Deserialize)]
struct RejectsOfDay {
    logical_date: Option<NaiveDate>,
    reason: String,
    rejects: i64,
}

/// `report_quality`'s rows.
#[derive(Deserialize)]
struct QualityRow {
    kind: String,
    logical_date: Option<NaiveDate>,
    execution_id: String,
    status: String,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    detail: Option<String>,
}

/// Read everything the report shows.
pub fn load(
    wh: &mut DuckWarehouse,
    warehouse: &str,
    generated_at: NaiveDateTime,
) -> Result<ReportData> {
    let mut data = ReportData {
        warehouse: warehouse.to_owned(),
        generated_at: Some(generated_at),
        steps: load_definition(DEFINITION)?.state_names(),
        ..ReportData::default()
    };

    data.totals = query::<Totals>(wh, "report_headline")?
        .into_iter()
        .next()
        .unwrap_or_default();
    data.last_execution = query::<Execution>(wh, "report_last_execution")?
        .into_iter()
        .next();

    let mut states: BTreeMap<NaiveDate, Vec<StateRun>> = BTreeMap::new();
    for row in query::<DayStateRow>(wh, "report_day_states")? {
        if let Some(day) = row.logical_date {
            states.entry(day).or_default().push(row.run);
        }
    }
    data.days = query::<DayRow>(wh, "report_days")?
        .into_iter()
        .filter_map(|row| {
            let date = row.logical_date?;
            Some(Day {
                date,
                states: resolve_states(states.remove(&date).unwrap_or_default()),
                ..row.day
            })
        })
        .collect();
    // States the definition no longer has, in the order they ran.
    let mut extra: Vec<(i64, String)> = vec![];
    for s in data.days.iter().flat_map(|d| &d.states) {
        if !data.steps.contains(&s.name) && !extra.iter().any(|(_, n)| *n == s.name) {
            extra.push((s.seq, s.name.clone()));
        }
    }
    extra.sort();
    data.steps.extend(extra.into_iter().map(|(_, n)| n));

    data.rows_per_day = query::<RowsOfDay>(wh, "report_rows_per_day")?
        .into_iter()
        .filter_map(|r| Some((r.logical_date?, r.fact_rows)))
        .collect();
    data.rejects_per_day = query::<RejectsOfDay>(wh, "report_rejects_per_day")?
        .into_iter()
        .filter_map(|r| Some((r.logical_date?, r.reason, r.rejects)))
        .collect();

    for (i, row) in query::<QualityRow>(wh, "report_quality")?
        .into_iter()
        .enumerate()
    {
        let output: Option<serde_json::Value> = row
            .output
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .context("a CheckQuality state's output is not JSON")?;
        let failed_check = row
            .detail
            .as_deref()
            .map(failed_check)
            .transpose()?
            .flatten();
        let run = CheckRun {
            logical_date: row.logical_date,
            execution_id: row.execution_id,
            status: row.status,
            checks: output
                .as_ref()
                .map(checks_of)
                .transpose()?
                .unwrap_or_default(),
            failed_check,
            error: row.error,
            cause: row.cause,
        };
        match row.kind.as_str() {
            "passed" => data.quality.passed = Some(run),
            // Only when it is the latest run of all (the rows come latest first).
            _ if i == 0 => data.quality.failed = Some(run),
            _ => {}
        }
    }

    data.slowest = query(wh, "report_slowest_runs")?;
    data.step_durations = query(wh, "report_step_durations")?;
    data.failures = query(wh, "report_failures")?;
    Ok(data)
}

/// The checks of a CheckQuality state's output: the quality report sits at
/// the state's `ResultPath`, `$.results.quality` (a task's own output is the
/// report itself).
pub fn checks_of(output: &serde_json::Value) -> Result<Vec<CheckResult>> {
    let report = output.pointer("/results/quality").unwrap_or(output);
    let report = QualityReport::deserialize(report)
        .context("the CheckQuality state's output holds no quality report")?;
    Ok(report.checks)
}

/// The check a failed CheckQuality run's detail names (the task's
/// `QualityCheckFailed` as data); `None` for any other error.
pub fn failed_check(detail: &str) -> Result<Option<CheckResult>> {
    /// `TaskError`'s serialised form.
    #[derive(Deserialize)]
    struct Failure {
        error: String,
        detail: serde_json::Value,
    }
    /// `TaskError::QualityCheckFailed`'s fields.
    #[derive(Deserialize)]
    struct Failed {
        check: ovom_core::params::Check,
        got: i64,
        comparison: ovom_core::sql::Comparison,
        expected: i64,
    }
    let failure: Failure =
        serde_json::from_str(detail).context("a state's error detail is not an error")?;
    if failure.error != "QualityCheckFailed" {
        return Ok(None);
    }
    let f = Failed::deserialize(failure.detail)
        .context("a QualityCheckFailed detail lacks the check's result")?;
    Ok(Some(CheckResult {
        check: f.check,
        got: f.got,
        comparison: f.comparison,
        expected: f.expected,
        passed: false,
    }))
}

/// The run of each top-level state that stands for an execution, from all
/// its runs in (redrive, seq) order. A redrive resumes from the state that
/// failed: of an earlier attempt, the states that succeeded before its first
/// failure stand; the state that failed and those after it (the failure
/// route) are superseded by the later attempt. In the latest attempt every
/// run stands, the last run of a state winning.
pub fn resolve_states(runs: Vec<StateRun>) -> Vec<StateRun> {
    let latest = runs.iter().map(|r| r.redrive_count).max().unwrap_or(0);
    let mut first_failure: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &runs {
        if r.status != "SUCCEEDED" {
            let seq = first_failure.entry(r.redrive_count).or_insert(r.seq);
            *seq = (*seq).min(r.seq);
        }
    }
    let mut out: Vec<StateRun> = vec![];
    for r in runs {
        let stands = r.redrive_count == latest
            || first_failure
                .get(&r.redrive_count)
                .is_none_or(|f| r.seq < *f);
        if !stands {
            continue;
        }
        match out.iter_mut().find(|s| s.name == r.name) {
            Some(s) => *s = r,
            None => out.push(r),
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A state run for the report's tests.
    pub(in crate::report) fn run(name: &str, status: &str, redrive: i64, seq: i64) -> StateRun {
        StateRun {
            name: name.into(),
            status: status.into(),
            attempts: 1,
            redrive_count: redrive,
            seq,
            ..StateRun::default()
        }
    }

    #[test]
    fn a_redrive_supersedes_the_failed_state_and_its_failure_route() {
        let runs = vec![
            run("StagePatients", "SUCCEEDED", 0, 1),
            run("LoadFact", "CAUGHT", 0, 2),
            run("RecordFailure", "SUCCEEDED", 0, 3),
            run("Failed", "FAILED", 0, 4),
            run("LoadFact", "SUCCEEDED", 1, 5),
            run("Done", "SUCCEEDED", 1, 6),
        ];
        let kept: Vec<(String, String, i64)> = resolve_states(runs)
            .into_iter()
            .map(|r| (r.name, r.status, r.redrive_count))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("StagePatients".into(), "SUCCEEDED".into(), 0),
                ("LoadFact".into(), "SUCCEEDED".into(), 1),
                ("Done".into(), "SUCCEEDED".into(), 1),
            ]
        );
        // Without a redrive every state stands as it ran.
        let once = vec![
            run("LoadFact", "CAUGHT", 0, 1),
            run("RecordFailure", "SUCCEEDED", 0, 2),
            run("Failed", "FAILED", 0, 3),
        ];
        assert_eq!(resolve_states(once.clone()), once);
    }

    #[test]
    fn a_quality_failure_detail_gives_the_check_got_and_expected() {
        let e = ovom_core::TaskError::QualityCheckFailed {
            check: ovom_core::params::Check::DayReconciles,
            logical_date: "2025-03-14".into(),
            got: 191,
            comparison: ovom_core::sql::Comparison::Eq,
            expected: 192,
        };
        let c = failed_check(&e.detail().to_string()).unwrap().unwrap();
        assert_eq!(
            (
                c.check.name(),
                c.got,
                c.comparison.symbol(),
                c.expected,
                c.passed
            ),
            ("day_reconciles", 191, "=", 192, false)
        );
        let busy = ovom_core::TaskError::WarehouseBusy("locked".into());
        assert_eq!(failed_check(&busy.detail().to_string()).unwrap(), None);
        assert!(failed_check("not json").is_err());
    }
}

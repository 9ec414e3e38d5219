//! The rows the page is made of, read from the warehouse by the queries
//! under `crates/local/sql/reports/report_*.sql`. Each row is read by its columns'
//! names ([`Named`]): a query that loses or renames a column fails with the
//! query's and the column's name, never shifts the values into the wrong
//! fields.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{NaiveDate, NaiveDateTime};
use ovom_core::ports::Value;
use ovom_core::reports::QualityReport;
use ovom_duckdb::duckdb::types::Value as DuckValue;
use ovom_duckdb::duckdb::{Connection, Row};
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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub fact_rows: i64,
    pub rejects: i64,
    pub duplicates: i64,
    pub quarantined: i64,
}

/// One execution, of any state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
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
    pub states: Vec<StateRun>,
}

/// One run of one top-level state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateRun {
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
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// One check's result, as the quality task reports it.
pub use ovom_core::reports::CheckResult;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepDuration {
    pub step: String,
    pub state_type: String,
    pub runs: i64,
    pub median_ms: f64,
    pub max_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// One row of a report query, read by column name.
struct Named<'r, 's> {
    row: &'r Row<'s>,
    query: &'r str,
}

impl Named<'_, '_> {
    /// The value of a column; a column the query does not have is an error.
    fn value(&self, column: &str) -> Result<Value> {
        let v = self.row.get::<_, DuckValue>(column).with_context(|| {
            format!(
                "reading column `{column}` of crates/local/sql/reports/{}.sql",
                self.query
            )
        })?;
        Ok(ovom_duckdb::from_duck(v))
    }

    /// Text, empty when NULL.
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.opt_text(column)?.unwrap_or_default())
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(match self.value(column)? {
            Value::Null => None,
            other => Some(other.to_string()),
        })
    }

    /// A whole number, 0 when NULL.
    fn int(&self, column: &str) -> Result<i64> {
        Ok(match self.value(column)? {
            Value::Int(i) => i,
            Value::Float(f) => f.round() as i64,
            Value::Text(s) => s.parse().unwrap_or(0),
            _ => 0,
        })
    }

    fn float(&self, column: &str) -> Result<f64> {
        Ok(match self.value(column)? {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            Value::Text(s) => s.parse().unwrap_or(0.0),
            _ => 0.0,
        })
    }

    fn date(&self, column: &str) -> Result<Option<NaiveDate>> {
        Ok(match self.value(column)? {
            Value::Date(d) => Some(d),
            Value::Timestamp(t) => Some(t.date()),
            Value::Text(s) => s.parse().ok(),
            _ => None,
        })
    }

    fn timestamp(&self, column: &str) -> Result<Option<NaiveDateTime>> {
        Ok(match self.value(column)? {
            Value::Timestamp(t) => Some(t),
            _ => None,
        })
    }
}

/// Run one `crates/local/sql/reports/report_*.sql` query and read each row with `read`.
fn query<T>(
    conn: &Connection,
    name: &str,
    read: impl FnMut(&Named) -> Result<T>,
) -> Result<Vec<T>> {
    let text = ovom_local::sql::file(&format!("reports/{name}"))?;
    read_rows(conn, text, name, read)
}

/// Run the query `text` (the file `name`) and read each row with `read`.
fn read_rows<T>(
    conn: &Connection,
    text: &str,
    name: &str,
    mut read: impl FnMut(&Named) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn
        .prepare(text)
        .with_context(|| format!("preparing crates/local/sql/reports/{name}.sql"))?;
    let mut rows = stmt
        .query([])
        .with_context(|| format!("running crates/local/sql/reports/{name}.sql"))?;
    let mut out = vec![];
    while let Some(row) = rows.next()? {
        out.push(read(&Named { row, query: name })?);
    }
    Ok(out)
}

/// Read everything the report shows.
pub fn load(conn: &Connection, warehouse: &str, generated_at: NaiveDateTime) -> Result<ReportData> {
    let mut data = ReportData {
        warehouse: warehouse.to_owned(),
        generated_at: Some(generated_at),
        steps: load_definition(DEFINITION)?.state_names(),
        ..ReportData::default()
    };

    data.totals = query(conn, "report_headline", |r| {
        Ok(Totals {
            fact_rows: r.int("fact_rows")?,
            rejects: r.int("rejects")?,
            duplicates: r.int("duplicates")?,
            quarantined: r.int("quarantined")?,
        })
    })?
    .into_iter()
    .next()
    .unwrap_or_default();
    data.last_execution = query(conn, "report_last_execution", |r| {
        Ok(Execution {
            execution_id: r.text("execution_id")?,
            state_machine: r.text("state_machine")?,
            logical_date: r.date("logical_date")?,
            status: r.text("status")?,
            started_at: r.timestamp("started_at")?,
            finished_at: r.timestamp("finished_at")?,
            failed_state: r.opt_text("failed_state")?,
            error: r.opt_text("error")?,
            redrive_count: r.int("redrive_count")?,
        })
    })?
    .into_iter()
    .next();

    let mut states: BTreeMap<NaiveDate, Vec<StateRun>> = BTreeMap::new();
    let day_states = query(conn, "report_day_states", |r| {
        let run = StateRun {
            name: r.text("state_name")?,
            status: r.text("status")?,
            attempts: r.int("attempts")?,
            duration_ms: r.int("duration_ms")?,
            error: r.opt_text("error")?,
            cause: r.opt_text("cause")?,
            redrive_count: r.int("redrive_count")?,
            seq: r.int("seq")?,
        };
        Ok((r.date("logical_date")?, run))
    })?;
    for (day, run) in day_states {
        let Some(day) = day else { continue };
        states.entry(day).or_default().push(run);
    }
    let days = query(conn, "report_days", |r| {
        let Some(date) = r.date("logical_date")? else {
            return Ok(None);
        };
        Ok(Some(Day {
            date,
            execution_id: r.text("execution_id")?,
            status: r.text("status")?,
            started_at: r.timestamp("started_at")?,
            finished_at: r.timestamp("finished_at")?,
            failed_state: r.opt_text("failed_state")?,
            error: r.opt_text("error")?,
            parent_execution_id: r.opt_text("parent_execution_id")?,
            redrive_count: r.int("redrive_count")?,
            executions: r.int("executions")?,
            states: vec![],
        }))
    })?;
    data.days = days
        .into_iter()
        .flatten()
        .map(|day| Day {
            states: resolve_states(states.remove(&day.date).unwrap_or_default()),
            ..day
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

    data.rows_per_day = query(conn, "report_rows_per_day", |r| {
        let rows = r.int("fact_rows")?;
        Ok(r.date("logical_date")?.map(|d| (d, rows)))
    })?
    .into_iter()
    .flatten()
    .collect();
    data.rejects_per_day = query(conn, "report_rejects_per_day", |r| {
        let (reason, rejects) = (r.text("reason")?, r.int("rejects")?);
        Ok(r.date("logical_date")?.map(|d| (d, reason, rejects)))
    })?
    .into_iter()
    .flatten()
    .collect();

    let quality = query(conn, "report_quality", |r| {
        let output: Option<serde_json::Value> = r
            .opt_text("output")?
            .and_then(|o| serde_json::from_str(&o).ok());
        let run = CheckRun {
            logical_date: r.date("logical_date")?,
            execution_id: r.text("execution_id")?,
            status: r.text("status")?,
            checks: output
                .as_ref()
                .map(checks_of)
                .transpose()?
                .unwrap_or_default(),
            error: r.opt_text("error")?,
            cause: r.opt_text("cause")?,
        };
        Ok((r.text("kind")?, run))
    })?;
    for (i, (kind, run)) in quality.into_iter().enumerate() {
        match kind.as_str() {
            "passed" => data.quality.passed = Some(run),
            // Only when it is the latest run of all (the rows come latest first).
            _ if i == 0 => data.quality.failed = Some(run),
            _ => {}
        }
    }

    data.slowest = query(conn, "report_slowest_runs", |r| {
        Ok(SlowRun {
            execution_id: r.text("execution_id")?,
            logical_date: r.date("logical_date")?,
            path: r.text("path")?,
            state_type: r.text("state_type")?,
            status: r.text("status")?,
            attempts: r.int("attempts")?,
            duration_ms: r.int("duration_ms")?,
            redrive_count: r.int("redrive_count")?,
        })
    })?;
    data.step_durations = query(conn, "report_step_durations", |r| {
        Ok(StepDuration {
            step: r.text("step")?,
            state_type: r.text("state_type")?,
            runs: r.int("runs")?,
            median_ms: r.float("median_ms")?,
            max_ms: r.int("max_ms")?,
        })
    })?;
    data.failures = query(conn, "report_failures", |r| {
        Ok(Failure {
            execution_id: r.text("execution_id")?,
            state_machine: r.text("state_machine")?,
            logical_date: r.date("logical_date")?,
            started_at: r.timestamp("started_at")?,
            failed_state: r.opt_text("failed_state")?,
            error: r.opt_text("error")?,
            cause: r.opt_text("cause")?,
            parent_execution_id: r.opt_text("parent_execution_id")?,
            redrive_count: r.int("redrive_count")?,
            day_status_now: r.opt_text("day_status_now")?,
        })
    })?;
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

/// The check a QualityCheckFailed cause names: ``quality check `NAME`
/// failed for DAY: got G, expected OP E``.
pub fn failed_check(cause: &str) -> Option<CheckResult> {
    let rest = &cause[cause.find("quality check `")? + "quality check `".len()..];
    let check = &rest[..rest.find('`')?];
    let rest = &rest[rest.find("got ")? + 4..];
    let (got, rest) = rest.split_once(", expected ")?;
    let (comparison, expected) = rest.trim().split_once(' ')?;
    let expected: String = expected
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    let word = |s: &str| serde_json::Value::String(s.to_owned());
    Some(CheckResult {
        check: serde_json::from_value(word(check)).ok()?,
        got: got.trim().parse().ok()?,
        comparison: serde_json::from_value(word(comparison)).ok()?,
        expected: expected.parse().ok()?,
        passed: false,
    })
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
    fn a_quality_failure_cause_gives_the_check_got_and_expected() {
        let c = failed_check(
            "quality check `day_reconciles` failed for 2025-03-14: got 191, expected = 192",
        )
        .unwrap();
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
        assert_eq!(failed_check("warehouse busy"), None);
    }

    #[test]
    fn a_row_is_read_by_its_columns_names_whatever_their_order() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = "SELECT 'x-1' AS execution_id, NULL AS error, 7.6::DOUBLE AS attempts, \
                   DATE '2025-03-14' AS logical_date, TIMESTAMP '2025-03-14 10:00:00' AS started_at";
        let read = |r: &Named| {
            Ok((
                r.int("attempts")?,
                r.date("logical_date")?,
                r.opt_text("error")?,
                r.text("execution_id")?,
                r.timestamp("started_at")?,
            ))
        };
        let rows = read_rows(&conn, sql, "report_test", read).unwrap();
        let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        assert_eq!(
            rows,
            vec![(
                8,
                Some(day),
                None,
                "x-1".to_owned(),
                day.and_hms_opt(10, 0, 0)
            )]
        );
        // A column the query lacks is an error that names it and the query.
        let err = read_rows(&conn, sql, "report_test", |r| r.text("cause")).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("`cause`") && err.contains("crates/local/sql/reports/report_test.sql"),
            "{err}"
        );
    }
}

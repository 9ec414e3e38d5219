//! The three task types. Each is a free function of its validated parameters
//! over the ports; each writes in one transaction, so a failed task leaves the
//! warehouse as it was, and each can be re-run: a day's writes replace what an
//! earlier run of the same day wrote.

use std::collections::BTreeMap;

use crate::contract::LineError;
use crate::erasure::{self, ErasureKey};
use crate::params::{
    Check, Days, DimMode, LoadParams, LogicalDate, Model, QualityParams, Source, StageParams,
};
use serde::Deserialize;

use crate::ports::{
    in_transaction, CopyRequest, ObjectMeta, ObjectStore, Param, Table, Value, Warehouse,
};
use crate::reports::{
    through, CheckResult, DayOutcomes, LaterDays, LoadReport, QualityReport, StageReport,
};
use crate::sql;
use crate::TaskError;

/// Create every table and view that does not exist yet, and replace the
/// views. Adapters call it once per connection (a CLI run, a Lambda
/// container), not per task. A warehouse whose recorded fingerprint is the
/// DDL's own (`sql::schema_fingerprint`) is as the DDL would leave it: one
/// probe then, instead of every DDL statement.
pub fn ensure_schema(wh: &mut dyn Warehouse) -> Result<(), TaskError> {
    #[derive(Deserialize)]
    struct Recorded {
        fingerprint: String,
    }
    let dialect = wh.dialect();
    let fingerprint = sql::schema_fingerprint(dialect)?;
    // Fails on a warehouse that has no fingerprint yet: the DDL runs.
    let recorded = wh
        .query_table(sql::file(dialect, "meta/schema_version")?, &[])
        .and_then(Table::read::<Recorded>)
        .ok()
        .and_then(|rows| rows.into_iter().next());
    if recorded.is_some_and(|r| r.fingerprint == fingerprint) {
        return Ok(());
    }
    for ddl in sql::schema(dialect)? {
        wh.execute(ddl, &[])?;
    }
    add_new_columns(wh)?;
    wh.execute(sql::schema_marker(dialect)?, &[])
}

/// A warehouse made by an earlier release keeps its tables as they were
/// (`CREATE TABLE IF NOT EXISTS` leaves a table alone): the columns added
/// since are added here. `suppressed` (of `stage_audit`) is 0: nothing was
/// erased before. `decided_on` (of `fact_bloodtest` and `rejects`) is
/// each row's delivery day, on which every row then was decided;
/// `patient_version_key` is the version in force at each test, from the
/// patients' history rebuilt from every staged record.
fn add_new_columns(wh: &mut dyn Warehouse) -> Result<(), TaskError> {
    #[derive(Deserialize)]
    struct Present {
        table_name: String,
        column_name: String,
    }
    let dialect = wh.dialect();
    let present: Vec<Present> = wh
        .query_table(sql::file(dialect, "meta/added_columns_present")?, &[])?
        .read()?;
    let has = |table: &str, column: &str| {
        present
            .iter()
            .any(|p| p.table_name == table && p.column_name == column)
    };
    for table in [Model::FactBloodtest.table(), "rejects"] {
        if !has(table, "decided_on") {
            tracing::info!(
                table,
                column = "decided_on",
                "adding a column an earlier release lacked"
            );
            wh.execute(
                sql::file(dialect, &format!("meta/add_decided_on_{table}"))?,
                &[],
            )?;
        }
    }
    if !has("stage_audit", "suppressed") {
        tracing::info!(
            table = "stage_audit",
            column = "suppressed",
            "adding a column an earlier release lacked"
        );
        wh.execute(sql::file(dialect, "meta/add_suppressed_stage_audit")?, &[])?;
    }
    if !has(Model::FactBloodtest.table(), "patient_version_key") {
        tracing::info!(
            table = Model::FactBloodtest.table(),
            column = "patient_version_key",
            "adding a column an earlier release lacked"
        );
        // Every staged patient (`all_days`); the days are then not read.
        let params = [
            ("logical_date", Value::Text("1970-01-01".into())),
            ("through", Value::Text("1970-01-01".into())),
            ("all_days", Value::Bool(true)),
        ];
        wh.execute(sql::file(dialect, "history/dim_patient_history")?, &params)?;
        wh.execute(sql::file(dialect, "meta/add_patient_version_key")?, &[])?;
    }
    Ok(())
}

/// Copy one source's files of the task's days into its staging table,
/// replacing what an earlier run staged for those days. A day with no files
/// stages zero rows. A range is one transaction: each day is copied with
/// its own error budget and audited with its own line count.
///
/// Lines of erased patients are removed before anything reads them (the
/// suppression list, keyed by `erasure_key`) and counted as suppressed.
pub fn stage(
    p: &StageParams,
    erasure_key: Option<&ErasureKey>,
    wh: &mut dyn Warehouse,
    store: &dyn ObjectStore,
) -> Result<StageReport, TaskError> {
    let dialect = wh.dialect();
    let days = p.days();
    let requests: Vec<CopyRequest> = files_by_day(p.source, days, store)?
        .into_iter()
        .map(|(day, files)| CopyRequest {
            source: p.source,
            logical_date: day,
            run_id: p.run_id.clone(),
            files,
            max_errors: p.error_budget(),
        })
        .collect();
    let files: usize = requests.iter().map(|r| r.files.len()).sum();
    let clear = sql::file(dialect, &format!("stage/{}", p.source.folder()))?;
    let audit = sql::file(dialect, "stage/audit")?;
    let mut params = day_params(days, p.run_id.as_str());
    params.push(("source", Value::Text(p.source.folder().into())));
    if !p.allow_empty && (requests.len() as i64) < days.count() {
        refuse_emptying(p.source, &requests, &params, wh)?;
    }
    // Lines of erased patients, found before the transaction (which on the
    // Data API cannot read): none, and no file read, until an erasure.
    let suppressed_lines = match erasure::Suppression::read(erasure_key, wh)? {
        Some(list) => list.lines(&requests, store)?,
        None => vec![],
    };
    in_transaction(wh, |wh| {
        wh.execute(clear, &params)?;
        let lines = wh
            .copy_days(&requests, store)
            .map_err(|e| without_patient_values(p.source, e))?;
        let suppressed = erasure::suppress(p.source, days, &p.run_id, &suppressed_lines, wh)?;
        // Each day of the range is audited, a day with no file with zeros;
        // up to sql::VALUES_ROWS days a statement.
        let copied: BTreeMap<LogicalDate, (usize, u64)> = requests
            .iter()
            .zip(lines)
            .map(|(r, n)| (r.logical_date, (r.files.len(), n)))
            .collect();
        let rows: Vec<Vec<Param>> = days
            .iter()
            .map(|day| {
                let (files, read) = copied.get(&day).copied().unwrap_or((0, 0));
                let mut row = day_params(Days::one(day), p.run_id.as_str());
                row.extend([
                    ("source", Value::Text(p.source.folder().into())),
                    ("files", Value::Int(files as i64)),
                    ("lines_read", Value::Int(read as i64)),
                    (
                        "suppressed",
                        Value::Int(suppressed.get(&day).copied().unwrap_or(0) as i64),
                    ),
                ]);
                row
            })
            .collect();
        for chunk in rows.chunks(sql::VALUES_ROWS) {
            wh.execute(
                sql::values_rows(audit, chunk.len())?,
                &sql::row_params(chunk),
            )?;
        }
        Ok(())
    })?;
    /// `sql/reports/stage_counts.sql`'s one row.
    #[derive(Deserialize)]
    struct StageCounts {
        lines_read: u64,
        staged: u64,
        quarantined: u64,
        suppressed: u64,
        later_first: Option<LogicalDate>,
        later_last: Option<LogicalDate>,
    }
    let counts: StageCounts = one_row(
        "stage_counts",
        wh.query_table(sql::file(dialect, "reports/stage_counts")?, &params)?,
    )?;
    let later_days = match (counts.later_first, counts.later_last) {
        (Some(from), Some(to)) => Some(LaterDays { from, to }),
        _ => None,
    };
    let report = StageReport {
        source: p.source,
        logical_date: days.first,
        through: through(days),
        files: files as u64,
        lines_read: counts.lines_read,
        staged: counts.staged,
        quarantined: counts.quarantined,
        suppressed: counts.suppressed,
        later_days,
    };
    tracing::info!(
        task = "stage",
        source = report.source.folder(),
        days = %days,
        files = report.files,
        lines_read = report.lines_read,
        staged = report.staged,
        quarantined = report.quarantined,
        suppressed = report.suppressed,
        later_days = ?report.later_days,
        "staged"
    );
    Ok(report)
}

/// Refuse a day with no file of the source that would replace rows the
/// warehouse holds of it (asked only when some day of the task has no file).
fn refuse_emptying(
    source: Source,
    requests: &[CopyRequest],
    params: &[Param],
    wh: &mut dyn Warehouse,
) -> Result<(), TaskError> {
    let with_files: std::collections::BTreeSet<LogicalDate> =
        requests.iter().map(|r| r.logical_date).collect();
    /// `sql/stage/held_rows.sql`'s rows.
    #[derive(Deserialize)]
    struct Held {
        logical_date: LogicalDate,
        n: i64,
    }
    let held = wh.query_table(sql::file(wh.dialect(), "stage/held_rows")?, params)?;
    for Held {
        logical_date: day,
        n: rows,
    } in held.read()?
    {
        if rows > 0 && !with_files.contains(&day) {
            return Err(TaskError::EmptyDayRefused {
                source_folder: source.folder(),
                logical_date: day.to_string(),
                rows,
            });
        }
    }
    Ok(())
}

/// The source's files of each day in `days`, from one listing of the
/// source's folder.
fn files_by_day(
    source: Source,
    days: Days,
    store: &dyn ObjectStore,
) -> Result<BTreeMap<LogicalDate, Vec<ObjectMeta>>, TaskError> {
    let mut by_day = source_files(source, store)?;
    // A data root holding no file of either source is a wrong root (a
    // typo in the prefix, an export that never landed): refused before
    // anything is written, rather than loading empty days.
    if by_day.is_empty() {
        let mut held = false;
        for s in Source::ALL {
            held = held || store.holds(&format!("{}/", s.folder()))?;
        }
        if !held {
            return Err(TaskError::StoreError {
                key: store.url(""),
                detail: "the data root holds neither patient_data/ nor log_data/: check the data prefix (--data locally)".into(),
            });
        }
    }
    by_day.retain(|day, _| days.contains(*day));
    Ok(by_day)
}

/// Every file of a source, by day. Nothing under the source's folder is
/// passed over in silence: a file outside the layout
/// `<source>/YYYY/MM/DD/<file>` fails the listing, naming it.
pub fn source_files(
    source: Source,
    store: &dyn ObjectStore,
) -> Result<BTreeMap<LogicalDate, Vec<ObjectMeta>>, TaskError> {
    let mut by_day: BTreeMap<LogicalDate, Vec<ObjectMeta>> = BTreeMap::new();
    for object in store.list(&format!("{}/", source.folder()))? {
        match Source::locate(&object.key) {
            Ok(day) => by_day.entry(day).or_default().push(object),
            Err(reason) => {
                return Err(TaskError::OutsideLayout {
                    key: object.key,
                    reason,
                })
            }
        }
    }
    Ok(by_day)
}

/// A malformed patient line's error names its file, line and field but not
/// a value it quotes, which may be a name or an address: the error travels
/// to logs, the execution history and the command's output. (The line
/// itself is kept only in the warehouse, when it is quarantined.)
fn without_patient_values(source: Source, e: TaskError) -> TaskError {
    match (source, e) {
        (
            Source::PatientData,
            TaskError::MalformedInput {
                file,
                line,
                error,
                budget,
            },
        ) if error.reason.contains('"') => {
            let reason = match error.field {
                Some(_) => "not a valid value (not shown: patient data)",
                None => "not a valid record (not shown: patient data)",
            };
            TaskError::MalformedInput {
                file,
                line,
                error: LineError {
                    field: error.field,
                    reason: reason.into(),
                },
                budget,
            }
        }
        (_, e) => e,
    }
}

/// Build one model for the task's days.
pub fn load(p: &LoadParams, wh: &mut dyn Warehouse) -> Result<LoadReport, TaskError> {
    let dialect = wh.dialect();
    let mode = p.model.is_dimension().then(|| p.mode.unwrap_or_default());
    let text = match mode {
        Some(mode) => sql::dimension(dialect, p.model, mode)?,
        None => sql::file(dialect, "facts/fact_bloodtest")?,
    };
    let days = p.days();
    let mut params = day_params(days, p.run_id.as_str());
    params.push((
        "all_days",
        Value::Bool(mode == Some(DimMode::TruncateInsert)),
    ));
    if p.model == Model::FactBloodtest {
        let wait = p.patient_wait_days();
        let window_from = days.first.date() - chrono::Days::new(u64::from(wait));
        params.push(("wait_days", Value::Int(i64::from(wait))));
        params.push(("window_from", Value::Text(window_from.to_string())));
    }
    // The patients' versions (type-2 history) are rebuilt with the current
    // records, in the same transaction.
    let history = match p.model {
        Model::DimPatient => Some(sql::file(dialect, "history/dim_patient_history")?),
        _ => None,
    };
    in_transaction(wh, |wh| {
        wh.execute(text, &params)?;
        match history {
            Some(history) => wh.execute(history, &params),
            None => Ok(()),
        }
    })?;

    let mut report = LoadReport {
        model: p.model,
        mode,
        logical_date: days.first,
        through: through(days),
        loaded: None,
        rejected: BTreeMap::new(),
        duplicates: None,
        pending: None,
    };
    if p.model == Model::FactBloodtest {
        let outcomes = day_outcomes(days, wh)?;
        report.loaded = Some(outcomes.loaded);
        report.duplicates = Some(outcomes.duplicates);
        report.rejected = outcomes.rejected;
        report.pending = Some(outcomes.pending);
    }
    tracing::info!(
        task = "load",
        model = report.model.table(),
        mode = report.mode.map_or("day-replace", DimMode::as_str),
        days = %days,
        loaded = report.loaded,
        rejected = report.rejected.values().sum::<u64>(),
        duplicates = report.duplicates,
        pending = report.pending,
        "loaded"
    );
    Ok(report)
}

/// Run the named checks over the task's days. Every check runs; the task
/// fails with the first one that does not hold.
pub fn quality(p: &QualityParams, wh: &mut dyn Warehouse) -> Result<QualityReport, TaskError> {
    let dialect = wh.dialect();
    let days = p.days();
    let params = day_params(days, p.run_id.as_str());
    let mut results = vec![];
    for check in p.checks() {
        results.push(run_check(dialect, check, wh, &params)?);
    }
    let report = QualityReport {
        logical_date: days.first,
        through: through(days),
        checks: results,
    };
    if let Some(failed) = report.checks.iter().find(|c| !c.passed) {
        tracing::warn!(
            task = "quality",
            days = %days,
            check = failed.check.name(),
            got = failed.got,
            expected = failed.expected,
            "check failed"
        );
        return Err(TaskError::QualityCheckFailed {
            check: failed.check,
            logical_date: days.to_string(),
            got: failed.got,
            comparison: failed.comparison,
            expected: failed.expected,
        });
    }
    tracing::info!(task = "quality", days = %days, checks = report.checks.len(), "checks passed");
    Ok(report)
}

fn run_check(
    dialect: sql::Dialect,
    check: Check,
    wh: &mut dyn Warehouse,
    params: &[Param],
) -> Result<CheckResult, TaskError> {
    let text = sql::file(dialect, &format!("checks/{}", check.name()))?;
    let comparison = sql::comparison(&text)?;
    /// A check's one row.
    #[derive(Deserialize)]
    struct Checked {
        got: i64,
        expected: i64,
    }
    let Checked { got, expected } = one_row(check.name(), wh.query_table(text, params)?)?;
    Ok(CheckResult {
        check,
        got,
        comparison,
        expected,
        passed: comparison.holds(got, expected),
    })
}

/// Where the lines of `days` went: loaded, rejected by reason, duplicates,
/// quarantined by source.
pub fn day_outcomes(days: Days, wh: &mut dyn Warehouse) -> Result<DayOutcomes, TaskError> {
    let params = [
        ("logical_date", Value::Text(days.first.to_string())),
        ("through", Value::Text(days.last.to_string())),
    ];
    #[derive(Deserialize)]
    struct Outcome {
        outcome: String,
        reason: String,
        n: u64,
    }
    let mut out = DayOutcomes::default();
    let rows = wh.query_table(sql::file(wh.dialect(), "reports/day_outcomes")?, &params)?;
    for Outcome {
        outcome,
        reason: key,
        n,
    } in rows.read()?
    {
        match outcome.as_str() {
            "loaded" => out.loaded += n,
            "duplicate" => out.duplicates += n,
            "pending" => out.pending += n,
            "rejected" => *out.rejected.entry(key).or_default() += n,
            "quarantined" => *out.quarantined.entry(key).or_default() += n,
            other => {
                return Err(TaskError::WarehouseError(format!(
                    "day_outcomes: unknown outcome `{other}`"
                )))
            }
        }
    }
    Ok(out)
}

/// The one row a query returns, read by column name.
fn one_row<T: serde::de::DeserializeOwned>(query: &str, table: Table) -> Result<T, TaskError> {
    let mut rows = table.read::<T>()?;
    match (rows.pop(), rows.is_empty()) {
        (Some(row), true) => Ok(row),
        _ => Err(TaskError::WarehouseError(format!(
            "`{query}` returned no row or several; it returns one"
        ))),
    }
}

/// The parameters every day-scoped SQL file binds: the first and last day
/// (`:logical_date`, `:through`) and the execution (`:run_id`).
fn day_params(days: Days, run_id: &str) -> Vec<Param> {
    vec![
        ("logical_date", Value::Text(days.first.to_string())),
        ("through", Value::Text(days.last.to_string())),
        ("run_id", Value::Text(run_id.into())),
    ]
}

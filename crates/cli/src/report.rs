//! `ovom report`: one self-contained HTML page about the warehouse's runs.
//!
//! Everything the page shows is read by the queries under
//! `sql/reports/report_*.sql` ([`load`]), then laid out by [`render`], a pure
//! function of [`ReportData`]: inline CSS and inline SVG, no script, font,
//! stylesheet or image from anywhere else, and every value HTML-escaped.
//!
//! The page holds the headline counts, a grid of logical days × the daily
//! state machine's top-level states coloured by the latest execution of each
//! day, rows loaded and rejects by reason over the same days, the latest
//! quality checks, the slowest steps, and the recent failed executions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use ovom_core::ports::Value;
use ovom_core::sql::{self, Dialect};
use ovom_duckdb::duckdb::types::Value as DuckValue;
use ovom_duckdb::duckdb::Connection;

use crate::pipeline::{load_definition, DEFINITION};

/// At most this many days, the latest, are drawn (a year and a month).
pub const MAX_DAYS: usize = 400;

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckResult {
    pub check: String,
    pub got: i64,
    pub comparison: String,
    pub expected: i64,
    pub passed: bool,
}

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

/// `ovom report`: read the warehouse (read-only) and write the page to
/// `out`. Returns a line saying what was written.
pub fn run(warehouse: &Path, out: &Path) -> Result<String> {
    if !warehouse.is_file() {
        bail!(
            "no warehouse at {}: run `ovom run` first",
            warehouse.display()
        );
    }
    refuse_warehouse_as_output(warehouse, out)?;
    let mut wh = ovom_duckdb::DuckWarehouse::open_read_only(warehouse)
        .map_err(|e| crate::pipeline::open_error(warehouse, e))?;
    crate::pipeline::check_ovom_warehouse(&mut wh, Some(warehouse), crate::pipeline::Access::Read)?;
    let now = chrono::Utc::now().naive_utc();
    let data = load(wh.connection(), &warehouse.display().to_string(), now)
        .with_context(|| format!("reading the run history of {}", warehouse.display()))?;
    let html = render(&data);
    write_atomically(out, html.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    Ok(format!(
        "wrote {} ({} days, {} fact rows, {} failed execution{} listed, {} kB)",
        out.display(),
        data.days.len(),
        thousands(data.totals.fact_rows),
        data.failures.len(),
        if data.failures.len() == 1 { "" } else { "s" },
        html.len().div_ceil(1024)
    ))
}

/// The report must never land on the warehouse or its write-ahead log
/// (by the same name, another spelling of it, or a link to it).
fn refuse_warehouse_as_output(warehouse: &Path, out: &Path) -> Result<()> {
    let mut wal = warehouse.as_os_str().to_owned();
    wal.push(".wal");
    for (what, file) in [
        ("warehouse", warehouse.to_path_buf()),
        ("warehouse's write-ahead log", wal.into()),
    ] {
        let same = match (std::fs::metadata(&file), std::fs::metadata(out)) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.dev() == b.dev() && a.ino() == b.ino()
            }
            _ => resolved(&file) == resolved(out),
        };
        if same {
            bail!(
                "--out {} is the {what} {}: the report is written to a file of its own (e.g. --out report.html)",
                out.display(),
                file.display()
            );
        }
    }
    Ok(())
}

/// A path with its folder resolved (the file itself may not exist yet).
fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Write a file whole or not at all: a temporary file beside it, renamed
/// over it once written.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// Run one `sql/reports/report_*.sql` query.
fn query(conn: &Connection, name: &str) -> Result<Vec<Vec<Value>>> {
    let text = sql::file(Dialect::DuckDb, &format!("reports/{name}"))?;
    let mut stmt = conn
        .prepare(text)
        .with_context(|| format!("preparing sql/reports/{name}.sql"))?;
    let mut rows = stmt
        .query([])
        .with_context(|| format!("running sql/reports/{name}.sql"))?;
    let mut out = vec![];
    while let Some(row) = rows.next()? {
        let width = row.as_ref().column_count();
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            cells.push(ovom_duckdb::from_duck(row.get::<_, DuckValue>(i)?));
        }
        out.push(cells);
    }
    Ok(out)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn opt_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => f.round() as i64,
        Value::Text(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Text(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn date(v: &Value) -> Option<NaiveDate> {
    match v {
        Value::Date(d) => Some(*d),
        Value::Timestamp(t) => Some(t.date()),
        Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

fn timestamp(v: &Value) -> Option<NaiveDateTime> {
    match v {
        Value::Timestamp(t) => Some(*t),
        _ => None,
    }
}

/// Read everything the report shows.
pub fn load(conn: &Connection, warehouse: &str, generated_at: NaiveDateTime) -> Result<ReportData> {
    let mut data = ReportData {
        warehouse: warehouse.to_owned(),
        generated_at: Some(generated_at),
        steps: load_definition(DEFINITION)?.state_names(),
        ..ReportData::default()
    };

    if let Some(r) = query(conn, "report_headline")?.first() {
        data.totals = Totals {
            fact_rows: int(&r[0]),
            rejects: int(&r[1]),
            duplicates: int(&r[2]),
            quarantined: int(&r[3]),
        };
    }
    data.last_execution = query(conn, "report_last_execution")?
        .first()
        .map(|r| Execution {
            execution_id: text(&r[0]),
            state_machine: text(&r[1]),
            logical_date: date(&r[2]),
            status: text(&r[3]),
            started_at: timestamp(&r[4]),
            finished_at: timestamp(&r[5]),
            failed_state: opt_text(&r[6]),
            error: opt_text(&r[7]),
            redrive_count: int(&r[8]),
        });

    let mut states: BTreeMap<NaiveDate, Vec<StateRun>> = BTreeMap::new();
    for r in query(conn, "report_day_states")? {
        let Some(day) = date(&r[0]) else { continue };
        states.entry(day).or_default().push(StateRun {
            name: text(&r[1]),
            status: text(&r[2]),
            attempts: int(&r[3]),
            duration_ms: int(&r[4]),
            error: opt_text(&r[5]),
            cause: opt_text(&r[6]),
            redrive_count: int(&r[7]),
            seq: int(&r[8]),
        });
    }
    for r in query(conn, "report_days")? {
        let Some(day) = date(&r[0]) else { continue };
        data.days.push(Day {
            date: day,
            execution_id: text(&r[1]),
            status: text(&r[2]),
            started_at: timestamp(&r[3]),
            finished_at: timestamp(&r[4]),
            failed_state: opt_text(&r[5]),
            error: opt_text(&r[6]),
            parent_execution_id: opt_text(&r[7]),
            redrive_count: int(&r[8]),
            executions: int(&r[9]),
            states: resolve_states(states.remove(&day).unwrap_or_default()),
        });
    }
    // States the definition no longer has, in the order they ran.
    let mut extra: Vec<(i64, String)> = vec![];
    for s in data.days.iter().flat_map(|d| &d.states) {
        if !data.steps.contains(&s.name) && !extra.iter().any(|(_, n)| *n == s.name) {
            extra.push((s.seq, s.name.clone()));
        }
    }
    extra.sort();
    data.steps.extend(extra.into_iter().map(|(_, n)| n));

    data.rows_per_day = query(conn, "report_rows_per_day")?
        .iter()
        .filter_map(|r| Some((date(&r[0])?, int(&r[1]))))
        .collect();
    data.rejects_per_day = query(conn, "report_rejects_per_day")?
        .iter()
        .filter_map(|r| Some((date(&r[0])?, text(&r[1]), int(&r[2]))))
        .collect();

    for (i, r) in query(conn, "report_quality")?.iter().enumerate() {
        let output: Option<serde_json::Value> =
            opt_text(&r[4]).and_then(|o| serde_json::from_str(&o).ok());
        let run = CheckRun {
            logical_date: date(&r[1]),
            execution_id: text(&r[2]),
            status: text(&r[3]),
            checks: output.as_ref().map(checks_of).unwrap_or_default(),
            error: opt_text(&r[5]),
            cause: opt_text(&r[6]),
        };
        match text(&r[0]).as_str() {
            "passed" => data.quality.passed = Some(run),
            // Only when it is the latest run of all (the rows come latest first).
            _ if i == 0 => data.quality.failed = Some(run),
            _ => {}
        }
    }

    data.slowest = query(conn, "report_slowest_runs")?
        .iter()
        .map(|r| SlowRun {
            execution_id: text(&r[0]),
            logical_date: date(&r[1]),
            path: text(&r[2]),
            state_type: text(&r[3]),
            status: text(&r[4]),
            attempts: int(&r[5]),
            duration_ms: int(&r[6]),
            redrive_count: int(&r[7]),
        })
        .collect();
    data.step_durations = query(conn, "report_step_durations")?
        .iter()
        .map(|r| StepDuration {
            step: text(&r[0]),
            state_type: text(&r[1]),
            runs: int(&r[2]),
            median_ms: float(&r[3]),
            max_ms: int(&r[4]),
        })
        .collect();
    data.failures = query(conn, "report_failures")?
        .iter()
        .map(|r| Failure {
            execution_id: text(&r[0]),
            state_machine: text(&r[1]),
            logical_date: date(&r[2]),
            started_at: timestamp(&r[3]),
            failed_state: opt_text(&r[4]),
            error: opt_text(&r[5]),
            cause: opt_text(&r[6]),
            parent_execution_id: opt_text(&r[7]),
            redrive_count: int(&r[8]),
            day_status_now: opt_text(&r[9]),
        })
        .collect();
    Ok(data)
}

/// The checks of a CheckQuality state's output: the quality report sits at
/// the state's `ResultPath`, `$.results.quality`.
pub fn checks_of(output: &serde_json::Value) -> Vec<CheckResult> {
    let list = output
        .pointer("/results/quality/checks")
        .or_else(|| output.pointer("/checks"))
        .and_then(|c| c.as_array());
    list.into_iter()
        .flatten()
        .map(|c| CheckResult {
            check: c["check"].as_str().unwrap_or_default().to_owned(),
            got: c["got"].as_i64().unwrap_or_default(),
            comparison: c["comparison"].as_str().unwrap_or("=").to_owned(),
            expected: c["expected"].as_i64().unwrap_or_default(),
            passed: c["passed"].as_bool() == Some(true),
        })
        .collect()
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
    Some(CheckResult {
        check: check.to_owned(),
        got: got.trim().parse().ok()?,
        comparison: comparison.to_owned(),
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

// ------------------------------------------------------------------ helpers

/// HTML-escape a value for text or a quoted attribute (SVG included).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 68512 → `68,512`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let mut out = digits[..head].to_owned();
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A duration in ms, for people: `12 ms`, `1.24 s`, `2 min 05 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", ms.round() as i64)
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as i64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

fn when(t: Option<NaiveDateTime>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn day_text(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "–".to_owned(), |d| d.to_string())
}

/// A round step and top for an axis from 0 to `max`, about five ticks.
pub fn nice_ticks(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    (step, (max / step).ceil() * step)
}

fn f(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// How a cell is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Ok,
    Retried,
    Caught,
    Failed,
    Running,
    NotRun,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Retried => "re",
            Tone::Caught => "ca",
            Tone::Failed => "fa",
            Tone::Running => "ru",
            Tone::NotRun => "nr",
        }
    }
    fn of_state(s: &StateRun) -> Tone {
        match s.status.as_str() {
            "SUCCEEDED" if s.attempts > 1 => Tone::Retried,
            "SUCCEEDED" => Tone::Ok,
            "CAUGHT" => Tone::Caught,
            "FAILED" => Tone::Failed,
            _ => Tone::Running,
        }
    }
    fn of_execution(status: &str) -> Tone {
        match status {
            "SUCCEEDED" => Tone::Ok,
            "RUNNING" => Tone::Running,
            _ => Tone::Failed,
        }
    }
    fn words(self) -> &'static str {
        match self {
            Tone::Ok => "succeeded",
            Tone::Retried => "succeeded after a retry",
            Tone::Caught => "failed, caught",
            Tone::Failed => "failed",
            Tone::Running => "running",
            Tone::NotRun => "not run",
        }
    }
}

fn pill(status: &str) -> String {
    let class = match status {
        "SUCCEEDED" => "ok",
        "RUNNING" => "ru",
        "CAUGHT" => "ca",
        _ => "fa",
    };
    format!("<span class=\"pill {class}\">{}</span>", esc(status))
}

// ------------------------------------------------------------------ the axis

const LEFT: f64 = 176.0;
const PLOT_WIDTH: f64 = 1092.0;
const SVG_WIDTH: f64 = LEFT + PLOT_WIDTH + 12.0;

/// The days drawn, one column each, shared by the grid and the charts.
struct Axis {
    first: NaiveDate,
    days: usize,
    pitch: f64,
    /// Days before `first` that are not drawn.
    hidden: usize,
}

impl Axis {
    fn of(data: &ReportData) -> Option<Axis> {
        let dates: BTreeSet<NaiveDate> = data
            .days
            .iter()
            .map(|d| d.date)
            .chain(data.rows_per_day.iter().map(|r| r.0))
            .chain(data.rejects_per_day.iter().map(|r| r.0))
            .collect();
        let (min, max) = (*dates.first()?, *dates.last()?);
        let all = (max - min).num_days() as usize + 1;
        let days = all.min(MAX_DAYS);
        let first = max - Duration::days(days as i64 - 1);
        Some(Axis {
            first,
            days,
            pitch: (PLOT_WIDTH / days as f64).min(26.0),
            hidden: all - days,
        })
    }
    fn last(&self) -> NaiveDate {
        self.first + Duration::days(self.days as i64 - 1)
    }
    fn index(&self, d: NaiveDate) -> Option<usize> {
        let i = (d - self.first).num_days();
        (i >= 0 && (i as usize) < self.days).then_some(i as usize)
    }
    fn x(&self, i: usize) -> f64 {
        LEFT + i as f64 * self.pitch
    }
    fn width(&self) -> f64 {
        self.days as f64 * self.pitch
    }
    /// The width of one day's cell: a hairline apart when they are dense.
    fn cell(&self) -> f64 {
        if self.pitch >= 8.0 {
            self.pitch - 2.0
        } else if self.pitch >= 2.5 {
            self.pitch - 0.6
        } else {
            self.pitch
        }
    }
    fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        (0..self.days).map(|i| self.first + Duration::days(i as i64))
    }
    /// Month labels (and the year at the first one and at each January),
    /// and day-of-month labels when the days are wide enough.
    fn labels(&self, s: &mut String, y: f64, ticks_from: f64, ticks_to: f64) {
        let mut first_label = true;
        for (i, d) in self.dates().enumerate() {
            let x = self.x(i);
            let month_start = d.day() == 1 || i == 0;
            if month_start {
                // Room for the label before the next month begins?
                let left_in_month = days_in_month(d) - d.day() + 1;
                if (left_in_month as f64) * self.pitch >= 26.0 || d.day() == 1 {
                    let label = if first_label || d.month() == 1 {
                        d.format("%b %Y").to_string()
                    } else {
                        d.format("%b").to_string()
                    };
                    let _ = write!(
                        s,
                        "<text class=\"axis\" x=\"{}\" y=\"{}\">{}</text>",
                        f(x),
                        f(y),
                        esc(&label)
                    );
                    first_label = false;
                }
                if d.day() == 1 && i > 0 {
                    let _ = write!(
                        s,
                        "<line class=\"month\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>",
                        f(ticks_from),
                        f(ticks_to),
                        x = f(x - (self.pitch - self.cell()) / 2.0)
                    );
                }
            } else if self.pitch >= 18.0 && d.day() % 2 == 1
                || self.pitch >= 9.0 && d.weekday().num_days_from_monday() == 0
            {
                let _ = write!(
                    s,
                    "<text class=\"axis dim\" x=\"{}\" y=\"{}\">{}</text>",
                    f(x),
                    f(y),
                    d.day()
                );
            }
        }
    }
}

fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|n| n.pred_opt())
        .map_or(31, |l| l.day())
}

// ------------------------------------------------------------------ rendering

/// The whole page.
pub fn render(data: &ReportData) -> String {
    let mut s = String::with_capacity(1 << 20);
    let axis = Axis::of(data);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        s,
        "<title>OVŌM run report · {}</title>",
        esc(&data.warehouse)
    );
    s.push_str("<style>");
    s.push_str(CSS);
    s.push_str("</style>\n</head>\n<body>\n<main>\n");
    header(&mut s, data, axis.as_ref());
    match &axis {
        Some(axis) => {
            grid(&mut s, data, axis);
            rows_chart(&mut s, data, axis);
            rejects_chart(&mut s, data, axis);
        }
        None => s.push_str(
            "<section class=\"card\"><h2>Runs</h2><p class=\"empty\">No execution is recorded yet: run <code>ovom run</code>.</p></section>\n",
        ),
    }
    failures(&mut s, data);
    s.push_str("<div class=\"cols\">\n");
    quality(&mut s, data);
    step_durations(&mut s, data);
    s.push_str("</div>\n");
    slowest(&mut s, data);
    s.push_str("<footer>Made by <code>ovom report</code> from the queries in <code>sql/reports/report_*.sql</code>. Times are UTC.</footer>\n");
    s.push_str("</main>\n</body>\n</html>\n");
    s
}

fn header(s: &mut String, data: &ReportData, axis: Option<&Axis>) {
    let loaded = data.days.iter().filter(|d| d.status == "SUCCEEDED").count();
    let failing = data
        .days
        .iter()
        .filter(|d| Tone::of_execution(&d.status) == Tone::Failed)
        .count();
    let reasons: BTreeSet<&str> = data.rejects_per_day.iter().map(|r| r.1.as_str()).collect();
    s.push_str("<header>\n<div class=\"title\"><h1>OVŌM warehouse <span>run report</span></h1>\n<p class=\"meta\">");
    let _ = write!(s, "warehouse <code>{}</code>", esc(&data.warehouse));
    if let (Some(first), Some(last)) = (data.days.first(), data.days.last()) {
        let _ = write!(
            s,
            " · logical days {} – {}",
            esc(&first.date.to_string()),
            esc(&last.date.to_string())
        );
    }
    if let Some(t) = data.generated_at {
        let _ = write!(s, " · generated {} UTC", esc(&when(Some(t))));
    }
    if let Some(a) = axis.filter(|a| a.hidden > 0) {
        let _ = write!(s, " · the charts show the last {} days", a.days);
    }
    s.push_str("</p></div>\n<div class=\"tiles\">\n");
    let mut tile = |label: &str, value: String, sub: String, id: &str| {
        let _ = writeln!(
            s,
            "<div class=\"tile\" id=\"{id}\"><div class=\"label\">{}</div><div class=\"value\">{value}</div><div class=\"sub\">{sub}</div></div>",
            esc(label)
        );
    };
    let failing_note = if failing > 0 {
        format!(" · <b class=\"bad\">{failing} failing</b>")
    } else {
        String::new()
    };
    tile(
        "Days loaded",
        thousands(loaded as i64),
        format!(
            "of {} days run{failing_note}",
            thousands(data.days.len() as i64)
        ),
        "days-loaded",
    );
    tile(
        "Rows in fact",
        thousands(data.totals.fact_rows),
        "fact_bloodtest".to_owned(),
        "fact-rows",
    );
    tile(
        "Rejects",
        thousands(data.totals.rejects),
        format!(
            "{} rule{}",
            reasons.len(),
            if reasons.len() == 1 { "" } else { "s" }
        ),
        "rejects",
    );
    tile(
        "Duplicates",
        thousands(data.totals.duplicates),
        "repeated test_id".to_owned(),
        "duplicates",
    );
    tile(
        "Quarantined",
        thousands(data.totals.quarantined),
        "malformed lines".to_owned(),
        "quarantined",
    );
    match &data.last_execution {
        Some(e) => {
            let mut sub = format!(
                "<code>{}</code><br>{} UTC",
                esc(&e.execution_id),
                esc(&when(e.finished_at.or(e.started_at)))
            );
            if let Some(st) = &e.failed_state {
                let _ = write!(
                    sub,
                    "<br>in {}: {}",
                    esc(st),
                    esc(e.error.as_deref().unwrap_or(""))
                );
            }
            if e.redrive_count > 0 {
                let _ = write!(sub, " · redriven {}×", e.redrive_count);
            }
            tile("Last execution", pill(&e.status), sub, "last-execution");
        }
        None => tile(
            "Last execution",
            "–".to_owned(),
            "none yet".to_owned(),
            "last-execution",
        ),
    }
    s.push_str("</div>\n</header>\n");
}

/// Airflow's grid: a column per logical day, a row per top-level state,
/// each cell the state's run in the day's latest execution.
fn grid(s: &mut String, data: &ReportData, axis: &Axis) {
    const ROW: f64 = 14.0;
    const GAP: f64 = 3.0;
    const MARK: f64 = 9.0;
    let top = 30.0;
    let by_day: BTreeMap<NaiveDate, &Day> = data.days.iter().map(|d| (d.date, d)).collect();
    let cw = axis.cell();
    // Rows: the execution, two marker rows, a gap, then the states.
    let exec_y = top;
    let backfill_y = exec_y + ROW + GAP;
    let redrive_y = backfill_y + MARK + GAP + 1.0;
    let states_y = redrive_y + MARK + GAP + 8.0;
    let height = states_y + data.steps.len() as f64 * (ROW + GAP) + 4.0;

    s.push_str(
        "<section class=\"card\" id=\"grid\">\n<div class=\"head\"><h2>Runs by logical day</h2>",
    );
    s.push_str("<p>The latest execution of each day: one column per day, one row per top-level state of the daily state machine. Hover a cell for its date, state, attempts, duration and error.</p></div>\n");
    let _ = writeln!(
        s,
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Runs by logical day\">",
        w = f(SVG_WIDTH),
        h = f(height)
    );
    axis.labels(s, 11.0, 16.0, height - 2.0);
    // A mark above each day whose latest execution did not succeed, so that
    // a thin failed column is seen at once.
    for day in &data.days {
        let Some(i) = axis.index(day.date) else {
            continue;
        };
        if Tone::of_execution(&day.status) == Tone::Ok {
            continue;
        }
        let cx = axis.x(i) + cw / 2.0;
        let _ = write!(
            s,
            "<path class=\"{}\" d=\"M{} {}L{} {}L{} {}Z\"><title>{}</title></path>",
            Tone::of_execution(&day.status).class(),
            f(cx - 4.0),
            f(top - 10.0),
            f(cx + 4.0),
            f(top - 10.0),
            f(cx),
            f(top - 3.0),
            esc(&format!(
                "{} · execution {} {}{}",
                day.date,
                day.execution_id,
                day.status,
                day.failed_state
                    .as_ref()
                    .map(|st| format!(" in {st}: {}", day.error.as_deref().unwrap_or("")))
                    .unwrap_or_default()
            ))
        );
    }

    // The execution row.
    let _ = write!(
        s,
        "<text class=\"label strong\" x=\"{}\" y=\"{}\">execution</text><g>",
        f(LEFT - 8.0),
        f(exec_y + ROW - 3.5)
    );
    for (i, d) in axis.dates().enumerate() {
        let x = f(axis.x(i));
        match by_day.get(&d) {
            Some(day) => {
                let tone = Tone::of_execution(&day.status);
                let mut tip = format!("{} · execution {}\n{}", d, day.execution_id, day.status);
                if let Some(st) = &day.failed_state {
                    let _ = write!(tip, " in {st}: {}", day.error.as_deref().unwrap_or(""));
                }
                if let (Some(a), Some(b)) = (day.started_at, day.finished_at) {
                    let _ = write!(tip, " · {}", duration((b - a).num_milliseconds() as f64));
                }
                let _ = write!(
                    tip,
                    "\n{} execution{} of this day",
                    day.executions,
                    if day.executions == 1 { "" } else { "s" }
                );
                if let Some(p) = &day.parent_execution_id {
                    let _ = write!(tip, " · started by backfill {p}");
                }
                if day.redrive_count > 0 {
                    let _ = write!(tip, " · redriven {}×", day.redrive_count);
                }
                let _ = write!(
                    s,
                    "<rect class=\"{}\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                    tone.class(),
                    f(exec_y),
                    f(cw),
                    f(ROW),
                    esc(&tip)
                );
            }
            None => {
                let _ = write!(
                    s,
                    "<rect class=\"nr\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{} · no execution</title></rect>",
                    f(exec_y),
                    f(cw),
                    f(ROW),
                    esc(&d.to_string())
                );
            }
        }
    }
    s.push_str("</g>\n");

    // Marker rows: started by a backfill, redriven.
    for (label, y, class, pick) in [
        (
            "started by backfill",
            backfill_y,
            "bf",
            (|d: &Day| {
                d.parent_execution_id
                    .as_ref()
                    .map(|p| format!("started by backfill {p}"))
            }) as fn(&Day) -> Option<String>,
        ),
        ("redriven", redrive_y, "rd", |d: &Day| {
            (d.redrive_count > 0).then(|| {
                format!(
                    "redriven {}× (resumed from its failed state)",
                    d.redrive_count
                )
            })
        }),
    ] {
        let _ = write!(
            s,
            "<text class=\"label dim small\" x=\"{}\" y=\"{}\">{}</text><rect class=\"track\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            f(LEFT - 8.0),
            f(y + MARK - 1.0),
            esc(label),
            f(LEFT),
            f(y + MARK / 2.0 - 0.5),
            f(axis.width()),
            1
        );
        for (i, d) in axis.dates().enumerate() {
            let Some(day) = by_day.get(&d) else { continue };
            if let Some(what) = pick(day) {
                let _ = write!(
                    s,
                    "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                    f(axis.x(i)),
                    f(y),
                    f(cw.max(2.0)),
                    f(MARK),
                    esc(&format!("{d} · {} · {what}", day.execution_id))
                );
            }
        }
        s.push('\n');
    }

    // The states.
    for (row, step) in data.steps.iter().enumerate() {
        let y = states_y + row as f64 * (ROW + GAP);
        let _ = write!(
            s,
            "<text class=\"label\" x=\"{}\" y=\"{}\">{}</text><g><title>{}: not run</title>",
            f(LEFT - 8.0),
            f(y + ROW - 3.5),
            esc(step),
            esc(step)
        );
        for (i, d) in axis.dates().enumerate() {
            let x = f(axis.x(i));
            let run = by_day.get(&d).and_then(|day| {
                day.states
                    .iter()
                    .find(|r| r.name == *step)
                    .map(|r| (day, r))
            });
            let Some((day, r)) = run else {
                let _ = write!(
                    s,
                    "<rect class=\"nr\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                    f(y),
                    f(cw),
                    f(ROW)
                );
                continue;
            };
            let tone = Tone::of_state(r);
            let mut tip = format!(
                "{d} · {step}\n{} ({}) · {} attempt{} · {}",
                r.status,
                tone.words(),
                r.attempts,
                if r.attempts == 1 { "" } else { "s" },
                duration(r.duration_ms as f64)
            );
            if let Some(e) = &r.error {
                let _ = write!(tip, "\n{e}");
                if let Some(c) = &r.cause {
                    let _ = write!(tip, ": {}", shorten(c, 300));
                }
            }
            let _ = write!(tip, "\nexecution {}", day.execution_id);
            if r.redrive_count > 0 {
                let _ = write!(tip, " · run by redrive {}", r.redrive_count);
            }
            let _ = write!(
                s,
                "<rect class=\"{}\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                tone.class(),
                f(y),
                f(cw),
                f(ROW),
                esc(&tip)
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n<div class=\"legend\">");
    for tone in [
        Tone::Ok,
        Tone::Retried,
        Tone::Caught,
        Tone::Failed,
        Tone::Running,
        Tone::NotRun,
    ] {
        let _ = write!(
            s,
            "<span class=\"key\"><i class=\"{}\"></i>{}</span>",
            tone.class(),
            esc(tone.words())
        );
    }
    s.push_str("<span class=\"key\"><i class=\"bf\"></i>started by a backfill</span><span class=\"key\"><i class=\"rd\"></i>redriven</span></div>\n</section>\n");
}

/// The y axis of a chart: gridlines and tick labels from 0 to `top`.
fn y_axis(s: &mut String, axis: &Axis, y0: f64, height: f64, step: f64, top: f64) {
    let mut v = 0.0;
    while v <= top + 1e-9 {
        let y = y0 + height - v / top * height;
        let _ = write!(
            s,
            "<line class=\"{}\" x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/><text class=\"tick\" x=\"{}\" y=\"{}\">{}</text>",
            if v == 0.0 { "base" } else { "gridline" },
            f(LEFT - 4.0),
            f(LEFT + axis.width()),
            f(LEFT - 8.0),
            f(y + 3.5),
            esc(&thousands(v.round() as i64)),
            y = f(y)
        );
        v += step;
    }
}

fn rows_chart(s: &mut String, data: &ReportData, axis: &Axis) {
    let (y0, height) = (12.0, 150.0);
    let svg_h = y0 + height + 34.0;
    let rows: BTreeMap<NaiveDate, i64> = data.rows_per_day.iter().copied().collect();
    let shown: Vec<(usize, i64)> = rows
        .iter()
        .filter_map(|(d, n)| Some((axis.index(*d)?, *n)))
        .collect();
    let max = shown.iter().map(|r| r.1).max().unwrap_or(0);
    let total: i64 = shown.iter().map(|r| r.1).sum();
    let (step, top) = nice_ticks(max as f64);
    let per_day = if shown.is_empty() {
        0
    } else {
        total / shown.len() as i64
    };
    s.push_str(
        "<section class=\"card\" id=\"rows\">\n<div class=\"head\"><h2>Rows loaded per day</h2>",
    );
    let _ = writeln!(
        s,
        "<p><code>fact_bloodtest</code> rows by delivery day: {} in {} days, {} a day on average.</p></div>",
        thousands(total),
        thousands(shown.len() as i64),
        thousands(per_day)
    );
    let _ = writeln!(
        s,
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Rows loaded per day\">",
        w = f(SVG_WIDTH),
        h = f(svg_h)
    );
    y_axis(s, axis, y0, height, step, top);
    let cw = axis.cell();
    for (i, n) in &shown {
        let h = *n as f64 / top * height;
        let d = axis.first + Duration::days(*i as i64);
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}: {} rows loaded</title></rect>",
            f(axis.x(*i)),
            f(y0 + height - h),
            f(cw),
            f(h.max(0.5)),
            esc(&d.to_string()),
            esc(&thousands(*n))
        );
    }
    // Days whose latest execution did not succeed.
    for day in &data.days {
        let Some(i) = axis.index(day.date) else {
            continue;
        };
        if Tone::of_execution(&day.status) == Tone::Ok {
            continue;
        }
        let _ = write!(
            s,
            "<rect class=\"fa\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"5\"><title>{}: latest execution {} {}</title></rect>",
            f(axis.x(i)),
            f(y0 + height + 2.0),
            f(cw.max(2.0)),
            esc(&day.date.to_string()),
            esc(&day.execution_id),
            esc(&day.status)
        );
    }
    axis.labels(s, y0 + height + 22.0, y0, y0 + height);
    s.push_str("</svg>\n<div class=\"legend\"><span class=\"key\"><i class=\"bar\"></i>rows loaded</span><span class=\"key\"><i class=\"fa\"></i>day whose latest execution failed</span></div>\n</section>\n");
}

/// Colours of reject reasons, by their rank in name order.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];

fn rejects_chart(s: &mut String, data: &ReportData, axis: &Axis) {
    let (y0, height) = (12.0, 130.0);
    let svg_h = y0 + height + 34.0;
    let reasons: Vec<&str> = data
        .rejects_per_day
        .iter()
        .map(|r| r.1.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour = |reason: &str| {
        let i = reasons.iter().position(|r| *r == reason).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    // Weeks (Monday to Sunday) when days are many, else days.
    let weekly = axis.days > 60;
    let bucket_of = |d: NaiveDate| -> NaiveDate {
        if weekly {
            d - Duration::days(d.weekday().num_days_from_monday().into())
        } else {
            d
        }
    };
    let mut buckets: BTreeMap<NaiveDate, BTreeMap<&str, i64>> = BTreeMap::new();
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (d, reason, n) in &data.rejects_per_day {
        *totals.entry(reason.as_str()).or_default() += n;
        if axis.index(*d).is_some() {
            *buckets
                .entry(bucket_of(*d))
                .or_default()
                .entry(reason.as_str())
                .or_default() += n;
        }
    }
    let max = buckets
        .values()
        .map(|b| b.values().sum::<i64>())
        .max()
        .unwrap_or(0);
    let (step, top) = nice_ticks(max as f64);
    s.push_str(
        "<section class=\"card\" id=\"rejects\">\n<div class=\"head\"><h2>Rejects by reason</h2>",
    );
    let _ = writeln!(
        s,
        "<p>Blood tests that broke a rule of the contract, {} by delivery day.</p></div>",
        if weekly {
            "per week (Monday to Sunday)"
        } else {
            "per day"
        }
    );
    let _ = writeln!(
        s,
        "<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Rejects by reason\">",
        w = f(SVG_WIDTH),
        h = f(svg_h)
    );
    y_axis(s, axis, y0, height, step, top);
    let last = axis.last();
    for (start, by_reason) in &buckets {
        let end = if weekly {
            *start + Duration::days(6)
        } else {
            *start
        };
        let (from, to) = ((*start).max(axis.first), end.min(last));
        let (Some(i), Some(j)) = (axis.index(from), axis.index(to)) else {
            continue;
        };
        let x = axis.x(i);
        let w = ((j - i + 1) as f64 * axis.pitch
            - if weekly {
                2.0
            } else {
                axis.pitch - axis.cell()
            })
        .max(1.0);
        let mut y = y0 + height;
        let span = if weekly {
            format!("week of {start}")
        } else {
            start.to_string()
        };
        for reason in &reasons {
            let Some(n) = by_reason.get(reason) else {
                continue;
            };
            let h = *n as f64 / top * height;
            y -= h;
            let _ = write!(
                s,
                "<rect fill=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}: {} {}</title></rect>",
                colour(reason),
                f(x),
                f(y),
                f(w),
                f(h),
                esc(&span),
                esc(reason),
                esc(&thousands(*n))
            );
        }
    }
    axis.labels(s, y0 + height + 22.0, y0, y0 + height);
    s.push_str("</svg>\n<div class=\"legend\">");
    if reasons.is_empty() {
        s.push_str("<span class=\"key\">No rejects.</span>");
    }
    for reason in &reasons {
        let _ = write!(
            s,
            "<span class=\"key\"><i style=\"background:{}\"></i>{} <b>{}</b></span>",
            colour(reason),
            esc(reason),
            esc(&thousands(totals.get(reason).copied().unwrap_or(0)))
        );
    }
    s.push_str("</div>\n</section>\n");
}

fn check_rows(s: &mut String, checks: &[CheckResult]) {
    for c in checks {
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{} {}</td><td>{}</td></tr>",
            esc(&c.check),
            esc(&thousands(c.got)),
            esc(&c.comparison),
            esc(&thousands(c.expected)),
            if c.passed {
                "<span class=\"pill ok\">pass</span>"
            } else {
                "<span class=\"pill fa\">fail</span>"
            }
        );
    }
}

fn quality(s: &mut String, data: &ReportData) {
    s.push_str(
        "<section class=\"card\" id=\"quality\">\n<div class=\"head\"><h2>Quality checks</h2>",
    );
    let q = &data.quality;
    if q.passed.is_none() && q.failed.is_none() {
        s.push_str("</div><p class=\"empty\">No CheckQuality run yet.</p></section>\n");
        return;
    }
    s.push_str("<p>The latest run of <code>CheckQuality</code>: what each check got against what it expects.</p></div>\n");
    if let Some(run) = &q.failed {
        let _ = writeln!(
            s,
            "<div class=\"alert\"><b>The latest run failed</b>: {} · <code>{}</code> · {} {}</div>",
            esc(&day_text(run.logical_date)),
            esc(&run.execution_id),
            pill(&run.status),
            esc(run.error.as_deref().unwrap_or(""))
        );
        let parsed = run.cause.as_deref().and_then(failed_check);
        if let Some(c) = &parsed {
            s.push_str("<table><thead><tr><th>Check</th><th class=\"num\">Got</th><th class=\"num\">Expected</th><th>Result</th></tr></thead><tbody>\n");
            check_rows(s, std::slice::from_ref(c));
            s.push_str("</tbody></table>\n");
        }
        if let Some(cause) = &run.cause {
            let _ = writeln!(
                s,
                "<pre class=\"cause\">{}</pre>",
                esc(&shorten(cause, 2000))
            );
        }
        if parsed.is_some() {
            s.push_str("<p class=\"note\">A failed run reports its first failing check; the last passing run is below.</p>\n");
        }
    }
    if let Some(run) = &q.passed {
        let passed = run.checks.iter().filter(|c| c.passed).count();
        let _ = writeln!(
            s,
            "<p class=\"runline\">{} · <code>{}</code> · {} of {} checks passed</p>",
            esc(&day_text(run.logical_date)),
            esc(&run.execution_id),
            passed,
            run.checks.len()
        );
        s.push_str("<table><thead><tr><th>Check</th><th class=\"num\">Got</th><th class=\"num\">Expected</th><th>Result</th></tr></thead><tbody>\n");
        check_rows(s, &run.checks);
        s.push_str("</tbody></table>\n");
    }
    s.push_str("</section>\n");
}

fn step_durations(s: &mut String, data: &ReportData) {
    s.push_str("<section class=\"card\" id=\"steps\">\n<div class=\"head\"><h2>Time per step</h2>");
    s.push_str("<p>Median and longest run of each step over every execution (retry delays included).</p></div>\n");
    if data.step_durations.is_empty() {
        s.push_str("<p class=\"empty\">No state has run yet.</p></section>\n");
        return;
    }
    let scale = data
        .step_durations
        .iter()
        .map(|d| d.max_ms)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    s.push_str("<table><thead><tr><th>Step</th><th class=\"num\">Runs</th><th class=\"num\">Median</th><th class=\"num\">Max</th><th class=\"barcol\"></th></tr></thead><tbody>\n");
    for d in &data.step_durations {
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code> <span class=\"type\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"barcol\"><div class=\"hbar\"><span class=\"max\" style=\"width:{}%\"></span><span class=\"med\" style=\"width:{}%\"></span></div></td></tr>",
            esc(&d.step),
            esc(&d.state_type),
            esc(&thousands(d.runs)),
            esc(&duration(d.median_ms)),
            esc(&duration(d.max_ms as f64)),
            f(d.max_ms as f64 / scale * 100.0),
            f(d.median_ms / scale * 100.0)
        );
    }
    s.push_str("</tbody></table>\n<div class=\"legend\"><span class=\"key\"><i class=\"med\"></i>median</span><span class=\"key\"><i class=\"max\"></i>max</span></div>\n</section>\n");
}

fn slowest(s: &mut String, data: &ReportData) {
    s.push_str(
        "<section class=\"card\" id=\"slowest\">\n<div class=\"head\"><h2>Slowest state runs</h2>",
    );
    s.push_str("<p>The ten longest runs of a state, Parallel branches included.</p></div>\n");
    if data.slowest.is_empty() {
        s.push_str("<p class=\"empty\">No state has run yet.</p></section>\n");
        return;
    }
    let scale = data.slowest.first().map_or(1, |r| r.duration_ms).max(1) as f64;
    s.push_str("<table><thead><tr><th class=\"num\">#</th><th>State</th><th>Day</th><th>Execution</th><th>Status</th><th class=\"num\">Attempts</th><th class=\"num\">Duration</th><th class=\"barcol\"></th></tr></thead><tbody>\n");
    for (i, r) in data.slowest.iter().enumerate() {
        let redrive = if r.redrive_count > 0 {
            format!(" <span class=\"tag rd\">redrive {}</span>", r.redrive_count)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{}</td><td><code>{}</code> <span class=\"type\">{}</span></td><td>{}</td><td><code>{}</code>{redrive}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"barcol\"><div class=\"hbar\"><span class=\"med\" style=\"width:{}%\"></span></div></td></tr>",
            i + 1,
            esc(&r.path),
            esc(&r.state_type),
            esc(&day_text(r.logical_date)),
            esc(&r.execution_id),
            pill(&r.status),
            r.attempts,
            esc(&duration(r.duration_ms as f64)),
            f(r.duration_ms as f64 / scale * 100.0)
        );
    }
    s.push_str("</tbody></table>\n</section>\n");
}

fn failures(s: &mut String, data: &ReportData) {
    s.push_str("<section class=\"card\" id=\"failures\">\n<div class=\"head\"><h2>Recent failed executions</h2>");
    s.push_str(
        "<p>The state that failed, its error and cause, and how the day stands now.</p></div>\n",
    );
    if data.failures.is_empty() {
        s.push_str("<p class=\"empty\">No execution has failed.</p></section>\n");
        return;
    }
    s.push_str("<table class=\"failures\"><thead><tr><th>Started</th><th>Day</th><th>Execution</th><th>Failed state</th><th>Error</th><th>Cause</th><th>Day now</th></tr></thead><tbody>\n");
    for e in &data.failures {
        let mut tags = String::new();
        if e.state_machine != crate::pipeline::STATE_MACHINE {
            let _ = write!(
                tags,
                " <span class=\"tag\">{}</span>",
                esc(&e.state_machine)
            );
        }
        if let Some(p) = &e.parent_execution_id {
            let _ = write!(
                tags,
                " <span class=\"tag bf\" title=\"started by backfill {}\">backfill</span>",
                esc(p)
            );
        }
        if e.redrive_count > 0 {
            let _ = write!(
                tags,
                " <span class=\"tag rd\">redriven {}×</span>",
                e.redrive_count
            );
        }
        let now = match e.day_status_now.as_deref() {
            Some("SUCCEEDED") if e.logical_date.is_some() => {
                "<span class=\"pill ok\">succeeded since</span>".to_owned()
            }
            Some(st) if e.logical_date.is_some() => pill(st),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td><code>{}</code>{tags}</td><td><code>{}</code></td><td><code class=\"err\">{}</code></td><td><div class=\"cause\">{}</div></td><td>{now}</td></tr>",
            esc(&when(e.started_at)),
            esc(&day_text(e.logical_date)),
            esc(&e.execution_id),
            esc(e.failed_state.as_deref().unwrap_or("–")),
            esc(e.error.as_deref().unwrap_or("–")),
            esc(&shorten(e.cause.as_deref().unwrap_or(""), 1200))
        );
    }
    s.push_str("</tbody></table>\n</section>\n");
}

const CSS: &str = r#"
:root{--ok:#2da44e;--re:#a8c545;--ca:#f0883e;--fa:#cf222e;--ru:#0969da;--nr:#eaeef2;--bf:#8250df;--rd:#1b7c83;--bar:#4e79a7;--ink:#1f2328;--dim:#656d76;--line:#d8dee4;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1340px;margin:0 auto;padding:24px 24px 40px}
code,pre{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
header{margin-bottom:16px}
h1{font-size:22px;margin:0;font-weight:650;letter-spacing:-.01em}
h1 span{color:var(--dim);font-weight:400}
.meta{margin:4px 0 14px;color:var(--dim)}
.tiles{display:grid;grid-template-columns:repeat(5,1fr) 1.6fr;gap:12px}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.tile .label{color:var(--dim);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile .value{font-size:26px;font-weight:650;margin:2px 0;font-variant-numeric:tabular-nums}
.tile .sub{color:var(--dim);font-size:12.5px}
.tile .pill{font-size:15px;padding:2px 10px;vertical-align:4px}
.bad{color:var(--fa)}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 16px 12px;margin-bottom:16px}
.head{display:flex;align-items:baseline;gap:14px;flex-wrap:wrap;margin-bottom:6px}
h2{font-size:15px;margin:0;font-weight:650}
.head p{margin:0;color:var(--dim);font-size:12.5px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.cols .card{margin-bottom:16px}
svg.chart{display:block;max-width:100%;height:auto}
svg text{font:11px -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;fill:var(--ink)}
svg .label{text-anchor:end}
svg .strong{font-weight:600}
svg .small{font-size:10px}
svg .dim,svg .tick,svg .axis.dim{fill:var(--dim)}
svg .tick{text-anchor:end;font-size:10.5px}
svg .axis{fill:var(--dim);font-size:10.5px}
svg .month{stroke:#c3cad3;stroke-width:1}
svg .gridline{stroke:#eef1f4;stroke-width:1}
svg .base{stroke:#aab2bb;stroke-width:1}
svg .track{fill:#eef1f4}
.ok{fill:var(--ok);background:var(--ok)}.re{fill:var(--re);background:var(--re)}.ca{fill:var(--ca);background:var(--ca)}.fa{fill:var(--fa);background:var(--fa)}.ru{fill:var(--ru);background:var(--ru)}.nr{fill:var(--nr);background:var(--nr)}
.bf{fill:var(--bf);background:var(--bf)}.rd{fill:var(--rd);background:var(--rd)}.bar{fill:var(--bar);background:var(--bar)}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:6px 0 2px;padding-left:176px;color:var(--dim);font-size:12.5px}
.key{display:inline-flex;align-items:center;gap:6px}
.key i{display:inline-block;width:11px;height:11px;border-radius:2px}
.key b{color:var(--ink);font-variant-numeric:tabular-nums}
.key i.med{background:var(--bar)}.key i.max{background:#c9d6e6}
table{width:100%;border-collapse:collapse;font-size:13px}
th{text-align:left;color:var(--dim);font-weight:600;font-size:12px;border-bottom:1px solid var(--line);padding:6px 8px}
td{border-bottom:1px solid #eef1f4;padding:6px 8px;vertical-align:top}
tr:last-child td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.type{color:var(--dim);font-size:11.5px}
.pill{display:inline-block;border-radius:999px;padding:1px 8px;font-size:11.5px;font-weight:600;color:#fff;white-space:nowrap}
.pill.nr{color:var(--ink)}
.tag{display:inline-block;border-radius:4px;padding:0 5px;font-size:11px;font-weight:600;color:#fff;background:#6e7781;margin-left:4px}
.barcol{width:28%}
.hbar{position:relative;height:10px;margin-top:4px;background:#f3f5f7;border-radius:2px}
.hbar span{position:absolute;left:0;top:0;bottom:0;border-radius:2px}
.hbar .max{background:#c9d6e6}.hbar .med{background:var(--bar)}
.alert{background:#fff1f0;border:1px solid #f5c2c0;border-radius:6px;padding:8px 10px;margin:4px 0 8px;color:#82071e}
.alert .pill{vertical-align:1px}
pre.cause,div.cause{white-space:pre-wrap;word-break:break-word;margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px;color:#3d444d}
pre.cause{background:#f6f8fa;border-radius:6px;padding:8px 10px;margin:6px 0}
code.err{color:var(--fa);font-weight:600}
.failures td:nth-child(6){width:42%}
.runline{margin:6px 0 2px;color:var(--dim)}
.note{color:var(--dim);font-size:12.5px;margin:6px 0}
.empty{color:var(--dim);margin:6px 0}
footer{color:var(--dim);font-size:12px;text-align:center;margin-top:8px}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, status: &str, redrive: i64, seq: i64) -> StateRun {
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
                c.check.as_str(),
                c.got,
                c.comparison.as_str(),
                c.expected,
                c.passed
            ),
            ("day_reconciles", 191, "=", 192, false)
        );
        assert_eq!(failed_check("warehouse busy"), None);
    }

    #[test]
    fn numbers_durations_and_ticks_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(68512), "68,512");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(duration(12.4), "12 ms");
        assert_eq!(duration(1240.0), "1.24 s");
        assert_eq!(duration(125_000.0), "2 min 05 s");
        assert_eq!(nice_ticks(0.0), (1.0, 1.0));
        assert_eq!(nice_ticks(7.0), (2.0, 8.0));
        assert_eq!(nice_ticks(212.0), (50.0, 250.0));
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    fn sample() -> ReportData {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let hostile = "<script>alert('x')</script> & \"quoted\"";
        ReportData {
            warehouse: "ovom.duckdb".into(),
            generated_at: d("2026-01-01").and_hms_opt(9, 30, 0),
            steps: vec!["StagePatients".into(), "LoadFact".into(), "Failed".into()],
            totals: Totals {
                fact_rows: 68512,
                rejects: 9,
                duplicates: 3,
                quarantined: 1,
            },
            last_execution: Some(Execution {
                execution_id: "pipeline-20250302-1".into(),
                state_machine: "pipeline".into(),
                logical_date: Some(d("2025-03-02")),
                status: "FAILED".into(),
                failed_state: Some("LoadFact".into()),
                error: Some("WarehouseError".into()),
                ..Execution::default()
            }),
            days: vec![
                Day {
                    date: d("2025-03-01"),
                    execution_id: "pipeline-20250301-1".into(),
                    status: "SUCCEEDED".into(),
                    executions: 1,
                    parent_execution_id: Some("backfill-1".into()),
                    states: vec![run("StagePatients", "SUCCEEDED", 0, 1)],
                    ..Day::default()
                },
                Day {
                    date: d("2025-03-02"),
                    execution_id: "pipeline-20250302-1".into(),
                    status: "FAILED".into(),
                    executions: 1,
                    redrive_count: 1,
                    states: vec![StateRun {
                        error: Some("WarehouseError".into()),
                        cause: Some(hostile.into()),
                        ..run("LoadFact", "CAUGHT", 1, 2)
                    }],
                    ..Day::default()
                },
            ],
            rows_per_day: vec![(d("2025-03-01"), 187)],
            rejects_per_day: vec![
                (d("2025-03-01"), "unknown_patient".into(), 7),
                (d("2025-03-02"), "out_of_domain".into(), 2),
            ],
            quality: Quality {
                passed: Some(CheckRun {
                    logical_date: Some(d("2025-03-01")),
                    execution_id: "pipeline-20250301-1".into(),
                    status: "SUCCEEDED".into(),
                    checks: vec![CheckResult {
                        check: "fact_rules_hold".into(),
                        got: 0,
                        comparison: "=".into(),
                        expected: 0,
                        passed: true,
                    }],
                    ..CheckRun::default()
                }),
                failed: None,
            },
            slowest: vec![],
            step_durations: vec![],
            failures: vec![Failure {
                execution_id: "pipeline-20250302-1".into(),
                state_machine: "pipeline".into(),
                logical_date: Some(d("2025-03-02")),
                failed_state: Some("LoadFact".into()),
                error: Some("WarehouseError".into()),
                cause: Some(hostile.into()),
                day_status_now: Some("FAILED".into()),
                ..Failure::default()
            }],
        }
    }

    #[test]
    fn the_page_escapes_every_value_and_references_nothing_outside() {
        let html = render(&sample());
        assert!(!html.contains("<script"), "an unescaped value");
        assert!(html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"));
        for external in ["src=", "href=", "@import", "url(", "http://", "https://"] {
            assert!(!html.contains(external), "{external}");
        }
        for needle in [
            "68,512",
            "unknown_patient <b>7</b>",
            "<code>LoadFact</code>",
            "<code class=\"err\">WarehouseError</code>",
            "started by backfill backfill-1",
            "redriven 1×",
            "run by redrive 1",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn an_empty_warehouse_renders_a_page_that_says_so() {
        let html = render(&ReportData {
            warehouse: "ovom.duckdb".into(),
            ..ReportData::default()
        });
        assert!(html.contains("No execution is recorded yet"));
        assert!(html.contains("No execution has failed."));
        assert!(html.ends_with("</html>\n"));
    }
}

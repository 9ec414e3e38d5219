//! The error contract between the tasks and the state machine.
//!
//! Each variant's [`TaskError::name`] is the `Error` a failed task reports.
//! `statemachine/pipeline.asl.json` retries the names [`retry_of`] says are
//! retried, catches the names [`caught`] says are caught, and lets every other
//! name fail the execution at its state, where a redrive resumes (a test keeps
//! the definition and this module in agreement).

use std::fmt;

fn budget_text(budget: Option<u32>) -> String {
    budget.map_or_else(String::new, |n| format!(" (more than {n} malformed lines)"))
}

/// The error type a task reports when it panicked. It is none of
/// [`TaskError::NAMES`], so no Retry or Catch of the state machine matches
/// it: the execution fails at the task's state, where a redrive resumes.
pub const PANIC_ERROR: &str = "TaskPanicked";

/// Everything that can make a task fail. Serialised, it is
/// `{"error": <name>, "detail": <the variant's fields>}`: what the local run
/// history keeps of a failure besides its text.
#[derive(Debug, thiserror::Error, serde::Serialize)]
#[serde(tag = "error", content = "detail")]
pub enum TaskError {
    /// The task's parameters are invalid. Never retried: the same input
    /// would fail the same way.
    #[error("invalid parameter `{field}`: {reason}")]
    InvalidParameters { field: String, reason: String },

    /// A strict run met a line that is not a valid record, or a day had more
    /// malformed lines than the allowed maximum.
    #[error("malformed input in {file} line {line}: {error}{}", budget_text(*budget))]
    MalformedInput {
        file: String,
        line: u64,
        /// Why the line is not a valid record, and the field at fault.
        error: crate::contract::LineError,
        /// The day's error budget the line went over (none for a strict
        /// run, which fails on the first malformed line).
        budget: Option<u32>,
    },

    /// The warehouse is locked by another writer, throttled or starting up.
    /// Transient: retried with backoff.
    #[error("warehouse busy: {0}")]
    WarehouseBusy(String),

    /// A statement failed for a reason that will not go away by retrying.
    #[error("warehouse statement failed: {0}")]
    WarehouseError(String),

    /// The object store could not be reached or throttled the request.
    /// Transient: retried with backoff.
    #[error("object store unavailable: {0}")]
    StoreUnavailable(String),

    /// The object store refused a request or returned something unreadable.
    #[error("object store error on `{key}`: {detail}")]
    StoreError { key: String, detail: String },

    /// A quality check did not hold.
    #[error("quality check `{}` failed for {logical_date}: got {got}, expected {} {expected}", check.name(), comparison.symbol())]
    QualityCheckFailed {
        check: crate::params::Check,
        /// The day, or the range of days, checked.
        logical_date: String,
        got: i64,
        comparison: crate::sql::Comparison,
        expected: i64,
    },

    /// A file under a source's folder is outside the layout
    /// `<source>/YYYY/MM/DD/<file>`: it would never be read. Not retried:
    /// move it into its day's folder (or out of the data root).
    #[error("{key} is outside the layout <source>/YYYY/MM/DD/<file> ({reason}): it would never be loaded; move it into its day's folder or out of the data root")]
    OutsideLayout { key: String, reason: String },

    /// A day with no file of a source would replace rows the warehouse
    /// holds of it (files moved, a wrong data root): refused unless the run
    /// says to empty the day. Not retried: the files must come back.
    #[error("{source_folder} of {logical_date} has no file, but the warehouse holds {rows} rows of it that this run would remove: restore its files, or run with --allow-empty (\"allow_empty\": true in the state machine's input) to empty the day")]
    EmptyDayRefused {
        source_folder: &'static str,
        logical_date: String,
        rows: i64,
    },
}

/// The retry class of an error, as the state machine treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Retried with exponential backoff and jitter.
    Transient,
    /// Retried once or twice, then the execution fails.
    Check,
    /// Never retried.
    Never,
}

impl TaskError {
    /// Every error name, in the order the variants are declared.
    pub const NAMES: [&'static str; 9] = [
        "InvalidParameters",
        "MalformedInput",
        "WarehouseBusy",
        "WarehouseError",
        "StoreUnavailable",
        "StoreError",
        "QualityCheckFailed",
        "EmptyDayRefused",
        "OutsideLayout",
    ];

    /// The name the state machine matches in `ErrorEquals`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidParameters { .. } => Self::NAMES[0],
            Self::MalformedInput { .. } => Self::NAMES[1],
            Self::WarehouseBusy(_) => Self::NAMES[2],
            Self::WarehouseError(_) => Self::NAMES[3],
            Self::StoreUnavailable(_) => Self::NAMES[4],
            Self::StoreError { .. } => Self::NAMES[5],
            Self::QualityCheckFailed { .. } => Self::NAMES[6],
            Self::EmptyDayRefused { .. } => Self::NAMES[7],
            Self::OutsideLayout { .. } => Self::NAMES[8],
        }
    }

    /// How the state machine treats this error.
    pub fn retry(&self) -> Retry {
        retry_of(self.name())
    }

    /// The error as data: `{"error": <name>, "detail": <its fields>}`.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a task error serialises")
    }

    pub fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::InvalidParameters {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// Whether the state machine catches an error once its retries are spent.
/// Only refused input is caught (it ends the execution in its Fail state:
/// running it again cannot help); every other error fails the execution at
/// the state that raised it, so that a redrive, once the cause is fixed,
/// resumes there.
pub fn caught(name: &str) -> bool {
    name == "InvalidParameters"
}

/// The retry class of an error name (see [`TaskError::NAMES`]).
pub fn retry_of(name: &str) -> Retry {
    match name {
        "WarehouseBusy" | "StoreUnavailable" => Retry::Transient,
        "QualityCheckFailed" => Retry::Check,
        _ => Retry::Never,
    }
}

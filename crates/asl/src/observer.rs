//! What the interpreter reports about each state it runs, for audit tables
//! and logs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::TaskFailure;

/// One run of one state, reported when the state ends.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRecord {
    /// The state's name; inside a Parallel `Parent/branchIndex/Child`, inside
    /// a Map `Parent/itemIndex/Child` (nested as deep as the definition).
    pub path: String,
    pub name: String,
    /// `Task`, `Pass`, `Choice`, `Wait`, `Succeed`, `Fail`, `Parallel` or
    /// `Map`.
    pub state_type: String,
    /// The state's raw input.
    pub input: Value,
    /// `None` when the state failed (a caught error has an output: the
    /// catcher's).
    pub output: Option<Value>,
    /// 1 + the number of retries.
    pub attempts: u32,
    pub started_at: DateTime<Utc>,
    /// By the executor's clock, retry delays included.
    pub duration: Duration,
    /// The error of the last failed attempt, when the state failed or a
    /// Catch handled its error.
    pub error: Option<TaskFailure>,
    /// Whether a Catch handled the error.
    pub caught: bool,
}

/// The top-level state whose error failed an execution, among its records:
/// a Task, Parallel or Map, not the Fail (or Pass) state a Catch routed the
/// error to. Where a redrive resumes, with that record's input.
pub fn failed_top_level_state(records: &[StateRecord]) -> Option<&StateRecord> {
    records.iter().rev().find(|r| {
        r.error.is_some()
            && !r.path.contains('/')
            && !matches!(r.state_type.as_str(), "Fail" | "Pass")
    })
}

/// Hooks called as states run. Every state run (branches and Map items
/// included) is entered once and exited once; states inside a Parallel or a
/// Map exit before it.
pub trait Observer {
    fn state_entered(&self, _path: &str, _name: &str, _input: &Value) {}
    /// A failed attempt (`attempt` counts from 1): `retry_in` is the delay
    /// before the next attempt, `None` when there is none.
    fn attempt_failed(
        &self,
        _path: &str,
        _attempt: u32,
        _failure: &TaskFailure,
        _retry_in: Option<Duration>,
    ) {
    }
    fn state_exited(&self, _record: &StateRecord) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {}

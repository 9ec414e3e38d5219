//! The run history: what the local runtime records of each execution and
//! state in the warehouse (`crates/local/sql/audit/`), and reads back to
//! redrive and to name the next execution. On AWS it is Step Functions'.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ovom_asl::{Clock, Observer, StateRecord};
use ovom_core::params::{Days, LogicalDate, RunId};
use ovom_core::ports::{Param, Value, Warehouse};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{LocalError, Refusal};
use crate::pipeline::{Pipeline, Resume};
use crate::sql;

impl Pipeline {
    /// The state machine an execution belongs to ([`STATE_MACHINE`] or
    /// [`backfill::BACKFILL`]), refusing an id that is not one.
    pub fn state_machine_of(&self, execution_id: &str) -> Result<String, LocalError> {
        Ok(self.known_execution(execution_id)?.state_machine)
    }

    /// The run history's row of an execution, refusing an id that is not
    /// one or that the history does not hold.
    fn known_execution(&self, execution_id: &str) -> Result<ExecutionRow, LocalError> {
        if RunId::try_from(execution_id.to_owned()).is_err() {
            let shown: String = execution_id.chars().take(80).collect();
            return Err(Refusal::NotAnExecutionId(shown).into());
        }
        self.execution(execution_id)?
            .ok_or_else(|| Refusal::NoSuchExecution(execution_id.to_owned()).into())
    }

    /// An execution of `machine` that a redrive may resume: one that failed
    /// or was aborted.
    pub(crate) fn redrivable(
        &self,
        execution_id: &str,
        machine: &str,
    ) -> Result<ExecutionRow, LocalError> {
        let row = self.known_execution(execution_id)?;
        if row.state_machine != machine {
            return Err(Refusal::OtherMachine {
                execution_id: execution_id.to_owned(),
                state_machine: row.state_machine,
            }
            .into());
        }
        match row.status.as_str() {
            "FAILED" | "ABORTED" => Ok(row),
            "SUCCEEDED" => Err(Refusal::Succeeded {
                execution_id: execution_id.to_owned(),
                again: match row.logical_date {
                    Some(day) => format!("to load its day again, `ovom run --date {day}`"),
                    None => format!("to load its days again, start a new {machine}"),
                },
            }
            .into()),
            other => Err(Refusal::NotFailed {
                execution_id: execution_id.to_owned(),
                status: other.to_owned(),
            }
            .into()),
        }
    }

    /// Mark a failed execution as running again, its `redrive_count`th redrive.
    pub(crate) fn execution_redriven(
        &self,
        execution_id: &str,
        redrive_count: i64,
    ) -> Result<(), LocalError> {
        self.audit(
            "audit/execution_redriven",
            &[
                ("execution_id", text(execution_id)),
                ("redrive_count", Value::Int(redrive_count)),
            ],
        )
    }

    /// The most recent failed or aborted daily execution whose day has not
    /// succeeded since.
    pub fn latest_unresolved_failure(&self) -> Result<Option<String>, LocalError> {
        #[derive(Deserialize)]
        struct Failed {
            execution_id: String,
        }
        Ok(self
            .query_as::<Failed>("audit/latest_unresolved_failure", &[])?
            .into_iter()
            .next()
            .map(|r| r.execution_id))
    }

    /// An execution as the run history holds it.
    pub(crate) fn execution(&self, execution_id: &str) -> Result<Option<ExecutionRow>, LocalError> {
        Ok(self
            .query_as::<ExecutionRow>(
                "audit/execution_lookup",
                &[("execution_id", text(execution_id))],
            )?
            .into_iter()
            .next())
    }

    /// Insert a new execution, RUNNING.
    pub(crate) fn execution_started(
        &self,
        execution_id: &str,
        machine: &str,
        days: Option<Days>,
        input: &serde_json::Value,
        parent: Option<&str>,
        clock: &dyn Clock,
    ) -> Result<(), LocalError> {
        self.audit(
            "audit/execution_started",
            &[
                ("execution_id", text(execution_id)),
                ("state_machine", text(machine)),
                (
                    "logical_date",
                    days.map_or(Value::Null, |d| text(&d.first.to_string())),
                ),
                (
                    "through",
                    days.filter(|d| d.count() > 1)
                        .map_or(Value::Null, |d| text(&d.last.to_string())),
                ),
                ("input", text(&input.to_string())),
                ("started_at", Value::Timestamp(clock.now().naive_utc())),
                ("parent_execution_id", parent.map_or(Value::Null, text)),
                ("data_root", text(&self.data_root().display().to_string())),
            ],
        )
    }

    /// The data root, as an absolute path when it exists.
    pub fn data_root(&self) -> std::path::PathBuf {
        let root = self.store().root();
        root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
    }

    /// The data root an execution read, when it was recorded.
    pub fn recorded_data_root(
        &self,
        execution_id: &str,
    ) -> Result<Option<std::path::PathBuf>, LocalError> {
        Ok(self
            .execution(execution_id)?
            .and_then(|r| r.data_root)
            .map(std::path::PathBuf::from))
    }

    /// End an execution that has no states of its own (a backfill).
    pub(crate) fn execution_ended(
        &self,
        execution_id: &str,
        failure: Option<(&str, &str, &str)>,
        clock: &dyn Clock,
    ) -> Result<(), LocalError> {
        let (status, state, error, cause) = match failure {
            None => ("SUCCEEDED", Value::Null, Value::Null, Value::Null),
            Some((s, e, c)) => ("FAILED", text(s), text(e), text(c)),
        };
        self.audit(
            "audit/execution_ended",
            &[
                ("execution_id", text(execution_id)),
                ("status", text(status)),
                ("finished_at", Value::Timestamp(clock.now().naive_utc())),
                ("failed_state", state),
                ("error", error),
                ("cause", cause),
            ],
        )
    }

    /// End an execution its caller stopped (a backfill between two days):
    /// ABORTED, as Step Functions' StopExecution leaves one; a redrive
    /// resumes it.
    pub(crate) fn execution_aborted(
        &self,
        execution_id: &str,
        cause: &str,
        clock: &dyn Clock,
    ) -> Result<(), LocalError> {
        self.audit(
            "audit/execution_ended",
            &[
                ("execution_id", text(execution_id)),
                ("status", text("ABORTED")),
                ("finished_at", Value::Timestamp(clock.now().naive_utc())),
                ("failed_state", Value::Null),
                ("error", text("States.Aborted")),
                ("cause", text(cause)),
            ],
        )
    }

    /// `{prefix}-…-{n}` with n one more than the executions of `machine` on
    /// `day` (or with no day).
    pub(crate) fn next_execution_id(
        &self,
        machine: &str,
        day: Option<LogicalDate>,
        name: impl Fn(i64) -> String,
    ) -> Result<String, LocalError> {
        let n = self.count(
            "audit/execution_count",
            &[
                ("state_machine", text(machine)),
                (
                    "logical_date",
                    day.map_or(Value::Null, |d| text(&d.to_string())),
                ),
            ],
        )?;
        Ok(name(n + 1))
    }

    /// The branches of the top-level Parallel `state` that succeeded in its
    /// latest run, by index, with their outputs: a redrive keeps them.
    pub(crate) fn kept_branches(
        &self,
        run: &Resume,
        state: &str,
    ) -> Result<BTreeMap<usize, serde_json::Value>, LocalError> {
        /// `audit/branch_runs`'s rows.
        #[derive(Deserialize)]
        struct BranchRun {
            path: String,
            status: String,
            output: Option<String>,
        }
        let rows: Vec<BranchRun> = self.query_as(
            "audit/branch_runs",
            &[
                ("execution_id", text(&run.execution_id)),
                ("state_name", text(state)),
            ],
        )?;
        // The last state each branch ran: its end when it succeeded.
        let mut last: BTreeMap<usize, (String, Option<String>)> = BTreeMap::new();
        for row in rows {
            let Some(index) = row
                .path
                .strip_prefix(state)
                .and_then(|p| p.strip_prefix('/'))
                .and_then(|p| p.split('/').next())
                .and_then(|i| i.parse().ok())
            else {
                continue;
            };
            last.insert(index, (row.status, row.output));
        }
        Ok(last
            .into_iter()
            .filter(|(_, (status, _))| status == "SUCCEEDED")
            .filter_map(|(i, (_, output))| {
                output
                    .and_then(|o| serde_json::from_str(&o).ok())
                    .map(|o| (i, o))
            })
            .collect())
    }

    /// A local SQL query's one count, its column `n`.
    pub(crate) fn count(&self, name: &str, params: &[Param]) -> Result<i64, LocalError> {
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        Ok(self
            .query_as::<Count>(name, params)?
            .first()
            .map_or(0, |c| c.n))
    }

    /// Run a local SQL query and read its rows by column name.
    pub(crate) fn query_as<T: DeserializeOwned>(
        &self,
        name: &str,
        params: &[Param],
    ) -> Result<Vec<T>, LocalError> {
        let text = sql::file(name)?;
        Ok(self.warehouse().query_table(text, params)?.read()?)
    }

    pub(crate) fn audit(&self, name: &str, params: &[Param]) -> Result<(), LocalError> {
        let text = sql::file(name)?;
        self.warehouse().execute(text, params)?;
        Ok(())
    }
}

/// `audit/execution_lookup`'s row: an execution as the run history holds it.
#[derive(Deserialize)]
pub(crate) struct ExecutionRow {
    pub state_machine: String,
    pub logical_date: Option<LogicalDate>,
    pub through: Option<LogicalDate>,
    pub input: String,
    pub status: String,
    pub failed_state: Option<String>,
    pub redrive_count: i64,
    pub data_root: Option<String>,
}

pub(crate) fn state_run_params(run: &Resume, seq: i64, r: &StateRecord) -> Vec<Param> {
    let status = match (&r.error, r.caught) {
        (None, _) => "SUCCEEDED",
        (Some(_), true) => "CAUGHT",
        (Some(_), false) => "FAILED",
    };
    let opt = |v: Option<&str>| v.map(text).unwrap_or(Value::Null);
    vec![
        ("execution_id", text(&run.execution_id)),
        ("seq", Value::Int(seq)),
        ("path", text(&r.path)),
        ("state_name", text(&r.name)),
        ("state_type", text(&r.state_type)),
        ("status", text(status)),
        ("attempts", Value::Int(r.attempts.into())),
        ("started_at", Value::Timestamp(r.started_at.naive_utc())),
        ("duration_ms", Value::Int(r.duration.as_millis() as i64)),
        ("error", opt(r.error.as_ref().map(|e| e.error.as_str()))),
        ("cause", opt(r.error.as_ref().map(|e| e.cause.as_str()))),
        (
            "detail",
            opt(r
                .error
                .as_ref()
                .and_then(|e| e.detail.as_ref())
                .map(|d| d.to_string())
                .as_deref()),
        ),
        ("input", text(&r.input.to_string())),
        (
            "output",
            opt(r.output.as_ref().map(|o| o.to_string()).as_deref()),
        ),
        ("redrive_count", Value::Int(run.redrive_count)),
    ]
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Keeps each state's record as it ends; they are written with the
/// execution's end.
pub(crate) struct Recorder {
    pub(crate) records: RefCell<Vec<StateRecord>>,
}

impl Observer for Recorder {
    fn state_exited(&self, r: &StateRecord) {
        self.records.borrow_mut().push(r.clone());
    }
}

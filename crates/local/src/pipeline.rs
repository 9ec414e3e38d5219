//! The local runner: the state machine's three task resources mapped to the
//! in-process task library, every execution and state recorded in the
//! warehouse's audit tables.

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ovom_asl::{
    Clock, ExecutionFailure, Executor, Observer, StateMachine, StateRecord, TaskFailure,
    TaskHandler,
};
use ovom_core::handler::{self, TaskKind};
use ovom_core::local_dir::LocalDir;
use ovom_core::params::{self, Days, DimMode, LogicalDate, NestedStart, RunId, Source};
use ovom_core::ports::{in_transaction, Param, Value, Warehouse};
use ovom_core::tasks;
use ovom_duckdb::{DuckWarehouse, Scope};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::backfill::{self, BackfillOptions};
use crate::error::{LocalError, Refusal};
use crate::sql;
pub use crate::warehouse::{check_ovom_warehouse, open_error, Access};

/// The state machine file, compiled in: the very definition that production
/// deploys.
pub const DEFINITION: &str = include_str!("../../../statemachine/pipeline.asl.json");

/// The name the audit tables give the daily state machine.
pub const STATE_MACHINE: &str = "pipeline";

/// The local ARN that stands for a task's Lambda function.
pub fn local_arn(kind: TaskKind) -> String {
    format!("arn:ovom:local:function:{}", kind.name())
}

/// The local ARN that stands for the backfill state machine, which the daily
/// one starts for the days after a late day (run by [`crate::backfill`]).
pub const LOCAL_BACKFILL_ARN: &str = "arn:ovom:local:stateMachine:backfill";

/// Parse the daily state machine with its task resources resolved to the
/// in-process handlers.
pub fn load_definition(text: &str) -> Result<StateMachine, LocalError> {
    let mut subs: BTreeMap<String, String> = TaskKind::ALL
        .iter()
        .map(|k| (k.substitution().to_owned(), local_arn(*k)))
        .collect();
    subs.insert(
        handler::BACKFILL_SUBSTITUTION.to_owned(),
        LOCAL_BACKFILL_ARN.to_owned(),
    );
    Ok(StateMachine::from_json_with_substitutions(text, &subs)?)
}

/// Options of one execution: its input besides the date.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub strict: bool,
    pub dim_mode: DimMode,
    /// Leave the days after the execution's that the warehouse already
    /// holds as they are (`"rerun_later_days": false`): a backfill's days
    /// before its last, which the next days of the range follow anyway.
    pub leave_later_days: bool,
    /// Let a day with no file replace the rows the warehouse holds of it
    /// (`"allow_empty": true`); refused otherwise.
    pub allow_empty: bool,
}

/// How one execution ended.
#[derive(Debug, Clone)]
pub struct DayRun {
    pub execution_id: String,
    /// The logical day, or the range of days, the execution loaded.
    pub days: Days,
    pub result: std::result::Result<serde_json::Value, ExecutionFailure>,
    /// The top-level state whose error failed the execution (a Task or a
    /// Parallel, not the Fail state the error was routed to).
    pub failed_state: Option<String>,
    pub states: Vec<StateRecord>,
}

/// The local Step Functions: the daily state machine, run on the
/// interpreter with the in-process [`Tasks`], every execution and state
/// recorded in the warehouse's run history.
pub struct Pipeline {
    tasks: Tasks,
    machine: StateMachine,
}

/// The state machine's three task resources, served in-process: the task
/// library over the warehouse and the data root. It is the executor's task
/// handler, not its owner. The warehouse is one DuckDB connection that the
/// tasks and the run history share during an execution (the interpreter
/// calls a handler through `&self`, and a nested backfill records its
/// executions while the task that started it runs), hence the `RefCell`.
pub struct Tasks {
    wh: RefCell<DuckWarehouse>,
    store: LocalDir,
}

impl Pipeline {
    /// Open the warehouse file (creating the schema if needed) over a data root.
    /// DuckDB lets one process hold the file for writing: a file another
    /// process holds is refused with a message saying so.
    pub fn open(warehouse: &Path, data: &Path) -> Result<Self, LocalError> {
        let mut wh = DuckWarehouse::open(warehouse).map_err(|e| open_error(warehouse, e))?;
        check_ovom_warehouse(&mut wh, Some(warehouse), Access::Write)?;
        Self::with(wh, data, DEFINITION)
    }

    pub fn with(mut wh: DuckWarehouse, data: &Path, definition: &str) -> Result<Self, LocalError> {
        check_ovom_warehouse(&mut wh, None, Access::Write)?;
        tasks::ensure_schema(&mut wh)?;
        for ddl in sql::schema() {
            wh.execute(ddl, &[])?;
        }
        wh.execute(sql::file("audit/add_new_columns")?, &[])?;
        // This process holds the warehouse for writing: an execution still
        // RUNNING belongs to a process that stopped.
        wh.execute(
            sql::file("audit/abort_unfinished")?,
            &[("now", Value::Timestamp(chrono::Utc::now().naive_utc()))],
        )?;
        wh.execute(sql::file("audit/execution_days")?, &[])?;
        Ok(Self {
            tasks: Tasks {
                wh: RefCell::new(wh),
                store: LocalDir::new(data),
            },
            machine: load_definition(definition)?,
        })
    }

    pub fn warehouse(&self) -> RefMut<'_, DuckWarehouse> {
        self.tasks.wh.borrow_mut()
    }

    pub fn store(&self) -> &LocalDir {
        &self.tasks.store
    }

    /// The task resources, served in-process.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Every logical day that has a folder under either source, in order.
    pub fn days(&self) -> Result<Vec<LogicalDate>, LocalError> {
        let mut days = BTreeSet::new();
        for source in Source::ALL {
            days.extend(tasks::source_files(source, self.store())?.into_keys());
        }
        Ok(days.into_iter().collect())
    }

    /// Run the daily state machine for one day with the in-process tasks.
    pub fn run_day(
        &self,
        day: LogicalDate,
        opts: RunOptions,
        clock: &dyn Clock,
    ) -> Result<DayRun, LocalError> {
        self.run_day_with(day, opts, clock, &self.tasks)
    }

    /// The same, with another task handler in front of the in-process one
    /// (tests use it to interfere with a run).
    pub fn run_day_with(
        &self,
        day: LogicalDate,
        opts: RunOptions,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        self.start_day(day, opts, None, clock, handler)
    }

    /// Run the daily state machine once over a range of days: every task
    /// covers the range in one pass (one scan of its files, one statement per
    /// model), with the result of running its days one after another.
    pub fn run_range(
        &self,
        days: Days,
        opts: RunOptions,
        clock: &dyn Clock,
    ) -> Result<DayRun, LocalError> {
        self.start(days, opts, None, clock, &self.tasks)
    }

    /// The same, with another task handler in front of the in-process one.
    pub fn run_range_with(
        &self,
        days: Days,
        opts: RunOptions,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        self.start(days, opts, None, clock, handler)
    }

    /// Start a new execution of the daily state machine for `day`; `parent`
    /// names the backfill that started it.
    pub fn start_day(
        &self,
        day: LogicalDate,
        opts: RunOptions,
        parent: Option<&str>,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        self.start(Days::one(day), opts, parent, clock, handler)
    }

    fn start(
        &self,
        days: Days,
        opts: RunOptions,
        parent: Option<&str>,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        let stamp = |d: LogicalDate| d.date().format("%Y%m%d").to_string();
        let execution_id = self.next_execution_id(STATE_MACHINE, Some(days.first), |n| {
            if days.count() == 1 {
                format!("{STATE_MACHINE}-{}-{n}", stamp(days.first))
            } else {
                format!(
                    "{STATE_MACHINE}-{}-{}-{n}",
                    stamp(days.first),
                    stamp(days.last)
                )
            }
        })?;
        let mut input = serde_json::json!({
            "logical_date": days.first.to_string(),
            "dim_mode": opts.dim_mode.as_str(),
            "strict": opts.strict,
        });
        if days.count() > 1 {
            input["through"] = days.last.to_string().into();
        }
        if opts.leave_later_days {
            input["rerun_later_days"] = false.into();
        }
        if opts.allow_empty {
            input["allow_empty"] = true.into();
        }
        self.execution_started(
            &execution_id,
            STATE_MACHINE,
            Some(days),
            &input,
            parent,
            clock,
        )
        .map_err(|e| match e {
            LocalError::Task(cause) => LocalError::StartNotRecorded {
                execution_id: execution_id.clone(),
                days,
                cause: Box::new(cause),
            },
            other => other,
        })?;
        self.execute(
            Resume {
                execution_id,
                days,
                state: None,
                input,
                redrive_count: 0,
                seq: 0,
            },
            clock,
            handler,
        )
    }

    /// Resume a failed (or aborted) daily execution from the state that
    /// failed, with the input that state had, as Step Functions' redrive
    /// does: the states that succeeded do not run again. A failed Parallel
    /// runs all its branches again (each is idempotent). An execution that
    /// stopped with no record of its states starts again from the beginning.
    pub fn redrive(
        &self,
        execution_id: &str,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        let row = self.redrivable(execution_id, STATE_MACHINE)?;
        let unreadable =
            |what: &str| LocalError::History(format!("execution {execution_id} has {what}"));
        let first = row
            .logical_date
            .ok_or_else(|| unreadable("no logical date"))?;
        let days = Days::new(first, row.through)?;
        let input: serde_json::Value =
            serde_json::from_str(&row.input).map_err(|_| unreadable("an unreadable input"))?;
        /// `audit/state_input`'s row.
        #[derive(Deserialize)]
        struct StateInput {
            input: String,
        }
        let resume_at = match row.failed_state {
            Some(state) => {
                let state_input: Vec<StateInput> = self.query_as(
                    "audit/state_input",
                    &[
                        ("execution_id", text(execution_id)),
                        ("state_name", text(&state)),
                    ],
                )?;
                state_input
                    .first()
                    .and_then(|r| serde_json::from_str(&r.input).ok())
                    .map(|i| (state, i))
            }
            None => None,
        };
        let redrive_count = row.redrive_count + 1;
        let seq = self.count(
            "audit/state_run_count",
            &[("execution_id", text(execution_id))],
        )?;
        self.execution_redriven(execution_id, redrive_count)?;
        let (state, input) = match resume_at {
            Some((state, state_input)) => (Some(state), state_input),
            None => (None, input),
        };
        self.execute(
            Resume {
                execution_id: execution_id.to_owned(),
                days,
                state,
                input,
                redrive_count,
                seq,
            },
            clock,
            handler,
        )
    }

    /// The state machine an execution belongs to ([`STATE_MACHINE`] or
    /// [`backfill::BACKFILL`]), refusing an id that is not one.
    pub fn state_machine_of(&self, execution_id: &str) -> Result<String, LocalError> {
        if RunId::try_from(execution_id.to_owned()).is_err() {
            let shown: String = execution_id.chars().take(80).collect();
            return Err(Refusal::NotAnExecutionId(shown).into());
        }
        self.execution(execution_id)?
            .map(|row| row.state_machine)
            .ok_or_else(|| Refusal::NoSuchExecution(execution_id.to_owned()).into())
    }

    /// An execution of `machine` that a redrive may resume: one that failed
    /// or was aborted.
    pub(crate) fn redrivable(
        &self,
        execution_id: &str,
        machine: &str,
    ) -> Result<ExecutionRow, LocalError> {
        let found = self.state_machine_of(execution_id)?;
        let row = self
            .execution(execution_id)?
            .filter(|_| found == machine)
            .ok_or_else(|| Refusal::NoSuchExecution(execution_id.to_owned()))?;
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
    fn execution(&self, execution_id: &str) -> Result<Option<ExecutionRow>, LocalError> {
        Ok(self
            .query_as::<ExecutionRow>(
                "audit/execution_lookup",
                &[("execution_id", text(execution_id))],
            )?
            .into_iter()
            .next())
    }

    /// Run (or resume) one execution and record its states and its end.
    fn execute(
        &self,
        run: Resume,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        // A range (started or redriven) runs on every core within 2 GB.
        let scope = if run.days.count() > 1 {
            Scope::Range
        } else {
            Scope::Day
        };
        self.warehouse().size_for(scope)?;
        let recorder = Recorder {
            records: RefCell::new(vec![]),
        };
        let handler = LaterDays {
            pipeline: self,
            execution_id: &run.execution_id,
            clock,
            tasks: handler,
        };
        let executor = Executor::new(&self.machine, &handler, clock, &recorder)
            .with_execution_name(&run.execution_id);
        let result = match &run.state {
            None => executor.run(run.input.clone()),
            Some(state) => {
                executor.redrive(state, run.input.clone(), self.kept_branches(&run, state)?)
            }
        };
        let records = recorder.records.into_inner();
        let failed_state = result.as_ref().err().map(|f| {
            ovom_asl::failed_top_level_state(&records)
                .map_or_else(|| f.state.clone(), |r| r.name.clone())
        });
        let (status, error, cause) = match &result {
            Ok(_) => ("SUCCEEDED", Value::Null, Value::Null),
            Err(f) => ("FAILED", text(&f.error), text(&f.cause)),
        };
        // The states and the end in one transaction: one commit per
        // execution rather than one per state.
        let ended = [
            ("execution_id", text(&run.execution_id)),
            ("status", text(status)),
            ("finished_at", Value::Timestamp(clock.now().naive_utc())),
            (
                "failed_state",
                failed_state.as_deref().map_or(Value::Null, text),
            ),
            ("error", error),
            ("cause", cause),
        ];
        let state_run = sql::file("audit/state_run")?;
        let execution_ended = sql::file("audit/execution_ended")?;
        in_transaction(&mut *self.warehouse(), |wh| {
            for (i, r) in records.iter().enumerate() {
                wh.execute(
                    state_run,
                    &state_run_params(&run, run.seq + i as i64 + 1, r),
                )?;
            }
            wh.execute(execution_ended, &ended)
        })
        .map_err(|cause| {
            // The warehouse could not be written (a full disk): say what the
            // execution did; it reads as ABORTED, and `ovom redrive` resumes
            // it once the warehouse can be written again.
            let outcome = match (&result, &failed_state) {
                (Ok(_), _) => "succeeded".to_owned(),
                (Err(f), state) => format!(
                    "failed in state {}: {}: {}",
                    state.as_deref().unwrap_or(&f.state),
                    f.error,
                    f.cause
                ),
            };
            LocalError::EndNotRecorded {
                execution_id: run.execution_id.clone(),
                days: run.days,
                outcome,
                cause: Box::new(cause),
            }
        })?;
        Ok(DayRun {
            execution_id: run.execution_id,
            days: run.days,
            result,
            failed_state,
            states: records,
        })
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
    fn kept_branches(
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
    fn count(&self, name: &str, params: &[Param]) -> Result<i64, LocalError> {
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

    fn audit(&self, name: &str, params: &[Param]) -> Result<(), LocalError> {
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

/// Where an execution starts or resumes.
struct Resume {
    execution_id: String,
    days: Days,
    /// `None`: the definition's StartAt.
    state: Option<String>,
    input: serde_json::Value,
    redrive_count: i64,
    /// The state runs the execution already recorded.
    seq: i64,
}

fn state_run_params(run: &Resume, seq: i64, r: &StateRecord) -> Vec<Param> {
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

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

impl TaskHandler for Tasks {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        _context: &serde_json::Value,
    ) -> Result<serde_json::Value, TaskFailure> {
        let Some(kind) = TaskKind::ALL
            .into_iter()
            .find(|k| local_arn(*k) == resource)
        else {
            return Err(TaskFailure::new(
                "States.TaskFailed",
                format!("no local handler for resource {resource}"),
            ));
        };
        let mut wh = self.wh.borrow_mut();
        handler::handle(kind, input, &mut *wh, &self.store)
            .map_err(|e| TaskFailure::new(e.name(), e.to_string()).with_detail(e.detail()))
    }
}

/// The task handler of one execution: the backfill state machine it starts
/// for the days after a late one runs here, as `ovom backfill` runs it (the
/// days in order, each a daily execution naming the backfill as its parent,
/// the backfill naming this execution); every other resource goes to
/// `tasks`.
struct LaterDays<'a> {
    pipeline: &'a Pipeline,
    execution_id: &'a str,
    clock: &'a dyn Clock,
    tasks: &'a dyn TaskHandler,
}

impl TaskHandler for LaterDays<'_> {
    fn invoke(
        &self,
        resource: &str,
        input: &serde_json::Value,
        context: &serde_json::Value,
    ) -> Result<serde_json::Value, TaskFailure> {
        if resource != handler::NESTED_START {
            return self.tasks.invoke(resource, input, context);
        }
        let failed = |cause: String| TaskFailure::new("States.TaskFailed", cause);
        let start: NestedStart = params::parse(input).map_err(|e| failed(e.to_string()))?;
        if start.state_machine_arn != LOCAL_BACKFILL_ARN {
            return Err(failed(format!(
                "no local state machine {}",
                start.state_machine_arn
            )));
        }
        let b = &start.input;
        let opts = BackfillOptions {
            from: b.from,
            to: b.to,
            run: RunOptions {
                strict: b.strict,
                dim_mode: b.dim_mode,
                leave_later_days: !b.rerun_later_days,
                allow_empty: false,
            },
        };
        let outcome = backfill::backfill(
            self.pipeline,
            opts,
            Some(self.execution_id),
            self.clock,
            self.tasks,
            |_| Ok(()),
        )
        .map_err(|e| failed(e.to_string()))?;
        if let Some(f) = outcome.failed {
            return Err(failed(format!(
                "backfill {} of the later days {} … {} failed: {}",
                outcome.execution_id, b.from, b.to, f.cause
            )));
        }
        let output = b.output().map_err(|e| failed(e.to_string()))?;
        Ok(start.succeeded(&outcome.execution_id, output))
    }
}

/// Keeps each state's record as it ends; they are written with the
/// execution's end.
struct Recorder {
    records: RefCell<Vec<StateRecord>>,
}

impl Observer for Recorder {
    fn state_exited(&self, r: &StateRecord) {
        self.records.borrow_mut().push(r.clone());
    }
}

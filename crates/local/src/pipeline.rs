//! The local runner: the daily state machine on the interpreter, its task
//! resources served in-process ([`crate::resources`]), every execution and
//! state recorded in the warehouse's run history ([`crate::history`]).

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ovom_asl::{Clock, ExecutionFailure, Executor, StateMachine, StateRecord, TaskHandler};
use ovom_core::handler::{self, TaskKind};
use ovom_core::local_dir::LocalDir;
use ovom_core::params::{Days, DimMode, LogicalDate, Source};
use ovom_core::ports::{in_transaction, Value, Warehouse};
use ovom_core::tasks;
use ovom_duckdb::{DuckWarehouse, Scope};
use serde::Deserialize;

use crate::error::LocalError;
use crate::history::{state_run_params, text, Recorder};
use crate::resources::LaterDays;
pub use crate::resources::Tasks;
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

impl Pipeline {
    /// Open the warehouse file (creating the schema if needed) over a data root.
    /// DuckDB lets one process hold the file for writing: a file another
    /// process holds is refused with a message saying so.
    pub fn open(warehouse: &Path, data: &Path) -> Result<Self, LocalError> {
        let mut wh = DuckWarehouse::open(warehouse).map_err(|e| open_error(warehouse, e))?;
        check_ovom_warehouse(&mut wh, Some(warehouse), Access::Write)?;
        let mut pipeline = Self::with(wh, data, DEFINITION)?;
        pipeline.set_erasure_key(crate::erasure::read_key(warehouse)?);
        Ok(pipeline)
    }

    /// The key of the suppression list the stage task applies (the one
    /// beside the warehouse file, which [`Pipeline::open`] reads).
    pub fn set_erasure_key(&mut self, key: Option<ovom_core::erasure::ErasureKey>) {
        self.tasks.set_erasure_key(key);
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
            tasks: Tasks::new(wh, LocalDir::new(data)),
            machine: load_definition(definition)?,
        })
    }

    pub fn warehouse(&self) -> RefMut<'_, DuckWarehouse> {
        self.tasks.warehouse()
    }

    pub fn store(&self) -> &LocalDir {
        self.tasks.store()
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
        self.start_days(Days::one(day), opts, None, clock, handler)
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
        self.start_days(days, opts, None, clock, &self.tasks)
    }

    /// The same, with another task handler in front of the in-process one.
    pub fn run_range_with(
        &self,
        days: Days,
        opts: RunOptions,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        self.start_days(days, opts, None, clock, handler)
    }

    /// Start a new execution of the daily state machine for `days`;
    /// `parent` names the backfill that started it.
    pub fn start_days(
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

    /// Run (or resume) one execution and record its states and its end.
    fn execute(
        &self,
        run: Resume,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun, LocalError> {
        // A range (started or redriven) runs on every core within 1.5 GB of buffers.
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
}

/// Where an execution starts or resumes.
pub(crate) struct Resume {
    pub execution_id: String,
    pub days: Days,
    /// `None`: the definition's StartAt.
    pub state: Option<String>,
    pub input: serde_json::Value,
    pub redrive_count: i64,
    /// The state runs the execution already recorded.
    pub seq: i64,
}

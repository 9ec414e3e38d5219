//! The local runner: the state machine's three task resources mapped to the
//! in-process task library, every execution and state recorded in the
//! warehouse's audit tables.

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use ovom_asl::{
    Clock, ExecutionFailure, Executor, Observer, StateMachine, StateRecord, TaskFailure,
    TaskHandler,
};
use ovom_core::handler::{self, TaskKind};
use ovom_core::local_dir::LocalDir;
use ovom_core::params::{DimMode, LogicalDate, Source};
use ovom_core::ports::{ObjectStore, Param, Value, Warehouse};
use ovom_core::sql::{self, Dialect};
use ovom_core::tasks;
use ovom_duckdb::DuckWarehouse;

/// The state machine file, compiled in: the very definition that production
/// deploys.
pub const DEFINITION: &str = include_str!("../../../statemachine/pipeline.asl.json");

/// The name the audit tables give the daily state machine.
pub const STATE_MACHINE: &str = "pipeline";

/// The local ARN that stands for a task's Lambda function.
pub fn local_arn(kind: TaskKind) -> String {
    format!("arn:ovom:local:function:{}", kind.name())
}

/// Parse the daily state machine with its task resources resolved to the
/// in-process handlers.
pub fn load_definition(text: &str) -> Result<StateMachine> {
    let subs: BTreeMap<String, String> = TaskKind::ALL
        .iter()
        .map(|k| (k.substitution().to_owned(), local_arn(*k)))
        .collect();
    StateMachine::from_json_with_substitutions(text, &subs)
        .context("parsing the state machine definition")
}

/// Options of one execution: its input besides the date.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub strict: bool,
    pub dim_mode: DimMode,
}

/// How one execution ended.
#[derive(Debug, Clone)]
pub struct DayRun {
    pub execution_id: String,
    pub logical_date: LogicalDate,
    pub result: Result<serde_json::Value, ExecutionFailure>,
    /// The top-level state whose error failed the execution (a Task or a
    /// Parallel, not the Fail state the error was routed to).
    pub failed_state: Option<String>,
    pub states: Vec<StateRecord>,
}

/// The warehouse and the data root, with the task resources of the state
/// machine served in-process.
pub struct Pipeline {
    wh: RefCell<DuckWarehouse>,
    store: LocalDir,
    machine: StateMachine,
}

impl Pipeline {
    /// Open the warehouse file (creating the schema if needed) over a data root.
    pub fn open(warehouse: &Path, data: &Path) -> Result<Self> {
        let wh = DuckWarehouse::open(warehouse)
            .with_context(|| format!("opening the warehouse {}", warehouse.display()))?;
        Self::with(wh, data, DEFINITION)
    }

    pub fn with(mut wh: DuckWarehouse, data: &Path, definition: &str) -> Result<Self> {
        tasks::ensure_schema(&mut wh).context("creating the warehouse schema")?;
        Ok(Self {
            wh: RefCell::new(wh),
            store: LocalDir::new(data),
            machine: load_definition(definition)?,
        })
    }

    pub fn warehouse(&self) -> RefMut<'_, DuckWarehouse> {
        self.wh.borrow_mut()
    }

    pub fn store(&self) -> &LocalDir {
        &self.store
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    /// Every logical day that has a folder under either source, in order.
    pub fn days(&self) -> Result<Vec<LogicalDate>> {
        let mut days = BTreeSet::new();
        for source in Source::ALL {
            for object in self.store.list(&format!("{}/", source.folder()))? {
                if let Some(day) = day_of_key(&object.key) {
                    days.insert(day);
                }
            }
        }
        Ok(days.into_iter().collect())
    }

    /// Run the daily state machine for one day with the in-process tasks.
    pub fn run_day(&self, day: LogicalDate, opts: RunOptions, clock: &dyn Clock) -> Result<DayRun> {
        self.run_day_with(day, opts, clock, self)
    }

    /// The same, with another task handler in front of the in-process one
    /// (tests use it to interfere with a run).
    pub fn run_day_with(
        &self,
        day: LogicalDate,
        opts: RunOptions,
        clock: &dyn Clock,
        handler: &dyn TaskHandler,
    ) -> Result<DayRun> {
        let execution_id = self.next_execution_id(day)?;
        let input = serde_json::json!({
            "logical_date": day.to_string(),
            "dim_mode": opts.dim_mode.as_str(),
            "strict": opts.strict,
        });
        let started_at = clock.now().naive_utc();
        self.audit(
            "audit/execution_started",
            &[
                ("execution_id", text(&execution_id)),
                ("state_machine", text(STATE_MACHINE)),
                ("logical_date", text(&day.to_string())),
                ("input", text(&input.to_string())),
                ("started_at", Value::Timestamp(started_at)),
            ],
        )?;
        let recorder = Recorder {
            pipeline: self,
            execution_id: &execution_id,
            records: RefCell::new(vec![]),
            failure: RefCell::new(None),
        };
        let executor = Executor::new(&self.machine, handler, clock, &recorder)
            .with_execution_name(&execution_id);
        let result = executor.run(input);
        if let Some(e) = recorder.failure.take() {
            return Err(e);
        }
        let records = recorder.records.into_inner();
        let failed_state = result.as_ref().err().map(|f| {
            records
                .iter()
                .rev()
                .find(|r| {
                    r.error.is_some()
                        && !r.path.contains('/')
                        && !matches!(r.state_type.as_str(), "Fail" | "Pass")
                })
                .map_or_else(|| f.state.clone(), |r| r.name.clone())
        });
        let (status, error, cause) = match &result {
            Ok(_) => ("SUCCEEDED", Value::Null, Value::Null),
            Err(f) => ("FAILED", text(&f.error), text(&f.cause)),
        };
        self.audit(
            "audit/execution_ended",
            &[
                ("execution_id", text(&execution_id)),
                ("status", text(status)),
                ("finished_at", Value::Timestamp(clock.now().naive_utc())),
                (
                    "failed_state",
                    failed_state.as_deref().map_or(Value::Null, text),
                ),
                ("error", error),
                ("cause", cause),
            ],
        )?;
        Ok(DayRun {
            execution_id,
            logical_date: day,
            result,
            failed_state,
            states: records,
        })
    }

    fn next_execution_id(&self, day: LogicalDate) -> Result<String> {
        let rows = self.wh.borrow_mut().query(
            sql::file(Dialect::DuckDb, "audit/execution_count")?,
            &[("logical_date", text(&day.to_string()))],
        )?;
        let n = rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or(0);
        Ok(format!(
            "{}-{}-{}",
            STATE_MACHINE,
            day.date().format("%Y%m%d"),
            n + 1
        ))
    }

    fn audit(&self, name: &str, params: &[Param]) -> Result<()> {
        let text = sql::file(Dialect::DuckDb, name)?;
        self.wh.borrow_mut().execute(text, params)?;
        Ok(())
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// `log_data/2025/03/14/part-00000.json` → 2025-03-14.
pub fn day_of_key(key: &str) -> Option<LogicalDate> {
    let mut parts = key.split('/').skip(1);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    format!("{y}-{m}-{d}").parse().ok()
}

impl TaskHandler for Pipeline {
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
            return Err(TaskFailure {
                error: "States.TaskFailed".into(),
                cause: format!("no local handler for resource {resource}"),
            });
        };
        let mut wh = self.wh.borrow_mut();
        handler::handle(kind, input, &mut *wh, &self.store).map_err(|e| TaskFailure {
            error: e.name().into(),
            cause: e.to_string(),
        })
    }
}

/// Writes each state's record to `state_runs` as it ends.
struct Recorder<'a> {
    pipeline: &'a Pipeline,
    execution_id: &'a str,
    records: RefCell<Vec<StateRecord>>,
    failure: RefCell<Option<anyhow::Error>>,
}

impl Observer for Recorder<'_> {
    fn state_exited(&self, r: &StateRecord) {
        let seq = self.records.borrow().len() as i64 + 1;
        let status = match (&r.error, r.caught) {
            (None, _) => "SUCCEEDED",
            (Some(_), true) => "CAUGHT",
            (Some(_), false) => "FAILED",
        };
        let opt = |v: Option<&str>| v.map(text).unwrap_or(Value::Null);
        let written = self.pipeline.audit(
            "audit/state_run",
            &[
                ("execution_id", text(self.execution_id)),
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
                ("input", text(&r.input.to_string())),
                (
                    "output",
                    opt(r.output.as_ref().map(|o| o.to_string()).as_deref()),
                ),
            ],
        );
        if let Err(e) = written {
            self.failure.borrow_mut().get_or_insert(e);
        }
        self.records.borrow_mut().push(r.clone());
    }
}

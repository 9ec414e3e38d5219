//! The state machine's task resources served in-process: the three task
//! types over the warehouse and the data root, and the nested start of the
//! backfill state machine for the days after a late one.

use std::cell::{RefCell, RefMut};

use ovom_asl::{Clock, TaskFailure, TaskHandler};
use ovom_core::erasure::ErasureKey;
use ovom_core::handler::{self, TaskKind};
use ovom_core::local_dir::LocalDir;
use ovom_core::params::{self, NestedStart};
use ovom_duckdb::DuckWarehouse;

use crate::backfill;
use crate::pipeline::{local_arn, Pipeline, LOCAL_BACKFILL_ARN};

/// The state machine's three task resources, served in-process: the task
/// library over the warehouse and the data root. It is the executor's task
/// handler, not its owner. The warehouse is one DuckDB connection that the
/// tasks and the run history share during an execution (the interpreter
/// calls a handler through `&self`, and a nested backfill records its
/// executions while the task that started it runs), hence the `RefCell`.
pub struct Tasks {
    wh: RefCell<DuckWarehouse>,
    store: LocalDir,
    /// Keys the suppression list of erased patients (see
    /// [`crate::erasure_key`]); none before the first erasure.
    erasure_key: Option<ErasureKey>,
}

impl Tasks {
    pub(crate) fn new(wh: DuckWarehouse, store: LocalDir) -> Self {
        Self {
            wh: RefCell::new(wh),
            store,
            erasure_key: None,
        }
    }

    pub(crate) fn set_erasure_key(&mut self, key: Option<ErasureKey>) {
        self.erasure_key = key;
    }

    pub(crate) fn erasure_key(&self) -> Option<&ErasureKey> {
        self.erasure_key.as_ref()
    }

    pub(crate) fn warehouse(&self) -> RefMut<'_, DuckWarehouse> {
        self.wh.borrow_mut()
    }

    pub(crate) fn store(&self) -> &LocalDir {
        &self.store
    }
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
        handler::handle(kind, input, self.erasure_key(), &mut *wh, &self.store)
            .map_err(|e| TaskFailure::new(e.name(), e.to_string()).with_detail(e.detail()))
    }
}

/// The task handler of one execution: the backfill state machine it starts
/// for the days after a late one runs here, as `ovom backfill` runs it (the
/// days in order, each a daily execution naming the backfill as its parent,
/// the backfill naming this execution); every other resource goes to
/// `tasks`.
pub(crate) struct LaterDays<'a> {
    pub pipeline: &'a Pipeline,
    pub execution_id: &'a str,
    pub clock: &'a dyn Clock,
    pub tasks: &'a dyn TaskHandler,
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
        let outcome = backfill::backfill(
            self.pipeline,
            b,
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
        let output = serde_json::to_value(output).expect("a backfill's range serialises");
        Ok(start.succeeded(&outcome.execution_id, output))
    }
}

//! One entry point for every runner of the tasks — the local interpreter and
//! the three Lambdas: parse the event into the task's typed parameters,
//! validate them, run the task, and return its report as JSON.

use crate::params::{self, LoadParams, QualityParams, StageParams};
use crate::ports::{ObjectStore, Warehouse};
use crate::{tasks, TaskError};

/// The three task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Stage,
    Load,
    Quality,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [TaskKind::Stage, TaskKind::Load, TaskKind::Quality];

    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Stage => "stage",
            TaskKind::Load => "load",
            TaskKind::Quality => "quality",
        }
    }

    /// The `DefinitionSubstitutions` name of the task's function ARN in the
    /// state machine (`${StageFunctionArn}`).
    pub fn substitution(self) -> &'static str {
        match self {
            TaskKind::Stage => "StageFunctionArn",
            TaskKind::Load => "LoadFunctionArn",
            TaskKind::Quality => "QualityFunctionArn",
        }
    }
}

/// The `DefinitionSubstitutions` name of the backfill state machine's ARN in
/// the daily state machine (`${BackfillArn}`): the daily state machine starts
/// it to run again the days after a late one.
pub const BACKFILL_SUBSTITUTION: &str = "BackfillArn";

/// The resource of a Task state that starts an execution of another state
/// machine and waits for its end, its output as JSON.
pub const NESTED_START: &str = "arn:aws:states:::states:startExecution.sync:2";

/// Run one task on its event.
pub fn handle(
    kind: TaskKind,
    event: &serde_json::Value,
    wh: &mut dyn Warehouse,
    store: &dyn ObjectStore,
) -> Result<serde_json::Value, TaskError> {
    let report = match kind {
        TaskKind::Stage => {
            let p = params::parse::<StageParams>(event)?.validate()?;
            serde_json::to_value(tasks::stage(&p, wh, store)?)
        }
        TaskKind::Load => {
            let p = params::parse::<LoadParams>(event)?.validate()?;
            serde_json::to_value(tasks::load(&p, wh)?)
        }
        TaskKind::Quality => {
            let p = params::parse::<QualityParams>(event)?.validate()?;
            serde_json::to_value(tasks::quality(&p, wh)?)
        }
    };
    report.map_err(|e| TaskError::WarehouseError(format!("report not serialisable: {e}")))
}

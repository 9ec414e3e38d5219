//! One entry point for every runner of the tasks — the local interpreter and
//! the three Lambdas: parse the event into the task's typed parameters,
//! validate them, run the task, and return its report as JSON.

use serde::Serialize;

use crate::erasure::ErasureKey;
use crate::params::{self, LoadParams, QualityParams, StageParams};
use crate::ports::{ObjectStore, Warehouse};
use crate::reports::{LoadReport, QualityReport, StageReport};
use crate::{tasks, TaskError};

/// The three task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum TaskKind {
    Stage,
    Load,
    Quality,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [TaskKind::Stage, TaskKind::Load, TaskKind::Quality];

    pub fn name(self) -> &'static str {
        self.into()
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

/// A task's parameters, parsed from its event and validated.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskParams {
    Stage(StageParams),
    Load(LoadParams),
    Quality(QualityParams),
}

impl TaskParams {
    /// Parse and validate an event as the parameters of a task of `kind`.
    pub fn parse(kind: TaskKind, event: &serde_json::Value) -> Result<Self, TaskError> {
        Ok(match kind {
            TaskKind::Stage => Self::Stage(params::parse::<StageParams>(event)?.validate()?),
            TaskKind::Load => Self::Load(params::parse::<LoadParams>(event)?.validate()?),
            TaskKind::Quality => Self::Quality(params::parse::<QualityParams>(event)?.validate()?),
        })
    }
}

/// What a task returns: its typed report, serialised once as the task's
/// output (the state machine's `ResultPath` puts it in the execution's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TaskReport {
    Stage(StageReport),
    Load(LoadReport),
    Quality(QualityReport),
}

impl TaskReport {
    /// The report as the task's JSON output.
    pub fn to_json(&self) -> Result<serde_json::Value, TaskError> {
        serde_json::to_value(self)
            .map_err(|e| TaskError::WarehouseError(format!("report not serialisable: {e}")))
    }
}

/// Run a task on its validated parameters.
/// `erasure_key` keys the suppression list the stage task applies (none:
/// a warehouse with erased patients refuses to stage).
pub fn run(
    params: &TaskParams,
    erasure_key: Option<&ErasureKey>,
    wh: &mut dyn Warehouse,
    store: &dyn ObjectStore,
) -> Result<TaskReport, TaskError> {
    Ok(match params {
        TaskParams::Stage(p) => TaskReport::Stage(tasks::stage(p, erasure_key, wh, store)?),
        TaskParams::Load(p) => TaskReport::Load(tasks::load(p, wh)?),
        TaskParams::Quality(p) => TaskReport::Quality(tasks::quality(p, wh)?),
    })
}

/// Run one task on its event: parse, validate, run, and return its report
/// as JSON.
pub fn handle(
    kind: TaskKind,
    event: &serde_json::Value,
    erasure_key: Option<&ErasureKey>,
    wh: &mut dyn Warehouse,
    store: &dyn ObjectStore,
) -> Result<serde_json::Value, TaskError> {
    run(&TaskParams::parse(kind, event)?, erasure_key, wh, store)?.to_json()
}

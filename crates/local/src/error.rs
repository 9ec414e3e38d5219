//! What the local runtime reports when it cannot do what it was asked. An
//! execution that fails is not an error here: it is a [`crate::pipeline::DayRun`]
//! whose result is the failure, recorded in the run history.

use std::path::PathBuf;

use ovom_core::params::Days;
use ovom_core::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A warehouse statement of the run history, or the schema, failed.
    #[error(transparent)]
    Task(#[from] TaskError),

    /// The state machine definition cannot be run.
    #[error("the state machine definition: {0}")]
    Definition(#[from] ovom_asl::DefinitionError),

    /// What was asked cannot be done as asked; nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),

    /// The run history holds something that cannot be read back.
    #[error("{0}")]
    History(String),

    /// The start of an execution could not be recorded: nothing of it ran.
    #[error(
        "recording the start of execution {execution_id} for {days} (nothing of it ran): {cause}"
    )]
    StartNotRecorded {
        execution_id: String,
        days: Days,
        cause: Box<TaskError>,
    },

    /// An execution ran, but its states and end could not be recorded (a
    /// full disk): it reads as ABORTED, and a redrive resumes it.
    #[error("execution {execution_id} for {days} {outcome}, but recording its end failed ({cause}); it reads as ABORTED (`ovom redrive {execution_id}` once the warehouse can be written)")]
    EndNotRecorded {
        execution_id: String,
        days: Days,
        /// `succeeded`, or `failed in state S: E: C`.
        outcome: String,
        cause: Box<TaskError>,
    },

    /// The caller of a backfill stopped it between two days.
    #[error("stopped between two days: {0}")]
    Interrupted(Box<dyn std::error::Error + Send + Sync>),
}

/// A request the local runtime refuses, before it changes anything.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// DuckDB lets one process write a file at a time.
    #[error("the warehouse {} is in use by another ovom process: wait for it to finish, then run this command again ({detail})", path.display())]
    InUse { path: PathBuf, detail: String },

    /// The erasure key file cannot be read or made.
    #[error("the erasure key {}: {detail} (it keys the erased patients' suppression list; nothing was changed)", path.display())]
    ErasureKey { path: PathBuf, detail: String },

    #[error("opening the warehouse {}: {cause}", path.display())]
    CannotOpen {
        path: PathBuf,
        cause: Box<TaskError>,
    },

    /// A reader was given a file with no table.
    #[error("{shown} is not an ovom warehouse: it holds no table (`ovom run` builds one)")]
    EmptyFile { shown: String },

    /// The file holds tables, none of them ovom's: ours would be mixed in.
    #[error("{shown} is not an ovom warehouse: it holds {count} table{} ({listed}) and none of ovom's (fact_bloodtest, executions, …); nothing was changed (choose another --warehouse)", if *count == 1 { "" } else { "s" })]
    ForeignFile {
        shown: String,
        count: usize,
        /// The first few of its tables.
        listed: String,
    },

    #[error("{0:?} is not an execution id (`ovom status` lists them)")]
    NotAnExecutionId(String),

    #[error("no execution `{0}` in the warehouse (`ovom status` lists them)")]
    NoSuchExecution(String),

    /// A redrive of one state machine was asked for another's execution.
    #[error("execution {execution_id} is a {state_machine} execution, not this one's")]
    OtherMachine {
        execution_id: String,
        state_machine: String,
    },

    #[error("execution {execution_id} succeeded: there is nothing to redrive ({again})")]
    Succeeded { execution_id: String, again: String },

    #[error(
        "execution {execution_id} is {status}: only a failed or aborted execution can be redriven"
    )]
    NotFailed {
        execution_id: String,
        status: String,
    },
}

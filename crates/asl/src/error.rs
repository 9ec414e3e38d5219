//! Errors: of a definition (found when parsing), of a state (raised while
//! running, matched by Retry and Catch), and of a whole execution.

/// The names of the errors the interpreter itself raises, and the wildcards
/// that `ErrorEquals` understands.
pub mod names {
    /// Matches every error except [`RUNTIME`] and [`DATA_LIMIT_EXCEEDED`].
    pub const ALL: &str = "States.ALL";
    /// Matches every error of a Task, Parallel or Map except [`TIMEOUT`] and
    /// [`RUNTIME`].
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A runtime error (an `InputPath`, `OutputPath` or payload template path
    /// that matches nothing, an invalid value for a `...Path` field): never
    /// retried, never caught.
    pub const RUNTIME: &str = "States.Runtime";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// A name `ErrorEquals` may list. Step Functions raises [`RUNTIME`] for
    /// a payload template path that matches nothing, and so does this
    /// interpreter.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// A `ResultPath` could not be applied to the state's input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// An intrinsic function failed.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// No Choice rule matched and the Choice state has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
}

/// An error raised by a state: a task's failure, or one of the interpreter's
/// own `States.*` errors. Retry and Catch match on [`TaskFailure::error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
    /// What the task said of the error as data (its fields), when the task
    /// runs in-process: the run history keeps it beside the cause, so nothing
    /// reads a value back out of the cause's text. Step Functions carries
    /// only `Error` and `Cause`; Retry, Catch and `ResultPath` never see this.
    pub detail: Option<Box<serde_json::Value>>,
}

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
            detail: None,
        }
    }

    pub fn with_detail(self, detail: serde_json::Value) -> Self {
        Self {
            detail: Some(Box::new(detail)),
            ..self
        }
    }
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for TaskFailure {}

/// How an execution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionFailure {
    pub error: String,
    pub cause: String,
    /// The top-level state where the execution failed: the Fail state, or the
    /// state whose error no Catch handled.
    pub state: String,
}

impl std::fmt::Display for ExecutionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed with {}: {}",
            self.state, self.error, self.cause
        )
    }
}

impl std::error::Error for ExecutionFailure {}

/// A state machine definition that cannot be run. The message names where
/// (`at`: the state machine, a state, a branch) and which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("the definition is not valid JSON: {0}")]
    Json(String),
    #[error("the definition uses `${{{0}}}` but no substitution is given for `{0}`")]
    MissingSubstitution(String),
    #[error("{at}: field `{field}`: {message}")]
    Invalid {
        at: String,
        field: String,
        message: String,
    },
    #[error("{at}: field `{field}` is not supported by this interpreter: {message}")]
    Unsupported {
        at: String,
        field: String,
        message: String,
    },
}

/// A problem found while compiling one field (a path, a template, an
/// intrinsic call); the definition parser adds where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub unsupported: bool,
    /// A sub-field within the field, e.g. `parts.first.$` inside `Parameters`.
    pub within: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            unsupported: false,
            within: None,
            message: message.into(),
        }
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self {
            unsupported: true,
            within: None,
            message: message.into(),
        }
    }

    /// Name the sub-field the problem is in (innermost first).
    pub fn within(mut self, key: &str) -> Self {
        self.within = Some(match self.within.take() {
            Some(inner) => join(key, &inner),
            None => key.to_owned(),
        });
        self
    }

    pub fn at(self, at: &str, field: &str) -> DefinitionError {
        let field = match self.within {
            Some(inner) => join(field, &inner),
            None => field.to_owned(),
        };
        if self.unsupported {
            DefinitionError::Unsupported {
                at: at.to_owned(),
                field,
                message: self.message,
            }
        } else {
            DefinitionError::Invalid {
                at: at.to_owned(),
                field,
                message: self.message,
            }
        }
    }
}

/// `a` + `b` → `a.b`; `a` + `[0]` → `a[0]`.
fn join(outer: &str, inner: &str) -> String {
    if inner.starts_with('[') {
        format!("{outer}{inner}")
    } else {
        format!("{outer}.{inner}")
    }
}

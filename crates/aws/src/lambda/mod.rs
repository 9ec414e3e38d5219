//! The glue the three Lambda functions share.
//!
//! A function's `main` is one line, [`serve`] with its [`TaskKind`]. At cold
//! start it reads a typed configuration from the environment the deployment
//! template sets ([`LambdaConfig`]; a missing or invalid variable stops the
//! container with a message naming it), builds the SDK clients, the warehouse
//! and the object store once, and then hands each event to
//! [`ovom_core::handler::handle`] on a blocking thread: the adapters block on
//! the runtime's handle, which a runtime worker thread must not do.
//!
//! The warehouse schema is created on the first event a container serves
//! ([`ovom_core::tasks::ensure_schema`], idempotent), not at start: a start
//! that fails is retried by Lambda without the state machine seeing a task
//! error, while a failing first event reports one (`WarehouseBusy` is retried).
//!
//! A task's error reaches Step Functions as the invocation's error type
//! ([`diagnostic`]): [`TaskError::name`], the very names the state machine's
//! `Retry` and `Catch` rules match.
//!
//! Logs are JSON lines. Nothing here logs an event, a report or a task
//! error's message (an event holds only task parameters, but a warehouse
//! message may quote a value): a failed task logs its error's name, and the
//! message goes to the state machine alone.
//!
//! After each invocation, succeeded or failed, the function also writes its
//! CloudWatch metrics to stdout in the embedded metric format ([`emf`]): the
//! report's counts, the duration and the failure's name, with the event's
//! parameters only once they have validated.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use ovom_core::erasure::ErasureKey;
use ovom_core::handler::{self, TaskKind, TaskParams, TaskReport};
use ovom_core::ports::{ObjectStore, Warehouse};
use ovom_core::{tasks, TaskError};
use serde_json::Value;

use crate::emf;
use crate::redshift::{RedshiftWarehouse, Target};
use crate::s3::S3Store;

pub use ovom_core::error::PANIC_ERROR;

/// Longest error message sent to Step Functions, in bytes (its `Cause` holds
/// at most 32 KiB, error type and JSON around it included).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 8 * 1024;

/// The error Lambda reports for a failed task: the task error's name as the
/// error type, so that `ErrorEquals` in the state machine matches it, and its
/// message (cut to [`MAX_ERROR_MESSAGE_BYTES`]) as the message.
pub fn diagnostic(error: &TaskError) -> Diagnostic {
    Diagnostic {
        error_type: error.name().to_owned(),
        error_message: truncate(error.to_string(), MAX_ERROR_MESSAGE_BYTES),
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

mod config;
pub use config::{vars, ConfigError, LambdaConfig};

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

/// One container's task: a warehouse (behind a lock: the runtime serves one
/// event at a time, but the value crosses to a blocking thread), whether its
/// schema is known to exist, and the object store.
pub struct Task<W, S> {
    kind: TaskKind,
    warehouse: Mutex<Connection<W>>,
    store: S,
    /// Keys the erased patients' suppression list the stage task applies.
    erasure_key: Option<ErasureKey>,
}

struct Connection<W> {
    wh: W,
    schema_ready: bool,
}

impl<W: Warehouse, S: ObjectStore> Task<W, S> {
    pub fn new(kind: TaskKind, warehouse: W, store: S) -> Self {
        Self {
            kind,
            warehouse: Mutex::new(Connection {
                wh: warehouse,
                schema_ready: false,
            }),
            store,
            erasure_key: None,
        }
    }

    /// The key of the erased patients' suppression list (the deployment's
    /// erasure secret).
    pub fn with_erasure_key(mut self, key: Option<ErasureKey>) -> Self {
        self.erasure_key = key;
        self
    }

    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// Run the task on one event, blocking: create the schema first if this
    /// container has not yet, then [`handler::handle`].
    pub fn run(&self, event: &Value) -> Result<Value, TaskError> {
        self.run_params(&TaskParams::parse(self.kind, event)?)?
            .to_json()
    }

    /// Run the task on its validated parameters.
    pub fn run_params(&self, params: &TaskParams) -> Result<TaskReport, TaskError> {
        let mut conn = match self.warehouse.lock() {
            Ok(conn) => conn,
            Err(poisoned) => {
                // An earlier event panicked while it held the warehouse: end
                // whatever it left open, and check the schema again.
                self.warehouse.clear_poison();
                let mut conn = poisoned.into_inner();
                if let Err(e) = conn.wh.rollback() {
                    tracing::warn!(error = e.name(), "rollback after a panic failed");
                }
                conn.schema_ready = false;
                conn
            }
        };
        let conn = &mut *conn;
        if !conn.schema_ready {
            tasks::ensure_schema(&mut conn.wh)?;
            conn.schema_ready = true;
            tracing::info!(task = self.kind.name(), "warehouse schema ensured");
        }
        handler::run(params, self.erasure_key.as_ref(), &mut conn.wh, &self.store)
    }
}

/// Run one event on a blocking thread and turn the outcome into the Lambda
/// response: the report, or a [`Diagnostic`] carrying the error's name. The
/// invocation's metrics go to stdout ([`emf::emit`]) before it returns.
pub async fn invoke<W, S>(task: Arc<Task<W, S>>, event: Value) -> Result<Value, Diagnostic>
where
    W: Warehouse + Send + 'static,
    S: ObjectStore + Send + Sync + 'static,
{
    let (response, metrics) = run_measured(task, event).await;
    emf::emit(&metrics);
    response
}

/// [`invoke`] without the writing: the response and the metric documents.
async fn run_measured<W, S>(
    task: Arc<Task<W, S>>,
    event: Value,
) -> (Result<Value, Diagnostic>, Vec<Value>)
where
    W: Warehouse + Send + 'static,
    S: ObjectStore + Send + Sync + 'static,
{
    let kind = task.kind;
    // The event is parsed once: its validated parameters run the task and
    // name the metrics' properties.
    let params = TaskParams::parse(kind, &event);
    let properties = emf::Properties::from_params(params.as_ref().ok()).with_function_from_env();
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || task.run_params(&params?)).await;
    let duration = started.elapsed();
    let duration_ms = duration.as_millis() as u64;
    let metrics = |outcome: Result<&TaskReport, emf::Failure<'_>>| {
        emf::documents(kind, outcome, duration, SystemTime::now(), &properties)
    };
    let kind = kind.name();
    let outcome = outcome.map(|r| r.and_then(|report| Ok((report.to_json()?, report))));
    match outcome {
        Ok(Ok((json, report))) => {
            tracing::info!(task = kind, duration_ms, "task succeeded");
            let docs = metrics(Ok(&report));
            (Ok(json), docs)
        }
        Ok(Err(e)) => {
            tracing::warn!(task = kind, duration_ms, error = e.name(), "task failed");
            (Err(diagnostic(&e)), metrics(Err(emf::Failure::Task(&e))))
        }
        Err(join) => {
            tracing::error!(
                task = kind,
                duration_ms,
                cancelled = join.is_cancelled(),
                "task panicked"
            );
            let d = Diagnostic {
                error_type: PANIC_ERROR.to_owned(),
                error_message: format!("the {kind} task panicked"),
            };
            (Err(d), metrics(Err(emf::Failure::Panicked)))
        }
    }
}

/// JSON log lines on stdout, once per process: at the level of
/// `AWS_LAMBDA_LOG_LEVEL` (the function's log level setting), INFO by default,
/// refined by `RUST_LOG` directives when set.
pub fn init_logging() {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy(std::env::var("RUST_LOG").unwrap_or_default());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .try_init();
}

/// What a function builds once at cold start: the warehouse, the object
/// store and the erasure key, from the environment.
pub(crate) struct Connected {
    pub warehouse: RedshiftWarehouse,
    pub store: S3Store,
    pub erasure_key: Option<ErasureKey>,
}

/// Configure and connect, logging a failure under the function's name.
pub(crate) async fn connect(name: &'static str) -> Result<Connected, lambda_runtime::Error> {
    let config = LambdaConfig::from_env().inspect_err(|e| {
        tracing::error!(task = name, error = %e, "configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let handle = tokio::runtime::Handle::current();

    let data_api = match &config.warehouse_role_arn {
        None => aws_sdk_redshiftdata::Client::new(&sdk),
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.to_string())
                .session_name(format!("ovom-{name}"))
                .configure(&sdk)
                .build()
                .await;
            let conf = aws_sdk_redshiftdata::config::Builder::from(&sdk)
                .credentials_provider(provider)
                .build();
            aws_sdk_redshiftdata::Client::from_conf(conf)
        }
    };
    let warehouse = RedshiftWarehouse::try_new(data_api, config.redshift(), handle.clone())
        .inspect_err(|e| tracing::error!(task = name, error = %e, "configuration"))?;
    let store = S3Store::new(
        aws_sdk_s3::Client::new(&sdk),
        config.data_root.clone(),
        handle,
    );
    let erasure_key = match &config.erasure_key_id {
        None => None,
        Some(id) => Some(
            crate::secrets::erasure_key(&aws_sdk_secretsmanager::Client::new(&sdk), id)
                .await
                .inspect_err(|e| tracing::error!(task = name, error = e.name(), "erasure key"))?,
        ),
    };
    tracing::info!(
        task = name,
        warehouse = match &config.target {
            Target::Workgroup(_) => "workgroup",
            Target::Cluster { .. } => "cluster",
        },
        erasure_key = erasure_key.is_some(),
        "ready"
    );
    Ok(Connected {
        warehouse,
        store,
        erasure_key,
    })
}

/// The Lambda function of one task type: configure, connect once, then serve
/// events until the container ends.
pub async fn serve(kind: TaskKind) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let c = connect(kind.name()).await?;
    let task = Arc::new(Task::new(kind, c.warehouse, c.store).with_erasure_key(c.erasure_key));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let task = Arc::clone(&task);
        async move { invoke(task, event.payload).await }
    }))
    .await
}

pub mod erase;

#[cfg(test)]
mod tests;

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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use ovom_core::handler::{self, TaskKind};
use ovom_core::ports::{ObjectStore, Warehouse};
use ovom_core::{tasks, TaskError};
use serde_json::Value;

use crate::emf;
use crate::redshift::{RedshiftConfig, RedshiftWarehouse, Target};
use crate::s3::{DataRoot, S3Store};

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

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// The environment variables a function reads.
pub mod vars {
    /// `s3://BUCKET/PREFIX`: the data root holding `patient_data/` and `log_data/`.
    pub const DATA_ROOT: &str = "DATA_ROOT";
    /// A Redshift Serverless workgroup's name (or [`REDSHIFT_CLUSTER_ID`]).
    pub const REDSHIFT_WORKGROUP: &str = "REDSHIFT_WORKGROUP";
    /// A provisioned cluster's identifier, with [`REDSHIFT_DB_USER`].
    pub const REDSHIFT_CLUSTER_ID: &str = "REDSHIFT_CLUSTER_ID";
    /// The database user on a provisioned cluster (temporary credentials).
    pub const REDSHIFT_DB_USER: &str = "REDSHIFT_DB_USER";
    /// The database.
    pub const REDSHIFT_DATABASE: &str = "REDSHIFT_DATABASE";
    /// The IAM role `COPY` reads the data root with (associated with the
    /// warehouse).
    pub const COPY_ROLE_ARN: &str = "COPY_ROLE_ARN";
    /// Optional: an IAM role the function assumes for the Data API, so that
    /// every function is the same database user (IAM authentication maps a
    /// role to a user of its own; the tables and views the tasks create are
    /// owned by that user).
    pub const WAREHOUSE_ROLE_ARN: &str = "WAREHOUSE_ROLE_ARN";

    /// Every variable, in the order they are documented.
    pub const ALL: [&str; 7] = [
        DATA_ROOT,
        REDSHIFT_WORKGROUP,
        REDSHIFT_CLUSTER_ID,
        REDSHIFT_DB_USER,
        REDSHIFT_DATABASE,
        COPY_ROLE_ARN,
        WAREHOUSE_ROLE_ARN,
    ];

    /// Prefixes owned by this configuration: a variable that starts with one
    /// and is not in [`ALL`] is an error (a misspelt optional variable would
    /// otherwise be ignored).
    pub const OWNED_PREFIXES: [&str; 2] = ["REDSHIFT_", "WAREHOUSE_"];
}

/// Where the warehouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseTarget {
    /// A Redshift Serverless workgroup, authenticated as the caller's IAM
    /// identity.
    Workgroup(String),
    /// A provisioned cluster, with temporary credentials of a database user.
    Cluster { cluster_id: String, db_user: String },
}

/// A function's configuration, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaConfig {
    pub data_root: DataRoot,
    pub target: WarehouseTarget,
    pub database: String,
    pub copy_role_arn: String,
    pub warehouse_role_arn: Option<String>,
}

/// A configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid { var: &'static str, reason: String },
    Unknown(String),
    Conflict(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(var) => write!(f, "environment variable {var} is not set"),
            ConfigError::Invalid { var, reason } => {
                write!(f, "environment variable {var} is invalid: {reason}")
            }
            ConfigError::Unknown(var) => write!(
                f,
                "environment variable {var} is not one this function reads (known: {})",
                vars::ALL.join(", ")
            ),
            ConfigError::Conflict(reason) => write!(f, "invalid configuration: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl LambdaConfig {
    /// The configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// The configuration from `(name, value)` pairs; other variables than
    /// the configuration's own are ignored, except under its prefixes.
    pub fn from_vars<K, V>(env: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut found: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (k, v) in env {
            let (k, v) = (k.into(), v.into());
            if let Some(known) = vars::ALL.iter().find(|n| **n == k) {
                found.insert(known, v);
            } else if vars::OWNED_PREFIXES.iter().any(|p| k.starts_with(p)) {
                unknown.push(k);
            }
        }
        if let Some(first) = unknown.into_iter().min() {
            return Err(ConfigError::Unknown(first));
        }
        let mut take = |var: &'static str| -> Result<Option<String>, ConfigError> {
            match found.remove(var) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Err(ConfigError::Invalid {
                    var,
                    reason: "is empty".into(),
                }),
                Some(v) if v.trim() != v || v.chars().any(char::is_control) => {
                    Err(ConfigError::Invalid {
                        var,
                        reason: "has surrounding blanks or control characters".into(),
                    })
                }
                Some(v) => Ok(Some(v)),
            }
        };
        let data_root = take(vars::DATA_ROOT)?.ok_or(ConfigError::Missing(vars::DATA_ROOT))?;
        let workgroup = take(vars::REDSHIFT_WORKGROUP)?;
        let cluster_id = take(vars::REDSHIFT_CLUSTER_ID)?;
        let db_user = take(vars::REDSHIFT_DB_USER)?;
        let database =
            take(vars::REDSHIFT_DATABASE)?.ok_or(ConfigError::Missing(vars::REDSHIFT_DATABASE))?;
        let copy_role_arn =
            take(vars::COPY_ROLE_ARN)?.ok_or(ConfigError::Missing(vars::COPY_ROLE_ARN))?;
        let warehouse_role_arn = take(vars::WAREHOUSE_ROLE_ARN)?;

        let data_root = DataRoot::parse(&data_root).map_err(|e| ConfigError::Invalid {
            var: vars::DATA_ROOT,
            reason: match e {
                TaskError::InvalidParameters { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
        let target = match (workgroup, cluster_id, db_user) {
            (Some(w), None, None) => {
                check_name(vars::REDSHIFT_WORKGROUP, &w, 3, 64, false)?;
                WarehouseTarget::Workgroup(w)
            }
            (None, Some(c), Some(u)) => {
                check_name(vars::REDSHIFT_CLUSTER_ID, &c, 1, 63, false)?;
                check_db_user(&u)?;
                WarehouseTarget::Cluster { cluster_id: c, db_user: u }
            }
            (None, Some(_), None) => return Err(ConfigError::Missing(vars::REDSHIFT_DB_USER)),
            (Some(_), None, Some(_)) => {
                return Err(ConfigError::Conflict(format!(
                    "{} applies to a cluster ({}), not to a workgroup: a workgroup's user is the function's IAM role",
                    vars::REDSHIFT_DB_USER,
                    vars::REDSHIFT_CLUSTER_ID
                )))
            }
            (Some(_), Some(_), _) => {
                return Err(ConfigError::Conflict(format!(
                    "set one of {} and {}, not both",
                    vars::REDSHIFT_WORKGROUP,
                    vars::REDSHIFT_CLUSTER_ID
                )))
            }
            (None, None, _) => {
                return Err(ConfigError::Conflict(format!(
                    "set {} (Redshift Serverless) or {} with {} (a provisioned cluster)",
                    vars::REDSHIFT_WORKGROUP,
                    vars::REDSHIFT_CLUSTER_ID,
                    vars::REDSHIFT_DB_USER
                )))
            }
        };
        check_name(vars::REDSHIFT_DATABASE, &database, 1, 64, true)?;
        check_role_arn(vars::COPY_ROLE_ARN, &copy_role_arn)?;
        if let Some(arn) = &warehouse_role_arn {
            check_role_arn(vars::WAREHOUSE_ROLE_ARN, arn)?;
        }
        Ok(Self {
            data_root,
            target,
            database,
            copy_role_arn,
            warehouse_role_arn,
        })
    }

    /// The warehouse adapter's configuration.
    pub fn redshift(&self) -> RedshiftConfig {
        let target = match &self.target {
            WarehouseTarget::Workgroup(w) => Target::Workgroup(w.clone()),
            WarehouseTarget::Cluster {
                cluster_id,
                db_user,
            } => Target::Cluster {
                cluster_id: cluster_id.clone(),
                db_user: db_user.clone(),
            },
        };
        RedshiftConfig::new(target, self.database.clone(), self.copy_role_arn.clone())
    }
}

/// A workgroup, cluster or database name: `min..=max` of lowercase letters,
/// digits and `-` (`_` instead of `-` for a database), beginning with a letter
/// (or `_` for a database).
fn check_name(
    var: &'static str,
    value: &str,
    min: usize,
    max: usize,
    database: bool,
) -> Result<(), ConfigError> {
    let invalid = |reason: String| Err(ConfigError::Invalid { var, reason });
    if !(min..=max).contains(&value.len()) {
        return invalid(format!("must be {min} to {max} characters"));
    }
    let sep = if database { b'_' } else { b'-' };
    let first = value.as_bytes()[0];
    if !(first.is_ascii_lowercase() || (database && first == b'_')) {
        return invalid(format!(
            "must begin with a lowercase letter{}",
            if database { " or `_`" } else { "" }
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == sep)
    {
        return invalid(format!(
            "may hold only lowercase letters, digits and `{}`",
            sep as char
        ));
    }
    Ok(())
}

fn check_db_user(value: &str) -> Result<(), ConfigError> {
    let ok = (1..=128).contains(&value.len())
        && value.as_bytes()[0].is_ascii_alphabetic()
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'$' | b'-' | b'+')
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var: vars::REDSHIFT_DB_USER,
            reason:
                "must be 1 to 128 of letters, digits and `_ . @ $ - +`, beginning with a letter"
                    .into(),
        })
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn check_role_arn(var: &'static str, value: &str) -> Result<(), ConfigError> {
    let invalid = || {
        Err(ConfigError::Invalid {
            var,
            reason: "must be an IAM role ARN, arn:aws:iam::123456789012:role/NAME".into(),
        })
    };
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return invalid();
    };
    let role = resource.strip_prefix("role/").unwrap_or("");
    let ok = *arn == "arn"
        && matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=512).contains(&role.len())
        && !role.ends_with('/')
        && role.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'=' | b',' | b'.' | b'@' | b'_' | b'-' | b'/')
        });
    if ok {
        Ok(())
    } else {
        invalid()
    }
}

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
        }
    }

    pub fn kind(&self) -> TaskKind {
        self.kind
    }

    /// Run the task on one event, blocking: create the schema first if this
    /// container has not yet, then [`handler::handle`].
    pub fn run(&self, event: &Value) -> Result<Value, TaskError> {
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
        handler::handle(self.kind, event, &mut conn.wh, &self.store)
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
    let properties = emf::Properties::from_event(kind, &event).with_function_from_env();
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || task.run(&event)).await;
    let duration = started.elapsed();
    let duration_ms = duration.as_millis() as u64;
    let metrics = |outcome: Result<&Value, emf::Failure<'_>>| {
        emf::documents(kind, outcome, duration, SystemTime::now(), &properties)
    };
    let kind = kind.name();
    match outcome {
        Ok(Ok(report)) => {
            tracing::info!(task = kind, duration_ms, "task succeeded");
            let docs = metrics(Ok(&report));
            (Ok(report), docs)
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

/// The Lambda function of one task type: configure, connect once, then serve
/// events until the container ends.
pub async fn serve(kind: TaskKind) -> Result<(), lambda_runtime::Error> {
    init_logging();
    let config = LambdaConfig::from_env().inspect_err(|e| {
        tracing::error!(task = kind.name(), error = %e, "configuration");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let handle = tokio::runtime::Handle::current();

    let data_api = match &config.warehouse_role_arn {
        None => aws_sdk_redshiftdata::Client::new(&sdk),
        Some(role) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                .session_name(format!("ovom-{}", kind.name()))
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
        .inspect_err(|e| tracing::error!(task = kind.name(), error = %e, "configuration"))?;
    let store = S3Store::new(
        aws_sdk_s3::Client::new(&sdk),
        config.data_root.clone(),
        handle,
    );
    let task = Arc::new(Task::new(kind, warehouse, store));
    tracing::info!(
        task = kind.name(),
        warehouse = match &config.target {
            WarehouseTarget::Workgroup(_) => "workgroup",
            WarehouseTarget::Cluster { .. } => "cluster",
        },
        "ready"
    );

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let task = Arc::clone(&task);
        async move { invoke(task, event.payload).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ovom_core::local_dir::LocalDir;
    use ovom_core::ports::{CopyRequest, Param, Row, Sql};
    use ovom_core::sql::Dialect;
    use serde_json::json;

    fn every_error() -> Vec<TaskError> {
        vec![
            TaskError::invalid("logical_date", "\"2025-13-01\" is not a date YYYY-MM-DD"),
            TaskError::MalformedInput {
                file: "log_data/2025/03/14/part-00000.json".into(),
                line: 7,
                reason: "field `ap_hi`: expected an integer".into(),
            },
            TaskError::WarehouseBusy("serialisable isolation violation".into()),
            TaskError::WarehouseError("relation does not exist".into()),
            TaskError::StoreUnavailable("throttled".into()),
            TaskError::StoreError {
                key: "log_data/2025/03/14/part-00000.json".into(),
                detail: "access denied".into(),
            },
            TaskError::QualityCheckFailed {
                check: "day_reconciles".into(),
                logical_date: "2025-03-14".into(),
                got: 3,
                comparison: "=",
                expected: 0,
            },
            TaskError::EmptyDayRefused {
                source_folder: "log_data",
                logical_date: "2025-03-14".into(),
                rows: 12,
            },
            TaskError::OutsideLayout {
                key: "log_data/2025/02/30/part-00000.json".into(),
                reason: "2025-02-30 is not a day between 1970 and 2100".into(),
            },
        ]
    }

    #[test]
    fn every_task_error_reports_its_name_as_the_error_type() {
        let errors = every_error();
        let types: Vec<String> = errors.iter().map(|e| diagnostic(e).error_type).collect();
        assert_eq!(types, TaskError::NAMES.map(String::from).to_vec());
        for e in &errors {
            let d = diagnostic(e);
            assert_eq!(d.error_type, e.name());
            assert_eq!(d.error_message, e.to_string());
        }
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let d = diagnostic(&TaskError::WarehouseError("é".repeat(10_000)));
        assert!(
            d.error_message.len() <= MAX_ERROR_MESSAGE_BYTES,
            "{}",
            d.error_message.len()
        );
        assert!(d.error_message.starts_with("warehouse statement failed: é"));
        assert!(d.error_message.ends_with('…'));
        assert_eq!(d.error_type, "WarehouseError");
    }

    #[test]
    fn the_diagnostic_serialises_as_lambda_reports_errors() {
        let d = diagnostic(&TaskError::WarehouseBusy("locked".into()));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"errorType": "WarehouseBusy", "errorMessage": "warehouse busy: locked"})
        );
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/ovom-copy";

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DATA_ROOT", "s3://ovom-data/ehr"),
            ("REDSHIFT_WORKGROUP", "ovom"),
            ("REDSHIFT_DATABASE", "ovom"),
            ("COPY_ROLE_ARN", ROLE),
            ("PATH", "/usr/bin"),
            ("AWS_REGION", "eu-west-1"),
        ]
    }

    fn with(over: &[(&'static str, Option<&'static str>)]) -> Result<LambdaConfig, ConfigError> {
        let mut env: BTreeMap<&str, &str> = base().into_iter().collect();
        for (k, v) in over {
            match v {
                Some(v) => env.insert(k, v),
                None => env.remove(k),
            };
        }
        LambdaConfig::from_vars(env)
    }

    #[test]
    fn a_workgroup_configuration_is_read() {
        let c = with(&[]).unwrap();
        assert_eq!(c.data_root.bucket(), "ovom-data");
        assert_eq!(c.data_root.prefix(), "ehr");
        assert_eq!(c.target, WarehouseTarget::Workgroup("ovom".into()));
        assert_eq!(c.database, "ovom");
        assert_eq!(c.copy_role_arn, ROLE);
        assert_eq!(c.warehouse_role_arn, None);
        let c = with(&[(
            "WAREHOUSE_ROLE_ARN",
            Some("arn:aws:iam::123456789012:role/service/ovom-warehouse"),
        )])
        .unwrap();
        assert_eq!(
            c.warehouse_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/service/ovom-warehouse")
        );
    }

    #[test]
    fn a_cluster_configuration_needs_its_database_user() {
        let c = with(&[
            ("REDSHIFT_WORKGROUP", None),
            ("REDSHIFT_CLUSTER_ID", Some("ovom-cluster")),
            ("REDSHIFT_DB_USER", Some("ovom_etl")),
        ])
        .unwrap();
        assert_eq!(
            c.target,
            WarehouseTarget::Cluster {
                cluster_id: "ovom-cluster".into(),
                db_user: "ovom_etl".into()
            }
        );
        assert_eq!(
            with(&[
                ("REDSHIFT_WORKGROUP", None),
                ("REDSHIFT_CLUSTER_ID", Some("ovom-cluster"))
            ]),
            Err(ConfigError::Missing("REDSHIFT_DB_USER"))
        );
    }

    #[test]
    fn missing_variables_are_named() {
        for var in ["DATA_ROOT", "REDSHIFT_DATABASE", "COPY_ROLE_ARN"] {
            assert_eq!(
                with(&[(var, None)]),
                Err(ConfigError::Missing(var)),
                "{var}"
            );
        }
        let e = with(&[("REDSHIFT_WORKGROUP", None)]).unwrap_err();
        assert!(e.to_string().contains("REDSHIFT_WORKGROUP"), "{e}");
    }

    #[test]
    fn conflicting_and_unknown_variables_are_refused() {
        let e = with(&[
            ("REDSHIFT_CLUSTER_ID", Some("c1")),
            ("REDSHIFT_DB_USER", Some("u")),
        ])
        .unwrap_err();
        assert!(matches!(e, ConfigError::Conflict(_)), "{e}");
        let e = with(&[("REDSHIFT_DB_USER", Some("u"))]).unwrap_err();
        assert!(matches!(e, ConfigError::Conflict(_)), "{e}");
        assert_eq!(
            with(&[("REDSHIFT_WORKGRUOP", Some("ovom"))]),
            Err(ConfigError::Unknown("REDSHIFT_WORKGRUOP".into()))
        );
        assert_eq!(
            with(&[("WAREHOUSE_ROLE", Some(ROLE))]),
            Err(ConfigError::Unknown("WAREHOUSE_ROLE".into()))
        );
        assert!(with(&[("REDSHIFT_WORKGRUOP", Some("x"))])
            .unwrap_err()
            .to_string()
            .contains("REDSHIFT_WORKGROUP"));
    }

    #[test]
    fn invalid_values_are_refused_naming_the_variable() {
        let cases: [(&'static str, &'static str); 14] = [
            ("DATA_ROOT", "ovom-data/ehr"),
            ("DATA_ROOT", "s3://Bad_Bucket/ehr"),
            ("DATA_ROOT", "s3://ovom-data/../ehr"),
            ("DATA_ROOT", ""),
            ("DATA_ROOT", " s3://ovom-data"),
            ("REDSHIFT_WORKGROUP", "Ovom"),
            ("REDSHIFT_WORKGROUP", "ov"),
            ("REDSHIFT_WORKGROUP", "ovom;drop"),
            ("REDSHIFT_DATABASE", "ovom-db"),
            ("REDSHIFT_DATABASE", "1ovom"),
            ("COPY_ROLE_ARN", "arn:aws:iam::123:role/x"),
            ("COPY_ROLE_ARN", "arn:aws:s3:::bucket"),
            ("COPY_ROLE_ARN", "arn:aws:iam::123456789012:user/x"),
            ("WAREHOUSE_ROLE_ARN", "role/x"),
        ];
        for (var, value) in cases {
            match with(&[(var, Some(value))]) {
                Err(ConfigError::Invalid { var: v, .. }) => assert_eq!(v, var, "{value:?}"),
                other => panic!("{var}={value:?} gave {other:?}"),
            }
        }
        let e = with(&[("DATA_ROOT", Some("https://ovom-data/ehr"))]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("environment variable DATA_ROOT is invalid: "),
            "{e}"
        );
    }

    /// A warehouse that records statements and fails as told.
    #[derive(Default)]
    struct Fake {
        executed: usize,
        rollbacks: usize,
        fail_schema: Option<TaskError>,
        panic_on_query: bool,
    }

    impl Warehouse for Fake {
        fn dialect(&self) -> Dialect {
            Dialect::Redshift
        }
        fn begin(&mut self) -> Result<(), TaskError> {
            Ok(())
        }
        fn commit(&mut self) -> Result<(), TaskError> {
            Ok(())
        }
        fn rollback(&mut self) -> Result<(), TaskError> {
            self.rollbacks += 1;
            Ok(())
        }
        fn execute(&mut self, _sql: Sql, _params: &[Param]) -> Result<(), TaskError> {
            if let Some(e) = self.fail_schema.take() {
                return Err(e);
            }
            self.executed += 1;
            Ok(())
        }
        fn query(&mut self, _sql: Sql, _params: &[Param]) -> Result<Vec<Row>, TaskError> {
            assert!(!self.panic_on_query, "scripted panic");
            Ok(vec![])
        }
        fn copy_day(&mut self, _r: &CopyRequest, _s: &dyn ObjectStore) -> Result<u64, TaskError> {
            Ok(0)
        }
    }

    fn store() -> LocalDir {
        LocalDir::new(std::path::Path::new("/nonexistent-ovom-data-root"))
    }

    fn schema_statements(task: &Task<Fake, LocalDir>) -> usize {
        task.warehouse.lock().unwrap().wh.executed
    }

    #[test]
    fn the_schema_is_ensured_once_per_container_then_each_event_is_handled() {
        let task = Task::new(TaskKind::Load, Fake::default(), store());
        let bad = json!({"model": "dim_nothing", "logical_date": "2025-03-14", "run_id": "r1"});
        assert_eq!(task.run(&bad).unwrap_err().name(), "InvalidParameters");
        let after_first = schema_statements(&task);
        assert!(after_first > 0, "the first event creates the schema");
        assert_eq!(task.run(&bad).unwrap_err().name(), "InvalidParameters");
        assert_eq!(
            schema_statements(&task),
            after_first,
            "the schema is ensured once"
        );
    }

    #[test]
    fn a_failed_schema_creation_is_the_events_error_and_is_tried_again() {
        let wh = Fake {
            fail_schema: Some(TaskError::WarehouseBusy("starting".into())),
            ..Fake::default()
        };
        let task = Task::new(TaskKind::Quality, wh, store());
        let event = json!({"logical_date": "2025-03-14", "run_id": "r1", "checks": []});
        assert_eq!(task.run(&event).unwrap_err().name(), "WarehouseBusy");
        assert_eq!(schema_statements(&task), 0);
        assert_eq!(task.run(&event).unwrap_err().name(), "InvalidParameters");
        assert!(schema_statements(&task) > 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn invoke_maps_errors_and_panics_for_the_state_machine() {
        let task = Arc::new(Task::new(TaskKind::Stage, Fake::default(), store()));
        let d = invoke(Arc::clone(&task), json!({"source": "log_data"}))
            .await
            .unwrap_err();
        assert_eq!(d.error_type, "InvalidParameters");

        let wh = Fake {
            panic_on_query: true,
            ..Fake::default()
        };
        let task = Arc::new(Task::new(TaskKind::Quality, wh, store()));
        let event =
            json!({"logical_date": "2025-03-14", "run_id": "r1", "checks": ["test_id_unique"]});
        let (response, metrics) = run_measured(Arc::clone(&task), event.clone()).await;
        assert_eq!(response.unwrap_err().error_type, PANIC_ERROR);
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics[0]["error"], PANIC_ERROR);
        assert_eq!(metrics[0]["TaskFailures"], 1);
        assert_eq!(metrics[0]["Task"], "quality");
        assert_eq!(metrics[0]["logical_date"], "2025-03-14");
        // The next event finds the warehouse rolled back and usable.
        task.warehouse
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .wh
            .panic_on_query = false;
        let _ = invoke(Arc::clone(&task), event).await;
        assert!(task.warehouse.lock().unwrap().wh.rollbacks >= 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn each_invocation_measures_itself_with_validated_parameters_only() {
        // Parameters that validate are properties, also when the task fails.
        let task = Arc::new(Task::new(TaskKind::Quality, Fake::default(), store()));
        let event = json!({"logical_date": "2025-03-14", "run_id": "r1"});
        let (response, metrics) = run_measured(task, event).await;
        assert_eq!(response.unwrap_err().error_type, "WarehouseError");
        assert_eq!(metrics.len(), 1);
        let doc = &metrics[0];
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            emf::NAMESPACE
        );
        assert_eq!(doc["Task"], "quality");
        assert_eq!(doc["TaskFailures"], 1);
        assert!(doc["DurationMs"].is_u64());
        assert_eq!(doc["error"], "WarehouseError");
        assert_eq!(doc["logical_date"], "2025-03-14");
        assert_eq!(doc["run_id"], "r1");
        assert!(doc.get("CheckFailures").is_none(), "{doc}");

        // An event that does not validate leaves none of its values behind.
        let task = Arc::new(Task::new(TaskKind::Stage, Fake::default(), store()));
        let event = json!({
            "source": "log_data",
            "logical_date": "2025-03-14",
            "run_id": "secret-run",
            "note": "<injected value>"
        });
        let (response, metrics) = run_measured(task, event).await;
        assert_eq!(response.unwrap_err().error_type, "InvalidParameters");
        let text = serde_json::to_string(&metrics).unwrap();
        for raw in ["2025-03-14", "secret-run", "injected", "log_data", "note"] {
            assert!(!text.contains(raw), "{raw} echoed in {text}");
        }
        assert_eq!(metrics[0]["error"], "InvalidParameters");

        // A load of the fact reports its counts.
        let task = Arc::new(Task::new(TaskKind::Load, Fake::default(), store()));
        let event =
            json!({"model": "fact_bloodtest", "logical_date": "2025-03-14", "run_id": "r2"});
        let (response, metrics) = run_measured(task, event).await;
        let report = response.unwrap();
        assert_eq!(report["loaded"], 0);
        let doc = &metrics[0];
        assert_eq!(doc["Task"], "load");
        assert_eq!(doc["model"], "fact_bloodtest");
        assert_eq!(doc["TaskFailures"], 0);
        assert_eq!(doc["RowsLoaded"], 0);
        assert_eq!(doc["RowsRejected"], 0);
        assert_eq!(doc["Duplicates"], 0);
        assert!(doc.get("error").is_none());
    }
}

//! The warehouse on the Amazon Redshift Data API: [`RedshiftWarehouse`]
//! implements [`Warehouse`] over `aws-sdk-redshiftdata`, for a Redshift
//! Serverless workgroup or a provisioned cluster. Authentication is IAM only:
//! the caller's role (a workgroup derives the database user from it) or
//! temporary credentials of a named database user (a cluster). No password
//! or secret is configured anywhere.
//!
//! The caller needs `redshift-data:ExecuteStatement`, `DescribeStatement`,
//! `GetStatementResult` and `CancelStatement`, and
//! `redshift-serverless:GetCredentials` (a workgroup) or
//! `redshift:GetClusterCredentials` (a cluster's database user); the object
//! store's read of the day's files and write under `manifests/`; the copy
//! role, read of the data root and of `manifests/`.
//!
//! # Blocking
//!
//! The [`Warehouse`] port is synchronous. The adapter holds a Tokio runtime
//! [`Handle`] and blocks on it for every Data API call, so it must be used from
//! a thread that is not driving async tasks: the Lambda functions run the task
//! library inside [`tokio::task::spawn_blocking`]. Blocking on the handle from
//! a runtime worker thread panics.
//!
//! # One transaction per task: one `BatchExecuteStatement`
//!
//! A task's writes are one transaction ([`Warehouse::begin`] …
//! [`Warehouse::commit`]), and the Data API documents exactly one kind:
//! `BatchExecuteStatement`, whose statements run in order as one
//! transaction, rolled back whole when one fails. The adapter collects the
//! task's writes into that batch and sends it at commit; what needs results
//! read first or values bound row by row (a `COPY` and its load errors, the
//! quarantined lines, an `INSERT … VALUES`) is done before, in the task's
//! Data API session, into session temporary tables that the batch then
//! moves into the warehouse's tables. See `transaction.rs`.
//!
//! Statements outside a transaction (the schema, the reports, the quality
//! checks) are sessionless `ExecuteStatement`s, each its own autocommit
//! transaction; a file of several statements outside a transaction is a
//! batch of its own.
//!
//! # Parameters
//!
//! The SQL files use `:name` placeholders, which the Data API binds natively
//! (`SqlParameter { name, value }`, values as text that Redshift converts). A
//! statement is sent with exactly the parameters it uses, each once — the
//! Data API rejects a parameter the statement does not reference. Three kinds
//! of value cannot or need not be parameters, and are written into the
//! statement as fixed SQL words instead, in place of their placeholder:
//!
//! * [`Value::Null`] as `NULL`: the Data API has no null parameter;
//! * [`Value::Text`] `""` as `''`: a parameter value has at least one
//!   character;
//! * [`Value::Bool`] as `TRUE` or `FALSE`: a text parameter cast to `BOOLEAN`
//!   is a cast from `VARCHAR`, which Redshift does not have.
//!
//! None of them carries free data; every other value (numbers, text, dates,
//! timestamps) is a parameter. The one statement sent with literals is
//! `COPY`, which cannot take parameters (see below).
//!
//! # Statements, polling and time-outs
//!
//! `ExecuteStatement` only submits. The adapter then calls
//! `DescribeStatement` with exponential backoff ([`PollBackoff`]: from
//! `initial`, doubling, never more than `max` apart) until the statement is
//! `FINISHED`, `FAILED` or `ABORTED`, and reads a result set with
//! `GetStatementResult`, following `NextToken` to the last page. Values
//! arrive as `longValue`, `doubleValue`, `stringValue`, `booleanValue` or
//! `isNull`; strings are typed by the column's metadata (`date`, `timestamp`,
//! `numeric`) and otherwise stay [`Value::Text`].
//!
//! A statement still running after [`RedshiftConfig::statement_timeout`] is
//! cancelled (`CancelStatement`) and the task fails with
//! [`TaskError::WarehouseBusy`]. Each of the tasks' statements touches one
//! day, a few hundred to a few thousand rows, so one that runs for minutes is
//! waiting — on a lock another writer holds (Redshift serialises writers of
//! a table), or in a queue of a busy or resuming warehouse — rather than
//! working; the state machine's retry with backoff is the right answer, and
//! its bounded attempts end a statement that would never fit.
//!
//! # Errors
//!
//! One function, `classify`, maps every failure into the task error contract:
//!
//! | failure | [`TaskError`] |
//! |---|---|
//! | `ThrottlingException`, `ActiveStatementsExceededException`, `ActiveSessionsExceededException`, `ActiveWaitingRequestsExceededException`, `InternalServerException`, `DatabaseConnectionException`, `QueryTimeoutException`, `ExecuteStatementException` (environmental), any HTTP 5xx | `WarehouseBusy` |
//! | a `ValidationException` saying the warehouse is resuming, paused, modifying or unavailable | `WarehouseBusy` |
//! | no response: dispatch failure, time-out, connection or I/O error, unreadable response | `WarehouseBusy` |
//! | a statement that ran longer than the time-out (cancelled), or was `ABORTED` | `WarehouseBusy` |
//! | a `FAILED` statement whose error is a conflict of concurrent writers (serializable isolation violation, deadlock, concurrent catalog update), a lost connection, or S3 throttling a `COPY` | `WarehouseBusy` |
//! | any other `FAILED` statement: syntax, constraint, data, permission | `WarehouseError` |
//! | any other `ValidationException`, `ResourceNotFoundException`, other 4xx | `WarehouseError` |
//! | a `COPY` that failed on more malformed lines than allowed | `MalformedInput` (first malformed line) |
//!
//! # `copy_day`: COPY through manifests
//!
//! The day's files are loaded by Redshift's `COPY`, which reads S3 itself. For
//! each file, in key order, the adapter writes through the object store a
//! one-entry manifest, `manifests/<source>/<YYYY-MM-DD>/<run_id>/<NNNNN>.manifest`
//! (`NNNNN` the file's index in the day), whose entry is
//! `{"url": store.url(key), "mandatory": true, "meta": {"content_length": size}}`,
//! beside one `jsonpaths.json` for the day, and runs
//!
//! ```text
//! COPY ovom_copy_<source> (<the contract's fields>) FROM '<manifest URL>'
//! IAM_ROLE '<copy role ARN>' FORMAT AS JSON '<jsonpaths URL>' MANIFEST
//! TIMEFORMAT 'auto' MAXERROR <the day's remaining error budget> ...
//! ```
//!
//! into a temporary table holding the contract's fields, typed as the staging
//! table types them (timestamps as `TIMESTAMPTZ`, so an offset is honoured,
//! then stored as the UTC instant, as the contract says), and the line
//! number. Then `INSERT INTO staging_<source> SELECT CAST(:logical_date AS
//! DATE), :source_file, line_no, <fields>, :run_id FROM` the temporary table
//! adds the lineage, and the temporary table is emptied for the next file.
//!
//! * **Why a manifest, and one per file.** A manifest names exact objects
//!   (a `FROM` prefix would also load `part-00000.json.bak`), fails the
//!   load if one has vanished (`mandatory`), and records what was read. A
//!   `COPY` cannot say which file a row came from, so one `COPY` per file is
//!   what gives every staged row its `source_file` — which the fact's dedup
//!   orders by (a repeated delivery is in a later part of its day), with the
//!   line number.
//! * **Why jsonpaths rather than `'auto'`.** The column mapping is then
//!   explicit and positional, written from the same field list as the
//!   temporary table: independent of how Redshift folds the case of column
//!   names, and a field the file lacks is a `NULL` that the table's `NOT NULL`
//!   rejects, line by line, rather than a silently different mapping.
//! * **Literals in `COPY`.** `COPY` is not a statement Redshift prepares, so
//!   it takes no bind parameters; it is sent without any. Its three literals
//!   come from configuration and the fixed key layout, never from the event,
//!   and are checked strictly before they are quoted: the role ARN when the
//!   configuration is validated, the two URLs as `s3://` + an S3 bucket name +
//!   a key of letters, digits and `/ - _ . ! * ( ) = :` (no quote, backslash
//!   or space can reach the statement). `MAXERROR` is a number.
//!
//! **Malformed lines.** The adapter reads each file once through the object
//! store, numbering its lines as the contract does ([`contract::lines`]), and
//! parses each with the contract's parser, as the embedded warehouse does. A
//! line the contract refuses never reaches `COPY`: the adapter writes a
//! `quarantine` row for it (its raw text and the contract's reason, the field
//! at fault). `COPY` reads a copy of the file,
//! `manifests/<source>/<YYYY-MM-DD>/<run_id>/<NNNNN>.json`, in which each
//! refused line is emptied (`COPY` skips it as whitespace between objects, so
//! every other line keeps its number), a byte-order mark is gone, and each
//! record carries its line number as the member `ovom_line_no` (written after
//! the opening brace; a record that has a member of that name is written
//! anew without it), which the jsonpaths file maps to `line_no`: `COPY` itself
//! gives rows no line numbers. So both
//! engines quarantine the same lines for the same reasons: a wrong type,
//! a missing field or `null`, a timestamp that is not RFC 3339, a string
//! over its column's width in bytes or holding a NUL character, a line over
//! 1 MiB (which `COPY` would load, or, above its 4 MB limit for one JSON
//! object, fail on).
//!
//! `COPY` can still skip a line the contract accepted; it logs it in
//! `sys_load_error_detail` with the process that ran the load (`session_id`,
//! the Data API's `RedshiftPid`), the file it read and the line number — but
//! not its text. (The view's `query_id` is not the Data API's
//! `RedshiftQueryId`, which is the STL views' id.) The adapter quarantines it with the text
//! it read and Redshift's column and message. The lines read are the lines
//! counted in the file, and the adapter checks, per file, that rows loaded +
//! lines `COPY` rejected + lines the contract refused equals them: a line
//! that is neither loaded nor logged fails the task instead of vanishing
//! (the error view is re-read a few times first, in case it lags).
//!
//! `MAXERROR` is one more than the error budget left for the day (a load fails
//! when its errors reach `MAXERROR`), at most Redshift's 100,000; a `COPY` that
//! exceeds the budget fails, and the task fails with
//! [`TaskError::MalformedInput`] naming the day's first malformed line (read
//! from `sys_load_error_detail` outside the aborted transaction). `1` when the
//! run is strict.
//!
//! **Lineage, and where Redshift differs from the embedded warehouse.**
//!
//! * `source_file` is exact (one `COPY` per file) and `line_no` is the line's
//!   number in it, as on the embedded warehouse: the fact, rejects and
//!   duplicates identify and order staged rows by them.
//! * A line the contract accepts loads on both engines; a value `COPY`
//!   would convert (a number given as a string, a timestamp in another ISO
//!   8601 form) never reaches it, since the contract refuses the line first.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_redshiftdata::config::http::HttpResponse;
use aws_sdk_redshiftdata::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_redshiftdata::operation::execute_statement::builders::ExecuteStatementFluentBuilder;
use aws_sdk_redshiftdata::types::{ColumnMetadata, Field, SqlParameter, StatusString};
use aws_sdk_redshiftdata::Client;
use ovom_core::contract;
use ovom_core::params::Source;
use ovom_core::ports::{CopyRequest, ObjectStore, Param, Row, Sql, Value, Warehouse};
use ovom_core::sql::{self, Dialect};
use ovom_core::TaskError;
use tokio::runtime::Handle;

mod transaction;

use transaction::Transaction;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Where the warehouse is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Redshift Serverless workgroup, by name or ARN. The database user is
    /// derived from the caller's IAM identity.
    Workgroup(String),
    /// A provisioned cluster, with temporary credentials of a database user
    /// (`redshift:GetClusterCredentials`).
    Cluster { cluster_id: String, db_user: String },
}

/// How often a running statement is looked at: first after `initial`, then
/// twice as long each time, never more than `max` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollBackoff {
    pub initial: Duration,
    pub max: Duration,
}

impl PollBackoff {
    pub const DEFAULT: PollBackoff = PollBackoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };

    /// The waits between two looks, in order (endless).
    pub fn delays(self) -> impl Iterator<Item = Duration> {
        let max = self.max;
        std::iter::successors(Some(self.initial.min(max)), move |d| {
            Some(d.saturating_mul(2).min(max))
        })
    }
}

impl Default for PollBackoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The warehouse adapter's configuration. Every name is checked against the
/// pattern AWS allows ([`RedshiftConfig::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedshiftConfig {
    pub target: Target,
    pub database: String,
    /// The IAM role `COPY` reads the data root with; it must be associated
    /// with the workgroup's namespace or the cluster.
    pub copy_role_arn: String,
    /// How long one statement may run before it is cancelled; less than the
    /// Lambda function's own time-out.
    pub statement_timeout: Duration,
    pub poll: PollBackoff,
    /// How long a transaction's session stays open after its last statement
    /// (`SessionKeepAliveSeconds`): longer than any pause between two
    /// statements of a task.
    pub session_keep_alive: Duration,
}

/// A configuration value that AWS would refuse, or that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Redshift configuration `{field}`: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl RedshiftConfig {
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);
    /// A task's statements follow each other within seconds; a short
    /// keep-alive lets a finished task's session close soon (a workgroup
    /// holds at most 500).
    pub const DEFAULT_SESSION_KEEP_ALIVE: Duration = Duration::from_secs(60);
    /// A Lambda function runs at most 15 minutes.
    pub const MAX_STATEMENT_TIMEOUT: Duration = Duration::from_secs(900);
    /// The Data API keeps a session at most 24 hours.
    pub const MAX_SESSION_KEEP_ALIVE: Duration = Duration::from_secs(86_400);

    /// A configuration with the default time-out, polling and keep-alive.
    pub fn new(
        target: Target,
        database: impl Into<String>,
        copy_role_arn: impl Into<String>,
    ) -> Self {
        Self {
            target,
            database: database.into(),
            copy_role_arn: copy_role_arn.into(),
            statement_timeout: Self::DEFAULT_STATEMENT_TIMEOUT,
            poll: PollBackoff::DEFAULT,
            session_keep_alive: Self::DEFAULT_SESSION_KEEP_ALIVE,
        }
    }

    /// Check every value against what AWS accepts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: &str| {
            Err(ConfigError {
                field,
                reason: reason.to_owned(),
            })
        };
        match &self.target {
            Target::Workgroup(w) if !is_workgroup(w) => {
                return bad(
                    "workgroup",
                    "must be 3 to 64 of a-z 0-9 -, or a redshift-serverless workgroup ARN",
                )
            }
            Target::Cluster { cluster_id, .. } if !is_cluster_id(cluster_id) => return bad(
                "cluster_id",
                "must be 1 to 63 of a-z 0-9 -, beginning with a letter, without -- or a trailing -",
            ),
            Target::Cluster { db_user, .. } if !is_db_user(db_user) => return bad(
                "db_user",
                "must be 1 to 128 of letters, digits and _ . @ $ + -, beginning with a letter or _",
            ),
            _ => {}
        }
        if !is_database(&self.database) {
            return bad(
                "database",
                "must be 1 to 127 of a-z 0-9 _ $, beginning with a letter or _",
            );
        }
        if !is_role_arn(&self.copy_role_arn) {
            return bad(
                "copy_role_arn",
                "must be an IAM role ARN, arn:aws:iam::123456789012:role/NAME",
            );
        }
        if self.statement_timeout < Duration::from_secs(1)
            || self.statement_timeout > Self::MAX_STATEMENT_TIMEOUT
        {
            return bad("statement_timeout", "must be 1 s to 900 s");
        }
        if self.poll.initial < Duration::from_millis(1) || self.poll.max < self.poll.initial {
            return bad("poll", "initial must be at least 1 ms and at most max");
        }
        if self.poll.max > Duration::from_secs(60) || self.poll.max > self.statement_timeout {
            return bad(
                "poll",
                "max must be at most 60 s and the statement time-out",
            );
        }
        if self.session_keep_alive < Duration::from_secs(1)
            || self.session_keep_alive > Self::MAX_SESSION_KEEP_ALIVE
        {
            return bad("session_keep_alive", "must be 1 s to 24 h");
        }
        Ok(())
    }
}

fn all_bytes(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

/// A Serverless workgroup name (3–64 of `a-z 0-9 -`) or its ARN.
fn is_workgroup(s: &str) -> bool {
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return matches!(
            parts.as_slice(),
            [partition, "redshift-serverless", region, account, resource]
                if partition.starts_with("aws")
                    && !region.is_empty()
                    && all_bytes(region, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && account.len() == 12
                    && all_bytes(account, |b| b.is_ascii_digit())
                    && resource.strip_prefix("workgroup/").is_some_and(|id| {
                        (1..=64).contains(&id.len())
                            && all_bytes(id, |b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    })
        );
    }
    (3..=64).contains(&s.len())
        && all_bytes(s, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
        })
}

/// A cluster identifier: 1–63 of `a-z 0-9 -`, a letter first, no `--`, no
/// trailing `-`.
fn is_cluster_id(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && all_bytes(s, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
        })
        && !s.contains("--")
        && !s.ends_with('-')
}

fn is_db_user(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && (s.as_bytes()[0].is_ascii_alphabetic() || s.as_bytes()[0] == b'_')
        && all_bytes(s, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'$' | b'+' | b'-')
        })
}

fn is_database(s: &str) -> bool {
    (1..=127).contains(&s.len())
        && (s.as_bytes()[0].is_ascii_lowercase() || s.as_bytes()[0] == b'_')
        && all_bytes(s, |b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$'
        })
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let role = resource.strip_prefix("role/").unwrap_or("");
    *arn == "arn"
        && matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && all_bytes(account, |b| b.is_ascii_digit())
        && (1..=512).contains(&role.len())
        && !role.ends_with('/')
        && all_bytes(role, |b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'=' | b',' | b'.' | b'@' | b'_' | b'-' | b'/')
        })
}

// ---------------------------------------------------------------------------
// The warehouse
// ---------------------------------------------------------------------------

/// [`Warehouse`] on the Redshift Data API.
pub struct RedshiftWarehouse {
    api: DataApi,
    handle: Handle,
    /// Why the configuration is unusable, when it is: every call fails.
    invalid: Option<ConfigError>,
    /// The open transaction: its session and its batch.
    tx: RefCell<Option<Transaction>>,
}

impl RedshiftWarehouse {
    /// The warehouse, with a configuration that must be valid.
    pub fn try_new(
        client: Client,
        config: RedshiftConfig,
        handle: Handle,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::new(client, config, handle))
    }

    /// The warehouse. A configuration that [`RedshiftConfig::validate`]
    /// refuses is logged, and every call then fails with
    /// [`TaskError::WarehouseError`] naming the problem (a start never
    /// panics; [`RedshiftWarehouse::try_new`] refuses it up front).
    pub fn new(client: Client, config: RedshiftConfig, handle: Handle) -> Self {
        let invalid = config.validate().err();
        if let Some(e) = &invalid {
            tracing::error!(error = %e, "Redshift configuration");
        }
        Self {
            api: DataApi { client, config },
            handle,
            invalid,
            tx: RefCell::new(None),
        }
    }

    pub fn config(&self) -> &RedshiftConfig {
        &self.api.config
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.tx.borrow().is_some()
    }

    fn ready(&self) -> Result<(), TaskError> {
        match &self.invalid {
            Some(e) => Err(TaskError::WarehouseError(e.to_string())),
            None => Ok(()),
        }
    }

    fn block<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Run one statement now: in the open transaction's session (opening it
    /// with this statement when the transaction has none yet), or on its
    /// own outside a transaction.
    fn statement<'v>(
        &self,
        stmt: &str,
        value_of: impl Fn(&str) -> Option<&'v Value>,
    ) -> Result<Done, TaskError> {
        let bound = bind(stmt, value_of)?;
        self.run_bound(&bound.sql, bound.parameters)
    }

    fn run_bound(&self, sql: &str, parameters: Vec<SqlParameter>) -> Result<Done, TaskError> {
        let session = self.tx.borrow().as_ref().map(|t| t.session.clone());
        let done = match &session {
            None => self.block(self.api.run(sql, parameters, Session::None)),
            Some(None) => self.block(self.api.run(sql, parameters, Session::Open)),
            Some(Some(id)) => self.block(self.api.run(sql, parameters, Session::In(id))),
        }
        .map_err(|f| classify(&f))?;
        if let (Some(None), Some(id)) = (&session, &done.session_id) {
            tracing::debug!(session = %id, "session opened");
            if let Some(tx) = self.tx.borrow_mut().as_mut() {
                tx.session = Some(id.clone());
            }
        }
        Ok(done)
    }

    /// Run one query and read its rows.
    fn rows_of<'v>(
        &self,
        stmt: &str,
        value_of: impl Fn(&str) -> Option<&'v Value>,
    ) -> Result<Vec<Row>, TaskError> {
        let done = self.statement(stmt, value_of)?;
        if !done.has_result_set {
            return Ok(vec![]);
        }
        self.block(self.api.rows(&done.id))
            .map_err(|f| classify(&f))
    }

    /// Make `table`'s pending rows a part of the transaction: its session
    /// temporary table, and the batch statement that moves its rows.
    fn pend(&self, table: &str) -> Result<(), TaskError> {
        let known = self
            .tx
            .borrow()
            .as_ref()
            .map(|t| t.pending.contains(table))
            .ok_or_else(|| TaskError::WarehouseError("no open transaction".into()))?;
        if known {
            return Ok(());
        }
        self.statement(&transaction::create_pending(table), |_| None)?;
        let mut tx = self.tx.borrow_mut();
        let tx = tx.as_mut().expect("checked above");
        tx.pending.insert(table.to_owned());
        tx.batch.push(transaction::move_pending(table));
        Ok(())
    }

    /// Send statements as one batch and wait for it: in the transaction's
    /// session when it has one, else on their own.
    fn send_batch(
        &self,
        sqls: &[String],
        params: &BTreeMap<String, String>,
        session: Option<&str>,
    ) -> Result<(), TaskError> {
        let parameters = params
            .iter()
            .map(|(name, value)| {
                SqlParameter::builder()
                    .name(name)
                    .value(value)
                    .build()
                    .map_err(|e| TaskError::WarehouseError(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.block(self.api.run_batch(sqls, parameters, session))
            .map(|_| ())
            .map_err(|f| classify(&f))
    }
}

/// Look a parameter up in a task's list.
fn by_name<'v>(params: &'v [Param]) -> impl Fn(&str) -> Option<&'v Value> {
    move |name| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

impl Warehouse for RedshiftWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Redshift
    }

    fn begin(&mut self) -> Result<(), TaskError> {
        self.ready()?;
        let mut tx = self.tx.borrow_mut();
        if tx.is_some() {
            return Err(TaskError::WarehouseError(
                "a transaction is already open".into(),
            ));
        }
        *tx = Some(Transaction::default());
        Ok(())
    }

    fn commit(&mut self) -> Result<(), TaskError> {
        self.ready()?;
        let tx = self
            .tx
            .borrow_mut()
            .take()
            .ok_or_else(|| TaskError::WarehouseError("no open transaction to commit".into()))?;
        let batch = tx.checked_batch()?;
        if batch.is_empty() {
            return Ok(());
        }
        self.send_batch(batch, &tx.params, tx.session.as_deref())?;
        tracing::debug!(statements = batch.len(), "transaction committed");
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), TaskError> {
        // Nothing was written to the warehouse's tables: what the session
        // holds ends with it.
        self.tx.borrow_mut().take();
        Ok(())
    }

    fn execute(&mut self, text: Sql, params: &[Param]) -> Result<(), TaskError> {
        self.ready()?;
        let statements = sql::statements(text);
        if self.in_transaction() {
            for stmt in statements {
                match transaction::values_insert(stmt) {
                    Some((table, pending)) => {
                        self.pend(&table)?;
                        self.statement(&pending, by_name(params))?;
                    }
                    None => {
                        let mut tx = self.tx.borrow_mut();
                        let tx = tx.as_mut().expect("in a transaction");
                        tx.push(stmt, by_name(params))?;
                    }
                }
            }
            return Ok(());
        }
        if let [stmt] = statements.as_slice() {
            return self.statement(stmt, by_name(params)).map(|_| ());
        }
        // Several statements outside a transaction: one batch of their own.
        let mut batch = Transaction::default();
        for stmt in statements {
            batch.push(stmt, by_name(params))?;
        }
        self.send_batch(batch.checked_batch()?, &batch.params, None)
    }

    fn query(&mut self, text: Sql, params: &[Param]) -> Result<Vec<Row>, TaskError> {
        self.ready()?;
        if self.in_transaction() {
            return Err(TaskError::WarehouseError(
                "a query in a transaction would not see its writes, which are sent at commit"
                    .into(),
            ));
        }
        let statements = sql::statements(text);
        let [stmt] = statements.as_slice() else {
            return Err(TaskError::WarehouseError(
                "a query must be one statement".into(),
            ));
        };
        self.rows_of(stmt, by_name(params))
    }

    fn copy_day(
        &mut self,
        request: &CopyRequest,
        store: &dyn ObjectStore,
    ) -> Result<u64, TaskError> {
        self.ready()?;
        if !self.in_transaction() {
            return Err(TaskError::WarehouseError(
                "copy_day runs inside a transaction".into(),
            ));
        }
        CopyDay::new(self, request, store)?.run()
    }
}

// ---------------------------------------------------------------------------
// The Data API
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct DataApi {
    client: Client,
    config: RedshiftConfig,
}

/// Which session a statement runs in.
#[derive(Debug, Clone, Copy)]
enum Session<'a> {
    /// None: its own autocommit transaction.
    None,
    /// Open a session with this statement.
    Open,
    /// The session of the open transaction.
    In(&'a str),
}

/// A statement that finished.
#[derive(Debug, Clone, Default, PartialEq)]
struct Done {
    id: String,
    has_result_set: bool,
    /// Rows returned or affected; -1 when unknown.
    result_rows: i64,
    /// `RedshiftQueryId`: the query id of the STL views (not the SYS views').
    query_id: Option<i64>,
    /// `RedshiftPid`: the process that ran it, the SYS views' `session_id`.
    pid: Option<i64>,
    session_id: Option<String>,
}

impl DataApi {
    fn target(&self, req: ExecuteStatementFluentBuilder) -> ExecuteStatementFluentBuilder {
        let req = req.database(&self.config.database);
        match &self.config.target {
            Target::Workgroup(w) => req.workgroup_name(w),
            Target::Cluster {
                cluster_id,
                db_user,
            } => req.cluster_identifier(cluster_id).db_user(db_user),
        }
    }

    /// Submit one statement and wait for it to finish.
    async fn run(
        &self,
        sql: &str,
        parameters: Vec<SqlParameter>,
        session: Session<'_>,
    ) -> Result<Done, Failure> {
        let mut req = self.client.execute_statement().sql(sql);
        if !parameters.is_empty() {
            req = req.set_parameters(Some(parameters));
        }
        req = match session {
            Session::None => self.target(req),
            Session::Open => self.target(req).session_keep_alive_seconds(
                i32::try_from(self.config.session_keep_alive.as_secs()).unwrap_or(i32::MAX),
            ),
            Session::In(id) => req.session_id(id),
        };
        let out = req
            .send()
            .await
            .map_err(|e| sdk_failure("ExecuteStatement", e))?;
        let id = out
            .id
            .ok_or_else(|| Failure::Protocol("ExecuteStatement returned no statement id".into()))?;
        let mut done = self.wait(&id).await?;
        if done.session_id.is_none() {
            done.session_id = out.session_id;
        }
        tracing::debug!(statement = %id, rows = done.result_rows, "statement finished");
        Ok(done)
    }

    /// Submit statements as one `BatchExecuteStatement` (one transaction,
    /// rolled back whole when one fails) and wait for it to finish.
    async fn run_batch(
        &self,
        sqls: &[String],
        parameters: Vec<SqlParameter>,
        session: Option<&str>,
    ) -> Result<Done, Failure> {
        let mut req = self
            .client
            .batch_execute_statement()
            .set_sqls(Some(sqls.to_vec()));
        if !parameters.is_empty() {
            req = req.set_parameters(Some(parameters));
        }
        req = match (session, &self.config.target) {
            (Some(id), _) => req.session_id(id),
            (None, Target::Workgroup(w)) => req.database(&self.config.database).workgroup_name(w),
            (
                None,
                Target::Cluster {
                    cluster_id,
                    db_user,
                },
            ) => req
                .database(&self.config.database)
                .cluster_identifier(cluster_id)
                .db_user(db_user),
        };
        let out = req
            .send()
            .await
            .map_err(|e| sdk_failure("BatchExecuteStatement", e))?;
        let id = out.id.ok_or_else(|| {
            Failure::Protocol("BatchExecuteStatement returned no statement id".into())
        })?;
        let done = self.wait(&id).await?;
        tracing::debug!(statement = %id, statements = sqls.len(), "batch finished");
        Ok(done)
    }

    /// Look at a statement with backoff until it ends; cancel it when it
    /// outlives the time-out, or when it can no longer be looked at.
    async fn wait(&self, id: &str) -> Result<Done, Failure> {
        let timeout = self.config.statement_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delays = self.config.poll.delays();
        loop {
            let d = match self.client.describe_statement().id(id).send().await {
                Ok(d) => d,
                Err(e) => {
                    let failure = sdk_failure("DescribeStatement", e);
                    self.cancel(id).await;
                    return Err(failure);
                }
            };
            let query_id = Some(d.redshift_query_id).filter(|q| *q > 0);
            let pid = Some(d.redshift_pid).filter(|p| *p > 0);
            match d.status() {
                Some(StatusString::Finished) => {
                    return Ok(Done {
                        id: id.to_owned(),
                        has_result_set: d.has_result_set.unwrap_or(false),
                        result_rows: d.result_rows,
                        query_id,
                        pid,
                        session_id: d.session_id,
                    })
                }
                Some(StatusString::Failed) => {
                    return Err(Failure::Statement {
                        error: d.error.unwrap_or_else(|| "(no error message)".into()),
                        query_id,
                        pid,
                    })
                }
                Some(StatusString::Aborted) => return Err(Failure::Aborted { id: id.to_owned() }),
                _ => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                let cancelled = self.cancel(id).await;
                return Err(Failure::TimedOut {
                    after: timeout,
                    cancelled,
                });
            }
            let delay = delays.next().unwrap_or(self.config.poll.max);
            tokio::time::sleep(delay.min(deadline - now)).await;
        }
    }

    /// Ask the Data API to stop a statement; whether it said it did.
    async fn cancel(&self, id: &str) -> bool {
        match self.client.cancel_statement().id(id).send().await {
            Ok(out) => out.status.unwrap_or(false),
            Err(e) => {
                tracing::warn!(statement = id, error = %DisplayErrorContext(&e), "cancel failed");
                false
            }
        }
    }

    /// Every row of a finished statement's result, page by page.
    async fn rows(&self, id: &str) -> Result<Vec<Row>, Failure> {
        let mut rows = vec![];
        let mut columns: Vec<ColumnMetadata> = vec![];
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_statement_result()
                .id(id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_failure("GetStatementResult", e))?;
            if columns.is_empty() {
                columns = page.column_metadata.unwrap_or_default();
            }
            for record in &page.records {
                rows.push(
                    record
                        .iter()
                        .enumerate()
                        .map(|(i, f)| decode(f, columns.get(i)))
                        .collect(),
                );
            }
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(rows),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// A statement ready for the Data API.
#[derive(Debug, Clone, PartialEq)]
struct Bound {
    sql: String,
    parameters: Vec<SqlParameter>,
}

use ovom_core::sql::placeholders;

/// The fixed SQL a value is written as instead of a parameter, for the three
/// kinds that carry no free data (see the module documentation).
fn inline(v: &Value) -> Option<&'static str> {
    match v {
        Value::Null => Some("NULL"),
        Value::Bool(true) => Some("TRUE"),
        Value::Bool(false) => Some("FALSE"),
        Value::Text(s) if s.is_empty() => Some("''"),
        _ => None,
    }
}

/// A parameter's value as the Data API takes it: text Redshift converts.
fn parameter_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(x) if x.is_nan() => "NaN".into(),
        Value::Float(x) if x.is_infinite() => {
            if *x > 0.0 { "Infinity" } else { "-Infinity" }.into()
        }
        Value::Float(x) => x.to_string(),
        Value::Text(s) => s.clone(),
        Value::Date(d) => d.to_string(),
        Value::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        Value::Null | Value::Bool(_) => String::new(),
    }
}

/// Bind a statement's placeholders: each name it uses once, as a Data API
/// parameter, or inlined (see [`inline`]). A placeholder without a value is
/// an error, as with the embedded warehouse.
fn bind<'v>(stmt: &str, value_of: impl Fn(&str) -> Option<&'v Value>) -> Result<Bound, TaskError> {
    let mut parameters = vec![];
    let mut seen = HashSet::new();
    let sql = substitute(stmt, value_of, |name, value| {
        if seen.insert(name.to_owned()) {
            parameters.push(
                SqlParameter::builder()
                    .name(name)
                    .value(parameter_text(value))
                    .build()
                    .map_err(|e| TaskError::WarehouseError(e.to_string()))?,
            );
        }
        Ok(name.to_owned())
    })?;
    Ok(Bound { sql, parameters })
}

/// A statement with each placeholder's value written in place when it
/// carries no data ([`inline`]), else as the parameter name `bound` gives
/// it (called with the placeholder's name and value). A placeholder without
/// a value is an error.
fn substitute<'v>(
    stmt: &str,
    value_of: impl Fn(&str) -> Option<&'v Value>,
    mut bound: impl FnMut(&str, &'v Value) -> Result<String, TaskError>,
) -> Result<String, TaskError> {
    let mut sql = String::with_capacity(stmt.len());
    let mut last = 0;
    for (start, end) in placeholders(stmt) {
        let name = &stmt[start + 1..end];
        let value = value_of(name).ok_or_else(|| {
            TaskError::WarehouseError(format!("no value bound for parameter :{name}"))
        })?;
        sql.push_str(&stmt[last..start]);
        match inline(value) {
            Some(text) => sql.push_str(text),
            None => {
                sql.push(':');
                sql.push_str(&bound(name, value)?);
            }
        }
        last = end;
    }
    sql.push_str(&stmt[last..]);
    Ok(sql)
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// One field of a result, typed by its column's metadata where the Data API
/// sends a string.
fn decode(field: &Field, column: Option<&ColumnMetadata>) -> Value {
    let type_name = column
        .and_then(|c| c.type_name())
        .unwrap_or("")
        .to_ascii_lowercase();
    match field {
        Field::IsNull(_) => Value::Null,
        Field::BooleanValue(b) => Value::Bool(*b),
        Field::LongValue(i) => Value::Int(*i),
        Field::DoubleValue(x) => Value::Float(*x),
        Field::StringValue(s) => decode_text(s, &type_name),
        Field::BlobValue(b) => Value::Text(String::from_utf8_lossy(b.as_ref()).into_owned()),
        _ => Value::Null,
    }
}

fn decode_text(s: &str, type_name: &str) -> Value {
    let text = || Value::Text(s.to_owned());
    match type_name {
        "date" => s.parse().map(Value::Date).unwrap_or_else(|_| text()),
        "timestamp" => s
            .replacen(' ', "T", 1)
            .parse()
            .map(Value::Timestamp)
            .unwrap_or_else(|_| text()),
        "numeric" | "decimal" | "int2" | "int4" | "int8" => {
            if let Ok(i) = s.parse::<i64>() {
                Value::Int(i)
            } else if let Ok(x) = s.parse::<f64>() {
                Value::Float(x)
            } else {
                text()
            }
        }
        "float4" | "float8" => s.parse().map(Value::Float).unwrap_or_else(|_| text()),
        "bool" | "boolean" => match s {
            "true" | "t" => Value::Bool(true),
            "false" | "f" => Value::Bool(false),
            _ => text(),
        },
        _ => text(),
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a Data API call or a statement did not succeed.
#[derive(Debug, Clone, PartialEq)]
enum Failure {
    /// The service answered with an error.
    Service {
        operation: &'static str,
        code: Option<String>,
        message: String,
        status: Option<u16>,
    },
    /// No usable answer: dispatch failure, time-out, I/O, unreadable response.
    Transport {
        operation: &'static str,
        detail: String,
    },
    /// The request could not be built (a bug here).
    Request {
        operation: &'static str,
        detail: String,
    },
    /// The statement ran and failed.
    Statement {
        error: String,
        query_id: Option<i64>,
        /// The process that ran it (`RedshiftPid`).
        pid: Option<i64>,
    },
    /// The statement was stopped.
    Aborted { id: String },
    /// The statement outlived the time-out.
    TimedOut { after: Duration, cancelled: bool },
    /// An answer without something the Data API always sends.
    Protocol(String),
}

fn sdk_failure<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(se) => Failure::Service {
            operation,
            code: se.err().code().map(str::to_owned),
            message: se
                .err()
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| DisplayErrorContext(&err).to_string()),
            status: Some(se.raw().status().as_u16()),
        },
        SdkError::ConstructionFailure(_) => Failure::Request {
            operation,
            detail: DisplayErrorContext(&err).to_string(),
        },
        _ => Failure::Transport {
            operation,
            detail: DisplayErrorContext(&err).to_string(),
        },
    }
}

/// Service error codes that say: not now, later.
const TRANSIENT_CODES: [&str; 12] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ActiveStatementsExceededException",
    "ActiveSessionsExceededException",
    "ActiveWaitingRequestsExceededException",
    "InternalServerException",
    "DatabaseConnectionException",
    "QueryTimeoutException",
    "ExecuteStatementException",
    "BatchExecuteStatementException",
    "ServiceUnavailableException",
];

/// Words of a `ValidationException` about a warehouse that is not ready.
const NOT_READY: [&str; 6] = [
    "resuming",
    "paused",
    "modifying",
    "not available",
    "unavailable",
    "try again",
];

/// Words of a failed statement's error that a retry can cure: conflicts of
/// concurrent writers, a lost connection, a warehouse starting up, S3
/// throttling a `COPY`.
const TRANSIENT_SQL: [&str; 10] = [
    "serializable isolation violation",
    "could not serialize",
    "deadlock detected",
    "concurrent transaction",
    "concurrently updated",
    "terminating connection",
    "connection reset",
    "server closed the connection",
    "the database system is starting up",
    "reduce your request rate",
];

/// Map a failure into the task error contract (the table in the module
/// documentation).
fn classify(failure: &Failure) -> TaskError {
    let contains_any = |text: &str, words: &[&str]| {
        let lower = text.to_ascii_lowercase();
        words.iter().any(|w| lower.contains(w))
    };
    match failure {
        Failure::Service {
            operation,
            code,
            message,
            status,
        } => {
            let code = code.as_deref().unwrap_or("");
            let text = format!("{operation}: {code}: {message}");
            let transient = TRANSIENT_CODES.contains(&code)
                || status.is_some_and(|s| s >= 500)
                || (code == "ValidationException" && contains_any(message, &NOT_READY));
            if transient {
                TaskError::WarehouseBusy(text)
            } else {
                TaskError::WarehouseError(text)
            }
        }
        Failure::Transport { operation, detail } => {
            TaskError::WarehouseBusy(format!("{operation}: no answer: {detail}"))
        }
        Failure::Request { operation, detail } => {
            TaskError::WarehouseError(format!("{operation}: {detail}"))
        }
        Failure::Statement { error, .. } => {
            if contains_any(error, &TRANSIENT_SQL) {
                TaskError::WarehouseBusy(error.clone())
            } else {
                TaskError::WarehouseError(error.clone())
            }
        }
        Failure::Aborted { id } => {
            TaskError::WarehouseBusy(format!("statement {id} was aborted before it finished"))
        }
        Failure::TimedOut { after, cancelled } => TaskError::WarehouseBusy(format!(
            "statement still running after {} s ({})",
            after.as_secs_f64(),
            if *cancelled {
                "cancelled"
            } else {
                "cancel not confirmed"
            }
        )),
        Failure::Protocol(detail) => TaskError::WarehouseError(detail.clone()),
    }
}

// ---------------------------------------------------------------------------
// copy_day
// ---------------------------------------------------------------------------

/// The contract's fields of a source as the `COPY` target types them, in the
/// contract's order.
struct Layout {
    source: Source,
    temp: &'static str,
    fields: &'static [(&'static str, &'static str)],
}

const PATIENT_LAYOUT: Layout = Layout {
    source: Source::PatientData,
    temp: "ovom_copy_patient_data",
    fields: &[
        ("patient_id", "BIGINT"),
        ("first_name", "VARCHAR(256)"),
        ("last_name", "VARCHAR(256)"),
        ("sex", "VARCHAR(1)"),
        ("age", "INTEGER"),
        ("height", "INTEGER"),
        ("weight", "DOUBLE PRECISION"),
        ("address", "VARCHAR(1024)"),
        ("registered_at", "TIMESTAMPTZ"),
    ],
};

const TEST_LAYOUT: Layout = Layout {
    source: Source::LogData,
    temp: "ovom_copy_log_data",
    fields: &[
        ("test_id", "VARCHAR(64)"),
        ("patient_id", "BIGINT"),
        ("doc_id", "BIGINT"),
        ("doc_name", "VARCHAR(256)"),
        ("clinic", "VARCHAR(256)"),
        ("lab_id", "BIGINT"),
        ("lab_name", "VARCHAR(256)"),
        ("city", "VARCHAR(256)"),
        ("ts", "TIMESTAMPTZ"),
        ("ap_hi", "INTEGER"),
        ("ap_lo", "INTEGER"),
        ("cholesterol", "INTEGER"),
        ("gluc", "INTEGER"),
        ("smoke", "INTEGER"),
        ("alco", "INTEGER"),
        ("active", "INTEGER"),
        ("cardio", "INTEGER"),
    ],
};

/// The rows `sys_load_error_detail` holds for one `COPY`: those of the
/// process that ran it (`session_id`, "the process identifier of the process
/// running the copy", is DescribeStatement's `RedshiftPid`) and of the file
/// it read (`file_name`, CHAR(256)). Each run's `COPY` reads a file of its
/// own (`manifests/<source>/<day>/<run_id>/NNNNN.json`), and one task's
/// session copies a file once. The view's `query_id` is not the Data API's
/// `RedshiftQueryId` (the SYS views number queries their own way), so it
/// cannot be matched.
const COPY_ERRORS_SQL: &str =
    "SELECT line_number, TRIM(column_name) AS column_name, TRIM(error_message) AS error_message
FROM sys_load_error_detail
WHERE session_id = CAST(:copy_pid AS INTEGER) AND TRIM(file_name) = LEFT(:copy_file, 256)
ORDER BY line_number";

/// Quarantine rows written a statement at a time, and the parameter bytes
/// one statement carries at most (the raw lines are the bulk).
const QUARANTINE_BATCH_ROWS: usize = 50;
const QUARANTINE_BATCH_BYTES: usize = 48 * 1024;

/// How often the load error view is read before lines still unaccounted
/// for fail the task.
const ERROR_VIEW_ATTEMPTS: usize = 6;

/// Redshift's largest `MAXERROR` (COPY parameter reference).
const MAX_MAXERROR: u32 = 100_000;

/// Length of `quarantine.error`, in bytes.
const MAX_ERROR_BYTES: usize = 1024;

impl Layout {
    fn of(source: Source) -> &'static Layout {
        match source {
            Source::PatientData => &PATIENT_LAYOUT,
            Source::LogData => &TEST_LAYOUT,
        }
    }

    fn names(&self) -> String {
        self.fields
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The columns `COPY` fills: the contract's fields, then the line number.
    fn copy_columns(&self) -> String {
        format!("{}, line_no", self.names())
    }

    fn create_temp(&self) -> String {
        let columns: Vec<String> = self
            .fields
            .iter()
            .map(|(n, t)| format!("{n} {t} NOT NULL"))
            .collect();
        format!(
            "CREATE TEMP TABLE {} ({}, line_no BIGINT NOT NULL)",
            self.temp,
            columns.join(", ")
        )
    }

    fn insert_staging(&self) -> String {
        let select: Vec<String> = self
            .fields
            .iter()
            .map(|(n, t)| {
                if *t == "TIMESTAMPTZ" {
                    format!("{n} AT TIME ZONE 'UTC'")
                } else {
                    (*n).to_owned()
                }
            })
            .collect();
        format!(
            "INSERT INTO {} (logical_date, source_file, line_no, {}, run_id)\nSELECT CAST(:logical_date AS DATE), :source_file, line_no, {}, :run_id\nFROM {}",
            transaction::pending_table(self.source.staging_table()),
            self.names(),
            select.join(", "),
            self.temp
        )
    }

    fn copy(
        &self,
        manifest: &S3Literal,
        role: &str,
        jsonpaths: &S3Literal,
        max_errors: u32,
    ) -> String {
        format!(
            "COPY {} ({})\nFROM {}\nIAM_ROLE '{}'\nFORMAT AS JSON {}\nMANIFEST\nTIMEFORMAT 'auto'\nMAXERROR {}\nCOMPUPDATE OFF\nSTATUPDATE OFF",
            self.temp,
            self.copy_columns(),
            manifest.0,
            role,
            jsonpaths.0,
            max_errors
        )
    }

    fn count(&self) -> String {
        format!("SELECT COUNT(*) FROM {}", self.temp)
    }

    fn clear(&self) -> String {
        format!("DELETE FROM {}", self.temp)
    }

    fn drop(&self) -> String {
        format!("DROP TABLE {}", self.temp)
    }

    fn jsonpaths(&self) -> Vec<u8> {
        let paths: Vec<String> = self
            .fields
            .iter()
            .map(|(n, _)| *n)
            .chain([LINE_MEMBER])
            .map(|n| format!("$['{n}']"))
            .collect();
        serde_json::to_vec_pretty(&serde_json::json!({ "jsonpaths": paths }))
            .expect("JSON of strings")
    }

    /// The contract's reason a line is malformed, if it is.
    fn contract_error(&self, line: &[u8]) -> Option<String> {
        match self.source {
            Source::PatientData => contract::parse_patient(line).err().map(|e| e.to_string()),
            Source::LogData => contract::parse_test(line).err().map(|e| e.to_string()),
        }
    }
}

/// Whether an S3 key may be written into a `COPY` statement between single
/// quotes: 1 to 1024 bytes of letters, digits and `/ - _ . ! * ( ) = :`. The
/// deployment template's `DataPrefix` pattern allows a subset of these.
pub fn is_copy_key(key: &str) -> bool {
    (1..=1024).contains(&key.len())
        && all_bytes(key, |b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'/' | b'-' | b'_' | b'.' | b'!' | b'*' | b'(' | b')' | b'=' | b':'
                )
        })
}

/// A one-entry COPY manifest.
fn manifest(url: &str, size: u64) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "entries": [{ "url": url, "mandatory": true, "meta": { "content_length": size } }]
    }))
    .expect("JSON of strings and numbers")
}

/// An `s3://` URL checked to be safe between single quotes, quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct S3Literal(String);

impl S3Literal {
    fn new(url: &str) -> Result<Self, TaskError> {
        let refuse = |why: &str| {
            let shown: String = url.chars().take(120).collect();
            Err(TaskError::WarehouseError(format!(
                "{shown:?} cannot be given to COPY: {why}"
            )))
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            return refuse("not an s3:// URL (COPY reads S3)");
        };
        let Some((bucket, key)) = rest.split_once('/') else {
            return refuse("no key");
        };
        let bucket_ok = (3..=63).contains(&bucket.len())
            && all_bytes(bucket, |b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
            })
            && bucket.as_bytes()[0].is_ascii_alphanumeric()
            && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
        if !bucket_ok {
            return refuse("not an S3 bucket name");
        }
        if !is_copy_key(key) {
            return refuse("the key may hold only letters, digits and / - _ . ! * ( ) = :");
        }
        Ok(Self(format!("'{url}'")))
    }
}

/// Where a `COPY`'s rejected lines are found in `sys_load_error_detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Load {
    /// `RedshiftPid` of the `COPY`.
    pid: i64,
    /// The URL of the file it read.
    file: String,
}

/// A malformed line of the day.
#[derive(Debug, Clone, PartialEq)]
struct Malformed {
    file_index: usize,
    file: String,
    line: u64,
    error: String,
    raw: String,
}

/// The day's error budget, as the embedded warehouse counts it: the task
/// fails when more lines than `max` are malformed, naming the first one.
struct Budget {
    max: u32,
    count: u64,
    first: Option<Malformed>,
}

impl Budget {
    fn remaining(&self) -> u32 {
        u64::from(self.max)
            .saturating_sub(self.count)
            .try_into()
            .unwrap_or(0)
    }

    /// The `MAXERROR` of the next `COPY`. A load fails when its errors
    /// reach `MAXERROR` (COPY parameter reference: "If the load returns the
    /// error_count number of errors or greater, the load fails"; 0 and 1
    /// both fail at the first), so it is one more than the lines the budget
    /// still tolerates, within Redshift's maximum of 100,000. At that bound
    /// (a budget of 100,000 with none used) a file with 100,000 lines that
    /// `COPY` rejects fails one line early.
    fn maxerror(&self) -> u32 {
        self.remaining().saturating_add(1).min(MAX_MAXERROR)
    }

    fn note_first(&mut self, m: &Malformed) {
        let earlier = match &self.first {
            None => true,
            Some(f) => (m.file_index, m.line) < (f.file_index, f.line),
        };
        if earlier {
            self.first = Some(m.clone());
        }
    }

    fn add(&mut self, m: &Malformed) {
        self.count += 1;
        self.note_first(m);
    }

    fn exceeded(&self) -> bool {
        self.count > u64::from(self.max)
    }

    fn error(&self) -> TaskError {
        let Some(first) = &self.first else {
            return TaskError::WarehouseError("malformed input, but no line is known".into());
        };
        TaskError::MalformedInput {
            file: first.file.clone(),
            line: first.line,
            reason: if self.max == 0 {
                first.error.clone()
            } else {
                format!("{} (more than {} malformed lines)", first.error, self.max)
            },
        }
    }
}

/// Cut text to at most `max` bytes, at a character boundary.
fn truncate_bytes(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// One `copy_day`.
struct CopyDay<'a> {
    wh: &'a RedshiftWarehouse,
    request: &'a CopyRequest,
    store: &'a dyn ObjectStore,
    layout: &'static Layout,
    /// `manifests/<source>/<YYYY-MM-DD>/<run_id>`.
    base: String,
    role: String,
    budget: Budget,
}

/// The member each line of the copy `COPY` reads carries its line number in,
/// mapped to the temporary table's `line_no` by the jsonpaths file.
const LINE_MEMBER: &str = "ovom_line_no";

/// One file's lines, as the contract numbers them, and what `COPY` reads.
struct FileLines {
    count: u64,
    /// Line number → text.
    lines: HashMap<u64, Vec<u8>>,
    /// The lines the contract refuses, with its reason, in order.
    refused: Vec<(u64, String)>,
    /// The bytes `COPY` reads: the file with each refused line emptied (`COPY`
    /// skips a blank line as whitespace between objects, so every other line
    /// keeps its number), without a byte-order mark, and each record given
    /// its line number as the member [`LINE_MEMBER`].
    copy: Vec<u8>,
}

impl FileLines {
    fn read(bytes: &[u8], layout: &Layout) -> Self {
        let mut lines = HashMap::new();
        let mut refused = vec![];
        let mut count = 0;
        let mut copy = Vec::with_capacity(bytes.len() + bytes.len() / 8);
        for (n, line) in contract::lines(bytes) {
            count = n;
            match layout.contract_error(line) {
                Some(reason) => refused.push((n, reason)),
                None => numbered(line, n, &mut copy),
            }
            copy.push(b'\n');
            lines.insert(n, line.to_vec());
        }
        Self {
            count,
            lines,
            refused,
            copy,
        }
    }
}

/// Append a record the contract accepted, with its line number as the
/// member [`LINE_MEMBER`]: written right after the opening brace, or, when
/// the record has a member of that name itself, the record written anew
/// without it (its values are unchanged: JSON numbers round-trip).
fn numbered(line: &[u8], n: u64, out: &mut Vec<u8>) {
    let mut record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).unwrap_or_default();
    if record.remove(LINE_MEMBER).is_some() {
        record.insert(LINE_MEMBER.to_owned(), n.into());
        out.extend_from_slice(&serde_json::to_vec(&record).unwrap_or_default());
        return;
    }
    let brace = line.iter().position(|b| *b == b'{').unwrap_or(0);
    out.extend_from_slice(&line[..=brace]);
    out.extend_from_slice(format!("\"{LINE_MEMBER}\":{n},").as_bytes());
    out.extend_from_slice(&line[brace + 1..]);
}

impl<'a> CopyDay<'a> {
    fn new(
        wh: &'a RedshiftWarehouse,
        request: &'a CopyRequest,
        store: &'a dyn ObjectStore,
    ) -> Result<Self, TaskError> {
        let role = wh.api.config.copy_role_arn.clone();
        if !is_role_arn(&role) {
            return Err(TaskError::WarehouseError(
                "the COPY role is not an IAM role ARN".into(),
            ));
        }
        Ok(Self {
            wh,
            request,
            store,
            layout: Layout::of(request.source),
            base: format!(
                "manifests/{}/{}/{}",
                request.source.folder(),
                request.logical_date,
                request.run_id.as_str()
            ),
            role,
            budget: Budget {
                max: request.max_errors,
                count: 0,
                first: None,
            },
        })
    }

    /// Wait the next delay of the poll backoff (the sleep is made on the
    /// runtime: a timer needs its context).
    fn pause(&self, delays: &mut impl Iterator<Item = Duration>) {
        let delay = delays.next().unwrap_or(self.wh.api.config.poll.max);
        self.wh
            .block(async move { tokio::time::sleep(delay).await });
    }

    /// The `s3://` URL of a key of the store, checked for `COPY`.
    fn url_of(&self, key: &str) -> Result<S3Literal, TaskError> {
        let url = self.store.url(key);
        if !url.ends_with(key) {
            return Err(TaskError::WarehouseError(format!(
                "the object store addresses {key:?} as {url:?}"
            )));
        }
        S3Literal::new(&url)
    }

    fn exec(&self, stmt: &str, params: &[(&str, Value)]) -> Result<Done, TaskError> {
        self.wh.statement(stmt, |name| {
            params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
        })
    }

    fn rows(&self, stmt: &str, params: &[(&str, Value)]) -> Result<Vec<Row>, TaskError> {
        self.wh.rows_of(stmt, |name| {
            params.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
        })
    }

    fn run(mut self) -> Result<u64, TaskError> {
        let jsonpaths_key = format!("{}/jsonpaths.json", self.base);
        self.store.put(&jsonpaths_key, &self.layout.jsonpaths())?;
        let jsonpaths = self.url_of(&jsonpaths_key)?;
        // The rows wait in the session until the task's batch moves them.
        self.wh.pend(self.request.source.staging_table())?;
        self.wh.pend(QUARANTINE)?;
        self.exec(&self.layout.create_temp(), &[])?;
        let mut lines_read = 0;
        for (index, file) in self.request.files.iter().enumerate() {
            lines_read += self.file(index, &file.key, &jsonpaths)?;
        }
        self.exec(&self.layout.drop(), &[])?;
        tracing::debug!(
            source = self.request.source.folder(),
            logical_date = %self.request.logical_date,
            files = self.request.files.len(),
            lines_read,
            quarantined = self.budget.count,
            "copied day"
        );
        Ok(lines_read)
    }

    /// A rejected line as a quarantine row: the contract's reason when it
    /// rejects the line too, else Redshift's.
    fn malformed(
        &self,
        index: usize,
        key: &str,
        lines: &FileLines,
        line: u64,
        redshift: &str,
    ) -> Malformed {
        let (error, raw) = match lines.lines.get(&line) {
            Some(text) => (
                self.layout
                    .contract_error(text)
                    .unwrap_or_else(|| redshift.to_owned()),
                contract::raw_text(text),
            ),
            // A line number the file does not have: Redshift's word only.
            None => (redshift.to_owned(), String::new()),
        };
        Malformed {
            file_index: index,
            file: key.to_owned(),
            line,
            error: truncate_bytes(error, MAX_ERROR_BYTES),
            raw,
        }
    }

    /// The rejected lines of one `COPY`, one per line number, as
    /// `(line, Redshift's reason)`.
    fn copy_errors(&self, load: &Load, in_session: bool) -> Result<Vec<(u64, String)>, TaskError> {
        let params = [
            ("copy_pid", Value::Int(load.pid)),
            ("copy_file", Value::Text(load.file.clone())),
        ];
        let rows = if in_session {
            self.rows(COPY_ERRORS_SQL, &params)?
        } else {
            let bound = bind(COPY_ERRORS_SQL, |n| {
                params.iter().find(|(p, _)| *p == n).map(|(_, v)| v)
            })?;
            let api = &self.wh.api;
            self.wh
                .block(async {
                    let done = api.run(&bound.sql, bound.parameters, Session::None).await?;
                    api.rows(&done.id).await
                })
                .map_err(|f| classify(&f))?
        };
        let mut errors: BTreeMap<u64, String> = BTreeMap::new();
        for row in rows {
            let line = row.first().and_then(Value::as_i64).unwrap_or(0).max(0) as u64;
            let column = row.get(1).map(Value::to_string).unwrap_or_default();
            let message = row.get(2).map(Value::to_string).unwrap_or_default();
            errors.entry(line).or_insert_with(|| {
                if column.is_empty() || column == "NULL" {
                    message
                } else {
                    format!("{column}: {message}")
                }
            });
        }
        Ok(errors.into_iter().collect())
    }

    /// Copy one file; how many lines it holds.
    fn file(&mut self, index: usize, key: &str, jsonpaths: &S3Literal) -> Result<u64, TaskError> {
        let lines = FileLines::read(&self.store.get(key)?, self.layout);
        let mut quarantined: Vec<Malformed> = vec![];
        for (line, reason) in &lines.refused {
            let m = self.malformed(index, key, &lines, *line, reason);
            self.budget.add(&m);
            quarantined.push(m);
        }
        if self.budget.exceeded() {
            return Err(self.budget.error());
        }

        // COPY reads the copy: refused lines emptied, lines numbered.
        let copy_key = format!("{}/{index:05}.json", self.base);
        self.store.put(&copy_key, &lines.copy)?;
        let url = self.store.url(&copy_key);
        let size = lines.copy.len() as u64;
        let manifest_key = format!("{}/{index:05}.manifest", self.base);
        self.store.put(&manifest_key, &manifest(&url, size))?;
        let copy = self.layout.copy(
            &self.url_of(&manifest_key)?,
            &self.role,
            jsonpaths,
            self.budget.maxerror(),
        );
        let session = self
            .wh
            .tx
            .borrow()
            .as_ref()
            .and_then(|t| t.session.clone())
            .ok_or_else(|| TaskError::WarehouseError("COPY runs in the task's session".into()))?;
        let done = match self
            .wh
            .block(self.wh.api.run(&copy, vec![], Session::In(&session)))
        {
            Ok(done) => done,
            Err(Failure::Statement { error, pid, .. }) if is_load_failure(&error) => {
                let load = pid.map(|pid| Load {
                    pid,
                    file: url.clone(),
                });
                return Err(self.over_budget(index, key, &lines, &error, load));
            }
            Err(f) => return Err(classify(&f)),
        };

        let loaded = self
            .rows(&self.layout.count(), &[])?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .max(0) as u64;
        let load = done.pid.map(|pid| Load {
            pid,
            file: url.clone(),
        });
        let errors = self.accounted(key, &lines, loaded, load)?;
        for (line, reason) in &errors {
            let m = self.malformed(index, key, &lines, *line, reason);
            self.budget.add(&m);
            quarantined.push(m);
        }

        let day = Value::Text(self.request.logical_date.to_string());
        let run_id = Value::Text(self.request.run_id.as_str().to_owned());
        let source_file = Value::Text(key.to_owned());
        self.exec(
            &self.layout.insert_staging(),
            &[
                ("logical_date", day.clone()),
                ("source_file", source_file.clone()),
                ("run_id", run_id.clone()),
            ],
        )?;
        self.exec(&self.layout.clear(), &[])?;
        quarantined.sort_by_key(|m| m.line);
        self.quarantine(&quarantined, &day, &source_file, &run_id)?;
        Ok(lines.count)
    }

    /// The lines `COPY` rejected, once rows loaded + lines it rejected +
    /// lines the contract refused make up the file.
    fn accounted(
        &self,
        key: &str,
        lines: &FileLines,
        loaded: u64,
        load: Option<Load>,
    ) -> Result<Vec<(u64, String)>, TaskError> {
        let refused = lines.refused.len() as u64;
        let mut delays = self.wh.api.config.poll.delays();
        for attempt in 1..=ERROR_VIEW_ATTEMPTS {
            if loaded + refused == lines.count {
                return Ok(vec![]);
            }
            let Some(load) = &load else {
                return Err(TaskError::WarehouseError(format!(
                    "COPY of {key} loaded {loaded} of {} lines and the Data API gave no process id to find the others by",
                    lines.count
                )));
            };
            let errors = self.copy_errors(load, true)?;
            let accounted = loaded + refused + errors.len() as u64;
            if accounted == lines.count {
                return Ok(errors);
            }
            if accounted > lines.count {
                return Err(TaskError::WarehouseError(format!(
                    "COPY of {key} loaded {loaded} rows and rejected {} lines, more than the file's {} lines",
                    errors.len(),
                    lines.count
                )));
            }
            if attempt == ERROR_VIEW_ATTEMPTS {
                return Err(TaskError::WarehouseBusy(format!(
                    "COPY of {key} loaded {loaded} rows, sys_load_error_detail lists {} rejected lines, and {} of the file's {} lines are not accounted for",
                    errors.len(),
                    lines.count - accounted,
                    lines.count
                )));
            }
            self.pause(&mut delays);
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// The error of a `COPY` that failed on more malformed lines than the
    /// budget: the day's first malformed line. The transaction is aborted,
    /// so the load errors are read outside it.
    fn over_budget(
        &mut self,
        index: usize,
        key: &str,
        lines: &FileLines,
        copy_error: &str,
        load: Option<Load>,
    ) -> TaskError {
        let mut first = None;
        if let Some(load) = &load {
            let mut delays = self.wh.api.config.poll.delays();
            for attempt in 1..=ERROR_VIEW_ATTEMPTS {
                match self.copy_errors(load, false) {
                    Ok(errors) if !errors.is_empty() => {
                        first = errors.into_iter().next();
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the COPY's load errors failed");
                        break;
                    }
                }
                if attempt < ERROR_VIEW_ATTEMPTS {
                    self.pause(&mut delays);
                }
            }
        }
        match first {
            Some((line, reason)) => {
                let m = self.malformed(index, key, lines, line, &reason);
                self.budget.add(&m);
            }
            None if self.budget.first.is_none() => {
                self.budget.first = Some(Malformed {
                    file_index: index,
                    file: key.to_owned(),
                    line: 0,
                    error: copy_error.to_owned(),
                    raw: String::new(),
                });
            }
            None => {}
        }
        self.budget.error()
    }

    /// Insert quarantine rows, a batch a statement, every value a parameter.
    fn quarantine(
        &self,
        rows: &[Malformed],
        day: &Value,
        source_file: &Value,
        run_id: &Value,
    ) -> Result<(), TaskError> {
        let mut start = 0;
        while start < rows.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < rows.len()
                && end - start < QUARANTINE_BATCH_ROWS
                && (end == start
                    || bytes + rows[end].raw.len() + rows[end].error.len()
                        <= QUARANTINE_BATCH_BYTES)
            {
                bytes += rows[end].raw.len() + rows[end].error.len();
                end += 1;
            }
            let (stmt, values) = quarantine_insert(&rows[start..end]);
            let mut values: HashMap<String, Value> = values;
            values.insert("logical_date".into(), day.clone());
            values.insert(
                "source".into(),
                Value::Text(self.request.source.folder().into()),
            );
            values.insert("source_file".into(), source_file.clone());
            values.insert("run_id".into(), run_id.clone());
            self.wh.statement(&stmt, |name| values.get(name))?;
            start = end;
        }
        Ok(())
    }
}

/// The table of malformed lines.
const QUARANTINE: &str = "quarantine";

/// `INSERT INTO quarantine` of some rows, and the rows' own parameters
/// (`line_<i>`, `error_<i>`, `raw_<i>`).
fn quarantine_insert(rows: &[Malformed]) -> (String, HashMap<String, Value>) {
    let mut tuples = vec![];
    let mut values = HashMap::new();
    for (i, m) in rows.iter().enumerate() {
        tuples.push(format!(
            "(CAST(:logical_date AS DATE), :source, :source_file, CAST(:line_{i} AS BIGINT), :error_{i}, :raw_{i}, :run_id)"
        ));
        values.insert(format!("line_{i}"), Value::Int(m.line as i64));
        values.insert(format!("error_{i}"), Value::Text(m.error.clone()));
        values.insert(format!("raw_{i}"), Value::Text(m.raw.clone()));
    }
    (
        format!(
            "INSERT INTO {} (logical_date, source, source_file, line_no, error, \"raw\", run_id)\nVALUES {}",
            transaction::pending_table(QUARANTINE),
            tuples.join(",\n")
        ),
        values,
    )
}

/// Whether a `COPY` failed because of its input's lines.
fn is_load_failure(error: &str) -> bool {
    let lower = error.to_ascii_lowercase();
    lower.contains("sys_load_error_detail") || lower.contains("stl_load_errors")
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::{Arc, Mutex};

    use aws_sdk_redshiftdata::config::retry::RetryConfig;
    use aws_sdk_redshiftdata::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_redshiftdata::operation::cancel_statement::{
        CancelStatementError, CancelStatementOutput,
    };
    use aws_sdk_redshiftdata::operation::describe_statement::{
        DescribeStatementError, DescribeStatementOutput,
    };
    use aws_sdk_redshiftdata::operation::execute_statement::{
        ExecuteStatementError, ExecuteStatementInput, ExecuteStatementOutput,
    };
    use aws_sdk_redshiftdata::operation::get_statement_result::{
        GetStatementResultError, GetStatementResultOutput,
    };
    use aws_smithy_mocks::{
        create_mock_http_client, mock, MockResponse, MockResponseInterceptor, RuleMode,
    };
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use ovom_core::params::{DimMode, Model};
    use ovom_core::ports::{in_transaction, ObjectMeta};

    const ROLE: &str = "arn:aws:iam::123456789012:role/ovom-copy";
    const SESSION: &str = "5f7a1c2e-0000-4000-8000-000000000001";

    // -- A fake Data API ----------------------------------------------------

    /// What the fake does with one statement.
    #[derive(Debug, Clone, Default)]
    struct Plan {
        /// `DescribeStatement` answers `STARTED` this many times first.
        pending: u32,
        outcome: Outcome,
        query_id: i64,
        columns: Vec<ColumnMetadata>,
        /// Result pages; a result set when there is at least one.
        pages: Vec<Vec<Vec<Field>>>,
    }

    #[derive(Debug, Clone, Default)]
    enum Outcome {
        #[default]
        Finished,
        Failed(String),
        /// Runs until cancelled.
        Never,
        /// `ExecuteStatement` itself answers with this HTTP error.
        Reject {
            status: u16,
            code: &'static str,
            message: &'static str,
        },
    }

    fn finished() -> Plan {
        Plan::default()
    }

    fn result(columns: &[(&str, &str)], pages: Vec<Vec<Vec<Field>>>) -> Plan {
        Plan {
            columns: columns
                .iter()
                .map(|(n, t)| ColumnMetadata::builder().name(*n).type_name(*t).build())
                .collect(),
            pages,
            ..Plan::default()
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Call {
        Execute(Exec),
        Describe(String),
        Result { id: String, token: Option<String> },
        Cancel(String),
    }

    /// One `ExecuteStatement` request, as sent.
    #[derive(Debug, Clone, PartialEq, Default)]
    struct Exec {
        sql: String,
        params: Vec<(String, String)>,
        session: Option<String>,
        workgroup: Option<String>,
        cluster: Option<String>,
        db_user: Option<String>,
        database: Option<String>,
        keep_alive: Option<i32>,
    }

    type Planner = Box<dyn FnMut(&Exec) -> Plan + Send>;

    struct Fake {
        calls: Vec<Call>,
        statements: HashMap<String, Running>,
        next: u32,
        planner: Planner,
    }

    struct Running {
        plan: Plan,
        looks: u32,
        cancelled: bool,
        session: Option<String>,
    }

    fn http_error(status: u16, code: &str, message: &str) -> HttpResponse {
        let body = serde_json::json!({ "__type": code, "message": message }).to_string();
        let mut response =
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.1");
        response
    }

    impl Fake {
        fn execute(
            &mut self,
            req: &ExecuteStatementInput,
        ) -> MockResponse<ExecuteStatementOutput, ExecuteStatementError> {
            let exec = Exec {
                sql: req.sql().unwrap_or_default().to_owned(),
                params: req
                    .parameters
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
                session: req.session_id().map(str::to_owned),
                workgroup: req.workgroup_name().map(str::to_owned),
                cluster: req.cluster_identifier().map(str::to_owned),
                db_user: req.db_user().map(str::to_owned),
                database: req.database().map(str::to_owned),
                keep_alive: req.session_keep_alive_seconds(),
            };
            self.calls.push(Call::Execute(exec.clone()));
            let plan = (self.planner)(&exec);
            if let Outcome::Reject {
                status,
                code,
                message,
            } = plan.outcome
            {
                return MockResponse::Http(http_error(status, code, message));
            }
            self.next += 1;
            let id = format!("stmt-{}", self.next);
            let session = exec
                .session
                .clone()
                .or(exec.keep_alive.map(|_| SESSION.to_owned()));
            self.statements.insert(
                id.clone(),
                Running {
                    plan,
                    looks: 0,
                    cancelled: false,
                    session: session.clone(),
                },
            );
            MockResponse::Output(
                ExecuteStatementOutput::builder()
                    .id(id)
                    .set_session_id(session)
                    .build(),
            )
        }

        fn describe(
            &mut self,
            id: &str,
        ) -> MockResponse<DescribeStatementOutput, DescribeStatementError> {
            self.calls.push(Call::Describe(id.to_owned()));
            let s = self
                .statements
                .get_mut(id)
                .expect("a statement the fake ran");
            s.looks += 1;
            let out = DescribeStatementOutput::builder()
                .id(id)
                .redshift_query_id(s.plan.query_id)
                .redshift_pid(PID)
                .set_session_id(s.session.clone());
            let out = if s.cancelled {
                out.status(StatusString::Aborted)
            } else if s.looks <= s.plan.pending {
                out.status(StatusString::Started)
            } else {
                match &s.plan.outcome {
                    Outcome::Finished => out
                        .status(StatusString::Finished)
                        .has_result_set(!s.plan.pages.is_empty())
                        .result_rows(s.plan.pages.iter().map(Vec::len).sum::<usize>() as i64),
                    Outcome::Failed(e) => out.status(StatusString::Failed).error(e),
                    Outcome::Never => out.status(StatusString::Started),
                    Outcome::Reject { .. } => unreachable!("never submitted"),
                }
            };
            MockResponse::Output(out.build().unwrap())
        }

        fn result(
            &mut self,
            id: &str,
            token: Option<&str>,
        ) -> MockResponse<GetStatementResultOutput, GetStatementResultError> {
            self.calls.push(Call::Result {
                id: id.to_owned(),
                token: token.map(str::to_owned),
            });
            let s = &self.statements[id];
            let page: usize = token.map_or(0, |t| t.trim_start_matches("page-").parse().unwrap());
            let next = (page + 1 < s.plan.pages.len()).then(|| format!("page-{}", page + 1));
            MockResponse::Output(
                GetStatementResultOutput::builder()
                    .set_records(Some(s.plan.pages.get(page).cloned().unwrap_or_default()))
                    .set_column_metadata((page == 0).then(|| s.plan.columns.clone()))
                    .set_next_token(next)
                    .build()
                    .unwrap(),
            )
        }

        fn cancel(
            &mut self,
            id: &str,
        ) -> MockResponse<CancelStatementOutput, CancelStatementError> {
            self.calls.push(Call::Cancel(id.to_owned()));
            if let Some(s) = self.statements.get_mut(id) {
                s.cancelled = true;
            }
            MockResponse::Output(CancelStatementOutput::builder().status(true).build())
        }
    }

    type Shared = Arc<Mutex<Fake>>;

    fn fake(planner: impl FnMut(&Exec) -> Plan + Send + 'static) -> Shared {
        Arc::new(Mutex::new(Fake {
            calls: vec![],
            statements: HashMap::new(),
            next: 0,
            planner: Box::new(planner),
        }))
    }

    /// A client whose every call the fake answers; no retries, so each call
    /// the adapter makes is one the fake sees.
    fn client(fake: &Shared) -> Client {
        let (f1, f2, f3, f4) = (fake.clone(), fake.clone(), fake.clone(), fake.clone());
        let execute = mock!(Client::execute_statement)
            .then_compute_response(move |req| f1.lock().unwrap().execute(req));
        let describe = mock!(Client::describe_statement)
            .then_compute_response(move |req| f2.lock().unwrap().describe(req.id().unwrap()));
        let result = mock!(Client::get_statement_result).then_compute_response(move |req| {
            f3.lock()
                .unwrap()
                .result(req.id().unwrap(), req.next_token())
        });
        let cancel = mock!(Client::cancel_statement)
            .then_compute_response(move |req| f4.lock().unwrap().cancel(req.id().unwrap()));
        let interceptor = MockResponseInterceptor::new()
            .rule_mode(RuleMode::MatchAny)
            .with_rule(&execute)
            .with_rule(&describe)
            .with_rule(&result)
            .with_rule(&cancel);
        let config = aws_sdk_redshiftdata::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(
                "AKIDTEST",
                "test-secret",
                None,
                None,
                "test",
            ))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    fn config() -> RedshiftConfig {
        let mut c = RedshiftConfig::new(Target::Workgroup("ovom".into()), "dev", ROLE);
        c.poll = PollBackoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(4),
        };
        c.statement_timeout = Duration::from_secs(5);
        c
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// A warehouse on the fake, used from this (non-runtime) thread.
    fn warehouse(rt: &tokio::runtime::Runtime, fake: &Shared) -> RedshiftWarehouse {
        RedshiftWarehouse::try_new(client(fake), config(), rt.handle().clone()).unwrap()
    }

    fn calls(fake: &Shared) -> Vec<Call> {
        fake.lock().unwrap().calls.clone()
    }

    fn executed(fake: &Shared) -> Vec<Exec> {
        calls(fake)
            .into_iter()
            .filter_map(|c| match c {
                Call::Execute(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn sqls(fake: &Shared) -> Vec<String> {
        executed(fake).into_iter().map(|e| e.sql).collect()
    }

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    // -- Binding --------------------------------------------------------------

    #[test]
    fn binds_each_used_name_once_and_inlines_values_without_data() {
        let values = [
            ("a", Value::Text("x'; DROP TABLE t; --".into())),
            ("d", Value::Date("2025-03-14".parse().unwrap())),
            ("n", Value::Null),
            ("flag", Value::Bool(true)),
            ("empty", Value::Text(String::new())),
            ("unused", Value::Int(7)),
            ("f", Value::Float(74.5)),
            (
                "t",
                Value::Timestamp("2025-03-14T09:12:00".parse().unwrap()),
            ),
        ];
        let stmt = "SELECT :a, ':n', x::INT, CAST(:d AS DATE), :n, :a -- :unused\n\
                    WHERE CAST(:flag AS BOOLEAN) AND y = :empty AND z = :f AND w = :t /* :unused */";
        let bound = bind(stmt, |name| {
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
        })
        .unwrap();
        assert_eq!(
            bound.sql,
            "SELECT :a, ':n', x::INT, CAST(:d AS DATE), NULL, :a -- :unused\n\
             WHERE CAST(TRUE AS BOOLEAN) AND y = '' AND z = :f AND w = :t /* :unused */"
        );
        let sent: Vec<(&str, &str)> = bound
            .parameters
            .iter()
            .map(|p| (p.name(), p.value()))
            .collect();
        assert_eq!(
            sent,
            vec![
                ("a", "x'; DROP TABLE t; --"),
                ("d", "2025-03-14"),
                ("f", "74.5"),
                ("t", "2025-03-14 09:12:00"),
            ]
        );
        let missing = bind("SELECT :nope", |_| None).unwrap_err();
        assert!(matches!(missing, TaskError::WarehouseError(m) if m.contains(":nope")));
    }

    #[test]
    fn placeholders_are_the_ones_the_core_sees_in_every_sql_file() {
        let mut checked = 0;
        for (name, text) in sql::files() {
            for stmt in sql::statements(text) {
                let mine: Vec<&str> = placeholders(stmt)
                    .into_iter()
                    .map(|(s, e)| &stmt[s + 1..e])
                    .collect();
                assert_eq!(mine, sql::to_positional(stmt).1, "{name}: {stmt}");
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked}");
    }

    #[test]
    fn a_dimension_load_never_sends_a_boolean_parameter() {
        for model in Model::ALL.into_iter().filter(|m| m.is_dimension()) {
            for mode in [DimMode::TruncateInsert, DimMode::Append, DimMode::Merge] {
                let text = sql::dimension(Dialect::Redshift, model, mode).unwrap();
                for stmt in sql::statements(text) {
                    let values = [
                        ("logical_date", Value::Text("2025-03-14".into())),
                        ("through", Value::Text("2025-03-14".into())),
                        ("run_id", Value::Text("run-1".into())),
                        ("all_days", Value::Bool(mode == DimMode::TruncateInsert)),
                    ];
                    let bound = bind(stmt, |n| {
                        values.iter().find(|(v, _)| *v == n).map(|(_, v)| v)
                    })
                    .unwrap();
                    let left: Vec<&str> = placeholders(&bound.sql)
                        .into_iter()
                        .map(|(s, e)| &bound.sql[s + 1..e])
                        .collect();
                    assert!(!left.contains(&"all_days"), "{}", bound.sql);
                    assert!(bound.parameters.iter().all(|p| p.name() != "all_days"));
                }
            }
        }
    }

    // -- Transactions -----------------------------------------------------------

    #[test]
    fn begin_twice_and_commit_without_begin_are_errors() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let mut wh = warehouse(&rt, &fake);
        assert!(matches!(wh.commit(), Err(TaskError::WarehouseError(_))));
        wh.begin().unwrap();
        assert!(matches!(wh.begin(), Err(TaskError::WarehouseError(_))));
        wh.rollback().unwrap();
        wh.rollback().unwrap();
        // A transaction is a batch sent at commit: nothing was sent.
        assert!(calls(&fake).is_empty());
    }

    #[test]
    fn a_cluster_target_names_the_cluster_and_database_user() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let mut config = config();
        config.target = Target::Cluster {
            cluster_id: "ovom-warehouse".into(),
            db_user: "ovom_etl".into(),
        };
        let api = DataApi {
            client: client(&fake),
            config,
        };
        rt.block_on(api.run("SELECT 1", vec![], Session::None))
            .unwrap();
        rt.block_on(api.run("BEGIN", vec![], Session::Open))
            .unwrap();
        rt.block_on(api.run("COMMIT", vec![], Session::In(SESSION)))
            .unwrap();
        let sent = executed(&fake);
        for e in &sent[..2] {
            assert_eq!(e.workgroup, None);
            assert_eq!(e.cluster.as_deref(), Some("ovom-warehouse"));
            assert_eq!(e.db_user.as_deref(), Some("ovom_etl"));
            assert_eq!(e.database.as_deref(), Some("dev"));
        }
        assert_eq!((sent[0].keep_alive, sent[1].keep_alive), (None, Some(60)));
        // In a session, the session names the target.
        assert_eq!(
            (
                sent[2].cluster.as_deref(),
                sent[2].db_user.as_deref(),
                sent[2].database.as_deref()
            ),
            (None, None, None)
        );
        assert_eq!(sent[2].session.as_deref(), Some(SESSION));
    }

    // -- Polling ------------------------------------------------------------------

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let b = PollBackoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(700),
        };
        let ms: Vec<u128> = b.delays().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 700, 700, 700]);
        let flat = PollBackoff {
            initial: Duration::from_secs(3),
            max: Duration::from_secs(2),
        };
        assert_eq!(flat.delays().next(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn polls_with_backoff_until_finished() {
        let rt = runtime();
        let fake = fake(|_| Plan {
            pending: 5,
            ..Plan::default()
        });
        let api = DataApi {
            client: client(&fake),
            config: config(),
        };
        let started = std::time::Instant::now();
        let done = rt
            .block_on(api.run("SELECT 1", vec![], Session::None))
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(done.id, "stmt-1");
        let looks = calls(&fake)
            .iter()
            .filter(|c| matches!(c, Call::Describe(_)))
            .count();
        assert_eq!(looks, 6, "five STARTED, then FINISHED");
        // Waited 1 + 2 + 4 + 4 + 4 ms between the six looks, at least.
        assert!(elapsed >= Duration::from_millis(15), "{elapsed:?}");
    }

    #[test]
    fn a_statement_past_its_time_out_is_cancelled_and_busy() {
        let rt = runtime();
        let fake = fake(|_| Plan {
            outcome: Outcome::Never,
            ..Plan::default()
        });
        let mut config = config();
        config.statement_timeout = Duration::from_millis(30);
        let api = DataApi {
            client: client(&fake),
            config,
        };
        let failure = rt
            .block_on(api.run("SELECT 1", vec![], Session::None))
            .unwrap_err();
        assert_eq!(
            failure,
            Failure::TimedOut {
                after: Duration::from_millis(30),
                cancelled: true
            }
        );
        assert!(calls(&fake).contains(&Call::Cancel("stmt-1".into())));
        assert!(matches!(classify(&failure), TaskError::WarehouseBusy(_)));
    }

    // -- Results ----------------------------------------------------------------

    #[test]
    fn query_reads_every_page_typed_by_column() {
        let rt = runtime();
        let row = |i: i64, text: &str| {
            vec![
                Field::LongValue(i),
                Field::StringValue(text.into()),
                Field::StringValue("2025-03-14".into()),
                Field::StringValue("2025-03-14 09:12:00.5".into()),
                Field::StringValue("120".into()),
                Field::StringValue("12.5".into()),
                Field::BooleanValue(true),
                Field::DoubleValue(0.25),
                Field::IsNull(true),
            ]
        };
        let fake = fake(move |_| {
            result(
                &[
                    ("n", "int8"),
                    ("reason", "varchar"),
                    ("day", "date"),
                    ("at", "timestamp"),
                    ("lines", "numeric"),
                    ("pct", "numeric"),
                    ("flag", "bool"),
                    ("share", "float8"),
                    ("gone", "varchar"),
                ],
                vec![vec![row(1, "loaded")], vec![row(2, "2025-03-14")]],
            )
        });
        let mut wh = warehouse(&rt, &fake);
        let rows = wh
            .query(
                "SELECT 1 WHERE :logical_date = :logical_date",
                &[("logical_date", Value::Text("2025-03-14".into()))],
            )
            .unwrap();
        let expect = |i: i64, text: &str| {
            vec![
                Value::Int(i),
                Value::Text(text.into()),
                Value::Date("2025-03-14".parse().unwrap()),
                Value::Timestamp("2025-03-14T09:12:00.5".parse().unwrap()),
                Value::Int(120),
                Value::Float(12.5),
                Value::Bool(true),
                Value::Float(0.25),
                Value::Null,
            ]
        };
        // A date-like string in a varchar column stays text.
        assert_eq!(rows, vec![expect(1, "loaded"), expect(2, "2025-03-14")]);
        let pages: Vec<Call> = calls(&fake)
            .into_iter()
            .filter(|c| matches!(c, Call::Result { .. }))
            .collect();
        assert_eq!(
            pages,
            vec![
                Call::Result {
                    id: "stmt-1".into(),
                    token: None
                },
                Call::Result {
                    id: "stmt-1".into(),
                    token: Some("page-1".into())
                },
            ]
        );
        assert_eq!(
            executed(&fake)[0].params,
            params(&[("logical_date", "2025-03-14")])
        );
    }

    #[test]
    fn a_query_without_a_result_set_has_no_rows_and_fetches_none() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let mut wh = warehouse(&rt, &fake);
        assert_eq!(wh.query("DELETE FROM t", &[]).unwrap(), Vec::<Row>::new());
        assert!(!calls(&fake)
            .iter()
            .any(|c| matches!(c, Call::Result { .. })));
        assert!(matches!(
            wh.query("SELECT 1; SELECT 2", &[]),
            Err(TaskError::WarehouseError(_))
        ));
    }

    // -- Errors -------------------------------------------------------------------

    #[test]
    fn service_errors_from_the_data_api_map_by_kind() {
        let rt = runtime();
        let cases: [(u16, &'static str, &'static str, &str); 6] = [
            (400, "ThrottlingException", "Rate exceeded", "WarehouseBusy"),
            (
                400,
                "ActiveStatementsExceededException",
                "too many",
                "WarehouseBusy",
            ),
            (
                400,
                "ActiveSessionsExceededException",
                "too many sessions",
                "WarehouseBusy",
            ),
            (
                400,
                "ValidationException",
                "Workgroup ovom is resuming. Try again later.",
                "WarehouseBusy",
            ),
            (
                400,
                "ValidationException",
                "Parameter 'run_id' is not used in the statement",
                "WarehouseError",
            ),
            (500, "InternalServerException", "internal", "WarehouseBusy"),
        ];
        for (status, code, message, want) in cases {
            let fake = fake(move |_| Plan {
                outcome: Outcome::Reject {
                    status,
                    code,
                    message,
                },
                ..Plan::default()
            });
            let mut wh = warehouse(&rt, &fake);
            let err = wh.query("SELECT 1", &[]).unwrap_err();
            assert_eq!(err.name(), want, "{code}: {err}");
            assert!(err.to_string().contains(code), "{err}");
        }
    }

    #[test]
    fn classification_table() {
        let service = |code: &str, message: &str, status: u16| Failure::Service {
            operation: "ExecuteStatement",
            code: Some(code.into()),
            message: message.into(),
            status: Some(status),
        };
        let statement = |error: &str| Failure::Statement {
            error: error.into(),
            query_id: Some(1),
            pid: Some(1073),
        };
        let cases = [
            (
                service("ThrottlingException", "slow down", 400),
                "WarehouseBusy",
            ),
            (
                service("ActiveWaitingRequestsExceededException", "x", 400),
                "WarehouseBusy",
            ),
            (
                service("DatabaseConnectionException", "x", 400),
                "WarehouseBusy",
            ),
            (
                service("ExecuteStatementException", "environmental", 400),
                "WarehouseBusy",
            ),
            (service("SomethingNew", "x", 503), "WarehouseBusy"),
            (
                service("ValidationException", "Cluster ovom is paused", 400),
                "WarehouseBusy",
            ),
            (
                service("ValidationException", "SQL is too long", 400),
                "WarehouseError",
            ),
            (
                service("ResourceNotFoundException", "no such statement", 400),
                "WarehouseError",
            ),
            (
                service("AccessDeniedException", "not allowed", 403),
                "WarehouseError",
            ),
            (
                Failure::Transport {
                    operation: "DescribeStatement",
                    detail: "dispatch failure: connection refused".into(),
                },
                "WarehouseBusy",
            ),
            (
                Failure::Request {
                    operation: "ExecuteStatement",
                    detail: "missing sql".into(),
                },
                "WarehouseError",
            ),
            (
                statement("ERROR: syntax error at or near \"SELEC\""),
                "WarehouseError",
            ),
            (
                statement("ERROR: duplicate key violates unique constraint"),
                "WarehouseError",
            ),
            (
                statement("ERROR: invalid input syntax for type date: \"x\""),
                "WarehouseError",
            ),
            (
                statement("ERROR: permission denied for relation fact_bloodtest"),
                "WarehouseError",
            ),
            (
                statement("ERROR: 1023 DETAIL: Serializable isolation violation on table - 100"),
                "WarehouseBusy",
            ),
            (statement("ERROR: deadlock detected"), "WarehouseBusy"),
            (
                statement("ERROR: tuple concurrently updated"),
                "WarehouseBusy",
            ),
            (
                statement("S3ServiceException:Please reduce your request rate.,Status 503"),
                "WarehouseBusy",
            ),
            (
                statement("S3ServiceException:Access Denied,Status 403,Error AccessDenied"),
                "WarehouseError",
            ),
            (Failure::Aborted { id: "s".into() }, "WarehouseBusy"),
            (
                Failure::TimedOut {
                    after: Duration::from_secs(300),
                    cancelled: false,
                },
                "WarehouseBusy",
            ),
            (Failure::Protocol("no id".into()), "WarehouseError"),
        ];
        for (failure, want) in cases {
            assert_eq!(classify(&failure).name(), want, "{failure:?}");
        }
    }

    // -- copy_day -----------------------------------------------------------------

    /// An object store in memory, addressed as `s3://ovom-data/export/<key>`.
    #[derive(Default)]
    struct MemStore {
        objects: Mutex<BTreeMap<String, Vec<u8>>>,
    }

    impl MemStore {
        fn with(files: &[(&str, &str)]) -> Self {
            let store = Self::default();
            for (k, v) in files {
                store.put(k, v.as_bytes()).unwrap();
            }
            store
        }
        fn text(&self, key: &str) -> String {
            String::from_utf8(self.objects.lock().unwrap()[key].clone()).unwrap()
        }
        fn meta(&self, key: &str) -> ObjectMeta {
            ObjectMeta {
                key: key.into(),
                size: self.objects.lock().unwrap()[key].len() as u64,
            }
        }
    }

    impl ObjectStore for MemStore {
        fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, TaskError> {
            let keys: Vec<String> = self
                .objects
                .lock()
                .unwrap()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            Ok(keys.iter().map(|k| self.meta(k)).collect())
        }
        fn get(&self, key: &str) -> Result<Vec<u8>, TaskError> {
            self.objects
                .lock()
                .unwrap()
                .get(key)
                .cloned()
                .ok_or_else(|| TaskError::StoreError {
                    key: key.into(),
                    detail: "no such key".into(),
                })
        }
        fn put(&self, key: &str, bytes: &[u8]) -> Result<(), TaskError> {
            self.objects
                .lock()
                .unwrap()
                .insert(key.into(), bytes.to_vec());
            Ok(())
        }
        fn url(&self, key: &str) -> String {
            format!("s3://ovom-data/export/{key}")
        }
    }

    fn test_line(id: u32) -> String {
        serde_json::json!({
            "test_id": format!("bt-{id:08}"), "patient_id": 7, "doc_id": 3, "doc_name": "Dr A",
            "clinic": "North", "lab_id": 2, "lab_name": "Lab B", "city": "Lyon",
            "ts": "2025-03-14T09:12:00Z", "ap_hi": 120, "ap_lo": 80, "cholesterol": 1,
            "gluc": 1, "smoke": 0, "alco": 0, "active": 1, "cardio": 0
        })
        .to_string()
    }

    const PART0: &str = "log_data/2025/03/14/part-00000.json";
    const PART1: &str = "log_data/2025/03/14/part-00001.json";
    const MALFORMED: &str = r#"{"test_id": "bt-00000002", "ap_hi": "high"}"#;
    const LOAD_FAILED: &str = "Load into table 'ovom_copy_log_data' failed. Check 'sys_load_error_detail' system table for details.";

    /// The process every statement of the fake runs in (`RedshiftPid`).
    const PID: i64 = 4242;

    /// The URL of the copy COPY reads of a day's file `index`.
    fn copy_url(index: usize) -> String {
        format!("s3://ovom-data/export/manifests/log_data/2025-03-14/run-1/{index:05}.json")
    }

    fn request(store: &MemStore, files: &[&str], max_errors: u32) -> CopyRequest {
        CopyRequest {
            source: Source::LogData,
            logical_date: "2025-03-14".parse().unwrap(),
            run_id: "run-1".parse().unwrap(),
            files: files.iter().map(|f| store.meta(f)).collect(),
            max_errors,
        }
    }

    fn error_rows(lines: &[(i64, &str, &str)]) -> Plan {
        result(
            &[
                ("line_number", "int8"),
                ("column_name", "bpchar"),
                ("error_message", "bpchar"),
            ],
            vec![lines
                .iter()
                .map(|(l, c, m)| {
                    vec![
                        Field::LongValue(*l),
                        Field::StringValue((*c).into()),
                        Field::StringValue((*m).into()),
                    ]
                })
                .collect()],
        )
    }

    fn count(n: i64) -> Plan {
        result(&[("count", "int8")], vec![vec![vec![Field::LongValue(n)]]])
    }

    /// Answers a two-file day: part 0 holds four lines (the second
    /// malformed, the third one COPY rejects), part 1 two (the second blank).
    fn day_planner() -> impl FnMut(&Exec) -> Plan + Send {
        let mut counts = vec![2, 1].into_iter();
        move |e| {
            let sql = e.sql.as_str();
            if sql.starts_with("COPY") {
                Plan {
                    query_id: if sql.contains("/00000.manifest") {
                        101
                    } else {
                        102
                    },
                    ..Plan::default()
                }
            } else if sql.starts_with("SELECT COUNT(*) FROM ovom_copy_log_data") {
                count(counts.next().unwrap())
            } else if sql == COPY_ERRORS_SQL {
                let mut p = e.params.clone();
                p.sort();
                if p == params(&[("copy_file", &copy_url(0)), ("copy_pid", "4242")]) {
                    error_rows(&[(3, "ts", "Invalid timestamp format or value")])
                } else {
                    error_rows(&[])
                }
            } else {
                finished()
            }
        }
    }

    #[test]
    fn copy_day_copies_each_file_through_a_manifest_and_quarantines_rejected_lines() {
        let rt = runtime();
        let fake = fake(day_planner());
        let store = MemStore::with(&[
            (
                PART0,
                &format!(
                    "{}\n{MALFORMED}\n{}\n{}\n",
                    test_line(1),
                    test_line(3),
                    test_line(5)
                ),
            ),
            (PART1, &format!("{}\n\n", test_line(4))),
        ]);
        let mut wh = warehouse(&rt, &fake);
        let req = request(&store, &[PART0, PART1], 10);
        // The day's rows wait in the session; the batch is the commit's
        // (the real server's tests send it).
        wh.begin().unwrap();
        let lines = wh.copy_day(&req, &store).unwrap();
        wh.rollback().unwrap();
        assert_eq!(lines, 6);

        // The day's jsonpaths and one manifest per file, beside each other.
        let base = "manifests/log_data/2025-03-14/run-1";
        let jsonpaths: serde_json::Value =
            serde_json::from_str(&store.text(&format!("{base}/jsonpaths.json"))).unwrap();
        assert_eq!(jsonpaths["jsonpaths"][0], "$['test_id']");
        assert_eq!(jsonpaths["jsonpaths"][16], "$['cardio']");
        assert_eq!(jsonpaths["jsonpaths"][17], "$['ovom_line_no']");
        assert_eq!(jsonpaths["jsonpaths"].as_array().unwrap().len(), 18);
        // COPY reads a copy of each file: refused lines emptied, records
        // numbered.
        let copy0 = format!("{base}/00000.json");
        assert_eq!(
            store.text(&copy0),
            format!(
                "{}\n\n{}\n{}\n",
                numbered_line(&test_line(1), 1),
                numbered_line(&test_line(3), 3),
                numbered_line(&test_line(5), 4)
            )
        );
        let copy1 = format!("{base}/00001.json");
        assert_eq!(
            store.text(&copy1),
            format!("{}\n\n", numbered_line(&test_line(4), 1))
        );
        for (i, copied) in [copy0.as_str(), copy1.as_str()].into_iter().enumerate() {
            let m: serde_json::Value =
                serde_json::from_str(&store.text(&format!("{base}/{i:05}.manifest"))).unwrap();
            assert_eq!(
                m,
                serde_json::json!({ "entries": [{
                    "url": format!("s3://ovom-data/export/{copied}"),
                    "mandatory": true,
                    "meta": { "content_length": store.meta(copied).size }
                }]})
            );
        }

        let layout = Layout::of(Source::LogData);
        let copy = |i: usize, max: u32| {
            layout.copy(
                &S3Literal(format!("'s3://ovom-data/export/{base}/{i:05}.manifest'")),
                ROLE,
                &S3Literal(format!("'s3://ovom-data/export/{base}/jsonpaths.json'")),
                max,
            )
        };
        let row = Malformed {
            file_index: 0,
            file: String::new(),
            line: 0,
            error: String::new(),
            raw: "x".into(),
        };
        let quarantine_one = quarantine_insert(std::slice::from_ref(&row)).0;
        let quarantine_two = quarantine_insert(&[row.clone(), row]).0;
        let sent = executed(&fake);
        let texts: Vec<&str> = sent.iter().map(|e| e.sql.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "CREATE TEMP TABLE ovom_pending_staging_bloodtest (LIKE staging_bloodtest)",
                "CREATE TEMP TABLE ovom_pending_quarantine (LIKE quarantine)",
                &layout.create_temp(),
                // Part 0: the budget less the refused line, plus one (a load
                // fails when its errors reach MAXERROR); COPY rejects one.
                &copy(0, 10),
                "SELECT COUNT(*) FROM ovom_copy_log_data",
                COPY_ERRORS_SQL,
                &layout.insert_staging(),
                "DELETE FROM ovom_copy_log_data",
                &quarantine_two,
                // Part 1: the budget less part 0's two lines and the blank one.
                &copy(1, 8),
                "SELECT COUNT(*) FROM ovom_copy_log_data",
                &layout.insert_staging(),
                "DELETE FROM ovom_copy_log_data",
                &quarantine_one.replace(":raw_0", "''"),
                "DROP TABLE ovom_copy_log_data",
            ]
        );
        // The first statement opens the task's session; the rest run in it.
        assert_eq!(sent[0].keep_alive, Some(60));
        assert_eq!(sent[0].workgroup.as_deref(), Some("ovom"));
        assert!(sent[1..]
            .iter()
            .all(|e| e.session.as_deref() == Some(SESSION)));
        assert!(sent[3].params.is_empty(), "COPY takes no parameters");
        let mut lookup = sent[5].params.clone();
        lookup.sort();
        assert_eq!(
            lookup,
            params(&[("copy_file", &copy_url(0)), ("copy_pid", "4242")])
        );
        let lineage = |file: &str| {
            let mut p = params(&[
                ("logical_date", "2025-03-14"),
                ("source_file", file),
                ("run_id", "run-1"),
            ]);
            p.sort();
            p
        };
        let sorted = |e: &Exec| {
            let mut p = e.params.clone();
            p.sort();
            p
        };
        assert_eq!(sorted(&sent[6]), lineage(PART0));
        assert_eq!(sorted(&sent[11]), lineage(PART1));

        // The refused line: its text, and the contract's reason; the line
        // COPY rejected: its text, and Redshift's reason.
        let reason = contract::parse_test(MALFORMED.as_bytes())
            .unwrap_err()
            .to_string();
        let mut q0 = params(&[
            ("logical_date", "2025-03-14"),
            ("source", "log_data"),
            ("source_file", PART0),
            ("line_0", "2"),
            ("error_0", &reason),
            ("raw_0", MALFORMED),
            ("line_1", "3"),
            ("error_1", "ts: Invalid timestamp format or value"),
            ("raw_1", &test_line(3)),
            ("run_id", "run-1"),
        ]);
        q0.sort();
        assert_eq!(sorted(&sent[8]), q0);
        // The blank line: no raw parameter (an empty value is written as '').
        let mut q1 = params(&[
            ("logical_date", "2025-03-14"),
            ("source", "log_data"),
            ("source_file", PART1),
            ("line_0", "2"),
            ("error_0", "empty line"),
            ("run_id", "run-1"),
        ]);
        q1.sort();
        assert_eq!(sorted(&sent[13]), q1);
    }

    #[test]
    fn copy_day_over_the_budget_names_the_first_malformed_line_and_rolls_back() {
        let rt = runtime();
        let fake = fake(|e| {
            if e.sql.starts_with("COPY") {
                Plan {
                    outcome: Outcome::Failed(LOAD_FAILED.into()),
                    query_id: 77,
                    ..Plan::default()
                }
            } else if e.sql == COPY_ERRORS_SQL {
                error_rows(&[
                    (2, "city", "String length exceeds DDL length"),
                    (3, "ts", "Invalid timestamp"),
                ])
            } else {
                finished()
            }
        });
        // Lines the contract accepts, which COPY rejects.
        let store = MemStore::with(&[(
            PART0,
            &format!("{}\n{}\n{}\n", test_line(1), test_line(2), test_line(3)),
        )]);
        let mut wh = warehouse(&rt, &fake);
        let req = request(&store, &[PART0], 0);
        let err = in_transaction(&mut wh, |wh| wh.copy_day(&req, &store)).unwrap_err();
        assert!(!wh.in_transaction());
        let reason = "city: String length exceeds DDL length";
        match err {
            TaskError::MalformedInput {
                file,
                line,
                reason: r,
            } => {
                assert_eq!((file.as_str(), line), (PART0, 2));
                assert_eq!(r, reason, "strict: the line's own reason");
            }
            other => panic!("{other:?}"),
        }
        let sent = executed(&fake);
        let copy = sent.iter().find(|e| e.sql.starts_with("COPY")).unwrap();
        assert!(copy.sql.contains("MAXERROR 1"), "strict: {}", copy.sql);
        // The load errors are read on their own, by the COPY's process and file.
        let lookup = sent.iter().find(|e| e.sql == COPY_ERRORS_SQL).unwrap();
        assert_eq!(lookup.session, None);
        assert_eq!(lookup.workgroup.as_deref(), Some("ovom"));
        let mut p = lookup.params.clone();
        p.sort();
        assert_eq!(
            p,
            params(&[("copy_file", &copy_url(0)), ("copy_pid", "4242")])
        );
        // Nothing is written to a table of the warehouse before a commit.
        assert!(!sent
            .iter()
            .any(|e| e.sql.starts_with("INSERT INTO staging")));
    }

    #[test]
    fn copy_day_refuses_lines_that_copy_neither_loaded_nor_rejected() {
        let rt = runtime();
        // Three lines, two rows loaded, nothing in the error view.
        let fake = fake(|e| {
            if e.sql.starts_with("COPY") {
                Plan {
                    query_id: 5,
                    ..Plan::default()
                }
            } else if e.sql.starts_with("SELECT COUNT(*)") {
                count(2)
            } else if e.sql == COPY_ERRORS_SQL {
                error_rows(&[])
            } else {
                finished()
            }
        });
        let store = MemStore::with(&[(
            PART0,
            &format!("{}\n{}\n{}\n", test_line(1), test_line(2), test_line(3)),
        )]);
        let mut wh = warehouse(&rt, &fake);
        let req = request(&store, &[PART0], 10);
        let err = in_transaction(&mut wh, |wh| wh.copy_day(&req, &store)).unwrap_err();
        assert!(
            matches!(&err, TaskError::WarehouseBusy(m) if m.contains("1 of the file's 3 lines are not accounted for")),
            "{err:?}"
        );
        let looks = executed(&fake)
            .iter()
            .filter(|e| e.sql == COPY_ERRORS_SQL)
            .count();
        assert_eq!(looks, ERROR_VIEW_ATTEMPTS);
    }

    #[test]
    fn copy_day_needs_a_transaction_and_an_s3_store() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let store = MemStore::with(&[(PART0, &test_line(1))]);
        let mut wh = warehouse(&rt, &fake);
        let req = request(&store, &[PART0], 0);
        assert!(matches!(
            wh.copy_day(&req, &store),
            Err(TaskError::WarehouseError(_))
        ));
        assert!(sqls(&fake).is_empty());
    }

    #[test]
    fn lines_the_contract_refuses_count_against_the_budget_before_any_copy() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let long = format!(
            "{{\"notes\": \"{}\"}}",
            "x".repeat(contract::MAX_LINE_BYTES)
        );
        let store = MemStore::with(&[(PART0, &format!("{}\n{long}\n{MALFORMED}\n", test_line(1)))]);
        let mut wh = warehouse(&rt, &fake);
        let req = request(&store, &[PART0], 0);
        let err = in_transaction(&mut wh, |wh| wh.copy_day(&req, &store)).unwrap_err();
        match err {
            TaskError::MalformedInput { file, line, reason } => {
                assert_eq!((file.as_str(), line), (PART0, 2));
                assert!(reason.contains("longer than the 1 MiB limit"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let sent = sqls(&fake);
        assert!(!sent.iter().any(|s| s.starts_with("COPY")), "{sent:?}");
        assert!(!wh.in_transaction());
    }

    /// A record as the copy COPY reads holds it: numbered after the brace.
    fn numbered_line(line: &str, n: u64) -> String {
        format!("{{\"ovom_line_no\":{n},{}", &line[1..])
    }

    #[test]
    fn the_copy_empties_refused_lines_and_numbers_every_record() {
        let layout = Layout::of(Source::LogData);
        let (a, b) = (test_line(1), test_line(2));
        // Blank lines and CRLF line ends: blanks stay blank, records numbered.
        let plain = FileLines::read(format!("{a}\r\n\r\n \t\n{b}").as_bytes(), layout);
        assert_eq!(plain.count, 4);
        assert_eq!(
            plain.refused,
            vec![(2, "empty line".to_owned()), (3, "empty line".to_owned())]
        );
        assert_eq!(
            String::from_utf8(plain.copy).unwrap(),
            format!("{}\n\n\n{}\n", numbered_line(&a, 1), numbered_line(&b, 4))
        );
        // A byte-order mark: gone from the copy.
        let bom = FileLines::read(format!("\u{FEFF}{a}\r\n{b}\r\n").as_bytes(), layout);
        assert!(bom.refused.is_empty());
        assert_eq!(
            String::from_utf8(bom.copy).unwrap(),
            format!("{}\n{}\n", numbered_line(&a, 1), numbered_line(&b, 2))
        );
        // Refused lines emptied in place, the other lines keep their numbers;
        // a form feed is not JSON whitespace.
        let ap_hi = a.replace("\"ap_hi\":120", "\"ap_hi\":\"120\"");
        let bad = FileLines::read(format!("{ap_hi}\n\u{c}\n[{a}]\n\n{b}\n").as_bytes(), layout);
        assert_eq!(
            bad.refused.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert!(
            bad.refused[0].1.starts_with("field `ap_hi`"),
            "{:?}",
            bad.refused
        );
        assert_eq!(
            String::from_utf8(bad.copy).unwrap(),
            format!("\n\n\n\n{}\n", numbered_line(&b, 5))
        );
    }

    #[test]
    fn a_record_with_a_member_named_like_the_line_number_gets_the_real_number() {
        let layout = Layout::of(Source::LogData);
        let spoof = test_line(1).replacen('{', "{\"ovom_line_no\":99,", 1);
        let lines = FileLines::read(format!("{}\n{spoof}\n", test_line(2)).as_bytes(), layout);
        assert!(lines.refused.is_empty(), "{:?}", lines.refused);
        let copy = String::from_utf8(lines.copy).unwrap();
        let second: serde_json::Value = serde_json::from_str(copy.lines().nth(1).unwrap()).unwrap();
        assert_eq!(second["ovom_line_no"], 2);
        assert_eq!(
            second["test_id"],
            serde_json::from_str::<serde_json::Value>(&test_line(1)).unwrap()["test_id"]
        );
        assert_eq!(copy.matches("ovom_line_no").count(), 2);
    }

    #[test]
    fn a_rejected_line_takes_the_contracts_reason_and_text_when_the_file_has_it() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let store = MemStore::with(&[(PART0, &format!("{}\n{MALFORMED}\n", test_line(1)))]);
        let wh = warehouse(&rt, &fake);
        let req = request(&store, &[PART0], 5);
        let day = CopyDay::new(&wh, &req, &store).unwrap();
        let lines = FileLines::read(store.text(PART0).as_bytes(), Layout::of(Source::LogData));
        assert_eq!(lines.count, 2);
        assert_eq!(
            lines.refused.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![2]
        );
        let contract = contract::parse_test(MALFORMED.as_bytes())
            .unwrap_err()
            .to_string();
        let m = day.malformed(0, PART0, &lines, 2, "ap_hi: Invalid digit");
        assert_eq!(
            (m.line, m.error.as_str(), m.raw.as_str()),
            (2, contract.as_str(), MALFORMED)
        );
        // A valid line COPY refused (say, too long for its column): Redshift's reason.
        let m = day.malformed(
            0,
            PART0,
            &lines,
            1,
            "city: String length exceeds DDL length",
        );
        assert_eq!(m.error, "city: String length exceeds DDL length");
        assert_eq!(m.raw, test_line(1));
        // A line number the file does not have: Redshift's reason, no text.
        let m = day.malformed(0, PART0, &lines, 9, "ts: Invalid timestamp");
        assert_eq!(
            (m.error.as_str(), m.raw.as_str()),
            ("ts: Invalid timestamp", "")
        );
    }

    #[test]
    fn only_safe_s3_urls_reach_a_copy_statement() {
        assert_eq!(
            S3Literal::new(
                "s3://ovom-data/export/manifests/log_data/2025-03-14/exec:1/00000.manifest"
            )
            .unwrap(),
            S3Literal(
                "'s3://ovom-data/export/manifests/log_data/2025-03-14/exec:1/00000.manifest'"
                    .into()
            )
        );
        for bad in [
            "s3://ovom-data/it's/a.manifest",
            "s3://ovom-data/a\\b",
            "s3://ovom-data/a b",
            "s3://Ovom/a",
            "s3://ovom-data/",
            "s3://ovom-data",
            "https://ovom-data/a",
            "/var/data/a.manifest",
            "s3://ovom-data/a%27b",
        ] {
            assert!(S3Literal::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_budget_counts_like_the_embedded_warehouse() {
        let m = |i: usize, line: u64| Malformed {
            file_index: i,
            file: format!("f{i}"),
            line,
            error: format!("bad {i}:{line}"),
            raw: String::new(),
        };
        let mut b = Budget {
            max: 2,
            count: 0,
            first: None,
        };
        b.add(&m(1, 5));
        b.add(&m(0, 9));
        assert_eq!((b.remaining(), b.exceeded()), (0, false));
        b.add(&m(1, 1));
        assert!(b.exceeded());
        assert!(matches!(
            b.error(),
            TaskError::MalformedInput { file, line: 9, reason } if file == "f0" && reason == "bad 0:9 (more than 2 malformed lines)"
        ));
    }

    // -- Configuration ------------------------------------------------------------

    #[test]
    fn configuration_is_checked_against_what_aws_accepts() {
        assert_eq!(config().validate(), Ok(()));
        let cluster = RedshiftConfig::new(
            Target::Cluster {
                cluster_id: "ovom-warehouse".into(),
                db_user: "ovom_etl".into(),
            },
            "dev",
            "arn:aws-us-gov:iam::123456789012:role/service/ovom-copy",
        );
        assert_eq!(cluster.validate(), Ok(()));
        let arn = RedshiftConfig::new(
            Target::Workgroup(
                "arn:aws:redshift-serverless:eu-west-1:123456789012:workgroup/0e5d9f0c-1a2b-4c3d-8e9f-0a1b2c3d4e5f".into(),
            ),
            "dev",
            ROLE,
        );
        assert_eq!(arn.validate(), Ok(()));

        let field = |c: RedshiftConfig| c.validate().unwrap_err().field;
        let with = |f: &dyn Fn(&mut RedshiftConfig)| {
            let mut c = config();
            f(&mut c);
            c
        };
        assert_eq!(
            field(with(&|c| c.target = Target::Workgroup("Ovom".into()))),
            "workgroup"
        );
        assert_eq!(
            field(with(&|c| c.target = Target::Workgroup("ab".into()))),
            "workgroup"
        );
        assert_eq!(
            field(with(&|c| c.target = Target::Cluster {
                cluster_id: "1ovom".into(),
                db_user: "u".into()
            })),
            "cluster_id"
        );
        assert_eq!(
            field(with(&|c| c.target = Target::Cluster {
                cluster_id: "ovom--x".into(),
                db_user: "u".into()
            })),
            "cluster_id"
        );
        assert_eq!(
            field(with(&|c| c.target = Target::Cluster {
                cluster_id: "ovom".into(),
                db_user: "u;x".into()
            })),
            "db_user"
        );
        assert_eq!(field(with(&|c| c.database = "Dev".into())), "database");
        assert_eq!(field(with(&|c| c.database = String::new())), "database");
        assert_eq!(
            field(with(
                &|c| c.copy_role_arn = "arn:aws:iam::123456789012:user/x".into()
            )),
            "copy_role_arn"
        );
        assert_eq!(
            field(with(
                &|c| c.copy_role_arn = "arn:aws:iam::123456789012:role/it's".into()
            )),
            "copy_role_arn"
        );
        assert_eq!(
            field(with(&|c| c.statement_timeout = Duration::from_secs(901))),
            "statement_timeout"
        );
        assert_eq!(field(with(&|c| c.poll.initial = Duration::ZERO)), "poll");
        assert_eq!(
            field(with(&|c| c.poll.max = Duration::from_secs(61))),
            "poll"
        );
        assert_eq!(
            field(with(&|c| c.session_keep_alive = Duration::from_secs(86_401))),
            "session_keep_alive"
        );
    }

    #[test]
    fn an_invalid_configuration_fails_every_call_without_sending_anything() {
        let rt = runtime();
        let fake = fake(|_| finished());
        let mut bad = config();
        bad.database = "Not A Database".into();
        assert!(
            RedshiftWarehouse::try_new(client(&fake), bad.clone(), rt.handle().clone()).is_err()
        );
        let mut wh = RedshiftWarehouse::new(client(&fake), bad, rt.handle().clone());
        assert!(matches!(wh.begin(), Err(TaskError::WarehouseError(m)) if m.contains("database")));
        assert!(matches!(
            wh.query("SELECT 1", &[]),
            Err(TaskError::WarehouseError(_))
        ));
        assert!(calls(&fake).is_empty());
    }

    // -- The Redshift SQL ---------------------------------------------------------

    #[test]
    fn every_table_has_a_redshift_ddl_with_its_distribution() {
        for (name, shared) in sql::files()
            .iter()
            .filter(|(n, _)| n.starts_with("schema/"))
        {
            let redshift = sql::file(Dialect::Redshift, name).unwrap();
            assert_ne!(redshift, *shared, "{name} has no Redshift override");
            assert!(redshift.starts_with("-- Redshift: "), "{name}");
            assert!(
                redshift.contains("DISTSTYLE") || redshift.contains("DISTKEY"),
                "{name}"
            );
        }
        let dims = ["dim_patient", "dim_doctor", "dim_lab", "dim_date"];
        for text in sql::schema(Dialect::Redshift).unwrap() {
            if dims
                .iter()
                .any(|d| text.contains(&format!("TABLE IF NOT EXISTS {d} (")))
            {
                assert!(text.contains("DISTSTYLE ALL"), "{text}");
            }
        }
        let fact = sql::file(Dialect::Redshift, "schema/20_fact_bloodtest").unwrap();
        assert!(fact.contains("DISTKEY (patient_id)") && fact.contains("SORTKEY (date_key, "));
        let quarantine = sql::file(Dialect::Redshift, "schema/03_quarantine").unwrap();
        assert!(quarantine.contains("\"raw\" VARCHAR"));
    }

    #[test]
    fn the_redshift_sql_avoids_what_redshift_lacks() {
        for (name, _) in sql::files() {
            if name.starts_with("overrides/") {
                continue;
            }
            let code: String = sql::file(Dialect::Redshift, name)
                .unwrap()
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            let text = code.to_ascii_uppercase();
            assert!(!text.contains("ISODOW"), "{name}");
            assert!(!text.contains("WHEN EXISTS"), "{name}");
        }
        for (name, text) in sql::files()
            .iter()
            .filter(|(n, _)| n.starts_with("overrides/redshift/"))
        {
            assert!(text.starts_with("-- Redshift: "), "{name}");
            assert_eq!(text.lines().next().map(|l| l.starts_with("--")), Some(true));
        }
    }

    /// `tests/offline/sqlglot_check.py` parses the adapter's statements as
    /// this module renders them for a sample day.
    #[test]
    fn the_sqlglot_check_holds_the_adapters_statements() {
        let script = include_str!("../../../../tests/offline/sqlglot_check.py");
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let script = flat(script);
        let sample = |source: &str| {
            let base = format!("s3://ovom-data/export/manifests/{source}/2025-03-14/run-1");
            (
                S3Literal::new(&format!("{base}/00000.manifest")).unwrap(),
                S3Literal::new(&format!("{base}/jsonpaths.json")).unwrap(),
            )
        };
        let blank = Malformed {
            file_index: 0,
            file: String::new(),
            line: 0,
            error: String::new(),
            raw: String::new(),
        };
        let mut statements = vec![
            COPY_ERRORS_SQL.to_owned(),
            quarantine_insert(&[blank.clone(), blank]).0,
        ];
        for layout in [&TEST_LAYOUT, &PATIENT_LAYOUT] {
            let (manifest, jsonpaths) = sample(layout.source.folder());
            statements.push(layout.create_temp());
            statements.push(layout.copy(&manifest, ROLE, &jsonpaths, 100));
            statements.push(layout.insert_staging());
        }
        statements.extend([TEST_LAYOUT.count(), TEST_LAYOUT.clear(), TEST_LAYOUT.drop()]);
        for table in [
            "staging_bloodtest",
            "staging_patient",
            QUARANTINE,
            "stage_audit",
        ] {
            statements.push(transaction::create_pending(table));
            statements.push(transaction::move_pending(table));
        }
        for stmt in statements {
            assert!(
                script.contains(&flat(&stmt)),
                "sqlglot_check.py lacks:\n{stmt}"
            );
        }
    }
}

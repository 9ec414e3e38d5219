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
use ovom_core::ports::{CopyRequest, ObjectStore, Param, Row, Sql, Table, Value, Warehouse};
use ovom_core::sql::{self, Dialect};
use ovom_core::TaskError;
use tokio::runtime::Handle;

use crate::names::Bucket;

mod config;
mod copy;
mod dataapi;
mod layout;
mod transaction;

pub use config::{ConfigError, PollBackoff, RedshiftConfig, Target};

use copy::*;
use dataapi::*;
pub use layout::is_copy_key;
use layout::*;
use transaction::Transaction;

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

    /// Run one query and read its columns and rows.
    fn rows_of<'v>(
        &self,
        stmt: &str,
        value_of: impl Fn(&str) -> Option<&'v Value>,
    ) -> Result<Table, TaskError> {
        let done = self.statement(stmt, value_of)?;
        if !done.has_result_set {
            return Ok(Table::default());
        }
        self.block(self.api.table(&done.id))
            .map_err(|f| classify(&f))
    }

    /// Make `table`'s pending rows a part of the transaction: its session
    /// temporary table, and the batch statement that moves its rows.
    fn pend(&self, table: &str) -> Result<(), TaskError> {
        if self.session_table(
            &transaction::pending_table(table),
            &transaction::create_pending(table),
        )? {
            let mut tx = self.tx.borrow_mut();
            tx.as_mut()
                .expect("a session table needs a transaction")
                .batch
                .push(transaction::move_pending(table));
        }
        Ok(())
    }

    /// Create a temporary table of the transaction's session with `create`,
    /// unless the transaction already did: whether it did now. (It ends
    /// with the session: nothing drops it.)
    fn session_table(&self, name: &str, create: &str) -> Result<bool, TaskError> {
        let known = self
            .tx
            .borrow()
            .as_ref()
            .map(|t| t.temps.contains(name))
            .ok_or_else(|| TaskError::WarehouseError("no open transaction".into()))?;
        if known {
            return Ok(false);
        }
        self.statement(create, |_| None)?;
        if let Some(tx) = self.tx.borrow_mut().as_mut() {
            tx.temps.insert(name.to_owned());
        }
        Ok(true)
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
        let statements = sql::statements(&text);
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

    fn query_table(&mut self, text: Sql, params: &[Param]) -> Result<Table, TaskError> {
        self.ready()?;
        if self.in_transaction() {
            return Err(TaskError::WarehouseError(
                "a query in a transaction would not see its writes, which are sent at commit"
                    .into(),
            ));
        }
        let statements = sql::statements(&text);
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

#[cfg(test)]
mod tests;

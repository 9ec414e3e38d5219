//! The Data API calls: submit, wait with back-off, cancel, read results; and
//! the one mapping of every failure into the task error contract.

use super::*;

// ---------------------------------------------------------------------------
// The Data API
// ---------------------------------------------------------------------------

#[derive(Clone)]
pub(super) struct DataApi {
    pub(super) client: Client,
    pub(super) config: RedshiftConfig,
}

/// Which session a statement runs in.
#[derive(Debug, Clone, Copy)]
pub(super) enum Session<'a> {
    /// None: its own autocommit transaction.
    None,
    /// Open a session with this statement.
    Open,
    /// The session of the open transaction.
    In(&'a str),
}

/// A statement that finished.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Done {
    pub(super) id: String,
    pub(super) has_result_set: bool,
    /// Rows returned or affected; -1 when unknown.
    pub(super) result_rows: i64,
    /// `RedshiftQueryId`: the query id of the STL views (not the SYS views').
    pub(super) query_id: Option<i64>,
    /// `RedshiftPid`: the process that ran it, the SYS views' `session_id`.
    pub(super) pid: Option<i64>,
    pub(super) session_id: Option<String>,
}

impl DataApi {
    pub(super) fn target(
        &self,
        req: ExecuteStatementFluentBuilder,
    ) -> ExecuteStatementFluentBuilder {
        let req = req.database(self.config.database.as_str());
        match &self.config.target {
            Target::Workgroup(w) => req.workgroup_name(w.as_str()),
            Target::Cluster {
                cluster_id,
                db_user,
            } => req
                .cluster_identifier(cluster_id.as_str())
                .db_user(db_user.as_str()),
        }
    }

    /// Submit one statement and wait for it to finish.
    pub(super) async fn run(
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
    pub(super) async fn run_batch(
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
            (None, Target::Workgroup(w)) => req
                .database(self.config.database.as_str())
                .workgroup_name(w.as_str()),
            (
                None,
                Target::Cluster {
                    cluster_id,
                    db_user,
                },
            ) => req
                .database(self.config.database.as_str())
                .cluster_identifier(cluster_id.as_str())
                .db_user(db_user.as_str()),
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
    pub(super) async fn wait(&self, id: &str) -> Result<Done, Failure> {
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
    pub(super) async fn cancel(&self, id: &str) -> bool {
        match self.client.cancel_statement().id(id).send().await {
            Ok(out) => out.status.unwrap_or(false),
            Err(e) => {
                tracing::warn!(statement = id, error = %DisplayErrorContext(&e), "cancel failed");
                false
            }
        }
    }

    /// Every row of a finished statement's result, page by page, with its
    /// columns' names.
    pub(super) async fn table(&self, id: &str) -> Result<Table, Failure> {
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
                _ => {
                    let columns = columns
                        .iter()
                        .map(|c| c.name().unwrap_or_default().to_owned())
                        .collect();
                    return Ok(Table { columns, rows });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// One field of a result, typed by its column's metadata where the Data API
/// sends a string.
pub(super) fn decode(field: &Field, column: Option<&ColumnMetadata>) -> Value {
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

pub(super) fn decode_text(s: &str, type_name: &str) -> Value {
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
pub(super) enum Failure {
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

pub(super) fn sdk_failure<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Failure
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
pub(super) const TRANSIENT_CODES: [&str; 12] = [
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
pub(super) const NOT_READY: [&str; 6] = [
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
pub(super) const TRANSIENT_SQL: [&str; 10] = [
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
pub(super) fn classify(failure: &Failure) -> TaskError {
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

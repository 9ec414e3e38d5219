//! The adapter's tests at the SDK level: binding, result decoding, error
//! classification, polling, and COPY's requests against a fake Data API.
//! What statements do on a real engine is tested in `tests/aws_path.rs`.

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

    fn cancel(&mut self, id: &str) -> MockResponse<CancelStatementOutput, CancelStatementError> {
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
        S3Literal::new("s3://ovom-data/export/manifests/log_data/2025-03-14/exec:1/00000.manifest")
            .unwrap(),
        S3Literal(
            "'s3://ovom-data/export/manifests/log_data/2025-03-14/exec:1/00000.manifest'".into()
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
    assert!(RedshiftWarehouse::try_new(client(&fake), bad.clone(), rt.handle().clone()).is_err());
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

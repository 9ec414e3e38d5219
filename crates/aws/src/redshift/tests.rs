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

/// The process every statement of the fake runs in (`RedshiftPid`).
const PID: i64 = 4242;

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
    /// `ResultRows` of a statement that changes rows (a COPY's rows
    /// loaded); else the rows of the pages.
    affected: Option<i64>,
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
                    .result_rows(
                        s.plan
                            .affected
                            .unwrap_or(s.plan.pages.iter().map(Vec::len).sum::<usize>() as i64),
                    ),
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
    let mut c = RedshiftConfig::new(
        Target::Workgroup("ovom".parse().unwrap()),
        "dev".parse().unwrap(),
        ROLE.parse().unwrap(),
    );
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
            for stmt in sql::statements(&text) {
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
        cluster_id: "ovom-warehouse".parse().unwrap(),
        db_user: "ovom_etl".parse().unwrap(),
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
            TEXTS.file("bound").unwrap(),
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
    assert_eq!(
        wh.query(TEXTS.file("delete").unwrap(), &[]).unwrap(),
        Vec::<Row>::new()
    );
    assert!(!calls(&fake)
        .iter()
        .any(|c| matches!(c, Call::Result { .. })));
    assert!(matches!(
        wh.query(TEXTS.file("two").unwrap(), &[]),
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
        let err = wh.query(TEXTS.file("one").unwrap(), &[]).unwrap_err();
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

mod copy_day;

// -- Configuration ------------------------------------------------------------

#[test]
fn configuration_is_checked_against_what_aws_accepts() {
    assert_eq!(config().validate(), Ok(()));
    let cluster = RedshiftConfig::new(
        Target::Cluster {
            cluster_id: "ovom-warehouse".parse().unwrap(),
            db_user: "ovom_etl".parse().unwrap(),
        },
        "dev".parse().unwrap(),
        "arn:aws-us-gov:iam::123456789012:role/service/ovom-copy"
            .parse()
            .unwrap(),
    );
    assert_eq!(cluster.validate(), Ok(()));
    // The names are typed (`crate::names`, tested there): what is left to
    // check is the timing.
    let field = |c: RedshiftConfig| c.validate().unwrap_err().field;
    let with = |f: &dyn Fn(&mut RedshiftConfig)| {
        let mut c = config();
        f(&mut c);
        c
    };
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
    bad.statement_timeout = Duration::from_secs(901);
    assert!(RedshiftWarehouse::try_new(client(&fake), bad.clone(), rt.handle().clone()).is_err());
    let mut wh = RedshiftWarehouse::new(client(&fake), bad, rt.handle().clone());
    assert!(
        matches!(wh.begin(), Err(TaskError::WarehouseError(m)) if m.contains("statement_timeout"))
    );
    assert!(matches!(
        wh.query(TEXTS.file("one").unwrap(), &[]),
        Err(TaskError::WarehouseError(_))
    ));
    assert!(calls(&fake).is_empty());
}

// -- The Redshift SQL ---------------------------------------------------------

#[test]
fn every_table_has_a_redshift_ddl_with_its_distribution() {
    let dims = ["dim_patient", "dim_doctor", "dim_lab", "dim_date"];
    let schema = sql::schema(Dialect::Redshift).unwrap();
    let tables: Vec<_> = schema
        .iter()
        .filter(|t| t.contains("CREATE TABLE"))
        .collect();
    assert!(tables.len() >= 11);
    for text in tables {
        assert!(
            text.contains(")\nDISTSTYLE") || text.contains(")\nDISTKEY"),
            "{text}"
        );
        if dims
            .iter()
            .any(|d| text.contains(&format!("TABLE IF NOT EXISTS {d} (")))
        {
            assert!(text.contains(")\nDISTSTYLE ALL"), "{text}");
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
        error: ovom_core::contract::LineError::line(""),
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
    statements.extend([TEST_LAYOUT.count(), TEST_LAYOUT.clear()]);
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

/// The statements these tests send that are not the product's: compiled in,
/// as every statement is.
const TEXTS: sql::Library = sql::Library {
    folder: "crates/aws/src/redshift/tests.rs",
    files: &[
        ("bound", "SELECT 1 WHERE :logical_date = :logical_date"),
        ("delete", "DELETE FROM t"),
        ("one", "SELECT 1"),
        ("two", "SELECT 1; SELECT 2"),
    ],
};

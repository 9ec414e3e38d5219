//! The AWS path of OVŌM's warehouse, executed offline.
//!
//! What a deployment runs, minus AWS: `statemachine/pipeline.asl.json`,
//! interpreted by `ovom-asl`, invokes the code each Lambda function runs
//! ([`ovom_aws::lambda::Task::run`], its error mapped to the Lambda error
//! type by [`ovom_aws::lambda::diagnostic`]) over the Redshift Data API and
//! S3 adapters, whose SDK clients talk to
//!
//! * the Data API test server (`tests/dataapi/`), which runs every
//!   statement on a real PostgreSQL server and implements COPY from S3, and
//! * moto's S3 server, holding the data root.
//!
//! Test-only, as moto is: the tests use it to compare the AWS path with the
//! embedded one, and `tests/offline/aws-path.sh` (the `aws-path` binary)
//! loads any data root through it and leaves the PostgreSQL database on
//! disk for `psql`.

pub mod erasure;
pub mod servers;

#[allow(dead_code)]
#[path = "../../aws/tests/moto/mod.rs"]
mod moto;

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_redshiftdata::types::{Field, StatusString};
use ovom_asl::{
    Clock, ExecutionFailure, Executor, ManualClock, NoopObserver, Observer, StateMachine,
    StateRecord, TaskFailure, TaskHandler,
};
use ovom_aws::lambda::erase::Eraser;
use ovom_aws::lambda::{diagnostic, Task};
use ovom_aws::redshift::{PollBackoff, RedshiftConfig, RedshiftWarehouse, Target};
use ovom_aws::s3::{DataRoot, S3Store};
use ovom_core::erasure::ErasureKey;
use ovom_core::handler::{TaskKind, BACKFILL_SUBSTITUTION, NESTED_START};
use ovom_core::local_dir::LocalDir;
use ovom_core::params::{self, BackfillInput, LogicalDate, NestedStart, Source};
use ovom_core::ports::ObjectStore;
use ovom_core::reports::BackfillRange;
use serde_json::Value;

pub use servers::{DataApi, Moto, Postgres};

/// The daily state machine, as deployed.
pub const DEFINITION: &str = include_str!("../../../statemachine/pipeline.asl.json");

/// The test deployment's names.
pub const BUCKET: &str = "ovom-export";
pub const PREFIX: &str = "ehr";
pub const WORKGROUP: &str = "ovom";
pub const COPY_ROLE: &str = "arn:aws:iam::123456789012:role/ovom-copy";

/// The backfill state machine's ARN in the test deployment.
pub const BACKFILL_ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:ovom-backfill";

/// The daily state machine's `DefinitionSubstitutions` in the test
/// deployment.
pub fn substitutions() -> std::collections::BTreeMap<String, String> {
    let mut subs: std::collections::BTreeMap<String, String> = TaskKind::ALL
        .iter()
        .map(|k| (k.substitution().to_owned(), function_arn(*k)))
        .collect();
    subs.insert(BACKFILL_SUBSTITUTION.to_owned(), BACKFILL_ARN.to_owned());
    subs
}

/// A Lambda function ARN of the test deployment.
pub fn function_arn(kind: TaskKind) -> String {
    format!(
        "arn:aws:lambda:us-east-1:123456789012:function:ovom-{}",
        kind.name()
    )
}

/// The three functions' code, each with the clients its container builds
/// once, as the deployed functions have.
pub struct Lambdas {
    tasks: Vec<(String, Task<RedshiftWarehouse, S3Store>)>,
}

impl TaskHandler for Lambdas {
    fn invoke(&self, resource: &str, input: &Value, _ctx: &Value) -> Result<Value, TaskFailure> {
        let Some((_, task)) = self.tasks.iter().find(|(arn, _)| arn == resource) else {
            return Err(TaskFailure::new(
                "Lambda.ResourceNotFoundException",
                format!("no function {resource}"),
            ));
        };
        task.run(input).map_err(|e| {
            let d = diagnostic(&e);
            TaskFailure::new(d.error_type, d.error_message)
        })
    }
}

/// The AWS path on its servers.
pub struct AwsPath {
    // Dropped in this order: the clients' runtime, then the servers.
    pub lambdas: Lambdas,
    /// The erase function's code.
    pub eraser: Eraser<RedshiftWarehouse, S3Store>,
    /// The executions running now (the daily ones, the backfills), as
    /// `ListExecutions` answers the erasure state machine.
    running: std::sync::Mutex<Vec<erasure::Running>>,
    machine: StateMachine,
    runtime: tokio::runtime::Runtime,
    data_api: aws_sdk_redshiftdata::Client,
    s3: aws_sdk_s3::Client,
    pub dataapi: DataApi,
    pub moto: Moto,
    pub pg: Postgres,
}

impl AwsPath {
    /// Start PostgreSQL (in `pg_dir`, kept, or a temporary folder), moto
    /// with the export bucket, and the Data API test server; build the
    /// functions' clients.
    pub fn start(pg_dir: Option<&Path>) -> Result<Self> {
        let pg = Postgres::start(pg_dir)?;
        let moto = Moto::start();
        let dataapi = DataApi::start(&pg, &moto.endpoint())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let s3 = moto.client();
        runtime
            .block_on(s3.create_bucket().bucket(BUCKET).send())
            .context("creating the export bucket on moto")?;
        let data_api = data_api_client(&dataapi.endpoint());
        let machine = StateMachine::from_json_with_substitutions(DEFINITION, &substitutions())
            .context("parsing the state machine")?;
        let root = DataRoot::parse(&format!("s3://{BUCKET}/{PREFIX}"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut config = RedshiftConfig::new(
            Target::Workgroup(WORKGROUP.parse()?),
            Postgres::DATABASE.parse()?,
            COPY_ROLE.parse()?,
        );
        config.poll = PollBackoff {
            initial: Duration::from_millis(2),
            max: Duration::from_millis(50),
        };
        let erasure_key =
            ErasureKey::new(erasure::TEST_ERASURE_KEY).map_err(|e| anyhow::anyhow!("{e}"))?;
        let tasks = TaskKind::ALL
            .iter()
            .map(|k| {
                let wh = RedshiftWarehouse::try_new(
                    data_api.clone(),
                    config.clone(),
                    runtime.handle().clone(),
                )?;
                let store = S3Store::new(s3.clone(), root.clone(), runtime.handle().clone());
                let task = Task::new(*k, wh, store).with_erasure_key(Some(erasure_key.clone()));
                Ok((function_arn(*k), task))
            })
            .collect::<Result<Vec<_>, ovom_aws::redshift::ConfigError>>()?;
        let eraser = Eraser::new(
            RedshiftWarehouse::try_new(data_api.clone(), config.clone(), runtime.handle().clone())?,
            S3Store::new(s3.clone(), root.clone(), runtime.handle().clone()),
            Some(erasure_key),
        );
        Ok(Self {
            lambdas: Lambdas { tasks },
            eraser,
            running: Default::default(),
            machine,
            runtime,
            data_api,
            s3,
            dataapi,
            moto,
            pg,
        })
    }

    /// Upload the contract's files under a local data root (what the local
    /// object store lists of each source) to the bucket's prefix; how many.
    pub fn upload(&self, data: &Path) -> Result<usize> {
        let store = LocalDir::new(data);
        let files = files_of(&store)?;
        for key in &files {
            let body = store.get(key).map_err(|e| anyhow::anyhow!("{e}"))?;
            self.runtime
                .block_on(
                    self.s3
                        .put_object()
                        .bucket(BUCKET)
                        .key(format!("{PREFIX}/{key}"))
                        .body(body.into())
                        .send(),
                )
                .with_context(|| format!("uploading {key}"))?;
        }
        Ok(files.len())
    }

    /// Run one execution of the daily state machine.
    pub fn execute(&self, name: &str, input: Value) -> Result<Value, ExecutionFailure> {
        self.execute_with(name, input, &self.lambdas, &NoopObserver)
    }

    /// Run one execution with another task handler (one that injects
    /// faults in front of the functions) and observer.
    pub fn execute_with(
        &self,
        name: &str,
        input: Value,
        handler: &dyn TaskHandler,
        observer: &dyn Observer,
    ) -> Result<Value, ExecutionFailure> {
        let clock = clock();
        let handler = LaterDays {
            path: self,
            tasks: handler,
        };
        let _running = self.running_as(erasure::PIPELINE_ARN, name);
        Executor::new(&self.machine, &handler, &clock as &dyn Clock, observer)
            .with_execution_name(name)
            .run(input)
    }

    /// Run the backfill state machine's Map as Step Functions runs it: each
    /// chunk of the range (`BackfillInput::chunks`, as its JSONata cuts
    /// them) one execution of the daily state machine over the chunk's
    /// days, in order, named `{name}-{first day}`; the first failed chunk
    /// fails it. Returns its output, the `range`.
    pub fn backfill(
        &self,
        name: &str,
        input: &BackfillInput,
    ) -> Result<BackfillRange, TaskFailure> {
        self.backfill_with(name, input, &self.lambdas)
    }

    fn backfill_with(
        &self,
        name: &str,
        b: &BackfillInput,
        tasks: &dyn TaskHandler,
    ) -> Result<BackfillRange, TaskFailure> {
        let failed = |cause: String| TaskFailure::new("States.TaskFailed", cause);
        let _running = self.running_as(BACKFILL_ARN, name);
        for chunk in b.chunks().map_err(|e| failed(e.to_string()))? {
            // The input the backfill's LoadChunk state gives the daily machine.
            let chunk_input = serde_json::json!({
                "logical_date": chunk.first,
                "through": chunk.last,
                "dim_mode": b.dim_mode.as_str(),
                "strict": b.strict,
                "rerun_later_days": b.reruns_after(chunk),
                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": b.started_by,
            });
            let name = format!("{name}-{}", chunk.first);
            self.execute_with(&name, chunk_input, tasks, &NoopObserver)
                .map_err(|f| {
                    failed(format!(
                        "days {chunk} (execution {name}) failed in {}: {}: {}",
                        f.state, f.error, f.cause
                    ))
                })?;
        }
        b.output().map_err(|e| failed(e.to_string()))
    }

    /// Run one execution, recording every state it ran.
    pub fn execute_recorded(
        &self,
        name: &str,
        input: Value,
        handler: &dyn TaskHandler,
    ) -> (Result<Value, ExecutionFailure>, Vec<StateRecord>) {
        let recorder = Recorder::default();
        let result = self.execute_with(name, input, handler, &recorder);
        (result, recorder.records.into_inner())
    }

    /// Redrive an execution from `state` with that state's input.
    pub fn redrive(
        &self,
        name: &str,
        state: &str,
        input: Value,
    ) -> Result<Value, ExecutionFailure> {
        let clock = clock();
        let handler = LaterDays {
            path: self,
            tasks: &self.lambdas,
        };
        Executor::new(&self.machine, &handler, &clock as &dyn Clock, &NoopObserver)
            .with_execution_name(name)
            .run_from(state, input)
    }

    /// Every row of a query, each value as text (`NULL` for null), through
    /// the Data API without a session.
    pub fn query(&self, sql: &str) -> Result<Vec<Vec<String>>> {
        self.runtime.block_on(query(&self.data_api, sql))
    }
}

/// The task handler of one execution: the backfill state machine that the
/// daily one starts for the days after a late day runs here as it does on
/// AWS (each chunk of its range in order, one daily execution each over the
/// chunk's days, only the last chunk with the backfill's `rerun_later_days`;
/// the first failed chunk fails it); every other resource goes to `tasks`.
struct LaterDays<'a> {
    path: &'a AwsPath,
    tasks: &'a dyn TaskHandler,
}

impl TaskHandler for LaterDays<'_> {
    fn invoke(&self, resource: &str, input: &Value, ctx: &Value) -> Result<Value, TaskFailure> {
        if resource != NESTED_START {
            return self.tasks.invoke(resource, input, ctx);
        }
        let failed = |cause: String| TaskFailure::new("States.TaskFailed", cause);
        let start: NestedStart = params::parse(input).map_err(|e| failed(e.to_string()))?;
        if start.state_machine_arn != BACKFILL_ARN {
            return Err(failed(format!(
                "no state machine {}",
                start.state_machine_arn
            )));
        }
        let output = self
            .path
            .backfill_with(&start.name, &start.input, self.tasks)?;
        let output = serde_json::to_value(output).expect("a backfill's range serialises");
        let arn = BACKFILL_ARN.replace(":stateMachine:", ":execution:");
        Ok(start.succeeded(&format!("{arn}:{}", start.name), output))
    }
}

/// Every state an execution ran, as the interpreter reports them.
#[derive(Default)]
struct Recorder {
    records: std::cell::RefCell<Vec<StateRecord>>,
}

impl Observer for Recorder {
    fn state_exited(&self, record: &StateRecord) {
        self.records.borrow_mut().push(record.clone());
    }
}

/// The top-level state whose error failed an execution (a Task or a
/// Parallel, not the Fail state a Catch routed it to), with its input:
/// where Step Functions redrives it from.
pub fn failed_state(records: &[StateRecord]) -> Option<(String, Value)> {
    ovom_asl::failed_top_level_state(records).map(|r| (r.name.clone(), r.input.clone()))
}

fn clock() -> ManualClock {
    ManualClock::new(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 1, 1, 0, 0, 0).unwrap())
}

/// A Data API client of the test server, with static test credentials.
pub fn data_api_client(endpoint: &str) -> aws_sdk_redshiftdata::Client {
    use aws_sdk_redshiftdata::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_redshiftdata::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "ovom-tests",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_redshiftdata::Client::from_conf(config)
}

async fn query(client: &aws_sdk_redshiftdata::Client, sql: &str) -> Result<Vec<Vec<String>>> {
    let id = client
        .execute_statement()
        .sql(sql)
        .database(Postgres::DATABASE)
        .workgroup_name(WORKGROUP)
        .send()
        .await?
        .id
        .context("no statement id")?;
    loop {
        let d = client.describe_statement().id(&id).send().await?;
        match d.status() {
            Some(StatusString::Finished) => break,
            Some(StatusString::Failed | StatusString::Aborted) => {
                bail!("{sql}: {}", d.error.unwrap_or_default())
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let mut rows = vec![];
    let mut token = None;
    loop {
        let page = client
            .get_statement_result()
            .id(&id)
            .set_next_token(token.take())
            .send()
            .await?;
        for record in page.records() {
            rows.push(record.iter().map(text).collect());
        }
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(rows),
        }
    }
}

fn text(f: &Field) -> String {
    match f {
        Field::IsNull(_) => "NULL".into(),
        Field::BooleanValue(b) => b.to_string(),
        Field::LongValue(i) => i.to_string(),
        Field::DoubleValue(x) => x.to_string(),
        Field::StringValue(s) => s.clone(),
        _ => "?".into(),
    }
}

/// The keys of both sources' files under a local data root.
fn files_of(store: &LocalDir) -> Result<Vec<String>> {
    let mut keys = vec![];
    for source in Source::ALL {
        let listed = store
            .list(&format!("{}/", source.folder()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        keys.extend(listed.into_iter().map(|o| o.key));
    }
    Ok(keys)
}

/// The days that hold files under a local data root (`<source>/YYYY/MM/DD/`),
/// in order.
pub fn days_of(data: &Path) -> Result<Vec<LogicalDate>> {
    let mut days: Vec<LogicalDate> = files_of(&LocalDir::new(data))?
        .iter()
        .filter_map(|key| Source::day_of_key(key))
        .collect();
    days.sort();
    days.dedup();
    Ok(days)
}

/// The state machine input of one day, or of a range, with the defaults.
pub fn input(from: &str, through: Option<&str>) -> Value {
    let mut v = serde_json::json!({ "logical_date": from, "dim_mode": "merge", "strict": false });
    if let Some(t) = through.filter(|t| *t != from) {
        v["through"] = t.into();
    }
    v
}

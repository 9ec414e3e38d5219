//! The erasure state machine (`statemachine/erasure.asl.json`) on the AWS
//! path: interpreted by `ovom-asl`, its `listExecutions` tasks answered from
//! the executions this harness is running (each daily execution while it
//! runs, each backfill while its chunks run), its Erase task the erase
//! function's code over the Data API test server and moto's S3.

use anyhow::{Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use ovom_asl::{
    Clock, ExecutionFailure, Executor, NoopObserver, StateMachine, TaskFailure, TaskHandler,
};
use ovom_aws::lambda::diagnostic;
use serde_json::{json, Value};

use crate::{AwsPath, BACKFILL_ARN, BUCKET, PREFIX};

/// The erasure state machine, as deployed.
pub const ERASURE_DEFINITION: &str = include_str!("../../../statemachine/erasure.asl.json");

/// The daily state machine's ARN in the test deployment.
pub const PIPELINE_ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:ovom-pipeline";

/// The erase function's ARN in the test deployment.
pub const ERASE_FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ovom-erase";

/// The Step Functions SDK integration the erasure asks for running executions with.
pub const LIST_EXECUTIONS: &str = "arn:aws:states:::aws-sdk:sfn:listExecutions";

/// The erasure key of the test deployment (the template generates one).
pub const TEST_ERASURE_KEY: &str = "ovom-test-erasure-key-0123456789abcdefghijklmnopqrstuvwxyz";

/// An execution the harness is running, as `ListExecutions` lists it.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub state_machine_arn: String,
    pub name: String,
}

/// Marks an execution running for as long as it lives.
pub(crate) struct RunningGuard<'a> {
    path: &'a AwsPath,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.path.running.lock().expect("running").pop();
    }
}

impl AwsPath {
    pub(crate) fn running_as(&self, state_machine_arn: &str, name: &str) -> RunningGuard<'_> {
        self.running.lock().expect("running").push(Running {
            state_machine_arn: state_machine_arn.to_owned(),
            name: name.to_owned(),
        });
        RunningGuard { path: self }
    }

    /// Run one execution of the erasure state machine, named `name`, with
    /// `{"patients": [...]}`.
    pub fn erase(&self, name: &str, input: Value) -> Result<Value, ExecutionFailure> {
        let subs = [
            ("PipelineArn".to_owned(), PIPELINE_ARN.to_owned()),
            ("BackfillArn".to_owned(), BACKFILL_ARN.to_owned()),
            ("EraseFunctionArn".to_owned(), ERASE_FUNCTION_ARN.to_owned()),
        ]
        .into_iter()
        .collect();
        let machine = StateMachine::from_json_with_substitutions(ERASURE_DEFINITION, &subs)
            .expect("the erasure state machine parses");
        let clock = crate::clock();
        Executor::new(
            &machine,
            &ErasureResources { path: self },
            &clock as &dyn Clock,
            &NoopObserver,
        )
        .with_execution_name(name)
        .run(input)
    }

    /// Turn on versioning of the export bucket, as the template's bucket has it.
    pub fn version_bucket(&self) -> Result<()> {
        use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
        self.runtime
            .block_on(
                self.s3
                    .put_bucket_versioning()
                    .bucket(BUCKET)
                    .versioning_configuration(
                        VersioningConfiguration::builder()
                            .status(BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send(),
            )
            .context("versioning the export bucket")?;
        Ok(())
    }

    /// Write one object of the data root (a later delivery).
    pub fn put_object(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.runtime
            .block_on(
                self.s3
                    .put_object()
                    .bucket(BUCKET)
                    .key(format!("{PREFIX}/{key}"))
                    .body(ByteStream::from(bytes))
                    .send(),
            )
            .with_context(|| format!("writing {key}"))?;
        Ok(())
    }

    /// Every version of every object in the bucket (current and not), with
    /// its bytes: `(key, version id, bytes)`.
    pub fn object_versions(&self) -> Result<Vec<(String, String, Vec<u8>)>> {
        self.runtime.block_on(async {
            let mut out = vec![];
            let listed = self
                .s3
                .list_object_versions()
                .bucket(BUCKET)
                .send()
                .await
                .context("listing object versions")?;
            anyhow::ensure!(
                listed.is_truncated() != Some(true),
                "more versions than one page"
            );
            for v in listed.versions() {
                let (key, id) = (
                    v.key().unwrap_or_default(),
                    v.version_id().unwrap_or_default(),
                );
                let body = self
                    .s3
                    .get_object()
                    .bucket(BUCKET)
                    .key(key)
                    .version_id(id)
                    .send()
                    .await
                    .with_context(|| format!("reading {key} version {id}"))?
                    .body
                    .collect()
                    .await?
                    .into_bytes()
                    .to_vec();
                out.push((key.to_owned(), id.to_owned(), body));
            }
            Ok(out)
        })
    }
}

/// The erasure state machine's resources: `listExecutions` from the
/// executions the harness is running, the erase function's code.
struct ErasureResources<'a> {
    path: &'a AwsPath,
}

impl TaskHandler for ErasureResources<'_> {
    fn invoke(&self, resource: &str, input: &Value, _ctx: &Value) -> Result<Value, TaskFailure> {
        match resource {
            LIST_EXECUTIONS => {
                let arn = input["StateMachineArn"].as_str().unwrap_or_default();
                if ![PIPELINE_ARN, BACKFILL_ARN].contains(&arn) {
                    return Err(TaskFailure::new(
                        "Sfn.StateMachineDoesNotExistException",
                        format!("no state machine {arn}"),
                    ));
                }
                if input["StatusFilter"] != json!("RUNNING") {
                    return Err(TaskFailure::new(
                        "Sfn.InvalidArnException",
                        "the erasure lists running executions only",
                    ));
                }
                let max = input["MaxResults"].as_u64().unwrap_or(100) as usize;
                let executions: Vec<Value> = self
                    .path
                    .running
                    .lock()
                    .expect("running")
                    .iter()
                    .filter(|r| r.state_machine_arn == arn)
                    .take(max)
                    .map(|r| {
                        json!({
                            "ExecutionArn": format!("{}:{}", r.state_machine_arn.replace(":stateMachine:", ":execution:"), r.name),
                            "StateMachineArn": r.state_machine_arn,
                            "Name": r.name,
                            "Status": "RUNNING",
                        })
                    })
                    .collect();
                Ok(json!({ "Executions": executions }))
            }
            ERASE_FUNCTION_ARN => self.path.eraser.run(input).map_err(|e| {
                let d = diagnostic(&e);
                TaskFailure::new(d.error_type, d.error_message)
            }),
            other => Err(TaskFailure::new(
                "Lambda.ResourceNotFoundException",
                format!("no function {other}"),
            )),
        }
    }
}

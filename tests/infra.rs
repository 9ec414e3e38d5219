//! The deployment: the SAM template's IAM against the calls the AWS adapters
//! make, its wiring of the state machine to the three functions, a day run
//! from the definition as the template deploys it, a day started the way the
//! daily schedule starts it, the backfill state machine and its role, the
//! alarms and the dashboard against the metrics the functions write, and the
//! offline validation of `tests/offline/` (linters, checkov, asl-validator,
//! the backfill's JSONata, an arm64 build of the functions).
//!
//! The template is YAML with CloudFormation's short tags; it is read by a
//! few lines of Python with PyYAML (the tools' virtual environment has it,
//! `tests/offline/setup.sh` makes that environment).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ovom_asl::{Executor, NoopObserver, TaskFailure, TaskHandler};
use ovom_core::handler::{self, TaskKind};
use ovom_core::params::DimMode;
use ovom_duckdb::DuckWarehouse;
use ovom_local::pipeline::{load_definition, local_arn, Pipeline, DEFINITION};
use serde_json::{json, Value};

use crate::support::*;

// ------------------------------------------------------------------ helpers

fn tools_dir() -> PathBuf {
    std::env::var_os("OVOM_TOOLS")
        .map_or_else(|| PathBuf::from("/var/tmp/ovom-tools"), PathBuf::from)
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tests/offline/setup.sh`, once per test run (it is itself idempotent and
/// locked, so other runs wait for it).
fn setup_tools() -> &'static Result<(), String> {
    static SETUP: OnceLock<Result<(), String>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("tests/offline/setup.sh"))
            .output()
            .map_err(|e| format!("cannot run setup.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("tests/offline/setup.sh failed\n{}", shown(&out)))
        }
    })
}

/// A Python that has PyYAML: the tools' own (after setup.sh, so that it is
/// not reinstalled under a reader), else the machine's.
fn python() -> PathBuf {
    let has_yaml = |python: &Path| {
        Command::new(python)
            .args(["-c", "import yaml"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let setup = setup_tools();
    let venv = tools_dir().join("venv/bin/python");
    if has_yaml(&venv) {
        return venv;
    }
    let system = PathBuf::from("python3");
    if has_yaml(&system) {
        return system;
    }
    panic!("no Python with PyYAML to read the template (setup.sh: {setup:?})");
}

/// CloudFormation YAML to JSON: short tags become their long forms
/// (`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`,
/// `!Sub s` → `{"Fn::Sub": "s"}`).
const CFN_YAML_TO_JSON: &str = r#"
import json, sys, yaml

class Loader(yaml.SafeLoader):
    pass

def tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}

Loader.add_multi_constructor("!", tag)
with open(sys.argv[1], encoding="utf-8") as f:
    json.dump(yaml.load(f, Loader=Loader), sys.stdout)
"#;

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let out = Command::new(python())
            .args(["-c", CFN_YAML_TO_JSON])
            .arg(repo().join("infra/template.yaml"))
            .output()
            .expect("running Python");
        assert!(
            out.status.success(),
            "reading infra/template.yaml\n{}",
            shown(&out)
        );
        serde_json::from_slice(&out.stdout).expect("the template as JSON")
    })
}

fn resources() -> &'static serde_json::Map<String, Value> {
    template()["Resources"].as_object().expect("Resources")
}

fn resource(id: &str) -> &'static Value {
    resources()
        .get(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
}

fn get_att(id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [id, attribute]})
}

/// A value that is one string or a list of them, as a list.
fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

fn strings(v: &Value) -> BTreeSet<String> {
    list(v)
        .iter()
        .map(|a| a.as_str().expect("a string").to_owned())
        .collect()
}

/// Every statement that applies to a role: its inline policies, and the
/// `AWS::IAM::RolePolicy` / `AWS::IAM::Policy` resources attached to it.
fn role_statements(role: &str) -> Vec<Value> {
    let props = &resource(role)["Properties"];
    let mut statements: Vec<Value> = list(&props["Policies"])
        .iter()
        .flat_map(|p| list(&p["PolicyDocument"]["Statement"]))
        .collect();
    for (id, r) in resources() {
        let attached = match r["Type"].as_str() {
            Some("AWS::IAM::RolePolicy") => r["Properties"]["RoleName"] == json!({"Ref": role}),
            Some("AWS::IAM::Policy") => {
                list(&r["Properties"]["Roles"]).contains(&json!({"Ref": role}))
            }
            _ => false,
        };
        if attached {
            assert_ne!(id, role);
            statements.extend(list(&r["Properties"]["PolicyDocument"]["Statement"]));
        }
    }
    statements
}

/// The actions a role is allowed, each with the statements that allow it.
fn allowed(role: &str) -> BTreeMap<String, Vec<Value>> {
    let mut actions: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in role_statements(role) {
        assert_eq!(s["Effect"], "Allow", "{role}: {s}");
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{role}: {s}"
        );
        for a in strings(&s["Action"]) {
            assert!(!a.contains('*'), "{role}: wildcard action {a}");
            actions.entry(a).or_default().push(s.clone());
        }
    }
    actions
}

/// The one statement that allows `action`.
fn only<'a>(actions: &'a BTreeMap<String, Vec<Value>>, action: &str) -> &'a Value {
    match actions.get(action).map(Vec::as_slice) {
        Some([s]) => s,
        other => panic!("{action} should be allowed by one statement: {other:?}"),
    }
}

/// Actions that accept no narrower resource than `*`.
const RESOURCELESS: [&str; 15] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "redshift-data:DescribeStatement",
    "redshift-data:GetStatementResult",
    "redshift-data:CancelStatement",
];

/// A role has no managed policy, no wildcard action, and a `*` resource
/// only for actions that take no other, in a statement its metadata
/// documents.
fn assert_least_privilege(role: &str) {
    let r = resource(role);
    assert_eq!(r["Type"], "AWS::IAM::Role", "{role}");
    assert!(
        r["Properties"].get("ManagedPolicyArns").is_none(),
        "{role} has managed policies"
    );
    let documented = r["Metadata"]["WildcardResources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for s in role_statements(role) {
        if list(&s["Resource"]).contains(&json!("*")) {
            let sid = s["Sid"]
                .as_str()
                .unwrap_or_else(|| panic!("{role}: a `*` statement without a Sid: {s}"));
            assert!(
                documented.get(sid).and_then(Value::as_str).is_some_and(|why| why.len() > 20),
                "{role}: statement {sid} has a `*` resource its Metadata.WildcardResources does not explain"
            );
            // A statement in a Data API session names no resource of a type
            // the Service Authorization Reference defines: it is limited by
            // the session-owner condition instead.
            let own_sessions = s["Condition"]["StringEquals"]
                ["redshift-data:session-owner-iam-userid"]
                == "${aws:userid}";
            for a in strings(&s["Action"]) {
                assert!(
                    RESOURCELESS.contains(&a.as_str())
                        || (own_sessions && a.starts_with("redshift-data:")),
                    "{role}: {a} on `*` where a resource can be named"
                );
            }
        }
    }
}

/// The role a function runs as.
fn role_of(function: &str) -> String {
    let role = &resource(function)["Properties"]["Role"];
    role["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{function}'s Role is not a role of the template"))
        .to_owned()
}

/// The IAM actions of the SDK operations an adapter's source calls.
fn sdk_actions(source: &str, service: &str, operations: &[(&str, &str)]) -> BTreeSet<String> {
    // A file, or a module folder: all its files.
    let path = repo().join(source);
    let text = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        std::fs::read_to_string(&path).unwrap()
    };
    operations
        .iter()
        .filter(|(call, _)| text.contains(&format!(".{call}()")))
        .map(|(_, action)| format!("{service}:{action}"))
        .collect()
}

fn prefixed(actions: &BTreeMap<String, Vec<Value>>, service: &str) -> BTreeSet<String> {
    actions
        .keys()
        .filter(|a| a.starts_with(&format!("{service}:")))
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const FUNCTIONS: [(TaskKind, &str); 3] = [
    (TaskKind::Stage, "StageFunction"),
    (TaskKind::Load, "LoadFunction"),
    (TaskKind::Quality, "QualityFunction"),
];

/// Every statement the Redshift path runs from `sql/`, as the program
/// renders it, for `sqlglot_check.py`: `models/<name>.sql`,
/// `loads/<dimension>_<mode>.sql` and `loads/<dimension>_restore.sql`.
fn render_redshift_sql(dir: &Path) {
    use ovom_core::params::Model;
    use ovom_core::sql::{self, Dialect};
    for (name, _) in sql::files() {
        if name.starts_with("overrides/") || name.starts_with("macros/") {
            continue;
        }
        let path = dir.join("models").join(format!("{name}.sql"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, sql::file(Dialect::Redshift, name).unwrap().text()).unwrap();
    }
    std::fs::create_dir_all(dir.join("loads")).unwrap();
    for model in Model::ALL.into_iter().filter(|m| m.is_dimension()) {
        for mode in DimMode::ALL {
            let text = sql::dimension(Dialect::Redshift, model, mode).unwrap();
            let file = format!("{}_{}.sql", model.table(), mode.as_str());
            std::fs::write(dir.join("loads").join(file), text.text()).unwrap();
        }
        let restore = sql::dimension_restore(Dialect::Redshift, model).unwrap();
        let file = format!("{}_restore.sql", model.table());
        std::fs::write(dir.join("loads").join(file), restore.text()).unwrap();
    }
}

// -------------------------------------------------------------------- tests

#[test]
fn the_offline_validation_passes() {
    let started = std::time::Instant::now();
    if let Err(e) = setup_tools() {
        panic!("{e}");
    }
    println!("setup.sh: {:.0?}", started.elapsed());
    let started = std::time::Instant::now();
    let rendered = tempfile::tempdir().unwrap();
    render_redshift_sql(rendered.path());
    let out = Command::new("bash")
        .arg(repo().join("tests/offline/validate.sh"))
        .env("OVOM_REDSHIFT_SQL", rendered.path())
        .output()
        .expect("running validate.sh");
    assert!(
        out.status.success(),
        "tests/offline/validate.sh failed\n{}",
        shown(&out)
    );
    println!(
        "validate.sh: {:.0?}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn each_function_may_do_only_what_its_adapters_call() {
    let s3 = sdk_actions(
        "crates/aws/src/s3.rs",
        "s3",
        &[
            ("list_objects_v2", "ListBucket"),
            ("list_objects", "ListBucket"),
            ("get_object", "GetObject"),
            ("head_object", "GetObject"),
            ("put_object", "PutObject"),
            ("delete_object", "DeleteObject"),
            ("copy_object", "PutObject"),
        ],
    );
    let data_api = sdk_actions(
        "crates/aws/src/redshift",
        "redshift-data",
        &[
            ("execute_statement", "ExecuteStatement"),
            ("batch_execute_statement", "BatchExecuteStatement"),
            ("describe_statement", "DescribeStatement"),
            ("get_statement_result", "GetStatementResult"),
            ("get_statement_result_v2", "GetStatementResultV2"),
            ("cancel_statement", "CancelStatement"),
            ("list_statements", "ListStatements"),
        ],
    );
    assert!(
        s3.contains("s3:ListBucket") && s3.contains("s3:GetObject"),
        "the S3 adapter's calls: {s3:?}"
    );
    assert!(
        data_api.contains("redshift-data:ExecuteStatement")
            && data_api.contains("redshift-data:BatchExecuteStatement"),
        "the Data API adapter's calls: {data_api:?}"
    );

    for (kind, function) in FUNCTIONS {
        let role = role_of(function);
        assert_least_privilege(&role);
        let actions = allowed(&role);
        let log_group = format!("{}LogGroup", &function[..function.len() - "Function".len()]);
        assert_eq!(
            resource(function)["Properties"]["LoggingConfig"]["LogGroup"],
            json!({"Ref": log_group})
        );

        // Logs to its own group, traces, and the warehouse role.
        for a in ["logs:CreateLogStream", "logs:PutLogEvents"] {
            assert_eq!(
                only(&actions, a)["Resource"],
                get_att(&log_group, "Arn"),
                "{function}: {a}"
            );
        }
        assert_eq!(
            only(&actions, "sts:AssumeRole")["Resource"],
            get_att("WarehouseRole", "Arn"),
            "{function}"
        );
        let mut expected = set(&[
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "sts:AssumeRole",
        ]);

        // The object store and the erasure key: only the stage task touches
        // them (it suppresses the lines of erased patients).
        if kind == TaskKind::Stage {
            assert_eq!(
                only(&actions, "secretsmanager:GetSecretValue")["Resource"],
                json!({"Ref": "ErasureKey"}),
                "{function}"
            );
            expected.insert("secretsmanager:GetSecretValue".into());
            assert_eq!(
                prefixed(&actions, "s3"),
                s3,
                "{function}: S3 actions against the adapter's calls"
            );
            expected.extend(s3.iter().cloned());
            let list_bucket = only(&actions, "s3:ListBucket");
            let bucket = list_bucket["Resource"]["Fn::Sub"][0].as_str().unwrap();
            assert!(
                bucket.ends_with(":s3:::${Bucket}"),
                "{function}: ListBucket on {bucket}"
            );
            assert_eq!(
                list_bucket["Condition"]["StringLike"]["s3:prefix"],
                json!([{"Fn::Sub": "${DataPrefix}/*"}])
            );
            for a in s3.iter().filter(|a| *a != "s3:ListBucket") {
                // Writes only COPY manifests (the warehouse adapter's
                // `manifests/` folder); reads the day's files.
                let under = if a == "s3:PutObject" {
                    "/${DataPrefix}/manifests/*"
                } else {
                    "/${DataPrefix}/*"
                };
                let objects = only(&actions, a)["Resource"]["Fn::Sub"][0]
                    .as_str()
                    .unwrap();
                assert!(
                    objects.ends_with(&format!(":s3:::${{Bucket}}{under}")),
                    "{function}: {a} on {objects}"
                );
            }
        }
        assert_eq!(
            actions.keys().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{function}'s actions"
        );
    }

    // The warehouse role: the Data API calls the adapter makes, and signing
    // in to the workgroup; assumed by the three function roles only.
    assert_least_privilege("WarehouseRole");
    let actions = allowed("WarehouseRole");
    assert_eq!(
        prefixed(&actions, "redshift-data"),
        data_api,
        "the warehouse role's Data API actions against the adapter's calls"
    );
    let mut expected = data_api.clone();
    expected.insert("redshift-serverless:GetCredentials".into());
    assert_eq!(actions.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let workgroup = json!({"Fn::If": ["CreateWarehouse", get_att("Workgroup", "Workgroup.WorkgroupArn"), {"Fn::Sub": "arn:${AWS::Partition}:redshift-serverless:${AWS::Region}:${AWS::AccountId}:workgroup/${ExistingWorkgroupId}"}]});
    for (a, statements) in &actions {
        if a == "redshift-data:ExecuteStatement" || a == "redshift-data:BatchExecuteStatement" {
            // A statement on the workgroup opens a session; the statements
            // after it in the same transaction name only the session: no
            // resource type exists for it (Service Authorization Reference,
            // redshift-data), so `*` with the session-owner condition.
            let [on_workgroup, in_session] = statements.as_slice() else {
                panic!("{a}: {statements:?}");
            };
            assert_eq!(on_workgroup["Resource"], workgroup, "{a}");
            assert_eq!(in_session["Resource"], "*", "{a} in a session");
            assert_eq!(
                in_session["Condition"]["StringEquals"]["redshift-data:session-owner-iam-userid"],
                "${aws:userid}"
            );
        } else if RESOURCELESS.contains(&a.as_str()) {
            let s = only(&actions, a);
            assert_eq!(s["Resource"], "*", "{a}");
            assert_eq!(
                s["Condition"]["StringEquals"]["redshift-data:statement-owner-iam-userid"],
                "${aws:userid}",
                "{a} is limited to the role's own statements"
            );
        } else {
            assert_eq!(only(&actions, a)["Resource"], workgroup, "{a}");
        }
    }
    let trust = &resource("WarehouseRole")["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    let principals: BTreeSet<String> = list(trust)
        .iter()
        .flat_map(|s| list(&s["Principal"]["AWS"]))
        .map(|p| p["Fn::GetAtt"][0].as_str().unwrap().to_owned())
        .collect();
    let mut function_roles: BTreeSet<String> = FUNCTIONS.iter().map(|(_, f)| role_of(f)).collect();
    function_roles.insert(role_of("EraseFunction"));
    assert_eq!(principals, function_roles);

    // COPY reads the data prefix and nothing else.
    assert_least_privilege("CopyRole");
    assert_eq!(
        allowed("CopyRole").keys().cloned().collect::<BTreeSet<_>>(),
        set(&["s3:GetObject", "s3:ListBucket"])
    );

    // The state machine invokes exactly the three functions.
    let role = resource("Pipeline")["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_least_privilege(&role);
    let actions = allowed(&role);
    let invoke = only(&actions, "lambda:InvokeFunction");
    let invoked: BTreeSet<String> = list(&invoke["Resource"])
        .iter()
        .map(Value::to_string)
        .collect();
    let functions: BTreeSet<String> = FUNCTIONS
        .iter()
        .map(|(_, f)| get_att(f, "Arn").to_string())
        .collect();
    assert_eq!(invoked, functions);
    // ... and starts, follows and stops the backfill that runs the days
    // after a late one again, named by its name (a reference would be a
    // cycle: the backfill refers to the daily state machine).
    assert_eq!(
        resource("BackfillStateMachine")["Properties"]["Name"],
        json!({"Fn::Sub": "${AWS::StackName}-backfill"})
    );
    let nested: [(&str, Value); 4] = [
        ("states:StartExecution", json!({"Fn::Sub": BACKFILL_ARN})),
        (
            "states:DescribeExecution",
            json!({"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-backfill:*"}),
        ),
        (
            "states:StopExecution",
            json!({"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AWS::StackName}-backfill:*"}),
        ),
        (
            "events:PutRule",
            json!({"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"}),
        ),
    ];
    for (action, on) in nested {
        assert_eq!(only(&actions, action)["Resource"], on, "{action}");
    }
    let granted: BTreeSet<String> = actions
        .keys()
        .filter(|a| !RESOURCELESS.contains(&a.as_str()))
        .cloned()
        .collect();
    assert_eq!(
        granted,
        set(&[
            "lambda:InvokeFunction",
            "states:StartExecution",
            "states:DescribeExecution",
            "states:StopExecution",
            "events:PutTargets",
            "events:PutRule",
            "events:DescribeRule"
        ])
    );

    // No role anywhere has a managed policy.
    for (id, r) in resources() {
        if r["Type"] == "AWS::IAM::Role" {
            assert!(r["Properties"].get("ManagedPolicyArns").is_none(), "{id}");
        }
        if r["Type"] == "AWS::Serverless::Function" || r["Type"] == "AWS::Serverless::StateMachine"
        {
            assert!(
                r["Properties"].get("Policies").is_none(),
                "{id} has SAM-generated policies"
            );
        }
    }
}

#[test]
fn the_erase_function_may_only_rewrite_the_export_and_read_its_key() {
    let role = role_of("EraseFunction");
    assert_least_privilege(&role);
    let actions = allowed(&role);
    let mut s3 = sdk_actions(
        "crates/aws/src/s3.rs",
        "s3",
        &[
            ("list_objects_v2", "ListBucket"),
            ("get_object", "GetObject"),
            ("put_object", "PutObject"),
        ],
    );
    s3.extend(sdk_actions(
        "crates/aws/src/s3/versions.rs",
        "s3",
        &[
            ("list_object_versions", "ListBucketVersions"),
            ("delete_object", "DeleteObjectVersion"),
            ("put_object", "PutObject"),
        ],
    ));
    assert_eq!(
        prefixed(&actions, "s3"),
        s3,
        "the erase function's S3 actions"
    );
    for a in ["s3:ListBucket", "s3:ListBucketVersions"] {
        let s = only(&actions, a);
        assert!(s["Resource"]["Fn::Sub"][0]
            .as_str()
            .unwrap()
            .ends_with(":s3:::${Bucket}"));
        assert_eq!(
            s["Condition"]["StringLike"]["s3:prefix"],
            json!([{"Fn::Sub": "${DataPrefix}/*"}]),
            "{a}"
        );
    }
    for a in ["s3:GetObject", "s3:PutObject", "s3:DeleteObjectVersion"] {
        let on = only(&actions, a)["Resource"]["Fn::Sub"][0]
            .as_str()
            .unwrap();
        assert!(
            on.ends_with(":s3:::${Bucket}/${DataPrefix}/*"),
            "{a} on {on}"
        );
    }
    assert_eq!(
        only(&actions, "secretsmanager:GetSecretValue")["Resource"],
        json!({"Ref": "ErasureKey"})
    );
    assert_eq!(
        only(&actions, "sts:AssumeRole")["Resource"],
        get_att("WarehouseRole", "Arn")
    );
    let mut expected = set(&[
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sts:AssumeRole",
        "secretsmanager:GetSecretValue",
    ]);
    expected.extend(s3);
    assert_eq!(actions.keys().cloned().collect::<BTreeSet<_>>(), expected);
    // The key is generated by Secrets Manager, never written in the template,
    // and reaches the functions by its id.
    let key = &resource("ErasureKey")["Properties"];
    assert!(
        key["GenerateSecretString"]["PasswordLength"]
            .as_u64()
            .unwrap()
            >= 32
    );
    assert!(key.get("SecretString").is_none());
    for f in ["StageFunction", "EraseFunction"] {
        assert_eq!(
            resource(f)["Properties"]["Environment"]["Variables"]
                [ovom_aws::lambda::vars::ERASURE_KEY_ID],
            json!({"Ref": "ErasureKey"}),
            "{f}"
        );
    }
}

#[test]
fn the_erasure_state_machine_may_only_list_running_executions_and_invoke_erase() {
    let machine = &resource("ErasureStateMachine")["Properties"];
    assert_eq!(
        machine["DefinitionUri"],
        json!("../statemachine/erasure.asl.json")
    );
    let definition: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("statemachine/erasure.asl.json")).unwrap(),
    )
    .unwrap();
    let text = definition.to_string();
    let subs = machine["DefinitionSubstitutions"].as_object().unwrap();
    assert_eq!(
        placeholders(&text),
        subs.keys().cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(subs["PipelineArn"], json!({"Ref": "Pipeline"}));
    assert_eq!(subs["BackfillArn"], json!({"Ref": "BackfillStateMachine"}));
    assert_eq!(subs["EraseFunctionArn"], get_att("EraseFunction", "Arn"));
    let role = machine["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_least_privilege(&role);
    let actions = allowed(&role);
    assert_eq!(
        only(&actions, "lambda:InvokeFunction")["Resource"],
        get_att("EraseFunction", "Arn")
    );
    assert_eq!(
        only(&actions, "states:ListExecutions")["Resource"],
        json!([{"Ref": "Pipeline"}, {"Ref": "BackfillStateMachine"}])
    );
    let granted: BTreeSet<String> = actions
        .keys()
        .filter(|a| !RESOURCELESS.contains(&a.as_str()))
        .cloned()
        .collect();
    assert_eq!(
        granted,
        set(&["lambda:InvokeFunction", "states:ListExecutions"])
    );
}

/// The template's substitutions, and the placeholders of the definition it
/// deploys.
fn substitutions() -> (BTreeMap<String, Value>, String) {
    let props = &resource("Pipeline")["Properties"];
    let uri = props["DefinitionUri"]
        .as_str()
        .expect("DefinitionUri is a local file");
    let text = std::fs::read_to_string(repo().join("infra").join(uri)).unwrap();
    let subs = props["DefinitionSubstitutions"]
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    (subs, text)
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("a closed placeholder") + start;
        found.insert(rest[start + 2..end].to_owned());
        rest = &rest[end..];
    }
    found
}

#[test]
fn the_deployed_definition_runs_a_day_with_its_substitutions() {
    let (subs, text) = substitutions();
    assert_eq!(
        text, DEFINITION,
        "the template deploys the definition the local runner compiles in"
    );
    assert_eq!(
        subs.keys().cloned().collect::<BTreeSet<_>>(),
        placeholders(&text)
    );
    for (kind, function) in FUNCTIONS {
        assert_eq!(
            subs[kind.substitution()],
            get_att(function, "Arn"),
            "{}",
            kind.substitution()
        );
    }

    assert_eq!(
        subs[handler::BACKFILL_SUBSTITUTION],
        json!({"Fn::Sub": BACKFILL_ARN})
    );

    // The definition, its placeholders substituted with the local ARNs,
    // runs one day end to end.
    let machine = load_definition(&text).unwrap();
    let mut local: BTreeSet<String> = TaskKind::ALL.iter().map(|k| local_arn(*k)).collect();
    local.insert(handler::NESTED_START.to_owned());
    assert_eq!(machine.task_resources(), local);
    let data = Data::new();
    data.file(
        "patient_data/2025/03/14/part-00000.json",
        &[patient(1, "2025-03-14"), patient(2, "2025-03-14")],
    );
    data.file(
        "log_data/2025/03/14/part-00000.json",
        &[
            test("t1", 1, "2025-03-14", json!({})),
            test("t2", 2, "2025-03-14", json!({"ap_hi": 300})),
        ],
    );
    let p = Pipeline::with(DuckWarehouse::in_memory().unwrap(), data.path(), &text).unwrap();
    let out = run_ok(&p, "2025-03-14");
    assert!(out.get("quality").is_some(), "{out}");
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest"), 1);
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM rejects"), 1);
}

/// The in-process tasks, recording what each was asked.
struct Recording<'a> {
    pipeline: &'a Pipeline,
    calls: RefCell<Vec<(String, Value)>>,
}

impl TaskHandler for Recording<'_> {
    fn invoke(&self, resource: &str, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        self.calls
            .borrow_mut()
            .push((resource.to_owned(), input.clone()));
        self.pipeline.tasks().invoke(resource, input, context)
    }
}

#[test]
fn a_scheduled_start_loads_the_day_before_its_scheduled_time() {
    // The schedule: daily, the landing delay after midnight UTC, its
    // scheduled time as input.
    let daily = &resource("Pipeline")["Properties"]["Events"]["Daily"];
    assert_eq!(daily["Type"], "ScheduleV2");
    let schedule = &daily["Properties"];
    assert_eq!(
        schedule["ScheduleExpression"],
        json!({"Fn::FindInMap": ["LandingDelay", {"Ref": "ExportLandingDelay"}, "Cron"]})
    );
    let delays = &template()["Parameters"]["ExportLandingDelay"];
    assert_eq!(delays["Default"], "2h");
    for delay in delays["AllowedValues"].as_array().unwrap() {
        let cron = template()["Mappings"]["LandingDelay"][delay.as_str().unwrap()]["Cron"]
            .as_str()
            .unwrap_or_else(|| panic!("no schedule for the landing delay {delay}"));
        let (minute, hour) = cron
            .strip_prefix("cron(")
            .and_then(|c| c.strip_suffix(" * * ? *)"))
            .and_then(|c| c.split_once(' '))
            .unwrap_or_else(|| panic!("{cron}"));
        let after: u32 = hour.parse::<u32>().unwrap() * 60 + minute.parse::<u32>().unwrap();
        let text = delay.as_str().unwrap();
        let wanted = match text.strip_suffix('h') {
            Some(h) => h.parse::<u32>().unwrap() * 60,
            None => text.strip_suffix('m').unwrap().parse().unwrap(),
        };
        assert_eq!(after, wanted, "{delay}: {cron}");
    }
    assert_eq!(schedule["ScheduleExpressionTimezone"], "UTC");
    assert_eq!(
        schedule["State"],
        json!({"Fn::If": ["ScheduleOn", "ENABLED", "DISABLED"]})
    );
    assert_eq!(
        template()["Parameters"]["ScheduleEnabled"]["AllowedValues"],
        json!(["true", "false"])
    );
    let input: Value = serde_json::from_str(schedule["Input"].as_str().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({"scheduled_time": "<aws.scheduler.scheduled-time>"})
    );
    // Just after midnight of the 15th, leap-year boundaries aside (those are
    // the JSONata tests'): the 14th is loaded.
    let input = json!({"scheduled_time": "2025-03-15T02:00:00Z"});

    let data = Data::new();
    data.file(
        "patient_data/2025/03/14/part-00000.json",
        &[patient(1, "2025-03-14")],
    );
    data.file(
        "log_data/2025/03/14/part-00000.json",
        &[test("t1", 1, "2025-03-14", json!({}))],
    );
    let p = pipeline(data.path());
    let tasks = Recording {
        pipeline: &p,
        calls: RefCell::new(vec![]),
    };
    let machine = load_definition(DEFINITION).unwrap();
    let out = Executor::new(&machine, &tasks, &clock(), &NoopObserver)
        .with_execution_name("scheduled-20250315")
        .run(input)
        .unwrap_or_else(|f| panic!("{} in {}: {}", f.error, f.state, f.cause));
    assert!(out.get("quality").is_some(), "{out}");

    let calls = tasks.calls.into_inner();
    assert_eq!(calls.len(), 8, "every task ran once");
    for (resource, input) in &calls {
        assert_eq!(input["logical_date"], "2025-03-14", "{resource}: {input}");
        assert_eq!(input["run_id"], "scheduled-20250315");
    }
    assert_eq!(calls[0].1["strict"], false, "a scheduled day is not strict");
    assert_eq!(
        calls[1].1["mode"], "merge",
        "a scheduled day merges the dimensions"
    );
    assert_eq!(
        scalar(
            &p,
            "SELECT COUNT(*) FROM fact_bloodtest WHERE logical_date = DATE '2025-03-14'"
        ),
        1
    );
}

// ------------------------------------------------------------ the backfill

/// The backfill definition as the template deploys it: parsed, its text,
/// and the template's substitutions for it.
fn backfill() -> (Value, String, BTreeMap<String, Value>) {
    let r = resource("BackfillStateMachine");
    assert_eq!(r["Type"], "AWS::Serverless::StateMachine");
    let props = &r["Properties"];
    let uri = props["DefinitionUri"]
        .as_str()
        .expect("DefinitionUri is a local file");
    let text = std::fs::read_to_string(repo().join("infra").join(uri)).unwrap();
    let subs = props["DefinitionSubstitutions"]
        .as_object()
        .expect("DefinitionSubstitutions")
        .clone()
        .into_iter()
        .collect();
    let machine = serde_json::from_str(&text).expect("the backfill definition is JSON");
    (machine, text, subs)
}

/// The states of a definition by name, those of its Maps and Parallels
/// included.
fn all_states(machine: &Value) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for (name, state) in machine["States"].as_object().expect("States") {
        assert!(
            found.insert(name.clone(), state.clone()).is_none(),
            "{name} twice"
        );
        let nested = [&state["ItemProcessor"], &state["Iterator"]]
            .into_iter()
            .chain(state["Branches"].as_array().into_iter().flatten());
        for block in nested.filter(|b| b.is_object()) {
            for (name, state) in all_states(block) {
                assert!(found.insert(name.clone(), state).is_none(), "{name} twice");
            }
        }
    }
    found
}

/// Every dimension mode (a new one fails to compile here until the backfill
/// is told about it).
fn dim_modes() -> [DimMode; 3] {
    let all = [DimMode::TruncateInsert, DimMode::Append, DimMode::Merge];
    for mode in all {
        match mode {
            DimMode::TruncateInsert | DimMode::Append | DimMode::Merge => {}
        }
    }
    all
}

use handler::NESTED_START;

/// The backfill state machine's ARN as the template builds it from its name.
const BACKFILL_ARN: &str =
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-backfill";

#[test]
fn the_backfill_runs_the_daily_state_machine_one_chunk_of_days_at_a_time() {
    let (machine, text, subs) = backfill();
    // Its one placeholder is the daily state machine, which has a name the
    // backfill's role can name its executions by.
    assert_eq!(placeholders(&text), set(&["PipelineArn"]));
    assert_eq!(
        subs.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["PipelineArn"])
    );
    assert_eq!(subs["PipelineArn"], json!({"Ref": "Pipeline"}));
    assert_eq!(
        resource("Pipeline")["Properties"]["Name"],
        json!({"Fn::Sub": "${AWS::StackName}-pipeline"})
    );

    // The range is read by the one JSONata state (JSONPath has no date
    // arithmetic; tests/offline/backfill_jsonata.js evaluates it), ...
    let states = all_states(&machine);
    assert!(
        machine.get("QueryLanguage").is_none(),
        "JSONPath but for one state"
    );
    let start = machine["StartAt"].as_str().unwrap();
    let jsonata: Vec<&str> = states
        .iter()
        .filter(|(_, s)| s["QueryLanguage"] == "JSONata")
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(jsonata, [start]);
    let read = &states[start];
    assert_eq!(read["Type"], "Pass");
    let expression = read["Output"].as_str().expect("one expression");
    for mode in dim_modes() {
        assert!(
            expression.contains(&format!("'{}'", mode.as_str())),
            "the backfill refuses dim_mode {}",
            mode.as_str()
        );
    }

    // ... input it refuses ends in a Fail state with its reason, ...
    let check = &states[read["Next"].as_str().unwrap()];
    assert_eq!(check["Type"], "Choice");
    let [refused] = check["Choices"].as_array().unwrap().as_slice() else {
        panic!("{check}");
    };
    assert_eq!(refused["Variable"], "$.problem");
    assert_eq!(refused["IsNull"], false);
    let fail = &states[refused["Next"].as_str().unwrap()];
    assert_eq!(fail["Type"], "Fail");
    assert_eq!(fail["CausePath"], "$.problem");

    // ... and the chunks run one at a time, in order, the first failed
    // chunk failing the Map (an Inline Map has no tolerated failures) and
    // the backfill at the Map, where a redrive resumes.
    let days = &states[check["Default"].as_str().unwrap()];
    assert_eq!(days["Type"], "Map");
    assert_eq!(days["ItemsPath"], "$.chunks");
    assert_eq!(
        days["MaxConcurrency"], 1,
        "one chunk at a time, in date order"
    );
    assert!(
        matches!(
            days["ItemProcessor"]["ProcessorConfig"]["Mode"].as_str(),
            None | Some("INLINE")
        ),
        "{days}"
    );
    for field in [
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCount",
        "ToleratedFailureCountPath",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "Catch",
        "Retry",
    ] {
        assert!(days.get(field).is_none(), "the Map has {field}");
    }
    assert_eq!(
        days.get("ResultPath"),
        Some(&Value::Null),
        "the days' results are dropped"
    );
    assert_eq!(
        days["ItemSelector"],
        json!({
            "logical_date.$": "$$.Map.Item.Value.from",
            "through.$": "$$.Map.Item.Value.through",
            "last_day.$": "$.range.to",
            "dim_mode.$": "$.range.dim_mode",
            "strict.$": "$.range.strict",
            "rerun_later_days.$": "$.range.rerun_later_days"
        })
    );

    // Each chunk: a nested execution of the daily state machine over its
    // days, awaited; only the last chunk may run the days after the range
    // again.
    let processor = &days["ItemProcessor"];
    let inner = all_states(processor);
    let first = &inner[processor["StartAt"].as_str().unwrap()];
    assert_eq!(first["Type"], "Choice");
    assert_eq!(
        first["Choices"],
        json!([{"Variable": "$.through", "StringEqualsPath": "$.last_day", "Next": "LoadLastChunk"}])
    );
    assert_eq!(first["Default"], "LoadChunk");
    for (name, rerun) in [
        ("LoadChunk", json!({"rerun_later_days": false})),
        (
            "LoadLastChunk",
            json!({"rerun_later_days.$": "$.rerun_later_days"}),
        ),
    ] {
        let day = &inner[name];
        assert_eq!(day["Type"], "Task", "{name}");
        assert_eq!(day["Resource"], NESTED_START);
        assert_eq!(day["Parameters"]["StateMachineArn"], "${PipelineArn}");
        let mut input = json!({
            "logical_date.$": "$.logical_date",
            "through.$": "$.through",
            "dim_mode.$": "$.dim_mode",
            "strict.$": "$.strict",
            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(rerun.as_object().unwrap().clone());
        assert_eq!(day["Parameters"]["Input"], input, "{name}");
        assert!(day["End"] == true, "{name}");
    }
    assert_eq!(inner.len(), 3, "{inner:?}");
    assert_eq!(
        states.values().filter(|s| s["Type"] == "Task").count(),
        2,
        "the backfill does nothing but start chunks of days"
    );
}

#[test]
fn a_day_the_backfill_starts_loads_as_a_day_started_by_hand() {
    // The input the backfill's task builds from an iteration's item ...
    let (machine, _, _) = backfill();
    let states = all_states(&machine);
    let day = &states["LoadChunk"];
    assert_eq!(day["Resource"], NESTED_START);
    let item = json!({"logical_date": "2025-03-14", "through": "2025-03-14", "last_day": "2025-03-15", "dim_mode": "append", "strict": true, "rerun_later_days": true});
    let selected: BTreeSet<String> = states
        .values()
        .filter_map(|s| s["ItemSelector"].as_object())
        .flat_map(|selector| selector.keys().map(|k| k.trim_end_matches(".$").to_owned()))
        .collect();
    assert_eq!(
        selected,
        item.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    );
    let parent = "arn:aws:states:us-east-1:123456789012:execution:ovom-warehouse-backfill:b1";
    let input: serde_json::Map<String, Value> = day["Parameters"]["Input"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, path)| match key.strip_suffix(".$") {
            None => (key.clone(), path.clone()),
            Some(key) => {
                let value = match path.as_str().unwrap() {
                    "$$.Execution.Id" => json!(parent),
                    path => item[path.strip_prefix("$.").expect("a field of the item")].clone(),
                };
                (key.to_owned(), value)
            }
        })
        .collect();

    // ... runs the daily definition for that day, with its options.
    let data = Data::new();
    data.file(
        "patient_data/2025/03/14/part-00000.json",
        &[patient(1, "2025-03-14")],
    );
    data.file(
        "log_data/2025/03/14/part-00000.json",
        &[test("t1", 1, "2025-03-14", json!({}))],
    );
    let p = pipeline(data.path());
    let tasks = Recording {
        pipeline: &p,
        calls: RefCell::new(vec![]),
    };
    let daily = load_definition(DEFINITION).unwrap();
    let name = "backfill-2025-03-14-2025-03-14-6f1c2d2e-0b7a-4c1e-9a3e-2f4b5c6d7e8f";
    let out = Executor::new(&daily, &tasks, &clock(), &NoopObserver)
        .with_execution_name(name)
        .run(Value::Object(input))
        .unwrap_or_else(|f| panic!("{} in {}: {}", f.error, f.state, f.cause));
    assert!(out.get("quality").is_some(), "{out}");
    let calls = tasks.calls.into_inner();
    assert_eq!(calls.len(), 8, "every task ran once");
    for (resource, input) in &calls {
        assert_eq!(input["logical_date"], "2025-03-14", "{resource}: {input}");
        assert_eq!(input["run_id"], name);
    }
    assert_eq!(calls[0].1["strict"], true);
    assert_eq!(calls[1].1["mode"], "append");
    assert_eq!(scalar(&p, "SELECT COUNT(*) FROM fact_bloodtest"), 1);
}

#[test]
fn the_backfill_may_only_start_follow_and_stop_daily_runs() {
    let props = &resource("BackfillStateMachine")["Properties"];
    let role = props["Role"]["Fn::GetAtt"][0]
        .as_str()
        .expect("a role of the template")
        .to_owned();
    assert_least_privilege(&role);
    let by_sid = |role: &str| -> BTreeMap<String, Value> {
        let statements = role_statements(role);
        let by_sid: BTreeMap<String, Value> = statements
            .iter()
            .map(|s| (s["Sid"].as_str().expect("a Sid").to_owned(), s.clone()))
            .collect();
        assert_eq!(by_sid.len(), statements.len(), "{role}: a Sid twice");
        by_sid
    };
    let statements = by_sid(role.as_str());
    assert_eq!(
        statements.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "StartDays",
            "FollowDays",
            "ExecutionEvents",
            "LogDelivery",
            "Tracing"
        ])
    );
    // What startExecution.sync:2 needs, on the daily state machine only.
    let nested: [(&str, &[&str], Value); 3] = [
        (
            "StartDays",
            &["states:StartExecution"],
            json!({"Ref": "Pipeline"}),
        ),
        (
            "FollowDays",
            &["states:DescribeExecution", "states:StopExecution"],
            json!({"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${Pipeline.Name}:*"}),
        ),
        (
            "ExecutionEvents",
            &["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            json!({"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"}),
        ),
    ];
    for (sid, actions, on) in nested {
        let s = &statements[sid];
        assert_eq!(s["Effect"], "Allow", "{sid}");
        assert_eq!(strings(&s["Action"]), set(actions), "{sid}");
        assert_eq!(s["Resource"], on, "{sid}");
        assert!(s.get("Condition").is_none(), "{sid}");
    }
    // Logs and traces as the daily state machine's role has them.
    let daily_role = resource("Pipeline")["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    let daily = by_sid(daily_role);
    for sid in ["LogDelivery", "Tracing"] {
        assert_eq!(statements[sid], daily[sid], "{sid}");
    }
    for (action, allowing) in allowed(&role) {
        assert_eq!(allowing.len(), 1, "{action} is allowed twice");
    }
    // Assumed by Step Functions of this account only.
    let trust = list(&resource(&role)["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
    assert_eq!(
        trust,
        [json!({
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        })]
    );

    // Logged and traced like the daily state machine, without execution data.
    let pipeline = &resource("Pipeline")["Properties"];
    assert_eq!(props["Tracing"], pipeline["Tracing"]);
    assert_eq!(props["Logging"]["Level"], pipeline["Logging"]["Level"]);
    assert_eq!(props["Logging"]["IncludeExecutionData"], false);
    assert_eq!(
        props["Logging"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"],
        get_att("BackfillLogGroup", "Arn")
    );
    assert_eq!(
        template()["Outputs"]["BackfillStateMachineArn"]["Value"],
        json!({"Ref": "BackfillStateMachine"})
    );
}

// ---------------------------------------------------- alarms and dashboard

/// The metrics the functions write in CloudWatch's embedded metric format
/// (`crates/aws/src/emf.rs`), the only custom metrics an alarm or the
/// dashboard may read: one namespace; the dimension set `[["Task"]]` with
/// the task's name and, by task, the metrics below; and the fact's rejects
/// once more by reason, with the dimension set `[["Task", "Reason"]]`.
const EMF_NAMESPACE: &str = "OVOM/Warehouse";
/// Written by every invocation of every task.
const EMF_EVERY_TASK: [&str; 2] = ["DurationMs", "TaskFailures"];
/// Written by each task besides those.
const EMF_TASK_METRICS: [(TaskKind, &[&str]); 3] = [
    (
        TaskKind::Stage,
        &["LinesRead", "RowsStaged", "LinesQuarantined"],
    ),
    (
        TaskKind::Load,
        &["RowsLoaded", "RowsRejected", "Duplicates", "PendingTests"],
    ),
    (TaskKind::Quality, &["ChecksRun", "CheckFailures"]),
];
/// The per-reason documents: their task and metric.
const EMF_BY_REASON: (TaskKind, &str) = (TaskKind::Load, "RowsRejected");

/// Whether the functions write `metric` with `Task` = `task`.
fn emf_writes(task: &str, metric: &str) -> bool {
    EMF_TASK_METRICS.iter().any(|(kind, metrics)| {
        kind.name() == task && (EMF_EVERY_TASK.contains(&metric) || metrics.contains(&metric))
    })
}

/// The Step Functions metrics the alarms and the dashboard read.
const STATES_METRICS: [&str; 4] = [
    "ExecutionsStarted",
    "ExecutionsSucceeded",
    "ExecutionsFailed",
    "ExecutionsTimedOut",
];

#[test]
fn the_metric_contract_is_what_the_functions_write() {
    let source = std::fs::read_to_string(repo().join("crates/aws/src/emf.rs"))
        .expect("the functions' metrics, crates/aws/src/emf.rs");
    let names = [EMF_NAMESPACE, "Task", "Reason"]
        .into_iter()
        .chain(EMF_EVERY_TASK)
        .chain(EMF_TASK_METRICS.iter().flat_map(|(_, m)| m.iter().copied()));
    for name in names {
        assert!(
            source.contains(&format!("\"{name}\"")),
            "crates/aws/src/emf.rs does not name {name}"
        );
    }
    assert_eq!(
        EMF_TASK_METRICS.map(|(kind, _)| kind.name()),
        TaskKind::ALL.map(TaskKind::name)
    );
    assert!(emf_writes(EMF_BY_REASON.0.name(), EMF_BY_REASON.1));
}

/// A metric an alarm reads: namespace, name, dimensions (name, value).
type AlarmMetric = (String, String, Vec<(String, Value)>);

fn alarm_metrics(props: &Value) -> Vec<AlarmMetric> {
    let one = |m: &Value| {
        (
            m["Namespace"].as_str().expect("Namespace").to_owned(),
            m["MetricName"].as_str().expect("MetricName").to_owned(),
            list(&m["Dimensions"])
                .iter()
                .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
                .collect(),
        )
    };
    if props.get("Metrics").is_some() {
        list(&props["Metrics"])
            .iter()
            .filter(|m| m.get("MetricStat").is_some())
            .map(|m| one(&m["MetricStat"]["Metric"]))
            .collect()
    } else {
        vec![one(props)]
    }
}

#[test]
fn every_alarm_notifies_the_encrypted_alarm_topic() {
    let alarms: BTreeMap<&str, &Value> = resources()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, r)| (id.as_str(), r))
        .collect();
    let topic = json!({"Ref": "AlarmTopic"});
    let pipeline = json!({"Ref": "Pipeline"});
    let backfill = json!({"Ref": "BackfillStateMachine"});
    // Each Step Functions alarm: its metric, of which state machine.
    let on_executions = [
        ("DailyRunFailedAlarm", "ExecutionsFailed", &pipeline),
        ("DailyRunTimedOutAlarm", "ExecutionsTimedOut", &pipeline),
        ("NoSuccessfulDayAlarm", "ExecutionsSucceeded", &pipeline),
        ("BackfillFailedAlarm", "ExecutionsFailed", &backfill),
    ];
    let mut expected: BTreeSet<&str> = on_executions.iter().map(|(id, _, _)| *id).collect();
    expected.insert("RejectRateAlarm");
    assert_eq!(alarms.keys().copied().collect::<BTreeSet<_>>(), expected);

    for (id, alarm) in &alarms {
        let props = &alarm["Properties"];
        assert!(
            !list(&props["AlarmActions"]).is_empty(),
            "{id} notifies no one"
        );
        for field in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
            for action in list(&props[field]) {
                assert_eq!(action, topic, "{id}: {field}");
            }
        }
        // Named under the stack: the topic takes this stack's alarms only.
        let name = props["AlarmName"]["Fn::Sub"].as_str().expect("AlarmName");
        assert!(name.starts_with("${AWS::StackName}-"), "{id}: {name}");
        let description = &props["AlarmDescription"];
        let description = description
            .as_str()
            .or_else(|| description["Fn::Sub"].as_str())
            .expect("AlarmDescription");
        assert!(
            description.len() > 80,
            "{id}: say what it means and what to do"
        );
        for (namespace, metric, dimensions) in alarm_metrics(props) {
            if namespace == EMF_NAMESPACE {
                let [(dimension, task)] = dimensions.as_slice() else {
                    panic!("{id}: {dimensions:?}");
                };
                assert_eq!(dimension, "Task", "{id}");
                assert!(
                    emf_writes(task.as_str().unwrap(), &metric),
                    "{id}: {metric} of {task}"
                );
            } else {
                assert_eq!(namespace, "AWS/States", "{id}");
                assert!(STATES_METRICS.contains(&metric.as_str()), "{id}: {metric}");
            }
        }
    }

    for (id, metric, machine) in on_executions {
        let props = &alarms[id]["Properties"];
        assert_eq!(
            alarm_metrics(props),
            [(
                "AWS/States".to_owned(),
                metric.to_owned(),
                vec![("StateMachineArn".to_owned(), machine.clone())]
            )],
            "{id}"
        );
        assert_eq!(props["Statistic"], "Sum", "{id}");
        assert_eq!(props["Threshold"], 1, "{id}");
    }
    for id in [
        "DailyRunFailedAlarm",
        "DailyRunTimedOutAlarm",
        "BackfillFailedAlarm",
    ] {
        let props = &alarms[id]["Properties"];
        assert_eq!(
            props["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{id}"
        );
        assert_eq!(props["TreatMissingData"], "notBreaching", "{id}");
    }
    // A timed-out day is a state only with a time limit: the daily
    // definition's own, an hour.
    let daily: Value = serde_json::from_str(DEFINITION).unwrap();
    assert_eq!(daily["TimeoutSeconds"], 3600);

    // No success in 26 hours: every hour of the last 26 without one, an
    // hour without data counting as one without success.
    let stale = &alarms["NoSuccessfulDayAlarm"];
    assert_eq!(
        stale["Condition"], "ScheduleOn",
        "no alarm for a schedule that is off"
    );
    let props = &stale["Properties"];
    let period = props["Period"].as_u64().unwrap();
    let periods = props["EvaluationPeriods"].as_u64().unwrap();
    assert_eq!(period * periods, 26 * 3600);
    assert_eq!(props["DatapointsToAlarm"], periods);
    assert_eq!(props["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(props["TreatMissingData"], "breaching");
    assert_eq!(
        list(&props["OKActions"]),
        std::slice::from_ref(&topic),
        "says when days load again"
    );

    // The reject rate: rejected / (loaded + rejected) of the fact's loads
    // over a day, against the parameter.
    let props = &alarms["RejectRateAlarm"]["Properties"];
    let by_id: BTreeMap<&str, &Value> = props["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Id"].as_str().unwrap(), m))
        .collect();
    for (id, metric) in [("rejected", "RowsRejected"), ("loaded", "RowsLoaded")] {
        let stat = &by_id[id]["MetricStat"];
        assert_eq!(stat["Metric"]["MetricName"], metric);
        assert_eq!(
            stat["Metric"]["Dimensions"],
            json!([{"Name": "Task", "Value": "load"}])
        );
        assert_eq!(stat["Period"], 86400);
        assert_eq!(stat["Stat"], "Sum");
        assert_eq!(by_id[id]["ReturnData"], false);
    }
    let returned: Vec<&&Value> = by_id.values().filter(|m| m["ReturnData"] == true).collect();
    let [rate] = returned.as_slice() else {
        panic!("one expression is the alarm's");
    };
    assert!(
        rate["Expression"]
            .as_str()
            .unwrap()
            .contains("rejected / (loaded + rejected)"),
        "{rate}"
    );
    assert_eq!(props["Threshold"], json!({"Ref": "RejectRateThreshold"}));
    assert_eq!(props["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(
        template()["Parameters"]["RejectRateThreshold"]["Default"],
        0.05
    );

    // The topic: encrypted with a key CloudWatch may use, published to by
    // this stack's alarms only, and an email subscribed when one is given.
    assert_eq!(
        resource("AlarmTopic")["Properties"]["KmsMasterKeyId"],
        json!({"Ref": "AlarmKey"})
    );
    let key = &resource("AlarmKey")["Properties"];
    assert_eq!(key["EnableKeyRotation"], true);
    let key_statements = list(&key["KeyPolicy"]["Statement"]);
    for s in &key_statements {
        assert!(
            s["Principal"] != "*" && s["Principal"]["AWS"] != "*",
            "a key statement for anyone: {s}"
        );
    }
    let for_alarms: Vec<&Value> = key_statements
        .iter()
        .filter(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com")
        .collect();
    let [for_alarms] = for_alarms.as_slice() else {
        panic!("the key lets CloudWatch encrypt: {key_statements:?}");
    };
    assert_eq!(
        strings(&for_alarms["Action"]),
        set(&["kms:Decrypt", "kms:GenerateDataKey*"])
    );
    let policy = &resource("AlarmTopicPolicy")["Properties"];
    assert_eq!(list(&policy["Topics"]), std::slice::from_ref(&topic));
    assert_eq!(
        list(&policy["PolicyDocument"]["Statement"]),
        [json!({
            "Sid": "StackAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"}}
            }
        })]
    );
    let subscription = resource("AlarmEmailSubscription");
    assert_eq!(subscription["Condition"], "HasAlarmEmail");
    assert_eq!(
        subscription["Properties"],
        json!({"TopicArn": topic, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}})
    );
    assert_eq!(
        template()["Conditions"]["HasAlarmEmail"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    );
    assert_eq!(template()["Parameters"]["AlarmEmail"]["Default"], "");
    assert_eq!(template()["Outputs"]["AlarmTopicArn"]["Value"], topic);
}

/// The dashboard's body: the JSON its `Fn::Sub` makes, each `${Name}`
/// written `<Name>`; and the names.
fn dashboard() -> (Value, BTreeSet<String>) {
    let body = resource("Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is a Fn::Sub of one string");
    let names = placeholders(body);
    let mut text = body.to_owned();
    for name in &names {
        text = text.replace(&format!("${{{name}}}"), &format!("<{name}>"));
    }
    let parsed = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the dashboard's body is not JSON: {e}\n{text}"));
    (parsed, names)
}

/// `name="value"` in a search expression.
fn search_term<'a>(expression: &'a str, name: &str) -> &'a str {
    let start = expression
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("{expression} has no {name}"))
        + name.len()
        + 2;
    let len = expression[start..].find('"').expect("a closing quote");
    &expression[start..start + len]
}

#[test]
fn the_dashboard_shows_the_metrics_the_functions_and_state_machines_publish() {
    let (body, names) = dashboard();
    assert_eq!(
        names,
        set(&["AWS::Region", "Pipeline", "BackfillStateMachine"])
    );
    let machines = ["<Pipeline>", "<BackfillStateMachine>"];

    // (namespace, metric, dimension value) of every metric drawn.
    let mut shown: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut searches = vec![];
    let widgets = body["widgets"].as_array().expect("widgets");
    for widget in widgets {
        let props = &widget["properties"];
        assert_eq!(widget["type"], "metric", "{widget}");
        let title = props["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a widget without a title");
        assert_eq!(props["region"], "<AWS::Region>", "{title}");
        for row in props["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metric is an array");
            if let Some(expression) = row[0].get("expression") {
                searches.push(expression.as_str().unwrap().to_owned());
                continue;
            }
            let fields: Vec<&str> = row.iter().map_while(Value::as_str).collect();
            assert!(!fields.contains(&"."), "{title}: write each metric in full");
            let &[namespace, metric, dimension, value] = fields.as_slice() else {
                panic!("{title}: one dimension: {row:?}");
            };
            match namespace {
                EMF_NAMESPACE => {
                    assert_eq!(dimension, "Task", "{title}");
                    assert!(emf_writes(value, metric), "{title}: no {metric} of {value}");
                }
                "AWS/States" => {
                    assert_eq!(dimension, "StateMachineArn", "{title}");
                    assert!(machines.contains(&value), "{title}: {value}");
                    assert!(STATES_METRICS.contains(&metric), "{title}: {metric}");
                }
                other => panic!("{title}: namespace {other}"),
            }
            shown.insert((namespace.into(), metric.into(), value.into()));
        }
    }

    // Rejects by reason: a search of the per-reason documents, whatever
    // reasons the fact's rules name.
    let [search] = searches.as_slice() else {
        panic!("one search, the rejects by reason: {searches:?}");
    };
    assert!(
        search.starts_with(&format!("SEARCH('{{{EMF_NAMESPACE},Task,Reason}} ")),
        "{search}"
    );
    assert_eq!(search_term(search, "MetricName"), EMF_BY_REASON.1);
    assert_eq!(search_term(search, "Task"), EMF_BY_REASON.0.name());

    // What the warehouse's operators look at.
    let mut expected: Vec<(&str, &str, &str)> = vec![];
    for machine in machines {
        for metric in [
            "ExecutionsStarted",
            "ExecutionsSucceeded",
            "ExecutionsFailed",
        ] {
            expected.push(("AWS/States", metric, machine));
        }
    }
    for metric in ["RowsLoaded", "RowsRejected", "Duplicates"] {
        expected.push((EMF_NAMESPACE, metric, "load"));
    }
    for kind in TaskKind::ALL {
        expected.push((EMF_NAMESPACE, "DurationMs", kind.name()));
    }
    expected.push((EMF_NAMESPACE, "LinesQuarantined", "stage"));
    expected.push((EMF_NAMESPACE, "CheckFailures", "quality"));
    for (namespace, metric, value) in expected {
        assert!(
            shown.contains(&(namespace.into(), metric.into(), value.into())),
            "the dashboard does not show {metric} of {value}"
        );
    }

    let outputs = &template()["Outputs"];
    assert_eq!(
        outputs["DashboardName"]["Value"],
        json!({"Ref": "Dashboard"})
    );
    let url = outputs["DashboardUrl"]["Value"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert!(url.ends_with("#dashboards/dashboard/${Dashboard}"), "{url}");
}

#[test]
fn data_is_encrypted_at_rest_and_the_template_holds_no_secret() {
    // S3: every object encrypted by default, and only over TLS.
    let bucket = &resource("DataBucket")["Properties"];
    let sse = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"]["SSEAlgorithm"];
    assert!(matches!(sse.as_str(), Some("AES256" | "aws:kms")), "{sse}");
    // Redshift Serverless encrypts every namespace at rest; its admin
    // password, should anyone need it, is generated into Secrets Manager by
    // the service, never written in the template.
    let ns = &resource("Namespace")["Properties"];
    assert_eq!(ns["ManageAdminPassword"], json!(true));
    assert!(ns.get("AdminUserPassword").is_none());
    // No password, secret or key anywhere in the template's text, and the
    // functions reach the warehouse with IAM (no secret ARN in their
    // environment).
    let text = serde_json::to_string(template()).unwrap();
    for needle in [
        "AdminUserPassword",
        "MasterUserPassword",
        "SecretArn",
        "SECRET",
        "aws_secret_access_key",
    ] {
        assert!(!text.contains(needle), "the template names {needle}");
    }
    let env = &template()["Globals"]["Function"]["Environment"]["Variables"];
    assert!(env.get("WAREHOUSE_ROLE_ARN").is_some());
    for name in env.as_object().unwrap().keys() {
        assert!(
            !name.contains("PASSWORD") && !name.contains("SECRET"),
            "{name}"
        );
    }
}

/// The characters of a regular expression's character class (`A-Z`, single
/// characters, a `-` at the end).
fn class_chars(class: &str) -> Vec<char> {
    let c: Vec<char> = class.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < c.len() {
        if i + 2 < c.len() && c[i + 1] == '-' {
            out.extend(c[i]..=c[i + 2]);
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn every_data_prefix_the_template_allows_can_be_written_into_a_copy() {
    let pattern = template()["Parameters"]["DataPrefix"]["AllowedPattern"]
        .as_str()
        .unwrap();
    let class = pattern
        .strip_prefix("^[")
        .and_then(|p| p.split_once("]+"))
        .map(|(c, _)| c)
        .unwrap();
    assert_eq!(pattern, format!("^[{class}]+(/[{class}]+)*$"));
    let chars = class_chars(class);
    assert!(chars.len() > 62, "{chars:?}");
    for c in chars {
        let key = format!("ehr{c}x/log_data/2025/01/01/part-00000.json");
        assert!(
            ovom_aws::redshift::is_copy_key(&key),
            "DataPrefix allows {c:?}, which the COPY statement refuses"
        );
    }
}

//! The deployment: the SAM template's IAM against the calls the AWS adapters
//! make, its wiring of the state machine to the three functions, a day run
//! from the definition as the template deploys it, a day started the way the
//! daily schedule starts it, and the offline validation of `tests/offline/`
//! (linters, checkov, asl-validator, an arm64 build of the functions).
//!
//! The template is YAML with CloudFormation's short tags; it is read by a
//! few lines of Python with PyYAML (the tools' virtual environment has it,
//! `tests/offline/setup.sh` makes that environment).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ovom::pipeline::{load_definition, local_arn, Pipeline, DEFINITION};
use ovom_asl::{Executor, NoopObserver, TaskFailure, TaskHandler};
use ovom_core::handler::TaskKind;
use ovom_duckdb::DuckWarehouse;
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
            for a in strings(&s["Action"]) {
                assert!(
                    RESOURCELESS.contains(&a.as_str()),
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
    let text = std::fs::read_to_string(repo().join(source)).unwrap();
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

// -------------------------------------------------------------------- tests

#[test]
fn the_offline_validation_passes() {
    let started = std::time::Instant::now();
    if let Err(e) = setup_tools() {
        panic!("{e}");
    }
    println!("setup.sh: {:.0?}", started.elapsed());
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(repo().join("tests/offline/validate.sh"))
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
        "crates/aws/src/redshift.rs",
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
        data_api.contains("redshift-data:ExecuteStatement"),
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

        // The object store: only the stage task touches it.
        if kind == TaskKind::Stage {
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
        if a == "redshift-data:ExecuteStatement" {
            // A statement on the workgroup opens a session; the statements
            // after it in the same transaction name only the session, the
            // role's own.
            let [on_workgroup, in_session] = statements.as_slice() else {
                panic!("{a}: {statements:?}");
            };
            assert_eq!(on_workgroup["Resource"], workgroup, "{a}");
            assert_eq!(
                in_session["Resource"],
                json!({"Fn::Sub": "arn:${AWS::Partition}:redshift-data:${AWS::Region}:${AWS::AccountId}:session:*"})
            );
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
    let function_roles: BTreeSet<String> = FUNCTIONS.iter().map(|(_, f)| role_of(f)).collect();
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

    // The definition, its placeholders substituted with the local ARNs,
    // runs one day end to end.
    let machine = load_definition(&text).unwrap();
    let local: BTreeSet<String> = TaskKind::ALL.iter().map(|k| local_arn(*k)).collect();
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
        self.pipeline.invoke(resource, input, context)
    }
}

#[test]
fn a_scheduled_start_loads_the_day_of_its_scheduled_time() {
    // The schedule: daily, late in the UTC day, its scheduled time as input.
    let daily = &resource("Pipeline")["Properties"]["Events"]["Daily"];
    assert_eq!(daily["Type"], "ScheduleV2");
    let schedule = &daily["Properties"];
    assert_eq!(schedule["ScheduleExpression"], "cron(50 23 * * ? *)");
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
    let input = json!({"scheduled_time": "2025-03-14T23:50:00Z"});

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
        .with_execution_name("scheduled-20250314")
        .run(input)
        .unwrap_or_else(|f| panic!("{} in {}: {}", f.error, f.state, f.cause));
    assert!(out.get("quality").is_some(), "{out}");

    let calls = tasks.calls.into_inner();
    assert_eq!(calls.len(), 8, "every task ran once");
    for (resource, input) in &calls {
        assert_eq!(input["logical_date"], "2025-03-14", "{resource}: {input}");
        assert_eq!(input["run_id"], "scheduled-20250314");
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

//! The daily state machine on a second, independent Amazon States Language
//! implementation: moto's Step Functions interpreter (its copy of
//! LocalStack's parser, `tests/offline/moto_sfn.py`), with the same scripted
//! Lambda outcomes as ours. State sequence, status, error, cause and output
//! must agree, but for the differences the AWS documentation explains:
//!
//! * Parallel branches: Step Functions starts every branch at once (the
//!   Parallel state docs), and its history lists them in any order; ours
//!   runs them one after another, so when a branch fails the later ones never
//!   start (AWS would stop them). Branch states are compared as sets, ours a
//!   subset of moto's.
//! * The JSONata state (`LogicalDateFromSchedule`): moto evaluates JSONata
//!   through a Java library this machine does not have, so scheduled starts
//!   are not compared here; `tests/offline/schedule_jsonata.js` checks the
//!   same expression on the jsonata package Step Functions implements.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::process::{Command, Stdio};

use ovom_asl::{Executor, Observer, StateMachine, TaskFailure, TaskHandler};
use serde_json::{json, Value};

use crate::support::*;

const BRANCH_STATES: [&str; 3] = ["LoadDimDoctor", "LoadDimLab", "LoadDimDate"];

fn definition() -> String {
    let mut text = ovom_local::pipeline::DEFINITION.to_owned();
    for (name, value) in ovom_awspath::substitutions() {
        text = text.replace(&format!("${{{name}}}"), &value);
    }
    text
}

/// Scripted outcomes by task key; an invocation with none left returns its
/// input, as the Python side does.
struct Scripted {
    outcomes: RefCell<BTreeMap<String, VecDeque<Value>>>,
}

impl TaskHandler for Scripted {
    fn invoke(&self, _resource: &str, input: &Value, _ctx: &Value) -> Result<Value, TaskFailure> {
        let key = task_key(input).unwrap_or("").to_owned();
        let next = self
            .outcomes
            .borrow_mut()
            .get_mut(&key)
            .and_then(VecDeque::pop_front);
        match next {
            Some(o) if o.get("error").is_some() => Err(TaskFailure::new(
                o["error"].as_str().unwrap(),
                o["cause"].as_str().unwrap(),
            )),
            Some(o) => Ok(o["ok"].clone()),
            None => Ok(input.clone()),
        }
    }
}

#[derive(Default)]
struct Entered(RefCell<Vec<String>>);

impl Observer for Entered {
    fn state_entered(&self, _path: &str, name: &str, _input: &Value) {
        self.0.borrow_mut().push(name.to_owned());
    }
}

fn ours(machine: &StateMachine, scenario: &Value) -> Value {
    let outcomes = scenario["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().unwrap().iter().cloned().collect()))
        .collect();
    let handler = Scripted {
        outcomes: RefCell::new(outcomes),
    };
    let entered = Entered::default();
    let clock = clock();
    let result = Executor::new(machine, &handler, &clock, &entered)
        .with_execution_name(scenario["name"].as_str().unwrap())
        .run(scenario["input"].clone());
    let states = entered.0.into_inner();
    match result {
        Ok(output) => {
            json!({"status": "SUCCEEDED", "states": states, "error": null, "cause": null, "output": output})
        }
        Err(f) => {
            json!({"status": "FAILED", "states": states, "error": f.error, "cause": f.cause, "output": null})
        }
    }
}

fn moto(definition: &str, scenarios: &[Value]) -> Vec<Value> {
    let python = ovom_awspath::servers::venv_python();
    let mut child = Command::new(python)
        .arg(repo().join("tests/offline/moto_sfn.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running moto_sfn.py");
    let request = json!({"definition": definition, "scenarios": scenarios});
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        request.to_string().as_bytes(),
    )
    .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "moto_sfn.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "moto_sfn.py printed no results ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The states outside the Parallel, in order, and the branch states entered.
fn split(states: &Value) -> (Vec<String>, Vec<String>) {
    let names: Vec<String> = states
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    let (mut branches, rest): (Vec<_>, Vec<_>) = names
        .into_iter()
        .partition(|n| BRANCH_STATES.contains(&n.as_str()));
    branches.sort();
    (rest, branches)
}

fn day(input: Value) -> Value {
    let mut v = json!({"logical_date": "2025-03-14", "dim_mode": "merge", "strict": false});
    v.as_object_mut()
        .unwrap()
        .extend(input.as_object().unwrap().clone());
    v
}

fn busy(cause: &str) -> Value {
    json!({"error": "WarehouseBusy", "cause": cause})
}

fn scenarios() -> Vec<Value> {
    let mut list = vec![
        json!({"name": "success", "input": day(json!({})), "outcomes": {}}),
        json!({"name": "range", "input": day(json!({"through": "2025-03-20"})), "outcomes": {}}),
        json!({"name": "neither-date", "input": {"x": 1}, "outcomes": {}}),
        json!({"name": "not-an-object", "input": "2025-03-14", "outcomes": {}}),
        json!({"name": "bad-dim-mode", "input": day(json!({"dim_mode": "upsert"})), "outcomes": {}}),
        json!({"name": "bad-strict", "input": day(json!({"strict": "yes"})), "outcomes": {}}),
        json!({"name": "refused-by-a-task", "input": day(json!({})),
               "outcomes": {"fact_bloodtest": [{"error": "InvalidParameters", "cause": "invalid parameter `run_id`"}]}}),
        json!({"name": "quality-retried", "input": day(json!({})),
               "outcomes": {"quality": [{"error": "QualityCheckFailed", "cause": "day_reconciles: 3 = 4"}]}}),
        json!({"name": "quality-fails", "input": day(json!({})),
               "outcomes": {"quality": [{"error": "QualityCheckFailed", "cause": "a"}, {"error": "QualityCheckFailed", "cause": "b"}]}}),
    ];
    for key in [
        "patient_data",
        "dim_patient",
        "log_data",
        "dim_lab",
        "fact_bloodtest",
        "quality",
    ] {
        list.push(
            json!({"name": format!("retried-{key}"), "input": day(json!({})),
                         "outcomes": {key: [busy("locked"), busy("still locked")]}}),
        );
        list.push(json!({"name": format!("fails-{key}"), "input": day(json!({})),
                         "outcomes": {key: [{"error": "WarehouseError", "cause": format!("{key} broke")}]}}));
    }
    list
}

#[test]
fn moto_runs_the_daily_state_machine_as_ours_does() {
    let text = definition();
    let machine = StateMachine::from_json_with_substitutions(
        ovom_local::pipeline::DEFINITION,
        &ovom_awspath::substitutions(),
    )
    .unwrap();
    let scenarios = scenarios();
    let theirs = moto(&text, &scenarios);
    assert_eq!(theirs.len(), scenarios.len());
    let mut differences = vec![];
    for (scenario, moto) in scenarios.iter().zip(&theirs) {
        let ours = ours(&machine, scenario);
        let name = scenario["name"].as_str().unwrap();
        for field in ["status", "error", "cause", "output"] {
            if ours[field] != moto[field] {
                differences.push(format!(
                    "{name}: {field}: ours {} / moto {}",
                    ours[field], moto[field]
                ));
            }
        }
        let ((our_states, our_branches), (their_states, their_branches)) =
            (split(&ours["states"]), split(&moto["states"]));
        if our_states != their_states {
            differences.push(format!(
                "{name}: states: ours {our_states:?} / moto {their_states:?}"
            ));
        }
        let subset = our_branches.iter().all(|b| their_branches.contains(b));
        let whole = ours["status"] == "SUCCEEDED" && our_branches == their_branches;
        if !(subset && (whole || ours["status"] == "FAILED")) {
            differences.push(format!(
                "{name}: branches: ours {our_branches:?} / moto {their_branches:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // What both agreed on is what the definition says.
    let by_name = |n: &str| theirs.iter().find(|r| r["name"] == n).unwrap().clone();
    for (name, status, error) in [
        ("success", "SUCCEEDED", Value::Null),
        ("range", "SUCCEEDED", Value::Null),
        ("neither-date", "FAILED", json!("InvalidParameters")),
        ("not-an-object", "FAILED", json!("InvalidParameters")),
        ("bad-dim-mode", "FAILED", json!("InvalidParameters")),
        ("refused-by-a-task", "FAILED", json!("InvalidParameters")),
        ("quality-retried", "SUCCEEDED", Value::Null),
        ("quality-fails", "FAILED", json!("QualityCheckFailed")),
        ("retried-dim_lab", "SUCCEEDED", Value::Null),
        ("fails-dim_lab", "FAILED", json!("WarehouseError")),
        ("fails-fact_bloodtest", "FAILED", json!("WarehouseError")),
    ] {
        let r = by_name(name);
        assert_eq!(
            (r["status"].as_str().unwrap(), &r["error"]),
            (status, &error),
            "{name}: {r}"
        );
    }
    assert_eq!(
        by_name("range")["output"]["fact_bloodtest"]["through"],
        "2025-03-20"
    );
}

//! The context object, redrives and the observer.

use serde_json::json;

use super::*;
use crate::NoopObserver;

fn two_tasks() -> Value {
    json!({
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": "first", "ResultPath": "$.first", "Next": "Second"},
            "Second": {"Type": "Task", "Resource": "second", "ResultPath": "$.second", "End": true}
        }
    })
}

#[test]
fn tasks_receive_the_context_object() {
    let out = execute_as(
        "exec-7",
        &two_tasks(),
        json!({"day": "2025-03-14"}),
        script()
            .on("first", [err("X")])
            .on("second", [ok(json!(2))]),
    );
    assert_eq!(out.result, failed("X", "X happened", "First"));
    assert_eq!(
        out.calls[0].context,
        json!({
            "Execution": {
                "Id": "arn:ovom:local:execution:exec-7",
                "Name": "exec-7",
                "Input": {"day": "2025-03-14"},
                "StartTime": "2026-01-01T00:00:00.000Z"
            },
            "StateMachine": {"Id": "arn:ovom:local:stateMachine:local", "Name": "local"},
            "State": {"Name": "First", "EnteredTime": "2026-01-01T00:00:00.000Z", "RetryCount": 0}
        })
    );
}

#[test]
fn the_default_execution_name_is_local() {
    let definition = json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input", "state.$": "$$.State.Name"}, "End": true}}
    });
    check(
        definition,
        json!([1]),
        script(),
        Ok(
            json!({"id": "arn:ovom:local:execution:local", "name": "local", "input": [1], "state": "P"}),
        ),
    );
}

#[test]
fn run_from_redrives_from_a_top_level_state_with_its_input() {
    let machine = machine(&two_tasks());
    let clock = ManualClock::new(start());
    let handler = script().on("second", [ok(json!(2))]);
    let out = Executor::new(&machine, &handler, &clock, &NoopObserver)
        .with_execution_name("exec-8")
        .run_from("Second", json!({"day": "2025-03-14", "first": 1}));
    assert_eq!(
        out,
        Ok(json!({"day": "2025-03-14", "first": 1, "second": 2}))
    );
    let calls = handler.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].context["Execution"]["Input"],
        json!({"day": "2025-03-14", "first": 1})
    );

    let missing =
        Executor::new(&machine, &handler, &clock, &NoopObserver).run_from("Nope", json!({}));
    assert_eq!(
        missing,
        Err(ExecutionFailure {
            error: "States.Runtime".into(),
            cause: "the state machine has no top-level state `Nope`".into(),
            state: "Nope".into()
        })
    );
}

#[test]
fn run_from_cannot_start_inside_a_branch() {
    let definition = json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": [{"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}}], "End": true}}
    });
    let machine = machine(&definition);
    let clock = ManualClock::new(start());
    let result =
        Executor::new(&machine, &script(), &clock, &NoopObserver).run_from("Inner", json!({}));
    assert_eq!(result.unwrap_err().error, "States.Runtime");
}

#[test]
fn records_report_every_state_with_its_input_output_and_timing() {
    let definition = json!({
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 5, "Next": "Work"},
            "Work": {"Type": "Task", "Resource": "r", "ResultPath": "$.r", "End": true,
                     "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2}]}
        }
    });
    let out = check(
        definition,
        json!({"a": 1}),
        script().on("r", [err("Busy"), ok(json!("ok"))]),
        Ok(json!({"a": 1, "r": "ok"})),
    );
    let [wait, work] = out.records.as_slice() else {
        panic!("{:?}", out.records)
    };
    assert_eq!(
        (
            wait.name.as_str(),
            wait.state_type.as_str(),
            wait.input.clone(),
            wait.output.clone(),
            wait.attempts
        ),
        ("Wait", "Wait", json!({"a": 1}), Some(json!({"a": 1})), 1)
    );
    assert_eq!((wait.started_at, wait.duration), (start(), secs(5)));
    assert_eq!(
        (
            work.name.as_str(),
            work.state_type.as_str(),
            work.output.clone(),
            work.attempts,
            work.error.clone(),
            work.caught
        ),
        (
            "Work",
            "Task",
            Some(json!({"a": 1, "r": "ok"})),
            2,
            None,
            false
        )
    );
    assert_eq!(
        (work.started_at, work.duration),
        (start() + chrono::Duration::seconds(5), secs(2))
    );
    assert_eq!(
        out.calls[1].context["State"]["EnteredTime"],
        json!("2026-01-01T00:00:05.000Z")
    );
    assert_eq!(
        out.events,
        [
            "enter Wait {\"a\":1}",
            "exit Wait",
            "enter Work {\"a\":1}",
            "attempt 1 of Work failed with Busy: retry in 2s",
            "exit Work",
        ]
    );
}

#[test]
fn substitutions_fill_placeholders_before_parsing() {
    let text = r#"{
        "StartAt": "Stage",
        "States": {
            "Stage": {"Type": "Task", "Resource": "${StageFunctionArn}", "Next": "Load"},
            "Load": {"Type": "Task", "Resource": "${LoadFunctionArn}", "End": true}
        }
    }"#;
    let subs = std::collections::BTreeMap::from([
        (
            "StageFunctionArn".to_owned(),
            "arn:ovom:local:function:stage".to_owned(),
        ),
        (
            "LoadFunctionArn".to_owned(),
            "arn:ovom:local:function:load".to_owned(),
        ),
        ("Unused".to_owned(), "x".to_owned()),
    ]);
    let machine = StateMachine::from_json_with_substitutions(text, &subs).unwrap();
    assert_eq!(
        machine.task_resources().into_iter().collect::<Vec<_>>(),
        [
            "arn:ovom:local:function:load",
            "arn:ovom:local:function:stage"
        ]
    );
    let raw = StateMachine::from_json(text).unwrap();
    assert_eq!(
        raw.task_resources().into_iter().collect::<Vec<_>>(),
        ["${LoadFunctionArn}", "${StageFunctionArn}"]
    );

    let partial =
        std::collections::BTreeMap::from([("StageFunctionArn".to_owned(), "s".to_owned())]);
    let err = StateMachine::from_json_with_substitutions(text, &partial).unwrap_err();
    assert_eq!(
        err,
        crate::DefinitionError::MissingSubstitution("LoadFunctionArn".into())
    );
    assert_eq!(err.to_string(), "the definition uses `${LoadFunctionArn}` but no substitution is given for `LoadFunctionArn`");
}

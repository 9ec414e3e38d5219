//! Wait, Succeed and Fail states.

use serde_json::json;

use super::*;

/// A Wait state `W` with `fields`, then a Pass state that records when it
/// was entered.
fn wait_then_stamp(fields: Value) -> Value {
    let mut wait = json!({"Type": "Wait", "Next": "Stamp"});
    wait.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    json!({
        "StartAt": "W",
        "States": {
            "W": wait,
            "Stamp": {"Type": "Pass", "Parameters": {"input.$": "$", "at.$": "$$.State.EnteredTime"}, "End": true}
        }
    })
}

#[test]
fn waits_go_through_the_clock() {
    let cases = [
        (
            json!({"Seconds": 10}),
            json!({}),
            vec![secs(10)],
            "2026-01-01T00:00:10.000Z",
        ),
        (
            json!({"SecondsPath": "$.delay"}),
            json!({"delay": 90}),
            vec![secs(90)],
            "2026-01-01T00:01:30.000Z",
        ),
        (
            json!({"Timestamp": "2026-01-01T01:00:00Z"}),
            json!({}),
            vec![secs(3600)],
            "2026-01-01T01:00:00.000Z",
        ),
        (
            json!({"Timestamp": "2026-01-01T02:00:00+02:00"}),
            json!({}),
            vec![],
            "2026-01-01T00:00:00.000Z",
        ),
        (
            json!({"TimestampPath": "$.until"}),
            json!({"until": "2026-01-01T00:00:05Z"}),
            vec![secs(5)],
            "2026-01-01T00:00:05.000Z",
        ),
        (
            json!({"Timestamp": "2025-12-31T00:00:00Z"}),
            json!({}),
            vec![],
            "2026-01-01T00:00:00.000Z",
        ),
        (
            json!({"Seconds": 0}),
            json!({}),
            vec![],
            "2026-01-01T00:00:00.000Z",
        ),
    ];
    for (fields, input, sleeps, at) in cases {
        let out = check(
            wait_then_stamp(fields.clone()),
            input.clone(),
            script(),
            Ok(json!({"input": input, "at": at})),
        );
        assert_eq!(out.sleeps, sleeps, "{fields}");
        assert_eq!(out.records[0].duration, sleeps.iter().sum(), "{fields}");
    }
}

#[test]
fn wait_applies_input_and_output_paths() {
    let definition = json!({
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "InputPath": "$.job", "SecondsPath": "$.delay", "OutputPath": "$.id", "End": true}}
    });
    let out = check(
        definition,
        json!({"job": {"id": "j-1", "delay": 3}}),
        script(),
        Ok(json!("j-1")),
    );
    assert_eq!(out.sleeps, [secs(3)]);
}

#[test]
fn a_wait_path_with_the_wrong_value_is_a_runtime_error() {
    check(
        wait_then_stamp(json!({"SecondsPath": "$.delay"})),
        json!({"delay": "soon"}),
        script(),
        failed(
            "States.Runtime",
            "the SecondsPath `$.delay` must select a non-negative integer, not \"soon\"",
            "W",
        ),
    );
    check(
        wait_then_stamp(json!({"SecondsPath": "$.delay"})),
        json!({}),
        script(),
        failed(
            "States.Runtime",
            "the SecondsPath `$.delay` must select a non-negative integer, not nothing",
            "W",
        ),
    );
    check(
        wait_then_stamp(json!({"TimestampPath": "$.until"})),
        json!({"until": "2026-01-01"}),
        script(),
        failed(
            "States.Runtime",
            "the TimestampPath `$.until` must select an RFC 3339 timestamp, not \"2026-01-01\"",
            "W",
        ),
    );
}

fn fail_state(fields: Value) -> Value {
    let mut fail = json!({"Type": "Fail"});
    fail.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    json!({"StartAt": "Failed", "States": {"Failed": fail}})
}

#[test]
fn fail_states_fail_the_execution_with_their_error_and_cause() {
    let input = json!({"failure": {"error": "QualityCheckFailed", "cause": "fact_rules_hold: got 1", "code": 7}});
    let cases = [
        (
            json!({"Error": "ErrorA", "Cause": "Kaiju attack"}),
            ("ErrorA", "Kaiju attack"),
        ),
        (
            json!({"ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"}),
            ("QualityCheckFailed", "fact_rules_hold: got 1"),
        ),
        (
            json!({"Error": "Coded", "CausePath": "States.Format('code {} for {}', $.failure.code, $$.Execution.Name)"}),
            ("Coded", "code 7 for local"),
        ),
        (json!({"Error": "OnlyError"}), ("OnlyError", "")),
        (json!({}), ("", "")),
    ];
    for (fields, (error, cause)) in cases {
        let out = check(
            fail_state(fields),
            input.clone(),
            script(),
            failed(error, cause, "Failed"),
        );
        let record = &out.records[0];
        assert_eq!((record.output.clone(), record.caught), (None, false));
        assert_eq!(record.error, Some(TaskFailure::new(error, cause)));
    }
}

#[test]
fn a_fail_path_that_selects_nothing_or_no_string_is_a_runtime_error() {
    check(
        fail_state(json!({"ErrorPath": "$.missing"})),
        json!({"a": 1}),
        script(),
        failed(
            "States.Runtime",
            "the ErrorPath `$.missing` matched nothing in {\"a\":1}",
            "Failed",
        ),
    );
    check(
        fail_state(json!({"CausePath": "$.a"})),
        json!({"a": 1}),
        script(),
        failed(
            "States.Runtime",
            "the CausePath must select a string, not 1",
            "Failed",
        ),
    );
}

#[test]
fn succeed_states_end_the_execution_through_their_paths() {
    let definition = json!({
        "StartAt": "Done",
        "States": {"Done": {"Type": "Succeed", "InputPath": "$.results", "OutputPath": "$.quality"}}
    });
    check(
        definition,
        json!({"results": {"quality": {"passed": 6}}}),
        script(),
        Ok(json!({"passed": 6})),
    );
}

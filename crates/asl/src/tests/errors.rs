//! Retry and Catch.

use serde_json::json;

use super::*;

/// A Task `T` with `Retry`/`Catch` fields, going to `Done` (a Succeed
/// state); catchers go to `Handled`, a Pass state that ends.
fn guarded(fields: Value) -> Value {
    let mut state = json!({"Type": "Task", "Resource": "r", "Next": "Done"});
    state
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let mut definition =
        json!({"StartAt": "T", "States": {"T": state, "Done": {"Type": "Succeed"}}});
    if fields.get("Catch").is_some() {
        definition["States"]["Handled"] = json!({"Type": "Pass", "End": true});
    }
    definition
}

#[test]
fn a_task_that_fails_twice_with_a_transient_error_is_retried_with_backoff_then_succeeds() {
    let out = check(
        guarded(
            json!({"Retry": [{"ErrorEquals": ["WarehouseBusy"], "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 3}]}),
        ),
        json!({"day": "2025-03-14"}),
        script().on(
            "r",
            [
                err("WarehouseBusy"),
                err("WarehouseBusy"),
                ok(json!({"rows": 10})),
            ],
        ),
        Ok(json!({"rows": 10})),
    );
    assert_eq!(out.sleeps, [secs(2), secs(4)]);
    assert_eq!(out.inputs("r"), vec![json!({"day": "2025-03-14"}); 3]);
    assert_eq!(
        out.summary(),
        [
            ("T".to_owned(), 3, None, false),
            ("Done".to_owned(), 1, None, false)
        ]
    );
    assert_eq!(
        out.events,
        [
            "enter T {\"day\":\"2025-03-14\"}",
            "attempt 1 of T failed with WarehouseBusy: retry in 2s",
            "attempt 2 of T failed with WarehouseBusy: retry in 4s",
            "exit T",
            "enter Done {\"rows\":10}",
            "exit Done",
        ]
    );
}

#[test]
fn retry_defaults_are_one_second_doubling_three_times() {
    let out = check(
        guarded(json!({"Retry": [{"ErrorEquals": ["X"]}]})),
        json!({}),
        script().on("r", [err("X"), err("X"), err("X"), err("X")]),
        failed("X", "X happened", "T"),
    );
    assert_eq!(out.sleeps, [secs(1), secs(2), secs(4)]);
    assert_eq!(out.calls.len(), 4);
    let record = &out.records[0];
    assert_eq!(
        (record.attempts, record.output.clone(), record.caught),
        (4, None, false)
    );
    assert_eq!(record.error, Some(TaskFailure::new("X", "X happened")));
    assert_eq!(record.duration, secs(7));
    assert_eq!(out.events.last().unwrap(), "exit T");
    assert_eq!(
        out.events[out.events.len() - 2],
        "attempt 4 of T failed with X: no retry"
    );
}

#[test]
fn max_delay_seconds_caps_the_backoff() {
    let out = check(
        guarded(
            json!({"Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 3, "BackoffRate": 3, "MaxAttempts": 5, "MaxDelaySeconds": 10}]}),
        ),
        json!({}),
        script().on("r", [err("X"), err("X"), err("X"), err("X"), ok(json!(1))]),
        Ok(json!(1)),
    );
    assert_eq!(out.sleeps, [secs(3), secs(9), secs(10), secs(10)]);
}

#[test]
fn fractional_backoff_rates_give_millisecond_delays() {
    let out = check(
        guarded(
            json!({"Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 1, "BackoffRate": 1.5}]}),
        ),
        json!({}),
        script().on("r", [err("X"), err("X"), err("X")]),
        Ok(json!({})),
    );
    assert_eq!(
        out.sleeps,
        [
            Duration::from_millis(1000),
            Duration::from_millis(1500),
            Duration::from_millis(2250)
        ]
    );
}

#[test]
fn max_attempts_zero_never_retries() {
    let out = check(
        guarded(json!({
            "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": 0}],
            "Catch": [{"ErrorEquals": ["X"], "Next": "Handled"}]
        })),
        json!({}),
        script().on("r", [err("X"), ok(json!("never"))]),
        Ok(json!({"Error": "X", "Cause": "X happened"})),
    );
    assert!(out.sleeps.is_empty());
    assert_eq!(out.calls.len(), 1);
    assert_eq!(
        out.summary()[0],
        ("T".to_owned(), 1, Some("X".to_owned()), true)
    );
}

#[test]
fn each_retrier_counts_its_own_attempts() {
    let out = check(
        guarded(json!({"Retry": [
            {"ErrorEquals": ["A"], "IntervalSeconds": 1, "MaxAttempts": 2},
            {"ErrorEquals": ["B"], "IntervalSeconds": 10, "MaxAttempts": 1}
        ]})),
        json!({}),
        script().on("r", [err("A"), err("B"), err("A"), err("A")]),
        failed("A", "A happened", "T"),
    );
    // A's first retry (1 s), B's first (10 s), A's second (1 s × 2); A's
    // third failure has no retry left.
    assert_eq!(out.sleeps, [secs(1), secs(10), secs(2)]);
    assert_eq!(out.calls.len(), 4);
}

#[test]
fn the_first_matching_retrier_decides_even_when_it_has_no_attempts_left() {
    let out = check(
        guarded(json!({"Retry": [
            {"ErrorEquals": ["A"], "MaxAttempts": 1},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]})),
        json!({}),
        script().on("r", [err("A"), err("A"), err("Other"), ok(json!("never"))]),
        failed("A", "A happened", "T"),
    );
    assert_eq!(out.sleeps, [secs(1)]);
}

#[test]
fn full_jitter_draws_each_delay_within_its_backoff_and_repeats_for_the_same_execution_name() {
    let definition = guarded(json!({"Retry": [{
        "ErrorEquals": ["WarehouseBusy"], "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 4,
        "MaxDelaySeconds": 30, "JitterStrategy": "FULL"
    }]}));
    let busy = || {
        script().on(
            "r",
            [
                err("WarehouseBusy"),
                err("WarehouseBusy"),
                err("WarehouseBusy"),
                err("WarehouseBusy"),
                ok(json!(1)),
            ],
        )
    };
    let first = execute_as("pipeline-20250314-1", &definition, json!({}), busy());
    assert_eq!(first.result, Ok(json!(1)));
    assert_eq!(first.sleeps.len(), 4);
    for (i, sleep) in first.sleeps.iter().enumerate() {
        assert!(*sleep <= secs(2 << i), "retry {i} slept {sleep:?}");
    }
    let again = execute_as("pipeline-20250314-1", &definition, json!({}), busy());
    assert_eq!(again.sleeps, first.sleeps);
    let other = execute_as("pipeline-20250314-2", &definition, json!({}), busy());
    assert_ne!(other.sleeps, first.sleeps);
}

#[test]
fn jitter_never_exceeds_max_delay_seconds() {
    let definition = guarded(json!({"Retry": [{
        "ErrorEquals": ["X"], "IntervalSeconds": 20, "BackoffRate": 4.0, "MaxAttempts": 6, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"
    }]}));
    let out = execute(&definition, json!({}), script().on("r", vec![err("X"); 6]));
    assert_eq!(out.sleeps.len(), 6);
    assert!(out.sleeps[0] <= secs(20));
    assert!(
        out.sleeps.iter().all(|s| *s <= secs(30)),
        "{:?}",
        out.sleeps
    );
}

#[test]
fn states_all_retries_and_catches_any_task_error() {
    let out = check(
        guarded(json!({
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Handled"}]
        })),
        json!({"day": 1}),
        script().on("r", [err("Lambda.ServiceException"), err("States.Timeout")]),
        Ok(
            json!({"day": 1, "failure": {"Error": "States.Timeout", "Cause": "States.Timeout happened"}}),
        ),
    );
    assert_eq!(out.sleeps, [secs(1)]);
}

#[test]
fn states_task_failed_matches_task_errors_but_not_timeouts() {
    let definition = guarded(json!({
        "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}],
        "Catch": [
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.taskFailed", "Next": "Handled"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.other", "Next": "Handled"}
        ]
    }));
    let out = check(
        definition.clone(),
        json!({}),
        script().on("r", [err("WarehouseError"), err("WarehouseError")]),
        Ok(json!({"taskFailed": {"Error": "WarehouseError", "Cause": "WarehouseError happened"}})),
    );
    assert_eq!(out.sleeps, [secs(1)]);
    let out = check(
        definition,
        json!({}),
        script().on("r", [err("States.Timeout")]),
        Ok(json!({"other": {"Error": "States.Timeout", "Cause": "States.Timeout happened"}})),
    );
    assert!(out.sleeps.is_empty());
}

#[test]
fn the_first_matching_catcher_handles_the_error_after_retries_are_exhausted() {
    let out = check(
        guarded(json!({
            "Retry": [{"ErrorEquals": ["WarehouseBusy"], "MaxAttempts": 2, "IntervalSeconds": 5}],
            "Catch": [
                {"ErrorEquals": ["InvalidParameters", "WarehouseBusy"], "ResultPath": "$.failure", "Next": "Handled"},
                {"ErrorEquals": ["States.ALL"], "Next": "Done"}
            ]
        })),
        json!({"day": "2025-03-14"}),
        script().on("r", vec![err("WarehouseBusy"); 3]),
        Ok(
            json!({"day": "2025-03-14", "failure": {"Error": "WarehouseBusy", "Cause": "WarehouseBusy happened"}}),
        ),
    );
    assert_eq!(out.sleeps, [secs(5), secs(10)]);
    assert_eq!(
        out.summary(),
        [
            ("T".to_owned(), 3, Some("WarehouseBusy".to_owned()), true),
            ("Handled".to_owned(), 1, None, false)
        ]
    );
    assert_eq!(
        out.records[0].output,
        Some(
            json!({"day": "2025-03-14", "failure": {"Error": "WarehouseBusy", "Cause": "WarehouseBusy happened"}})
        )
    );
}

#[test]
fn catch_result_path_defaults_to_the_whole_output_and_null_keeps_the_input() {
    check(
        guarded(json!({"Catch": [{"ErrorEquals": ["X"], "Next": "Handled"}]})),
        json!({"a": 1}),
        script().on("r", [err("X")]),
        Ok(json!({"Error": "X", "Cause": "X happened"})),
    );
    check(
        guarded(json!({"Catch": [{"ErrorEquals": ["X"], "ResultPath": null, "Next": "Handled"}]})),
        json!({"a": 1}),
        script().on("r", [err("X")]),
        Ok(json!({"a": 1})),
    );
}

#[test]
fn catch_writes_into_the_raw_input_not_the_input_path_selection() {
    check(
        guarded(
            json!({"InputPath": "$.inner", "Catch": [{"ErrorEquals": ["X"], "ResultPath": "$.error", "Next": "Handled"}]}),
        ),
        json!({"inner": {"v": 1}, "keep": true}),
        script().on("r", [err("X")]),
        Ok(
            json!({"inner": {"v": 1}, "keep": true, "error": {"Error": "X", "Cause": "X happened"}}),
        ),
    );
}

#[test]
fn an_error_no_catcher_matches_fails_the_execution_at_its_state() {
    check(
        guarded(json!({"Catch": [{"ErrorEquals": ["Y"], "Next": "Handled"}]})),
        json!({}),
        script().on("r", [err("X")]),
        failed("X", "X happened", "T"),
    );
}

#[test]
fn a_path_that_matches_nothing_is_a_runtime_error_that_states_all_does_not_catch() {
    check(
        guarded(json!({
            "Parameters": {"d.$": "$.day"},
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Handled"}]
        })),
        json!({}),
        script(),
        failed(
            "States.Runtime",
            "The JSONPath '$.day' specified for the field 'd.$' could not be found in the input '{}'",
            "T",
        ),
    );
}

#[test]
fn an_intrinsic_failure_can_be_caught() {
    check(
        guarded(json!({
            "Parameters": {"n.$": "States.ArrayGetItem($.list, 5)"},
            "Catch": [{"ErrorEquals": ["States.IntrinsicFailure"], "Next": "Handled"}]
        })),
        json!({"list": [1]}),
        script(),
        Ok(
            json!({"Error": "States.IntrinsicFailure", "Cause": "States.ArrayGetItem: index 5 is outside an array of 1"}),
        ),
    );
}

#[test]
fn the_context_retry_count_counts_the_retries_of_the_state() {
    let out = check(
        guarded(
            json!({"Retry": [{"ErrorEquals": ["X"]}], "Parameters": {"retry.$": "$$.State.RetryCount"}}),
        ),
        json!({}),
        script().on("r", [err("X"), err("X")]),
        Ok(json!({"retry": 2})),
    );
    let counts: Vec<Value> = out
        .calls
        .iter()
        .map(|c| c.context["State"]["RetryCount"].clone())
        .collect();
    assert_eq!(counts, [json!(0), json!(1), json!(2)]);
    assert_eq!(
        out.inputs("r"),
        [
            json!({"retry": 0}),
            json!({"retry": 1}),
            json!({"retry": 2})
        ]
    );
}

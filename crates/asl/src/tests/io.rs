//! Input and output processing: InputPath → Parameters → task →
//! ResultSelector → ResultPath → OutputPath.

use serde_json::json;

use super::*;

#[test]
fn the_specifications_numbers_example_adds_the_sum_beside_the_input() {
    let input = json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}});
    let out = check(
        task(json!({"InputPath": "$.numbers", "ResultPath": "$.sum", "OutputPath": "$"})),
        input,
        script().on("r", [ok(json!(7))]),
        Ok(json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}, "sum": 7})),
    );
    assert_eq!(out.inputs("r"), [json!({"val1": 3, "val2": 4})]);
}

#[test]
fn output_path_selects_from_the_combined_output() {
    check(
        task(
            json!({"InputPath": "$.numbers", "ResultPath": "$.numbers.sum", "OutputPath": "$.numbers"}),
        ),
        json!({"title": "Numbers to add", "numbers": {"val1": 3, "val2": 4}}),
        script().on("r", [ok(json!(7))]),
        Ok(json!({"val1": 3, "val2": 4, "sum": 7})),
    );
}

#[test]
fn parameters_build_the_task_input_from_paths_literals_and_the_context() {
    let out = check(
        task(json!({
            "Parameters": {
                "flagged": true,
                "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[3:]"},
                "execution.$": "$$.Execution.Name",
                "formatted.$": "States.Format('{} flagged', $.flagged)",
                "list": [{"v.$": "$.vals[1]"}, "$.not-a-path"]
            },
            "ResultPath": null
        })),
        json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}),
        script(),
        Ok(json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]})),
    );
    assert_eq!(
        out.inputs("r"),
        [json!({
            "flagged": true,
            "parts": {"first": 0, "last3": [30, 40, 50]},
            "execution": "local",
            "formatted": "7 flagged",
            "list": [{"v": 10}, "$.not-a-path"]
        })]
    );
}

#[test]
fn input_path_is_applied_before_parameters() {
    let out = check(
        task(
            json!({"InputPath": "$.dataset2", "Parameters": {"first.$": "$.val1"}, "ResultPath": null}),
        ),
        json!({"comment": "Example for InputPath.", "dataset1": {"val1": 1}, "dataset2": {"val1": "a", "val2": "b"}}),
        script(),
        Ok(
            json!({"comment": "Example for InputPath.", "dataset1": {"val1": 1}, "dataset2": {"val1": "a", "val2": "b"}}),
        ),
    );
    assert_eq!(out.inputs("r"), [json!({"first": "a"})]);
}

#[test]
fn a_non_singular_input_path_yields_the_array_of_its_matches() {
    let out = check(
        task(json!({"InputPath": "$.a[0:2]"})),
        json!({"a": [1, 2, 3, 4]}),
        script().on("r", [ok(json!("done"))]),
        Ok(json!("done")),
    );
    assert_eq!(out.inputs("r"), [json!([1, 2])]);
}

#[test]
fn result_selector_picks_from_the_result_before_result_path() {
    let result = json!({
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {
            "SdkHttpMetadata": {"HttpHeaders": {"Content-Length": "1112"}, "HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
            "ClusterId": "AKIAIOSFODNN7EXAMPLE"
        }
    });
    check(
        task(json!({
            "ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType", "StaticValue": "foo"},
            "ResultPath": "$.EMROutput"
        })),
        json!({"Name": "MyWorkflowCluster"}),
        script().on("r", [ok(result)]),
        Ok(json!({
            "Name": "MyWorkflowCluster",
            "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce", "StaticValue": "foo"}
        })),
    );
}

#[test]
fn result_path_combines_the_result_with_the_raw_input() {
    let input =
        json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions"});
    let hello = || script().on("r", [ok(json!("Hello, Step Functions!"))]);
    let cases = [
        (json!({}), json!("Hello, Step Functions!")),
        (json!({"ResultPath": "$"}), json!("Hello, Step Functions!")),
        (json!({"ResultPath": null}), input.clone()),
        (
            json!({"ResultPath": "$.taskresult"}),
            json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions", "taskresult": "Hello, Step Functions!"}),
        ),
        (
            json!({"ResultPath": "$.strings.lambdaresult"}),
            json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions", "strings": {"lambdaresult": "Hello, Step Functions!"}}),
        ),
        (
            json!({"ResultPath": "$.details"}),
            json!({"comment": "This is a test", "details": "Hello, Step Functions!", "who": "Step Functions"}),
        ),
        // ResultPath writes into the raw input, not the InputPath selection.
        (
            json!({"InputPath": "$.who", "ResultPath": "$.greeting"}),
            json!({"comment": "This is a test", "details": "Default example", "who": "Step Functions", "greeting": "Hello, Step Functions!"}),
        ),
    ];
    for (fields, expected) in cases {
        check(task(fields), input.clone(), hello(), Ok(expected));
    }
}

#[test]
fn null_input_and_output_paths_mean_an_empty_object() {
    let out = check(
        task(json!({"InputPath": null, "ResultPath": "$.r"})),
        json!({"a": 1}),
        script().on("r", [ok(json!(2))]),
        Ok(json!({"a": 1, "r": 2})),
    );
    assert_eq!(out.inputs("r"), [json!({})]);
    check(
        task(json!({"OutputPath": null})),
        json!({"a": 1}),
        script(),
        Ok(json!({})),
    );
}

#[test]
fn an_input_path_that_matches_nothing_is_a_runtime_error_that_no_catcher_handles() {
    let definition = json!({
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": "r", "InputPath": "$.missing", "Next": "Done",
                  "Retry": [{"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]},
            "Done": {"Type": "Succeed"}
        }
    });
    let out = check(
        definition,
        json!({"a": 1}),
        script(),
        failed(
            "States.Runtime",
            "the InputPath `$.missing` matched nothing in {\"a\":1}",
            "T",
        ),
    );
    assert!(out.calls.is_empty());
    assert!(out.sleeps.is_empty());
}

#[test]
fn an_output_path_that_matches_nothing_is_a_runtime_error() {
    check(
        task(json!({"OutputPath": "$.nothing"})),
        json!({"a": 1}),
        script().on("r", [ok(json!({"b": 2}))]),
        failed(
            "States.Runtime",
            "the OutputPath `$.nothing` matched nothing in {\"b\":2}",
            "T",
        ),
    );
}

#[test]
fn a_parameter_path_that_matches_nothing_fails_the_state_before_the_task_runs() {
    let out = check(
        task(json!({"Parameters": {"x.$": "$.missing"}})),
        json!({"a": 1}),
        script(),
        failed(
            "States.Runtime",
            "The JSONPath '$.missing' specified for the field 'x.$' could not be found in the input '{\"a\":1}'",
            "T",
        ),
    );
    assert!(out.calls.is_empty());
}

#[test]
fn a_result_selector_path_that_matches_nothing_is_a_runtime_error() {
    check(
        task(json!({"ResultSelector": {"x.$": "$.missing"}})),
        json!({}),
        script().on("r", [ok(json!({"y": 1}))]),
        failed(
            "States.Runtime",
            "The JSONPath '$.missing' specified for the field 'x.$' could not be found in the input '{\"y\":1}'",
            "T",
        ),
    );
}

#[test]
fn a_result_path_that_cannot_be_applied_fails_and_can_be_caught() {
    let definition = json!({
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": "r", "ResultPath": "$.a.b", "Next": "Done",
                  "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "ResultPath": "$", "Next": "Done"}]},
            "Done": {"Type": "Pass", "End": true}
        }
    });
    check(
        definition,
        json!({"a": "text"}),
        script().on("r", [ok(json!(1))]),
        Ok(json!({
            "Error": "States.ResultPathMatchFailure",
            "Cause": "the ResultPath `$.a.b` cannot be applied to the input: `b` is set in a string"
        })),
    );
}

#[test]
fn pass_states_pass_input_result_or_parameters() {
    let pass = |fields: Value| {
        let mut state = json!({"Type": "Pass", "End": true});
        state
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        json!({"StartAt": "P", "States": {"P": state}})
    };
    let input = json!({"georefOf": "Home", "x": 1});
    let cases = [
        (json!({}), input.clone()),
        (
            json!({"Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355}, "ResultPath": "$.coords"}),
            json!({"georefOf": "Home", "x": 1, "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}}),
        ),
        (
            json!({"Parameters": {"where.$": "$.georefOf"}}),
            json!({"where": "Home"}),
        ),
        (
            json!({"Parameters": {"where.$": "$.georefOf"}, "ResultPath": "$.p"}),
            json!({"georefOf": "Home", "x": 1, "p": {"where": "Home"}}),
        ),
        (
            json!({"InputPath": "$.x", "ResultPath": "$.copy"}),
            json!({"georefOf": "Home", "x": 1, "copy": 1}),
        ),
        (json!({"Result": "r", "ResultPath": null}), input.clone()),
        (json!({"Result": [1, 2], "OutputPath": "$[1]"}), json!(2)),
    ];
    for (fields, expected) in cases {
        check(pass(fields), input.clone(), script(), Ok(expected));
    }
}

#[test]
fn intrinsic_functions_fill_payload_templates() {
    let definition = json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "End": true, "Parameters": {
            "greeting.$": "States.Format('Hello, {}! It\\'s \\{day\\} {}.', $.name, States.ArrayLength($.days))",
            "date.$": "States.ArrayGetItem(States.StringSplit($.scheduled_time, 'T'), 0)",
            "chunks.$": "States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)",
            "merged.$": "States.JsonMerge($.defaults, States.StringToJson($.overrides), false)",
            "text.$": "States.JsonToString($.defaults)",
            "unique.$": "States.ArrayUnique(States.Array(1, 1, 'a', 'a', null))",
            "has.$": "States.ArrayContains($.days, 'mon')",
            "next.$": "States.MathAdd($.n, -1)",
            "encoded.$": "States.Base64Encode($.name)"
        }}}
    });
    check(
        definition,
        json!({
            "name": "Ada", "days": ["mon", "tue"], "scheduled_time": "2025-03-14T23:50:00Z",
            "defaults": {"mode": "merge", "strict": false}, "overrides": "{\"strict\": true}", "n": 10
        }),
        script(),
        Ok(json!({
            "greeting": "Hello, Ada! It's {day} 2.",
            "date": "2025-03-14",
            "chunks": [[1, 2], [3, 4], [5]],
            "merged": {"mode": "merge", "strict": true},
            "text": "{\"mode\":\"merge\",\"strict\":false}",
            "unique": [1, "a", null],
            "has": true,
            "next": 9,
            "encoded": "QWRh"
        })),
    );
}

#[test]
fn a_failing_intrinsic_fails_the_state_with_intrinsic_failure() {
    check(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true,
            "Parameters": {"m.$": "States.JsonMerge($.a, $.b, true)"}}}}),
        json!({"a": {}, "b": {}}),
        script(),
        failed(
            "States.IntrinsicFailure",
            "States.JsonMerge: deep merging is not supported; the third argument must be false",
            "P",
        ),
    );
}

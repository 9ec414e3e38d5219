//! Parsing and validating definitions.

use serde_json::json;

use super::*;
use crate::DefinitionError;

fn error_of(definition: &str) -> String {
    match StateMachine::from_json(definition) {
        Ok(_) => panic!("accepted: {definition}"),
        Err(e) => e.to_string(),
    }
}

/// A definition of one state `S` with `state`, plus a Succeed state `Done`
/// for transitions.
fn one(state: Value) -> String {
    json!({"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}}).to_string()
}

#[test]
fn invalid_definitions_are_rejected_with_the_state_and_the_field() {
    let inner = |state: Value| {
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
            {"StartAt": "B", "States": {"B": state}}
        ]}}})
        .to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        ("{".into(), "the definition is not valid JSON: EOF while parsing an object at line 1 column 1"),
        (r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {"Type": "Succeed"}}}"#.into(),
         "the definition is not valid JSON: the field `A` appears twice in one object at line 1 column 57"),
        ("[]".into(), "the state machine: field `(definition)`: must be an object, not an array"),
        (json!({"States": {"A": {"Type": "Succeed"}}}).to_string(), "the state machine: field `StartAt`: is required"),
        (json!({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}).to_string(), "the state machine: field `StartAt`: names no state: `B`"),
        (json!({"StartAt": "A", "States": {}}).to_string(), "the state machine: field `States`: must have at least one state"),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Extra": 1}).to_string(),
         "the state machine: field `Extra`: is not a field of the state machine"),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "TimeoutSeconds": 0}).to_string(),
         "the state machine: field `TimeoutSeconds`: must be a positive integer, not 0"),
        (one(json!({"Type": "Sleep"})), "state `S`: field `Type`: `Sleep` is not a state type"),
        (one(json!({"Next": "Done"})), "state `S`: field `Type`: is required"),
        (one(json!({"Type": "Pass", "Next": "Nowhere"})), "state `S`: field `Next`: names no state of the state machine: `Nowhere`"),
        (one(json!({"Type": "Pass"})), "state `S`: field `Next`: a state needs `Next` or `\"End\": true`"),
        (one(json!({"Type": "Pass", "Next": "Done", "End": true})), "state `S`: field `End`: a state has `Next` or `\"End\": true`, not both"),
        (one(json!({"Type": "Succeed", "Next": "Done"})), "state `S`: field `Next`: is not a field of a Succeed state"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "Done"}], "End": true})),
         "state `S`: field `End`: is not a field of a Choice state"),
        (one(json!({"Type": "Task", "Next": "Done"})), "state `S`: field `Resource`: is required"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "Retries": []})), "state `S`: field `Retries`: is not a field of a Task state"),
        (one(json!({"Type": "Pass", "Next": "Done", "Retry": []})), "state `S`: field `Retry`: is not a field of a Pass state"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]})),
         "state `S`: field `Retry[0].ErrorEquals`: `States.ALL` must be in the last rule"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "Done"}]})),
         "state `S`: field `Catch[0].ErrorEquals`: `States.ALL` must be the only error name of its rule"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "Catch": [{"ErrorEquals": ["X"], "Next": "Gone"}]})),
         "state `S`: field `Catch[0].Next`: names no state of the state machine: `Gone`"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": 1.5}]})),
         "state `S`: field `Retry[0].MaxAttempts`: must be a non-negative integer, not 1.5"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "Gone"}]})),
         "state `S`: field `Choices[0].Next`: names no state of the state machine: `Gone`"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "Done"}], "Default": "Gone"})),
         "state `S`: field `Default`: names no state of the state machine: `Gone`"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true}]})), "state `S`: field `Choices[0].Next`: is required"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": "1", "Next": "Done"}]})),
         "state `S`: field `Choices[0].NumericEquals`: must be a number"),
        (one(json!({"Type": "Choice", "Choices": []})), "state `S`: field `Choices`: must have at least one rule"),
        (one(json!({"Type": "Pass", "InputPath": "$.a[", "Next": "Done"})),
         "state `S`: field `InputPath`: `$.a[` is not a valid JSONPath: at position 3, parser error"),
        (one(json!({"Type": "Pass", "InputPath": "a", "Next": "Done"})), "state `S`: field `InputPath`: the path `a` does not begin with `$`"),
        (one(json!({"Type": "Pass", "ResultPath": "$.a[*]", "Next": "Done"})),
         "state `S`: field `ResultPath`: `$.a[*]` has a bracket that is neither a name nor an index; a reference path has only `.name`, `['name']` and `[index]` steps"),
        (one(json!({"Type": "Pass", "Parameters": {"a.$": "States.Hash($.x, 'SHA-1')"}, "Next": "Done"})),
         "state `S`: field `Parameters.a.$` is not supported by this interpreter: the intrinsic function `States.Hash` is not available"),
        (one(json!({"Type": "Pass", "Parameters": {"a": {"b.$": "States.Frobnicate()"}}, "Next": "Done"})),
         "state `S`: field `Parameters.a.b.$`: `States.Frobnicate` is not an intrinsic function"),
        (one(json!({"Type": "Pass", "Parameters": [1], "Next": "Done"})),
         "state `S`: field `Parameters`: must be an object (a payload template), not an array"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "TimeoutSeconds": 10, "HeartbeatSeconds": 10})),
         "state `S`: field `HeartbeatSeconds`: must be less than `TimeoutSeconds`"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "TimeoutSeconds": 10, "TimeoutSecondsPath": "$.t"})),
         "state `S`: field `TimeoutSecondsPath`: `TimeoutSeconds` and `TimeoutSecondsPath` cannot both be given"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "TimeoutSeconds": -1})),
         "state `S`: field `TimeoutSeconds`: must be a positive integer, not -1"),
        (one(json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "Next": "Done"})),
         "state `S`: field `Timestamp`: a Wait state has exactly one of `Seconds`, `SecondsPath`, `Timestamp` and `TimestampPath`"),
        (one(json!({"Type": "Wait", "Next": "Done"})),
         "state `S`: field `Seconds`: a Wait state has exactly one of `Seconds`, `SecondsPath`, `Timestamp` and `TimestampPath`"),
        (one(json!({"Type": "Wait", "Timestamp": "2026-01-01 00:00:00", "Next": "Done"})),
         "state `S`: field `Timestamp`: `2026-01-01 00:00:00` is not an RFC 3339 timestamp such as \"2016-03-14T01:59:00Z\""),
        (one(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})), "state `S`: field `ErrorPath`: `Error` and `ErrorPath` cannot both be given"),
        (one(json!({"Type": "Parallel", "Branches": [], "Next": "Done"})), "state `S`: field `Branches`: must have at least one branch"),
        (inner(json!({"Type": "Pass", "Next": "A"})),
         "state `B` in branch 1 of state `P`: field `Next`: names no state in branch 1 of state `P`: `A`"),
        (inner(json!({"Type": "Pass", "End": true, "Unknown": 1})), "state `B` in branch 1 of state `P`: field `Unknown`: is not a field of a Pass state"),
        (inner(json!({"Type": "Parallel", "End": true, "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}]})),
         "branch 0 of state `B` in branch 1 of state `P`: field `States`: the state name `A` is used twice; names are unique in the whole state machine"),
        (json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "X", "States": {"Y": {"Type": "Succeed"}}}}}}).to_string(),
         "the item processor of state `M`: field `StartAt`: names no state: `X`"),
        (json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}).to_string(),
         "state `M`: field `ItemProcessor`: is required (or the older `Iterator`)"),
        (json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemSelector": {}, "Parameters": {},
            "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}}).to_string(),
         "state `M`: field `Parameters`: `ItemSelector` and `Parameters` cannot both be given"),
        (json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "MaxConcurrency": -2,
            "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}}).to_string(),
         "state `M`: field `MaxConcurrency`: must be a non-negative integer, not -2"),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}).to_string(),
         "state `Orphan`: field `(name)`: no transition leads to this state from `StartAt`"),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}).to_string(),
         "the state machine: field `States`: no state ends the execution: none is a Succeed or Fail state or has `\"End\": true`"),
        (inner(json!({"Type": "Pass", "Next": "B"})),
         "branch 1 of state `P`: field `States`: no state ends the execution: none is a Succeed or Fail state or has `\"End\": true`"),
    ];
    for (definition, expected) in cases {
        assert_eq!(error_of(&definition), expected, "{definition}");
    }
    let long = "x".repeat(81);
    assert_eq!(
        error_of(&json!({"StartAt": long, "States": {&long: {"Type": "Succeed"}}}).to_string()),
        format!("the state machine: field `States`: the state name `{long}` is longer than 80 characters")
    );
    assert!(StateMachine::from_json(
        &json!({"StartAt": &long[1..], "States": {&long[1..]: {"Type": "Succeed"}}}).to_string()
    )
    .is_ok());
}

#[test]
fn unsupported_features_are_rejected_not_ignored() {
    let map = |extra: Value| {
        let mut m = json!({"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"StartAt": "M", "States": {"M": m}}).to_string()
    };
    let cases = [
        (json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}).to_string(),
         "the state machine: field `QueryLanguage` is not supported by this interpreter: JSONata is available in Pass states only; the state machine's language is JSONPath"),
        (one(json!({"Type": "Task", "Resource": "r", "QueryLanguage": "JSONata", "Next": "Done"})),
         "state `S`: field `QueryLanguage` is not supported by this interpreter: JSONata is available in Pass states only"),
        (one(json!({"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $now() %}", "Next": "Done"})),
         "state `S`: field `Output` is not supported by this interpreter: JSONata function `$now` is not available here (only $toMillis and $fromMillis)"),
        (one(json!({"Type": "Task", "Resource": "r", "Arguments": {}, "Next": "Done"})),
         "state `S`: field `Arguments` is not supported by this interpreter: JSONata states are not available"),
        (one(json!({"Type": "Pass", "Assign": {"x": 1}, "Next": "Done"})),
         "state `S`: field `Assign` is not supported by this interpreter: workflow variables are not available"),
        (one(json!({"Type": "Task", "Resource": "r", "Credentials": {}, "Next": "Done"})),
         "state `S`: field `Credentials` is not supported by this interpreter: task credentials (cross-account roles) are not available"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "Catch": [{"ErrorEquals": ["X"], "Next": "Done", "Assign": {}}]})),
         "state `S`: field `Catch[0].Assign` is not supported by this interpreter: variables and JSONata output are not available"),
        (one(json!({"Type": "Choice", "Choices": [{"Condition": "{% true %}", "Next": "Done"}]})),
         "state `S`: field `Choices[0]` is not supported by this interpreter: `Condition` belongs to JSONata and variables"),
        (map(json!({"ItemReader": {}})), "state `M`: field `ItemReader` is not supported by this interpreter: Distributed Map is not available"),
        (map(json!({"ToleratedFailurePercentage": 5})),
         "state `M`: field `ToleratedFailurePercentage` is not supported by this interpreter: Distributed Map is not available"),
        (map(json!({"ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}})),
         "the processor config of state `M`: field `ExecutionType`: is not a field of a processor config"),
        (map(json!({"ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}})),
         "the processor config of state `M`: field `Mode` is not supported by this interpreter: Distributed Map is not available; use INLINE"),
    ];
    for (definition, expected) in cases {
        let err = StateMachine::from_json(&definition).unwrap_err();
        assert_eq!(err.to_string(), expected, "{definition}");
        if !expected.contains("is not a field") {
            assert!(
                matches!(err, DefinitionError::Unsupported { .. }),
                "{err:?}"
            );
        }
    }
}

/// A Parallel `P` whose branch 1 is the state `B`, for errors in nested
/// states and branches.
fn in_branch(state: Value) -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
        {"StartAt": "B", "States": {"B": state}}
    ]}}})
    .to_string()
}

/// A Map `M` with `fields` added to it (replacing its `ItemProcessor`).
fn map_with(fields: Value) -> String {
    let mut m = json!({"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}});
    m.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    json!({"StartAt": "M", "States": {"M": m}}).to_string()
}

/// A Task `S` with a `Retry` or `Catch` of one rule.
fn task_with(fields: Value) -> String {
    let mut task = json!({"Type": "Task", "Resource": "r", "Next": "Done"});
    task.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    one(task)
}

#[test]
fn unknown_fields_are_refused_naming_their_path() {
    let cases: Vec<(String, &str)> = vec![
        (json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Start": "A"}).to_string(),
         "the state machine: field `Start`: is not a field of the state machine"),
        (one(json!({"Type": "Task", "Resource": "r", "Next": "Done", "ResultsPath": "$.r"})),
         "state `S`: field `ResultsPath`: is not a field of a Task state"),
        (one(json!({"Type": "Fail", "Error": "E", "InputPath": "$"})),
         "state `S`: field `InputPath`: is not a field of a Fail state"),
        (one(json!({"Type": "Pass", "QueryLanguage": "JSONata", "InputPath": "$", "Next": "Done"})),
         "state `S`: field `InputPath`: is not a field of a Pass state"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X"], "Next": "Done"}]})),
         "state `S`: field `Retry[0].Next`: is not a field of a retrier"),
        (task_with(json!({"Catch": [{"ErrorEquals": ["X"], "Next": "Done"}, {"ErrorEquals": ["Y"], "Next": "Done", "Retry": []}]})),
         "state `S`: field `Catch[1].Retry`: is not a field of a catcher"),
        (in_branch(json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["X"], "MaxAttempt": 2}]})),
         "state `B` in branch 1 of state `P`: field `Retry[0].MaxAttempt`: is not a field of a retrier"),
        (json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "End": true}]}}}).to_string(),
         "branch 0 of state `P`: field `End`: is not a field of a branch"),
        (map_with(json!({"ItemProcessor": null, "Iterator": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}},
            "ProcessorConfig": {}}})),
         "state `M`: field `ItemProcessor`: must be an object, not null"),
        (json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "Iterator": {"StartAt": "X",
            "States": {"X": {"Type": "Succeed"}}, "ProcessorConfig": {}}}}}).to_string(),
         "the item processor of state `M`: field `ProcessorConfig`: is not a field of an iterator"),
        (map_with(json!({"ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}, "Next": "Y"}})),
         "the item processor of state `M`: field `Next`: is not a field of an item processor"),
    ];
    for (definition, expected) in cases {
        assert_eq!(error_of(&definition), expected, "{definition}");
    }
    // A field of a feature this interpreter does not run is named as such
    // wherever it is.
    let err = StateMachine::from_json(&task_with(
        json!({"Retry": [{"ErrorEquals": ["X"], "Assign": {}}]}),
    ))
    .unwrap_err();
    assert_eq!(
        err,
        DefinitionError::Unsupported {
            at: "state `S`".into(),
            field: "Retry[0].Assign".into(),
            message: "variables and JSONata output are not available".into()
        }
    );
}

#[test]
fn missing_fields_are_named_with_their_path() {
    let cases: Vec<(String, &str)> = vec![
        (json!({"StartAt": "A"}).to_string(), "the state machine: field `States`: is required"),
        (one(json!({"Type": "Choice", "Default": "Done"})), "state `S`: field `Choices`: is required"),
        (one(json!({"Type": "Parallel", "Next": "Done"})), "state `S`: field `Branches`: is required"),
        (task_with(json!({"Retry": [{"MaxAttempts": 2}]})), "state `S`: field `Retry[0].ErrorEquals`: is required"),
        (task_with(json!({"Catch": [{"ErrorEquals": ["X"]}]})), "state `S`: field `Catch[0].Next`: is required"),
        (in_branch(json!({"Type": "Task", "End": true})), "state `B` in branch 1 of state `P`: field `Resource`: is required"),
        (in_branch(json!({"End": true})), "state `B` in branch 1 of state `P`: field `Type`: is required"),
        (json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, {"States": {"B": {"Type": "Succeed"}}}]}}}).to_string(),
         "branch 1 of state `P`: field `StartAt`: is required"),
        (map_with(json!({"ItemProcessor": {"StartAt": "X"}})), "the item processor of state `M`: field `States`: is required"),
    ];
    for (definition, expected) in cases {
        assert_eq!(error_of(&definition), expected, "{definition}");
    }
}

#[test]
fn values_of_the_wrong_type_are_named_with_their_path() {
    let cases: Vec<(String, &str)> = vec![
        (json!({"StartAt": 1, "States": {"A": {"Type": "Succeed"}}}).to_string(),
         "the state machine: field `StartAt`: must be a string, not 1"),
        (json!({"StartAt": "A", "States": [{"Type": "Succeed"}]}).to_string(),
         "the state machine: field `States`: must be an object, not an array"),
        (json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}, "Comment": null}).to_string(),
         "the state machine: field `Comment`: must be a string, not null"),
        (json!({"StartAt": "A", "States": {"A": "Succeed"}}).to_string(),
         "state `A`: field `(state)`: must be an object, not a string"),
        (one(json!({"Type": ["Pass"], "Next": "Done"})), "state `S`: field `Type`: must be a string, not an array"),
        (one(json!({"Type": "Pass", "QueryLanguage": "XPath", "Next": "Done"})),
         "state `S`: field `QueryLanguage`: `XPath` is neither JSONPath nor JSONata"),
        (one(json!({"Type": "Pass", "Next": "Done", "End": "no"})), "state `S`: field `End`: must be a boolean, not a string"),
        (one(json!({"Type": "Pass", "Next": null, "End": true})), "state `S`: field `Next`: must be a string, not null"),
        (one(json!({"Type": "Pass", "ResultPath": 1, "Next": "Done"})), "state `S`: field `ResultPath`: must be a path or null, not 1"),
        (one(json!({"Type": "Pass", "Parameters": null, "Next": "Done"})),
         "state `S`: field `Parameters`: must be an object (a payload template), not null"),
        (one(json!({"Type": "Wait", "Seconds": "10", "Next": "Done"})),
         "state `S`: field `Seconds`: must be a non-negative integer, not a string"),
        (one(json!({"Type": "Task", "Resource": "r", "TimeoutSeconds": 1.0, "Next": "Done"})),
         "state `S`: field `TimeoutSeconds`: must be a positive integer, not 1.0"),
        (one(json!({"Type": "Choice", "Choices": {"Variable": "$.x", "IsNull": true, "Next": "Done"}})),
         "state `S`: field `Choices`: must be an array, not an object"),
        (one(json!({"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": 1}]})),
         "state `S`: field `Choices[0].Next`: must be a string, not 1"),
        (task_with(json!({"Retry": {"ErrorEquals": ["X"]}})), "state `S`: field `Retry`: must be an array, not an object"),
        (task_with(json!({"Retry": ["X"]})), "state `S`: field `Retry[0]`: must be an object, not a string"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X", 5]}]})), "state `S`: field `Retry[0].ErrorEquals[1]`: must be a string, not 5"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X", ""]}]})), "state `S`: field `Retry[0].ErrorEquals[1]`: must not be empty"),
        (task_with(json!({"Retry": [{"ErrorEquals": []}]})), "state `S`: field `Retry[0].ErrorEquals`: must name at least one error"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["States.ALL", "X"]}]})),
         "state `S`: field `Retry[0].ErrorEquals`: `States.ALL` must be the only error name of its rule"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]})),
         "state `S`: field `Retry[0].BackoffRate`: must be a number of at least 1.0, not 0.5"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": 0}]})),
         "state `S`: field `Retry[0].IntervalSeconds`: must be a positive integer, not 0"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X"], "MaxAttempts": -1}]})),
         "state `S`: field `Retry[0].MaxAttempts`: must be a non-negative integer, not -1"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]})),
         "state `S`: field `Retry[0].JitterStrategy`: `HALF` is neither FULL nor NONE"),
        (task_with(json!({"Retry": [{"ErrorEquals": ["X"], "Comment": 1}]})),
         "state `S`: field `Retry[0].Comment`: must be a string, not 1"),
        (task_with(json!({"Catch": [{"ErrorEquals": ["X"], "Next": "Done", "ResultPath": "$.a[*]"}]})),
         "state `S`: field `Catch[0].ResultPath`: `$.a[*]` has a bracket that is neither a name nor an index; a reference path has only `.name`, `['name']` and `[index]` steps"),
        (task_with(json!({"Catch": [{"ErrorEquals": ["X"], "Next": ["Done"]}]})),
         "state `S`: field `Catch[0].Next`: must be a string, not an array"),
        (in_branch(json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": 2.5}]})),
         "state `B` in branch 1 of state `P`: field `Retry[0].MaxAttempts`: must be a non-negative integer, not 2.5"),
        (json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [7]}}}).to_string(),
         "state `P`: field `Branches[0]`: must be an object, not 7"),
        (json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, {"StartAt": "B", "States": ["B"]}]}}}).to_string(),
         "branch 1 of state `P`: field `States`: must be an object, not an array"),
        (map_with(json!({"ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}, "ProcessorConfig": {"Mode": "SERIAL"}}})),
         "the processor config of state `M`: field `Mode`: `SERIAL` is neither INLINE nor DISTRIBUTED"),
        (map_with(json!({"ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}, "ProcessorConfig": "INLINE"}})),
         "the item processor of state `M`: field `ProcessorConfig`: must be an object, not a string"),
        (map_with(json!({"ItemsPath": null})), "state `M`: field `ItemsPath`: must be a path, not null"),
    ];
    for (definition, expected) in cases {
        assert_eq!(error_of(&definition), expected, "{definition}");
    }
    // `null` is a value where the language gives it a meaning.
    let machine = machine(
        &json!({"StartAt": "S", "States": {"S": {"Type": "Pass", "Result": null,
        "InputPath": null, "ResultPath": null, "OutputPath": null, "End": true}}}),
    );
    assert_eq!(machine.state_names(), ["S"]);
}

#[test]
fn definition_errors_carry_their_parts() {
    let err =
        StateMachine::from_json(&one(json!({"Type": "Pass", "Next": "Nowhere"}))).unwrap_err();
    assert_eq!(
        err,
        DefinitionError::Invalid {
            at: "state `S`".into(),
            field: "Next".into(),
            message: "names no state of the state machine: `Nowhere`".into()
        }
    );
}

#[test]
fn accessors_walk_the_whole_definition() {
    // Written as text: the order of the states is the order written.
    let machine = StateMachine::from_json(
        r#"{
            "Comment": "accessors",
            "Version": "1.0",
            "TimeoutSeconds": 3600,
            "StartAt": "Zeta",
            "States": {
                "Zeta": {"Type": "Task", "Resource": "z", "Next": "Alpha",
                         "Retry": [{"ErrorEquals": ["WarehouseBusy", "Lambda.ServiceException"]}],
                         "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
                         "TimeoutSeconds": 300, "HeartbeatSeconds": 60},
                "Alpha": {"Type": "Parallel", "Next": "Mid", "Branches": [
                    {"StartAt": "B1", "States": {"B1": {"Type": "Task", "Resource": "b", "End": true,
                        "Retry": [{"ErrorEquals": ["InBranch"]}]}}}
                ], "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"}]},
                "Mid": {"Type": "Map", "End": true, "MaxConcurrency": 1, "Iterator": {"StartAt": "I", "States": {
                    "I": {"Type": "Task", "Resource": "i", "End": true, "Catch": [{"ErrorEquals": ["InMap"], "Next": "IFail"}]},
                    "IFail": {"Type": "Fail"}
                }}},
                "Failed": {"Type": "Fail", "Error": "Failed"}
            }
        }"#,
    )
    .unwrap();
    assert_eq!(machine.start_at(), "Zeta");
    assert_eq!(machine.state_names(), ["Zeta", "Alpha", "Mid", "Failed"]);
    assert_eq!(
        machine.task_resources().into_iter().collect::<Vec<_>>(),
        ["b", "i", "z"]
    );
    assert_eq!(
        machine.error_names().into_iter().collect::<Vec<_>>(),
        [
            "InBranch",
            "InMap",
            "Lambda.ServiceException",
            "States.ALL",
            "States.TaskFailed",
            "WarehouseBusy"
        ]
    );
}

#[test]
fn the_pipeline_shape_parses() {
    // The daily pipeline's structure: tasks with retry and catch into a
    // recorded failure, a Parallel of dimensions, a Succeed with OutputPath.
    let retry = json!([{"ErrorEquals": ["WarehouseBusy", "StoreUnavailable"], "IntervalSeconds": 2, "BackoffRate": 2.0,
                         "MaxAttempts": 4, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"}]);
    let catch = json!([{"ErrorEquals": ["InvalidParameters"], "ResultPath": "$.failure", "Next": "RecordFailure"},
                       {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordFailure"}]);
    let load = |model: &str| {
        json!({"Type": "Task", "Resource": "load", "Parameters": {"model": model, "run_id.$": "$$.Execution.Name"},
                                    "Retry": retry, "End": true, "ResultSelector": {"model.$": "$.model"}})
    };
    let definition = json!({
        "StartAt": "Stage",
        "States": {
            "Stage": {"Type": "Task", "Resource": "stage", "ResultPath": "$.results.stage", "Retry": retry, "Catch": catch, "Next": "Dims"},
            "Dims": {"Type": "Parallel", "ResultPath": "$.results.dims", "Catch": catch, "Next": "Done", "Branches": [
                {"StartAt": "Doctor", "States": {"Doctor": load("dim_doctor")}},
                {"StartAt": "Lab", "States": {"Lab": load("dim_lab")}}
            ]},
            "Done": {"Type": "Succeed", "OutputPath": "$.results"},
            "RecordFailure": {"Type": "Pass", "Parameters": {"error.$": "$.failure.Error", "cause.$": "$.failure.Cause"},
                              "ResultPath": "$.failure", "Next": "Failed"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"}
        }
    });
    let out = check(
        definition.clone(),
        json!({"day": "2025-03-14"}),
        script().on("stage", [err("WarehouseBusy"), ok(json!({"lines": 3}))]),
        Ok(json!({"stage": {"lines": 3}, "dims": [{"model": "dim_doctor"}, {"model": "dim_lab"}]})),
    );
    assert_eq!(out.sleeps.len(), 1);
    assert!(out.sleeps[0] <= secs(2));
    check(
        definition,
        json!({"day": "2025-03-14"}),
        script().on(
            "load",
            [ok(json!({"model": "dim_doctor"})), err("StoreError")],
        ),
        failed("StoreError", "StoreError happened", "Failed"),
    );
}

//! Choice states.

use serde_json::json;

use super::*;

/// The specification's Choice example: each target is a Pass state that
/// names itself in the output.
fn machine_of(choices: Value, default: Option<&str>) -> Value {
    let mut choice = json!({"Type": "Choice", "Choices": choices});
    if let Some(d) = default {
        choice["Default"] = json!(d);
    }
    let mut states = json!({"C": choice.clone()});
    let text = choice.to_string();
    for target in [
        "Public",
        "ValueInTwenties",
        "StartAudit",
        "RecordEvent",
        "Matched",
    ] {
        if text.contains(&format!("\"{target}\"")) {
            states[target] = json!({"Type": "Pass", "Result": target, "End": true});
        }
    }
    json!({"StartAt": "C", "States": states})
}

fn specification_example() -> Value {
    machine_of(
        json!([
            {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
            {"And": [
                {"Variable": "$.value", "IsPresent": true},
                {"Variable": "$.value", "IsNumeric": true},
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30}
            ], "Next": "ValueInTwenties"},
            {"Variable": "$.rating", "NumericGreaterThanPath": "$.auditThreshold", "Next": "StartAudit"}
        ]),
        Some("RecordEvent"),
    )
}

#[test]
fn the_specifications_example_routes_by_the_first_matching_rule() {
    let cases = [
        (json!({"type": "Public"}), "Public"),
        (json!({"type": "Private", "value": 25}), "ValueInTwenties"),
        (json!({"type": "Private", "value": 20}), "ValueInTwenties"),
        (
            json!({"type": "Private", "value": 30, "rating": 54, "auditThreshold": 53}),
            "StartAudit",
        ),
        (
            json!({"type": "Private", "value": "25", "rating": 10, "auditThreshold": 53}),
            "RecordEvent",
        ),
        (
            json!({"type": "Private", "rating": 53, "auditThreshold": 53}),
            "RecordEvent",
        ),
    ];
    for (input, target) in cases {
        let out = check(
            specification_example(),
            input.clone(),
            script(),
            Ok(json!(target)),
        );
        assert_eq!(
            out.records[0].output,
            Some(input),
            "a Choice passes its input on"
        );
    }
}

#[test]
fn every_comparison_operator_and_its_path_form() {
    let input = json!({
        "s": "beta", "s2": "beta", "lo": "alpha", "n": 10, "n2": 10.0, "small": 2, "b": true, "b2": true,
        "t": "2016-03-14T01:59:00Z", "later": "2016-03-14T03:00:00+01:00", "file": "log-2019-03-14.txt"
    });
    let holds = [
        json!({"Variable": "$.s", "StringEquals": "beta"}),
        json!({"Variable": "$.s", "StringEqualsPath": "$.s2"}),
        json!({"Variable": "$.s", "StringGreaterThan": "alpha"}),
        json!({"Variable": "$.s", "StringGreaterThanPath": "$.lo"}),
        json!({"Variable": "$.lo", "StringLessThan": "beta"}),
        json!({"Variable": "$.lo", "StringLessThanPath": "$.s"}),
        json!({"Variable": "$.s", "StringGreaterThanEquals": "beta"}),
        json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s2"}),
        json!({"Variable": "$.s", "StringLessThanEquals": "beta"}),
        json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.s2"}),
        json!({"Variable": "$.file", "StringMatches": "log-*.txt"}),
        json!({"Variable": "$.n", "NumericEquals": 10}),
        json!({"Variable": "$.n", "NumericEqualsPath": "$.n2"}),
        json!({"Variable": "$.n", "NumericGreaterThan": 9.5}),
        json!({"Variable": "$.n", "NumericGreaterThanPath": "$.small"}),
        json!({"Variable": "$.small", "NumericLessThan": 3}),
        json!({"Variable": "$.small", "NumericLessThanPath": "$.n"}),
        json!({"Variable": "$.n", "NumericGreaterThanEquals": 10}),
        json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n2"}),
        json!({"Variable": "$.n", "NumericLessThanEquals": 10}),
        json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.n2"}),
        json!({"Variable": "$.b", "BooleanEquals": true}),
        json!({"Variable": "$.b", "BooleanEqualsPath": "$.b2"}),
        json!({"Variable": "$.t", "TimestampEquals": "2016-03-14T01:59:00Z"}),
        json!({"Variable": "$.t", "TimestampEqualsPath": "$.t"}),
        json!({"Variable": "$.later", "TimestampGreaterThan": "2016-03-14T01:59:00Z"}),
        json!({"Variable": "$.later", "TimestampGreaterThanPath": "$.t"}),
        json!({"Variable": "$.t", "TimestampLessThan": "2016-03-14T02:00:00Z"}),
        json!({"Variable": "$.t", "TimestampLessThanPath": "$.later"}),
        json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2016-03-14T01:59:00Z"}),
        json!({"Variable": "$.later", "TimestampGreaterThanEqualsPath": "$.t"}),
        json!({"Variable": "$.t", "TimestampLessThanEquals": "2016-03-14T01:59:00Z"}),
        json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.later"}),
        json!({"Variable": "$.s", "IsString": true}),
        json!({"Variable": "$.n", "IsNumeric": true}),
        json!({"Variable": "$.b", "IsBoolean": true}),
        json!({"Variable": "$.t", "IsTimestamp": true}),
        json!({"Variable": "$.s", "IsTimestamp": false}),
        json!({"Variable": "$.s", "IsNull": false}),
        json!({"Variable": "$.absent", "IsPresent": false}),
        json!({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.n", "NumericEquals": 10}]}),
        json!({"Not": {"And": [{"Variable": "$.b", "BooleanEquals": true}, {"Variable": "$.n", "NumericLessThan": 0}]}}),
    ];
    for rule in holds {
        let mut matched = rule.clone();
        matched["Next"] = json!("Matched");
        check(
            machine_of(json!([matched]), Some("RecordEvent")),
            input.clone(),
            script(),
            Ok(json!("Matched")),
        );
        // The same rule under Not does not hold.
        let negated = json!({"Not": rule, "Next": "Matched"});
        check(
            machine_of(json!([negated]), Some("RecordEvent")),
            input.clone(),
            script(),
            Ok(json!("RecordEvent")),
        );
    }
}

#[test]
fn no_matching_rule_without_default_fails_with_no_choice_matched() {
    let definition = machine_of(
        json!([{"Variable": "$.n", "NumericEquals": 1, "Next": "Matched"}]),
        None,
    );
    check(
        definition,
        json!({"n": 2}),
        script(),
        failed(
            "States.NoChoiceMatched",
            "no Choice rule matched the input {\"n\":2} and there is no Default",
            "C",
        ),
    );
}

#[test]
fn a_variable_that_matches_nothing_is_a_runtime_error() {
    let definition = machine_of(
        json!([{"Variable": "$.missing", "StringEquals": "x", "Next": "Matched"}]),
        Some("RecordEvent"),
    );
    check(
        definition,
        json!({}),
        script(),
        failed(
            "States.Runtime",
            "the Choice rule's path `$.missing` matched nothing",
            "C",
        ),
    );
}

#[test]
fn and_stops_at_the_first_rule_that_does_not_hold() {
    let definition = machine_of(
        json!([{"And": [
            {"Variable": "$.value", "IsPresent": true},
            {"Variable": "$.value", "NumericEquals": 1}
        ], "Next": "Matched"}]),
        Some("RecordEvent"),
    );
    check(definition, json!({}), script(), Ok(json!("RecordEvent")));
}

#[test]
fn choice_applies_input_path_to_the_rules_and_output_path_to_its_output() {
    let definition = json!({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "InputPath": "$.order", "OutputPath": "$.id",
                  "Choices": [{"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Big"}], "Default": "Small"},
            "Big": {"Type": "Pass", "ResultPath": "$", "Parameters": {"big.$": "$"}, "End": true},
            "Small": {"Type": "Pass", "Parameters": {"small.$": "$"}, "End": true}
        }
    });
    check(
        definition.clone(),
        json!({"order": {"id": "o-1", "total": 150}}),
        script(),
        Ok(json!({"big": "o-1"})),
    );
    check(
        definition,
        json!({"order": {"id": "o-2", "total": 50}}),
        script(),
        Ok(json!({"small": "o-2"})),
    );
}

#[test]
fn a_choice_can_loop_until_a_condition_holds() {
    let definition = json!({
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": {"i": 0}, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": 3, "Next": "Done"}], "Default": "Step"},
            "Step": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"}
        }
    });
    let out = check(definition, json!({}), script(), Ok(json!({"i": 3})));
    let paths: Vec<&str> = out.records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["Init", "Check", "Step", "Check", "Step", "Check", "Step", "Check", "Done"]
    );
}

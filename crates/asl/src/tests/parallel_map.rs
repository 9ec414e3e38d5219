//! Parallel and Map states.

use serde_json::json;

use super::*;
use crate::NoopObserver;

fn branch(name: &str, resource: &str) -> Value {
    json!({"StartAt": name, "States": {name: {"Type": "Task", "Resource": resource, "End": true}}})
}

#[test]
fn parallel_gives_each_branch_the_same_input_and_outputs_the_array_of_branch_outputs_in_order() {
    let definition = json!({
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Parallel",
                "Parameters": {"day.$": "$.day"},
                "Branches": [branch("Doctor", "doctor"), branch("Lab", "lab"), branch("Date", "date")],
                "ResultPath": "$.dimensions",
                "End": true
            }
        }
    });
    let out = check(
        definition,
        json!({"day": "2025-03-14"}),
        script()
            .on("doctor", [ok(json!("d"))])
            .on("lab", [ok(json!("l"))])
            .on("date", [ok(json!("t"))]),
        Ok(json!({"day": "2025-03-14", "dimensions": ["d", "l", "t"]})),
    );
    let resources: Vec<&str> = out.calls.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(resources, ["doctor", "lab", "date"]);
    assert!(out
        .calls
        .iter()
        .all(|c| c.input == json!({"day": "2025-03-14"})));
    let paths: Vec<&str> = out.records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["Load/0/Doctor", "Load/1/Lab", "Load/2/Date", "Load"]
    );
    assert_eq!(out.events[0], "enter Load {\"day\":\"2025-03-14\"}");
    assert_eq!(out.events.last().unwrap(), "exit Load");
}

#[test]
fn a_failing_branch_fails_the_parallel_with_its_error_and_the_parallels_catch_handles_it() {
    let definition = json!({
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Parallel",
                "Branches": [branch("Doctor", "doctor"), branch("Lab", "lab"), branch("Date", "date")],
                "Catch": [{"ErrorEquals": ["InvalidParameters"], "ResultPath": "$.failure", "Next": "RecordFailure"}],
                "Next": "Fact"
            },
            "Fact": {"Type": "Task", "Resource": "fact", "End": true},
            "RecordFailure": {"Type": "Pass", "Parameters": {"error.$": "$.failure.Error", "cause.$": "$.failure.Cause"}, "ResultPath": "$.failure", "Next": "Failed"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"}
        }
    });
    let out = check(
        definition,
        json!({"day": 1}),
        script().on("lab", [err("InvalidParameters")]),
        failed("InvalidParameters", "InvalidParameters happened", "Failed"),
    );
    let resources: Vec<&str> = out.calls.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(
        resources,
        ["doctor", "lab"],
        "later branches and the fact do not run"
    );
    assert_eq!(
        out.summary(),
        [
            ("Load/0/Doctor".to_owned(), 1, None, false),
            (
                "Load/1/Lab".to_owned(),
                1,
                Some("InvalidParameters".to_owned()),
                false
            ),
            (
                "Load".to_owned(),
                1,
                Some("InvalidParameters".to_owned()),
                true
            ),
            ("RecordFailure".to_owned(), 1, None, false),
            (
                "Failed".to_owned(),
                1,
                Some("InvalidParameters".to_owned()),
                false
            ),
        ]
    );
    let fail = out.records.last().unwrap();
    assert_eq!(
        (fail.state_type.as_str(), fail.output.clone()),
        ("Fail", None)
    );
    assert_eq!(
        fail.input,
        json!({"day": 1, "failure": {"error": "InvalidParameters", "cause": "InvalidParameters happened"}})
    );
}

#[test]
fn a_parallel_retry_runs_every_branch_again() {
    let definition = json!({
        "StartAt": "P",
        "States": {"P": {
            "Type": "Parallel",
            "Branches": [branch("A", "a"), branch("B", "b")],
            "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 3}],
            "ResultSelector": {"a.$": "$[0]", "b.$": "$[1]"},
            "End": true
        }}
    });
    let out = check(
        definition,
        json!(1),
        script().on("b", [err("Busy")]),
        Ok(json!({"a": 1, "b": 1})),
    );
    let resources: Vec<&str> = out.calls.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(resources, ["a", "b", "a", "b"]);
    assert_eq!(out.sleeps, [secs(3)]);
    assert_eq!(out.records.last().unwrap().attempts, 2);
}

#[test]
fn an_uncaught_branch_error_fails_the_execution_at_the_parallel() {
    let definition = json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": [
            {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "BranchBroke", "Cause": "on purpose"}}}
        ], "End": true}}
    });
    check(
        definition,
        json!({}),
        script(),
        failed("BranchBroke", "on purpose", "P"),
    );
}

#[test]
fn the_specifications_map_example_selects_items_and_adds_the_courier() {
    let definition = json!({
        "StartAt": "Validate-All",
        "States": {
            "Validate-All": {
                "Type": "Map",
                "InputPath": "$.detail",
                "ItemsPath": "$.shipped",
                "MaxConcurrency": 0,
                "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Validate",
                    "States": {"Validate": {"Type": "Task", "Resource": "ship-val", "End": true}}
                },
                "ResultPath": "$.detail.shipped",
                "End": true
            }
        }
    });
    let input = json!({
        "ship-date": "2016-03-14T01:59:00Z",
        "detail": {
            "delivery-partner": "UQS",
            "shipped": [
                {"prod": "R31", "dest-code": 9511, "quantity": 1344},
                {"prod": "S39", "dest-code": 9511, "quantity": 40}
            ]
        }
    });
    let out = check(
        definition,
        input,
        script().on("ship-val", [ok(json!("valid R31")), ok(json!("valid S39"))]),
        Ok(json!({
            "ship-date": "2016-03-14T01:59:00Z",
            "detail": {"delivery-partner": "UQS", "shipped": ["valid R31", "valid S39"]}
        })),
    );
    assert_eq!(
        out.inputs("ship-val"),
        [
            json!({"parcel": {"prod": "R31", "dest-code": 9511, "quantity": 1344}, "courier": "UQS"}),
            json!({"parcel": {"prod": "S39", "dest-code": 9511, "quantity": 40}, "courier": "UQS"}),
        ]
    );
    let paths: Vec<&str> = out.records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "Validate-All/0/Validate",
            "Validate-All/1/Validate",
            "Validate-All"
        ]
    );
}

#[test]
fn the_older_iterator_and_parameters_forms_run_alike() {
    let definition = json!({
        "StartAt": "M",
        "States": {"M": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Parameters": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value", "tag.$": "$.tag"},
            "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "End": true
        }}
    });
    check(
        definition,
        json!({"items": ["a", "b", "c"], "tag": "t"}),
        script(),
        Ok(json!([
            {"index": 0, "value": "a", "tag": "t"},
            {"index": 1, "value": "b", "tag": "t"},
            {"index": 2, "value": "c", "tag": "t"}
        ])),
    );
}

#[test]
fn without_a_selector_each_item_is_its_iterations_input_and_sees_the_map_item_in_the_context() {
    let definition = json!({
        "StartAt": "M",
        "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"item.$": "$", "i.$": "$$.Map.Item.Index"}, "End": true}}},
            "ResultSelector": {"count.$": "States.ArrayLength($)", "all.$": "$"},
            "End": true
        }}
    });
    check(
        definition,
        json!([10, 20]),
        script(),
        Ok(json!({"count": 2, "all": [{"item": 10, "i": 0}, {"item": 20, "i": 1}]})),
    );
}

#[test]
fn a_map_over_no_items_outputs_an_empty_array() {
    let definition = json!({
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.out",
            "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}}, "End": true}}
    });
    let out = check(
        definition,
        json!({"items": []}),
        script(),
        Ok(json!({"items": [], "out": []})),
    );
    assert!(out.calls.is_empty());
}

#[test]
fn a_failing_item_fails_the_map_and_its_catch_handles_it() {
    let definition = json!({
        "StartAt": "M",
        "States": {
            "M": {"Type": "Map",
                  "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}},
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Done"}],
                  "ItemsPath": "$.items",
                  "Next": "Done"},
            "Done": {"Type": "Succeed"}
        }
    });
    let out = check(
        definition,
        json!({"items": [1, 2, 3]}),
        script().on("r", [ok(json!(1)), err("BadItem")]),
        Ok(json!({"items": [1, 2, 3], "error": {"Error": "BadItem", "Cause": "BadItem happened"}})),
    );
    assert_eq!(
        out.calls.len(),
        2,
        "the item after the failure does not run"
    );
    assert_eq!(
        out.summary()[1],
        ("M/1/T".to_owned(), 1, Some("BadItem".to_owned()), false)
    );
    assert_eq!(
        out.summary()[2],
        ("M".to_owned(), 1, Some("BadItem".to_owned()), true)
    );
}

#[test]
fn items_path_must_select_an_array() {
    let definition = json!({
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}
    });
    check(
        definition,
        json!({"items": {"a": 1}}),
        script(),
        failed(
            "States.Runtime",
            "the ItemsPath of a Map must select an array, not {\"a\":1}",
            "M",
        ),
    );
}

#[test]
fn nested_paths_name_every_level() {
    let definition = json!({
        "StartAt": "M",
        "States": {"M": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"i.$": "$$.Map.Item.Index"}, "End": true}}}
                ],
                "End": true
            }}},
            "End": true
        }}
    });
    let out = check(
        definition,
        json!(["x", "y"]),
        script(),
        Ok(json!([["x", {"i": 0}], ["y", {"i": 1}]])),
    );
    let paths: Vec<&str> = out.records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "M/0/P/0/A",
            "M/0/P/1/B",
            "M/0/P",
            "M/1/P/0/A",
            "M/1/P/1/B",
            "M/1/P",
            "M"
        ]
    );
    let entered = out.events.iter().filter(|e| e.starts_with("enter")).count();
    let exited = out.events.iter().filter(|e| e.starts_with("exit")).count();
    assert_eq!((entered, exited), (7, 7));
}

#[test]
fn a_succeed_state_ends_its_branch_only() {
    let definition = json!({
        "StartAt": "P",
        "States": {
            "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "Stop", "States": {"Stop": {"Type": "Succeed", "OutputPath": "$.a"}}}
            ], "ResultPath": "$.branches", "Next": "After"},
            "After": {"Type": "Pass", "Result": "after", "ResultPath": "$.after", "End": true}
        }
    });
    check(
        definition,
        json!({"a": 1}),
        script(),
        Ok(json!({"a": 1, "branches": [1], "after": "after"})),
    );
}

#[test]
fn a_redrive_of_a_parallel_reruns_only_the_branches_that_did_not_succeed() {
    let definition = json!({
        "StartAt": "Load",
        "States": {
            "Load": {
                "Type": "Parallel",
                "Branches": [branch("Doctor", "doctor"), branch("Lab", "lab"), branch("Date", "date")],
                "ResultPath": "$.dimensions",
                "Next": "Fact"
            },
            "Fact": {"Type": "Task", "Resource": "fact", "ResultPath": null, "End": true}
        }
    });
    let m = machine(&definition);
    // The first run: the lab branch fails; the date branch never ran.
    let first = script()
        .on("doctor", [ok(json!("d"))])
        .on("lab", [err("WarehouseError")]);
    let clock = ManualClock::new(start());
    let failure = Executor::new(&m, &first, &clock, &NoopObserver)
        .run(json!({"day": 1}))
        .unwrap_err();
    assert_eq!(failure.state, "Load");
    // The redrive keeps the doctor branch's output and runs the others.
    let second = script()
        .on("lab", [ok(json!("l"))])
        .on("date", [ok(json!("t"))]);
    let out = Executor::new(&m, &second, &clock, &NoopObserver)
        .redrive(
            "Load",
            json!({"day": 1}),
            [(0, json!("d"))].into_iter().collect(),
        )
        .unwrap();
    assert_eq!(out, json!({"day": 1, "dimensions": ["d", "l", "t"]}));
    let called: Vec<String> = second
        .calls
        .borrow()
        .iter()
        .map(|c| c.resource.clone())
        .collect();
    assert_eq!(called, ["lab", "date", "fact"]);
    // Redriving another state keeps nothing.
    let third = script();
    Executor::new(&m, &third, &clock, &NoopObserver)
        .redrive(
            "Fact",
            json!({"day": 1}),
            [(0, json!("d"))].into_iter().collect(),
        )
        .unwrap();
    let called: Vec<String> = third
        .calls
        .borrow()
        .iter()
        .map(|c| c.resource.clone())
        .collect();
    assert_eq!(called, ["fact"]);
}

//! The error names the tasks return are exactly the names the state machine
//! matches, and each is retried as its class says.

use std::collections::BTreeSet;

use ovom_core::error::{caught, retry_of, Retry};
use ovom_core::TaskError;
use serde_json::Value;

fn definition() -> Value {
    serde_json::from_str(ovom_local::pipeline::DEFINITION).unwrap()
}

/// Every (state, "Retry"|"Catch", rule) in the definition, branches included.
fn rules(states: &Value, out: &mut Vec<(String, &'static str, Value)>) {
    for (name, state) in states.as_object().unwrap() {
        for kind in ["Retry", "Catch"] {
            for rule in state[kind].as_array().into_iter().flatten() {
                out.push((name.clone(), kind, rule.clone()));
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            rules(&branch["States"], out);
        }
    }
}

fn names(rule: &Value) -> Vec<String> {
    rule["ErrorEquals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_state_machine_matches_exactly_the_task_error_names() {
    let machine = ovom_local::pipeline::load_definition(ovom_local::pipeline::DEFINITION).unwrap();
    let ours: BTreeSet<String> = machine
        .error_names()
        .into_iter()
        .filter(|n| !n.starts_with("States.") && !n.starts_with("Lambda."))
        .collect();
    let handled: BTreeSet<String> = TaskError::NAMES
        .iter()
        .filter(|n| retry_of(n) != Retry::Never || caught(n))
        .map(|n| n.to_string())
        .collect();
    assert_eq!(ours, handled);
}

#[test]
fn only_refused_input_is_caught_so_every_other_failure_can_be_redriven_at_its_state() {
    let mut all = vec![];
    rules(&definition()["States"], &mut all);
    let expected: Vec<String> = TaskError::NAMES
        .iter()
        .filter(|n| caught(n))
        .map(|n| n.to_string())
        .collect();
    let catchers: Vec<_> = all.iter().filter(|(_, k, _)| *k == "Catch").collect();
    assert!(catchers.len() >= 6, "{catchers:?}");
    for (state, _, rule) in catchers {
        assert_eq!(
            names(rule),
            expected,
            "{state} catches more than refused input"
        );
    }
}

#[test]
fn transient_errors_are_retried_with_backoff_and_jitter_and_data_errors_never() {
    let mut all = vec![];
    rules(&definition()["States"], &mut all);
    let tasks: BTreeSet<String> = all.iter().map(|(s, _, _)| s.clone()).collect();
    assert!(tasks.len() >= 7, "{tasks:?}");
    for (state, kind, rule) in &all {
        for name in names(rule)
            .iter()
            .filter(|n| TaskError::NAMES.contains(&n.as_str()))
        {
            match (*kind, retry_of(name)) {
                ("Retry", Retry::Never) => {
                    panic!("{state} retries {name}, which never goes away by retrying")
                }
                ("Retry", Retry::Transient) => {
                    assert!(
                        rule["BackoffRate"].as_f64().unwrap() > 1.0
                            && rule["MaxDelaySeconds"].is_u64(),
                        "{state}"
                    );
                    assert_eq!(rule["JitterStrategy"], "FULL", "{state}");
                }
                _ => {}
            }
        }
    }
    // Each task state retries every transient error.
    for state in tasks {
        let retried: BTreeSet<String> = all
            .iter()
            .filter(|(s, k, _)| *s == state && *k == "Retry")
            .flat_map(|(_, _, r)| names(r))
            .collect();
        if state == "LoadDimensions" {
            continue;
        }
        for name in TaskError::NAMES
            .iter()
            .filter(|n| retry_of(n) == Retry::Transient)
        {
            assert!(retried.contains(*name), "{state} does not retry {name}");
        }
    }
}

#[test]
fn every_task_error_maps_to_its_name() {
    let errors = [
        TaskError::invalid("logical_date", "bad"),
        TaskError::MalformedInput {
            file: "f".into(),
            line: 1,
            error: ovom_core::contract::LineError::line("r"),
            budget: None,
        },
        TaskError::WarehouseBusy("locked".into()),
        TaskError::WarehouseError("syntax".into()),
        TaskError::StoreUnavailable("timeout".into()),
        TaskError::StoreError {
            key: "k".into(),
            detail: "denied".into(),
        },
        TaskError::QualityCheckFailed {
            check: ovom_core::params::Check::DayReconciles,
            logical_date: "2025-01-01".into(),
            got: 1,
            comparison: ovom_core::sql::Comparison::Eq,
            expected: 0,
        },
        TaskError::EmptyDayRefused {
            source_folder: "patient_data",
            logical_date: "2025-01-01".into(),
            rows: 1,
        },
        TaskError::OutsideLayout {
            key: "log_data/x.json".into(),
            reason: "a file outside any day folder".into(),
        },
    ];
    let got: Vec<&str> = errors.iter().map(TaskError::name).collect();
    assert_eq!(got, TaskError::NAMES.to_vec());
    // The run history's structured copy of an error carries the same name,
    // and its fields as data.
    for e in &errors {
        let detail = e.detail();
        assert_eq!(detail["error"], e.name(), "{detail}");
        assert!(!detail["detail"].is_null(), "{detail}");
    }
    let quality = &errors[6].detail()["detail"];
    assert_eq!(
        quality,
        &serde_json::json!({"check": "day_reconciles", "logical_date": "2025-01-01",
                            "got": 1, "comparison": "=", "expected": 0})
    );
}

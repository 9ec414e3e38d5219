//! The production state machine file, run by the in-process interpreter with
//! scripted task outcomes: its retries, catches and data flow.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use ovom_asl::{Executor, NoopObserver, TaskFailure, TaskHandler};
use ovom_core::handler::TaskKind;
use ovom_local::pipeline::{load_definition, local_arn, DEFINITION};
use serde_json::{json, Value};

use crate::support::clock;

/// Answers each state's task from a script of failures, then succeeds with
/// the task's input as its result; records every call.
#[derive(Default)]
struct Script {
    failures: RefCell<HashMap<String, VecDeque<&'static str>>>,
    calls: RefCell<Vec<(String, Value)>>,
}

impl Script {
    fn fail(self, key: &str, errors: &[&'static str]) -> Self {
        self.failures
            .borrow_mut()
            .insert(key.to_owned(), errors.iter().copied().collect());
        self
    }
}

fn key(input: &Value) -> String {
    input["model"]
        .as_str()
        .or(input["source"].as_str())
        .unwrap_or("quality")
        .to_owned()
}

impl TaskHandler for Script {
    fn invoke(&self, resource: &str, input: &Value, _ctx: &Value) -> Result<Value, TaskFailure> {
        self.calls
            .borrow_mut()
            .push((resource.to_owned(), input.clone()));
        if let Some(e) = self
            .failures
            .borrow_mut()
            .get_mut(&key(input))
            .and_then(VecDeque::pop_front)
        {
            return Err(TaskFailure::new(e, format!("scripted {e}")));
        }
        Ok(input.clone())
    }
}

fn input() -> Value {
    json!({"logical_date": "2025-03-14", "dim_mode": "merge", "strict": false})
}

#[test]
fn a_clean_day_runs_every_task_in_order_with_its_parameters() {
    let machine = load_definition(DEFINITION).unwrap();
    let script = Script::default();
    let out = Executor::new(&machine, &script, &clock(), &NoopObserver)
        .with_execution_name("exec-1")
        .run(input())
        .unwrap();
    let calls = script.calls.borrow();
    let keys: Vec<String> = calls.iter().map(|(_, i)| key(i)).collect();
    assert_eq!(
        keys,
        [
            "patient_data",
            "dim_patient",
            "log_data",
            "dim_doctor",
            "dim_lab",
            "dim_date",
            "fact_bloodtest",
            "quality"
        ]
    );
    assert_eq!(
        calls[0],
        (
            local_arn(TaskKind::Stage),
            json!({"source": "patient_data", "logical_date": "2025-03-14", "through": "2025-03-14", "run_id": "exec-1", "strict": false, "allow_empty": false})
        )
    );
    assert_eq!(
        calls[1].1,
        json!({"model": "dim_patient", "mode": "merge", "logical_date": "2025-03-14", "through": "2025-03-14", "run_id": "exec-1"})
    );
    assert_eq!(
        calls[6].1,
        json!({"model": "fact_bloodtest", "logical_date": "2025-03-14", "through": "2025-03-14", "run_id": "exec-1", "patient_wait_days": 7})
    );
    assert_eq!(calls[7].0, local_arn(TaskKind::Quality));
    assert_eq!(calls[7].1["checks"].as_array().unwrap().len(), 6);
    // The output is every task's result, by step.
    let steps: BTreeSet<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        steps,
        BTreeSet::from([
            "stage_patients",
            "dim_patient",
            "stage_bloodtests",
            "dimensions",
            "fact_bloodtest",
            "quality"
        ])
    );
    assert_eq!(
        out["dimensions"],
        json!([{"model": "dim_doctor", "mode": "merge"}, {"model": "dim_lab", "mode": "merge"}, {"model": "dim_date", "mode": "merge"}])
    );
}

#[test]
fn transient_errors_are_retried_with_jittered_backoff_then_succeed() {
    let machine = load_definition(DEFINITION).unwrap();
    let script = Script::default().fail(
        "log_data",
        &["WarehouseBusy", "StoreUnavailable", "WarehouseBusy"],
    );
    let clock = clock();
    Executor::new(&machine, &script, &clock, &NoopObserver)
        .run(input())
        .unwrap();
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 3);
    for (i, s) in sleeps.iter().enumerate() {
        assert!(*s <= Duration::from_secs(2 << i), "retry {i} slept {s:?}");
    }
    assert_eq!(
        script
            .calls
            .borrow()
            .iter()
            .filter(|(_, i)| key(i) == "log_data")
            .count(),
        4
    );
}

#[test]
fn data_errors_are_not_retried_and_fail_the_execution_at_their_state() {
    // Refused input ends in the Fail state; every other error fails the
    // execution at the state that raised it (where a redrive resumes).
    for (error, state) in [
        ("InvalidParameters", "Failed"),
        ("MalformedInput", "LoadDimensions"),
        ("WarehouseError", "LoadDimensions"),
        ("StoreError", "LoadDimensions"),
    ] {
        let machine = load_definition(DEFINITION).unwrap();
        let script = Script::default().fail("dim_lab", &[error]);
        let clock = clock();
        let failure = Executor::new(&machine, &script, &clock, &NoopObserver)
            .run(input())
            .unwrap_err();
        assert_eq!(
            (
                failure.error.as_str(),
                failure.cause.as_str(),
                failure.state.as_str()
            ),
            (error, format!("scripted {error}").as_str(), state)
        );
        assert!(clock.sleeps().is_empty(), "{error} was retried");
        let keys: Vec<String> = script.calls.borrow().iter().map(|(_, i)| key(i)).collect();
        assert!(
            !keys.contains(&"fact_bloodtest".to_owned()),
            "{error}: the fact loaded after a failed dimension"
        );
    }
}

#[test]
fn transient_errors_that_persist_fail_after_the_last_attempt() {
    let machine = load_definition(DEFINITION).unwrap();
    let script = Script::default().fail("fact_bloodtest", &["WarehouseBusy"; 5]);
    let clock = clock();
    let failure = Executor::new(&machine, &script, &clock, &NoopObserver)
        .run(input())
        .unwrap_err();
    assert_eq!(failure.error, "WarehouseBusy");
    assert_eq!(clock.sleeps().len(), 4);
    assert_eq!(
        script
            .calls
            .borrow()
            .iter()
            .filter(|(_, i)| key(i) == "fact_bloodtest")
            .count(),
        5
    );
}

#[test]
fn the_definition_names_exactly_the_three_task_functions_and_the_nested_backfill() {
    let machine = load_definition(DEFINITION).unwrap();
    let mut expected: BTreeSet<String> = TaskKind::ALL.iter().map(|k| local_arn(*k)).collect();
    expected.insert(ovom_core::handler::NESTED_START.to_owned());
    assert_eq!(machine.task_resources(), expected);
    let mut placeholders: BTreeSet<String> = TaskKind::ALL
        .iter()
        .map(|k| format!("${{{}}}", k.substitution()))
        .collect();
    placeholders.insert(ovom_core::handler::NESTED_START.to_owned());
    assert_eq!(
        ovom_asl::StateMachine::from_json(DEFINITION)
            .unwrap()
            .task_resources(),
        placeholders
    );
}

#[test]
fn a_range_input_hands_its_last_day_to_every_task() {
    let machine = load_definition(DEFINITION).unwrap();
    let script = Script::default();
    let mut range = input();
    range["through"] = json!("2025-12-31");
    Executor::new(&machine, &script, &clock(), &NoopObserver)
        .with_execution_name("exec-1")
        .run(range)
        .unwrap();
    let calls = script.calls.borrow();
    assert_eq!(calls.len(), 8);
    for (resource, input) in calls.iter() {
        assert_eq!(input["logical_date"], "2025-03-14", "{resource}");
        assert_eq!(input["through"], "2025-12-31", "{resource}");
    }
}

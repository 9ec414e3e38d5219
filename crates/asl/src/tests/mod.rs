//! Executions of small state machines against the behaviour the Amazon
//! States Language specification and the Step Functions documentation
//! describe: `check(definition, input, script, expected)`.

mod choice;
mod context;
mod definition;
mod errors;
mod io;
mod parallel_map;
mod wait_fail;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::{
    ExecutionFailure, Executor, ManualClock, Observer, StateMachine, StateRecord, TaskFailure,
    TaskHandler,
};

/// The instant every test execution starts at.
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// Answers each resource from a queue of scripted results; a resource with
/// no result left returns its input. Records every call.
#[derive(Default)]
pub(crate) struct Script {
    queues: RefCell<HashMap<String, VecDeque<Result<Value, TaskFailure>>>>,
    calls: RefCell<Vec<Call>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub resource: String,
    pub input: Value,
    pub context: Value,
}

impl Script {
    /// Results for `resource`, in order.
    pub fn on(
        self,
        resource: &str,
        results: impl IntoIterator<Item = Result<Value, TaskFailure>>,
    ) -> Self {
        self.queues
            .borrow_mut()
            .entry(resource.to_owned())
            .or_default()
            .extend(results);
        self
    }
}

impl TaskHandler for Script {
    fn invoke(&self, resource: &str, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        self.calls.borrow_mut().push(Call {
            resource: resource.to_owned(),
            input: input.clone(),
            context: context.clone(),
        });
        match self
            .queues
            .borrow_mut()
            .get_mut(resource)
            .and_then(VecDeque::pop_front)
        {
            Some(result) => result,
            None => Ok(input.clone()),
        }
    }
}

pub(crate) fn script() -> Script {
    Script::default()
}

pub(crate) fn ok(value: Value) -> Result<Value, TaskFailure> {
    Ok(value)
}

/// A scripted failure whose cause is `"<error> happened"`.
pub(crate) fn err(error: &str) -> Result<Value, TaskFailure> {
    Err(TaskFailure::new(error, format!("{error} happened")))
}

/// The expected failure of an execution.
pub(crate) fn failed(error: &str, cause: &str, state: &str) -> Result<Value, ExecutionFailure> {
    Err(ExecutionFailure {
        error: error.to_owned(),
        cause: cause.to_owned(),
        state: state.to_owned(),
    })
}

/// Records what the observer is told, as lines and records.
#[derive(Default)]
pub(crate) struct Recorder {
    pub events: RefCell<Vec<String>>,
    pub records: RefCell<Vec<StateRecord>>,
}

impl Observer for Recorder {
    fn state_entered(&self, path: &str, _name: &str, input: &Value) {
        self.events
            .borrow_mut()
            .push(format!("enter {path} {input}"));
    }

    fn attempt_failed(
        &self,
        path: &str,
        attempt: u32,
        failure: &TaskFailure,
        retry_in: Option<Duration>,
    ) {
        let retry = retry_in.map_or("no retry".to_owned(), |d| format!("retry in {d:?}"));
        self.events.borrow_mut().push(format!(
            "attempt {attempt} of {path} failed with {}: {retry}",
            failure.error
        ));
    }

    fn state_exited(&self, record: &StateRecord) {
        self.events
            .borrow_mut()
            .push(format!("exit {}", record.path));
        self.records.borrow_mut().push(record.clone());
    }
}

/// Everything an execution did.
pub(crate) struct Outcome {
    pub result: Result<Value, ExecutionFailure>,
    pub sleeps: Vec<Duration>,
    pub calls: Vec<Call>,
    pub events: Vec<String>,
    pub records: Vec<StateRecord>,
}

impl Outcome {
    /// The inputs each call of `resource` was given.
    pub fn inputs(&self, resource: &str) -> Vec<Value> {
        self.calls
            .iter()
            .filter(|c| c.resource == resource)
            .map(|c| c.input.clone())
            .collect()
    }

    /// (path, attempts, error name, caught) of every state record.
    pub fn summary(&self) -> Vec<(String, u32, Option<String>, bool)> {
        self.records
            .iter()
            .map(|r| {
                (
                    r.path.clone(),
                    r.attempts,
                    r.error.as_ref().map(|e| e.error.clone()),
                    r.caught,
                )
            })
            .collect()
    }
}

pub(crate) fn machine(definition: &Value) -> StateMachine {
    StateMachine::from_json(&definition.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// Run `definition` on `input` as the execution `name`.
pub(crate) fn execute_as(name: &str, definition: &Value, input: Value, script: Script) -> Outcome {
    let machine = machine(definition);
    let clock = ManualClock::new(start());
    let recorder = Recorder::default();
    let result = Executor::new(&machine, &script, &clock, &recorder)
        .with_execution_name(name)
        .run(input);
    Outcome {
        result,
        sleeps: clock.sleeps(),
        calls: script.calls.into_inner(),
        events: recorder.events.into_inner(),
        records: recorder.records.into_inner(),
    }
}

pub(crate) fn execute(definition: &Value, input: Value, script: Script) -> Outcome {
    execute_as("local", definition, input, script)
}

/// Run `definition` and assert its output or failure.
pub(crate) fn check(
    definition: Value,
    input: Value,
    script: Script,
    expected: Result<Value, ExecutionFailure>,
) -> Outcome {
    let outcome = execute(&definition, input, script);
    assert_eq!(outcome.result, expected, "events: {:#?}", outcome.events);
    outcome
}

/// A state machine of one Task state `T` (resource `r`) with `fields`.
pub(crate) fn task(fields: Value) -> Value {
    let mut state = serde_json::json!({"Type": "Task", "Resource": "r", "End": true});
    state
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    serde_json::json!({"StartAt": "T", "States": {"T": state}})
}

/// `n` seconds.
pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

//! Runs a [`StateMachine`] in-process, on the calling thread.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map as JsonMap, Value};
use tracing::debug;

use crate::clock::Clock;
use crate::definition::{
    Block, Body, Fail, Map, Parallel, Pass, Results, State, StateMachine, Task, Text, Wait, WaitFor,
};
use crate::error::{names, ExecutionFailure, TaskFailure};
use crate::observer::{Observer, StateRecord};
use crate::paths::excerpt;
use crate::retry::{self, Jitter};

/// Runs the Task states' resources.
pub trait TaskHandler {
    /// Invoke a Task's `resource` with its effective input (after
    /// `InputPath` and `Parameters`). `context` is the context object
    /// (`$$`). An `Err` is matched by the state's Retry and Catch by its
    /// `error` name.
    fn invoke(&self, resource: &str, input: &Value, context: &Value) -> Result<Value, TaskFailure>;
}

/// The name of the state machine in the context object.
const STATE_MACHINE_NAME: &str = "local";

/// Runs executions of one state machine.
pub struct Executor<'a> {
    machine: &'a StateMachine,
    handler: &'a dyn TaskHandler,
    clock: &'a dyn Clock,
    observer: &'a dyn Observer,
    execution_name: String,
}

impl<'a> Executor<'a> {
    pub fn new(
        machine: &'a StateMachine,
        handler: &'a dyn TaskHandler,
        clock: &'a dyn Clock,
        observer: &'a dyn Observer,
    ) -> Self {
        Self {
            machine,
            handler,
            clock,
            observer,
            execution_name: "local".to_owned(),
        }
    }

    /// The execution's name: `$$.Execution.Name`, part of
    /// `$$.Execution.Id`, and the seed of retry jitter. Default `"local"`.
    pub fn with_execution_name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.execution_name);
        self
    }

    /// Run an execution from `StartAt`.
    pub fn run(&self, input: Value) -> Result<Value, ExecutionFailure> {
        self.run_from(self.machine.start_at(), input)
    }

    /// Run an execution from the top-level state `state` with `input` as
    /// that state's raw input (to redrive a failed execution from the state
    /// that failed). A state that does not exist fails the execution with
    /// `States.Runtime`.
    pub fn run_from(&self, state: &str, input: Value) -> Result<Value, ExecutionFailure> {
        self.redrive(state, input, BTreeMap::new())
    }

    /// Redrive a failed execution from the top-level state `state` with that
    /// state's raw input, as Step Functions' `RedriveExecution` does: when
    /// `state` is a Parallel, only its branches without an output in
    /// `succeeded` (branch index → the branch's output) run again, the
    /// others keep their output ("For workflows that include an Inline Map
    /// or Parallel state, RedriveExecution … redrives only the iterations and
    /// branches that failed or aborted").
    pub fn redrive(
        &self,
        state: &str,
        input: Value,
        succeeded: BTreeMap<usize, Value>,
    ) -> Result<Value, ExecutionFailure> {
        let root = &self.machine.root;
        if root.get(state).is_none() {
            return Err(ExecutionFailure {
                error: names::RUNTIME.to_owned(),
                cause: format!("the state machine has no top-level state `{state}`"),
                state: state.to_owned(),
            });
        }
        let run = Run {
            ex: self,
            execution: json!({
                "Id": format!("arn:ovom:local:execution:{}", self.execution_name),
                "Name": self.execution_name,
                "Input": input,
                "StartTime": rfc3339(self.clock.now()),
            }),
            jitter: Jitter::new(&self.execution_name),
            kept_branches: std::cell::RefCell::new(Some((state.to_owned(), succeeded))),
        };
        debug!(execution = %self.execution_name, start_at = state, "execution started");
        let scope = Scope {
            prefix: String::new(),
            item: None,
        };
        match run.block(root, state, input, &scope) {
            Ok(output) => {
                debug!(execution = %self.execution_name, "execution succeeded");
                Ok(output)
            }
            Err(halt) => {
                debug!(execution = %self.execution_name, state = %halt.state, error = %halt.failure.error, "execution failed");
                Err(ExecutionFailure {
                    error: halt.failure.error,
                    cause: halt.failure.cause,
                    state: halt.state,
                })
            }
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One execution in progress.
struct Run<'r, 'a> {
    ex: &'r Executor<'a>,
    /// `$$.Execution`.
    execution: Value,
    jitter: Jitter,
    /// A redrive's top-level Parallel and the outputs of its branches that
    /// succeeded before, by branch index: those are not run again.
    kept_branches: std::cell::RefCell<Option<(String, BTreeMap<usize, Value>)>>,
}

/// Where a block runs: the path prefix of its states' records, and the Map
/// item it processes, if any.
struct Scope {
    prefix: String,
    item: Option<(usize, Value)>,
}

/// A block that ended in failure, and the state of that block where it did.
struct Halt {
    failure: TaskFailure,
    state: String,
}

impl Run<'_, '_> {
    fn block(
        &self,
        block: &Block,
        start: &str,
        mut input: Value,
        scope: &Scope,
    ) -> Result<Value, Halt> {
        let mut state = block
            .get(start)
            .expect("transitions are checked with the definition");
        loop {
            let (output, next) = self.state(state, input, scope)?;
            match next {
                Some(next) => {
                    debug!(from = %state.name, to = %next, "transition");
                    state = block
                        .get(next)
                        .expect("transitions are checked with the definition");
                    input = output;
                }
                None => return Ok(output),
            }
        }
    }

    /// Run one state with its retries and catchers; report it to the
    /// observer. Returns its output and the next state, if any.
    fn state<'s>(
        &self,
        state: &'s State,
        input: Value,
        scope: &Scope,
    ) -> Result<(Value, Option<&'s str>), Halt> {
        let ex = self.ex;
        let path = format!("{}{}", scope.prefix, state.name);
        let started_at = ex.clock.now();
        ex.observer.state_entered(&path, &state.name, &input);
        debug!(state = %path, state_type = state.type_name(), "state entered");

        let mut attempts = 0u32;
        let mut retries = vec![0u64; state.retry.len()];
        let outcome = loop {
            attempts += 1;
            let context = self.context(state, started_at, attempts - 1, scope);
            let failure = match self.attempt(state, &input, &context, &path, scope) {
                Ok(done) => break Ok(done),
                Err(failure) => failure,
            };
            let retry_in = self.retry_delay(state, &mut retries, &failure);
            ex.observer
                .attempt_failed(&path, attempts, &failure, retry_in);
            debug!(state = %path, attempt = attempts, error = %failure.error, cause = %failure.cause, retry_in = ?retry_in, "attempt failed");
            match retry_in {
                Some(delay) => ex.clock.sleep(delay),
                None => break Err(failure),
            }
        };

        let (result, error, caught) = match outcome {
            Ok((output, next)) => (Ok((output, next)), None, false),
            Err(failure) => match state
                .catch
                .iter()
                .find(|c| retry::matches(&c.error_equals, &failure.error))
            {
                Some(catcher) => {
                    let error_output = json!({"Error": failure.error, "Cause": failure.cause});
                    let output = match &catcher.result_path {
                        Some(result_path) => result_path.apply(input.clone(), error_output),
                        None => Ok(input.clone()),
                    };
                    match output {
                        Ok(output) => {
                            debug!(state = %path, error = %failure.error, next = %catcher.next, "error caught");
                            (
                                Ok((output, Some(catcher.next.as_str()))),
                                Some(failure),
                                true,
                            )
                        }
                        Err(path_failure) => (Err(path_failure.clone()), Some(path_failure), false),
                    }
                }
                None => (Err(failure.clone()), Some(failure), false),
            },
        };

        let record = StateRecord {
            path: path.clone(),
            name: state.name.clone(),
            state_type: state.type_name().to_owned(),
            input,
            output: result.as_ref().ok().map(|(output, _)| output.clone()),
            attempts,
            started_at,
            duration: (ex.clock.now() - started_at).to_std().unwrap_or_default(),
            error,
            caught,
        };
        debug!(state = %path, attempts, succeeded = result.is_ok(), caught, "state exited");
        ex.observer.state_exited(&record);
        result.map_err(|failure| Halt {
            failure,
            state: state.name.clone(),
        })
    }

    /// The delay before the next attempt, if the first retrier matching the
    /// error has attempts left (and counts this one).
    fn retry_delay(
        &self,
        state: &State,
        retries: &mut [u64],
        failure: &TaskFailure,
    ) -> Option<Duration> {
        let (i, retrier) = state
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| retry::matches(&r.error_equals, &failure.error))?;
        if retries[i] >= retrier.max_attempts {
            return None;
        }
        let delay = retrier.delay(retries[i]);
        retries[i] += 1;
        Some(if retrier.full_jitter {
            self.jitter.full(delay)
        } else {
            delay
        })
    }

    /// The context object (`$$`) of an attempt of a state.
    fn context(
        &self,
        state: &State,
        entered: DateTime<Utc>,
        retry_count: u32,
        scope: &Scope,
    ) -> Value {
        let mut context = JsonMap::new();
        context.insert("Execution".into(), self.execution.clone());
        context.insert(
            "StateMachine".into(),
            json!({"Id": format!("arn:ovom:local:stateMachine:{STATE_MACHINE_NAME}"), "Name": STATE_MACHINE_NAME}),
        );
        context.insert(
            "State".into(),
            json!({"Name": state.name, "EnteredTime": rfc3339(entered), "RetryCount": retry_count}),
        );
        let mut context = Value::Object(context);
        if let Some((index, value)) = &scope.item {
            with_item(&mut context, *index, value);
        }
        context
    }

    /// One attempt at a state: its output and next state, or its error.
    fn attempt<'s>(
        &self,
        state: &'s State,
        input: &Value,
        context: &Value,
        path: &str,
        scope: &Scope,
    ) -> Result<(Value, Option<&'s str>), TaskFailure> {
        let effective = || state.input_path.apply("InputPath", input.clone(), context);
        let output = |value: Value| state.output_path.apply("OutputPath", value, context);
        match &state.body {
            Body::Task(Task {
                resource,
                parameters,
                results,
                next,
            }) => {
                let effective = template(parameters, effective()?, context)?;
                debug!(state = %path, resource = %resource, "invoking task");
                let result = self.ex.handler.invoke(resource, &effective, context)?;
                Ok((
                    output(self.results(results, input, result, context)?)?,
                    next.next(),
                ))
            }
            Body::Pass(Pass {
                output: Some(jsonata),
                next,
                ..
            }) => Ok((jsonata.eval(input, context)?, next.next())),
            Body::Pass(Pass {
                parameters,
                result,
                result_path,
                output: None,
                next,
            }) => {
                let effective = template(parameters, effective()?, context)?;
                let result = result.clone().unwrap_or(effective);
                let value = match result_path {
                    Some(p) => p.apply(input.clone(), result)?,
                    None => input.clone(),
                };
                Ok((output(value)?, next.next()))
            }
            Body::Choice(choice) => {
                let effective = effective()?;
                for (rule, next) in &choice.choices {
                    if rule.eval(&effective, context)? {
                        return Ok((output(effective)?, Some(next)));
                    }
                }
                match &choice.default {
                    Some(default) => Ok((output(effective)?, Some(default))),
                    None => Err(TaskFailure::new(
                        names::NO_CHOICE_MATCHED,
                        format!(
                            "no Choice rule matched the input {} and there is no Default",
                            excerpt(&effective)
                        ),
                    )),
                }
            }
            Body::Wait(Wait { until, next }) => {
                let effective = effective()?;
                let delay = self.wait_delay(until, &effective, context)?;
                debug!(state = %path, delay = ?delay, "waiting");
                if !delay.is_zero() {
                    self.ex.clock.sleep(delay);
                }
                Ok((output(effective)?, next.next()))
            }
            Body::Succeed => Ok((output(effective()?)?, None)),
            Body::Fail(Fail { error, cause }) => Err(TaskFailure::new(
                fail_text(error, "ErrorPath", input, context)?,
                fail_text(cause, "CausePath", input, context)?,
            )),
            Body::Parallel(Parallel {
                branches,
                parameters,
                results,
                next,
            }) => {
                let effective = template(parameters, effective()?, context)?;
                // A redrive's Parallel keeps what its branches that succeeded
                // output (only on its first run: a retry runs every branch).
                let mut kept = match self.kept_branches.borrow_mut().take() {
                    Some((name, kept)) if scope.prefix.is_empty() && name == state.name => kept,
                    _ => BTreeMap::new(),
                };
                let mut outputs = Vec::with_capacity(branches.len());
                for (i, branch) in branches.iter().enumerate() {
                    if let Some(out) = kept.remove(&i) {
                        debug!(state = %path, branch = i, "branch kept from the earlier run");
                        outputs.push(out);
                        continue;
                    }
                    let scope = Scope {
                        prefix: format!("{path}/{i}/"),
                        item: scope.item.clone(),
                    };
                    let out = self
                        .block(branch, &branch.start_at, effective.clone(), &scope)
                        .map_err(|halt| halt.failure)?;
                    outputs.push(out);
                }
                Ok((
                    output(self.results(results, input, Value::Array(outputs), context)?)?,
                    next.next(),
                ))
            }
            Body::Map(Map {
                processor,
                items_path,
                item_selector,
                results,
                next,
            }) => {
                let effective = effective()?;
                let items = match items_path.apply("ItemsPath", effective.clone(), context)? {
                    Value::Array(items) => items,
                    other => {
                        return Err(TaskFailure::new(
                            names::RUNTIME,
                            format!(
                                "the ItemsPath of a Map must select an array, not {}",
                                excerpt(&other)
                            ),
                        ))
                    }
                };
                let mut outputs = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let item_input = match item_selector {
                        Some(selector) => {
                            let mut context = context.clone();
                            with_item(&mut context, i, &item);
                            selector.eval(&effective, &context)?
                        }
                        None => item.clone(),
                    };
                    let scope = Scope {
                        prefix: format!("{path}/{i}/"),
                        item: Some((i, item)),
                    };
                    let out = self
                        .block(processor, &processor.start_at, item_input, &scope)
                        .map_err(|halt| halt.failure)?;
                    outputs.push(out);
                }
                Ok((
                    output(self.results(results, input, Value::Array(outputs), context)?)?,
                    next.next(),
                ))
            }
        }
    }

    /// `ResultSelector` then `ResultPath` (into the raw input).
    fn results(
        &self,
        results: &Results,
        input: &Value,
        result: Value,
        context: &Value,
    ) -> Result<Value, TaskFailure> {
        let result = template(&results.selector, result, context)?;
        match &results.path {
            Some(path) => path.apply(input.clone(), result),
            None => Ok(input.clone()),
        }
    }

    fn wait_delay(
        &self,
        until: &WaitFor,
        input: &Value,
        context: &Value,
    ) -> Result<Duration, TaskFailure> {
        let until_time =
            |t: DateTime<Utc>| (t - self.ex.clock.now()).to_std().unwrap_or(Duration::ZERO);
        match until {
            WaitFor::Seconds(s) => Ok(Duration::from_secs(*s)),
            WaitFor::Timestamp(t) => Ok(until_time(t.with_timezone(&Utc))),
            WaitFor::SecondsPath(path) => match path.read(input, context) {
                Some(Value::Number(n)) if n.as_u64().is_some() => {
                    Ok(Duration::from_secs(n.as_u64().expect("checked")))
                }
                other => Err(TaskFailure::new(
                    names::RUNTIME,
                    format!(
                        "the SecondsPath `{}` must select a non-negative integer, not {}",
                        path.text(),
                        other.map_or("nothing".to_owned(), |v| excerpt(&v))
                    ),
                )),
            },
            WaitFor::TimestampPath(path) => match path.read(input, context) {
                Some(Value::String(s)) if crate::choice::timestamp(&s).is_some() => Ok(until_time(
                    crate::choice::timestamp(&s)
                        .expect("checked")
                        .with_timezone(&Utc),
                )),
                other => Err(TaskFailure::new(
                    names::RUNTIME,
                    format!(
                        "the TimestampPath `{}` must select an RFC 3339 timestamp, not {}",
                        path.text(),
                        other.map_or("nothing".to_owned(), |v| excerpt(&v))
                    ),
                )),
            },
        }
    }
}

/// Apply an optional payload template.
fn template(
    template: &Option<crate::template::Template>,
    input: Value,
    context: &Value,
) -> Result<Value, TaskFailure> {
    match template {
        Some(t) => t.eval(&input, context),
        None => Ok(input),
    }
}

/// Add `$$.Map.Item`.
fn with_item(context: &mut Value, index: usize, value: &Value) {
    if let Value::Object(map) = context {
        map.insert(
            "Map".into(),
            json!({"Item": {"Index": index, "Value": value}}),
        );
    }
}

/// A Fail state's `Error` or `Cause`; absent is the empty string.
fn fail_text(
    text: &Option<Text>,
    field: &str,
    input: &Value,
    context: &Value,
) -> Result<String, TaskFailure> {
    let value = match text {
        None => return Ok(String::new()),
        Some(Text::Literal(s)) => return Ok(s.clone()),
        Some(Text::Path(path)) => path.read(input, context).ok_or_else(|| {
            TaskFailure::new(
                names::RUNTIME,
                format!(
                    "the {field} `{}` matched nothing in {}",
                    path.text(),
                    excerpt(input)
                ),
            )
        })?,
        Some(Text::Call(call)) => call.eval(input, context)?,
    };
    match value {
        Value::String(s) => Ok(s),
        other => Err(TaskFailure::new(
            names::RUNTIME,
            format!("the {field} must select a string, not {}", excerpt(&other)),
        )),
    }
}

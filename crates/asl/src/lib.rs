//! An in-process interpreter for [Amazon States Language] state machines:
//! the definition that AWS Step Functions runs in production, run locally
//! with Task resources served by a [`TaskHandler`].
//!
//! ```
//! use ovom_asl::{Executor, ManualClock, NoopObserver, StateMachine, TaskFailure, TaskHandler};
//! use serde_json::{json, Value};
//!
//! struct Add;
//! impl TaskHandler for Add {
//!     fn invoke(&self, _resource: &str, input: &Value, _context: &Value) -> Result<Value, TaskFailure> {
//!         Ok(json!(input["a"].as_i64().unwrap() + input["b"].as_i64().unwrap()))
//!     }
//! }
//!
//! let machine = StateMachine::from_json(r#"{
//!     "StartAt": "Add",
//!     "States": {
//!         "Add": {"Type": "Task", "Resource": "add", "InputPath": "$.numbers", "ResultPath": "$.sum", "End": true}
//!     }
//! }"#).unwrap();
//! let clock = ManualClock::new(chrono::Utc::now());
//! let output = Executor::new(&machine, &Add, &clock, &NoopObserver)
//!     .run(json!({"numbers": {"a": 3, "b": 4}}))
//!     .unwrap();
//! assert_eq!(output, json!({"numbers": {"a": 3, "b": 4}, "sum": 7}));
//! ```
//!
//! # What runs
//!
//! * Every state type: Task, Pass, Choice, Wait, Succeed, Fail, Parallel and
//!   Map (inline; with `Iterator` or `ItemProcessor`, `ItemsPath`, and
//!   `ItemSelector` or the older `Parameters`, with `$$.Map.Item.Index` and
//!   `$$.Map.Item.Value`).
//! * Input and output processing in the specification's order: `InputPath`,
//!   `Parameters`, the task, `ResultSelector`, `ResultPath`, `OutputPath`.
//!   Read paths are RFC 9535 JSONPath; `ResultPath` is a reference path.
//! * Payload templates and the intrinsic functions `States.Format`,
//!   `StringToJson`, `JsonToString`, `Array`, `ArrayPartition`,
//!   `ArrayContains`, `ArrayRange`, `ArrayGetItem`, `ArrayLength`,
//!   `ArrayUnique`, `JsonMerge` (shallow), `MathAdd`, `StringSplit`,
//!   `Base64Encode` and `Base64Decode`.
//! * Choice rules with every comparison (and its `...Path` form),
//!   `StringMatches`, the `Is...` type tests, `And`, `Or` and `Not`.
//! * Retry (per-retrier attempt counts, backoff, `MaxDelaySeconds`, `FULL`
//!   jitter from a generator seeded by the execution name) and Catch, with
//!   the `States.ALL` and `States.TaskFailed` wildcards.
//! * The context object: `$$.Execution.Id`, `.Name`, `.Input`, `.StartTime`,
//!   `$$.StateMachine.Id`, `.Name`, `$$.State.Name`, `.EnteredTime`,
//!   `.RetryCount`, and `$$.Map.Item` inside a Map.
//!
//! # One thread
//!
//! Everything runs on the calling thread. Parallel branches run one after
//! another in branch order, and Map items one after another in item order;
//! each branch and item gets the same input it would get concurrently, and
//! the outputs are ordered as the specification requires (by branch, by
//! item), so the result is that of a concurrent run. A failing branch or
//! item fails its Parallel or Map with its error at once; the branches and
//! items after it do not run. `MaxConcurrency` is checked but changes
//! nothing.
//!
//! Time goes through a [`Clock`]: Wait states and Retry delays call
//! [`Clock::sleep`], so tests run with a [`ManualClock`] at once.
//!
//! # What does not run
//!
//! A definition that uses a feature this interpreter does not run is
//! rejected with [`DefinitionError::Unsupported`], never run differently:
//! JSONata (`QueryLanguage: "JSONata"`), except in a Pass state whose
//! `Output` uses the part of JSONata `jsonata.rs` describes (date arithmetic
//! on `$states.input`), workflow
//! variables (`Assign`), task `Credentials`, Distributed Map (`ItemReader`,
//! `ResultWriter`, `ItemBatcher`, tolerated failures, `Mode: DISTRIBUTED`)
//! and the intrinsics `States.Hash`, `States.UUID` and `States.MathRandom`.
//! A field the language does not have is refused as well ([`DefinitionError::Invalid`]),
//! and every error names the object and the path of the field at fault:
//! ``state `Load`: field `Retry[0].MaxAttempts`: must be a non-negative integer, not 1.5``.
//!
//! `TimeoutSeconds` and `HeartbeatSeconds` (of a Task, or of the state
//! machine) are parsed and checked but not enforced: a [`TaskHandler`] is
//! called synchronously and returns when it is done, so an in-process task
//! never times out.
//!
//! [Amazon States Language]: https://states-language.net/

mod choice;
mod clock;
mod definition;
mod error;
mod executor;
mod intrinsics;
mod jsonata;
mod node;
mod observer;
mod paths;
mod retry;
mod template;

#[cfg(test)]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use definition::StateMachine;
pub use error::{names as error_names, DefinitionError, ExecutionFailure, TaskFailure};
pub use executor::{Executor, TaskHandler};
pub use observer::{failed_top_level_state, NoopObserver, Observer, StateRecord};

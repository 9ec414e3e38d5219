//! The state machine definition: parsed once, checked whole, then run by the
//! [`Executor`](crate::Executor).
//!
//! The JSON is read into the serde types of `raw.rs` (an unknown field is
//! refused, an error names the path of the field at fault), which
//! `validate.rs` checks and turns into the types below.

mod fields;
mod raw;
mod targets;
mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::choice::Rule;
use crate::error::DefinitionError;
use crate::intrinsics::Call;
use crate::node::Node;
use crate::paths::{Filter, ReadPath, ReferencePath};
use crate::retry::{Catcher, Retrier};
use crate::template::Template;

/// A parsed and validated state machine.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) root: Block,
}

/// `StartAt` and `States`: the state machine itself, a Parallel branch or a
/// Map item processor.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub start_at: String,
    pub states: Vec<State>,
    index: HashMap<String, usize>,
}

impl Block {
    pub fn get(&self, name: &str) -> Option<&State> {
        self.index.get(name).map(|i| &self.states[*i])
    }
}

#[derive(Debug, Clone)]
pub(crate) struct State {
    pub name: String,
    pub input_path: Filter,
    pub output_path: Filter,
    /// Empty but for Task, Parallel and Map.
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub body: Body,
}

impl State {
    pub fn type_name(&self) -> &'static str {
        match self.body {
            Body::Task(_) => "Task",
            Body::Pass(_) => "Pass",
            Body::Choice(_) => "Choice",
            Body::Wait(_) => "Wait",
            Body::Succeed => "Succeed",
            Body::Fail(_) => "Fail",
            Body::Parallel(_) => "Parallel",
            Body::Map(_) => "Map",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    Next(String),
    End,
}

impl Transition {
    pub fn next(&self) -> Option<&str> {
        match self {
            Transition::Next(name) => Some(name),
            Transition::End => None,
        }
    }
}

/// What a state does with its result: `ResultSelector`, then `ResultPath`
/// (`None`: `"ResultPath": null`, the result is discarded).
#[derive(Debug, Clone)]
pub(crate) struct Results {
    pub selector: Option<Template>,
    pub path: Option<ReferencePath>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Task(Task),
    Pass(Pass),
    Choice(Choice),
    Wait(Wait),
    Succeed,
    Fail(Fail),
    Parallel(Parallel),
    Map(Map),
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub resource: String,
    pub parameters: Option<Template>,
    pub results: Results,
    pub next: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Pass {
    pub parameters: Option<Template>,
    pub result: Option<Value>,
    pub result_path: Option<ReferencePath>,
    /// A JSONata Pass state's `Output`: the state's output, computed from
    /// `$states.input` (no paths apply).
    pub output: Option<crate::jsonata::Output>,
    pub next: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub choices: Vec<(Rule, String)>,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(u64),
    SecondsPath(ReadPath),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(ReadPath),
}

#[derive(Debug, Clone)]
pub(crate) struct Wait {
    pub until: WaitFor,
    pub next: Transition,
}

/// `Error`/`Cause` of a Fail state: a literal, a path or an intrinsic call.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Literal(String),
    Path(ReadPath),
    Call(Call),
}

#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub error: Option<Text>,
    pub cause: Option<Text>,
}

#[derive(Debug, Clone)]
pub(crate) struct Parallel {
    pub branches: Vec<Block>,
    pub parameters: Option<Template>,
    pub results: Results,
    pub next: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Map {
    pub processor: Block,
    pub items_path: Filter,
    /// `ItemSelector`, or the older `Parameters`.
    pub item_selector: Option<Template>,
    pub results: Results,
    pub next: Transition,
}

impl StateMachine {
    /// Parse and validate a definition.
    pub fn from_json(text: &str) -> Result<StateMachine, DefinitionError> {
        let node = Node::parse(text).map_err(|e| DefinitionError::Json(e.to_string()))?;
        let root = validate::machine(&node)?;
        Ok(StateMachine { root })
    }

    /// Parse and validate a definition after replacing every `${Name}` in
    /// its text by `substitutions[Name]`, as CloudFormation's
    /// `DefinitionSubstitutions` do (the text is replaced as is, not
    /// JSON-escaped). A `${Name}` without a substitution is an error.
    pub fn from_json_with_substitutions(
        text: &str,
        substitutions: &BTreeMap<String, String>,
    ) -> Result<StateMachine, DefinitionError> {
        StateMachine::from_json(&substitute(text, substitutions)?)
    }

    pub fn start_at(&self) -> &str {
        &self.root.start_at
    }

    /// Top-level state names in definition order.
    pub fn state_names(&self) -> Vec<String> {
        self.root.states.iter().map(|s| s.name.clone()).collect()
    }

    /// Every Task `Resource`, branches and item processors included.
    pub fn task_resources(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        visit(&self.root, &mut |state| {
            if let Body::Task(task) = &state.body {
                out.insert(task.resource.clone());
            }
        });
        out
    }

    /// Every name in any `Retry` or `Catch` `ErrorEquals`, branches and item
    /// processors included.
    pub fn error_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        visit(&self.root, &mut |state| {
            for r in &state.retry {
                out.extend(r.error_equals.iter().cloned());
            }
            for c in &state.catch {
                out.extend(c.error_equals.iter().cloned());
            }
        });
        out
    }
}

fn visit(block: &Block, f: &mut dyn FnMut(&State)) {
    for state in &block.states {
        f(state);
        match &state.body {
            Body::Parallel(p) => p.branches.iter().for_each(|b| visit(b, f)),
            Body::Map(m) => visit(&m.processor, f),
            _ => {}
        }
    }
}

fn substitute(
    text: &str,
    substitutions: &BTreeMap<String, String>,
) -> Result<String, DefinitionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        let value = substitutions
            .get(name)
            .ok_or_else(|| DefinitionError::MissingSubstitution(name.to_owned()))?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

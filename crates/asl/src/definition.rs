//! The state machine definition: parsed once, checked whole, then run by the
//! [`Executor`](crate::Executor).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::choice::{self, Rule};
use crate::error::{DefinitionError, Problem};
use crate::intrinsics::{self, Call};
use crate::node::Node;
use crate::paths::{Filter, ReadPath, ReferencePath};
use crate::retry::{self, Catcher, Retrier};
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
        let mut parser = Parser::default();
        let top = Obj::new(&node, "the state machine", "(definition)")?;
        top.check(
            &[
                "Comment",
                "StartAt",
                "States",
                "Version",
                "TimeoutSeconds",
                "QueryLanguage",
            ],
            "the state machine",
        )?;
        top.comment()?;
        if top.query_language()? {
            return Err(DefinitionError::Unsupported {
                at: top.at.clone(),
                field: "QueryLanguage".into(),
                message: "JSONata is available in Pass states only; the state machine's language is JSONPath".into(),
            });
        }
        top.string("Version")?;
        if let Some(node) = top.get("TimeoutSeconds") {
            positive_integer(node).map_err(|p| p.at(&top.at, "TimeoutSeconds"))?;
        }
        let root = parser.block(&top, "")?;
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

/// Fields that belong to Step Functions features this interpreter does not
/// run, with what they are.
const UNSUPPORTED_FIELDS: [(&str, &str); 13] = [
    ("Assign", "workflow variables are not available"),
    ("Arguments", "JSONata states are not available"),
    ("Output", "JSONata states are not available"),
    ("Items", "JSONata states are not available"),
    (
        "Credentials",
        "task credentials (cross-account roles) are not available",
    ),
    ("ItemReader", "Distributed Map is not available"),
    ("ResultWriter", "Distributed Map is not available"),
    ("ItemBatcher", "Distributed Map is not available"),
    (
        "ToleratedFailurePercentage",
        "Distributed Map is not available",
    ),
    (
        "ToleratedFailurePercentagePath",
        "Distributed Map is not available",
    ),
    ("ToleratedFailureCount", "Distributed Map is not available"),
    (
        "ToleratedFailureCountPath",
        "Distributed Map is not available",
    ),
    ("Label", "Distributed Map is not available"),
];

const MAX_NAME_CHARS: usize = 80;

/// An object of the definition with where it is, for messages.
struct Obj<'n> {
    at: String,
    fields: &'n [(String, Node)],
}

impl<'n> Obj<'n> {
    fn new(node: &'n Node, at: &str, field: &str) -> Result<Obj<'n>, DefinitionError> {
        match node {
            Node::Object(fields) => Ok(Obj {
                at: at.to_owned(),
                fields,
            }),
            other => Err(invalid(
                at,
                field,
                format!("must be an object, not {}", other.kind()),
            )),
        }
    }

    fn get(&self, key: &str) -> Option<&'n Node> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn invalid(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        invalid(&self.at, field, message)
    }

    /// Every field must be one of `allowed`.
    fn check(&self, allowed: &[&str], what: &str) -> Result<(), DefinitionError> {
        for (key, _) in self.fields {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            return Err(match UNSUPPORTED_FIELDS.iter().find(|(k, _)| k == key) {
                Some((_, why)) => DefinitionError::Unsupported {
                    at: self.at.clone(),
                    field: key.clone(),
                    message: (*why).to_owned(),
                },
                None => self.invalid(key, format!("is not a field of {what}")),
            });
        }
        Ok(())
    }

    fn string(&self, key: &str) -> Result<Option<&'n str>, DefinitionError> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(self.invalid(key, format!("must be a string, not {}", other.kind())))
            }
        }
    }

    fn required_string(&self, key: &str) -> Result<&'n str, DefinitionError> {
        self.string(key)?
            .ok_or_else(|| self.invalid(key, "is required"))
    }

    fn comment(&self) -> Result<(), DefinitionError> {
        self.string("Comment").map(drop)
    }

    /// Whether the object asks for JSONata (`QueryLanguage`).
    fn query_language(&self) -> Result<bool, DefinitionError> {
        match self.string("QueryLanguage")? {
            None | Some("JSONPath") => Ok(false),
            Some("JSONata") => Ok(true),
            Some(other) => Err(self.invalid(
                "QueryLanguage",
                format!("`{other}` is neither JSONPath nor JSONata"),
            )),
        }
    }

    fn problem(&self, field: &str) -> impl Fn(Problem) -> DefinitionError {
        let (at, field) = (self.at.clone(), field.to_owned());
        move |p| p.at(&at, &field)
    }

    /// `InputPath`, `OutputPath`, `ItemsPath`: absent is `$`, null is `{}`.
    fn filter(&self, key: &str) -> Result<Filter, DefinitionError> {
        match self.get(key) {
            None => Ok(Filter::Whole),
            Some(Node::Null) => Ok(Filter::Empty),
            Some(Node::String(s)) if s == "$" => Ok(Filter::Whole),
            Some(Node::String(s)) => ReadPath::parse(s)
                .map(Filter::Path)
                .map_err(self.problem(key)),
            Some(other) => {
                Err(self.invalid(key, format!("must be a path or null, not {}", other.kind())))
            }
        }
    }

    /// A path-valued field such as `SecondsPath`.
    fn read_path(&self, key: &str) -> Result<Option<ReadPath>, DefinitionError> {
        self.string(key)?
            .map(|s| ReadPath::parse(s).map_err(self.problem(key)))
            .transpose()
    }

    /// `ResultPath`: absent is `$`; null discards the result.
    fn result_path(&self) -> Result<Option<ReferencePath>, DefinitionError> {
        match self.get("ResultPath") {
            None => Ok(Some(
                ReferencePath::parse("$").expect("`$` is a reference path"),
            )),
            Some(Node::Null) => Ok(None),
            Some(Node::String(s)) => ReferencePath::parse(s)
                .map(Some)
                .map_err(self.problem("ResultPath")),
            Some(other) => Err(self.invalid(
                "ResultPath",
                format!("must be a reference path or null, not {}", other.kind()),
            )),
        }
    }

    fn template(&self, key: &str) -> Result<Option<Template>, DefinitionError> {
        match self.get(key) {
            None => Ok(None),
            Some(node @ Node::Object(_)) => {
                Template::compile(node).map(Some).map_err(self.problem(key))
            }
            Some(other) => Err(self.invalid(
                key,
                format!(
                    "must be an object (a payload template), not {}",
                    other.kind()
                ),
            )),
        }
    }

    fn results(&self) -> Result<Results, DefinitionError> {
        Ok(Results {
            selector: self.template("ResultSelector")?,
            path: self.result_path()?,
        })
    }

    /// `Next` or `"End": true`, exactly one.
    fn transition(&self) -> Result<Transition, DefinitionError> {
        let end = match self.get("End") {
            None => false,
            Some(Node::Bool(b)) => *b,
            Some(other) => {
                return Err(self.invalid("End", format!("must be a boolean, not {}", other.kind())))
            }
        };
        match (self.string("Next")?, end) {
            (Some(next), false) => Ok(Transition::Next(next.to_owned())),
            (None, true) => Ok(Transition::End),
            (Some(_), true) => {
                Err(self.invalid("End", "a state has `Next` or `\"End\": true`, not both"))
            }
            (None, false) => Err(self.invalid("Next", "a state needs `Next` or `\"End\": true`")),
        }
    }

    /// At most one of two fields.
    fn exclusive(&self, a: &str, b: &str) -> Result<(), DefinitionError> {
        if self.has(a) && self.has(b) {
            return Err(self.invalid(b, format!("`{a}` and `{b}` cannot both be given")));
        }
        Ok(())
    }

    /// A positive integer field, or its `...Path` twin.
    fn seconds(&self, key: &str, path_key: &str) -> Result<Option<u64>, DefinitionError> {
        self.exclusive(key, path_key)?;
        self.read_path(path_key)?;
        self.get(key)
            .map(|n| positive_integer(n).map_err(self.problem(key)))
            .transpose()
    }
}

fn invalid(at: &str, field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError::Invalid {
        at: at.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

fn positive_integer(node: &Node) -> Result<u64, Problem> {
    match node {
        Node::Number(n) if n.as_u64().is_some_and(|v| v > 0) => Ok(n.as_u64().expect("checked")),
        other => Err(Problem::invalid(format!(
            "must be a positive integer, not {}",
            other.to_value()
        ))),
    }
}

fn non_negative_integer(node: &Node) -> Result<u64, Problem> {
    match node {
        Node::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().expect("checked")),
        other => Err(Problem::invalid(format!(
            "must be a non-negative integer, not {}",
            other.to_value()
        ))),
    }
}

#[derive(Default)]
struct Parser {
    /// State names seen so far: they are unique in the whole state machine.
    names: HashSet<String>,
}

const COMMON: [&str; 3] = ["Type", "Comment", "QueryLanguage"];

impl Parser {
    /// Parse `StartAt` and `States` of `obj`. `suffix` says where the block
    /// is, for the locations of its states (`""` at the top level).
    fn block(&mut self, obj: &Obj<'_>, suffix: &str) -> Result<Block, DefinitionError> {
        let start_at = obj.required_string("StartAt")?.to_owned();
        let states_node = obj
            .get("States")
            .ok_or_else(|| obj.invalid("States", "is required"))?;
        let Node::Object(fields) = states_node else {
            return Err(obj.invalid(
                "States",
                format!("must be an object, not {}", states_node.kind()),
            ));
        };
        if fields.is_empty() {
            return Err(obj.invalid("States", "must have at least one state"));
        }
        let mut states = Vec::with_capacity(fields.len());
        let mut index = HashMap::new();
        for (name, node) in fields {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(obj.invalid(
                    "States",
                    format!("the state name `{name}` is longer than {MAX_NAME_CHARS} characters"),
                ));
            }
            if !self.names.insert(name.clone()) {
                return Err(obj.invalid(
                    "States",
                    format!("the state name `{name}` is used twice; names are unique in the whole state machine"),
                ));
            }
            let at = format!("state `{name}`{suffix}");
            index.insert(name.clone(), states.len());
            states.push(self.state(name, node, &at)?);
        }
        let block = Block {
            start_at,
            states,
            index,
        };
        if block.get(&block.start_at).is_none() {
            return Err(obj.invalid("StartAt", format!("names no state: `{}`", block.start_at)));
        }
        check_targets(&block, suffix)?;
        Ok(block)
    }

    fn state(&mut self, name: &str, node: &Node, at: &str) -> Result<State, DefinitionError> {
        let obj = Obj::new(node, at, "(state)")?;
        let ty = obj.required_string("Type")?;
        obj.comment()?;
        let jsonata = obj.query_language()?;
        let what = format!("a {ty} state");
        if jsonata && ty != "Pass" {
            return Err(DefinitionError::Unsupported {
                at: obj.at.clone(),
                field: "QueryLanguage".into(),
                message: "JSONata is available in Pass states only".into(),
            });
        }
        let allowed = |extra: &[&'static str]| -> Vec<&'static str> {
            COMMON.iter().chain(extra).copied().collect()
        };
        let body = match ty {
            "Task" => {
                obj.check(
                    &allowed(&[
                        "Next",
                        "End",
                        "InputPath",
                        "OutputPath",
                        "Resource",
                        "Parameters",
                        "ResultSelector",
                        "ResultPath",
                        "Retry",
                        "Catch",
                        "TimeoutSeconds",
                        "TimeoutSecondsPath",
                        "HeartbeatSeconds",
                        "HeartbeatSecondsPath",
                    ]),
                    &what,
                )?;
                let resource = obj.required_string("Resource")?;
                if resource.is_empty() {
                    return Err(obj.invalid("Resource", "must not be empty"));
                }
                let timeout = obj.seconds("TimeoutSeconds", "TimeoutSecondsPath")?;
                let heartbeat = obj.seconds("HeartbeatSeconds", "HeartbeatSecondsPath")?;
                if let (Some(t), Some(h)) = (timeout, heartbeat) {
                    if h >= t {
                        return Err(
                            obj.invalid("HeartbeatSeconds", "must be less than `TimeoutSeconds`")
                        );
                    }
                }
                Body::Task(Task {
                    resource: resource.to_owned(),
                    parameters: obj.template("Parameters")?,
                    results: obj.results()?,
                    next: obj.transition()?,
                })
            }
            "Pass" if jsonata => {
                obj.check(&allowed(&["Next", "End", "Output"]), &what)?;
                let output = obj
                    .get("Output")
                    .map(|n| crate::jsonata::Output::compile(&n.to_value()))
                    .transpose()
                    .map_err(|message| DefinitionError::Unsupported {
                        at: obj.at.clone(),
                        field: "Output".into(),
                        message,
                    })?;
                Body::Pass(Pass {
                    parameters: None,
                    result: None,
                    result_path: None,
                    output,
                    next: obj.transition()?,
                })
            }
            "Pass" => {
                obj.check(
                    &allowed(&[
                        "Next",
                        "End",
                        "InputPath",
                        "OutputPath",
                        "Parameters",
                        "Result",
                        "ResultPath",
                    ]),
                    &what,
                )?;
                Body::Pass(Pass {
                    parameters: obj.template("Parameters")?,
                    result: obj.get("Result").map(Node::to_value),
                    result_path: obj.result_path()?,
                    output: None,
                    next: obj.transition()?,
                })
            }
            "Choice" => {
                obj.check(
                    &allowed(&["InputPath", "OutputPath", "Choices", "Default"]),
                    &what,
                )?;
                let Some(Node::Array(rules)) = obj.get("Choices") else {
                    return Err(obj.invalid("Choices", "is required: a non-empty array of rules"));
                };
                if rules.is_empty() {
                    return Err(obj.invalid("Choices", "must have at least one rule"));
                }
                let mut choices = Vec::with_capacity(rules.len());
                for (i, node) in rules.iter().enumerate() {
                    let field = format!("Choices[{i}]");
                    let rule = Rule::parse(node, true).map_err(|p| p.at(at, &field))?;
                    let next = match node {
                        Node::Object(fields) => match fields.iter().find(|(k, _)| k == "Next") {
                            Some((_, Node::String(next))) => next.clone(),
                            Some(_) => {
                                return Err(
                                    obj.invalid(&format!("{field}.Next"), "must be a state name")
                                )
                            }
                            None => {
                                return Err(obj.invalid(&format!("{field}.Next"), "is required"))
                            }
                        },
                        _ => unreachable!("a parsed rule is an object"),
                    };
                    choices.push((rule, next));
                }
                Body::Choice(Choice {
                    choices,
                    default: obj.string("Default")?.map(str::to_owned),
                })
            }
            "Wait" => {
                obj.check(
                    &allowed(&[
                        "Next",
                        "End",
                        "InputPath",
                        "OutputPath",
                        "Seconds",
                        "SecondsPath",
                        "Timestamp",
                        "TimestampPath",
                    ]),
                    &what,
                )?;
                let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                    .into_iter()
                    .filter(|k| obj.has(k))
                    .collect();
                if given.len() != 1 {
                    return Err(obj.invalid(
                        given.get(1).copied().unwrap_or("Seconds"),
                        "a Wait state has exactly one of `Seconds`, `SecondsPath`, `Timestamp` and `TimestampPath`",
                    ));
                }
                let until = match given[0] {
                    "Seconds" => WaitFor::Seconds(
                        non_negative_integer(obj.get("Seconds").expect("given"))
                            .map_err(obj.problem("Seconds"))?,
                    ),
                    "SecondsPath" => {
                        WaitFor::SecondsPath(obj.read_path("SecondsPath")?.expect("given"))
                    }
                    "TimestampPath" => {
                        WaitFor::TimestampPath(obj.read_path("TimestampPath")?.expect("given"))
                    }
                    _ => {
                        let text = obj.required_string("Timestamp")?;
                        WaitFor::Timestamp(choice::timestamp(text).ok_or_else(|| {
                            obj.invalid("Timestamp", format!("`{text}` is not an RFC 3339 timestamp such as \"2016-03-14T01:59:00Z\""))
                        })?)
                    }
                };
                Body::Wait(Wait {
                    until,
                    next: obj.transition()?,
                })
            }
            "Succeed" => {
                obj.check(&allowed(&["InputPath", "OutputPath"]), &what)?;
                Body::Succeed
            }
            "Fail" => {
                obj.check(
                    &allowed(&["Error", "ErrorPath", "Cause", "CausePath"]),
                    &what,
                )?;
                Body::Fail(Fail {
                    error: fail_text(&obj, "Error", "ErrorPath")?,
                    cause: fail_text(&obj, "Cause", "CausePath")?,
                })
            }
            "Parallel" => {
                obj.check(
                    &allowed(&[
                        "Next",
                        "End",
                        "InputPath",
                        "OutputPath",
                        "Parameters",
                        "Branches",
                        "ResultSelector",
                        "ResultPath",
                        "Retry",
                        "Catch",
                    ]),
                    &what,
                )?;
                let Some(Node::Array(nodes)) = obj.get("Branches") else {
                    return Err(
                        obj.invalid("Branches", "is required: a non-empty array of branches")
                    );
                };
                if nodes.is_empty() {
                    return Err(obj.invalid("Branches", "must have at least one branch"));
                }
                let mut branches = Vec::with_capacity(nodes.len());
                for (i, node) in nodes.iter().enumerate() {
                    let branch = Obj::new(node, at, &format!("Branches[{i}]"))?;
                    let branch = Obj {
                        at: format!("branch {i} of {at}"),
                        ..branch
                    };
                    branch.check(&["StartAt", "States", "Comment"], "a branch")?;
                    branch.comment()?;
                    branches.push(self.block(&branch, &format!(" in branch {i} of {at}"))?);
                }
                Body::Parallel(Parallel {
                    branches,
                    parameters: obj.template("Parameters")?,
                    results: obj.results()?,
                    next: obj.transition()?,
                })
            }
            "Map" => {
                obj.check(
                    &allowed(&[
                        "Next",
                        "End",
                        "InputPath",
                        "OutputPath",
                        "ItemsPath",
                        "ItemSelector",
                        "Parameters",
                        "Iterator",
                        "ItemProcessor",
                        "MaxConcurrency",
                        "MaxConcurrencyPath",
                        "ResultSelector",
                        "ResultPath",
                        "Retry",
                        "Catch",
                    ]),
                    &what,
                )?;
                obj.exclusive("ItemSelector", "Parameters")?;
                obj.exclusive("Iterator", "ItemProcessor")?;
                obj.exclusive("MaxConcurrency", "MaxConcurrencyPath")?;
                if let Some(node) = obj.get("MaxConcurrency") {
                    non_negative_integer(node).map_err(obj.problem("MaxConcurrency"))?;
                }
                obj.read_path("MaxConcurrencyPath")?;
                let (key, node) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
                    (Some(node), _) => ("ItemProcessor", node),
                    (None, Some(node)) => ("Iterator", node),
                    (None, None) => {
                        return Err(
                            obj.invalid("ItemProcessor", "is required (or the older `Iterator`)")
                        )
                    }
                };
                let processor = Obj::new(node, at, key)?;
                let processor = Obj {
                    at: format!("the item processor of {at}"),
                    ..processor
                };
                if key == "ItemProcessor" {
                    processor.check(
                        &["StartAt", "States", "Comment", "ProcessorConfig"],
                        "an item processor",
                    )?;
                    if let Some(config) = processor.get("ProcessorConfig") {
                        let config = Obj::new(config, &processor.at, "ProcessorConfig")?;
                        let config = Obj {
                            at: format!("the processor config of {at}"),
                            ..config
                        };
                        config.check(&["Mode"], "a processor config")?;
                        match config.string("Mode")? {
                            None | Some("INLINE") => {}
                            Some("DISTRIBUTED") => {
                                return Err(DefinitionError::Unsupported {
                                    at: config.at.clone(),
                                    field: "Mode".into(),
                                    message: "Distributed Map is not available; use INLINE".into(),
                                })
                            }
                            Some(other) => {
                                return Err(config.invalid(
                                    "Mode",
                                    format!("`{other}` is neither INLINE nor DISTRIBUTED"),
                                ))
                            }
                        }
                    }
                } else {
                    processor.check(&["StartAt", "States", "Comment"], "an iterator")?;
                }
                processor.comment()?;
                let block = self.block(&processor, &format!(" in the item processor of {at}"))?;
                let item_selector = match obj.template("ItemSelector")? {
                    Some(t) => Some(t),
                    None => obj.template("Parameters")?,
                };
                Body::Map(Map {
                    processor: block,
                    items_path: match obj.filter("ItemsPath")? {
                        Filter::Empty => {
                            return Err(obj.invalid("ItemsPath", "must be a path, not null"))
                        }
                        filter => filter,
                    },
                    item_selector,
                    results: obj.results()?,
                    next: obj.transition()?,
                })
            }
            other => return Err(obj.invalid("Type", format!("`{other}` is not a state type"))),
        };
        // Only Task, Parallel and Map states get past `check` with these.
        let retry = match obj.get("Retry") {
            Some(node) => retry::parse_retry(node).map_err(obj.problem("Retry"))?,
            None => Vec::new(),
        };
        let catch = match obj.get("Catch") {
            Some(node) => retry::parse_catch(node).map_err(obj.problem("Catch"))?,
            None => Vec::new(),
        };
        Ok(State {
            name: name.to_owned(),
            input_path: obj.filter("InputPath")?,
            output_path: obj.filter("OutputPath")?,
            retry,
            catch,
            body,
        })
    }
}

fn fail_text(
    obj: &Obj<'_>,
    key: &str,
    path_key: &'static str,
) -> Result<Option<Text>, DefinitionError> {
    obj.exclusive(key, path_key)?;
    if let Some(text) = obj.string(key)? {
        return Ok(Some(Text::Literal(text.to_owned())));
    }
    let Some(text) = obj.string(path_key)? else {
        return Ok(None);
    };
    if intrinsics::is_call(text) {
        Call::parse(text)
            .map(|c| Some(Text::Call(c)))
            .map_err(obj.problem(path_key))
    } else {
        ReadPath::parse(text)
            .map(|p| Some(Text::Path(p)))
            .map_err(obj.problem(path_key))
    }
}

/// Every `Next`, `Default` and `Catch` `Next` names a state of the block,
/// and every state can be reached from `StartAt`.
fn check_targets(block: &Block, suffix: &str) -> Result<(), DefinitionError> {
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for state in &block.states {
        let at = format!("state `{}`{suffix}", state.name);
        let mut targets: Vec<(String, &str)> = Vec::new();
        match &state.body {
            Body::Task(Task { next, .. })
            | Body::Pass(Pass { next, .. })
            | Body::Wait(Wait { next, .. })
            | Body::Parallel(Parallel { next, .. })
            | Body::Map(Map { next, .. }) => {
                if let Some(n) = next.next() {
                    targets.push(("Next".into(), n));
                }
            }
            Body::Choice(c) => {
                for (i, (_, next)) in c.choices.iter().enumerate() {
                    targets.push((format!("Choices[{i}].Next"), next));
                }
                if let Some(d) = &c.default {
                    targets.push(("Default".into(), d));
                }
            }
            Body::Succeed | Body::Fail(_) => {}
        }
        for (i, c) in state.catch.iter().enumerate() {
            targets.push((format!("Catch[{i}].Next"), &c.next));
        }
        for (field, target) in &targets {
            if block.get(target).is_none() {
                let scope = if suffix.is_empty() {
                    " of the state machine".to_owned()
                } else {
                    suffix.to_owned()
                };
                return Err(invalid(
                    &at,
                    field,
                    format!("names no state{scope}: `{target}`"),
                ));
            }
        }
        edges.insert(&state.name, targets.into_iter().map(|(_, t)| t).collect());
    }
    let mut seen: HashSet<&str> = HashSet::from([block.start_at.as_str()]);
    let mut queue = VecDeque::from([block.start_at.as_str()]);
    while let Some(name) = queue.pop_front() {
        for next in edges.get(name).into_iter().flatten() {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    if let Some(state) = block
        .states
        .iter()
        .find(|s| !seen.contains(s.name.as_str()))
    {
        return Err(invalid(
            &format!("state `{}`{suffix}", state.name),
            "(name)",
            "no transition leads to this state from `StartAt`",
        ));
    }
    let terminal = |state: &State| match &state.body {
        Body::Succeed | Body::Fail(_) => true,
        Body::Task(Task { next, .. })
        | Body::Pass(Pass { next, .. })
        | Body::Wait(Wait { next, .. })
        | Body::Parallel(Parallel { next, .. })
        | Body::Map(Map { next, .. }) => *next == Transition::End,
        Body::Choice(_) => false,
    };
    if !block.states.iter().any(terminal) {
        let at = if suffix.is_empty() {
            "the state machine".to_owned()
        } else {
            suffix.trim_start_matches(" in ").to_owned()
        };
        return Err(invalid(
            &at,
            "States",
            "no state ends the execution: none is a Succeed or Fail state or has `\"End\": true`",
        ));
    }
    Ok(())
}

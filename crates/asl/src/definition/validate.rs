//! From the serde types of `raw.rs` to the types the executor runs, with
//! every check serde cannot make: state names, transitions, the query
//! language, paths, templates, intrinsics, Choice rules, Retry and Catch.

use std::collections::{HashMap, HashSet};

use super::fields::{invalid, read, unsupported, Here, MACHINE};
use super::raw::{self, PathOrNull, QueryLanguage, HEAD_FIELDS};
use super::targets::check_targets;
use super::{Block, Body, Choice, Fail, Map, Parallel, Pass, State, Task, Text, Wait, WaitFor};
use crate::choice::{self, Rule};
use crate::error::DefinitionError;
use crate::intrinsics::{self, Call};
use crate::jsonata;
use crate::node::Node;
use crate::paths::{Filter, ReadPath};

const MAX_NAME_CHARS: usize = 80;

/// The state machine's states, from its JSON.
pub(super) fn machine(node: &Node) -> Result<Block, DefinitionError> {
    let raw: raw::Machine = read(node, MACHINE, MACHINE)?;
    if raw.query_language == Some(QueryLanguage::Jsonata) {
        return Err(unsupported(
            MACHINE,
            "QueryLanguage",
            "JSONata is available in Pass states only; the state machine's language is JSONPath",
        ));
    }
    Parser::default().block(&raw.start_at, raw.states, MACHINE, "")
}

#[derive(Default)]
struct Parser {
    /// State names seen so far: they are unique in the whole state machine.
    names: HashSet<String>,
}

impl Parser {
    /// The states of a block: the state machine (`at` is [`MACHINE`],
    /// `suffix` is empty), a branch or an item processor. `suffix` says
    /// where the block is, for the locations of its states.
    fn block(
        &mut self,
        start_at: &str,
        states: raw::States,
        at: &str,
        suffix: &str,
    ) -> Result<Block, DefinitionError> {
        if states.0.is_empty() {
            return Err(invalid(at, "States", "must have at least one state"));
        }
        let mut built = Vec::with_capacity(states.0.len());
        let mut index = HashMap::new();
        for (name, node) in states.0 {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(invalid(
                    at,
                    "States",
                    format!("the state name `{name}` is longer than {MAX_NAME_CHARS} characters"),
                ));
            }
            if !self.names.insert(name.clone()) {
                return Err(invalid(
                    at,
                    "States",
                    format!("the state name `{name}` is used twice; names are unique in the whole state machine"),
                ));
            }
            let state_at = format!("state `{name}`{suffix}");
            index.insert(name.clone(), built.len());
            built.push(self.state(name, &node, &state_at)?);
        }
        let block = Block {
            start_at: start_at.to_owned(),
            states: built,
            index,
        };
        if block.get(start_at).is_none() {
            return Err(invalid(
                at,
                "StartAt",
                format!("names no state: `{start_at}`"),
            ));
        }
        check_targets(&block, suffix)?;
        Ok(block)
    }

    fn state(&mut self, name: String, node: &Node, at: &str) -> Result<State, DefinitionError> {
        let Node::Object(fields) = node else {
            return Err(invalid(
                at,
                "(state)",
                format!("must be an object, not {}", node.kind()),
            ));
        };
        let head: raw::Head = read(node, at, "a state")?;
        let jsonata = head.query_language == Some(QueryLanguage::Jsonata);
        if jsonata && head.kind != "Pass" {
            return Err(unsupported(
                at,
                "QueryLanguage",
                "JSONata is available in Pass states only",
            ));
        }
        let what = format!("a {} state", head.kind);
        // The rest of the state, read as the struct of its type.
        let rest = Node::Object(
            fields
                .iter()
                .filter(|(k, _)| !HEAD_FIELDS.contains(&k.as_str()))
                .cloned()
                .collect(),
        );
        let here = Here { at };
        let state = |input_path, output_path, body| State {
            name: name.clone(),
            input_path,
            output_path,
            retry: Vec::new(),
            catch: Vec::new(),
            body,
        };
        Ok(match head.kind.as_str() {
            "Task" => task(&here, name.clone(), read(&rest, at, &what)?)?,
            "Pass" if jsonata => {
                let raw: raw::JsonataPass = read(&rest, at, &what)?;
                let output = raw
                    .output
                    .map(|n| jsonata::Output::compile(&n.to_value()))
                    .transpose()
                    .map_err(|message| unsupported(at, "Output", message))?;
                let body = Body::Pass(Pass {
                    parameters: None,
                    result: None,
                    result_path: None,
                    output,
                    next: here.transition(raw.next, raw.end)?,
                });
                state(Filter::Whole, Filter::Whole, body)
            }
            "Pass" => {
                let raw: raw::Pass = read(&rest, at, &what)?;
                let body = Body::Pass(Pass {
                    parameters: here.template("Parameters", raw.parameters.as_ref())?,
                    result: raw.result.as_ref().map(Node::to_value),
                    result_path: here.result_path("ResultPath", raw.result_path)?,
                    output: None,
                    next: here.transition(raw.next, raw.end)?,
                });
                let input = here.filter("InputPath", raw.input_path)?;
                state(input, here.filter("OutputPath", raw.output_path)?, body)
            }
            "Choice" => {
                let raw: raw::Choice = read(&rest, at, &what)?;
                let body = Body::Choice(choice_body(&here, raw.choices, raw.default)?);
                let input = here.filter("InputPath", raw.input_path)?;
                state(input, here.filter("OutputPath", raw.output_path)?, body)
            }
            "Wait" => {
                let raw: raw::Wait = read(&rest, at, &what)?;
                let input = here.filter("InputPath", raw.input_path.clone())?;
                let output = here.filter("OutputPath", raw.output_path.clone())?;
                state(input, output, Body::Wait(wait(&here, raw)?))
            }
            "Succeed" => {
                let raw: raw::Succeed = read(&rest, at, &what)?;
                let input = here.filter("InputPath", raw.input_path)?;
                state(
                    input,
                    here.filter("OutputPath", raw.output_path)?,
                    Body::Succeed,
                )
            }
            "Fail" => {
                let raw: raw::Fail = read(&rest, at, &what)?;
                let body = Body::Fail(Fail {
                    error: fail_text(&here, ("Error", raw.error), ("ErrorPath", raw.error_path))?,
                    cause: fail_text(&here, ("Cause", raw.cause), ("CausePath", raw.cause_path))?,
                });
                state(Filter::Whole, Filter::Whole, body)
            }
            "Parallel" => self.parallel(&here, name.clone(), read(&rest, at, &what)?)?,
            "Map" => self.map(&here, name.clone(), read(&rest, at, &what)?)?,
            other => return Err(here.invalid("Type", format!("`{other}` is not a state type"))),
        })
    }

    fn parallel(
        &mut self,
        here: &Here<'_>,
        name: String,
        raw: raw::Parallel,
    ) -> Result<State, DefinitionError> {
        let at = here.at;
        if raw.branches.is_empty() {
            return Err(here.invalid("Branches", "must have at least one branch"));
        }
        let mut branches = Vec::with_capacity(raw.branches.len());
        for (i, branch) in raw.branches.into_iter().enumerate() {
            branches.push(self.block(
                &branch.start_at,
                branch.states,
                &format!("branch {i} of {at}"),
                &format!(" in branch {i} of {at}"),
            )?);
        }
        let body = Body::Parallel(Parallel {
            branches,
            parameters: here.template("Parameters", raw.parameters.as_ref())?,
            results: here.results(raw.result_selector.as_ref(), raw.result_path)?,
            next: here.transition(raw.next, raw.end)?,
        });
        guarded_state(
            here,
            name,
            raw.input_path,
            raw.output_path,
            raw.retry,
            raw.catch,
            body,
        )
    }

    fn map(
        &mut self,
        here: &Here<'_>,
        name: String,
        raw: raw::Map,
    ) -> Result<State, DefinitionError> {
        let at = here.at;
        let given = |field: &Option<Node>| field.is_some();
        here.exclusive(
            ("ItemSelector", given(&raw.item_selector)),
            ("Parameters", given(&raw.parameters)),
        )?;
        here.exclusive(
            ("Iterator", raw.iterator.is_some()),
            ("ItemProcessor", raw.item_processor.is_some()),
        )?;
        here.exclusive(
            ("MaxConcurrency", raw.max_concurrency.is_some()),
            ("MaxConcurrencyPath", raw.max_concurrency_path.is_some()),
        )?;
        here.read_path("MaxConcurrencyPath", raw.max_concurrency_path.as_deref())?;
        let (start_at, states) = match (raw.item_processor, raw.iterator) {
            (Some(processor), _) => {
                let mode = processor.processor_config.and_then(|c| c.mode);
                if mode == Some(raw::Mode::Distributed) {
                    return Err(unsupported(
                        &format!("the processor config of {at}"),
                        "Mode",
                        "Distributed Map is not available; use INLINE",
                    ));
                }
                (processor.start_at, processor.states)
            }
            (None, Some(iterator)) => (iterator.start_at, iterator.states),
            (None, None) => {
                return Err(here.invalid("ItemProcessor", "is required (or the older `Iterator`)"))
            }
        };
        let processor = self.block(
            &start_at,
            states,
            &format!("the item processor of {at}"),
            &format!(" in the item processor of {at}"),
        )?;
        let item_selector = match raw.item_selector {
            Some(node) => here.template("ItemSelector", Some(&node))?,
            None => here.template("Parameters", raw.parameters.as_ref())?,
        };
        let items_path = match here.filter("ItemsPath", raw.items_path)? {
            Filter::Empty => return Err(here.invalid("ItemsPath", "must be a path, not null")),
            filter => filter,
        };
        let body = Body::Map(Map {
            processor,
            items_path,
            item_selector,
            results: here.results(raw.result_selector.as_ref(), raw.result_path)?,
            next: here.transition(raw.next, raw.end)?,
        });
        guarded_state(
            here,
            name,
            raw.input_path,
            raw.output_path,
            raw.retry,
            raw.catch,
            body,
        )
    }
}

fn task(here: &Here<'_>, name: String, raw: raw::Task) -> Result<State, DefinitionError> {
    if raw.resource.is_empty() {
        return Err(here.invalid("Resource", "must not be empty"));
    }
    let seconds = |(key, value): (&str, Option<raw::PositiveInt>),
                   (path_key, path): (&str, Option<&str>)| {
        here.exclusive((key, value.is_some()), (path_key, path.is_some()))?;
        here.read_path(path_key, path)?;
        Ok::<_, DefinitionError>(value.map(|n| n.0))
    };
    let timeout = seconds(
        ("TimeoutSeconds", raw.timeout_seconds),
        ("TimeoutSecondsPath", raw.timeout_seconds_path.as_deref()),
    )?;
    let heartbeat = seconds(
        ("HeartbeatSeconds", raw.heartbeat_seconds),
        (
            "HeartbeatSecondsPath",
            raw.heartbeat_seconds_path.as_deref(),
        ),
    )?;
    if let (Some(t), Some(h)) = (timeout, heartbeat) {
        if h >= t {
            return Err(here.invalid("HeartbeatSeconds", "must be less than `TimeoutSeconds`"));
        }
    }
    let body = Body::Task(Task {
        resource: raw.resource,
        parameters: here.template("Parameters", raw.parameters.as_ref())?,
        results: here.results(raw.result_selector.as_ref(), raw.result_path)?,
        next: here.transition(raw.next, raw.end)?,
    });
    guarded_state(
        here,
        name,
        raw.input_path,
        raw.output_path,
        raw.retry,
        raw.catch,
        body,
    )
}

/// A Task, Parallel or Map state: its body with the paths, `Retry` and
/// `Catch` the three share, checked after the body's own fields.
fn guarded_state(
    here: &Here<'_>,
    name: String,
    input_path: Option<PathOrNull>,
    output_path: Option<PathOrNull>,
    retry: Vec<raw::Retrier>,
    catch: Vec<raw::Catcher>,
    body: Body,
) -> Result<State, DefinitionError> {
    Ok(State {
        name,
        input_path: here.filter("InputPath", input_path)?,
        output_path: here.filter("OutputPath", output_path)?,
        retry: here.retry(retry)?,
        catch: here.catch(catch)?,
        body,
    })
}

fn choice_body(
    here: &Here<'_>,
    rules: Vec<raw::ChoiceRule>,
    default: Option<String>,
) -> Result<Choice, DefinitionError> {
    if rules.is_empty() {
        return Err(here.invalid("Choices", "must have at least one rule"));
    }
    let mut choices = Vec::with_capacity(rules.len());
    for (i, rule) in rules.into_iter().enumerate() {
        let field = format!("Choices[{i}]");
        let parsed = Rule::parse(&rule.rule, true).map_err(here.problem(&field))?;
        let next = rule
            .next
            .ok_or_else(|| here.invalid(&format!("{field}.Next"), "is required"))?;
        choices.push((parsed, next));
    }
    Ok(Choice { choices, default })
}

fn wait(here: &Here<'_>, raw: raw::Wait) -> Result<Wait, DefinitionError> {
    let given: Vec<&str> = [
        ("Seconds", raw.seconds.is_some()),
        ("SecondsPath", raw.seconds_path.is_some()),
        ("Timestamp", raw.timestamp.is_some()),
        ("TimestampPath", raw.timestamp_path.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, given)| given.then_some(k))
    .collect();
    if given.len() != 1 {
        return Err(here.invalid(
            given.get(1).copied().unwrap_or("Seconds"),
            "a Wait state has exactly one of `Seconds`, `SecondsPath`, `Timestamp` and `TimestampPath`",
        ));
    }
    let until = if let Some(seconds) = raw.seconds {
        WaitFor::Seconds(seconds.0)
    } else if let Some(path) = here.read_path("SecondsPath", raw.seconds_path.as_deref())? {
        WaitFor::SecondsPath(path)
    } else if let Some(path) = here.read_path("TimestampPath", raw.timestamp_path.as_deref())? {
        WaitFor::TimestampPath(path)
    } else {
        let text = raw.timestamp.unwrap_or_default();
        WaitFor::Timestamp(choice::timestamp(&text).ok_or_else(|| {
            here.invalid(
                "Timestamp",
                format!("`{text}` is not an RFC 3339 timestamp such as \"2016-03-14T01:59:00Z\""),
            )
        })?)
    };
    Ok(Wait {
        until,
        next: here.transition(raw.next, raw.end)?,
    })
}

/// `Error`/`ErrorPath` or `Cause`/`CausePath` of a Fail state.
fn fail_text(
    here: &Here<'_>,
    (key, literal): (&str, Option<String>),
    (path_key, path): (&str, Option<String>),
) -> Result<Option<Text>, DefinitionError> {
    here.exclusive((key, literal.is_some()), (path_key, path.is_some()))?;
    if let Some(text) = literal {
        return Ok(Some(Text::Literal(text)));
    }
    let Some(text) = path else {
        return Ok(None);
    };
    if intrinsics::is_call(&text) {
        Call::parse(&text)
            .map(|c| Some(Text::Call(c)))
            .map_err(here.problem(path_key))
    } else {
        ReadPath::parse(&text)
            .map(|p| Some(Text::Path(p)))
            .map_err(here.problem(path_key))
    }
}

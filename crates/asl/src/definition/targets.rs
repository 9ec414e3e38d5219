//! Every transition of a block names one of its states, every state can be
//! reached, and some state ends the execution.

use std::collections::{HashMap, HashSet, VecDeque};

use super::fields::invalid;
use super::{Block, Body, Map, Parallel, Pass, State, Task, Transition, Wait};
use crate::error::DefinitionError;

/// Every `Next`, `Default` and `Catch` `Next` names a state of the block,
/// and every state can be reached from `StartAt`.
pub(super) fn check_targets(block: &Block, suffix: &str) -> Result<(), DefinitionError> {
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

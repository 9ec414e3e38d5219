//! Reading one object of the definition with serde, and the checks of the
//! fields several states share: paths, payload templates, transitions,
//! Retry and Catch. Every error names the object (`at`: the state machine,
//! a state, a branch) and the path of the field within it.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::raw::{self, PathOrNull};
use super::{Results, Transition};
use crate::error::{names, DefinitionError, Problem};
use crate::node::{DeError, Node};
use crate::paths::{Filter, ReadPath, ReferencePath};
use crate::retry::{Catcher, Retrier};
use crate::template::Template;

/// Where the state machine's own errors are.
pub(super) const MACHINE: &str = "the state machine";

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

const RETRIER: &str = "a retrier";
const CATCHER: &str = "a catcher";

pub(super) fn invalid(at: &str, field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError::Invalid {
        at: at.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

pub(super) fn unsupported(at: &str, field: &str, message: impl Into<String>) -> DefinitionError {
    DefinitionError::Unsupported {
        at: at.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Read `node` (an object at `at`, which is `what`, e.g. "a Task state") as
/// `T`.
pub(super) fn read<T: DeserializeOwned>(
    node: &Node,
    at: &str,
    what: &str,
) -> Result<T, DefinitionError> {
    serde_path_to_error::deserialize(node).map_err(|e| located(e, at, what))
}

/// `a` + `b` → `a.b`; `a` + `[0]` → `a[0]`; `` + `b` → `b`.
fn join(outer: &str, inner: &str) -> String {
    if outer.is_empty() {
        inner.to_owned()
    } else if inner.starts_with('[') {
        format!("{outer}{inner}")
    } else {
        format!("{outer}.{inner}")
    }
}

/// serde's error, with its path, as the definition's error: the path's
/// Parallel branches, Map item processors and processor configs become the
/// object the error is in (branch 0 of state `P`), the rest its field.
fn located(error: serde_path_to_error::Error<DeError>, state: &str, what: &str) -> DefinitionError {
    let segments: Vec<&Segment> = error.path().iter().collect();
    let inner = error.inner().clone();
    // An unknown field is the path's last segment; a missing one is not in
    // the path.
    let (segments, key) = match &inner {
        DeError::Unknown(key) => match segments.split_last() {
            Some((Segment::Map { key: last }, rest)) if last == key => (rest, Some(key)),
            _ => (&segments[..], Some(key)),
        },
        DeError::Missing(key) => (&segments[..], Some(key)),
        DeError::Invalid(_) => (&segments[..], None),
    };
    let (mut at, mut what, mut field) = (state.to_owned(), what, String::new());
    // Whether the error is inside the object that ends before segment `n`.
    let inside = |n: usize| n < segments.len() || key.is_some();
    let mut i = 0;
    while i < segments.len() {
        let index = match segments.get(i + 1) {
            Some(Segment::Seq { index }) => Some(*index),
            _ => None,
        };
        match (segments[i], index) {
            (Segment::Map { key }, Some(n)) if key == "Branches" && inside(i + 2) => {
                (at, what) = (format!("branch {n} of {state}"), "a branch");
                field.clear();
                i += 1;
            }
            (Segment::Map { key }, None)
                if matches!(
                    key.as_str(),
                    "ItemProcessor" | "Iterator" | "ProcessorConfig"
                ) && inside(i + 1) =>
            {
                (at, what) = match key.as_str() {
                    "ItemProcessor" => (
                        format!("the item processor of {state}"),
                        "an item processor",
                    ),
                    "Iterator" => (format!("the item processor of {state}"), "an iterator"),
                    _ => (
                        format!("the processor config of {state}"),
                        "a processor config",
                    ),
                };
                field.clear();
            }
            (Segment::Map { key }, Some(n)) if key == "Retry" || key == "Catch" => {
                field = join(&field, &format!("{key}[{n}]"));
                what = if key == "Retry" { RETRIER } else { CATCHER };
                i += 1;
            }
            (Segment::Map { key }, _) => field = join(&field, key),
            (Segment::Seq { index }, _) => field = join(&field, &format!("[{index}]")),
            (Segment::Enum { variant }, _) => field = join(&field, variant),
            (Segment::Unknown, _) => field = join(&field, "?"),
        }
        i += 1;
    }
    match inner {
        DeError::Missing(key) => invalid(&at, &join(&field, &key), "is required"),
        DeError::Unknown(key) => {
            let field = join(&field, &key);
            let why = if what == RETRIER || what == CATCHER {
                matches!(key.as_str(), "Assign" | "Output")
                    .then_some("variables and JSONata output are not available")
            } else {
                UNSUPPORTED_FIELDS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, why)| *why)
            };
            match why {
                Some(why) => unsupported(&at, &field, why),
                None => invalid(&at, &field, format!("is not a field of {what}")),
            }
        }
        DeError::Invalid(message) => {
            let field = match field.as_str() {
                "" if at == MACHINE => "(definition)".to_owned(),
                "" => "(state)".to_owned(),
                _ => field,
            };
            invalid(&at, &field, message)
        }
    }
}

/// The checks of one object's fields, and where its errors are.
pub(super) struct Here<'a> {
    pub at: &'a str,
}

impl Here<'_> {
    pub fn invalid(&self, field: &str, message: impl Into<String>) -> DefinitionError {
        invalid(self.at, field, message)
    }

    pub fn problem(&self, field: &str) -> impl Fn(Problem) -> DefinitionError {
        let (at, field) = (self.at.to_owned(), field.to_owned());
        move |p| p.at(&at, &field)
    }

    /// At most one of two fields.
    pub fn exclusive(&self, a: (&str, bool), b: (&str, bool)) -> Result<(), DefinitionError> {
        if a.1 && b.1 {
            let (a, b) = (a.0, b.0);
            return Err(self.invalid(b, format!("`{a}` and `{b}` cannot both be given")));
        }
        Ok(())
    }

    /// `InputPath`, `OutputPath`, `ItemsPath`: absent is `$`, null is `{}`.
    pub fn filter(&self, field: &str, path: Option<PathOrNull>) -> Result<Filter, DefinitionError> {
        match path {
            None => Ok(Filter::Whole),
            Some(PathOrNull::Null) => Ok(Filter::Empty),
            Some(PathOrNull::Path(s)) if s == "$" => Ok(Filter::Whole),
            Some(PathOrNull::Path(s)) => ReadPath::parse(&s)
                .map(Filter::Path)
                .map_err(self.problem(field)),
        }
    }

    /// A path-valued field such as `SecondsPath`.
    pub fn read_path(
        &self,
        field: &str,
        path: Option<&str>,
    ) -> Result<Option<ReadPath>, DefinitionError> {
        path.map(|s| ReadPath::parse(s).map_err(self.problem(field)))
            .transpose()
    }

    /// `ResultPath`: absent is `$`; null discards the result.
    pub fn result_path(
        &self,
        field: &str,
        path: Option<PathOrNull>,
    ) -> Result<Option<ReferencePath>, DefinitionError> {
        match path {
            None => Ok(Some(
                ReferencePath::parse("$").expect("`$` is a reference path"),
            )),
            Some(PathOrNull::Null) => Ok(None),
            Some(PathOrNull::Path(s)) => ReferencePath::parse(&s)
                .map(Some)
                .map_err(self.problem(field)),
        }
    }

    /// `Parameters`, `ResultSelector`, `ItemSelector`.
    pub fn template(
        &self,
        field: &str,
        node: Option<&Node>,
    ) -> Result<Option<Template>, DefinitionError> {
        match node {
            None => Ok(None),
            Some(node @ Node::Object(_)) => Template::compile(node)
                .map(Some)
                .map_err(self.problem(field)),
            Some(other) => Err(self.invalid(
                field,
                format!(
                    "must be an object (a payload template), not {}",
                    other.kind()
                ),
            )),
        }
    }

    pub fn results(
        &self,
        selector: Option<&Node>,
        path: Option<PathOrNull>,
    ) -> Result<Results, DefinitionError> {
        Ok(Results {
            selector: self.template("ResultSelector", selector)?,
            path: self.result_path("ResultPath", path)?,
        })
    }

    /// `Next` or `"End": true`, exactly one.
    pub fn transition(
        &self,
        next: Option<String>,
        end: Option<bool>,
    ) -> Result<Transition, DefinitionError> {
        match (next, end.unwrap_or(false)) {
            (Some(next), false) => Ok(Transition::Next(next)),
            (None, true) => Ok(Transition::End),
            (Some(_), true) => {
                Err(self.invalid("End", "a state has `Next` or `\"End\": true`, not both"))
            }
            (None, false) => Err(self.invalid("Next", "a state needs `Next` or `\"End\": true`")),
        }
    }

    /// `Retry`; each rule's defaults are those of the specification.
    pub fn retry(&self, rules: Vec<raw::Retrier>) -> Result<Vec<Retrier>, DefinitionError> {
        let count = rules.len();
        let mut out = Vec::with_capacity(count);
        for (i, rule) in rules.into_iter().enumerate() {
            let field = format!("Retry[{i}]");
            out.push(Retrier {
                error_equals: self.error_equals(&field, rule.error_equals, i + 1 == count)?,
                interval_seconds: rule.interval_seconds.map_or(1, |n| n.0),
                max_attempts: rule.max_attempts.map_or(3, |n| n.0),
                backoff_rate: rule.backoff_rate.map_or(2.0, |r| r.0),
                max_delay_seconds: rule.max_delay_seconds.map(|n| n.0),
                full_jitter: rule.jitter_strategy == Some(raw::JitterStrategy::Full),
            });
        }
        Ok(out)
    }

    /// `Catch`; `targets.rs` checks that each `Next` names a state.
    pub fn catch(&self, rules: Vec<raw::Catcher>) -> Result<Vec<Catcher>, DefinitionError> {
        let count = rules.len();
        let mut out = Vec::with_capacity(count);
        for (i, rule) in rules.into_iter().enumerate() {
            let field = format!("Catch[{i}]");
            out.push(Catcher {
                error_equals: self.error_equals(&field, rule.error_equals, i + 1 == count)?,
                result_path: self.result_path(&format!("{field}.ResultPath"), rule.result_path)?,
                next: rule.next,
            });
        }
        Ok(out)
    }

    /// `ErrorEquals` of the rule `field` (`last`: the last of its list).
    fn error_equals(
        &self,
        field: &str,
        names: Vec<String>,
        last: bool,
    ) -> Result<Vec<String>, DefinitionError> {
        let field = format!("{field}.ErrorEquals");
        if names.is_empty() {
            return Err(self.invalid(&field, "must name at least one error"));
        }
        if let Some(i) = names.iter().position(String::is_empty) {
            return Err(self.invalid(&format!("{field}[{i}]"), "must not be empty"));
        }
        if names.iter().any(|n| n == names::ALL) {
            if names.len() > 1 {
                return Err(self.invalid(
                    &field,
                    "`States.ALL` must be the only error name of its rule",
                ));
            }
            if !last {
                return Err(self.invalid(&field, "`States.ALL` must be in the last rule"));
            }
        }
        Ok(names)
    }
}

//! The definition as serde reads it: a struct for each kind of object of the
//! Amazon States Language, every field named and any other field refused.
//! `validate.rs` checks what serde cannot and builds the executor's types.
//!
//! The states are read one at a time (`States` holds [`Node`]s): a state's
//! `Type` picks its struct, and that struct is read from the state's own
//! object, so that an error names the field within the state (serde's
//! `#[serde(tag = "Type")]` would buffer the state and lose the path).
//! Payload templates, `Result`, JSONata `Output` and the Choice rules stay
//! [`Node`]s: their fields are the user's, not the language's.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::Deserialize;

use crate::node::Node;

/// The state machine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Machine {
    pub start_at: String,
    pub states: States,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub comment: Option<String>,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub version: Option<String>,
    /// Checked, not enforced: an in-process task never times out.
    #[allow(dead_code, reason = "checked, not enforced")]
    pub timeout_seconds: Option<PositiveInt>,
    pub query_language: Option<QueryLanguage>,
}

/// A Parallel branch or a Map `Iterator`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Branch {
    pub start_at: String,
    pub states: States,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub comment: Option<String>,
}

/// A Map `ItemProcessor`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Processor {
    pub start_at: String,
    pub states: States,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub comment: Option<String>,
    pub processor_config: Option<ProcessorConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct ProcessorConfig {
    pub mode: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(super) enum Mode {
    Inline,
    Distributed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum QueryLanguage {
    #[serde(rename = "JSONPath")]
    JsonPath,
    #[serde(rename = "JSONata")]
    Jsonata,
}

/// The fields every state has, read first: `Type` picks the struct the
/// rest of the state is read as. Other fields are left to that struct.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Head {
    #[serde(rename = "Type")]
    pub kind: String,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub comment: Option<String>,
    pub query_language: Option<QueryLanguage>,
}

/// The fields of [`Head`], which the structs below do not list.
pub(super) const HEAD_FIELDS: [&str; 3] = ["Type", "Comment", "QueryLanguage"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Task {
    pub resource: String,
    pub parameters: Option<Node>,
    pub result_selector: Option<Node>,
    pub result_path: Option<PathOrNull>,
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
    pub next: Option<String>,
    pub end: Option<bool>,
    #[serde(default)]
    pub retry: Vec<Retrier>,
    #[serde(default)]
    pub catch: Vec<Catcher>,
    pub timeout_seconds: Option<PositiveInt>,
    pub timeout_seconds_path: Option<String>,
    pub heartbeat_seconds: Option<PositiveInt>,
    pub heartbeat_seconds_path: Option<String>,
}

/// A Pass state in JSONPath.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Pass {
    pub parameters: Option<Node>,
    /// `Some(Node::Null)` for `"Result": null`.
    pub result: Option<Node>,
    pub result_path: Option<PathOrNull>,
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
    pub next: Option<String>,
    pub end: Option<bool>,
}

/// A Pass state in JSONata: no paths, an `Output`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct JsonataPass {
    pub output: Option<Node>,
    pub next: Option<String>,
    pub end: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Choice {
    pub choices: Vec<ChoiceRule>,
    pub default: Option<String>,
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
}

/// A top-level Choice rule: its `Next`, and the rule itself, which
/// `choice.rs` reads. `Next` is required, but the rule is checked first.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ChoiceRule {
    pub next: Option<String>,
    #[serde(flatten)]
    pub rule: Node,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Wait {
    pub seconds: Option<NonNegativeInt>,
    pub seconds_path: Option<String>,
    pub timestamp: Option<String>,
    pub timestamp_path: Option<String>,
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
    pub next: Option<String>,
    pub end: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Succeed {
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Fail {
    pub error: Option<String>,
    pub error_path: Option<String>,
    pub cause: Option<String>,
    pub cause_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Parallel {
    pub branches: Vec<Branch>,
    pub parameters: Option<Node>,
    pub result_selector: Option<Node>,
    pub result_path: Option<PathOrNull>,
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
    pub next: Option<String>,
    pub end: Option<bool>,
    #[serde(default)]
    pub retry: Vec<Retrier>,
    #[serde(default)]
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Map {
    pub item_processor: Option<Processor>,
    /// The older name of `ItemProcessor`.
    pub iterator: Option<Branch>,
    pub items_path: Option<PathOrNull>,
    pub item_selector: Option<Node>,
    /// The older name of `ItemSelector`.
    pub parameters: Option<Node>,
    pub max_concurrency: Option<NonNegativeInt>,
    pub max_concurrency_path: Option<String>,
    pub result_selector: Option<Node>,
    pub result_path: Option<PathOrNull>,
    pub input_path: Option<PathOrNull>,
    pub output_path: Option<PathOrNull>,
    pub next: Option<String>,
    pub end: Option<bool>,
    #[serde(default)]
    pub retry: Vec<Retrier>,
    #[serde(default)]
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: Option<PositiveInt>,
    pub max_attempts: Option<NonNegativeInt>,
    pub backoff_rate: Option<BackoffRate>,
    pub max_delay_seconds: Option<PositiveInt>,
    pub jitter_strategy: Option<JitterStrategy>,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(super) enum JitterStrategy {
    Full,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<PathOrNull>,
    #[allow(dead_code, reason = "checked to be a string, not used")]
    pub comment: Option<String>,
}

/// `States`: the states by name, in the order written.
#[derive(Debug)]
pub(super) struct States(pub Vec<(String, Node)>);

impl<'de> serde::Deserialize<'de> for States {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatesVisitor;

        impl<'de> Visitor<'de> for StatesVisitor {
            type Value = States;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<States, A::Error> {
                let mut states = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    states.push(entry);
                }
                Ok(States(states))
            }
        }

        deserializer.deserialize_map(StatesVisitor)
    }
}

/// A path field that may be `null` (`InputPath`, `OutputPath`,
/// `ResultPath`, `ItemsPath`); the path is checked by `paths.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PathOrNull {
    Null,
    Path(String),
}

impl<'de> serde::Deserialize<'de> for PathOrNull {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathVisitor;

        impl Visitor<'_> for PathVisitor {
            type Value = PathOrNull;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or null")
            }

            fn visit_unit<E>(self) -> Result<PathOrNull, E> {
                Ok(PathOrNull::Null)
            }

            fn visit_str<E>(self, v: &str) -> Result<PathOrNull, E> {
                Ok(PathOrNull::Path(v.to_owned()))
            }
        }

        deserializer.deserialize_any(PathVisitor)
    }
}

/// An integer of at least `MIN`, written as a JSON integer (not `1.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Integer<const MIN: u64>(pub u64);

/// `TimeoutSeconds`, `IntervalSeconds`...
pub(super) type PositiveInt = Integer<1>;
/// `MaxAttempts`, `MaxConcurrency`, `Seconds`.
pub(super) type NonNegativeInt = Integer<0>;

impl<'de, const MIN: u64> serde::Deserialize<'de> for Integer<MIN> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor<const MIN: u64>;

        impl<const MIN: u64> Visitor<'_> for IntegerVisitor<MIN> {
            type Value = Integer<MIN>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match MIN {
                    0 => f.write_str("a non-negative integer"),
                    1 => f.write_str("a positive integer"),
                    _ => write!(f, "an integer of at least {MIN}"),
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Integer<MIN>, E> {
                if v >= MIN {
                    Ok(Integer(v))
                } else {
                    Err(E::invalid_value(Unexpected::Unsigned(v), &self))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Integer<MIN>, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Integer<MIN>, E> {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }

        deserializer.deserialize_any(IntegerVisitor::<MIN>)
    }
}

/// `BackoffRate`: a number of at least 1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct BackoffRate(pub f64);

impl<'de> serde::Deserialize<'de> for BackoffRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;

        impl Visitor<'_> for RateVisitor {
            type Value = BackoffRate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of at least 1.0")
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BackoffRate, E> {
                if v >= 1.0 {
                    Ok(BackoffRate(v))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BackoffRate, E> {
                if v >= 1 {
                    Ok(BackoffRate(v as f64))
                } else {
                    Err(E::invalid_value(Unexpected::Unsigned(v), &self))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BackoffRate, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
        }

        deserializer.deserialize_any(RateVisitor)
    }
}

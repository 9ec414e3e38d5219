//! Error handling of Task, Parallel and Map states: `Retry` and `Catch`.

use std::cell::Cell;
use std::time::Duration;

use crate::error::{names, Problem};
use crate::node::Node;
use crate::paths::ReferencePath;

/// Whether an `ErrorEquals` list matches an error. `States.ALL` matches
/// everything but `States.Runtime` and `States.DataLimitExceeded`;
/// `States.TaskFailed` everything but `States.Timeout` and `States.Runtime`.
/// `States.Runtime` is never matched: it always fails the execution.
pub(crate) fn matches(error_equals: &[String], error: &str) -> bool {
    if error == names::RUNTIME {
        return false;
    }
    error_equals.iter().any(|name| match name.as_str() {
        names::ALL => error != names::DATA_LIMIT_EXCEEDED,
        names::TASK_FAILED => error != names::TIMEOUT,
        name => name == error,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

impl Retrier {
    /// The delay before retry `n` (0 for the first retry) of this retrier,
    /// before jitter: `IntervalSeconds × BackoffRate^n`, at most
    /// `MaxDelaySeconds`, to the millisecond.
    pub fn delay(&self, n: u64) -> Duration {
        let exponent = i32::try_from(n).unwrap_or(i32::MAX);
        let mut ms = self.interval_seconds as f64 * 1000.0 * self.backoff_rate.powi(exponent);
        if let Some(max) = self.max_delay_seconds {
            ms = ms.min(max as f64 * 1000.0);
        }
        Duration::from_millis(ms.round().min(u64::MAX as f64) as u64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    /// `None` for `"ResultPath": null`: the error is dropped and the output
    /// is the state's input.
    pub result_path: Option<ReferencePath>,
    pub next: String,
}

/// `ErrorEquals` of one retrier or catcher (`last`: the last of its list).
fn error_equals(fields: &[(String, Node)], last: bool) -> Result<Vec<String>, Problem> {
    let within = |p: Problem| p.within("ErrorEquals");
    let Some((_, Node::Array(items))) = fields.iter().find(|(k, _)| k == "ErrorEquals") else {
        return Err(within(Problem::invalid(
            "is required: a non-empty array of error names",
        )));
    };
    if items.is_empty() {
        return Err(within(Problem::invalid("must name at least one error")));
    }
    let names = items
        .iter()
        .map(|item| match item {
            Node::String(s) if !s.is_empty() => Ok(s.clone()),
            other => Err(within(Problem::invalid(format!(
                "error names are non-empty strings, not {}",
                other.kind()
            )))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if names.iter().any(|n| n == names::ALL) {
        if names.len() > 1 {
            return Err(within(Problem::invalid(
                "`States.ALL` must be the only error name of its rule",
            )));
        }
        if !last {
            return Err(within(Problem::invalid(
                "`States.ALL` must be in the last rule",
            )));
        }
    }
    Ok(names)
}

fn check_fields(fields: &[(String, Node)], allowed: &[&str]) -> Result<(), Problem> {
    for (key, _) in fields {
        if !allowed.contains(&key.as_str()) {
            return Err(if matches!(key.as_str(), "Assign" | "Output") {
                Problem::unsupported("variables and JSONata output are not available").within(key)
            } else {
                Problem::invalid("is not a field of this rule").within(key)
            });
        }
    }
    Ok(())
}

fn positive_integer(node: &Node, what: &str, least: u64) -> Result<u64, Problem> {
    match node {
        Node::Number(n) if n.as_u64().is_some_and(|v| v >= least) => {
            Ok(n.as_u64().expect("checked"))
        }
        _ => Err(Problem::invalid(format!("must be {what}"))),
    }
}

pub(crate) fn parse_retry(node: &Node) -> Result<Vec<Retrier>, Problem> {
    let Node::Array(items) = node else {
        return Err(Problem::invalid(format!(
            "must be an array of retriers, not {}",
            node.kind()
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |p: Problem| p.within(&format!("[{i}]"));
        let Node::Object(fields) = item else {
            return Err(at(Problem::invalid(format!(
                "a retrier is an object, not {}",
                item.kind()
            ))));
        };
        check_fields(
            fields,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
        )
        .map_err(at)?;
        let mut retrier = Retrier {
            error_equals: error_equals(fields, i + 1 == items.len()).map_err(at)?,
            interval_seconds: 1,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: None,
            full_jitter: false,
        };
        for (key, value) in fields {
            let field = |p: Problem| at(p.within(key));
            match key.as_str() {
                "IntervalSeconds" => {
                    retrier.interval_seconds =
                        positive_integer(value, "a positive integer", 1).map_err(field)?
                }
                "MaxAttempts" => {
                    retrier.max_attempts =
                        positive_integer(value, "a non-negative integer", 0).map_err(field)?
                }
                "MaxDelaySeconds" => {
                    retrier.max_delay_seconds =
                        Some(positive_integer(value, "a positive integer", 1).map_err(field)?)
                }
                "BackoffRate" => {
                    retrier.backoff_rate = match value {
                        Node::Number(n) if n.as_f64().is_some_and(|r| r >= 1.0) => {
                            n.as_f64().expect("checked")
                        }
                        _ => {
                            return Err(field(Problem::invalid("must be a number of at least 1.0")))
                        }
                    }
                }
                "JitterStrategy" => {
                    retrier.full_jitter = match value {
                        Node::String(s) if s == "FULL" => true,
                        Node::String(s) if s == "NONE" => false,
                        _ => return Err(field(Problem::invalid("must be \"FULL\" or \"NONE\""))),
                    }
                }
                "Comment" if !matches!(value, Node::String(_)) => {
                    return Err(field(Problem::invalid("must be a string")))
                }
                _ => {}
            }
        }
        out.push(retrier);
    }
    Ok(out)
}

/// Parse `Catch`; the caller checks that each `Next` names a state.
pub(crate) fn parse_catch(node: &Node) -> Result<Vec<Catcher>, Problem> {
    let Node::Array(items) = node else {
        return Err(Problem::invalid(format!(
            "must be an array of catchers, not {}",
            node.kind()
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |p: Problem| p.within(&format!("[{i}]"));
        let Node::Object(fields) = item else {
            return Err(at(Problem::invalid(format!(
                "a catcher is an object, not {}",
                item.kind()
            ))));
        };
        check_fields(fields, &["ErrorEquals", "Next", "ResultPath", "Comment"]).map_err(at)?;
        let error_equals = error_equals(fields, i + 1 == items.len()).map_err(at)?;
        let next = match fields.iter().find(|(k, _)| k == "Next") {
            Some((_, Node::String(next))) => next.clone(),
            Some(_) => return Err(at(Problem::invalid("must be a state name").within("Next"))),
            None => return Err(at(Problem::invalid("is required").within("Next"))),
        };
        let result_path = match fields.iter().find(|(k, _)| k == "ResultPath") {
            None => Some(ReferencePath::parse("$").expect("`$` is a reference path")),
            Some((_, Node::Null)) => None,
            Some((_, Node::String(text))) => {
                Some(ReferencePath::parse(text).map_err(|p| at(p.within("ResultPath")))?)
            }
            Some((_, other)) => {
                return Err(at(Problem::invalid(format!(
                    "must be a reference path or null, not {}",
                    other.kind()
                ))
                .within("ResultPath")))
            }
        };
        if let Some((_, comment)) = fields.iter().find(|(k, _)| k == "Comment") {
            if !matches!(comment, Node::String(_)) {
                return Err(at(Problem::invalid("must be a string").within("Comment")));
            }
        }
        out.push(Catcher {
            error_equals,
            result_path,
            next,
        });
    }
    Ok(out)
}

/// The random numbers of `"JitterStrategy": "FULL"`: a SplitMix64 sequence
/// seeded with the FNV-1a hash of the execution name, so that an execution
/// of a given name always waits the same.
#[derive(Debug)]
pub(crate) struct Jitter {
    state: Cell<u64>,
}

impl Jitter {
    pub fn new(execution_name: &str) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in execution_name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self {
            state: Cell::new(hash),
        }
    }

    fn next_u64(&self) -> u64 {
        let state = self.state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.state.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A delay drawn uniformly from `[0, delay]`, to the millisecond.
    pub fn full(&self, delay: Duration) -> Duration {
        let max = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_millis(((unit * (max as f64 + 1.0)) as u64).min(max))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards() {
        let all = names(&["States.ALL"]);
        let task_failed = names(&["States.TaskFailed"]);
        assert!(matches(&all, "WarehouseBusy"));
        assert!(matches(&all, "States.Timeout"));
        assert!(!matches(&all, "States.Runtime"));
        assert!(!matches(&all, "States.DataLimitExceeded"));
        assert!(matches(
            &names(&["States.DataLimitExceeded"]),
            "States.DataLimitExceeded"
        ));
        assert!(matches(&task_failed, "WarehouseBusy"));
        assert!(matches(&task_failed, "States.ParameterPathFailure"));
        assert!(!matches(&task_failed, "States.Timeout"));
        assert!(!matches(&task_failed, "States.Runtime"));
        assert!(!matches(&names(&["States.Runtime"]), "States.Runtime"));
        assert!(matches(&names(&["A", "B"]), "B"));
        assert!(!matches(&names(&["A", "B"]), "b"));
    }

    #[test]
    fn delays_back_off_up_to_the_cap() {
        let retrier = Retrier {
            error_equals: names(&["X"]),
            interval_seconds: 2,
            max_attempts: 9,
            backoff_rate: 1.5,
            max_delay_seconds: Some(5),
            full_jitter: false,
        };
        let delays: Vec<u128> = (0..4).map(|n| retrier.delay(n).as_millis()).collect();
        assert_eq!(delays, [2000, 3000, 4500, 5000]);
    }

    #[test]
    fn full_jitter_is_deterministic_and_bounded() {
        let (a, b, c) = (
            Jitter::new("exec-1"),
            Jitter::new("exec-1"),
            Jitter::new("exec-2"),
        );
        let delay = Duration::from_secs(8);
        let first: Vec<Duration> = (0..50).map(|_| a.full(delay)).collect();
        let again: Vec<Duration> = (0..50).map(|_| b.full(delay)).collect();
        let other: Vec<Duration> = (0..50).map(|_| c.full(delay)).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert!(first.iter().all(|d| *d <= delay));
        assert!(
            first.iter().any(|d| *d < Duration::from_secs(4))
                && first.iter().any(|d| *d > Duration::from_secs(4))
        );
        assert_eq!(a.full(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn malformed_rules() {
        let retry =
            |v: serde_json::Value| parse_retry(&Node::parse(&v.to_string()).unwrap()).unwrap_err();
        let p = retry(json!([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]));
        assert_eq!(
            (p.within.as_deref(), p.message.as_str()),
            (
                Some("[0].ErrorEquals"),
                "`States.ALL` must be in the last rule"
            )
        );
        let p = retry(json!([{"ErrorEquals": ["States.ALL", "X"]}]));
        assert_eq!(
            p.message,
            "`States.ALL` must be the only error name of its rule"
        );
        let p = retry(json!([{"ErrorEquals": []}]));
        assert_eq!(p.message, "must name at least one error");
        let p = retry(json!([{"ErrorEquals": ["X"], "BackoffRate": 0.5}]));
        assert_eq!(
            (p.within.as_deref(), p.message.as_str()),
            (Some("[0].BackoffRate"), "must be a number of at least 1.0")
        );
        let p = retry(json!([{"ErrorEquals": ["X"], "IntervalSeconds": 0}]));
        assert_eq!(p.message, "must be a positive integer");
        let p = retry(json!([{"ErrorEquals": ["X"], "MaxAttempts": -1}]));
        assert_eq!(p.message, "must be a non-negative integer");
        let p = retry(json!([{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]));
        assert_eq!(p.message, "must be \"FULL\" or \"NONE\"");
        let p = retry(json!([{"ErrorEquals": ["X"], "Next": "A"}]));
        assert_eq!(
            (p.within.as_deref(), p.message.as_str()),
            (Some("[0].Next"), "is not a field of this rule")
        );
        let catch =
            |v: serde_json::Value| parse_catch(&Node::parse(&v.to_string()).unwrap()).unwrap_err();
        assert_eq!(
            catch(json!([{"ErrorEquals": ["X"]}])).within.as_deref(),
            Some("[0].Next")
        );
        assert_eq!(
            catch(json!([{"ErrorEquals": ["X"], "Next": "A", "ResultPath": "$.a[*]"}]))
                .within
                .as_deref(),
            Some("[0].ResultPath")
        );
    }
}

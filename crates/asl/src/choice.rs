//! Choice rules: comparisons of a `Variable` with a literal or another path,
//! type tests, and `And` / `Or` / `Not`.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Number, Value};

use crate::error::{names, Problem, TaskFailure};
use crate::node::Node;
use crate::paths::ReadPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

impl Cmp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Cmp::Equals => ord == Ordering::Equal,
            Cmp::LessThan => ord == Ordering::Less,
            Cmp::GreaterThan => ord == Ordering::Greater,
            Cmp::LessThanEquals => ord != Ordering::Greater,
            Cmp::GreaterThanEquals => ord != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Literal(Value),
    Path(ReadPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    Compare {
        kind: Kind,
        cmp: Cmp,
        operand: Operand,
    },
    Matches(String),
    Is(TypeTest, bool),
}

#[derive(Debug, Clone)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: ReadPath, test: Test },
}

const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];

// Longest suffixes first, so `LessThanEquals` is not read as `...Equals`.
const CMPS: [(&str, Cmp); 5] = [
    ("GreaterThanEquals", Cmp::GreaterThanEquals),
    ("LessThanEquals", Cmp::LessThanEquals),
    ("GreaterThan", Cmp::GreaterThan),
    ("LessThan", Cmp::LessThan),
    ("Equals", Cmp::Equals),
];

const TYPE_TESTS: [(&str, TypeTest); 6] = [
    ("IsNull", TypeTest::Null),
    ("IsPresent", TypeTest::Present),
    ("IsNumeric", TypeTest::Numeric),
    ("IsString", TypeTest::String),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

/// `StringEquals`, `NumericLessThanPath`... as (kind, comparison, path?).
fn comparison(op: &str) -> Option<(Kind, Cmp, bool)> {
    let (op, path) = match op.strip_suffix("Path") {
        Some(op) => (op, true),
        None => (op, false),
    };
    let (kind, rest) = KINDS
        .iter()
        .find_map(|(name, kind)| op.strip_prefix(name).map(|rest| (*kind, rest)))?;
    let cmp = CMPS.iter().find(|(name, _)| *name == rest)?.1;
    (kind != Kind::Boolean || cmp == Cmp::Equals).then_some((kind, cmp, path))
}

fn is_operator(key: &str) -> bool {
    comparison(key).is_some()
        || key == "StringMatches"
        || TYPE_TESTS.iter().any(|(name, _)| *name == key)
        || matches!(key, "And" | "Or" | "Not")
}

/// An RFC 3339 timestamp with an uppercase `T` (and `Z` when there is no
/// offset), as the specification requires.
pub(crate) fn timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    if text.as_bytes().get(10) != Some(&b'T') || text.ends_with('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

impl Rule {
    /// Parse a rule. A top-level rule (`top`) also has `Next`, which the
    /// caller reads; nested rules must not.
    pub fn parse(node: &Node, top: bool) -> Result<Rule, Problem> {
        let Node::Object(fields) = node else {
            return Err(Problem::invalid(format!(
                "a rule is an object, not {}",
                node.kind()
            )));
        };
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        for (key, _) in fields {
            let allowed =
                is_operator(key) || key == "Variable" || key == "Comment" || (top && key == "Next");
            if !allowed {
                return Err(match key.as_str() {
                    "Next" => Problem::invalid("a rule inside `And`, `Or` or `Not` has no `Next`"),
                    "Condition" | "Assign" | "Output" => {
                        Problem::unsupported(format!("`{key}` belongs to JSONata and variables"))
                    }
                    _ => Problem::invalid(format!("`{key}` is not a field of a Choice rule")),
                });
            }
        }
        if let Some(comment) = get("Comment") {
            if !matches!(comment, Node::String(_)) {
                return Err(Problem::invalid("`Comment` must be a string").within("Comment"));
            }
        }
        let operators: Vec<&(String, Node)> =
            fields.iter().filter(|(k, _)| is_operator(k)).collect();
        let [(op, value)] = operators.as_slice() else {
            let found: Vec<&str> = operators.iter().map(|(k, _)| k.as_str()).collect();
            return Err(Problem::invalid(format!(
                "a rule has exactly one comparison or `And`/`Or`/`Not`; found {}",
                if found.is_empty() {
                    "none".to_owned()
                } else {
                    found.join(", ")
                }
            )));
        };
        let op = op.as_str();
        let variable = match get("Variable") {
            None => None,
            Some(Node::String(text)) => {
                Some(ReadPath::parse(text).map_err(|p| p.within("Variable"))?)
            }
            Some(other) => {
                return Err(Problem::invalid(format!(
                    "`Variable` must be a path, not {}",
                    other.kind()
                )))
            }
        };
        let within = |p: Problem| p.within(op);
        match op {
            "And" | "Or" => {
                if variable.is_some() {
                    return Err(Problem::invalid(format!(
                        "a rule with `{op}` has no `Variable`"
                    )));
                }
                let Node::Array(items) = value else {
                    return Err(within(Problem::invalid(
                        "must be a non-empty array of rules",
                    )));
                };
                if items.is_empty() {
                    return Err(within(Problem::invalid(
                        "must be a non-empty array of rules",
                    )));
                }
                let rules = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Rule::parse(item, false).map_err(|p| within(p.within(&format!("[{i}]"))))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if op == "And" {
                    Rule::And(rules)
                } else {
                    Rule::Or(rules)
                })
            }
            "Not" => {
                if variable.is_some() {
                    return Err(Problem::invalid("a rule with `Not` has no `Variable`"));
                }
                Ok(Rule::Not(Box::new(
                    Rule::parse(value, false).map_err(within)?,
                )))
            }
            _ => {
                let variable = variable.ok_or_else(|| {
                    Problem::invalid(format!("a rule with `{op}` needs a `Variable`"))
                })?;
                let test = Test::parse(op, value).map_err(within)?;
                Ok(Rule::Test { variable, test })
            }
        }
    }

    /// Whether the rule holds for the effective input. A `Variable` (or a
    /// `...Path` operand) that matches nothing is a `States.Runtime` error,
    /// except for `IsPresent`.
    pub fn eval(&self, input: &Value, context: &Value) -> Result<bool, TaskFailure> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.eval(input, context)?),
            Rule::Test { variable, test } => {
                let value = variable.read(input, context);
                if let Test::Is(TypeTest::Present, expected) = test {
                    return Ok(value.is_some() == *expected);
                }
                let value = value.ok_or_else(|| missing(variable))?;
                test.eval(&value, input, context)
            }
        }
    }
}

fn missing(path: &ReadPath) -> TaskFailure {
    TaskFailure::new(
        names::RUNTIME,
        format!("the Choice rule's path `{}` matched nothing", path.text()),
    )
}

impl Test {
    fn parse(op: &str, value: &Node) -> Result<Test, Problem> {
        if op == "StringMatches" {
            return match value {
                Node::String(pattern) => Ok(Test::Matches(pattern.clone())),
                other => Err(Problem::invalid(format!(
                    "must be a string pattern, not {}",
                    other.kind()
                ))),
            };
        }
        if let Some((_, test)) = TYPE_TESTS.iter().find(|(name, _)| *name == op) {
            return match value {
                Node::Bool(b) => Ok(Test::Is(*test, *b)),
                other => Err(Problem::invalid(format!(
                    "must be a boolean, not {}",
                    other.kind()
                ))),
            };
        }
        let (kind, cmp, path) = comparison(op).expect("an operator");
        let operand = if path {
            match value {
                Node::String(text) => Operand::Path(ReadPath::parse(text)?),
                other => {
                    return Err(Problem::invalid(format!(
                        "must be a path, not {}",
                        other.kind()
                    )))
                }
            }
        } else {
            let ok = match (kind, value) {
                (Kind::String, Node::String(_))
                | (Kind::Numeric, Node::Number(_))
                | (Kind::Boolean, Node::Bool(_)) => true,
                (Kind::Timestamp, Node::String(text)) => timestamp(text).is_some(),
                _ => false,
            };
            if !ok {
                let expected = match kind {
                    Kind::String => "a string",
                    Kind::Numeric => "a number",
                    Kind::Boolean => "a boolean",
                    Kind::Timestamp => "an RFC 3339 timestamp such as \"2016-03-14T01:59:00Z\"",
                };
                return Err(Problem::invalid(format!("must be {expected}")));
            }
            Operand::Literal(value.to_value())
        };
        Ok(Test::Compare { kind, cmp, operand })
    }

    fn eval(&self, value: &Value, input: &Value, context: &Value) -> Result<bool, TaskFailure> {
        Ok(match self {
            Test::Is(test, expected) => {
                let is = match test {
                    TypeTest::Null => value.is_null(),
                    TypeTest::Present => true,
                    TypeTest::Numeric => value.is_number(),
                    TypeTest::String => value.is_string(),
                    TypeTest::Boolean => value.is_boolean(),
                    TypeTest::Timestamp => value.as_str().and_then(timestamp).is_some(),
                };
                is == *expected
            }
            Test::Matches(pattern) => value.as_str().is_some_and(|s| matches_pattern(pattern, s)),
            Test::Compare { kind, cmp, operand } => {
                let other = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(path) => {
                        path.read(input, context).ok_or_else(|| missing(path))?
                    }
                };
                compare(*kind, value, &other).is_some_and(|ord| cmp.holds(ord))
            }
        })
    }
}

/// Values of the wrong type for the comparison compare as nothing: the rule
/// does not hold.
fn compare(kind: Kind, a: &Value, b: &Value) -> Option<Ordering> {
    match (kind, a, b) {
        (Kind::String, Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Kind::Numeric, Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Kind::Boolean, Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Kind::Timestamp, Value::String(a), Value::String(b)) => {
            Some(timestamp(a)?.cmp(&timestamp(b)?))
        }
        _ => None,
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return Some(a.cmp(&b));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// `*` matches any run of characters; `\*` is a literal star and `\\` a
/// literal backslash.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    enum Tok {
        Star,
        Char(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => toks.push(Tok::Char(chars.next().unwrap_or('\\'))),
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Greedy match with backtracking to the last star.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|tok| matches!(tok, Tok::Star))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(rule: Value) -> Rule {
        Rule::parse(&Node::parse(&rule.to_string()).unwrap(), false).unwrap()
    }

    fn holds(r: Value, input: Value) -> bool {
        rule(r).eval(&input, &json!({})).unwrap()
    }

    #[test]
    fn string_patterns() {
        assert!(matches_pattern("log-*.txt", "log-2019-03-14.txt"));
        assert!(matches_pattern("*", ""));
        assert!(matches_pattern("a*b*c", "aXbYbZc"));
        assert!(!matches_pattern("a*b*c", "aXbYbZ"));
        assert!(matches_pattern(r"a\*b", "a*b"));
        assert!(!matches_pattern(r"a\*b", "aXb"));
        assert!(matches_pattern(r"a\\*", r"a\anything"));
        assert!(!matches_pattern("abc", "ab"));
        assert!(!matches_pattern("ab", "abc"));
    }

    #[test]
    fn comparisons_of_each_kind() {
        let input = json!({"s": "b", "n": 10, "f": 2.5, "big": 18446744073709551615u64, "b": true,
                           "t": "2016-03-14T01:59:00Z", "t2": "2016-03-14T02:59:00+01:00"});
        assert!(holds(
            json!({"Variable": "$.s", "StringGreaterThan": "a"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "StringLessThanEquals": "b"}),
            input.clone()
        ));
        assert!(!holds(
            json!({"Variable": "$.s", "StringLessThan": "b"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "NumericEquals": 10.0}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.f", "NumericLessThan": 3}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.big", "NumericGreaterThan": 18446744073709551614u64}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.b", "BooleanEquals": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "TimestampEqualsPath": "$.t2"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "TimestampLessThan": "2016-03-14T02:00:00Z"}),
            input.clone()
        ));
        // Mismatched types never hold.
        assert!(!holds(
            json!({"Variable": "$.n", "StringEquals": "10"}),
            input.clone()
        ));
        assert!(!holds(
            json!({"Variable": "$.s", "TimestampLessThan": "2016-03-14T02:00:00Z"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Not": {"Variable": "$.s", "NumericEquals": 1}}),
            input
        ));
    }

    #[test]
    fn type_tests_and_presence() {
        let input = json!({"z": null, "n": 1, "s": "x", "b": false, "t": "2016-03-14T01:59:00Z", "lower": "2016-03-14t01:59:00z"});
        assert!(holds(
            json!({"Variable": "$.z", "IsNull": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "IsNull": false}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "IsNumeric": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "IsString": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.b", "IsBoolean": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "IsTimestamp": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.lower", "IsTimestamp": false}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.nope", "IsPresent": false}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.z", "IsPresent": true}),
            input.clone()
        ));
        let failure = rule(json!({"Variable": "$.nope", "IsNull": true}))
            .eval(&input, &json!({}))
            .unwrap_err();
        assert_eq!(
            failure,
            TaskFailure::new(
                "States.Runtime",
                "the Choice rule's path `$.nope` matched nothing"
            )
        );
    }

    #[test]
    fn malformed_rules() {
        let problem = |r: Value, top: bool| {
            Rule::parse(&Node::parse(&r.to_string()).unwrap(), top).unwrap_err()
        };
        assert_eq!(
            problem(json!({"Variable": "$.x"}), false).message,
            "a rule has exactly one comparison or `And`/`Or`/`Not`; found none"
        );
        assert_eq!(
            problem(
                json!({"Variable": "$.x", "IsNull": true, "IsString": true}),
                false
            )
            .message,
            "a rule has exactly one comparison or `And`/`Or`/`Not`; found IsNull, IsString"
        );
        assert_eq!(
            problem(json!({"StringEquals": "a"}), true).message,
            "a rule with `StringEquals` needs a `Variable`"
        );
        assert_eq!(
            problem(json!({"Variable": "$.x", "NumericEquals": "1"}), false).message,
            "must be a number"
        );
        assert_eq!(
            problem(json!({"Variable": "$.x", "BooleanLessThan": true}), false).message,
            "`BooleanLessThan` is not a field of a Choice rule"
        );
        assert_eq!(
            problem(
                json!({"Variable": "$.x", "TimestampEquals": "2016-03-14"}),
                false
            )
            .within
            .as_deref(),
            Some("TimestampEquals")
        );
        assert_eq!(
            problem(
                json!({"Variable": "$.x", "IsNull": true, "Next": "A"}),
                false
            )
            .message,
            "a rule inside `And`, `Or` or `Not` has no `Next`"
        );
        let nested = problem(json!({"And": [{"Variable": "$.x", "IsNull": 1}]}), true);
        assert_eq!(
            (nested.within.as_deref(), nested.message.as_str()),
            (Some("And[0].IsNull"), "must be a boolean, not a number")
        );
        assert_eq!(
            problem(json!({"Or": []}), true).message,
            "must be a non-empty array of rules"
        );
        assert!(problem(json!({"Condition": "{% true %}"}), true).unsupported);
    }
}

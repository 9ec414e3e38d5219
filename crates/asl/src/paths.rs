//! Paths: read paths (`InputPath`, `OutputPath`, `ItemsPath`, `Variable`,
//! payload template values...) evaluated by RFC 9535 JSONPath, and reference
//! paths (`ResultPath`) that name one place to write.
//!
//! A read path that is singular (only `.name`, `['name']` and `[index]`
//! steps) yields its one value, or nothing. Any other JSONPath (wildcards,
//! filters, slices, unions, `..`) yields the array of its matches. A path
//! beginning with `$$` reads the context object instead of the input.
//!
//! Step Functions evaluates paths with a JSONPath dialect that accepts
//! dot-names RFC 9535 does not (`$.delivery-partner`); such names are read as
//! bracketed names.

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::error::{names, Problem, TaskFailure};

/// One step of a singular path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Field(String),
    /// Negative indexes count from the end (read paths only).
    Index(i64),
}

/// Parse a singular path: `$` then `.name`, `['name']`, `["name"]` or
/// `[index]` steps. `negative` allows `[-1]`.
fn parse_steps(text: &str, negative: bool) -> Result<Vec<Step>, String> {
    let rest = text
        .strip_prefix('$')
        .ok_or_else(|| format!("`{text}` does not begin with `$`"))?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[') {
                    if is_reserved_in_dot_name(chars[i]) {
                        return Err(format!("`{text}` has `{}` in a name", chars[i]));
                    }
                    i += 1;
                }
                if i == start {
                    return Err(format!("`{text}` has an empty name"));
                }
                steps.push(Step::Field(chars[start..i].iter().collect()));
            }
            '[' => {
                i += 1;
                skip_blanks(&chars, &mut i);
                let step = match chars.get(i) {
                    Some(&quote @ ('\'' | '"')) => {
                        i += 1;
                        let mut name = String::new();
                        loop {
                            match chars.get(i) {
                                None => return Err(format!("`{text}` has an unterminated name")),
                                Some('\\') => {
                                    let escaped = chars
                                        .get(i + 1)
                                        .ok_or_else(|| format!("`{text}` ends inside an escape"))?;
                                    name.push(*escaped);
                                    i += 2;
                                }
                                Some(c) if *c == quote => {
                                    i += 1;
                                    break;
                                }
                                Some(c) => {
                                    name.push(*c);
                                    i += 1;
                                }
                            }
                        }
                        Step::Field(name)
                    }
                    _ => {
                        let start = i;
                        if negative && chars.get(i) == Some(&'-') {
                            i += 1;
                        }
                        while i < chars.len() && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                        let digits: String = chars[start..i].iter().collect();
                        let index = digits.parse::<i64>().map_err(|_| {
                            format!("`{text}` has a bracket that is neither a name nor an index")
                        })?;
                        Step::Index(index)
                    }
                };
                skip_blanks(&chars, &mut i);
                if chars.get(i) != Some(&']') {
                    return Err(format!(
                        "`{text}` has a bracket that is not closed after one name or index"
                    ));
                }
                i += 1;
                steps.push(step);
            }
            c => return Err(format!("`{text}` has an unexpected `{c}`")),
        }
    }
    Ok(steps)
}

fn skip_blanks(chars: &[char], i: &mut usize) {
    while *i < chars.len() && chars[*i].is_whitespace() {
        *i += 1;
    }
}

/// Characters that make a dot-name something else than a plain name.
fn is_reserved_in_dot_name(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ']' | '*' | '?' | '@' | ',' | ':' | '(' | ')' | '\'' | '"' | '$'
        )
}

/// A name RFC 9535 accepts after a dot.
fn is_rfc_shorthand(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii();
    match chars.next() {
        Some(c) if first_ok(c) => chars.all(|c| first_ok(c) || c.is_ascii_digit()),
        _ => false,
    }
}

/// Write singular steps as an RFC 9535 normalized query.
fn to_rfc(steps: &[Step]) -> String {
    let mut out = String::from("$");
    for step in steps {
        match step {
            Step::Field(name) => {
                out.push('[');
                out.push_str(&serde_json::to_string(name).expect("a string serializes"));
                out.push(']');
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Rewrite dot-names that RFC 9535 rejects (`.delivery-partner`) as
/// bracketed names, leaving the rest of the path as written.
fn bracket_dot_names(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.get(i + 1) {
                    out.push(*next);
                    i += 1;
                }
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                out.push('.');
                i += 1;
                if chars.get(i) == Some(&'.') {
                    out.push('.');
                    i += 1;
                }
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[' | '*') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() && !is_rfc_shorthand(&name) {
                    if out.ends_with("..") {
                        out.push_str(&format!(
                            "[{}]",
                            serde_json::to_string(&name).expect("a string serializes")
                        ));
                    } else {
                        out.pop();
                        out.push_str(&format!(
                            "[{}]",
                            serde_json::to_string(&name).expect("a string serializes")
                        ));
                    }
                } else {
                    out.push_str(&name);
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// A path to read a value from the state's input (`$...`) or from the
/// context object (`$$...`).
#[derive(Debug, Clone)]
pub(crate) struct ReadPath {
    text: String,
    context: bool,
    singular: bool,
    query: JsonPath,
}

impl ReadPath {
    pub fn parse(text: &str) -> Result<ReadPath, Problem> {
        let (context, body) = match text.strip_prefix('$') {
            Some(rest) if rest.starts_with('$') => (true, rest),
            Some(_) => (false, text),
            None => {
                return Err(Problem::invalid(format!(
                    "the path `{text}` does not begin with `$`"
                )))
            }
        };
        let (singular, query) = match parse_steps(body, true) {
            Ok(steps) => (
                true,
                JsonPath::parse(&to_rfc(&steps)).expect("a normalized path parses"),
            ),
            Err(_) => {
                let query = JsonPath::parse(body)
                    .or_else(|e| JsonPath::parse(&bracket_dot_names(body)).map_err(|_| e))
                    .map_err(|e| {
                        Problem::invalid(format!("`{text}` is not a valid JSONPath: {e}"))
                    })?;
                (false, query)
            }
        };
        Ok(ReadPath {
            text: text.to_owned(),
            context,
            singular,
            query,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value the path selects: `None` when a singular path matches
    /// nothing; a non-singular path always yields the (maybe empty) array
    /// of its matches.
    pub fn read(&self, input: &Value, context: &Value) -> Option<Value> {
        let root = if self.context { context } else { input };
        let nodes = self.query.query(root);
        if self.singular {
            nodes.first().cloned()
        } else {
            Some(Value::Array(nodes.all().into_iter().cloned().collect()))
        }
    }
}

/// `InputPath` or `OutputPath`: the whole value (`$`, the default), an empty
/// object (`null`), or what a path selects.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Whole,
    Empty,
    Path(ReadPath),
}

impl Filter {
    /// Apply to a value; a path that matches nothing is a `States.Runtime`
    /// error.
    pub fn apply(&self, field: &str, value: Value, context: &Value) -> Result<Value, TaskFailure> {
        match self {
            Filter::Whole => Ok(value),
            Filter::Empty => Ok(Value::Object(Map::new())),
            Filter::Path(path) => path.read(&value, context).ok_or_else(|| {
                TaskFailure::new(
                    names::RUNTIME,
                    format!(
                        "the {field} `{}` matched nothing in {}",
                        path.text(),
                        excerpt(&value)
                    ),
                )
            }),
        }
    }
}

/// A reference path: where `ResultPath` puts a result in the state's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReferencePath {
    text: String,
    steps: Vec<Step>,
}

impl ReferencePath {
    pub fn parse(text: &str) -> Result<ReferencePath, Problem> {
        if text.starts_with("$$") {
            return Err(Problem::invalid(format!(
                "`{text}` names the context object, which cannot be written"
            )));
        }
        let steps = parse_steps(text, false).map_err(|e| {
            Problem::invalid(format!(
                "{e}; a reference path has only `.name`, `['name']` and `[index]` steps"
            ))
        })?;
        Ok(ReferencePath {
            text: text.to_owned(),
            steps,
        })
    }

    /// Place `value` in `target` at this path: `$` replaces the target;
    /// missing fields are created as objects; a step into something that is
    /// not an object (or an index out of an array's bounds) is a
    /// `States.ResultPathMatchFailure`.
    pub fn apply(&self, mut target: Value, value: Value) -> Result<Value, TaskFailure> {
        let Some((last, init)) = self.steps.split_last() else {
            return Ok(value);
        };
        let fail = |what: String| {
            TaskFailure::new(
                names::RESULT_PATH_MATCH_FAILURE,
                format!(
                    "the ResultPath `{}` cannot be applied to the input: {what}",
                    self.text
                ),
            )
        };
        let mut cursor = &mut target;
        for step in init {
            cursor = match step {
                Step::Field(name) => match cursor {
                    Value::Object(map) => map
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    other => return Err(fail(format!("`{name}` is looked up in {}", kind(other)))),
                },
                Step::Index(i) => slot(cursor, *i).map_err(fail)?,
            };
        }
        match last {
            Step::Field(name) => match cursor {
                Value::Object(map) => {
                    map.insert(name.clone(), value);
                }
                other => return Err(fail(format!("`{name}` is set in {}", kind(other)))),
            },
            Step::Index(i) => *slot(cursor, *i).map_err(fail)? = value,
        }
        Ok(target)
    }
}

fn slot(value: &mut Value, index: i64) -> Result<&mut Value, String> {
    match value {
        Value::Array(items) => {
            let len = items.len();
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| format!("index {index} is outside an array of {len}"))
        }
        other => Err(format!("index {index} is looked up in {}", kind(other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as compact JSON, shortened for error causes.
pub(crate) fn excerpt(value: &Value) -> String {
    const MAX: usize = 512;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(path: &str, input: Value) -> Option<Value> {
        ReadPath::parse(path)
            .unwrap()
            .read(&input, &json!({"Execution": {"Name": "x"}}))
    }

    #[test]
    fn singular_paths_yield_one_value_or_nothing() {
        let doc = json!({"a": {"b-c": [10, 20, 30]}, "it's": 1});
        assert_eq!(read("$", doc.clone()), Some(doc.clone()));
        assert_eq!(read("$.a.b-c[1]", doc.clone()), Some(json!(20)));
        assert_eq!(read("$['a'][\"b-c\"][-1]", doc.clone()), Some(json!(30)));
        assert_eq!(read("$['it\\'s']", doc.clone()), Some(json!(1)));
        assert_eq!(read("$.a.missing", doc.clone()), None);
        assert_eq!(read("$.a.b-c[3]", doc), None);
        assert_eq!(read("$$.Execution.Name", json!({})), Some(json!("x")));
    }

    #[test]
    fn other_paths_yield_the_array_of_their_matches() {
        let doc = json!({"vals": [0, 10, 20, 30, 40, 50], "items": [{"k": 1, "d-p": "a"}, {"k": 2, "d-p": "b"}]});
        assert_eq!(read("$.vals[-3:]", doc.clone()), Some(json!([30, 40, 50])));
        assert_eq!(read("$.vals[0,2]", doc.clone()), Some(json!([0, 20])));
        assert_eq!(read("$.items[*].k", doc.clone()), Some(json!([1, 2])));
        assert_eq!(read("$.items[?(@.k > 1)].k", doc.clone()), Some(json!([2])));
        assert_eq!(read("$..k", doc.clone()), Some(json!([1, 2])));
        assert_eq!(read("$.items[*].d-p", doc.clone()), Some(json!(["a", "b"])));
        assert_eq!(read("$.nothing[*]", doc), Some(json!([])));
    }

    #[test]
    fn invalid_read_paths_are_rejected() {
        for bad in ["a.b", "$.a[", "$.a[?(", ""] {
            assert!(ReadPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reference_paths_write_into_the_input() {
        let set = |path: &str, target: Value, value: Value| {
            ReferencePath::parse(path).unwrap().apply(target, value)
        };
        assert_eq!(set("$", json!({"a": 1}), json!(7)), Ok(json!(7)));
        assert_eq!(
            set("$.b", json!({"a": 1}), json!(7)),
            Ok(json!({"a": 1, "b": 7}))
        );
        assert_eq!(
            set("$.x.y['z z']", json!({}), json!(7)),
            Ok(json!({"x": {"y": {"z z": 7}}}))
        );
        assert_eq!(
            set("$.l[1]", json!({"l": [1, 2]}), json!(7)),
            Ok(json!({"l": [1, 7]}))
        );
        assert_eq!(
            set("$.l[1].n", json!({"l": [1, {}]}), json!(7)),
            Ok(json!({"l": [1, {"n": 7}]}))
        );
        let failure = set("$.a.b", json!({"a": 1}), json!(7)).unwrap_err();
        assert_eq!(failure.error, "States.ResultPathMatchFailure");
        assert_eq!(
            failure.cause,
            "the ResultPath `$.a.b` cannot be applied to the input: `b` is set in a number"
        );
        assert_eq!(
            set("$.l[2]", json!({"l": [1, 2]}), json!(7))
                .unwrap_err()
                .error,
            "States.ResultPathMatchFailure"
        );
        assert_eq!(
            set("$.x", json!("text"), json!(7)).unwrap_err().error,
            "States.ResultPathMatchFailure"
        );
    }

    #[test]
    fn reference_paths_reject_anything_not_singular() {
        for bad in [
            "$.a[*]",
            "$..a",
            "$.a[0:1]",
            "$.a[-1]",
            "$$.Execution",
            "a",
            "$.a[?(@.x)]",
            "$.a['b','c']",
        ] {
            assert!(ReferencePath::parse(bad).is_err(), "{bad}");
        }
    }
}

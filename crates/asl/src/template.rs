//! Payload templates (`Parameters`, `ItemSelector`, `ResultSelector`): JSON
//! in which a field whose name ends in `.$` takes its value from a path
//! (`$...` reads the effective input, `$$...` the context object) or from an
//! intrinsic function. Nested objects and arrays are templates too.

use serde_json::{Map, Value};

use crate::error::{names, Problem, TaskFailure};
use crate::intrinsics::{self, Call};
use crate::node::Node;
use crate::paths::{excerpt, ReadPath};

#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// No `.$` field anywhere below: the value as written.
    Static(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path {
        field: String,
        path: ReadPath,
    },
    Call(Call),
}

impl Template {
    pub fn compile(node: &Node) -> Result<Template, Problem> {
        match node {
            Node::Object(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for (key, value) in fields {
                    match key.strip_suffix(".$") {
                        Some(name) => {
                            if fields.iter().any(|(k, _)| k == name) {
                                return Err(Problem::invalid(format!(
                                    "both `{name}` and `{key}` are given"
                                ))
                                .within(key));
                            }
                            let Node::String(text) = value else {
                                return Err(Problem::invalid(format!(
                                    "a field ending in `.$` takes a path or an intrinsic function, not {}",
                                    value.kind()
                                ))
                                .within(key));
                            };
                            out.push((
                                name.to_owned(),
                                Template::dynamic(key, text).map_err(|p| p.within(key))?,
                            ));
                        }
                        None => out.push((
                            key.clone(),
                            Template::compile(value).map_err(|p| p.within(key))?,
                        )),
                    }
                }
                if out.iter().all(|(_, t)| matches!(t, Template::Static(_))) {
                    Ok(Template::Static(node.to_value()))
                } else {
                    Ok(Template::Object(out))
                }
            }
            Node::Array(items) => {
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Template::compile(item).map_err(|p| p.within(&format!("[{i}]")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(|t| matches!(t, Template::Static(_))) {
                    Ok(Template::Static(node.to_value()))
                } else {
                    Ok(Template::Array(items))
                }
            }
            other => Ok(Template::Static(other.to_value())),
        }
    }

    /// The value of a `.$` field: a path or an intrinsic function call.
    fn dynamic(key: &str, text: &str) -> Result<Template, Problem> {
        if text.starts_with('$') {
            Ok(Template::Path {
                field: key.to_owned(),
                path: ReadPath::parse(text)?,
            })
        } else if intrinsics::is_call(text) {
            Ok(Template::Call(Call::parse(text)?))
        } else {
            Err(Problem::invalid(format!(
                "`{text}` is neither a path (`$...`, `$$...`) nor an intrinsic function (`States.*(...)`)"
            )))
        }
    }

    /// Fill the template from the effective input and the context object.
    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        match self {
            Template::Static(value) => Ok(value.clone()),
            Template::Object(fields) => {
                let mut map = Map::new();
                for (key, template) in fields {
                    map.insert(key.clone(), template.eval(input, context)?);
                }
                Ok(Value::Object(map))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval(input, context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Path { field, path } => path.read(input, context).ok_or_else(|| {
                let (what, source) = if path.text().starts_with("$$") {
                    ("context object", context)
                } else {
                    ("input", input)
                };
                // As Step Functions: a runtime error, which no Retry or
                // Catch (not even States.ALL) handles, worded as it words it
                // (moto's parser, string_expression.py, mirrors AWS).
                TaskFailure::new(
                    names::RUNTIME,
                    format!(
                        "The JSONPath '{}' specified for the field '{field}' could not be found in the {what} '{}'",
                        path.text(),
                        excerpt(source)
                    ),
                )
            }),
            Template::Call(call) => call.eval(input, context),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compile(template: Value) -> Result<Template, Problem> {
        Template::compile(&Node::parse(&template.to_string()).unwrap())
    }

    #[test]
    fn static_templates_are_kept_whole() {
        let t = compile(json!({"a": [1, {"b": "$.x"}], "c": null})).unwrap();
        assert!(matches!(t, Template::Static(_)));
        assert_eq!(
            t.eval(&json!({}), &json!({})).unwrap(),
            json!({"a": [1, {"b": "$.x"}], "c": null})
        );
    }

    #[test]
    fn fields_ending_in_dollar_are_filled_inside_objects_and_arrays() {
        let t = compile(json!({"a.$": "$.x", "list": [{"b.$": "$$.State.Name"}, 2], "n.$": "States.ArrayLength($.l)"})).unwrap();
        let out = t
            .eval(
                &json!({"x": {"y": 1}, "l": [1, 2, 3]}),
                &json!({"State": {"Name": "S"}}),
            )
            .unwrap();
        assert_eq!(out, json!({"a": {"y": 1}, "list": [{"b": "S"}, 2], "n": 3}));
    }

    #[test]
    fn a_path_that_matches_nothing_is_a_runtime_error() {
        let t = compile(json!({"a": {"b.$": "$.missing"}})).unwrap();
        let failure = t.eval(&json!({"x": 1}), &json!({})).unwrap_err();
        assert_eq!(
            failure,
            TaskFailure::new(
                "States.Runtime",
                "The JSONPath '$.missing' specified for the field 'b.$' could not be found in the input '{\"x\":1}'"
            )
        );
    }

    #[test]
    fn malformed_templates_are_definition_errors() {
        let problem = compile(json!({"a": {"b.$": 3}})).unwrap_err();
        assert_eq!(problem.within.as_deref(), Some("a.b.$"));
        let problem = compile(json!({"x": 1, "x.$": "$.x"})).unwrap_err();
        assert_eq!(problem.message, "both `x` and `x.$` are given");
        assert!(compile(json!({"x.$": "plain"})).is_err());
        assert!(compile(json!({"x.$": "States.Nope(1)"})).is_err());
    }
}

//! The part of JSONata this interpreter runs: a Pass state with
//! `"QueryLanguage": "JSONata"` and an `Output` whose strings `{% … %}` are
//! expressions of
//!
//! * number and string literals, `+ - * /`, parentheses, unary `-`;
//! * `$states.input…` and `$states.context…` member paths;
//! * `$toMillis(timestamp)` (ISO 8601) and `$fromMillis(millis[, picture])`
//!   with the picture components `[Y0001] [M01] [D01] [H01] [m01] [s01]`
//!   (UTC), the functions a date computation needs.
//!
//! Anything else is refused when the definition is parsed, naming what is
//! not available, so a definition runs here exactly as written or not at
//! all. An expression that fails at run time is `States.QueryEvaluationError`
//! (Step Functions' error for JSONata, "Error handling in Step Functions").

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Number, Value};

use crate::error::TaskFailure;

pub(crate) const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";

/// A JSONata state's `Output`: JSON whose `{% … %}` strings are expressions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    Expr(Expr),
    Object(Vec<(String, Output)>),
    Array(Vec<Output>),
    Literal(Value),
}

impl Output {
    pub fn compile(v: &Value) -> Result<Output, String> {
        Ok(match v {
            Value::String(s) => match s
                .trim()
                .strip_prefix("{%")
                .and_then(|r| r.strip_suffix("%}"))
            {
                Some(text) => Output::Expr(Parser::parse(text)?),
                None => Output::Literal(v.clone()),
            },
            Value::Object(m) => Output::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), Output::compile(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(a) => {
                Output::Array(a.iter().map(Output::compile).collect::<Result<_, _>>()?)
            }
            other => Output::Literal(other.clone()),
        })
    }

    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        let states = serde_json::json!({ "input": input, "context": context });
        self.eval_with(&states)
    }

    fn eval_with(&self, states: &Value) -> Result<Value, TaskFailure> {
        match self {
            Output::Expr(e) => e
                .eval(states)
                .map_err(|m| TaskFailure::new(QUERY_EVALUATION_ERROR, m)),
            Output::Object(fields) => {
                let mut map = Map::new();
                for (k, v) in fields {
                    map.insert(k.clone(), v.eval_with(states)?);
                }
                Ok(Value::Object(map))
            }
            Output::Array(items) => items
                .iter()
                .map(|i| i.eval_with(states))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Output::Literal(v) => Ok(v.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Number(f64),
    String(String),
    /// `$states` followed by member names.
    States(Vec<String>),
    Call(Func, Vec<Expr>),
    Neg(Box<Expr>),
    Binary(Box<Expr>, char, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    ToMillis,
    FromMillis,
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn parse(text: &'a str) -> Result<Expr, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let e = p.expr()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!(
                "JSONata expression `{}`: unexpected `{}`",
                text.trim(),
                &text[p.i..]
            ));
        }
        Ok(e)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            left = Expr::Binary(Box::new(left), op as char, Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let mut left = self.factor()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.i += 1;
            left = Expr::Binary(Box::new(left), op as char, Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn factor(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let e = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err("JSONata: `)` expected".into());
                }
                self.i += 1;
                Ok(e)
            }
            Some(b'-') => {
                self.i += 1;
                Ok(Expr::Neg(Box::new(self.factor()?)))
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        return Err(
                            "JSONata: escapes in string literals are not available here".into()
                        );
                    }
                    self.i += 1;
                }
                if self.i == self.s.len() {
                    return Err("JSONata: unterminated string literal".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Expr::String(text))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'.')
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                text.parse()
                    .map(Expr::Number)
                    .map_err(|_| format!("JSONata: bad number `{text}`"))
            }
            Some(b'$') => {
                self.i += 1;
                let name = self.ident();
                if self.peek() == Some(b'(') {
                    self.i += 1;
                    let func = match name.as_str() {
                        "toMillis" => Func::ToMillis,
                        "fromMillis" => Func::FromMillis,
                        other => {
                            return Err(format!(
                                "JSONata function `${other}` is not available here (only $toMillis and $fromMillis)"
                            ))
                        }
                    };
                    let mut args = vec![];
                    if self.peek() != Some(b')') {
                        loop {
                            args.push(self.expr()?);
                            match self.peek() {
                                Some(b',') => self.i += 1,
                                Some(b')') => break,
                                _ => return Err("JSONata: `,` or `)` expected".into()),
                            }
                        }
                    }
                    self.i += 1;
                    return Ok(Expr::Call(func, args));
                }
                if name != "states" {
                    return Err(format!(
                        "JSONata variable `${name}` is not available here (only $states)"
                    ));
                }
                let mut path = vec![];
                while self.peek() == Some(b'.') {
                    self.i += 1;
                    let member = self.ident();
                    if member.is_empty() {
                        return Err("JSONata: a member name is expected after `.`".into());
                    }
                    path.push(member);
                }
                if !matches!(path.first().map(String::as_str), Some("input" | "context")) {
                    return Err(
                        "JSONata: `$states` is read as `$states.input…` or `$states.context…` here"
                            .into(),
                    );
                }
                Ok(Expr::States(path))
            }
            other => Err(format!(
                "JSONata: unexpected {}",
                other
                    .map(|c| format!("`{}`", c as char))
                    .unwrap_or_else(|| "end".into())
            )),
        }
    }
}

impl Expr {
    fn eval(&self, states: &Value) -> Result<Value, String> {
        match self {
            Expr::Number(n) => number(*n),
            Expr::String(s) => Ok(Value::String(s.clone())),
            Expr::States(path) => {
                let mut v = states;
                for member in path {
                    v = v.get(member).ok_or_else(|| {
                        format!(
                            "the JSONata path $states.{} matched nothing",
                            path.join(".")
                        )
                    })?;
                }
                Ok(v.clone())
            }
            Expr::Neg(e) => number(-num(&e.eval(states)?)?),
            Expr::Binary(a, op, b) => {
                let (x, y) = (num(&a.eval(states)?)?, num(&b.eval(states)?)?);
                number(match op {
                    '+' => x + y,
                    '-' => x - y,
                    '*' => x * y,
                    _ => x / y,
                })
            }
            Expr::Call(Func::ToMillis, args) => {
                let [arg] = args.as_slice() else {
                    return Err("$toMillis takes one argument here".into());
                };
                let text = arg.eval(states)?;
                let text = text
                    .as_str()
                    .ok_or("$toMillis: the argument must be a string")?;
                let t = DateTime::parse_from_rfc3339(text).map_err(|e| {
                    format!("$toMillis: `{text}` is not an ISO 8601 timestamp: {e}")
                })?;
                number(t.timestamp_millis() as f64)
            }
            Expr::Call(Func::FromMillis, args) => {
                let (millis, picture) = match args.as_slice() {
                    [m] => (m, None),
                    [m, p] => (m, Some(p)),
                    _ => return Err("$fromMillis takes one or two arguments here".into()),
                };
                let ms = num(&millis.eval(states)?)?;
                let t = Utc
                    .timestamp_millis_opt(ms as i64)
                    .single()
                    .ok_or_else(|| format!("$fromMillis: {ms} is out of range"))?;
                match picture {
                    None => Ok(Value::String(
                        t.to_rfc3339_opts(SecondsFormat::Millis, true),
                    )),
                    Some(p) => {
                        let p = p.eval(states)?;
                        let p = p
                            .as_str()
                            .ok_or("$fromMillis: the picture must be a string")?;
                        format_picture(&t, p).map(Value::String)
                    }
                }
            }
        }
    }
}

fn num(v: &Value) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("JSONata arithmetic needs numbers, not {v}"))
}

fn number(x: f64) -> Result<Value, String> {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return Ok(Value::Number(Number::from(x as i64)));
    }
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| format!("JSONata: {x} is not a number"))
}

/// An XPath picture string of the components this interpreter knows.
fn format_picture(t: &DateTime<Utc>, picture: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = picture;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find(']')
            .ok_or("$fromMillis: `]` expected in the picture")?
            + open;
        let part = match &rest[open + 1..close] {
            "Y0001" => t.format("%Y").to_string(),
            "M01" => t.format("%m").to_string(),
            "D01" => t.format("%d").to_string(),
            "H01" => t.format("%H").to_string(),
            "m01" => t.format("%M").to_string(),
            "s01" => t.format("%S").to_string(),
            other => {
                return Err(format!(
                    "$fromMillis: the picture component [{other}] is not available here"
                ))
            }
        };
        out.push_str(&part);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, input: Value) -> Result<Value, TaskFailure> {
        Output::compile(&json!(format!("{{% {expr} %}}")))
            .unwrap()
            .eval(&input, &json!({}))
    }

    const DAY_BEFORE: &str =
        "$fromMillis($toMillis($states.input.t) - 86400000, '[Y0001]-[M01]-[D01]')";

    #[test]
    fn the_day_before_a_timestamp() {
        for (t, day) in [
            ("2025-03-01T02:00:00Z", "2025-02-28"),
            ("2024-03-01T00:00:00Z", "2024-02-29"),
            ("2026-01-01T00:15:00Z", "2025-12-31"),
            ("2025-06-15T23:59:59Z", "2025-06-14"),
            ("2025-06-15T01:00:00+02:00", "2025-06-13"),
        ] {
            assert_eq!(
                eval(DAY_BEFORE, json!({"t": t})).unwrap(),
                json!(day),
                "{t}"
            );
        }
    }

    #[test]
    fn arithmetic_literals_and_paths() {
        assert_eq!(eval("1 + 2 * (3 - 1) / 4", json!({})).unwrap(), json!(2));
        assert_eq!(
            eval("-$states.input.a.b", json!({"a": {"b": 3}})).unwrap(),
            json!(-3)
        );
        assert_eq!(eval("'x'", json!({})).unwrap(), json!("x"));
        assert_eq!(
            eval("$fromMillis(0)", json!({})).unwrap(),
            json!("1970-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn run_time_failures_are_query_evaluation_errors() {
        for (expr, input) in [
            ("$toMillis($states.input.t)", json!({"t": "yesterday"})),
            ("$toMillis($states.input.t)", json!({"t": 5})),
            ("$states.input.missing", json!({})),
            ("$states.input.t + 1", json!({"t": "a"})),
        ] {
            let f = eval(expr, input).unwrap_err();
            assert_eq!(f.error, QUERY_EVALUATION_ERROR, "{expr}: {}", f.cause);
        }
    }

    #[test]
    fn what_is_not_available_is_refused_when_parsed() {
        for expr in [
            "$now()",
            "$x",
            "$states.foo",
            "a.b",
            "1 +",
            "'a\\'b'",
            "[1]",
        ] {
            let text = format!("{{% {expr} %}}");
            assert!(Output::compile(&json!(text)).is_err(), "{expr}");
        }
        assert_eq!(
            Output::compile(&json!({"a": "plain", "n": 1})).unwrap(),
            Output::Object(vec![
                ("a".into(), Output::Literal(json!("plain"))),
                ("n".into(), Output::Literal(json!(1))),
            ])
        );
    }
}

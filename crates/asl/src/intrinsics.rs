//! Intrinsic functions: `States.Format('{} of {}', $.a, $$.Execution.Name)`.
//!
//! Arguments are string literals in single quotes (`\'`, `\{`, `\}` and `\\`
//! escape those characters), numbers, `true`, `false`, `null`, paths and
//! nested calls. Calls are parsed with the definition, so an unknown
//! function or a wrong number of arguments is a definition error; a failure
//! while evaluating is a `States.IntrinsicFailure`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::error::{names, Problem, TaskFailure};
use crate::paths::ReadPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    JsonMerge,
    MathAdd,
    StringSplit,
    Base64Encode,
    Base64Decode,
    Uuid,
}

impl Func {
    const ALL: [(&'static str, Func); 16] = [
        ("States.Format", Func::Format),
        ("States.StringToJson", Func::StringToJson),
        ("States.JsonToString", Func::JsonToString),
        ("States.Array", Func::Array),
        ("States.ArrayPartition", Func::ArrayPartition),
        ("States.ArrayContains", Func::ArrayContains),
        ("States.ArrayRange", Func::ArrayRange),
        ("States.ArrayGetItem", Func::ArrayGetItem),
        ("States.ArrayLength", Func::ArrayLength),
        ("States.ArrayUnique", Func::ArrayUnique),
        ("States.JsonMerge", Func::JsonMerge),
        ("States.MathAdd", Func::MathAdd),
        ("States.StringSplit", Func::StringSplit),
        ("States.Base64Encode", Func::Base64Encode),
        ("States.Base64Decode", Func::Base64Decode),
        ("States.UUID", Func::Uuid),
    ];

    /// Step Functions functions this interpreter does not run: hashes and
    /// random numbers.
    const UNSUPPORTED: [&'static str; 2] = ["States.Hash", "States.MathRandom"];

    fn name(self) -> &'static str {
        Func::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .expect("every function is listed")
            .0
    }

    /// (least, most) arguments.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::StringToJson | Func::JsonToString | Func::ArrayLength | Func::ArrayUnique => {
                (1, 1)
            }
            Func::Base64Encode | Func::Base64Decode => (1, 1),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::MathAdd
            | Func::StringSplit => (2, 2),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
            Func::Uuid => (0, 0),
        }
    }
}

/// A version 4 UUID (RFC 9562) from 128 random bits, as `States.UUID`
/// returns it: lower-case hex, 8-4-4-4-12.
fn uuid_v4(random: u128) -> String {
    let bits = (random & !(0xF000u128 << 64) & !(0xC000u128 << 48))
        | (0x4000u128 << 64)
        | (0x8000u128 << 48);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether a `.$` value is written as an intrinsic function call.
pub(crate) fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

#[derive(Debug, Clone)]
enum Arg {
    /// A string literal: its value, and the text between the quotes with
    /// its escapes (States.Format tells `\{}` from `{}`).
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(ReadPath),
    Call(Call),
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    func: Func,
    args: Vec<Arg>,
}

struct Parser<'t> {
    text: &'t str,
    chars: Vec<char>,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl std::fmt::Display) -> Problem {
        Problem::invalid(format!(
            "in `{}` at character {}: {message}",
            self.text,
            self.pos + 1
        ))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), Problem> {
        self.skip_blanks();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`")))
        }
    }

    fn call(&mut self) -> Result<Call, Problem> {
        self.skip_blanks();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let func = match Func::ALL.iter().find(|(n, _)| *n == name) {
            Some((_, f)) => *f,
            None if Func::UNSUPPORTED.contains(&name.as_str()) => {
                return Err(Problem::unsupported(format!(
                    "the intrinsic function `{name}` is not available"
                )))
            }
            None => {
                return Err(Problem::invalid(format!(
                    "`{name}` is not an intrinsic function"
                )))
            }
        };
        self.expect('(')?;
        let mut args = Vec::new();
        self.skip_blanks();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.arg()?);
                self.skip_blanks();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `)`")),
                }
            }
        }
        let (least, most) = func.arity();
        if args.len() < least || args.len() > most {
            let expected = match (least, most) {
                (l, m) if l == m => format!("{l}"),
                (l, _) => format!("at least {l}"),
            };
            return Err(Problem::invalid(format!(
                "`{name}` takes {expected} argument(s), {} given",
                args.len()
            )));
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self) -> Result<Arg, Problem> {
        self.skip_blanks();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(_) if self.rest().starts_with("States.") => Ok(Arg::Call(self.call()?)),
            Some(_) => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.rest().starts_with(word) {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Err(self.error("expected a string, a number, true, false, null, a path or a call"))
            }
            None => Err(self.error("the call is not closed")),
        }
    }

    fn rest(&self) -> String {
        self.chars[self.pos..].iter().collect()
    }

    fn string(&mut self) -> Result<Arg, Problem> {
        self.pos += 1;
        let mut value = String::new();
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("the string is not closed")),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some('\\') => {
                    let Some(next) = self.chars.get(self.pos + 1).copied() else {
                        return Err(self.error("the string ends inside an escape"));
                    };
                    raw.push('\\');
                    raw.push(next);
                    match next {
                        '\'' | '{' | '}' | '\\' => value.push(next),
                        other => {
                            value.push('\\');
                            value.push(other);
                        }
                    }
                    self.pos += 2;
                }
                Some(c) => {
                    value.push(c);
                    raw.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A path runs to the first `,` or `)` outside brackets, parentheses
    /// and quotes.
    fn path(&mut self) -> Result<Arg, Problem> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(_), '\\') => self.pos += 1,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '(') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, ')') if depth == 0 => break,
                (None, ')') => depth -= 1,
                (None, ',') if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos.min(self.chars.len())]
            .iter()
            .collect();
        ReadPath::parse(text.trim_end()).map(Arg::Path)
    }

    fn number(&mut self) -> Result<Arg, Problem> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match serde_json::from_str::<Number>(&text) {
            Ok(n) => Ok(Arg::Literal(Value::Number(n))),
            Err(_) => Err(self.error(format!("`{text}` is not a number"))),
        }
    }
}

fn failure(func: Func, message: impl std::fmt::Display) -> TaskFailure {
    TaskFailure::new(
        names::INTRINSIC_FAILURE,
        format!("{}: {message}", func.name()),
    )
}

impl Call {
    pub fn parse(text: &str) -> Result<Call, Problem> {
        let mut parser = Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        };
        let call = parser.call()?;
        parser.skip_blanks();
        if parser.pos < parser.chars.len() {
            return Err(parser.error("unexpected text after the call"));
        }
        Ok(call)
    }

    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        let f = self.func;
        let args = self
            .args
            .iter()
            .map(|arg| match arg {
                Arg::Str { value, .. } => Ok(Value::String(value.clone())),
                Arg::Literal(value) => Ok(value.clone()),
                Arg::Path(path) => path.read(input, context).ok_or_else(|| {
                    failure(f, format!("the path `{}` matched nothing", path.text()))
                }),
                Arg::Call(call) => call.eval(input, context),
            })
            .collect::<Result<Vec<_>, _>>()?;
        match f {
            Func::Format => {
                let template = match &self.args[0] {
                    Arg::Str { raw, .. } => raw.clone(),
                    _ => string(f, &args[0], "the template")?.to_owned(),
                };
                format(f, &template, &args[1..])
            }
            Func::StringToJson => {
                let text = string(f, &args[0], "the argument")?;
                serde_json::from_str(text)
                    .map_err(|e| failure(f, format!("the argument is not JSON: {e}")))
            }
            Func::JsonToString => Ok(Value::String(args[0].to_string())),
            Func::Array => Ok(Value::Array(args)),
            Func::ArrayPartition => {
                let items = array(f, &args[0])?;
                let size = integer(f, &args[1], "the chunk size")?;
                if size <= 0 {
                    return Err(failure(f, "the chunk size must be a positive integer"));
                }
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                Ok(Value::Array(
                    items
                        .chunks(size)
                        .map(|c| Value::Array(c.to_vec()))
                        .collect(),
                ))
            }
            Func::ArrayContains => Ok(Value::Bool(array(f, &args[0])?.contains(&args[1]))),
            Func::ArrayRange => {
                const MAX_ITEMS: i64 = 1000;
                let start = integer(f, &args[0], "the first value")?;
                let end = integer(f, &args[1], "the last value")?;
                let step = integer(f, &args[2], "the step")?;
                if step == 0 {
                    return Err(failure(f, "the step must not be 0"));
                }
                let count = if (end - start).signum() * step.signum() < 0 {
                    0
                } else {
                    (end - start) / step + 1
                };
                if count > MAX_ITEMS {
                    return Err(failure(
                        f,
                        format!("the range has {count} items, more than {MAX_ITEMS}"),
                    ));
                }
                Ok(Value::Array(
                    (0..count).map(|i| Value::from(start + i * step)).collect(),
                ))
            }
            Func::ArrayGetItem => {
                let items = array(f, &args[0])?;
                let index = integer(f, &args[1], "the index")?;
                usize::try_from(index)
                    .ok()
                    .and_then(|i| items.get(i))
                    .cloned()
                    .ok_or_else(|| {
                        failure(
                            f,
                            format!("index {index} is outside an array of {}", items.len()),
                        )
                    })
            }
            Func::ArrayLength => Ok(Value::from(array(f, &args[0])?.len())),
            Func::ArrayUnique => {
                let mut unique: Vec<Value> = Vec::new();
                for item in array(f, &args[0])? {
                    if !unique.contains(item) {
                        unique.push(item.clone());
                    }
                }
                Ok(Value::Array(unique))
            }
            Func::JsonMerge => {
                let (Value::Object(left), Value::Object(right)) = (&args[0], &args[1]) else {
                    return Err(failure(f, "the first two arguments must be objects"));
                };
                match &args[2] {
                    Value::Bool(false) => {}
                    Value::Bool(true) => {
                        return Err(failure(
                            f,
                            "deep merging is not supported; the third argument must be false",
                        ))
                    }
                    _ => return Err(failure(f, "the third argument must be the boolean false")),
                }
                let mut merged: Map<String, Value> = left.clone();
                merged.extend(right.clone());
                Ok(Value::Object(merged))
            }
            Func::MathAdd => {
                let a = integer(f, &args[0], "the first argument")?;
                let b = integer(f, &args[1], "the second argument")?;
                a.checked_add(b)
                    .map(Value::from)
                    .ok_or_else(|| failure(f, "the sum overflows"))
            }
            Func::StringSplit => {
                let text = string(f, &args[0], "the first argument")?;
                let splitters = string(f, &args[1], "the splitter")?;
                Ok(Value::Array(
                    text.split(|c| splitters.contains(c))
                        .filter(|part| !part.is_empty())
                        .map(Value::from)
                        .collect(),
                ))
            }
            Func::Uuid => Ok(Value::String(uuid_v4(fastrand::u128(..)))),
            Func::Base64Encode => Ok(Value::String(STANDARD.encode(string(
                f,
                &args[0],
                "the argument",
            )?))),
            Func::Base64Decode => {
                let bytes = base64_decode(string(f, &args[0], "the argument")?)
                    .map_err(|e| failure(f, e))?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|_| failure(f, "the decoded bytes are not UTF-8 text"))
            }
        }
    }
}

/// `{}` takes the next argument; `\{` and `\}` are literal braces.
fn format(f: Func, template: &str, args: &[Value]) -> Result<Value, TaskFailure> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('\'' | '{' | '}' | '\\')) => {
                out.push(chars.next().expect("peeked"));
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let arg = args.next().ok_or_else(|| {
                    failure(f, "the template has more `{}` than there are arguments")
                })?;
                match arg {
                    Value::String(s) => out.push_str(s),
                    Value::Number(_) | Value::Bool(_) | Value::Null => {
                        out.push_str(&arg.to_string())
                    }
                    Value::Array(_) | Value::Object(_) => {
                        return Err(failure(
                            f,
                            "only strings, numbers, booleans and null can be formatted",
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    if args.next().is_some() {
        return Err(failure(
            f,
            "there are more arguments than `{}` in the template",
        ));
    }
    Ok(Value::String(out))
}

fn string<'v>(f: Func, value: &'v Value, what: &str) -> Result<&'v str, TaskFailure> {
    value
        .as_str()
        .ok_or_else(|| failure(f, format!("{what} must be a string, not {value}")))
}

fn array(f: Func, value: &Value) -> Result<&Vec<Value>, TaskFailure> {
    value.as_array().ok_or_else(|| {
        failure(
            f,
            format!("the first argument must be an array, not {value}"),
        )
    })
}

fn integer(f: Func, value: &Value, what: &str) -> Result<i64, TaskFailure> {
    let n = value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| x as i64)
    });
    n.ok_or_else(|| failure(f, format!("{what} must be an integer, not {value}")))
}

/// Standard base64 with padding, as Step Functions decodes it; what is
/// wrong with text that is not.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::DecodeError;
    STANDARD.decode(text).map_err(|e| {
        let why = match e {
            DecodeError::InvalidByte(_, b'=') => "misplaced `=`".to_owned(),
            DecodeError::InvalidByte(offset, byte) => {
                format!("`{}` at offset {offset}", char::from(byte))
            }
            DecodeError::InvalidLength(_) => "its length is not a multiple of 4".to_owned(),
            DecodeError::InvalidLastSymbol(offset, byte) => format!(
                "`{}` at offset {offset} ends it with bits that are not zero",
                char::from(byte)
            ),
            DecodeError::InvalidPadding => "its `=` padding is missing or wrong".to_owned(),
        };
        format!("the argument is not base64: {why}")
    })
}

#[cfg(test)]
mod tests;

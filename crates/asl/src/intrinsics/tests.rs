//! The intrinsic functions: their results, their refusals and their errors.

use serde_json::json;

use super::*;

fn eval(text: &str, input: Value) -> Result<Value, TaskFailure> {
    Call::parse(text)
        .unwrap_or_else(|p| panic!("{text}: {p:?}"))
        .eval(&input, &json!({"Execution": {"Name": "exec-1"}}))
}

fn ok(text: &str, input: Value) -> Value {
    eval(text, input).unwrap_or_else(|f| panic!("{text}: {f}"))
}

fn cause(text: &str, input: Value) -> String {
    let f = eval(text, input).unwrap_err();
    assert_eq!(f.error, "States.IntrinsicFailure", "{text}");
    f.cause
}

#[test]
fn format_fills_placeholders_and_keeps_escaped_braces() {
    assert_eq!(
        ok(
            "States.Format('Hello, my name is {}.', $.name)",
            json!({"name": "Arnav"})
        ),
        json!("Hello, my name is Arnav.")
    );
    assert_eq!(
        ok(
            r"States.Format('{} \{literal\} {} {} it\'s {}', 1.5, true, null, $$.Execution.Name)",
            json!({})
        ),
        json!("1.5 {literal} true null it's exec-1")
    );
    assert_eq!(
        ok("States.Format($.t, 'x')", json!({"t": "<{}>"})),
        json!("<x>")
    );
    assert_eq!(
        cause("States.Format('{} {}', 1)", json!({})),
        "States.Format: the template has more `{}` than there are arguments"
    );
    assert_eq!(
        cause("States.Format('{}', 1, 2)", json!({})),
        "States.Format: there are more arguments than `{}` in the template"
    );
    assert_eq!(
        cause("States.Format('{}', $.o)", json!({"o": {}})),
        "States.Format: only strings, numbers, booleans and null can be formatted"
    );
}

#[test]
fn json_conversions() {
    assert_eq!(
        ok(
            "States.StringToJson($.s)",
            json!({"s": "{\"foo\": \"bar\"}"})
        ),
        json!({"foo": "bar"})
    );
    assert_eq!(
        ok("States.JsonToString($.o)", json!({"o": {"foo": "bar"}})),
        json!("{\"foo\":\"bar\"}")
    );
    assert!(cause("States.StringToJson('{')", json!({}))
        .starts_with("States.StringToJson: the argument is not JSON"));
}

#[test]
fn arrays() {
    assert_eq!(
        ok(
            "States.Array('Foo', 2020, $.j, null)",
            json!({"j": {"a": 1}})
        ),
        json!(["Foo", 2020, {"a": 1}, null])
    );
    assert_eq!(ok("States.Array()", json!({})), json!([]));
    assert_eq!(
        ok(
            "States.ArrayPartition($.a, 4)",
            json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
        ),
        json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
    );
    assert_eq!(
        ok(
            "States.ArrayContains($.a, $.v)",
            json!({"a": [1, {"x": 2}], "v": {"x": 2}})
        ),
        json!(true)
    );
    assert_eq!(
        ok("States.ArrayContains($.a, 3)", json!({"a": [1, 2]})),
        json!(false)
    );
    assert_eq!(
        ok("States.ArrayRange(1, 9, 2)", json!({})),
        json!([1, 3, 5, 7, 9])
    );
    assert_eq!(
        ok("States.ArrayRange(10, 0, -5)", json!({})),
        json!([10, 5, 0])
    );
    assert_eq!(ok("States.ArrayRange(0, 3, -1)", json!({})), json!([]));
    assert_eq!(
        ok(
            "States.ArrayGetItem($.a, $.i)",
            json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9], "i": 5})
        ),
        json!(6)
    );
    assert_eq!(
        ok("States.ArrayLength($.a)", json!({"a": [1, 2, 3]})),
        json!(3)
    );
    assert_eq!(
        ok(
            "States.ArrayUnique($.a)",
            json!({"a": [1, 2, 3, 3, 3, 3, 3, 3, 4]})
        ),
        json!([1, 2, 3, 4])
    );
    assert_eq!(
        cause("States.ArrayGetItem($.a, 3)", json!({"a": [1]})),
        "States.ArrayGetItem: index 3 is outside an array of 1"
    );
    assert_eq!(
        cause("States.ArrayRange(0, 5000, 1)", json!({})),
        "States.ArrayRange: the range has 5001 items, more than 1000"
    );
    assert_eq!(
        cause("States.ArrayRange(0, 5, 0)", json!({})),
        "States.ArrayRange: the step must not be 0"
    );
    assert_eq!(
        cause("States.ArrayPartition($.a, 0)", json!({"a": []})),
        "States.ArrayPartition: the chunk size must be a positive integer"
    );
    assert_eq!(
        cause("States.ArrayLength($.s)", json!({"s": "x"})),
        "States.ArrayLength: the first argument must be an array, not \"x\""
    );
}

#[test]
fn json_merge_is_shallow_only() {
    let input = json!({"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}});
    assert_eq!(
        ok("States.JsonMerge($.json1, $.json2, false)", input.clone()),
        json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
    );
    assert_eq!(
        cause("States.JsonMerge($.json1, $.json2, true)", input),
        "States.JsonMerge: deep merging is not supported; the third argument must be false"
    );
}

#[test]
fn math_and_strings() {
    assert_eq!(
        ok("States.MathAdd($.v, $.step)", json!({"v": 111, "step": -1})),
        json!(110)
    );
    assert_eq!(
        cause("States.MathAdd(1.5, 1)", json!({})),
        "States.MathAdd: the first argument must be an integer, not 1.5"
    );
    assert_eq!(
        ok("States.StringSplit($.s, ',')", json!({"s": "1,2,3,4,5"})),
        json!(["1", "2", "3", "4", "5"])
    );
    assert_eq!(
        ok(
            "States.StringSplit('This.is+a,test=string', '.+,=')",
            json!({})
        ),
        json!(["This", "is", "a", "test", "string"])
    );
    assert_eq!(
        ok("States.Base64Encode('Data to encode')", json!({})),
        json!("RGF0YSB0byBlbmNvZGU=")
    );
    assert_eq!(
        ok("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
        json!("Data to encode")
    );
    for text in ["", "a", "ab", "abc", "abcd", "é€😀"] {
        assert_eq!(
            ok(
                "States.Base64Decode(States.Base64Encode($.t))",
                json!({"t": text})
            ),
            json!(text)
        );
    }
    for (text, why) in [
        ("@@@@", "`@` at offset 0"),
        ("YWJjZ", "its length is not a multiple of 4"),
        ("YW=j", "misplaced `=`"),
        ("YWJj=", "misplaced `=`"),
        ("YQ", "its `=` padding is missing or wrong"),
        (
            "YR==",
            "`R` at offset 1 ends it with bits that are not zero",
        ),
    ] {
        assert_eq!(
            cause(&format!("States.Base64Decode('{text}')"), json!({})),
            format!("States.Base64Decode: the argument is not base64: {why}"),
            "{text}"
        );
    }
    assert_eq!(
        cause("States.Base64Decode('/w==')", json!({})),
        "States.Base64Decode: the decoded bytes are not UTF-8 text"
    );
}

#[test]
fn calls_nest_and_take_paths_with_commas_and_parentheses() {
    assert_eq!(
        ok(
            "States.ArrayLength(States.Array(States.MathAdd(1, 2), $.a['x,y'], $.l[?(@ > 1)]))",
            json!({"a": {"x,y": 1}, "l": [1, 2, 3]})
        ),
        json!(3)
    );
    assert_eq!(
        ok(" States.JsonToString( $.a ) ", json!({"a": [1]})),
        json!("[1]")
    );
    assert_eq!(
        cause("States.ArrayLength($.missing)", json!({})),
        "States.ArrayLength: the path `$.missing` matched nothing"
    );
}

#[test]
fn malformed_calls_are_definition_problems() {
    let message = |text: &str| Call::parse(text).unwrap_err().message;
    assert_eq!(
        message("States.Nope(1)"),
        "`States.Nope` is not an intrinsic function"
    );
    assert_eq!(
        message("States.ArrayLength(1, 2)"),
        "`States.ArrayLength` takes 1 argument(s), 2 given"
    );
    assert_eq!(
        message("States.Format()"),
        "`States.Format` takes at least 1 argument(s), 0 given"
    );
    assert_eq!(
        message("States.Array('a'"),
        "in `States.Array('a'` at character 17: expected `,` or `)`"
    );
    assert_eq!(
        message("States.Array('a) "),
        "in `States.Array('a) ` at character 18: the string is not closed"
    );
    assert_eq!(
        message("States.Array(1) x"),
        "in `States.Array(1) x` at character 17: unexpected text after the call"
    );
    assert_eq!(message("States.Array(nope)"), "in `States.Array(nope)` at character 14: expected a string, a number, true, false, null, a path or a call");
    assert!(
        Call::parse("States.MathRandom(1, 9)")
            .unwrap_err()
            .unsupported
    );
}

#[test]
fn uuid_is_a_version_4_uuid_each_time_another() {
    let a = ok("States.UUID()", json!({}));
    let b = ok("States.UUID()", json!({}));
    assert_ne!(a, b);
    for text in [a.as_str().unwrap(), &uuid_v4(u128::MAX), &uuid_v4(0)] {
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{text}"
        );
        assert!(text
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert!(groups[2].starts_with('4'), "version 4: {text}");
        assert!(
            matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')),
            "variant 10: {text}"
        );
    }
    assert_eq!(uuid_v4(0), "00000000-0000-4000-8000-000000000000");
}

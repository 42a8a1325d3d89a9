//! RFC 8785 (JSON Canonicalization Scheme) for audit data: object keys
//! sorted by their UTF-16 code units, no insignificant whitespace, strings
//! escaped as ECMAScript does. Audit data never holds floating-point
//! numbers, so every number is an integer written in plain decimal; a
//! float is refused rather than given an ambiguous form.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    #[error("audit data may not hold floating-point numbers (found {0})")]
    Float(String),
}

/// The canonical text of `value`.
pub fn to_canonical_string(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Appends the canonical text of `value` to `out`.
pub fn write_value(value: &Value, out: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(CanonicalError::Float(n.to_string()));
            }
            out.push_str(&n.to_string());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// ECMAScript `JSON.stringify` escaping: `"` and `\`, the short escapes
/// `\b \t \n \f \r`, other control characters as `\u00xx` (lowercase hex),
/// everything else as is.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sort_by_utf16_code_units_as_in_rfc_8785() {
        // RFC 8785 section 3.2.3: the emoji (a surrogate pair starting
        // 0xD83D) sorts before U+FB33 although its code point is larger.
        let value: Value = serde_json::from_str(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        )
        .expect("valid JSON");
        let text = to_canonical_string(&value).expect("canonical");
        let order: Vec<&str> = [
            "\\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}",
        ]
        .to_vec();
        let positions: Vec<usize> = order
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).expect("key present"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn whitespace_is_dropped_and_nesting_sorted() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": "x"});
        assert_eq!(
            to_canonical_string(&value).expect("canonical"),
            r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn strings_are_escaped_like_ecmascript() {
        let value = json!("q\"b\\\u{8}\t\n\u{c}\r\u{1}\u{1f}/é\u{2028}");
        assert_eq!(
            to_canonical_string(&value).expect("canonical"),
            "\"q\\\"b\\\\\\b\\t\\n\\f\\r\\u0001\\u001f/é\u{2028}\""
        );
    }

    #[test]
    fn integers_are_plain_and_floats_refused() {
        assert_eq!(
            to_canonical_string(&json!([-5, 0, 9007199254740993u64])).expect("canonical"),
            "[-5,0,9007199254740993]"
        );
        assert!(matches!(
            to_canonical_string(&json!({"x": 1.5})),
            Err(CanonicalError::Float(_))
        ));
    }
}

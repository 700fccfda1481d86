//! Literal values in HCL (Terraform) and Bicep syntax, the `hcl` and
//! `bicep` tera filters, and `terraform fmt`'s alignment of `=` signs so the
//! rendered Terraform is already in canonical format.
//!
//! A JSON object `{"$expr": "..."}` stands for a raw expression (a
//! reference or function call) and is written as is.

use std::collections::HashMap;

use serde_json::Value;

/// Key of a raw-expression marker object.
pub const EXPR: &str = "$expr";

/// A raw expression, for contexts built in Rust.
pub fn expr(e: impl Into<String>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(EXPR.into(), Value::String(e.into()));
    Value::Object(m)
}

fn raw(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() == 1 {
        o.get(EXPR)?.as_str()
    } else {
        None
    }
}

fn number(n: &serde_json::Number) -> Option<String> {
    if let Some(i) = n.as_i64() {
        return Some(i.to_string());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.to_string());
    }
    let f = n.as_f64()?;
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Some(format!("{}", f as i64))
    } else {
        None
    }
}

/// An HCL quoted string: escapes, and `${`/`%{` doubled so Terraform does
/// not read them as template sequences.
pub fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn hcl_key(k: &str) -> String {
    let ident = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(k, "true" | "false" | "null" | "for" | "in" | "if");
    if ident {
        k.to_string()
    } else {
        hcl_string(k)
    }
}

/// `v` as an HCL expression; nested lines are indented by `indent` spaces
/// plus two per level.
pub fn hcl(v: &Value, indent: usize) -> String {
    if let Some(e) = raw(v) {
        return e.to_string();
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n).unwrap_or_else(|| n.to_string()),
        Value::String(s) => hcl_string(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Array(a) => {
            if a.iter()
                .all(|x| !x.is_object() && !x.is_array() || raw(x).is_some())
            {
                let items: Vec<String> = a.iter().map(|x| hcl(x, indent)).collect();
                return format!("[{}]", items.join(", "));
            }
            block(
                '[',
                ']',
                a.iter().map(|x| format!("{},", hcl(x, indent + 2))),
                indent,
            )
        }
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Object(o) => {
            let items = o
                .iter()
                .map(|(k, x)| format!("{} = {}", hcl_key(k), hcl(x, indent + 2)));
            block('{', '}', items, indent)
        }
    }
}

/// `open`, then each item on its own line two spaces deeper than `indent`,
/// then `close` at `indent`: the multi-line layout HCL and Bicep share.
fn block(open: char, close: char, items: impl Iterator<Item = String>, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let mut out = format!("{open}\n");
    for item in items {
        out.push_str(&pad);
        out.push_str(&item);
        out.push('\n');
    }
    out.push_str(&" ".repeat(indent));
    out.push(close);
    out
}

/// A Bicep single-quoted string.
pub fn bicep_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn bicep_key(k: &str) -> String {
    let ident = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        k.to_string()
    } else {
        bicep_string(k)
    }
}

/// `v` as a Bicep expression. Bicep has no fractional literals, so those
/// become `json('12.5')`.
pub fn bicep(v: &Value, indent: usize) -> String {
    if let Some(e) = raw(v) {
        return e.to_string();
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n).unwrap_or_else(|| format!("json('{n}')")),
        Value::String(s) => bicep_string(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Array(a) => block('[', ']', a.iter().map(|x| bicep(x, indent + 2)), indent),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Object(o) => {
            let items = o
                .iter()
                .map(|(k, x)| format!("{}: {}", bicep_key(k), bicep(x, indent + 2)));
            block('{', '}', items, indent)
        }
    }
}

fn indent_arg(args: &HashMap<String, tera::Value>) -> usize {
    args.get("indent")
        .and_then(tera::Value::as_u64)
        .unwrap_or(0) as usize
}

/// Registers `hcl`, `bicep`, `hcl_key`, `bicep_key` and the `expr` function.
pub fn register(tera: &mut tera::Tera) {
    tera.register_filter(
        "hcl",
        |v: &tera::Value, args: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(hcl(v, indent_arg(args))))
        },
    );
    tera.register_filter(
        "bicep",
        |v: &tera::Value, args: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(bicep(v, indent_arg(args))))
        },
    );
    tera.register_filter(
        "hcl_key",
        |v: &tera::Value, _: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(hcl_key(v.as_str().unwrap_or_default())))
        },
    );
    tera.register_filter(
        "bicep_key",
        |v: &tera::Value, _: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(bicep_key(
                v.as_str().unwrap_or_default(),
            )))
        },
    );
}

/// Splits an HCL line at its attribute `=` the way `terraform fmt` does: the
/// `=` must follow at least one token, not be part of `==`/`=>`/`<=`/`>=`/
/// `!=`, and the rest of the line must close every bracket it opens.
/// Returns the byte offset of the `=` and whether it is a single-line
/// attribute (the others still get exactly one space around `=`).
fn split_at_equals(line: &str) -> Option<(usize, bool)> {
    let b = line.as_bytes();
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with("//") || trimmed.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut in_str = false;
    let mut eq = None;
    let mut seen_token = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => {
                    in_str = true;
                    seen_token = true;
                }
                b'=' => {
                    let prev = if i > 0 { b[i - 1] } else { b' ' };
                    let next = b.get(i + 1).copied().unwrap_or(b' ');
                    if !matches!(prev, b'=' | b'!' | b'<' | b'>') && !matches!(next, b'=' | b'>') {
                        if seen_token {
                            eq = Some(i);
                        }
                        break;
                    }
                }
                b' ' | b'\t' => {}
                _ => seen_token = true,
            }
        }
        i += 1;
    }
    let eq = eq?;
    // Net bracket change of the right-hand side, strings skipped.
    let mut net = 0i32;
    let mut in_str = false;
    let mut j = eq + 1;
    while j < b.len() {
        let c = b[j];
        if in_str {
            match c {
                b'\\' => j += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' | b'(' => net += 1,
                b'}' | b']' | b')' => net -= 1,
                b'#' => break,
                _ => {}
            }
        }
        j += 1;
    }
    Some((eq, net == 0))
}

#[cfg(test)]
fn assign_at(line: &str) -> Option<usize> {
    split_at_equals(line).and_then(|(eq, single)| single.then_some(eq))
}

/// Aligns the `=` of consecutive single-line attributes, as `terraform fmt`
/// does (a line without such an attribute ends the group).
pub fn align_hcl(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut group: Vec<(String, String)> = Vec::new();
    let flush = |group: &mut Vec<(String, String)>, out: &mut Vec<String>| {
        let width = group.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (lead, assign) in group.drain(..) {
            out.push(format!("{lead:<width$} {assign}"));
        }
    };
    for line in lines {
        match split_at_equals(line) {
            Some((eq, false)) => {
                flush(&mut group, &mut out);
                let lead = line[..eq].trim_end();
                out.push(format!("{lead} = {}", line[eq + 1..].trim_start()));
            }
            Some((eq, true)) => {
                let lead = line[..eq].trim_end().to_string();
                let rest = line[eq + 1..].trim_start();
                let assign = if rest.is_empty() {
                    "=".to_string()
                } else {
                    format!("= {rest}")
                };
                group.push((lead, assign));
            }
            None => {
                flush(&mut group, &mut out);
                out.push(line.to_string());
            }
        }
    }
    flush(&mut group, &mut out);
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hcl_strings_escape_template_sequences() {
        assert_eq!(hcl_string("a${b}%{c}\"\\"), r#""a$${b}%%{c}\"\\""#);
        assert_eq!(hcl_string("{{named-value}}"), r#""{{named-value}}""#);
    }

    #[test]
    fn hcl_values() {
        let v = json!({"name": "x", "eastus/gpt-4o": {"capacity": 5.0, "list": ["a", "b"]}, "r": expr("var.x")});
        assert_eq!(
            hcl(&v, 2),
            "{\n    name = \"x\"\n    \"eastus/gpt-4o\" = {\n      capacity = 5\n      list = [\"a\", \"b\"]\n    }\n    r = var.x\n  }"
        );
        assert_eq!(hcl(&json!(12.5), 0), "12.5");
        assert_eq!(hcl(&json!([{"a": 1}]), 0), "[\n  {\n    a = 1\n  },\n]");
    }

    #[test]
    fn bicep_values() {
        assert_eq!(bicep_string("it's ${x}"), r"'it\'s \${x}'");
        assert_eq!(
            bicep(&json!({"a-b": [1, 2.5], "c": true}), 0),
            "{\n  'a-b': [\n    1\n    json('2.5')\n  ]\n  c: true\n}"
        );
    }

    #[test]
    fn alignment_follows_terraform_fmt() {
        let src = "resource \"x\" \"y\" {\n  name = \"x\"\n  location = \"y\"\n  tags = {\n    a = \"1\"\n    bbb = \"2\"\n  }\n  for_each = { for k, v in x : k => v }\n  ok = a == b\n}\n";
        let want = "resource \"x\" \"y\" {\n  name     = \"x\"\n  location = \"y\"\n  tags = {\n    a   = \"1\"\n    bbb = \"2\"\n  }\n  for_each = { for k, v in x : k => v }\n  ok       = a == b\n}\n";
        assert_eq!(align_hcl(src), want);
        // `=` inside strings is not an assignment; a lone `x = [` opens a block.
        assert_eq!(assign_at("  a = \"b=c\""), Some(4));
        assert_eq!(assign_at("  list = ["), None);
        assert_eq!(assign_at("  # a = b"), None);
    }
}

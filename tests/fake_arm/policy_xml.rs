//! APIM policy documents as API Management stores and exports them.
//!
//! A PUT is parsed as XML: `rawxml` first has its policy expressions
//! (`@(...)`, `@{...}`) XML-encoded, since that format carries them verbatim
//! (C# with `<`, `&&` and quotes inside); `xml` must already be well-formed.
//! A malformed document is rejected, as APIM does.
//!
//! A GET answers with the document re-written by an XML writer, not as it was
//! sent (azure-rest-api-specs 2024-05-01 examples ApiManagementGetApiPolicy,
//! ApiManagementGetPolicyFormat, ApiManagementCreateApiPolicyNonXmlEncoded;
//! round-trip reports azure-rest-api-specs#21835 and #25306; azurerm#11230):
//! tab indentation, CRLF line ends, double-quoted attributes, `<x />` for
//! empty elements, the XML declaration gone, comments kept. With
//! `format=xml` (the default) everything is XML-encoded: `&lt;`, `&gt;`,
//! `&amp;`, `&quot;` and `&#xA;` for a line break inside an attribute; with
//! `format=rawxml` expressions come back verbatim.

use roxmltree::{Document, Node, NodeType};

/// The two export formats of a policy GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    Xml,
    RawXml,
}

/// Parses a policy body of the given PUT `format` (`xml` or `rawxml`):
/// why APIM would reject it, if it would.
pub fn store(value: &str, format: &str) -> Result<(), String> {
    let text = encode_for_parse(value, format)?;
    let doc =
        Document::parse(&text).map_err(|e| format!("the policy is not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "policies" {
        return Err(format!(
            "the root element must be <policies>, not <{}>",
            root.tag_name().name()
        ));
    }
    Ok(())
}

/// The stored document as a GET in `export` returns it. One that does not
/// parse (written with `FakeArm::edit`, past the PUT checks) comes back as
/// stored.
pub fn export(value: &str, format: &str, export: Export) -> String {
    let Ok(text) = encode_for_parse(value, format) else {
        return value.to_string();
    };
    let Ok(doc) = Document::parse(&text) else {
        return value.to_string();
    };
    let mut out = String::new();
    for n in doc.root().children() {
        write_node(n, 0, export, &mut out);
    }
    out.trim_end_matches("\r\n").to_string()
}

fn encode_for_parse(value: &str, format: &str) -> Result<String, String> {
    match format {
        "rawxml" => encode_expressions(value),
        "xml" => Ok(value.to_string()),
        other => Err(format!("unsupported policy format {other:?}")),
    }
}

fn is_expression(s: &str) -> bool {
    s.starts_with("@(") || s.starts_with("@{")
}

fn escape_attr(v: &str, export: Export) -> String {
    if export == Export::RawXml && is_expression(v) {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
    out
}

fn escape_text(v: &str, export: Export) -> String {
    if export == Export::RawXml && is_expression(v.trim_start()) {
        return v.to_string();
    }
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
}

fn write_node(n: Node, depth: usize, export: Export, out: &mut String) {
    let indent = "\t".repeat(depth);
    match n.node_type() {
        NodeType::Comment => {
            out.push_str(&format!(
                "{indent}<!--{}-->\r\n",
                n.text().unwrap_or_default()
            ));
        }
        NodeType::Element => {
            out.push_str(&indent);
            out.push('<');
            out.push_str(n.tag_name().name());
            for a in n.attributes() {
                out.push_str(&format!(
                    " {}=\"{}\"",
                    a.name(),
                    escape_attr(a.value(), export)
                ));
            }
            let children: Vec<Node> = n
                .children()
                .filter(|c| !(c.is_text() && c.text().unwrap_or_default().trim().is_empty()))
                .collect();
            if children.is_empty() {
                out.push_str(" />\r\n");
            } else if children.iter().all(Node::is_text) {
                // Text content is kept as it is, with its own line breaks.
                out.push('>');
                for c in &children {
                    out.push_str(&escape_text(c.text().unwrap_or_default(), export));
                }
                out.push_str(&format!("</{}>\r\n", n.tag_name().name()));
            } else {
                out.push_str(">\r\n");
                for c in children {
                    if c.is_text() {
                        out.push_str(&format!(
                            "{indent}\t{}\r\n",
                            escape_text(c.text().unwrap_or_default().trim(), export)
                        ));
                    } else {
                        write_node(c, depth + 1, export, out);
                    }
                }
                out.push_str(&format!("{indent}</{}>\r\n", n.tag_name().name()));
            }
        }
        _ => {}
    }
}

/// `rawxml` → XML: the policy expressions of attribute values and text,
/// found by balancing their brackets (C# strings, chars and comments
/// skipped), with `&`, `<`, `>` and quotes encoded, and line breaks inside
/// attribute expressions kept.
fn encode_expressions(raw: &str) -> Result<String, String> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len() + 64);
    let mut i = 0;
    let mut in_tag = false;
    while i < chars.len() {
        let c = chars[i];
        if !in_tag && starts_with(&chars, i, "<!--") {
            let end = find(&chars, i + 4, "-->").ok_or("a comment is not closed")?;
            out.extend(&chars[i..end + 3]);
            i = end + 3;
            continue;
        }
        if !in_tag && starts_with(&chars, i, "<![CDATA[") {
            let end = find(&chars, i, "]]>").ok_or("a CDATA section is not closed")?;
            out.extend(&chars[i..end + 3]);
            i = end + 3;
            continue;
        }
        if in_tag && (c == '"' || c == '\'') {
            // An attribute value.
            out.push(c);
            i += 1;
            if chars.get(i) == Some(&'@') && matches!(chars.get(i + 1), Some('(') | Some('{')) {
                let end = expression_end(&chars, i + 1)?;
                out.push_str(&encode(&chars[i..end], Some(c)));
                i = end;
            }
            while i < chars.len() && chars[i] != c {
                out.push(chars[i]);
                i += 1;
            }
            if i == chars.len() {
                return Err("an attribute value is not closed".into());
            }
            out.push(c);
            i += 1;
            continue;
        }
        if !in_tag && c == '@' && matches!(chars.get(i + 1), Some('(') | Some('{')) {
            let end = expression_end(&chars, i + 1)?;
            out.push_str(&encode(&chars[i..end], None));
            i = end;
            continue;
        }
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn starts_with(chars: &[char], i: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

fn find(chars: &[char], from: usize, s: &str) -> Option<usize> {
    (from..chars.len()).find(|&i| starts_with(chars, i, s))
}

fn encode(expr: &[char], quote: Option<char>) -> String {
    let mut out = String::new();
    for &c in expr {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quote == Some('"') => out.push_str("&quot;"),
            '\'' if quote == Some('\'') => out.push_str("&apos;"),
            // Kept as line breaks, not turned into spaces as XML would
            // (azure-rest-api-specs#25306: they come back as `&#xA;`).
            '\n' if quote.is_some() => out.push_str("&#xA;"),
            '\r' if quote.is_some() => out.push_str("&#xD;"),
            '\t' if quote.is_some() => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
    out
}

/// Index just past the bracket that closes the one at `open`.
fn expression_end(chars: &[char], open: usize) -> Result<usize, String> {
    let (o, cl) = if chars[open] == '(' {
        ('(', ')')
    } else {
        ('{', '}')
    };
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i = find(chars, i + 2, "*/").ok_or("a comment in an expression is not closed")? + 2;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            i = find(chars, i, "\n").unwrap_or(chars.len());
            continue;
        }
        if c == '"' || c == '\'' {
            let verbatim = c == '"' && i > 0 && chars[i - 1] == '@';
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && !verbatim {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == o {
            depth += 1;
        } else if c == cl {
            depth -= 1;
            if depth == 0 {
                return Ok(i + 1);
            }
        }
        i += 1;
    }
    Err("a policy expression is not closed".into())
}

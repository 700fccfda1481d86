//! Policy documents compared the way API Management stores them.
//!
//! APIM does not hand back the policy it was sent: it re-writes it with an
//! XML writer (its own indentation and line ends, double-quoted attributes,
//! `<x />`, no XML declaration) and, unless asked for `format=rawxml`,
//! XML-encodes what the `rawxml` format carries verbatim (policy
//! expressions with `"`, `<`, `&&`; line breaks in attributes as `&#xA;`).
//! So two documents are the same policy when they have the same elements,
//! attributes and text once those differences are taken out.
//!
//! The reader accepts both formats: a policy expression (`@(...)` or
//! `@{...}` at the start of an attribute value or in text) is read up to its
//! closing bracket, C# strings, characters and comments included, whatever
//! it contains.

/// One piece of a policy document once APIM's re-writing is taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An element with its attributes, decoded.
    Open(String, Vec<(String, String)>),
    Close(String),
    /// Text that is not only layout, decoded, each line trimmed (an XML
    /// writer re-indents; C# ignores it).
    Text(String),
}

/// Whether `a` and `b` are the same policy (see the module comment).
/// Documents that cannot be read compare as text with normalised line ends.
pub fn same_policy(a: &str, b: &str) -> bool {
    match (tokens(a), tokens(b)) {
        (Some(x), Some(y)) => comparable(x) == comparable(y),
        _ => a.replace("\r\n", "\n").trim() == b.replace("\r\n", "\n").trim(),
    }
}

/// Attributes sorted, their values with every run of whitespace as one
/// space: an XML parser turns the line breaks and tabs of an attribute into
/// spaces, so a document read that way is still the same policy.
fn comparable(tokens: Vec<Token>) -> Vec<Token> {
    tokens
        .into_iter()
        .map(|t| match t {
            Token::Open(name, attributes) => {
                let mut attributes: Vec<(String, String)> = attributes
                    .into_iter()
                    .map(|(k, v)| (k, v.split_whitespace().collect::<Vec<_>>().join(" ")))
                    .collect();
                // Their order carries no meaning in XML.
                attributes.sort();
                Token::Open(name, attributes)
            }
            other => other,
        })
        .collect()
}

/// The document in one layout, whatever layout and encoding it came in, so
/// that a line diff of two documents shows only what changed: two spaces
/// per level, double quotes, comments left out. `None` when it cannot be
/// read.
pub fn pretty(xml: &str) -> Option<String> {
    let tokens = tokens(xml)?;
    let mut out = String::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let pad = "  ".repeat(depth);
        match &tokens[i] {
            Token::Open(name, attributes) => {
                out.push_str(&format!("{pad}<{name}"));
                for (k, v) in attributes {
                    out.push_str(&format!(
                        " {k}=\"{}\"",
                        v.replace('\n', &format!("\n{pad}  "))
                    ));
                }
                match (tokens.get(i + 1), tokens.get(i + 2)) {
                    (Some(Token::Close(_)), _) => {
                        out.push_str(" />\n");
                        i += 1;
                    }
                    (Some(Token::Text(t)), Some(Token::Close(_))) if !t.contains('\n') => {
                        out.push_str(&format!(">{t}</{name}>\n"));
                        i += 2;
                    }
                    _ => {
                        out.push_str(">\n");
                        depth += 1;
                    }
                }
            }
            Token::Close(name) => {
                depth = depth.saturating_sub(1);
                out.push_str(&format!("{}</{name}>\n", "  ".repeat(depth)));
            }
            Token::Text(t) => {
                for line in t.lines() {
                    out.push_str(&format!("{pad}{line}\n"));
                }
            }
        }
        i += 1;
    }
    Some(out)
}

fn tokens(xml: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = xml.chars().collect();
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if at(&chars, i, "<!--") {
            i = find(&chars, i + 4, "-->")? + 3;
        } else if at(&chars, i, "<?") {
            i = find(&chars, i + 2, "?>")? + 2;
        } else if at(&chars, i, "<![CDATA[") {
            let end = find(&chars, i + 9, "]]>")?;
            push_text(&mut out, &chars[i + 9..end].iter().collect::<String>());
            i = end + 3;
        } else if at(&chars, i, "</") {
            let end = find(&chars, i, ">")?;
            let name: String = chars[i + 2..end].iter().collect();
            let name = name.trim().to_string();
            if open.pop()? != name {
                return None;
            }
            out.push(Token::Close(name));
            i = end + 1;
        } else if chars[i] == '<' {
            i = read_element(&chars, i + 1, &mut out, &mut open)?;
        } else {
            let start = i;
            while i < chars.len() && chars[i] != '<' {
                if chars[i] == '@' && matches!(chars.get(i + 1), Some('(' | '{')) {
                    i = expression_end(&chars, i + 1)?;
                } else {
                    i += 1;
                }
            }
            let text: String = chars[start..i].iter().collect();
            push_text(&mut out, &decode(&text));
        }
    }
    open.is_empty().then_some(out)
}

/// A start tag from just after `<`; returns the index after its `>`.
fn read_element(
    chars: &[char],
    mut i: usize,
    out: &mut Vec<Token>,
    open: &mut Vec<String>,
) -> Option<usize> {
    let start = i;
    while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '/' | '>') {
        i += 1;
    }
    let name: String = chars[start..i].iter().collect();
    if name.is_empty() {
        return None;
    }
    let mut attributes = Vec::new();
    loop {
        while chars.get(i)?.is_whitespace() {
            i += 1;
        }
        match chars[i] {
            '>' => {
                out.push(Token::Open(name.clone(), attributes));
                open.push(name);
                return Some(i + 1);
            }
            '/' if chars.get(i + 1) == Some(&'>') => {
                out.push(Token::Open(name.clone(), attributes));
                out.push(Token::Close(name));
                return Some(i + 2);
            }
            _ => {}
        }
        let key_start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' {
            i += 1;
        }
        let key: String = chars[key_start..i].iter().collect();
        while chars.get(i)?.is_whitespace() {
            i += 1;
        }
        if chars[i] != '=' {
            return None;
        }
        i += 1;
        while chars.get(i)?.is_whitespace() {
            i += 1;
        }
        let quote = *chars.get(i)?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        i += 1;
        let value_start = i;
        if chars.get(i) == Some(&'@') && matches!(chars.get(i + 1), Some('(' | '{')) {
            i = expression_end(chars, i + 1)?;
        }
        while *chars.get(i)? != quote {
            i += 1;
        }
        let value: String = chars[value_start..i].iter().collect();
        attributes.push((key, lines(&decode(&value))));
        i += 1;
    }
}

fn push_text(out: &mut Vec<Token>, text: &str) {
    let t = lines(text);
    if !t.is_empty() {
        out.push(Token::Text(t));
    }
}

fn lines(s: &str) -> String {
    s.replace("\r\n", "\n")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// XML's predefined and numeric character references decoded; an `&` that
/// starts none of them (C#'s `&&` in raw XML) stays as it is.
fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let entity = rest.find(';').filter(|&j| j <= 10).map(|j| &rest[1..j]);
        let decoded = entity.and_then(|e| match e {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let n = e.strip_prefix('#')?;
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => n.parse().ok()?,
                };
                char::from_u32(code)
            }
        });
        match (decoded, entity) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &rest[e.len() + 2..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

fn find(chars: &[char], from: usize, s: &str) -> Option<usize> {
    (from..chars.len()).find(|&i| at(chars, i, s))
}

/// The index after the bracket that closes the one at `open`, skipping C#
/// string and character literals and comments.
fn expression_end(chars: &[char], open: usize) -> Option<usize> {
    let (o, c) = if chars[open] == '(' {
        ('(', ')')
    } else {
        ('{', '}')
    };
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '/' if chars.get(i + 1) == Some(&'*') => {
                i = find(chars, i + 2, "*/")? + 2;
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                i = find(chars, i, "\n").unwrap_or(chars.len());
                continue;
            }
            q @ ('"' | '\'') => {
                let verbatim = q == '"' && i > 0 && chars[i - 1] == '@';
                i += 1;
                while *chars.get(i)? != q {
                    i += if chars[i] == '\\' && !verbatim { 2 } else { 1 };
                }
            }
            x if x == o => depth += 1,
            x if x == c => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As oailb renders it: single-quoted attributes, LF, four spaces.
    const RENDERED: &str = "<!-- generated -->\n<policies>\n    <inbound>\n        <base />\n        <set-variable name=\"x\" value='@{\n            string s = context.Variables.GetValueOrDefault(\"a\", \"\");\n            return s == \"\" ? \"-\" : s;\n        }' />\n        <set-body>@{\n            return \"a\" + \"b\";\n        }</set-body>\n    </inbound>\n</policies>\n";

    #[test]
    fn apim_exports_are_the_same_policy() {
        // format=rawxml: tabs, CRLF, double quotes around verbatim expressions.
        let raw = "<!-- generated -->\r\n<policies>\r\n\t<inbound>\r\n\t\t<base />\r\n\t\t<set-variable name=\"x\" value=\"@{\n            string s = context.Variables.GetValueOrDefault(\"a\", \"\");\n            return s == \"\" ? \"-\" : s;\n        }\" />\r\n\t\t<set-body>@{\n            return \"a\" + \"b\";\n        }</set-body>\r\n\t</inbound>\r\n</policies>";
        // format=xml: everything encoded, line breaks in attributes as &#xA;.
        let xml = "<policies>\r\n\t<inbound>\r\n\t\t<base/>\r\n\t\t<set-variable value=\"@{&#xA;            string s = context.Variables.GetValueOrDefault(&quot;a&quot;, &quot;&quot;);&#xA;            return s == &quot;&quot; ? &quot;-&quot; : s;&#xA;        }\" name=\"x\" />\r\n\t\t<set-body>@{\r\n            return \"a\" + \"b\";\r\n        }</set-body>\r\n\t</inbound>\r\n</policies>";
        assert!(same_policy(RENDERED, raw));
        assert!(same_policy(RENDERED, xml));
        assert!(same_policy(raw, xml));
        // An XML parser's attribute normalisation: line breaks as spaces.
        let (head, tail) = RENDERED.split_once("<set-body>").unwrap();
        let flat = format!("{}<set-body>{tail}", head.replace('\n', " "));
        assert!(same_policy(RENDERED, &flat));
    }

    #[test]
    fn real_changes_are_not_hidden() {
        let changed = [
            RENDERED.replace("\"-\"", "\"+\""),
            RENDERED.replace("name=\"x\"", "name=\"y\""),
            RENDERED.replace("<base />", ""),
            RENDERED.replace("<base />", "<base></base><base />"),
            RENDERED.replace("\"a\" + \"b\"", "\"a\" + \"c\""),
        ];
        for c in &changed {
            assert!(!same_policy(RENDERED, c), "{c}");
        }
    }

    #[test]
    fn raw_expressions_may_hold_markup_characters() {
        let a =
            "<policies><x v=\"@(a < b && c > \"d\")\" /><y>@{ return x<T>(\"}\"); }</y></policies>";
        let b = "<policies><x v=\"@(a &lt; b &amp;&amp; c &gt; &quot;d&quot;)\" /><y>@{ return x&lt;T&gt;(\"}\"); }</y></policies>";
        assert!(tokens(a).is_some());
        assert!(same_policy(a, b));
        assert!(!same_policy(a, &b.replace("&lt; b", "&gt; b")));
    }

    #[test]
    fn unreadable_documents_compare_as_text() {
        assert_eq!(tokens("<policies><inbound></policies>"), None);
        assert_eq!(tokens("<policies v='@(1'/>"), None);
        assert!(same_policy("<a", "<a\r\n"));
        assert!(!same_policy("<a", "<b"));
    }

    #[test]
    fn pretty_is_one_layout_for_every_export() {
        let p = pretty(RENDERED).unwrap();
        assert_eq!(
            p,
            "<policies>\n  <inbound>\n    <base />\n    <set-variable name=\"x\" value=\"@{\n      string s = context.Variables.GetValueOrDefault(\"a\", \"\");\n      return s == \"\" ? \"-\" : s;\n      }\" />\n    <set-body>\n      @{\n      return \"a\" + \"b\";\n      }\n    </set-body>\n  </inbound>\n</policies>\n"
        );
        let crlf = RENDERED.replace('\n', "\r\n").replace("    ", "\t");
        assert_eq!(pretty(&crlf).unwrap(), p);
    }

    #[test]
    fn decode_leaves_stray_ampersands() {
        assert_eq!(
            decode("a && b &lt; c &#x41;&#66; &unknown; &"),
            "a && b < c AB &unknown; &"
        );
    }
}

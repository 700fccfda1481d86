//! Renderers: one module per artifact, all driven by tera templates that are
//! embedded in the binary and can be overridden file by file with
//! `--templates DIR`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use tera::Tera;

pub mod bicep;
pub mod consumers;
pub mod files;
pub mod iac;
pub mod infra;
pub mod policy;
pub mod policy_metrics;
pub mod product_policy;
pub mod syntax;
pub mod terraform;

/// Rendered files: path relative to the output directory → content.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Embedded templates: (name, content). A file `DIR/<name>` passed with
/// `--templates DIR` replaces the embedded one of the same name.
/// Names are paths relative to the repository (`policies/...`, `templates/...`).
const EMBEDDED: &[(&str, &str)] = &[
    (
        "policies/policy-mode.xml.tera",
        include_str!("../../policies/policy-mode.xml.tera"),
    ),
    (
        "policies/pool-mode.xml.tera",
        include_str!("../../policies/pool-mode.xml.tera"),
    ),
    (
        "policies/product.xml.tera",
        include_str!("../../policies/product.xml.tera"),
    ),
    (
        "templates/terraform/versions.tf.tera",
        include_str!("../../templates/terraform/versions.tf.tera"),
    ),
    (
        "templates/terraform/providers.tf.tera",
        include_str!("../../templates/terraform/providers.tf.tera"),
    ),
    (
        "templates/terraform/variables.tf.tera",
        include_str!("../../templates/terraform/variables.tf.tera"),
    ),
    (
        "templates/terraform/main.tf.tera",
        include_str!("../../templates/terraform/main.tf.tera"),
    ),
    (
        "templates/terraform/monitoring.tf.tera",
        include_str!("../../templates/terraform/monitoring.tf.tera"),
    ),
    (
        "templates/terraform/openai.tf.tera",
        include_str!("../../templates/terraform/openai.tf.tera"),
    ),
    (
        "templates/terraform/cache.tf.tera",
        include_str!("../../templates/terraform/cache.tf.tera"),
    ),
    (
        "templates/terraform/apim.tf.tera",
        include_str!("../../templates/terraform/apim.tf.tera"),
    ),
    (
        "templates/terraform/api.tf.tera",
        include_str!("../../templates/terraform/api.tf.tera"),
    ),
    (
        "templates/terraform/consumers.tf.tera",
        include_str!("../../templates/terraform/consumers.tf.tera"),
    ),
    (
        "templates/terraform/outputs.tf.tera",
        include_str!("../../templates/terraform/outputs.tf.tera"),
    ),
    (
        "templates/bicep/main.bicep.tera",
        include_str!("../../templates/bicep/main.bicep.tera"),
    ),
    (
        "templates/bicep/main.bicepparam.tera",
        include_str!("../../templates/bicep/main.bicepparam.tera"),
    ),
    (
        "templates/bicep/modules/monitoring.bicep.tera",
        include_str!("../../templates/bicep/modules/monitoring.bicep.tera"),
    ),
    (
        "templates/bicep/modules/identity.bicep.tera",
        include_str!("../../templates/bicep/modules/identity.bicep.tera"),
    ),
    (
        "templates/bicep/modules/apim.bicep.tera",
        include_str!("../../templates/bicep/modules/apim.bicep.tera"),
    ),
    (
        "templates/bicep/modules/openai-account.bicep.tera",
        include_str!("../../templates/bicep/modules/openai-account.bicep.tera"),
    ),
    (
        "templates/bicep/modules/role-assignment.bicep.tera",
        include_str!("../../templates/bicep/modules/role-assignment.bicep.tera"),
    ),
    (
        "templates/bicep/modules/cache.bicep.tera",
        include_str!("../../templates/bicep/modules/cache.bicep.tera"),
    ),
    (
        "templates/bicep/modules/gateway.bicep.tera",
        include_str!("../../templates/bicep/modules/gateway.bicep.tera"),
    ),
    (
        "templates/bicep/modules/consumers.bicep.tera",
        include_str!("../../templates/bicep/modules/consumers.bicep.tera"),
    ),
];

/// A loaded template set.
pub struct Templates {
    tera: Tera,
}

impl Templates {
    /// The embedded templates, with files from `override_dir` replacing
    /// embedded ones of the same relative name.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_only(override_dir, &[])
    }

    /// Like [`Templates::load`], but parses only the templates named in
    /// `names` (all when empty): a command that renders one template does
    /// not pay for parsing the others.
    pub fn load_only(override_dir: Option<&Path>, names: &[&str]) -> anyhow::Result<Self> {
        let mut sources: Vec<(String, String)> = EMBEDDED
            .iter()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .map(|(n, c)| (n.to_string(), c.to_string()))
            .collect();
        if let Some(dir) = override_dir {
            if !dir.is_dir() {
                anyhow::bail!("template directory {} does not exist", dir.display());
            }
            for (name, content) in sources.iter_mut() {
                let candidate = dir.join(name.as_str());
                if candidate.is_file() {
                    *content = std::fs::read_to_string(&candidate)
                        .with_context(|| format!("cannot read template {}", candidate.display()))?;
                }
            }
        }
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_templates(sources.iter().map(|(n, c)| (n.as_str(), c.as_str())))
            .map_err(|e| anyhow::anyhow!("{}", tera_chain(&e)))?;
        register_helpers(&mut tera);
        Ok(Templates { tera })
    }

    pub fn render(&self, name: &str, ctx: &tera::Context) -> anyhow::Result<String> {
        self.tera
            .render(name, ctx)
            .map_err(|e| anyhow::anyhow!("rendering {name}: {}", tera_chain(&e)))
    }

    /// Names of all templates in the set, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tera.get_template_names().collect();
        v.sort_unstable();
        v
    }
}

/// tera's errors nest the useful part in `source()`.
fn tera_chain(e: &tera::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// Helpers every template can use.
fn register_helpers(tera: &mut Tera) {
    syntax::register(tera);
    // APIM named values are written `{{name}}`, tera's own delimiters:
    // `{{ named_value(name="x") }}` emits them literally.
    tera.register_function("named_value", |args: &HashMap<String, tera::Value>| {
        let name = args
            .get("name")
            .and_then(tera::Value::as_str)
            .ok_or_else(|| tera::Error::msg("named_value needs name=\"...\""))?;
        Ok(tera::Value::String(format!("{{{{{name}}}}}")))
    });
    tera.register_filter(
        "xml",
        |v: &tera::Value, _: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(escape_xml(&filter_text(v)?)))
        },
    );
    tera.register_filter(
        "comment",
        |v: &tera::Value, _: &HashMap<String, tera::Value>| {
            Ok(tera::Value::String(escape_comment(&filter_text(v)?)))
        },
    );
    tera.register_filter("cs", |v: &tera::Value, _: &HashMap<String, tera::Value>| {
        Ok(tera::Value::String(cs_string(&filter_text(v)?)))
    });
}

fn filter_text(v: &tera::Value) -> tera::Result<String> {
    match v {
        tera::Value::String(s) => Ok(s.clone()),
        tera::Value::Number(n) => Ok(n.to_string()),
        tera::Value::Bool(b) => Ok(b.to_string()),
        other => Err(tera::Error::msg(format!("expected text, got {other}"))),
    }
}

/// Text for an XML attribute value or element content: `&`, `<`, `>`, `"`
/// and `'` become entities, so a value can neither end its attribute nor
/// open markup. A leading `@` is written `&#64;` so a literal can never be
/// read as a policy expression, and `{` as `&#123;` so it never starts a
/// named value.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '{' => out.push_str("&#123;"),
            '}' => out.push_str("&#125;"),
            '@' if i == 0 => out.push_str("&#64;"),
            c if c.is_control() => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text inside an XML comment: escaped as [`escape_xml`], and `--`, which
/// would end a comment early or make it invalid, broken up as `- -`.
pub fn escape_comment(s: &str) -> String {
    let mut out = escape_xml(s);
    while out.contains("--") {
        out = out.replace("--", "- -");
    }
    if out.ends_with('-') {
        out.push(' ');
    }
    out
}

/// A C# string literal (with its quotes) for use inside a policy
/// expression. Letters, digits and `-_.:/ |,` stay; everything else becomes a
/// `\uXXXX` escape, so the literal holds no quote, backslash, `&`, `<`, `'`,
/// brace or `@` that XML, APIM or C# could read as syntax.
pub fn cs_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | ' ' | '|' | ',') {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_values_survive_rendering() {
        let mut tera = Tera::default();
        register_helpers(&mut tera);
        tera.add_raw_template(
            "t",
            r#"<set-header name="api-key"><value>{{ named_value(name=nv) }}</value></set-header>"#,
        )
        .unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("nv", "partner-api-key");
        assert_eq!(
            tera.render("t", &ctx).unwrap(),
            r#"<set-header name="api-key"><value>{{partner-api-key}}</value></set-header>"#
        );
    }
}

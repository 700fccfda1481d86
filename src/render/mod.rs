//! Renderers: one module per artifact, all driven by tera templates that are
//! embedded in the binary and can be overridden file by file with
//! `--templates DIR`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use tera::Tera;

/// Embedded templates: (name, content). A file `DIR/<name>` passed with
/// `--templates DIR` replaces the embedded one of the same name.
/// Names are paths relative to the repository (`policies/...`, `templates/...`).
const EMBEDDED: &[(&str, &str)] = &[];

/// A loaded template set.
pub struct Templates {
    tera: Tera,
}

impl Templates {
    /// The embedded templates, with files from `override_dir` replacing
    /// embedded ones of the same relative name.
    pub fn load(override_dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut sources: Vec<(String, String)> = EMBEDDED
            .iter()
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
    // APIM named values are written `{{name}}`, tera's own delimiters:
    // `{{ named_value(name="x") }}` emits them literally.
    tera.register_function("named_value", |args: &HashMap<String, tera::Value>| {
        let name = args
            .get("name")
            .and_then(tera::Value::as_str)
            .ok_or_else(|| tera::Error::msg("named_value needs name=\"...\""))?;
        Ok(tera::Value::String(format!("{{{{{name}}}}}")))
    });
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

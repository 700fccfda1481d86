//! `render terraform|bicep|all`: the desired state as infrastructure code,
//! with the policy of every API and any local OpenAPI file next to it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::files::with_manifest;
use super::infra::Model;
use super::{bicep, terraform, Files, Templates};
use crate::desired::{ApiPolicy, Desired};
use crate::topology::Mode;

/// Bicep's `loadTextContent()` reads files of at most this many characters.
pub const BICEP_LOAD_TEXT_LIMIT: usize = 131_072;

/// What to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Terraform,
    Bicep,
    /// Both, in `terraform/` and `bicep/`.
    All,
}

/// The policy XML of one API: exactly what `oailb render-policy` prints and
/// `oailb deploy` sends.
/// Renders each `(template, file)` of `list` with `ctx`, cleans the text
/// with `tidy`, and prefixes `header`; templates that render to nothing are
/// left out (e.g. monitoring.tf without monitoring).
pub(super) fn render_files(
    list: &[(&str, &str)],
    templates: &Templates,
    ctx: &tera::Context,
    header: &str,
    tidy: impl Fn(&str) -> String,
) -> anyhow::Result<Files> {
    let mut files = BTreeMap::new();
    for (template, file) in list {
        let text = tidy(&templates.render(template, ctx)?);
        if text.is_empty() {
            continue;
        }
        files.insert(file.to_string(), format!("{header}{text}\n").into_bytes());
    }
    Ok(files)
}

pub fn policy_xml(templates: &Templates, policy: &ApiPolicy) -> anyhow::Result<String> {
    super::policy::render(templates, policy)
}

/// Files shared by both outputs: `policies/<api>.xml` and `openapi/<api>.json`.
fn shared_files(
    d: &Desired,
    m: &Model,
    templates: &Templates,
    base_dir: Option<&Path>,
) -> anyhow::Result<Files> {
    let mut files = Files::new();
    for api in &m.apis {
        let policy = d
            .policy(&api.name)
            .with_context(|| format!("no policy for API {}", api.name))?;
        let xml = policy_xml(templates, policy)
            .with_context(|| format!("rendering the policy of API {}", api.name))?;
        files.insert(api.policy_file.clone(), xml.into_bytes());
    }
    if let Some(c) = &m.consumers {
        for p in &c.products {
            let policy = d
                .product_policy(&p.id)
                .with_context(|| format!("no policy for product {}", p.id))?;
            let xml = super::product_policy::render(templates, policy)
                .with_context(|| format!("rendering the policy of product {}", p.id))?;
            files.insert(p.policy_file.clone(), xml.into_bytes());
        }
        if let Some(w) = &c.workbook {
            files.insert(w.file.clone(), w.content.clone().into_bytes());
        }
    }
    for (path, file) in &m.openapi_files {
        let full = match base_dir {
            Some(dir) => dir.join(path),
            None => Path::new(path).to_path_buf(),
        };
        let bytes =
            std::fs::read(&full).with_context(|| format!("cannot read {}", full.display()))?;
        files.insert(format!("openapi/{file}"), bytes);
    }
    Ok(files)
}

/// The parsed templates of one render: the policy's, Terraform's and
/// Bicep's, each its own set so they parse in parallel (parsing is most of a
/// render's time).
pub struct TemplateSets {
    pub policy: Templates,
    pub terraform: Option<Templates>,
    pub bicep: Option<Templates>,
}

impl TemplateSets {
    /// Parses what `target` in `mode` needs.
    pub fn load(
        target: Target,
        mode: Mode,
        override_dir: Option<&Path>,
    ) -> anyhow::Result<TemplateSets> {
        let policy = [
            super::policy::template_name(mode),
            super::product_policy::TEMPLATE,
        ];
        let tf: Vec<&str> = terraform::FILES.iter().map(|(t, _)| *t).collect();
        let bc: Vec<&str> = bicep::FILES.iter().map(|(t, _)| *t).collect();
        let want_tf = target != Target::Bicep;
        let want_bicep = target != Target::Terraform;
        let joined = |h: std::thread::ScopedJoinHandle<'_, anyhow::Result<Templates>>| {
            h.join()
                .map_err(|_| anyhow::anyhow!("parsing templates panicked"))?
        };
        std::thread::scope(|s| {
            let p = s.spawn(|| Templates::load_only(override_dir, &policy));
            let b = want_bicep.then(|| s.spawn(|| Templates::load_only(override_dir, &bc)));
            let terraform = match want_tf {
                true => Some(Templates::load_only(override_dir, &tf)?),
                false => None,
            };
            let bicep = match b {
                Some(h) => Some(joined(h)?),
                None => None,
            };
            Ok(TemplateSets {
                policy: joined(p)?,
                terraform,
                bicep,
            })
        })
    }
}

/// Renders `target` for `d`. `topology_name` appears in file headers;
/// `base_dir` resolves OpenAPI file paths (the topology's directory). The
/// result carries the manifest of every file.
pub fn render(
    target: Target,
    d: &Desired,
    templates: &TemplateSets,
    topology_name: &str,
    base_dir: Option<&Path>,
) -> anyhow::Result<Files> {
    let m = Model::from_desired(d, topology_name)?;
    let shared = shared_files(d, &m, &templates.policy, base_dir)?;
    let with_shared = |mut files: Files| {
        files.extend(shared.iter().map(|(k, v)| (k.clone(), v.clone())));
        files
    };
    let tf = |t: &TemplateSets| match &t.terraform {
        Some(set) => terraform::render(&m, set),
        None => anyhow::bail!("the Terraform templates are not loaded"),
    };
    let bc = |t: &TemplateSets| match &t.bicep {
        Some(set) => bicep::render(&m, set),
        None => anyhow::bail!("the Bicep templates are not loaded"),
    };
    if target != Target::Terraform {
        for (name, bytes) in &shared {
            let chars = String::from_utf8_lossy(bytes).chars().count();
            let loaded = name.starts_with("policies/") || name.starts_with("workbook/");
            if loaded && chars > BICEP_LOAD_TEXT_LIMIT {
                anyhow::bail!(
                    "{name} has {chars} characters; Bicep's loadTextContent() reads at most {BICEP_LOAD_TEXT_LIMIT}: \
                     split the models across several APIs (`apis[].models`), or render Terraform"
                );
            }
        }
    }
    let files = match target {
        Target::Terraform => with_shared(tf(templates)?),
        Target::Bicep => with_shared(bc(templates)?),
        Target::All => {
            let mut all = Files::new();
            for (prefix, files) in [
                ("terraform", with_shared(tf(templates)?)),
                ("bicep", with_shared(bc(templates)?)),
            ] {
                all.extend(files.into_iter().map(|(k, v)| (format!("{prefix}/{k}"), v)));
            }
            all
        }
    };
    Ok(with_manifest(files))
}

//! `render terraform|bicep|all`: the desired state as infrastructure code,
//! with the policy of every API and any local OpenAPI file next to it.

use std::path::Path;

use anyhow::Context;

use super::files::with_manifest;
use super::infra::Model;
use super::{bicep, terraform, Files, Templates};
use crate::desired::{ApiPolicy, Desired};

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

/// Renders `target` for `d`. `topology_name` appears in file headers;
/// `base_dir` resolves OpenAPI file paths (the topology's directory). The
/// result carries the manifest of every file.
pub fn render(
    target: Target,
    d: &Desired,
    templates: &Templates,
    topology_name: &str,
    base_dir: Option<&Path>,
) -> anyhow::Result<Files> {
    let m = Model::from_desired(d, topology_name)?;
    let shared = shared_files(d, &m, templates, base_dir)?;
    let with_shared = |mut files: Files| {
        files.extend(shared.iter().map(|(k, v)| (k.clone(), v.clone())));
        files
    };
    let files = match target {
        Target::Terraform => with_shared(terraform::render(&m, templates)?),
        Target::Bicep => with_shared(bicep::render(&m, templates)?),
        Target::All => {
            let mut all = Files::new();
            for (prefix, files) in [
                ("terraform", with_shared(terraform::render(&m, templates)?)),
                ("bicep", with_shared(bicep::render(&m, templates)?)),
            ] {
                all.extend(files.into_iter().map(|(k, v)| (format!("{prefix}/{k}"), v)));
            }
            all
        }
    };
    Ok(with_manifest(files))
}

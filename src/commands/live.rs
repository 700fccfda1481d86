//! Setup shared by the commands that talk to ARM (plan, deploy, destroy):
//! subscription, cloud, endpoint, credential, the policy and file inputs,
//! and the async runtime.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::azure::{ArmClient, Credential, Endpoint, Timing};
use crate::cli::ArmArgs;
use crate::desired::{self, Desired};
use crate::exit::ExitError;
use crate::plan::Inputs;
use crate::topology::Loaded;

/// Everything a live command needs.
pub struct Live {
    pub desired: Desired,
    pub client: ArmClient,
    pub inputs: TopologyInputs,
    pub runtime: tokio::runtime::Runtime,
}

/// Subscription: flag, topology, AZURE_SUBSCRIPTION_ID, then the Azure
/// CLI's default.
pub fn subscription(a: &ArmArgs, loaded: &Loaded) -> anyhow::Result<String> {
    let from_env = std::env::var("AZURE_SUBSCRIPTION_ID")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let sub = a
        .subscription
        .clone()
        .or_else(|| loaded.topology.subscription.clone())
        .or(from_env)
        .or_else(crate::azure::auth::cli_default_subscription);
    match sub {
        Some(s) if crate::topology::naming::is_guid(s.trim()) => Ok(s.trim().to_string()),
        Some(s) => Err(ExitError::usage(format!("subscription {s:?} is not a GUID")).into()),
        None => Err(ExitError::usage(
            "no subscription: pass --subscription, set `subscription` in the topology or AZURE_SUBSCRIPTION_ID, or log in with `az login`",
        )
        .into()),
    }
}

pub fn connect(a: &ArmArgs, loaded: &Loaded) -> anyhow::Result<Live> {
    let t = &loaded.topology;
    let cloud = match a.cloud.map(|c| c.cloud()) {
        Some(c) if c != t.cloud => {
            return Err(ExitError::usage(format!(
                "--cloud {} contradicts the topology's cloud {}",
                c.as_str(),
                t.cloud.as_str()
            ))
            .into())
        }
        _ => t.cloud,
    };
    let endpoint = Endpoint::resolve(cloud, a.arm_endpoint.as_deref(), a.token_scope.as_deref())
        .map_err(|e| ExitError::usage(format!("{e:#}")))?;
    let sub = subscription(a, loaded)?;
    let desired = desired::derive(t, Some(&sub));
    let credential = Credential::new(a.auth, &endpoint)?;
    let mut timing = Timing::default();
    if let Some(ms) = a.backoff_base_ms {
        timing.backoff_base = Duration::from_millis(ms);
        timing.default_poll = Duration::from_millis(ms.max(1) * 5);
    }
    let client = ArmClient::new(endpoint, credential, timing);
    let inputs = TopologyInputs::new(loaded, &desired, &a.policy_files)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(Live {
        desired,
        client,
        inputs,
        runtime,
    })
}

/// Policies (rendered, or from `--policy-file`) and OpenAPI files, read
/// relative to the topology file.
pub struct TopologyInputs {
    dir: PathBuf,
    desired: Desired,
    policy_files: HashMap<String, PathBuf>,
}

impl TopologyInputs {
    pub fn new(
        loaded: &Loaded,
        desired: &Desired,
        policy_files: &[String],
    ) -> anyhow::Result<TopologyInputs> {
        let dir = loaded.source.dir().unwrap_or_else(|| PathBuf::from("."));
        let mut map = HashMap::new();
        for spec in policy_files {
            let Some((api, file)) = spec.split_once('=') else {
                return Err(
                    ExitError::usage(format!("--policy-file {spec:?}: expected API=FILE")).into(),
                );
            };
            if !loaded.topology.apis().iter().any(|x| x.name == api) {
                return Err(ExitError::usage(format!(
                    "--policy-file: the topology has no API named {api:?}"
                ))
                .into());
            }
            map.insert(api.to_string(), PathBuf::from(file));
        }
        Ok(TopologyInputs {
            dir,
            desired: desired.clone(),
            policy_files: map,
        })
    }
}

impl Inputs for TopologyInputs {
    fn policy(&self, api: &str) -> anyhow::Result<String> {
        match self.policy_files.get(api) {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the policy file {}", path.display())),
            None => crate::render::policy::render_api(&self.desired, api, None),
        }
    }

    fn file(&self, path: &str) -> anyhow::Result<String> {
        let p = self.dir.join(path);
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    }
}

/// Whether the user may be asked questions (stdin and stderr are terminals).
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks `question` on stderr; true only for y/yes.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

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

/// The subscription known without asking anyone: flag, topology, then
/// AZURE_SUBSCRIPTION_ID (what offline commands use).
pub fn known_subscription(a: &ArmArgs, t: &crate::topology::Topology) -> Option<String> {
    let from_env = std::env::var("AZURE_SUBSCRIPTION_ID")
        .ok()
        .filter(|s| !s.trim().is_empty());
    a.subscription
        .clone()
        .or_else(|| t.subscription.clone())
        .or(from_env)
}

/// Subscription: flag, topology, AZURE_SUBSCRIPTION_ID, then the Azure
/// CLI's default.
pub fn subscription(a: &ArmArgs, loaded: &Loaded) -> anyhow::Result<String> {
    let sub = known_subscription(a, &loaded.topology)
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

    fn product_policy(&self, product: &str) -> anyhow::Result<String> {
        crate::render::product_policy::render_product(&self.desired, product, None)
    }

    fn file(&self, path: &str) -> anyhow::Result<String> {
        let p = self.dir.join(path);
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    }
}

/// Whether the user may be asked questions (stdin and stderr are terminals).
/// Without a terminal nobody can answer the prompt: `--yes` is required
/// (exit 2), checked before Azure is contacted. `what` says what the
/// command does, e.g. "deploy changes Azure resources".
pub fn require_yes(yes: bool, what: &str) -> anyhow::Result<()> {
    if yes || interactive() {
        return Ok(());
    }
    Err(ExitError::usage(format!(
        "{what} and stdin is not a terminal: pass --yes to confirm"
    ))
    .into())
}

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

/// Ends a run early on Ctrl-C or when `--timeout` expires, and reports it
/// the same way for deploy and destroy. The deadline counts from the start
/// of the command.
pub struct Stop {
    timeout: Option<Duration>,
    deadline: Option<tokio::time::Instant>,
    timed_out: std::sync::atomic::AtomicBool,
}

impl Stop {
    pub fn new(timeout: Option<Duration>) -> Stop {
        Stop {
            timeout,
            deadline: timeout.map(|t| tokio::time::Instant::now() + t),
            timed_out: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Resolves on Ctrl-C or at the deadline.
    pub async fn signal(&self) {
        let deadline = async {
            match self.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = deadline => self.timed_out.store(true, std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Runs `work` (reading the live state) within the deadline.
    pub async fn bounded<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        match self.deadline {
            None => work.await,
            Some(d) => match tokio::time::timeout_at(d, work).await {
                Ok(r) => r,
                Err(_) => Err(ExitError {
                    code: crate::exit::TIMED_OUT,
                    message: format!(
                        "timed out after {} while {what}",
                        human_duration(self.timeout.unwrap_or_default())
                    ),
                }
                .into()),
            },
        }
    }

    /// Reports a run that `signal` stopped and returns its exit code.
    /// `command` is `deploy` or `destroy`; `work` what was not started.
    pub fn report(
        &self,
        display: &super::progress::Display,
        in_flight: &[String],
        command: &str,
        work: &str,
    ) -> u8 {
        let timed_out = self.timed_out.load(std::sync::atomic::Ordering::SeqCst);
        if timed_out {
            let t = self.timeout.unwrap_or_default();
            display.json_line(serde_json::json!({"event": "timed_out", "timeout_s": t.as_secs_f64(), "in_flight": in_flight}));
            eprintln!(
                "Timed out after {} (--timeout): no new {work} were started.",
                human_duration(t)
            );
        } else {
            display.json_line(serde_json::json!({"event": "interrupted", "in_flight": in_flight}));
            eprintln!("Interrupted: no new {work} were started.");
        }
        if !in_flight.is_empty() {
            eprintln!(
                "Azure keeps working on what was already sent ({}); run `oailb {command}` again to finish.",
                in_flight.join(", ")
            );
        }
        if timed_out {
            crate::exit::TIMED_OUT
        } else {
            crate::exit::INTERRUPTED
        }
    }
}

/// `45.0s`, `12m05s`, `1h30m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

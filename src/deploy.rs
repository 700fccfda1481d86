//! Applies a plan: the desired resources as a dependency graph, run with
//! bounded concurrency, the slowest chains first (APIM), each resource
//! re-read and re-compared when its turn comes so that a re-run after an
//! interruption writes only what is still missing. `destroy` walks the same
//! graph backwards.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde_json::Value;

use crate::azure::{is_terminal_state, provisioning_state, ArmClient, ArmError, Notice, Notify};
use crate::desired::{Desired, Kind, Resource};
use crate::plan::{self, Action, Inputs, Plan, Secrets};

/// What to do when a soft-deleted account or APIM service holds a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftDeleted {
    /// Stop with a message naming both flags.
    Fail,
    /// Re-create it from the soft-deleted state (`properties.restore`).
    Restore,
    /// Purge it first, then create a new one.
    Purge,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Resources written at the same time.
    pub concurrency: usize,
    pub soft_deleted: SoftDeleted,
    /// How long role assignments are retried on PrincipalNotFound (a new
    /// identity takes a while to replicate through Entra ID).
    pub principal_window: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: usize::from(DEFAULT_CONCURRENCY),
            soft_deleted: SoftDeleted::Fail,
            principal_window: Duration::from_secs(300),
        }
    }
}

/// Enough to run every independent resource of the examples at once after
/// APIM, well below ARM's write throttling limits.
pub const DEFAULT_CONCURRENCY: u16 = 10;

/// Progress of one resource.
#[derive(Debug, Clone)]
pub enum Event {
    Started {
        address: String,
        action: &'static str,
    },
    Note {
        address: String,
        notice: Notice,
    },
    Succeeded {
        address: String,
        action: &'static str,
        elapsed: Duration,
    },
    Failed {
        address: String,
        error: String,
    },
    Skipped {
        address: String,
        reason: String,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, e: Event);
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// (address, action) of every resource that finished, in finishing order.
    pub done: Vec<(String, &'static str)>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
    /// Set when Ctrl-C stopped the run: what was in flight then.
    pub interrupted: Option<Vec<String>>,
    /// ARM's body of every resource known to exist at the end.
    pub live: HashMap<String, Value>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.interrupted.is_none()
    }
}

/// Relative duration of creating a resource of this kind: APIM on classic
/// tiers takes 30–45 minutes, an account a few, the rest seconds. Orders
/// the work so the longest chain starts first.
pub fn weight(kind: Kind) -> u64 {
    match kind {
        Kind::ApimService => 30,
        // Azure Managed Redis takes minutes (Terraform allows 45 for it).
        Kind::RedisCache => 10,
        Kind::CognitiveAccount => 3,
        Kind::CognitiveDeployment => 2,
        _ => 1,
    }
}

/// For each resource, the weight of the longest chain that starts with it.
pub fn chain_weights(resources: &[Resource]) -> Vec<u64> {
    let index: HashMap<&str, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.address.as_str(), i))
        .collect();
    let mut rank = vec![0u64; resources.len()];
    // Resources come in dependency order, so dependents come later.
    for i in (0..resources.len()).rev() {
        let r = &resources[i];
        rank[i] += weight(r.kind);
        for d in &r.depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                rank[j] = rank[j].max(rank[i]);
            }
        }
    }
    rank
}

/// The longest weighted chain of the graph: the least time a deploy can take.
pub fn critical_path(resources: &[Resource]) -> u64 {
    chain_weights(resources).into_iter().max().unwrap_or(0)
}

type Task<'a> = Pin<
    Box<dyn Future<Output = (usize, Result<(&'static str, Option<Value>), String>)> + Send + 'a>,
>;

/// Applies `plan`. Stops launching writes when `cancel` completes.
pub async fn apply(
    client: &ArmClient,
    desired: &Desired,
    plan: &Plan,
    inputs: &dyn Inputs,
    opts: &Options,
    progress: &dyn Progress,
    cancel: impl Future<Output = ()>,
) -> Outcome {
    let resources = &desired.resources;
    let index: HashMap<&str, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.address.as_str(), i))
        .collect();
    let rank = chain_weights(resources);
    let mut live: HashMap<String, Value> = plan
        .entries
        .iter()
        .filter_map(|e| e.live.clone().map(|b| (e.address.clone(), b)))
        .collect();
    let run = |i: usize, snapshot: HashMap<String, Value>| -> Task<'_> {
        let r = &resources[i];
        Box::pin(async move {
            let started = Instant::now();
            let res = apply_one(client, desired, plan, r, &snapshot, inputs, opts, progress).await;
            if let Ok((action, _)) = &res {
                progress.event(Event::Succeeded {
                    address: r.address.clone(),
                    action,
                    elapsed: started.elapsed(),
                });
            }
            (i, res)
        })
    };
    let deps: Vec<Vec<usize>> = resources
        .iter()
        .map(|r| {
            r.depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    schedule(
        resources,
        &deps,
        &rank,
        opts.concurrency,
        progress,
        cancel,
        &mut live,
        run,
    )
    .await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
}

/// Runs `run` for every node once its `deps` are done, at most `limit` at a
/// time, the highest `rank` first; skips nodes behind a failure.
#[allow(clippy::too_many_arguments)]
async fn schedule<'a>(
    resources: &[Resource],
    deps: &[Vec<usize>],
    rank: &[u64],
    limit: usize,
    progress: &dyn Progress,
    cancel: impl Future<Output = ()>,
    live: &mut HashMap<String, Value>,
    run: impl Fn(usize, HashMap<String, Value>) -> Task<'a>,
) -> Outcome {
    let n = resources.len();
    let mut state = vec![State::Pending; n];
    let mut out = Outcome::default();
    let mut running: FuturesUnordered<Task<'a>> = FuturesUnordered::new();
    let mut cancel = std::pin::pin!(cancel);
    loop {
        // Skip what can no longer run.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if state[i] == State::Pending && deps[i].iter().any(|&d| state[d] == State::Failed)
                {
                    state[i] = State::Failed;
                    changed = true;
                    let reason = deps[i]
                        .iter()
                        .find(|&&d| state[d] == State::Failed)
                        .map(|&d| format!("{} did not succeed", resources[d].address))
                        .unwrap_or_default();
                    progress.event(Event::Skipped {
                        address: resources[i].address.clone(),
                        reason,
                    });
                    out.skipped.push(resources[i].address.clone());
                }
            }
        }
        let mut ready: Vec<usize> = (0..n)
            .filter(|&i| {
                state[i] == State::Pending && deps[i].iter().all(|&d| state[d] == State::Done)
            })
            .collect();
        ready.sort_by_key(|&i| (std::cmp::Reverse(rank[i]), i));
        for i in ready {
            if running.len() >= limit.max(1) {
                break;
            }
            state[i] = State::Running;
            running.push(run(i, live.clone()));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut cancel => {
                let in_flight: Vec<String> = (0..n)
                    .filter(|&i| state[i] == State::Running)
                    .map(|i| resources[i].address.clone())
                    .collect();
                out.interrupted = Some(in_flight);
                break;
            }
            Some((i, res)) = running.next() => {
                match res {
                    Ok((action, body)) => {
                        state[i] = State::Done;
                        if let Some(b) = body {
                            live.insert(resources[i].address.clone(), b);
                        } else {
                            live.remove(&resources[i].address);
                        }
                        out.done.push((resources[i].address.clone(), action));
                    }
                    Err(e) => {
                        state[i] = State::Failed;
                        progress.event(Event::Failed { address: resources[i].address.clone(), error: e.clone() });
                        out.failed.push((resources[i].address.clone(), e));
                    }
                }
            }
        }
    }
    out.live = std::mem::take(live);
    out
}

fn note<'a>(progress: &'a dyn Progress, address: &'a str) -> impl Fn(Notice) + Send + Sync + 'a {
    move |notice| {
        progress.event(Event::Note {
            address: address.to_string(),
            notice,
        })
    }
}

/// One resource: wait out an operation still running, resolve the body,
/// compare, and write only when something differs.
#[allow(clippy::too_many_arguments)]
async fn apply_one(
    client: &ArmClient,
    desired: &Desired,
    plan: &Plan,
    r: &Resource,
    live: &HashMap<String, Value>,
    inputs: &dyn Inputs,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<(&'static str, Option<Value>), String> {
    let notify = note(progress, &r.address);
    let entry = plan.get(&r.address);
    let mut current = entry.and_then(|e| e.live.clone());
    if entry.is_some_and(|e| e.action == Action::NoOp && e.live.is_none()) {
        // An equivalent role assignment exists under another name.
        return Ok(("no-op", None));
    }
    if let Some(body) = &current {
        let state = provisioning_state(body).unwrap_or("Succeeded");
        if !is_terminal_state(state) {
            progress.event(Event::Started {
                address: r.address.clone(),
                action: "wait",
            });
            notify(Notice::Info(format!(
                "an earlier operation is still running ({state}); waiting"
            )));
            current = match client
                .wait_provisioned(&r.id, r.api_version, Instant::now(), None, &notify)
                .await
            {
                Ok(b) => Some(b),
                // Failed: keep the failed body, the comparison below re-sends it.
                Err(e) if e.is_code("ProvisioningFailed") => current,
                // It was being deleted: create it anew.
                Err(e) if e.status == Some(404) => None,
                Err(e) => return Err(e.to_string()),
            };
        }
    }
    // Compared as `plan` compares (secrets are never compared), so secrets
    // are read, and cache keys listed, only for a resource that is written.
    if let Some(l) = &current {
        let body = plan::resolve_body(r, live, inputs, Secrets::Redact, false)
            .map_err(|e| format!("{e:#}"))?;
        let failed = provisioning_state(l).is_some_and(|s| !s.eq_ignore_ascii_case("Succeeded"));
        if !failed && plan::diff(&body, l, &r.write_only).is_empty() {
            return Ok(("no-op", current));
        }
    }
    let caches = cache_connections(client, r, &notify).await?;
    let body = plan::resolve_body(r, live, inputs, Secrets::Read(&caches), false)
        .map_err(|e| format!("{e:#}"))?;
    let action = if current.is_some() {
        "update"
    } else {
        "create"
    };
    progress.event(Event::Started {
        address: r.address.clone(),
        action,
    });
    let mut body = body;
    if current.is_none() && entry.is_some_and(|e| e.soft_deleted) {
        body = prepare_soft_deleted(client, desired, r, body, opts, &notify).await?;
    }
    if r.kind == Kind::RoleAssignment && current.is_some() {
        // Role assignments cannot be changed in place (ARM answers
        // RoleAssignmentUpdateNotPermitted): replace it. This happens when the
        // gateway identity was re-created and has a new principal id.
        notify(Notice::Info(
            "replacing: role assignments cannot be updated".into(),
        ));
        client
            .delete(&r.id, r.api_version, &[], &notify)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut written = put(client, r, &body, opts, &notify).await;
    if matches!(&written, Err(e) if held_by_soft_deleted(e))
        && opts.soft_deleted != SoftDeleted::Fail
    {
        // The plan could not see it (no right to read deleted resources):
        // apply the user's choice now.
        body = prepare_soft_deleted(client, desired, r, body, opts, &notify).await?;
        written = put(client, r, &body, opts, &notify).await;
    }
    match written {
        Ok(v) => Ok((action, Some(v))),
        Err(e) if held_by_soft_deleted(&e) => Err(format!("{e}\n  {}", soft_deleted_message(r))),
        Err(e) => Err(e.to_string()),
    }
}

/// The connection strings `r` needs, read from ARM by cluster id: the
/// cluster's host name, its database's port and primary access key.
async fn cache_connections(
    client: &ArmClient,
    r: &Resource,
    notify: Notify<'_>,
) -> Result<HashMap<String, String>, String> {
    use crate::desired::{cache, Placeholder};
    let mut out = HashMap::new();
    for p in r.placeholders() {
        let Placeholder::CacheConnection { cluster } = p else {
            continue;
        };
        let version = Kind::RedisCache.api_version();
        let read = |what: &str, v: Option<&Value>, path: &str| -> Result<Value, String> {
            v.and_then(|b| crate::desired::placeholder::get_path(b, path))
                .filter(|x| !x.is_null())
                .cloned()
                .ok_or_else(|| format!("{}: the cache {cluster} has no {what} ({path})", r.address))
        };
        let body = client
            .get(&cluster, version, &[], notify)
            .await
            .map_err(|e| e.to_string())?;
        if body.is_none() {
            return Err(format!("{}: the cache {cluster} does not exist", r.address));
        }
        let host = read("host name", body.as_ref(), "properties.hostName")?;
        let db_id = format!("{cluster}/databases/{}", cache::DATABASE_NAME);
        let db = client
            .get(&db_id, version, &[], notify)
            .await
            .map_err(|e| e.to_string())?;
        let port = read("database port", db.as_ref(), "properties.port")?;
        let keys = client
            .post(&format!("{db_id}/listKeys"), version, notify)
            .await
            .map_err(|e| e.to_string())?;
        let key = read(
            "access key (is access key authentication on?)",
            Some(&keys),
            "primaryKey",
        )?;
        out.insert(
            cluster.clone(),
            cache::connection_string(
                host.as_str().unwrap_or_default(),
                port.as_u64().unwrap_or_default(),
                key.as_str().unwrap_or_default(),
            ),
        );
    }
    Ok(out)
}

async fn put(
    client: &ArmClient,
    r: &Resource,
    body: &Value,
    opts: &Options,
    notify: Notify<'_>,
) -> Result<Value, ArmError> {
    match r.kind {
        Kind::RoleAssignment => put_role_assignment(client, r, body, opts, notify).await,
        _ => client.put(&r.id, r.api_version, body, notify).await,
    }
}

/// ARM's answers when a soft-deleted account or service holds the name.
fn held_by_soft_deleted(e: &ArmError) -> bool {
    e.is_code("FlagMustBeSetForRestore") || e.is_code("ServiceAlreadyExistsInSoftDeletedState")
}

async fn prepare_soft_deleted(
    client: &ArmClient,
    desired: &Desired,
    r: &Resource,
    mut body: Value,
    opts: &Options,
    notify: Notify<'_>,
) -> Result<Value, String> {
    match opts.soft_deleted {
        SoftDeleted::Fail => Err(soft_deleted_message(r)),
        SoftDeleted::Restore => {
            let here = r.location().unwrap_or(&desired.location);
            if let Ok(Some(there)) = plan::soft_deleted_location(client, desired, r).await {
                if !plan::same_location(&there, here) {
                    return Err(format!(
                        "{} `{}` is soft-deleted in {there}, not in {here}: it can be restored only where it was (set its location to {there}), or purged with --purge-soft-deleted",
                        r.kind.label(),
                        r.name
                    ));
                }
            }
            notify(Notice::Info("restoring the soft-deleted resource".into()));
            body["properties"]["restore"] = Value::Bool(true);
            Ok(body)
        }
        SoftDeleted::Purge => {
            notify(Notice::Info(
                "purging the soft-deleted resource first".into(),
            ));
            purge_soft_deleted(client, desired, r, notify).await?;
            Ok(body)
        }
    }
}

pub fn soft_deleted_message(r: &Resource) -> String {
    format!(
        "{} `{}` was deleted recently and is soft-deleted, which blocks a new one of the same name: re-run with --restore-soft-deleted to recover it, or --purge-soft-deleted to delete it for good and create a new one",
        r.kind.label(),
        r.name
    )
}

/// PrincipalNotFound right after an identity is created is replication lag:
/// retry for a while. RoleAssignmentExists means it is already there.
async fn put_role_assignment(
    client: &ArmClient,
    r: &Resource,
    body: &Value,
    opts: &Options,
    notify: Notify<'_>,
) -> Result<Value, ArmError> {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        match client.put(&r.id, r.api_version, body, notify).await {
            Err(e) if e.is_code("RoleAssignmentExists") => return Ok(body.clone()),
            Err(e)
                if e.is_code("PrincipalNotFound") && started.elapsed() < opts.principal_window =>
            {
                let wait = client
                    .timing()
                    .backoff(attempt)
                    .min(Duration::from_secs(30));
                // The identity is still replicating through Entra ID.
                notify(Notice::Retrying {
                    status: e.status,
                    code: "PrincipalNotFound".into(),
                    wait,
                    attempt: attempt + 1,
                    max_attempts: None,
                });
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) if e.is_code("PrincipalNotFound") => {
                return Err(ArmError {
                    message: format!(
                        "{} (still not found after {}s; check that the identity exists)",
                        e.message,
                        opts.principal_window.as_secs()
                    ),
                    ..e
                })
            }
            other => return other,
        }
    }
}

/// Resources a destroy deletes explicitly: the ones that exist, except
/// children removed with their parent (APIM entities, model deployments)
/// and the resource group (handled last).
pub fn deletion_targets(desired: &Desired, plan: &Plan) -> Vec<usize> {
    let exists: HashSet<&str> = plan
        .entries
        .iter()
        .filter(|e| e.live.is_some())
        .map(|e| e.address.as_str())
        .collect();
    let rs = &desired.resources;
    (0..rs.len())
        .filter(|&i| exists.contains(rs[i].address.as_str()) && rs[i].kind != Kind::ResourceGroup)
        .filter(|&i| {
            let id = rs[i].id.to_ascii_lowercase();
            rs[i].kind == Kind::RoleAssignment
                || !rs.iter().enumerate().any(|(j, p)| {
                    j != i
                        && p.kind != Kind::ResourceGroup
                        && exists.contains(p.address.as_str())
                        && id.starts_with(&format!("{}/", p.id.to_ascii_lowercase()))
                })
        })
        .collect()
}

/// Deletes what the topology manages, dependents first; the resource group
/// only when nothing else is left in it. `purge` also purges soft-deleted
/// accounts and APIM services and force-deletes the workspace.
pub async fn destroy(
    client: &ArmClient,
    desired: &Desired,
    plan: &Plan,
    opts: &Options,
    purge: bool,
    progress: &dyn Progress,
    cancel: impl Future<Output = ()>,
) -> Outcome {
    let rs = &desired.resources;
    let targets = deletion_targets(desired, plan);
    let index: HashMap<&str, usize> = rs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.address.as_str(), i))
        .collect();
    // Transitive dependencies of each resource.
    let mut closure: Vec<HashSet<usize>> = vec![HashSet::new(); rs.len()];
    for i in 0..rs.len() {
        for d in &rs[i].depends_on {
            if let Some(&j) = index.get(d.as_str()) {
                let inherited: Vec<usize> = closure[j].iter().copied().collect();
                closure[i].insert(j);
                closure[i].extend(inherited);
            }
        }
    }
    // Node k (target t) waits for every target that depends on t.
    let pos: HashMap<usize, usize> = targets.iter().enumerate().map(|(k, &t)| (t, k)).collect();
    let nodes: Vec<Resource> = targets.iter().map(|&t| rs[t].clone()).collect();
    let deps: Vec<Vec<usize>> = targets
        .iter()
        .map(|&t| {
            targets
                .iter()
                .filter(|&&o| o != t && closure[o].contains(&t))
                .map(|o| pos[o])
                .collect()
        })
        .collect();
    let rank: Vec<u64> = nodes.iter().map(|r| weight(r.kind)).collect();
    let mut live = HashMap::new();
    let run = |k: usize, _: HashMap<String, Value>| -> Task<'_> {
        let r = &nodes[k];
        Box::pin(async move {
            let started = Instant::now();
            let notify = note(progress, &r.address);
            progress.event(Event::Started {
                address: r.address.clone(),
                action: "delete",
            });
            let res = delete_one(client, desired, r, purge, &notify).await;
            if res.is_ok() {
                progress.event(Event::Succeeded {
                    address: r.address.clone(),
                    action: "delete",
                    elapsed: started.elapsed(),
                });
            }
            (k, res.map(|()| ("delete", None)))
        })
    };
    let mut out = schedule(
        &nodes,
        &deps,
        &rank,
        opts.concurrency,
        progress,
        cancel,
        &mut live,
        run,
    )
    .await;
    if out.ok() {
        if let Some(rg) = rs.iter().find(|r| r.kind == Kind::ResourceGroup) {
            if plan.get(&rg.address).is_some_and(|e| e.live.is_some()) {
                delete_resource_group(client, rg, progress, &mut out).await;
            }
        }
    }
    out
}

async fn delete_one(
    client: &ArmClient,
    desired: &Desired,
    r: &Resource,
    purge: bool,
    notify: Notify<'_>,
) -> Result<(), String> {
    let query: &[(&str, &str)] = if purge && r.kind == Kind::LogAnalyticsWorkspace {
        &[("force", "true")]
    } else {
        &[]
    };
    client
        .delete(&r.id, r.api_version, query, notify)
        .await
        .map_err(|e| e.to_string())?;
    if purge && matches!(r.kind, Kind::CognitiveAccount | Kind::ApimService) {
        notify(Notice::Info(format!(
            "purging the soft-deleted {}",
            r.kind.label()
        )));
        purge_soft_deleted(client, desired, r, notify).await?;
    }
    Ok(())
}

/// Purges the soft-deleted account or APIM service that holds `r`'s name.
async fn purge_soft_deleted(
    client: &ArmClient,
    desired: &Desired,
    r: &Resource,
    notify: Notify<'_>,
) -> Result<(), String> {
    // Where Azure keeps it; without the right to look, where it should be.
    let found = plan::soft_deleted_location(client, desired, r)
        .await
        .ok()
        .flatten();
    let location = found
        .as_deref()
        .unwrap_or(r.location().unwrap_or(&desired.location));
    let res = match r.kind {
        Kind::CognitiveAccount => {
            client
                .purge_deleted_account(
                    &desired.subscription,
                    location,
                    &desired.resource_group,
                    &r.name,
                    notify,
                )
                .await
        }
        Kind::ApimService => {
            client
                .purge_deleted_apim(&desired.subscription, location, &r.name, notify)
                .await
        }
        _ => Ok(()),
    };
    res.map_err(|e| e.to_string())
}

async fn delete_resource_group(
    client: &ArmClient,
    rg: &Resource,
    progress: &dyn Progress,
    out: &mut Outcome,
) {
    let notify = note(progress, &rg.address);
    let others = client
        .list(&format!("{}/resources", rg.id), rg.api_version, &notify)
        .await;
    match others {
        Ok(list) if !list.is_empty() => {
            let reason = format!(
                "kept: it still holds {} resource(s) oailb does not manage",
                list.len()
            );
            progress.event(Event::Skipped {
                address: rg.address.clone(),
                reason,
            });
        }
        Ok(_) => {
            let started = Instant::now();
            progress.event(Event::Started {
                address: rg.address.clone(),
                action: "delete",
            });
            match client.delete(&rg.id, rg.api_version, &[], &notify).await {
                Ok(_) => {
                    progress.event(Event::Succeeded {
                        address: rg.address.clone(),
                        action: "delete",
                        elapsed: started.elapsed(),
                    });
                    out.done.push((rg.address.clone(), "delete"));
                }
                Err(e) => {
                    progress.event(Event::Failed {
                        address: rg.address.clone(),
                        error: e.to_string(),
                    });
                    out.failed.push((rg.address.clone(), e.to_string()));
                }
            }
        }
        Err(e) => {
            // Deleting a group we cannot see into could take others' work with it.
            progress.event(Event::Skipped {
                address: rg.address.clone(),
                reason: format!("kept: its contents could not be listed ({e})"),
            });
        }
    }
}

/// The subscription key of APIM's built-in all-access subscription, for
/// `--show-secrets`.
pub async fn gateway_key(client: &ArmClient, desired: &Desired) -> Result<String, ArmError> {
    let apim = desired
        .resources
        .iter()
        .find(|r| r.kind == Kind::ApimService)
        .expect("every topology has an APIM service");
    let quiet = |_: Notice| {};
    let v = client
        .post(
            &format!("{}/subscriptions/master/listSecrets", apim.id),
            apim.api_version,
            &quiet,
        )
        .await?;
    Ok(v.get("primaryKey")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// The primary key of each consumer's subscription, for `--show-secrets`
/// (ARM returns keys only through `listSecrets`).
pub async fn consumer_keys(
    client: &ArmClient,
    desired: &Desired,
) -> Result<Vec<(String, String)>, ArmError> {
    let quiet = |_: Notice| {};
    let mut out = Vec::new();
    for s in &desired.outputs.subscriptions {
        let Some(r) = desired.get(&s.address) else {
            continue;
        };
        let v = client
            .post(&format!("{}/listSecrets", r.id), r.api_version, &quiet)
            .await?;
        out.push((
            s.consumer.clone(),
            v.get("primaryKey")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(address: &str, kind: Kind, deps: &[&str]) -> Resource {
        Resource {
            address: address.into(),
            kind,
            name: address.into(),
            id: format!("/x/{address}"),
            api_version: kind.api_version(),
            body: Value::Null,
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            write_only: vec![],
        }
    }

    fn seed() -> Desired {
        let text = include_str!("../examples/seed.yaml");
        let loaded = crate::topology::load(crate::topology::Source::new("seed.yaml", text))
            .expect("the seed example is valid");
        crate::desired::derive(
            &loaded.topology,
            Some("00000000-0000-0000-0000-000000000001"),
        )
    }

    fn all_existing(d: &Desired) -> Plan {
        Plan {
            entries: d
                .resources
                .iter()
                .map(|r| crate::plan::Entry {
                    address: r.address.clone(),
                    kind: r.kind,
                    name: r.name.clone(),
                    id: r.id.clone(),
                    action: Action::NoOp,
                    changes: vec![],
                    live: Some(serde_json::json!({})),
                    soft_deleted: false,
                    provisioning_state: None,
                    notes: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn destroy_targets_skip_children_and_the_resource_group() {
        let d = seed();
        let plan = all_existing(&d);
        let mut targets: Vec<&str> = deletion_targets(&d, &plan)
            .into_iter()
            .map(|i| d.resources[i].address.as_str())
            .collect();
        targets.sort_unstable();
        assert_eq!(
            targets,
            [
                "account[canadaeast]",
                "account[eastus2]",
                "account[eastus]",
                "apim",
                "application_insights",
                "log_analytics_workspace",
                "role_assignment[canadaeast]",
                "role_assignment[eastus2]",
                "role_assignment[eastus]",
            ]
        );
        // Nothing exists: nothing to delete.
        let mut none = plan.clone();
        none.entries.iter_mut().for_each(|e| e.live = None);
        assert!(deletion_targets(&d, &none).is_empty());
    }

    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl Progress for Recorder {
        fn event(&self, e: Event) {
            if let Event::Skipped { address, .. } = e {
                self.0.lock().unwrap().push(address);
            }
        }
    }

    fn chain() -> (Vec<Resource>, Vec<Vec<usize>>) {
        let rs = vec![
            res("a", Kind::ResourceGroup, &[]),
            res("b", Kind::ApimService, &["a"]),
            res("c", Kind::CognitiveAccount, &["a"]),
            res("d", Kind::ApimApi, &["b"]),
        ];
        let deps = vec![vec![], vec![0], vec![0], vec![1]];
        (rs, deps)
    }

    #[tokio::test]
    async fn a_failure_skips_what_depends_on_it_and_nothing_else() {
        let (rs, deps) = chain();
        let rec = Recorder(Default::default());
        let run = |i: usize, _| -> Task<'static> {
            Box::pin(async move {
                let res = if i == 1 {
                    Err("boom".to_string())
                } else {
                    Ok(("create", None))
                };
                (i, res)
            })
        };
        let out = schedule(
            &rs,
            &deps,
            &[4, 3, 2, 1],
            2,
            &rec,
            std::future::pending(),
            &mut HashMap::new(),
            run,
        )
        .await;
        assert_eq!(out.failed, vec![("b".to_string(), "boom".to_string())]);
        assert_eq!(out.skipped, vec!["d".to_string()]);
        let mut done: Vec<&str> = out.done.iter().map(|(a, _)| a.as_str()).collect();
        done.sort_unstable();
        assert_eq!(done, ["a", "c"]);
        assert_eq!(*rec.0.lock().unwrap(), vec!["d".to_string()]);
    }

    #[tokio::test]
    async fn cancel_stops_new_work_and_reports_what_is_in_flight() {
        let (rs, deps) = chain();
        let started = std::sync::Mutex::new(Vec::new());
        let run = |i: usize, _| -> Task<'_> {
            started.lock().unwrap().push(i);
            Box::pin(async move {
                if i != 0 {
                    std::future::pending::<()>().await;
                }
                (i, Ok(("create", None)))
            })
        };
        let cancel = tokio::time::sleep(Duration::from_millis(20));
        let out = schedule(
            &rs,
            &deps,
            &[4, 3, 2, 1],
            1,
            &Recorder(Default::default()),
            cancel,
            &mut HashMap::new(),
            run,
        )
        .await;
        // Limit 1: after `a`, only the highest-ranked `b` started.
        assert_eq!(out.interrupted, Some(vec!["b".to_string()]));
        assert_eq!(*started.lock().unwrap(), vec![0, 1]);
        assert!(!out.ok());
    }

    #[test]
    fn apim_chain_ranks_first() {
        let rs = vec![
            res("rg", Kind::ResourceGroup, &[]),
            res("apim", Kind::ApimService, &["rg"]),
            res("acct", Kind::CognitiveAccount, &["rg"]),
            res("dep", Kind::CognitiveDeployment, &["acct"]),
            res("api", Kind::ApimApi, &["apim"]),
            res("policy", Kind::ApimApiPolicy, &["api", "dep"]),
        ];
        let w = chain_weights(&rs);
        assert_eq!(w, vec![33, 32, 6, 3, 2, 1]);
        assert_eq!(critical_path(&rs), 33);
    }
}

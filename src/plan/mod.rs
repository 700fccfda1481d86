//! The live plan: every desired resource compared with what ARM returns for
//! it. A resource is a create (absent), an update (listing only the changed
//! properties) or a no-op. The comparison is "desired ⊆ live": properties ARM
//! fills in (ids, provisioningState, etags, defaults) are never drift, nor
//! are the write-only paths each resource declares.

pub mod markdown;
pub mod policy_diff;
pub mod policy_xml;

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::azure::{ArmClient, Notice};
use crate::desired::{placeholder, Desired, Kind, Placeholder, Resource};
use policy_diff::PolicyDiff;

/// Lines of policy diff the plan table shows per API.
const TABLE_DIFF_LINES: usize = 120;

/// Version of the JSON document `plan --json` prints.
pub const SCHEMA_VERSION: u32 = 1;

/// Stands for a value known only once a dependency exists.
pub const UNKNOWN: &str = "(known after apply)";
/// Stands for a secret in plans: never read, never compared, never printed.
pub const SENSITIVE: &str = "(sensitive)";

fn marker(kind: &str) -> Value {
    json!({ "$oailb": kind })
}

fn is_marker(v: &Value, kind: &str) -> bool {
    v.get("$oailb").and_then(Value::as_str) == Some(kind)
}

/// Values that come from outside the topology when a body is resolved: the
/// rendered policy of an API and local files (OpenAPI documents). Injected so
/// plan and deploy do not depend on how the policy is rendered.
pub trait Inputs: Send + Sync {
    fn policy(&self, api: &str) -> anyhow::Result<String>;
    /// The rendered policy of a consumers' product.
    fn product_policy(&self, product: &str) -> anyhow::Result<String>;
    fn file(&self, path: &str) -> anyhow::Result<String>;
}

/// How secrets (`SecretEnv` and `CacheConnection` placeholders) are
/// treated while resolving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets<'a> {
    /// Plans: a marker that is never compared or printed.
    Redact,
    /// Deploy: the environment variable's value, and the cache connection
    /// strings read from ARM beforehand (by cluster id).
    Read(&'a HashMap<String, String>),
}

/// A desired body with its placeholders replaced. References to resources
/// that do not exist yet become an "unknown" marker in plans.
pub fn resolve_body(
    r: &Resource,
    live: &HashMap<String, Value>,
    inputs: &dyn Inputs,
    secrets: Secrets<'_>,
    allow_unknown: bool,
) -> anyhow::Result<Value> {
    placeholder::substitute(&r.body, &mut |p| -> anyhow::Result<Value> {
        match p {
            Placeholder::Ref { address, path } => {
                match live.get(address).and_then(|b| placeholder::get_path(b, path)) {
                    Some(v) if !v.is_null() => Ok(v.clone()),
                    _ if allow_unknown => Ok(marker("unknown")),
                    _ => anyhow::bail!(
                        "{}: `{path}` of {address} is not available (ARM did not return it)",
                        r.address
                    ),
                }
            }
            Placeholder::SecretEnv { var } => match secrets {
                Secrets::Redact => Ok(marker("sensitive")),
                Secrets::Read(_) => match std::env::var(var) {
                    Ok(v) if !v.is_empty() => Ok(Value::String(v)),
                    _ => anyhow::bail!(
                        "{}: the environment variable {var} is not set (it holds a secret for this resource)",
                        r.address
                    ),
                },
            },
            Placeholder::CacheConnection { cluster } => match secrets {
                Secrets::Redact => Ok(marker("sensitive")),
                Secrets::Read(fetched) => match fetched.get(cluster) {
                    Some(c) => Ok(Value::String(c.clone())),
                    None => anyhow::bail!(
                        "{}: the connection string of the cache {cluster} was not read",
                        r.address
                    ),
                },
            },
            Placeholder::Policy { api } => Ok(Value::String(inputs.policy(api)?)),
            Placeholder::ProductPolicy { product } => {
                Ok(Value::String(inputs.product_policy(product)?))
            }
            Placeholder::File { path } => Ok(Value::String(inputs.file(path)?)),
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    NoOp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::NoOp => "no-op",
        }
    }
}

/// One changed property: `before` is ARM's value (null when absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub path: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub address: String,
    pub kind: Kind,
    pub name: String,
    pub id: String,
    pub action: Action,
    pub changes: Vec<Change>,
    /// ARM's body when the resource exists.
    #[serde(skip)]
    pub live: Option<Value>,
    /// A soft-deleted resource holds the name (accounts, APIM).
    pub soft_deleted: bool,
    /// provisioningState when it is not Succeeded (in progress or failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub entries: Vec<Entry>,
}

impl Plan {
    pub fn count(&self, a: Action) -> usize {
        self.entries.iter().filter(|e| e.action == a).count()
    }

    pub fn has_changes(&self) -> bool {
        self.entries.iter().any(|e| e.action != Action::NoOp)
    }

    pub fn get(&self, address: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.address == address)
    }

    pub fn soft_deleted(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.soft_deleted)
    }
}

/// Query parameters for reading a resource the way it was written: policies
/// come back as the raw XML that was sent, not re-encoded.
pub fn read_query(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::ApimApiPolicy | Kind::ApimProductPolicy => &[("format", "rawxml")],
        // A workbook's content comes back only when asked for.
        Kind::Workbook => &[("canFetchContent", "true")],
        _ => &[],
    }
}

/// Reads one resource as ARM reports it; `None` when it does not exist. A
/// product's API link has no GET of its own (ProductApi: HEAD, PUT,
/// DELETE): it is looked up in the product's API list.
pub async fn read_resource(
    client: &ArmClient,
    r: &Resource,
) -> Result<Option<Value>, crate::azure::ArmError> {
    let quiet = |_: Notice| {};
    if r.kind != Kind::ApimProductApi {
        return client
            .get(&r.id, r.api_version, read_query(r.kind), &quiet)
            .await;
    }
    let list = match r.id.rsplit_once('/') {
        Some((parent, _)) => parent,
        None => &r.id,
    };
    match client.list(list, r.api_version, &quiet).await {
        Ok(items) => Ok(items.into_iter().find(|i| {
            i.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(&r.name))
        })),
        // The product does not exist (yet).
        Err(e) if e.status == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads every desired resource from ARM and computes the plan.
pub async fn read_live(
    client: &ArmClient,
    desired: &Desired,
    inputs: &dyn Inputs,
    concurrency: usize,
) -> anyhow::Result<Plan> {
    use futures::StreamExt;
    let reads = futures::stream::iter(desired.resources.iter().map(|r| async move {
        read_resource(client, r)
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("reading {}", r.address)))
    }))
    .buffered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut live: HashMap<String, Value> = HashMap::new();
    let mut bodies = Vec::with_capacity(reads.len());
    for (r, got) in desired.resources.iter().zip(reads) {
        let got = got?;
        if let Some(b) = &got {
            live.insert(r.address.clone(), b.clone());
        }
        bodies.push(got);
    }
    let mut entries = Vec::with_capacity(bodies.len());
    for (r, got) in desired.resources.iter().zip(bodies) {
        let resolved = resolve_body(r, &live, inputs, Secrets::Redact, true)?;
        let mut entry = Entry {
            address: r.address.clone(),
            kind: r.kind,
            name: r.name.clone(),
            id: r.id.clone(),
            action: Action::Create,
            changes: Vec::new(),
            live: None,
            soft_deleted: false,
            provisioning_state: None,
            notes: Vec::new(),
        };
        match got {
            Some(body) => {
                entry.changes = diff(&resolved, &body, &r.write_only);
                entry.provisioning_state = crate::azure::provisioning_state(&body)
                    .filter(|s| !s.eq_ignore_ascii_case("Succeeded"))
                    .map(str::to_string);
                entry.action = if entry.changes.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                };
                // A write that failed or was canceled left the resource
                // unfinished whatever its properties say: send it again.
                if let Some(s) = entry
                    .provisioning_state
                    .as_deref()
                    .filter(|s| crate::azure::is_terminal_state(s))
                {
                    entry.action = Action::Update;
                    entry
                        .notes
                        .push(format!("provisioningState is {s}: it will be sent again"));
                }
                entry.live = Some(body);
            }
            None => {
                check_absent(client, desired, r, &resolved, &mut entry).await?;
            }
        }
        entries.push(entry);
    }
    Ok(Plan { entries })
}

/// A missing resource: is its name held by a soft-deleted one, or is the
/// role already assigned under another name?
async fn check_absent(
    client: &ArmClient,
    desired: &Desired,
    r: &Resource,
    resolved: &Value,
    entry: &mut Entry,
) -> anyhow::Result<()> {
    let location = r.location().unwrap_or(&desired.location);
    match r.kind {
        // Best effort: without the right to read deleted resources the
        // create itself reports a held name, with the same advice.
        Kind::CognitiveAccount | Kind::ApimService => {
            match soft_deleted_location(client, desired, r).await {
                Ok(found) => {
                    if let Some(l) = found.as_deref().filter(|l| !same_location(l, location)) {
                        entry.notes.push(format!(
                            "the soft-deleted {} is in {l}, not in {location}: it can be purged, but restored only there",
                            r.kind.label()
                        ));
                    }
                    entry.soft_deleted = found.is_some();
                }
                Err(e) => entry.notes.push(format!(
                    "could not check for a soft-deleted {}: {e}",
                    r.kind.label()
                )),
            }
        }
        Kind::RoleAssignment => {
            let principal = resolved
                .pointer("/properties/principalId")
                .and_then(Value::as_str);
            let role = resolved
                .pointer("/properties/roleDefinitionId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let scope =
                r.id.split("/providers/Microsoft.Authorization/")
                    .next()
                    .unwrap_or_default();
            if let Some(principal) = principal {
                // Best effort: a failed list only means we try the create.
                if let Ok(found) = client.role_assignments_of(scope, principal).await {
                    if let Some((id, _)) =
                        found.iter().find(|(_, def)| def.eq_ignore_ascii_case(role))
                    {
                        entry.action = Action::NoOp;
                        entry.notes.push(format!(
                            "the role is already assigned as {}",
                            id.rsplit('/').next().unwrap_or(id)
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `East US` and `eastus` name one location.
pub fn same_location(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace(' ', "").to_ascii_lowercase();
    norm(a) == norm(b)
}

/// The location of the soft-deleted account or APIM service that holds
/// `r`'s name, if any. Azure keeps them by location: first where the
/// topology puts `r`, then anywhere in the subscription (it may have been
/// deleted while the topology named another region).
pub async fn soft_deleted_location(
    client: &ArmClient,
    desired: &Desired,
    r: &Resource,
) -> Result<Option<String>, crate::azure::ArmError> {
    let quiet = |_: Notice| {};
    let sub = &desired.subscription;
    let location = r.location().unwrap_or(&desired.location);
    let (here, list) = match r.kind {
        Kind::CognitiveAccount => (
            client
                .deleted_account(sub, location, &desired.resource_group, &r.name, &quiet)
                .await?,
            "Microsoft.CognitiveServices/deletedAccounts",
        ),
        Kind::ApimService => (
            client.deleted_apim(sub, location, &r.name, &quiet).await?,
            "Microsoft.ApiManagement/deletedservices",
        ),
        _ => return Ok(None),
    };
    if here.is_some() {
        return Ok(Some(location.to_string()));
    }
    let all = client
        .list(
            &format!("/subscriptions/{sub}/providers/{list}"),
            r.api_version,
            &quiet,
        )
        .await?;
    // Ids: …/locations/{location}/deletedservices/{name} (APIM, a global
    // name) and …/locations/{location}/resourceGroups/{rg}/deletedAccounts/{name}.
    let rg = format!("/resourcegroups/{}/", desired.resource_group).to_ascii_lowercase();
    Ok(all.iter().find_map(|d| {
        let id = d.get("id").and_then(Value::as_str)?.to_ascii_lowercase();
        let segs: Vec<&str> = id.split('/').collect();
        let named = segs.last().is_some_and(|n| n.eq_ignore_ascii_case(&r.name));
        let in_group = r.kind == Kind::ApimService || id.contains(&rg);
        let at = segs.iter().position(|s| *s == "locations")?;
        (named && in_group).then(|| segs.get(at + 1).map(|l| l.to_string()))?
    }))
}

/// Leaf keys whose values are compared exactly; other short identifier-like
/// strings compare case-insensitively, as ARM treats enums and names.
const CASE_SENSITIVE_KEYS: &[&str] = &[
    "value",
    "displayName",
    "description",
    "path",
    "urlTemplate",
    "url",
    "publisherName",
    "publisherEmail",
];

/// Properties of `desired` that `live` lacks or holds differently.
pub fn diff(desired: &Value, live: &Value, write_only: &[&str]) -> Vec<Change> {
    let mut out = Vec::new();
    compare("", desired, Some(live), write_only, false, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn compare(
    path: &str,
    desired: &Value,
    live: Option<&Value>,
    write_only: &[&str],
    in_tags: bool,
    out: &mut Vec<Change>,
) {
    if write_only.contains(&path) || is_marker(desired, "sensitive") {
        return;
    }
    let change = |out: &mut Vec<Change>| {
        out.push(Change {
            path: path.to_string(),
            before: live.cloned().unwrap_or(Value::Null),
            after: if is_marker(desired, "unknown") {
                Value::String(UNKNOWN.into())
            } else {
                desired.clone()
            },
        })
    };
    let Some(live) = live.filter(|l| !l.is_null()) else {
        match desired {
            // Report the leaves, so a missing block lists what it holds.
            Value::Object(d) if !is_marker(desired, "unknown") => {
                for (k, dv) in d {
                    let in_tags = in_tags || (path.is_empty() && k == "tags");
                    compare(&join(path, k), dv, None, write_only, in_tags, out);
                }
            }
            _ if !is_empty(desired) => change(out),
            _ => {}
        }
        return;
    };
    if is_marker(desired, "unknown") {
        change(out);
        return;
    }
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let lv = l.get(k).or_else(|| {
                    // Keys that are ARM ids (userAssignedIdentities) differ in case.
                    l.iter()
                        .find(|(lk, _)| lk.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v)
                });
                compare(
                    &join(path, k),
                    dv,
                    lv,
                    write_only,
                    in_tags || (path.is_empty() && k == "tags"),
                    out,
                );
            }
        }
        (Value::Array(d), Value::Array(l)) => {
            if !arrays_match(d, l) {
                change(out);
            }
        }
        _ => {
            if !scalars_equal(path, desired, live, in_tags) {
                change(out);
            }
        }
    }
}

fn subset(desired: &Value, live: &Value) -> bool {
    let mut scratch = Vec::new();
    compare("", desired, Some(live), &[], false, &mut scratch);
    scratch.is_empty()
}

/// Same length, each desired element ⊆ a distinct live element: in order
/// first, else in any order (ARM may sort lists it stores).
fn arrays_match(d: &[Value], l: &[Value]) -> bool {
    if d.len() != l.len() {
        return false;
    }
    if d.iter().zip(l).all(|(a, b)| subset(a, b)) {
        return true;
    }
    let mut used = vec![false; l.len()];
    d.iter().all(
        |a| match (0..l.len()).find(|&i| !used[i] && subset(a, &l[i])) {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        },
    )
}

fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn scalars_equal(path: &str, d: &Value, l: &Value, in_tags: bool) -> bool {
    match (d, l) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            b.eq_ignore_ascii_case(if *a { "true" } else { "false" })
        }
        (Value::String(a), Value::String(b)) => strings_equal(path, a, b, in_tags),
        _ => d == l,
    }
}

fn strings_equal(path: &str, a: &str, b: &str, in_tags: bool) -> bool {
    if a == b {
        return true;
    }
    let key = last_key(path);
    if key == "value" && a.trim_start().starts_with('<') {
        return policy_xml::same_policy(a, b);
    }
    if in_tags {
        return false;
    }
    if key == "location" {
        return same_location(a, b);
    }
    let is_id = |s: &str| s.starts_with("/subscriptions/") || s.starts_with("/providers/");
    if is_id(a) && is_id(b) {
        return a.eq_ignore_ascii_case(b);
    }
    if CASE_SENSITIVE_KEYS.contains(&key) {
        return false;
    }
    let identifier = |s: &str| {
        !s.is_empty()
            && s.len() <= 80
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    identifier(a) && a.eq_ignore_ascii_case(b)
}

/// The changed value for a table: short, one line.
pub fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    let s = s.replace('\n', " ");
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

/// The JSON document of `plan --json` (schema_version 1).
pub fn to_json(plan: &Plan, desired: &Desired) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "offline": false,
        "subscription": desired.subscription,
        "resource_group": desired.resource_group,
        "cloud": desired.cloud.as_str(),
        "mode": desired.mode.as_str(),
        "changes": plan.has_changes(),
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update),
            "no_op": plan.count(Action::NoOp),
            "delete": 0,
        },
        "resources": plan.entries.iter().map(|e| json!({
            "address": e.address,
            "type": e.kind.arm_type(),
            "name": e.name,
            "id": e.id,
            "action": e.action.as_str(),
            "changes": e.changes,
            "soft_deleted": e.soft_deleted,
            "provisioning_state": e.provisioning_state,
            "notes": e.notes,
        })).collect::<Vec<_>>(),
    })
}

/// The human plan: one row per resource, changed properties under updates.
pub fn to_table(plan: &Plan, desired: &Desired, color: bool) -> String {
    let style = crate::output::Style { color };
    let mut rows = vec![vec![
        String::new(),
        "ADDRESS".to_string(),
        "TYPE".to_string(),
        "NAME".to_string(),
        "ACTION".to_string(),
    ]];
    for e in &plan.entries {
        let sign = match e.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::NoOp => " ",
        };
        rows.push(vec![
            sign.to_string(),
            e.address.clone(),
            e.kind.label().to_string(),
            e.name.clone(),
            e.action.as_str().to_string(),
        ]);
    }
    let body = crate::output::table(&rows, &|row, col, cell| match (row, col) {
        (0, _) => style.bold(cell),
        (_, 0) if cell.trim() == "+" => style.green(cell),
        (_, 0) if cell.trim() == "~" => style.yellow(cell),
        (_, 4) if cell.trim() == "no-op" => style.dim(cell),
        _ => cell.to_string(),
    });
    let mut details = String::new();
    for e in &plan.entries {
        if e.changes.is_empty() && e.notes.is_empty() && !e.soft_deleted {
            continue;
        }
        if e.action == Action::Create && e.notes.is_empty() && !e.soft_deleted {
            continue;
        }
        details.push_str(&format!("\n{}:\n", style.bold(&e.address)));
        if e.action == Action::Update {
            for c in &e.changes {
                let Some(diff) = PolicyDiff::of(e, c, TABLE_DIFF_LINES) else {
                    details.push_str(&format!(
                        "  ~ {}: {} → {}\n",
                        c.path,
                        short(&c.before),
                        short(&c.after)
                    ));
                    continue;
                };
                details.push_str(&format!("  ~ {} (policy XML):\n", c.path));
                for l in &diff.lines {
                    let painted = match l.as_bytes().first() {
                        _ if l.starts_with("---") || l.starts_with("+++") => style.bold(l),
                        Some(b'-') => style.red(l),
                        Some(b'+') => style.green(l),
                        Some(b'@') => style.dim(l),
                        _ => l.clone(),
                    };
                    details.push_str(&format!("      {painted}\n"));
                }
                if let Some(note) = diff.cut_note() {
                    details.push_str(&format!("      {note}\n"));
                }
            }
        }
        if e.soft_deleted {
            details.push_str("  ! a soft-deleted resource holds this name: deploy needs --restore-soft-deleted or --purge-soft-deleted\n");
        }
        for n in &e.notes {
            details.push_str(&format!("  note: {n}\n"));
        }
    }
    format!(
        "Plan for resource group {} in subscription {} ({}):\n\n{body}{details}\n{} {} to create, {} to update, {} unchanged.\n",
        desired.resource_group,
        desired.subscription,
        desired.cloud.as_str(),
        style.bold("Plan:"),
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::NoOp),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_filled_properties_are_not_drift() {
        let desired = json!({"location": "eastus", "sku": {"name": "S0"}, "tags": {},
            "properties": {"customSubDomainName": "x", "disableLocalAuth": true}});
        let live = json!({"id": "/subscriptions/s/x", "location": "East US", "etag": "\"1\"",
            "sku": {"name": "s0"},
            "properties": {"provisioningState": "Succeeded", "customSubDomainName": "x",
                "disableLocalAuth": true, "endpoint": "https://x.openai.azure.com/"}});
        assert_eq!(diff(&desired, &live, &[]), vec![]);
    }

    #[test]
    fn changed_and_missing_properties_are_reported_with_paths() {
        let desired = json!({"sku": {"name": "Standard", "capacity": 200}, "properties": {"x": 1}});
        let live = json!({"sku": {"name": "Standard", "capacity": 120}});
        let d = diff(&desired, &live, &[]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].path, "sku.capacity");
        assert_eq!(d[0].before, json!(120));
        assert_eq!(d[1].path, "properties.x");
        assert_eq!(d[1].before, Value::Null);
    }

    #[test]
    fn write_only_and_sensitive_paths_are_skipped() {
        let desired = json!({"properties": {"value": marker("sensitive"), "credentials": {"k": 1}, "secret": true}});
        let live = json!({"properties": {"secret": true}});
        assert!(diff(&desired, &live, &["properties.credentials"]).is_empty());
    }

    #[test]
    fn arrays_need_same_length_but_not_same_order() {
        let d = json!({"a": [{"id": "/subscriptions/S/x", "w": 1}, {"id": "/subscriptions/s/y", "w": 2}]});
        let l = json!({"a": [{"id": "/subscriptions/s/y", "w": 2.0}, {"id": "/subscriptions/s/X", "w": 1, "extra": 0}]});
        assert!(diff(&d, &l, &[]).is_empty());
        let l2 = json!({"a": [{"id": "/subscriptions/s/y", "w": 2}]});
        assert_eq!(diff(&d, &l2, &[]).len(), 1);
    }

    #[test]
    fn case_rules() {
        // Enum-like values compare case-insensitively; display text does not.
        assert!(diff(
            &json!({"sku": {"name": "PerGB2018"}}),
            &json!({"sku": {"name": "pergb2018"}}),
            &[]
        )
        .is_empty());
        assert_eq!(
            diff(
                &json!({"displayName": "Api"}),
                &json!({"displayName": "api"}),
                &[]
            )
            .len(),
            1
        );
        assert_eq!(
            diff(
                &json!({"tags": {"a": "X"}}),
                &json!({"tags": {"a": "x"}}),
                &[]
            )
            .len(),
            1
        );
        // Empty desired collections match absent live ones.
        assert!(diff(&json!({"tags": {}, "l": []}), &json!({}), &[]).is_empty());
    }

    #[test]
    fn policy_xml_ignores_layout() {
        let d = json!({"value": "<policies>\n  <inbound />\n</policies>"});
        let l = json!({"value": "<policies>\r\n\t<inbound />\r\n</policies>"});
        assert!(diff(&d, &l, &[]).is_empty());
        let l2 = json!({"value": "<policies><outbound /></policies>"});
        assert_eq!(diff(&d, &l2, &[]).len(), 1);
        // The `xml` export escapes expressions; `rawxml` does not.
        let raw = json!({"value": "<policies><set-variable value=\"@(a < b)\" /></policies>"});
        let escaped =
            json!({"value": "<policies><set-variable value=\"@(a &lt; b)\"/></policies>"});
        assert!(diff(&raw, &escaped, &[]).is_empty());
        let commented = json!({"value": "<!-- generated -->\n<policies><set-variable value=\"@(a < b)\" /></policies>"});
        assert!(diff(&commented, &raw, &[]).is_empty());
    }

    #[test]
    fn unknown_values_are_changes() {
        let d = json!({"properties": {"principalId": marker("unknown")}});
        let c = diff(&d, &json!({"properties": {"principalId": "p"}}), &[]);
        assert_eq!(c[0].after, json!(UNKNOWN));
    }
}

//! A fake Azure Resource Manager on loopback for tests and the benchmark.
//!
//! It implements, for every resource type oailb manages: PUT create (201) and
//! update (200), GET, DELETE (202 + Location polling where ARM does so),
//! long-running operations with Azure-AsyncOperation and a provisioningState
//! that progresses over configurable time, 404 for missing resources and
//! parents, validation of api-version, required and read-only properties
//! (400 with an ARM error body), soft delete of Cognitive Services accounts
//! and APIM services, role assignment semantics (PrincipalNotFound while a
//! new identity replicates, RoleAssignmentExists), and injected faults: 429
//! with Retry-After, 500/503, 409 AnotherOperationInProgress and dropped
//! connections. Every request is recorded.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};

mod consumers;
pub mod policy_xml;
mod view;

pub use consumers::LogsAnswer;

use view::view;

/// Bearer token the fake accepts.
pub const TOKEN: &str = "fake-arm-token";

#[derive(Debug, Clone)]
pub struct Config {
    /// Duration of one latency unit: APIM takes 30, an account 3, a model
    /// deployment 2, everything else 1.
    pub unit: Duration,
    /// Retry-After hint on operations in progress (sent as retry-after-ms
    /// and, rounded up, Retry-After).
    pub poll_hint: Duration,
    /// Role assignments fail with PrincipalNotFound this long after the
    /// identity they name was created.
    pub principal_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            unit: Duration::from_millis(10),
            poll_hint: Duration::from_millis(5),
            principal_window: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 TooManyRequests with Retry-After.
    Throttle,
    /// That status with an ARM error body (500, 503).
    Status(u16),
    /// 409 AnotherOperationInProgress.
    Busy,
    /// Close the connection without an answer.
    Drop,
}

#[derive(Debug, Clone)]
struct Fault {
    method: String,
    path_contains: String,
    kind: FaultKind,
    remaining: u32,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub body: Option<Value>,
    pub at: Duration,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "PUT" | "DELETE" | "POST" | "PATCH")
    }
}

/// How a failed long-running operation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationEnd {
    Failed,
    Canceled,
}

impl OperationEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationEnd::Failed => "Failed",
            OperationEnd::Canceled => "Canceled",
        }
    }
}

/// The end and ARM error of a long-running operation that does not succeed.
#[derive(Debug, Clone)]
struct Failure {
    end: OperationEnd,
    code: String,
    message: String,
}

impl Failure {
    fn error(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

#[derive(Debug, Clone)]
struct Stored {
    /// The type path, e.g. `microsoft.cognitiveservices/accounts/deployments`.
    kind: String,
    /// Original-case id.
    id: String,
    body: Value,
    ready_at: Instant,
    /// provisioningState while not ready.
    pending_state: &'static str,
    /// Set when the operation that wrote this body fails at `ready_at`.
    outcome: Option<Failure>,
    principal: Option<(String, Instant)>,
}

#[derive(Debug, Clone)]
struct Operation {
    done_at: Instant,
    /// Resource to remove when a delete completes.
    delete: Option<String>,
    failure: Option<Failure>,
    /// A failed write reported through `Location`: the resource as it was
    /// before (none for a create), put back when the operation ends.
    undo: Option<(String, Option<Stored>)>,
}

#[derive(Default)]
struct State {
    resources: BTreeMap<String, Stored>,
    /// Soft-deleted accounts and services, keyed as Azure addresses them:
    /// by subscription, location (and resource group for accounts) and name.
    deleted: HashMap<String, Stored>,
    operations: HashMap<String, Operation>,
    faults: Vec<Fault>,
    /// Long-running writes to fail: (path fragment, how), each used once.
    operation_faults: Vec<(String, Failure)>,
    requests: Vec<Recorded>,
    next_op: u64,
    /// Log Analytics: canned answers, and every query that was answered.
    logs: Vec<LogsAnswer>,
    logs_queries: Vec<String>,
}

pub struct FakeArm {
    pub url: String,
    config: Config,
    state: Arc<Mutex<State>>,
    started: Instant,
    _thread: std::thread::JoinHandle<()>,
}

fn api_version_for(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "resourcegroups" => "2021-04-01",
        "microsoft.operationalinsights/workspaces" => "2023-09-01",
        "microsoft.insights/components" => "2020-02-02",
        "microsoft.managedidentity/userassignedidentities" => "2023-01-31",
        "microsoft.cognitiveservices/accounts"
        | "microsoft.cognitiveservices/accounts/deployments" => "2025-09-01",
        "microsoft.cache/redisenterprise" | "microsoft.cache/redisenterprise/databases" => {
            "2025-07-01"
        }
        "microsoft.authorization/roleassignments" => "2022-04-01",
        k if k.starts_with("microsoft.apimanagement/service") => "2024-05-01",
        other => return consumers::api_version(other),
    })
}

fn weight(kind: &str) -> u32 {
    match kind {
        "microsoft.apimanagement/service" => 30,
        "microsoft.cognitiveservices/accounts" => 3,
        "microsoft.cognitiveservices/accounts/deployments" => 2,
        "microsoft.cache/redisenterprise" => 10,
        _ => 1,
    }
}

/// Whether creating/updating this type is a long-running operation.
fn is_lro(kind: &str) -> bool {
    matches!(
        kind,
        "microsoft.apimanagement/service"
            | "microsoft.cognitiveservices/accounts"
            | "microsoft.cognitiveservices/accounts/deployments"
            | "microsoft.apimanagement/service/apis"
            | "microsoft.apimanagement/service/namedvalues"
            | "microsoft.cache/redisenterprise"
            | "microsoft.cache/redisenterprise/databases"
    )
}

fn arm_error(status: u16, code: &str, message: &str) -> (u16, Vec<(String, String)>, Value) {
    (
        status,
        vec![],
        json!({"error": {"code": code, "message": message}}),
    )
}

type Reply = (u16, Vec<(String, String)>, Value);

/// Type path and name segments of an ARM id (lowercase), e.g.
/// `/subscriptions/s/resourceGroups/rg/providers/Microsoft.X/a/n/b/m` →
/// (`microsoft.x/a/b`, [n, m]).
fn parse_type(path: &str) -> Option<(String, Vec<String>)> {
    let lower = path.to_ascii_lowercase();
    let segs: Vec<&str> = lower.trim_matches('/').split('/').collect();
    if segs.len() == 4 && segs[0] == "subscriptions" && segs[2] == "resourcegroups" {
        return Some(("resourcegroups".into(), vec![segs[3].to_string()]));
    }
    let pos = segs.iter().rposition(|s| *s == "providers")?;
    let rest = &segs[pos + 1..];
    if rest.len() < 3 || rest.len() % 2 == 0 {
        return None;
    }
    let mut kind = rest[0].to_string();
    let mut names = Vec::new();
    for pair in rest[1..].chunks(2) {
        kind.push('/');
        kind.push_str(pair[0]);
        names.push(pair[1].to_string());
    }
    Some((kind, names))
}

/// APIM's answer when `text` names a `{{named value}}` that `service`
/// (lowercase id) does not have.
fn missing_named_value(st: &State, service: &str, text: &str) -> Option<Reply> {
    referenced(text, "{{", "}}")
        .into_iter()
        .find(|nv| {
            !st.resources.contains_key(&format!(
                "{service}/namedvalues/{}",
                nv.to_ascii_lowercase()
            ))
        })
        .map(|nv| {
            arm_error(
                400,
                "ValidationError",
                &format!("Cannot find a property '{nv}'"),
            )
        })
}

/// Every `open…close` enclosed name in `text`.
fn referenced(text: &str, open: &str, close: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(open) {
        rest = &rest[i + open.len()..];
        match rest.find(close) {
            Some(j) => {
                out.push(rest[..j].to_string());
                rest = &rest[j + close.len()..];
            }
            None => break,
        }
    }
    out
}

fn rg_of(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    let segs: Vec<&str> = lower.trim_matches('/').split('/').collect();
    (segs.len() >= 4 && segs[2] == "resourcegroups")
        .then(|| format!("/subscriptions/{}/resourcegroups/{}", segs[1], segs[3]))
}

/// `East US` and `eastus` are one location.
fn region(l: &str) -> String {
    l.replace(' ', "").to_ascii_lowercase()
}

/// The key of a soft-deleted account or service, as Azure addresses it:
/// `…/locations/{location}/deletedservices/{name}` for APIM,
/// `…/locations/{location}/resourceGroups/{rg}/deletedAccounts/{name}` for
/// Cognitive Services (both under the subscription).
fn deleted_key(kind: &str, id: &str, location: &str) -> String {
    let lower = id.to_ascii_lowercase();
    let segs: Vec<&str> = lower.trim_matches('/').split('/').collect();
    let sub = segs.get(1).copied().unwrap_or_default();
    let rg = if kind == "microsoft.cognitiveservices/accounts" {
        segs.get(3).copied().unwrap_or_default()
    } else {
        ""
    };
    let name = segs.last().copied().unwrap_or_default();
    format!("{kind}|{sub}|{}|{rg}|{name}", region(location))
}

/// The key of the soft-deleted resource that blocks creating `id`, in any
/// location: an APIM name is global (it is a DNS name), an account name is
/// unique in its resource group.
fn holder(st: &State, kind: &str, id: &str) -> Option<String> {
    let want: Vec<String> = deleted_key(kind, id, "")
        .split('|')
        .map(String::from)
        .collect();
    st.deleted
        .keys()
        .find(|k| {
            let have: Vec<&str> = k.split('|').collect();
            have[0] == want[0]
                && have[4] == want[4]
                && (kind == "microsoft.apimanagement/service"
                    || (have[1] == want[1] && have[3] == want[3]))
        })
        .cloned()
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, k| cur.get(k))
}

impl FakeArm {
    pub fn start(config: Config) -> FakeArm {
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let cfg = config.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                let addr = listener.local_addr().expect("addr");
                tx.send(addr).expect("send addr");
                let base = Arc::new(format!("http://{addr}"));
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let st = st.clone();
                    let cfg = cfg.clone();
                    let base = base.clone();
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let svc = hyper::service::service_fn(move |req| {
                            handle(req, st.clone(), cfg.clone(), started, base.clone())
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    });
                }
            });
        });
        let addr: SocketAddr = rx.recv().expect("fake ARM started");
        FakeArm {
            url: format!("http://{addr}"),
            config,
            state,
            started,
            _thread: thread,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails the next `times` requests whose method is `method` ("*" for
    /// any) and whose path contains `path_contains` (case-insensitive).
    pub fn inject(&self, method: &str, path_contains: &str, kind: FaultKind, times: u32) {
        self.lock().faults.push(Fault {
            method: method.to_string(),
            path_contains: path_contains.to_ascii_lowercase(),
            kind,
            remaining: times,
        });
    }

    /// Pretends an account or APIM service was deleted recently: it is kept
    /// under the location of `body`, where Azure lists and purges it.
    pub fn add_soft_deleted(&self, id: &str, body: Value) {
        let (kind, _) = parse_type(id).expect("an ARM id");
        let location = body
            .get("location")
            .and_then(Value::as_str)
            .expect("a body with a location")
            .to_string();
        self.lock().deleted.insert(
            deleted_key(&kind, id, &location),
            Stored {
                kind,
                id: id.to_string(),
                body,
                ready_at: Instant::now(),
                pending_state: "Succeeded",
                outcome: None,
                principal: None,
            },
        );
    }

    /// Whether a soft-deleted resource of that type and name exists, in any
    /// location.
    pub fn is_soft_deleted(&self, kind: &str, name: &str) -> bool {
        let (kind, name) = (kind.to_ascii_lowercase(), name.to_ascii_lowercase());
        self.lock()
            .deleted
            .keys()
            .any(|k| k.starts_with(&format!("{kind}|")) && k.ends_with(&format!("|{name}")))
    }

    /// The next long-running write (create, update) whose path contains
    /// `path_contains` ends `end` with ARM's error `code` and `message`,
    /// in the way its type reports operations: an Azure-AsyncOperation
    /// status, a `Location` answer, or the resource's provisioningState.
    pub fn fail_operation(
        &self,
        path_contains: &str,
        end: OperationEnd,
        code: &str,
        message: &str,
    ) {
        self.lock().operation_faults.push((
            path_contains.to_ascii_lowercase(),
            Failure {
                end,
                code: code.to_string(),
                message: message.to_string(),
            },
        ));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Answers the Log Analytics query API gives (`/v1/workspaces/{id}/query`).
    pub fn add_logs_answer(&self, a: LogsAnswer) {
        self.lock().logs.push(a);
    }

    /// Every query the Log Analytics API answered.
    pub fn logs_queries(&self) -> Vec<String> {
        self.lock().logs_queries.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }

    /// Stored ids (lowercase).
    pub fn ids(&self) -> Vec<String> {
        self.lock().resources.keys().cloned().collect()
    }

    pub fn resource(&self, id: &str) -> Option<Value> {
        self.lock()
            .resources
            .get(&id.to_ascii_lowercase())
            .map(|s| s.body.clone())
    }

    /// Changes a stored property, as someone editing in the portal would.
    pub fn edit(&self, id: &str, pointer: &str, value: Value) {
        let mut st = self.lock();
        let s = st
            .resources
            .get_mut(&id.to_ascii_lowercase())
            .expect("stored resource");
        *s.body.pointer_mut(pointer).expect("existing property") = value;
    }

    /// Adds a resource that oailb does not manage (for destroy tests).
    pub fn add_foreign(&self, id: &str, body: Value) {
        let (kind, _) = parse_type(id).expect("an ARM id");
        self.lock().resources.insert(
            id.to_ascii_lowercase(),
            Stored {
                kind,
                id: id.to_string(),
                body,
                ready_at: Instant::now(),
                pending_state: "Succeeded",
                outcome: None,
                principal: None,
            },
        );
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    cfg: Config,
    started: Instant,
    base: Arc<String>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Option<Value> = if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let record = |st: &mut State, status: u16| {
        st.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            status,
            body: body.clone(),
            at: started.elapsed(),
        });
    };

    // Faults come first, as a gateway in front of ARM would produce them.
    let fault = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        // Faults match the path with its query, so `roleassignments?` picks
        // the list and not a single assignment.
        let lower = format!("{path}?{query}").to_ascii_lowercase();
        let hit = st.faults.iter_mut().find(|f| {
            f.remaining > 0
                && (f.method == "*" || f.method == method)
                && lower.contains(&f.path_contains)
        });
        let kind = hit.map(|f| {
            f.remaining -= 1;
            f.kind
        });
        if let Some(k) = kind {
            let status = match k {
                FaultKind::Throttle => 429,
                FaultKind::Status(s) => s,
                FaultKind::Busy => 409,
                FaultKind::Drop => 0,
            };
            record(&mut st, status);
        }
        kind
    };
    if let Some(k) = fault {
        let retry_ms = cfg.poll_hint.as_millis().max(1) as u64;
        let (status, code) = match k {
            FaultKind::Drop => {
                return Err(std::io::Error::other("fake ARM dropped the connection"))
            }
            FaultKind::Throttle => (429, "TooManyRequests"),
            FaultKind::Status(s) => (
                s,
                match s {
                    403 => "AuthorizationFailed",
                    503 => "ServiceUnavailable",
                    _ => "InternalServerError",
                },
            ),
            FaultKind::Busy => (409, "AnotherOperationInProgress"),
        };
        let headers = vec![
            (
                "retry-after".to_string(),
                retry_ms.div_ceil(1000).to_string(),
            ),
            ("retry-after-ms".to_string(), retry_ms.to_string()),
        ];
        return Ok(respond((
            status,
            headers,
            json!({"error": {"code": code, "message": "injected fault"}}),
        )));
    }

    let (reply, delay) = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        let out = if auth != format!("Bearer {TOKEN}") {
            (
                arm_error(
                    401,
                    "AuthenticationFailed",
                    "missing or invalid bearer token",
                ),
                Duration::ZERO,
            )
        } else {
            route(&mut st, &cfg, &method, &path, &query, body.as_ref())
        };
        record(&mut st, out.0 .0);
        out
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (status, headers, body) = reply;
    let headers = headers
        .into_iter()
        .map(|(k, v)| (k, v.replace("http://PLACEHOLDER", &base)))
        .collect();
    Ok(respond((status, headers, body)))
}

fn respond((status, headers, body): Reply) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    b.body(Full::new(Bytes::from(text)))
        .expect("valid response")
}

fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn hint_headers(cfg: &Config) -> Vec<(String, String)> {
    let ms = cfg.poll_hint.as_millis().max(1) as u64;
    vec![
        ("retry-after".into(), ms.div_ceil(1000).to_string()),
        ("retry-after-ms".into(), ms.to_string()),
    ]
}

fn new_operation(st: &mut State, done_at: Instant, op: Operation) -> String {
    st.next_op += 1;
    let id = format!("op{}", st.next_op);
    st.operations
        .insert(id.clone(), Operation { done_at, ..op });
    id
}

impl Operation {
    fn plain() -> Operation {
        Operation {
            done_at: Instant::now(),
            delete: None,
            failure: None,
            undo: None,
        }
    }
}

fn route(
    st: &mut State,
    cfg: &Config,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
) -> (Reply, Duration) {
    let now = Instant::now();
    let lower = path.to_ascii_lowercase();
    settle(st, now);
    // Operation status and Location polling.
    if let Some(op) = lower.strip_prefix("/fake/operations/") {
        return match st.operations.get(op) {
            Some(Operation {
                failure: Some(f),
                done_at,
                ..
            }) if now >= *done_at => (
                (
                    200,
                    vec![],
                    json!({"status": f.end.as_str(), "error": f.error()}),
                ),
                Duration::ZERO,
            ),
            Some(o) if now >= o.done_at => (
                (200, vec![], json!({"status": "Succeeded"})),
                Duration::ZERO,
            ),
            Some(_) => (
                (200, hint_headers(cfg), json!({"status": "InProgress"})),
                Duration::ZERO,
            ),
            None => (
                arm_error(404, "NotFound", "no such operation"),
                Duration::ZERO,
            ),
        };
    }
    if let Some(op) = lower.strip_prefix("/fake/locations/") {
        return match st.operations.get(op) {
            // A failed operation answers with its error (ARM's async
            // pattern for `Location`): 400 Failed, 409 Canceled.
            Some(Operation {
                failure: Some(f),
                done_at,
                ..
            }) if now >= *done_at => {
                let status = if f.end == OperationEnd::Failed {
                    400
                } else {
                    409
                };
                (
                    (status, vec![], json!({"error": f.error()})),
                    Duration::ZERO,
                )
            }
            Some(o) if now >= o.done_at => ((204, vec![], Value::Null), Duration::ZERO),
            Some(_) => ((202, hint_headers(cfg), Value::Null), Duration::ZERO),
            None => (
                arm_error(404, "NotFound", "no such operation"),
                Duration::ZERO,
            ),
        };
    }
    let api_version = query_param(query, "api-version").unwrap_or_default();
    // Soft-deleted services and accounts of a subscription, in every location.
    for (list, kind) in [
        (
            "/providers/microsoft.apimanagement/deletedservices",
            "microsoft.apimanagement/service",
        ),
        (
            "/providers/microsoft.cognitiveservices/deletedaccounts",
            "microsoft.cognitiveservices/accounts",
        ),
    ] {
        if method == "GET" && lower.ends_with(list) {
            let sub = lower.split('/').nth(2).unwrap_or_default().to_string();
            let items: Vec<Value> = st
                .deleted
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{kind}|{sub}|")))
                .map(|(k, d)| {
                    let f: Vec<&str> = k.split('|').collect();
                    let (location, rg, name) = (f[2], f[3], f[4]);
                    let id = if rg.is_empty() {
                        format!("/subscriptions/{sub}/providers/Microsoft.ApiManagement/locations/{location}/deletedservices/{name}")
                    } else {
                        format!("/subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{location}/resourceGroups/{rg}/deletedAccounts/{name}")
                    };
                    json!({"id": id, "name": name, "location": view::display_location(location),
                        "properties": {"serviceId": d.id}})
                })
                .collect();
            return ((200, vec![], json!({"value": items})), Duration::ZERO);
        }
    }
    // Soft-deleted services and accounts.
    if lower.contains("/deletedservices/") || lower.contains("/deletedaccounts/") {
        let (kind, expected) = if lower.contains("/deletedservices/") {
            ("microsoft.apimanagement/service", "2024-05-01")
        } else {
            ("microsoft.cognitiveservices/accounts", "2025-09-01")
        };
        if api_version != expected {
            return (
                arm_error(
                    400,
                    "InvalidApiVersionParameter",
                    &format!("api-version {api_version:?} is not {expected} for this fake"),
                ),
                Duration::ZERO,
            );
        }
        let segs: Vec<&str> = lower.trim_matches('/').split('/').collect();
        let after = |seg: &str| {
            segs.iter()
                .position(|s| *s == seg)
                .and_then(|i| segs.get(i + 1))
                .copied()
                .unwrap_or_default()
        };
        let name = segs.last().copied().unwrap_or_default().to_string();
        let (sub, location) = (after("subscriptions"), after("locations"));
        let rg = if kind == "microsoft.cognitiveservices/accounts" {
            after("resourcegroups")
        } else {
            ""
        };
        // Found only where it is: the location (and group) it was deleted in.
        let key = format!("{kind}|{sub}|{location}|{rg}|{name}");
        return match (method, st.deleted.contains_key(&key)) {
            (_, false) => (
                arm_error(
                    404,
                    "ResourceNotFound",
                    "no soft-deleted resource of that name",
                ),
                Duration::ZERO,
            ),
            ("GET", true) => (
                (
                    200,
                    vec![],
                    json!({"id": path, "name": name, "location": location,
                        "properties": {"serviceId": st.deleted[&key].id,
                            "deletionDate": "2026-01-01T00:00:00Z",
                            "scheduledPurgeDate": "2026-03-01T00:00:00Z"}}),
                ),
                Duration::ZERO,
            ),
            ("DELETE", true) => {
                st.deleted.remove(&key);
                let op = new_operation(st, now + cfg.unit, Operation::plain());
                let mut h = hint_headers(cfg);
                h.push((
                    "location".into(),
                    format!("http://PLACEHOLDER/fake/locations/{op}"),
                ));
                ((202, h, Value::Null), Duration::ZERO)
            }
            _ => (
                arm_error(405, "MethodNotAllowed", "unsupported"),
                Duration::ZERO,
            ),
        };
    }
    // Resources listed in a resource group.
    if method == "GET" && lower.ends_with("/resources") && lower.matches('/').count() == 5 {
        let rg = lower.trim_end_matches("/resources").to_string();
        let items: Vec<Value> = st
            .resources
            .iter()
            .filter(|(k, s)| {
                k.starts_with(&format!("{rg}/providers/")) && s.kind.matches('/').count() == 1
            })
            .map(|(_, s)| json!({"id": s.id, "type": s.kind}))
            .collect();
        return ((200, vec![], json!({"value": items})), Duration::ZERO);
    }
    if method == "POST" && lower.ends_with("/subscriptions/master/listsecrets") {
        let apim = lower.trim_end_matches("/subscriptions/master/listsecrets");
        return if st.resources.contains_key(apim) {
            (
                (
                    200,
                    vec![],
                    json!({"primaryKey": "fake-primary-key-0123", "secondaryKey": "fake-secondary-key-4567"}),
                ),
                Duration::ZERO,
            )
        } else {
            (
                arm_error(404, "ResourceNotFound", "no such service"),
                Duration::ZERO,
            )
        };
    }
    // Access keys of an Azure Managed Redis database.
    if method == "POST"
        && lower.ends_with("/listkeys")
        && lower.contains("/providers/microsoft.cache/redisenterprise/")
    {
        let db = lower.trim_end_matches("/listkeys");
        return match st.resources.get(db) {
            Some(s)
                if get(&s.body, "properties.accessKeysAuthentication")
                    == Some(&json!("Enabled")) =>
            {
                (
                    (
                        200,
                        vec![],
                        json!({"primaryKey": "fake-redis-primary-key", "secondaryKey": "fake-redis-secondary-key"}),
                    ),
                    Duration::ZERO,
                )
            }
            Some(_) => (
                arm_error(
                    400,
                    "AccessKeysAuthenticationDisabled",
                    "access keys authentication is disabled on this database",
                ),
                Duration::ZERO,
            ),
            None => (
                arm_error(404, "ResourceNotFound", "no such database"),
                Duration::ZERO,
            ),
        };
    }
    if let Some(out) = consumers::route(st, method, &lower, body) {
        return out;
    }
    // Role assignments listed at a scope.
    if method == "GET" && lower.ends_with("/providers/microsoft.authorization/roleassignments") {
        let scope = lower.trim_end_matches("/providers/microsoft.authorization/roleassignments");
        let filter = query_param(query, "$filter")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let items: Vec<Value> = st
            .resources
            .values()
            .filter(|s| s.kind == "microsoft.authorization/roleassignments")
            .filter(|s| {
                s.id.to_ascii_lowercase()
                    .starts_with(&format!("{scope}/providers/"))
            })
            .filter(|s| {
                let p = get(&s.body, "properties.principalId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                filter.is_empty() || filter.contains(&format!("'{p}'"))
            })
            .map(|s| view(s, query))
            .collect();
        return ((200, vec![], json!({"value": items})), Duration::ZERO);
    }
    let Some((kind, _)) = parse_type(path) else {
        return (arm_error(404, "NotFound", "unknown path"), Duration::ZERO);
    };
    let Some(expected) = api_version_for(&kind) else {
        return (
            arm_error(
                400,
                "NoRegisteredProviderFound",
                &format!("unknown resource type {kind}"),
            ),
            Duration::ZERO,
        );
    };
    if api_version != expected {
        return (
            arm_error(
                400,
                "InvalidApiVersionParameter",
                &format!("the api-version '{api_version}' is invalid for {kind}; use {expected}"),
            ),
            Duration::ZERO,
        );
    }
    let key = lower.clone();
    match method {
        "GET" => match st.resources.get(&key) {
            Some(s) => ((200, vec![], view(s, query)), Duration::ZERO),
            None => (
                arm_error(404, "ResourceNotFound", &format!("{path} not found")),
                Duration::ZERO,
            ),
        },
        "PUT" => put(st, cfg, path, &kind, body, now),
        "DELETE" => delete(st, cfg, &key, &kind, now),
        _ => (
            arm_error(405, "MethodNotAllowed", "unsupported method"),
            Duration::ZERO,
        ),
    }
}

/// Moves finished deletions out of the store.
fn settle(st: &mut State, now: Instant) {
    let done: Vec<String> = st
        .operations
        .values()
        .filter(|o| now >= o.done_at)
        .filter_map(|o| o.delete.clone())
        .collect();
    for key in done {
        remove_tree(st, &key);
    }
    for o in st.operations.values_mut() {
        if now < o.done_at {
            continue;
        }
        if let Some((key, before)) = o.undo.take() {
            match before {
                Some(b) => {
                    st.resources.insert(key, b);
                }
                None => {
                    st.resources.remove(&key);
                }
            }
        }
    }
    st.operations
        .retain(|_, o| !(now >= o.done_at && o.delete.is_some()));
}

fn remove_tree(st: &mut State, key: &str) {
    let doomed: Vec<String> = st
        .resources
        .keys()
        .filter(|k| *k == key || k.starts_with(&format!("{key}/")))
        .cloned()
        .collect();
    for k in doomed {
        if let Some(s) = st.resources.remove(&k) {
            if matches!(
                s.kind.as_str(),
                "microsoft.apimanagement/service" | "microsoft.cognitiveservices/accounts"
            ) {
                let location = get(&s.body, "location")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                st.deleted.insert(deleted_key(&s.kind, &s.id, &location), s);
            }
        }
    }
}

/// Required properties and read-only ones per type, from the REST specs of
/// the API versions above.
fn validate(kind: &str, body: &Value) -> Result<(), String> {
    let (required, read_only): (&[&str], &[&str]) = match kind {
        "resourcegroups" => (&["location"], &["properties.provisioningState"]),
        "microsoft.operationalinsights/workspaces" => (
            &["location"],
            &[
                "properties.customerId",
                "properties.provisioningState",
                "properties.createdDate",
            ],
        ),
        "microsoft.insights/components" => (
            &[
                "location",
                "kind",
                "properties.Application_Type",
                "properties.WorkspaceResourceId",
            ],
            &[
                "properties.ConnectionString",
                "properties.InstrumentationKey",
                "properties.AppId",
                "properties.provisioningState",
            ],
        ),
        "microsoft.managedidentity/userassignedidentities" => (
            &["location"],
            &[
                "properties.principalId",
                "properties.clientId",
                "properties.tenantId",
            ],
        ),
        "microsoft.cognitiveservices/accounts" => (
            &["location", "kind", "sku.name"],
            &[
                "properties.endpoint",
                "properties.provisioningState",
                "identity.principalId",
                "properties.dateCreated",
            ],
        ),
        "microsoft.cognitiveservices/accounts/deployments" => (
            &[
                "properties.model.format",
                "properties.model.name",
                "sku.name",
            ],
            &[
                "properties.provisioningState",
                "properties.rateLimits",
                "properties.capabilities",
            ],
        ),
        "microsoft.apimanagement/service" => (
            &[
                "location",
                "sku.name",
                "sku.capacity",
                "properties.publisherEmail",
                "properties.publisherName",
            ],
            &[
                "properties.gatewayUrl",
                "properties.provisioningState",
                "properties.createdAtUtc",
                "identity.principalId",
                "properties.targetProvisioningState",
            ],
        ),
        "microsoft.apimanagement/service/namedvalues" => (
            &["properties.displayName"],
            &["properties.provisioningState"],
        ),
        "microsoft.apimanagement/service/backends" => (&["properties.type"], &[]),
        "microsoft.apimanagement/service/caches" => (
            &["properties.connectionString", "properties.useFromLocation"],
            &[],
        ),
        "microsoft.cache/redisenterprise" => (
            &["location", "sku.name", "properties.publicNetworkAccess"],
            &[
                "properties.hostName",
                "properties.provisioningState",
                "properties.resourceState",
                "properties.redisVersion",
                "kind",
            ],
        ),
        "microsoft.cache/redisenterprise/databases" => (
            &[],
            &[
                "properties.provisioningState",
                "properties.resourceState",
                "properties.redisVersion",
            ],
        ),
        "microsoft.apimanagement/service/apis" => (
            &["properties.path"],
            &["properties.isCurrent", "properties.provisioningState"],
        ),
        "microsoft.apimanagement/service/apis/operations" => (
            &[
                "properties.displayName",
                "properties.method",
                "properties.urlTemplate",
            ],
            &[],
        ),
        "microsoft.apimanagement/service/apis/policies" => (&["properties.value"], &[]),
        "microsoft.apimanagement/service/loggers" => (&["properties.loggerType"], &[]),
        "microsoft.apimanagement/service/apis/diagnostics" => (&["properties.loggerId"], &[]),
        "microsoft.authorization/roleassignments" => (
            &["properties.roleDefinitionId", "properties.principalId"],
            &[
                "properties.scope",
                "properties.createdOn",
                "properties.updatedOn",
                "properties.createdBy",
            ],
        ),
        _ => (&[], &[]),
    };
    for r in required {
        if get(body, r).is_none_or(|v| v.is_null()) {
            return Err(format!("the property '{r}' is required"));
        }
    }
    for r in read_only {
        if get(body, r).is_some() {
            return Err(format!("the property '{r}' is read-only"));
        }
    }
    if body.to_string().contains("\"$oailb\"") {
        return Err("the body holds an unresolved oailb placeholder".into());
    }
    if kind == "microsoft.apimanagement/service/backends" {
        let t = get(body, "properties.type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let has = |k: &str| get(body, k).is_some();
        match t {
            "Pool" if has("properties.url") || has("properties.protocol") => {
                return Err("a Pool backend must not have url or protocol".into())
            }
            "Pool" if !has("properties.pool.services") => {
                return Err("a Pool backend needs pool.services".into())
            }
            "Single" if !has("properties.url") || !has("properties.protocol") => {
                return Err("a Single backend needs url and protocol".into())
            }
            "Pool" | "Single" => {}
            other => return Err(format!("unknown backend type {other:?}")),
        }
    }
    if kind == "microsoft.apimanagement/service/namedvalues"
        && get(body, "properties.value").is_none()
        && get(body, "properties.keyVault").is_none()
    {
        return Err("a named value needs value or keyVault".into());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn put(
    st: &mut State,
    cfg: &Config,
    path: &str,
    kind: &str,
    body: Option<&Value>,
    now: Instant,
) -> (Reply, Duration) {
    let key = path.to_ascii_lowercase();
    let Some(body) = body.filter(|b| b.is_object()) else {
        return (
            arm_error(
                400,
                "InvalidRequestContent",
                "the request body must be a JSON object",
            ),
            Duration::ZERO,
        );
    };
    if let Err(m) = validate(kind, body)
        .and_then(|()| consumers::validate(kind, path.rsplit('/').next().unwrap_or_default(), body))
    {
        return (arm_error(400, "InvalidRequestContent", &m), Duration::ZERO);
    }
    // The resource group, and the parent of a child type, must exist.
    if kind != "resourcegroups" {
        let Some(rg) = rg_of(path) else {
            return (
                arm_error(400, "InvalidScope", "not in a resource group"),
                Duration::ZERO,
            );
        };
        if !st.resources.contains_key(&rg) {
            return (
                arm_error(
                    404,
                    "ResourceGroupNotFound",
                    &format!("resource group {rg} not found"),
                ),
                Duration::ZERO,
            );
        }
        if kind.matches('/').count() > 1 {
            let parent: String = {
                let segs: Vec<&str> = key.split('/').collect();
                segs[..segs.len() - 2].join("/")
            };
            let parent = if kind == "microsoft.authorization/roleassignments" {
                key.split("/providers/microsoft.authorization/")
                    .next()
                    .unwrap_or_default()
                    .to_string()
            } else {
                parent
            };
            match st.resources.get(&parent) {
                None => {
                    return (
                        arm_error(
                            404,
                            "ParentResourceNotFound",
                            &format!("parent {parent} not found"),
                        ),
                        Duration::ZERO,
                    )
                }
                Some(p) if now < p.ready_at => {
                    return (
                        arm_error(
                            409,
                            "AnotherOperationInProgress",
                            "the parent resource is still being provisioned",
                        ),
                        Duration::ZERO,
                    )
                }
                _ => {}
            }
        }
    }
    match kind {
        "microsoft.authorization/roleassignments" => return put_role(st, cfg, path, body, now),
        "microsoft.apimanagement/service/apis/diagnostics" => {
            let logger = get(body, "properties.loggerId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !st.resources.contains_key(&logger) {
                return (
                    arm_error(
                        400,
                        "ValidationError",
                        "loggerId does not name an existing logger",
                    ),
                    Duration::ZERO,
                );
            }
        }
        "microsoft.apimanagement/service/backends" => {
            if let Some(services) = get(body, "properties.pool.services").and_then(Value::as_array)
            {
                for s in services {
                    let id = s
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if !st.resources.contains_key(&id) {
                        return (
                            arm_error(
                                400,
                                "ValidationError",
                                &format!("pool member {id} does not exist"),
                            ),
                            Duration::ZERO,
                        );
                    }
                }
            }
        }
        "microsoft.apimanagement/service/apis/policies" => {
            // APIM parses the policy and resolves what it names.
            let service = key.split("/apis/").next().unwrap_or_default().to_string();
            let xml = get(body, "properties.value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let format = get(body, "properties.format")
                .and_then(Value::as_str)
                .unwrap_or("xml");
            if let Err(m) = policy_xml::store(xml, format) {
                return (arm_error(400, "ValidationError", &m), Duration::ZERO);
            }
            if let Some(e) = missing_named_value(st, &service, xml) {
                return (e, Duration::ZERO);
            }
            for b in referenced(xml, "backend-id=\"", "\"") {
                if !b.contains('@')
                    && !st
                        .resources
                        .contains_key(&format!("{service}/backends/{}", b.to_ascii_lowercase()))
                {
                    return (
                        arm_error(
                            400,
                            "ValidationError",
                            &format!("Backend with id '{b}' could not be found"),
                        ),
                        Duration::ZERO,
                    );
                }
            }
        }
        "microsoft.cache/redisenterprise/databases"
            if key.rsplit('/').next() != Some("default") =>
        {
            return (
                arm_error(
                    400,
                    "InvalidRequestContent",
                    "the database of an Azure Managed Redis instance is named `default`",
                ),
                Duration::ZERO,
            );
        }
        "microsoft.apimanagement/service/caches" => {
            // APIM resolves the named value the connection string refers to.
            let service = key.split("/caches/").next().unwrap_or_default().to_string();
            let conn = get(body, "properties.connectionString")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(e) = missing_named_value(st, &service, conn) {
                return (e, Duration::ZERO);
            }
            let from = get(body, "properties.useFromLocation")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !from.eq_ignore_ascii_case(key.rsplit('/').next().unwrap_or_default()) {
                return (
                    arm_error(
                        400,
                        "ValidationError",
                        "the cache id must be its useFromLocation (`default` or a gateway region)",
                    ),
                    Duration::ZERO,
                );
            }
        }
        "microsoft.cognitiveservices/accounts/deployments" => {
            let account = key.split("/deployments/").next().unwrap_or_default();
            if let Some(sp) =
                get(body, "properties.spilloverDeploymentName").and_then(Value::as_str)
            {
                if !st.resources.contains_key(&format!(
                    "{account}/deployments/{}",
                    sp.to_ascii_lowercase()
                )) {
                    return (
                        arm_error(
                            400,
                            "InvalidSpilloverDeployment",
                            &format!(
                                "the spillover deployment '{sp}' does not exist in this account"
                            ),
                        ),
                        Duration::ZERO,
                    );
                }
            }
            let busy = st.resources.iter().any(|(k, s)| {
                k.starts_with(&format!("{account}/deployments/")) && *k != key && now < s.ready_at
            });
            if busy {
                return (
                    arm_error(
                        409,
                        "RequestConflict",
                        "another deployment operation is in progress on this account",
                    ),
                    Duration::ZERO,
                );
            }
        }
        _ => {}
    }
    let body = match consumers::check_put(st, kind, &key, body) {
        Ok(b) => b,
        Err(reply) => return (reply, Duration::ZERO),
    };
    let body = &body;
    let existing = st.resources.get(&key).cloned();
    if let Some(e) = &existing {
        if now < e.ready_at {
            return (
                arm_error(
                    409,
                    "AnotherOperationInProgress",
                    "an operation is in progress on this resource",
                ),
                Duration::ZERO,
            );
        }
    }
    let mut body = body.clone();
    let mut principal = existing.as_ref().and_then(|e| e.principal.clone());
    if existing.is_none()
        && matches!(
            kind,
            "microsoft.apimanagement/service" | "microsoft.cognitiveservices/accounts"
        )
    {
        if let Some(dkey) = holder(st, kind, path) {
            let d = st.deleted[&dkey].clone();
            if get(&body, "properties.restore") != Some(&json!(true)) {
                let code = if kind == "microsoft.apimanagement/service" {
                    "ServiceAlreadyExistsInSoftDeletedState"
                } else {
                    "FlagMustBeSetForRestore"
                };
                return (
                    arm_error(
                        409,
                        code,
                        "a soft-deleted resource holds this name; restore or purge it",
                    ),
                    Duration::ZERO,
                );
            }
            let here = get(&body, "location").and_then(Value::as_str).map(region);
            let there = get(&d.body, "location").and_then(Value::as_str).map(region);
            if here != there {
                return (
                    arm_error(
                        400,
                        "LocationMismatch",
                        &format!(
                            "the soft-deleted resource is in {}; it can be restored only there",
                            there.unwrap_or_default()
                        ),
                    ),
                    Duration::ZERO,
                );
            }
            st.deleted.remove(&dkey);
            principal = d.principal.clone();
        }
    }
    if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("restore");
    }
    let failure = if is_lro(kind) {
        let i = st
            .operation_faults
            .iter()
            .position(|(frag, _)| key.contains(frag.as_str()));
        i.map(|i| st.operation_faults.remove(i).1)
    } else {
        None
    };
    let units = weight(kind);
    let duration = cfg.unit * units;
    let ready_at = now
        + if is_lro(kind) {
            duration
        } else {
            Duration::ZERO
        };
    let creates_principal = kind == "microsoft.managedidentity/userassignedidentities"
        || (matches!(
            kind,
            "microsoft.apimanagement/service" | "microsoft.cognitiveservices/accounts"
        ) && get(&body, "identity.type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("SystemAssigned")));
    if creates_principal && principal.is_none() {
        let n = st.resources.len() + st.requests.len();
        principal = Some((
            format!("{:08x}-0000-4000-8000-{:012x}", n, key.len() * 7919 + n),
            ready_at,
        ));
    }
    let created = existing.is_none();
    let stored = Stored {
        kind: kind.to_string(),
        id: path.to_string(),
        body,
        ready_at,
        pending_state: if created { "Creating" } else { "Updating" },
        outcome: failure.clone(),
        principal,
    };
    let status = if created { 201 } else { 200 };
    let view_now = view(&stored, "");
    st.resources.insert(key.clone(), stored);
    // The three ways ARM reports a long-running PUT, one per group of types.
    match lro_style(kind) {
        Some(LroStyle::AsyncOperation) => {
            let op = new_operation(
                st,
                ready_at,
                Operation {
                    failure,
                    ..Operation::plain()
                },
            );
            let mut h = hint_headers(cfg);
            h.push((
                "azure-asyncoperation".into(),
                format!("http://PLACEHOLDER/fake/operations/{op}"),
            ));
            ((status, h, view_now), Duration::ZERO)
        }
        Some(LroStyle::Location) => {
            // A failed write through `Location` leaves the resource as it was.
            let undo = failure.is_some().then_some((key, existing));
            let op = new_operation(
                st,
                ready_at,
                Operation {
                    failure,
                    undo,
                    ..Operation::plain()
                },
            );
            let mut h = hint_headers(cfg);
            h.push((
                "location".into(),
                format!("http://PLACEHOLDER/fake/locations/{op}"),
            ));
            ((202, h, Value::Null), Duration::ZERO)
        }
        Some(LroStyle::ProvisioningState) => {
            ((status, hint_headers(cfg), view_now), Duration::ZERO)
        }
        // Synchronous types answer after their latency.
        None => ((status, vec![], view_now), duration),
    }
}

enum LroStyle {
    /// 201/200 with an Azure-AsyncOperation URL to poll.
    AsyncOperation,
    /// 202 with a Location URL that answers 202 until done.
    Location,
    /// 201/200 whose provisioningState progresses on GET.
    ProvisioningState,
}

fn lro_style(kind: &str) -> Option<LroStyle> {
    match kind {
        "microsoft.apimanagement/service"
        | "microsoft.cognitiveservices/accounts"
        | "microsoft.cache/redisenterprise"
        | "microsoft.cache/redisenterprise/databases" => Some(LroStyle::AsyncOperation),
        "microsoft.apimanagement/service/apis" | "microsoft.apimanagement/service/namedvalues" => {
            Some(LroStyle::Location)
        }
        "microsoft.cognitiveservices/accounts/deployments" => Some(LroStyle::ProvisioningState),
        _ => None,
    }
}

fn put_role(
    st: &mut State,
    cfg: &Config,
    path: &str,
    body: &Value,
    now: Instant,
) -> (Reply, Duration) {
    let key = path.to_ascii_lowercase();
    let principal = get(body, "properties.principalId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let role = get(body, "properties.roleDefinitionId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let known = st
        .resources
        .values()
        .filter_map(|s| s.principal.as_ref())
        .find(|(p, _)| p.eq_ignore_ascii_case(&principal))
        .map(|(_, at)| *at);
    match known {
        None => {
            return (
                arm_error(
                    400,
                    "PrincipalNotFound",
                    &format!("Principal {principal} does not exist in the directory"),
                ),
                Duration::ZERO,
            )
        }
        Some(at) if now < at + cfg.principal_window => {
            return (
                arm_error(
                    400,
                    "PrincipalNotFound",
                    &format!("Principal {principal} does not exist in the directory (replication)"),
                ),
                Duration::ZERO,
            )
        }
        _ => {}
    }
    if let Some(existing) = st.resources.get(&key) {
        let same = |k: &str| {
            get(&existing.body, k)
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                == get(body, k)
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
        };
        if !same("properties.principalId") || !same("properties.roleDefinitionId") {
            return (
                arm_error(400, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated."),
                Duration::ZERO,
            );
        }
    }
    let scope = key
        .split("/providers/microsoft.authorization/")
        .next()
        .unwrap_or_default()
        .to_string();
    let duplicate = st.resources.iter().any(|(k, s)| {
        s.kind == "microsoft.authorization/roleassignments"
            && k.starts_with(&format!("{scope}/providers/"))
            && get(&s.body, "properties.principalId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .eq_ignore_ascii_case(&principal)
            && get(&s.body, "properties.roleDefinitionId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .eq_ignore_ascii_case(&role)
    });
    if duplicate {
        return (
            arm_error(
                409,
                "RoleAssignmentExists",
                "The role assignment already exists.",
            ),
            Duration::ZERO,
        );
    }
    let stored = Stored {
        kind: "microsoft.authorization/roleassignments".into(),
        id: path.to_string(),
        body: body.clone(),
        ready_at: now,
        pending_state: "Succeeded",
        outcome: None,
        principal: None,
    };
    let v = view(&stored, "");
    st.resources.insert(key, stored);
    ((201, vec![], v), cfg.unit)
}

fn delete(st: &mut State, cfg: &Config, key: &str, kind: &str, now: Instant) -> (Reply, Duration) {
    let Some(s) = st.resources.get(key) else {
        return ((204, vec![], Value::Null), Duration::ZERO);
    };
    if now < s.ready_at {
        return (
            arm_error(
                409,
                "AnotherOperationInProgress",
                "an operation is in progress on this resource",
            ),
            Duration::ZERO,
        );
    }
    if matches!(
        kind,
        "microsoft.apimanagement/service"
            | "microsoft.cognitiveservices/accounts"
            | "microsoft.cache/redisenterprise"
            | "resourcegroups"
    ) {
        let done_at = now + cfg.unit * weight(kind).div_ceil(3);
        let op = new_operation(
            st,
            done_at,
            Operation {
                delete: Some(key.to_string()),
                ..Operation::plain()
            },
        );
        let mut h = hint_headers(cfg);
        h.push((
            "location".into(),
            format!("http://PLACEHOLDER/fake/locations/{op}"),
        ));
        return ((202, h, Value::Null), Duration::ZERO);
    }
    remove_tree(st, key);
    ((200, vec![], Value::Null), cfg.unit)
}

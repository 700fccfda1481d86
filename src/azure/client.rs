//! The ARM client: generic PUT/GET/DELETE/POST with a pinned api-version
//! on azure_core's HTTP transport (reqwest + rustls), own retries and
//! long-running-operation polling, and the typed SDK clients where their
//! models fit (soft-deleted services and accounts, role assignments by
//! principal).
//!
//! Not through `azure_core::Pipeline`: its retry stage, even when told not
//! to retry, turns every error status into an error that hides the
//! response headers, and Retry-After lives in those headers.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::headers::{HeaderName, Headers};
use azure_core::{HttpClient, Method, Request, RetryOptions, Url};
use futures::StreamExt;
use serde_json::Value;

use super::auth::Credential;
use super::cloud::Endpoint;
use super::error::ArmError;

/// Waits and limits. Defaults suit real ARM; tests shrink them.
#[derive(Debug, Clone)]
pub struct Timing {
    /// First backoff after a transient failure without Retry-After; doubles.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Attempts per request (first try included) on transient failures.
    pub max_attempts: u32,
    /// Poll interval of long-running operations without Retry-After.
    pub default_poll: Duration,
    /// Lower bound on any wait the server asks for: no busy polling.
    pub min_wait: Duration,
    /// One HTTP exchange.
    pub request_timeout: Duration,
    /// One long-running operation (APIM on classic tiers takes 30–45 min).
    pub lro_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(60),
            max_attempts: 8,
            default_poll: Duration::from_secs(10),
            min_wait: Duration::from_millis(10),
            request_timeout: Duration::from_secs(120),
            lro_timeout: Duration::from_secs(2 * 3600),
        }
    }
}

impl Timing {
    /// Backoff for `attempt` (1-based) when the server gave no Retry-After.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_cap)
    }
}

/// Request counts, for progress summaries and the benchmark.
#[derive(Debug, Default)]
pub struct Counters {
    /// PUT, DELETE and POST requests sent (retries included).
    pub writes: AtomicU64,
    /// GETs of resources (reads for plan and after operations).
    pub reads: AtomicU64,
    /// GETs of operation status or of a resource still provisioning.
    pub polls: AtomicU64,
    /// Requests repeated after a transient failure.
    pub retries: AtomicU64,
}

impl Counters {
    pub fn get(&self) -> (u64, u64, u64, u64) {
        (
            self.writes.load(Ordering::Relaxed),
            self.reads.load(Ordering::Relaxed),
            self.polls.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
        )
    }
}

/// Something worth telling about a request while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A transient failure (429, 5xx, busy 409, dropped connection, an
    /// identity still replicating): the request is sent again after `wait`.
    Retrying {
        status: Option<u16>,
        code: String,
        wait: Duration,
        /// The attempt about to be made, and the most there will be.
        attempt: u32,
        max_attempts: Option<u32>,
    },
    /// A long-running operation is not finished yet.
    Polling { state: String },
    /// Anything else: a wait, a restore, a replacement.
    Info(String),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Retrying {
                status,
                code,
                wait,
                attempt,
                max_attempts,
            } => {
                if let Some(s) = status {
                    write!(f, "{s} ")?;
                }
                write!(
                    f,
                    "{code}, retrying in {:.1}s (attempt {attempt}",
                    wait.as_secs_f64()
                )?;
                if let Some(m) = max_attempts {
                    write!(f, "/{m}")?;
                }
                f.write_str(")")
            }
            Notice::Polling { state } => write!(f, "provisioning: {state}"),
            Notice::Info(message) => f.write_str(message),
        }
    }
}

/// Receives notices about one resource's requests.
pub type Notify<'a> = &'a (dyn Fn(Notice) + Send + Sync);

struct Raw {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Read,
    Poll,
    Write,
}

#[derive(Clone)]
pub struct ArmClient {
    endpoint: Endpoint,
    credential: Credential,
    http: Arc<dyn HttpClient>,
    timing: Timing,
    counters: Arc<Counters>,
}

const PROVISIONING_TERMINAL: &[&str] = &["Succeeded", "Failed", "Canceled", "Cancelled"];

/// Succeeded, Failed or Canceled: the operation will not change any more.
pub fn is_terminal_state(state: &str) -> bool {
    PROVISIONING_TERMINAL
        .iter()
        .any(|t| t.eq_ignore_ascii_case(state))
}

/// `properties.provisioningState`, if the body has one.
pub fn provisioning_state(body: &Value) -> Option<&str> {
    body.get("properties")
        .and_then(|p| p.get("provisioningState"))
        .and_then(Value::as_str)
}

impl ArmClient {
    pub fn new(endpoint: Endpoint, credential: Credential, timing: Timing) -> ArmClient {
        ArmClient {
            endpoint,
            credential,
            http: azure_core::new_http_client(),
            timing,
            counters: Arc::new(Counters::default()),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn url(&self, id: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Url, ArmError> {
        let mut url = self
            .endpoint
            .join(id)
            .map_err(|e| ArmError::new(None, "InvalidRequest", e.to_string(), id))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version);
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One HTTP exchange. Transport failures become `ConnectionFailed` or
    /// `Timeout` errors (transient).
    async fn send_once(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        purpose: Purpose,
    ) -> Result<Raw, ArmError> {
        let label = format!("{} {}", method, url.path());
        if !self.endpoint.owns(url) {
            return Err(ArmError::new(
                None,
                "ForeignUrl",
                format!(
                    "ARM pointed to {}, which is not the ARM endpoint {}; refusing to send credentials there",
                    url.origin().ascii_serialization(),
                    self.endpoint.url.origin().ascii_serialization()
                ),
                &label,
            ));
        }
        let token =
            self.credential.token().await.map_err(|e| {
                ArmError::new(None, "AuthenticationFailed", format!("{e:#}"), &label)
            })?;
        let mut req = Request::new(url.clone(), method);
        req.insert_header(
            azure_core::headers::AUTHORIZATION,
            format!("Bearer {}", token.secret()),
        );
        req.insert_header(azure_core::headers::ACCEPT, "application/json");
        req.insert_header(
            azure_core::headers::USER_AGENT,
            concat!("oailb/", env!("CARGO_PKG_VERSION")),
        );
        match body {
            Some(b) => {
                req.insert_header(azure_core::headers::CONTENT_TYPE, "application/json");
                req.set_body(serde_json::to_vec(b).unwrap_or_default());
            }
            None => req.set_body(azure_core::EMPTY_BODY),
        }
        let counter = match purpose {
            Purpose::Read => &self.counters.reads,
            Purpose::Poll => &self.counters.polls,
            Purpose::Write => &self.counters.writes,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let rsp = self.http.execute_request(&req).await?;
            let (status, headers, body) = rsp.deconstruct();
            let body = body.collect().await?;
            Ok::<_, azure_core::Error>((status, headers, body))
        };
        match tokio::time::timeout(self.timing.request_timeout, exchange).await {
            Err(_) => Err(ArmError::new(
                None,
                "Timeout",
                format!("no answer within {:?}", self.timing.request_timeout),
                &label,
            )),
            Ok(Err(e)) => Err(ArmError::new(
                None,
                "ConnectionFailed",
                e.to_string(),
                &label,
            )),
            Ok(Ok((status, headers, body))) => Ok(Raw {
                status: u16::from(status),
                headers,
                body: body.to_vec(),
            }),
        }
    }

    /// Sends until the answer is not transient (429, 5xx, busy 409, dropped
    /// connection), waiting Retry-After or an exponential backoff. Returns
    /// the last response, error statuses included.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        purpose: Purpose,
        notify: Notify<'_>,
    ) -> Result<Raw, ArmError> {
        let label = format!("{} {}", method, url.path());
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(method, url, body, purpose).await;
            let (err, wait) = match outcome {
                Ok(raw) if raw.status < 400 => return Ok(raw),
                Ok(raw) => {
                    let err = ArmError::from_response(raw.status, &raw.body, &label);
                    if !err.is_transient() {
                        return Ok(raw);
                    }
                    (err, self.retry_after(&raw.headers))
                }
                Err(err) if err.is_transient() => (err, None),
                Err(err) => return Err(err),
            };
            if attempt >= self.timing.max_attempts {
                return Err(ArmError {
                    message: format!("{} (gave up after {attempt} attempts)", err.message),
                    ..err
                });
            }
            let wait = wait.unwrap_or_else(|| self.timing.backoff(attempt));
            notify(Notice::Retrying {
                status: err.status,
                code: err.code.clone(),
                wait,
                attempt: attempt + 1,
                max_attempts: Some(self.timing.max_attempts),
            });
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The wait a response asks for: `retry-after-ms`, `x-ms-retry-after-ms`
    /// or `Retry-After` (seconds), never below `min_wait`.
    fn retry_after(&self, headers: &Headers) -> Option<Duration> {
        let get = |name: &'static str| headers.get_optional_str(&HeaderName::from_static(name));
        let ms = get("retry-after-ms")
            .or_else(|| get("x-ms-retry-after-ms"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis);
        let secs = || {
            get("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        };
        ms.or_else(secs).map(|d| d.max(self.timing.min_wait))
    }

    fn parse_json(raw: &Raw, label: &str) -> Result<Value, ArmError> {
        if raw.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&raw.body).map_err(|e| {
            ArmError::new(
                Some(raw.status),
                "InvalidResponse",
                format!("the response is not JSON: {e}"),
                label,
            )
        })
    }

    /// GET a resource: `None` when it does not exist.
    pub async fn get(
        &self,
        id: &str,
        api_version: &str,
        query: &[(&str, &str)],
        notify: Notify<'_>,
    ) -> Result<Option<Value>, ArmError> {
        self.get_for(id, api_version, query, Purpose::Read, notify)
            .await
    }

    async fn get_for(
        &self,
        id: &str,
        api_version: &str,
        query: &[(&str, &str)],
        purpose: Purpose,
        notify: Notify<'_>,
    ) -> Result<Option<Value>, ArmError> {
        let url = self.url(id, api_version, query)?;
        let label = format!("GET {id}");
        let raw = self.send(Method::Get, &url, None, purpose, notify).await?;
        match raw.status {
            404 => Ok(None),
            s if s < 300 => Self::parse_json(&raw, &label).map(Some),
            s => Err(ArmError::from_response(s, &raw.body, &label)),
        }
    }

    /// PUT a resource and wait until it is provisioned. Returns the resource
    /// as ARM reports it afterwards.
    pub async fn put(
        &self,
        id: &str,
        api_version: &str,
        body: &Value,
        notify: Notify<'_>,
    ) -> Result<Value, ArmError> {
        let url = self.url(id, api_version, &[])?;
        let label = format!("PUT {id}");
        let raw = self
            .send(Method::Put, &url, Some(body), Purpose::Write, notify)
            .await?;
        if raw.status >= 300 {
            return Err(ArmError::from_response(raw.status, &raw.body, &label));
        }
        let first = Self::parse_json(&raw, &label)?;
        let started = Instant::now();
        // After an operation URL said "done", read the result at once;
        // otherwise the resource itself is the progress report.
        let mut first_wait = None;
        if let Some(op) = self.operation_url(&raw.headers, "azure-asyncoperation") {
            self.wait_async_operation(&op, &raw.headers, started, &label, notify)
                .await?;
        } else if let (202, Some(loc)) = (raw.status, self.operation_url(&raw.headers, "location"))
        {
            self.wait_location(&loc, &raw.headers, started, &label, notify)
                .await?;
        } else if provisioning_state(&first).is_none_or(is_terminal_state) && first.is_object() {
            return check_succeeded(first, &label);
        } else {
            first_wait = Some(
                self.retry_after(&raw.headers)
                    .unwrap_or(self.timing.default_poll),
            );
        }
        self.wait_provisioned(id, api_version, started, first_wait, notify)
            .await
    }

    /// Polls a resource (after `first_wait`, if any) until its
    /// provisioningState is terminal; fails if that state is not Succeeded
    /// or the resource is gone.
    pub async fn wait_provisioned(
        &self,
        id: &str,
        api_version: &str,
        started: Instant,
        first_wait: Option<Duration>,
        notify: Notify<'_>,
    ) -> Result<Value, ArmError> {
        let label = format!("PUT {id}");
        let mut first = true;
        if let Some(w) = first_wait {
            tokio::time::sleep(w.max(self.timing.min_wait)).await;
            first = false;
        }
        loop {
            let purpose = if first { Purpose::Read } else { Purpose::Poll };
            first = false;
            let Some(body) = self.get_for(id, api_version, &[], purpose, notify).await? else {
                return Err(ArmError::new(
                    Some(404),
                    "ResourceNotFound",
                    "the resource disappeared while it was being provisioned",
                    &label,
                ));
            };
            match provisioning_state(&body) {
                Some(s) if !is_terminal_state(s) => {
                    self.check_deadline(started, &label)?;
                    notify(Notice::Polling {
                        state: s.to_string(),
                    });
                    tokio::time::sleep(self.timing.default_poll.max(self.timing.min_wait)).await;
                }
                _ => return check_succeeded(body, &label),
            }
        }
    }

    fn check_deadline(&self, started: Instant, label: &str) -> Result<(), ArmError> {
        if started.elapsed() > self.timing.lro_timeout {
            return Err(ArmError::new(
                None,
                "OperationTimeout",
                format!(
                    "still running after {} minutes; it may finish on its own: re-run to continue",
                    self.timing.lro_timeout.as_secs() / 60
                ),
                label,
            ));
        }
        Ok(())
    }

    fn operation_url(&self, headers: &Headers, name: &'static str) -> Option<Url> {
        // Absolute as ARM sends them; a relative one is on the endpoint.
        headers
            .get_optional_str(&HeaderName::from_static(name))
            .and_then(|v| Url::parse(v).or_else(|_| self.endpoint.url.join(v)).ok())
    }

    /// Polls an Azure-AsyncOperation URL until its status is terminal.
    async fn wait_async_operation(
        &self,
        op: &Url,
        first_headers: &Headers,
        started: Instant,
        label: &str,
        notify: Notify<'_>,
    ) -> Result<(), ArmError> {
        let mut wait = self.retry_after(first_headers);
        loop {
            tokio::time::sleep(wait.unwrap_or(self.timing.default_poll)).await;
            let raw = self
                .send(Method::Get, op, None, Purpose::Poll, notify)
                .await?;
            if raw.status >= 300 {
                return Err(ArmError::from_response(raw.status, &raw.body, label));
            }
            let status_body = Self::parse_json(&raw, label)?;
            let status = status_body
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("InProgress");
            if status.eq_ignore_ascii_case("Succeeded") {
                return Ok(());
            }
            if is_terminal_state(status) {
                return Err(ArmError::from_operation(
                    status_body.get("error"),
                    &format!("Operation{status}"),
                    label,
                ));
            }
            self.check_deadline(started, label)?;
            notify(Notice::Polling {
                state: status.to_string(),
            });
            wait = self.retry_after(&raw.headers);
        }
    }

    /// Polls a Location URL until it stops answering 202.
    async fn wait_location(
        &self,
        loc: &Url,
        first_headers: &Headers,
        started: Instant,
        label: &str,
        notify: Notify<'_>,
    ) -> Result<(), ArmError> {
        let mut wait = self.retry_after(first_headers);
        loop {
            tokio::time::sleep(wait.unwrap_or(self.timing.default_poll)).await;
            let raw = self
                .send(Method::Get, loc, None, Purpose::Poll, notify)
                .await?;
            match raw.status {
                202 => {
                    self.check_deadline(started, label)?;
                    notify(Notice::Polling {
                        state: "Accepted".into(),
                    });
                    wait = self.retry_after(&raw.headers);
                }
                s if s < 300 || s == 404 => return Ok(()),
                s => return Err(ArmError::from_response(s, &raw.body, label)),
            }
        }
    }

    /// DELETE a resource and wait until it is gone. `Ok(false)` when it did
    /// not exist.
    pub async fn delete(
        &self,
        id: &str,
        api_version: &str,
        query: &[(&str, &str)],
        notify: Notify<'_>,
    ) -> Result<bool, ArmError> {
        let url = self.url(id, api_version, query)?;
        self.delete_url(&url, id, notify).await
    }

    async fn delete_url(&self, url: &Url, id: &str, notify: Notify<'_>) -> Result<bool, ArmError> {
        let label = format!("DELETE {id}");
        let raw = self
            .send(Method::Delete, url, None, Purpose::Write, notify)
            .await?;
        let started = Instant::now();
        match raw.status {
            404 | 204 => Ok(raw.status == 204),
            200..=202 => {
                if let Some(op) = self.operation_url(&raw.headers, "azure-asyncoperation") {
                    self.wait_async_operation(&op, &raw.headers, started, &label, notify)
                        .await?;
                } else if let Some(loc) = self.operation_url(&raw.headers, "location") {
                    if raw.status == 202 {
                        self.wait_location(&loc, &raw.headers, started, &label, notify)
                            .await?;
                    }
                }
                Ok(true)
            }
            s => Err(ArmError::from_response(s, &raw.body, &label)),
        }
    }

    /// POST an action such as `listSecrets`; returns the response body.
    pub async fn post(
        &self,
        path: &str,
        api_version: &str,
        notify: Notify<'_>,
    ) -> Result<Value, ArmError> {
        let url = self.url(path, api_version, &[])?;
        let label = format!("POST {path}");
        let raw = self
            .send(Method::Post, &url, None, Purpose::Write, notify)
            .await?;
        if raw.status >= 300 {
            return Err(ArmError::from_response(raw.status, &raw.body, &label));
        }
        Self::parse_json(&raw, &label)
    }

    /// POST a JSON body to `path` on this endpoint, without an api-version
    /// (the Log Analytics query API has none); retried like every request.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        notify: Notify<'_>,
    ) -> Result<Value, ArmError> {
        let url = self
            .endpoint
            .join(path)
            .map_err(|e| ArmError::new(None, "InvalidRequest", e.to_string(), path))?;
        let label = format!("POST {path}");
        let raw = self
            .send(Method::Post, &url, Some(body), Purpose::Read, notify)
            .await?;
        if raw.status >= 300 {
            return Err(ArmError::from_response(raw.status, &raw.body, &label));
        }
        Self::parse_json(&raw, &label)
    }

    /// GET a list (`value` array, following `nextLink`).
    pub async fn list(
        &self,
        path: &str,
        api_version: &str,
        notify: Notify<'_>,
    ) -> Result<Vec<Value>, ArmError> {
        let mut url = self.url(path, api_version, &[])?;
        let label = format!("GET {path}");
        let mut out = Vec::new();
        for _ in 0..1000 {
            let raw = self
                .send(Method::Get, &url, None, Purpose::Read, notify)
                .await?;
            if raw.status >= 300 {
                return Err(ArmError::from_response(raw.status, &raw.body, &label));
            }
            let page = Self::parse_json(&raw, &label)?;
            if let Some(items) = page.get("value").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            match page.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    url = Url::parse(next).map_err(|e| {
                        ArmError::new(
                            None,
                            "InvalidResponse",
                            format!("bad nextLink: {e}"),
                            &label,
                        )
                    })?;
                }
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Typed SDK clients on this endpoint. The endpoint carries the pinned
    /// `api-version` because the generated code adds its own (a preview for
    /// APIM) only when the URL has none.
    fn sdk_endpoint(&self, api_version: &str) -> Url {
        let mut url = self.endpoint.url.clone();
        url.set_query(Some(&format!("api-version={api_version}")));
        url
    }

    /// Runs one typed SDK request with the same retry rules as the rest.
    async fn sdk_send<F, Fut>(
        &self,
        label: &str,
        purpose: Purpose,
        notify: Notify<'_>,
        call: F,
    ) -> Result<Raw, ArmError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = azure_core::Result<azure_core::Response>>,
    {
        let mut attempt = 1;
        loop {
            let counter = match purpose {
                Purpose::Write => &self.counters.writes,
                _ => &self.counters.reads,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let outcome = match tokio::time::timeout(self.timing.request_timeout, call()).await {
                Err(_) => Err(ArmError::new(None, "Timeout", "no answer in time", label)),
                Ok(Err(e)) => match e.kind() {
                    // The typed clients' pipeline turns error statuses into
                    // errors; keep the status so 404 and 429 mean what they say.
                    azure_core::error::ErrorKind::HttpResponse { status, error_code } => {
                        let code = error_code
                            .clone()
                            .unwrap_or_else(|| format!("Http{}", u16::from(*status)));
                        let body =
                            serde_json::json!({"error": {"code": code, "message": e.to_string()}});
                        Ok(Raw {
                            status: u16::from(*status),
                            headers: Headers::new(),
                            body: body.to_string().into_bytes(),
                        })
                    }
                    _ => Err(ArmError::new(
                        None,
                        "ConnectionFailed",
                        e.to_string(),
                        label,
                    )),
                },
                Ok(Ok(rsp)) => {
                    let (status, headers, body) = rsp.deconstruct();
                    match body.collect().await {
                        Ok(b) => Ok(Raw {
                            status: u16::from(status),
                            headers,
                            body: b.to_vec(),
                        }),
                        Err(e) => Err(ArmError::new(
                            None,
                            "ConnectionFailed",
                            e.to_string(),
                            label,
                        )),
                    }
                }
            };
            let (err, wait) = match outcome {
                Ok(raw) => {
                    let err = ArmError::from_response(raw.status, &raw.body, label);
                    if raw.status < 400 || !err.is_transient() {
                        return Ok(raw);
                    }
                    (err, self.retry_after(&raw.headers))
                }
                Err(e) if e.is_transient() => (e, None),
                Err(e) => return Err(e),
            };
            if attempt >= self.timing.max_attempts {
                return Err(err);
            }
            let wait = wait.unwrap_or_else(|| self.timing.backoff(attempt));
            notify(Notice::Retrying {
                status: err.status,
                code: err.code.clone(),
                wait,
                attempt: attempt + 1,
                max_attempts: Some(self.timing.max_attempts),
            });
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn cognitive(&self) -> Result<azure_mgmt_cognitiveservices::package_2024_10::Client, ArmError> {
        azure_mgmt_cognitiveservices::package_2024_10::Client::builder(
            self.credential.inner.clone(),
        )
        .endpoint(self.sdk_endpoint(crate::desired::Kind::CognitiveAccount.api_version()))
        .scopes(&[self.credential.scope.as_str()])
        .retry(RetryOptions::none())
        .build()
        .map_err(|e| {
            ArmError::new(
                None,
                "ClientError",
                e.to_string(),
                "cognitive services client",
            )
        })
    }

    fn apim(&self) -> Result<azure_mgmt_apimanagement::package_preview_2023_09::Client, ArmError> {
        azure_mgmt_apimanagement::package_preview_2023_09::Client::builder(
            self.credential.inner.clone(),
        )
        .endpoint(self.sdk_endpoint(crate::desired::Kind::ApimService.api_version()))
        .scopes(&[self.credential.scope.as_str()])
        .retry(RetryOptions::none())
        .build()
        .map_err(|e| ArmError::new(None, "ClientError", e.to_string(), "api management client"))
    }

    /// A soft-deleted Cognitive Services account of that name, if any.
    pub async fn deleted_account(
        &self,
        sub: &str,
        location: &str,
        rg: &str,
        name: &str,
        notify: Notify<'_>,
    ) -> Result<Option<Value>, ArmError> {
        let client = self.cognitive()?.deleted_accounts_client();
        let label = format!("GET deletedAccounts/{name}");
        let raw = self
            .sdk_send(&label, Purpose::Read, notify, || {
                let b = client.get(location, rg, name, sub);
                async move { b.send().await.map(|r| r.into_raw_response()) }
            })
            .await?;
        deleted_result(raw, &label)
    }

    /// Purges a soft-deleted account and waits until the name is free.
    pub async fn purge_deleted_account(
        &self,
        sub: &str,
        location: &str,
        rg: &str,
        name: &str,
        notify: Notify<'_>,
    ) -> Result<(), ArmError> {
        let client = self.cognitive()?.deleted_accounts_client();
        let label = format!("DELETE deletedAccounts/{name}");
        let raw = self
            .sdk_send(&label, Purpose::Write, notify, || {
                let b = client.purge(location, rg, name, sub);
                async move { b.send().await.map(|r| r.into_raw_response()) }
            })
            .await?;
        self.finish_purge(raw, &label, notify).await
    }

    /// A soft-deleted API Management service of that name, if any.
    pub async fn deleted_apim(
        &self,
        sub: &str,
        location: &str,
        name: &str,
        notify: Notify<'_>,
    ) -> Result<Option<Value>, ArmError> {
        let client = self.apim()?.deleted_services_client();
        let label = format!("GET deletedservices/{name}");
        let raw = self
            .sdk_send(&label, Purpose::Read, notify, || {
                let b = client.get_by_name(name, sub, location);
                async move { b.send().await.map(|r| r.into_raw_response()) }
            })
            .await?;
        deleted_result(raw, &label)
    }

    pub async fn purge_deleted_apim(
        &self,
        sub: &str,
        location: &str,
        name: &str,
        notify: Notify<'_>,
    ) -> Result<(), ArmError> {
        let client = self.apim()?.deleted_services_client();
        let label = format!("DELETE deletedservices/{name}");
        let raw = self
            .sdk_send(&label, Purpose::Write, notify, || {
                let b = client.purge(name, sub, location);
                async move { b.send().await.map(|r| r.into_raw_response()) }
            })
            .await?;
        self.finish_purge(raw, &label, notify).await
    }

    async fn finish_purge(
        &self,
        raw: Raw,
        label: &str,
        notify: Notify<'_>,
    ) -> Result<(), ArmError> {
        let started = Instant::now();
        match raw.status {
            404 | 200 | 204 => Ok(()),
            201 | 202 => {
                if let Some(op) = self.operation_url(&raw.headers, "azure-asyncoperation") {
                    self.wait_async_operation(&op, &raw.headers, started, label, notify)
                        .await
                } else if let Some(loc) = self.operation_url(&raw.headers, "location") {
                    self.wait_location(&loc, &raw.headers, started, label, notify)
                        .await
                } else {
                    Ok(())
                }
            }
            s => Err(ArmError::from_response(s, &raw.body, label)),
        }
    }

    /// Role assignments of `principal_id` at exactly `scope` (not inherited),
    /// as `(id, roleDefinitionId)`.
    pub async fn role_assignments_of(
        &self,
        scope: &str,
        principal_id: &str,
    ) -> Result<Vec<(String, String)>, ArmError> {
        let client = azure_mgmt_authorization::package_2022_04_01::Client::builder(
            self.credential.inner.clone(),
        )
        .endpoint(self.sdk_endpoint(crate::desired::Kind::RoleAssignment.api_version()))
        .scopes(&[self.credential.scope.as_str()])
        .retry(RetryOptions::none())
        .build()
        .map_err(|e| ArmError::new(None, "ClientError", e.to_string(), "authorization client"))?;
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
        let label = format!("GET {scope}/providers/Microsoft.Authorization/roleAssignments");
        // The generated URL adds its own leading slash to the scope.
        let mut pages = client
            .role_assignments_client()
            .list_for_scope(scope.trim_start_matches('/'))
            .filter(format!("principalId eq '{principal_id}'"))
            .into_stream();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| ArmError::new(None, "ListFailed", e.to_string(), &label))?;
            for ra in page.value {
                let (Some(id), Some(props)) = (ra.id, ra.properties) else {
                    continue;
                };
                let at_scope = props
                    .scope
                    .as_deref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(scope));
                if at_scope && props.principal_id.eq_ignore_ascii_case(principal_id) {
                    out.push((id, props.role_definition_id));
                }
            }
        }
        Ok(out)
    }
}

fn check_succeeded(body: Value, label: &str) -> Result<Value, ArmError> {
    match provisioning_state(&body) {
        Some(s) if !s.eq_ignore_ascii_case("Succeeded") => Err(ArmError::new(
            None,
            "ProvisioningFailed",
            format!("provisioningState is {s}"),
            label,
        )),
        _ => Ok(body),
    }
}

fn deleted_result(raw: Raw, label: &str) -> Result<Option<Value>, ArmError> {
    match raw.status {
        404 => Ok(None),
        s if s < 300 => Ok(Some(
            serde_json::from_slice(&raw.body).unwrap_or(Value::Null),
        )),
        s => Err(ArmError::from_response(s, &raw.body, label)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let t = Timing {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(5),
            ..Timing::default()
        };
        assert_eq!(t.backoff(1), Duration::from_secs(1));
        assert_eq!(t.backoff(2), Duration::from_secs(2));
        assert_eq!(t.backoff(3), Duration::from_secs(4));
        assert_eq!(t.backoff(4), Duration::from_secs(5));
        assert_eq!(t.backoff(40), Duration::from_secs(5));
    }

    #[test]
    fn terminal_states() {
        assert!(is_terminal_state("succeeded"));
        assert!(is_terminal_state("Failed"));
        assert!(!is_terminal_state("Creating"));
        assert!(!is_terminal_state("Activating"));
    }
}

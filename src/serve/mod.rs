//! `oailb serve`: the load balancer of [`crate::balancer`] as an HTTP
//! gateway, driven by the same topology as the APIM policy.
//!
//! Layers, outermost first, one module each:
//! - [`server`]: sockets, HTTP/1.1 and HTTP/2, graceful shutdown;
//! - [`routing`]: which API, deployment and operation a request is for, and
//!   the gateway's own endpoints (`/metrics`, `/healthz`, `/readyz`);
//! - [`client_auth`]: the client's key;
//! - [`balance`]: the request's course through `balancer::Attempts`, with
//!   backend state in a [`store`] (this process, or [`redis_store`]);
//! - [`forward`]: one attempt on one backend;
//! - [`relay`]: the answer back to the client, chunk by chunk, with usage,
//!   [`metrics`] and the access [`log`].
//!
//! [`config`] holds what the topology and the command line say; a reload
//! swaps it whole. Time and randomness come from [`clock`], so tests drive
//! `serve` with virtual time and scripted draws.

pub mod balance;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod errors;
pub mod forward;
pub mod lifecycle;
pub mod log;
pub mod metrics;
pub mod redis_store;
pub mod relay;
pub mod routing;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use crate::balancer::estimate;
use clock::{Clock, Draws};
use config::Runtime;
use forward::Outgoing;
use metrics::Metrics;
use relay::Finish;
use routing::Target;
use store::StateStore;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body the gateway sends.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A running gateway: the current configuration and what outlives it.
pub struct Gateway {
    runtime: RwLock<Arc<Runtime>>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    pub draws: Arc<dyn Draws>,
    pub metrics: Arc<Metrics>,
}

impl Gateway {
    pub fn new(
        runtime: Runtime,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        draws: Arc<dyn Draws>,
        metrics: Arc<Metrics>,
    ) -> Gateway {
        log::set_format(runtime.serve.log_format);
        Gateway {
            runtime: RwLock::new(Arc::new(runtime)),
            store,
            clock,
            draws,
            metrics,
        }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the configuration for requests that start from now on.
    pub fn replace(&self, runtime: Runtime) {
        log::set_format(runtime.serve.log_format);
        *self.runtime.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(runtime);
    }

    /// Ready: a configuration is loaded and every deployment has at least
    /// one backend that is not out of rotation. Returns the deployments
    /// that have none.
    pub async fn not_ready(&self) -> Vec<String> {
        let rt = self.runtime();
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        for api in &rt.apis {
            for r in &api.routes {
                let states = self.store.load(&r.keys, now).await;
                if !states.iter().any(|s| s.out_until_ms <= now) {
                    out.push(format!("{}/{}", api.name, r.model));
                }
            }
        }
        out
    }

    pub async fn handle(&self, req: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let rt = self.runtime();
        let path = req.uri().path().to_string();
        let target = routing::route(&rt, &path);
        match target {
            Target::Metrics => {
                let mut r = Response::new(errors::full(self.metrics.render()));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                return r;
            }
            Target::Health => {
                return errors::json_response(StatusCode::OK, &json!({"status": "ok"}))
            }
            Target::Ready => {
                let missing = self.not_ready().await;
                return if missing.is_empty() {
                    errors::json_response(StatusCode::OK, &json!({"status": "ready"}))
                } else {
                    errors::json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &json!({"status": "not ready", "deployments_without_backend": missing}),
                    )
                };
            }
            _ => {}
        }
        self.metrics.in_flight.inc();
        let mut finish = Finish {
            metrics: self.metrics.clone(),
            access: log::Access {
                time: log::now_rfc3339(),
                method: req.method().to_string(),
                path: path.clone(),
                client: remote.to_string(),
                origin: "gateway",
                ..Default::default()
            },
            started,
            labels: (String::new(), String::new(), String::new()),
        };
        let (api_index, deployment, operation) = match &target {
            Target::Deployment {
                api,
                deployment,
                operation,
            } => (*api, Some(deployment.clone()), operation.clone()),
            Target::OpenAi { api, operation } => (*api, None, operation.clone()),
            Target::NoDeployment { api } | Target::Models { api } => (*api, None, String::new()),
            _ => {
                return balance::gateway_answer(
                    finish,
                    errors::error(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("No API serves {path}."),
                    ),
                )
            }
        };
        let api = &rt.apis[api_index];
        finish.access.api = Some(api.name.clone());
        finish.labels.0 = api.name.clone();
        let query = req.uri().query().map(str::to_string);
        let presented = client_auth::presented_key(req.headers(), query.as_deref(), api);
        if let Err(why) = client_auth::authorized(&rt.client_keys, presented.as_deref()) {
            return balance::gateway_answer(
                finish,
                errors::error(StatusCode::UNAUTHORIZED, "401", why),
            );
        }
        match &target {
            Target::NoDeployment { .. } => {
                return balance::gateway_answer(
                    finish,
                    errors::deployment_not_found("", &api.model_names()),
                )
            }
            Target::Models { .. } => {
                let data: Vec<_> = api
                    .routes
                    .iter()
                    .map(|r| json!({"id": r.model, "object": "model", "created": 0, "owned_by": "oailb"}))
                    .collect();
                return balance::gateway_answer(
                    finish,
                    errors::json_response(StatusCode::OK, &json!({"object": "list", "data": data})),
                );
            }
            _ => {}
        }
        if let Some(d) = &deployment {
            finish.access.deployment = Some(d.clone());
            finish.labels.1 = d.clone();
            if api.route(d).is_none() {
                return balance::gateway_answer(
                    finish,
                    errors::deployment_not_found(d, &api.model_names()),
                );
            }
        }
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(u64::from(rt.serve.timeouts.request_ms));
        let (parts, body) = req.into_parts();
        let body = match read_body(body, &parts.headers, rt.serve.max_body_bytes, deadline).await {
            Ok(b) => b,
            Err(r) => return balance::gateway_answer(finish, r),
        };
        let (deployment, query) = match deployment {
            Some(d) => (
                d,
                routing::forwarded_query(query.as_deref(), &api.key_query),
            ),
            None => {
                let model = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_string));
                let Some(model) = model else {
                    return balance::gateway_answer(
                        finish,
                        errors::error(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            "An OpenAI-style request needs a JSON body with `model` (the deployment name).",
                        ),
                    );
                };
                finish.access.deployment = Some(model.clone());
                finish.labels.1 = model.clone();
                if api.route(&model).is_none() {
                    return balance::gateway_answer(
                        finish,
                        errors::deployment_not_found(&model, &api.model_names()),
                    );
                }
                let mut q = routing::forwarded_query(query.as_deref(), &api.key_query);
                if routing::query_param(Some(&q), "api-version").is_none() {
                    if !q.is_empty() {
                        q.push('&');
                    }
                    q.push_str("api-version=");
                    q.push_str(&rt.serve.openai_api_version);
                }
                (model, q)
            }
        };
        let route = api.route(&deployment).expect("checked above");
        let cost = estimate(&operation, &body, &rt.settings.estimate);
        let out = Outgoing {
            method: parts.method.clone(),
            operation: &operation,
            query: &query,
            headers: &parts.headers,
            key_header: &api.key_header,
            body,
        };
        balance::run(
            self,
            &rt,
            balance::Request {
                api,
                route,
                out,
                cost,
                deadline,
                finish,
            },
        )
        .await
    }
}

/// Buffers the request body once (retries resend it): 413 above `limit`,
/// 408 when it does not arrive before the deadline, 400 when it breaks off.
async fn read_body(
    body: Incoming,
    headers: &hyper::HeaderMap,
    limit: u64,
    deadline: tokio::time::Instant,
) -> Result<Bytes, Response<Body>> {
    let too_large = || {
        errors::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body is larger than {limit} bytes (serve.max_body_bytes)."),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limited = Limited::new(body, limit as usize);
    match tokio::time::timeout_at(deadline, limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(_)) => Err(errors::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The request body could not be read.",
        )),
        Err(_) => Err(errors::error(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            "The request body did not arrive in time.",
        )),
    }
}

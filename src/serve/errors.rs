//! The gateway's own answers: OpenAI-style JSON errors
//! (`{"error":{"code":...,"message":...}}`), with the codes and messages the
//! rendered policy uses where it answers the same case.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::json;

use super::Body;
use crate::balancer::retry_after_seconds;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message.into()}}),
    )
}

/// No backend can take the request now: 429 at once, `Retry-After` in whole
/// seconds (rounded up, at least 1) and `retry-after-ms`.
pub fn all_busy(deployment: &str, wait_ms: u64) -> Response<Body> {
    let wait_ms = wait_ms.max(1);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "429",
        format!(
            "No backend of deployment {deployment} has quota for this request now. Retry after {wait_ms} ms."
        ),
    );
    let h = r.headers_mut();
    h.insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds(wait_ms)));
    h.insert("retry-after-ms", HeaderValue::from(wait_ms));
    r
}

/// An unknown deployment (or a path that names none), as the policy's 404.
pub fn deployment_not_found(name: &str, models: &str) -> Response<Body> {
    let message = if name.is_empty() {
        "This API serves requests to /deployments/{name}/... only.".to_string()
    } else {
        format!("The deployment {name} does not exist behind this API.")
    };
    error(
        StatusCode::NOT_FOUND,
        "DeploymentNotFound",
        format!("{message} Deployments: {models}."),
    )
}

/// The last attempt got no answer and no backend is left.
pub fn backend_unreachable(deployment: &str) -> Response<Body> {
    error(
        StatusCode::BAD_GATEWAY,
        "BackendUnreachable",
        format!("No backend of deployment {deployment} answered."),
    )
}

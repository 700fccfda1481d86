//! One attempt on one backend: its URL (account root + `openai`, one slash,
//! its own deployment name), the client's headers less hop-by-hop headers
//! and the client's key, the backend's credentials, and the time limits.
//! Connections are pooled and kept alive; HTTP/2 is negotiated over TLS.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::{HeaderMap, Method};

use super::config::BackendAuth;
use crate::azure::TokenCache;
use crate::balancer::Backend;
use crate::topology::ServeTimeouts;

/// Headers that belong to one connection (RFC 9110 §7.6.1), or that the
/// client library sets itself.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Whether a response header is passed back to the client.
pub fn passes_back(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str())
}

/// The request as every attempt sends it.
pub struct Outgoing<'a> {
    pub method: Method,
    /// The path after `/deployments/{name}`, e.g. `/chat/completions`.
    pub operation: &'a str,
    /// The query without the client's key.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    /// The API's client-key header (lower case), dropped.
    pub key_header: &'a str,
    pub body: Bytes,
}

/// The connection pool shared by every attempt.
pub fn client(t: &ServeTimeouts) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(u64::from(t.connect_ms)))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// The credential header of a backend. The error never holds a token.
pub async fn credential(
    auth: &BackendAuth,
    tokens: Option<&TokenCache>,
) -> Result<(HeaderName, HeaderValue), String> {
    match auth {
        BackendAuth::ApiKey(k) => {
            let mut v = HeaderValue::from_str(k)
                .map_err(|_| "the API key is not a valid header value".to_string())?;
            v.set_sensitive(true);
            Ok((HeaderName::from_static("api-key"), v))
        }
        BackendAuth::Token => {
            let tokens = tokens.ok_or("no token credential")?;
            let t = tokens.bearer().await.map_err(|e| e.to_string())?;
            let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| "the token is not a valid header value".to_string())?;
            v.set_sensitive(true);
            Ok((AUTHORIZATION, v))
        }
    }
}

/// The URL of `out` on `backend`.
pub fn target(backend: &Backend, out: &Outgoing) -> String {
    let mut url = backend.target_url(out.operation);
    if !out.query.is_empty() {
        url.push('?');
        url.push_str(out.query);
    }
    url
}

/// Sends `out` to `backend` and waits at most `first_byte` for the answer's
/// headers. `Err`: no answer (refused, reset, timed out, not HTTP).
pub async fn send(
    http: &reqwest::Client,
    backend: &Backend,
    cred: (HeaderName, HeaderValue),
    out: &Outgoing<'_>,
    first_byte: Duration,
) -> Result<reqwest::Response, String> {
    let mut headers = HeaderMap::with_capacity(out.headers.len() + 1);
    for (name, value) in out.headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n)
            || n == "content-length"
            // The body is sent whole (buffered); no 100-continue handshake.
            || n == "expect"
            || n == "authorization"
            || n == "api-key"
            || n == out.key_header
            // Bodies pass through as the backend sends them; usage is read
            // from plain text only.
            || n == "accept-encoding"
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers.insert(cred.0, cred.1);
    let req = http
        .request(out.method.clone(), target(backend, out))
        .headers(headers)
        .body(out.body.clone());
    match tokio::time::timeout(first_byte, req.send()).await {
        Ok(Ok(res)) => Ok(res),
        Ok(Err(e)) => Err(without_url(&e)),
        Err(_) => Err(format!(
            "no response headers within {} ms",
            first_byte.as_millis()
        )),
    }
}

/// A reqwest error without the URL (it may hold a query).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_request() {
        "request"
    } else {
        "protocol"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    format!("{kind} error: {detail}")
}

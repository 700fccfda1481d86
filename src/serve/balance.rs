//! The course of one request through `src/balancer`, in the order the
//! reference driver `balancer::handle` follows: read the route's backend
//! states, let `Attempts::next` decide, and on `Forward` take the request
//! out of that backend's buckets (`send`, atomically), call the backend,
//! apply its answer (`on_reply`, atomically), record the verdict, repeat.
//! Only the backends' answers and the injected clock and draws enter the
//! decisions, so serve, the Rust balancer and the rendered policy agree
//! decision by decision.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Response, StatusCode};

use super::config::{ApiRuntime, RouteRuntime, Runtime};
use super::errors;
use super::forward::{self, Outgoing};
use super::relay::{Finish, Relay};
use super::{Body, Gateway};
use crate::balancer::{Attempts, Cost, Reply, Signals, Step, Ticket, Verdict};

/// The body of a failed answer kept to pass on (larger ones are cut).
const KEEP_FAILED_BODY: usize = 1 << 20;

/// One request, ready to forward.
pub struct Request<'a> {
    pub api: &'a ApiRuntime,
    pub route: &'a RouteRuntime,
    pub out: Outgoing<'a>,
    pub cost: Cost,
    pub deadline: tokio::time::Instant,
    pub finish: Finish,
}

/// A failed answer, kept in case nobody else can serve the request.
struct Kept {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    backend: usize,
}

/// The headers the balancer reads from an answer.
fn balancer_headers(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k.starts_with("retry-after") || k.starts_with("x-ratelimit-")
        })
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

pub async fn run(gw: &Gateway, rt: &Runtime, req: Request<'_>) -> Response<Body> {
    let Request {
        api,
        route,
        out,
        cost,
        deadline,
        mut finish,
    } = req;
    let settings = &rt.settings;
    let seconds = rt.cache_seconds;
    let backends = &route.route.backends;
    let first_byte = std::time::Duration::from_millis(u64::from(rt.serve.timeouts.first_byte_ms));
    let mut run = Attempts::new();
    let mut kept: Option<Kept> = None;
    loop {
        let now = gw.clock.now_ms();
        let states = gw.store.load(&route.keys, now).await;
        let step = run.next(
            backends,
            &states,
            &route.limits,
            &cost,
            now,
            &mut || gw.draws.draw(),
            settings,
        );
        let i = match step {
            Step::Forward(i) => i,
            Step::Reject { wait_ms } => {
                let wait_ms = wait_ms.max(1);
                finish.access.retry_after_ms = Some(wait_ms);
                return gateway_answer(finish, errors::all_busy(&route.model, wait_ms));
            }
            Step::PassOn(i) => {
                let Some(k) = kept.take().filter(|k| k.backend == i) else {
                    return gateway_answer(finish, errors::backend_unreachable(&route.model));
                };
                finish.access.origin = "backend";
                finish.access.served_by = Some(backends[i].name.clone());
                finish.labels.2 = backends[i].name.clone();
                let mut r = Response::new(errors::full(k.body.clone()));
                *r.status_mut() = k.status;
                copy_back(&k.headers, r.headers_mut());
                add_backend_header(rt, &backends[i].name, r.headers_mut());
                finish.access.status = k.status.as_u16();
                finish.done("complete", k.body.len() as u64, None);
                return r;
            }
            Step::BadGateway => {
                return gateway_answer(finish, errors::backend_unreachable(&route.model));
            }
        };
        if tokio::time::Instant::now() >= deadline {
            return gateway_answer(
                finish,
                errors::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "GatewayTimeout",
                    format!("No backend of deployment {} answered in time.", route.model),
                ),
            );
        }
        let b = &backends[i];
        let key = &route.keys[i];
        let cred = forward::credential(&route.auth[i], rt.tokens.as_deref()).await;
        let mut ticket: Option<Ticket> = None;
        gw.store
            .update(key, now, seconds, &mut |st| {
                ticket = Some(st.send(&b.quota, cost.tokens_on(&b.quota), settings, now));
            })
            .await;
        let ticket = ticket.expect("update runs the change");
        let limit = first_byte.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let t0 = Instant::now();
        let result = match cred {
            Ok(c) => forward::send(&rt.http, b, c, &out, limit).await,
            Err(e) => {
                super::log::event(
                    "backend_credential_failed",
                    &[("backend", &b.name), ("error", &e)],
                );
                Err(e)
            }
        };
        let reply = match &result {
            Ok(res) => Reply::Status {
                status: res.status().as_u16(),
                signals: Signals::from_headers(&balancer_headers(res.headers())),
            },
            Err(_) => Reply::NoAnswer,
        };
        let now = gw.clock.now_ms();
        let mut verdict: Option<Verdict> = None;
        gw.store
            .update(key, now, seconds, &mut |st| {
                verdict = Some(st.on_reply(&b.quota, &ticket, &reply, settings, now));
            })
            .await;
        let verdict = verdict.expect("update runs the change");
        let status_label = match &result {
            Ok(res) => res.status().as_u16().to_string(),
            Err(_) => "none".to_string(),
        };
        gw.metrics
            .attempts
            .get_or_create(&vec![
                ("backend", b.name.clone()),
                ("status", status_label.clone()),
            ])
            .inc();
        if result.is_ok() {
            gw.metrics
                .upstream_seconds
                .get_or_create(&vec![("backend", b.name.clone())])
                .observe(t0.elapsed().as_secs_f64());
        }
        match verdict {
            Verdict::Throttled | Verdict::Failed => {
                let reason = if verdict == Verdict::Throttled {
                    "throttled"
                } else {
                    "failed"
                };
                gw.metrics
                    .marks
                    .get_or_create(&vec![
                        ("backend", b.name.clone()),
                        ("reason", reason.to_string()),
                    ])
                    .inc();
            }
            Verdict::Done => {}
        }
        finish.access.backends.push(b.name.clone());
        finish.access.upstream_statuses.push(status_label);
        run.record(i, verdict, result.is_ok());
        match (verdict, result) {
            (Verdict::Done, Ok(res)) => {
                let mut r = Response::new(Body::default());
                *r.status_mut() = res.status();
                copy_back(res.headers(), r.headers_mut());
                add_backend_header(rt, &b.name, r.headers_mut());
                finish.access.status = res.status().as_u16();
                finish.access.origin = "backend";
                finish.access.served_by = Some(b.name.clone());
                finish.labels.2 = b.name.clone();
                let _ = api;
                *r.body_mut() = BodyExt::boxed_unsync(Relay::new(res, deadline, finish));
                return r;
            }
            (_, Ok(res)) => {
                let status = res.status();
                let headers = res.headers().clone();
                let body = read_limited(res, deadline).await;
                kept = Some(Kept {
                    status,
                    headers,
                    body,
                    backend: i,
                });
            }
            (_, Err(_)) => kept = None,
        }
    }
}

/// Reads a failed answer's body (it is small: an error JSON), at most
/// [`KEEP_FAILED_BODY`] bytes, until the deadline.
async fn read_limited(mut res: reqwest::Response, deadline: tokio::time::Instant) -> Bytes {
    let mut buf = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = res.chunk().await {
            let room = KEEP_FAILED_BODY.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, read).await;
    Bytes::from(buf)
}

fn copy_back(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if forward::passes_back(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

fn add_backend_header(rt: &Runtime, name: &str, h: &mut HeaderMap) {
    if let Some(header) = &rt.backend_header {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(header.as_bytes()),
            HeaderValue::from_str(name),
        ) {
            h.insert(n, v);
        }
    }
}

/// An answer of the gateway itself, recorded at once.
pub fn gateway_answer(mut finish: Finish, r: Response<Body>) -> Response<Body> {
    finish.access.status = r.status().as_u16();
    finish.access.origin = "gateway";
    let len = hyper::body::Body::size_hint(r.body()).exact().unwrap_or(0);
    finish.done("complete", len, None);
    r
}

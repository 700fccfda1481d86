//! The answer's body back to the client, chunk by chunk as the backend
//! sends it (server-sent events pass through unbuffered), with the
//! request's end recorded once, whichever way it ends: the body is
//! complete, the backend breaks off, the deadline passes, or the client
//! goes away (dropping the body drops the upstream connection, which
//! cancels the backend's work). `usage` is read on the way, from a JSON
//! body or from the events of a stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::Stream;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::log::{self, Access};
use super::metrics::Metrics;
use super::BoxError;

/// Bytes of a JSON body kept to read its `usage` (larger bodies are passed
/// on without).
const USAGE_JSON_LIMIT: usize = 1 << 20;

/// Tokens a response reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
}

/// Reads `usage` from a body as it passes.
#[derive(Debug)]
pub struct UsageScanner {
    events: bool,
    buf: Vec<u8>,
    found: Option<Usage>,
    overflow: bool,
}

impl UsageScanner {
    pub fn new(content_type: &str) -> Self {
        UsageScanner {
            events: content_type.starts_with("text/event-stream"),
            buf: Vec::new(),
            found: None,
            overflow: false,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if self.overflow {
            return;
        }
        self.buf.extend_from_slice(chunk);
        if self.events {
            while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                self.event_line(&line);
            }
        }
        if self.buf.len() > USAGE_JSON_LIMIT {
            self.overflow = true;
            self.buf = Vec::new();
        }
    }

    fn event_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        if !contains(data, b"\"usage\"") {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data.trim_ascii()) {
            self.found = usage_of(&v).or(self.found);
        }
    }

    pub fn finish(mut self) -> Option<Usage> {
        if !self.events && !self.overflow && !self.buf.is_empty() {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.buf) {
                self.found = usage_of(&v);
            }
        } else if self.events && !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.event_line(&rest);
        }
        self.found
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `usage` of a chat/completions/embeddings answer (`prompt_tokens`,
/// `completion_tokens`) or a responses answer or event (`input_tokens`,
/// `output_tokens`, also under `response`).
fn usage_of(v: &serde_json::Value) -> Option<Usage> {
    let u = v
        .get("usage")
        .filter(|u| u.is_object())
        .or_else(|| v.get("response").and_then(|r| r.get("usage")))?;
    let n = |a: &str, b: &str| u.get(a).or_else(|| u.get(b)).and_then(|x| x.as_u64());
    let prompt = n("prompt_tokens", "input_tokens")?;
    Some(Usage {
        prompt,
        completion: n("completion_tokens", "output_tokens").unwrap_or(0),
    })
}

/// What is recorded when the request ends.
pub struct Finish {
    pub metrics: Arc<Metrics>,
    pub access: Access,
    pub started: Instant,
    /// API and deployment labels, and the serving backend.
    pub labels: (String, String, String),
}

impl Finish {
    pub fn done(mut self, outcome: &'static str, bytes: u64, usage: Option<Usage>) {
        let (api, deployment, backend) = &self.labels;
        self.access.outcome = outcome;
        self.access.bytes = bytes;
        self.access.duration_ms = self.started.elapsed().as_millis() as u64;
        if let Some(u) = usage {
            self.access.prompt_tokens = Some(u.prompt);
            self.access.completion_tokens = Some(u.completion);
            for (kind, n) in [("prompt", u.prompt), ("completion", u.completion)] {
                self.metrics
                    .tokens
                    .get_or_create(&vec![
                        ("deployment", deployment.clone()),
                        ("backend", backend.clone()),
                        ("kind", kind.to_string()),
                    ])
                    .inc_by(n);
            }
        }
        self.metrics
            .requests
            .get_or_create(&vec![
                ("api", api.clone()),
                ("deployment", deployment.clone()),
                ("status", self.access.status.to_string()),
                ("origin", self.access.origin.to_string()),
            ])
            .inc();
        self.metrics
            .request_seconds
            .get_or_create(&vec![("deployment", deployment.clone())])
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics.in_flight.dec();
        log::access(&self.access);
    }
}

type Upstream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// A backend's body on its way to the client.
pub struct Relay {
    inner: Upstream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    scanner: Option<UsageScanner>,
    finish: Option<Finish>,
    bytes: u64,
}

impl Relay {
    pub fn new(res: reqwest::Response, deadline: tokio::time::Instant, finish: Finish) -> Relay {
        let ct = res
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        Relay {
            scanner: Some(UsageScanner::new(&ct)),
            inner: Box::pin(res.bytes_stream()),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            finish: Some(finish),
            bytes: 0,
        }
    }

    fn end(&mut self, outcome: &'static str) {
        if let Some(f) = self.finish.take() {
            let usage = self.scanner.take().and_then(UsageScanner::finish);
            f.done(outcome, self.bytes, usage);
        }
    }
}

impl HttpBody for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.finish.is_none() {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.end("deadline");
            return Poll::Ready(Some(Err("the request deadline passed".into())));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.bytes += chunk.len() as u64;
                if let Some(s) = self.scanner.as_mut() {
                    s.feed(&chunk);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(_))) => {
                self.end("upstream_error");
                Poll::Ready(Some(Err("the backend broke off its answer".into())))
            }
            Poll::Ready(None) => {
                self.end("complete");
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finish.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Dropped before the end: the client went away.
        self.end("client_disconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_from_json_and_from_events_split_anywhere() {
        let mut s = UsageScanner::new("application/json");
        s.feed(br#"{"choices":[],"usage":{"prompt_tokens":12,"#);
        s.feed(br#""completion_tokens":5,"total_tokens":17}}"#);
        assert_eq!(
            s.finish(),
            Some(Usage {
                prompt: 12,
                completion: 5
            })
        );

        let text = "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9}}\n\ndata: [DONE]\n\n";
        for split in 0..text.len() {
            let mut s = UsageScanner::new("text/event-stream; charset=utf-8");
            s.feed(&text.as_bytes()[..split]);
            s.feed(&text.as_bytes()[split..]);
            assert_eq!(
                s.finish(),
                Some(Usage {
                    prompt: 3,
                    completion: 9
                }),
                "split at {split}"
            );
        }
        let mut s = UsageScanner::new("text/event-stream");
        s.feed(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":2}}}\n\n");
        assert_eq!(
            s.finish(),
            Some(Usage {
                prompt: 4,
                completion: 2
            })
        );
        let mut s = UsageScanner::new("application/json");
        s.feed(b"not json");
        assert_eq!(s.finish(), None);
    }
}

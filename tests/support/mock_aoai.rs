//! Mock Azure OpenAI backends on loopback (tokio + hyper), with the quota
//! behaviour of Azure and of ../shared/lbbench's mock: a token bucket per
//! backend (429 + `Retry-After` + `retry-after-ms` when the request's cost
//! does not fit), `x-ratelimit-remaining-*` on every answer, streaming
//! answers, dropped connections, hung requests, and scripted answers. Each
//! backend records what it received.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// What a backend does with a request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with a chat completion and `usage`.
    Ok,
    /// This status and these headers, with an error JSON body.
    Status(u16, Vec<(String, String)>),
    /// Close the connection without an answer.
    Drop,
    /// Never answer (until the client gives up).
    Hang,
    /// 200 `text/event-stream`: `n` chunks `every` apart, usage in the last.
    Stream { n: usize, every: Duration },
    /// Bytes that are not HTTP.
    Garbage,
    /// Exactly this status, these headers and this body.
    Exact {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// A request the backend received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Token-bucket quota as Azure enforces it: `tpm` tokens per minute, the
/// bucket holding `window` of it; a request costs ceil(chars/4) + max_tokens.
#[derive(Debug)]
pub struct Quota {
    pub tpm: f64,
    pub window: Duration,
    level: f64,
    at: Instant,
}

impl Quota {
    pub fn new(tpm: u64, window: Duration) -> Quota {
        let cap = tpm as f64 * window.as_secs_f64() / 60.0;
        Quota {
            tpm: tpm as f64,
            window,
            level: cap,
            at: Instant::now(),
        }
    }

    fn cap(&self) -> f64 {
        self.tpm * self.window.as_secs_f64() / 60.0
    }

    /// Admits `cost` or says how long until it fits.
    fn admit(&mut self, cost: f64) -> Result<f64, Duration> {
        let now = Instant::now();
        let refill = self.tpm / 60.0 * now.duration_since(self.at).as_secs_f64();
        self.level = (self.level + refill).min(self.cap());
        self.at = now;
        let need = cost.min(self.cap());
        if self.level >= need {
            self.level -= cost;
            Ok(self.level.max(0.0))
        } else {
            Err(Duration::from_secs_f64(
                (need - self.level) / (self.tpm / 60.0),
            ))
        }
    }
}

#[derive(Default)]
struct State {
    /// Answers used first, one per request; then `default`.
    script: VecDeque<Answer>,
    default: Option<Answer>,
    quota: Option<Quota>,
    seen: Vec<Seen>,
    /// Streams whose client went away before the end.
    cancelled: usize,
    /// Streams sent to the end.
    completed: usize,
    /// Shared by several backends: (backend, path and query) in the order
    /// requests arrived.
    journal: Option<Journal>,
    /// Keep no log (benchmarks: millions of requests).
    quiet: bool,
    /// Called as each request is answered, before the answer is sent (a
    /// test's manual clock moving on by the time the answer takes).
    answering: Option<Arc<dyn Fn() + Send + Sync>>,
}

pub type Journal = Arc<Mutex<Vec<(String, Seen)>>>;

/// One mock backend.
#[derive(Clone)]
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Backend {
    pub async fn start(name: &str) -> Backend {
        Self::start_journaled(name, None).await
    }

    /// A backend that also writes every request into `journal`.
    pub async fn start_journaled(name: &str, journal: Option<Journal>) -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            journal,
            ..State::default()
        }));
        let st = state.clone();
        let name2 = name.to_string();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let name = name2.clone();
                tokio::spawn(async move {
                    // Peek at the next answer: garbage is written raw.
                    let garbage = {
                        let s = st.lock().unwrap();
                        matches!(
                            s.script.front().or(s.default.as_ref()),
                            Some(Answer::Garbage)
                        )
                    };
                    if garbage {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = [0u8; 65536];
                        let _ = stream.read(&mut buf).await;
                        st.lock().unwrap().script.pop_front();
                        let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
                        return;
                    }
                    let svc = service_fn(move |req| handle(req, st.clone(), name.clone()));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            name: name.to_string(),
            addr,
            state,
            task: Arc::new(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The answers of the next requests, in order.
    pub fn script(&self, answers: Vec<Answer>) {
        self.state.lock().unwrap().script = answers.into();
    }

    /// The answer after the script runs out (default: `Ok`).
    pub fn always(&self, a: Answer) {
        self.state.lock().unwrap().default = Some(a);
    }

    /// Runs `f` as each request is answered, before the answer is sent.
    pub fn answering(&self, f: Option<Arc<dyn Fn() + Send + Sync>>) {
        self.state.lock().unwrap().answering = f;
    }

    /// Stop recording requests.
    pub fn quiet(&self) {
        self.state.lock().unwrap().quiet = true;
    }

    pub fn quota(&self, q: Quota) {
        self.state.lock().unwrap().quota = Some(q);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    pub fn clear(&self) {
        let mut s = self.state.lock().unwrap();
        s.seen.clear();
        s.script.clear();
        s.default = None;
    }

    pub fn cancelled(&self) -> usize {
        self.state.lock().unwrap().cancelled
    }

    pub fn completed(&self) -> usize {
        self.state.lock().unwrap().completed
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(v: impl Into<Bytes>) -> Body {
    Full::new(v.into()).boxed()
}

/// Admission cost as Azure estimates it: prompt characters / 4 + max_tokens.
fn cost(body: &[u8]) -> f64 {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let chars: usize = v["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|x| x["content"].as_str())
                .map(str::len)
                .sum()
        })
        .unwrap_or(0);
    (chars as f64 / 4.0).ceil() + v["max_tokens"].as_f64().unwrap_or(16.0)
}

/// Every answer names its backend in `x-mock-backend`.
async fn handle(
    req: Request<hyper::body::Incoming>,
    st: Arc<Mutex<State>>,
    name: String,
) -> Result<Response<Body>, std::io::Error> {
    let mut r = answer(req, st, name.clone()).await?;
    r.headers_mut()
        .insert("x-mock-backend", name.parse().unwrap());
    Ok(r)
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    st: Arc<Mutex<State>>,
    name: String,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.clone(),
    };
    let (answer, quota) = {
        let mut s = st.lock().unwrap();
        if let Some(j) = &s.journal {
            j.lock().unwrap().push((name.clone(), seen.clone()));
        }
        if !s.quiet {
            s.seen.push(seen);
        }
        let answer = s
            .script
            .pop_front()
            .or_else(|| s.default.clone())
            .unwrap_or(Answer::Ok);
        let quota = match (&answer, s.quota.as_mut()) {
            (Answer::Ok | Answer::Stream { .. }, Some(q)) => {
                Some(q.admit(cost(&body)).map(|left| (left, q.cap())))
            }
            _ => None,
        };
        if let Some(f) = &s.answering {
            f();
        }
        (answer, quota)
    };
    let mut remaining = vec![];
    match quota {
        Some(Err(wait)) => {
            let ms = wait.as_millis() as u64 + 1;
            let mut r = Response::new(full(
                json!({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation have exceeded the token rate limit."}})
                    .to_string(),
            ));
            *r.status_mut() = hyper::StatusCode::TOO_MANY_REQUESTS;
            let h = r.headers_mut();
            h.insert(
                "retry-after",
                ms.div_ceil(1000).to_string().parse().unwrap(),
            );
            h.insert("retry-after-ms", ms.to_string().parse().unwrap());
            h.insert("content-type", "application/json".parse().unwrap());
            return Ok(r);
        }
        Some(Ok((left, _cap))) => {
            remaining.push((
                "x-ratelimit-remaining-tokens".to_string(),
                format!("{}", left.floor() as u64),
            ));
        }
        None => {}
    }
    match answer {
        Answer::Ok => {
            let v = json!({
                "id": format!("chatcmpl-{name}"),
                "object": "chat.completion",
                "model": "gpt-35-turbo",
                "system_fingerprint": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("hello from {name}")}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
            });
            Ok(json_answer(200, remaining, v.to_string()))
        }
        Answer::Status(code, headers) => Ok(json_answer(
            code,
            headers,
            json!({"error": {"code": code.to_string(), "message": format!("{name} says {code}")}})
                .to_string(),
        )),
        Answer::Exact {
            status,
            headers,
            body,
        } => Ok(json_answer(status, headers, body)),
        Answer::Drop | Answer::Garbage => Err(std::io::Error::other("dropped on purpose")),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(std::io::Error::other("hung"))
        }
        Answer::Stream { n, every } => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
            let st2 = st.clone();
            let name2 = name.clone();
            tokio::spawn(async move {
                for i in 0..n {
                    let chunk = json!({"id": format!("chatcmpl-{name2}"), "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": format!("part{i} ")}}]});
                    if tx
                        .send(Ok(Frame::data(Bytes::from(format!("data: {chunk}\n\n")))))
                        .await
                        .is_err()
                    {
                        st2.lock().unwrap().cancelled += 1;
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
                let last = json!({"id": format!("chatcmpl-{name2}"), "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": n}});
                let ok = tx
                    .send(Ok(Frame::data(Bytes::from(format!(
                        "data: {last}\n\ndata: [DONE]\n\n"
                    )))))
                    .await
                    .is_ok();
                // The end of the body reached the client's connection.
                drop(tx);
                let mut s = st2.lock().unwrap();
                if ok {
                    s.completed += 1;
                } else {
                    s.cancelled += 1;
                }
            });
            // Detect a client that goes away between chunks: the receiver
            // is dropped with the response body.
            let body = StreamBody::new(tokio_stream_from(rx));
            let mut r = Response::new(BodyExt::boxed(body));
            r.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            Ok(r)
        }
    }
}

/// A JSON answer with `status` and `headers`.
fn json_answer(status: u16, headers: Vec<(String, String)>, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    for (k, v) in headers {
        r.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    r
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

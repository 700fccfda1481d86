//! `oailb serve` end to end: the binary on a loopback port, in front of mock
//! Azure OpenAI backends (tests/support/mock_aoai.rs), over real sockets.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::mock_aoai::{Answer, Backend};
use support::serve_process::{seed_topology, ServeProcess, TOKEN};
use support::SeedBackends;

const CHAT: &str =
    "/smart-api/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21";

struct Setup {
    _dir: tempfile::TempDir,
    backends: SeedBackends,
    serve: ServeProcess,
}

impl std::ops::Deref for Setup {
    type Target = SeedBackends;
    fn deref(&self) -> &SeedBackends {
        &self.backends
    }
}

impl Setup {
    async fn new(extra_yaml: &str, args: &[&str], env: &[(&str, &str)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let backends = SeedBackends::start().await;
        let topo = seed_topology(dir.path(), extra_yaml);
        let mut all = backends.upstream_args();
        all.extend(args.iter().map(|s| s.to_string()));
        let serve = ServeProcess::start(&topo, &all, env);
        Setup {
            _dir: dir,
            backends,
            serve,
        }
    }

    fn topology(&self) -> std::path::PathBuf {
        self._dir.path().join("oailb.yaml")
    }

    async fn chat(&self, client: &reqwest::Client) -> reqwest::Response {
        client
            .post(self.serve.url(CHAT))
            .header("api-key", "client-key-1")
            .json(&json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}))
            .send()
            .await
            .unwrap()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_one_shares_traffic_and_priority_two_waits() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    for _ in 0..60 {
        let r = s.chat(&c).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .starts_with("hello from eastus"));
    }
    let (a, b) = (s.eastus.count(), s.eastus2.count());
    assert_eq!(a + b, 60);
    assert!(
        a >= 15 && b >= 15,
        "equal weights spread the load: eastus {a}, eastus2 {b}"
    );
    assert_eq!(s.canadaeast.count(), 0);
    // Every backend got its own deployment URL with one slash before openai,
    // the managed-identity token, and never the client's key.
    let seen = s.eastus.seen();
    assert_eq!(
        seen[0].path_and_query,
        "/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(seen[0].header("api-key"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_moves_the_request_on_at_once_and_keeps_the_backend_out_for_its_delay() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    let busy = Answer::Status(
        429,
        vec![
            ("retry-after".into(), "1".into()),
            ("retry-after-ms".into(), "700".into()),
        ],
    );
    s.priority_one(busy);
    // Both priority-1 backends throttle: the request ends on canadaeast.
    let r = s.chat(&c).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.canadaeast.count(), 1);
    assert_eq!(s.priority_one_count(), 2);
    // For the announced 700 ms they get nothing; canadaeast serves.
    s.eastus.clear();
    s.eastus2.clear();
    for _ in 0..5 {
        assert_eq!(s.chat(&c).await.status(), 200);
    }
    assert_eq!(s.priority_one_count(), 0);
    assert_eq!(s.canadaeast.count(), 6);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.chat(&c).await.status(), 200);
    assert_eq!(
        s.priority_one_count(),
        1,
        "back in rotation after retry-after-ms"
    );
    let lines = s.serve.access_lines_at_least(1, Duration::from_secs(5));
    let first = &lines[0];
    assert_eq!(first["status"], 200);
    assert_eq!(first["upstream_statuses"], json!(["429", "429", "200"]));
    assert_eq!(first["served_by"], "canadaeast");
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_and_garbage_are_failed_attempts() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    s.eastus.always(Answer::Drop);
    s.eastus2.always(Answer::Garbage);
    let r = s.chat(&c).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.canadaeast.count(), 1);
    let line = &s.serve.access_lines_at_least(1, Duration::from_secs(5))[0];
    assert_eq!(line["upstream_statuses"], json!(["none", "none", "200"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn all_busy_answers_429_at_once_with_retry_after() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    for b in [&s.eastus, &s.eastus2, &s.canadaeast] {
        b.always(Answer::Status(
            429,
            vec![("retry-after-ms".into(), "2500".into())],
        ));
    }
    let r = s.chat(&c).await;
    assert_eq!(r.status(), 429);
    let ra: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let ms: u64 = r.headers()["retry-after-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms > 2000 && ms <= 2500, "{ms}");
    assert_eq!(ra, ms.div_ceil(1000));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "429");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gpt-35-turbo"));
    let calls = s.priority_one_count() + s.canadaeast.count();
    assert_eq!(calls, 3);
    // The next request is answered without any upstream call.
    let t = Instant::now();
    let r = s.chat(&c).await;
    assert_eq!(r.status(), 429);
    assert!(t.elapsed() < Duration::from_millis(500));
    assert_eq!(s.priority_one_count() + s.canadaeast.count(), calls);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_that_does_not_answer_in_time_is_left() {
    let s = Setup::new("serve:\n  timeouts:\n    first_byte_ms: 300\n", &[], &[]).await;
    let c = client();
    s.priority_one(Answer::Hang);
    let t = Instant::now();
    let r = s.chat(&c).await;
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(s.canadaeast.count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_pass_through_chunk_by_chunk() {
    let s = Setup::new("", &[], &[]).await;
    s.priority_one(Answer::Stream {
        n: 4,
        every: Duration::from_millis(300),
    });
    let c = client();
    let t = Instant::now();
    let mut r = s.chat(&c).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let first = r.chunk().await.unwrap().unwrap();
    let first_at = t.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    assert!(
        first_at < Duration::from_millis(600),
        "first chunk after {first_at:?}: buffered?"
    );
    let mut rest = Vec::new();
    while let Some(ch) = r.chunk().await.unwrap() {
        rest.extend_from_slice(&ch);
    }
    assert!(t.elapsed() >= Duration::from_millis(1200));
    assert!(String::from_utf8_lossy(&rest).ends_with("data: [DONE]\n\n"));
    // Usage from the stream reaches the log and the metrics.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let line = &s.serve.access_lines_at_least(1, Duration::from_secs(5))[0];
    assert_eq!(line["completion_tokens"], 4);
    assert_eq!(line["outcome"], "complete");
    let m = s.serve.metrics().await;
    assert!(
        m.contains("oailb_tokens_total{deployment=\"gpt-35-turbo\",backend=\"eastus"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_goes_away_cancels_the_upstream_call() {
    let s = Setup::new("", &[], &[]).await;
    s.priority_one(Answer::Stream {
        n: 50,
        every: Duration::from_millis(100),
    });
    let c = client();
    let mut r = s.chat(&c).await;
    let _ = r.chunk().await.unwrap().unwrap();
    drop(r);
    drop(c);
    let t = Instant::now();
    while s.eastus.cancelled() + s.eastus2.cancelled() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "the backend kept streaming"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.eastus.completed() + s.eastus2.completed(), 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        s.serve.access_lines_at_least(1, Duration::from_secs(5))[0]["outcome"],
        "client_disconnected"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_above_the_limit_get_413() {
    let s = Setup::new("serve:\n  max_body_bytes: 2048\n", &[], &[]).await;
    let c = client();
    let big = "x".repeat(4000);
    let r = c
        .post(s.serve.url(CHAT))
        .json(&json!({"messages": [{"role": "user", "content": big}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RequestEntityTooLarge");
    // Chunked (no Content-Length) is cut the same way.
    let stream = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1000]))),
    );
    let r = c
        .post(s.serve.url(CHAT))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(s.priority_one_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_keys_are_checked_and_never_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(b"file-key"))
    };
    std::fs::write(dir.path().join("keys.sha256"), format!("{hash}  team-b\n")).unwrap();
    let keys_file = dir.path().join("keys.sha256");
    let yaml = format!(
        "serve:\n  client_keys:\n    - env: TEAM_A_KEY\n    - sha256_file: {}\n",
        keys_file.display()
    );
    let s = Setup::new(&yaml, &[], &[("TEAM_A_KEY", "env-key")]).await;
    let c = client();
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});
    let r = c.post(s.serve.url(CHAT)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "401");
    let r = c
        .post(s.serve.url(CHAT))
        .header("api-key", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for (h, v) in [("api-key", "env-key"), ("authorization", "Bearer file-key")] {
        let r = c
            .post(s.serve.url(CHAT))
            .header(h, v)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{h}");
    }
    let url = s.serve.url(&format!("{CHAT}&subscription-key=env-key"));
    assert_eq!(c.post(url).json(&body).send().await.unwrap().status(), 200);
    assert_eq!(s.priority_one_count(), 3);
    for seen in s.eastus.seen().iter().chain(s.eastus2.seen().iter()) {
        let text = format!("{seen:?}");
        assert!(
            !text.contains("env-key") && !text.contains("file-key"),
            "{text}"
        );
        assert!(seen.path_and_query.ends_with("?api-version=2024-10-21"));
    }
    let log = s.serve.stdout.lock().unwrap().join("\n");
    assert!(!log.contains("env-key") && !log.contains("file-key") && !log.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_and_deployments_get_404_json_and_bad_input_4xx() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    let r = c
        .post(
            s.serve
                .url("/smart-api/openai/deployments/gpt-4o/chat/completions?api-version=1"),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "DeploymentNotFound");
    assert_eq!(
        v["error"]["message"],
        "The deployment gpt-4o does not exist behind this API. Deployments: gpt-35-turbo."
    );
    let r = c
        .get(s.serve.url("/smart-api/openai/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("This API serves requests to /deployments/{name}/... only."));
    let r = c.get(s.serve.url("/elsewhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "NotFound"
    );
    let r = c
        .post(s.serve.url("/v1/chat/completions"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A raw request that is not HTTP closes the connection; serve goes on.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(s.serve.addr).await.unwrap();
    raw.write_all(b"\x16\x03\x01garbage\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf))
        .await
        .unwrap();
    assert_eq!(
        c.get(s.serve.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_style_paths_map_model_to_the_deployment() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    let r = c
        .post(s.serve.url("/v1/chat/completions"))
        .bearer_auth("anything")
        .json(&json!({"model": "gpt-35-turbo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Vec<_> = s
        .eastus
        .seen()
        .into_iter()
        .chain(s.eastus2.seen())
        .collect();
    assert_eq!(
        seen[0].path_and_query,
        "/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21"
    );
    // HTTP/2 without TLS (prior knowledge) is served too.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .post(s.serve.url("/v1/chat/completions"))
        .json(&json!({"model": "gpt-35-turbo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.version(), r.status().as_u16()),
        (reqwest::Version::HTTP_2, 200)
    );
    let models: Value = c
        .get(s.serve.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "gpt-35-turbo");
    let r = c
        .post(s.serve.url("/v1/chat/completions"))
        .json(&json!({"model": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_readiness() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    assert_eq!(s.chat(&c).await.status(), 200);
    let m = s.serve.metrics().await;
    for needle in [
        "oailb_requests_total{api=\"aoai-smart-api\",deployment=\"gpt-35-turbo\",status=\"200\",origin=\"backend\"} 1",
        "oailb_upstream_attempts_total{backend=",
        "oailb_tokens_total{deployment=\"gpt-35-turbo\"",
        "oailb_request_duration_seconds_bucket",
        "oailb_in_flight_requests 0",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    assert_eq!(
        c.get(s.serve.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(s.serve.url("/readyz")).send().await.unwrap().status(),
        200
    );
    // Every backend out: not ready.
    for b in [&s.eastus, &s.eastus2, &s.canadaeast] {
        b.always(Answer::Status(
            429,
            vec![("retry-after".into(), "30".into())],
        ));
    }
    assert_eq!(s.chat(&c).await.status(), 429);
    let r = c.get(s.serve.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let m = s.serve.metrics().await;
    assert!(
        m.contains("oailb_backend_marks_total{backend=\"canadaeast\",reason=\"throttled\"} 1"),
        "{m}"
    );
    assert!(m.contains("status=\"429\",origin=\"gateway\"} 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_takes_a_valid_topology_and_keeps_the_old_on_an_invalid_one() {
    let s = Setup::new("", &[], &[]).await;
    let c = client();
    let topo = s.topology();
    let text = std::fs::read_to_string(&topo).unwrap();
    // Invalid: the old topology keeps serving, diagnostics are logged.
    std::fs::write(&topo, text.replace("capacity: 120", "capacity: lots")).unwrap();
    s.serve.signal("HUP");
    let line = s
        .serve
        .wait_for_log("reload_rejected", Duration::from_secs(10));
    assert!(
        line.contains("models[0].capacity")
            && line.contains("oailb.yaml:48:15: error[invalid-value]"),
        "{line}"
    );
    assert_eq!(s.chat(&c).await.status(), 200);
    // Valid: the new deployment name serves at once, the old one is gone.
    std::fs::write(&topo, text.replace("- name: gpt-35-turbo", "- name: chat")).unwrap();
    s.serve.signal("HUP");
    s.serve
        .wait_for_log("\"reloaded\"", Duration::from_secs(10));
    assert_eq!(s.chat(&c).await.status(), 404);
    let r = c
        .post(
            s.serve
                .url("/smart-api/openai/deployments/chat/chat/completions?api-version=1"),
        )
        .json(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = s.serve.metrics().await;
    assert!(
        m.contains("oailb_reloads_total{result=\"invalid\"} 1")
            && m.contains("oailb_reloads_total{result=\"ok\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_reloads_when_the_file_changes() {
    let s = Setup::new("", &["--watch"], &[]).await;
    let topo = s.topology();
    let text = std::fs::read_to_string(&topo).unwrap();
    std::fs::write(&topo, text.replace("- name: gpt-35-turbo", "- name: chat")).unwrap();
    s.serve
        .wait_for_log("\"reloaded\"", Duration::from_secs(10));
    assert_eq!(s.chat(&client()).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let mut s = Setup::new("", &[], &[]).await;
    s.priority_one(Answer::Stream {
        n: 6,
        every: Duration::from_millis(150),
    });
    let c = client();
    let mut r = s.chat(&c).await;
    assert_eq!(r.status(), 200);
    s.serve.signal("TERM");
    let mut body = Vec::new();
    while let Some(ch) = r.chunk().await.unwrap() {
        body.extend_from_slice(&ch);
    }
    assert!(String::from_utf8_lossy(&body).ends_with("data: [DONE]\n\n"));
    let status = s.serve.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(s
        .serve
        .stderr
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("\"connections\":\"drained\"")));
    // New connections are refused.
    assert!(c.get(s.serve.url("/healthz")).send().await.is_err());
}

#[test]
fn a_public_address_without_client_keys_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let topo = seed_topology(dir.path(), "");
    let out = std::process::Command::new(support::serve_process::bin())
        .args(["serve", "-f"])
        .arg(&topo)
        .args(["--listen", "0.0.0.0:0", "--auth", "token"])
        .env("OAILB_ACCESS_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-no-auth"), "{err}");
}

#[test]
fn bad_flags_and_serve_sections_exit_2_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let topo = seed_topology(
        dir.path(),
        "serve:\n  listen: nowhere\n  state: redis://:pw@localhost:6379/0\n",
    );
    let out = std::process::Command::new(support::serve_process::bin())
        .args(["serve", "-f"])
        .arg(&topo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("serve.listen") && err.contains("serve.state"),
        "{err}"
    );
    // The message redacts the password (the source excerpt shows the file as written).
    assert!(
        err.contains("`redis://***@localhost:6379/0` carries credentials"),
        "{err}"
    );
    let out = std::process::Command::new(support::serve_process::bin())
        .args([
            "serve",
            "-f",
            "examples/seed.yaml",
            "--upstream",
            "nope=http://127.0.0.1:1",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no backend `nope`"));
}

/// A Key Vault on loopback: one secret, for the test token only.
async fn fake_key_vault() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = req.lines().next().unwrap_or_default().to_string();
            let authorized = req
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}")));
            seen2.lock().unwrap().push(line.clone());
            let (status, body) =
                if authorized && line.starts_with("GET /secrets/partner-key?api-version=7.4 ") {
                    ("200 OK", r#"{"value":"kv-partner-secret"}"#)
                } else {
                    (
                        "403 Forbidden",
                        r#"{"error":{"code":"Forbidden","message":"no"}}"#,
                    )
                };
            let resp = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_backends_get_their_key_from_the_environment_or_key_vault() {
    let multi = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/multi-model.yaml"
    ))
    .unwrap();
    let (vault, vault_seen) = fake_key_vault().await;
    for (source, env, expected) in [
        (
            "env: PARTNER_OPENAI_KEY",
            vec![("PARTNER_OPENAI_KEY", "env-partner-secret")],
            "env-partner-secret",
        ),
        (
            "key_vault_secret: https://contoso-kv.vault.azure.net/secrets/partner-key",
            vec![],
            "kv-partner-secret",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let topo = dir.path().join("multi.yaml");
        std::fs::write(&topo, multi.replace("env: PARTNER_OPENAI_KEY", source)).unwrap();
        let names = ["eastus2", "westus3", "swedencentral", "partner"];
        let mut backends = Vec::new();
        let mut args = vec!["--key-vault-endpoint".to_string(), vault.clone()];
        for n in names {
            let b = Backend::start(n).await;
            args.push("--upstream".into());
            args.push(format!("{n}={}", b.url()));
            backends.push(b);
        }
        let busy = Answer::Status(429, vec![("retry-after".into(), "30".into())]);
        backends[0].always(busy.clone());
        backends[1].always(busy);
        let serve = ServeProcess::start(&topo, &args, &env);
        let r = client()
            .post(serve.url("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"))
            .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let partner = backends[3].seen();
        assert_eq!(partner.len(), 1);
        assert_eq!(
            partner[0].path_and_query,
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(partner[0].header("api-key"), Some(expected));
        assert_eq!(partner[0].header("authorization"), None);
        assert_eq!(
            backends[0].seen()[0].header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        let logs = format!(
            "{:?}{:?}",
            serve.stdout.lock().unwrap(),
            serve.stderr.lock().unwrap()
        );
        assert!(!logs.contains(expected), "a backend key reached the log");
    }
    assert_eq!(vault_seen.lock().unwrap().len(), 1);
}

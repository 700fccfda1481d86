//! Two `oailb serve` instances sharing balancer state through a real
//! `redis-server` (scripts/test-deps.sh installs it; the test starts it on a
//! free port), and the fallback to local state while Redis is down.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oailb::balancer::BackendState;
use serde_json::json;
use support::mock_aoai::Answer;
use support::serve_process::{seed_topology, ServeProcess};
use support::SeedBackends;

const CHAT: &str =
    "/smart-api/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21";

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test-deps.sh)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn states(&self) -> Vec<(String, BackendState)> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("oailb:*")
            .query_async(&mut c)
            .await
            .unwrap();
        let mut out = Vec::new();
        for k in keys {
            let v: String = redis::cmd("GET").arg(&k).query_async(&mut c).await.unwrap();
            out.push((k, BackendState::decode(&v)));
        }
        out
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn chat(c: &reqwest::Client, s: &ServeProcess) -> u16 {
    c.post(s.url(CHAT))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_state_and_survive_a_redis_outage() {
    let port = free_port();
    let mut redis = Redis::start(port);
    let dir = tempfile::tempdir().unwrap();
    let topo = seed_topology(dir.path(), "");
    let seed = SeedBackends::start().await;
    let mut args = seed.upstream_args();
    args.extend(["--state".to_string(), redis.url()]);
    let a = ServeProcess::start(&topo, &args, &[]);
    let b = ServeProcess::start(&topo, &args, &[]);
    let c = reqwest::Client::new();

    // Concurrent requests through both instances: no update is lost.
    let all = (0..40).map(|i| chat(&c, if i % 2 == 0 { &a } else { &b }));
    for status in futures::future::join_all(all).await {
        assert_eq!(status, 200);
    }
    let states = redis.states().await;
    let calls: u32 = states.iter().map(|(_, s)| s.calls).sum();
    let sent: i64 = states.iter().map(|(_, s)| s.sent_requests).sum();
    assert_eq!(
        (calls, sent),
        (40, 40),
        "every instance's every update is in Redis: {states:?}\nstate store events:\n{}",
        [&a, &b]
            .iter()
            .flat_map(|p| p.stderr.lock().unwrap().clone())
            .filter(|l| l.contains("state_store"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        states
            .iter()
            .all(|(k, _)| k.starts_with("oailb:apis/aoai-smart-api:gpt-35-turbo:")),
        "{states:?}"
    );

    // What instance A learns (eastus and eastus2 throttled for 30 s),
    // instance B knows without calling them.
    let busy = Answer::Status(429, vec![("retry-after".into(), "30".into())]);
    seed.priority_one(busy);
    assert_eq!(chat(&c, &a).await, 200);
    let before = seed.priority_one_count();
    for _ in 0..5 {
        assert_eq!(chat(&c, &b).await, 200);
    }
    assert_eq!(
        seed.priority_one_count(),
        before,
        "instance B called a backend A had seen throttled"
    );

    // Redis goes away: both instances go on with their own state.
    redis.stop();
    for _ in 0..5 {
        assert_eq!(chat(&c, &a).await, 200);
        assert_eq!(chat(&c, &b).await, 200);
    }
    a.wait_for_log("state_store_unreachable", Duration::from_secs(5));
    let m = a.metrics().await;
    assert!(m.contains("oailb_state_store_up 0"), "{m}");
    assert!(!m.contains("oailb_state_store_errors_total 0\n"), "{m}");
    // And find it again when it is back.
    let _redis = Redis::start(port);
    let start = Instant::now();
    loop {
        assert_eq!(chat(&c, &a).await, 200);
        if a.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("state_store_recovered"))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = a.metrics().await;
    assert!(m.contains("oailb_state_store_up 1"), "{m}");
}

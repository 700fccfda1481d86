//! Done-when of `oailb serve`: the official OpenAI Python SDK (pinned in
//! tests/python/requirements.txt; scripts/openai-sdk-venv.sh makes the venv)
//! talks to `oailb serve -f examples/seed.yaml --upstream ...` in front of
//! three mock backends, with failover and streaming.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::mock_aoai::Answer;
use support::serve_process::ServeProcess;
use support::SeedBackends;

fn venv_python() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/openai-sdk-venv.sh");
    let ok = Command::new("bash")
        .arg(&script)
        .status()
        .expect("bash runs")
        .success();
    assert!(
        ok,
        "scripts/openai-sdk-venv.sh failed (it needs python3-venv and PyPI)"
    );
    root.join("target/openai-sdk-venv/bin/python")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_python_sdk_works_through_serve_with_failover_and_streaming() {
    let python = venv_python();
    let seed = SeedBackends::start().await;
    let (e1, e2, ca) = (&seed.eastus, &seed.eastus2, &seed.canadaeast);
    // Priority 1 fails: one drops connections, the other throttles.
    e1.always(Answer::Drop);
    e2.always(Answer::Status(
        429,
        vec![("retry-after-ms".into(), "60000".into())],
    ));
    // canadaeast answers: the first two calls as JSON, the streamed call as
    // events, then JSON again.
    ca.script(vec![
        Answer::Ok,
        Answer::Stream {
            n: 3,
            every: Duration::from_millis(20),
        },
        Answer::Ok,
    ]);
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("seed.yaml");
    let seed_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed.yaml"))
            .unwrap();
    std::fs::write(
        &topo,
        format!("{seed_text}\nserve:\n  client_keys:\n    - env: SDK_TEST_CLIENT_KEY\n"),
    )
    .unwrap();
    let args = seed.upstream_args();
    let serve = ServeProcess::start(&topo, &args, &[("SDK_TEST_CLIENT_KEY", "sdk-client-key")]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_client.py");
    let addr = serve.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args([script, &addr, "sdk-client-key"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "python client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["azure"]["content"], "hello from canadaeast");
    assert_eq!(v["azure"]["total_tokens"], 18);
    assert_eq!(
        v["azure_stream"],
        serde_json::json!(["part0 ", "part1 ", "part2 "])
    );
    assert_eq!(v["openai"]["content"], "hello from canadaeast");
    assert_eq!(v["models"], serde_json::json!(["gpt-35-turbo"]));
    assert_eq!(v["not_found"], "DeploymentNotFound");
    assert_eq!(v["unauthorized"], 401);
    // The first request tried both priority-1 backends, then failed over;
    // after that the throttled one stayed out for its 60 s (the dropping
    // one is out for a 1 s backoff, which a slow machine may outlast).
    assert!(e1.count() >= 1);
    assert_eq!(e2.count(), 1);
    assert_eq!(ca.count(), 3);
    let sdk = ca.seen()[0]
        .header("user-agent")
        .unwrap_or_default()
        .to_string();
    assert!(
        sdk.starts_with("AzureOpenAI/Python") || sdk.starts_with("OpenAI/Python"),
        "{sdk}"
    );
}

//! Consumers' limits and authentication, executed: the product policies and
//! the API policy of `tests/scenarios/consumers.yaml`, rendered by oailb and
//! run by the policy harness (`tests/harness/`, which models APIM's product
//! scope, `validate-azure-ad-token`, `rate-limit-by-key`, `llm-token-limit`
//! and the metric policies; each assumption is listed with its source in
//! PolicyHarness.cs). Every expected value is written by hand from the
//! topology: the `small` tier allows 100 tokens per minute, 150 per day and
//! 3 requests per minute per consumer; a prompt costs its characters / 4,
//! rounded up (the harness's estimate).

mod harness_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use oailb::desired;
use oailb::render::{policy, product_policy, Templates};
use oailb::topology;
use serde_json::{json, Value};

use harness_support::{backend_hosts, build_harness, compile_expressions, run};

/// 2026-01-05T00:00:00Z, a Monday: the day's quota renews 86,400 s later.
const T0: u64 = 1_767_571_200_000;
const TENANT: &str = "11111111-1111-1111-1111-111111111111";
const GAMMA_APP: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const DELTA_APP: &str = "aaaaaaaa-0000-0000-0000-000000000002";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn b64url(s: &str) -> String {
    // RFC 4648 base64url without padding, written out here so the test
    // does not reuse the harness's own encoder.
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..chunk.len() + 1 {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A token as Entra ID would sign it for `tid` in the harness
/// (`Jwt.HarnessSignature`: base64url of "entra-signed:<tid>"), or forged.
fn token(tid: &str, app: &str, roles: &[&str], signed: bool) -> String {
    let claims = json!({
        "tid": tid, "azp": app, "roles": roles,
        "aud": "api://contoso-gateway", "exp": T0 / 1000 + 3600,
    });
    let sig = if signed {
        b64url(&format!("entra-signed:{tid}"))
    } else {
        b64url("forged")
    };
    format!(
        "Bearer {}.{}.{sig}",
        b64url(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64url(&claims.to_string())
    )
}

/// A chat request whose prompt has `chars` characters (chars / 4 tokens).
fn body(chars: usize) -> String {
    json!({"messages": [{"role": "user", "content": "x".repeat(chars)}], "max_tokens": 10})
        .to_string()
}

/// Who sends a request.
#[derive(Clone)]
enum Caller {
    /// A key of the consumer's product (its subscription is named after it).
    Key(&'static str),
    /// No key: the open product; this Authorization header.
    Token(String),
    /// A key and a token.
    KeyAndToken(&'static str, String),
    /// APIM's all-access key: no product policy runs.
    AllAccess,
}

struct Req {
    caller: Caller,
    deployment: &'static str,
    at_ms: u64,
    body: String,
    /// usage.total_tokens of the backend's answer (prompt 10, the rest completion).
    used: u64,
}

fn req(caller: Caller, at_ms: u64, chars: usize, used: u64) -> Req {
    Req {
        caller,
        deployment: "gpt-4o",
        at_ms,
        body: body(chars),
        used,
    }
}

struct Rendered {
    dir: tempfile::TempDir,
    api_path: String,
    gateway: String,
    /// product id → index in the plan's products.
    products: BTreeMap<String, usize>,
    /// consumer → its product.
    product_of: BTreeMap<String, String>,
    hosts: serde_json::Map<String, Value>,
    files: Vec<String>,
}

fn render() -> Rendered {
    let loaded = topology::load_file(&root().join("tests/scenarios/consumers.yaml")).unwrap();
    let d = desired::derive(&loaded.topology, None);
    let templates = Templates::load(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    build_harness(dir.path());
    let mut files = Vec::new();
    let api = d.policy("openai").unwrap();
    let file = dir.path().join("api.xml");
    std::fs::write(&file, policy::render(&templates, api).unwrap()).unwrap();
    files.push(file.to_str().unwrap().to_string());
    let mut products = BTreeMap::new();
    let mut product_of = BTreeMap::new();
    for (i, p) in d.product_policies.iter().enumerate() {
        let file = dir.path().join(format!("{}.xml", p.product));
        std::fs::write(&file, product_policy::render(&templates, p).unwrap()).unwrap();
        files.push(file.to_str().unwrap().to_string());
        products.insert(p.product.clone(), i);
        for c in &p.consumers {
            product_of.insert(c.name.clone(), p.product.clone());
        }
    }
    let hosts = backend_hosts(api);
    compile_expressions(dir.path(), &files);
    Rendered {
        dir,
        api_path: "openai".into(),
        gateway: d.outputs.gateway_url.clone(),
        products,
        product_of,
        hosts,
        files,
    }
}

/// Plays each run (its own gateway: fresh counters) and returns per run
/// the result of every request.
fn play(r: &Rendered, runs: &[Vec<Req>]) -> Vec<Vec<Value>> {
    let runs_json: Vec<Value> = runs
        .iter()
        .map(|reqs| {
            let requests: Vec<Value> = reqs
                .iter()
                .map(|q| {
                    let mut headers = json!({"Content-Type": "application/json"});
                    let (product, subscription) = match &q.caller {
                        Caller::Key(c) | Caller::KeyAndToken(c, _) => {
                            let p = &r.product_of[*c];
                            (json!(r.products[p]), json!({"id": c, "name": c}))
                        }
                        Caller::Token(_) => (json!(r.products["oailb-entra"]), Value::Null),
                        Caller::AllAccess => (Value::Null, json!({"id": "master", "name": "Built-in all-access subscription"})),
                    };
                    if let Caller::Token(t) | Caller::KeyAndToken(_, t) = &q.caller {
                        headers["Authorization"] = json!(t);
                    }
                    headers["api-key"] = json!("client-key");
                    json!({
                        "policy": 0,
                        "product": product,
                        "subscription": subscription,
                        "now_ms": q.at_ms,
                        "body": q.body,
                        "draws": [],
                        "answers": {"*": {"status": 200, "usage": {
                            "prompt_tokens": 10, "completion_tokens": q.used - 10, "total_tokens": q.used,
                        }}},
                        "url": format!("{}/{}/deployments/{}/chat/completions?api-version=2024-10-21",
                            r.gateway, r.api_path, q.deployment),
                        "headers": headers,
                    })
                })
                .collect();
            json!({"requests": requests})
        })
        .collect();
    let policies = json!([{
        "file": r.files[0], "api_id": "apis/openai", "api_name": "openai",
        "api_path": r.api_path, "pools": {}, "hosts": r.hosts,
    }]);
    let products: Vec<Value> = r.files[1..].iter().map(|f| json!({"file": f})).collect();
    let plan_file = r.dir.path().join("plan.json");
    std::fs::write(
        &plan_file,
        serde_json::to_vec_pretty(
            &json!({"policies": policies, "products": products, "runs": runs_json}),
        )
        .unwrap(),
    )
    .unwrap();
    let mut cmd = Command::new("mono");
    cmd.current_dir(r.dir.path())
        .args(["harness.exe", "run", "exprs.dll"])
        .arg(&plan_file);
    let out: Value = serde_json::from_str(&run(&mut cmd)).unwrap();
    out.as_array()
        .unwrap()
        .iter()
        .map(|run| {
            let v = &run["variants"][0]["results"];
            v.as_array().unwrap().clone()
        })
        .collect()
}

fn status(r: &Value) -> u64 {
    assert!(
        r.get("runtime_exception").is_none(),
        "runtime exception: {r:#}"
    );
    r["status"].as_u64().unwrap()
}

fn attempts(r: &Value) -> usize {
    r["attempts"].as_array().map_or(0, Vec::len)
}

fn error_code(r: &Value) -> String {
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap())
        .unwrap_or_else(|_| panic!("not JSON: {r:#}"));
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn header<'a>(r: &'a Value, name: &str) -> Option<&'a str> {
    r["headers"][name].as_str()
}

/// The metrics a request emitted, as (name, value, dimensions).
fn metrics(r: &Value) -> Vec<(String, f64, Value)> {
    r["metrics"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap().to_string(),
                        m["value"].as_f64().unwrap(),
                        m["dimensions"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tokens_used(r: &Value) -> Option<f64> {
    metrics(r)
        .into_iter()
        .find(|(n, _, _)| n == "Total Tokens")
        .map(|(_, v, _)| v)
}

#[test]
fn limits_authentication_and_metrics_executed() {
    let r = render();
    let s = 1000;
    let runs = vec![
        // 0. Rate: 90 tokens used in the first minute; 20 more (80 prompt
        //    characters) do not fit into 100: 429, 59 s before the minute
        //    ends, without a backend call. The tier's other consumer has its
        //    own counter. After the minute, alpha is admitted again.
        vec![
            req(Caller::Key("alpha"), T0, 40, 90),
            req(Caller::Key("alpha"), T0 + s, 80, 20),
            req(Caller::Key("beta"), T0 + s, 80, 20),
            req(Caller::Key("alpha"), T0 + 61 * s, 80, 20),
        ],
        // 1. Quota: 90, then 50 in the next minute (140 of 150 today); the
        //    next 20-token prompt would pass the day's 150: 403 until the
        //    day ends (86,400 - 122 s), no backend call.
        vec![
            req(Caller::Key("alpha"), T0, 40, 90),
            req(Caller::Key("alpha"), T0 + 61 * s, 40, 50),
            req(Caller::Key("alpha"), T0 + 122 * s, 80, 20),
        ],
        // 2. The estimate alone: gamma's 5,000-character prompt (1,250
        //    tokens) cannot fit its 1,000 tokens per minute: refused before
        //    any backend call, 60 s before its first minute ends.
        vec![req(
            Caller::Token(token(TENANT, GAMMA_APP, &["Gateway.Invoke"], true)),
            T0,
            5000,
            1300,
        )],
        // 3. Requests per minute: 3 pass, the 4th within the minute gets 429
        //    with the wait until the first leaves the 60 s window (60 - 30).
        vec![
            req(Caller::Key("beta"), T0, 4, 11),
            req(Caller::Key("beta"), T0 + 10 * s, 4, 11),
            req(Caller::Key("beta"), T0 + 20 * s, 4, 11),
            req(Caller::Key("beta"), T0 + 30 * s, 4, 11),
        ],
        // 4. Entra ID (open product): accepted with a signed token of the
        //    right application and role; refused when forged, without the
        //    role, from another tenant, or from an unknown application, and
        //    without any token.
        vec![
            req(
                Caller::Token(token(TENANT, GAMMA_APP, &["Gateway.Invoke"], true)),
                T0,
                40,
                30,
            ),
            req(
                Caller::Token(token(TENANT, GAMMA_APP, &["Gateway.Invoke"], false)),
                T0,
                40,
                30,
            ),
            req(
                Caller::Token(token(TENANT, GAMMA_APP, &["Other.Role"], true)),
                T0,
                40,
                30,
            ),
            req(
                Caller::Token(token(
                    "22222222-2222-2222-2222-222222222222",
                    GAMMA_APP,
                    &["Gateway.Invoke"],
                    true,
                )),
                T0,
                40,
                30,
            ),
            req(
                Caller::Token(token(
                    TENANT,
                    "bbbbbbbb-0000-0000-0000-000000000009",
                    &["Gateway.Invoke"],
                    true,
                )),
                T0,
                40,
                30,
            ),
            req(Caller::Token(String::new()), T0, 40, 30),
        ],
        // 5. Both: delta's key alone is refused, key and token pass.
        vec![
            req(Caller::Key("delta"), T0, 40, 30),
            req(
                Caller::KeyAndToken("delta", token(TENANT, DELTA_APP, &[], true)),
                T0,
                40,
                30,
            ),
        ],
        // 6. Deployments: search may call gpt-4o-mini, not gpt-4o.
        vec![
            Req {
                deployment: "gpt-4o-mini",
                ..req(Caller::Key("search"), T0, 40, 30)
            },
            req(Caller::Key("search"), T0, 40, 30),
        ],
        // 7. The built-in all-access key runs no product policy: no limit,
        //    and the metrics say so (consumer "none").
        vec![req(Caller::AllAccess, T0, 2000, 600)],
    ];
    let out = play(&r, &runs);

    // 0. Rate.
    let rate = &out[0];
    assert_eq!(status(&rate[0]), 200);
    assert_eq!(attempts(&rate[0]), 1);
    assert_eq!(header(&rate[0], "x-oailb-remaining-requests"), Some("2"));
    assert_eq!(status(&rate[1]), 429, "{:#}", rate[1]);
    assert_eq!(attempts(&rate[1]), 0, "refused before any backend call");
    assert_eq!(header(&rate[1], "retry-after"), Some("59"));
    assert_eq!(error_code(&rate[1]), "429");
    assert_eq!(header(&rate[1], "content-type"), Some("application/json"));
    let rejected = metrics(&rate[1]);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].0, "Rejected Requests");
    assert_eq!(
        rejected[0].2,
        json!({"consumer": "alpha", "deployment": "gpt-4o", "api": "openai", "reason": "rate"})
    );
    assert_eq!(status(&rate[2]), 200, "beta counts its own tokens");
    assert_eq!(status(&rate[3]), 200, "a new minute");

    // 1. Quota.
    let quota = &out[1];
    assert_eq!(status(&quota[0]), 200);
    assert_eq!(
        header(&quota[0], "x-oailb-remaining-quota-tokens"),
        Some("140"),
        "150 - the 10-token estimate"
    );
    assert_eq!(status(&quota[1]), 200);
    assert_eq!(status(&quota[2]), 403, "{:#}", quota[2]);
    assert_eq!(attempts(&quota[2]), 0);
    assert_eq!(error_code(&quota[2]), "QuotaExceeded");
    assert_eq!(header(&quota[2], "retry-after"), Some("86278"));
    assert_eq!(metrics(&quota[2])[0].2["reason"], json!("quota"));

    // 2. Estimate before any backend call.
    assert_eq!(status(&out[2][0]), 429);
    assert_eq!(attempts(&out[2][0]), 0);
    assert_eq!(header(&out[2][0], "retry-after"), Some("60"));

    // 3. Requests per minute.
    let rpm = &out[3];
    for (i, r) in rpm.iter().take(3).enumerate() {
        assert_eq!(status(r), 200, "request {i}");
    }
    assert_eq!(status(&rpm[3]), 429);
    assert_eq!(attempts(&rpm[3]), 0);
    assert_eq!(header(&rpm[3], "retry-after"), Some("30"));
    assert_eq!(metrics(&rpm[3])[0].2["reason"], json!("requests"));

    // 4. Entra ID.
    let entra = &out[4];
    assert_eq!(status(&entra[0]), 200, "{:#}", entra[0]);
    for (i, r) in entra.iter().enumerate().skip(1) {
        assert_eq!(status(r), 401, "token {i}: {r:#}");
        assert_eq!(attempts(r), 0, "token {i}");
        assert_eq!(error_code(r), "401", "token {i}");
        assert_eq!(header(r, "www-authenticate"), Some("Bearer"), "token {i}");
    }

    // 5. Subscription key and token.
    assert_eq!(status(&out[5][0]), 401);
    assert_eq!(status(&out[5][1]), 200);

    // 6. Deployments.
    assert_eq!(status(&out[6][0]), 200);
    assert_eq!(status(&out[6][1]), 403);
    assert_eq!(error_code(&out[6][1]), "ModelNotAllowed");
    assert_eq!(attempts(&out[6][1]), 0);

    // 7. No product.
    assert_eq!(status(&out[7][0]), 200);
    assert_eq!(tokens_used(&out[7][0]), Some(600.0));

    // Metric emission: every served request reports prompt, completion and
    // total tokens with the five dimensions, the backend that served
    // included.
    let served = metrics(&out[0][0]);
    let names: Vec<&str> = served.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Prompt Tokens", "Completion Tokens", "Total Tokens"]
    );
    assert_eq!(
        served.iter().map(|(_, v, _)| *v).collect::<Vec<_>>(),
        [10.0, 80.0, 90.0]
    );
    assert_eq!(
        served[2].2,
        json!({"consumer": "alpha", "deployment": "gpt-4o", "backend": "p1", "api": "openai", "cost_center": "CC-1"})
    );
    assert_eq!(metrics(&out[4][0])[2].2["consumer"], json!("gamma"));
    assert_eq!(metrics(&out[7][0])[2].2["consumer"], json!("none"));
    // Refused requests used no tokens.
    assert_eq!(tokens_used(&out[4][1]), None);
}

#[test]
fn the_harness_signature_matches_this_tests_encoding() {
    // A guard on the test itself: b64url must be RFC 4648 base64url.
    assert_eq!(b64url("entra-signed:x"), "ZW50cmEtc2lnbmVkOng");
    assert_eq!(b64url("ab"), "YWI");
}

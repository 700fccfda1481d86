//! `oailb usage` against the fake: the workspace is found through ARM, the
//! query goes to the fake's Log Analytics query API, which answers only the
//! query written here by hand (and says what it got otherwise), with canned
//! rows whose sums and costs are computed by hand below.

mod fake_arm;

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use fake_arm::{Config, FakeArm, LogsAnswer, TOKEN};
use serde_json::{json, Value};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
/// The workspace id (`customerId`) the fake gives every workspace.
const WORKSPACE_ID: &str = "00000000-0000-0000-0000-00000000c0de";

fn topology() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/teams.yaml")
}

/// `oailb ARGS -f examples/teams.yaml` against the fake ARM with a token.
fn against(fake: &FakeArm, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("oailb").unwrap();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OAILB_ACCESS_TOKEN", TOKEN)
        .env("OAILB_BACKOFF_BASE_MS", "5")
        .args(args)
        .arg("-f")
        .arg(topology())
        .args([
            "--subscription",
            SUB,
            "--auth",
            "token",
            "--arm-endpoint",
            &fake.url,
        ]);
    c
}

/// The same with the fake's Log Analytics query API.
fn oailb(fake: &FakeArm, args: &[&str]) -> Output {
    against(fake, args)
        .args(["--logs-endpoint", &fake.url])
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The query for examples/teams.yaml over 7 days, written out by hand.
fn expected_query(ago: &str) -> String {
    format!(
        r#"AppMetrics
| where TimeGenerated > ago({ago})
| where _ResourceId =~ "/subscriptions/{SUB}/resourcegroups/rg-openai-teams/providers/microsoft.insights/components/contoso-teams-gateway-insights"
| where Name in ("Prompt Tokens", "Completion Tokens", "Total Tokens", "Rejected Requests")
| extend consumer = tostring(Properties["consumer"]), deployment = tostring(Properties["deployment"]), backend = tostring(Properties["backend"])
| summarize prompt_tokens = sumif(Sum, Name == "Prompt Tokens"), completion_tokens = sumif(Sum, Name == "Completion Tokens"), total_tokens = sumif(Sum, Name == "Total Tokens"), requests = sumif(ItemCount, Name == "Total Tokens"), rejected = sumif(Sum, Name == "Rejected Requests") by consumer, deployment, backend
| order by consumer asc, deployment asc, backend asc"#
    )
}

/// What Log Analytics answers: four rows, one of them requests turned away
/// (no backend).
fn tables() -> Value {
    let cols = [
        ("consumer", "string"),
        ("deployment", "string"),
        ("backend", "string"),
        ("prompt_tokens", "real"),
        ("completion_tokens", "real"),
        ("total_tokens", "real"),
        ("requests", "real"),
        ("rejected", "real"),
    ];
    json!([{
        "name": "PrimaryResult",
        "columns": cols.iter().map(|(n, t)| json!({"name": n, "type": t})).collect::<Vec<_>>(),
        "rows": [
            ["analytics", "gpt-5", "useast", 2000000.0, 1000000.0, 3000000.0, 50.0, 0.0],
            ["search", "gpt-5-mini", "", 0.0, 0.0, 0.0, 0.0, 7.0],
            ["search", "gpt-5-mini", "sweden", 1000000.0, 500000.0, 1500000.0, 400.0, 0.0],
            ["support-bot", "gpt-5-mini", "france", 400000.0, 100000.0, 500000.0, 1000.0, 0.0],
        ],
    }])
}

fn deployed() -> FakeArm {
    let fake = FakeArm::start(Config::default());
    let out = against(&fake, &["deploy", "--yes", "-q"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    fake
}

#[test]
fn usage_reads_the_metrics_and_prices_the_tokens() {
    let fake = deployed();
    fake.add_logs_answer(LogsAnswer {
        workspace_id: WORKSPACE_ID.into(),
        query: expected_query("7d"),
        tables: tables(),
    });

    // --show-query prints the same KQL without reading anything.
    let shown = oailb(&fake, &["usage", "--show-query"]);
    assert!(shown.status.success(), "{}", text(&shown));
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout),
        expected_query("7d") + "\n"
    );
    assert!(fake.logs_queries().is_empty());

    // By consumer. Costs by hand: analytics 2 M prompt × 1.25 + 1 M
    // completion × 10 = 12.50; search 1 M × 0.25 + 0.5 M × 2 = 1.25;
    // support-bot 0.4 M × 0.25 + 0.1 M × 2 = 0.30; total 14.05.
    let out = oailb(&fake, &["usage", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/schemas/usage.v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["by"], "consumer");
    assert_eq!(doc["currency"], "USD");
    let lines: Vec<(String, u64, u64, u64, f64)> = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["key"].as_str().unwrap().to_string(),
                l["requests"].as_u64().unwrap(),
                l["total_tokens"].as_u64().unwrap(),
                l["rejected"].as_u64().unwrap(),
                l["cost"].as_f64().unwrap(),
            )
        })
        .collect();
    let round = |x: f64| (x * 100.0).round() / 100.0;
    assert_eq!(
        lines
            .iter()
            .map(|(k, r, t, x, c)| (k.as_str(), *r, *t, *x, round(*c)))
            .collect::<Vec<_>>(),
        [
            ("analytics", 50, 3_000_000, 0, 12.5),
            ("search", 400, 1_500_000, 7, 1.25),
            ("support-bot", 1000, 500_000, 0, 0.3),
        ]
    );
    assert_eq!(doc["total"]["total_tokens"], 5_000_000);
    assert_eq!(round(doc["total"]["cost"].as_f64().unwrap()), 14.05);
    assert_eq!(fake.logs_queries().len(), 1);

    // The table, by backend: the rejected requests have none.
    let out = oailb(&fake, &["usage", "--by", "backend"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        table.starts_with("Usage in the last 7d, by backend\n"),
        "{table}"
    );
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("(none)"), ["(none)", "0", "0", "0", "0", "7", "0.00"]);
    assert_eq!(
        row("useast"),
        [
            "useast",
            "50",
            "2,000,000",
            "1,000,000",
            "3,000,000",
            "0",
            "12.50"
        ]
    );
    assert_eq!(
        row("total"),
        [
            "total",
            "1,450",
            "3,400,000",
            "1,600,000",
            "5,000,000",
            "7",
            "14.05"
        ]
    );
    assert!(table.contains("Prices: illustration"), "{table}");

    // CSV and Markdown.
    let csv = oailb(&fake, &["usage", "--by", "deployment", "--format", "csv"]);
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        "deployment,requests,prompt_tokens,completion_tokens,total_tokens,rejected,cost\n\
         gpt-5,50,2000000,1000000,3000000,0,12.500000\n\
         gpt-5-mini,1400,1400000,600000,2000000,7,1.550000\n\
         total,1450,3400000,1600000,5000000,7,14.050000\n"
    );
    let md = oailb(&fake, &["usage", "--format", "markdown"]);
    let md = String::from_utf8_lossy(&md.stdout).to_string();
    assert!(md.contains("| consumer | requests | prompt tokens | completion tokens | total tokens | rejected | cost (USD) |"), "{md}");
    assert!(
        md.contains("| **total** | 1,450 | 3,400,000 | 1,600,000 | 5,000,000 | 7 | 14.05 |"),
        "{md}"
    );

    // Another period is another query: the fake refuses what it does not
    // expect, and oailb reports it.
    let other = oailb(&fake, &["usage", "--since", "30d"]);
    assert_eq!(other.status.code(), Some(1), "{}", text(&other));
    assert!(
        text(&other).contains("the fake expects another query"),
        "{}",
        text(&other)
    );
    assert!(text(&other).contains("ago(30d)"), "{}", text(&other));
}

#[test]
fn usage_needs_consumers_monitoring_and_a_deployed_workspace() {
    let fake = FakeArm::start(Config::default());
    // Nothing deployed: the workspace is missing.
    let out = oailb(&fake, &["usage"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("does not exist: deploy the topology first"),
        "{}",
        text(&out)
    );
    // A topology without consumers has no token metrics.
    let o = Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["usage", "-f", "examples/seed.yaml", "--show-query"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("defines no consumers"), "{}", text(&o));
    // Bad flags are usage errors.
    let o = Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["usage", "-f", "examples/teams.yaml", "--since", "7y"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = Command::cargo_bin("oailb")
        .unwrap()
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OAILB_ACCESS_TOKEN", TOKEN)
        .args(["usage", "-f"])
        .arg(topology())
        .args([
            "--subscription",
            SUB,
            "--auth",
            "token",
            "--arm-endpoint",
            &fake.url,
        ])
        .args(["--logs-endpoint", "http://example.com"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--logs-endpoint"), "{}", text(&o));
}

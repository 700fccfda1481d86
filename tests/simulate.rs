//! `oailb simulate` end to end: snapshots of the table and the JSON for a
//! small workload (deterministic for a seed), the JSON and workload
//! schemas, traces, faults, the plot, the sweep and bad input (`cargo insta
//! review` to accept intended changes).

use assert_cmd::Command;
use serde_json::Value;

const TOPOLOGY: &str = "tests/simulate/spill.yaml";
const WORKLOAD: &str = "tests/simulate/spill-workload.yaml";

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OAILB_TOPOLOGY")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn simulate(extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["simulate", "--color", "never", "-f", TOPOLOGY];
    args.extend_from_slice(extra);
    run(&args)
}

fn json(extra: &[&str]) -> Value {
    let mut args = vec!["simulate", "--color", "never", "-f", TOPOLOGY];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--format", "json"]);
    report(&args)
}

/// The JSON report of a run that must succeed.
fn report(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// The entry of `list` (an array of `parent`) whose `key` is `name`.
fn entry<'a>(parent: &'a Value, list: &str, key: &str, name: &str) -> &'a Value {
    parent[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[key] == name)
        .unwrap_or_else(|| panic!("no {list} entry {name}"))
}

fn strategy<'a>(report: &'a Value, name: &str) -> &'a Value {
    entry(report, "strategies", "name", name)
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/docs/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

#[test]
fn table_and_json_snapshots() {
    let (code, table, _) = simulate(&["--workload", WORKLOAD]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("simulate_table__spill", table);
    let (code, md, _) = simulate(&["--workload", WORKLOAD, "--format", "markdown"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("simulate_markdown__spill", md);
    insta::assert_json_snapshot!("simulate_json__spill", json(&["--workload", WORKLOAD]));
}

#[test]
fn a_seed_gives_the_same_report_and_another_seed_another() {
    let a = json(&["--workload", WORKLOAD, "--seed", "5"]);
    let b = json(&["--workload", WORKLOAD, "--seed", "5"]);
    let c = json(&["--workload", WORKLOAD, "--seed", "6"]);
    assert_eq!(a, b);
    assert_ne!(a["requests"], Value::Null);
    assert_ne!(a["strategies"], c["strategies"]);
}

/// Strategies run side by side on one stream of arrivals, counted once:
/// each one's report (requests and demand included) is the one it gets
/// when run alone, with gateway regions too.
#[test]
fn a_strategy_reports_the_same_alone_and_beside_the_others() {
    let all = json(&["--workload", WORKLOAD]);
    for name in ["oailb", "reference", "pool", "ideal"] {
        let alone = json(&["--workload", WORKLOAD, "--strategy", name]);
        assert_eq!(strategy(&alone, name), strategy(&all, name), "{name}");
        assert_eq!(alone["requests"], all["requests"], "{name}");
    }
    let both = multi_region(MULTI_REGION_WORKLOAD, &["--strategy", "oailb,reference"]);
    let alone = multi_region(MULTI_REGION_WORKLOAD, &["--strategy", "reference"]);
    assert_eq!(strategy(&alone, "reference"), strategy(&both, "reference"));
}

#[test]
fn the_strategies_rank_as_on_the_real_http_bench() {
    // Spill-over at ~147 % of the first priority (lbbench A_spill): the
    // ideal bound wastes nothing; oailb stays within a point of it and
    // wastes far less than the reference policy and the native pool.
    let r = json(&["--workload", WORKLOAD]);
    let (o, rf, p, i) = (
        strategy(&r, "oailb"),
        strategy(&r, "reference"),
        strategy(&r, "pool"),
        strategy(&r, "ideal"),
    );
    let f = |s: &Value, k: &str| s[k].as_f64().unwrap();
    assert_eq!(f(i, "wasted_per_1k"), 0.0);
    assert!(f(o, "success_percent") >= f(i, "success_percent") - 1.0);
    assert!(f(o, "wasted_per_1k") <= 10.0);
    assert!(f(rf, "wasted_per_1k") > 30.0 && f(p, "wasted_per_1k") > 30.0);
    assert!(
        f(o, "first_priority_utilisation_percent")
            >= 0.97 * f(i, "first_priority_utilisation_percent")
    );
    assert!(
        f(rf, "first_priority_utilisation_percent") < f(o, "first_priority_utilisation_percent")
    );
    // Every client 429 of oailb carries Retry-After.
    assert_eq!(o["client_429"], o["client_429_with_retry_after"]);
}

#[test]
fn reports_match_their_schema() {
    let v = schema("simulate.v1.json");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("p.svg");
    let docs = [
        json(&["--workload", WORKLOAD]),
        json(&[
            "--workload",
            "tests/simulate/faults-workload.yaml",
            "--instances",
            "3",
        ]),
        json(&[
            "--trace",
            "tests/simulate/trace.csv",
            "--strategy",
            "oailb,ideal",
        ]),
        json(&[
            "--workload",
            WORKLOAD,
            "--strategy",
            "pool",
            "--sweep",
            "capacity=p2a:1..400",
            "--target",
            "99",
            "--plot",
            svg.to_str().unwrap(),
        ]),
    ];
    for (i, d) in docs.iter().enumerate() {
        assert_valid(&v, d, &format!("report {i}"));
    }
    let mut broken = docs[0].clone();
    broken["strategies"][0]["name"] = Value::from("round-robin");
    assert!(!v.is_valid(&broken));
}

#[test]
fn workload_files_match_their_schema() {
    let v = schema("workload.v1.json");
    for f in [
        WORKLOAD,
        "tests/simulate/faults-workload.yaml",
        "examples/simulate/workload.yaml",
        "examples/simulate/multi-region-workload.yaml",
        "tests/simulate/regions-workload.yaml",
        "bench/simulate/workload-1h.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{}/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let (doc, _) = oailb::topology::source::load(&text).unwrap();
        assert_valid(&v, &doc, f);
    }
}

#[test]
fn a_trace_replays_the_same_from_csv_and_json_lines() {
    let strip = |mut v: Value| {
        v["input"]["file"] = Value::Null;
        v
    };
    let csv = json(&["--trace", "tests/simulate/trace.csv"]);
    let jsonl = json(&["--trace", "tests/simulate/trace.jsonl"]);
    assert_eq!(csv["requests"], 231);
    assert_eq!(csv["input"]["kind"], "trace");
    assert_eq!(strip(csv), strip(jsonl));
}

#[test]
fn faults_separate_the_strategies() {
    let r = json(&["--workload", "tests/simulate/faults-workload.yaml"]);
    let (o, rf, p) = (
        strategy(&r, "oailb"),
        strategy(&r, "reference"),
        strategy(&r, "pool"),
    );
    // oailb retries 5xx and unanswered calls elsewhere: no client error.
    assert_eq!(o["client_5xx"], 0);
    assert_eq!(o["success_percent"], 100.0);
    // The reference policy cannot retry a call that got no answer (its
    // retry condition needs a response): clients get 500.
    assert!(rf["client_5xx"].as_u64().unwrap() > 0);
    assert!(rf["upstream_no_answer"].as_u64().unwrap() > 0);
    // The pool-mode policy retries 429 and 503 only: the 500s reach clients.
    assert!(p["client_5xx"].as_u64().unwrap() > 0);
    // Injected errors are unavoidable waste; the rest is the strategy's.
    let f = |s: &Value, k: &str| s[k].as_f64().unwrap();
    assert!(f(o, "wasted_avoidable_per_1k") <= f(o, "wasted_per_1k"));
}

const MULTI_REGION: &str = "examples/multi-region.yaml";
const MULTI_REGION_WORKLOAD: &str = "examples/simulate/multi-region-workload.yaml";

fn multi_region(workload: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "simulate",
        "-f",
        MULTI_REGION,
        "--workload",
        workload,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    report(&args)
}

fn region<'a>(strategy: &'a Value, name: &str) -> &'a Value {
    entry(strategy, "regions", "region", name)
}

#[test]
fn each_gateway_region_is_served_by_its_own_backends_first() {
    // Each region's demand fits its own priority-1 deployment: with
    // prefer_nearby (on: the service has two gateway regions) oailb serves
    // every request there; the reference policy and the pool, which know no
    // regions, spread it over both.
    let r = multi_region("tests/simulate/regions-workload.yaml", &[]);
    assert_eq!(
        r["gateway_regions"],
        serde_json::json!(["swedencentral", "westeurope"])
    );
    let o = strategy(&r, "oailb");
    for name in ["swedencentral", "westeurope"] {
        let f = region(o, name);
        assert!(f["requests"].as_u64().unwrap() > 200, "{f}");
        assert_eq!(f["success_percent"], 100.0, "{f}");
        assert_eq!(f["served_in_region_percent"], 100.0, "{name}: {f}");
        for other in ["reference", "pool"] {
            let p = region(strategy(&r, other), name)["served_in_region_percent"]
                .as_f64()
                .unwrap();
            assert!(p < 70.0, "{other} in {name}: {p}");
        }
    }
    assert_eq!(o["calls_to_lower_priorities"], 0);
    assert_valid(&schema("simulate.v1.json"), &r, "multi-region report");
}

#[test]
fn a_trace_names_the_gateway_region_of_each_request() {
    // Half of the rows at each gateway region, any spelling; rows without
    // one go to apim.location (swedencentral).
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("regions.csv");
    let mut text = String::from("timestamp,deployment,prompt_tokens,max_tokens,gateway_region\n");
    for i in 0..300 {
        let region = ["", "West Europe", "swedencentral"][i % 3];
        text.push_str(&format!("{}.0,gpt-5-mini,800,256,{region}\n", i / 2));
    }
    std::fs::write(&trace, text).unwrap();
    let r = report(&[
        "simulate",
        "-f",
        MULTI_REGION,
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let o = strategy(&r, "oailb");
    assert_eq!(region(o, "swedencentral")["requests"], 200);
    assert_eq!(region(o, "westeurope")["requests"], 100);
    for name in ["swedencentral", "westeurope"] {
        assert_eq!(region(o, name)["served_in_region_percent"], 100.0, "{name}");
    }

    std::fs::write(
        &trace,
        "timestamp,deployment,prompt_tokens,max_tokens,gateway_region\n0,gpt-5-mini,1,1,mars\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&[
        "simulate",
        "-f",
        MULTI_REGION,
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("regions.csv:2:"), "{stderr}");
    assert!(stderr.contains("no gateway in region `mars`"), "{stderr}");
}

/// The SVG text `--plot` writes for a run of `args`, which must succeed.
/// The SVG must also render to PNG, as a person would look at it, when
/// rsvg-convert is installed (scripts/test-deps.sh installs it).
fn plot(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("plot.svg");
    let mut args = args.to_vec();
    args.extend_from_slice(&["--plot", svg.to_str().unwrap()]);
    let (code, _, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    if let Ok(out) = std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(dir.path().join("plot.png"))
        .arg(&svg)
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::read_to_string(&svg).unwrap()
}

#[test]
fn the_plot_has_a_panel_per_gateway_region() {
    let text = plot(&[
        "simulate",
        "-q",
        "-f",
        MULTI_REGION,
        "--workload",
        "tests/simulate/regions-workload.yaml",
    ]);
    let doc = roxmltree::Document::parse(&text).unwrap();
    for name in ["swedencentral", "westeurope"] {
        let title = format!("{name} gateway: % of its tokens served in its own region");
        assert!(text.contains(&title), "{title}");
    }
    // oailb keeps every region's requests at home (the workload fits each
    // region's own deployment): its lines run along 100 %, the frame's top.
    let lines: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "polyline" && n.attribute("stroke") == Some("#1f4e9a"))
        .filter_map(|n| n.attribute("points"))
        .collect();
    assert_eq!(lines.len(), 2, "one oailb line per region panel");
    for points in lines {
        let ys: std::collections::BTreeSet<&str> = points
            .split(' ')
            .filter_map(|p| p.split(',').nth(1))
            .collect();
        assert_eq!(ys.len(), 1, "a flat line: {ys:?}");
    }
}

#[test]
fn a_state_per_region_wastes_more_calls_than_one_shared_cache() {
    // The example's cache is shared by both regions (`caching_type:
    // external`): that is the default state.
    let shared = multi_region(MULTI_REGION_WORKLOAD, &[]);
    assert_eq!(
        (&shared["state"], &shared["shared_state"]),
        (&"shared".into(), &true.into())
    );
    let own = multi_region(MULTI_REGION_WORKLOAD, &["--state", "region"]);
    assert_eq!(own["state"], "region");
    // Sweden's demand passes its own quota at the peak: with a state per
    // region the westeurope gateway learns of Sweden's 429s only from its
    // own calls, so it sends more calls that come back 429.
    let w = |r: &Value| strategy(r, "oailb")["wasted_per_1k"].as_f64().unwrap();
    assert!(
        w(&shared) < w(&own),
        "shared {} per region {}",
        w(&shared),
        w(&own)
    );
    let we = |r: &Value| {
        region(strategy(r, "oailb"), "westeurope")["wasted_per_1k"]
            .as_f64()
            .unwrap()
    };
    assert!(
        we(&shared) < we(&own),
        "shared {} per region {}",
        we(&shared),
        we(&own)
    );
    // The same seed gives the same report, byte for byte.
    let args = [
        "simulate",
        "-f",
        MULTI_REGION,
        "--workload",
        MULTI_REGION_WORKLOAD,
        "--state",
        "region",
    ];
    let (a, b) = (run(&args), run(&args));
    assert_eq!(a.0, 0, "{}", a.2);
    assert_eq!(a.1, b.1);
    assert!(a.1.contains("westeurope: served in region %"), "{}", a.1);
}

#[test]
fn instances_with_own_or_shared_state() {
    let own = json(&["--workload", WORKLOAD, "--instances", "4"]);
    let shared = json(&["--workload", WORKLOAD, "--instances", "4", "--shared-state"]);
    assert_eq!(own["instances"], 4);
    assert_eq!(shared["shared_state"], true);
    // Four instances that each know only a quarter of the traffic waste
    // more than one shared view of the backends.
    let w = |r: &Value| strategy(r, "oailb")["wasted_per_1k"].as_f64().unwrap();
    assert!(
        w(&shared) <= w(&own),
        "shared {} own {}",
        w(&shared),
        w(&own)
    );
    let (_, table, _) = simulate(&["--workload", WORKLOAD, "--instances", "2", "--shared-state"]);
    assert!(table.contains("note: pool: APIM keeps breaker state per instance"));
}

#[test]
fn the_plot_is_an_svg_with_one_layer_per_backend_and_strategy() {
    let text = plot(&[
        "simulate",
        "--color",
        "never",
        "-f",
        TOPOLOGY,
        "--workload",
        "tests/simulate/faults-workload.yaml",
    ]);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let count = |tag: &str| {
        doc.descendants()
            .filter(|n| n.tag_name().name() == tag)
            .count()
    };
    // 3 backends x 4 strategies stacked areas; demand and 429 lines per panel.
    assert_eq!(count("polygon"), 12);
    assert_eq!(count("polyline"), 8);
    for label in [
        "p1a (p1)",
        "p2a (p2)",
        "demand",
        "client 429/s",
        "oailb: 100.00 % success",
    ] {
        assert!(text.contains(label), "{label}");
    }
}

#[test]
fn the_sweep_finds_the_smallest_capacity_meeting_the_target() {
    let r = json(&[
        "--workload",
        WORKLOAD,
        "--strategy",
        "reference",
        "--sweep",
        "capacity=p2a:1..400",
        "--target",
        "99.9",
    ]);
    let s = &r["sweep"];
    assert_eq!(s["strategy"], "reference");
    let cap = s["capacity"].as_u64().unwrap();
    let points = s["points"].as_array().unwrap();
    let at = |c: u64| {
        points
            .iter()
            .find(|p| p["capacity"] == c)
            .map(|p| p["success_percent"].as_f64().unwrap())
    };
    assert!(at(cap).unwrap() >= 99.9);
    if let Some(below) = at(cap - 1) {
        assert!(below < 99.9);
    }
    assert!(points.len() <= 10, "bisection, not a scan");
    let (code, _, stderr) = simulate(&["--workload", WORKLOAD, "--sweep", "capacity=p9:1..5"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("backends: p1a, p1b, p2a"), "{stderr}");
}

#[test]
fn bad_workloads_name_file_line_and_column_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "deployments:\n  gpt-4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: {min: 9, max: 3}\n    max_tokens: 5\n",
            ":4:20",
            "larger than `max`",
        ),
        (
            "deployments:\n  gpt4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n",
            ":2:3",
            "valid names: gpt-4o",
        ),
        (
            "deployments:\n  gpt-4o:\n    phases: [{duration: 10, rate: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n",
            ":3:29",
            "unknown field `rate`",
        ),
        (
            "deployments:\n  gpt-4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\nbackends:\n  p1c: {error_rate: 0.1}\n",
            ":7:3",
            "did you mean `p1b`?",
        ),
        ("deployments: [\n", ":2:1", "YAML syntax error"),
        (
            "deployments:\n  gpt-4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n    gateway_regions:\n      eastus: 1\n      westus: 1\n",
            ":8:7",
            "no gateway in region `westus`",
        ),
        (
            "deployments:\n  gpt-4o:\n    phases: [{duration: 10, requests_per_second: 1}]\n    prompt_tokens: 1\n    max_tokens: 5\n    gateway_regions: {eastus: 0}\n",
            ":6:31",
            "0 is not a positive share",
        ),
    ];
    for (i, (text, position, message)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("w{i}.yaml"));
        std::fs::write(&p, text).unwrap();
        let (code, stdout, stderr) = simulate(&["--workload", p.to_str().unwrap()]);
        assert_eq!(code, 2, "case {i}: {stderr}");
        assert!(stdout.is_empty());
        let at = format!("w{i}.yaml{position}");
        assert!(stderr.contains(&at), "case {i}: want {at} in\n{stderr}");
        assert!(
            stderr.contains(message),
            "case {i}: want {message} in\n{stderr}"
        );
    }
    let p = dir.path().join("bad.csv");
    std::fs::write(
        &p,
        "timestamp,deployment,prompt_tokens,max_tokens\n1,gpt-4o,10,5\n2,gpt-4,10,5\n",
    )
    .unwrap();
    let (code, _, stderr) = simulate(&["--trace", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.csv:3:3"), "{stderr}");
    assert!(stderr.contains("valid names: gpt-4o"), "{stderr}");
    let (code, _, stderr) = simulate(&["--workload", "no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read no/such/file.yaml"), "{stderr}");
    let (code, _, _) = simulate(&[]);
    assert_eq!(code, 2);
}

#[test]
fn costs_come_from_the_topology_prices() {
    let r = json(&["--workload", WORKLOAD, "--strategy", "oailb"]);
    let s = strategy(&r, "oailb");
    let c = &s["cost"];
    assert_eq!(c["currency"], "USD");
    // Standard deployments only: pay-as-you-go, no PTU hours.
    assert_eq!(c["provisioned"], 0.0);
    let total = c["total"].as_f64().unwrap();
    assert_eq!(c["pay_as_you_go"].as_f64().unwrap(), total);
    // Every token costs between the input and the output price.
    let tokens = s["tokens_served"].as_f64().unwrap();
    assert!(total > tokens / 1e6 * 2.5 && total < tokens / 1e6 * 10.0);
    let month = c["per_month"].as_f64().unwrap();
    assert!(total > 0.0);
    // 25 simulated seconds projected to 730 hours.
    assert!((month / total - 730.0 * 3600.0 / 25.0).abs() / (730.0 * 3600.0 / 25.0) < 0.01);
}

//! The rules at their limits: for each limit Azure or oailb sets, the last
//! accepted value and the first rejected one (tests/invalid holds one
//! rejected topology per rule; these pin the boundaries, written by hand
//! from the limits in the README's "Validation rules").

use super::*;
use crate::topology::{self, Source};

/// A valid topology the cases edit.
const BASE: &str = "resource_group: rg-test
location: eastus
apim:
  name: contoso-test-gateway
  publisher_name: Contoso
  publisher_email: a@contoso.com
api:
  name: openai
  path: openai
models:
  - name: gpt-4o
    model: gpt-4o
    version: \"2024-11-20\"
    capacity: 10
priority_groups:
  - priority: 1
    backends:
      - name: eastus
        region: eastus
";

/// (code, path) of every finding, errors and warnings.
fn findings(yaml: &str) -> Vec<(String, String)> {
    let report = match topology::load(Source::new("t.yaml", yaml)) {
        Ok(loaded) => loaded.report,
        Err(invalid) => invalid.report,
    };
    report
        .diagnostics
        .iter()
        .map(|d| (d.code.to_string(), d.path.clone().unwrap_or_default()))
        .collect()
}

fn edit(pairs: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (from, to) in pairs {
        assert!(text.contains(from), "{from:?} not in the base topology");
        text = text.replacen(from, to, 1);
    }
    text
}

fn codes(yaml: &str) -> Vec<String> {
    findings(yaml).into_iter().map(|(c, _)| c).collect()
}

/// The message of the only finding.
#[track_caller]
fn message(yaml: &str) -> String {
    let report = match topology::load(Source::new("t.yaml", yaml)) {
        Ok(loaded) => loaded.report,
        Err(invalid) => invalid.report,
    };
    assert_eq!(report.diagnostics.len(), 1, "{:?}", report.diagnostics);
    report.diagnostics[0].message.clone()
}

#[track_caller]
fn clean(yaml: &str) {
    assert_eq!(findings(yaml), Vec::<(String, String)>::new(), "{yaml}");
}

#[track_caller]
fn finds(yaml: &str, code: &str, path: &str) {
    let f = findings(yaml);
    assert!(
        f.iter().any(|(c, p)| c == code && p == path),
        "no {code} at {path} in {f:?}\n{yaml}"
    );
}

#[track_caller]
fn lacks(yaml: &str, code: &str) {
    assert!(
        !codes(yaml).iter().any(|c| c == code),
        "{code} in {:?}\n{yaml}",
        findings(yaml)
    );
}

#[test]
fn the_base_topology_is_clean() {
    clean(BASE);
}

#[test]
fn subscription_and_tags() {
    clean(&edit(&[(
        "location: eastus\n",
        "location: eastus\nsubscription: 00000000-0000-0000-0000-000000000000\n",
    )]));
    let tags = |k: String, v: String| {
        edit(&[(
            "location: eastus\n",
            &format!("location: eastus\ntags:\n  \"{k}\": \"{v}\"\n"),
        )])
    };
    clean(&tags("k".repeat(512), "v".repeat(256)));
    // (The path of so long a key is shortened for display.)
    let long = findings(&tags("k".repeat(513), "v".into()));
    assert!(
        matches!(&long[..], [(c, p)] if c == "invalid-tag" && p.starts_with("tags.kkk")),
        "{long:?}"
    );
    finds(&tags("k".into(), "v".repeat(257)), "invalid-tag", "tags.k");
    finds(&tags(String::new(), "v".into()), "invalid-tag", "tags.");
    finds(&tags("a?b".into(), "v".into()), "invalid-tag", "tags.a?b");
    let many = |n: usize| {
        let list: String = (0..n).map(|i| format!("  t{i}: v\n")).collect();
        edit(&[(
            "location: eastus\n",
            &format!("location: eastus\ntags:\n{list}"),
        )])
    };
    clean(&many(50));
    finds(&many(51), "invalid-tag", "tags");
}

#[test]
fn apim_limits() {
    // Names shorter than 6 characters are probably taken already.
    finds(
        &edit(&[("name: contoso-test-gateway", "name: abcde")]),
        "global-name",
        "apim.name",
    );
    lacks(
        &edit(&[("name: contoso-test-gateway", "name: abcdef")]),
        "global-name",
    );
    let sku = |s: &str, c: &str| {
        edit(&[(
            "  publisher_name",
            &format!("  sku: {s}\n  capacity: {c}\n  publisher_name"),
        )])
    };
    clean(&sku("Basic", "2"));
    finds(&sku("Basic", "3"), "apim-capacity", "apim.capacity");
    finds(&sku("Developer", "0"), "apim-capacity", "apim.capacity");
    // Consumption: 0 units only (and no internal cache for the policy).
    lacks(&sku("Consumption", "0"), "apim-capacity");
    finds(&sku("Consumption", "1"), "apim-capacity", "apim.capacity");
    let publisher = |n: String| {
        edit(&[(
            "publisher_name: Contoso",
            &format!("publisher_name: \"{n}\""),
        )])
    };
    clean(&publisher("p".repeat(100)));
    finds(
        &publisher("p".repeat(101)),
        "invalid-value",
        "apim.publisher_name",
    );
    finds(
        &publisher("  ".into()),
        "invalid-value",
        "apim.publisher_name",
    );
    // A user-assigned identity's name: given (checked as given) or derived.
    let ua = |extra: &str| {
        edit(&[(
            "  publisher_name",
            &format!("  identity: user-assigned\n{extra}  publisher_name"),
        )])
    };
    clean(&ua(""));
    clean(&ua("  identity_name: gw-identity\n"));
    finds(
        &ua("  identity_name: \"-bad\"\n"),
        "invalid-name",
        "apim.identity_name",
    );
}

#[test]
fn email_addresses() {
    for ok in [
        "a@b.c",
        "first.last@contoso.com",
        &format!("{}@contoso.com", "a".repeat(88)),
    ] {
        clean(&edit(&[("a@contoso.com", ok)]));
    }
    for bad in [
        "contoso.com",
        "@contoso.com",
        "a@contoso",
        "a@.contoso.com",
        "a@contoso.com.",
        "a b@contoso.com",
        "\"a<b\"@contoso.com",
        "a,b@contoso.com",
        &format!("{}@contoso.com", "a".repeat(89)),
    ] {
        finds(
            &edit(&[("a@contoso.com", &format!("'{bad}'"))]),
            "invalid-email",
            "apim.publisher_email",
        );
    }
}

#[test]
fn apis() {
    let two = |a: &str, b: &str| {
        edit(&[(
            "api:\n  name: openai\n  path: openai\n",
            &format!("apis:\n  - {{name: {a}, path: {a}}}\n  - {{name: {b}, path: {b}-2}}\n"),
        )])
    };
    clean(&two("one", "two"));
    finds(&two("one", "ONE"), "duplicate-name", "apis[1].name");
    let display = |d: String| {
        edit(&[(
            "  path: openai\n",
            &format!("  path: openai\n  display_name: \"{d}\"\n"),
        )])
    };
    clean(&display("d".repeat(300)));
    finds(
        &display("d".repeat(301)),
        "invalid-value",
        "api.display_name",
    );
    finds(&display(" ".into()), "invalid-value", "api.display_name");
    let models = |m: &str| {
        edit(&[(
            "  path: openai\n",
            &format!("  path: openai\n  models: {m}\n"),
        )])
    };
    clean(&models("[gpt-4o]"));
    finds(
        &models("[gpt-4o, gpt-4o]"),
        "duplicate-name",
        "api.models[1]",
    );
    finds(&models("[]"), "invalid-value", "api.models");
    finds(&models("[gpt4o]"), "unknown-model", "api.models[0]");
    finds(
        &edit(&[(
            "  path: openai\n",
            "  path: openai\n  subscription_key_header: Authorization\n",
        )]),
        "invalid-header",
        "api.subscription_key_header",
    );
    lacks(
        &edit(&[(
            "  path: openai\n",
            "  path: openai\n  subscription_required: true\n",
        )]),
        "no-subscription",
    );
    finds(
        &edit(&[(
            "  path: openai\n",
            "  path: openai\n  operations: {openapi_url: \"http://x.example.com/spec.json\"}\n",
        )]),
        "invalid-url",
        "api.operations.openapi_url",
    );
}

#[test]
fn openapi_files_are_looked_up_next_to_the_topology() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/render");
    let yaml = edit(&[(
        "  path: openai\n",
        "  path: openai\n  operations: {openapi_file: openapi.json}\n",
    )]);
    let report = |base: Option<&Path>| {
        let loaded = topology::load(Source::new("t.yaml", yaml.as_str())).unwrap();
        let mut r = Report::default();
        check(&loaded.topology, &loaded.locations, &mut r, base);
        r.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>()
    };
    assert_eq!(report(Some(&dir)), Vec::<&str>::new());
    assert_eq!(report(Some(&dir.join("missing"))), ["missing-file"]);
}

#[test]
fn monitoring_limits() {
    let m = |body: &str| edit(&[("models:\n", &format!("monitoring:\n{body}models:\n"))]);
    clean(&m("  sampling_percentage: 100\n  retention_days: 730\n"));
    clean(&m("  sampling_percentage: 0\n  retention_days: 30\n"));
    finds(
        &m("  sampling_percentage: 100.5\n"),
        "invalid-value",
        "monitoring.sampling_percentage",
    );
    finds(
        &m("  sampling_percentage: -1\n"),
        "invalid-value",
        "monitoring.sampling_percentage",
    );
    finds(
        &m("  sampling_percentage: .nan\n"),
        "invalid-value",
        "monitoring.sampling_percentage",
    );
    finds(
        &m("  retention_days: 29\n"),
        "invalid-value",
        "monitoring.retention_days",
    );
    finds(
        &m("  retention_days: 731\n"),
        "invalid-value",
        "monitoring.retention_days",
    );
    // Body logging: a warning up to APIM's 8192 bytes, an error above.
    assert_eq!(codes(&m("  log_body_bytes: 8192\n")), ["logs-prompts"]);
    assert_eq!(codes(&m("  log_body_bytes: 1\n")), ["logs-prompts"]);
    assert_eq!(codes(&m("  log_body_bytes: 8193\n")), ["invalid-value"]);
    clean(&m("  log_body_bytes: 0\n"));
    finds(
        &m("  logger_name: \"bad name\"\n"),
        "invalid-name",
        "monitoring.logger_name",
    );
    finds(
        &m("  log_analytics_workspace: {name: \"-x\"}\n"),
        "invalid-name",
        "monitoring.log_analytics_workspace.name",
    );
    finds(
        &m("  application_insights: {name: \"bad/name\"}\n"),
        "invalid-name",
        "monitoring.application_insights.name",
    );
}

#[test]
fn load_balancing_limits() {
    let lb = |body: &str| edit(&[("models:\n", &format!("load_balancing:\n{body}models:\n"))]);
    clean(&lb("  cache_ttl_seconds: 1\n"));
    clean(&lb("  cache_ttl_seconds: 3600\n"));
    finds(
        &lb("  cache_ttl_seconds: 0\n"),
        "invalid-value",
        "load_balancing.cache_ttl_seconds",
    );
    finds(
        &lb("  cache_ttl_seconds: 3601\n"),
        "invalid-value",
        "load_balancing.cache_ttl_seconds",
    );
    finds(
        &lb("  default_retry_after_seconds: 0\n"),
        "invalid-value",
        "load_balancing.default_retry_after_seconds",
    );
    clean(&lb(
        "  default_retry_after_seconds: 30\n  max_retry_after_seconds: 30\n",
    ));
    finds(
        &lb("  default_retry_after_seconds: 30\n  max_retry_after_seconds: 29\n"),
        "invalid-value",
        "load_balancing.max_retry_after_seconds",
    );
    clean(&lb("  max_retry_after_seconds: 86400\n"));
    finds(
        &lb("  max_retry_after_seconds: 86401\n"),
        "invalid-value",
        "load_balancing.max_retry_after_seconds",
    );
    let trip = |codes: &str| lb(&format!("  trip_status_codes: [{codes}]\n"));
    clean(&trip("429, 500-599"));
    clean(&trip("400-499"));
    clean(&trip("429-429"));
    finds(
        &trip("429, 500-400"),
        "invalid-status",
        "load_balancing.trip_status_codes[1]",
    );
    finds(
        &trip("429, 99"),
        "invalid-status",
        "load_balancing.trip_status_codes[1]",
    );
    finds(
        &trip("429, 500-600"),
        "invalid-status",
        "load_balancing.trip_status_codes[1]",
    );
    finds(
        &trip("429, 399"),
        "invalid-status",
        "load_balancing.trip_status_codes[1]",
    );
    // Outside HTTP's statuses, or inside but below 400: two different errors.
    assert!(message(&trip("429, 99")).contains("is not a range of HTTP statuses"));
    assert!(message(&trip("429, 100")).contains("includes successful or redirect statuses"));
    assert!(message(&trip("429, 599-600")).contains("is not a range of HTTP statuses"));
    // 429 must trip, inside a range or alone.
    assert_eq!(codes(&trip("400-428, 430-599")), ["no-429"]);
    assert_eq!(codes(&trip("")), ["invalid-value"]);
    clean(&lb("  backend_header: x-backend\n"));
    finds(
        &lb("  backend_header: \"x backend\"\n"),
        "invalid-header",
        "load_balancing.backend_header",
    );
}

#[test]
fn model_rules() {
    let second = |name: &str, extra: &str| {
        edit(&[(
            "priority_groups:",
            &format!("  - name: {name}\n    model: gpt-4o-mini\n    version: \"2024-07-18\"\n    capacity: 1\n{extra}priority_groups:"),
        )])
    };
    clean(&second("mini", ""));
    finds(&second("GPT-4o", ""), "duplicate-name", "models[1].name");
    finds(
        &second("mini", "    rai_policy: \"bad name\"\n"),
        "invalid-name",
        "models[1].rai_policy",
    );
    finds(
        &edit(&[("model: gpt-4o", "model: \" \"")]),
        "invalid-value",
        "models[0].model",
    );
    finds(
        &edit(&[("version: \"2024-11-20\"", "version: \" \"")]),
        "invalid-value",
        "models[0].version",
    );
    // A model no backend serves.
    finds(
        &edit(&[
            ("priority_groups:", "  - {name: mini, model: gpt-4o-mini, version: \"2024-07-18\", capacity: 1}\npriority_groups:"),
            ("        region: eastus\n", "        region: eastus\n        models: [gpt-4o]\n"),
        ]),
        "model-not-served",
        "models[1]",
    );
}

#[test]
fn priorities_and_backends() {
    let groups = |g: &str| {
        edit(&[(
            "  - priority: 1\n    backends:\n      - name: eastus\n        region: eastus\n",
            g,
        )])
    };
    clean(&groups("  - priority: 1\n    backends: [{name: a, region: eastus}]\n  - priority: 2\n    backends: [{name: b, region: eastus2}]\n"));
    let gap = groups("  - priority: 1\n    backends: [{name: a, region: eastus}]\n  - priority: 3\n    backends: [{name: b, region: eastus2}]\n");
    finds(&gap, "priority-gap", "priority_groups[1].priority");
    let help = match topology::load(Source::new("t.yaml", gap)) {
        Err(e) => e.report.diagnostics[0].help.clone().unwrap(),
        Ok(_) => panic!("a gap is an error"),
    };
    assert_eq!(help, "missing: 2");
    let backend = |extra: &str| {
        edit(&[(
            "        region: eastus\n",
            &format!("        region: eastus\n{extra}"),
        )])
    };
    clean(&backend("        weight: 1\n"));
    clean(&backend("        weight: 1000\n"));
    finds(
        &backend("        weight: 1001\n"),
        "invalid-weight",
        "priority_groups[0].backends[0].weight",
    );
    finds(
        &backend("        weight: 0\n"),
        "invalid-weight",
        "priority_groups[0].backends[0].weight",
    );
    finds(
        &backend("        account_name: \"-x\"\n"),
        "invalid-name",
        "priority_groups[0].backends[0].account_name",
    );
    finds(
        &backend("        custom_subdomain: \"-x\"\n"),
        "invalid-name",
        "priority_groups[0].backends[0].custom_subdomain",
    );
    // A short subdomain is probably taken: the endpoint is a global name.
    finds(
        &backend("        custom_subdomain: abcde\n"),
        "global-name",
        "priority_groups[0].backends[0].name",
    );
    let models = |m: &str| backend(&format!("        models: {m}\n"));
    clean(&models("[gpt-4o]"));
    finds(
        &models("[]"),
        "invalid-value",
        "priority_groups[0].backends[0].models",
    );
    finds(
        &models("[gpt-4o, gpt-4o]"),
        "duplicate-name",
        "priority_groups[0].backends[0].models[1]",
    );
    finds(
        &models("[{name: gpt-4o, capacity: 0}]"),
        "invalid-capacity",
        "priority_groups[0].backends[0].models[0].capacity",
    );
    finds(
        &models("[{name: gpt-4o, sku: GlobalBatch}]"),
        "batch-sku",
        "priority_groups[0].backends[0].models[0].sku",
    );
    finds(
        &models("[{name: gpt-4o, deployment: \"-x\"}]"),
        "invalid-name",
        "priority_groups[0].backends[0].models[0].deployment",
    );
    // A managed account's sku is its own deployment's: no warning.
    lacks(
        &models("[{name: gpt-4o, sku: GlobalStandard}]"),
        "existing-sku",
    );
    // Endpoints of the topology's cloud, with or without a port.
    let endpoint = |ep: &str| {
        edit(&[("        region: eastus\n", &format!("        endpoint: \"{ep}\"\n        resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct-x\n"))])
    };
    clean(&endpoint("https://acct-x.openai.azure.com/"));
    clean(&endpoint("https://acct-x.openai.azure.com:443/"));
    assert_eq!(
        codes(&endpoint("https://acct-x.openai.azure.com/openai")),
        ["endpoint-openai-suffix"]
    );
    finds(
        &endpoint("https://acct-x.openai.azure.com/other/"),
        "invalid-url",
        "priority_groups[0].backends[0].endpoint",
    );
    finds(
        &endpoint("https://acct-x.openai.azure.cn/"),
        "endpoint-cloud",
        "priority_groups[0].backends[0].endpoint",
    );
    // With managed identity, an endpoint alone cannot be granted the role.
    let ep_only = edit(&[(
        "        region: eastus\n",
        "        endpoint: https://acct-x.openai.azure.com/\n",
    )]);
    assert_eq!(codes(&ep_only), ["role-not-granted"]);
}

#[test]
fn api_key_sources() {
    let keyed = |src: &str| {
        edit(&[(
            "        region: eastus\n",
            &format!("        endpoint: https://acct-x.openai.azure.com/\n        auth: api-key\n        api_key: {src}\n"),
        )])
    };
    for ok in [
        "{env: KEY}",
        "{env: _KEY_1}",
        "{key_vault_secret: \"https://kv.vault.azure.net/secrets/k\"}",
        "{key_vault_secret: \"https://kv.vault.azure.net/secrets/k/0123\"}",
    ] {
        clean(&keyed(ok));
    }
    for (bad, code, path) in [
        ("{env: 1KEY}", "invalid-env-var", "api_key.env"),
        ("{env: KEY-1}", "invalid-env-var", "api_key.env"),
        (
            "{key_vault_secret: \"https://kv.example.com/secrets/k\"}",
            "invalid-key-vault-secret",
            "api_key.key_vault_secret",
        ),
        (
            "{key_vault_secret: \"https://kv.vault.azure.net/keys/k\"}",
            "invalid-key-vault-secret",
            "api_key.key_vault_secret",
        ),
        (
            "{key_vault_secret: \"https://kv.vault.azure.net/secrets/\"}",
            "invalid-key-vault-secret",
            "api_key.key_vault_secret",
        ),
        (
            "{key_vault_secret: \"http://kv.vault.azure.net/secrets/k\"}",
            "invalid-key-vault-secret",
            "api_key.key_vault_secret",
        ),
    ] {
        finds(
            &keyed(bad),
            code,
            &format!("priority_groups[0].backends[0].{path}"),
        );
    }
}

#[test]
fn https_urls() {
    for ok in [
        "https://a.b",
        "https://a-b.c:8443/x?y#z",
        "https://a.b/path/",
    ] {
        assert_eq!(check_https_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://a.b",
        "ftp://a.b",
        "https://",
        "https://ab",
        "https://a@b.c",
        "https://a b.c",
        "https://a..b",
        "https://a_b.c",
        "https://a.b:",
        "https://a.b:80x",
        "https://a.b/<x>",
        "https://a.b/{x}",
        "https://a.b/\\x",
        "https://a.b/x y",
        "https://a.b/x\ty",
    ] {
        assert!(check_https_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn account_ids() {
    let ok = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct";
    assert_eq!(check_account_id(ok), Ok(()));
    assert_eq!(check_account_id(&format!("{ok}/")), Ok(()));
    assert_eq!(check_account_id(&ok.to_ascii_lowercase()), Ok(()));
    for bad in [
        ok.replace("/subscriptions/", "/subscription/"),
        ok.replace("00000000-0000-0000-0000-000000000000", "sub"),
        ok.replace("/resourceGroups/", "/groups/"),
        ok.replace("/rg/", "//"),
        ok.replace("/providers/", "/provider/"),
        ok.replace("Microsoft.CognitiveServices", "Microsoft.Storage"),
        ok.replace("/accounts/", "/deployments/"),
        ok.replace("/acct", "/-acct"),
        format!("x{ok}"),
        format!("{ok}/deployments/d"),
    ] {
        assert!(check_account_id(&bad).is_err(), "{bad}");
    }
}

#[test]
fn mode_constraints() {
    let pool = |body: &str| {
        edit(&[(
            "models:\n",
            &format!("load_balancing:\n  mode: pool\n{body}models:\n"),
        )])
    };
    clean(&pool(""));
    assert_eq!(
        codes(&pool("  caching_type: external\n")),
        ["unused-setting"]
    );
    lacks(
        &edit(&[(
            "models:\n",
            "load_balancing:\n  caching_type: external\nmodels:\n",
        )]),
        "unused-setting",
    );
    // Backends per model: APIM pools hold 30; the policy's retry loop 50.
    let many = |n: usize, mode: &str| {
        let backends: String = (0..n)
            .map(|i| format!("      - {{name: b{i}, endpoint: \"https://acct-{i}.openai.azure.com/\", resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct-{i}}}\n"))
            .collect();
        edit(&[
            (
                "models:\n",
                &format!("load_balancing: {{mode: {mode}}}\nmodels:\n"),
            ),
            ("      - name: eastus\n        region: eastus\n", &backends),
        ])
    };
    clean(&many(30, "pool"));
    finds(&many(31, "pool"), "pool-too-large", "priority_groups");
    clean(&many(50, "policy"));
    finds(
        &many(51, "policy"),
        "policy-too-many-backends",
        "priority_groups",
    );
    // Pool priorities go up to 100.
    let groups = |n: usize| {
        let g: String = (1..=n)
            .map(|i| format!("  - priority: {i}\n    backends: [{{name: b{i}, endpoint: \"https://acct-{i}.openai.azure.com/\", resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct-{i}}}]\n"))
            .collect();
        edit(&[
            ("models:\n", "load_balancing: {mode: pool}\nmodels:\n"),
            (
                "  - priority: 1\n    backends:\n      - name: eastus\n        region: eastus\n",
                &g,
            ),
        ])
    };
    lacks(&groups(100), "pool-priority");
    finds(&groups(101), "pool-priority", "priority_groups");
    // The same deployment name everywhere is what a pool needs.
    clean(&pool("").replace(
        "        region: eastus\n",
        "        region: eastus\n        models: [{name: gpt-4o, deployment: gpt-4o}]\n",
    ));
}

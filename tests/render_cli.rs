//! `oailb render terraform|bicep|all`: snapshots of every file for every
//! example and render fixture in both modes, and the command-line surface
//! (`--out`, `--check` clean and drifted, atomicity, `--templates`,
//! determinism, secrets, exit codes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

const TOPOLOGIES: &[&str] = &[
    "examples/seed.yaml",
    "examples/ptu-spillover.yaml",
    "examples/multi-model.yaml",
    "tests/render/pool-api-keys.yaml",
    "tests/render/existing-accounts.yaml",
    "examples/multi-region.yaml",
    "examples/foundry.yaml",
    "tests/render/per-region-cache.yaml",
    "tests/render/existing-cache.yaml",
    "examples/teams.yaml",
];

fn oailb() -> Command {
    let mut c = Command::cargo_bin("oailb").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OAILB_TOPOLOGY")
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .env_remove("NO_COLOR");
    c
}

/// Every file under `dir`, by relative path.
fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn policy_of(topology: &str, mode: &str, api: &str) -> String {
    let out = oailb()
        .args([
            "render-policy",
            "-q",
            "-f",
            topology,
            "--mode",
            mode,
            "--api",
            api,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn product_policy_of(topology: &str, product: &str) -> String {
    let out = oailb()
        .args(["render-policy", "-q", "-f", topology, "--product", product])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The rendered files as one document; policy files are checked against
/// `render-policy` and shown by name only (tests/render_policy.rs
/// snapshots their content).
fn snapshot_text(topology: &str, mode: &str, files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut s = String::new();
    for (name, bytes) in files {
        if let Some(product) = name
            .strip_prefix("policies/products/")
            .and_then(|n| n.strip_suffix(".xml"))
        {
            assert_eq!(
                String::from_utf8_lossy(bytes),
                product_policy_of(topology, product),
                "{name} of {topology} is not the render-policy output"
            );
            s.push_str(&format!(
                "=== {name} (the render-policy output of product {product})\n\n"
            ));
            continue;
        }
        if let Some(api) = name
            .strip_prefix("policies/")
            .and_then(|n| n.strip_suffix(".xml"))
        {
            assert_eq!(
                String::from_utf8_lossy(bytes),
                policy_of(topology, mode, api),
                "{name} of {topology} ({mode}) is not the render-policy output"
            );
            s.push_str(&format!(
                "=== {name} (the render-policy output of API {api})\n\n"
            ));
            continue;
        }
        s.push_str(&format!("=== {name}\n{}\n", String::from_utf8_lossy(bytes)));
    }
    s
}

#[test]
fn snapshots_of_every_topology_target_and_mode() {
    for topo in TOPOLOGIES {
        let stem = Path::new(topo)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for mode in ["policy", "pool"] {
            for target in ["terraform", "bicep"] {
                let tmp = tempfile::tempdir().unwrap();
                let out = tmp.path().join("out");
                let res = oailb()
                    .args([
                        "render", target, "-q", "--color", "never", "-f", topo, "--mode", mode,
                        "--out",
                    ])
                    .arg(&out)
                    .output()
                    .unwrap();
                let name = format!("{target}__{stem}__{mode}");
                if matches!(stem.as_str(), "multi-model" | "foundry") && mode == "pool" {
                    // Mixed auth (and in multi-model a per-backend deployment
                    // name) cannot be a pool.
                    assert_eq!(res.status.code(), Some(2));
                    assert!(!out.exists(), "nothing is written for an invalid topology");
                    insta::assert_snapshot!(name, String::from_utf8(res.stderr).unwrap());
                    continue;
                }
                assert!(
                    res.status.success(),
                    "{name}: {}",
                    String::from_utf8_lossy(&res.stderr)
                );
                let files = read_tree(&out);
                insta::assert_snapshot!(name, snapshot_text(topo, mode, &files));
            }
        }
    }
}

fn render_into(target: &str, topo: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    oailb()
        .args(["render", target, "--color", "never", "-f", topo, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn all_writes_both_outputs_and_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("infra");
    let res = render_into("all", "examples/seed.yaml", &out, &[]);
    assert!(res.status.success());
    let stderr = String::from_utf8(res.stderr).unwrap();
    assert!(stderr.contains("rendered:"), "{stderr}");
    let files = read_tree(&out);
    for f in [
        "terraform/versions.tf",
        "terraform/providers.tf",
        "terraform/variables.tf",
        "terraform/main.tf",
        "terraform/outputs.tf",
        "terraform/policies/aoai-smart-api.xml",
        "bicep/main.bicep",
        "bicep/main.bicepparam",
        "bicep/modules/gateway.bicep",
        "bicep/policies/aoai-smart-api.xml",
        ".oailb-files",
    ] {
        assert!(files.contains_key(f), "{f} missing: {:?}", files.keys());
    }
    let manifest = String::from_utf8(files[".oailb-files"].clone()).unwrap();
    assert_eq!(
        manifest.lines().filter(|l| !l.starts_with('#')).count(),
        files.len() - 1,
        "the manifest lists every other file"
    );
    // The seed's Terraform uses none of its deprecated constructs.
    let tf: String = files
        .iter()
        .filter(|(k, _)| k.ends_with(".tf"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(!tf.contains("template_file"));
    assert!(!tf.contains("scale {"));
    assert!(tf.contains("workspace_id"));
    assert!(tf.contains("local_auth_enabled = false"));
}

#[test]
fn check_is_clean_after_render_and_reports_drift_with_a_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("infra");
    assert!(render_into("all", "examples/ptu-spillover.yaml", &out, &[])
        .status
        .success());

    oailb()
        .args([
            "render",
            "all",
            "-f",
            "examples/ptu-spillover.yaml",
            "--check",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("up to date"));

    // A hand edit, a deleted file and a changed topology are all drift.
    let vars = out.join("terraform/variables.tf");
    let text = std::fs::read_to_string(&vars).unwrap();
    std::fs::write(&vars, text.replace("default     = 30", "default     = 90")).unwrap();
    std::fs::remove_file(out.join("bicep/modules/apim.bicep")).unwrap();
    let before = read_tree(&out);
    let res = oailb()
        .args([
            "render",
            "all",
            "-f",
            "examples/ptu-spillover.yaml",
            "--check",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(1));
    let diff = String::from_utf8(res.stdout).unwrap();
    assert!(diff.contains("--- a/"), "{diff}");
    assert!(diff.contains("terraform/variables.tf"), "{diff}");
    assert!(
        diff.contains("-  default     = 90\n+  default     = 30"),
        "{diff}"
    );
    assert!(
        diff.contains("--- /dev/null") && diff.contains("modules/apim.bicep"),
        "{diff}"
    );
    assert!(String::from_utf8(res.stderr).unwrap().contains("drift"));
    assert_eq!(read_tree(&out), before, "--check writes nothing");

    // Another mode changes the rendering: drift again.
    oailb()
        .args([
            "render",
            "all",
            "-f",
            "examples/ptu-spillover.yaml",
            "--mode",
            "pool",
            "--check",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("azapi_resource"));

    // A directory that does not exist differs from everything.
    oailb()
        .args([
            "render",
            "terraform",
            "-f",
            "examples/seed.yaml",
            "--check",
            "--out",
        ])
        .arg(tmp.path().join("missing"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("+++ b/"));
    assert!(!tmp.path().join("missing").exists());
}

#[test]
fn rerender_keeps_foreign_files_and_removes_its_own_stale_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tf");
    assert!(render_into("terraform", "examples/seed.yaml", &out, &[])
        .status
        .success());
    std::fs::write(
        out.join("backend.tf"),
        "terraform {\n  backend \"azurerm\" {}\n}\n",
    )
    .unwrap();
    assert!(out.join("monitoring.tf").exists());

    // A topology without monitoring: monitoring.tf must go, backend.tf stay.
    let topo = tmp.path().join("no-monitoring.yaml");
    let seed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.yaml"))
            .unwrap();
    let start = seed.find("\nmonitoring:").unwrap();
    let end = seed.find("\nload_balancing:").unwrap();
    std::fs::write(&topo, format!("{}{}", &seed[..start], &seed[end..])).unwrap();
    let res = render_into("terraform", topo.to_str().unwrap(), &out, &[]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(String::from_utf8(res.stderr)
        .unwrap()
        .contains("removed (monitoring.tf)"));
    assert!(!out.join("monitoring.tf").exists());
    assert!(
        out.join("backend.tf").exists(),
        "a file oailb did not write stays"
    );
}

#[test]
fn a_failed_render_leaves_the_directory_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("infra");
    assert!(render_into("all", "examples/seed.yaml", &out, &[])
        .status
        .success());
    let before = read_tree(&out);

    // A template that fails while rendering (an undefined variable) after
    // others rendered fine: exit 1, nothing written.
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(tpl.join("templates/bicep")).unwrap();
    std::fs::write(
        tpl.join("templates/bicep/main.bicep.tera"),
        "{{ no_such_variable.field }}\n",
    )
    .unwrap();
    let res = render_into(
        "all",
        "examples/multi-model.yaml",
        &out,
        &["--templates", tpl.to_str().unwrap()],
    );
    assert_eq!(res.status.code(), Some(1));
    assert!(String::from_utf8(res.stderr)
        .unwrap()
        .contains("main.bicep.tera"));
    assert_eq!(read_tree(&out), before);

    // An invalid topology: exit 2, nothing written.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "resource_group: rg\n").unwrap();
    let res = render_into("all", bad.to_str().unwrap(), &out, &[]);
    assert_eq!(res.status.code(), Some(2));
    assert_eq!(read_tree(&out), before);

    // A topology that cannot be a pool: exit 2, nothing written.
    let res = render_into(
        "all",
        "examples/multi-model.yaml",
        &out,
        &["--mode", "pool"],
    );
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8(res.stderr)
        .unwrap()
        .contains("with --mode pool"));
    assert_eq!(read_tree(&out), before);

    // No staging directory is left next to the output.
    let names: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".oailb")
        })
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn templates_override_replaces_one_file_and_keeps_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(tpl.join("templates/terraform")).unwrap();
    std::fs::write(
        tpl.join("templates/terraform/outputs.tf.tera"),
        "output \"gateway\" {\n  value = azurerm_api_management.this.gateway_url\n}\n# {{ m.apim.name }}\n",
    )
    .unwrap();
    let out = tmp.path().join("tf");
    let res = render_into(
        "terraform",
        "examples/seed.yaml",
        &out,
        &["--templates", tpl.to_str().unwrap()],
    );
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let outputs = std::fs::read_to_string(out.join("outputs.tf")).unwrap();
    assert!(outputs.contains("output \"gateway\""), "{outputs}");
    assert!(outputs.contains("# can-aoai-smart-apim"), "{outputs}");
    assert!(!outputs.contains("api_urls"));
    let main = std::fs::read_to_string(out.join("main.tf")).unwrap();
    assert!(
        main.contains("azurerm_resource_group"),
        "the other templates stay embedded"
    );
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing --out, unknown target, unknown mode.
    oailb()
        .args(["render", "terraform", "-f", "examples/seed.yaml"])
        .assert()
        .code(2);
    oailb()
        .args(["render", "pulumi", "-f", "examples/seed.yaml", "--out", "x"])
        .assert()
        .code(2);
    oailb()
        .args([
            "render",
            "all",
            "-f",
            "examples/seed.yaml",
            "--mode",
            "fast",
            "--out",
            "x",
        ])
        .assert()
        .code(2);
    // A missing template directory.
    oailb()
        .args(["render", "all", "-f", "examples/seed.yaml", "--templates"])
        .arg(tmp.path().join("nope"))
        .arg("--out")
        .arg(tmp.path().join("o"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
    // --out that is a file.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    oailb()
        .args(["render", "all", "-f", "examples/seed.yaml", "--out"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a directory"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    // A topology file that does not exist.
    oailb()
        .args(["render", "all", "-f", "nope.yaml", "--out"])
        .arg(tmp.path().join("o"))
        .assert()
        .code(2);
    assert!(!tmp.path().join("o").exists());
}

#[test]
fn output_is_deterministic_and_independent_of_the_path_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(render_into("all", "examples/multi-model.yaml", &a, &[])
        .status
        .success());
    assert!(
        render_into("all", "./examples/../examples/multi-model.yaml", &b, &[])
            .status
            .success()
    );
    assert_eq!(read_tree(&a), read_tree(&b));
}

#[test]
fn secrets_never_reach_a_rendered_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("infra");
    let sentinel = "sk-THIS-MUST-NOT-LEAK-42";
    for (topo, vars) in [
        ("examples/multi-model.yaml", &["PARTNER_OPENAI_KEY"][..]),
        (
            "tests/render/pool-api-keys.yaml",
            &["PARTNER_A_OPENAI_KEY"][..],
        ),
    ] {
        let mut cmd = oailb();
        for v in vars {
            cmd.env(v, sentinel);
        }
        let res = cmd
            .args(["render", "all", "-f", topo, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(res.status.success());
        assert!(!String::from_utf8_lossy(&res.stdout).contains(sentinel));
        assert!(!String::from_utf8_lossy(&res.stderr).contains(sentinel));
        for (name, bytes) in read_tree(&out) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(sentinel),
                "{name} of {topo} holds the secret"
            );
        }
        // The secret is an input: a sensitive variable, a @secure() parameter
        // read from the same environment variable `oailb deploy` uses.
        let vars_tf = std::fs::read_to_string(out.join("terraform/variables.tf")).unwrap();
        assert!(vars_tf.contains("sensitive   = true"), "{vars_tf}");
        let params = std::fs::read_to_string(out.join("bicep/main.bicepparam")).unwrap();
        assert!(
            params.contains(&format!("readEnvironmentVariable('{}')", vars[0])),
            "{params}"
        );
        let main = std::fs::read_to_string(out.join("bicep/main.bicep")).unwrap();
        assert!(main.contains("@secure()"));
    }
}

#[test]
fn named_values_in_policies_survive_rendering() {
    // {{partner-api-key}} is APIM syntax inside the policy, not tera's.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("infra");
    assert!(render_into("all", "examples/multi-model.yaml", &out, &[])
        .status
        .success());
    let xml = std::fs::read_to_string(out.join("terraform/policies/openai.xml")).unwrap();
    assert!(xml.contains("{{partner-api-key}}"), "{xml}");
    // Pool mode puts it into the backend credentials of both outputs.
    let out = tmp.path().join("pool");
    assert!(render_into(
        "all",
        "tests/render/pool-api-keys.yaml",
        &out,
        &["--mode", "pool"]
    )
    .status
    .success());
    let apim = std::fs::read_to_string(out.join("terraform/apim.tf")).unwrap();
    assert!(
        apim.contains(r#""api-key" = ["{{${each.value.key_named_value}}}"]"#),
        "{apim}"
    );
    let gw = std::fs::read_to_string(out.join("bicep/modules/gateway.bicep")).unwrap();
    assert!(gw.contains("'{{${backend.apiKeyNamedValue}}}'"), "{gw}");
}

#[test]
fn a_policy_too_large_for_bicep_is_refused_before_writing() {
    // 16 models on 50 backends each: a policy-mode policy beyond the
    // 131,072 characters Bicep's loadTextContent() reads.
    let mut y = String::from(
        "resource_group: rg-big\nlocation: eastus2\napim:\n  name: contoso-big-gateway\n  sku: StandardV2\n  publisher_name: P\n  publisher_email: p@contoso.com\napi:\n  name: openai\n  path: openai\nmodels:\n",
    );
    for m in 1..=16 {
        y.push_str(&format!(
            "  - name: model-{m}\n    model: gpt-4o\n    version: \"2024-11-20\"\n    capacity: 10\n"
        ));
    }
    y.push_str("priority_groups:\n  - priority: 1\n    backends:\n");
    for b in 1..=50 {
        y.push_str(&format!("      - name: b{b}\n        region: eastus2\n"));
    }
    let tmp = tempfile::tempdir().unwrap();
    let topo = tmp.path().join("big.yaml");
    std::fs::write(&topo, y).unwrap();
    let out = tmp.path().join("out");
    let res = render_into("all", topo.to_str().unwrap(), &out, &[]);
    assert_eq!(
        res.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(String::from_utf8(res.stderr)
        .unwrap()
        .contains("loadTextContent"));
    assert!(!out.exists());
    // Terraform reads the file with file(), which has no such limit.
    let res = render_into("terraform", topo.to_str().unwrap(), &out, &[]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Consumers' keys are secrets: Terraform has them only as a sensitive
/// output, Bicep not at all (deployment outputs are readable by anyone who
/// can read the deployment).
#[test]
fn consumer_keys_are_only_a_sensitive_terraform_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("infra");
    assert!(render_into("all", "examples/teams.yaml", &out, &["-q"])
        .status
        .success());
    let outputs = std::fs::read_to_string(out.join("terraform/outputs.tf")).unwrap();
    let block = outputs
        .split("output \"")
        .find(|b| b.starts_with("consumer_subscription_keys\""))
        .expect("the consumer keys output");
    assert!(block.contains("sensitive   = true"), "{block}");
    assert!(block.contains("s.primary_key"), "{block}");
    for (name, bytes) in read_tree(&out.join("bicep")) {
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["listSecrets", "primaryKey", "secondaryKey"] {
            assert!(!text.contains(secret), "{name} names {secret}");
        }
    }
    // Without consumers there is no such output.
    let plain = tmp.path().join("plain");
    assert!(
        render_into("terraform", "examples/seed.yaml", &plain, &["-q"])
            .status
            .success()
    );
    assert!(!std::fs::read_to_string(plain.join("outputs.tf"))
        .unwrap()
        .contains("consumer"));
}

/// A consumer's changed limit is drift in both outputs' product policy,
/// and nothing else; a new consumer adds its product and subscription.
#[test]
fn check_reports_a_changed_consumer_limit_as_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let topo = tmp.path().join("teams.yaml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/teams.yaml"))
            .unwrap();
    std::fs::write(&topo, &text).unwrap();
    let topo = topo.to_str().unwrap();
    let out = tmp.path().join("infra");
    assert!(render_into("all", topo, &out, &["-q"]).status.success());
    let check = |out: &Path| {
        oailb()
            .args(["render", "all", "-f", topo, "--check", "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    assert_eq!(check(&out).status.code(), Some(0));
    std::fs::write(
        tmp.path().join("teams.yaml"),
        text.replace("tokens_per_minute: 100000", "tokens_per_minute: 90000"),
    )
    .unwrap();
    let res = check(&out);
    assert_eq!(res.status.code(), Some(1));
    let diff = String::from_utf8(res.stdout).unwrap();
    let changed: Vec<&str> = diff
        .lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .collect();
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(
        changed[0].ends_with("/infra/bicep/policies/products/consumer-analytics.xml"),
        "{diff}"
    );
    assert!(
        changed[1].ends_with("/infra/terraform/policies/products/consumer-analytics.xml"),
        "{diff}"
    );
    assert!(diff.contains("+                <llm-token-limit counter-key=\"oailb-tokens:analytics\" tokens-per-minute=\"90000\""), "{diff}");
}

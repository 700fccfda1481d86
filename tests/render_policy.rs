//! `oailb render-policy`: snapshots of the XML for every example and mode,
//! the command-line surface (stdout, -o, --api, --mode, --templates, exit
//! codes) and escaping of topology values.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

const EXAMPLES: &[&str] = &[
    "seed",
    "ptu-spillover",
    "multi-model",
    "multi-region",
    "foundry",
    "teams",
];

fn oailb() -> Command {
    let mut c = Command::cargo_bin("oailb").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OAILB_TOPOLOGY")
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .env_remove("NO_COLOR");
    c
}

fn render(args: &[&str]) -> (i32, String, String) {
    let out = oailb().arg("render-policy").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn snapshots_every_example_in_both_modes() {
    for ex in EXAMPLES {
        for mode in ["policy", "pool"] {
            let file = format!("examples/{ex}.yaml");
            let (code, xml, err) = render(&["-q", "-f", &file, "--mode", mode]);
            if matches!(*ex, "multi-model" | "foundry") && mode == "pool" {
                // Mixed auth (and in multi-model a per-backend deployment
                // name) cannot be a pool.
                assert_eq!(code, 2, "{err}");
                let code = if *ex == "foundry" {
                    "pool-mixed-auth"
                } else {
                    "pool-deployment-name"
                };
                assert!(err.contains(code), "{err}");
                assert!(xml.is_empty());
                continue;
            }
            assert_eq!(code, 0, "{ex} {mode}: {err}");
            insta::assert_snapshot!(format!("render_policy__{ex}__{mode}"), xml);
        }
    }
}

#[test]
fn stdout_is_the_xml_and_nothing_else() {
    let (code, xml, _) = render(&["-f", "examples/seed.yaml"]);
    assert_eq!(code, 0);
    assert!(xml.starts_with("<!--"));
    assert!(xml.trim_end().ends_with("</policies>"));
    // Warnings (the seed's retired model) go to stderr, never into the XML.
    assert!(!xml.contains("retired"));
}

#[test]
fn output_file_is_written_atomically_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policy.xml");
    std::fs::write(&out, "old").unwrap();
    oailb()
        .args(["render-policy", "-q", "-f", "examples/seed.yaml", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let (_, stdout, _) = render(&["-q", "-f", "examples/seed.yaml"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn invalid_topology_writes_nothing_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "resource_group: rg\nlocation: eastus\n").unwrap();
    let out = dir.path().join("policy.xml");
    oailb()
        .args(["render-policy", "-f"])
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("bad.yaml"));
    assert!(!out.exists());
}

#[test]
fn api_is_required_only_with_several_apis() {
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("two.yaml");
    let seed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/seed.yaml"))
            .unwrap();
    let api_block = seed
        .split("\napi:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    let two = seed.replace(
        &format!("\napi:\n{api_block}\n"),
        "\napis:\n  - name: team-a\n    path: team-a/openai\n  - name: team-b\n    path: team-b/openai\n",
    );
    std::fs::write(&topo, two).unwrap();
    oailb()
        .args(["render-policy", "-q", "-f"])
        .arg(&topo)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "choose one with --api: team-a, team-b",
        ));
    oailb()
        .args(["render-policy", "-q", "--api", "nope", "-f"])
        .arg(&topo)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no API `nope`"));
    let a = oailb()
        .args(["render-policy", "-q", "--api", "team-a", "-f"])
        .arg(&topo)
        .output()
        .unwrap();
    assert!(a.status.success());
    let b = oailb()
        .args(["render-policy", "-q", "--api", "team-b", "-f"])
        .arg(&topo)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&a.stdout).contains("for API team-a."));
    assert!(String::from_utf8_lossy(&b.stdout).contains("for API team-b."));
}

#[test]
fn mode_override_revalidates_for_pool_mode() {
    let (code, xml, _) = render(&["-q", "-f", "examples/seed.yaml", "--mode", "pool"]);
    assert_eq!(code, 0);
    assert!(xml.contains(r#"<set-backend-service backend-id="pool-gpt-35-turbo" />"#));
    assert!(!xml.contains("cache-lookup-value"));
    // The pool rules of validation run for the overridden mode too.
    let (code, xml, err) = render(&["-f", "examples/multi-model.yaml", "--mode", "pool"]);
    assert_eq!(code, 2);
    assert!(xml.is_empty());
    assert!(err.contains("pool-mixed-auth"), "{err}");
    assert!(err.contains("(with --mode pool)"), "{err}");
    let (code, _, err) = render(&["-f", "examples/seed.yaml", "--mode", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values: policy, pool"), "{err}");
}

#[test]
fn templates_directory_overrides_embedded_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/policy-mode.xml.tera"),
        "<policies><!-- custom for {{ api }}: {{ named_value(name=\"x\") }} --></policies>\n",
    )
    .unwrap();
    oailb()
        .args([
            "render-policy",
            "-q",
            "-f",
            "examples/seed.yaml",
            "--templates",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout("<policies><!-- custom for aoai-smart-api: {{x}} --></policies>\n");
    // Pool mode still uses the embedded template.
    oailb()
        .args([
            "render-policy",
            "-q",
            "-f",
            "examples/seed.yaml",
            "--mode",
            "pool",
            "--templates",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("backend-id=\"pool-gpt-35-turbo\""));
    oailb()
        .args([
            "render-policy",
            "-q",
            "-f",
            "examples/seed.yaml",
            "--templates",
            "/nonexistent/dir",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "template directory /nonexistent/dir does not exist",
        ));
    // A broken template is a failure (1) with the template's name, and no output.
    std::fs::write(
        dir.path().join("policies/policy-mode.xml.tera"),
        "<policies>{{ no_such_value }}</policies>",
    )
    .unwrap();
    oailb()
        .args([
            "render-policy",
            "-q",
            "-f",
            "examples/seed.yaml",
            "--templates",
        ])
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("policies/policy-mode.xml.tera"));
}

#[test]
fn rendering_is_byte_identical_across_runs() {
    for ex in EXAMPLES {
        let file = format!("examples/{ex}.yaml");
        let a = render(&["-q", "-f", &file]);
        let b = render(&["-q", "-f", &file]);
        assert_eq!(a, b);
    }
}

/// The consumers' product policies of examples/teams.yaml, and the product
/// flag's errors.
#[test]
fn snapshots_of_the_product_policies() {
    for product in ["tier-standard", "oailb-entra", "consumer-analytics"] {
        let (code, xml, err) = render(&["-q", "-f", "examples/teams.yaml", "--product", product]);
        assert_eq!(code, 0, "{product}: {err}");
        insta::assert_snapshot!(format!("render_policy__teams__product__{product}"), xml);
    }
    let (code, _, err) = render(&["-f", "examples/teams.yaml", "--product", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("tier-standard, oailb-entra, consumer-analytics"),
        "{err}"
    );
    let (code, _, err) = render(&["-f", "examples/seed.yaml", "--product", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("defines no consumers"), "{err}");
    let (code, _, _) = render(&[
        "-f",
        "examples/teams.yaml",
        "--product",
        "x",
        "--api",
        "openai",
    ]);
    assert_eq!(code, 2, "--product and --api exclude each other");
}

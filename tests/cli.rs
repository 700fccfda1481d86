//! The command-line surface: commands, flags, exit codes, colour rules.

use assert_cmd::Command;
use predicates::prelude::*;

fn oailb() -> Command {
    let mut c = Command::cargo_bin("oailb").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OAILB_TOPOLOGY")
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .env_remove("NO_COLOR");
    c
}

const EXAMPLES: &[&str] = &[
    "examples/seed.yaml",
    "examples/ptu-spillover.yaml",
    "examples/multi-model.yaml",
];

#[test]
fn help_lists_commands_and_exit_codes() {
    oailb()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("validate"))
        .stdout(predicate::str::contains("plan"))
        .stdout(predicate::str::contains("init"))
        .stdout(predicate::str::contains("completions"))
        .stdout(predicate::str::contains(
            "Exit codes (the same for every command):",
        ))
        .stdout(predicate::str::contains("124  --timeout expired"));
}

#[test]
fn version_prints_the_crate_version() {
    oailb()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    oailb().arg("frobnicate").assert().code(2);
    oailb()
        .args(["validate", "--no-such-flag"])
        .assert()
        .code(2);
    oailb()
        .args([
            "plan",
            "--offline",
            "--format",
            "yaml",
            "-f",
            "examples/seed.yaml",
        ])
        .assert()
        .code(2);
}

#[test]
fn every_example_validates() {
    for ex in EXAMPLES {
        oailb()
            .args(["validate", "-f", ex])
            .assert()
            .success()
            .stderr(predicate::str::contains("is valid"));
    }
}

#[test]
fn seed_warns_about_the_retired_model_and_strict_turns_warnings_into_exit_1() {
    oailb()
        .args(["validate", "--color", "never", "-f", "examples/seed.yaml"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning[retired-model]: gpt-35-turbo version 0613 was retired",
        ))
        .stderr(predicate::str::contains("examples/seed.yaml:"));
    oailb()
        .args(["validate", "--strict", "-f", "examples/seed.yaml"])
        .assert()
        .code(1);
    oailb()
        .args(["validate", "--strict", "-f", "examples/multi-model.yaml"])
        .assert()
        .success();
}

#[test]
fn validate_json_is_machine_readable() {
    let out = oailb()
        .args(["validate", "--json", "-f", "examples/seed.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["valid"], true);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 2);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"retired-model"), "{codes:?}");
    // Human text stays off stdout in JSON mode.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn quiet_hides_warnings_but_not_errors() {
    oailb()
        .args(["validate", "--quiet", "-f", "examples/seed.yaml"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    oailb()
        .args([
            "validate",
            "--quiet",
            "-f",
            "tests/invalid/weight-zero.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid-weight"));
}

#[test]
fn missing_topology_file_is_invalid_input() {
    oailb()
        .args(["validate", "-f", "does/not/exist.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read does/not/exist.yaml"))
        .stderr(predicate::str::contains("oailb init"));
    // Default file name when no -f is given.
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(dir.path())
        .env_remove("OAILB_TOPOLOGY")
        .arg("validate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("oailb.yaml"));
}

#[test]
fn topology_path_from_environment() {
    oailb()
        .env("OAILB_TOPOLOGY", "examples/multi-model.yaml")
        .arg("validate")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "examples/multi-model.yaml is valid",
        ));
}

#[test]
fn json_topologies_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topology.json");
    std::fs::write(
        &path,
        r#"{"resource_group": "rg-json", "location": "eastus",
            "apim": {"name": "contoso-json-gateway", "publisher_name": "C", "publisher_email": "a@contoso.com"},
            "api": {"name": "openai", "path": "openai"},
            "models": [{"name": "gpt-4o", "model": "gpt-4o", "version": "2024-11-20", "capacity": 10}],
            "priority_groups": [{"priority": 1, "backends": [{"name": "eastus", "region": "eastus"}]}]}"#,
    )
    .unwrap();
    oailb()
        .args(["validate", "-f"])
        .arg(&path)
        .assert()
        .success();
    // A JSON error still has a line and column.
    std::fs::write(
        &path,
        "{\"resource_group\": \"rg\",\n \"locaton\": \"eastus\"}",
    )
    .unwrap();
    oailb()
        .args(["validate", "--color", "never", "-f"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("topology.json:2:2"));
}

#[test]
fn init_writes_a_valid_starter_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oailb.yaml");
    oailb().args(["init", "-f"]).arg(&path).assert().success();
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.contains("priority_groups:"));
    oailb()
        .args(["validate", "--strict", "-f"])
        .arg(&path)
        .assert()
        .success();

    std::fs::write(&path, "# mine\n").unwrap();
    oailb()
        .args(["init", "-f"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "already exists (use --force to overwrite)",
        ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    oailb()
        .args(["init", "--force", "-f"])
        .arg(&path)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
    // Only the one file: no temporary left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn init_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    oailb()
        .args(["init", "-f"])
        .arg(dir.path().join("nope/oailb.yaml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("error:"));
}

#[test]
fn plan_offline_lists_the_seed_resources() {
    let out = oailb()
        .args(["plan", "--offline", "-f", "examples/seed.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let count = |label: &str| {
        stdout
            .lines()
            .filter(|l| l.starts_with('+') && l.contains(label))
            .count()
    };
    assert_eq!(count("openai account"), 3);
    assert_eq!(count("model deployment"), 3);
    assert_eq!(count("role assignment"), 3);
    assert_eq!(count("apim service"), 1);
    assert_eq!(count("  api  "), 1);
    assert_eq!(count("api policy"), 1);
    assert_eq!(count("logger"), 1);
    assert_eq!(count("api diagnostic"), 1);
    assert_eq!(count("log analytics workspace"), 1);
    assert_eq!(count("application insights"), 1);
    assert_eq!(count("resource group"), 1);
    assert!(stdout.contains("Plan: 17 to create."), "{stdout}");
}

#[test]
fn plan_offline_json_and_subscription() {
    let sub = "11111111-2222-3333-4444-555555555555";
    let out = oailb()
        .args([
            "plan",
            "--offline",
            "--json",
            "-f",
            "examples/seed.yaml",
            "--subscription",
            sub,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["summary"]["create"], 17);
    assert_eq!(v["subscription"], sub);
    for r in v["resources"].as_array().unwrap() {
        assert!(
            r["id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/subscriptions/{sub}/")),
            "{}",
            r["id"]
        );
    }
    // The environment variable works as well.
    let out = oailb()
        .env("AZURE_SUBSCRIPTION_ID", sub)
        .args([
            "plan",
            "--offline",
            "--format",
            "json",
            "-f",
            "examples/seed.yaml",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["subscription"], sub);
}

#[test]
fn plan_of_an_invalid_topology_exits_2() {
    oailb()
        .args(["plan", "--offline", "-f", "tests/invalid/priority-gap.yaml"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("priority-gap"));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let esc = predicate::str::contains("\x1b[");
    // Not a terminal (captured): no colour by default.
    oailb()
        .args(["validate", "-f", "examples/seed.yaml"])
        .assert()
        .stderr(esc.clone().not());
    oailb()
        .args(["validate", "--color", "always", "-f", "examples/seed.yaml"])
        .assert()
        .stderr(esc.clone());
    oailb()
        .args([
            "plan",
            "--offline",
            "--color",
            "always",
            "-f",
            "examples/seed.yaml",
        ])
        .assert()
        .stdout(esc.clone());
    oailb()
        .args([
            "plan",
            "--offline",
            "--color",
            "never",
            "-f",
            "examples/seed.yaml",
        ])
        .assert()
        .stdout(esc.clone().not());
    oailb()
        .env("NO_COLOR", "1")
        .args(["validate", "-f", "examples/seed.yaml"])
        .assert()
        .stderr(esc.not());
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        oailb()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("oailb"));
    }
    oailb().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn verbose_shows_resolved_defaults_and_dependencies() {
    oailb()
        .args(["validate", "-v", "-f", "examples/multi-model.yaml"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "https://partner-openai.openai.azure.com/",
        ))
        .stderr(predicate::str::contains(
            "gpt-4o -> gpt4o-prod (Standard, 80, 80)",
        ))
        .stderr(predicate::str::contains("contoso-multi-gateway-westus3"));
    oailb()
        .args(["plan", "--offline", "-v", "-f", "examples/seed.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("DEPENDS ON"))
        .stdout(predicate::str::is_match(r"deployment\[eastus/gpt-35-turbo\] +model deployment +gpt-35-turbo +account\[eastus\]\n").unwrap());
}

#[test]
fn validate_sarif_locates_findings_in_the_topology() {
    let out = oailb()
        .args([
            "validate",
            "--format",
            "sarif",
            "-f",
            "tests/invalid/priority-gap.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "oailb");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    assert_eq!(r["ruleId"], "priority-gap");
    assert_eq!(r["level"], "error");
    // ruleIndex points at the rule with the same id.
    assert_eq!(
        rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "priority-gap"
    );
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "tests/invalid/priority-gap.yaml"
    );
    assert_eq!(loc["region"]["startLine"], 22);
    assert_eq!(loc["region"]["startColumn"], 15);
    // A valid topology gives an empty result list and exit 0.
    let out = oailb()
        .args([
            "validate",
            "--format",
            "sarif",
            "-f",
            "examples/multi-model.yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 0);
}

/// The exit-code table in `--help` and the README list the same codes.
#[test]
fn exit_codes_agree_between_help_and_readme() {
    let help = String::from_utf8(oailb().arg("--help").output().unwrap().stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("## Exit codes")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    for code in [0, 1, 2, 124, 130, 141] {
        assert!(
            help.contains(&format!("\n  {code} ")),
            "--help lacks exit code {code}"
        );
        assert!(
            table.contains(&format!("\n| {code} |")),
            "README lacks exit code {code}"
        );
    }
}

/// Every file oailb writes follows the umask, like any other tool's: `init`
/// and `render-policy -o` used to write 0600 while `render` wrote 0644.
#[cfg(unix)]
#[test]
fn written_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed.yaml");
    let bin = assert_cmd::cargo::cargo_bin("oailb");
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for (umask, expected, dir_mode) in [("022", 0o644, 0o755), ("027", 0o640, 0o750)] {
        let script = format!(
            "umask {umask} && rm -rf out starter.yaml policy.xml && \"$0\" init -f starter.yaml --force && \"$0\" render-policy -f {seed} -o policy.xml && \"$0\" render terraform -f {seed} --out out"
        );
        let out = std::process::Command::new("sh")
            .current_dir(dir.path())
            .args(["-c", &script])
            .arg(&bin)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for file in ["starter.yaml", "policy.xml", "out/main.tf"] {
            assert_eq!(mode(file), expected, "{file} with umask {umask}");
        }
        assert_eq!(mode("out"), dir_mode, "out/ with umask {umask}");
    }
}

//! Snapshots of what the foundation commands print for every example
//! (`cargo insta review` to accept intended changes).

use assert_cmd::Command;

const EXAMPLES: &[&str] = &[
    "seed",
    "ptu-spillover",
    "multi-model",
    "multi-region",
    "foundry",
    "teams",
];

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OAILB_TOPOLOGY")
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn plan_offline_table() {
    for ex in EXAMPLES {
        let (code, stdout, _) = run(&[
            "plan",
            "--offline",
            "--color",
            "never",
            "-f",
            &format!("examples/{ex}.yaml"),
        ]);
        assert_eq!(code, 0);
        insta::assert_snapshot!(format!("plan_offline_table__{ex}"), stdout);
    }
}

#[test]
fn plan_offline_json() {
    for ex in EXAMPLES {
        let (code, stdout, _) = run(&[
            "plan",
            "--offline",
            "--json",
            "-f",
            &format!("examples/{ex}.yaml"),
        ]);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        insta::assert_json_snapshot!(format!("plan_offline_json__{ex}"), v);
    }
}

#[test]
fn validate_human_report_of_the_seed() {
    let (code, stdout, stderr) = run(&["validate", "--color", "never", "-f", "examples/seed.yaml"]);
    assert_eq!(code, 0);
    assert!(stdout.is_empty());
    insta::assert_snapshot!("validate_seed", stderr);
}

#[test]
fn output_is_byte_identical_across_runs() {
    for ex in EXAMPLES {
        let path = format!("examples/{ex}.yaml");
        let a = run(&["plan", "--offline", "--json", "-f", &path]).1;
        let b = run(&["plan", "--offline", "--json", "-f", &path]).1;
        assert_eq!(a, b, "{ex}");
    }
}

#[test]
fn validate_sarif_reports() {
    // Exit 0 with warnings only, 2 with an error: SARIF output changes
    // neither.
    for (name, file, want) in [
        ("seed", "examples/seed.yaml", 0),
        ("priority_gap", "tests/invalid/priority-gap.yaml", 2),
    ] {
        let (code, stdout, _) = run(&["validate", "--format", "sarif", "-f", file]);
        assert_eq!(code, want, "{file}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        // The rule list is long and has its own test; snapshot the results.
        insta::assert_json_snapshot!(format!("validate_sarif__{name}"), v["runs"][0]["results"]);
    }
}

#[test]
fn plan_offline_markdown() {
    let (code, stdout, _) = run(&[
        "plan",
        "--offline",
        "--format",
        "markdown",
        "-f",
        "examples/multi-model.yaml",
    ]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("plan_offline_markdown__multi-model", stdout);
}

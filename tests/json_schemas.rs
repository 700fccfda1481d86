//! Every machine-readable output matches its documented JSON Schema in
//! docs/schemas/ (README, "Machine-readable output").

use assert_cmd::Command;
use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/docs/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn output(args: &[&str]) -> Value {
    let out = Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

#[test]
fn validate_reports_match_their_schema() {
    let v = schema("validate.v1.json");
    let mut files: Vec<String> = ["examples/seed.yaml", "examples/multi-model.yaml"]
        .map(String::from)
        .to_vec();
    for dir in ["tests/invalid", "tests/warnings"] {
        for e in std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap() {
            files.push(format!(
                "{dir}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    for f in &files {
        assert_valid(&v, &output(&["validate", "--format", "json", "-f", f]), f);
    }
    // The schema is strict enough to catch a broken report.
    let mut broken = output(&["validate", "--format", "json", "-f", "examples/seed.yaml"]);
    broken["diagnostics"][0]["severity"] = Value::from("fatal");
    assert!(!v.is_valid(&broken));
}

#[test]
fn offline_plans_match_their_schema() {
    let v = schema("plan-offline.v1.json");
    for ex in ["seed", "ptu-spillover", "multi-model", "teams"] {
        let doc = output(&[
            "plan",
            "--offline",
            "--json",
            "-f",
            &format!("examples/{ex}.yaml"),
        ]);
        assert_valid(&v, &doc, ex);
    }
    let mut broken = output(&["plan", "--offline", "--json", "-f", "examples/seed.yaml"]);
    broken["resources"][0]["action"] = Value::from("update");
    assert!(!v.is_valid(&broken));
}

#[test]
fn render_reports_match_their_schema() {
    let v = schema("render.v1.json");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let written = output(&[
        "render",
        "all",
        "--json",
        "-f",
        "examples/seed.yaml",
        "--out",
        out,
    ]);
    assert_valid(&v, &written, "render");
    assert!(!written["written"].as_array().unwrap().is_empty());
    let clean = output(&[
        "render",
        "all",
        "--json",
        "--check",
        "-f",
        "examples/seed.yaml",
        "--out",
        out,
    ]);
    assert_valid(&v, &clean, "clean check");
    assert_eq!(clean["up_to_date"], true);
    let drift = output(&[
        "render",
        "terraform",
        "--format",
        "json",
        "--check",
        "-f",
        "examples/multi-model.yaml",
        "--out",
        out,
    ]);
    assert_valid(&v, &drift, "drifted check");
    assert_eq!(drift["up_to_date"], false);
    assert!(drift["diff"].as_str().unwrap().contains("+++ b/"));
    let mut broken = clean.clone();
    broken["written"] = serde_json::json!(["x"]);
    assert!(!v.is_valid(&broken));
}

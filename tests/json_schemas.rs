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

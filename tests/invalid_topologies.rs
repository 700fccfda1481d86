//! Every file in tests/invalid/ is a topology that must be rejected, and
//! every file in tests/warnings/ one that validates with a warning. The
//! header says which finding:
//!   # expect: <code> at <line>:<column>            (tests/invalid: an error)
//!   # expect-warning: <code> at <line>:<column>    (tests/warnings: a warning)
//!   # message: <text the message contains>
//!   # help: <text the help contains>        (optional)
//! Invalid files must exit 2, valid ones 0; the JSON report must name the
//! code at that line and column (written by hand: the 1-based position of
//! what the finding is about; only a file without content has none);
//! nothing panics.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

struct Expectation {
    code: String,
    /// (line, column), 1-based.
    at: Option<(u64, u64)>,
    message: String,
    help: Option<String>,
}

fn expectation(path: &Path) -> Expectation {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {name}: ")))
            .map(|s| s.trim().to_string())
    };
    let expect = field("expect")
        .or_else(|| field("expect-warning"))
        .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
    let (code, at) = match expect.split_once(" at ") {
        Some((code, at)) => {
            let (line, column) = at
                .split_once(':')
                .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)))
                .unwrap_or_else(|| panic!("{}: `at {at}` is not <line>:<column>", path.display()));
            (code.to_string(), Some((line, column)))
        }
        None => (expect, None),
    };
    Expectation {
        code,
        at,
        message: field("message")
            .unwrap_or_else(|| panic!("{} has no `# message:` line", path.display())),
        help: field("help"),
    }
}

fn cases() -> Vec<PathBuf> {
    corpus("invalid")
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(format!("{}/tests/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
    v.sort();
    v
}

#[test]
fn at_least_25_distinct_invalid_topologies() {
    let codes: std::collections::BTreeSet<String> =
        cases().iter().map(|p| expectation(p).code).collect();
    assert!(
        cases().len() >= 25,
        "only {} invalid topologies",
        cases().len()
    );
    assert!(
        codes.len() >= 25,
        "only {} distinct diagnostic codes: {codes:?}",
        codes.len()
    );
}

#[test]
fn each_invalid_topology_is_rejected_with_its_diagnostic() {
    check_corpus("invalid", 2, "error");
}

#[test]
fn each_warning_topology_validates_with_its_warning() {
    check_corpus("warnings", 0, "warning");
}

fn check_corpus(dir: &str, exit_code: i32, severity: &str) {
    let mut failures = Vec::new();
    for path in corpus(dir) {
        let exp = expectation(&path);
        let out = Command::cargo_bin("oailb")
            .unwrap()
            .args(["validate", "--format", "json", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("panicked") {
            failures.push(format!("{name}: panicked: {stderr}"));
            continue;
        }
        if out.status.code() != Some(exit_code) {
            failures.push(format!(
                "{name}: exit {:?}, expected {exit_code}",
                out.status.code()
            ));
            continue;
        }
        let report: Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: stdout is not JSON ({e})"));
                continue;
            }
        };
        assert_eq!(report["valid"], exit_code == 0, "{name}");
        assert_eq!(report["schema_version"], 1, "{name}");
        let diags = report["diagnostics"].as_array().unwrap();
        let Some(d) = diags.iter().find(|d| d["code"] == exp.code.as_str()) else {
            failures.push(format!("{name}: no `{}` diagnostic in {diags:?}", exp.code));
            continue;
        };
        assert_eq!(d["severity"], severity, "{name}");
        let message = d["message"].as_str().unwrap();
        if !message.contains(&exp.message) {
            failures.push(format!(
                "{name}: message {message:?} lacks {:?}",
                exp.message
            ));
        }
        if let Some(h) = &exp.help {
            let help = d["help"].as_str().unwrap_or_default();
            if !help.contains(h.as_str()) {
                failures.push(format!("{name}: help {help:?} lacks {h:?}"));
            }
        }
        let has_content = !matches!(exp.code.as_str(), "empty-file" | "encoding");
        match exp.at {
            Some(at) => {
                let got = (d["line"].as_u64(), d["column"].as_u64());
                if got != (Some(at.0), Some(at.1)) {
                    failures.push(format!(
                        "{name}: at {:?}:{:?}, expected {}:{}",
                        got.0, got.1, at.0, at.1
                    ));
                }
            }
            None if has_content => failures.push(format!(
                "{name}: the `# expect:` line has no `at <line>:<column>`"
            )),
            None => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn human_output_names_file_line_and_column() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/invalid/unknown-field.yaml"
    );
    let out = Command::cargo_bin("oailb")
        .unwrap()
        .args(["validate", "--color", "never", "-f", path])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error[unknown-field]: unknown field `prioirty`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/invalid/unknown-field.yaml:19:5"),
        "{stderr}"
    );
    assert!(stderr.contains("  - prioirty: 1"), "{stderr}");
    assert!(stderr.contains("^^^^^^^^"), "{stderr}");
    assert!(
        stderr.contains("help: did you mean `priority`?"),
        "{stderr}"
    );
}

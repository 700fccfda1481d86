//! How `oailb validate` reports files that a newcomer gets wrong: huge
//! values, misplaced indentation, tabs, oversized documents. Each test edits
//! the `oailb init` starter the way a person would.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// The starter topology `oailb init` writes.
fn starter() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oailb.yaml");
    Command::cargo_bin("oailb")
        .unwrap()
        .args(["init", "-f"])
        .arg(&path)
        .assert()
        .success();
    std::fs::read_to_string(path).unwrap()
}

fn validate(dir: &Path, text: &str, args: &[&str]) -> Output {
    let path = dir.join("t.yaml");
    std::fs::write(&path, text).unwrap();
    Command::cargo_bin("oailb")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(["validate", "-f", "t.yaml"])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The number of the line of `text` that starts with `prefix` (1-based).
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

#[test]
fn a_huge_value_is_not_echoed_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(5_000_000);
    let text = starter().replacen(
        "publisher_name: Contoso",
        &format!("publisher_name: {huge}"),
        1,
    );
    let out = validate(dir.path(), &text, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.len() < 2000, "{} bytes on stderr", err.len());
    assert!(
        err.contains("publisher_name must be 1 to 100 characters"),
        "{err}"
    );
    assert!(err.contains("characters; columns 1-100 are shown"), "{err}");

    // A value quoted in the message is cut as well, in every format.
    let text = starter().replacen(
        "resource_group: rg-openai-gateway",
        &format!("resource_group: {huge}"),
        1,
    );
    let out = validate(dir.path(), &text, &[]);
    let err = stderr(&out);
    assert!(err.len() < 2000, "{} bytes on stderr", err.len());
    assert!(err.contains("characters cut)"), "{err}");
    // Compared with the same error for a value just over the limit.
    let over = starter().replacen(
        "resource_group: rg-openai-gateway",
        &format!("resource_group: {}", "x".repeat(91)),
        1,
    );
    for format in ["json", "sarif"] {
        let out = validate(dir.path(), &text, &["--format", format]);
        assert_eq!(out.status.code(), Some(2));
        let base = validate(dir.path(), &over, &["--format", format]);
        assert_eq!(base.status.code(), Some(2));
        let extra = out.stdout.len().saturating_sub(base.stdout.len());
        assert!(extra < 2000, "{format}: {extra} more bytes");
    }
}

/// Over-indenting `model:` under a line that ends with a comment: the error
/// is on the over-indented line, not on the comment's.
#[test]
fn an_over_indented_key_is_reported_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = starter();
    let line = line_of(&text, "    model: ");
    assert!(text.lines().nth(line - 2).unwrap().contains(" # "));
    let text = text.replacen("\n    model: ", "\n      model: ", 1);
    let out = validate(dir.path(), &text, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("--> t.yaml:{line}:7\n")), "{err}");
    assert!(
        err.contains("`model:` is indented deeper than `name` on line"),
        "{err}"
    );
}

/// A tab that indents `version:` is reported on that line.
#[test]
fn a_tab_in_indentation_is_reported_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = starter();
    let line = line_of(&text, "    version: ");
    let text = text.replacen("\n    version: ", "\n\tversion: ", 1);
    let out = validate(dir.path(), &text, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["diagnostics"][0];
    assert_eq!(d["line"], line, "{report:#}");
    assert_eq!(d["column"], 1, "{report:#}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("a tab indents this line"),
        "{report:#}"
    );
}

/// YAML 1.2 allows a tab as separation after `:` (§6.2): the starter with
/// tabs after its keys reads exactly like the original.
#[test]
fn a_tab_after_a_colon_is_separation() {
    let dir = tempfile::tempdir().unwrap();
    let text = starter();
    let with_tabs = text
        .replacen("location: eastus2", "location:\teastus2", 1)
        .replacen("    model: gpt-4o-mini", "    model:\t\tgpt-4o-mini", 1);
    assert_ne!(text, with_tabs);
    let plan = |t: &str| {
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, t).unwrap();
        let out = Command::cargo_bin("oailb")
            .unwrap()
            .args(["plan", "--offline", "--json", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out.stdout
    };
    assert_eq!(plan(&with_tabs), plan(&text));
}

/// A large file without any alias hits the node limit with a message that
/// says which limit and why, and does not blame aliases.
#[test]
fn a_huge_file_names_the_node_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = starter();
    let tags: String = (0..700_000).map(|i| format!("  tag{i}: v\n")).collect();
    text = text.replacen("\ntags:\n", &format!("\ntags:\n{tags}"), 1);
    assert!(text.contains("  tag699999: v\n"));
    let out = validate(dir.path(), &text, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error[too-large]: the file holds more than 200000 YAML nodes"),
        "{err}"
    );
    assert!(!err.contains("alias"), "{err}");
}

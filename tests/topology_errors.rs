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

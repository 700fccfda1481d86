//! Building and driving the policy harness (`tests/harness/*.cs`) with
//! Mono: shared by the test files that execute rendered policies.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn newtonsoft() -> PathBuf {
    if let Ok(p) = std::env::var("APIM_NEWTONSOFT_DLL") {
        return PathBuf::from(p);
    }
    for dir in ["/usr/lib/cli", "/usr/lib/mono/gac/Newtonsoft.Json"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path().join("Newtonsoft.Json.dll"))
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            if let Some(p) = found.pop() {
                return p;
            }
        }
    }
    panic!("Newtonsoft.Json.dll not found: run scripts/test.sh, which installs mono-mcs and libnewtonsoft-json-cil-dev");
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}): run scripts/test.sh, which installs Mono")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mcs(dir: &Path, args: &[&str]) {
    let nj = newtonsoft();
    let mut c = Command::new("mcs");
    c.current_dir(dir)
        .arg(format!("-r:{}", nj.display()))
        .args([
            "-r:System.Core.dll",
            "-r:System.Xml.dll",
            "-r:System.Xml.Linq.dll",
            "-nowarn:162,168,219",
        ])
        .args(args);
    run(&mut c);
}

/// Compiles the harness (every `tests/harness/*.cs`) into `dir/harness.exe`.
pub fn build_harness(dir: &Path) {
    let mut sources: Vec<String> = std::fs::read_dir(root().join("tests/harness"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cs"))
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    sources.sort();
    let mut args = vec!["-target:exe".to_string(), "-out:harness.exe".to_string()];
    args.extend(sources);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mcs(dir, &args);
}

/// Writes every expression of `files` (the policies, in this order: the
/// harness numbers them so) into `dir/exprs.dll`.
pub fn compile_expressions(dir: &Path, files: &[String]) {
    let mut gen = Command::new("mono");
    gen.current_dir(dir)
        .args(["harness.exe", "gen", "exprs.cs"])
        .args(files);
    run(&mut gen);
    mcs(
        dir,
        &[
            "-target:library",
            "-out:exprs.dll",
            "-r:harness.exe",
            "exprs.cs",
        ],
    );
}

/// Backend name by account host, for the harness's `hosts`: which backend a
/// forward to a URL of this policy reached.
pub fn backend_hosts(
    policy: &oailb::desired::ApiPolicy,
) -> serde_json::Map<String, serde_json::Value> {
    policy
        .routes
        .iter()
        .flat_map(|r| &r.backends)
        .map(|b| {
            let host = b
                .url
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap();
            (host.to_string(), serde_json::Value::from(b.name.clone()))
        })
        .collect()
}

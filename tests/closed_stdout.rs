//! A closed stdout (`oailb … | head -c 1`) is a normal end for every command
//! and format: no panic (exit 101), no "Broken pipe" error, exit 141 when
//! the output was cut (README "Exit codes"). Real pipes: each command runs
//! 30 times with the read end of its stdout closed, half of the runs at
//! once, half after the first byte, as `head -c 1` does. (Unix: elsewhere a
//! closed pipe has no signal and no 141.)
#![cfg(unix)]

mod fake_arm;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fake_arm::{Config, FakeArm, TOKEN};

const RUNS: usize = 30;
const SUB: &str = "00000000-0000-0000-0000-000000000001";
const CLOSED: i32 = 141;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn oailb(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oailb"));
    c.current_dir(dir)
        .env_remove("OAILB_TOPOLOGY")
        .env_remove("AZURE_SUBSCRIPTION_ID")
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `cmd` RUNS times with stdout closed early; `normal` are the exit
/// codes of a run that finished writing before the pipe closed.
fn assert_quiet_on_closed_stdout(what: &str, mut cmd: impl FnMut() -> Command, normal: &[i32]) {
    let mut cut = 0;
    for run in 0..RUNS {
        let mut child = cmd().spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        if run % 2 == 1 {
            // Like `head -c 1`: the first byte, then the reader is gone.
            let _ = stdout.read(&mut [0u8; 1]);
        }
        drop(stdout);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let code = child.wait().unwrap().code();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{what} (run {run}): exit {code:?}\n{stderr}"
        );
        match code {
            Some(CLOSED) => cut += 1,
            Some(c) if normal.contains(&c) => {}
            other => panic!(
                "{what} (run {run}): exit {other:?}, expected {normal:?} or {CLOSED}\n{stderr}"
            ),
        }
    }
    // Otherwise the test did not test anything: the output was never cut.
    assert!(cut > 0, "{what}: stdout was never closed before the end");
}

#[test]
fn offline_commands_end_quietly_on_a_closed_stdout() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    for f in ["seed.yaml", "multi-model.yaml"] {
        std::fs::copy(root().join("examples").join(f), dir.join(f)).unwrap();
    }
    // A stale rendered directory, so that --check prints a diff.
    let stale = dir.join("stale");
    let status = oailb(dir, &["render", "all", "-f", "multi-model.yaml", "--out"])
        .arg(&stale)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let cases: &[(&str, &[i32])] = &[
        ("--help", &[0]),
        ("plan --help", &[0]),
        ("validate -f seed.yaml --format json", &[0]),
        ("validate -f seed.yaml --format sarif", &[0]),
        ("plan --offline -f seed.yaml", &[0]),
        ("plan --offline -f seed.yaml --json", &[0]),
        ("plan --offline -f seed.yaml --format markdown", &[0]),
        ("render-policy -f seed.yaml", &[0]),
        ("render-policy -f seed.yaml --mode pool", &[0]),
        ("render all -f seed.yaml --out stale --check", &[1]),
        (
            "render all -f seed.yaml --out stale --check --format json",
            &[1],
        ),
        ("render bicep -f seed.yaml --out fresh --json", &[0]),
        ("completions bash", &[0]),
        ("completions zsh", &[0]),
        ("completions fish", &[0]),
        ("completions powershell", &[0]),
        ("completions elvish", &[0]),
    ];
    for (line, normal) in cases {
        let args: Vec<&str> = line.split_whitespace().collect();
        assert_quiet_on_closed_stdout(line, || oailb(dir, &args), normal);
    }
}

#[test]
fn live_commands_end_quietly_on_a_closed_stdout() {
    let fake = FakeArm::start(Config::default());
    let work = tempfile::tempdir().unwrap();
    let topology = work.path().join("oailb.yaml");
    std::fs::copy(root().join("examples/seed.yaml"), &topology).unwrap();
    let live = |args: &[&str]| {
        let mut c = oailb(work.path(), args);
        c.args(["-f", "oailb.yaml", "--subscription", SUB, "--auth", "token"])
            .args(["--arm-endpoint", &fake.url])
            .env("OAILB_ACCESS_TOKEN", TOKEN)
            .env("OAILB_BACKOFF_BASE_MS", "5");
        c
    };
    // A deploy that is cut short leaves work for the next one; a plan may
    // see anything from nothing to everything deployed.
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["plan", "--format", "markdown"],
        &["deploy", "--yes", "--json"],
    ] {
        assert_quiet_on_closed_stdout(&args.join(" "), || live(args), &[0]);
    }
    // Everything deployed, then the destroy event stream.
    let status = live(&["deploy", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_quiet_on_closed_stdout(
        "destroy --yes --json",
        || live(&["destroy", "--yes", "--json"]),
        &[0],
    );
}

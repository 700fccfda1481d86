//! The fake ARM as a process, for CI-pipeline commands run against it:
//!
//!     cargo run --example fake-arm -- [--unit-ms N] [--principal-window-ms N] [--record FILE]
//!
//! Prints `OAILB_ARM_ENDPOINT=http://127.0.0.1:PORT`,
//! `OAILB_ACCESS_TOKEN=<token>`, `OAILB_AUTH=token` and a fake
//! `AZURE_SUBSCRIPTION_ID` (shell `export` lines), then serves until
//! stdin closes or the process is stopped. With `--record FILE`, every PUT
//! it received is written to FILE as JSON lines (`path`, `api_version`,
//! `status`, `body`) when stdin closes, for checks of the request bodies.

#[path = "mod.rs"]
mod fake_arm;

use std::io::Read;
use std::time::Duration;

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    match args.get(i + 1) {
        Some(v) => Some(v.clone()),
        None => {
            eprintln!("{name} needs a value");
            std::process::exit(2);
        }
    }
}

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    match args.get(i + 1).and_then(|v| v.parse().ok()) {
        Some(v) => Some(v),
        None => {
            eprintln!("{name} needs a number of milliseconds");
            std::process::exit(2);
        }
    }
}

fn main() {
    let mut config = fake_arm::Config::default();
    if let Some(ms) = arg("--unit-ms") {
        config.unit = Duration::from_millis(ms);
        config.poll_hint = Duration::from_millis((ms / 4).max(1));
    }
    if let Some(ms) = arg("--principal-window-ms") {
        config.principal_window = Duration::from_millis(ms);
    }
    let fake = fake_arm::FakeArm::start(config);
    println!("export OAILB_ARM_ENDPOINT={}", fake.url);
    println!("export OAILB_ACCESS_TOKEN={}", fake_arm::TOKEN);
    println!("export OAILB_AUTH=token");
    // Any id does; with one set, `. fake.env` is all a walk-through needs.
    println!("export AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000001");
    let record = text_arg("--record");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    if let Some(path) = record {
        let mut out = String::new();
        for r in fake.requests().into_iter().filter(|r| r.method == "PUT") {
            let api_version = url::form_urlencoded::parse(r.query.as_bytes())
                .find(|(k, _)| k == "api-version")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let line = serde_json::json!({
                "path": r.path,
                "api_version": api_version,
                "status": r.status,
                "body": r.body,
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        if let Err(e) = std::fs::write(&path, out) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}

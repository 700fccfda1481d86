//! The fake ARM as a process, for CI-pipeline commands run against it:
//!
//!     cargo run --example fake-arm -- [--unit-ms N] [--principal-window-ms N]
//!
//! Prints `OAILB_ARM_ENDPOINT=http://127.0.0.1:PORT` and
//! `OAILB_ACCESS_TOKEN=<token>` (shell `export` lines), then serves until
//! stdin closes or the process is stopped.

#[path = "mod.rs"]
mod fake_arm;

use std::io::Read;
use std::time::Duration;

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
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

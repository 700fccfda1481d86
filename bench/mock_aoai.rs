//! Mock Azure OpenAI backends as a process, for bench/serve-overhead.sh:
//! the tests' mock (tests/support/mock_aoai.rs), every backend answering at
//! once (or streaming), on loopback ports chosen by the system.
//!
//!   cargo run --release --example mock-aoai -- --backends 2 [--stream 20:500] [--max-seconds 600]
//!
//! Prints one JSON line `{"backends":[{"name":"b0","url":"http://127.0.0.1:P"},...]}`
//! and serves until --max-seconds pass or it is killed.

#[path = "../tests/support/mock_aoai.rs"]
mod mock_aoai;

use std::time::Duration;

use mock_aoai::{Answer, Backend};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = value("--backends").map_or(2, |v| v.parse().expect("--backends N"));
    let max_s: u64 = value("--max-seconds").map_or(600, |v| v.parse().expect("--max-seconds S"));
    let answer = match value("--stream") {
        Some(spec) => {
            let (chunks, every) = spec.split_once(':').expect("--stream CHUNKS:EVERY_MS");
            Answer::Stream {
                n: chunks.parse().expect("chunks"),
                every: Duration::from_millis(every.parse().expect("ms")),
            }
        }
        None => Answer::Ok,
    };
    let mut out = Vec::new();
    let mut keep = Vec::new();
    for i in 0..n {
        let b = Backend::start(&format!("b{i}")).await;
        b.always(answer.clone());
        b.quiet();
        out.push(serde_json::json!({"name": b.name, "url": b.url()}));
        keep.push(b);
    }
    println!("{}", serde_json::json!({ "backends": out }));
    tokio::time::sleep(Duration::from_secs(max_s)).await;
}

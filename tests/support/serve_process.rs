//! `oailb serve` as a child process on a free loopback port, with its log
//! lines collected.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-entra-token";

pub struct ServeProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(line) => l.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    });
    lines
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oailb"))
}

impl ServeProcess {
    /// Starts `oailb serve -f topology --listen 127.0.0.1:0 --auth token`
    /// with `args` and `env`, and waits until it listens.
    pub fn start(topology: &Path, args: &[String], env: &[(&str, &str)]) -> ServeProcess {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("-f")
            .arg(topology)
            .args(["--listen", "127.0.0.1:0", "--auth", "token"])
            .args(args)
            .env("OAILB_ACCESS_TOKEN", TOKEN)
            .env_remove("OAILB_STATE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("oailb runs");
        let stderr = collect(child.stderr.take().unwrap());
        let stdout = collect(child.stdout.take().unwrap());
        let start = Instant::now();
        loop {
            let addr = stderr.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["event"] == "listening").then(|| v["address"].as_str().unwrap().parse().unwrap())
            });
            if let Some(addr) = addr {
                return ServeProcess {
                    child,
                    addr,
                    stderr,
                    stdout,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "oailb serve exited with {status}:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "oailb serve did not start:\n{}",
                stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "no log line with {needle:?}:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The access log once it holds at least `n` lines: the gateway writes
    /// a line when the exchange ends, which may be just after the client
    /// has its answer. Fails after `timeout`.
    pub fn access_lines_at_least(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let lines = self.access_lines();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                start.elapsed() < timeout,
                "{} access log lines after {timeout:?}, expected {n}",
                lines.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn access_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < timeout, "oailb serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// examples/seed.yaml with `extra` YAML appended, written into `dir`.
pub fn seed_topology(dir: &Path, extra: &str) -> PathBuf {
    let seed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/seed.yaml"))
        .unwrap();
    let path = dir.join("oailb.yaml");
    std::fs::write(&path, format!("{seed}\n{extra}\n")).unwrap();
    path
}

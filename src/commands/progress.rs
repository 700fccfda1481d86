//! Progress of deploy and destroy: spinners with elapsed time on a
//! terminal, plain lines otherwise, JSON event lines with `--json`, only
//! failures with `--quiet`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::azure::Notice;
use crate::deploy::{Event, Progress};
use crate::output::Style;

pub enum Display {
    Spinners {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
        style: Style,
    },
    Lines {
        /// Set by the first event: times count from the start of the work.
        started: OnceLock<Instant>,
        /// Last provisioning state printed per resource: a line only when it changes.
        states: Mutex<HashMap<String, String>>,
        style: Style,
    },
    Quiet,
    Json {
        started: Instant,
    },
}

impl Display {
    pub fn new(json: bool, quiet: bool, style: Style) -> Display {
        if json {
            Display::Json {
                started: Instant::now(),
            }
        } else if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Spinners {
                multi: MultiProgress::new(),
                bars: Mutex::new(HashMap::new()),
                style,
            }
        } else {
            Display::Lines {
                started: OnceLock::new(),
                states: Mutex::new(HashMap::new()),
                style,
            }
        }
    }

    /// A JSON event line on stdout (`--json` only).
    pub fn json_line(&self, v: serde_json::Value) {
        if let Display::Json { started } = self {
            let mut v = v;
            v["elapsed_s"] = json!(round(started.elapsed()));
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{v}");
            let _ = out.flush();
        }
    }

    pub fn is_json(&self) -> bool {
        matches!(self, Display::Json { .. })
    }
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

impl Progress for Display {
    fn event(&self, e: Event) {
        match self {
            Display::Json { .. } => self.json_line(match &e {
                Event::Started { address, action } => json!({"event": "started", "address": address, "action": action}),
                Event::Note { address, notice } => match notice {
                    Notice::Retrying { status, code, wait, attempt, max_attempts } => json!({
                        "event": "retried", "address": address, "status": status, "code": code,
                        "wait_s": round(*wait), "attempt": attempt, "max_attempts": max_attempts,
                    }),
                    Notice::Polling { state } => json!({"event": "polling", "address": address, "state": state}),
                    Notice::Info(message) => json!({"event": "note", "address": address, "message": message}),
                },
                Event::Succeeded { address, action, elapsed } => json!({"event": "succeeded", "address": address, "action": action, "duration_s": round(*elapsed)}),
                Event::Failed { address, error } => json!({"event": "failed", "address": address, "error": error}),
                Event::Skipped { address, reason } => json!({"event": "skipped", "address": address, "reason": reason}),
            }),
            // The command prints failures at the end.
            Display::Quiet => {}
            Display::Lines {
                started,
                states,
                style,
            } => {
                if let Event::Note {
                    address,
                    notice: Notice::Polling { state },
                } = &e
                {
                    // A 40-minute APIM creation polls hundreds of times: log changes only.
                    let mut states = states.lock().unwrap_or_else(|p| p.into_inner());
                    if states.get(address) == Some(state) {
                        return;
                    }
                    states.insert(address.clone(), state.clone());
                }
                let started = started.get_or_init(Instant::now);
                let t = format!("[{:>7.1}s]", started.elapsed().as_secs_f64());
                let line = match &e {
                    Event::Started { address, action } => format!("{t} {address}: {action} started"),
                    Event::Note { address, notice } => format!("{t} {address}: {notice}"),
                    // Unchanged resources are not news.
                    Event::Succeeded { action: "no-op", .. } => return,
                    Event::Succeeded { address, action, elapsed } => format!(
                        "{t} {address}: {} ({:.1}s)",
                        style.green(&format!("{action} done")),
                        elapsed.as_secs_f64()
                    ),
                    Event::Failed { address, error } => format!("{t} {address}: {} {error}", style.red("failed:")),
                    Event::Skipped { address, reason } => format!("{t} {address}: {} ({reason})", style.yellow("skipped")),
                };
                eprintln!("{line}");
            }
            Display::Spinners { multi, bars, style } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                match e {
                    Event::Started { address, action } => {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        bar.set_prefix(address.clone());
                        bar.set_message(action.to_string());
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bars.insert(address, bar);
                    }
                    Event::Note { address, notice } => {
                        if let Some(b) = bars.get(&address) {
                            b.set_message(notice.to_string());
                        }
                    }
                    Event::Succeeded { address, action, elapsed } => {
                        if let Some(b) = bars.remove(&address) {
                            // The final line carries its own duration.
                            b.set_style(
                                ProgressStyle::with_template("  {prefix} {msg}")
                                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                            );
                            b.finish_with_message(format!(
                                "{} ({:.1}s)",
                                style.green(&format!("{action} done")),
                                elapsed.as_secs_f64()
                            ));
                        }
                    }
                    Event::Failed { address, error } => {
                        match bars.remove(&address) {
                            Some(b) => {
                                b.set_style(
                                    ProgressStyle::with_template("  {prefix} {msg}")
                                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                                );
                                b.abandon_with_message(format!("{} {error}", style.red("failed:")))
                            }
                            None => {
                                let _ = multi.println(format!("{address}: {} {error}", style.red("failed:")));
                            }
                        }
                    }
                    Event::Skipped { address, reason } => {
                        let _ = multi.println(format!("{address}: {} ({reason})", style.yellow("skipped")));
                    }
                }
            }
        }
    }
}

//! The gateway's log: one access line per client request on stdout, and
//! life-cycle events (start, reload, state store outages) on stderr; JSON
//! or `key=value` text (`serve.log_format`). Neither ever holds a key, a
//! token, a query string or a prompt.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::topology::LogFormat;

static TEXT: AtomicBool = AtomicBool::new(false);

pub fn set_format(f: LogFormat) {
    TEXT.store(f == LogFormat::Text, Ordering::Relaxed);
}

/// One client request, written when its response ended.
#[derive(Debug, Default, Serialize)]
pub struct Access {
    pub time: String,
    pub method: String,
    /// The path without its query.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub status: u16,
    /// `backend` (a backend's answer passed on) or `gateway`.
    pub origin: &'static str,
    /// Backends called, in order, and what each answered (`none`: no answer).
    pub backends: Vec<String>,
    pub upstream_statuses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    pub duration_ms: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// `complete`, `client_disconnected`, `upstream_error` or `deadline`.
    pub outcome: &'static str,
    pub client: String,
}

pub fn access(a: &Access) {
    let line = if TEXT.load(Ordering::Relaxed) {
        let mut s = format!(
            "{} {} {} status={} origin={} backends={} upstream={} duration_ms={} bytes={} outcome={}",
            a.time,
            a.method,
            a.path,
            a.status,
            a.origin,
            a.backends.join(","),
            a.upstream_statuses.join(","),
            a.duration_ms,
            a.bytes,
            a.outcome
        );
        if let Some(d) = &a.deployment {
            s.push_str(&format!(" deployment={d}"));
        }
        if let (Some(p), Some(c)) = (a.prompt_tokens, a.completion_tokens) {
            s.push_str(&format!(" tokens={p}+{c}"));
        }
        s
    } else {
        serde_json::to_string(a).unwrap_or_default()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// A life-cycle event with a few string fields.
pub fn event(name: &str, fields: &[(&str, &str)]) {
    let line = if TEXT.load(Ordering::Relaxed) {
        let mut s = format!("{} {name}", now_rfc3339());
        for (k, v) in fields {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    } else {
        let mut m = serde_json::Map::new();
        m.insert("time".into(), now_rfc3339().into());
        m.insert("event".into(), name.into());
        for (k, v) in fields {
            m.insert((*k).into(), (*v).into());
        }
        serde_json::Value::Object(m).to_string()
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

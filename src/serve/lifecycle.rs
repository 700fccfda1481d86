//! Life cycle: SIGTERM or Ctrl-C stop the gateway (it drains, see
//! [`super::server`]); SIGHUP, and with `--watch` a change of the file,
//! re-read the topology. A valid topology replaces the configuration for
//! new requests at once; an invalid one is reported with its diagnostics
//! and the old one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::config::{Options, Runtime};
use super::{log, Gateway};
use crate::topology;

/// How often `--watch` looks at the file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Re-reads `path` and swaps the configuration in; `Err` holds the
/// diagnostics (or the error) and leaves the gateway as it was.
pub async fn reload(gw: &Gateway, path: &Path, options: &Options) -> Result<(), String> {
    let result = match topology::load_file(path) {
        Err(invalid) => Err(invalid.to_string().trim_end().to_string()),
        Ok(loaded) => Runtime::build(&loaded, options)
            .await
            .map_err(|e| format!("{e:#}")),
    };
    let label = if result.is_ok() { "ok" } else { "invalid" };
    gw.metrics
        .reloads
        .get_or_create(&vec![("result", label.to_string())])
        .inc();
    match result {
        Ok(rt) => {
            let hash = rt.topology_hash.clone();
            gw.replace(rt);
            log::event(
                "reloaded",
                &[("topology", &path.display().to_string()), ("hash", &hash)],
            );
            Ok(())
        }
        Err(diagnostics) => {
            log::event(
                "reload_rejected",
                &[
                    ("topology", &path.display().to_string()),
                    ("diagnostics", &diagnostics),
                    ("kept", &gw.runtime().topology_hash),
                ],
            );
            Err(diagnostics)
        }
    }
}

fn content_hash(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|b| Sha256::digest(&b).into())
}

/// Runs until the process ends: reloads on SIGHUP, and when `watch`, on
/// every change of the file's content.
pub async fn reloader(gw: Arc<Gateway>, path: PathBuf, options: Options, watch: bool) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut last = content_hash(&path);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        tokio::select! {
            () = signalled => {
                last = content_hash(&path);
                let _ = reload(&gw, &path, &options).await;
            }
            _ = tick.tick(), if watch => {
                let now = content_hash(&path);
                if now.is_some() && now != last {
                    last = now;
                    let _ = reload(&gw, &path, &options).await;
                }
            }
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    log::event("shutting_down", &[]);
}

//! `oailb serve`: loads the topology, builds the gateway (`src/serve`) and
//! runs it until SIGTERM or Ctrl-C.

use std::sync::Arc;

use anyhow::Context;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::exit::{self, ExitError};
use crate::serve::clock::{RandomDraws, SystemClock};
use crate::serve::config::{self, Credentials, Options, Runtime};
use crate::serve::metrics::Metrics;
use crate::serve::redis_store::RedisStore;
use crate::serve::store::{MemoryStore, StateStore};
use crate::serve::{lifecycle, log, server, Gateway};
use crate::topology::redact_url;

pub fn run(g: &GlobalArgs, a: &ServeArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    let section = loaded.topology.serve.clone().unwrap_or_default();
    let addr = config::listen_address(a.listen.as_deref(), &section)
        .map_err(|e| ExitError::usage(e.to_string()))?;
    let state = a.state.clone().unwrap_or_else(|| section.state.clone());
    if state != "memory" && !state.starts_with("redis://") && !state.starts_with("rediss://") {
        return Err(ExitError::usage(format!(
            "--state {}: use `memory` or a redis:// URL",
            redact_url(&state)
        ))
        .into());
    }
    let key_vault_endpoint = match &a.key_vault_endpoint {
        Some(u) => Some(
            crate::azure::cloud::parse_endpoint(u).map_err(|e| ExitError::usage(e.to_string()))?,
        ),
        None => None,
    };
    let options = Options {
        credentials: Credentials::Chain(a.auth),
        upstreams: a.upstreams.iter().cloned().collect(),
        api: a.api.clone(),
        key_vault_endpoint,
        gateway_region: a.region.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let runtime = Runtime::build(&loaded, &options)
            .await
            .map_err(|e| ExitError::usage(format!("{e:#}")))?;
        if !addr.ip().is_loopback() && runtime.client_keys.is_empty() && !a.insecure_no_auth {
            return Err(ExitError::usage(format!(
                "refusing to listen on {addr} without client keys: anyone who reaches it could spend your quota. Set serve.client_keys, listen on 127.0.0.1, or pass --insecure-no-auth"
            ))
            .into());
        }
        let metrics = Arc::new(Metrics::new());
        let store: Arc<dyn StateStore> = if state == "memory" {
            Arc::new(MemoryStore::default())
        } else {
            Arc::new(RedisStore::new(&state, metrics.clone()).map_err(|e| ExitError::usage(e.to_string()))?)
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr()?;
        let apis: Vec<String> = runtime.apis.iter().map(|x| format!("{} {}", x.name, x.path)).collect();
        let hash = runtime.topology_hash.clone();
        let gw = Arc::new(Gateway::new(
            runtime,
            store,
            Arc::new(SystemClock),
            Arc::new(RandomDraws::from_entropy()),
            metrics,
        ));
        log::event(
            "listening",
            &[
                ("address", &local.to_string()),
                ("apis", &apis.join("; ")),
                ("state", &redact_url(&state)),
                ("topology", &g.topology.display().to_string()),
                ("hash", &hash),
            ],
        );
        let reloader = tokio::spawn(lifecycle::reloader(gw.clone(), g.topology.clone(), options, a.watch));
        let stopped = server::serve(gw, listener, lifecycle::shutdown_signal()).await;
        reloader.abort();
        let how = match stopped {
            server::Stopped::Drained => "drained",
            server::Stopped::GraceExpired => "grace_expired",
        };
        log::event("stopped", &[("connections", how)]);
        Ok(exit::OK)
    })
}

//! Balancer state shared by several `serve` instances through Redis. Each
//! change is a read-modify-write made atomic on the server by a
//! compare-and-set script: the algorithm stays in Rust, Redis only refuses
//! a write when the value changed since it was read, and the change is then
//! applied again to the newer value, so instances never overwrite each
//! other's knowledge.
//!
//! Redis unreachable: every read and write falls back to this instance's
//! own copy (kept up to date with everything seen), the log says so once
//! per outage and a metric counts the errors; no request fails because of
//! Redis. The connection manager reconnects on the next use.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use super::metrics::Metrics;
use super::store::{Change, MemoryStore, StateStore};
use crate::balancer::BackendState;

/// Sets KEYS[1] to ARGV[2] for ARGV[3] ms if it still holds ARGV[1] (`""`:
/// absent); else returns what it holds.
const COMPARE_AND_SET: &str = r#"
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return cur
"#;

/// A Redis call that takes longer than this counts as Redis being down.
const TIMEOUT: Duration = Duration::from_millis(250);
/// Writes lost to other writers before this one gives up and writes its
/// own copy only. Many requests to one backend at once all write its key;
/// after a few conflicts in a row a writer steps back for a jittered
/// millisecond or two ([`step_back`]) so that the others finish, and 128 is
/// then far more than any such burst needs (a test sends 40 at once).
const MAX_CONFLICTS: usize = 128;
/// Conflicts a writer retries at once before stepping back.
const IMMEDIATE_RETRIES: usize = 4;

pub struct RedisStore {
    conn: ConnectionManager,
    script: Script,
    local: MemoryStore,
    up: AtomicBool,
    metrics: Arc<Metrics>,
}

impl RedisStore {
    /// Connects lazily: a Redis that is down at start is a fallback to
    /// local state, not a failure.
    pub fn new(url: &str, metrics: Arc<Metrics>) -> anyhow::Result<RedisStore> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("--state {}: {e}", crate::topology::redact_url(url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_lazy(config)?;
        metrics.state_store_up.set(1);
        Ok(RedisStore {
            conn,
            script: Script::new(COMPARE_AND_SET),
            local: MemoryStore::default(),
            up: AtomicBool::new(true),
            metrics,
        })
    }

    fn ok(&self) {
        if !self.up.swap(true, Ordering::SeqCst) {
            super::log::event("state_store_recovered", &[("store", "redis")]);
            self.metrics.state_store_up.set(1);
        }
    }

    fn failed(&self, what: &str, err: &str) {
        self.metrics.state_store_errors.inc();
        if self.up.swap(false, Ordering::SeqCst) {
            super::log::event(
                "state_store_unreachable",
                &[
                    ("store", "redis"),
                    ("during", what),
                    ("error", err),
                    ("fallback", "local state"),
                ],
            );
            self.metrics.state_store_up.set(0);
        }
    }

    async fn try_update(
        &self,
        key: &str,
        ttl_ms: u64,
        change: Change<'_>,
    ) -> Result<BackendState, String> {
        let mut conn = self.conn.clone();
        let k = key;
        let mut current: Option<String> =
            tokio::time::timeout(TIMEOUT, redis::cmd("GET").arg(k).query_async(&mut conn))
                .await
                .map_err(|_| "timed out".to_string())?
                .map_err(|e| e.to_string())?;
        for attempt in 0..MAX_CONFLICTS {
            if attempt >= IMMEDIATE_RETRIES {
                step_back(attempt).await;
            }
            let mut state = current
                .as_deref()
                .map(BackendState::decode)
                .unwrap_or_default();
            change(&mut state);
            let next = state.encode();
            let v: Value = tokio::time::timeout(
                TIMEOUT,
                self.script
                    .key(k)
                    .arg(current.as_deref().unwrap_or(""))
                    .arg(&next)
                    .arg(ttl_ms.max(1))
                    .invoke_async(&mut conn),
            )
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
            match v {
                Value::Int(1) => return Ok(state),
                Value::BulkString(b) => current = Some(String::from_utf8_lossy(&b).into_owned()),
                Value::Nil => current = None,
                other => return Err(format!("unexpected answer {other:?}")),
            }
            self.metrics.state_store_conflicts.inc();
        }
        Err("too many concurrent writes".into())
    }
}

/// Waits 1 to 3 ms before a writer's next try, drawn from the clock's
/// nanoseconds and the attempt so that writers that collided do not collide
/// again in step.
async fn step_back(attempt: usize) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    let ms = 1 + (nanos / 1000 + attempt) % 3;
    tokio::time::sleep(Duration::from_millis(ms as u64)).await;
}

#[async_trait::async_trait]
impl StateStore for RedisStore {
    async fn load(&self, keys: &[String], now_ms: u64) -> Vec<BackendState> {
        let mut conn = self.conn.clone();
        let got: Result<Result<Vec<Option<String>>, _>, _> =
            tokio::time::timeout(TIMEOUT, redis::cmd("MGET").arg(keys).query_async(&mut conn))
                .await;
        match got {
            Ok(Ok(values)) if values.len() == keys.len() => {
                self.ok();
                values
                    .iter()
                    .map(|v| v.as_deref().map(BackendState::decode).unwrap_or_default())
                    .collect()
            }
            Ok(Ok(_)) => {
                self.failed("read", "MGET answered the wrong number of values");
                self.local.load(keys, now_ms).await
            }
            Ok(Err(e)) => {
                self.failed("read", &e.to_string());
                self.local.load(keys, now_ms).await
            }
            Err(_) => {
                self.failed("read", "timed out");
                self.local.load(keys, now_ms).await
            }
        }
    }

    async fn update(&self, key: &str, now_ms: u64, seconds: u64, change: Change<'_>) {
        match self.try_update(key, seconds * 1000, change).await {
            Ok(state) => {
                self.ok();
                self.local.put(key, state, now_ms, seconds);
            }
            Err(e) => {
                self.failed("write", &e);
                self.local.apply(key, now_ms, seconds, change);
            }
        }
    }

    fn healthy(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }
}

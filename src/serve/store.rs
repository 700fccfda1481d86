//! Where backend state lives between requests: in this process, or in Redis
//! shared by several instances ([`super::redis_store`]). The store only
//! reads and writes states atomically; every decision is the balancer's.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::balancer::BackendState;

/// A change to one backend's state; it may run more than once (Redis
/// retries when another instance wrote first), so it must depend on the
/// state it is given only.
pub type Change<'a> = &'a mut (dyn FnMut(&mut BackendState) + Send);

#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The states of `keys` at `now_ms`; missing or expired: "nothing known".
    async fn load(&self, keys: &[String], now_ms: u64) -> Vec<BackendState>;
    /// Applies `change` to the state of `key` atomically and keeps the
    /// result for `seconds`.
    async fn update(&self, key: &str, now_ms: u64, seconds: u64, change: Change<'_>);
    /// Whether the store works as configured (Redis reachable).
    fn healthy(&self) -> bool {
        true
    }
}

/// States in this process, expiring by the injected clock (as the APIM
/// cache and the balancer's reference `Cache` expire entries).
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (BackendState, u64)>>,
}

impl MemoryStore {
    pub fn get(&self, key: &str, now_ms: u64) -> BackendState {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(_, expires)| *expires > now_ms)
            .map(|(s, _)| *s)
            .unwrap_or_default()
    }

    pub fn put(&self, key: &str, state: BackendState, now_ms: u64, seconds: u64) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Keys of replaced topologies are never read again.
            map.retain(|_, (_, expires)| *expires > now_ms);
        }
        map.insert(key.to_string(), (state, now_ms + seconds * 1000));
    }

    /// The entries alive at `now_ms` as the balancer's `Cache` encodes them,
    /// sorted by key (tests compare the state serve leaves behind).
    pub fn snapshot(&self, now_ms: u64) -> std::collections::BTreeMap<String, String> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|(_, (_, expires))| *expires > now_ms)
            .map(|(k, (s, _))| (k.clone(), s.encode()))
            .collect()
    }

    /// Read-modify-write under the lock.
    pub fn apply(&self, key: &str, now_ms: u64, seconds: u64, change: Change<'_>) -> BackendState {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = map
            .get(key)
            .filter(|(_, expires)| *expires > now_ms)
            .map(|(s, _)| *s)
            .unwrap_or_default();
        change(&mut state);
        map.insert(key.to_string(), (state, now_ms + seconds * 1000));
        state
    }
}

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn load(&self, keys: &[String], now_ms: u64) -> Vec<BackendState> {
        keys.iter().map(|k| self.get(k, now_ms)).collect()
    }

    async fn update(&self, key: &str, now_ms: u64, seconds: u64, change: Change<'_>) {
        self.apply(key, now_ms, seconds, change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_expire_by_the_given_clock() {
        let s = MemoryStore::default();
        s.update("k", 1000, 2, &mut |st| st.calls = 7).await;
        assert_eq!(s.load(&["k".into()], 2999).await[0].calls, 7);
        assert_eq!(
            s.load(&["k".into()], 3000).await[0],
            BackendState::default()
        );
    }
}

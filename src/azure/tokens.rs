//! Entra ID tokens for data-plane calls (the Azure OpenAI backends of
//! `oailb serve`, Key Vault): the credential chain `deploy` uses, one scope
//! per cache, refreshed before expiry, one refresh at a time.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use azure_core::auth::{AccessToken, TokenCredential};

use super::auth::{AuthMethod, Credential};
use super::cloud::Endpoint;
use crate::topology::Cloud;

/// A token is replaced this long before it expires, so no request carries
/// one that expires on the way.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Cached bearer tokens for one scope.
pub struct TokenCache {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    cached: RwLock<Option<AccessToken>>,
    /// Held while a token is fetched: callers that find no fresh token wait
    /// for the one fetch instead of starting their own.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenCache({})", self.scope)
    }
}

impl TokenCache {
    pub fn new(credential: Arc<dyn TokenCredential>, scope: impl Into<String>) -> TokenCache {
        TokenCache {
            credential,
            scope: scope.into(),
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Tokens for `resource` (an audience such as
    /// `https://cognitiveservices.azure.com`) from the credential `method`
    /// selects, with `cloud`'s authority.
    pub fn for_resource(method: AuthMethod, cloud: Cloud, resource: &str) -> anyhow::Result<Self> {
        let scope = format!("{}/.default", resource.trim_end_matches('/'));
        let endpoint = Endpoint::resolve(cloud, None, Some(&scope))?;
        let credential = Credential::new(method, &endpoint)?;
        Ok(TokenCache::new(credential.inner, scope))
    }

    /// Always the same token (`--auth token`, tests).
    pub fn fixed(token: &str, scope: impl Into<String>) -> anyhow::Result<Self> {
        Ok(TokenCache::new(
            Arc::new(super::auth::StaticToken::new(token.to_string())?),
            scope,
        ))
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn fresh(&self) -> Option<String> {
        let guard = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let t = guard.as_ref()?;
        let left = t.expires_on - time::OffsetDateTime::now_utc();
        (left > REFRESH_BEFORE).then(|| t.token.secret().to_string())
    }

    /// A bearer token (without the `Bearer ` prefix). Errors never hold a
    /// token.
    pub async fn bearer(&self) -> anyhow::Result<String> {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let _one = self.refreshing.lock().await;
        // Another caller may have refreshed while this one waited.
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let t = self
            .credential
            .get_token(&[self.scope.as_str()])
            .await
            .map_err(|e| anyhow::anyhow!("cannot get an Entra ID token for {}: {e}", self.scope))?;
        let secret = t.token.secret().to_string();
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Some(t);
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// An identity endpoint that counts its calls and hands out tokens that
    /// live `lifetime`.
    #[derive(Debug)]
    struct CountingIdentity {
        calls: AtomicU32,
        lifetime: time::Duration,
    }

    #[async_trait::async_trait]
    impl TokenCredential for CountingIdentity {
        async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(AccessToken::new(
                format!("token-{n}-{}", scopes.join(",")),
                time::OffsetDateTime::now_utc() + self.lifetime,
            ))
        }
        async fn clear_cache(&self) -> azure_core::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn one_fetch_for_many_callers_then_cached() {
        let id = Arc::new(CountingIdentity {
            calls: AtomicU32::new(0),
            lifetime: time::Duration::hours(1),
        });
        let cache = Arc::new(TokenCache::new(
            id.clone(),
            "https://cognitiveservices.azure.com/.default",
        ));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let c = cache.clone();
            tasks.push(tokio::spawn(async move { c.bearer().await.unwrap() }));
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap(),
                "token-1-https://cognitiveservices.azure.com/.default"
            );
        }
        assert_eq!(
            cache.bearer().await.unwrap(),
            "token-1-https://cognitiveservices.azure.com/.default"
        );
        assert_eq!(id.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_token_near_expiry_is_replaced() {
        let id = Arc::new(CountingIdentity {
            calls: AtomicU32::new(0),
            // Inside the refresh margin from the start.
            lifetime: time::Duration::seconds(60),
        });
        let cache = TokenCache::new(id.clone(), "s");
        assert_eq!(cache.bearer().await.unwrap(), "token-1-s");
        assert_eq!(cache.bearer().await.unwrap(), "token-2-s");
        assert_eq!(id.calls.load(Ordering::SeqCst), 2);
    }
}

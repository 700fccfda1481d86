//! What a running gateway knows, built from a validated topology and the
//! command line: per API its path, client-key names and routes (the
//! balancer's run-time routes, with `--upstream` overrides and backend
//! credentials), the balancer settings, the client keys and the `serve`
//! section. A reload builds a new one and swaps it in whole.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use url::Url;

use crate::azure::{AuthMethod, TokenCache};
use crate::balancer::{self, Settings};
use crate::desired::{self, RouteAuth};
use crate::render::policy::runtime_route;
use crate::topology::{ApiKeySource, ClientKeySource, Cloud, Loaded, Serve};

/// Where Entra ID tokens (managed-identity backends, Key Vault) come from.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A credential source of `deploy`'s `--auth`.
    Chain(AuthMethod),
    /// One token for every audience (tests, a token handed over).
    Fixed(String),
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials::Chain(AuthMethod::Default)
    }
}

impl Credentials {
    fn tokens(&self, cloud: Cloud, resource: &str) -> anyhow::Result<TokenCache> {
        match self {
            Credentials::Chain(m) => TokenCache::for_resource(*m, cloud, resource),
            Credentials::Fixed(t) => TokenCache::fixed(t, format!("{resource}/.default")),
        }
    }
}

/// Command-line choices that outlive a reload.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub credentials: Credentials,
    /// `--upstream NAME=URL`: backend NAME's base URL.
    pub upstreams: BTreeMap<String, Url>,
    /// `--api NAME`: serve only this API.
    pub api: Option<String>,
    /// Replaces the scheme, host and port of Key Vault secret URIs (tests,
    /// private endpoints).
    pub key_vault_endpoint: Option<Url>,
    /// `--region`: where this gateway runs; with
    /// `load_balancing.prefer_nearby`, backends near it come first inside
    /// each priority (as APIM's `context.Deployment.Region`).
    pub gateway_region: Option<String>,
}

/// How one backend is authenticated.
#[derive(Clone)]
pub enum BackendAuth {
    /// `Authorization: Bearer` with an Entra ID token for Cognitive Services.
    Token,
    /// `api-key` from the environment or Key Vault.
    ApiKey(Arc<str>),
}

impl std::fmt::Debug for BackendAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendAuth::Token => f.write_str("Token"),
            BackendAuth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

/// One client-facing deployment.
#[derive(Debug, Clone)]
pub struct RouteRuntime {
    /// The deployment name clients call.
    pub model: String,
    /// Cache key and backends, in the policy's order; URLs with overrides.
    pub route: balancer::Route,
    /// Per backend (same order): its state key, its bucket limits under
    /// the settings and its credentials.
    pub keys: Vec<String>,
    pub limits: Vec<balancer::Limits>,
    pub auth: Vec<BackendAuth>,
}

/// One API of the topology.
#[derive(Debug, Clone)]
pub struct ApiRuntime {
    pub name: String,
    /// `/` + the API path, without a trailing slash (`/smart-api/openai`).
    pub path: String,
    /// Header (lower case) and query parameter the client key may come in.
    pub key_header: String,
    pub key_query: String,
    pub routes: Vec<RouteRuntime>,
}

impl ApiRuntime {
    pub fn route(&self, deployment: &str) -> Option<&RouteRuntime> {
        self.routes.iter().find(|r| r.model == deployment)
    }

    /// `a, b, c`, as the policy's 404 lists them.
    pub fn model_names(&self) -> String {
        let v: Vec<&str> = self.routes.iter().map(|r| r.model.as_str()).collect();
        v.join(", ")
    }
}

/// SHA-256 hashes of the accepted client keys.
#[derive(Clone, Default)]
pub struct ClientKeys(Vec<[u8; 32]>);

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKeys({} keys)", self.0.len())
    }
}

impl ClientKeys {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `key` is one of the keys. The time taken does not depend on
    /// which key matched or where two hashes differ.
    pub fn accepts(&self, key: &str) -> bool {
        let h: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = 0u8;
        for k in &self.0 {
            let diff = k
                .iter()
                .zip(h.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            found |= u8::from(diff == 0);
        }
        found == 1
    }

    /// Reads keys from the environment and hash files (`dir`: the topology's
    /// folder, for relative paths).
    pub fn load(sources: &[ClientKeySource], dir: Option<&Path>) -> anyhow::Result<ClientKeys> {
        let mut out = Vec::new();
        for s in sources {
            match s {
                ClientKeySource::Env(var) => match std::env::var(var) {
                    Ok(v) if !v.trim().is_empty() => {
                        out.push(Sha256::digest(v.trim().as_bytes()).into())
                    }
                    _ => bail!(
                        "serve.client_keys: the environment variable {var} is not set or empty"
                    ),
                },
                ClientKeySource::Sha256File(file) => {
                    let path = match dir {
                        Some(d) => d.join(file),
                        None => Path::new(file).to_path_buf(),
                    };
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!("serve.client_keys: reading {}", path.display())
                    })?;
                    for (n, line) in text.lines().enumerate() {
                        let line = line.split('#').next().unwrap_or_default().trim();
                        if line.is_empty() {
                            continue;
                        }
                        let hex = line.split_whitespace().next().unwrap_or_default();
                        out.push(parse_sha256(hex).with_context(|| {
                            format!(
                                "{}:{}: not a hex SHA-256 (64 hex digits, as `sha256sum` prints)",
                                path.display(),
                                n + 1
                            )
                        })?);
                    }
                }
            }
        }
        Ok(ClientKeys(out))
    }
}

fn parse_sha256(hex: &str) -> anyhow::Result<[u8; 32]> {
    if hex.len() != 64 {
        bail!("wrong length");
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

/// The gateway's whole configuration at one time.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub apis: Vec<ApiRuntime>,
    pub settings: Settings,
    /// Seconds a state entry lives (see `Settings::cache_seconds`).
    pub cache_seconds: u64,
    /// `load_balancing.backend_header`, lower case.
    pub backend_header: Option<String>,
    pub serve: Serve,
    pub client_keys: ClientKeys,
    /// A content hash of the topology text, for the log.
    pub topology_hash: String,
    /// Upstream connections (pooled; `timeouts.connect_ms`).
    pub http: reqwest::Client,
    /// Tokens of managed-identity backends, when there are any.
    pub tokens: Option<Arc<TokenCache>>,
}

impl Runtime {
    /// Builds the runtime of `loaded`. Reads client keys, backend keys from
    /// the environment, and Key Vault secrets (with `tokens`).
    pub async fn build(loaded: &Loaded, options: &Options) -> anyhow::Result<Runtime> {
        let t = &loaded.topology;
        let desired = desired::derive(t, None);
        let serve = t.serve.clone().unwrap_or_default();
        let http = super::forward::client(&serve.timeouts)?;
        let uses_vault = t
            .backends()
            .any(|(_, b)| matches!(b.api_key, Some(ApiKeySource::KeyVaultSecret(_))));
        let vault_tokens = if uses_vault {
            Some(
                options
                    .credentials
                    .tokens(t.cloud, crate::azure::keyvault::vault_resource(t.cloud))?,
            )
        } else {
            None
        };
        let vault_tokens = vault_tokens.as_ref();
        let http = &http;
        let names: Vec<&str> = t.backends().map(|(_, b)| b.name.as_str()).collect();
        for name in options.upstreams.keys() {
            if !names.contains(&name.as_str()) {
                bail!(
                    "--upstream {name}=...: the topology has no backend `{name}` (backends: {})",
                    names.join(", ")
                );
            }
        }
        let policies: Vec<_> = match &options.api {
            Some(a) => match desired.policy(a) {
                Some(p) => vec![p],
                None => {
                    let all: Vec<&str> = desired.policies.iter().map(|p| p.api.as_str()).collect();
                    bail!(
                        "--api {a}: the topology has no such API (APIs: {})",
                        all.join(", ")
                    )
                }
            },
            None => desired.policies.iter().collect(),
        };
        let mut keys_by_backend: BTreeMap<String, Arc<str>> = BTreeMap::new();
        let mut settings = Settings::from(&t.load_balancing);
        if t.load_balancing.prefer_nearby == Some(true) {
            settings.gateway_region = options
                .gateway_region
                .as_deref()
                .map(crate::balancer::region::normalize);
        }
        let mut apis = Vec::new();
        for p in policies {
            let api = t
                .apis()
                .into_iter()
                .find(|a| a.name == p.api)
                .context("every policy has its API")?;
            let mut routes = Vec::new();
            for r in &p.routes {
                let mut route = runtime_route(&api_id(&p.api), r);
                let mut auth = Vec::new();
                for b in &mut route.backends {
                    if let Some(base) = options.upstreams.get(&b.name) {
                        b.url = upstream_url(base);
                    }
                    let rb = r
                        .backends
                        .iter()
                        .find(|x| x.name == b.name)
                        .context("every run-time backend is a route backend")?;
                    auth.push(match &rb.auth {
                        RouteAuth::ManagedIdentity => BackendAuth::Token,
                        RouteAuth::ApiKey { .. } => {
                            if let Some(k) = keys_by_backend.get(&b.name) {
                                BackendAuth::ApiKey(k.clone())
                            } else {
                                let k: Arc<str> =
                                    backend_key(loaded, &b.name, options, http, vault_tokens)
                                        .await?
                                        .into();
                                keys_by_backend.insert(b.name.clone(), k.clone());
                                BackendAuth::ApiKey(k)
                            }
                        }
                    });
                }
                let keys = route.backends.iter().map(|b| route.state_key(b)).collect();
                let limits = balancer::Limits::of_route(&route.backends, &settings);
                routes.push(RouteRuntime {
                    model: r.model.clone(),
                    route,
                    keys,
                    limits,
                    auth,
                });
            }
            apis.push(ApiRuntime {
                name: p.api.clone(),
                path: format!("/{}", api.path.trim_matches('/')),
                key_header: p.subscription_key_header.to_ascii_lowercase(),
                key_query: p.subscription_key_query.clone(),
                routes,
            });
        }
        let uses_tokens = apis
            .iter()
            .flat_map(|a: &ApiRuntime| &a.routes)
            .flat_map(|r| &r.auth)
            .any(|a| matches!(a, BackendAuth::Token));
        let tokens = if uses_tokens {
            let audience = t.cloud.cognitive_services_audience();
            Some(Arc::new(options.credentials.tokens(t.cloud, audience)?))
        } else {
            None
        };
        let client_keys = ClientKeys::load(&serve.client_keys, loaded.source.dir().as_deref())?;
        Ok(Runtime {
            http: http.clone(),
            tokens,
            cache_seconds: settings.cache_seconds(),
            settings,
            apis,
            backend_header: t
                .load_balancing
                .backend_header
                .as_ref()
                .map(|h| h.to_ascii_lowercase()),
            serve,
            client_keys,
            topology_hash: {
                let d = Sha256::digest(loaded.source.text().as_bytes());
                d[..6].iter().map(|b| format!("{b:02x}")).collect()
            },
        })
    }

    /// The API OpenAI-style `/v1/...` requests go to: the only one, or the
    /// first (`--api` chooses).
    pub fn default_api(&self) -> Option<&ApiRuntime> {
        self.apis.first()
    }
}

/// The id the policy keys its cache with (`context.Api.Id`, `apis/<name>`):
/// serve's state keys are the policy's, so an edited backend list never
/// reads old state and the keys say which API they belong to.
pub fn api_id(api: &str) -> String {
    format!("apis/{api}")
}

/// `https://host[/prefix]` + `/openai`, one slash, as the topology's URLs.
fn upstream_url(base: &Url) -> String {
    let s = base.as_str().trim_end_matches('/');
    if s.ends_with("/openai") {
        s.to_string()
    } else {
        format!("{s}/openai")
    }
}

/// Parses `--upstream NAME=URL`: https anywhere, plain http only on a
/// loopback address.
pub fn parse_upstream(text: &str) -> Result<(String, Url), String> {
    let (name, url) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=URL"))?;
    let url = crate::azure::cloud::parse_endpoint(url)
        .map_err(|e| format!("{}", e).replace("--arm-endpoint", "--upstream"))?;
    Ok((name.trim().to_string(), url))
}

async fn backend_key(
    loaded: &Loaded,
    name: &str,
    options: &Options,
    http: &reqwest::Client,
    vault_tokens: Option<&TokenCache>,
) -> anyhow::Result<String> {
    let b = loaded
        .topology
        .backends()
        .map(|(_, b)| b)
        .find(|b| b.name == name)
        .context("every route backend is in the topology")?;
    match &b.api_key {
        Some(ApiKeySource::Env(var)) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            _ => bail!("backend {name} uses an API key from the environment variable {var}, which is not set or empty"),
        },
        Some(ApiKeySource::KeyVaultSecret(uri)) => {
            let tokens = vault_tokens.context("no credential for Key Vault")?;
            crate::azure::keyvault::read_secret(http, tokens, uri, options.key_vault_endpoint.as_ref())
                .await
                .with_context(|| format!("backend {name}: its API key"))
        }
        None => bail!("backend {name} uses auth: api-key without an api_key source"),
    }
}

/// The address to listen on: `--listen`, else `serve.listen`.
pub fn listen_address(cli: Option<&str>, serve: &Serve) -> anyhow::Result<SocketAddr> {
    let text = cli.unwrap_or(&serve.listen);
    crate::topology::parse_listen(text)
        .map_err(|why| anyhow::anyhow!("listen address `{text}` {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_match_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let hash = format!("{:x}", Sha256::digest(b"team-a-key"));
        std::fs::write(
            dir.path().join("keys"),
            format!("# team a\n{hash}  team-a\n\n"),
        )
        .unwrap();
        let keys = ClientKeys::load(
            &[ClientKeySource::Sha256File("keys".into())],
            Some(dir.path()),
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.accepts("team-a-key"));
        assert!(!keys.accepts("team-a-ke"));
        assert!(!keys.accepts(""));
        std::fs::write(dir.path().join("bad"), "xyz\n").unwrap();
        let err = ClientKeys::load(
            &[ClientKeySource::Sha256File("bad".into())],
            Some(dir.path()),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("bad:1: not a hex SHA-256"),
            "{err:#}"
        );
        assert!(!format!("{keys:?}").contains(&hash));
    }

    #[test]
    fn upstream_urls_get_one_openai_segment() {
        let u = |s: &str| upstream_url(&Url::parse(s).unwrap());
        assert_eq!(u("http://127.0.0.1:9000"), "http://127.0.0.1:9000/openai");
        assert_eq!(u("http://127.0.0.1:9000/"), "http://127.0.0.1:9000/openai");
        assert_eq!(u("https://x.example/openai/"), "https://x.example/openai");
        assert!(parse_upstream("eastus=http://127.0.0.1:1").is_ok());
        let e = parse_upstream("eastus=http://10.1.2.3:1").unwrap_err();
        assert!(e.contains("--upstream") && e.contains("loopback"), "{e}");
        assert!(parse_upstream("eastus").is_err());
    }
}

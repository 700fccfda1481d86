//! Credential selection: azure_identity's chain or one explicit source, plus
//! a bearer token handed over by the environment (pipelines that already
//! hold one, and tests).

use std::sync::Arc;

use anyhow::{bail, Context};
use azure_core::auth::{AccessToken, Secret, TokenCredential};
use azure_identity::{
    AppServiceManagedIdentityCredential, AzureCliCredential, DefaultAzureCredentialBuilder,
    EnvironmentCredential, TokenCredentialOptions, VirtualMachineManagedIdentityCredential,
    WorkloadIdentityCredential,
};

use super::cloud::Endpoint;

/// Environment variable read by `--auth token`.
pub const ACCESS_TOKEN_ENV: &str = "OAILB_ACCESS_TOKEN";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMethod {
    /// Environment service principal or workload identity, then managed
    /// identity, then the Azure CLI (azure_identity's chain).
    Default,
    /// The Azure CLI's login (`az login`).
    Cli,
    /// Service principal from AZURE_TENANT_ID, AZURE_CLIENT_ID and
    /// AZURE_CLIENT_SECRET (or a federated token file).
    Env,
    /// The managed identity of this VM, App Service or container.
    ManagedIdentity,
    /// Workload identity federation (AZURE_FEDERATED_TOKEN_FILE).
    WorkloadIdentity,
    /// A bearer token from OAILB_ACCESS_TOKEN.
    Token,
}

/// A credential and the scope its tokens are requested for.
#[derive(Debug, Clone)]
pub struct Credential {
    pub inner: Arc<dyn TokenCredential>,
    pub scope: String,
}

impl Credential {
    pub fn new(method: AuthMethod, endpoint: &Endpoint) -> anyhow::Result<Credential> {
        let mut options = TokenCredentialOptions::default();
        // AZURE_AUTHORITY_HOST, when set, wins over the cloud's default.
        if std::env::var_os("AZURE_AUTHORITY_HOST").is_none() {
            options.set_authority_host(endpoint.authority.clone());
        }
        let inner: Arc<dyn TokenCredential> = match method {
            AuthMethod::Token => Arc::new(StaticToken::from_env()?),
            AuthMethod::Default => Arc::new(
                DefaultAzureCredentialBuilder::new()
                    .with_options(options)
                    .build()
                    .context("no Azure credential is available (try `az login`, or --auth)")?,
            ),
            AuthMethod::Cli => Arc::new(AzureCliCredential::new()),
            AuthMethod::Env => Arc::new(EnvironmentCredential::create(options).context(
                "--auth env needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            )?),
            AuthMethod::WorkloadIdentity => Arc::new(
                WorkloadIdentityCredential::create(options).context(
                    "--auth workload-identity needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE",
                )?,
            ),
            AuthMethod::ManagedIdentity => {
                if std::env::var_os("IDENTITY_ENDPOINT").is_some() {
                    Arc::new(AppServiceManagedIdentityCredential::create(options)?)
                } else {
                    Arc::new(VirtualMachineManagedIdentityCredential::new(options))
                }
            }
        };
        Ok(Credential {
            inner,
            scope: endpoint.scope.clone(),
        })
    }

    /// A bearer token for ARM. The error never includes the token.
    pub async fn token(&self) -> anyhow::Result<Secret> {
        let t = self
            .inner
            .get_token(&[self.scope.as_str()])
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot get an Azure token for {}: {e} (log in with `az login`, or choose a credential with --auth)",
                    self.scope
                )
            })?;
        Ok(t.token)
    }
}

/// A token that is already known. Debug output never shows it.
pub struct StaticToken(Secret);

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(<redacted>)")
    }
}

impl StaticToken {
    pub fn new(token: String) -> anyhow::Result<StaticToken> {
        let token = token.trim().to_string();
        if token.is_empty() {
            bail!("{ACCESS_TOKEN_ENV} is empty");
        }
        if token.chars().any(|c| c.is_control() || c == ' ') {
            bail!("{ACCESS_TOKEN_ENV} is not a bearer token (it contains spaces or control characters)");
        }
        Ok(StaticToken(Secret::new(token)))
    }

    pub fn from_env() -> anyhow::Result<StaticToken> {
        match std::env::var(ACCESS_TOKEN_ENV) {
            Ok(t) => StaticToken::new(t),
            Err(_) => bail!("--auth token needs the bearer token in {ACCESS_TOKEN_ENV}"),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticToken {
    async fn get_token(&self, _scopes: &[&str]) -> azure_core::Result<AccessToken> {
        // The caller owns the token's lifetime; an hour is what ARM tokens get.
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        Ok(AccessToken::new(self.0.clone(), expires))
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        Ok(())
    }
}

/// The Azure CLI's default subscription, when the CLI is installed and
/// logged in.
pub fn cli_default_subscription() -> Option<String> {
    let out = std::process::Command::new("az")
        .args(["account", "show", "--query", "id", "--output", "tsv"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let id = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_token_rejects_junk_and_hides_itself() {
        assert!(StaticToken::new("  ".into()).is_err());
        assert!(StaticToken::new("a b".into()).is_err());
        let t = StaticToken::new("secret-token".into()).unwrap();
        assert!(!format!("{t:?}").contains("secret-token"));
    }
}

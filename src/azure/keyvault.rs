//! Key Vault secrets through the REST API (`GET {secret uri}?api-version=7.4`)
//! with a token of the credential chain: `oailb serve` reads the API keys of
//! backends whose `api_key` is a `key_vault_secret`.

use anyhow::{bail, Context};
use url::Url;

use super::tokens::TokenCache;
use crate::topology::Cloud;

const API_VERSION: &str = "7.4";

/// The Key Vault token audience of a cloud.
pub fn vault_resource(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::AzureCloud => "https://vault.azure.net",
        Cloud::AzureUSGovernment => "https://vault.usgovcloudapi.net",
        Cloud::AzureChinaCloud => "https://vault.azure.cn",
    }
}

/// Reads the current value of the secret at `secret_uri`
/// (`https://VAULT.vault.azure.net/secrets/NAME[/VERSION]`). `endpoint`
/// replaces the vault's scheme, host and port (a local fake, a private
/// endpoint); plain http is accepted there only on loopback. Errors name
/// the secret, never its value.
pub async fn read_secret(
    http: &reqwest::Client,
    tokens: &TokenCache,
    secret_uri: &str,
    endpoint: Option<&Url>,
) -> anyhow::Result<String> {
    let mut url = Url::parse(secret_uri).with_context(|| format!("{secret_uri} is not a URL"))?;
    if let Some(e) = endpoint {
        let e = super::cloud::parse_endpoint(e.as_str())?;
        url.set_scheme(e.scheme())
            .map_err(|_| anyhow::anyhow!("cannot use {e} as the Key Vault endpoint"))?;
        url.set_host(e.host_str())?;
        url.set_port(e.port())
            .map_err(|_| anyhow::anyhow!("cannot use {e} as the Key Vault endpoint"))?;
    }
    url.query_pairs_mut()
        .append_pair("api-version", API_VERSION);
    let token = tokens.bearer().await?;
    let res = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("reading Key Vault secret {secret_uri}"))?;
    let status = res.status();
    let bytes = res
        .bytes()
        .await
        .with_context(|| format!("reading Key Vault secret {secret_uri}"))?;
    let body: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("Key Vault secret {secret_uri}: the answer is not JSON"))?;
    if !status.is_success() {
        let msg = body["error"]["message"].as_str().unwrap_or("no message");
        bail!("Key Vault secret {secret_uri}: HTTP {status}: {msg}");
    }
    match body["value"].as_str() {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => bail!("Key Vault secret {secret_uri} has no value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::StaticToken;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A Key Vault on loopback that answers one secret to one token.
    async fn fake_vault() -> (Url, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = req.lines().next().unwrap_or_default().to_string();
                let authorized = req
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("authorization: Bearer kv-token"));
                let (status, body) = if !authorized {
                    (
                        "401 Unauthorized",
                        r#"{"error":{"code":"Unauthorized","message":"no token"}}"#,
                    )
                } else if line.starts_with("GET /secrets/partner-key?api-version=7.4 ") {
                    ("200 OK", r#"{"value":"the-partner-key","id":"x"}"#)
                } else {
                    (
                        "404 Not Found",
                        r#"{"error":{"code":"SecretNotFound","message":"no such secret"}}"#,
                    )
                };
                seen.push(line);
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(resp.as_bytes()).await.unwrap();
            }
            seen
        });
        (url, task)
    }

    #[tokio::test]
    async fn reads_a_secret_with_a_bearer_token() {
        let (url, vault) = fake_vault().await;
        let tokens = TokenCache::new(
            Arc::new(StaticToken::new("kv-token".into()).unwrap()),
            "https://vault.azure.net/.default",
        );
        let http = reqwest::Client::new();
        let v = read_secret(
            &http,
            &tokens,
            "https://contoso.vault.azure.net/secrets/partner-key",
            Some(&url),
        )
        .await
        .unwrap();
        assert_eq!(v, "the-partner-key");
        let err = read_secret(
            &http,
            &tokens,
            "https://contoso.vault.azure.net/secrets/missing",
            Some(&url),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("404") && err.contains("no such secret"),
            "{err}"
        );
        assert_eq!(vault.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn plain_http_endpoints_only_on_loopback() {
        let tokens = TokenCache::new(Arc::new(StaticToken::new("t".into()).unwrap()), "s");
        let http = reqwest::Client::new();
        let remote = Url::parse("http://vault.example.com").unwrap();
        let err = read_secret(
            &http,
            &tokens,
            "https://contoso.vault.azure.net/secrets/k",
            Some(&remote),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
    }
}

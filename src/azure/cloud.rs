//! ARM endpoints, token scopes and Entra ID authorities of the Azure clouds,
//! and the rules for overriding the endpoint.

use anyhow::{bail, Context};
use azure_core::Url;

use crate::topology::Cloud;

/// Where ARM requests go and which token they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without a trailing slash, e.g. `https://management.azure.com`.
    pub url: Url,
    /// OAuth scope of the ARM token (`<resource>/.default`).
    pub scope: String,
    /// Entra ID authority host for service-principal and workload credentials.
    pub authority: String,
}

pub fn arm_url(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::AzureCloud => "https://management.azure.com",
        Cloud::AzureUSGovernment => "https://management.usgovcloudapi.net",
        Cloud::AzureChinaCloud => "https://management.chinacloudapi.cn",
    }
}

pub fn authority(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::AzureCloud => "https://login.microsoftonline.com",
        Cloud::AzureUSGovernment => "https://login.microsoftonline.us",
        Cloud::AzureChinaCloud => "https://login.chinacloudapi.cn",
    }
}

impl Endpoint {
    /// The cloud's defaults, with an optional endpoint and scope override.
    /// The scope is always explicit: with `--arm-endpoint` it stays the
    /// cloud's ARM scope unless `scope` is given, never derived from the URL.
    pub fn resolve(
        cloud: Cloud,
        arm_endpoint: Option<&str>,
        scope: Option<&str>,
    ) -> anyhow::Result<Endpoint> {
        let url = match arm_endpoint {
            Some(raw) => parse_endpoint(raw)?,
            None => Url::parse(arm_url(cloud)).expect("built-in ARM URLs are valid"),
        };
        let scope = match scope {
            Some(s) if !s.trim().is_empty() => s.trim().to_string(),
            Some(_) => bail!("the token scope is empty"),
            None => format!("{}/.default", arm_url(cloud)),
        };
        Ok(Endpoint {
            url,
            scope,
            authority: authority(cloud).to_string(),
        })
    }

    /// `https://host[:port]` + `path_and_query` (an ARM id with its query).
    pub fn join(&self, path_and_query: &str) -> anyhow::Result<Url> {
        let base = self.url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}"))
            .with_context(|| format!("invalid ARM request path {path_and_query}"))
    }

    /// Whether `url` is on this endpoint (scheme, host and port), so a token
    /// may be sent to it. Operation URLs elsewhere are refused.
    pub fn owns(&self, url: &Url) -> bool {
        let same_host = url.host_str().map(str::to_ascii_lowercase)
            == self.url.host_str().map(str::to_ascii_lowercase)
            // A local endpoint may name itself 127.0.0.1 or localhost.
            || (is_loopback(url) && is_loopback(&self.url));
        url.scheme() == self.url.scheme()
            && same_host
            && url.port_or_known_default() == self.url.port_or_known_default()
    }
}

/// An ARM endpoint given by the user: https anywhere, plain http only on a
/// loopback address (a local fake or proxy), never credentials in clear text
/// over a network.
pub fn parse_endpoint(raw: &str) -> anyhow::Result<Url> {
    parse_endpoint_for("--arm-endpoint", raw)
}

/// The same rules for another endpoint flag (`--logs-endpoint`).
pub fn parse_endpoint_for(flag: &str, raw: &str) -> anyhow::Result<Url> {
    let url =
        Url::parse(raw.trim()).with_context(|| format!("{flag} {raw:?} is not a valid URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        bail!("{flag} {raw:?} must not have a query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("{flag} must not carry credentials");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => bail!(
            "{flag} {raw:?} uses plain http on a non-loopback host; use https (plain http is allowed only for 127.0.0.0/8, ::1 and localhost)"
        ),
        other => bail!("{flag} {raw:?}: unsupported scheme {other:?} (use https)"),
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_clouds_have_their_own_endpoint_scope_and_authority() {
        let gov = Endpoint::resolve(Cloud::AzureUSGovernment, None, None).unwrap();
        assert_eq!(gov.url.as_str(), "https://management.usgovcloudapi.net/");
        assert_eq!(gov.scope, "https://management.usgovcloudapi.net/.default");
        assert_eq!(gov.authority, "https://login.microsoftonline.us");
        let cn = Endpoint::resolve(Cloud::AzureChinaCloud, None, None).unwrap();
        assert_eq!(cn.scope, "https://management.chinacloudapi.cn/.default");
    }

    #[test]
    fn endpoint_override_keeps_an_explicit_scope() {
        let e = Endpoint::resolve(Cloud::AzureCloud, Some("http://127.0.0.1:8080"), None).unwrap();
        assert_eq!(e.scope, "https://management.azure.com/.default");
        let e = Endpoint::resolve(
            Cloud::AzureCloud,
            Some("https://arm.example"),
            Some("api://x/.default"),
        )
        .unwrap();
        assert_eq!(e.scope, "api://x/.default");
        assert_eq!(
            e.join("/subscriptions/s?api-version=1").unwrap().as_str(),
            "https://arm.example/subscriptions/s?api-version=1"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:1",
            "http://localhost:9",
            "http://[::1]:80",
            "https://10.0.0.1",
        ] {
            assert!(parse_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://example.com",
            "ftp://127.0.0.1",
            "https://u:p@x.com",
            "nonsense",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_go_only_to_the_endpoint_host() {
        let e = Endpoint::resolve(Cloud::AzureCloud, None, None).unwrap();
        assert!(e.owns(&Url::parse("https://management.azure.com/x").unwrap()));
        assert!(!e.owns(&Url::parse("https://evil.example/x").unwrap()));
        assert!(!e.owns(&Url::parse("http://management.azure.com/x").unwrap()));
        let local =
            Endpoint::resolve(Cloud::AzureCloud, Some("http://127.0.0.1:9000"), None).unwrap();
        assert!(local.owns(&Url::parse("http://localhost:9000/op").unwrap()));
        assert!(!local.owns(&Url::parse("http://localhost:9001/op").unwrap()));
    }
}

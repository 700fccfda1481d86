//! The Log Analytics query API (`POST /v1/workspaces/{id}/query`): the
//! token metrics `oailb usage` reads. Same credential source as ARM (the
//! token is asked for the Log Analytics audience), same retries, and the
//! same rule for overriding the endpoint (https, plain http on loopback).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::auth::{AuthMethod, Credential, StaticToken};
use super::client::{ArmClient, Notice, Timing};
use super::cloud::{authority, parse_endpoint_for, Endpoint};
use super::error::ArmError;
use crate::topology::Cloud;

/// `--auth token`: a token for the Log Analytics audience, when it differs
/// from the ARM token in OAILB_ACCESS_TOKEN.
pub const LOGS_TOKEN_ENV: &str = "OAILB_LOGS_ACCESS_TOKEN";

/// The query API of each cloud (Log Analytics "Request format").
pub fn logs_url(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::AzureCloud => "https://api.loganalytics.azure.com",
        Cloud::AzureUSGovernment => "https://api.loganalytics.us",
        Cloud::AzureChinaCloud => "https://api.loganalytics.azure.cn",
    }
}

/// The audience Log Analytics tokens are issued for.
pub fn logs_scope(cloud: Cloud) -> String {
    let resource = match cloud {
        Cloud::AzureCloud => "https://api.loganalytics.io",
        Cloud::AzureUSGovernment => "https://api.loganalytics.us",
        Cloud::AzureChinaCloud => "https://api.loganalytics.azure.cn",
    };
    format!("{resource}/.default")
}

/// One result table: its rows as column name → value.
pub type Rows = Vec<BTreeMap<String, Value>>;

pub struct LogsClient {
    http: ArmClient,
}

impl LogsClient {
    pub fn new(
        cloud: Cloud,
        endpoint: Option<&str>,
        auth: AuthMethod,
        timing: Timing,
    ) -> anyhow::Result<LogsClient> {
        let url = match endpoint {
            Some(raw) => parse_endpoint_for("--logs-endpoint", raw)?,
            None => azure_core::Url::parse(logs_url(cloud)).expect("built-in URLs are valid"),
        };
        let endpoint = Endpoint {
            url,
            scope: logs_scope(cloud),
            authority: authority(cloud).to_string(),
        };
        let mut credential = Credential::new(auth, &endpoint)?;
        if auth == AuthMethod::Token {
            if let Ok(t) = std::env::var(LOGS_TOKEN_ENV) {
                credential.inner = std::sync::Arc::new(StaticToken::new(t)?);
            }
        }
        Ok(LogsClient {
            http: ArmClient::new(endpoint, credential, timing),
        })
    }

    /// Runs `kql` over `timespan` (ISO 8601, e.g. `P7D`) in the workspace
    /// whose id (the workspace's `customerId`) is `workspace`; the rows of
    /// the first table.
    pub async fn query(
        &self,
        workspace: &str,
        kql: &str,
        timespan: &str,
    ) -> Result<Rows, ArmError> {
        let quiet = |_: Notice| {};
        let body = json!({"query": kql, "timespan": timespan});
        let v = self
            .http
            .post_json(&format!("/v1/workspaces/{workspace}/query"), &body, &quiet)
            .await?;
        let table = v.pointer("/tables/0").ok_or_else(|| {
            ArmError::new(
                Some(200),
                "InvalidResponse",
                "the answer has no table",
                "POST query",
            )
        })?;
        Ok(rows(table))
    }
}

/// `{"columns": [{"name"}], "rows": [[...]]}` as maps.
fn rows(table: &Value) -> Rows {
    let names: Vec<String> = table["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|x| x["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    table["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(Value::as_array)
                .map(|r| names.iter().cloned().zip(r.iter().cloned()).collect())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_rows_by_column_name() {
        let t = json!({"name": "PrimaryResult",
            "columns": [{"name": "consumer", "type": "string"}, {"name": "total_tokens", "type": "real"}],
            "rows": [["search", 120.0], ["bot", 3.0]]});
        let r = rows(&t);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["consumer"], json!("search"));
        assert_eq!(r[1]["total_tokens"], json!(3.0));
    }

    #[test]
    fn sovereign_clouds_have_their_own_query_api() {
        assert_eq!(
            logs_url(Cloud::AzureUSGovernment),
            "https://api.loganalytics.us"
        );
        assert_eq!(
            logs_scope(Cloud::AzureCloud),
            "https://api.loganalytics.io/.default"
        );
    }
}

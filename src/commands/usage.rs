//! `oailb usage`: tokens, requests and cost per consumer, deployment or
//! backend, read from Log Analytics (the query in `usage`, the client in
//! `azure::logs`).

use std::io::Write;

use anyhow::Context;
use serde_json::Value;

use crate::azure::logs::LogsClient;
use crate::cli::{GlobalArgs, UsageArgs, UsageFormat};
use crate::commands::live::{self, Live, Stop};
use crate::desired::{self, Desired, Kind};
use crate::exit::{self, ExitError};
use crate::usage;

pub fn run(g: &GlobalArgs, a: &UsageArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    let t = &loaded.topology;
    if t.consumers.is_empty() {
        return Err(ExitError::usage(format!(
            "{} defines no consumers: its policies emit no token metrics to report",
            loaded.source.display_name()
        ))
        .into());
    }
    if t.monitoring.is_none() {
        return Err(ExitError::usage(format!(
            "{} has no `monitoring`: the token metrics have nowhere to go",
            loaded.source.display_name()
        ))
        .into());
    }
    if a.show_query {
        // Nothing is read: the subscription only if it is known already.
        let sub = super::live::known_subscription(&a.arm, t);
        let d = desired::derive(t, sub.as_deref());
        let kql = usage::query(&insights_id(&d)?, a.since);
        print(&format!("{kql}\n"))?;
        return Ok(exit::OK);
    }
    let stop = Stop::new(a.arm.timeout);
    let Live {
        desired,
        client,
        runtime,
        ..
    } = live::connect(&a.arm, &loaded)?;
    let ws = desired
        .of_kind(Kind::LogAnalyticsWorkspace)
        .next()
        .context("the desired state has no Log Analytics workspace")?;
    let kql = usage::query(&insights_id(&desired)?, a.since);
    let logs = LogsClient::new(
        desired.cloud,
        a.logs_endpoint.as_deref(),
        a.arm.auth,
        client.timing().clone(),
    )
    .map_err(|e| ExitError::usage(format!("{e:#}")))?;
    let rows = runtime.block_on(stop.bounded("reading usage from Log Analytics", async {
        let quiet = |_| {};
        let body = client
            .get(&ws.id, ws.api_version, &[], &quiet)
            .await
            .with_context(|| format!("reading the Log Analytics workspace {}", ws.name))?
            .with_context(|| {
                format!(
                    "the Log Analytics workspace {} does not exist: deploy the topology first",
                    ws.name
                )
            })?;
        let customer = body
            .pointer("/properties/customerId")
            .and_then(Value::as_str)
            .with_context(|| format!("the workspace {} has no customerId", ws.name))?
            .to_string();
        logs.query(&customer, &kql, &a.since.iso())
            .await
            .context("querying Log Analytics")
    }))?;
    let report = usage::report(t, &usage::rows(&rows)?, a.by, a.since);
    let format = if a.json { UsageFormat::Json } else { a.format };
    let text = match format {
        UsageFormat::Table => report.table(),
        UsageFormat::Markdown => report.markdown(),
        UsageFormat::Csv => report.csv(),
        UsageFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report.json())?),
    };
    print(&text)?;
    Ok(exit::OK)
}

fn insights_id(d: &Desired) -> anyhow::Result<String> {
    Ok(d.of_kind(Kind::ApplicationInsights)
        .next()
        .context("the desired state has no Application Insights")?
        .id
        .clone())
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .context("cannot write to stdout")
}

//! `oailb deploy`: plan against ARM, confirm, apply, print the endpoints.

use serde_json::json;

use crate::cli::{DeployArgs, GlobalArgs};
use crate::commands::live::{self, Live, Stop};
use crate::commands::progress::Display;
use crate::deploy::{self, Options, SoftDeleted};
use crate::desired::{placeholder, Desired, Placeholder};
use crate::exit::{self, ExitError};
use crate::output::Stream;
use crate::plan::{self, Action};

pub fn run(g: &GlobalArgs, a: &DeployArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    live::require_yes(a.yes, "deploy changes Azure resources")?;
    let stop = Stop::new(a.arm.timeout);
    let Live {
        desired,
        client,
        inputs,
        runtime,
    } = live::connect(&a.arm, &loaded)?;
    check_secrets(&desired)?;
    let display = Display::new(a.json, g.quiet, g.style(Stream::Stderr));
    let concurrency = usize::from(a.arm.concurrency);
    let plan = runtime.block_on(stop.bounded(
        "reading the live state",
        plan::read_live(&client, &desired, &inputs, concurrency),
    ))?;
    let soft_deleted: Vec<_> = plan.soft_deleted().collect();
    if !soft_deleted.is_empty() && !a.restore_soft_deleted && !a.purge_soft_deleted {
        let lines: Vec<String> = soft_deleted
            .iter()
            .filter_map(|e| desired.get(&e.address))
            .map(|r| format!("  {}", deploy::soft_deleted_message(r)))
            .collect();
        anyhow::bail!(
            "soft-deleted resources block this deploy:\n{}",
            lines.join("\n")
        );
    }
    let pending = plan.entries.iter().any(|e| e.provisioning_state.is_some());
    if !plan.has_changes() && !pending {
        display.json_line(
            json!({"event": "plan", "create": 0, "update": 0, "no_op": plan.count(Action::NoOp)}),
        );
        if !display.is_json() && !g.quiet {
            eprintln!(
                "No changes: all {} resources are up to date.",
                plan.entries.len()
            );
        }
        let keys = read_keys(a.show_secrets, &runtime, &client, &desired)?;
        print_outputs(&display, &desired, &keys, g);
        return Ok(exit::OK);
    }
    display.json_line(json!({
        "event": "plan",
        "create": plan.count(Action::Create),
        "update": plan.count(Action::Update),
        "no_op": plan.count(Action::NoOp),
    }));
    // Never ask about changes the user cannot see, --quiet or not.
    if !display.is_json() && (!g.quiet || !a.yes) {
        eprint!(
            "{}",
            plan::to_table(&plan, &desired, g.style(Stream::Stderr).color)
        );
    }
    if !a.yes && !live::confirm("Apply these changes?")? {
        eprintln!("Nothing was changed.");
        return Ok(exit::FAILURE);
    }
    let opts = Options {
        concurrency,
        soft_deleted: if a.restore_soft_deleted {
            SoftDeleted::Restore
        } else if a.purge_soft_deleted {
            SoftDeleted::Purge
        } else {
            SoftDeleted::Fail
        },
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let outcome = runtime.block_on(deploy::apply(
        &client,
        &desired,
        &plan,
        &inputs,
        &opts,
        &display,
        stop.signal(),
    ));
    let (writes, reads, polls, retries) = client.counters().get();
    let summary = json!({
        "event": "summary",
        "ok": outcome.ok(),
        "changed": outcome.done.iter().filter(|(_, a)| *a != "no-op").count(),
        "unchanged": outcome.done.iter().filter(|(_, a)| *a == "no-op").count(),
        "failed": outcome.failed.len(),
        "skipped": outcome.skipped.len(),
        "interrupted": outcome.interrupted.is_some(),
        "requests": {"writes": writes, "reads": reads, "polls": polls, "retries": retries},
    });
    display.json_line(summary.clone());
    if let Some(in_flight) = &outcome.interrupted {
        return Ok(stop.report(&display, in_flight, "deploy", "changes"));
    }
    if !outcome.ok() {
        for (address, error) in &outcome.failed {
            eprintln!("{address}: {error}");
        }
        anyhow::bail!(
            "deploy failed: {} failed, {} skipped; fix the cause and run it again (finished resources are kept)",
            outcome.failed.len(),
            outcome.skipped.len()
        );
    }
    if !display.is_json() && !g.quiet {
        eprintln!(
            "Deployed in {}: {} changed, {} unchanged ({writes} write requests).",
            live::human_duration(started.elapsed()),
            summary["changed"],
            summary["unchanged"]
        );
    }
    let keys = read_keys(a.show_secrets, &runtime, &client, &desired)?;
    print_outputs(&display, &desired, &keys, g);
    Ok(exit::OK)
}

/// Secrets shown only with `--show-secrets`: the all-access key and each
/// consumer's subscription key.
#[derive(Default)]
struct Keys {
    gateway: Option<String>,
    consumers: Vec<(String, String)>,
}

fn read_keys(
    show: bool,
    runtime: &tokio::runtime::Runtime,
    client: &crate::azure::ArmClient,
    desired: &Desired,
) -> anyhow::Result<Keys> {
    if !show {
        return Ok(Keys::default());
    }
    Ok(Keys {
        gateway: Some(runtime.block_on(deploy::gateway_key(client, desired))?),
        consumers: runtime.block_on(deploy::consumer_keys(client, desired))?,
    })
}

/// Every secret the deploy reads must be set before anything is written.
fn check_secrets(desired: &Desired) -> anyhow::Result<()> {
    let missing: Vec<String> = desired
        .resources
        .iter()
        .flat_map(|r| placeholder::collect(&r.body))
        .filter_map(|p| match p {
            Placeholder::SecretEnv { var }
                if std::env::var(&var).map_or(true, |v| v.is_empty()) =>
            {
                Some(var)
            }
            _ => None,
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ExitError::usage(format!(
        "set the environment variable(s) {} first: they hold API keys the topology stores as secret named values",
        missing.join(", ")
    ))
    .into())
}

/// Gateway URL, API URLs and an example request; the key only when asked.
fn print_outputs(display: &Display, d: &Desired, keys: &Keys, g: &GlobalArgs) {
    let key = keys.gateway.as_deref();
    let model = d
        .policies
        .first()
        .and_then(|p| p.routes.first())
        .map(|r| r.model.clone());
    let header = d
        .policies
        .first()
        .map(|p| p.subscription_key_header.clone())
        .unwrap_or_else(|| "api-key".into());
    let api_url = d
        .outputs
        .apis
        .first()
        .map(|a| a.url.clone())
        .unwrap_or_default();
    let example = model.map(|m| {
        let (op, body) = if m.contains("embedding") {
            ("embeddings", r#"{"input": "Hello"}"#)
        } else {
            ("chat/completions", r#"{"messages": [{"role": "user", "content": "Hello"}]}"#)
        };
        format!(
            "curl -sS \"{api_url}/deployments/{m}/{op}?api-version=2024-10-21\" \\\n    -H \"{header}: $OAILB_GATEWAY_KEY\" -H \"Content-Type: application/json\" \\\n    -d '{body}'"
        )
    });
    if display.is_json() {
        let mut v = json!({
            "event": "outputs",
            "gateway_url": d.outputs.gateway_url,
            "apis": d.outputs.apis,
            "example_request": example,
        });
        if let Some(k) = key {
            v["gateway_key"] = json!(k);
        }
        if !d.outputs.subscriptions.is_empty() {
            v["consumers"] = json!(d
                .outputs
                .subscriptions
                .iter()
                .map(|s| json!({
                    "consumer": s.consumer,
                    "product": s.product,
                }))
                .collect::<Vec<_>>());
        }
        if !keys.consumers.is_empty() {
            v["consumer_keys"] = json!(keys
                .consumers
                .iter()
                .map(|(c, k)| (c.clone(), json!(k)))
                .collect::<serde_json::Map<String, serde_json::Value>>());
        }
        display.json_line(v);
        return;
    }
    if g.quiet {
        return;
    }
    println!("Gateway URL:  {}", d.outputs.gateway_url);
    for a in &d.outputs.apis {
        println!("API URL:      {} ({})", a.url, a.name);
    }
    if let Some(e) = example {
        println!("Example request:\n  {e}");
    }
    match key {
        Some(k) => println!("Gateway key:  {k}"),
        None => println!(
            "Gateway key:  not shown (run with --show-secrets, or copy the built-in all-access subscription key in the portal)"
        ),
    }
    if d.outputs.subscriptions.is_empty() {
        return;
    }
    if keys.consumers.is_empty() {
        let names: Vec<&str> = d
            .outputs
            .subscriptions
            .iter()
            .map(|s| s.consumer.as_str())
            .collect();
        println!(
            "Consumer keys: not shown (run with --show-secrets): {}",
            names.join(", ")
        );
    } else {
        println!("Consumer keys:");
        for (c, k) in &keys.consumers {
            println!("  {c}: {k}");
        }
    }
}

//! `oailb destroy`: delete what the topology manages, dependents first.

use serde_json::json;

use crate::cli::{DestroyArgs, GlobalArgs};
use crate::commands::live::{self, Live, Stop};
use crate::commands::progress::Display;
use crate::deploy::{self, Options};
use crate::exit;
use crate::output::Stream;
use crate::plan;

pub fn run(g: &GlobalArgs, a: &DestroyArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    live::require_yes(a.yes, "destroy deletes Azure resources")?;
    let stop = Stop::new(a.arm.timeout);
    let Live {
        desired,
        client,
        inputs,
        runtime,
    } = live::connect(&a.arm, &loaded)?;
    let display = Display::new(a.json, g.quiet, g.style(Stream::Stderr));
    let concurrency = usize::from(a.arm.concurrency);
    let plan = runtime.block_on(stop.bounded(
        "reading the live state",
        plan::read_live(&client, &desired, &inputs, concurrency),
    ))?;
    let existing: Vec<&str> = plan
        .entries
        .iter()
        .filter(|e| e.live.is_some())
        .map(|e| e.address.as_str())
        .collect();
    display.json_line(json!({"event": "plan", "delete": existing.len()}));
    if existing.is_empty() {
        if !display.is_json() && !g.quiet {
            eprintln!("Nothing to delete: none of the topology's resources exist.");
        }
        return Ok(exit::OK);
    }
    // Never ask about deletions the user cannot see, --quiet or not.
    if !display.is_json() && (!g.quiet || !a.yes) {
        let targets: Vec<&str> = deploy::deletion_targets(&desired, &plan)
            .into_iter()
            .map(|i| desired.resources[i].address.as_str())
            .collect();
        let with_parent: Vec<&str> = existing
            .iter()
            .copied()
            .filter(|a| {
                !targets.contains(a) && *a != crate::desired::naming::address::RESOURCE_GROUP
            })
            .collect();
        eprintln!(
            "Resource group {}: these will be deleted:",
            desired.resource_group
        );
        for t in &targets {
            eprintln!("  - {t}");
        }
        if !with_parent.is_empty() {
            eprintln!("and with their parent: {}", with_parent.join(", "));
        }
        if existing.contains(&crate::desired::naming::address::RESOURCE_GROUP) {
            eprintln!("then the resource group itself, if nothing else is left in it.");
        }
        if a.purge_soft_deleted {
            eprintln!(
                "Soft-deleted accounts and the APIM service will be purged: they cannot be recovered."
            );
        } else {
            eprintln!(
                "OpenAI accounts and the APIM service stay soft-deleted (recoverable) for a while."
            );
        }
    }
    if !a.yes && !live::confirm("Delete them?")? {
        eprintln!("Nothing was deleted.");
        return Ok(exit::FAILURE);
    }
    let opts = Options {
        concurrency,
        ..Options::default()
    };
    let outcome = runtime.block_on(deploy::destroy(
        &client,
        &desired,
        &plan,
        &opts,
        a.purge_soft_deleted,
        &display,
        stop.signal(),
    ));
    let (writes, reads, polls, retries) = client.counters().get();
    display.json_line(json!({
        "event": "summary",
        "ok": outcome.ok(),
        "deleted": outcome.done.len(),
        "failed": outcome.failed.len(),
        "interrupted": outcome.interrupted.is_some(),
        "requests": {"writes": writes, "reads": reads, "polls": polls, "retries": retries},
    }));
    if let Some(in_flight) = &outcome.interrupted {
        return Ok(stop.report(&display, in_flight, "destroy", "deletions"));
    }
    if !outcome.failed.is_empty() {
        for (address, error) in &outcome.failed {
            eprintln!("{address}: {error}");
        }
        anyhow::bail!(
            "destroy failed: {} resource(s) could not be deleted",
            outcome.failed.len()
        );
    }
    if !display.is_json() && !g.quiet {
        eprintln!("Deleted {} resources.", outcome.done.len());
    }
    Ok(exit::OK)
}

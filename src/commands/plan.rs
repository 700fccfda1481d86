//! `oailb plan`: what the topology needs in Azure. `--offline` lists every
//! desired resource as a create without contacting Azure.

use serde_json::json;

use crate::cli::{GlobalArgs, PlanArgs, PlanFormat};
use crate::desired::{self, Desired};
use crate::exit;
use crate::output::{table, Stream};

/// Version of the JSON document `plan --format json` prints.
pub const SCHEMA_VERSION: u32 = 1;

pub fn run(g: &GlobalArgs, a: &PlanArgs) -> anyhow::Result<u8> {
    let result = if a.offline { offline(g, a) } else { live(g, a) };
    // With --detailed-exitcode, 2 means "changes": every other error is 1
    // (a timeout keeps its own code).
    let timed_out = |e: &anyhow::Error| {
        e.downcast_ref::<crate::exit::ExitError>()
            .is_some_and(|x| x.code == exit::TIMED_OUT)
    };
    match result {
        Err(e) if a.detailed_exitcode && !timed_out(&e) => {
            let style = g.style(Stream::Stderr);
            eprintln!("{} {e:#}", style.red(&style.bold("error:")));
            Ok(exit::FAILURE)
        }
        other => other,
    }
}

fn offline(g: &GlobalArgs, a: &PlanArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    // Offline: flag, topology, then AZURE_SUBSCRIPTION_ID (no CLI lookup).
    let sub = super::live::known_subscription(&a.arm, &loaded.topology);
    let d = desired::derive(&loaded.topology, sub.as_deref());
    if a.format == PlanFormat::Markdown {
        print!("{}", crate::plan::markdown::offline(&d));
    } else if a.json || a.format == PlanFormat::Json {
        println!("{}", serde_json::to_string_pretty(&offline_json(&d))?);
    } else {
        print!(
            "{}",
            offline_table(&d, g.style(Stream::Stdout).color, g.verbose > 0)
        );
    }
    Ok(exit::OK)
}

/// Reads every resource from ARM and prints what deploy would do.
fn live(g: &GlobalArgs, a: &PlanArgs) -> anyhow::Result<u8> {
    let loaded = super::load_topology(g)?;
    let stop = super::live::Stop::new(a.arm.timeout);
    let l = super::live::connect(&a.arm, &loaded)?;
    let plan = l.runtime.block_on(stop.bounded(
        "reading the live state",
        crate::plan::read_live(
            &l.client,
            &l.desired,
            &l.inputs,
            usize::from(a.arm.concurrency),
        ),
    ))?;
    if a.format == PlanFormat::Markdown {
        print!("{}", crate::plan::markdown::live(&plan, &l.desired));
    } else if a.json || a.format == PlanFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&crate::plan::to_json(&plan, &l.desired))?
        );
    } else {
        print!(
            "{}",
            crate::plan::to_table(&plan, &l.desired, g.style(Stream::Stdout).color)
        );
    }
    Ok(if a.detailed_exitcode && plan.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

pub fn offline_json(d: &Desired) -> serde_json::Value {
    let resources: Vec<_> = d
        .resources
        .iter()
        .map(|r| {
            json!({
                "action": "create",
                "address": r.address,
                "type": r.arm_type(),
                "name": r.name,
                "id": r.id,
                "api_version": r.api_version,
                "location": r.location(),
                "depends_on": r.depends_on,
                "body": r.body,
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "offline": true,
        "subscription": d.subscription,
        "resource_group": d.resource_group,
        "mode": d.mode.as_str(),
        "summary": {"create": d.resources.len(), "update": 0, "no_op": 0, "delete": 0},
        "resources": resources,
        "outputs": d.outputs,
    })
}

/// `verbose` adds the dependencies of each resource.
pub fn offline_table(d: &Desired, color: bool, verbose: bool) -> String {
    let style = crate::output::Style { color };
    let mut header = vec![
        String::new(),
        "ADDRESS".to_string(),
        "TYPE".to_string(),
        "NAME".to_string(),
        "LOCATION".to_string(),
    ];
    if verbose {
        header.push("DEPENDS ON".to_string());
    }
    let mut rows = vec![header];
    for r in &d.resources {
        let mut row = vec![
            "+".to_string(),
            r.address.clone(),
            r.kind.label().to_string(),
            r.name.clone(),
            r.regions(),
        ];
        if verbose {
            row.push(r.depends_on.join(", "));
        }
        rows.push(row);
    }
    let body = table(&rows, &|row, col, cell| match (row, col) {
        (0, _) => style.bold(cell),
        (_, 0) => style.green(cell),
        _ => cell.to_string(),
    });
    let sub = if d.subscription_known {
        d.subscription.clone()
    } else {
        format!("{} (not set)", d.subscription)
    };
    format!(
        "Offline plan for resource group {} in subscription {sub}: {} mode\n\n{body}\n{} {} to create. Run without --offline against Azure to see changes.\n",
        d.resource_group,
        d.mode.as_str(),
        style.bold("Plan:"),
        d.resources.len(),
    )
}

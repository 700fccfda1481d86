//! `plan --format markdown`: a compact summary for a pull-request comment or
//! a CI job summary. Counts, the resources that change, their changed
//! properties, and a unified diff of every policy that changes.

use std::fmt::Write as _;

use serde_json::Value;

use super::{short, Action, Plan};
use crate::desired::{Desired, Kind};

/// Lines of policy diff shown per API; longer diffs are cut with a note
/// (GitHub comments hold 65,536 characters).
const MAX_DIFF_LINES: usize = 300;

/// The live plan as Markdown.
pub fn live(plan: &Plan, desired: &Desired) -> String {
    let mut out = header(desired, false);
    let (create, update, no_op) = (
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::NoOp),
    );
    if create + update == 0 {
        let _ = writeln!(out, "**No changes.** All {no_op} resources are up to date.");
        notes(&mut out, plan);
        return out;
    }
    let _ = writeln!(
        out,
        "**{create} to create, {update} to update, {no_op} unchanged.**\n"
    );
    out.push_str("| Action | Resource | Type | Name |\n|---|---|---|---|\n");
    for e in plan.entries.iter().filter(|e| e.action != Action::NoOp) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            e.action.as_str(),
            code(&e.address),
            e.kind.label(),
            code(&e.name)
        );
    }
    let updates: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| e.action == Action::Update && e.kind != Kind::ApimApiPolicy)
        .collect();
    if !updates.is_empty() {
        out.push_str("\n<details><summary>Changed properties</summary>\n\n");
        out.push_str("| Resource | Property | Before | After |\n|---|---|---|---|\n");
        for e in updates {
            for c in &e.changes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    code(&e.address),
                    code(&c.path),
                    code(&short(&c.before)),
                    code(&short(&c.after))
                );
            }
        }
        out.push_str("\n</details>\n");
    }
    let policies: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| e.kind == Kind::ApimApiPolicy && e.action == Action::Update)
        .collect();
    if !policies.is_empty() {
        out.push_str("\n### Policy changes\n");
        for e in policies {
            let (before, after) = e
                .changes
                .iter()
                .find(|c| c.path == "properties.value")
                .map(|c| (text(&c.before), text(&c.after)))
                // APIM hands policies back in its own layout and encoding.
                .map(|(b, a)| {
                    let layout = |x: String| super::policy_xml::pretty(&x).unwrap_or(x);
                    (layout(b), layout(a))
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "\n<details open><summary><code>{}</code></summary>\n\n```diff\n{}```\n\n</details>\n",
                html(&e.address),
                policy_diff(&before, &after)
            );
        }
    }
    notes(&mut out, plan);
    out
}

/// The offline plan (everything to create) as Markdown.
pub fn offline(desired: &Desired) -> String {
    let mut out = header(desired, true);
    let _ = writeln!(
        out,
        "**{} to create** (offline: Azure was not contacted).\n",
        desired.resources.len()
    );
    out.push_str("| Action | Resource | Type | Name | Location |\n|---|---|---|---|---|\n");
    for r in &desired.resources {
        let _ = writeln!(
            out,
            "| create | {} | {} | {} | {} |",
            code(&r.address),
            r.kind.label(),
            code(&r.name),
            r.location().unwrap_or("")
        );
    }
    out
}

fn header(d: &Desired, offline: bool) -> String {
    format!(
        "## oailb plan{}\n\nResource group {} in subscription {} ({}), {} mode\n\n",
        if offline { " (offline)" } else { "" },
        code(&d.resource_group),
        code(&d.subscription),
        d.cloud.as_str(),
        d.mode.as_str()
    )
}

fn notes(out: &mut String, plan: &Plan) {
    let mut lines = Vec::new();
    for e in &plan.entries {
        if e.soft_deleted {
            lines.push(format!(
                "- {}: a soft-deleted resource holds this name; deploy needs `--restore-soft-deleted` or `--purge-soft-deleted`",
                code(&e.address)
            ));
        }
        if let Some(state) = &e.provisioning_state {
            lines.push(format!(
                "- {}: provisioning state {}",
                code(&e.address),
                code(state)
            ));
        }
        for n in &e.notes {
            lines.push(format!("- {}: {}", code(&e.address), cell(n)));
        }
    }
    if !lines.is_empty() {
        let _ = write!(out, "\n**Notes**\n\n{}\n", lines.join("\n"));
    }
}

/// A unified diff of two policy documents, cut at [`MAX_DIFF_LINES`].
fn policy_diff(before: &str, after: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header("live", "topology")
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for l in lines.iter().take(MAX_DIFF_LINES) {
        // A fence inside the diff would end the code block early.
        out.push_str(&l.replace("```", "`\u{200b}``"));
        out.push('\n');
    }
    if lines.len() > MAX_DIFF_LINES {
        let _ = writeln!(
            out,
            "… {} more lines (oailb render-policy shows the whole policy)",
            lines.len() - MAX_DIFF_LINES
        );
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Inline code in a table cell: pipes escaped, a fence long enough for any
/// backticks inside.
fn code(s: &str) -> String {
    let s = cell(s);
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Text safe inside one table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(cell("a\nb"), "a b");
    }

    #[test]
    fn policy_diff_is_unified_and_bounded() {
        let d = policy_diff("<a>\n<b/>\n</a>\n", "<a>\n<c/>\n</a>\n");
        assert!(d.contains("--- live\n+++ topology\n"), "{d}");
        assert!(d.contains("-<b/>\n+<c/>\n"), "{d}");
        let long_before: String = (0..1000).map(|i| format!("{i}\n")).collect();
        let d = policy_diff(&long_before, "");
        assert_eq!(d.lines().count(), MAX_DIFF_LINES + 1);
        assert!(d.contains("more lines"));
    }
}

//! `plan --format markdown`: a compact summary for a pull-request comment or
//! a CI job summary. Counts, the resources that change, their changed
//! properties, and a unified diff of every policy that changes.

use std::fmt::Write as _;

use super::policy_diff::PolicyDiff;
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
            let diff = e
                .changes
                .iter()
                .find_map(|c| PolicyDiff::of(e, c, MAX_DIFF_LINES))
                .unwrap_or_else(|| PolicyDiff::new("", "", MAX_DIFF_LINES));
            let _ = write!(
                out,
                "\n<details open><summary><code>{}</code></summary>\n\n```diff\n{}```\n\n</details>\n",
                html(&e.address),
                fenced(&diff)
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

/// The diff's lines for a code block.
fn fenced(diff: &PolicyDiff) -> String {
    let mut out = String::new();
    for l in &diff.lines {
        // A fence inside the diff would end the code block early.
        out.push_str(&l.replace("```", "`\u{200b}``"));
        out.push('\n');
    }
    if let Some(note) = diff.cut_note() {
        out.push_str(&note);
        out.push('\n');
    }
    out
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
    fn a_fence_in_the_policy_cannot_end_the_code_block() {
        let d = fenced(&PolicyDiff::new("a\n", "```\n", MAX_DIFF_LINES));
        assert!(d.contains("+`\u{200b}``\n"), "{d}");
    }
}

//! The unified diff of a changed API policy, from the live XML to the
//! topology's, cut to a bounded length: the plan table and the Markdown
//! summary show it instead of two truncated strings.

use serde_json::Value;

use super::{Change, Entry};
use crate::desired::Kind;

/// Characters of a diff line shown; longer lines end in `…`. oailb's own
/// longest line, the backend list, has about 150 per backend (7,500 for the
/// 50 a policy may hold); this bounds a pathological live policy.
const MAX_LINE_CHARS: usize = 20_000;

/// A policy diff, cut after `max_lines` lines.
#[derive(Debug, PartialEq, Eq)]
pub struct PolicyDiff {
    pub lines: Vec<String>,
    /// Lines left out.
    pub more: usize,
}

impl PolicyDiff {
    pub fn new(before: &str, after: &str, max_lines: usize) -> PolicyDiff {
        let text = similar::TextDiff::from_lines(before, after)
            .unified_diff()
            .context_radius(3)
            .header("live", "topology")
            .to_string();
        let total = text.lines().count();
        let lines = text
            .lines()
            .take(max_lines)
            .map(|l| {
                if l.chars().count() > MAX_LINE_CHARS {
                    format!("{}…", l.chars().take(MAX_LINE_CHARS).collect::<String>())
                } else {
                    l.to_string()
                }
            })
            .collect();
        PolicyDiff {
            lines,
            more: total.saturating_sub(max_lines),
        }
    }

    /// The diff of the policy XML of a policy resource's update, if `change`
    /// is that XML. Both sides in one layout: APIM hands policies back in
    /// its own layout and encoding (`policy_xml`), which is not a change.
    pub fn of(entry: &Entry, change: &Change, max_lines: usize) -> Option<PolicyDiff> {
        let layout = |v: &Value| {
            let t = text(v);
            super::policy_xml::pretty(&t).unwrap_or(t)
        };
        (entry.kind == Kind::ApimApiPolicy && change.path == "properties.value")
            .then(|| PolicyDiff::new(&layout(&change.before), &layout(&change.after), max_lines))
    }

    /// The line that says how much was cut.
    pub fn cut_note(&self) -> Option<String> {
        (self.more > 0).then(|| {
            format!(
                "… {} more lines (oailb render-policy shows the whole policy)",
                self.more
            )
        })
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_and_bounded() {
        let d = PolicyDiff::new("<a>\n<b/>\n</a>\n", "<a>\n<c/>\n</a>\n", 300);
        assert_eq!(
            d.lines,
            [
                "--- live",
                "+++ topology",
                "@@ -1,3 +1,3 @@",
                " <a>",
                "-<b/>",
                "+<c/>",
                " </a>"
            ]
        );
        assert_eq!(d.cut_note(), None);
        let long_before: String = (0..1000).map(|i| format!("{i}\n")).collect();
        let d = PolicyDiff::new(&long_before, "", 300);
        assert_eq!(d.lines.len(), 300);
        assert_eq!(
            d.cut_note().unwrap(),
            "… 703 more lines (oailb render-policy shows the whole policy)"
        );
        let d = PolicyDiff::new(&"x".repeat(100_000), "y", 10);
        assert!(d
            .lines
            .iter()
            .all(|l| l.chars().count() <= MAX_LINE_CHARS + 1));
    }
}

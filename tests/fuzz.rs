//! Property tests for the parser, validator and desired-state derivation:
//! no input makes them panic, and every valid topology derives a consistent
//! resource graph. (A stable-toolchain stand-in for a cargo-fuzz target.)

use std::collections::HashSet;

use oailb::desired;
use oailb::topology::{self, Source};
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRunner};

const EXAMPLES: &[&str] = &[
    include_str!("../examples/seed.yaml"),
    include_str!("../examples/ptu-spillover.yaml"),
    include_str!("../examples/multi-model.yaml"),
    include_str!("../templates/init/oailb.yaml"),
];

const TOKENS: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "&a ",
    "*a",
    "0",
    "-1",
    "0613",
    "99999999999999999999999",
    "~",
    "<<: *a",
    "!!str ",
    "!!int ",
    "!custom ",
    "\t",
    "null",
    "x",
    "  ",
    "\n",
    "? ",
    "|",
    ">",
    "#",
    "1e999",
    ".nan",
    "0x1F",
    "---",
    "...",
    "%YAML 1.2",
    "@",
    "`",
    "\u{feff}",
    "é",
    "\\",
    "priority: 0",
    "mode: pool",
];

/// Applies one mutation to `text` chosen by the three numbers.
fn mutate(text: &str, op: u8, at: usize, token: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len().max(1);
    let i = at % n;
    let tok = TOKENS[token % TOKENS.len()];
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    if out.is_empty() {
        out.push(String::new());
    }
    let last = out.len() - 1;
    match op % 6 {
        0 => {
            out.remove(i.min(last));
        }
        1 => out.insert(i, lines.get(i).copied().unwrap_or("").to_string()),
        2 => {
            let l = &mut out[i.min(last)];
            let cut = (at / n) % (l.len() + 1);
            let cut = (0..=cut)
                .rev()
                .find(|c| l.is_char_boundary(*c))
                .unwrap_or(0);
            l.insert_str(cut, tok);
        }
        3 => {
            let l = &mut out[i.min(last)];
            if let Some((k, _)) = l.split_once(": ") {
                *l = format!("{k}: {tok}");
            }
        }
        4 => {
            let keep = at % (text.len() + 1);
            let keep = (0..=keep)
                .rev()
                .find(|c| text.is_char_boundary(*c))
                .unwrap_or(0);
            return text[..keep].to_string();
        }
        _ => out.insert(i, format!("{}{tok}", " ".repeat(at % 9))),
    }
    out.join("\n")
}

/// Checks the invariants every derived desired state must hold.
fn check_desired(t: &topology::Topology) {
    let d = desired::derive(t, None);
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for r in &d.resources {
        for dep in &r.depends_on {
            assert!(
                seen.contains(dep.as_str()),
                "{} depends on {dep}, which comes later or not at all",
                r.address
            );
        }
        assert!(
            seen.insert(r.address.as_str()),
            "duplicate address {}",
            r.address
        );
        assert!(
            ids.insert(r.id.to_ascii_lowercase()),
            "duplicate id {}",
            r.id
        );
        assert!(r.id.starts_with('/'), "{}", r.id);
    }
    assert_eq!(d.policies.len(), t.apis().len());
    for p in &d.policies {
        for route in &p.routes {
            assert!(
                !route.backends.is_empty(),
                "model {} has no backend",
                route.model
            );
            for b in &route.backends {
                assert!(
                    b.url.ends_with("/openai") && !b.url.contains("//openai"),
                    "{}",
                    b.url
                );
            }
        }
    }
    // Deterministic.
    let again = desired::derive(t, None);
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

/// Cases per property; `PROPTEST_CASES` cannot lower it (a run that checks
/// nothing must not pass).
const CASES: u32 = 400;

/// Runs `test` on `CASES` generated values (after the saved regressions);
/// `test` says whether the value got as far as the desired-state checks.
/// Returns how many cases ran and how many of them got that far.
fn run_cases<S: Strategy>(
    strategy: S,
    test: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) -> (usize, usize) {
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    };
    let ran = AtomicUsize::new(0);
    let checked = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |v| {
        ran.fetch_add(1, Ordering::Relaxed);
        if test(v)? {
            checked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let ran = ran.into_inner();
    assert!(ran >= CASES as usize, "only {ran} of {CASES} cases ran");
    (ran, checked.into_inner())
}

#[test]
fn arbitrary_text_never_panics() {
    run_cases(any::<String>(), |text| {
        let _ = topology::load(Source::new("fuzz.yaml", text));
        Ok(false)
    });
}

#[test]
fn yaml_like_text_never_panics() {
    run_cases(
        proptest::collection::vec(0usize..TOKENS.len(), 0..60),
        |parts| {
            let text: String = parts.iter().map(|i| TOKENS[*i]).collect();
            let _ = topology::load(Source::new("fuzz.yaml", text));
            Ok(false)
        },
    );
}

#[test]
fn mutated_examples_never_panic() {
    let (_, derived) = run_cases(
        (
            0usize..EXAMPLES.len(),
            proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..5),
        ),
        |(ex, ops)| {
            let mut text = EXAMPLES[ex].to_string();
            for (op, at, tok) in ops {
                text = mutate(&text, op, at, tok);
            }
            Ok(match topology::load(Source::new("fuzz.yaml", text)) {
                Ok(loaded) => {
                    check_desired(&loaded.topology);
                    true
                }
                Err(_) => false,
            })
        },
    );
    // Mutations that keep a topology valid must be common enough for the
    // desired-state invariants to be exercised at all.
    assert!(
        derived >= CASES as usize / 20,
        "only {derived} of {CASES} mutated examples were still valid"
    );
}

#[test]
fn generated_topologies_validate_and_derive() {
    let strategy = (
        proptest::collection::vec(
            proptest::collection::vec((0usize..8, 0u8..4, 0u32..4), 1..5),
            1..4,
        ),
        1usize..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    );
    let (ran, derived) = run_cases(
        strategy,
        |(groups, models, pool, user_assigned, monitoring)| {
            let regions = [
                "eastus",
                "eastus2",
                "westus3",
                "swedencentral",
                "francecentral",
                "uksouth",
                "japaneast",
                "canadaeast",
            ];
            let mut y = String::from("resource_group: rg-gen\nlocation: eastus\napim:\n  name: contoso-generated-gw\n  publisher_name: C\n  publisher_email: a@contoso.com\n");
            if user_assigned {
                y.push_str("  identity: user-assigned\n");
            }
            y.push_str("api: {name: openai, path: openai}\n");
            if monitoring {
                y.push_str("monitoring: {sampling_percentage: 10}\n");
            }
            y.push_str(&format!(
                "load_balancing: {{mode: {}}}\n",
                if pool { "pool" } else { "policy" }
            ));
            y.push_str("models:\n");
            for m in 0..models {
                y.push_str(&format!("  - {{name: model-{m}, model: gpt-4o, version: \"2024-11-20\", capacity: {}}}\n", 10 * (m + 1)));
            }
            y.push_str("priority_groups:\n");
            let mut n = 0;
            for (gi, backends) in groups.iter().enumerate() {
                y.push_str(&format!("  - priority: {}\n    backends:\n", gi + 1));
                for (region, kind, weight) in backends {
                    n += 1;
                    let name = format!("b{n}");
                    match kind {
                    // Existing accounts by id, with managed identity.
                    0 => y.push_str(&format!("      - name: {name}\n        resource_id: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/acct-{name}\n")),
                    // Existing accounts by endpoint, with a key (policy mode only mixes auth).
                    1 if !pool => y.push_str(&format!("      - name: {name}\n        endpoint: \"https://acct-{name}.openai.azure.com/\"\n        auth: api-key\n        api_key: {{env: KEY_{n}}}\n")),
                    _ => y.push_str(&format!("      - name: {name}\n        region: {}\n", regions[*region])),
                }
                    if *weight > 0 {
                        y.push_str(&format!("        weight: {weight}\n"));
                    }
                }
            }
            let loaded = topology::load(Source::new("gen.yaml", y.clone()));
            prop_assert!(
                loaded.is_ok(),
                "{}\n{}",
                y,
                loaded.err().map(|e| e.to_string()).unwrap_or_default()
            );
            check_desired(&loaded.unwrap().topology);
            Ok(true)
        },
    );
    assert_eq!(derived, ran, "every generated topology is valid");
}

#[test]
fn examples_derive_consistently() {
    for ex in EXAMPLES {
        let loaded = topology::load(Source::new("example.yaml", *ex)).unwrap();
        check_desired(&loaded.topology);
    }
}

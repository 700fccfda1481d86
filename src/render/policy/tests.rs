use super::*;
use crate::desired::derive;
use crate::topology;

fn desired(example: &str) -> Desired {
    let path = format!("{}/examples/{example}.yaml", env!("CARGO_MANIFEST_DIR"));
    let loaded = topology::load_file(Path::new(&path)).expect("example is valid");
    derive(&loaded.topology, None)
}

#[test]
fn renders_every_example_deterministically() {
    for ex in ["seed", "ptu-spillover", "multi-model"] {
        let d = desired(ex);
        for p in &d.policies {
            let a = render_api(&d, &p.api, None).unwrap();
            let b = render_api(&d, &p.api, None).unwrap();
            assert_eq!(a, b);
        }
    }
}

/// Values no valid topology can hold (validation rejects them), pushed
/// through the renderer anyway: they must neither break the XML nor reach
/// the C# or a named value unescaped.
fn hostile() -> ApiPolicy {
    let mut p = desired("multi-model").policies[0].clone();
    let evil = "x\"'<&>@{{nv}}@(1)--";
    p.api = format!("api{evil}");
    p.subscription_key_header = format!("key{evil}");
    p.subscription_key_query = format!("q{evil}");
    p.settings.backend_header = Some(format!("h{evil}"));
    let r = &mut p.routes[0];
    r.model = format!("m{evil}");
    for b in &mut r.backends {
        b.name = format!("{}{evil}", b.name);
        b.url = format!("{}{evil}", b.url);
        b.deployment = format!("d{evil}");
    }
    p
}

#[test]
fn hostile_values_cannot_break_or_inject() {
    let p = hostile();
    let evil = "x\"'<&>@{{nv}}@(1)--";
    for mode in [Mode::Policy, Mode::Pool] {
        let mut p = p.clone();
        p.mode = mode;
        if mode == Mode::Pool {
            for r in &mut p.routes {
                r.pool_id = Some(format!("pool-{}{evil}", r.model));
            }
        }
        let xml = render(&Templates::load(None).unwrap(), &p).unwrap();
        let escaped = to_escaped_xml(&xml);
        let doc = roxmltree::Document::parse(&escaped).expect("well-formed XML");
        // Literal attributes round-trip exactly.
        let header = doc
            .descendants()
            .filter(|n| n.has_tag_name("set-header"))
            .find(|n| n.attribute("name").is_some_and(|v| v.starts_with("key")))
            .unwrap();
        assert_eq!(
            header.attribute("name"),
            Some(p.subscription_key_header.as_str())
        );
        if mode == Mode::Pool {
            let sbs = doc
                .descendants()
                .find(|n| n.has_tag_name("set-backend-service"))
                .unwrap();
            assert_eq!(sbs.attribute("backend-id"), p.routes[0].pool_id.as_deref());
        } else {
            let h = doc
                .descendants()
                .filter(|n| n.has_tag_name("set-header"))
                .find(|n| n.attribute("name").is_some_and(|v| v.starts_with('h')))
                .unwrap();
            assert_eq!(h.attribute("name"), p.settings.backend_header.as_deref());
        }
        // No value reaches an expression raw, and in the document text none
        // can start a named value or an expression: the only named values are
        // those the template asks for.
        for n in doc.descendants() {
            for a in n.attributes() {
                if a.value().starts_with('@') {
                    assert!(!a.value().contains("x\""), "{}={}", a.name(), a.value());
                }
            }
            if let Some(t) = n.text().filter(|t| t.trim_start().starts_with('@')) {
                assert!(!t.contains("x\"'<"), "{t}");
            }
        }
        // Comments are text to APIM, but still must not hold a named value.
        assert!(!xml.contains("{{nv}}"));
        let code: String = xml
            .split("<!--")
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split_once("-->").unwrap().1
                }
            })
            .collect();
        // `@(1)` inside a literal is text (only a value that starts with `@` is
        // an expression); a raw quote would end an attribute or a C# string.
        for raw in ["x\"'"] {
            if let Some(i) = code.find(raw) {
                panic!("raw {raw:?} in: {}", &code[i.saturating_sub(120)..i + 20]);
            }
        }
        let named: Vec<&str> = xml.match_indices("{{").map(|(i, _)| &xml[i..]).collect();
        for n in named {
            assert!(
                n.starts_with("{{partner"),
                "unexpected named value {}",
                &n[..20]
            );
        }
    }
}

#[test]
fn backend_literal_is_json_that_decodes_to_the_topology_values() {
    let p = hostile();
    let lit = backends_literal(&p.routes[0], true);
    // Json.NET reads single quotes; serde_json needs double: no value holds
    // a raw quote, so swapping them is exact.
    assert!(!lit.contains('"') && !lit.contains('<') && !lit.contains('&') && !lit.contains('@'));
    let v: serde_json::Value = serde_json::from_str(&lit.replace('\'', "\"")).unwrap();
    let first = &v[0];
    let b = ordered(&p.routes[0])[0];
    assert_eq!(first["name"], b.name.as_str());
    assert_eq!(first["url"], b.url.as_str());
    assert_eq!(first["deployment"], b.deployment.as_str());
}

#[test]
fn fingerprint_follows_the_backend_list() {
    let d = desired("seed");
    let r = &d.policies[0].routes[0];
    let mut changed = r.clone();
    changed.backends[0].weight += 1;
    assert_ne!(route_fingerprint(r), route_fingerprint(&changed));
    assert_eq!(route_fingerprint(r), route_fingerprint(&r.clone()));
    assert_eq!(route_fingerprint(r).len(), 16);
    assert!(cache_key("apis/x", r).starts_with("oailb:apis/x:gpt-35-turbo:"));
    assert_ne!(cache_key("apis/x", r), cache_key("apis/y", r));
}

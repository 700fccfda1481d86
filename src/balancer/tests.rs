use super::*;

fn settings() -> Settings {
    Settings::from(&LoadBalancing::default())
}

fn backend(name: &str, priority: u32, weight: u32) -> Backend {
    Backend {
        name: name.into(),
        priority,
        weight,
        url: format!("https://{name}.openai.azure.com/openai"),
        deployment: "gpt-4o".into(),
    }
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const NOW: u64 = 1_700_000_000_000;

#[test]
fn lowest_priority_wins_and_weights_split_it() {
    let route = vec![
        backend("a", 1, 100),
        backend("b", 1, 300),
        backend("c", 2, 1),
    ];
    let s = settings();
    let m = Marks::new();
    assert_eq!(
        choose(&route, &m, &[], NOW, &mut || 0.0, &s),
        Choice::Forward(0)
    );
    assert_eq!(
        choose(&route, &m, &[], NOW, &mut || 0.2499, &s),
        Choice::Forward(0)
    );
    assert_eq!(
        choose(&route, &m, &[], NOW, &mut || 0.25, &s),
        Choice::Forward(1)
    );
    assert_eq!(
        choose(&route, &m, &[], NOW, &mut || 0.9999, &s),
        Choice::Forward(1)
    );
    // Both of priority 1 tried: priority 2 takes over.
    assert_eq!(
        choose(&route, &m, &[0, 1], NOW, &mut || 0.5, &s),
        Choice::Forward(2)
    );
}

#[test]
fn marks_expire_and_all_busy_reports_earliest_recovery() {
    let route = vec![backend("a", 1, 1), backend("b", 2, 1)];
    let s = settings();
    let mut m = Marks::new();
    m.insert("a".into(), NOW + 2_500);
    m.insert("b".into(), NOW + 30_000);
    assert_eq!(
        choose(&route, &m, &[], NOW, &mut || 0.5, &s),
        Choice::AllBusy {
            retry_after_seconds: 3
        }
    );
    assert_eq!(
        choose(&route, &m, &[], NOW + 2_500, &mut || 0.5, &s),
        Choice::Forward(0)
    );
    // Less than a second left still says 1, never 0.
    assert_eq!(retry_after_seconds(&route, &m, NOW + 2_400, &s), 1);
}

#[test]
fn forward_to_first_sends_the_first_request_anyway() {
    let route = vec![backend("a", 2, 1), backend("b", 1, 1)];
    let s = Settings {
        when_all_busy: WhenAllBusy::ForwardToFirst,
        ..settings()
    };
    let mut m = Marks::new();
    m.insert("a".into(), NOW + 5_000);
    m.insert("b".into(), NOW + 5_000);
    assert_eq!(
        choose(&route, &m, &[], NOW, &mut || 0.5, &s),
        Choice::Forward(1)
    );
    assert!(matches!(
        choose(&route, &m, &[1], NOW, &mut || 0.5, &s),
        Choice::AllBusy { .. }
    ));
}

#[test]
fn delay_headers_in_order_with_bounds() {
    let s = settings(); // default 10 s, max 60 s
    let d = |pairs: &[(&str, &str)]| retry_delay_ms(&h(pairs), NOW, &s);
    assert_eq!(d(&[("Retry-After", "7")]), 7_000);
    assert_eq!(
        d(&[("retry-after", "7"), ("retry-after-ms", "1500")]),
        7_000
    );
    assert_eq!(d(&[("retry-after-ms", "1500")]), 1_500);
    assert_eq!(d(&[("x-ratelimit-reset-requests", "6s")]), 6_000);
    assert_eq!(d(&[("x-ratelimit-reset-requests", "1m0s")]), 60_000);
    assert_eq!(d(&[("x-ratelimit-reset-tokens", "2500ms")]), 2_500);
    assert_eq!(d(&[("x-ratelimit-reset-tokens", "12")]), 12_000);
    // Unreadable values fall through to the next header, then the default.
    assert_eq!(
        d(&[("Retry-After", "soon"), ("x-ratelimit-reset-tokens", "3s")]),
        3_000
    );
    assert_eq!(d(&[("Retry-After", "-5")]), 10_000);
    assert_eq!(d(&[]), 10_000);
    // Bounds: at least 1 s, at most the maximum; huge numbers cannot overflow.
    assert_eq!(d(&[("retry-after-ms", "250")]), 1_000);
    assert_eq!(d(&[("Retry-After", "0")]), 1_000);
    assert_eq!(d(&[("Retry-After", "86400")]), 60_000);
    assert_eq!(d(&[("Retry-After", "99999999999999999999999999")]), 60_000);
    // HTTP date, 20 s after NOW (2023-11-14T22:13:20Z); a past date is 1 s.
    assert_eq!(
        d(&[("Retry-After", "Tue, 14 Nov 2023 22:13:40 GMT")]),
        20_000
    );
    assert_eq!(
        d(&[("Retry-After", "Tue, 14 Nov 2023 22:13:00 GMT")]),
        1_000
    );
}

#[test]
fn parsers_reject_garbage() {
    for v in ["", "s", "1x", "1.s", ".5s", "1m0", "5 s", "1e3", "1..2s"] {
        assert_eq!(parse_duration_ms(v), None, "{v:?}");
    }
    assert_eq!(parse_duration_ms("1h2m3.5s"), Some(3_723_500.0));
    assert_eq!(
        parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777_000)
    );
    for v in [
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
    ] {
        assert_eq!(parse_http_date_ms(v), None, "{v:?}");
    }
}

#[test]
fn marks_round_trip_and_tolerate_junk() {
    let mut m = Marks::new();
    m.insert("a".into(), NOW + 1);
    m.insert("b".into(), NOW - 1);
    let text = encode_marks(&m, NOW);
    assert_eq!(text, format!("a={}", NOW + 1));
    let back = decode_marks(&format!("{text};junk;=5;c=x;d=-1"));
    assert_eq!(back.len(), 1);
    assert_eq!(decode_marks(""), Marks::new());
}

#[test]
fn handle_retries_then_rejects_and_remembers() {
    let route = Route {
        cache_key: "k".into(),
        backends: vec![backend("a", 1, 1), backend("b", 2, 1)],
    };
    let s = settings();
    let mut cache = Cache::default();
    let throttled = |b: &Backend| Reply::Status {
        status: 429,
        headers: h(&[("Retry-After", if b.name == "a" { "5" } else { "20" })]),
    };
    let out = handle(&mut cache, &route, NOW, &s, &mut || 0.0, &mut { throttled });
    assert_eq!(out.attempts, vec!["a", "b"]);
    assert_eq!((out.status, out.retry_after_seconds), (429, Some(5)));
    // The next request does not call anyone until a's mark ends.
    let out = handle(
        &mut cache,
        &route,
        NOW + 1_000,
        &s,
        &mut || 0.0,
        &mut |_| panic!("no backend may be called"),
    );
    assert_eq!((out.status, out.retry_after_seconds), (429, Some(4)));
    let out = handle(
        &mut cache,
        &route,
        NOW + 5_000,
        &s,
        &mut || 0.0,
        &mut |_| Reply::Status {
            status: 200,
            headers: vec![],
        },
    );
    assert_eq!(out.served_by.as_deref(), Some("a"));
    // The cache entry lives at least as long as the longest mark.
    let long = Settings {
        max_delay_ms: 90_500,
        ..settings()
    };
    assert_eq!(cache_duration_seconds(&long), 91);
    assert_eq!(cache_duration_seconds(&s), 60);
}

//! Client authentication: the key comes in the API's subscription-key
//! header (default `api-key`), `Authorization: Bearer`, or the API's
//! subscription-key query parameter, and must be one of `serve.client_keys`
//! (compared by SHA-256 in constant time). The key is never forwarded: the
//! forwarding layer drops these headers and the parameter.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

use super::config::{ApiRuntime, ClientKeys};
use super::routing::query_param;

/// What the client presented.
pub fn presented_key<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    api: &ApiRuntime,
) -> Option<String> {
    if let Some(v) = headers
        .get(api.key_header.as_str())
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.trim().to_string());
    }
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = v.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(token.trim().to_string());
        }
    }
    query_param(query, &api.key_query).map(percent_decode)
}

/// Whether the request may pass: no keys configured, or a known key.
pub fn authorized(keys: &ClientKeys, presented: Option<&str>) -> Result<(), &'static str> {
    if keys.is_empty() {
        return Ok(());
    }
    match presented {
        None | Some("") => Err("Access denied due to a missing key. Send it in the api-key header or as Authorization: Bearer."),
        Some(k) if keys.accepts(k) => Ok(()),
        Some(_) => Err("Access denied due to an invalid key."),
    }
}

fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_of_query_keys() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

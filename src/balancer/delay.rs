//! How long a backend asked not to be called: read from its answer's
//! headers, most precise first. Every parser returns `None` on input it does
//! not understand; none of them can panic.

use super::Settings;

/// Headers read for the delay, in order; the first one that parses wins.
/// `retry-after-ms` comes first: Azure sends it next to a `Retry-After`
/// rounded up to whole seconds.
pub const DELAY_HEADERS: [&str; 4] = [
    "retry-after-ms",
    "retry-after",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
];

/// The delay a backend announced, in milliseconds, capped at the maximum:
/// `retry-after-ms`, else `Retry-After` (seconds or an HTTP date), else
/// `x-ratelimit-reset-requests`, else `x-ratelimit-reset-tokens` (seconds or
/// durations such as `6s`, `1m0s`, `250ms`). No floor: a backend that says
/// 40 ms is called again after 40 ms. `None` when no header says anything.
pub fn announced_delay_ms(headers: &[(String, String)], now_ms: u64, s: &Settings) -> Option<u64> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let ms = DELAY_HEADERS.iter().find_map(|name| {
        let v = header(name)?;
        match *name {
            "retry-after-ms" => parse_number(v),
            "retry-after" => parse_seconds_ms(v)
                .or_else(|| parse_http_date_ms(v).map(|at| at.saturating_sub(now_ms) as f64)),
            _ => parse_seconds_ms(v).or_else(|| parse_duration_ms(v)),
        }
    })?;
    // Compared as a float first, so huge values cannot overflow.
    if ms >= s.max_delay_ms as f64 {
        return Some(s.max_delay_ms);
    }
    Some(ms.ceil() as u64)
}

/// `12` or `1.5`: digits with an optional fraction; no sign, no exponent.
fn parse_number(v: &str) -> Option<f64> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (v, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    v.parse().ok()
}

fn parse_seconds_ms(v: &str) -> Option<f64> {
    parse_number(v).map(|s| s * 1000.0)
}

/// Go-style durations as OpenAI sends them: `6s`, `1m0s`, `250ms`, `1h2m3.5s`.
pub fn parse_duration_ms(v: &str) -> Option<f64> {
    let mut rest = v;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value = parse_number(&rest[..n])?;
        rest = &rest[n..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1.0, 2)
        } else if rest.starts_with('h') {
            (3_600_000.0, 1)
        } else if rest.starts_with('m') {
            (60_000.0, 1)
        } else if rest.starts_with('s') {
            (1000.0, 1)
        } else {
            return None;
        };
        total += value * unit_ms;
        rest = &rest[len..];
    }
    Some(total)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as milliseconds since the
/// Unix epoch.
pub fn parse_http_date_ms(v: &str) -> Option<u64> {
    let parts: Vec<&str> = v.split(' ').collect();
    let [day_name, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    if day_name.len() != 4 || !day_name.ends_with(',') || day.len() != 2 || year.len() != 4 {
        return None;
    }
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let day = num(day)?;
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year = num(year)?;
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, m, s) = (num(h)?, num(m)?, num(s)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(((days * 24 + h) * 60 + m) * 60_000 + s * 1000)
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

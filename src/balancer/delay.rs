//! What an answer's headers tell the balancer, read once per answer
//! ([`Signals::from_headers`]): the remaining-quota figures and how long the
//! backend asked not to be called, most precise first. Every parser returns
//! `None` on input it does not understand; none of them can panic.

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

/// A delay as the answer announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// This many milliseconds, rounded up (saturating).
    Ms(u64),
    /// Until this instant, ms since the Unix epoch (`Retry-After` as an
    /// HTTP date).
    Until(u64),
}

/// What one answer says to the balancer. `serve` and the policy read it from
/// the answer's headers; `simulate` builds it from its backend model
/// directly, without writing and re-reading text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signals {
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<i64>,
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<i64>,
    /// The first of [`DELAY_HEADERS`] that parses.
    pub delay: Option<Delay>,
}

impl Delay {
    /// Parsed values are never negative; `as` saturates, so huge ones
    /// cannot overflow.
    fn from_ms(ms: f64) -> Delay {
        Delay::Ms(ms.ceil() as u64)
    }
}

impl Signals {
    /// Reads the headers; names match in any case, and of a repeated header
    /// the first one counts.
    pub fn from_headers(headers: &[(String, String)]) -> Signals {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        let delay = DELAY_HEADERS.iter().find_map(|name| {
            let v = header(name)?;
            match *name {
                "retry-after-ms" => parse_number(v).map(Delay::from_ms),
                "retry-after" => parse_seconds_ms(v)
                    .map(Delay::from_ms)
                    .or_else(|| parse_http_date_ms(v).map(Delay::Until)),
                _ => parse_seconds_ms(v)
                    .or_else(|| parse_duration_ms(v))
                    .map(Delay::from_ms),
            }
        });
        Signals {
            remaining_tokens: header("x-ratelimit-remaining-tokens").and_then(whole_number),
            remaining_requests: header("x-ratelimit-remaining-requests").and_then(whole_number),
            delay,
        }
    }

    /// The delay the backend announced, in milliseconds, capped at the
    /// maximum: `retry-after-ms`, else `Retry-After` (seconds or an HTTP
    /// date), else `x-ratelimit-reset-requests`, else
    /// `x-ratelimit-reset-tokens` (seconds or durations such as `6s`,
    /// `1m0s`, `250ms`). No floor: a backend that says 40 ms is called again
    /// after 40 ms. `None` when no header says anything.
    pub fn delay_ms(&self, now_ms: u64, s: &Settings) -> Option<u64> {
        let ms = match self.delay? {
            Delay::Ms(ms) => ms,
            Delay::Until(at) => at.saturating_sub(now_ms),
        };
        Some(ms.min(s.max_delay_ms))
    }
}

/// A remaining-quota figure: 1 to 12 digits (a bound that keeps every
/// product of the model within 64 bits).
fn whole_number(v: &str) -> Option<i64> {
    if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
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

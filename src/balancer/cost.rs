//! What a request costs at admission, estimated as Azure does before any
//! token is generated: prompt tokens + the completion tokens it may produce
//! (`max_tokens`, `max_completion_tokens` or `max_output_tokens`, times `n`
//! or `best_of`). A rejected request costs nothing.
//!
//! Prompt tokens are estimated from characters (4 per token, rounded up) of
//! the text a body carries: chat `messages[].content` (strings or parts'
//! `text`), completions `prompt`, embeddings and responses `input`, and
//! `instructions`. The rendered policy implements the same rules in C#;
//! lengths are counted in UTF-16 code units, as .NET strings count them.

use serde_json::Value;

use super::quota::Quota;

/// Fallbacks for bodies that do not say (from `load_balancing.estimate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstimateSettings {
    pub default_max_tokens: u64,
    pub default_request_tokens: u64,
}

/// A request's estimated cost in tokens, before the backend's weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    pub prompt: u64,
    pub completion: u64,
}

/// No request is estimated above this (a billion tokens): keeps every
/// product of the quota model within 64 bits.
pub const MAX_TOKENS: u64 = 1_000_000_000;

impl Cost {
    /// Tokens this request takes from `quota`'s bucket at admission.
    pub fn tokens_on(&self, quota: &Quota) -> u64 {
        self.prompt
            .saturating_add(
                self.completion
                    .saturating_mul(u64::from(quota.output_weight)),
            )
            .min(MAX_TOKENS)
    }
}

/// Estimates the cost of a request to `operation` (the path after
/// `/deployments/{name}`, e.g. `/chat/completions`) with `body`.
pub fn estimate(operation: &str, body: &[u8], s: &EstimateSettings) -> Cost {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return Cost {
            prompt: s.default_request_tokens,
            completion: 0,
        };
    };
    let mut chars = 0u64;
    if let Some(Value::Array(messages)) = o.get("messages") {
        for m in messages {
            chars += content_chars(m.get("content"));
        }
    }
    for field in ["prompt", "input"] {
        match o.get(field) {
            Some(Value::String(t)) => chars += utf16_len(t),
            Some(Value::Array(items)) => {
                for item in items {
                    chars += match item {
                        Value::String(t) => utf16_len(t),
                        Value::Object(_) => content_chars(item.get("content")),
                        _ => 0,
                    };
                }
            }
            _ => {}
        }
    }
    if let Some(Value::String(t)) = o.get("instructions") {
        chars += utf16_len(t);
    }
    let prompt = chars.div_ceil(4).max(1);
    let embeddings = operation
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last.eq_ignore_ascii_case("embeddings"));
    let completion = if embeddings {
        0
    } else {
        ["max_tokens", "max_completion_tokens", "max_output_tokens"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_u64))
            .unwrap_or(s.default_max_tokens)
    };
    let choices = ["n", "best_of"]
        .iter()
        .filter_map(|k| o.get(*k).and_then(Value::as_u64))
        .max()
        .unwrap_or(1)
        .clamp(1, 128);
    Cost {
        prompt: prompt.min(MAX_TOKENS),
        completion: completion
            .min(MAX_TOKENS)
            .saturating_mul(choices)
            .min(MAX_TOKENS),
    }
}

/// Characters of a `content` value: a string, or parts with `text`.
fn content_chars(content: Option<&Value>) -> u64 {
    match content {
        Some(Value::String(t)) => utf16_len(t),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(utf16_len)
            .sum(),
        _ => 0,
    }
}

fn utf16_len(s: &str) -> u64 {
    s.encode_utf16().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: EstimateSettings = EstimateSettings {
        default_max_tokens: 4096,
        default_request_tokens: 1000,
    };

    fn cost(op: &str, body: &str) -> Cost {
        estimate(op, body.as_bytes(), &S)
    }

    #[test]
    fn chat_counts_message_text_and_max_tokens() {
        let c = cost(
            "/chat/completions",
            r#"{"messages":[{"role":"system","content":"abcdefgh"},{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url","image_url":{"url":"x"}}]}],"max_tokens":100}"#,
        );
        assert_eq!(
            c,
            Cost {
                prompt: 3,
                completion: 100
            }
        );
        let c = cost(
            "/chat/completions",
            r#"{"messages":[{"role":"user","content":"hello"}],"max_completion_tokens":50,"n":3}"#,
        );
        assert_eq!(
            c,
            Cost {
                prompt: 2,
                completion: 150
            }
        );
    }

    #[test]
    fn missing_fields_fall_back_to_the_settings() {
        assert_eq!(
            cost("/chat/completions", r#"{"messages":[]}"#),
            Cost {
                prompt: 1,
                completion: 4096
            }
        );
        assert_eq!(
            cost("/audio/transcriptions", "--boundary\r\n"),
            Cost {
                prompt: 1000,
                completion: 0
            }
        );
        assert_eq!(
            cost("/chat/completions", "[1,2]"),
            Cost {
                prompt: 1000,
                completion: 0
            }
        );
        assert_eq!(
            cost("/chat/completions", ""),
            Cost {
                prompt: 1000,
                completion: 0
            }
        );
    }

    #[test]
    fn embeddings_and_responses_read_input() {
        assert_eq!(
            cost("/embeddings", r#"{"input":["abcd","abcdefgh"]}"#),
            Cost {
                prompt: 3,
                completion: 0
            }
        );
        assert_eq!(
            cost(
                "/responses",
                r#"{"input":[{"role":"user","content":"abcdabcd"}],"instructions":"abcd","max_output_tokens":10}"#
            ),
            Cost {
                prompt: 3,
                completion: 10
            }
        );
        assert_eq!(
            cost(
                "/completions",
                r#"{"prompt":"abcde","max_tokens":5,"best_of":2}"#
            ),
            Cost {
                prompt: 2,
                completion: 10
            }
        );
    }

    #[test]
    fn lengths_are_utf16_units_as_in_dotnet() {
        // U+1F600 is two UTF-16 units; "é" one.
        assert_eq!(
            cost(
                "/chat/completions",
                r#"{"messages":[{"content":"😀é"}],"max_tokens":0}"#
            ),
            Cost {
                prompt: 1,
                completion: 0
            }
        );
        assert_eq!(
            cost(
                "/chat/completions",
                r#"{"messages":[{"content":"😀😀é"}],"max_tokens":0}"#
            ),
            Cost {
                prompt: 2,
                completion: 0
            }
        );
    }

    #[test]
    fn weight_applies_to_completion_only() {
        let q = Quota {
            tokens_per_minute: 1,
            requests_per_minute: 0,
            output_weight: 4,
        };
        assert_eq!(
            Cost {
                prompt: 10,
                completion: 5
            }
            .tokens_on(&q),
            30
        );
    }
}

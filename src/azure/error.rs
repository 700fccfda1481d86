//! ARM errors: the status, ARM's error code and message, and which request
//! failed. Never holds a token or a request body.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmError {
    /// HTTP status; `None` when no response arrived (connection dropped,
    /// timeout, DNS).
    pub status: Option<u16>,
    /// ARM's error code, e.g. `AnotherOperationInProgress`.
    pub code: String,
    pub message: String,
    /// `PUT /subscriptions/.../accounts/x` (no query string).
    pub request: String,
}

/// 409 codes that mean "busy, try again" rather than a real conflict.
const BUSY_CODES: &[&str] = &[
    "AnotherOperationInProgress",
    "RequestConflict",
    "OperationInProgress",
];

impl ArmError {
    pub fn new(status: Option<u16>, code: &str, message: impl Into<String>, request: &str) -> Self {
        ArmError {
            status,
            code: code.to_string(),
            message: message.into(),
            request: request.to_string(),
        }
    }

    /// Reads ARM's `{"error": {"code", "message"}}` (or the bare form some
    /// providers send) out of an error response.
    pub fn from_response(status: u16, body: &[u8], request: &str) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let err = parsed
            .as_ref()
            .map(|v| v.get("error").unwrap_or(v))
            .filter(|v| v.is_object());
        let field = |k: &str| {
            err.and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let code = field("code").unwrap_or_else(|| format!("Http{status}"));
        let message = field("message").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "no error details in the response".to_string()
            } else {
                text.chars().take(300).collect()
            }
        });
        ArmError::new(Some(status), &code, message, request)
    }

    /// From the `error` object of a failed long-running operation.
    pub fn from_operation(error: Option<&Value>, fallback_code: &str, request: &str) -> Self {
        let s = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str);
        ArmError::new(
            None,
            s("code").unwrap_or(fallback_code),
            s("message").unwrap_or("the operation failed without details"),
            request,
        )
    }

    /// Throttling, server errors, dropped connections and "busy" conflicts:
    /// the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        match self.status {
            None => self.code == "ConnectionFailed" || self.code == "Timeout",
            Some(408 | 429 | 500 | 502 | 503 | 504) => true,
            Some(409) => {
                BUSY_CODES.iter().any(|c| c.eq_ignore_ascii_case(&self.code))
                    // Providers word "busy" many ways; the message says it.
                    || self.message.to_ascii_lowercase().contains("in progress")
            }
            _ => false,
        }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code)
    }
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} ({s} {}): {}", self.request, self.code, self.message),
            None => write!(f, "{} ({}): {}", self.request, self.code, self.message),
        }
    }
}

impl std::error::Error for ArmError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_arm_error_bodies() {
        let e = ArmError::from_response(
            409,
            br#"{"error":{"code":"AnotherOperationInProgress","message":"busy"}}"#,
            "PUT /x",
        );
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "PUT /x (409 AnotherOperationInProgress): busy"
        );
        let e = ArmError::from_response(
            409,
            br#"{"code":"RoleAssignmentExists","message":"m"}"#,
            "PUT /y",
        );
        assert!(!e.is_transient());
        assert!(e.is_code("roleassignmentexists"));
        let e = ArmError::from_response(503, b"", "GET /z");
        assert_eq!(e.code, "Http503");
        assert!(e.is_transient());
        assert!(!ArmError::from_response(400, b"{}", "PUT /q").is_transient());
    }
}

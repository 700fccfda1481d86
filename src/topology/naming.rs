//! Azure naming rules per resource type (length and characters), from the
//! "Naming rules and restrictions for Azure resources" page. Each rule returns
//! a sentence that says what is wrong, for a diagnostic.

/// What kind of name is being checked; each has its own rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    ResourceGroup,
    ApimService,
    CognitiveAccount,
    CustomSubdomain,
    Deployment,
    LogAnalyticsWorkspace,
    AppInsights,
    UserAssignedIdentity,
    /// APIM child ids: API, logger, backend, named value.
    ApimChild,
    /// oailb's own short backend id (used inside derived names).
    BackendId,
    /// Azure Managed Redis (`Microsoft.Cache/redisEnterprise`) instance.
    RedisCache,
}

impl NameKind {
    pub fn describe(self) -> &'static str {
        match self {
            NameKind::ResourceGroup => "resource group name",
            NameKind::ApimService => "API Management service name",
            NameKind::CognitiveAccount => "Azure OpenAI account name",
            NameKind::CustomSubdomain => "custom subdomain",
            NameKind::Deployment => "model deployment name",
            NameKind::LogAnalyticsWorkspace => "Log Analytics workspace name",
            NameKind::AppInsights => "Application Insights name",
            NameKind::UserAssignedIdentity => "managed identity name",
            NameKind::ApimChild => "API Management id",
            NameKind::BackendId => "backend name",
            NameKind::RedisCache => "Azure Managed Redis name",
        }
    }
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `Err(reason)` when `name` breaks the rule of `kind`.
pub fn check(kind: NameKind, name: &str) -> Result<(), String> {
    let len = name.chars().count();
    let length = |min: usize, max: usize| -> Result<(), String> {
        if len < min || len > max {
            Err(format!(
                "must be {min} to {max} characters long (it is {len})"
            ))
        } else {
            Ok(())
        }
    };
    let chars = |ok: &dyn Fn(char) -> bool, allowed: &str| -> Result<(), String> {
        match name.chars().find(|c| !ok(*c)) {
            Some(c) => Err(format!("contains `{c}`; allowed are {allowed}")),
            None => Ok(()),
        }
    };
    let first = name.chars().next().unwrap_or(' ');
    let last = name.chars().last().unwrap_or(' ');
    match kind {
        NameKind::ResourceGroup => {
            length(1, 90)?;
            chars(
                &|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'),
                "letters, digits, `-`, `_`, `.`, `(` and `)`",
            )?;
            if last == '.' {
                return Err("must not end with a period".into());
            }
        }
        NameKind::ApimService => {
            length(1, 50)?;
            chars(&|c| alnum(c) || c == '-', "letters, digits and `-`")?;
            if !first.is_ascii_alphabetic() {
                return Err("must start with a letter".into());
            }
            if !alnum(last) {
                return Err("must end with a letter or digit".into());
            }
        }
        NameKind::CognitiveAccount => {
            length(2, 64)?;
            chars(&|c| alnum(c) || c == '-', "letters, digits and `-`")?;
            if !alnum(first) || !alnum(last) {
                return Err("must start and end with a letter or digit".into());
            }
        }
        NameKind::CustomSubdomain => {
            length(2, 64)?;
            chars(
                &|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
                "lower-case letters, digits and `-` (it is a DNS label)",
            )?;
            if !alnum(first) || !alnum(last) {
                return Err("must start and end with a letter or digit".into());
            }
        }
        NameKind::Deployment => {
            length(2, 64)?;
            chars(
                &|c| alnum(c) || matches!(c, '-' | '_' | '.'),
                "letters, digits, `-`, `_` and `.`",
            )?;
            if !alnum(first) {
                return Err("must start with a letter or digit".into());
            }
            if matches!(last, '-' | '_' | '.') {
                return Err("must not end with `-`, `_` or `.`".into());
            }
        }
        NameKind::RedisCache => {
            // `^(?=.{1,60}$)[A-Za-z0-9]+(-[A-Za-z0-9]+)*$` (REST spec 2025-07-01).
            length(1, 60)?;
            chars(&|c| alnum(c) || c == '-', "letters, digits and `-`")?;
            if !alnum(first) || !alnum(last) {
                return Err("must start and end with a letter or digit".into());
            }
            if name.contains("--") {
                return Err("must not contain `--`".into());
            }
        }
        NameKind::LogAnalyticsWorkspace => {
            length(4, 63)?;
            chars(&|c| alnum(c) || c == '-', "letters, digits and `-`")?;
            if !alnum(first) || !alnum(last) {
                return Err("must start and end with a letter or digit".into());
            }
        }
        NameKind::AppInsights => {
            length(1, 260)?;
            chars(
                &|c| {
                    !matches!(
                        c,
                        '%' | '&' | '\\' | '?' | '/' | '<' | '>' | '"' | '\'' | '{' | '}'
                    ) && !c.is_control()
                },
                "any character except % & \\ ? / < > \" ' { }",
            )?;
            if last == '.' || last == ' ' {
                return Err("must not end with a space or period".into());
            }
        }
        NameKind::UserAssignedIdentity => {
            length(3, 128)?;
            chars(
                &|c| alnum(c) || matches!(c, '-' | '_'),
                "letters, digits, `-` and `_`",
            )?;
            if !alnum(first) {
                return Err("must start with a letter or digit".into());
            }
        }
        NameKind::ApimChild => {
            length(1, 80)?;
            chars(
                &|c| alnum(c) || matches!(c, '-' | '_' | '.'),
                "letters, digits, `-`, `_` and `.`",
            )?;
            if !alnum(first) {
                return Err("must start with a letter or digit".into());
            }
        }
        NameKind::BackendId => {
            length(1, 40)?;
            chars(
                &|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
                "lower-case letters, digits and `-`",
            )?;
            if !alnum(first) || !alnum(last) {
                return Err("must start and end with a letter or digit".into());
            }
        }
    }
    Ok(())
}

/// An HTTP header name (RFC 9110 token).
pub fn check_header(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 100 {
        return Err("must be 1 to 100 characters long".into());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
    {
        Some(c) => Err(format!(
            "contains `{c}`, which an HTTP header name cannot hold"
        )),
        None => Ok(()),
    }
}

/// The API URL suffix: segments of unreserved characters separated by `/`.
pub fn check_api_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("must not be empty (APIM allows one API at the root, oailb does not)".into());
    }
    if path.starts_with('/') || path.ends_with('/') {
        return Err("must not start or end with `/` (write `smart-api/openai`)".into());
    }
    if path.len() > 400 {
        return Err("must be at most 400 characters long".into());
    }
    for seg in path.split('/') {
        if seg.is_empty() {
            return Err("contains an empty segment (`//`)".into());
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~".contains(*c)))
        {
            return Err(format!(
                "contains `{c}`; allowed are letters, digits, `-`, `.`, `_`, `~` and `/`"
            ));
        }
    }
    Ok(())
}

pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(check(NameKind::ApimService, "can-aoai-smart-apim").is_ok());
        assert!(check(NameKind::ApimService, "1apim").is_err());
        assert!(check(NameKind::ApimService, "apim-").is_err());
        assert!(check(NameKind::CognitiveAccount, "can-aoai-smart-11").is_ok());
        assert!(check(NameKind::CognitiveAccount, "a").is_err());
        assert!(check(NameKind::CustomSubdomain, "Upper").is_err());
        assert!(check(NameKind::Deployment, "gpt-35-turbo").is_ok());
        assert!(check(NameKind::Deployment, "gpt-4o.").is_err());
        assert!(check(NameKind::LogAnalyticsWorkspace, "law").is_err());
        assert!(check(NameKind::ResourceGroup, "rg.").is_err());
        assert!(check(NameKind::ApimChild, "a<b").is_err());
        assert!(check(NameKind::BackendId, "eastus-1").is_ok());
        assert!(check_api_path("smart-api/openai").is_ok());
        assert!(check_api_path("/openai").is_err());
        assert!(check_header("api-key").is_ok());
        assert!(check_header("api key").is_err());
        assert!(is_guid("00000000-0000-0000-0000-000000000000"));
        assert!(!is_guid("0000"));
    }
}

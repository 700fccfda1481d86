//! Which API, deployment and operation a request is for: Azure OpenAI
//! data-plane paths below an API's path (`/<api path>/deployments/{name}/...`,
//! as the rendered policy matches them), OpenAI-style `/v1/...` paths (the
//! deployment is the body's `model`), and the gateway's own endpoints.

use super::config::{ApiRuntime, Runtime};

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/<api path>/deployments/{deployment}{operation}`.
    Deployment {
        api: usize,
        deployment: String,
        operation: String,
    },
    /// Below an API's path, but not `/deployments/{name}/...`.
    NoDeployment {
        api: usize,
    },
    /// `/v1{operation}`: the deployment is in the body.
    OpenAi {
        api: usize,
        operation: String,
    },
    /// `GET /v1/models`: the deployments of the default API.
    Models {
        api: usize,
    },
    Metrics,
    Health,
    Ready,
    NotFound,
}

pub fn route(rt: &Runtime, path: &str) -> Target {
    match path {
        "/metrics" => return Target::Metrics,
        "/healthz" => return Target::Health,
        "/readyz" => return Target::Ready,
        _ => {}
    }
    // The longest API path first: `a/openai` must not catch `a/openai2`,
    // nor `a` catch `a/openai`.
    let mut order: Vec<(usize, &ApiRuntime)> = rt.apis.iter().enumerate().collect();
    order.sort_by_key(|(_, a)| std::cmp::Reverse(a.path.len()));
    for (i, api) in order {
        let Some(rest) = strip_prefix_ignore_case(path, &api.path) else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            continue;
        }
        return match deployment_path(rest) {
            Some((deployment, operation)) => Target::Deployment {
                api: i,
                deployment: deployment.to_string(),
                operation: operation.to_string(),
            },
            None => Target::NoDeployment { api: i },
        };
    }
    if !rt.apis.is_empty() {
        if path == "/v1/models" {
            return Target::Models { api: 0 };
        }
        if let Some(op) = path.strip_prefix("/v1") {
            if op.starts_with('/') && op.len() > 1 {
                return Target::OpenAi {
                    api: 0,
                    operation: op.to_string(),
                };
            }
        }
    }
    Target::NotFound
}

/// `/deployments/{name}{operation}` where the operation starts with `/`
/// and holds no `{` or `}`, as the policy's expression matches it.
fn deployment_path(rest: &str) -> Option<(&str, &str)> {
    let after = rest.strip_prefix("/deployments/")?;
    let slash = after.find('/')?;
    let (name, op) = after.split_at(slash);
    if name.is_empty() || op.contains(['{', '}']) {
        return None;
    }
    Some((name, op))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The query without the client-key parameter `key_query`.
pub fn forwarded_query(query: Option<&str>, key_query: &str) -> String {
    let Some(q) = query else { return String::new() };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|p| {
            let name = p.split('=').next().unwrap_or_default();
            !p.is_empty() && !name.eq_ignore_ascii_case(key_query)
        })
        .collect();
    kept.join("&")
}

/// A query parameter's raw value.
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_paths_match_the_policy() {
        assert_eq!(
            deployment_path("/deployments/gpt-4o/chat/completions"),
            Some(("gpt-4o", "/chat/completions"))
        );
        assert_eq!(
            deployment_path("/deployments/gpt-4o/"),
            Some(("gpt-4o", "/"))
        );
        assert_eq!(deployment_path("/deployments/gpt-4o"), None);
        assert_eq!(deployment_path("/deployments//x"), None);
        assert_eq!(deployment_path("/deployments/a/{x}"), None);
        assert_eq!(deployment_path("/models"), None);
    }

    #[test]
    fn the_client_key_never_stays_in_the_query() {
        assert_eq!(
            forwarded_query(
                Some("api-version=2024-10-21&subscription-key=s3cret"),
                "subscription-key"
            ),
            "api-version=2024-10-21"
        );
        assert_eq!(
            forwarded_query(Some("Subscription-Key=s&a=b&"), "subscription-key"),
            "a=b"
        );
        assert_eq!(forwarded_query(None, "k"), "");
        assert_eq!(
            query_param(Some("a=1&api-version=x"), "api-version"),
            Some("x")
        );
    }
}

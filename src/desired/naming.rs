//! Every ARM id, child resource name and logical address oailb uses is made
//! here, and only here.

use uuid::Uuid;

/// Stands in for the subscription id when it is not known (offline commands).
pub const SUBSCRIPTION_TOKEN: &str = "{subscriptionId}";

/// Built-in role "Cognitive Services OpenAI User": call inference APIs, no
/// management rights (least privilege for the gateway).
pub const OPENAI_USER_ROLE: &str = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd";

/// Named value that holds the user-assigned identity's client id, so the
/// policy text does not depend on a value known only after deployment.
pub const IDENTITY_CLIENT_ID_NAMED_VALUE: &str = "oailb-identity-client-id";

/// Namespace of oailb's deterministic (v5) GUIDs.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://oailb.dev/role-assignments")
}

pub fn resource_group_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

pub fn provider_id(sub: &str, rg: &str, provider_path: &str) -> String {
    format!("{}/providers/{provider_path}", resource_group_id(sub, rg))
}

pub fn role_definition_id(sub: &str) -> String {
    format!(
        "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE}"
    )
}

/// Namespace of ARM's `guid()` template function: `guid(a, b, c)` is the
/// v5 UUID of `"a-b-c"` in this namespace.
pub const ARM_GUID_NAMESPACE: &str = "11fb06fb-712d-4ddd-98c7-e71bbd588830";

/// The role assignment's name: a GUID fixed by scope, role and the identity's
/// resource id, so every tool and every re-run produce the same one and a
/// second create is `RoleAssignmentExists`. It is exactly what ARM's
/// `guid(toLower(scope), role, toLower(identityId))` (Bicep) and Terraform's
/// `uuidv5(ARM_GUID_NAMESPACE, "${lower(scope)}-${role}-${lower(identity_id)}")`
/// compute at deployment time, when the subscription id is known.
pub fn role_assignment_name(scope: &str, identity_resource_id: &str) -> String {
    let key = format!(
        "{}-{OPENAI_USER_ROLE}-{}",
        scope.to_ascii_lowercase(),
        identity_resource_id.to_ascii_lowercase()
    );
    let ns = Uuid::parse_str(ARM_GUID_NAMESPACE).expect("valid namespace literal");
    Uuid::new_v5(&ns, key.as_bytes()).to_string()
}

/// Subscription segment of an ARM id.
pub fn subscription_of(id: &str) -> Option<&str> {
    let mut it = id.split('/');
    while let Some(seg) = it.next() {
        if seg.eq_ignore_ascii_case("subscriptions") {
            return it.next();
        }
    }
    None
}

/// APIM backend entity for one model on one backend (pool mode).
pub fn apim_backend_id(backend: &str, model: &str) -> String {
    fit(&format!("{backend}-{model}"), 80)
}

/// APIM pool backend for one model (pool mode).
pub fn apim_pool_id(model: &str) -> String {
    fit(&format!("pool-{model}"), 80)
}

/// Secret named value holding one backend's API key.
pub fn api_key_named_value(backend: &str) -> String {
    fit(&format!("{backend}-api-key"), 80)
}

/// Product of one consumer that has no tier.
pub fn consumer_product_id(consumer: &str) -> String {
    format!("consumer-{consumer}")
}

/// Product shared by the consumers of a tier (subscription keys).
pub fn tier_product_id(tier: &str) -> String {
    format!("tier-{tier}")
}

/// The open product (no subscription key) of the consumers that
/// authenticate with Entra ID only: APIM allows one per API.
pub const ENTRA_PRODUCT_ID: &str = "oailb-entra";

/// The workbook's name: a GUID, as ARM requires, fixed by the resource
/// group and the Application Insights name (both known before deployment,
/// unlike the subscription id), exactly what Bicep's
/// `guid(toLower(rg), toLower(insights), 'oailb-workbook')` and Terraform's
/// `uuidv5(ARM_GUID_NAMESPACE, "${lower(rg)}-${lower(insights)}-oailb-workbook")` give.
pub fn workbook_name(resource_group: &str, app_insights: &str) -> String {
    let key = format!(
        "{}-{}-oailb-workbook",
        resource_group.to_ascii_lowercase(),
        app_insights.to_ascii_lowercase()
    );
    let ns = Uuid::parse_str(ARM_GUID_NAMESPACE).expect("valid namespace literal");
    Uuid::new_v5(&ns, key.as_bytes()).to_string()
}

/// Shortens `name` to `max` characters, keeping it unique with a hash suffix.
fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = Uuid::new_v5(&namespace(), name.as_bytes())
        .simple()
        .to_string();
    format!(
        "{}-{}",
        name[..max - 9].trim_end_matches(['-', '.', '_']),
        &hash[..8]
    )
}

/// Logical addresses: stable keys for resources across plan, deploy and output.
pub mod address {
    pub const RESOURCE_GROUP: &str = "resource_group";
    pub const WORKSPACE: &str = "log_analytics_workspace";
    pub const APP_INSIGHTS: &str = "application_insights";
    pub const IDENTITY: &str = "identity";
    pub const APIM: &str = "apim";
    pub const LOGGER: &str = "logger";

    pub fn account(backend: &str) -> String {
        format!("account[{backend}]")
    }
    pub fn deployment(backend: &str, model: &str) -> String {
        format!("deployment[{backend}/{model}]")
    }
    pub fn role_assignment(backend: &str) -> String {
        format!("role_assignment[{backend}]")
    }
    pub fn named_value(name: &str) -> String {
        format!("named_value[{name}]")
    }
    pub fn backend(backend: &str, model: &str) -> String {
        format!("backend[{backend}/{model}]")
    }
    pub fn pool(model: &str) -> String {
        format!("pool[{model}]")
    }
    pub fn api(api: &str) -> String {
        format!("api[{api}]")
    }
    pub fn operation(api: &str, op: &str) -> String {
        format!("api_operation[{api}/{op}]")
    }
    pub fn api_policy(api: &str) -> String {
        format!("api_policy[{api}]")
    }
    pub fn diagnostic(api: &str) -> String {
        format!("api_diagnostic[{api}]")
    }
    /// The Azure Managed Redis instance used from `use_from`.
    pub fn cache(use_from: &str) -> String {
        format!("cache[{use_from}]")
    }
    pub fn cache_database(use_from: &str) -> String {
        format!("cache_database[{use_from}]")
    }
    pub fn apim_cache(use_from: &str) -> String {
        format!("apim_cache[{use_from}]")
    }
    /// A provisioned deployment's native spill-over target.
    pub fn spillover_deployment(backend: &str, model: &str) -> String {
        format!("deployment[{backend}/{model}/spillover]")
    }
    pub const WORKBOOK: &str = "workbook";
    pub fn product(product: &str) -> String {
        format!("product[{product}]")
    }
    pub fn product_api(product: &str, api: &str) -> String {
        format!("product_api[{product}/{api}]")
    }
    pub fn product_policy(product: &str) -> String {
        format!("product_policy[{product}]")
    }
    pub fn subscription(consumer: &str) -> String {
        format!("subscription[{consumer}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_assignment_names_are_stable_guids() {
        let a = role_assignment_name(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/x",
            "/apim",
        );
        let b = role_assignment_name(
            "/SUBSCRIPTIONS/s/resourceGroups/RG/providers/Microsoft.CognitiveServices/accounts/x",
            "/APIM",
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 36);
        assert_ne!(a, role_assignment_name("/other", "/apim"));
    }

    #[test]
    fn long_names_fit_and_stay_distinct() {
        let long = "b".repeat(40);
        let m1 = format!("{}1", "m".repeat(63));
        let m2 = format!("{}2", "m".repeat(63));
        let (x, y) = (apim_backend_id(&long, &m1), apim_backend_id(&long, &m2));
        assert!(x.len() <= 80 && y.len() <= 80);
        assert_ne!(x, y);
        assert_eq!(apim_backend_id("eastus", "gpt-4o"), "eastus-gpt-4o");
    }

    #[test]
    fn subscription_segment() {
        assert_eq!(
            subscription_of("/subscriptions/abc/resourceGroups/x"),
            Some("abc")
        );
    }
}

//! Defaults the topology leaves implicit, resolved in one place: derived
//! account names, endpoints, the models each backend serves. Validation and
//! the desired state both read them from here, so a default can never differ
//! between what is checked and what is built.

use super::schema::*;

/// One model as one backend serves it.
#[derive(Debug, Clone)]
pub struct Served<'a> {
    pub model: &'a Model,
    /// Deployment name on the backend (differs from `model.name` when mapped).
    pub deployment: String,
    pub sku: DeploymentSku,
    pub capacity: u32,
}

impl Topology {
    pub fn apim_location(&self) -> &str {
        self.apim.location.as_deref().unwrap_or(&self.location)
    }

    /// Names of the models an API exposes, in `models` order.
    pub fn api_models<'a>(&'a self, api: &'a Api) -> Vec<&'a Model> {
        match &api.models {
            Some(names) => self
                .models
                .iter()
                .filter(|m| names.contains(&m.name))
                .collect(),
            None => self.models.iter().collect(),
        }
    }

    /// Whether each priority is served from the backends nearest the
    /// gateway first (`load_balancing.prefer_nearby`; off unless set).
    pub fn prefers_nearby(&self) -> bool {
        self.load_balancing.prefer_nearby.unwrap_or(false)
    }

    pub fn gateway_url(&self) -> String {
        format!("https://{}.{}", self.apim.name, self.cloud.apim_domain())
    }

    pub fn identity_name(&self) -> Option<String> {
        match self.apim.identity {
            IdentityKind::SystemAssigned => None,
            IdentityKind::UserAssigned => Some(
                self.apim
                    .identity_name
                    .clone()
                    .unwrap_or_else(|| format!("{}-identity", self.apim.name)),
            ),
        }
    }
}

impl Monitoring {
    pub fn workspace_name(&self, apim: &Apim) -> String {
        match &self.log_analytics_workspace {
            Some(n) => n.name.clone(),
            None => format!("{}-logs", apim.name),
        }
    }

    pub fn app_insights_name(&self, apim: &Apim) -> String {
        match &self.application_insights {
            Some(n) => n.name.clone(),
            None => format!("{}-insights", apim.name),
        }
    }
}

impl Backend {
    /// Managed: the account oailb creates. Existing by id: the id's last segment.
    pub fn account_name(&self, apim: &Apim) -> Option<String> {
        if self.is_managed() {
            return Some(
                self.account_name
                    .clone()
                    .unwrap_or_else(|| format!("{}-{}", apim.name, self.name)),
            );
        }
        self.resource_id
            .as_deref()
            .and_then(|id| id.trim_end_matches('/').rsplit('/').next())
            .map(str::to_string)
    }

    /// DNS label of the endpoint (managed: default the account name, lower-cased).
    pub fn subdomain(&self, apim: &Apim) -> Option<String> {
        if self.is_managed() {
            return self
                .custom_subdomain
                .clone()
                .or_else(|| self.account_name(apim).map(|n| n.to_ascii_lowercase()));
        }
        None
    }

    /// Account root URL with exactly one trailing slash, e.g.
    /// `https://x.openai.azure.com/`. Existing backends by resource id assume
    /// the portal default (subdomain = account name) unless `endpoint` is set.
    pub fn endpoint_root(&self, apim: &Apim, cloud: Cloud) -> String {
        if let Some(ep) = &self.endpoint {
            return normalize_endpoint(ep).0;
        }
        let label = self
            .subdomain(apim)
            .or_else(|| self.account_name(apim).map(|n| n.to_ascii_lowercase()))
            .unwrap_or_default();
        format!("https://{label}.{}/", cloud.openai_domain())
    }

    /// What APIM forwards to: the root joined to `openai` with one slash.
    pub fn openai_base_url(&self, apim: &Apim, cloud: Cloud) -> String {
        format!("{}openai", self.endpoint_root(apim, cloud))
    }

    /// The models this backend serves, with per-backend overrides applied.
    /// Entries naming an unknown model are skipped (validation reports them).
    pub fn served<'a>(&'a self, topology: &'a Topology) -> Vec<Served<'a>> {
        match &self.models {
            None => topology
                .models
                .iter()
                .map(|m| Served {
                    model: m,
                    deployment: m.name.clone(),
                    sku: m.sku,
                    capacity: m.capacity,
                })
                .collect(),
            Some(list) => list
                .iter()
                .filter_map(|bm| {
                    let m = topology.model(&bm.name)?;
                    Some(Served {
                        model: m,
                        deployment: bm.deployment.clone().unwrap_or_else(|| m.name.clone()),
                        sku: bm.sku.unwrap_or(m.sku),
                        capacity: bm.capacity.unwrap_or(m.capacity),
                    })
                })
                .collect(),
        }
    }

    /// Relative share inside the priority group for one model: the explicit
    /// weight, else the capacity the backend has for it.
    pub fn weight_for(&self, served: &Served) -> u32 {
        self.weight.unwrap_or(served.capacity)
    }
}

/// Normalizes an endpoint to its root URL with one trailing slash.
/// Returns the root and whether a trailing `/openai` path was stripped.
pub fn normalize_endpoint(raw: &str) -> (String, bool) {
    let trimmed = raw.trim().trim_end_matches('/');
    let (base, stripped) = match trimmed.strip_suffix("/openai") {
        Some(b) => (b.trim_end_matches('/'), true),
        None => (trimmed, false),
    };
    let lower_scheme = match base.split_once("://") {
        Some((scheme, rest)) => format!("{}://{}", scheme.to_ascii_lowercase(), lower_host(rest)),
        None => base.to_string(),
    };
    (format!("{lower_scheme}/"), stripped)
}

fn lower_host(rest: &str) -> String {
    match rest.split_once('/') {
        Some((host, path)) => format!("{}/{path}", host.to_ascii_lowercase()),
        None => rest.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_normalize_to_one_slash() {
        for raw in [
            "https://x.openai.azure.com",
            "https://x.openai.azure.com/",
            "https://X.openai.azure.com//",
            "https://x.openai.azure.com/openai",
            "https://x.openai.azure.com/openai/",
        ] {
            assert_eq!(
                normalize_endpoint(raw).0,
                "https://x.openai.azure.com/",
                "{raw}"
            );
        }
        assert!(normalize_endpoint("https://x.openai.azure.com/openai").1);
        assert!(!normalize_endpoint("https://x.openai.azure.com/").1);
    }
}

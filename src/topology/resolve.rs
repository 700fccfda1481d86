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
    /// Native spill-over deployment on the same account, if configured.
    pub spillover: Option<ServedSpillover>,
}

/// The standard deployment a provisioned one spills over to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedSpillover {
    pub deployment: String,
    pub sku: DeploymentSku,
    pub capacity: u32,
}

/// One external cache the gateways use: `use_from` is APIM's
/// `useFromLocation` (`default` or a gateway region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInstance {
    /// Azure Managed Redis name (managed) or the existing one's name.
    pub name: String,
    /// Region of a managed cache; `None` for an existing one.
    pub location: Option<String>,
    pub use_from: String,
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

    /// Every gateway region: the service's own first, then the additional
    /// locations in file order. The policy's `context.Deployment.Region` is
    /// one of these.
    pub fn gateway_regions(&self) -> Vec<&str> {
        std::iter::once(self.apim_location())
            .chain(
                self.apim
                    .additional_locations
                    .iter()
                    .map(|l| l.location.as_str()),
            )
            .collect()
    }

    /// The external caches APIM is given, in the order they are created:
    /// one shared (`default`), or one per gateway region.
    pub fn cache_instances(&self) -> Vec<CacheInstance> {
        let Some(c) = &self.cache else {
            return Vec::new();
        };
        if let Some(id) = &c.existing {
            let name = id
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            return vec![CacheInstance {
                name: name.to_string(),
                location: None,
                use_from: "default".into(),
            }];
        }
        let base = c
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-cache", self.apim.name));
        match c.scope {
            CacheScope::Shared => vec![CacheInstance {
                name: base,
                location: Some(
                    c.location
                        .clone()
                        .unwrap_or_else(|| self.apim_location().to_string()),
                ),
                use_from: "default".into(),
            }],
            CacheScope::PerRegion => self
                .gateway_regions()
                .into_iter()
                .map(|r| CacheInstance {
                    name: format!("{base}-{r}"),
                    location: Some(r.to_string()),
                    use_from: r.to_string(),
                })
                .collect(),
        }
    }

    /// Whether each priority is served from the backends nearest the
    /// gateway first (`load_balancing.prefer_nearby`; unset: on when the
    /// service has gateways in several regions).
    pub fn prefers_nearby(&self) -> bool {
        self.load_balancing
            .prefer_nearby
            .unwrap_or(self.gateway_regions().len() > 1)
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
                    spillover: None,
                })
                .collect(),
            Some(list) => list
                .iter()
                .filter_map(|bm| {
                    let m = topology.model(&bm.name)?;
                    let deployment = bm.deployment.clone().unwrap_or_else(|| m.name.clone());
                    let sku = bm.sku.unwrap_or(m.sku);
                    let spillover = bm.spillover.as_ref().map(|sp| ServedSpillover {
                        deployment: sp
                            .deployment
                            .clone()
                            .unwrap_or_else(|| format!("{deployment}-spillover")),
                        sku: sp
                            .sku
                            .or(sku.spillover_target())
                            .unwrap_or(DeploymentSku::GlobalStandard),
                        capacity: sp.capacity,
                    });
                    Some(Served {
                        model: m,
                        deployment,
                        sku,
                        capacity: bm.capacity.unwrap_or(m.capacity),
                        spillover,
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

//! Consumers → APIM products (one per tier, one per consumer without a
//! tier, one open product for Entra-ID-only consumers), their API links,
//! policies and subscriptions, and the usage workbook next to Application
//! Insights.

use serde_json::json;

use super::naming::{self, address};
use super::placeholder::Placeholder;
use super::*;
use crate::topology::{Consumer, Topology};

/// One product as oailb plans it: who is in it and which APIs it holds.
pub(super) struct PlannedProduct<'a> {
    pub id: String,
    pub access: ProductAccess,
    pub display_name: String,
    pub description: String,
    pub members: Vec<&'a Consumer>,
    /// API names, in topology order.
    pub apis: Vec<String>,
}

/// The products of `t`'s consumers, in the order consumers first name them.
pub(super) fn plan_products(t: &Topology) -> Vec<PlannedProduct<'_>> {
    let mut out: Vec<PlannedProduct> = Vec::new();
    for c in &t.consumers {
        let Some(auth) = &c.auth else { continue };
        let (id, access, display_name, description) = if auth.subscription {
            match &c.tier {
                Some(tier) => (
                    naming::tier_product_id(tier),
                    ProductAccess::Subscription,
                    format!("{tier} tier"),
                    t.consumer_tier(tier)
                        .and_then(|x| x.description.clone())
                        .unwrap_or_else(|| format!("Consumers of tier {tier} (oailb)")),
                ),
                None => (
                    naming::consumer_product_id(&c.name),
                    ProductAccess::Subscription,
                    c.name.clone(),
                    c.description
                        .clone()
                        .unwrap_or_else(|| format!("Access of consumer {} (oailb)", c.name)),
                ),
            }
        } else if auth.entra.is_some() {
            (
                naming::ENTRA_PRODUCT_ID.to_string(),
                ProductAccess::Entra,
                "Entra ID consumers".to_string(),
                "Consumers that authenticate with an Entra ID token only (oailb)".to_string(),
            )
        } else {
            continue;
        };
        let i = match out.iter().position(|p| p.id == id) {
            Some(i) => i,
            None => {
                out.push(PlannedProduct {
                    id,
                    access,
                    display_name,
                    description,
                    members: Vec::new(),
                    apis: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[i].members.push(c);
    }
    for p in &mut out {
        p.apis = t
            .apis()
            .iter()
            .filter(|a| {
                p.members
                    .iter()
                    .any(|c| t.consumer_apis(c).iter().any(|x| x.name == a.name))
            })
            .map(|a| a.name.clone())
            .collect();
    }
    out
}

impl Builder<'_> {
    /// Products, their API links, policies and subscriptions, and the workbook.
    pub(super) fn consumer_resources(&mut self) {
        let t = self.t;
        for p in plan_products(t) {
            let product_addr = address::product(&p.id);
            let product_id = self.apim_child(&format!("products/{}", p.id));
            let mut props = json!({
                "displayName": p.display_name,
                "description": p.description,
                "subscriptionRequired": p.access == ProductAccess::Subscription,
                "state": "published",
            });
            if p.access == ProductAccess::Subscription {
                // Subscriptions are oailb's to create: a developer-portal
                // sign-up must not get a key on its own.
                props["approvalRequired"] = json!(true);
            }
            self.push(
                product_addr.clone(),
                Kind::ApimProduct,
                p.id.clone(),
                product_id.clone(),
                json!({"properties": props}),
                vec![address::APIM.into()],
            );
            // The policy is in force before the product holds an API: an
            // open product without it would let anyone in.
            let policy_addr = address::product_policy(&p.id);
            let r = self.push(
                policy_addr.clone(),
                Kind::ApimProductPolicy,
                "policy".into(),
                format!("{product_id}/policies/policy"),
                json!({"properties": {
                    "format": "rawxml",
                    "value": Placeholder::ProductPolicy { product: p.id.clone() }.to_value(),
                }}),
                vec![product_addr.clone()],
            );
            r.write_only = vec!["properties.format"];
            let mut links = Vec::new();
            for api in &p.apis {
                let addr = address::product_api(&p.id, api);
                self.push(
                    addr.clone(),
                    Kind::ApimProductApi,
                    api.clone(),
                    format!("{product_id}/apis/{api}"),
                    json!({}),
                    vec![product_addr.clone(), address::api(api), policy_addr.clone()],
                );
                links.push(addr);
            }
            if p.access != ProductAccess::Subscription {
                continue;
            }
            // A key works as soon as it exists: only after the product's
            // policy and APIs are in place.
            for c in &p.members {
                let mut deps = vec![product_addr.clone(), policy_addr.clone()];
                deps.extend(links.iter().cloned());
                self.push(
                    address::subscription(&c.name),
                    Kind::ApimSubscription,
                    c.name.clone(),
                    self.apim_child(&format!("subscriptions/{}", c.name)),
                    json!({"properties": {
                        "displayName": c.name,
                        "scope": product_id,
                        "state": "active",
                        "allowTracing": false,
                    }}),
                    deps,
                );
            }
        }
        self.workbook();
    }

    fn workbook(&mut self) {
        let t = self.t;
        let Some(m) = &t.monitoring else { return };
        if t.consumers.is_empty() {
            return;
        }
        let ai_name = m.app_insights_name(&t.apim);
        let ai_id = self.rg_child(&format!("Microsoft.Insights/components/{ai_name}"));
        let name = naming::workbook_name(&t.resource_group, &ai_name);
        let data = super::workbook::serialized(t).replace(super::workbook::SOURCE_TOKEN, &ai_id);
        let body = json!({
            "location": t.location,
            "tags": self.tags(),
            "kind": "shared",
            "properties": {
                "displayName": format!("{} usage by consumer (oailb)", t.apim.name),
                "category": "workbook",
                "version": "Notebook/1.0",
                // azurerm wants it in lower case; ARM ids compare without case.
                "sourceId": ai_id.to_ascii_lowercase(),
                "serializedData": data,
            },
        });
        let id = self.rg_child(&format!("Microsoft.Insights/workbooks/{name}"));
        self.push(
            address::WORKBOOK.into(),
            Kind::Workbook,
            name,
            id,
            body,
            vec![address::APP_INSIGHTS.into()],
        );
    }

    /// Each product's policy as the renderer needs it.
    pub(super) fn product_policies(&self) -> Vec<ProductPolicy> {
        let t = self.t;
        let namespace = t
            .monitoring
            .as_ref()
            .map(|m| m.token_metrics.namespace.clone());
        plan_products(t)
            .into_iter()
            .map(|p| {
                let product_apis: Vec<&crate::topology::Api> = t
                    .apis()
                    .into_iter()
                    .filter(|a| p.apis.contains(&a.name))
                    .collect();
                let product_models: Vec<&str> = t
                    .models
                    .iter()
                    .filter(|m| {
                        product_apis
                            .iter()
                            .any(|a| t.api_models(a).iter().any(|x| x.name == m.name))
                    })
                    .map(|m| m.name.as_str())
                    .collect();
                let consumers =
                    p.members
                        .iter()
                        .map(|c| {
                            let apis = t.consumer_apis(c);
                            let models: Vec<String> = t
                                .consumer_models(c)
                                .iter()
                                .map(|m| m.name.clone())
                                .collect();
                            let entra = c.auth.as_ref().and_then(|a| a.entra.as_ref()).map(|e| {
                                EntraCheck {
                                    tenant_id: e.tenant_id.clone().unwrap_or_default(),
                                    client_application_ids: e.client_application_ids.clone(),
                                    app_roles: e.app_roles.clone(),
                                    audiences: e.audiences.clone(),
                                }
                            });
                            PolicyConsumer {
                                name: c.name.clone(),
                                entra,
                                limits: t.consumer_limits(c).cloned(),
                                models: (models.len() < product_models.len()).then_some(models),
                                api_paths: (apis.len() < product_apis.len())
                                    .then(|| apis.iter().map(|a| a.path.clone()).collect()),
                                cost_center: c.cost_center.clone(),
                            }
                        })
                        .collect();
                ProductPolicy {
                    address: address::product_policy(&p.id),
                    apis: product_apis
                        .iter()
                        .map(|a| (a.name.clone(), a.path.clone()))
                        .collect(),
                    product: p.id,
                    access: p.access,
                    consumers,
                    metrics_namespace: namespace.clone(),
                }
            })
            .collect()
    }

    /// The token metrics every API policy emits (consumers and monitoring).
    pub(super) fn token_metrics(&self) -> Option<TokenMetrics> {
        let t = self.t;
        let m = t.monitoring.as_ref()?;
        if t.consumers.is_empty() {
            return None;
        }
        Some(TokenMetrics {
            namespace: m.token_metrics.namespace.clone(),
            dimensions: t.metric_dimensions(),
        })
    }

    pub(super) fn subscription_outputs(&self) -> Vec<SubscriptionOutput> {
        plan_products(self.t)
            .into_iter()
            .filter(|p| p.access == ProductAccess::Subscription)
            .flat_map(|p| {
                p.members
                    .iter()
                    .map(|c| SubscriptionOutput {
                        consumer: c.name.clone(),
                        address: address::subscription(&c.name),
                        product: p.id.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

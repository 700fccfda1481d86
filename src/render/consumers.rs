//! The consumers' resources reshaped for the Terraform and Bicep templates:
//! products, their API links, policies and subscriptions, and the usage
//! workbook. Like [`super::infra`], every value comes from a desired
//! resource's ARM body.

use anyhow::{anyhow, bail, Context as _};
use serde::Serialize;
use serde_json::{json, Value};

use super::infra::{camel_ident, snake_ident};
use crate::desired::placeholder::{get_path, Placeholder};
use crate::desired::workbook::SOURCE_TOKEN;
use crate::desired::{Desired, Kind, Resource};

/// Where the workbook's JSON is written, next to the policies.
pub const WORKBOOK_FILE: &str = "workbook/usage.json";

#[derive(Debug, Clone, Serialize)]
pub struct Product {
    pub id: String,
    pub bicep_name: String,
    pub display_name: String,
    pub description: String,
    pub subscription_required: bool,
    /// Set only with a subscription (ARM refuses it on an open product).
    pub approval_required: Option<bool>,
    pub published: bool,
    /// Path of the policy XML relative to the output directory.
    pub policy_file: String,
    pub policy_format: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductApi {
    /// `<product>/<api>`.
    pub key: String,
    pub product: String,
    pub api: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub name: String,
    pub tf_name: String,
    pub display_name: String,
    pub product: String,
    pub state: String,
    pub allow_tracing: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workbook {
    pub display_name: String,
    pub category: String,
    pub version: String,
    pub kind: String,
    /// The workbook JSON with [`SOURCE_TOKEN`] for the Insights resource id.
    pub content: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Consumers {
    pub products: Vec<Product>,
    pub product_apis: Vec<ProductApi>,
    pub subscriptions: Vec<Subscription>,
    pub workbook: Option<Workbook>,
    /// Application Insights keeps custom metric dimensions.
    pub custom_metrics: bool,
    pub source_token: String,
}

fn str_at(r: &Resource, path: &str) -> anyhow::Result<String> {
    get_path(&r.body, path)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{}: body has no string at {path}", r.address))
}

fn bool_at(r: &Resource, path: &str) -> anyhow::Result<bool> {
    get_path(&r.body, path)
        .and_then(Value::as_bool)
        .ok_or_else(|| anyhow!("{}: body has no boolean at {path}", r.address))
}

impl Consumers {
    /// None when the desired state has no consumers' resources.
    pub fn from_desired(d: &Desired) -> anyhow::Result<Option<Consumers>> {
        let mut products = Vec::new();
        for r in d.of_kind(Kind::ApimProduct) {
            let policy = d
                .of_kind(Kind::ApimProductPolicy)
                .find(|p| p.id.starts_with(&format!("{}/policies/", r.id)))
                .with_context(|| format!("{}: no policy", r.address))?;
            match get_path(&policy.body, "properties.value").and_then(Placeholder::from_value) {
                Some(Placeholder::ProductPolicy { product }) if product == r.name => {}
                _ => bail!(
                    "{}: policy value is not the rendered policy",
                    policy.address
                ),
            }
            products.push(Product {
                id: r.name.clone(),
                bicep_name: camel_ident(&r.name, "product"),
                display_name: str_at(r, "properties.displayName")?,
                description: str_at(r, "properties.description")?,
                subscription_required: bool_at(r, "properties.subscriptionRequired")?,
                approval_required: get_path(&r.body, "properties.approvalRequired")
                    .and_then(Value::as_bool),
                published: str_at(r, "properties.state")? == "published",
                policy_file: format!("policies/products/{}.xml", r.name),
                policy_format: str_at(policy, "properties.format")?,
            });
        }
        let product_of = |id: &str| -> anyhow::Result<String> {
            d.of_kind(Kind::ApimProduct)
                .find(|p| id.eq_ignore_ascii_case(&p.id) || id.starts_with(&format!("{}/", p.id)))
                .map(|p| p.name.clone())
                .ok_or_else(|| anyhow!("{id} is in no product"))
        };
        let product_apis = d
            .of_kind(Kind::ApimProductApi)
            .map(|r| {
                let product = product_of(&r.id)?;
                Ok(ProductApi {
                    key: format!("{product}/{}", r.name),
                    api: r.name.clone(),
                    product,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let subscriptions = d
            .of_kind(Kind::ApimSubscription)
            .map(|r| {
                Ok(Subscription {
                    name: r.name.clone(),
                    tf_name: snake_ident(&r.name, "consumer"),
                    display_name: str_at(r, "properties.displayName")?,
                    product: product_of(&str_at(r, "properties.scope")?)?,
                    state: str_at(r, "properties.state")?,
                    allow_tracing: bool_at(r, "properties.allowTracing")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let insights = d.of_kind(Kind::ApplicationInsights).next();
        let workbook = match d.of_kind(Kind::Workbook).next() {
            Some(w) => {
                let ai = insights.context("a workbook without Application Insights")?;
                let data = str_at(w, "properties.serializedData")?;
                if !data.contains(&ai.id) {
                    bail!("{}: the workbook does not name {}", w.address, ai.address);
                }
                Some(Workbook {
                    display_name: str_at(w, "properties.displayName")?,
                    category: str_at(w, "properties.category")?,
                    version: str_at(w, "properties.version")?,
                    kind: str_at(w, "kind")?,
                    content: data.replace(&ai.id, SOURCE_TOKEN),
                    file: WORKBOOK_FILE.to_string(),
                })
            }
            None => None,
        };
        let custom_metrics = insights.is_some_and(|ai| {
            get_path(&ai.body, "properties.CustomMetricsOptedInType").and_then(Value::as_str)
                == Some("WithDimensions")
        });
        if products.is_empty() && workbook.is_none() && !custom_metrics {
            return Ok(None);
        }
        Ok(Some(Consumers {
            products,
            product_apis,
            subscriptions,
            workbook,
            custom_metrics,
            source_token: SOURCE_TOKEN.to_string(),
        }))
    }
}

impl Consumers {
    /// What the Bicep module needs: a resource (and symbol) per product, its
    /// policy file and API links, and per subscription the product it names.
    pub fn bicep_context(&self) -> Value {
        let ty = |k: Kind| format!("'{}@{}'", k.arm_type(), k.api_version());
        let product_symbol =
            |id: &str| format!("product{}", upper_first(&camel_ident(id, "product")));
        let products: Vec<Value> = self
            .products
            .iter()
            .map(|p| {
                let symbol = product_symbol(&p.id);
                let mut props = json!({
                    "displayName": p.display_name,
                    "description": p.description,
                    "subscriptionRequired": p.subscription_required,
                    "state": if p.published { "published" } else { "notPublished" },
                });
                if let Some(a) = p.approval_required {
                    props["approvalRequired"] = json!(a);
                }
                let apis: Vec<Value> = self
                    .product_apis
                    .iter()
                    .filter(|a| a.product == p.id)
                    .map(|a| json!({"api": a.api, "symbol": format!("{symbol}Api{}", upper_first(&camel_ident(&a.api, "api")))}))
                    .collect();
                json!({
                    "id": p.id,
                    "symbol": symbol,
                    "comment": format!("Product {}: {}", p.id, p.description).replace(['\n', '\r'], " "),
                    "properties": props,
                    "policy_format": p.policy_format,
                    "policy_file": format!("../{}", p.policy_file),
                    "apis": apis,
                })
            })
            .collect();
        let subscriptions: Vec<Value> = self
            .subscriptions
            .iter()
            .map(|s| {
                let product = product_symbol(&s.product);
                let mut deps = vec![format!("{product}Policy")];
                deps.extend(
                    self.product_apis
                        .iter()
                        .filter(|a| a.product == s.product)
                        .map(|a| format!("{product}Api{}", upper_first(&camel_ident(&a.api, "api")))),
                );
                json!({
                    "symbol": format!("subscription{}", upper_first(&camel_ident(&s.name, "consumer"))),
                    "name": s.name,
                    "display_name": s.display_name,
                    "product_symbol": product,
                    "state": s.state,
                    "allow_tracing": s.allow_tracing,
                    "depends_on": deps,
                })
            })
            .collect();
        json!({
            "products": products,
            "subscriptions": subscriptions,
            "workbook_file": self.workbook.as_ref().map(|w| format!("../{}", w.file)),
            "types": {
                "product": ty(Kind::ApimProduct),
                "product_policy": ty(Kind::ApimProductPolicy),
                "product_api": ty(Kind::ApimProductApi),
                "subscription": ty(Kind::ApimSubscription),
                "workbook": ty(Kind::Workbook),
            },
        })
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

//! The custom metrics the policies emit for consumers: the token metrics of
//! every API policy (`llm-emit-token-metric`, at most 5 dimensions) and the
//! `Rejected Requests` metric (`emit-metric`) of every 429 and 403 a policy
//! answers itself. Both the API and the product templates take their XML
//! from here, so the dimensions are the same everywhere.

use serde_json::{json, Value};

use super::{cs_string, escape_xml};
use crate::desired::workbook::REJECTED_REQUESTS;
use crate::desired::{ApiPolicy, TokenMetrics};
use crate::topology::{MetricDimension, Mode};

/// The deployment the request named, as the policies store it.
pub const DEPLOYMENT_VARIABLE: &str = "oailb-deployment";
/// The consumer the product policy recognised (absent: no consumer product).
pub const CONSUMER_VARIABLE: &str = "oailb-consumer";
/// The consumer's cost centre, set by the product policy.
pub const COST_CENTER_VARIABLE: &str = "oailb-cost-center";

fn variable(name: &str, default: &str) -> String {
    format!(
        "@(context.Variables.GetValueOrDefault({}, {}))",
        cs_string(name),
        cs_string(default)
    )
}

/// The value attribute of dimension `d` in API policy `p` (single-quoted).
fn dimension_value(d: MetricDimension, p: &ApiPolicy) -> String {
    match d {
        MetricDimension::Consumer => variable(CONSUMER_VARIABLE, "none"),
        MetricDimension::Deployment => variable(DEPLOYMENT_VARIABLE, ""),
        // Policy mode chooses the backend itself; in pool mode APIM's pool
        // does, and the policy never learns which member served.
        MetricDimension::Backend => match p.mode {
            Mode::Policy => variable("oailb-backend", ""),
            Mode::Pool => format!(
                "@({} + context.Variables.GetValueOrDefault({}, {}))",
                cs_string("pool:"),
                cs_string(DEPLOYMENT_VARIABLE),
                cs_string("")
            ),
        },
        MetricDimension::Api => escape_xml(&p.api),
        MetricDimension::CostCenter => variable(COST_CENTER_VARIABLE, ""),
        MetricDimension::Subscription => {
            "@(context.Subscription == null ? \"\" : context.Subscription.Name)".into()
        }
        MetricDimension::Region => "@(context.Deployment.Region)".into(),
    }
}

/// `<emit-metric>` counting one request a policy turned away; `api` is the
/// value attribute of the `api` dimension.
pub fn rejected_xml(namespace: &str, api: &str, reason: &str, indent: &str) -> String {
    let dims = [
        ("consumer", variable(CONSUMER_VARIABLE, "none")),
        ("deployment", variable(DEPLOYMENT_VARIABLE, "")),
        ("api", api.to_string()),
        ("reason", escape_xml(reason)),
    ];
    let mut out = format!(
        "<emit-metric name=\"{}\" value=\"1\" namespace=\"{}\">",
        escape_xml(REJECTED_REQUESTS),
        escape_xml(namespace)
    );
    for (name, value) in dims {
        out.push_str(&format!(
            "\n{indent}    <dimension name=\"{name}\" value='{value}' />"
        ));
    }
    out.push_str(&format!("\n{indent}</emit-metric>"));
    out
}

/// The template context of an API policy's metrics, or null without consumers.
pub fn api_context(p: &ApiPolicy) -> Value {
    let Some(TokenMetrics {
        namespace,
        dimensions,
    }) = &p.token_metrics
    else {
        return Value::Null;
    };
    let dims: Vec<Value> = dimensions
        .iter()
        .map(|d| json!({"name": d.as_str(), "value": dimension_value(*d, p)}))
        .collect();
    json!({
        "namespace": escape_xml(namespace),
        "dimensions": dims,
        "rejected_capacity": rejected_xml(namespace, &escape_xml(&p.api), "capacity", "                        "),
        "rejected_pool": rejected_xml(namespace, &escape_xml(&p.api), "capacity", "                "),
    })
}

//! The fake's consumers' types: APIM products (and their API links and
//! policies), subscriptions with their secret keys, Azure Monitor
//! workbooks, and the Log Analytics query API `oailb usage` reads. Each
//! behaves as the 2024-05-01 (APIM), 2023-06-01 (workbooks) and v1 (Log
//! Analytics) REST references describe: required and read-only properties,
//! references that must exist, what GET returns and what it withholds.

use std::time::Duration;

use serde_json::{json, Value};

use super::{arm_error, get, policy_xml, query_param, Reply, State, Stored};

/// API versions of the types only consumers use.
pub(super) fn api_version(kind: &str) -> Option<&'static str> {
    match kind {
        "microsoft.insights/workbooks" => Some("2023-06-01"),
        _ => None,
    }
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Body rules of the consumers' types (REST references).
pub(super) fn validate(kind: &str, name: &str, body: &Value) -> Result<(), String> {
    let has = |p: &str| get(body, p).is_some_and(|v| !v.is_null());
    let required: &[&str] = match kind {
        "microsoft.apimanagement/service/products" => &["properties.displayName"],
        "microsoft.apimanagement/service/products/policies" => &["properties.value"],
        "microsoft.apimanagement/service/subscriptions" => {
            &["properties.displayName", "properties.scope"]
        }
        "microsoft.insights/workbooks" => &[
            "location",
            "kind",
            "properties.displayName",
            "properties.serializedData",
            "properties.category",
        ],
        _ => &[],
    };
    for r in required {
        if !has(r) {
            return Err(format!("the property '{r}' is required"));
        }
    }
    match kind {
        "microsoft.apimanagement/service/products" => {
            let subscription = get(body, "properties.subscriptionRequired") != Some(&json!(false));
            if !subscription && get(body, "properties.approvalRequired") == Some(&json!(true)) {
                return Err(
                    "approvalRequired can be set only on a product that requires a subscription"
                        .into(),
                );
            }
        }
        "microsoft.apimanagement/service/subscriptions" => {
            if name.eq_ignore_ascii_case("master") {
                return Err("the subscription 'master' is built in".into());
            }
            for ro in [
                "properties.createdDate",
                "properties.startDate",
                "properties.notificationDate",
            ] {
                if has(ro) {
                    return Err(format!("the property '{ro}' is read-only"));
                }
            }
        }
        "microsoft.insights/workbooks" => {
            if !is_guid(name) {
                return Err(format!("the workbook name '{name}' must be a GUID"));
            }
            let data = get(body, "properties.serializedData")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if serde_json::from_str::<Value>(data).is_err() {
                return Err("serializedData is not JSON".into());
            }
            if get(body, "kind").and_then(Value::as_str) != Some("shared") {
                return Err("kind must be 'shared'".into());
            }
        }
        _ => {}
    }
    Ok(())
}

fn bad(message: &str) -> Reply {
    arm_error(400, "ValidationError", message)
}

/// What a PUT of a consumers' type needs besides its body: the resources
/// it names must exist (an API for a product link, a product for a
/// subscription), and a policy must be XML. Returns the body to store.
pub(super) fn check_put(st: &State, kind: &str, key: &str, body: &Value) -> Result<Value, Reply> {
    match kind {
        "microsoft.apimanagement/service/products/apis" => {
            let service = key.split("/products/").next().unwrap_or_default();
            let api = key.rsplit('/').next().unwrap_or_default();
            match st.resources.get(&format!("{service}/apis/{api}")) {
                // The link answers with the API it adds.
                Some(a) => Ok(
                    json!({"properties": a.body.get("properties").cloned().unwrap_or(json!({}))}),
                ),
                None => Err(arm_error(
                    404,
                    "ResourceNotFound",
                    &format!("API '{api}' not found"),
                )),
            }
        }
        "microsoft.apimanagement/service/products/policies" => {
            let xml = get(body, "properties.value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let format = get(body, "properties.format")
                .and_then(Value::as_str)
                .unwrap_or("xml");
            policy_xml::store(xml, format).map_err(|m| bad(&m))?;
            Ok(body.clone())
        }
        "microsoft.apimanagement/service/subscriptions" => {
            let scope = get(body, "properties.scope")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            // `/subscriptions/{sub}/…/service/{name}/subscriptions/{sid}`:
            // the service is everything before the last `/subscriptions/`.
            let service = key
                .rfind("/subscriptions/")
                .map(|i| &key[..i])
                .unwrap_or_default();
            let target = if scope.starts_with("/products/") || scope.starts_with("/apis/") {
                format!("{service}{scope}")
            } else {
                scope.clone()
            };
            if scope == "/apis" || st.resources.contains_key(&target) {
                Ok(body.clone())
            } else {
                Err(bad(&format!("scope '{scope}' names no product or API")))
            }
        }
        _ => Ok(body.clone()),
    }
}

/// Routes only consumers have: a product's API list (there is no GET of a
/// single link), a subscription's keys, and the Log Analytics query API.
pub(super) fn route(
    st: &mut State,
    method: &str,
    lower: &str,
    body: Option<&Value>,
) -> Option<(Reply, Duration)> {
    let reply = |r: Reply| Some((r, Duration::ZERO));
    if method == "POST" && lower.ends_with("/listsecrets") && lower.contains("/subscriptions/") {
        let sub = lower.trim_end_matches("/listsecrets");
        if sub.ends_with("/subscriptions/master") {
            return None;
        }
        return reply(match st.resources.get(sub) {
            Some(s) => {
                let name = s.id.rsplit('/').next().unwrap_or_default().to_string();
                (
                    200,
                    vec![],
                    json!({"primaryKey": format!("fake-{name}-primary-key"), "secondaryKey": format!("fake-{name}-secondary-key")}),
                )
            }
            None => arm_error(404, "ResourceNotFound", "no such subscription"),
        });
    }
    if lower.contains("/products/") && lower.contains("/apis") {
        let segs: Vec<&str> = lower.trim_end_matches('/').split('/').collect();
        let at = segs.iter().rposition(|s| *s == "apis")?;
        if segs.get(at - 2) != Some(&"products") {
            return None;
        }
        let listing = at == segs.len() - 1;
        if method == "GET" && listing {
            let product = &lower[..lower.len() - "/apis".len()];
            if !st.resources.contains_key(product) {
                return reply(arm_error(404, "ResourceNotFound", "product not found"));
            }
            let prefix = format!("{lower}/");
            let items: Vec<Value> = st
                .resources
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                .map(|(_, s)| link_view(s))
                .collect();
            return reply((200, vec![], json!({"value": items})));
        }
        if method == "GET" && at == segs.len() - 2 {
            // ProductApi has HEAD, PUT and DELETE: no GET of one link.
            return reply(arm_error(
                405,
                "MethodNotAllowed",
                "GET of a single product API is not supported; list the product's APIs",
            ));
        }
    }
    if let Some(rest) = lower.strip_prefix("/v1/workspaces/") {
        if method != "POST" || !rest.ends_with("/query") {
            return reply(arm_error(404, "PathNotFoundError", "unknown path"));
        }
        let workspace = rest.trim_end_matches("/query");
        return reply(logs_query(st, workspace, body));
    }
    None
}

fn link_view(s: &Stored) -> Value {
    let name = s.id.rsplit('/').next().unwrap_or_default();
    let service = s.id.split("/products/").next().unwrap_or_default();
    json!({
        "id": format!("{service}/apis/{name}"),
        "type": "Microsoft.ApiManagement/service/apis",
        "name": name,
        "properties": s.body.get("properties").cloned().unwrap_or(json!({})),
    })
}

/// GET of the consumers' types (`view.rs` calls it for their kinds).
pub(super) fn view(kind: &str, id: &str, b: &mut Value, query: &str) {
    let mut props = b["properties"].take();
    let p = &mut props;
    match kind {
        "microsoft.apimanagement/service/products" => {
            let o = p.as_object_mut().expect("object");
            o.entry("approvalRequired").or_insert(json!(false));
            o.entry("subscriptionRequired").or_insert(json!(true));
            o.entry("state").or_insert(json!("notPublished"));
            o.entry("terms").or_insert(Value::Null);
        }
        "microsoft.apimanagement/service/subscriptions" => {
            let o = p.as_object_mut().expect("object");
            // Keys only through listSecrets; dates filled in; the scope as
            // a full id.
            o.remove("primaryKey");
            o.remove("secondaryKey");
            o.insert("createdDate".into(), json!("2026-01-01T00:00:00Z"));
            o.insert("startDate".into(), json!("2026-01-01T00:00:00Z"));
            o.entry("allowTracing").or_insert(json!(true));
            if let Some(scope) = o.get("scope").and_then(Value::as_str) {
                let full = if scope.starts_with("/products/") || scope.starts_with("/apis/") {
                    let service = id
                        .rfind("/subscriptions/")
                        .map(|i| &id[..i])
                        .unwrap_or_default();
                    format!("{service}{scope}")
                } else {
                    scope.to_string()
                };
                o.insert(
                    "scope".into(),
                    json!(full.replace("/resourceGroups/", "/resourcegroups/")),
                );
            }
            o.remove("ownerId");
        }
        "microsoft.insights/workbooks" => {
            // The content only when asked for (`canFetchContent=true`).
            if query_param(query, "canFetchContent").as_deref() != Some("true") {
                p.as_object_mut().expect("object").remove("serializedData");
            }
            if let Some(src) = p.get("sourceId").and_then(Value::as_str) {
                p["sourceId"] = json!(src.to_ascii_lowercase());
            }
            p["timeModified"] = json!("2026-01-01T00:00:00Z");
            p["userId"] = json!("00000000-0000-0000-0000-00000000d00d");
            p["revision"] = json!("0f3e2d1c0b0a09080706050403020100");
            p.as_object_mut()
                .expect("object")
                .entry("storageUri")
                .or_insert(Value::Null);
            b["id"] = json!(id.to_ascii_lowercase());
        }
        _ => {}
    }
    b["properties"] = props;
}

/// A canned answer of the Log Analytics query API: the query text it
/// expects (compared without layout white space) and the tables it returns.
#[derive(Debug, Clone)]
pub struct LogsAnswer {
    pub workspace_id: String,
    pub query: String,
    pub tables: Value,
}

fn squash(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn logs_query(st: &mut State, workspace: &str, body: Option<&Value>) -> Reply {
    let err = |status: u16, code: &str, message: &str| {
        (
            status,
            vec![],
            json!({"error": {"code": code, "message": message}}),
        )
    };
    let Some(q) = body.and_then(|b| b.get("query")).and_then(Value::as_str) else {
        return err(400, "BadArgumentError", "the request has no query");
    };
    let Some(answer) = st
        .logs
        .iter()
        .find(|a| a.workspace_id.eq_ignore_ascii_case(workspace))
    else {
        return err(
            404,
            "WorkspaceNotFoundError",
            &format!("workspace {workspace} not found"),
        );
    };
    if squash(q) != squash(&answer.query) {
        return err(
            400,
            "BadArgumentError",
            &format!(
                "the fake expects another query.\n--- expected\n{}\n--- received\n{q}",
                answer.query
            ),
        );
    }
    st.logs_queries.push(q.to_string());
    (200, vec![], json!({"tables": answer.tables}))
}

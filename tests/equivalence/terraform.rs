//! Reads rendered Terraform back: parses every `*.tf` with HashiCorp-syntax
//! parser hcl-rs, evaluates variables (their defaults), locals, `for_each`,
//! `each`, references and the functions oailb uses, and maps each resource
//! instance to the ARM resource it creates (id, type, body fields).
//!
//! Provider-computed attributes (`id`, an identity's `principal_id`, a
//! connection string) evaluate to `ref:<arm id>:<ARM path>` markers, the
//! same form the test gives the desired state's placeholders.

use std::collections::BTreeMap;
use std::path::Path;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::Expression;
use hcl::structure::{Block, Body};
use serde_json::{json, Map, Value};

use super::Record;

fn to_json(v: hcl::Value) -> Value {
    serde_json::to_value(v).expect("hcl value to JSON")
}

fn to_hcl(v: &Value) -> hcl::Value {
    serde_json::from_value(v.clone()).expect("JSON to hcl value")
}

fn f_lower(args: FuncArgs) -> Result<hcl::Value, String> {
    Ok(hcl::Value::String(
        args[0]
            .as_str()
            .ok_or("lower: not a string")?
            .to_lowercase(),
    ))
}

fn f_split(args: FuncArgs) -> Result<hcl::Value, String> {
    let sep = args[0].as_str().ok_or("split: separator")?;
    let s = args[1].as_str().ok_or("split: string")?;
    Ok(hcl::Value::Array(
        s.split(sep).map(|x| hcl::Value::String(x.into())).collect(),
    ))
}

fn f_uuidv5(args: FuncArgs) -> Result<hcl::Value, String> {
    let ns = uuid::Uuid::parse_str(args[0].as_str().ok_or("uuidv5: namespace")?)
        .map_err(|e| e.to_string())?;
    let name = args[1].as_str().ok_or("uuidv5: name")?;
    Ok(hcl::Value::String(
        uuid::Uuid::new_v5(&ns, name.as_bytes()).to_string(),
    ))
}

/// `file()` cannot read here (functions are plain `fn`s): it returns a
/// marker that [`resolve_files`] replaces with the content.
fn f_file(args: FuncArgs) -> Result<hcl::Value, String> {
    Ok(hcl::Value::String(format!(
        "file:{}",
        args[0].as_str().ok_or("file: path")?
    )))
}

/// `replace(file(...), a, b)`: the file is read here (its marker would
/// not hold the text to replace).
fn f_replace(args: FuncArgs) -> Result<hcl::Value, String> {
    let text = args[0].as_str().ok_or("replace: string")?;
    let text = match text.strip_prefix("file:") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("file({path}): {e}"))?,
        None => text.to_string(),
    };
    let from = args[1].as_str().ok_or("replace: substring")?;
    let to = args[2].as_str().ok_or("replace: replacement")?;
    Ok(hcl::Value::String(text.replace(from, to)))
}

fn f_merge(args: FuncArgs) -> Result<hcl::Value, String> {
    let mut out = hcl::Map::new();
    for a in args.iter() {
        match a {
            hcl::Value::Object(o) => out.extend(o.clone()),
            hcl::Value::Null => {}
            _ => return Err("merge: not an object".into()),
        }
    }
    Ok(hcl::Value::Object(out))
}

fn resolve_files(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with("file:") => {
            let path = &s["file:".len()..];
            *v = Value::String(std::fs::read_to_string(path).unwrap_or_else(|e| {
                panic!("terraform file({path}): {e}");
            }));
        }
        Value::Array(a) => a.iter_mut().for_each(resolve_files),
        Value::Object(o) => o.values_mut().for_each(resolve_files),
        _ => {}
    }
}

struct Resource {
    ty: String,
    name: String,
    body: Body,
}

pub struct Module {
    pub variables: Map<String, Value>,
    /// Variables declared `sensitive = true`.
    pub sensitive: Vec<String>,
    locals: Vec<(String, Expression)>,
    resources: Vec<Resource>,
    /// `data` blocks: read, never created.
    data: Vec<Resource>,
    outputs: Vec<(String, Expression)>,
    dir: String,
}

/// Attributes of `object({...})` inside a variable's `type` that are
/// `optional(...)`: Terraform fills them with null.
fn optional_attributes(e: &Expression, out: &mut Vec<String>) {
    match e {
        Expression::FuncCall(f) => {
            for a in &f.args {
                optional_attributes(a, out);
            }
        }
        Expression::Object(o) => {
            for (k, v) in o {
                if let Expression::FuncCall(f) = v {
                    if f.name.to_string() == "optional" {
                        out.push(match k {
                            hcl::expr::ObjectKey::Identifier(i) => i.to_string(),
                            hcl::expr::ObjectKey::Expression(Expression::String(s)) => s.clone(),
                            other => format!("{other:?}"),
                        });
                        continue;
                    }
                }
                optional_attributes(v, out);
            }
        }
        _ => {}
    }
}

/// `map(object({... x = optional(T) ...}))`: every instance gets `x = null`
/// when its default leaves it out.
fn fill_optionals(v: &mut Value, names: &[String]) {
    if let Value::Object(map) = v {
        for instance in map.values_mut() {
            if let Value::Object(o) = instance {
                for n in names {
                    o.entry(n.clone()).or_insert(Value::Null);
                }
            }
        }
    }
}

impl Module {
    pub fn load(dir: &Path) -> Module {
        let mut m = Module {
            variables: Map::new(),
            sensitive: Vec::new(),
            locals: Vec::new(),
            resources: Vec::new(),
            data: Vec::new(),
            outputs: Vec::new(),
            dir: dir.display().to_string(),
        };
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        names.sort();
        for path in names {
            let text = std::fs::read_to_string(&path).unwrap();
            let body: Body = hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            for block in body.blocks() {
                m.add_block(block);
            }
        }
        m
    }

    fn add_block(&mut self, b: &Block) {
        let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_string()).collect();
        match b.identifier.as_str() {
            "variable" => {
                let name = labels[0].clone();
                let attr = |k: &str| b.body.attributes().find(|a| a.key.as_str() == k);
                if attr("sensitive").is_some_and(|a| matches!(a.expr, Expression::Bool(true))) {
                    self.sensitive.push(name.clone());
                }
                let default = match attr("default") {
                    Some(a) => to_json(
                        a.expr
                            .evaluate(&Context::new())
                            .unwrap_or_else(|e| panic!("default of {name}: {e}")),
                    ),
                    // Sensitive inputs have no default: their value is a secret.
                    None => json!("secret"),
                };
                let mut default = default;
                if let Some(t) = attr("type") {
                    let mut opt = Vec::new();
                    optional_attributes(&t.expr, &mut opt);
                    if !opt.is_empty() {
                        fill_optionals(&mut default, &opt);
                    }
                }
                self.variables.insert(name, default);
            }
            "locals" => {
                for a in b.body.attributes() {
                    self.locals.push((a.key.to_string(), a.expr.clone()));
                }
            }
            "resource" => self.resources.push(Resource {
                ty: labels[0].clone(),
                name: labels[1].clone(),
                body: b.body.clone(),
            }),
            "output" => {
                let value = b
                    .body
                    .attributes()
                    .find(|a| a.key.as_str() == "value")
                    .expect("output value");
                self.outputs.push((labels[0].clone(), value.expr.clone()));
            }
            "data" => self.data.push(Resource {
                ty: labels[0].clone(),
                name: labels[1].clone(),
                body: b.body.clone(),
            }),
            _ => {}
        }
    }
}

/// Evaluation state: resource symbols (`type.name[key].attr`) and locals.
struct Eval<'m> {
    m: &'m Module,
    symbols: Map<String, Value>,
    locals: Map<String, Value>,
    records: BTreeMap<String, (Record, String)>,
}

impl Eval<'_> {
    fn ctx(&self, each: Option<(&Value, &Value)>) -> Context<'static> {
        let mut ctx = Context::new();
        ctx.declare_var("var", to_hcl(&Value::Object(self.m.variables.clone())));
        ctx.declare_var("local", to_hcl(&Value::Object(self.locals.clone())));
        ctx.declare_var("path", to_hcl(&json!({"module": self.m.dir})));
        for (k, v) in &self.symbols {
            ctx.declare_var(k.clone(), to_hcl(v));
        }
        if let Some((key, value)) = each {
            ctx.declare_var("each", to_hcl(&json!({"key": key, "value": value})));
        }
        ctx.declare_func(
            "lower",
            FuncDef::builder().param(ParamType::String).build(f_lower),
        );
        ctx.declare_func(
            "split",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(f_split),
        );
        ctx.declare_func(
            "uuidv5",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .build(f_uuidv5),
        );
        ctx.declare_func(
            "file",
            FuncDef::builder().param(ParamType::String).build(f_file),
        );
        ctx.declare_func(
            "replace",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::String)
                .param(ParamType::String)
                .build(f_replace),
        );
        ctx.declare_func(
            "merge",
            FuncDef::builder()
                .variadic_param(ParamType::Any)
                .build(f_merge),
        );
        ctx
    }

    fn eval(&self, e: &Expression, each: Option<(&Value, &Value)>) -> Result<Value, String> {
        e.evaluate(&self.ctx(each))
            .map(to_json)
            .map_err(|e| e.to_string())
    }

    /// Evaluates a block body into JSON: attributes as keys, nested blocks
    /// as objects (a repeated block as an array).
    fn body(&self, b: &Body, each: Option<(&Value, &Value)>) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for a in b.attributes() {
            if matches!(a.key.as_str(), "depends_on" | "for_each" | "lifecycle") {
                continue;
            }
            out.insert(a.key.to_string(), self.eval(&a.expr, each)?);
        }
        for blk in b.blocks() {
            let v = Value::Object(self.body(&blk.body, each)?);
            match out.get_mut(blk.identifier.as_str()) {
                Some(Value::Array(a)) => a.push(v),
                Some(prev) => {
                    let p = prev.take();
                    *prev = json!([p, v]);
                }
                None => {
                    out.insert(blk.identifier.to_string(), v);
                }
            }
        }
        Ok(out)
    }
}

fn s(o: &Map<String, Value>, k: &str) -> String {
    o.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("attribute {k} missing or not a string in {o:?}"))
        .to_string()
}

thread_local! {
    /// Subscription the azurerm provider deploys into.
    static SUBSCRIPTION: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn rg_id(rg: &str) -> String {
    SUBSCRIPTION.with(|s| format!("/subscriptions/{}/resourceGroups/{rg}", s.borrow()))
}

fn provider_id(rg: &str, path: &str) -> String {
    format!("{}/providers/{path}", rg_id(rg))
}

fn apim_id(o: &Map<String, Value>) -> String {
    provider_id(
        &s(o, "resource_group_name"),
        &format!(
            "Microsoft.ApiManagement/service/{}",
            s(o, "api_management_name")
        ),
    )
}

fn r(id: &str, path: &str) -> Value {
    json!(format!("ref:{id}:{path}"))
}

fn tags(o: &Map<String, Value>) -> Value {
    o.get("tags").cloned().unwrap_or(json!({}))
}

/// Maps one evaluated azurerm/azapi resource instance to its ARM record,
/// and the attributes other resources can reference.
fn to_arm(ty: &str, o: &Map<String, Value>, sensitive: &[String]) -> (Record, Value) {
    let _ = sensitive;
    let (arm_type, id, body, symbol): (&str, String, Value, Value) = match ty {
        "azurerm_resource_group" => {
            let id = rg_id(&s(o, "name"));
            (
                "Microsoft.Resources/resourceGroups",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o)}),
                json!({"id": id, "name": o["name"], "location": o["location"]}),
            )
        }
        "azurerm_log_analytics_workspace" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!("Microsoft.OperationalInsights/workspaces/{}", s(o, "name")),
            );
            (
                "Microsoft.OperationalInsights/workspaces",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o), "properties": {"sku": {"name": o["sku"]}, "retentionInDays": o["retention_in_days"]}}),
                json!({"id": id, "name": o["name"]}),
            )
        }
        "azurerm_application_insights" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!("Microsoft.Insights/components/{}", s(o, "name")),
            );
            (
                "Microsoft.Insights/components",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o), "kind": o["application_type"], "properties": {
                    "Application_Type": o["application_type"], "WorkspaceResourceId": o["workspace_id"]}}),
                json!({"id": id, "name": o["name"], "connection_string": r(&id, "properties.ConnectionString")}),
            )
        }
        "azurerm_user_assigned_identity" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!(
                    "Microsoft.ManagedIdentity/userAssignedIdentities/{}",
                    s(o, "name")
                ),
            );
            (
                "Microsoft.ManagedIdentity/userAssignedIdentities",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o)}),
                json!({"id": id, "name": o["name"], "principal_id": r(&id, "properties.principalId"), "client_id": r(&id, "properties.clientId")}),
            )
        }
        "azurerm_cognitive_account" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!("Microsoft.CognitiveServices/accounts/{}", s(o, "name")),
            );
            let public = o["public_network_access_enabled"].as_bool().unwrap_or(true);
            (
                "Microsoft.CognitiveServices/accounts",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o), "kind": o["kind"], "sku": {"name": o["sku_name"]},
                "identity": {"type": o["identity"]["type"]},
                "properties": {
                    "customSubDomainName": o["custom_subdomain_name"],
                    "publicNetworkAccess": if public { "Enabled" } else { "Disabled" },
                    "disableLocalAuth": !o["local_auth_enabled"].as_bool().unwrap_or(true),
                    "restrictOutboundNetworkAccess": o.get("outbound_network_access_restricted").cloned().unwrap_or(json!(false)),
                }}),
                json!({"id": id, "name": o["name"], "endpoint": r(&id, "properties.endpoint")}),
            )
        }
        "azurerm_cognitive_deployment" => {
            let id = format!(
                "{}/deployments/{}",
                s(o, "cognitive_account_id"),
                s(o, "name")
            );
            let mut props =
                json!({"model": o["model"], "versionUpgradeOption": o["version_upgrade_option"]});
            if let Some(rai) = o.get("rai_policy_name").filter(|v| !v.is_null()) {
                props["raiPolicyName"] = rai.clone();
            }
            (
                "Microsoft.CognitiveServices/accounts/deployments",
                id.clone(),
                json!({"sku": o["sku"], "properties": props}),
                json!({"id": id, "name": o["name"]}),
            )
        }
        "azurerm_api_management" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!("Microsoft.ApiManagement/service/{}", s(o, "name")),
            );
            let sku = s(o, "sku_name");
            let (sku_name, cap) = sku.split_once('_').expect("sku_name is <tier>_<capacity>");
            let mut identity = json!({"type": o["identity"]["type"]});
            if let Some(ids) = o["identity"].get("identity_ids").and_then(Value::as_array) {
                let m: Map<String, Value> = ids
                    .iter()
                    .map(|i| (i.as_str().unwrap().to_string(), json!({})))
                    .collect();
                identity["userAssignedIdentities"] = Value::Object(m);
            }
            let mut props = json!({"publisherEmail": o["publisher_email"], "publisherName": o["publisher_name"]});
            if let Some(sec) = o.get("security").and_then(Value::as_object) {
                const P: &str = "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.";
                let mut cp = Map::new();
                for (k, v) in sec {
                    let prop = match k.as_str() {
                        "frontend_tls10_enabled" => "Protocols.Tls10",
                        "frontend_tls11_enabled" => "Protocols.Tls11",
                        "frontend_ssl30_enabled" => "Protocols.Ssl30",
                        "backend_tls10_enabled" => "Backend.Protocols.Tls10",
                        "backend_tls11_enabled" => "Backend.Protocols.Tls11",
                        "backend_ssl30_enabled" => "Backend.Protocols.Ssl30",
                        "triple_des_ciphers_enabled" => "Ciphers.TripleDes168",
                        other => panic!("unmapped security argument {other}"),
                    };
                    let on = v.as_bool().expect("bool");
                    cp.insert(
                        format!("{P}{prop}"),
                        json!(if on { "True" } else { "False" }),
                    );
                }
                props["customProperties"] = Value::Object(cp);
            }
            let blocks = match o.get("additional_location") {
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => vec![],
            };
            if !blocks.is_empty() {
                let locations: Vec<Value> = blocks
                    .iter()
                    .map(|l| {
                        let mut x = json!({"location": l["location"], "sku": {"name": sku_name, "capacity": l["capacity"]}});
                        if l["zones"].as_array().is_some_and(|z| !z.is_empty()) {
                            x["zones"] = l["zones"].clone();
                        }
                        x
                    })
                    .collect();
                props["additionalLocations"] = Value::Array(locations);
            }
            (
                "Microsoft.ApiManagement/service",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o),
                    "sku": {"name": sku_name, "capacity": cap.parse::<u64>().unwrap()},
                    "identity": identity, "properties": props}),
                json!({"id": id, "name": o["name"], "gateway_url": r(&id, "properties.gatewayUrl"),
                    "identity": [{"principal_id": r(&id, "identity.principalId")}]}),
            )
        }
        "azurerm_role_assignment" => {
            let id = format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{}",
                s(o, "scope"),
                s(o, "name")
            );
            (
                "Microsoft.Authorization/roleAssignments",
                id.clone(),
                json!({"properties": {"roleDefinitionId": o["role_definition_id"], "principalId": o["principal_id"], "principalType": o["principal_type"]}}),
                json!({"id": id}),
            )
        }
        "azurerm_api_management_named_value" => {
            let id = format!("{}/namedValues/{}", apim_id(o), s(o, "name"));
            let mut props = json!({"displayName": o["display_name"], "secret": o.get("secret").cloned().unwrap_or(json!(false))});
            if let Some(v) = o.get("value") {
                props["value"] = v.clone();
            }
            if let Some(kv) = o.get("value_from_key_vault") {
                let mut k = json!({"secretIdentifier": kv["secret_id"]});
                if let Some(c) = kv.get("identity_client_id") {
                    k["identityClientId"] = c.clone();
                }
                props["keyVault"] = k;
            }
            (
                "Microsoft.ApiManagement/service/namedValues",
                id.clone(),
                json!({"properties": props}),
                json!({"id": id, "name": o["name"]}),
            )
        }
        "azurerm_api_management_api" => {
            let id = format!("{}/apis/{}", apim_id(o), s(o, "name"));
            let mut props = json!({
                "displayName": o["display_name"], "path": o["path"], "protocols": o["protocols"],
                "subscriptionRequired": o["subscription_required"],
                "subscriptionKeyParameterNames": o["subscription_key_parameter_names"],
                "apiType": o["api_type"],
            });
            if let Some(imp) = o.get("import") {
                props["format"] = imp["content_format"].clone();
                props["value"] = imp["content_value"].clone();
            }
            (
                "Microsoft.ApiManagement/service/apis",
                id.clone(),
                json!({"properties": props}),
                json!({"id": id, "name": o["name"]}),
            )
        }
        "azurerm_api_management_api_operation" => {
            let id = format!(
                "{}/apis/{}/operations/{}",
                apim_id(o),
                s(o, "api_name"),
                s(o, "operation_id")
            );
            (
                "Microsoft.ApiManagement/service/apis/operations",
                id.clone(),
                json!({"properties": {"displayName": o["display_name"], "method": o["method"], "urlTemplate": o["url_template"]}}),
                json!({"id": id}),
            )
        }
        "azurerm_api_management_api_policy" => {
            let id = format!("{}/apis/{}/policies/policy", apim_id(o), s(o, "api_name"));
            // azurerm sends xml_content with format "rawxml".
            (
                "Microsoft.ApiManagement/service/apis/policies",
                id.clone(),
                json!({"properties": {"format": "rawxml", "value": o["xml_content"]}}),
                json!({"id": id}),
            )
        }
        "azurerm_api_management_logger" => {
            let id = format!("{}/loggers/{}", apim_id(o), s(o, "name"));
            let ai = o["application_insights"]
                .as_object()
                .expect("application_insights block");
            (
                "Microsoft.ApiManagement/service/loggers",
                id.clone(),
                json!({"properties": {"loggerType": "applicationInsights", "description": o["description"],
                    "resourceId": o["resource_id"], "credentials": {"connectionString": ai["connection_string"]}}}),
                json!({"id": id, "name": o["name"]}),
            )
        }
        "azurerm_managed_redis" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!("Microsoft.Cache/redisEnterprise/{}", s(o, "name")),
            );
            let ha = o["high_availability_enabled"].as_bool().unwrap_or(true);
            let db = format!("{id}/databases/default");
            (
                "Microsoft.Cache/redisEnterprise",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o), "sku": {"name": o["sku_name"]},
                    "properties": {"highAvailability": if ha { "Enabled" } else { "Disabled" },
                        "publicNetworkAccess": o.get("public_network_access").cloned().unwrap_or(json!("Enabled"))}}),
                json!({"id": id, "name": o["name"], "hostname": r(&id, "properties.hostName"),
                    "default_database": [{"port": r(&db, "properties.port"), "primary_access_key": r(&db, "listKeys.primaryKey")}]}),
            )
        }
        "azurerm_api_management_redis_cache" => {
            let id = format!("{}/caches/{}", s(o, "api_management_id"), s(o, "name"));
            (
                "Microsoft.ApiManagement/service/caches",
                id.clone(),
                json!({"properties": {"description": o["description"], "connectionString": o["connection_string"], "useFromLocation": o["cache_location"]}}),
                json!({"id": id, "name": o["name"]}),
            )
        }
        "azurerm_api_management_product" => {
            let id = format!("{}/products/{}", apim_id(o), s(o, "product_id"));
            let published = o["published"].as_bool().expect("published");
            let mut props = json!({
                "displayName": o["display_name"], "description": o["description"],
                "subscriptionRequired": o["subscription_required"],
                "state": if published { "published" } else { "notPublished" },
            });
            if let Some(a) = o.get("approval_required").filter(|v| !v.is_null()) {
                props["approvalRequired"] = a.clone();
            }
            (
                "Microsoft.ApiManagement/service/products",
                id.clone(),
                json!({"properties": props}),
                json!({"id": id, "product_id": o["product_id"]}),
            )
        }
        "azurerm_api_management_product_policy" => {
            let id = format!(
                "{}/products/{}/policies/policy",
                apim_id(o),
                s(o, "product_id")
            );
            (
                "Microsoft.ApiManagement/service/products/policies",
                id.clone(),
                json!({"properties": {"format": "rawxml", "value": o["xml_content"]}}),
                json!({"id": id}),
            )
        }
        "azurerm_api_management_product_api" => {
            let id = format!(
                "{}/products/{}/apis/{}",
                apim_id(o),
                s(o, "product_id"),
                s(o, "api_name")
            );
            (
                "Microsoft.ApiManagement/service/products/apis",
                id.clone(),
                json!({}),
                json!({"id": id}),
            )
        }
        "azurerm_api_management_subscription" => {
            let id = format!("{}/subscriptions/{}", apim_id(o), s(o, "subscription_id"));
            (
                "Microsoft.ApiManagement/service/subscriptions",
                id.clone(),
                json!({"properties": {"displayName": o["display_name"], "scope": o["product_id"],
                    "state": o["state"], "allowTracing": o["allow_tracing"]}}),
                json!({"id": id, "primary_key": r(&id, "properties.primaryKey")}),
            )
        }
        "azurerm_application_insights_workbook" => {
            let id = provider_id(
                &s(o, "resource_group_name"),
                &format!("Microsoft.Insights/workbooks/{}", s(o, "name")),
            );
            (
                "Microsoft.Insights/workbooks",
                id.clone(),
                json!({"location": o["location"], "tags": tags(o), "kind": "shared", "properties": {
                    "displayName": o["display_name"], "category": o["category"],
                    "sourceId": o["source_id"], "serializedData": o["data_json"]}}),
                json!({"id": id}),
            )
        }
        "azapi_resource" => {
            let full = s(o, "type");
            let (t, version) = full.split_once('@').expect("azapi type has @version");
            let last = t.rsplit('/').next().unwrap();
            let id = format!("{}/{last}/{}", s(o, "parent_id"), s(o, "name"));
            let rec = Record {
                arm_type: t.to_string(),
                id: id.clone(),
                api_version: Some(version.to_string()),
                body: o["body"].clone(),
            };
            return (rec, json!({"id": id, "name": o["name"]}));
        }
        other => panic!("unexpected resource type {other}"),
    };
    (
        Record {
            arm_type: arm_type.to_string(),
            id,
            api_version: None,
            body,
        },
        symbol,
    )
}

/// The one database `azurerm_managed_redis` creates with its cluster.
fn managed_redis_database(cluster: &Record, o: &Map<String, Value>) -> Record {
    let d = &o["default_database"];
    let on = d["access_keys_authentication_enabled"]
        .as_bool()
        .unwrap_or(false);
    Record {
        arm_type: "Microsoft.Cache/redisEnterprise/databases".into(),
        id: format!("{}/databases/default", cluster.id),
        api_version: None,
        body: json!({"properties": {
            "clientProtocol": d["client_protocol"],
            "clusteringPolicy": d["clustering_policy"],
            "evictionPolicy": d["eviction_policy"],
            "accessKeysAuthentication": if on { "Enabled" } else { "Disabled" },
        }}),
    }
}

/// What a data source exposes: references to the resource it reads.
fn data_symbol(ty: &str, o: &Map<String, Value>) -> Value {
    let id = s(o, "resource_id");
    match ty {
        "azapi_resource" => json!({"id": id, "output": {"properties": {
            "hostName": r(&id, "properties.hostName"),
            "port": r(&id, "properties.port"),
        }}}),
        "azapi_resource_action" => {
            let action = s(o, "action");
            json!({"output": {"primaryKey": r(&id, &format!("{action}.primaryKey"))}})
        }
        other => panic!("unexpected data source {other}"),
    }
}

fn merge_into(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge_into(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Evaluates the module as the provider would deploy it into `subscription`
/// (used when `var.subscription_id` is null): its ARM records by id, and
/// its outputs.
pub fn evaluate(m: &Module, subscription: &str) -> (BTreeMap<String, Record>, Map<String, Value>) {
    let sub = m
        .variables
        .get("subscription_id")
        .and_then(Value::as_str)
        .unwrap_or(subscription)
        .to_string();
    SUBSCRIPTION.with(|s| *s.borrow_mut() = sub);
    let mut ev = Eval {
        m,
        symbols: Map::new(),
        locals: Map::new(),
        records: BTreeMap::new(),
    };
    let mut done_resources = vec![false; m.resources.len()];
    let mut done_data = vec![false; m.data.len()];
    let mut last_errors: Vec<String>;
    loop {
        let mut progress = false;
        last_errors = Vec::new();
        for (name, e) in &m.locals {
            if ev.locals.contains_key(name) {
                continue;
            }
            match ev.eval(e, None) {
                Ok(v) => {
                    ev.locals.insert(name.clone(), v);
                    progress = true;
                }
                Err(err) => last_errors.push(format!("local.{name}: {err}")),
            }
        }
        for (i, d) in m.data.iter().enumerate() {
            if done_data[i] {
                continue;
            }
            match ev.body(&d.body, None) {
                Ok(o) => {
                    let sym = data_symbol(&d.ty, &o);
                    ev.symbols
                        .entry("data".to_string())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .unwrap()
                        .entry(d.ty.clone())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .unwrap()
                        .insert(d.name.clone(), sym);
                    done_data[i] = true;
                    progress = true;
                }
                Err(err) => last_errors.push(format!("data.{}.{}: {err}", d.ty, d.name)),
            }
        }
        for (i, res) in m.resources.iter().enumerate() {
            if done_resources[i] {
                continue;
            }
            let for_each = res
                .body
                .attributes()
                .find(|a| a.key.as_str() == "for_each")
                .map(|a| ev.eval(&a.expr, None));
            let instances: Vec<(Option<(Value, Value)>, String)> = match for_each {
                None => vec![(None, String::new())],
                Some(Err(err)) => {
                    last_errors.push(format!("{}.{} for_each: {err}", res.ty, res.name));
                    continue;
                }
                Some(Ok(Value::Object(map))) => map
                    .into_iter()
                    .map(|(k, v)| (Some((json!(k), v)), k))
                    .collect(),
                Some(Ok(other)) => panic!("for_each of {}.{} is {other}", res.ty, res.name),
            };
            let mut evaluated = Vec::new();
            let mut failed = None;
            for (each, key) in &instances {
                let each_ref = each.as_ref().map(|(k, v)| (k, v));
                match ev.body(&res.body, each_ref) {
                    Ok(o) => evaluated.push((key.clone(), o)),
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                }
            }
            if let Some(err) = failed {
                last_errors.push(format!("{}.{}: {err}", res.ty, res.name));
                continue;
            }
            let mut symbol = Map::new();
            for (key, mut o) in evaluated {
                let mut v = Value::Object(o.clone());
                resolve_files(&mut v);
                o = v.as_object().unwrap().clone();
                if res.ty == "azapi_update_resource" {
                    // Changes a resource another block creates: its body
                    // merges into that resource's.
                    let target = s(&o, "resource_id");
                    let (rec, _) = ev
                        .records
                        .get_mut(&target)
                        .unwrap_or_else(|| panic!("azapi_update_resource of unknown {target}"));
                    merge_into(&mut rec.body, &o["body"]);
                    continue;
                }
                let (rec, sym) = to_arm(&res.ty, &o, &m.sensitive);
                if res.ty == "azurerm_managed_redis" {
                    let db = managed_redis_database(&rec, &o);
                    ev.records
                        .insert(db.id.clone(), (db, format!("{}.{}", res.ty, res.name)));
                }
                let addr = if instances.len() == 1 && instances[0].0.is_none() {
                    format!("{}.{}", res.ty, res.name)
                } else {
                    format!("{}.{}[{key:?}]", res.ty, res.name)
                };
                if let Some(prev) = ev.records.insert(rec.id.clone(), (rec, addr.clone())) {
                    panic!("{addr} and {} create the same resource", prev.1);
                }
                if instances[0].0.is_none() {
                    symbol = sym.as_object().unwrap().clone();
                } else {
                    symbol.insert(key, sym);
                }
            }
            ev.symbols
                .entry(res.ty.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap()
                .insert(res.name.clone(), Value::Object(symbol));
            done_resources[i] = true;
            progress = true;
        }
        let all_done = done_resources.iter().all(|d| *d)
            && done_data.iter().all(|d| *d)
            && ev.locals.len() == m.locals.len();
        if all_done {
            break;
        }
        assert!(progress, "Terraform evaluation is stuck: {last_errors:#?}");
    }
    let mut outputs = Map::new();
    for (name, e) in &m.outputs {
        outputs.insert(
            name.clone(),
            ev.eval(e, None)
                .unwrap_or_else(|err| panic!("output {name}: {err}")),
        );
    }
    (
        ev.records.into_iter().map(|(k, (r, _))| (k, r)).collect(),
        outputs,
    )
}

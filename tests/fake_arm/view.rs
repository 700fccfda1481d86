//! What a GET returns: not the PUT body, but the resource as ARM presents
//! it. Read-only properties and server-filled defaults are added (values
//! from the REST spec examples of each type's API version), some enum values and ids
//! come back in another case (ARM treats both as equal; Insights and
//! OperationalInsights lowercase ids, ARM lowercases `resourcegroups` in
//! many), lists ARM keeps sorted come back sorted, the keys of every object
//! come in another order, policies are re-written by APIM's XML writer
//! (`policy_xml`), and secrets are never returned.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::policy_xml::{self, Export};
use super::{get, query_param, Stored};

const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
const SYSTEM_DATA: &str = "2026-01-01T00:00:00.0000000Z";

/// Region display names ARM uses for `location` on some types.
pub fn display_location(l: &str) -> String {
    match l {
        "eastus" => "East US".into(),
        "eastus2" => "East US 2".into(),
        "canadaeast" => "Canada East".into(),
        "swedencentral" => "Sweden Central".into(),
        "westeurope" => "West Europe".into(),
        "centralus" => "Central US".into(),
        "germanywestcentral" => "Germany West Central".into(),
        other => other.into(),
    }
}

/// `/resourceGroups/` as `/resourcegroups/`, the way many providers echo ids.
fn lower_rg(id: &str) -> String {
    id.replace("/resourceGroups/", "/resourcegroups/")
}

/// Inserts `key: value` unless the body already has the key.
fn default(o: &mut Value, key: &str, value: Value) {
    if let Some(m) = o.as_object_mut() {
        m.entry(key.to_string()).or_insert(value);
    }
}

/// The same object with its keys in reverse order, recursively: JSON
/// objects are unordered, and ARM's serializer does not keep the client's.
fn reorder(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m.into_iter().rev() {
                out.insert(k, reorder(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(reorder).collect()),
        other => other,
    }
}

/// The GET body of `s`.
pub fn view(s: &Stored, query: &str) -> Value {
    let mut b = s.body.clone();
    let ready = Instant::now() >= s.ready_at;
    let name = s.id.rsplit('/').next().unwrap_or_default().to_string();
    let o = b.as_object_mut().expect("stored bodies are objects");
    o.insert("id".into(), json!(lower_rg(&s.id)));
    o.insert("name".into(), json!(name));
    o.insert("type".into(), json!(arm_type(&s.kind)));
    let props = o.entry("properties").or_insert_with(|| json!({}));
    let p = props.as_object_mut().expect("properties object");
    p.remove("restore");
    if s.kind != "microsoft.authorization/roleassignments" {
        let state = match (&s.outcome, ready) {
            (_, false) => s.pending_state,
            (Some(f), true) => f.end.as_str(),
            (None, true) => "Succeeded",
        };
        p.insert("provisioningState".into(), json!(state));
    }
    if s.kind.matches('/').count() == 1 || s.kind == "resourcegroups" {
        b["systemData"] = json!({"createdBy": "deployer@contoso.com", "createdByType": "User",
            "createdAt": SYSTEM_DATA, "lastModifiedAt": SYSTEM_DATA});
    }
    let p = &mut b["properties"];
    match s.kind.as_str() {
        "resourcegroups" => {
            default(&mut b, "managedBy", Value::Null);
        }
        "microsoft.apimanagement/service" => {
            let host = format!("{name}.azure-api.net");
            p["gatewayUrl"] = json!(format!("https://{host}"));
            p["gatewayRegionalUrl"] =
                json!(format!("https://{name}-eastus-01.regional.azure-api.net"));
            p["developerPortalUrl"] = json!(format!("https://{name}.developer.azure-api.net"));
            p["managementApiUrl"] = json!(format!("https://{name}.management.azure-api.net"));
            p["hostnameConfigurations"] = json!([{"type": "Proxy", "hostName": host,
                "negotiateClientCertificate": false, "defaultSslBinding": true, "certificateSource": "BuiltIn"}]);
            p["publicIPAddresses"] = json!(["20.0.0.1"]);
            p["createdAtUtc"] = json!(SYSTEM_DATA);
            p["targetProvisioningState"] = json!("");
            default(p, "virtualNetworkType", json!("None"));
            default(p, "disableGateway", json!(false));
            default(p, "natGatewayState", json!("Disabled"));
            default(p, "publicNetworkAccess", json!("Enabled"));
            default(p, "platformVersion", json!("stv2"));
            // Every security setting is listed, the ones not sent at their
            // defaults, and the values in lower case.
            let mut custom: Map<String, Value> = [
                "Microsoft.WindowsAzure.ApiManagement.Gateway.Protocols.Server.Http2",
                "Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Ssl30",
            ]
            .iter()
            .map(|k| (k.to_string(), json!("false")))
            .collect();
            if let Some(sent) = p.get("customProperties").and_then(Value::as_object) {
                for (k, v) in sent {
                    let v = v
                        .as_str()
                        .map_or(v.clone(), |s| json!(s.to_ascii_lowercase()));
                    custom.insert(k.clone(), v);
                }
            }
            p["customProperties"] = Value::Object(custom);
            if let Some(extra) = p
                .get_mut("additionalLocations")
                .and_then(Value::as_array_mut)
            {
                // Each gateway region comes back with its own URLs and
                // addresses, under its display name.
                for (i, l) in extra.iter_mut().enumerate() {
                    let region = l
                        .get("location")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    l["location"] = json!(display_location(&region));
                    l["gatewayRegionalUrl"] =
                        json!(format!("https://{name}-{region}-01.regional.azure-api.net"));
                    l["publicIPAddresses"] = json!([format!("20.0.1.{}", i + 1)]);
                    default(l, "disableGateway", json!(false));
                    default(l, "natGatewayState", json!("Disabled"));
                    default(l, "platformVersion", json!("stv2"));
                    default(l, "virtualNetworkConfiguration", Value::Null);
                }
            }
            if let Some(l) = b.get("location").and_then(Value::as_str) {
                b["location"] = json!(display_location(l));
            }
            b["etag"] = json!("AAAAAAAAAAA=");
        }
        "microsoft.cache/redisenterprise" => {
            let region = b
                .get("location")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let p = &mut b["properties"];
            p["hostName"] = json!(format!("{name}.{region}.redis.azure.net"));
            p["redisVersion"] = json!("7.4");
            p["resourceState"] = json!(if ready { "Running" } else { "Creating" });
            p["privateEndpointConnections"] = json!([]);
            default(p, "highAvailability", json!("Enabled"));
            default(p, "minimumTlsVersion", json!("1.2"));
            default(p, "encryption", json!({}));
            let zoned = p.get("highAvailability") == Some(&json!("Enabled"));
            p["redundancyMode"] = json!(if zoned { "ZR" } else { "None" });
            b["kind"] = json!("v2");
            b["location"] = json!(display_location(&region));
        }
        "microsoft.cache/redisenterprise/databases" => {
            p["resourceState"] = json!(if ready { "Running" } else { "Creating" });
            p["redisVersion"] = json!("7.4");
            default(p, "port", json!(10000));
            default(p, "modules", json!([]));
            default(
                p,
                "persistence",
                json!({"aofEnabled": false, "rdbEnabled": false}),
            );
            default(p, "deferUpgrade", json!("NotDeferred"));
            // Enum values come back in ARM's own casing.
            if let Some(e) = p.get("evictionPolicy").and_then(Value::as_str) {
                let e = e.to_string();
                p["evictionPolicy"] = json!(e.to_ascii_lowercase().replace("lru", "LRU"));
            }
        }
        "microsoft.cognitiveservices/accounts" => {
            let sub = p
                .get("customSubDomainName")
                .and_then(Value::as_str)
                .unwrap_or(&name)
                .to_string();
            let endpoint = format!("https://{sub}.openai.azure.com/");
            p["endpoint"] = json!(endpoint);
            p["endpoints"] = json!({"OpenAI Language Model Instance API": endpoint,
                "OpenAI Realtime API": format!("wss://{sub}.openai.azure.com/")});
            p["internalId"] = json!("0123456789abcdef0123456789abcdef");
            p["dateCreated"] = json!(SYSTEM_DATA);
            p["capabilities"] =
                json!([{"name": "VirtualNetworks"}, {"name": "CustomerManagedKey"}]);
            p["callRateLimit"] = json!({"rules": []});
            default(p, "isMigrated", json!(false));
            default(p, "apiProperties", json!({}));
            default(
                p,
                "networkAcls",
                json!({"defaultAction": "Allow", "virtualNetworkRules": [], "ipRules": []}),
            );
            b["etag"] = json!("\"0000aaaa-0000-0000-0000-000000000000\"");
        }
        "microsoft.cognitiveservices/accounts/deployments" => {
            let capacity = get(&b, "sku.capacity").cloned().unwrap_or(json!(1));
            let p = &mut b["properties"];
            p["currentCapacity"] = capacity;
            p["rateLimits"] = json!([{"key": "request", "renewalPeriod": 10, "count": 120}]);
            p["capabilities"] = json!({"chatCompletion": "true", "maxContextToken": "16385"});
            // The content filter Azure applies when none is named.
            default(p, "raiPolicyName", json!("Microsoft.DefaultV2"));
        }
        "microsoft.operationalinsights/workspaces" => {
            if let Some(n) = p.pointer("/sku/name").and_then(Value::as_str) {
                p["sku"]["name"] = json!(n.to_ascii_lowercase());
            }
            p["sku"]["lastSkuUpdate"] = json!(SYSTEM_DATA);
            p["customerId"] = json!("00000000-0000-0000-0000-00000000c0de");
            p["createdDate"] = json!(SYSTEM_DATA);
            p["modifiedDate"] = json!(SYSTEM_DATA);
            p["features"] = json!({"legacy": 0, "searchVersion": 1, "enableLogAccessUsingOnlyResourcePermissions": true});
            p["workspaceCapping"] = json!({"dailyQuotaGb": -1.0, "quotaNextResetTime": SYSTEM_DATA, "dataIngestionStatus": "RespectQuota"});
            default(p, "publicNetworkAccessForIngestion", json!("Enabled"));
            default(p, "publicNetworkAccessForQuery", json!("Enabled"));
            b["id"] = json!(s.id.to_ascii_lowercase());
        }
        "microsoft.insights/components" => {
            p["ConnectionString"] = json!(format!("InstrumentationKey=fake-ikey-{name};IngestionEndpoint=https://fake.in.applicationinsights.azure.com/"));
            p["InstrumentationKey"] = json!(format!("fake-ikey-{name}"));
            p["AppId"] = json!("00000000-0000-0000-0000-0000000a9910");
            p["Name"] = json!(name);
            p["TenantId"] = json!(TENANT);
            p["CreationDate"] = json!(SYSTEM_DATA);
            p["Ver"] = json!("v2");
            p["Flow_Type"] = json!("Bluefield");
            p["Request_Source"] = json!("rest");
            default(p, "RetentionInDays", json!(90));
            default(p, "publicNetworkAccessForIngestion", json!("Enabled"));
            default(p, "publicNetworkAccessForQuery", json!("Enabled"));
            // Insights stores the workspace id in lower case.
            if let Some(ws) = p.get("WorkspaceResourceId").and_then(Value::as_str) {
                p["WorkspaceResourceId"] = json!(ws.to_ascii_lowercase());
            }
            b["id"] = json!(s.id.to_ascii_lowercase());
        }
        // Secret values are never returned.
        "microsoft.apimanagement/service/namedvalues" => {
            if p.get("secret") == Some(&json!(true)) {
                p.as_object_mut().expect("object").remove("value");
            }
            default(p, "tags", json!([]));
        }
        "microsoft.apimanagement/service/backends" => {
            if let Some(services) = p
                .pointer_mut("/pool/services")
                .and_then(Value::as_array_mut)
            {
                // Stored and returned by member id, whatever order was sent.
                for m in services.iter_mut() {
                    if let Some(id) = m.get("id").and_then(Value::as_str) {
                        m["id"] = json!(lower_rg(id));
                    }
                }
                services.sort_by_key(|m| {
                    m.get("id")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase)
                });
                services.reverse();
            }
        }
        "microsoft.apimanagement/service/loggers" => {
            p["credentials"] =
                json!({"connectionString": format!("{{{{Logger-Credentials--{name}}}}}")});
            default(p, "isBuffered", json!(true));
        }
        "microsoft.apimanagement/service/apis" => {
            let p = p.as_object_mut().expect("object");
            let t = p.remove("apiType").unwrap_or(json!("http"));
            p.remove("format");
            p.remove("value");
            p.insert("type".into(), t);
            p.insert("isCurrent".into(), json!(true));
            p.insert("apiRevision".into(), json!("1"));
            p.entry("authenticationSettings").or_insert(
                json!({"oAuth2AuthenticationSettings": [], "openidAuthenticationSettings": []}),
            );
            p.entry("serviceUrl").or_insert(Value::Null);
        }
        "microsoft.apimanagement/service/apis/operations" => {
            default(
                p,
                "request",
                json!({"queryParameters": [], "headers": [], "representations": []}),
            );
            default(p, "policies", Value::Null);
        }
        "microsoft.apimanagement/service/apis/diagnostics" => {
            default(p, "operationNameFormat", json!("Name"));
            if let Some(id) = p.get("loggerId").and_then(Value::as_str) {
                p["loggerId"] = json!(lower_rg(id));
            }
            if let Some(n) = p.pointer("/sampling/percentage").and_then(Value::as_f64) {
                p["sampling"]["percentage"] = json!(n);
            }
        }
        "microsoft.apimanagement/service/apis/policies"
        | "microsoft.apimanagement/service/products/policies" => {
            let format = p
                .get("format")
                .and_then(Value::as_str)
                .unwrap_or("xml")
                .to_string();
            let stored = p
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let raw = query_param(query, "format").as_deref() == Some("rawxml");
            let export = if raw { Export::RawXml } else { Export::Xml };
            p["value"] = json!(policy_xml::export(&stored, &format, export));
            // Only a rawxml GET names its format (spec examples).
            if raw {
                p["format"] = json!("rawxml");
            } else {
                p.as_object_mut().expect("object").remove("format");
            }
        }
        "microsoft.authorization/roleassignments" => {
            let scope =
                s.id.split("/providers/Microsoft.Authorization/")
                    .next()
                    .unwrap_or_default()
                    .to_string();
            p["scope"] = json!(scope);
            for k in [
                "condition",
                "conditionVersion",
                "description",
                "delegatedManagedIdentityResourceId",
            ] {
                default(p, k, Value::Null);
            }
            p["createdOn"] = json!(SYSTEM_DATA);
            p["updatedOn"] = json!(SYSTEM_DATA);
            p["createdBy"] = json!("00000000-0000-0000-0000-00000000d00d");
            p["updatedBy"] = json!("00000000-0000-0000-0000-00000000d00d");
        }
        _ => {}
    }
    super::consumers::view(&s.kind, &s.id, &mut b, query);
    if let Some((pid, _)) = &s.principal {
        if s.kind == "microsoft.managedidentity/userassignedidentities" {
            b["properties"]["principalId"] = json!(pid);
            b["properties"]["clientId"] = json!(format!("client-{pid}"));
            b["properties"]["tenantId"] = json!(TENANT);
        } else if b.get("identity").is_some() {
            b["identity"]["principalId"] = json!(pid);
            b["identity"]["tenantId"] = json!(TENANT);
        }
    }
    if let Some(ids) = b
        .pointer_mut("/identity/userAssignedIdentities")
        .and_then(Value::as_object_mut)
    {
        // Keys come back with ARM's casing and the identity's ids filled in.
        let sent = std::mem::take(ids);
        for (k, _) in sent {
            ids.insert(
                lower_rg(&k),
                json!({"principalId": "00000000-0000-0000-0000-0000000000ff", "clientId": "00000000-0000-0000-0000-0000000000fe"}),
            );
        }
    }
    reorder(b)
}

/// The `type` ARM returns: provider namespaces and type names as ARM
/// spells them (the stored kind is lowercase).
fn arm_type(kind: &str) -> String {
    match kind {
        "resourcegroups" => "Microsoft.Resources/resourceGroups".into(),
        "microsoft.operationalinsights/workspaces" => {
            "Microsoft.OperationalInsights/workspaces".into()
        }
        "microsoft.insights/components" => "microsoft.insights/components".into(),
        "microsoft.managedidentity/userassignedidentities" => {
            "Microsoft.ManagedIdentity/userAssignedIdentities".into()
        }
        "microsoft.cognitiveservices/accounts" => "Microsoft.CognitiveServices/accounts".into(),
        "microsoft.cognitiveservices/accounts/deployments" => {
            "Microsoft.CognitiveServices/accounts/deployments".into()
        }
        "microsoft.authorization/roleassignments" => {
            "Microsoft.Authorization/roleAssignments".into()
        }
        "microsoft.cache/redisenterprise" => "Microsoft.Cache/redisEnterprise".into(),
        "microsoft.cache/redisenterprise/databases" => {
            "Microsoft.Cache/redisEnterprise/databases".into()
        }
        k if k.starts_with("microsoft.apimanagement/") => {
            let rest = &k["microsoft.apimanagement/".len()..];
            format!("Microsoft.ApiManagement/{rest}")
        }
        other => other.into(),
    }
}

//! Values in a desired resource body that are only known later: an attribute
//! of another resource after it exists, a secret read at deploy time, a
//! rendered policy, a local file's content. They are JSON objects tagged
//! `"$oailb"`; each consumer resolves them its own way (Terraform reference,
//! Bicep expression, live ARM value).

use serde_json::{json, Map, Value};

const TAG: &str = "$oailb";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placeholder {
    /// `path` (dotted, as in the ARM GET body) of the resource at `address`.
    Ref { address: String, path: String },
    /// A secret read from an environment variable by `oailb deploy`.
    SecretEnv { var: String },
    /// The rendered policy XML of an API.
    Policy { api: String },
    /// The rendered policy XML of a consumers' product.
    ProductPolicy { product: String },
    /// Content of a local file (path relative to the topology file).
    File { path: String },
    /// The connection string of an Azure Managed Redis instance (ARM id of
    /// the cluster): its host, its database's port and access key, read at
    /// deploy time.
    CacheConnection { cluster: String },
}

impl Placeholder {
    pub fn to_value(&self) -> Value {
        match self {
            Placeholder::Ref { address, path } => {
                json!({ TAG: "ref", "address": address, "path": path })
            }
            Placeholder::SecretEnv { var } => json!({ TAG: "secret-env", "var": var }),
            Placeholder::Policy { api } => json!({ TAG: "policy", "api": api }),
            Placeholder::ProductPolicy { product } => {
                json!({ TAG: "product-policy", "product": product })
            }
            Placeholder::File { path } => json!({ TAG: "file", "path": path }),
            Placeholder::CacheConnection { cluster } => {
                json!({ TAG: "cache-connection", "cluster": cluster })
            }
        }
    }

    pub fn from_value(v: &Value) -> Option<Placeholder> {
        let o = v.as_object()?;
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        Some(match o.get(TAG)?.as_str()? {
            "ref" => Placeholder::Ref {
                address: s("address")?,
                path: s("path")?,
            },
            "secret-env" => Placeholder::SecretEnv { var: s("var")? },
            "policy" => Placeholder::Policy { api: s("api")? },
            "product-policy" => Placeholder::ProductPolicy {
                product: s("product")?,
            },
            "file" => Placeholder::File { path: s("path")? },
            "cache-connection" => Placeholder::CacheConnection {
                cluster: s("cluster")?,
            },
            _ => return None,
        })
    }

    pub fn is_secret(&self) -> bool {
        matches!(
            self,
            Placeholder::SecretEnv { .. } | Placeholder::CacheConnection { .. }
        )
    }
}

pub fn reference(address: &str, path: &str) -> Value {
    Placeholder::Ref {
        address: address.into(),
        path: path.into(),
    }
    .to_value()
}

/// Every placeholder in `v`, depth first, in document order.
pub fn collect(v: &Value) -> Vec<Placeholder> {
    let mut out = Vec::new();
    walk(v, &mut |p| out.push(p.clone()));
    out
}

fn walk(v: &Value, f: &mut dyn FnMut(&Placeholder)) {
    if let Some(p) = Placeholder::from_value(v) {
        f(&p);
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Replaces every placeholder with what `resolve` returns for it.
pub fn substitute<E>(
    v: &Value,
    resolve: &mut dyn FnMut(&Placeholder) -> Result<Value, E>,
) -> Result<Value, E> {
    if let Some(p) = Placeholder::from_value(v) {
        return resolve(&p);
    }
    Ok(match v {
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, resolve))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o {
                m.insert(k.clone(), substitute(x, resolve)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

/// Reads a dotted path such as `identity.principalId` out of a JSON body.
pub fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| cur.get(seg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_substitute() {
        let body = json!({"properties": {"principalId": reference("apim", "identity.principalId"), "x": [Placeholder::SecretEnv{var: "K".into()}.to_value()]}});
        let found = collect(&body);
        assert_eq!(found.len(), 2);
        assert!(found[1].is_secret());
        let out: Value = substitute::<()>(&body, &mut |p| {
            Ok(match p {
                Placeholder::Ref { .. } => json!("pid"),
                _ => json!("***"),
            })
        })
        .unwrap();
        assert_eq!(
            out,
            json!({"properties": {"principalId": "pid", "x": ["***"]}})
        );
        assert_eq!(get_path(&json!({"a": {"b": 1}}), "a.b"), Some(&json!(1)));
    }
}

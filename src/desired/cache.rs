//! The external cache APIM keeps balancer state in: how its connection
//! string is made. The same format is written by `deploy` (from ARM values),
//! the Terraform templates and the Bicep templates.

/// Azure Managed Redis names its one database `default`.
pub const DATABASE_NAME: &str = "default";

/// The connection string APIM's cache client (StackExchange.Redis) takes,
/// in the form the Azure portal fills in for an Azure Managed Redis cache.
/// TLS is on (the database accepts `Encrypted` clients only).
pub fn connection_string(host: &str, port: u64, key: &str) -> String {
    format!("{host}:{port},password={key},ssl=True,abortConnect=False")
}

/// The secret named value that holds the connection string of the cache
/// used from `use_from` (`default` or a gateway region).
pub fn named_value(use_from: &str) -> String {
    format!("oailb-cache-{use_from}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_format() {
        assert_eq!(
            connection_string("c.eastus.redis.azure.net", 10000, "k"),
            "c.eastus.redis.azure.net:10000,password=k,ssl=True,abortConnect=False"
        );
        assert_eq!(named_value("default"), "oailb-cache-default");
    }
}

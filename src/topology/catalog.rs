//! Facts about Azure that validation checks against: region names and model
//! versions known to be retired. Both lists only produce warnings, because
//! Azure adds regions and changes retirement dates faster than we release.

/// Region names as ARM spells them (`az account list-locations`), public and
/// sovereign clouds.
pub const REGIONS: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "jioindiacentral",
    "jioindiawest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southeastasia",
    "southindia",
    "spaincentral",
    "swedencentral",
    "swedensouth",
    "switzerlandnorth",
    "switzerlandwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
    // Azure Government
    "usgovarizona",
    "usgovtexas",
    "usgovvirginia",
    "usdodcentral",
    "usdodeast",
    // Azure operated by 21Vianet
    "chinaeast",
    "chinaeast2",
    "chinaeast3",
    "chinanorth",
    "chinanorth2",
    "chinanorth3",
];

pub fn is_known_region(region: &str) -> bool {
    REGIONS.contains(&region)
}

/// A model version Azure has retired: new deployments of it fail or are
/// auto-upgraded. Kept so that old topologies (the seed) still validate, with
/// a warning.
pub struct Retired {
    pub model: &'static str,
    pub version: &'static str,
    pub since: &'static str,
    pub replacement: &'static str,
}

/// From "Azure OpenAI model deprecations and retirements", as of 2026-11.
pub const RETIRED: &[Retired] = &[
    Retired {
        model: "gpt-35-turbo",
        version: "0301",
        since: "2025-02-13",
        replacement: "gpt-4o-mini",
    },
    Retired {
        model: "gpt-35-turbo",
        version: "0613",
        since: "2025-02-13",
        replacement: "gpt-4o-mini",
    },
    Retired {
        model: "gpt-35-turbo",
        version: "1106",
        since: "2025-03-31",
        replacement: "gpt-4o-mini",
    },
    Retired {
        model: "gpt-35-turbo-16k",
        version: "0613",
        since: "2025-02-13",
        replacement: "gpt-4o-mini",
    },
    Retired {
        model: "gpt-4",
        version: "0314",
        since: "2025-06-06",
        replacement: "gpt-4o",
    },
    Retired {
        model: "gpt-4",
        version: "0613",
        since: "2025-06-06",
        replacement: "gpt-4o",
    },
    Retired {
        model: "gpt-4",
        version: "1106-Preview",
        since: "2025-05-01",
        replacement: "gpt-4o",
    },
    Retired {
        model: "gpt-4",
        version: "0125-Preview",
        since: "2025-05-01",
        replacement: "gpt-4o",
    },
    Retired {
        model: "gpt-4",
        version: "vision-preview",
        since: "2025-02-13",
        replacement: "gpt-4o",
    },
    Retired {
        model: "gpt-4-32k",
        version: "0314",
        since: "2025-06-06",
        replacement: "gpt-4o",
    },
    Retired {
        model: "gpt-4-32k",
        version: "0613",
        since: "2025-06-06",
        replacement: "gpt-4o",
    },
    Retired {
        model: "text-embedding-ada-002",
        version: "1",
        since: "2024-07-01",
        replacement: "text-embedding-ada-002 version 2 or text-embedding-3-small",
    },
    Retired {
        model: "text-davinci-003",
        version: "1",
        since: "2024-07-06",
        replacement: "gpt-35-turbo-instruct",
    },
    Retired {
        model: "code-davinci-002",
        version: "1",
        since: "2024-07-06",
        replacement: "gpt-4o",
    },
];

pub fn retired(model: &str, version: &str) -> Option<&'static Retired> {
    RETIRED
        .iter()
        .find(|r| r.model.eq_ignore_ascii_case(model) && r.version.eq_ignore_ascii_case(version))
}

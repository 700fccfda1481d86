//! Facts about Azure that validation checks against: region names and model
//! versions known to be retired. Both lists only produce warnings, because
//! Azure adds regions and changes retirement dates faster than we release.

/// Region names as ARM spells them (`az account list-locations`), public and
/// sovereign clouds, by area: oailb's grouping for latency (regions on one
/// continent or market, a short round trip apart), not Azure's legal
/// geographies or data zones (Europe includes the UK and Switzerland);
/// `balancer::region` prefers nearby backends by it.
pub const REGION_AREAS: &[(&str, &[&str])] = &[
    (
        "us",
        &[
            "centralus",
            "eastus",
            "eastus2",
            "northcentralus",
            "southcentralus",
            "westcentralus",
            "westus",
            "westus2",
            "westus3",
        ],
    ),
    (
        "usgov",
        &[
            "usdodcentral",
            "usdodeast",
            "usgovarizona",
            "usgovtexas",
            "usgovvirginia",
        ],
    ),
    ("canada", &["canadacentral", "canadaeast"]),
    (
        "latam",
        &[
            "brazilsouth",
            "brazilsoutheast",
            "chilecentral",
            "mexicocentral",
        ],
    ),
    (
        "europe",
        &[
            "austriaeast",
            "belgiumcentral",
            "francecentral",
            "francesouth",
            "germanynorth",
            "germanywestcentral",
            "italynorth",
            "northeurope",
            "norwayeast",
            "norwaywest",
            "polandcentral",
            "spaincentral",
            "swedencentral",
            "swedensouth",
            "switzerlandnorth",
            "switzerlandwest",
            "uksouth",
            "ukwest",
            "westeurope",
        ],
    ),
    (
        "asia",
        &[
            "eastasia",
            "indonesiacentral",
            "japaneast",
            "japanwest",
            "koreacentral",
            "koreasouth",
            "malaysiawest",
            "southeastasia",
        ],
    ),
    (
        "india",
        &[
            "centralindia",
            "jioindiacentral",
            "jioindiawest",
            "southindia",
            "westindia",
        ],
    ),
    (
        "oceania",
        &[
            "australiacentral",
            "australiacentral2",
            "australiaeast",
            "australiasoutheast",
            "newzealandnorth",
        ],
    ),
    (
        "middleeast",
        &["israelcentral", "qatarcentral", "uaecentral", "uaenorth"],
    ),
    ("africa", &["southafricanorth", "southafricawest"]),
    (
        "china",
        &[
            "chinaeast",
            "chinaeast2",
            "chinaeast3",
            "chinanorth",
            "chinanorth2",
            "chinanorth3",
        ],
    ),
];

/// Every region oailb knows, area by area.
pub fn regions() -> impl Iterator<Item = &'static str> {
    REGION_AREAS.iter().flat_map(|(_, rs)| rs.iter().copied())
}

pub fn is_known_region(region: &str) -> bool {
    regions().any(|r| r == region)
}

/// The date the model catalog below was last compared with Azure's tables.
/// A version whose retirement date is on or before it counts as retired.
pub const CATALOG_DATE: &str = "2026-12-01";

/// One Azure OpenAI model version and its published retirement date.
pub struct ModelVersion {
    pub model: &'static str,
    pub version: &'static str,
    /// Firm retirement date (`YYYY-MM-DD`); `None` while Azure says only
    /// "no earlier than".
    pub retires: Option<&'static str>,
    /// What Azure suggests moving to.
    pub replacement: &'static str,
}

const fn v(
    model: &'static str,
    version: &'static str,
    retires: Option<&'static str>,
    replacement: &'static str,
) -> ModelVersion {
    ModelVersion {
        model,
        version,
        retires,
        replacement,
    }
}

/// Azure OpenAI model versions, from Microsoft Learn "Azure OpenAI in
/// Microsoft Foundry Models deprecations and retirements" (the model
/// retirement table dated 2025-12-16, azure-ai-docs
/// `articles/ai-foundry/openai/includes/retirement/models.md`) and, for
/// models retired before it, the page's earlier editions ("retired models").
/// Compared on 2026-12-01 ([`CATALOG_DATE`]). Azure moves dates (later
/// editions gave gpt-4o and gpt-4.1 October 2026); both are past either way.
/// A version missing here is allowed, with a note.
pub const MODELS: &[ModelVersion] = &[
    // Retired before the 2025 table.
    v("gpt-35-turbo", "0301", Some("2025-02-13"), "gpt-4o-mini"),
    v("gpt-35-turbo", "0613", Some("2025-02-13"), "gpt-4o-mini"),
    v("gpt-35-turbo", "1106", Some("2025-03-31"), "gpt-4o-mini"),
    v(
        "gpt-35-turbo-16k",
        "0613",
        Some("2025-02-13"),
        "gpt-4o-mini",
    ),
    v("gpt-4", "0314", Some("2025-06-06"), "gpt-4o"),
    v("gpt-4", "0613", Some("2025-06-06"), "gpt-4o"),
    v("gpt-4", "1106-Preview", Some("2025-05-01"), "gpt-4o"),
    v("gpt-4", "0125-Preview", Some("2025-05-01"), "gpt-4o"),
    v("gpt-4", "vision-preview", Some("2025-02-13"), "gpt-4o"),
    v("gpt-4-32k", "0314", Some("2025-06-06"), "gpt-4o"),
    v("gpt-4-32k", "0613", Some("2025-06-06"), "gpt-4o"),
    v(
        "text-davinci-003",
        "1",
        Some("2024-07-06"),
        "gpt-35-turbo-instruct",
    ),
    v("code-davinci-002", "1", Some("2024-07-06"), "gpt-4o"),
    // Text generation (table of 2025-12-16).
    v(
        "gpt-5-chat",
        "2025-08-07",
        Some("2026-03-01"),
        "gpt-5.2-chat",
    ),
    v(
        "gpt-5-chat",
        "2025-10-03",
        Some("2026-03-01"),
        "gpt-5.2-chat",
    ),
    v("gpt-4o", "2024-05-13", Some("2026-03-31"), "gpt-5.1"),
    v("gpt-4o", "2024-08-06", Some("2026-03-31"), "gpt-5.1"),
    v("gpt-4o", "2024-11-20", Some("2026-06-05"), "gpt-5.1"),
    v(
        "gpt-4o-mini",
        "2024-07-18",
        Some("2026-03-31"),
        "gpt-4.1-mini",
    ),
    v("gpt-4.1", "2025-04-14", Some("2026-10-14"), "gpt-5"),
    v(
        "gpt-4.1-mini",
        "2025-04-14",
        Some("2026-10-14"),
        "gpt-5-mini",
    ),
    v(
        "gpt-4.1-nano",
        "2025-04-14",
        Some("2026-10-14"),
        "gpt-5-nano",
    ),
    v("o1", "2024-12-17", Some("2026-07-15"), "o3"),
    v("o1-pro", "2025-03-19", Some("2026-09-18"), "o3-pro"),
    v("o3-mini", "2025-01-31", Some("2026-08-02"), "o4-mini"),
    v("o3", "2025-04-16", Some("2026-10-16"), "gpt-5.1"),
    v("o3-pro", "2025-06-10", Some("2026-12-10"), "gpt-5-pro"),
    v("o3-deep-research", "2025-06-26", Some("2026-12-26"), ""),
    v("o4-mini", "2025-04-16", Some("2026-10-16"), "gpt-5-mini"),
    v(
        "codex-mini",
        "2025-05-16",
        Some("2026-11-15"),
        "gpt-5-codex",
    ),
    v("model-router", "2025-11-18", Some("2027-05-20"), ""),
    v("gpt-5", "2025-08-07", None, ""),
    v("gpt-5-mini", "2025-08-07", Some("2027-02-06"), ""),
    v("gpt-5-nano", "2025-08-07", Some("2027-02-06"), ""),
    v("gpt-5-codex", "2025-09-15", Some("2027-03-17"), ""),
    v("gpt-5-pro", "2025-10-06", Some("2027-04-07"), ""),
    v("gpt-5.1", "2025-11-13", Some("2027-05-15"), ""),
    v("gpt-5.1-codex", "2025-11-13", Some("2027-05-15"), ""),
    v("gpt-5.1-codex-mini", "2025-11-13", Some("2027-05-15"), ""),
    v("gpt-5.1-chat", "2025-11-13", None, ""),
    v("gpt-5.2", "2025-12-11", None, ""),
    v("gpt-5.2-chat", "2025-12-11", None, ""),
    // Embeddings: "no earlier than 2026-10-30" for all of them.
    v("text-embedding-3-large", "1", None, ""),
    v("text-embedding-3-small", "1", None, ""),
    v("text-embedding-ada-002", "2", None, ""),
    v("text-embedding-ada-002", "1", None, ""),
];

/// What the catalog says about one model version.
pub enum Known {
    /// Retired on or before [`CATALOG_DATE`].
    Retired(&'static ModelVersion),
    Current(&'static ModelVersion),
    /// The model is listed, this version is not.
    OtherVersions(Vec<&'static str>),
    Unlisted,
}

pub fn lookup(model: &str, version: &str) -> Known {
    let same = |m: &&ModelVersion| m.model.eq_ignore_ascii_case(model);
    if let Some(m) = MODELS
        .iter()
        .filter(same)
        .find(|m| m.version.eq_ignore_ascii_case(version))
    {
        return match m.retires {
            Some(d) if d <= CATALOG_DATE => Known::Retired(m),
            _ => Known::Current(m),
        };
    }
    let versions: Vec<&str> = MODELS.iter().filter(same).map(|m| m.version).collect();
    if versions.is_empty() {
        Known::Unlisted
    } else {
        Known::OtherVersions(versions)
    }
}

/// A version retired on or before [`CATALOG_DATE`], if `model`/`version` is one.
pub fn retired(model: &str, version: &str) -> Option<&'static ModelVersion> {
    match lookup(model, version) {
        Known::Retired(m) => Some(m),
        _ => None,
    }
}

/// The model to move to from a retired version: its replacement, or, when
/// every listed version of that one is retired too (gpt-35-turbo's
/// gpt-4o-mini), that one's, and so on; `None` when the chain ends without
/// one (no replacement named).
pub fn current_replacement(retired: &ModelVersion) -> Option<&'static str> {
    let mut next = retired.replacement;
    // Each step names another model: at most one step per catalog entry.
    for _ in 0..MODELS.len() {
        if next.is_empty() {
            return None;
        }
        let mut versions = MODELS
            .iter()
            .filter(|m| m.model.eq_ignore_ascii_case(next))
            .peekable();
        if versions.peek().is_none() {
            return Some(next);
        }
        let mut last = None;
        for m in versions {
            match m.retires {
                Some(d) if d <= CATALOG_DATE => last = Some(m),
                _ => return Some(next),
            }
        }
        next = last.map_or("", |m| m.replacement);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_that_retired_too_is_followed_to_a_current_model() {
        let by = |model, version| current_replacement(retired(model, version).unwrap());
        // gpt-4o-mini and then gpt-4.1-mini retired as well.
        assert_eq!(by("gpt-35-turbo", "0613"), Some("gpt-5-mini"));
        assert_eq!(by("gpt-4", "0613"), Some("gpt-5.1"));
        assert_eq!(by("o1", "2024-12-17"), Some("gpt-5.1"));
        assert_eq!(by("o3-mini", "2025-01-31"), Some("gpt-5-mini"));
        // A replacement the catalog does not list is taken as written.
        assert_eq!(by("text-davinci-003", "1"), Some("gpt-35-turbo-instruct"));
        assert_eq!(by("gpt-4o", "2024-08-06"), Some("gpt-5.1"));
    }

    #[test]
    fn retirement_follows_the_catalog_date() {
        assert!(retired("gpt-35-turbo", "0613").is_some());
        assert!(retired("GPT-4o", "2024-11-20").is_some());
        assert!(retired("gpt-5.1", "2025-11-13").is_none());
        assert!(matches!(lookup("gpt-5.1", "2025-11-13"), Known::Current(_)));
        assert!(
            matches!(lookup("gpt-5.1", "2099-01-01"), Known::OtherVersions(v) if v == ["2025-11-13"])
        );
        assert!(matches!(lookup("my-model", "1"), Known::Unlisted));
    }

    #[test]
    fn entries_are_unique_and_dated() {
        let mut seen = std::collections::HashSet::new();
        for m in MODELS {
            assert!(
                seen.insert((m.model, m.version)),
                "{} {} twice",
                m.model,
                m.version
            );
            if let Some(d) = m.retires {
                assert!(d.len() == 10 && d.as_bytes()[4] == b'-', "{d}");
            }
        }
    }
}

//! Which backends are near a gateway: the same region first, then the same
//! area (regions on one continent or market, a short round trip apart),
//! then the rest. With `load_balancing.prefer_nearby`, each priority is
//! served from the nearest backends that can take the request, so every
//! gateway region serves its own users from nearby quota first.
//!
//! The areas come with the region names, in `topology::catalog`.

use crate::topology::catalog::REGION_AREAS as AREAS;

/// A region name as ARM writes it: `West Europe` and `west-europe` are
/// `westeurope`.
pub fn normalize(region: &str) -> String {
    region
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The index of `name`, in any spelling, in a list of normalized names.
pub fn position(normalized: &[String], name: &str) -> Option<usize> {
    let n = normalize(name);
    normalized.iter().position(|r| *r == n)
}

/// The area of a (normalized) region, if oailb knows it.
pub fn area(region: &str) -> Option<&'static str> {
    AREAS
        .iter()
        .find(|(_, regions)| regions.contains(&region))
        .map(|(a, _)| *a)
}

/// Every region with its area as `|region=area|region=area|`: the policy
/// looks up the gateway's area in it at run time.
pub fn area_table() -> String {
    let mut out = String::from("|");
    for (area, regions) in AREAS {
        for r in *regions {
            out.push_str(&format!("{r}={area}|"));
        }
    }
    out
}

/// How far a backend in `backend` region is from a gateway in `gateway`:
/// 0 the same region, 1 the same area, 2 elsewhere or not known.
pub fn distance(gateway: &str, backend: Option<&str>) -> u8 {
    match backend {
        Some(b) if b == gateway => 0,
        Some(b) if area(b).is_some() && area(b) == area(gateway) => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_region_then_area_then_the_rest() {
        assert_eq!(normalize("West Europe"), "westeurope");
        assert_eq!(distance("westeurope", Some("westeurope")), 0);
        assert_eq!(distance("westeurope", Some("swedencentral")), 1);
        assert_eq!(distance("westeurope", Some("eastus")), 2);
        assert_eq!(distance("westeurope", None), 2);
        assert_eq!(distance("mars", Some("mars2")), 2);
    }

    #[test]
    fn every_known_region_has_one_area() {
        for r in crate::topology::catalog::regions() {
            let n = AREAS.iter().filter(|(_, rs)| rs.contains(&r)).count();
            assert_eq!(n, 1, "{r}");
        }
    }
}

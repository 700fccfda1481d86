//! `--sweep capacity=BACKEND:MIN..MAX`: the smallest capacity (PTUs for a
//! provisioned deployment, thousands of TPM for Standard) of one backend at
//! which a strategy meets `--target` success, by bisection. Success grows
//! with capacity; where it does not strictly (random picks), the answer is
//! the smallest capacity found that meets the target.

use serde::Serialize;

use crate::topology::{BackendModel, Topology};

/// A parsed `--sweep` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSpec {
    /// Topology backend name.
    pub backend: String,
    /// Deployment (`models[].name`) when the backend serves several.
    pub deployment: Option<String>,
    pub min: u32,
    pub max: u32,
}

impl std::str::FromStr for SweepSpec {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{v}` is not a sweep: expected capacity=BACKEND:MIN..MAX or capacity=BACKEND/DEPLOYMENT:MIN..MAX")
        };
        let rest = v.strip_prefix("capacity=").ok_or_else(bad)?;
        let (target, range) = rest.rsplit_once(':').ok_or_else(bad)?;
        let (min, max) = range.split_once("..").ok_or_else(bad)?;
        let min: u32 = min.trim().parse().map_err(|_| bad())?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        if min == 0 || min > max {
            return Err(format!("`{v}`: the range must be 1 <= MIN <= MAX"));
        }
        let (backend, deployment) = match target.split_once('/') {
            Some((b, d)) => (b.to_string(), Some(d.to_string())),
            None => (target.to_string(), None),
        };
        if backend.is_empty() {
            return Err(bad());
        }
        Ok(SweepSpec {
            backend,
            deployment,
            min,
            max,
        })
    }
}

impl SweepSpec {
    /// The topology with the swept capacity; an error names the valid
    /// backends or deployments.
    pub fn apply(&self, t: &Topology, capacity: u32) -> Result<Topology, String> {
        let mut t = t.clone();
        let names: Vec<String> = t.backends().map(|(_, b)| b.name.clone()).collect();
        let served: Vec<String> = {
            let Some(b) = t
                .backends()
                .find(|(_, b)| b.name == self.backend)
                .map(|x| x.1)
            else {
                return Err(format!(
                    "the topology has no backend `{}`; backends: {}",
                    self.backend,
                    names.join(", ")
                ));
            };
            b.served(&t).iter().map(|s| s.model.name.clone()).collect()
        };
        let deployment = match (&self.deployment, served.as_slice()) {
            (Some(d), _) if served.contains(d) => d.clone(),
            (Some(d), _) => {
                return Err(format!(
                    "backend `{}` does not serve `{d}`; it serves: {}",
                    self.backend,
                    served.join(", ")
                ))
            }
            (None, [one]) => one.clone(),
            (None, _) => {
                return Err(format!(
                    "backend `{}` serves several deployments; name one: capacity={}/DEPLOYMENT:{}..{} with DEPLOYMENT one of {}",
                    self.backend,
                    self.backend,
                    self.min,
                    self.max,
                    served.join(", ")
                ))
            }
        };
        let model_names: Vec<String> = t.models.iter().map(|m| m.name.clone()).collect();
        let b = t
            .priority_groups
            .iter_mut()
            .flat_map(|g| g.backends.iter_mut())
            .find(|b| b.name == self.backend)
            .expect("found above");
        let list = b.models.get_or_insert_with(|| {
            model_names
                .iter()
                .map(|n| BackendModel {
                    name: n.clone(),
                    deployment: None,
                    sku: None,
                    capacity: None,
                })
                .collect()
        });
        for m in list.iter_mut().filter(|m| m.name == deployment) {
            m.capacity = Some(capacity);
        }
        Ok(t)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub capacity: u32,
    pub success_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub strategy: &'static str,
    pub target_percent: f64,
    /// Every capacity tried, in the order tried.
    pub points: Vec<SweepPoint>,
    /// The smallest capacity that met the target; absent when even the
    /// maximum did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

/// Bisects `[spec.min, spec.max]`: `success(capacity)` runs the simulation.
pub fn search(
    spec: &SweepSpec,
    target: f64,
    strategy: &'static str,
    success: &mut dyn FnMut(u32) -> anyhow::Result<f64>,
) -> anyhow::Result<SweepReport> {
    let mut points = Vec::new();
    let mut eval = |c: u32, points: &mut Vec<SweepPoint>| -> anyhow::Result<bool> {
        let s = success(c)?;
        points.push(SweepPoint {
            capacity: c,
            success_percent: s,
        });
        Ok(s >= target)
    };
    let mut found = None;
    if eval(spec.max, &mut points)? {
        found = Some(spec.max);
        let (mut lo, mut hi) = (spec.min, spec.max);
        // Invariant: `hi` meets the target; capacities below `lo` do not.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if eval(mid, &mut points)? {
                hi = mid;
                found = Some(mid);
            } else {
                lo = mid + 1;
            }
        }
    }
    Ok(SweepReport {
        backend: spec.backend.clone(),
        deployment: spec.deployment.clone(),
        strategy,
        target_percent: target,
        points,
        capacity: found,
    })
}

pub fn table(s: &SweepReport) -> String {
    let what = match &s.deployment {
        Some(d) => format!("{}/{d}", s.backend),
        None => s.backend.clone(),
    };
    let mut out = match s.capacity {
        Some(c) => format!(
            "sweep: {what} needs capacity {c} for {}% success with {}\n",
            s.target_percent, s.strategy
        ),
        None => format!(
            "sweep: {what} does not reach {}% success with {} even at the maximum capacity\n",
            s.target_percent, s.strategy
        ),
    };
    let mut sorted = s.points.clone();
    sorted.sort_by_key(|p| p.capacity);
    for p in sorted {
        out.push_str(&format!(
            "  capacity {:>6}  success {:.2} %\n",
            p.capacity, p.success_percent
        ));
    }
    out
}

pub fn markdown(s: &SweepReport) -> String {
    let mut out = format!("**Sweep**: {}", table(s).lines().next().unwrap_or_default());
    out.push_str("\n\n| capacity | success % |\n|---|---|\n");
    let mut sorted = s.points.clone();
    sorted.sort_by_key(|p| p.capacity);
    for p in sorted {
        out.push_str(&format!("| {} | {:.2} |\n", p.capacity, p.success_percent));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag() {
        let s: SweepSpec = "capacity=ptu:10..200".parse().unwrap();
        assert_eq!(
            (s.backend.as_str(), s.deployment, s.min, s.max),
            ("ptu", None, 10, 200)
        );
        let s: SweepSpec = "capacity=eastus/gpt-4o:1..5".parse().unwrap();
        assert_eq!(s.deployment.as_deref(), Some("gpt-4o"));
        assert!("capacity=ptu:5..1".parse::<SweepSpec>().is_err());
        assert!("ptu:1..5".parse::<SweepSpec>().is_err());
        assert!("capacity=ptu:a..5".parse::<SweepSpec>().is_err());
    }

    #[test]
    fn bisects_to_the_smallest_capacity_meeting_the_target() {
        let spec: SweepSpec = "capacity=x:1..100".parse().unwrap();
        let mut calls = 0;
        let r = search(&spec, 99.0, "oailb", &mut |c| {
            calls += 1;
            Ok(if c >= 37 { 99.5 } else { 90.0 })
        })
        .unwrap();
        assert_eq!(r.capacity, Some(37));
        assert!(calls <= 8, "{calls} runs");
        let r = search(&spec, 99.9, "oailb", &mut |_| Ok(99.5)).unwrap();
        assert_eq!((r.capacity, r.points.len()), (None, 1));
    }
}

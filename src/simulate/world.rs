//! The simulated setup: every route (client-facing deployment) with its
//! backends as the balancer sees them (from the desired state, so the
//! simulator balances exactly what the policy would), and every backend
//! deployment with the quota, latency and faults the backend model uses.

use super::workload::{Latency, OutageKind, Workload};
use super::StateScope;
use crate::balancer::region::{self, normalize};
use crate::balancer::{self, Quota, Settings};
use crate::desired;
use crate::topology::{CacheScope, CachingType, DeploymentSku, Topology};

/// One backend deployment (a topology backend serving one route).
#[derive(Debug, Clone)]
pub struct BackendSpec {
    /// Topology backend name.
    pub name: String,
    /// `name`, or `name/route` when the topology has several routes.
    pub label: String,
    pub route: usize,
    pub model: String,
    pub priority: u32,
    pub weight: u32,
    pub sku: DeploymentSku,
    pub capacity: u32,
    pub quota: Quota,
    pub region: Option<String>,
    pub latency: Latency,
    pub error_rate: f64,
    pub error_status: u16,
    /// (start µs, end µs, kind), sorted by start.
    pub outages: Vec<(u64, u64, OutageKind)>,
}

impl BackendSpec {
    pub fn provisioned(&self) -> bool {
        self.sku.is_provisioned()
    }
}

/// One client-facing deployment and the backends that serve it.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: String,
    /// As `src/balancer` takes them, in policy order.
    pub backends: Vec<balancer::Backend>,
    /// Index in [`World::backends`] of each entry of `backends`.
    pub global: Vec<usize>,
}

/// Everything a run needs besides the arrivals.
#[derive(Debug, Clone)]
pub struct World {
    pub routes: Vec<RouteSpec>,
    pub backends: Vec<BackendSpec>,
    /// The algorithm's settings (`load_balancing`).
    pub settings: Settings,
    /// Every gateway region (normalized): `apim.location` first, then the
    /// additional locations. Requests that name none arrive at the first.
    pub gateway_regions: Vec<String>,
    /// `settings` as each gateway region's policy runs them: with
    /// `prefer_nearby`, its own region in `gateway_region`.
    pub region_settings: Vec<Settings>,
    /// Per backend: the index of the gateway region it is in, if any.
    pub home: Vec<Option<usize>>,
    /// Which gateways share balancer state by default, as the topology
    /// deploys them: all of them with an external cache (each region's
    /// together with a cache per region), else each instance its own. With
    /// one instance per region, as `simulate` runs by default, that is one
    /// state per region, APIM's built-in cache (its units of one region
    /// share it: `--instances N --state region`).
    pub state: StateScope,
    /// The window over which backends enforce their quota.
    pub backend_window_ms: u64,
    /// Pool mode: tripping statuses, trip duration, retries of the policy.
    pub pool_trip_ms: u64,
    pub pool_retries: u32,
}

impl World {
    pub fn new(t: &Topology, w: Option<&Workload>) -> World {
        let d = desired::derive(t, None);
        let mut routes: Vec<RouteSpec> = Vec::new();
        let mut backends: Vec<BackendSpec> = Vec::new();
        let many = d
            .policies
            .iter()
            .flat_map(|p| &p.routes)
            .map(|r| &r.model)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        for route in d.policies.iter().flat_map(|p| &p.routes) {
            // Several APIs may expose one deployment: it is one route.
            if routes.iter().any(|r| r.name == route.model) {
                continue;
            }
            let ri = routes.len();
            let model = t.model(&route.model);
            let mut spec = RouteSpec {
                name: route.model.clone(),
                backends: Vec::new(),
                global: Vec::new(),
            };
            for rb in &route.backends {
                let tb = t
                    .backends()
                    .find(|(_, b)| b.name == rb.name)
                    .map(|(_, b)| b);
                let served = tb.and_then(|b| {
                    b.served(t)
                        .into_iter()
                        .find(|s| s.model.name == route.model)
                });
                let faults = w.and_then(|w| w.backends.get(&rb.name));
                let region = tb.and_then(|b| b.region.clone());
                let mut outages: Vec<(u64, u64, OutageKind)> = faults
                    .map(|f| &f.outages)
                    .into_iter()
                    .flatten()
                    .chain(
                        w.into_iter()
                            .flat_map(|w| &w.regions)
                            .filter(|(r, _)| {
                                region.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(r))
                            })
                            .flat_map(|(_, f)| &f.outages),
                    )
                    .map(|o| (o.start.micros(), o.end.micros(), o.kind))
                    .collect();
                outages.sort_by_key(|o| o.0);
                spec.global.push(backends.len());
                spec.backends.push(balancer::Backend::from(rb));
                backends.push(BackendSpec {
                    name: rb.name.clone(),
                    label: if many {
                        format!("{}/{}", rb.name, route.model)
                    } else {
                        rb.name.clone()
                    },
                    route: ri,
                    model: model.map(|m| m.model.clone()).unwrap_or_default(),
                    priority: rb.priority,
                    weight: rb.weight,
                    sku: served.as_ref().map_or(DeploymentSku::Standard, |s| s.sku),
                    capacity: served.as_ref().map_or(0, |s| s.capacity),
                    quota: rb.quota,
                    region,
                    latency: faults
                        .and_then(|f| f.latency)
                        .or(w.map(|w| w.latency))
                        .unwrap_or_default(),
                    error_rate: faults.map_or(0.0, |f| f.error_rate),
                    error_status: faults.map_or(500, |f| f.error_status),
                    outages,
                });
            }
            routes.push(spec);
        }
        let settings = Settings::from(&t.load_balancing);
        let backend_window_ms = w
            .and_then(|w| w.quota_window_seconds)
            .map_or(settings.window_ms, |s| u64::from(s) * 1000);
        let pool_retries = routes
            .iter()
            .map(|r| r.backends.len())
            .max()
            .unwrap_or(1)
            .clamp(1, 50) as u32;
        let gateway_regions: Vec<String> = t.gateway_regions().into_iter().map(normalize).collect();
        let nearby = t.prefers_nearby();
        let region_settings = gateway_regions
            .iter()
            .map(|r| Settings {
                gateway_region: nearby.then(|| r.clone()),
                ..settings.clone()
            })
            .collect();
        let home = backends
            .iter()
            .map(|b| region::position(&gateway_regions, b.region.as_deref()?))
            .collect();
        let state = match (t.load_balancing.caching_type, &t.cache) {
            (CachingType::Internal, _) => StateScope::Instance,
            (_, Some(c)) if c.scope == CacheScope::PerRegion && !c.is_existing() => {
                StateScope::Region
            }
            _ => StateScope::Shared,
        };
        World {
            gateway_regions,
            region_settings,
            home,
            state,
            pool_trip_ms: u64::from(t.load_balancing.default_retry_after_seconds) * 1000,
            pool_retries,
            routes,
            backends,
            settings,
            backend_window_ms,
        }
    }

    /// The settings of the gateways of region `region` (an index of
    /// [`World::gateway_regions`]).
    pub fn settings_in(&self, region: u16) -> &Settings {
        self.region_settings
            .get(usize::from(region))
            .unwrap_or(&self.settings)
    }

    /// The index of a gateway region, by any spelling of its name.
    pub fn gateway_region_index(&self, name: &str) -> Option<usize> {
        region::position(&self.gateway_regions, name)
    }

    pub fn route_index(&self, name: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.name == name)
    }

    /// The lowest priority number of a route (its first group).
    pub fn first_priority(&self, route: usize) -> u32 {
        self.routes[route]
            .backends
            .iter()
            .map(|b| b.priority)
            .min()
            .unwrap_or(1)
    }
}

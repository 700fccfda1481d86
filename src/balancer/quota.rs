//! What each backend's deployment admits: tokens and requests per minute
//! from its SKU and capacity, and the short-window bucket Azure enforces them
//! with. The balancer, `simulate` and the rendered policy read quotas from
//! here only.
//!
//! Units inside the balancer are integers so that the Rust code and the C#
//! of the policy compute bit-identical levels: milli-tokens and
//! micro-requests, milliseconds.

use serde::Serialize;

use crate::topology::{DeploymentSku, UnitQuota};

/// Azure's ratio for Standard, GlobalStandard and DataZoneStandard
/// deployments: one unit of capacity is 1,000 tokens and 6 requests per
/// minute (Microsoft Learn, "Azure OpenAI quota management", 2025).
pub const STANDARD_TOKENS_PER_UNIT: u32 = 1000;
pub const STANDARD_REQUESTS_PER_UNIT: u32 = 6;

/// Input tokens per minute that one PTU serves, per model (Microsoft Learn,
/// "Provisioned throughput onboarding" / "sizing", table "How much
/// throughput per PTU you get for each model": gpt-4o ... o1 as of 2025-05,
/// gpt-4.1-nano and o3 as of 2025-05-28, gpt-5, gpt-5.1 and gpt-5-mini as of
/// 2026-03-20; checked 2026-12-01). Output tokens weigh more than input
/// tokens on provisioned deployments: [`PTU_OUTPUT_WEIGHT`]. A model missing
/// here needs `models[].quota`.
pub const PTU_INPUT_TPM: &[(&str, u32)] = &[
    ("gpt-5", 4_750),
    ("gpt-5.1", 4_750),
    ("gpt-5-mini", 23_750),
    ("gpt-4.1", 3_000),
    ("gpt-4.1-mini", 14_900),
    ("gpt-4.1-nano", 59_400),
    ("gpt-4o", 2_500),
    ("gpt-4o-mini", 37_000),
    ("o3", 600),
    ("o3-mini", 2_500),
    ("o1", 230),
];

/// On provisioned deployments one output token counts as this many input
/// tokens (4 for gpt-4.1 and later; the same source). Standard deployments
/// count `max_tokens` once at admission.
pub const PTU_OUTPUT_WEIGHT: u32 = 4;

/// The throughput of one deployment, per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub tokens_per_minute: u64,
    /// 0: no request limit (provisioned deployments).
    pub requests_per_minute: u64,
    /// How many tokens one completion token costs at admission.
    pub output_weight: u32,
}

impl Quota {
    /// A deployment whose throughput oailb cannot tell: only its answers
    /// (429s, remaining-quota headers) steer traffic away from it.
    pub const UNKNOWN: Quota = Quota {
        tokens_per_minute: 0,
        requests_per_minute: 0,
        output_weight: 1,
    };

    /// The quota of a deployment of `model` with `sku` and `capacity`,
    /// `None` for a provisioned model oailb has no figure for (and no
    /// override).
    pub fn of(
        model: &str,
        sku: DeploymentSku,
        capacity: u32,
        overrides: Option<UnitQuota>,
    ) -> Option<Quota> {
        let o = overrides.unwrap_or(UnitQuota {
            tokens_per_minute: None,
            requests_per_minute: None,
        });
        let capacity = u64::from(capacity);
        if sku.is_provisioned() {
            let per_ptu = o.tokens_per_minute.or_else(|| ptu_input_tpm(model))?;
            Some(Quota {
                tokens_per_minute: capacity * u64::from(per_ptu),
                requests_per_minute: capacity * u64::from(o.requests_per_minute.unwrap_or(0)),
                output_weight: PTU_OUTPUT_WEIGHT,
            })
        } else {
            Some(Quota {
                tokens_per_minute: capacity
                    * u64::from(o.tokens_per_minute.unwrap_or(STANDARD_TOKENS_PER_UNIT)),
                requests_per_minute: capacity
                    * u64::from(o.requests_per_minute.unwrap_or(STANDARD_REQUESTS_PER_UNIT)),
                output_weight: 1,
            })
        }
    }

    /// Milli-tokens the bucket holds when full: `window_ms` of the rate.
    pub fn token_cap(&self, window_ms: u64) -> i64 {
        (self.tokens_per_minute * window_ms / 60) as i64
    }

    /// Micro-requests the bucket holds when full: `window_ms` of the rate,
    /// never less than one request (as Azure admits a request on a small
    /// deployment).
    pub fn request_cap(&self, window_ms: u64) -> i64 {
        ((self.requests_per_minute * window_ms * 1000 / 60) as i64).max(1_000_000)
    }

    /// Milli-tokens refilled in `ms`.
    pub fn token_refill(&self, ms: u64) -> i64 {
        (self.tokens_per_minute * ms / 60) as i64
    }

    /// Micro-requests refilled in `ms`.
    pub fn request_refill(&self, ms: u64) -> i64 {
        (self.requests_per_minute * ms * 1000 / 60) as i64
    }

    pub fn limits_requests(&self) -> bool {
        self.requests_per_minute > 0
    }
}

/// Input TPM per PTU of `model` from [`PTU_INPUT_TPM`]; a dated variant
/// (`gpt-4o-2024-11-20`) is not a separate model.
pub fn ptu_input_tpm(model: &str) -> Option<u32> {
    PTU_INPUT_TPM
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(model))
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_capacity_is_thousands_of_tokens_and_six_requests() {
        let q = Quota::of("gpt-4o", DeploymentSku::Standard, 90, None).unwrap();
        assert_eq!(q.tokens_per_minute, 90_000);
        assert_eq!(q.requests_per_minute, 540);
        // One second of 90,000 TPM is 1,500 tokens; of 540 RPM 9 requests.
        assert_eq!(q.token_cap(1000), 1_500_000);
        assert_eq!(q.request_cap(1000), 9_000_000);
        // A tiny deployment still admits one request.
        let small = Quota::of("gpt-4o", DeploymentSku::Standard, 1, None).unwrap();
        assert_eq!(small.request_cap(1000), 1_000_000);
    }

    #[test]
    fn provisioned_uses_the_table_or_the_override() {
        let q = Quota::of("gpt-4o", DeploymentSku::ProvisionedManaged, 50, None).unwrap();
        assert_eq!(q.tokens_per_minute, 125_000);
        assert_eq!(q.requests_per_minute, 0);
        assert_eq!(q.output_weight, 4);
        assert!(Quota::of("gpt-99", DeploymentSku::GlobalProvisionedManaged, 15, None).is_none());
        let o = UnitQuota {
            tokens_per_minute: Some(1_000),
            requests_per_minute: None,
        };
        let q = Quota::of(
            "gpt-99",
            DeploymentSku::GlobalProvisionedManaged,
            15,
            Some(o),
        )
        .unwrap();
        assert_eq!(q.tokens_per_minute, 15_000);
    }
}

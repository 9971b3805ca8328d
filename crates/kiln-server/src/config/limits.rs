//! Per-tenant limits: the `[limits]` section and `[overrides.<tenant>]`.
//!
//! Defaults are Pyroscope's (`shared/spec/pyroscope-api.md` §8) so that
//! clients tuned against Pyroscope behave the same against Kiln. A duration
//! of `0s` disables the check it controls.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RetentionOverride;

/// Limits applied to one tenant. The `[limits]` section gives the defaults
/// for every tenant; `[overrides.<tenant>]` replaces any subset of keys for
/// one tenant (see [`crate::KilnConfig::limits_for`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Sustained ingestion rate per tenant, in MiB/s of decompressed profile data.
    pub ingestion_rate_mb: f64,
    /// Burst allowance on top of the rate, in MiB.
    pub ingestion_burst_size_mb: f64,
    /// Largest request body accepted, in MiB, both as sent and after
    /// decompressing it (`0` = no limit). Bounds memory per request and
    /// stops gzip bombs before they are inflated.
    pub ingestion_body_limit_mb: f64,
    /// Largest single profile after decompression, in bytes.
    pub max_profile_size_bytes: u64,
    /// Most samples in one profile.
    pub max_profile_stacktrace_samples: usize,
    /// Most labels on one pprof sample.
    pub max_profile_stacktrace_sample_labels: usize,
    /// Deeper stacks are truncated to this many frames (not rejected).
    pub max_profile_stacktrace_depth: usize,
    /// Longer symbol names are truncated to this many bytes (not rejected).
    pub max_profile_symbol_value_length: usize,
    /// Most label names in one series.
    pub max_label_names_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// Most active series per tenant.
    pub max_series_per_tenant: usize,
    /// Profiles whose timestamp is older than now minus this are rejected
    /// (`0s` disables the check).
    #[serde(with = "humantime_serde")]
    pub reject_older_than: Duration,
    /// Profiles whose timestamp is newer than now plus this are rejected
    /// (`0s` disables the check).
    #[serde(with = "humantime_serde")]
    pub reject_newer_than: Duration,
    /// Longest time range one query may cover (`0s` = unlimited).
    #[serde(with = "humantime_serde")]
    pub max_query_length: Duration,
    /// How far back queries may look; earlier starts are clamped (`0s` = unlimited).
    #[serde(with = "humantime_serde")]
    pub max_query_lookback: Duration,
    /// Flame-graph node count used when a query asks for 0 / no `max_nodes`
    /// (`0` = no limit).
    pub max_flamegraph_nodes_default: usize,
    /// Largest `max_nodes` a query may ask for; while it is enforced a
    /// negative `max_nodes` is refused too (`0` = no limit).
    pub max_flamegraph_nodes_max: usize,
    /// Whether `SelectMergeProfile` applies the two node limits above. Off
    /// by default, as in Pyroscope: pprof exports are then whole unless the
    /// request sets a positive `max_nodes`.
    pub max_flamegraph_nodes_on_select_merge_profile: bool,
    /// How long the tenant's data is kept: `"inherit"` uses
    /// `[retention] period`; a duration overrides it (`"0s"` = forever).
    /// Meant for `[overrides.<tenant>]`.
    pub retention_period: RetentionOverride,
    /// Longest a `POST /api/v1/sql` query may run, planning to last row.
    #[serde(with = "humantime_serde")]
    pub sql_timeout: Duration,
    /// Memory one SQL query may reserve (aggregations, joins, sorts); the
    /// query fails rather than spill to disk.
    pub sql_max_memory_bytes: u64,
    /// Most rows one SQL result may have.
    pub sql_max_rows: usize,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Limits {
    /// The request body limit in bytes, or `None` when disabled (`0`).
    pub fn ingestion_body_limit_bytes(&self) -> Option<usize> {
        (self.ingestion_body_limit_mb > 0.0)
            .then_some((self.ingestion_body_limit_mb * MIB) as usize)
    }
}

impl Default for Limits {
    fn default() -> Self {
        const HOUR: u64 = 3600;
        Self {
            ingestion_rate_mb: 4.0,
            ingestion_burst_size_mb: 2.0,
            ingestion_body_limit_mb: 256.0,
            max_profile_size_bytes: 4 * 1024 * 1024,
            max_profile_stacktrace_samples: 16_000,
            max_profile_stacktrace_sample_labels: 100,
            max_profile_stacktrace_depth: 1000,
            max_profile_symbol_value_length: 65_535,
            max_label_names_per_series: 30,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_series_per_tenant: 5000,
            reject_older_than: Duration::from_secs(HOUR),
            reject_newer_than: Duration::from_secs(10 * 60),
            max_query_length: Duration::from_secs(24 * HOUR),
            max_query_lookback: Duration::from_secs(7 * 24 * HOUR),
            max_flamegraph_nodes_default: 8192,
            max_flamegraph_nodes_max: 1_048_576,
            max_flamegraph_nodes_on_select_merge_profile: false,
            retention_period: RetentionOverride::Inherit,
            sql_timeout: Duration::from_secs(30),
            sql_max_memory_bytes: 512 * 1024 * 1024,
            sql_max_rows: 100_000,
        }
    }
}

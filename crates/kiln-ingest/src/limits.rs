//! Per-tenant ingest limits: ingestion time window, rate (token bucket on
//! decompressed bytes), series per tenant, and the normalisation limits.

use crate::error::IngestError;
use kiln_model::limits::NormalizeLimits;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// One tenant's limits; defaults are Pyroscope's (spec §8).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestLimits {
    /// Sustained ingestion rate in bytes/s of decompressed profiles; 0 = unlimited.
    pub rate_bytes_per_sec: f64,
    /// Burst size in bytes on top of the rate.
    pub burst_bytes: f64,
    /// Profiles older than now − this are rejected; `None` disables.
    pub reject_older_than: Option<Duration>,
    /// Profiles newer than now + this are rejected; `None` disables.
    pub reject_newer_than: Option<Duration>,
    /// Distinct series a tenant may have active at once; 0 = unlimited.
    pub max_series_per_tenant: usize,
    /// Decoding and normalisation limits.
    pub normalize: NormalizeLimits,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            rate_bytes_per_sec: 4.0 * 1024.0 * 1024.0,
            burst_bytes: 2.0 * 1024.0 * 1024.0,
            reject_older_than: Some(Duration::from_secs(3600)),
            reject_newer_than: Some(Duration::from_secs(600)),
            max_series_per_tenant: 5000,
            normalize: NormalizeLimits::default(),
        }
    }
}

/// Mutable per-tenant limiter state: token buckets and active series.
#[derive(Debug, Default)]
pub struct TenantLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
    series: Mutex<HashMap<String, ActiveSeries>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated_ns: i64,
}

/// Series seen within the last window; the window turns over wholesale.
#[derive(Debug, Default)]
struct ActiveSeries {
    window_start_ns: i64,
    current: HashSet<u64>,
    previous: HashSet<u64>,
}

/// How long a series counts as active after it was last pushed.
const ACTIVE_SERIES_WINDOW_NS: i64 = 3600 * 1_000_000_000;

impl TenantLimiter {
    /// Takes `bytes` from the tenant's bucket or fails with `ResourceExhausted`.
    pub fn check_rate(
        &self,
        tenant: &str,
        limits: &IngestLimits,
        bytes: usize,
        now_ns: i64,
    ) -> Result<(), IngestError> {
        if limits.rate_bytes_per_sec <= 0.0 {
            return Ok(());
        }
        let capacity = limits.rate_bytes_per_sec.max(limits.burst_bytes);
        let mut buckets = self.buckets.lock().expect("limiter lock poisoned");
        let bucket = buckets.entry(tenant.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated_ns: now_ns,
        });
        let elapsed = (now_ns - bucket.updated_ns).max(0) as f64 / 1e9;
        bucket.tokens = (bucket.tokens + elapsed * limits.rate_bytes_per_sec).min(capacity);
        bucket.updated_ns = now_ns;
        let wanted = bytes as f64;
        if wanted > bucket.tokens {
            return Err(IngestError::ResourceExhausted(format!(
                "ingestion rate limit ({} bytes/s, burst {} bytes) exceeded by tenant {tenant} while pushing {bytes} bytes",
                limits.rate_bytes_per_sec, limits.burst_bytes
            )));
        }
        bucket.tokens -= wanted;
        Ok(())
    }

    /// Records the series fingerprints and fails if the tenant would exceed
    /// `max_series_per_tenant` active series. Nothing is recorded on failure.
    pub fn check_series(
        &self,
        tenant: &str,
        limits: &IngestLimits,
        fingerprints: &[u64],
        now_ns: i64,
    ) -> Result<(), IngestError> {
        let mut all = self.series.lock().expect("limiter lock poisoned");
        let active = all.entry(tenant.to_string()).or_default();
        if now_ns - active.window_start_ns >= ACTIVE_SERIES_WINDOW_NS {
            active.previous = std::mem::take(&mut active.current);
            active.window_start_ns = now_ns;
        }
        let new: HashSet<u64> = fingerprints
            .iter()
            .copied()
            .filter(|f| !active.current.contains(f) && !active.previous.contains(f))
            .collect();
        let count = active.current.union(&active.previous).count();
        if limits.max_series_per_tenant > 0 && count + new.len() > limits.max_series_per_tenant {
            return Err(IngestError::ResourceExhausted(format!(
                "max series per tenant limit ({}) exceeded by tenant {tenant}: {count} active series, push adds {}",
                limits.max_series_per_tenant,
                new.len()
            )));
        }
        active.current.extend(fingerprints.iter().copied());
        Ok(())
    }
}

/// Rejects profiles outside the ingestion time window.
pub fn check_time_window(
    limits: &IngestLimits,
    time_nanos: i64,
    now_ns: i64,
) -> Result<(), IngestError> {
    if time_nanos == 0 {
        return Ok(());
    }
    if let Some(older) = limits.reject_older_than {
        let oldest = now_ns.saturating_sub(older.as_nanos() as i64);
        if time_nanos < oldest {
            return Err(IngestError::InvalidArgument(format!(
                "profile timestamp {time_nanos}ns is too old: older than limits.reject_older_than ({older:?}) before now"
            )));
        }
    }
    if let Some(newer) = limits.reject_newer_than {
        let newest = now_ns.saturating_add(newer.as_nanos() as i64);
        if time_nanos > newest {
            return Err(IngestError::InvalidArgument(format!(
                "profile timestamp {time_nanos}ns is too far in the future: newer than limits.reject_newer_than ({newer:?}) after now"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn token_bucket_refills_at_the_rate() {
        let limits = IngestLimits {
            rate_bytes_per_sec: 100.0,
            burst_bytes: 200.0,
            ..Default::default()
        };
        let limiter = TenantLimiter::default();
        limiter.check_rate("t", &limits, 150, 0).unwrap();
        let err = limiter.check_rate("t", &limits, 100, 0).unwrap_err();
        assert!(
            matches!(err, IngestError::ResourceExhausted(m) if m.contains("ingestion rate limit"))
        );
        limiter.check_rate("other", &limits, 150, 0).unwrap();
        limiter.check_rate("t", &limits, 100, S).unwrap();
    }

    #[test]
    fn series_limit_counts_distinct_active_series() {
        let limits = IngestLimits {
            max_series_per_tenant: 2,
            ..Default::default()
        };
        let limiter = TenantLimiter::default();
        limiter.check_series("t", &limits, &[1, 2], 0).unwrap();
        limiter.check_series("t", &limits, &[1, 2], S).unwrap();
        assert!(limiter.check_series("t", &limits, &[3], S).is_err());
        limiter.check_series("u", &limits, &[3], S).unwrap();
        // After two windows without pushes, old series no longer count.
        limiter
            .check_series("t", &limits, &[], 3600 * S + 1)
            .unwrap();
        limiter
            .check_series("t", &limits, &[3], 7200 * S + 2)
            .unwrap();
    }

    #[test]
    fn time_window() {
        let limits = IngestLimits::default();
        let now = 10_000 * S;
        check_time_window(&limits, now, now).unwrap();
        check_time_window(&limits, 0, now).unwrap();
        assert!(check_time_window(&limits, now - 3601 * S, now).is_err());
        assert!(check_time_window(&limits, now + 601 * S, now).is_err());
        let off = IngestLimits {
            reject_older_than: None,
            ..Default::default()
        };
        check_time_window(&off, 1, now).unwrap();
    }
}

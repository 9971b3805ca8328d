//! The ingest entry point: limits, decoding off the I/O threads, then the
//! buffered, acknowledged write.

use crate::error::IngestError;
use crate::flusher::Ingester;
use crate::limits::{IngestLimits, TenantLimiter, check_time_window};
use crate::metrics::{self, Reason};
use crate::push::decode_push;
use kiln_model::NormalizedProfile;
use kiln_model::clock::ClockRef;
use kiln_proto::push::v1::PushRequest;
use std::sync::Arc;

/// Resolves a tenant's limits (defaults plus per-tenant overrides).
pub type LimitsFn = Arc<dyn Fn(&str) -> IngestLimits + Send + Sync>;

/// Everything a push goes through between the protocol layer and storage.
#[derive(Clone)]
pub struct IngestService {
    ingester: Ingester,
    limiter: Arc<TenantLimiter>,
    limits: LimitsFn,
    clock: ClockRef,
}

impl std::fmt::Debug for IngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestService")
            .field("ingester", &self.ingester)
            .finish_non_exhaustive()
    }
}

impl IngestService {
    pub fn new(ingester: Ingester, limits: LimitsFn, clock: ClockRef) -> Self {
        Self {
            ingester,
            limiter: Arc::new(TenantLimiter::default()),
            limits,
            clock,
        }
    }

    /// The limits in force for `tenant`.
    pub fn limits(&self, tenant: &str) -> IngestLimits {
        (self.limits)(tenant)
    }

    /// The clock this service validates time windows against.
    pub fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    /// Handles one `Push`: returns once every profile in it is durable.
    pub async fn push(&self, tenant: &str, request: PushRequest) -> Result<(), IngestError> {
        let limits = self.limits(tenant);
        let now_ns = self.clock.now_ns();
        let normalize = limits.normalize;
        let decoded =
            tokio::task::spawn_blocking(move || decode_push(&request, &normalize, now_ns))
                .await
                .map_err(|e| IngestError::Internal(format!("decoding task failed: {e}")))
                .and_then(|decoded| decoded)
                .inspect_err(|e| metrics::record_error(tenant, Reason::of_decode(e)))?;
        self.accept(
            tenant,
            &limits,
            decoded.profiles,
            decoded.decompressed_bytes,
        )
        .await
    }

    /// Applies the tenant's limits to already-normalised profiles and
    /// ingests them; returns once they are durable.
    pub async fn accept(
        &self,
        tenant: &str,
        limits: &IngestLimits,
        profiles: Vec<NormalizedProfile>,
        bytes: usize,
    ) -> Result<(), IngestError> {
        let now_ns = self.clock.now_ns();
        let refuse = |reason| move |_: &IngestError| metrics::record_error(tenant, reason);
        for profile in &profiles {
            check_time_window(limits, profile.time_nanos, now_ns)
                .inspect_err(refuse(Reason::TimeWindow))?;
        }
        self.limiter
            .check_rate(tenant, limits, bytes, now_ns)
            .inspect_err(refuse(Reason::RateLimited))?;
        let mut fingerprints: Vec<u64> = profiles.iter().map(|p| p.labels.fingerprint()).collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        self.limiter
            .check_series(tenant, limits, &fingerprints, now_ns)
            .inspect_err(refuse(Reason::SeriesLimit))?;
        let count = profiles.len();
        self.ingester
            .ingest(tenant, profiles, bytes)
            .await
            .inspect_err(|e| {
                let reason = match e {
                    IngestError::Internal(_) => Reason::Internal,
                    _ => Reason::Unavailable,
                };
                metrics::record_error(tenant, reason);
            })?;
        metrics::record_accepted(tenant, count, bytes);
        Ok(())
    }

    /// The underlying buffered writer (to run its flush loop or flush on demand).
    pub fn ingester(&self) -> &Ingester {
        &self.ingester
    }
}

//! Connects the protocol layer to the write path: [`IngestSink`] is the
//! [`PushSink`] backed by `kiln_ingest::IngestService`, and
//! [`ingest_limits`] turns config limits into the ingester's.

use async_trait::async_trait;
use kiln_ingest::legacy::{LegacyBody, LegacyParams, convert_legacy};
use kiln_ingest::metrics::Reason;
use kiln_ingest::otlp::convert_export;
use kiln_ingest::push::DecodedPush;
use kiln_ingest::{IngestError, IngestLimits, IngestService};
use kiln_model::limits::NormalizeLimits;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use kiln_proto::push::v1::PushRequest;

use crate::config::Limits;
use crate::error::{ApiError, Code};
use crate::push::PushSink;

/// The real push sink: the buffered, acknowledged write path.
#[derive(Debug, Clone)]
pub struct IngestSink {
    service: IngestService,
}

impl IngestSink {
    pub fn new(service: IngestService) -> Self {
        Self { service }
    }
}

/// Maps a write-path error to the RPC error clients see.
pub(crate) fn api_error(err: IngestError) -> ApiError {
    let code = match &err {
        IngestError::InvalidArgument(_)
        | IngestError::TooLarge(_)
        | IngestError::Unprocessable(_) => Code::InvalidArgument,
        IngestError::ResourceExhausted(_) => Code::ResourceExhausted,
        IngestError::Unavailable(_) => Code::Unavailable,
        IngestError::Internal(_) => Code::Internal,
    };
    ApiError::new(code, err.to_string())
}

#[async_trait]
impl PushSink for IngestSink {
    async fn push(&self, tenant: &str, request: PushRequest) -> Result<(), ApiError> {
        self.service.push(tenant, request).await.map_err(api_error)
    }

    async fn ingest_legacy(
        &self,
        tenant: &str,
        params: LegacyParams,
        body: LegacyBody,
    ) -> Result<(), IngestError> {
        self.convert_and_accept(tenant, move |normalize, now_ns| {
            convert_legacy(&params, body, normalize, now_ns)
        })
        .await
    }

    async fn export_otlp(
        &self,
        tenant: &str,
        request: ExportProfilesServiceRequest,
    ) -> Result<(), IngestError> {
        self.convert_and_accept(tenant, move |normalize, now_ns| {
            convert_export(&request, normalize, now_ns)
        })
        .await
    }
}

impl IngestSink {
    /// Runs a CPU-heavy conversion off the I/O threads with the tenant's
    /// limits, then hands the profiles to the acknowledged write path.
    async fn convert_and_accept<F>(&self, tenant: &str, convert: F) -> Result<(), IngestError>
    where
        F: FnOnce(&NormalizeLimits, i64) -> Result<DecodedPush, IngestError> + Send + 'static,
    {
        let limits = self.service.limits(tenant);
        let normalize = limits.normalize;
        let now_ns = self.service.now_ns();
        let decoded = tokio::task::spawn_blocking(move || convert(&normalize, now_ns))
            .await
            .map_err(|e| IngestError::Internal(format!("conversion task failed: {e}")))
            .and_then(|decoded| decoded)
            .inspect_err(|e| kiln_ingest::metrics::record_error(tenant, Reason::of_decode(e)))?;
        self.service
            .accept(
                tenant,
                &limits,
                decoded.profiles,
                decoded.decompressed_bytes,
            )
            .await
    }
}

/// The ingester's view of a tenant's configured limits (`0s` durations
/// disable their checks).
pub fn ingest_limits(limits: &Limits) -> IngestLimits {
    const MIB: f64 = 1024.0 * 1024.0;
    let window = |d: std::time::Duration| (!d.is_zero()).then_some(d);
    IngestLimits {
        rate_bytes_per_sec: limits.ingestion_rate_mb * MIB,
        burst_bytes: limits.ingestion_burst_size_mb * MIB,
        reject_older_than: window(limits.reject_older_than),
        reject_newer_than: window(limits.reject_newer_than),
        max_series_per_tenant: limits.max_series_per_tenant,
        normalize: NormalizeLimits {
            max_decompressed_bytes: limits.max_profile_size_bytes as usize,
            max_samples: limits.max_profile_stacktrace_samples,
            max_sample_labels: limits.max_profile_stacktrace_sample_labels,
            max_stack_depth: limits.max_profile_stacktrace_depth,
            max_symbol_len: limits.max_profile_symbol_value_length,
            max_label_names: limits.max_label_names_per_series,
            max_label_name_len: limits.max_label_name_length,
            max_label_value_len: limits.max_label_value_length,
        },
    }
}

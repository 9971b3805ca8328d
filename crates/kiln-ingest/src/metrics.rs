//! Write-path metrics, recorded through the `metrics` facade; the server
//! installs the Prometheus recorder and serves them on `/metrics`.
//!
//! Names follow `kiln_ingest_<what>_<unit>`. Labels are bounded: `tenant`
//! (tenant IDs are validated and few), `protocol`, `outcome` and `reason`
//! (small fixed sets); never a series label or a message.

use std::time::Duration;

use crate::error::IngestError;

/// Pushes that reached the write path, by `tenant`, `protocol` (`connect`,
/// `grpc`, `grpc_web`, `ingest`, …) and `outcome` (`ok` or the error code
/// returned). Requests refused before (unreadable body, bad tenant) are
/// counted by the server's `kiln_server_*` request metrics.
pub const PUSHES_TOTAL: &str = "kiln_ingest_pushes_total";
/// Decompressed profile bytes acknowledged, by `tenant`.
pub const DECOMPRESSED_BYTES_TOTAL: &str = "kiln_ingest_decompressed_bytes_total";
/// Normalised profiles (one per series and sample type) acknowledged, by `tenant`.
pub const PROFILES_TOTAL: &str = "kiln_ingest_profiles_total";
/// Refused or failed pushes, by `tenant` and `reason` (see [`Reason`]).
pub const ERRORS_TOTAL: &str = "kiln_ingest_errors_total";
/// Time to encode, upload and register one level-0 block, by `outcome`
/// (`ok` / `error`).
pub const FLUSH_DURATION_SECONDS: &str = "kiln_ingest_flush_duration_seconds";
/// Buffered (decompressed) bytes written by one flush.
pub const FLUSH_SIZE_BYTES: &str = "kiln_ingest_flush_size_bytes";
/// Bytes waiting in a tenant's buffer for the next flush, by `tenant`.
pub const BUFFERED_BYTES: &str = "kiln_ingest_buffered_bytes";

/// Histogram buckets for [`FLUSH_SIZE_BYTES`]: 1 KiB … 256 MiB.
pub const FLUSH_SIZE_BUCKETS: &[f64] = &[
    1024.0,
    16384.0,
    131_072.0,
    1_048_576.0,
    8_388_608.0,
    33_554_432.0,
    67_108_864.0,
    268_435_456.0,
];

/// Why a push was refused or failed: the `reason` of [`ERRORS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Malformed or invalid profile or labels.
    Invalid,
    /// A profile over `max_profile_size_bytes` after decompression.
    TooLarge,
    /// Well-formed but not convertible (unknown format or profile type).
    Unprocessable,
    /// Outside the ingestion time window.
    TimeWindow,
    /// Over the tenant's ingestion rate.
    RateLimited,
    /// Over the tenant's active series limit.
    SeriesLimit,
    /// Buffers full or storage failing.
    Unavailable,
    /// A bug or an unexpected failure.
    Internal,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Invalid => "invalid",
            Reason::TooLarge => "too_large",
            Reason::Unprocessable => "unprocessable",
            Reason::TimeWindow => "time_window",
            Reason::RateLimited => "rate_limited",
            Reason::SeriesLimit => "series_limit",
            Reason::Unavailable => "unavailable",
            Reason::Internal => "internal",
        }
    }

    /// The reason of an error raised while decoding or converting a push
    /// (before limits and buffering).
    pub fn of_decode(err: &IngestError) -> Reason {
        match err {
            IngestError::InvalidArgument(_) => Reason::Invalid,
            IngestError::TooLarge(_) => Reason::TooLarge,
            IngestError::Unprocessable(_) => Reason::Unprocessable,
            IngestError::ResourceExhausted(_) => Reason::RateLimited,
            IngestError::Unavailable(_) => Reason::Unavailable,
            IngestError::Internal(_) => Reason::Internal,
        }
    }
}

/// Registers help texts; call once the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        PUSHES_TOTAL,
        "Pushes handled, by tenant, protocol and outcome."
    );
    describe_counter!(
        DECOMPRESSED_BYTES_TOTAL,
        Unit::Bytes,
        "Decompressed profile bytes acknowledged, by tenant."
    );
    describe_counter!(
        PROFILES_TOTAL,
        "Normalised profiles acknowledged, by tenant."
    );
    describe_counter!(
        ERRORS_TOTAL,
        "Refused or failed pushes, by tenant and reason."
    );
    describe_histogram!(
        FLUSH_DURATION_SECONDS,
        Unit::Seconds,
        "Time to write and register one level-0 block, by outcome."
    );
    describe_histogram!(
        FLUSH_SIZE_BYTES,
        Unit::Bytes,
        "Buffered bytes written by one flush."
    );
    describe_gauge!(
        BUFFERED_BYTES,
        Unit::Bytes,
        "Bytes waiting in a tenant's buffer for the next flush."
    );
}

/// Counts one push; `outcome` is `ok` or the error code the client got.
pub fn record_push(tenant: &str, protocol: &'static str, outcome: &'static str) {
    metrics::counter!(
        PUSHES_TOTAL,
        "tenant" => tenant.to_string(),
        "protocol" => protocol,
        "outcome" => outcome,
    )
    .increment(1);
}

/// Counts one refused or failed push.
pub fn record_error(tenant: &str, reason: Reason) {
    metrics::counter!(ERRORS_TOTAL, "tenant" => tenant.to_string(), "reason" => reason.as_str())
        .increment(1);
}

/// Counts what an acknowledged push added.
pub(crate) fn record_accepted(tenant: &str, profiles: usize, bytes: usize) {
    metrics::counter!(DECOMPRESSED_BYTES_TOTAL, "tenant" => tenant.to_string())
        .increment(bytes as u64);
    metrics::counter!(PROFILES_TOTAL, "tenant" => tenant.to_string()).increment(profiles as u64);
}

pub(crate) fn record_flush(elapsed: Duration, bytes: usize, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::histogram!(FLUSH_DURATION_SECONDS, "outcome" => outcome).record(elapsed.as_secs_f64());
    metrics::histogram!(FLUSH_SIZE_BYTES).record(bytes as f64);
}

pub(crate) fn set_buffered(tenant: &str, bytes: usize) {
    metrics::gauge!(BUFFERED_BYTES, "tenant" => tenant.to_string()).set(bytes as f64);
}

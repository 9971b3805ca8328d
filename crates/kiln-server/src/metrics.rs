//! Prometheus metrics: names as constants, the process-wide recorder, and
//! the `/metrics` route.
//!
//! Components record through the `metrics` facade (`metrics::counter!`),
//! so the ingest and query crates need no registry plumbing; this module
//! installs the one global Prometheus recorder and renders it through axum.
//! Names follow `kiln_<component>_<what>_<unit>`. The write path's own
//! metrics (`kiln_ingest_*`) are defined in `kiln_ingest::metrics`; this
//! module only gives them their help texts and histogram buckets.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::Code;

/// RPCs served, by `rpc` (path), `protocol` and `code` (`ok` or the error code).
pub const RPC_REQUESTS_TOTAL: &str = "kiln_server_rpc_requests_total";
/// RPC latency from first byte to response, by `rpc` and `protocol`.
pub const RPC_DURATION_SECONDS: &str = "kiln_server_rpc_duration_seconds";
/// Request body bytes as received (before decompression), by `rpc` and `protocol`.
pub const RPC_REQUEST_BYTES_TOTAL: &str = "kiln_server_rpc_request_bytes_total";

/// Plain HTTP API requests (`/ingest`, render APIs), by `path` and `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "kiln_server_http_requests_total";
/// Plain HTTP API latency, by `path`.
pub const HTTP_DURATION_SECONDS: &str = "kiln_server_http_duration_seconds";

/// Latency buckets for every `*_seconds` histogram in the process.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histogram state is compacted (see the exporter's "upkeep").
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the global recorder on
/// first use. If another recorder was installed first (a host embedding
/// Kiln), Kiln's own metrics go there and `/metrics` renders only what
/// reaches this handle.
pub fn prometheus_handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .expect("bucket list is not empty")
            .set_buckets_for_metric(
                Matcher::Full(kiln_ingest::metrics::FLUSH_SIZE_BYTES.into()),
                kiln_ingest::metrics::FLUSH_SIZE_BUCKETS,
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a global metrics recorder was already installed; /metrics will be partial"
            );
        }
        describe();
        handle
    })
}

fn describe() {
    kiln_ingest::metrics::describe();
    kiln_query::describe_metrics();
    metrics::describe_counter!(
        RPC_REQUESTS_TOTAL,
        "RPCs served, by rpc, protocol and code."
    );
    metrics::describe_histogram!(
        RPC_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "RPC latency, by rpc and protocol."
    );
    metrics::describe_counter!(
        RPC_REQUEST_BYTES_TOTAL,
        metrics::Unit::Bytes,
        "Request body bytes as received, by rpc and protocol."
    );
}

/// Compacts histogram state periodically until the task is aborted.
pub(crate) fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    let handle = prometheus_handle();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// `GET /metrics`: Prometheus text exposition format.
pub(crate) async fn render() -> Response {
    let text = prometheus_handle().render();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

pub(crate) fn record_rpc(
    rpc: &'static str,
    protocol: &'static str,
    error: Option<Code>,
    elapsed: Duration,
) {
    let code = error.map_or("ok", Code::as_str);
    metrics::counter!(RPC_REQUESTS_TOTAL, "rpc" => rpc, "protocol" => protocol, "code" => code)
        .increment(1);
    metrics::histogram!(RPC_DURATION_SECONDS, "rpc" => rpc, "protocol" => protocol)
        .record(elapsed.as_secs_f64());
}

pub(crate) fn record_request_bytes(rpc: &'static str, protocol: &'static str, bytes: usize) {
    metrics::counter!(RPC_REQUEST_BYTES_TOTAL, "rpc" => rpc, "protocol" => protocol)
        .increment(bytes as u64);
}

pub(crate) fn record_http(path: &'static str, status: u16, elapsed: Duration) {
    metrics::counter!(HTTP_REQUESTS_TOTAL, "path" => path, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_DURATION_SECONDS, "path" => path).record(elapsed.as_secs_f64());
}

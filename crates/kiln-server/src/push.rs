//! `push.v1.PusherService/Push`: the ingest RPC, handed to a [`PushSink`].
//!
//! This crate only speaks the protocols; decoding pprof, validation, limits,
//! buffering and the durable acknowledgement live behind the sink (the
//! ingest crate). The RPC returns only when the sink does, so "answered"
//! means whatever the sink promises ("durable" for the ingester).

use std::sync::Arc;

use async_trait::async_trait;
use kiln_ingest::IngestError;
use kiln_ingest::legacy::{LegacyBody, LegacyParams};
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
use kiln_proto::push::v1::{PushRequest, PushResponse};

use crate::error::ApiError;
use crate::rpc::RpcRouter;

/// The Connect/gRPC path of the push RPC.
pub const PUSH_PATH: &str = "/push.v1.PusherService/Push";

/// Where pushed profiles go. Implemented by the ingester; tests use fakes.
#[async_trait]
pub trait PushSink: Send + Sync {
    /// Takes one request for `tenant`. Return only once the profiles are
    /// acknowledged; errors carry the code the client sees
    /// (`invalid_argument` for validation, `resource_exhausted` for rate
    /// limits, `unavailable` for backpressure).
    async fn push(&self, tenant: &str, request: PushRequest) -> Result<(), ApiError>;

    /// Takes one legacy `/ingest` request for `tenant`; same contract as
    /// [`PushSink::push`]. Errors keep the write path's classification so
    /// `/ingest` can answer with Pyroscope's statuses (413, 422, …).
    async fn ingest_legacy(
        &self,
        tenant: &str,
        params: LegacyParams,
        body: LegacyBody,
    ) -> Result<(), IngestError>;

    /// Takes one OTLP profiles export for `tenant` (gRPC/Connect `Export`
    /// and OTLP/HTTP alike); same contract as [`PushSink::ingest_legacy`].
    async fn export_otlp(
        &self,
        tenant: &str,
        request: ExportProfilesServiceRequest,
    ) -> Result<(), IngestError>;
}

pub(crate) fn register(router: RpcRouter, sink: Arc<dyn PushSink>) -> RpcRouter {
    router.unary(PUSH_PATH, move |ctx, request: PushRequest| {
        let sink = sink.clone();
        async move {
            let result = sink.push(&ctx.tenant, request).await;
            let outcome = result
                .as_ref()
                .map_or_else(|e| e.code().as_str(), |()| "ok");
            kiln_ingest::metrics::record_push(&ctx.tenant, ctx.protocol.as_str(), outcome);
            result?;
            Ok(PushResponse {})
        }
    })
}

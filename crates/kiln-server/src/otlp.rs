//! OTLP profiles ingestion on the one port (spec §10).
//!
//! * **OTLP/gRPC** `ProfilesService/Export` is an ordinary unary RPC of the
//!   `rpc` layer, so it is served as gRPC (h2c, what the OTel eBPF
//!   profiler's `otlp_grpc` exporter speaks), Connect and gRPC-Web.
//! * **OTLP/HTTP** `POST /v1development/profiles` takes
//!   `application/x-protobuf`, `application/protobuf` or `application/json`
//!   (protojson) bodies, optionally gzipped, and answers with a protobuf
//!   `ExportProfilesServiceResponse`; any other content type gets 415.
//!
//! Both hand the request to [`PushSink::export_otlp`], so tenancy, limits
//! and the durable acknowledgement are those of every other ingest path.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kiln_proto::opentelemetry::proto::collector::profiles::v1development::{
    ExportProfilesServiceRequest, ExportProfilesServiceResponse,
};
use prost::Message;

use crate::config::KilnConfig;
use crate::error::ApiError;
use crate::ingest_http::{HttpError, api_error_response, error_body, ingest_error};
use crate::ingest_sink::api_error;
use crate::push::PushSink;
use crate::rpc::{RpcRouter, body};
use crate::tenant;

/// The gRPC/Connect path of the OTLP profiles export RPC.
pub const OTLP_EXPORT_PATH: &str =
    "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export";
/// The OTLP/HTTP path.
pub const OTLP_HTTP_PATH: &str = "/v1development/profiles";

/// Registers `ProfilesService/Export` on the RPC router.
pub(crate) fn register(router: RpcRouter, sink: Arc<dyn PushSink>) -> RpcRouter {
    router.unary(
        OTLP_EXPORT_PATH,
        move |ctx, request: ExportProfilesServiceRequest| {
            let sink = sink.clone();
            async move {
                sink.export_otlp(&ctx.tenant, request)
                    .await
                    .map_err(api_error)?;
                Ok(ExportProfilesServiceResponse::default())
            }
        },
    )
}

/// Mounts `POST /v1development/profiles`.
pub(crate) fn routes(router: Router, config: Arc<KilnConfig>, sink: Arc<dyn PushSink>) -> Router {
    router.route(
        OTLP_HTTP_PATH,
        post(move |request: Request| {
            let config = config.clone();
            let sink = sink.clone();
            async move {
                let started = std::time::Instant::now();
                let result = export_http(&config, sink.as_ref(), request).await;
                let status = match &result {
                    Ok(_) => StatusCode::OK,
                    Err((status, _)) => *status,
                };
                crate::metrics::record_http(OTLP_HTTP_PATH, status.as_u16(), started.elapsed());
                match result {
                    Ok(response) => response,
                    Err((status, body)) => {
                        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
                    }
                }
            }
        }),
    )
}

/// How an OTLP/HTTP body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, HttpError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error_body(
                "invalid_argument",
                &format!(
                    "unsupported content type {raw:?}: use application/x-protobuf, \
                     application/protobuf or application/json"
                ),
            ),
        )),
    }
}

async fn export_http(
    config: &KilnConfig,
    sink: &dyn PushSink,
    request: Request,
) -> Result<Response, HttpError> {
    let headers = request.headers().clone();
    let encoding = encoding(&headers)?;
    let tenant = tenant::resolve(&headers, config.auth.multitenancy_enabled)
        .map_err(|e| api_error_response(&e))?;
    let limit = config.limits_for(&tenant).ingestion_body_limit_bytes();
    let raw = body::read(request.into_body(), limit)
        .await
        .map_err(|e| api_error_response(&e))?;
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let raw = match content_encoding.as_deref() {
        None | Some("") | Some("identity") => raw,
        Some("gzip") => body::gunzip(raw, limit)
            .await
            .map_err(|e| api_error_response(&e))?,
        Some(other) => {
            return Err(api_error_response(&ApiError::UnsupportedEncoding(
                other.into(),
            )));
        }
    };
    let bad = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            error_body("invalid_argument", &message),
        )
    };
    let export = match encoding {
        Encoding::Protobuf => ExportProfilesServiceRequest::decode(raw)
            .map_err(|e| bad(format!("invalid protobuf export request: {e}")))?,
        Encoding::Json => serde_json::from_slice(&raw)
            .map_err(|e| bad(format!("invalid json export request: {e}")))?,
    };
    sink.export_otlp(&tenant, export)
        .await
        .map_err(|e| ingest_error(&e))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportProfilesServiceResponse::default().encode_to_vec(),
    )
        .into_response())
}

//! The legacy `POST /ingest` (and `/pyroscope/ingest`) HTTP API (spec §5).
//!
//! Query parameters and the body (raw, gzip by `Content-Encoding` or by
//! magic, or `multipart/form-data`) are handed to the sink; success is
//! 200 with an empty body, errors are JSON `{"code","message"}` with the
//! status Pyroscope uses (400, 401, 413, 422, 429, 503).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use kiln_ingest::IngestError;
use kiln_ingest::legacy::{LegacyBody, LegacyParams};

use crate::config::KilnConfig;
use crate::error::ApiError;
use crate::push::PushSink;
use crate::rpc::body;
use crate::tenant;

/// Mounts `/ingest` and `/pyroscope/ingest`.
pub(crate) fn routes(router: Router, config: Arc<KilnConfig>, sink: Arc<dyn PushSink>) -> Router {
    let handler = move |Query(query): Query<HashMap<String, String>>, request: Request| {
        let config = config.clone();
        let sink = sink.clone();
        async move { ingest(config, sink, query, request).await }
    };
    router
        .route("/ingest", post(handler.clone()))
        .route("/pyroscope/ingest", post(handler))
}

async fn ingest(
    config: Arc<KilnConfig>,
    sink: Arc<dyn PushSink>,
    query: HashMap<String, String>,
    request: Request,
) -> Response {
    let started = std::time::Instant::now();
    let result = handle(&config, sink.as_ref(), query, request).await;
    let status = match &result {
        Ok(()) => StatusCode::OK,
        Err((status, _)) => *status,
    };
    crate::metrics::record_http("/ingest", status.as_u16(), started.elapsed());
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err((status, body)) => {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

pub(crate) type HttpError = (StatusCode, String);

pub(crate) fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "code": code, "message": message }).to_string()
}

/// Maps a protocol-layer error (tenant, body, gzip) to an HTTP answer.
pub(crate) fn api_error_response(err: &ApiError) -> HttpError {
    let status = match err {
        ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::BodyRead(_) => StatusCode::REQUEST_TIMEOUT,
        // Plain HTTP's answer to a content coding it can't decode (RFC 9110
        // §15.5.16); 501 is for unknown methods.
        ApiError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        other => other.http_status(),
    };
    (status, error_body(err.code().as_str(), &err.to_string()))
}

/// Maps the write path's errors to `/ingest` statuses.
pub(crate) fn ingest_error(err: &IngestError) -> HttpError {
    let (status, code) = ingest_status(err);
    (status, error_body(code, &err.to_string()))
}

/// The `/ingest` status and error code of a write-path error.
fn ingest_status(err: &IngestError) -> (StatusCode, &'static str) {
    match err {
        IngestError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
        IngestError::ResourceExhausted(_) => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
        IngestError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_argument"),
        IngestError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_argument"),
        IngestError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        IngestError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

async fn handle(
    config: &KilnConfig,
    sink: &dyn PushSink,
    query: HashMap<String, String>,
    request: Request,
) -> Result<(), HttpError> {
    let headers = request.headers().clone();
    let tenant = tenant::resolve(&headers, config.auth.multitenancy_enabled)
        .map_err(|e| api_error_response(&e))?;
    let limit = config.limits_for(&tenant).ingestion_body_limit_bytes();
    let name = query.get("name").cloned().unwrap_or_default();
    if name.trim().is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_argument",
                "the name query parameter is required (app{k=v,…})",
            ),
        ));
    }
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let params = LegacyParams {
        name,
        from: query.get("from").cloned(),
        until: query.get("until").cloned(),
        format: query.get("format").cloned(),
        sample_rate: query.get("sampleRate").cloned(),
        spy_name: query.get("spyName").cloned(),
        content_type: content_type.clone(),
    };
    let raw = body::read(request.into_body(), limit)
        .await
        .map_err(|e| api_error_response(&e))?;
    let raw = match header_str(&headers, header::CONTENT_ENCODING).as_deref() {
        None | Some("") | Some("identity") => raw,
        // Tolerant: if the body isn't gzip after all, the converter sniffs.
        Some("gzip") if raw.starts_with(&[0x1f, 0x8b]) => body::gunzip(raw, limit)
            .await
            .map_err(|e| api_error_response(&e))?,
        Some("gzip") => raw,
        Some(other) => {
            return Err(api_error_response(&ApiError::UnsupportedEncoding(
                other.into(),
            )));
        }
    };
    let body = match content_type.as_deref().and_then(multipart_boundary) {
        Some(boundary) => read_multipart(raw, boundary).await?,
        None => LegacyBody::Raw(raw.to_vec()),
    };
    let result = sink.ingest_legacy(&tenant, params, body).await;
    let outcome = result
        .as_ref()
        .map_or_else(|e| ingest_status(e).1, |()| "ok");
    kiln_ingest::metrics::record_push(&tenant, "ingest", outcome);
    result.map_err(|e| ingest_error(&e))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    if !content_type.starts_with("multipart/form-data") {
        return None;
    }
    multer::parse_boundary(content_type).ok()
}

/// Collects the parts `/ingest` knows: `profile`, `sample_type_config`,
/// and the (rejected) `prev_profile`.
async fn read_multipart(raw: Bytes, boundary: String) -> Result<LegacyBody, HttpError> {
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(raw) });
    let mut multipart =
        multer::Multipart::new(Body::from_stream(stream).into_data_stream(), boundary);
    let mut profile = None;
    let mut sample_type_config = None;
    let mut prev_profile = false;
    let bad = |e: multer::Error| {
        (
            StatusCode::BAD_REQUEST,
            error_body("invalid_argument", &format!("invalid multipart body: {e}")),
        )
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(bad)?;
        match name.as_str() {
            "profile" => profile = Some(data.to_vec()),
            "sample_type_config" => sample_type_config = Some(data.to_vec()),
            "prev_profile" => prev_profile = true,
            _ => {}
        }
    }
    Ok(LegacyBody::Multipart {
        profile,
        sample_type_config,
        prev_profile,
    })
}

//! Connect unary over HTTP/1.1 or HTTP/2.
//!
//! Request: the body is the message, optionally `Content-Encoding: gzip`;
//! `Connect-Protocol-Version` is optional but must be `1` when sent;
//! `Connect-Timeout-Ms` sets a deadline. Response: 200 with the request's
//! Content-Type and the message, uncompressed (always allowed by the
//! protocol, and responses here are small); errors are JSON
//! `{"code": …, "message": …}` with the status of [`ApiError::http_status`].

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{Incoming, Wire, body};
use crate::error::ApiError;

const PROTOCOL_VERSION: &str = "connect-protocol-version";
const TIMEOUT_MS: &str = "connect-timeout-ms";

/// Content types a 415 response advertises in `Accept-Post`.
const ACCEPTED: &str = "application/proto, application/json, application/grpc, \
    application/grpc+proto, application/grpc+json, application/grpc-web, \
    application/grpc-web+proto, application/grpc-web+json";

/// Validates the Connect headers and reads (and inflates) the message.
pub(crate) async fn read_request(
    headers: &HeaderMap,
    request_body: Body,
    limit: Option<usize>,
) -> Result<Incoming, ApiError> {
    if let Some(version) = headers.get(PROTOCOL_VERSION)
        && version != "1"
    {
        return Err(bad_header(PROTOCOL_VERSION, version));
    }
    let timeout = match headers.get(TIMEOUT_MS) {
        Some(value) => Some(parse_timeout(value).ok_or_else(|| bad_header(TIMEOUT_MS, value))?),
        None => None,
    };
    let gzipped = match headers
        .get(header::CONTENT_ENCODING)
        .map(HeaderValue::to_str)
    {
        None => false,
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("identity") => false,
        Some(Ok(e)) if e.trim().eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(ApiError::UnsupportedEncoding(
                other.unwrap_or("<non-ASCII>").to_string(),
            ));
        }
    };
    let raw = body::read(request_body, limit).await?;
    let wire_bytes = raw.len();
    let message = if gzipped && !raw.is_empty() {
        body::gunzip(raw, limit).await?
    } else {
        raw
    };
    Ok(Incoming {
        message,
        wire_bytes,
        timeout,
    })
}

/// At most 10 digits of milliseconds, as the Connect protocol specifies.
fn parse_timeout(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_millis(text.parse().ok()?))
}

fn bad_header(header: &'static str, value: &HeaderValue) -> ApiError {
    ApiError::BadHeader {
        header,
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

/// The Connect answer to a finished call.
pub(crate) fn response(wire: Wire, result: Result<Bytes, ApiError>) -> Response {
    match result {
        Ok(message) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, wire.content_type)],
            message,
        )
            .into_response(),
        Err(err) => error_response(&err),
    }
}

/// A Connect error: JSON `{code, message}` with the mapped HTTP status.
/// Also used before a protocol is known (unsupported Content-Type).
pub(crate) fn error_response(err: &ApiError) -> Response {
    let body = serde_json::json!({
        "code": err.code().as_str(),
        "message": err.to_string(),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = err.http_status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if matches!(err, ApiError::UnsupportedMediaType { .. }) {
        headers.insert("accept-post", HeaderValue::from_static(ACCEPTED));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header() {
        let parse = |s: &'static str| parse_timeout(&HeaderValue::from_static(s));
        assert_eq!(parse("1500"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("12345678901"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("1s"), None);
    }
}

//! gRPC (over h2c) and gRPC-Web unary framing.
//!
//! Both carry each message as a 5-byte prefix (flags, big-endian u32
//! length) plus payload; flag bit 0 marks a compressed message
//! (`grpc-encoding: gzip`). They differ only in where the status goes:
//!
//! * gRPC: HTTP/2 trailers `grpc-status` / `grpc-message` after the
//!   message; an error is a "trailers-only" response (status in the headers,
//!   no body), which every gRPC client understands.
//! * gRPC-Web: a final frame with flag `0x80` whose payload is the
//!   trailers as HTTP/1-style header lines, so it works over HTTP/1.1 and
//!   through proxies that drop trailers.
//!
//! Responses are never compressed.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http_body::Frame;
use http_body_util::StreamBody;

use super::{Incoming, Protocol, Wire, body};
use crate::error::ApiError;

const FRAME_HEADER_LEN: usize = 5;
const FLAG_COMPRESSED: u8 = 0x01;
const FLAG_TRAILERS: u8 = 0x80;

const GRPC_TIMEOUT: &str = "grpc-timeout";
const GRPC_ENCODING: &str = "grpc-encoding";
const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";

/// Reads the body and unwraps its single length-prefixed message.
pub(crate) async fn read_request(
    headers: &HeaderMap,
    request_body: Body,
    limit: Option<usize>,
) -> Result<Incoming, ApiError> {
    let timeout = match headers.get(GRPC_TIMEOUT) {
        Some(value) => Some(parse_timeout(value).ok_or_else(|| ApiError::BadHeader {
            header: GRPC_TIMEOUT,
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })?),
        None => None,
    };
    let raw = body::read(request_body, limit).await?;
    let wire_bytes = raw.len();
    let (flags, payload) = unframe(raw)?;
    let message = if flags & FLAG_COMPRESSED != 0 {
        let encoding = headers.get(GRPC_ENCODING).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        });
        match encoding.as_deref() {
            Some("gzip") => body::gunzip(payload, limit).await?,
            Some("identity") | None => {
                return Err(ApiError::BadFrame(
                    "compressed flag set without a grpc-encoding".to_string(),
                ));
            }
            Some(other) => return Err(ApiError::UnsupportedEncoding(other.to_string())),
        }
    } else {
        payload
    };
    Ok(Incoming {
        message,
        wire_bytes,
        timeout,
    })
}

/// Splits exactly one message frame off `raw`: a unary request has one.
fn unframe(mut raw: Bytes) -> Result<(u8, Bytes), ApiError> {
    if raw.len() < FRAME_HEADER_LEN {
        return Err(ApiError::BadFrame(format!(
            "expected one length-prefixed request message, got {} bytes",
            raw.len()
        )));
    }
    let flags = raw[0];
    if flags & FLAG_TRAILERS != 0 {
        return Err(ApiError::BadFrame(
            "unexpected trailers frame in request".into(),
        ));
    }
    let len = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]) as usize;
    let rest = raw.len() - FRAME_HEADER_LEN;
    if len > rest {
        return Err(ApiError::BadFrame(format!(
            "message length prefix is {len} bytes but only {rest} follow"
        )));
    }
    if len < rest {
        return Err(ApiError::BadFrame(
            "more than one request message in a unary call".into(),
        ));
    }
    let payload = raw.split_off(FRAME_HEADER_LEN);
    Ok((flags, payload))
}

/// `grpc-timeout`: 1–8 digits and a unit (H, M, S, m, u, n).
fn parse_timeout(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?;
    if text.len() < 2 || text.len() > 9 {
        return None;
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The gRPC or gRPC-Web answer to a finished call. Always HTTP 200: the
/// outcome is in `grpc-status`.
pub(crate) fn response(wire: Wire, result: Result<Bytes, ApiError>) -> Response {
    let (status, message, payload) = match result {
        Ok(payload) => (0, String::new(), Some(payload)),
        Err(err) => (err.code().grpc_code(), err.to_string(), None),
    };
    let body = match (wire.protocol, payload) {
        (Protocol::GrpcWeb, payload) => {
            let mut out = BytesMut::new();
            if let Some(payload) = payload {
                put_frame(&mut out, 0, &payload);
            }
            let trailers = format!(
                "{GRPC_STATUS}:{status}\r\n{GRPC_MESSAGE}:{}\r\n",
                percent_encode(&message)
            );
            put_frame(&mut out, FLAG_TRAILERS, trailers.as_bytes());
            Body::from(out.freeze())
        }
        (_, Some(payload)) => {
            let mut data = BytesMut::with_capacity(FRAME_HEADER_LEN + payload.len());
            put_frame(&mut data, 0, &payload);
            let mut trailers = HeaderMap::new();
            trailers.insert(GRPC_STATUS, HeaderValue::from(0));
            let frames = [Frame::data(data.freeze()), Frame::trailers(trailers)];
            Body::new(StreamBody::new(futures::stream::iter(
                frames.map(Ok::<_, Infallible>),
            )))
        }
        // Trailers-only: the status travels in the response headers.
        (_, None) => Body::empty(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(wire.content_type),
    );
    headers.insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
    if wire.protocol == Protocol::Grpc && status != 0 {
        headers.insert(GRPC_STATUS, HeaderValue::from(status));
        if let Ok(value) = HeaderValue::from_str(&percent_encode(&message)) {
            headers.insert(GRPC_MESSAGE, value);
        }
    }
    response
}

fn put_frame(out: &mut BytesMut, flags: u8, payload: &[u8]) {
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.put_u8(flags);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut buf = BytesMut::new();
        put_frame(&mut buf, 0, b"abc");
        assert_eq!(&buf[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
        let (flags, payload) = unframe(buf.freeze()).unwrap();
        assert_eq!((flags, &payload[..]), (0, &b"abc"[..]));

        let short = Bytes::from_static(&[0, 0, 0, 0, 9, 1]);
        assert!(matches!(unframe(short), Err(ApiError::BadFrame(_))));
        let two = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(unframe(two), Err(ApiError::BadFrame(_))));
        assert!(matches!(unframe(Bytes::new()), Err(ApiError::BadFrame(_))));
        let trailer = Bytes::from_static(&[0x80, 0, 0, 0, 0]);
        assert!(matches!(unframe(trailer), Err(ApiError::BadFrame(_))));
    }

    #[test]
    fn timeouts() {
        let parse = |s: &'static str| parse_timeout(&HeaderValue::from_static(s));
        assert_eq!(parse("10S"), Some(Duration::from_secs(10)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(parse("123456789S"), None);
        assert_eq!(parse("S"), None);
        assert_eq!(parse("10x"), None);
    }

    #[test]
    fn grpc_message_encoding() {
        assert_eq!(percent_encode("a b%c"), "a b%25c");
        assert_eq!(percent_encode("é\n"), "%C3%A9%0A");
    }
}

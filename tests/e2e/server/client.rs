//! Requests to a [`KilnServer`](super::KilnServer) with real clients:
//! hyper-util for HTTP/1.1 and h2c, tonic's generated `PusherServiceClient`
//! for gRPC and tonic-web's client layer for gRPC-Web, so that the server's
//! framing is checked against independent implementations.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kiln_proto::push::v1::PushRequest;
use kiln_proto::push::v1::pusher_service_client::PusherServiceClient;
use prost::Message;

use super::KilnServer;

/// The Connect / gRPC path of the push RPC.
pub const PUSH_PATH: &str = "/push.v1.PusherService/Push";

pub type TestBody = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

/// A body of several DATA chunks with no known length: HTTP/1.1 sends it
/// with `Transfer-Encoding: chunked` and no Content-Length (connect-node).
pub fn chunked(data: &[u8], pieces: usize) -> TestBody {
    let size = data.len().div_ceil(pieces).max(1);
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = data
        .chunks(size)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    StreamBody::new(futures::stream::iter(frames)).boxed()
}

/// A whole response: status, headers, body and (HTTP/2) trailers.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {self:?}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, or `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }
}

/// Sends over HTTP/1.1, or over h2c with prior knowledge; `Err` on a
/// transport failure (connection refused or reset), e.g. a killed server.
pub async fn try_send(request: Request<TestBody>, http2: bool) -> Result<Reply, String> {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(http2);
    let client: Client<_, TestBody> = builder.build_http();
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(Reply {
        status,
        headers,
        trailers: collected.trailers().cloned(),
        body: collected.to_bytes(),
    })
}

/// [`try_send`] for a server that is expected to answer.
pub async fn send(request: Request<TestBody>, http2: bool) -> Reply {
    let uri = request.uri().clone();
    try_send(request, http2)
        .await
        .unwrap_or_else(|e| panic!("request to {uri} failed: {e}"))
}

pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: TestBody,
) -> Request<TestBody> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).expect("valid request")
}

/// POST over HTTP/1.1.
pub async fn post(url: &str, headers: &[(&str, &str)], body: TestBody) -> Reply {
    send(request(Method::POST, url, headers, body), false).await
}

pub async fn get(url: &str) -> Reply {
    send(request(Method::GET, url, &[], full(Bytes::new())), false).await
}

/// GET that tolerates a server that is not listening yet.
pub async fn try_get(url: &str) -> Option<Reply> {
    try_send(request(Method::GET, url, &[], full(Bytes::new())), false)
        .await
        .ok()
}

/// A Connect unary push, binary protobuf, over HTTP/1.1 (what Alloy sends).
pub async fn push_proto(
    server: &KilnServer,
    push: &PushRequest,
    headers: &[(&str, &str)],
) -> Reply {
    let mut all = vec![("content-type", "application/proto")];
    all.extend_from_slice(headers);
    post(&server.url(PUSH_PATH), &all, full(push.encode_to_vec())).await
}

/// Success as Pyroscope clients expect it: 200 and an empty body (`/ingest`)
/// or an empty `PushResponse` (Connect proto).
#[track_caller]
pub fn assert_ok_empty(reply: &Reply) {
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body.is_empty(), "body should be empty: {reply:?}");
}

/// A JSON `{code, message}` error with this status whose message mentions
/// every one of `parts`.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str, parts: &[&str]) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(
        reply.header("content-type"),
        "application/json",
        "{reply:?}"
    );
    let json = reply.json();
    assert_eq!(json["code"], code, "{json}");
    let message = json["message"].as_str().unwrap_or_default();
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} does not mention {part:?}"
        );
    }
}

pub type GrpcClient = PusherServiceClient<Client<HttpConnector, tonic::body::Body>>;

/// tonic's generated client over an h2c (prior knowledge) connection.
pub fn grpc_client(server: &KilnServer) -> GrpcClient {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(true);
    let origin = server.url("").parse().expect("valid origin");
    PusherServiceClient::with_origin(builder.build_http(), origin)
}

pub type GrpcWebClient = PusherServiceClient<
    tonic_web::GrpcWebClientService<
        Client<HttpConnector, tonic_web::GrpcWebCall<tonic::body::Body>>,
    >,
>;

/// tonic's generated client through tonic-web's gRPC-Web layer, HTTP/1.1.
pub fn grpc_web_client(server: &KilnServer) -> GrpcWebClient {
    let http1 = Client::builder(TokioExecutor::new()).build_http();
    let service = tonic_web::GrpcWebClientService::new(http1);
    PusherServiceClient::with_origin(service, server.url("").parse().expect("valid origin"))
}

/// A `tonic::Request` carrying `X-Scope-OrgID` when `tenant` is given.
pub fn grpc_request(push: PushRequest, tenant: Option<&str>) -> tonic::Request<PushRequest> {
    let mut request = tonic::Request::new(push);
    if let Some(tenant) = tenant {
        request
            .metadata_mut()
            .insert("x-scope-orgid", tenant.parse().expect("ASCII tenant"));
    }
    request
}

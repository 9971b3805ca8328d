//! Unary RPCs written once, served as Connect, gRPC and gRPC-Web.
//!
//! ```text
//!  POST /pkg.Service/Method
//!    │  Content-Type ─► Wire { protocol, codec }       (else 415)
//!    │  X-Scope-OrgID ─► tenant                         (tenant.rs)
//!    │  body ─► connect::read_request | grpc::read_request
//!    │          (bounded read, gzip, 5-byte frames, deadline header)
//!    ▼
//!  handler(RequestContext, Req) -> Result<Resp, ApiError>     ◄── one per RPC
//!    │
//!    ▼  connect::response | grpc::response (HTTP status / trailers / trailer frame)
//! ```
//!
//! **Why hand-written framing rather than tonic + tonic-web.** tonic serves
//! gRPC (and gRPC-Web through tonic-web) from its generated service traits,
//! but it has no Connect support, so every RPC would need a second,
//! Connect-shaped entry point: two implementations per RPC, two error paths
//! and two sets of limits. Unary gRPC and gRPC-Web add only a 5-byte length
//! prefix and a status in trailers (gRPC) or in a final `0x80` frame
//! (gRPC-Web) to what Connect already needs, so one small layer here frames
//! all three around a single type-erased handler. It reuses the prost and
//! pbjson types of `kiln_proto` (one protobuf stack, as rust-deps §5
//! recommends), shares body limits, gzip handling, tenancy and metrics, and
//! keeps axum + hyper as the only HTTP stack. Streaming RPCs are not
//! supported; Pyroscope's public API has none that clients use.

pub(crate) mod body;
mod codec;
mod connect;
mod grpc;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument;

pub use codec::Codec;

use crate::config::KilnConfig;
use crate::error::{ApiError, Code};
use crate::{metrics, tenant};

/// The RPC protocol of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Connect,
    Grpc,
    GrpcWeb,
}

impl Protocol {
    /// Label value in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Connect => "connect",
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc_web",
        }
    }
}

/// What a handler knows about its request besides the message.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The resolved tenant (`anonymous` when multi-tenancy is off).
    pub tenant: String,
    /// All request headers, for handlers that need more (e.g. `Accept`).
    pub headers: HeaderMap,
    pub protocol: Protocol,
}

/// How a request is framed and encoded, chosen from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wire {
    pub protocol: Protocol,
    pub codec: Codec,
    /// Content-Type of successful responses: the request's, canonicalised.
    pub content_type: &'static str,
}

impl Wire {
    pub(crate) fn detect(headers: &HeaderMap) -> Result<Wire, ApiError> {
        let raw = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let base = raw.split(';').next().unwrap_or("").trim();
        let (protocol, codec, content_type) = match base.to_ascii_lowercase().as_str() {
            "application/proto" => (Protocol::Connect, Codec::Proto, "application/proto"),
            "application/json" => (Protocol::Connect, Codec::Json, "application/json"),
            "application/grpc" => (Protocol::Grpc, Codec::Proto, "application/grpc"),
            "application/grpc+proto" => (Protocol::Grpc, Codec::Proto, "application/grpc+proto"),
            "application/grpc+json" => (Protocol::Grpc, Codec::Json, "application/grpc+json"),
            "application/grpc-web" => (Protocol::GrpcWeb, Codec::Proto, "application/grpc-web"),
            "application/grpc-web+proto" => (
                Protocol::GrpcWeb,
                Codec::Proto,
                "application/grpc-web+proto",
            ),
            "application/grpc-web+json" => {
                (Protocol::GrpcWeb, Codec::Json, "application/grpc-web+json")
            }
            _ => {
                return Err(ApiError::UnsupportedMediaType {
                    content_type: raw.to_string(),
                });
            }
        };
        Ok(Wire {
            protocol,
            codec,
            content_type,
        })
    }
}

/// A request message taken off the wire, before decoding.
pub(crate) struct Incoming {
    pub message: Bytes,
    /// Bytes as received (before decompression), for metrics.
    pub wire_bytes: usize,
    /// The client's deadline, if it sent one.
    pub timeout: Option<Duration>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A unary method with its types erased: message bytes in, bytes out.
trait ErasedUnary: Send + Sync {
    fn call(
        &self,
        ctx: RequestContext,
        codec: Codec,
        message: Bytes,
    ) -> BoxFuture<Result<Bytes, ApiError>>;
}

/// Adapts `async fn(RequestContext, Req) -> Result<Resp, ApiError>`.
struct FnUnary<F, Req, Resp> {
    handler: F,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<F, Fut, Req, Resp> ErasedUnary for FnUnary<F, Req, Resp>
where
    F: Fn(RequestContext, Req) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Resp, ApiError>> + Send + 'static,
    Req: prost::Message + Default + DeserializeOwned + Send + 'static,
    Resp: prost::Message + Serialize + 'static,
{
    fn call(
        &self,
        ctx: RequestContext,
        codec: Codec,
        message: Bytes,
    ) -> BoxFuture<Result<Bytes, ApiError>> {
        let request = match codec.decode::<Req>(message) {
            Ok(request) => request,
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        let response = (self.handler)(ctx, request);
        Box::pin(async move { codec.encode(&response.await?) })
    }
}

/// One registered method.
struct Method {
    /// `/pkg.Service/Method`, also the `rpc` metric label.
    path: &'static str,
    handler: Box<dyn ErasedUnary>,
}

/// Collects unary RPCs and mounts them on an axum router, each path serving
/// all three protocols.
#[derive(Default)]
pub(crate) struct RpcRouter {
    methods: Vec<Method>,
}

impl RpcRouter {
    /// Registers `handler` at `path` (`/pkg.Service/Method`).
    pub(crate) fn unary<Req, Resp, F, Fut>(mut self, path: &'static str, handler: F) -> Self
    where
        F: Fn(RequestContext, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, ApiError>> + Send + 'static,
        Req: prost::Message + Default + DeserializeOwned + Send + 'static,
        Resp: prost::Message + Serialize + 'static,
    {
        self.methods.push(Method {
            path,
            handler: Box::new(FnUnary {
                handler,
                _types: PhantomData,
            }),
        });
        self
    }

    /// Mounts every method as `POST <path>` (other methods get 405).
    pub(crate) fn into_router(self, config: Arc<KilnConfig>) -> Router {
        let mut router = Router::new();
        for method in self.methods {
            let method = Arc::new(method);
            let config = config.clone();
            router = router.route(
                method.path,
                post(move |request: Request| dispatch(config.clone(), method.clone(), request)),
            );
        }
        router
    }
}

/// Serves one request: detect the wire, run the handler, frame the answer,
/// count it.
async fn dispatch(config: Arc<KilnConfig>, method: Arc<Method>, request: Request) -> Response {
    let started = Instant::now();
    let wire = match Wire::detect(request.headers()) {
        Ok(wire) => wire,
        Err(err) => {
            metrics::record_rpc(method.path, "unknown", Some(err.code()), started.elapsed());
            return connect::error_response(&err);
        }
    };
    let span = tracing::info_span!(
        "rpc",
        rpc = method.path,
        protocol = wire.protocol.as_str(),
        tenant = tracing::field::Empty,
    );
    let result = call(&config, &method, wire, request)
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    metrics::record_rpc(
        method.path,
        wire.protocol.as_str(),
        result.as_ref().err().map(ApiError::code),
        elapsed,
    );
    if let Err(err) = &result {
        let _enter = span.enter();
        match err.code() {
            Code::Internal | Code::Unknown | Code::DataLoss => {
                tracing::warn!(code = %err.code(), error = %err, "rpc failed");
            }
            code => tracing::debug!(code = %code, error = %err, "rpc rejected"),
        }
    }
    match wire.protocol {
        Protocol::Connect => connect::response(wire, result),
        Protocol::Grpc | Protocol::GrpcWeb => grpc::response(wire, result),
    }
}

/// An error answer before any handler ran (unknown method, a role this
/// process doesn't run), framed for the request's protocol: gRPC and
/// gRPC-Web get a `grpc-status`, anything else a Connect JSON error.
pub(crate) fn error_response(headers: &HeaderMap, err: &ApiError) -> Response {
    match Wire::detect(headers) {
        Ok(wire) if wire.protocol != Protocol::Connect => grpc::response(wire, Err(err.clone())),
        _ => connect::error_response(err),
    }
}

async fn call(
    config: &KilnConfig,
    method: &Method,
    wire: Wire,
    request: Request,
) -> Result<Bytes, ApiError> {
    let (parts, body) = request.into_parts();
    let tenant = tenant::resolve(&parts.headers, config.auth.multitenancy_enabled)?;
    tracing::Span::current().record("tenant", tenant.as_str());
    let limit = config.limits_for(&tenant).ingestion_body_limit_bytes();
    let incoming = match wire.protocol {
        Protocol::Connect => connect::read_request(&parts.headers, body, limit).await?,
        Protocol::Grpc | Protocol::GrpcWeb => {
            grpc::read_request(&parts.headers, body, limit).await?
        }
    };
    metrics::record_request_bytes(method.path, wire.protocol.as_str(), incoming.wire_bytes);
    let ctx = RequestContext {
        tenant,
        headers: parts.headers,
        protocol: wire.protocol,
    };
    let response = method.handler.call(ctx, wire.codec, incoming.message);
    match incoming.timeout {
        Some(timeout) => tokio::time::timeout(timeout, response)
            .await
            .map_err(|_| ApiError::DeadlineExceeded(timeout))?,
        None => response.await,
    }
}

#[cfg(test)]
mod tests;

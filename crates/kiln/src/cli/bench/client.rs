//! One benchmark client: its own connection, Connect or gRPC framing, and
//! an outcome per request (acknowledged, or the status it failed with).

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kiln_server::PUSH_PATH;

/// The wire protocol of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protocol {
    /// Connect unary, binary protobuf, HTTP/1.1 (what Alloy sends).
    Connect,
    /// gRPC over cleartext HTTP/2 with prior knowledge.
    Grpc,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Connect => "connect",
            Protocol::Grpc => "grpc",
        }
    }
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Acked,
    /// A status the server answered with, e.g. `http 503 unavailable` or
    /// `grpc 8 resource_exhausted`, or a transport failure.
    Failed(String),
}

pub(crate) struct Transport {
    protocol: Protocol,
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    tenant: Option<HeaderValue>,
}

impl Transport {
    pub(crate) fn new(
        protocol: Protocol,
        base: &str,
        tenant: Option<String>,
    ) -> anyhow::Result<Self> {
        let uri: Uri = format!("{base}{PUSH_PATH}")
            .parse()
            .with_context(|| format!("invalid --url {base:?}"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let mut builder = Client::builder(TokioExecutor::new());
        // One connection per client, as N agents would have.
        builder.pool_max_idle_per_host(1);
        if protocol == Protocol::Grpc {
            builder.http2_only(true);
        }
        let tenant = tenant
            .map(|t| HeaderValue::from_str(&t))
            .transpose()
            .context("invalid --tenant")?;
        Ok(Self {
            protocol,
            client: builder.build(connector),
            uri,
            tenant,
        })
    }

    /// Sends one encoded PushRequest and waits for its acknowledgement.
    pub(crate) async fn push(&self, message: Bytes) -> Outcome {
        match self.try_push(message).await {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Failed(format!("transport: {}", root_cause(&err))),
        }
    }

    async fn try_push(&self, message: Bytes) -> anyhow::Result<Outcome> {
        let (content_type, body) = match self.protocol {
            Protocol::Connect => ("application/proto", message),
            Protocol::Grpc => {
                let mut framed = BytesMut::with_capacity(message.len() + 5);
                framed.put_u8(0);
                framed.put_u32(message.len() as u32);
                framed.put_slice(&message);
                ("application/grpc", framed.freeze())
            }
        };
        let mut request = Request::post(self.uri.clone()).header(CONTENT_TYPE, content_type);
        if self.protocol == Protocol::Grpc {
            request = request.header("te", "trailers");
        }
        if let Some(tenant) = &self.tenant {
            request = request.header("x-scope-orgid", tenant.clone());
        }
        let response = self.client.request(request.body(Full::new(body))?).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let collected = response.into_body().collect().await?;
        let trailers = collected.trailers().cloned();
        let body = collected.to_bytes();
        Ok(match self.protocol {
            Protocol::Connect if status.is_success() => Outcome::Acked,
            Protocol::Connect => {
                let code = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_string))
                    .unwrap_or_default();
                Outcome::Failed(format!("http {} {code}", status.as_u16()))
            }
            Protocol::Grpc => {
                let grpc_status =
                    grpc_status(&headers).or_else(|| trailers.as_ref().and_then(grpc_status));
                match grpc_status {
                    Some(0) => Outcome::Acked,
                    Some(code) => Outcome::Failed(format!("grpc {code}")),
                    None => {
                        Outcome::Failed(format!("http {} without grpc-status", status.as_u16()))
                    }
                }
            }
        })
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// The innermost error message (hyper's outer ones just say "client error").
fn root_cause(err: &anyhow::Error) -> String {
    let mut source: &dyn std::error::Error = err.as_ref();
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

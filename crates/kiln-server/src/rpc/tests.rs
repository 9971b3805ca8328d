//! The RPC layer with RPCs other than Push: int64 fields in protojson, the
//! JSON variants of gRPC, and client deadlines, over a real listener.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_proto::querier::v1::{FlameGraph, SelectMergeStacktracesRequest};

use super::*;

const FLAME: &str = "/test.v1.Echo/Flame";
const SLOW: &str = "/test.v1.Echo/Slow";

/// An echo RPC whose messages have int64 fields.
async fn start() -> SocketAddr {
    let router = RpcRouter::default()
        .unary(
            FLAME,
            |ctx, req: SelectMergeStacktracesRequest| async move {
                Ok(FlameGraph {
                    names: vec![ctx.tenant, req.profile_type_id],
                    levels: vec![],
                    total: req.end - req.start,
                    max_self: req.max_nodes.unwrap_or(-1),
                })
            },
        )
        .unary(SLOW, |_ctx, _req: FlameGraph| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(FlameGraph::default())
        })
        .into_router(Arc::new(KilnConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    http2: bool,
) -> (u16, HeaderMap, Bytes, Option<HeaderMap>) {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(http2);
    let client: Client<_, Full<Bytes>> = builder.build_http();
    let mut builder = Request::post(format!("http://{addr}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    (status, headers, collected.to_bytes(), trailers)
}

#[tokio::test]
async fn connect_json_int64_as_strings() {
    let addr = start().await;
    // int64 accepted as strings and as numbers; 2^53 + 1 survives only as a string.
    let body =
        br#"{"profileTypeID":"cpu","start":"1000","end":3000,"maxNodes":"9007199254740993"}"#;
    let (status, headers, body, _) = post(
        addr,
        FLAME,
        &[("content-type", "application/json")],
        body.to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "names": ["anonymous", "cpu"],
            "total": "2000",
            "maxSelf": "9007199254740993",
        })
    );
    // Proto field names are accepted too.
    let body = br#"{"profile_typeID":"mem","start":0,"end":"5"}"#;
    let (status, _, body, _) = post(
        addr,
        FLAME,
        &[("content-type", "application/json")],
        body.to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 200, "{body:?}");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["names"][1], "mem");
    assert_eq!(json["total"], "5");
}

#[tokio::test]
async fn grpc_json_codec() {
    let addr = start().await;
    let message = br#"{"profileTypeID":"wall","start":"1","end":"4"}"#;
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    for (content_type, http2) in [
        ("application/grpc+json", true),
        ("application/grpc-web+json", false),
    ] {
        let (status, headers, body, trailers) = post(
            addr,
            FLAME,
            &[("content-type", content_type)],
            framed.clone(),
            http2,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], content_type);
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let json: serde_json::Value = serde_json::from_slice(&body[5..5 + len]).unwrap();
        assert_eq!(json["total"], "3", "{content_type}");
        if http2 {
            assert_eq!(trailers.unwrap()["grpc-status"], "0");
        } else {
            assert!(
                body[5 + len..].starts_with(&[0x80]),
                "trailer frame follows"
            );
        }
    }
}

#[tokio::test]
async fn client_deadlines() {
    let addr = start().await;
    let (status, headers, _, _) = post(
        addr,
        SLOW,
        &[
            ("content-type", "application/grpc"),
            ("grpc-timeout", "50m"),
        ],
        vec![0, 0, 0, 0, 0],
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["grpc-status"], "4", "deadline_exceeded");

    let (status, _, body, _) = post(
        addr,
        SLOW,
        &[
            ("content-type", "application/proto"),
            ("connect-timeout-ms", "50"),
        ],
        vec![],
        false,
    )
    .await;
    assert_eq!(status, 504);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], "deadline_exceeded");
}

fn wire(content_type: &str) -> Result<Wire, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    Wire::detect(&headers)
}

#[test]
fn routes_by_content_type() {
    let w = wire("application/json; charset=utf-8").unwrap();
    assert_eq!((w.protocol, w.codec), (Protocol::Connect, Codec::Json));
    let w = wire("Application/Proto").unwrap();
    assert_eq!((w.protocol, w.codec), (Protocol::Connect, Codec::Proto));
    let w = wire("application/grpc").unwrap();
    assert_eq!((w.protocol, w.codec), (Protocol::Grpc, Codec::Proto));
    let w = wire("application/grpc+json").unwrap();
    assert_eq!((w.protocol, w.codec), (Protocol::Grpc, Codec::Json));
    let w = wire("application/grpc-web+proto").unwrap();
    assert_eq!((w.protocol, w.codec), (Protocol::GrpcWeb, Codec::Proto));
    for bad in [
        "text/plain",
        "application/connect+proto",
        "",
        "application/protobuf",
    ] {
        assert!(
            matches!(wire(bad), Err(ApiError::UnsupportedMediaType { .. })),
            "{bad}"
        );
    }
}

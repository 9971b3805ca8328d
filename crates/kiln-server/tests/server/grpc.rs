//! gRPC over h2c (tonic's generated client) and gRPC-Web (tonic-web's
//! client layer, plus a hand-checked wire exchange).

use bytes::{Buf, Bytes};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_proto::push::v1::PushRequest;
use kiln_proto::push::v1::pusher_service_client::PusherServiceClient;
use kiln_server::{ApiError, PUSH_PATH};
use prost::Message;
use tonic::Code;

use crate::harness::*;

fn grpc_client(
    server: &TestServer,
) -> PusherServiceClient<
    Client<hyper_util::client::legacy::connect::HttpConnector, tonic::body::Body>,
> {
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(true);
    let origin = server.url("").parse().unwrap();
    PusherServiceClient::with_origin(builder.build_http(), origin)
}

#[tokio::test]
async fn grpc_push_over_h2c() {
    let server = TestServer::multitenant().await;
    let mut client = grpc_client(&server);
    let mut request = tonic::Request::new(sample_push());
    request
        .metadata_mut()
        .insert("x-scope-orgid", "grpc-tenant".parse().unwrap());
    client.push(request).await.expect("push succeeds");
    assert_eq!(
        server.sink.pushes(),
        vec![("grpc-tenant".to_string(), sample_push())]
    );
}

#[tokio::test]
async fn grpc_errors_carry_code_and_message() {
    let server = TestServer::multitenant().await;
    let mut client = grpc_client(&server);

    let status = client.push(sample_push()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("X-Scope-OrgID"), "{status:?}");

    // A handler error, with non-ASCII text that must survive percent-encoding.
    server
        .sink
        .fail_with(ApiError::invalid_argument("invalid label «é»: 100% wrong"));
    let mut request = tonic::Request::new(sample_push());
    request
        .metadata_mut()
        .insert("x-scope-orgid", "t".parse().unwrap());
    let status = client.push(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(status.message(), "invalid label «é»: 100% wrong");
}

#[tokio::test]
async fn grpc_wire_format_and_trailers() {
    let server = TestServer::start().await;
    let message = sample_push().encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    let reply = send(
        request(
            &server.url(PUSH_PATH),
            &[
                ("content-type", "application/grpc+proto"),
                ("te", "trailers"),
            ],
            full(framed),
        ),
        true,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/grpc+proto");
    assert_eq!(
        &reply.body[..],
        &[0, 0, 0, 0, 0],
        "one empty PushResponse frame"
    );
    let trailers = reply.trailers.expect("grpc-status in trailers");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");

    // Bad protobuf inside a good frame: trailers-only invalid_argument.
    let reply = send(
        request(
            &server.url(PUSH_PATH),
            &[("content-type", "application/grpc")],
            full(vec![0, 0, 0, 0, 2, 0x0a, 0xff]),
        ),
        true,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("grpc-status"), "3");
    assert!(
        reply
            .header("grpc-message")
            .contains("invalid proto request message")
    );
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn grpc_web_with_tonic_web_client() {
    let server = TestServer::start().await;
    let http1: Client<_, tonic_web::GrpcWebCall<tonic::body::Body>> =
        Client::builder(TokioExecutor::new()).build_http();
    let service = tonic_web::GrpcWebClientService::new(http1);
    let mut client = PusherServiceClient::with_origin(service, server.url("").parse().unwrap());
    client
        .push(sample_push())
        .await
        .expect("grpc-web push succeeds");
    assert_eq!(server.sink.pushes()[0].1, sample_push());

    server.sink.fail_with(ApiError::unavailable("buffers full"));
    let status = client.push(sample_push()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "buffers full");
}

/// Splits a gRPC-Web response body into (flags, payload) frames.
fn split_frames(mut body: Bytes) -> Vec<(u8, Bytes)> {
    let mut out = Vec::new();
    while body.has_remaining() {
        let flags = body.get_u8();
        let len = body.get_u32() as usize;
        out.push((flags, body.split_to(len)));
    }
    out
}

#[tokio::test]
async fn grpc_web_wire_format() {
    let server = TestServer::start().await;
    let message = PushRequest::default().encode_to_vec();
    let mut framed = vec![0u8, 0, 0, 0, message.len() as u8];
    framed.extend_from_slice(&message);
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/grpc-web+proto")],
        full(framed),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/grpc-web+proto");
    let frames = split_frames(reply.body);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0], (0, Bytes::new()));
    assert_eq!(frames[1].0, 0x80);
    let trailer = std::str::from_utf8(&frames[1].1).unwrap();
    assert!(trailer.contains("grpc-status:0\r\n"), "{trailer:?}");

    // An error is a lone trailer frame.
    server
        .sink
        .fail_with(ApiError::resource_exhausted("rate limit"));
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/grpc-web")],
        full(vec![0, 0, 0, 0, 0]),
    )
    .await;
    let frames = split_frames(reply.body);
    assert_eq!(frames.len(), 1, "{frames:?}");
    let trailer = std::str::from_utf8(&frames[0].1).unwrap();
    assert!(trailer.contains("grpc-status:8\r\n"), "{trailer:?}");
    assert!(
        trailer.contains("grpc-message:rate limit\r\n"),
        "{trailer:?}"
    );
}

#[tokio::test]
async fn grpc_gzip_compressed_message() {
    let server = TestServer::start().await;
    let compressed = gzip(&sample_push().encode_to_vec());
    let mut framed = vec![1u8];
    framed.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    framed.extend_from_slice(&compressed);
    let reply = send(
        request(
            &server.url(PUSH_PATH),
            &[
                ("content-type", "application/grpc"),
                ("grpc-encoding", "gzip"),
            ],
            full(framed),
        ),
        true,
    )
    .await;
    assert_eq!(reply.trailers.unwrap().get("grpc-status").unwrap(), "0");
    assert_eq!(server.sink.pushes()[0].1, sample_push());
}

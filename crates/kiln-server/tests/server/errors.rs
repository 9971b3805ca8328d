//! Connect error shapes: JSON `{code, message}` with the mapped HTTP status.

use kiln_server::{ApiError, KilnConfig, PUSH_PATH};
use prost::Message;

use crate::harness::*;

fn assert_error(reply: &Reply, status: u16, code: &str, message_part: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    let json = reply.json();
    assert_eq!(json["code"], code, "{json}");
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

#[tokio::test]
async fn bad_proto_is_invalid_argument() {
    let server = TestServer::start().await;
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        full(vec![0x0a, 0xff, 0xff]),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        "invalid proto request message",
    );
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/json")],
        full("{\"series\": 12}"),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        "invalid json request message",
    );
    assert!(server.sink.pushes().is_empty());
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let server = TestServer::start().await;
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "text/plain")],
        full("hello"),
    )
    .await;
    assert_error(&reply, 415, "invalid_argument", "unsupported content type");
    assert!(reply.header("accept-post").contains("application/proto"));
    let reply = post(&server.url(PUSH_PATH), &[], full("hello")).await;
    assert_eq!(reply.status, 415);
}

#[tokio::test]
async fn missing_tenant_is_401() {
    let server = TestServer::multitenant().await;
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("authorization", "Bearer x"),
        ],
        full(sample_push().encode_to_vec()),
    )
    .await;
    assert_error(&reply, 401, "unauthenticated", "X-Scope-OrgID");
    assert!(server.sink.pushes().is_empty());
}

#[tokio::test]
async fn bad_tenant_is_400() {
    let server = TestServer::multitenant().await;
    for bad in ["..", "a/b", &"x".repeat(151)] {
        let reply = post(
            &server.url(PUSH_PATH),
            &[
                ("content-type", "application/proto"),
                ("x-scope-orgid", bad),
            ],
            full(sample_push().encode_to_vec()),
        )
        .await;
        assert_error(&reply, 400, "invalid_argument", "invalid X-Scope-OrgID");
    }
    assert!(server.sink.pushes().is_empty());
}

#[tokio::test]
async fn sink_errors_map_to_connect_statuses() {
    let server = TestServer::start().await;
    for (err, status, code) in [
        (
            ApiError::invalid_argument("no profiles received"),
            400,
            "invalid_argument",
        ),
        (
            ApiError::resource_exhausted("ingestion rate limit (4 MiB/s) exceeded"),
            429,
            "resource_exhausted",
        ),
        (ApiError::unavailable("buffers full"), 503, "unavailable"),
        (ApiError::internal("disk on fire"), 500, "internal"),
    ] {
        let message = err.to_string();
        server.sink.fail_with(err);
        let reply = post(
            &server.url(PUSH_PATH),
            &[("content-type", "application/proto")],
            full(sample_push().encode_to_vec()),
        )
        .await;
        assert_error(&reply, status, code, &message);
    }
}

#[tokio::test]
async fn body_limits_stop_big_and_bomb_bodies() {
    let mut config = KilnConfig::default();
    config.limits.ingestion_body_limit_mb = 1.0 / 1024.0; // 1 KiB
    let server = TestServer::with_config(config).await;

    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        chunked(&vec![0u8; 4096], 8),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        "limits.ingestion_body_limit_mb",
    );

    let bomb = gzip(&vec![0u8; 512 << 10]);
    assert!(bomb.len() < 1024);
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        full(bomb),
    )
    .await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        "decompressed request body exceeds",
    );
    assert!(server.sink.pushes().is_empty());
}

#[tokio::test]
async fn protocol_header_errors() {
    let server = TestServer::start().await;
    let url = server.url(PUSH_PATH);
    let body = || full(sample_push().encode_to_vec());

    let reply = post(
        &url,
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "br"),
        ],
        body(),
    )
    .await;
    assert_error(
        &reply,
        501,
        "unimplemented",
        "unsupported compression \"br\"",
    );

    let reply = post(
        &url,
        &[
            ("content-type", "application/proto"),
            ("connect-protocol-version", "2"),
        ],
        body(),
    )
    .await;
    assert_error(&reply, 400, "invalid_argument", "connect-protocol-version");

    let reply = post(
        &url,
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
        ],
        body(),
    )
    .await;
    assert_error(&reply, 400, "invalid_argument", "invalid gzip data");

    server.sink.delay(std::time::Duration::from_millis(500));
    let reply = post(
        &url,
        &[
            ("content-type", "application/proto"),
            ("connect-timeout-ms", "50"),
        ],
        body(),
    )
    .await;
    assert_error(&reply, 504, "deadline_exceeded", "deadline exceeded");
}

#[tokio::test]
async fn non_post_and_unknown_paths() {
    let server = TestServer::start().await;
    let reply = get(&server.url(PUSH_PATH)).await;
    assert_eq!(reply.status, 405);
    let reply = post(
        &server.url("/push.v1.PusherService/Nope"),
        &[("content-type", "application/proto")],
        full(Vec::new()),
    )
    .await;
    assert_eq!(reply.status, 404);
}

//! Bad requests caught by the RPC layer before any profile is decoded:
//! broken bodies, encodings, content types, protocol headers and methods,
//! over Connect, and broken gRPC / gRPC-Web framing.

use hyper::Method;
use prost::Message;

use super::{Case, run_all, still_serving, stored_services};
use crate::fixtures::{cpu_push, gzip};
use crate::server::*;

const PROTO: (&str, &str) = ("content-type", "application/proto");
const JSON: (&str, &str) = ("content-type", "application/json");

/// Connect cases, all on the push path.
pub fn cases() -> Vec<Case> {
    let good = cpu_push("rpc-case", &[], 1).encode_to_vec();
    let truncated = good[..good.len() / 2].to_vec();
    vec![
        Case::post(
            "malformed protobuf",
            PUSH_PATH,
            &[PROTO],
            vec![0x0a, 0xff, 0xff],
        )
        .expect(400, "invalid_argument", &["invalid proto request message"]),
        Case::post("truncated PushRequest", PUSH_PATH, &[PROTO], truncated).expect(
            400,
            "invalid_argument",
            &["invalid proto request message"],
        ),
        Case::post(
            "Content-Encoding gzip over garbage",
            PUSH_PATH,
            &[PROTO, ("content-encoding", "gzip")],
            b"\x1f\x8b\x08\x00this is not deflate".to_vec(),
        )
        .expect(400, "invalid_argument", &["invalid gzip data"]),
        Case::post(
            "Content-Encoding gzip over plain protobuf",
            PUSH_PATH,
            &[PROTO, ("content-encoding", "gzip")],
            good.clone(),
        )
        .expect(400, "invalid_argument", &["invalid gzip data"]),
        Case::post(
            "unsupported Content-Encoding br",
            PUSH_PATH,
            &[PROTO, ("content-encoding", "br")],
            good.clone(),
        )
        .expect(501, "unimplemented", &["unsupported compression", "br"]),
        Case::post(
            "wrong Content-Type",
            PUSH_PATH,
            &[("content-type", "text/plain")],
            good.clone(),
        )
        .expect(
            415,
            "invalid_argument",
            &["unsupported content type", "text/plain"],
        ),
        Case::post("no Content-Type", PUSH_PATH, &[], good.clone()).expect(
            415,
            "invalid_argument",
            &["unsupported content type", "application/proto"],
        ),
        Case::post("invalid JSON", PUSH_PATH, &[JSON], "{\"series\": [").expect(
            400,
            "invalid_argument",
            &["invalid json request message"],
        ),
        Case::post(
            "JSON of the wrong shape",
            PUSH_PATH,
            &[JSON],
            "{\"series\": 12}",
        )
        .expect(400, "invalid_argument", &["invalid json request message"]),
        Case::post(
            "JSON rawProfile that is not base64",
            PUSH_PATH,
            &[JSON],
            r#"{"series":[{"labels":[],"samples":[{"rawProfile":"!!not base64!!"}]}]}"#,
        )
        .expect(400, "invalid_argument", &["invalid json request message"]),
        Case::post(
            "unknown Connect-Protocol-Version",
            PUSH_PATH,
            &[PROTO, ("connect-protocol-version", "2")],
            good.clone(),
        )
        .expect(400, "invalid_argument", &["connect-protocol-version", "2"]),
        Case::post(
            "malformed Connect-Timeout-Ms",
            PUSH_PATH,
            &[PROTO, ("connect-timeout-ms", "soon")],
            good.clone(),
        )
        .expect(400, "invalid_argument", &["connect-timeout-ms", "soon"]),
        Case {
            method: Method::GET,
            status: 405,
            code: None,
            ..Case::post("GET on the RPC path", PUSH_PATH, &[PROTO], Vec::new())
        },
    ]
}

/// gRPC and gRPC-Web framing errors (counted by the suite-size test).
pub const GRPC_CASES: usize = 3;

/// A gRPC message frame: flags, big-endian length, payload.
fn frame(flags: u8, declared_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut framed = vec![flags];
    framed.extend_from_slice(&declared_len.to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

async fn grpc_call(server: &KilnServer, content_type: &str, body: Vec<u8>, http2: bool) -> Reply {
    send(
        request(
            Method::POST,
            &server.url(PUSH_PATH),
            &[("content-type", content_type), ("te", "trailers")],
            full(body),
        ),
        http2,
    )
    .await
}

/// gRPC status and message from trailers (h2c) or a trailers-only answer.
fn grpc_status(reply: &Reply) -> (String, String) {
    let get = |name: &str| {
        reply
            .trailers
            .as_ref()
            .and_then(|t| t.get(name))
            .or_else(|| reply.headers.get(name))
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    (get("grpc-status"), get("grpc-message"))
}

#[tokio::test]
async fn connect_and_grpc_layer_errors() {
    let server = KilnServer::start().await;
    run_all(&server, &cases()).await;

    // gRPC: a frame that declares more bytes than the body holds.
    let reply = grpc_call(&server, "application/grpc", frame(0, 100, &[0x0a]), true).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let (status, message) = grpc_status(&reply);
    assert_eq!(status, "3", "invalid_argument: {reply:?}");
    assert!(
        message.contains("invalid gRPC message framing"),
        "{message:?}"
    );

    // gRPC: a good frame around bad protobuf.
    let reply = grpc_call(
        &server,
        "application/grpc+proto",
        frame(0, 2, &[0x0a, 0xff]),
        true,
    )
    .await;
    let (status, message) = grpc_status(&reply);
    assert_eq!(status, "3", "{reply:?}");
    assert!(
        message.contains("invalid proto request message"),
        "{message:?}"
    );

    // gRPC-Web over HTTP/1.1: a compressed-flag frame that is not gzip.
    let reply = grpc_call(
        &server,
        "application/grpc-web+proto",
        frame(1, 4, b"nope"),
        false,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let trailer = String::from_utf8_lossy(&reply.body[5..]).into_owned();
    assert!(trailer.contains("grpc-status:"), "{trailer:?}");
    assert!(!trailer.contains("grpc-status:0"), "{trailer:?}");

    still_serving(&server, None).await;
    let stored = server.stored().await;
    assert_eq!(stored_services(&stored, "anonymous"), ["still-serving"]);
    // A gzip of a good push still works after all that (decoder state is per request).
    let reply = post(
        &server.url(PUSH_PATH),
        &[PROTO, ("content-encoding", "gzip")],
        full(gzip(&cpu_push("after-gzip", &[], 5).encode_to_vec())),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

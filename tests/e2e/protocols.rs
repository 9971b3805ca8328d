//! Every protocol `Push` is spoken in, against the real server and its real
//! write path: each push must come back as a stored series with the right
//! tenant, labels and total. (kiln-server's own tests check the framing
//! against a fake sink; these check that every framing reaches storage.)
//!
//! All protocols run against one multi-tenant server, concurrently, each
//! under its own tenant, so tenancy is checked for every protocol too and
//! the pushes share flushes the way real traffic does.

use bytes::Bytes;
use hyper::Method;
use kiln_proto::push::v1::{PushRequest, PushResponse};
use prost::Message;

use crate::fixtures::{base64, cpu_push, gzip};
use crate::server::*;

/// The value (ns) of the one stack each protocol pushes: distinct per
/// protocol, so a mix-up between them shows in the totals.
fn value_of(protocol: &str) -> i64 {
    10_000_000 * (1 + protocol.len() as i64)
}

/// A push for `protocol`: service `svc-<protocol>`, label `protocol`.
fn push_for(protocol: &str) -> PushRequest {
    cpu_push(
        &format!("svc-{protocol}"),
        &[("protocol", protocol), ("otel.scope.name", "e2e")],
        value_of(protocol),
    )
}

fn tenant_of(protocol: &str) -> String {
    format!("t-{protocol}")
}

async fn connect_proto(server: &KilnServer, protocol: &str, http2: bool) {
    let tenant = tenant_of(protocol);
    let reply = send(
        request(
            Method::POST,
            &server.url(PUSH_PATH),
            &[
                ("content-type", "application/proto"),
                ("connect-protocol-version", "1"),
                ("x-scope-orgid", &tenant),
            ],
            full(push_for(protocol).encode_to_vec()),
        ),
        http2,
    )
    .await;
    assert_eq!(reply.status, 200, "{protocol}: {reply:?}");
    assert_eq!(reply.header("content-type"), "application/proto");
    assert_eq!(PushResponse::decode(reply.body).unwrap(), PushResponse {});
}

/// protojson: lowerCamelCase `rawProfile`, bytes as base64.
async fn connect_json(server: &KilnServer, protocol: &str) {
    let push = push_for(protocol);
    let series = &push.series[0];
    let labels: Vec<serde_json::Value> = series
        .labels
        .iter()
        .map(|l| serde_json::json!({"name": l.name, "value": l.value}))
        .collect();
    let body = serde_json::json!({"series": [{
        "labels": labels,
        "samples": [{"rawProfile": base64(&series.samples[0].raw_profile)}],
    }]});
    let tenant = tenant_of(protocol);
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("x-scope-orgid", &tenant),
        ],
        full(body.to_string()),
    )
    .await;
    assert_eq!(reply.status, 200, "{protocol}: {reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.json(), serde_json::json!({}));
}

/// The whole body gzipped, as pyroscope-rs ≥ 1.0 sends it.
async fn connect_gzip(server: &KilnServer, protocol: &str) {
    let tenant = tenant_of(protocol);
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("content-encoding", "gzip"),
            ("x-scope-orgid", &tenant),
        ],
        full(gzip(&push_for(protocol).encode_to_vec())),
    )
    .await;
    assert_eq!(reply.status, 200, "{protocol}: {reply:?}");
}

/// Transfer-Encoding: chunked, no Content-Length (connect-node).
async fn connect_chunked(server: &KilnServer, protocol: &str) {
    let tenant = tenant_of(protocol);
    let reply = post(
        &server.url(PUSH_PATH),
        &[
            ("content-type", "application/proto"),
            ("x-scope-orgid", &tenant),
        ],
        chunked(&push_for(protocol).encode_to_vec(), 5),
    )
    .await;
    assert_eq!(reply.status, 200, "{protocol}: {reply:?}");
}

async fn grpc(server: &KilnServer, protocol: &str) {
    let tenant = tenant_of(protocol);
    grpc_client(server)
        .push(grpc_request(push_for(protocol), Some(&tenant)))
        .await
        .unwrap_or_else(|status| panic!("{protocol}: {status:?}"));
}

async fn grpc_web(server: &KilnServer, protocol: &str) {
    let tenant = tenant_of(protocol);
    grpc_web_client(server)
        .push(grpc_request(push_for(protocol), Some(&tenant)))
        .await
        .unwrap_or_else(|status| panic!("{protocol}: {status:?}"));
}

/// gRPC framing written by hand: one gzip-compressed message
/// (`grpc-encoding: gzip`), which tonic without its gzip feature can't send.
async fn grpc_gzip_frame(server: &KilnServer, protocol: &str) {
    let compressed = gzip(&push_for(protocol).encode_to_vec());
    let mut framed = vec![1u8];
    framed.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    framed.extend_from_slice(&compressed);
    let tenant = tenant_of(protocol);
    let reply = send(
        request(
            Method::POST,
            &server.url(PUSH_PATH),
            &[
                ("content-type", "application/grpc+proto"),
                ("grpc-encoding", "gzip"),
                ("te", "trailers"),
                ("x-scope-orgid", &tenant),
            ],
            full(framed),
        ),
        true,
    )
    .await;
    assert_eq!(reply.status, 200, "{protocol}: {reply:?}");
    let trailers = reply.trailers.as_ref().expect("trailers");
    assert_eq!(trailers.get("grpc-status").unwrap(), "0", "{reply:?}");
    assert_eq!(&reply.body[..], &[0, 0, 0, 0, 0], "one empty PushResponse");
}

const PROTOCOLS: [&str; 9] = [
    "connect-proto",
    "connect-proto-h2c",
    "connect-json",
    "connect-gzip",
    "connect-chunked",
    "grpc",
    "grpc-gzip",
    "grpc-web",
    "ingest-folded",
];

/// Legacy `/ingest` under `/pyroscope/ingest`, folded text in µs `from`.
async fn ingest_folded(server: &KilnServer, protocol: &str) {
    let tenant = tenant_of(protocol);
    // 100 Hz: each count is 10 ms.
    let count = value_of(protocol) / 10_000_000;
    let now_us = crate::fixtures::now_ns() / 1000;
    let url = server.url(&format!(
        "/pyroscope/ingest?name=svc-{protocol}.cpu%7Bprotocol%3D{protocol}%2Cotel.scope.name%3De2e%7D\
         &from={now_us}&sampleRate=100&spyName=e2e"
    ));
    let reply = post(
        &url,
        &[("x-scope-orgid", &tenant)],
        full(Bytes::from(format!("main;work {count}\n"))),
    )
    .await;
    assert_ok_empty(&reply);
}

#[tokio::test]
async fn every_protocol_stores_its_push() {
    let server = KilnServer::builder().multitenant().start().await;
    let s = &server;
    futures::join!(
        connect_proto(s, PROTOCOLS[0], false),
        connect_proto(s, PROTOCOLS[1], true),
        connect_json(s, PROTOCOLS[2]),
        connect_gzip(s, PROTOCOLS[3]),
        connect_chunked(s, PROTOCOLS[4]),
        grpc(s, PROTOCOLS[5]),
        grpc_gzip_frame(s, PROTOCOLS[6]),
        grpc_web(s, PROTOCOLS[7]),
        ingest_folded(s, PROTOCOLS[8]),
    );

    let stored = server.stored().await;
    let mut tenants: Vec<String> = PROTOCOLS.iter().map(|p| tenant_of(p)).collect();
    tenants.sort();
    assert_eq!(stored.tenants(), tenants);
    for protocol in PROTOCOLS {
        let tenant = tenant_of(protocol);
        let service = format!("svc-{protocol}");
        let series: Vec<_> = stored.of(&tenant, &service).collect();
        assert_eq!(series.len(), 1, "{protocol}: {stored:#?}");
        let s = series[0];
        assert_eq!(
            s.profile_type(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            "{protocol}"
        );
        assert_eq!(s.label("protocol"), protocol);
        assert_eq!(
            s.label("otel_scope_name"),
            "e2e",
            "{protocol}: {:?}",
            s.labels
        );
        assert_eq!(s.total, value_of(protocol), "{protocol}");
        assert_eq!(s.profiles.len(), 1, "{protocol}: one profile row");
    }
}

//! Tenancy, the ingestion time window and the per-tenant limits, each on a
//! server configured through `KILN_*` the way an operator would.

use prost::Message;

use super::{Case, run_all, still_serving, stored_services};
use crate::fixtures::{PprofBuilder, cpu_push, gzip, now_ns, push_request};
use crate::harness::agent_file;
use crate::server::*;

/// Cases checked in this module (for the suite-size test).
pub const CASES: usize = 7 + 4 + 3 + 2 + 5;

const PROTO: (&str, &str) = ("content-type", "application/proto");
const HOUR_NS: i64 = 3600 * 1_000_000_000;

#[track_caller]
fn assert_grpc(status: &tonic::Status, code: tonic::Code, parts: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for part in parts {
        assert!(
            status.message().contains(part),
            "{status:?} does not mention {part:?}"
        );
    }
}

#[tokio::test]
async fn tenancy_with_multitenancy_on() {
    let server = KilnServer::builder().multitenant().start().await;
    let push = cpu_push("tenancy", &[], 1).encode_to_vec();
    let long = "t".repeat(151);
    let mut cases = vec![
        Case::post(
            "Connect without X-Scope-OrgID",
            PUSH_PATH,
            &[PROTO],
            push.clone(),
        )
        .expect(401, "unauthenticated", &["X-Scope-OrgID", "multi-tenancy"]),
        Case::post(
            "/ingest without X-Scope-OrgID",
            "/ingest?name=app.cpu",
            &[("authorization", "Basic dXNlcjpwYXNz")],
            "a;b 1\n",
        )
        .expect(401, "unauthenticated", &["X-Scope-OrgID"]),
    ];
    for (name, tenant, part) in [
        ("tenant with a slash", "a/b", "character outside"),
        ("tenant \"..\"", "..", "must not be"),
        ("tenant of 151 characters", long.as_str(), "longer than 150"),
    ] {
        cases.push(
            Case::post(
                name,
                PUSH_PATH,
                &[PROTO, ("x-scope-orgid", tenant)],
                push.clone(),
            )
            .expect(400, "invalid_argument", &["invalid X-Scope-OrgID", part]),
        );
    }
    cases.push(
        Case::post(
            "/ingest with an invalid tenant",
            "/ingest?name=app.cpu",
            &[("x-scope-orgid", "a b")],
            "a;b 1\n",
        )
        .expect(400, "invalid_argument", &["invalid X-Scope-OrgID"]),
    );
    run_all(&server, &cases).await;
    let status = grpc_client(&server)
        .push(grpc_request(cpu_push("tenancy", &[], 1), None))
        .await
        .unwrap_err();
    assert_grpc(&status, tonic::Code::Unauthenticated, &["X-Scope-OrgID"]);

    still_serving(&server, Some("good-tenant")).await;
    assert_eq!(server.stored().await.tenants(), ["good-tenant"]);
}

/// A CPU push stamped `time_nanos`.
fn push_at(time_nanos: i64) -> Vec<u8> {
    let pprof = PprofBuilder::cpu()
        .time(time_nanos)
        .sample(&["main"], &[7])
        .encode();
    push_request(
        &[("__name__", "process_cpu"), ("service_name", "window")],
        pprof,
    )
    .encode_to_vec()
}

#[tokio::test]
async fn default_time_window() {
    let server = KilnServer::start().await;
    let captured = agent_file("python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz");
    run_all(
        &server,
        &[
            Case::post(
                "profile 2h old",
                PUSH_PATH,
                &[PROTO],
                push_at(now_ns() - 2 * HOUR_NS),
            )
            .expect(
                400,
                "invalid_argument",
                &["too old", "reject_older_than", "3600s"],
            ),
            Case::post(
                "profile 1h ahead",
                PUSH_PATH,
                &[PROTO],
                push_at(now_ns() + HOUR_NS),
            )
            .expect(
                400,
                "invalid_argument",
                &["too far in the future", "reject_newer_than", "600s"],
            ),
            Case::post(
                "captured agent payload, hours old",
                PUSH_PATH,
                &[PROTO, ("content-encoding", "gzip")],
                captured,
            )
            .expect(400, "invalid_argument", &["too old"]),
            Case::post(
                "/ingest from two hours ago",
                "/ingest?name=app.cpu&from=now-2h&until=now-2h",
                &[],
                "a;b 1\n",
            )
            .expect(400, "invalid_argument", &["too old"]),
        ],
    )
    .await;
    still_serving(&server, None).await;
    assert_eq!(
        stored_services(&server.stored().await, "anonymous"),
        ["still-serving"]
    );
}

/// A push whose pprof inflates to well over 1 KiB (distinct frame names).
fn big_push() -> kiln_proto::push::v1::PushRequest {
    let mut builder = PprofBuilder::cpu();
    for i in 0..200 {
        builder = builder.sample(&["main", &format!("function_number_{i}")], &[1]);
    }
    push_request(
        &[("__name__", "process_cpu"), ("service_name", "big")],
        builder.encode(),
    )
}

#[tokio::test]
async fn ingestion_rate_limit() {
    // ~1 KiB/s with a ~1 KiB burst: one big push is over it, small ones fit.
    let server = KilnServer::builder()
        .env("KILN_LIMITS__INGESTION_RATE_MB", "0.001")
        .env("KILN_LIMITS__INGESTION_BURST_SIZE_MB", "0.001")
        .start()
        .await;
    let big = big_push();
    let folded: String = (0..200)
        .map(|i| format!("main;function_number_{i} 1\n"))
        .collect();
    run_all(
        &server,
        &[
            Case::post(
                "Connect over the rate",
                PUSH_PATH,
                &[PROTO],
                big.encode_to_vec(),
            )
            .expect(
                429,
                "resource_exhausted",
                &["ingestion rate limit", "bytes/s"],
            ),
            Case::post("/ingest over the rate", "/ingest?name=big.cpu", &[], folded).expect(
                429,
                "resource_exhausted",
                &["ingestion rate limit"],
            ),
        ],
    )
    .await;
    let status = grpc_client(&server)
        .push(grpc_request(big, None))
        .await
        .unwrap_err();
    assert_grpc(
        &status,
        tonic::Code::ResourceExhausted,
        &["ingestion rate limit"],
    );
    still_serving(&server, None).await;
    assert_eq!(
        stored_services(&server.stored().await, "anonymous"),
        ["still-serving"]
    );
}

#[tokio::test]
async fn max_series_per_tenant() {
    let server = KilnServer::builder()
        .env("KILN_LIMITS__MAX_SERIES_PER_TENANT", "1")
        .start()
        .await;
    let first = cpu_push("series", &[("pod", "a")], 1);
    let second = cpu_push("series", &[("pod", "b")], 1);
    assert_eq!(push_proto(&server, &first, &[]).await.status, 200);
    Case::post(
        "a second series",
        PUSH_PATH,
        &[PROTO],
        second.encode_to_vec(),
    )
    .expect(
        429,
        "resource_exhausted",
        &["max series per tenant limit (1)"],
    )
    .run(&server)
    .await;
    let status = grpc_client(&server)
        .push(grpc_request(second, None))
        .await
        .unwrap_err();
    assert_grpc(
        &status,
        tonic::Code::ResourceExhausted,
        &["max series per tenant"],
    );
    // The existing series still takes pushes.
    assert_eq!(push_proto(&server, &first, &[]).await.status, 200);
    let stored = server.stored().await;
    assert_eq!(stored.series.len(), 1, "{stored:#?}");
    assert_eq!(stored.series[0].label("pod"), "a");
    assert_eq!(stored.series[0].profiles.len(), 2);
}

#[tokio::test]
async fn request_body_limit() {
    let server = KilnServer::builder()
        .env("KILN_LIMITS__INGESTION_BODY_LIMIT_MB", "1")
        .start()
        .await;
    let oversize = vec![0u8; 3 << 19]; // 1.5 MiB
    let limit = "1048576 bytes";
    run_all(
        &server,
        &[
            Case::post(
                "Connect body over the limit",
                PUSH_PATH,
                &[PROTO],
                oversize.clone(),
            )
            .expect(400, "invalid_argument", &["request body exceeds", limit]),
            Case::post(
                "Connect gzip body inflating over the limit",
                PUSH_PATH,
                &[PROTO, ("content-encoding", "gzip")],
                gzip(&vec![0u8; 2 << 20]),
            )
            .expect(
                400,
                "invalid_argument",
                &["decompressed request body exceeds", limit],
            ),
            Case::post(
                "/ingest body over the limit",
                "/ingest?name=a.cpu",
                &[],
                oversize.clone(),
            )
            .expect(413, "invalid_argument", &["request body exceeds", limit]),
        ],
    )
    .await;
    // Chunked, with no Content-Length to reject up front.
    let reply = post(&server.url(PUSH_PATH), &[PROTO], chunked(&oversize, 16)).await;
    Case::post(
        "chunked Connect body over the limit",
        PUSH_PATH,
        &[],
        vec![],
    )
    .expect(400, "invalid_argument", &["request body exceeds", limit])
    .check(&reply);
    // gRPC: a frame over the limit.
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(oversize.len() as u32).to_be_bytes());
    framed.extend_from_slice(&oversize);
    let reply = send(
        request(
            hyper::Method::POST,
            &server.url(PUSH_PATH),
            &[("content-type", "application/grpc"), ("te", "trailers")],
            full(framed),
        ),
        true,
    )
    .await;
    let trailers = reply
        .trailers
        .clone()
        .unwrap_or_else(|| reply.headers.clone());
    assert_eq!(trailers.get("grpc-status").unwrap(), "3", "{reply:?}");
    let message = trailers.get("grpc-message").unwrap().to_str().unwrap();
    assert!(message.contains("exceeds"), "{message:?}");

    still_serving(&server, None).await;
    assert_eq!(
        stored_services(&server.stored().await, "anonymous"),
        ["still-serving"]
    );
}

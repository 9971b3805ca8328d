//! `kiln server --target=<role>`: what each role serves and refuses, one
//! process per role on one bucket (moto's S3) and one PostgreSQL metastore,
//! configured the way an operator would (`KILN_TARGET`, `KILN_*`).
//!
//! * an ingester takes pushes and refuses queries, naming its roles;
//! * a query-frontend answers for what the ingester wrote and refuses
//!   pushes; with `querier.peers` set it gets the same answer, and the
//!   querier serves the distributed worker (only);
//! * with `querier.worker_secret`, the querier refuses worker calls
//!   without it (`unauthenticated`): a frontend with the secret distributes,
//!   one with another secret answers in process, alike;
//! * a compactor compacts the ingester's level-0 blocks;
//! * `/ready` and `/metrics` answer on every role; a frontend whose
//!   `querier.peers_dns` resolves to nothing answers `/ready` with 503;
//! * a split role on the embedded metastore is refused at startup;
//! * an unknown RPC method is `unimplemented` (gRPC status 12, Connect
//!   404), naming the method.
//!
//! The multi-process fleet under failures is `fleet.rs`; these tests keep
//! to what one role does.

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use kiln_proto::querier::v1::{SelectMergeStacktracesRequest, SelectMergeStacktracesResponse};
use prost::Message;

use crate::cluster::{Backing, counter, wait_for_level_1};
use crate::query::{CPU, TREE_A, TREE_B, minutes_ago, now_ms, push_cpu, rpc_json, rpc_proto};
use crate::server::*;

fn flamegraph_request(service: &str) -> SelectMergeStacktracesRequest {
    SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: format!(r#"{{service_name="{service}"}}"#),
        start: now_ms() - 6 * 3_600_000,
        end: now_ms() + 3_600_000,
        max_nodes: Some(1_048_576),
        ..Default::default()
    }
}

/// Flame-graph total of `service`'s CPU profiles, through Connect.
async fn total(server: &KilnServer, service: &str) -> i64 {
    let response: SelectMergeStacktracesResponse = rpc_proto(
        server,
        "SelectMergeStacktraces",
        &flamegraph_request(service),
        None,
    )
    .await;
    response.flamegraph.map_or(0, |f| f.total)
}

/// A unary gRPC call over h2c with an arbitrary path and message.
async fn grpc_call(server: &KilnServer, path: &str, message: &[u8]) -> Reply {
    grpc_call_with(server, path, message, &[]).await
}

/// [`grpc_call`] with extra request headers.
async fn grpc_call_with(
    server: &KilnServer,
    path: &str,
    message: &[u8],
    headers: &[(&str, &str)],
) -> Reply {
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    let request = request(
        Method::POST,
        &server.url(path),
        &[
            &[("content-type", "application/grpc"), ("te", "trailers")],
            headers,
        ]
        .concat(),
        full(framed),
    );
    send(request, true).await
}

/// `grpc-status` and decoded `grpc-message` of a trailers-only reply.
fn grpc_status(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, 200, "gRPC answers HTTP 200: {reply:?}");
    let status = reply.header("grpc-status").to_string();
    let message = reply.header("grpc-message").replace("%20", " ");
    (status, message)
}

/// `/ready` is 200 `ready` and `/metrics` is Prometheus text with `metric`.
async fn assert_ready_and_metrics(role: &str, server: &KilnServer, metric: &str) {
    let ready = get(&server.url("/ready")).await;
    assert_eq!(ready.status, 200, "{role} /ready: {ready:?}");
    assert_eq!(ready.text(), "ready\n", "{role}");
    let metrics = get(&server.url("/metrics")).await;
    assert_eq!(metrics.status, 200, "{role} /metrics: {metrics:?}");
    assert!(
        metrics.header("content-type").starts_with("text/plain"),
        "{role}: {metrics:?}"
    );
    assert!(
        metrics.text().contains(metric),
        "{role}'s /metrics has no {metric}:\n{}",
        metrics.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingester_frontend_and_compactor_as_separate_processes() {
    let shared = Backing::new("roles-e2e").await;
    let ingester = shared.role("ingester").start().await;
    let frontend = shared.role("query-frontend").start().await;
    let compactor = shared
        .role("compactor")
        .env("KILN_COMPACTOR__INTERVAL", "1s")
        .env("KILN_COMPACTOR__SETTLE_DELAY", "1s")
        .start()
        .await;

    // The ingester takes pushes: several flushes into one closed 10-minute
    // window, so the compactor has level-0 blocks to merge.
    for minutes in [35, 34, 33] {
        push_cpu(
            &ingester,
            None,
            &[("service_name", "checkout")],
            minutes_ago(minutes),
            TREE_A,
        )
        .await;
    }
    assert_eq!(total(&frontend, "checkout").await, 3 * 52);

    // The ingester refuses queries, in every protocol, naming its roles.
    let reply = rpc_json(
        &ingester,
        "SelectMergeStacktraces",
        serde_json::json!({}),
        None,
    )
    .await;
    assert_error(
        &reply,
        404,
        "unimplemented",
        &[
            "this kiln process runs [ingester]",
            "send queries to a query-frontend",
        ],
    );
    let reply = grpc_call(
        &ingester,
        "/querier.v1.QuerierService/SelectMergeStacktraces",
        &flamegraph_request("checkout").encode_to_vec(),
    )
    .await;
    let (status, message) = grpc_status(&reply);
    assert_eq!(status, "12", "{reply:?}");
    assert!(message.contains("runs [ingester]"), "{message}");
    let reply = get(&ingester.url("/pyroscope/render?query=x")).await;
    assert_error(&reply, 404, "unimplemented", &["runs [ingester]"]);
    let reply = post(&ingester.url("/api/v1/sql"), &[], full("SELECT 1")).await;
    assert_error(&reply, 404, "unimplemented", &["runs [ingester]"]);

    // The frontend refuses pushes the same way.
    let reply = post(
        &frontend.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        full(Bytes::new()),
    )
    .await;
    assert_error(
        &reply,
        404,
        "unimplemented",
        &[
            "this kiln process runs [query-frontend]",
            "send pushes to an ingester",
        ],
    );
    let reply = post(&frontend.url("/ingest?name=x"), &[], full("foo 1")).await;
    assert_error(
        &reply,
        404,
        "unimplemented",
        &["send pushes to an ingester"],
    );
    let mut grpc_pusher = grpc_client(&frontend);
    let status = grpc_pusher
        .push(grpc_request(Default::default(), None))
        .await
        .expect_err("the frontend accepted a push");
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("ingester"), "{status:?}");
    // The UI is the frontend's.
    assert_eq!(get(&frontend.url("/")).await.status, 200);
    assert_error(
        &get(&ingester.url("/")).await,
        404,
        "unimplemented",
        &["ingester"],
    );

    // The compactor serves neither, and compacts what the ingester wrote.
    let reply = post(
        &compactor.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        full(Bytes::new()),
    )
    .await;
    assert_error(&reply, 404, "unimplemented", &["runs [compactor]"]);
    wait_for_level_1(&shared.postgres_url, Duration::from_secs(60)).await;
    assert_eq!(
        total(&frontend, "checkout").await,
        3 * 52,
        "same answer from the compacted blocks"
    );

    assert_ready_and_metrics("ingester", &ingester, "kiln_ingest_").await;
    assert_ready_and_metrics(
        "query-frontend",
        &frontend,
        "kiln_server_rpc_requests_total",
    )
    .await;
    assert_ready_and_metrics("compactor", &compactor, "kiln_server_rpc_requests_total").await;
}

/// The worker's liveness RPC (datafusion-distributed's `GetWorkerInfo`).
const WORKER_INFO: &str = "/worker.WorkerService/GetWorkerInfo";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontend_runs_queries_on_a_querier_process() {
    let shared = Backing::new("roles-e2e").await;
    let ingester = shared.role("ingester").start().await;
    let querier = shared.role("querier").start().await;
    let frontend = shared
        .role("query-frontend")
        .env("KILN_QUERIER__PEERS", &querier.url(""))
        .start()
        .await;
    let in_process = shared.role("query-frontend").start().await;

    push_cpu(
        &ingester,
        None,
        &[("service_name", "api")],
        minutes_ago(5),
        TREE_A,
    )
    .await;
    push_cpu(
        &ingester,
        None,
        &[("service_name", "api")],
        minutes_ago(4),
        TREE_B,
    )
    .await;
    let expected = total(&in_process, "api").await;
    assert!(expected > 52, "{expected}");
    assert_eq!(total(&frontend, "api").await, expected);

    // The querier serves the distributed worker (a real gRPC answer);
    // a frontend does not.
    let reply = grpc_call(&querier, WORKER_INFO, b"").await;
    let trailers = reply.trailers.clone().unwrap_or_default();
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.to_str().unwrap()),
        Some("0"),
        "the querier's worker answered: {reply:?}"
    );
    let (status, message) = grpc_status(&grpc_call(&frontend, WORKER_INFO, b"").await);
    assert_eq!(status, "12");
    assert!(message.contains("runs [query-frontend]"), "{message}");

    // The querier serves only the worker and the two endpoints.
    let reply = rpc_json(&querier, "ProfileTypes", serde_json::json!({}), None).await;
    assert_error(
        &reply,
        404,
        "unimplemented",
        &["this kiln process runs [querier]", "query-frontend"],
    );
    assert_ready_and_metrics("querier", &querier, "kiln_server_rpc_requests_total").await;
    assert_ready_and_metrics(
        "query-frontend",
        &frontend,
        "kiln_server_rpc_requests_total",
    )
    .await;
}

const SECRET: &str = "roles-e2e-worker-secret-0123456789";

/// `SelectSeries` of CPU by `service_name` over the hours before `end`, as
/// JSON.
async fn series_by_service(server: &KilnServer, end: i64) -> serde_json::Value {
    let body = serde_json::json!({
        "profileTypeID": CPU,
        "labelSelector": "{}",
        "start": end - 6 * 3_600_000,
        "end": end,
        "step": 60,
        "groupBy": ["service_name"],
    });
    let reply = rpc_json(server, "SelectSeries", body, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let json: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert!(json["series"][0]["points"].as_array().is_some(), "{json}");
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_calls_need_the_cluster_secret() {
    let shared = Backing::new("roles-e2e").await;
    let ingester = shared.role("ingester").start().await;
    let querier = shared
        .role("querier")
        .env("KILN_QUERIER__WORKER_SECRET", SECRET)
        .start()
        .await;
    let frontend = |secret: &str| {
        shared
            .role("query-frontend")
            .env("KILN_QUERIER__PEERS", &querier.url(""))
            .env("KILN_QUERIER__WORKER_SECRET", secret)
            .start()
    };
    let trusted = frontend(SECRET).await;
    let stranger = frontend("another-secret-0123456789").await;
    // Two flushes, two blocks: a plan over one block stays on the frontend.
    for (minutes, tree) in [(5, TREE_A), (4, TREE_B)] {
        push_cpu(
            &ingester,
            None,
            &[("service_name", "api")],
            minutes_ago(minutes),
            tree,
        )
        .await;
    }
    let reference = shared.role("query-frontend").start().await;
    let expected = total(&reference, "api").await;
    assert!(expected > 0);

    // With the secret: the querier runs the scans. (Calls between workers,
    // which carry the secret too, need several queriers: the fleet test.)
    assert_eq!(total(&trusted, "api").await, expected);
    let end = now_ms() + 3_600_000;
    assert_eq!(
        series_by_service(&trusted, end).await,
        series_by_service(&reference, end).await
    );
    let tasks = counter(&querier, "kiln_query_worker_tasks_total").await;
    assert!(
        tasks > 0.0,
        "the querier ran no task for the trusted frontend; querier metrics:\n{}\nfrontend metrics:\n{}",
        get(&querier.url("/metrics")).await.text(),
        get(&trusted.url("/metrics")).await.text()
    );

    // Another secret: the querier refuses, the frontend answers alone.
    assert_eq!(total(&stranger, "api").await, expected);
    assert_eq!(
        counter(&querier, "kiln_query_worker_tasks_total").await,
        tasks,
        "the querier ran a plan from a frontend with another secret"
    );
    assert!(counter(&stranger, "kiln_query_distributed_fallbacks_total").await >= 1.0);

    // Direct calls: none or a wrong token is unauthenticated, naming the
    // setting and never echoing the secret.
    for headers in [
        vec![],
        vec![("authorization", "Bearer another-secret-0123456789")],
        vec![("authorization", SECRET)],
    ] {
        let (status, message) =
            grpc_status(&grpc_call_with(&querier, WORKER_INFO, b"", &headers).await);
        assert_eq!(status, "16", "{headers:?}: {message}");
        assert!(message.contains("querier.worker_secret"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
    }
    let bearer = format!("Bearer {SECRET}");
    let reply = grpc_call_with(&querier, WORKER_INFO, b"", &[("authorization", &bearer)]).await;
    let trailers = reply.trailers.clone().unwrap_or_default();
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.to_str().unwrap()),
        Some("0"),
        "{reply:?}"
    );
}

/// `kiln server` with `env`, expected to exit at startup; its stderr.
fn start_and_fail(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = std::process::Command::new(crate::harness::kiln_bin());
    command
        .arg("server")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path());
    for (name, _) in std::env::vars() {
        if name.starts_with("KILN_") {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.env("NO_COLOR", "1").output().expect("running kiln");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "kiln started: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn split_roles_on_the_embedded_metastore_are_refused() {
    for target in ["ingester", "query-frontend,querier", "compactor"] {
        let stderr = start_and_fail(&[("KILN_TARGET", target)]);
        assert!(stderr.contains(target), "{stderr}");
        assert!(
            stderr.contains("metastore.backend = \"postgres\"")
                && stderr.contains("embedded metastore serves one process"),
            "{stderr}"
        );
    }
    let stderr = start_and_fail(&[
        ("KILN_TARGET", "metastore"),
        ("KILN_METASTORE__BACKEND", "postgres"),
        (
            "KILN_METASTORE__POSTGRES_URL",
            "postgres://kiln@127.0.0.1:1/kiln",
        ),
    ]);
    assert!(stderr.contains("runs nothing"), "{stderr}");
    let stderr = start_and_fail(&[("KILN_TARGET", "ingester,reader")]);
    assert!(stderr.contains("unknown role \"reader\""), "{stderr}");
}

#[tokio::test]
async fn unknown_rpc_methods_are_unimplemented() {
    let server = KilnServer::start().await;
    for path in [
        "/push.v1.PusherService/PushTwice",
        "/querier.v1.QuerierService/Nope",
        "/nosuch.v1.Service/Method",
    ] {
        let reply = grpc_call(&server, path, b"").await;
        let (status, message) = grpc_status(&reply);
        assert_eq!(status, "12", "{path}: {reply:?}");
        assert!(message.contains(path), "{message}");

        let reply = post(
            &server.url(path),
            &[("content-type", "application/json")],
            full("{}"),
        )
        .await;
        assert_error(&reply, 404, "unimplemented", &["unknown RPC method", path]);

        let reply = post(
            &server.url(path),
            &[("content-type", "application/grpc-web+proto")],
            full(vec![0, 0, 0, 0, 0]),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let trailer = String::from_utf8_lossy(&reply.body[5..]).into_owned();
        assert!(trailer.contains("grpc-status:12"), "{trailer}");
    }
    // Plain unknown paths stay a plain 404.
    assert_eq!(get(&server.url("/no/such/page")).await.status, 404);
}

#[tokio::test]
async fn frontend_without_resolvable_peers_is_not_ready() {
    let shared = Backing::new("roles-e2e").await;
    let frontend = shared
        .role("query-frontend")
        .env("KILN_QUERIER__PEERS_DNS", "no-such-querier.invalid:4040")
        .start_listening()
        .await;
    let reply = get(&frontend.url("/ready")).await;
    let metrics = get(&frontend.url("/metrics")).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        reply
            .text()
            .contains("querier peers: no querier peer resolved"),
        "{}",
        reply.text()
    );
    assert_eq!(metrics.status, 200, "{metrics:?}");
}

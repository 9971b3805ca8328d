//! Agent replay: every captured payload in `../shared/testdata/agents/` is
//! pushed to the real server exactly as its agent sent it (method, path, raw
//! query, headers, body), then the stored series are compared with what
//! Pyroscope would store, computed here from the raw payloads.
//!
//! The request logs name more bodies than are shipped; each shipped body is
//! replayed with the request line it belongs to (the first line of its log
//! with the same path and `format`). The Go profiles have no log: they are
//! pushed the way their agents send them (Alloy: Connect Push with the
//! gzipped pprof in `raw_profile`; pyroscope-go: multipart `/ingest` with
//! nanosecond `from`/`until`). The captures are hours old, so these servers
//! run with the ingestion time window disabled.

mod expect;

use hyper::Method;
use prost::Message;
use serde_json::Value;

use crate::fixtures::{gzip, push_request};
use crate::harness::{agent_file, shared_dir};
use crate::server::*;
use expect::{Expected, check};

/// One line of a `*.requests.jsonl` capture.
#[derive(Debug, Clone)]
struct Logged {
    method: Method,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
}

/// Headers of the captured connection rather than of the request: the
/// client sets them for the body it actually sends.
const CONNECTION_HEADERS: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

/// The first line of `log` whose path is `path` and whose `format` query
/// parameter is `format` (`None`: absent).
fn logged_request(log: &str, path: &str, format: Option<&str>) -> Logged {
    let file = shared_dir().join("testdata/agents").join(log);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("missing request log {} ({e})", file.display()));
    let line: Value = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON request line"))
        .find(|l| l["path"] == path && l["query"]["format"][0].as_str() == format)
        .unwrap_or_else(|| panic!("{log} has no {path} request with format {format:?}"));
    Logged {
        method: line["method"].as_str().unwrap().parse().unwrap(),
        path: path.to_string(),
        raw_query: line["raw_query"].as_str().unwrap_or_default().to_string(),
        headers: line["headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| !CONNECTION_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
            .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_string()))
            .collect(),
    }
}

/// Sends `body` as the logged request did.
async fn replay(server: &KilnServer, logged: &Logged, body: Vec<u8>) -> Reply {
    let mut url = server.url(&logged.path);
    if !logged.raw_query.is_empty() {
        url = format!("{url}?{}", logged.raw_query);
    }
    let headers: Vec<(&str, &str)> = logged
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    send(
        request(logged.method.clone(), &url, &headers, full(body)),
        false,
    )
    .await
}

const PYTHON_BODY: &str = "python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz";
const NODE_BODY: &str = "nodejs-0.6.4-ingest-wall-cpu.pprof.gz";
const RUST_BODY: &str = "rust-pyroscope-0.5.8-ingest-folded.body.gz";
const GO_CPU: &str = "go-cpu.pb.gz";
const GO_HEAP: &str = "go-heap.pb.gz";

fn python_request() -> Logged {
    logged_request("python-plain.requests.jsonl", PUSH_PATH, None)
}

fn node_request() -> Logged {
    logged_request("nodejs.requests.jsonl", "/ingest", Some("pprof"))
}

fn rust_request() -> Logged {
    logged_request(
        "rust-0.5.8-legacy.requests.jsonl",
        "/ingest",
        Some("folded"),
    )
}

/// Alloy's `pyroscope.write`: Connect Push, binary proto, the scraped
/// (gzipped) pprof as `raw_profile`, dotted labels as Alloy forwards them.
async fn push_go_cpu(server: &KilnServer, tenant: Option<&str>) -> Reply {
    let push = push_request(
        &[
            ("__name__", "process_cpu"),
            ("service_name", "go-app"),
            ("service.version", "1.2.3"),
        ],
        agent_file(GO_CPU),
    );
    let mut headers = vec![("authorization", "Basic dXNlcjpwYXNz")];
    headers.extend(tenant.map(|t| ("x-scope-orgid", t)));
    push_proto(server, &push, &headers).await
}

/// pyroscope-go: multipart `/ingest` with one `profile` part, `from` and
/// `until` in nanoseconds.
async fn push_go_heap(server: &KilnServer, tenant: Option<&str>) -> Reply {
    let boundary = "kilnboundary1234";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&agent_file(GO_HEAP));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let mut headers = vec![("content-type", content_type.as_str())];
    headers.extend(tenant.map(|t| ("x-scope-orgid", t)));
    let from = 1_795_661_376_000_000_000i64;
    let url = server.url(&format!(
        "/ingest?name=go-heap-app%7Benv%3Dtest%7D&from={from}&until={}&spyName=gospy&sampleRate=100",
        from + 10_000_000_000
    ));
    post(&url, &headers, full(body)).await
}

/// What each payload must have produced, from the payloads themselves.
fn expectations() -> Vec<(&'static str, Expected)> {
    vec![
        ("python", expect::python(&agent_file(PYTHON_BODY))),
        (
            "nodejs",
            expect::nodejs(&node_request(), &agent_file(NODE_BODY)),
        ),
        (
            "rust",
            expect::rust_folded(&rust_request(), &agent_file(RUST_BODY)),
        ),
        ("go-cpu", expect::go_cpu(&agent_file(GO_CPU))),
        ("go-heap", expect::go_heap(&agent_file(GO_HEAP))),
    ]
}

#[tokio::test]
async fn replay_with_multitenancy_off_stores_everything_as_anonymous() {
    let server = KilnServer::builder().any_timestamp().start().await;
    assert_ok_empty(&replay(&server, &python_request(), agent_file(PYTHON_BODY)).await);
    assert_ok_empty(&replay(&server, &node_request(), agent_file(NODE_BODY)).await);
    assert_ok_empty(&replay(&server, &rust_request(), agent_file(RUST_BODY)).await);
    assert_ok_empty(&push_go_cpu(&server, Some("ignored-when-off")).await);
    assert_ok_empty(&push_go_heap(&server, None).await);

    let stored = server.stored().await;
    assert_eq!(stored.tenants(), ["anonymous"], "{stored:#?}");
    for (agent, expected) in expectations() {
        check(&stored, "anonymous", &expected, agent);
    }
}

#[tokio::test]
async fn replay_with_multitenancy_on_scopes_data_by_org_id() {
    let server = KilnServer::builder()
        .any_timestamp()
        .multitenant()
        .start()
        .await;
    // The Python agent was captured without a tenant: refused, not stored.
    let reply = replay(&server, &python_request(), agent_file(PYTHON_BODY)).await;
    assert_error(&reply, 401, "unauthenticated", &["X-Scope-OrgID"]);

    assert_ok_empty(&replay(&server, &node_request(), agent_file(NODE_BODY)).await);
    assert_ok_empty(&replay(&server, &rust_request(), agent_file(RUST_BODY)).await);
    assert_ok_empty(&push_go_cpu(&server, Some("tenant-go")).await);
    assert_ok_empty(&push_go_heap(&server, Some("tenant-go")).await);

    let stored = server.stored().await;
    assert_eq!(
        stored.tenants(),
        ["tenant-go", "tenant-node", "tenant-rs05"],
        "{stored:#?}"
    );
    for (agent, expected) in expectations() {
        let tenant = match agent {
            "python" => continue,
            "nodejs" => "tenant-node",
            "rust" => "tenant-rs05",
            _ => "tenant-go",
        };
        check(&stored, tenant, &expected, agent);
    }
}

/// The Python agent's body is a gzipped `PushRequest`; the same request
/// works with the gzip taken off (and the header with it).
#[tokio::test]
async fn python_push_without_content_encoding() {
    let server = KilnServer::builder().any_timestamp().start().await;
    let raw = crate::fixtures::gunzip_if_gzip(&agent_file(PYTHON_BODY));
    kiln_proto::push::v1::PushRequest::decode(raw.as_slice()).expect("a PushRequest");
    let mut logged = python_request();
    logged
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-encoding"));
    assert_ok_empty(&replay(&server, &logged, raw.clone()).await);
    // And re-gzipped by us, to show the header (not the bytes) selects gzip.
    assert_ok_empty(&replay(&server, &python_request(), gzip(&raw)).await);
    let stored = server.stored().await;
    let expected = expect::python(&agent_file(PYTHON_BODY));
    // Two pushes of the same profile: every total doubles.
    check(&stored, "anonymous", &expected.times(2), "python");
}

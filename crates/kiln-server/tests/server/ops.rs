//! `/ready`, `/metrics` and graceful shutdown.

use std::time::Duration;

use kiln_server::PUSH_PATH;
use kiln_server::metrics::RPC_REQUESTS_TOTAL;
use prost::Message;

use crate::harness::*;

#[tokio::test]
async fn ready() {
    let server = TestServer::start().await;
    let reply = get(&server.url("/ready")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.trim_ascii(), b"ready");
}

/// The value of one sample line, 0 if absent.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|lb| l.contains(lb)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_requests() {
    let server = TestServer::start().await;
    let ok = [
        "rpc=\"/push.v1.PusherService/Push\"",
        "protocol=\"connect\"",
        "code=\"ok\"",
    ];
    let bad = ["protocol=\"unknown\"", "code=\"invalid_argument\""];
    let before = get(&server.url("/metrics")).await;
    assert_eq!(before.status, 200);
    assert!(before.header("content-type").starts_with("text/plain"));
    let before = String::from_utf8(before.body.to_vec()).unwrap();

    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "application/proto")],
        full(sample_push().encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200);
    let reply = post(
        &server.url(PUSH_PATH),
        &[("content-type", "text/plain")],
        full("x"),
    )
    .await;
    assert_eq!(reply.status, 415);

    let after = String::from_utf8(get(&server.url("/metrics")).await.body.to_vec()).unwrap();
    // Other tests in this binary share the global recorder, so compare
    // before and after rather than expecting exact values.
    assert!(
        sample(&after, RPC_REQUESTS_TOTAL, &ok) >= sample(&before, RPC_REQUESTS_TOTAL, &ok) + 1.0,
        "{after}"
    );
    assert!(
        sample(&after, RPC_REQUESTS_TOTAL, &bad) >= sample(&before, RPC_REQUESTS_TOTAL, &bad) + 1.0,
        "{after}"
    );
    assert!(
        after.contains("kiln_server_rpc_duration_seconds_bucket"),
        "{after}"
    );
    assert!(
        after.contains("kiln_server_rpc_request_bytes_total"),
        "{after}"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_pushes() {
    let mut server = TestServer::start().await;
    server.sink.delay(Duration::from_millis(300));
    let url = server.url(PUSH_PATH);
    let in_flight = tokio::spawn(async move {
        post(
            &url,
            &[("content-type", "application/proto")],
            full(sample_push().encode_to_vec()),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.begin_shutdown();
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(server.sink.pushes().len(), 1);
    let addr = server.addr;
    server.stop().await.expect("serve returns Ok");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

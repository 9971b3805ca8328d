//! `/metrics` after real pushes: the write path's metrics (pushes by
//! tenant, protocol and outcome; decompressed bytes; errors by reason; flush
//! latency and size; buffered bytes) must be there with exact values, since
//! operators alert on them. Each test has its own server process, so the
//! counters start from zero.

use std::collections::BTreeMap;

use crate::fixtures::{PprofBuilder, cpu_push, now_ns, push_request};
use crate::server::*;

/// One sample line of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once("=\"").expect("label=\"value\"");
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the one sample of `name` whose labels include `labels`.
#[track_caller]
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{name}{labels:?}: expected one sample, got {matching:?}"
    );
    matching[0].value
}

#[tokio::test]
async fn ingest_metrics_after_pushes() {
    let server = KilnServer::builder().multitenant().start().await;
    let a = [("x-scope-orgid", "tenant-a")];

    let connect = cpu_push("metrics", &[("via", "connect")], 100);
    let grpc_push = cpu_push("metrics", &[("via", "grpc")], 200);
    let folded = "main;work 3\nmain;idle 1\n";
    let raw_len = |p: &kiln_proto::push::v1::PushRequest| p.series[0].samples[0].raw_profile.len();
    let tenant_a_bytes = raw_len(&connect) + raw_len(&grpc_push) + folded.len();

    assert_eq!(push_proto(&server, &connect, &a).await.status, 200);
    grpc_client(&server)
        .push(grpc_request(grpc_push, Some("tenant-a")))
        .await
        .expect("gRPC push");
    let reply = post(
        &server.url("/ingest?name=metrics.cpu&sampleRate=100"),
        &a,
        full(folded),
    )
    .await;
    assert_ok_empty(&reply);
    let tenant_b = cpu_push("metrics", &[], 300);
    let b = [("x-scope-orgid", "tenant-b")];
    assert_eq!(push_proto(&server, &tenant_b, &b).await.status, 200);

    // Two refusals for tenant-a: too old, and an invalid label name.
    let old = PprofBuilder::cpu()
        .time(now_ns() - 2 * 3600 * 1_000_000_000)
        .sample(&["main"], &[1])
        .encode();
    let old = push_request(&[("__name__", "process_cpu"), ("service_name", "m")], old);
    assert_eq!(push_proto(&server, &old, &a).await.status, 400);
    let invalid = cpu_push("metrics", &[("bad-name", "x")], 1);
    assert_eq!(push_proto(&server, &invalid, &a).await.status, 400);

    let reply = get(&server.url("/metrics")).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("content-type").starts_with("text/plain"),
        "{reply:?}"
    );
    let text = reply.text();
    let samples = parse(&text);

    let pushes = "kiln_ingest_pushes_total";
    let ok = |tenant, protocol| {
        value(
            &samples,
            pushes,
            &[
                ("tenant", tenant),
                ("protocol", protocol),
                ("outcome", "ok"),
            ],
        )
    };
    assert_eq!(ok("tenant-a", "connect"), 1.0);
    assert_eq!(ok("tenant-a", "grpc"), 1.0);
    assert_eq!(ok("tenant-a", "ingest"), 1.0);
    assert_eq!(ok("tenant-b", "connect"), 1.0);
    let refused = [
        ("tenant", "tenant-a"),
        ("protocol", "connect"),
        ("outcome", "invalid_argument"),
    ];
    assert_eq!(value(&samples, pushes, &refused), 2.0);

    let bytes = "kiln_ingest_decompressed_bytes_total";
    assert_eq!(
        value(&samples, bytes, &[("tenant", "tenant-a")]),
        tenant_a_bytes as f64
    );
    let tenant_b_bytes = raw_len(&tenant_b) as f64;
    assert_eq!(
        value(&samples, bytes, &[("tenant", "tenant-b")]),
        tenant_b_bytes
    );
    assert_eq!(
        value(
            &samples,
            "kiln_ingest_profiles_total",
            &[("tenant", "tenant-a")]
        ),
        3.0
    );

    let errors = "kiln_ingest_errors_total";
    for reason in ["time_window", "invalid"] {
        let labels = [("tenant", "tenant-a"), ("reason", reason)];
        assert_eq!(value(&samples, errors, &labels), 1.0, "{reason}");
    }

    // Flushes: a latency histogram with buckets, and sizes that add up to
    // every acknowledged byte.
    let flushes = value(
        &samples,
        "kiln_ingest_flush_duration_seconds_count",
        &[("outcome", "ok")],
    );
    assert!(flushes >= 2.0, "one flush per tenant at least: {flushes}");
    assert!(
        samples
            .iter()
            .any(|s| s.name == "kiln_ingest_flush_duration_seconds_bucket"
                && s.labels.contains_key("le")),
        "{text}"
    );
    assert_eq!(
        value(&samples, "kiln_ingest_flush_size_bytes_count", &[]),
        flushes
    );
    assert_eq!(
        value(&samples, "kiln_ingest_flush_size_bytes_sum", &[]),
        tenant_a_bytes as f64 + tenant_b_bytes
    );
    // Everything was acknowledged, so nothing is left buffered.
    for tenant in ["tenant-a", "tenant-b"] {
        let labels = [("tenant", tenant)];
        assert_eq!(value(&samples, "kiln_ingest_buffered_bytes", &labels), 0.0);
    }
    for name in [
        pushes,
        bytes,
        errors,
        "kiln_ingest_flush_duration_seconds",
        "kiln_ingest_flush_size_bytes",
        "kiln_ingest_buffered_bytes",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
    }
}

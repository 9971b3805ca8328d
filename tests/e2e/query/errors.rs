//! Bad queries against the real server: `invalid_argument` (HTTP 400)
//! with a message naming the problem, over Connect and gRPC; and a raised
//! limit (`KILN_LIMITS__MAX_QUERY_LENGTH`) really lifts the check.

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_proto::querier::v1::SelectMergeStacktracesRequest;
use kiln_proto::querier::v1::querier_service_client::QuerierServiceClient;
use serde_json::json;

use super::*;

#[tokio::test]
async fn bad_queries_name_the_problem() {
    let server = KilnServer::builder().any_timestamp().start().await;
    let t = minutes_ago(5);
    push_cpu(&server, None, &[("service_name", "app")], t, TREE_A).await;
    let (start, end) = (t - 60_000, t + 60_000);
    let good = selection(CPU, "{}", start, end);
    let day = 24 * 3_600_000;

    let cases = [
        (
            json!({"labelSelector": "{service_name=\"app\""}),
            "label_selector: invalid label selector",
        ),
        (
            json!({"labelSelector": "{service_name~\"a\"}"}),
            "invalid label selector",
        ),
        (json!({"labelSelector": "{pod=~\"(\"}"}), "invalid regex"),
        (
            json!({"profileTypeID": "process_cpu"}),
            "invalid profile type id \"process_cpu\"",
        ),
        (json!({"profileTypeID": ""}), "profile_typeID is required"),
        (
            json!({"profileTypeID": "nope:a:b:c:d"}),
            "unknown profile type \"nope:a:b:c:d\"",
        ),
        (
            json!({"start": end.to_string(), "end": start.to_string()}),
            "is before start",
        ),
        (
            json!({"start": (end - day - 1).to_string()}),
            "exceeds the limit",
        ),
        (json!({"maxNodes": "-1"}), "max_nodes must be positive"),
        (
            json!({"maxNodes": "1048577"}),
            "max_nodes exceeds the limit",
        ),
        (
            json!({"profileIdSelector": ["x"]}),
            "invalid profile id \"x\"",
        ),
    ];
    for (change, expected) in cases {
        let reply = rpc_json(
            &server,
            "SelectMergeStacktraces",
            with(good.clone(), change),
            None,
        )
        .await;
        assert_invalid(&reply, &[expected]);
    }
    let series = with(good.clone(), json!({"step": 15}));
    for (change, expected) in [
        (json!({"step": 0}), "step must be a positive"),
        (
            json!({"groupBy": ["no_such_label"]}),
            "unknown group_by label \"no_such_label\"",
        ),
        (
            json!({"groupBy": ["bad label"]}),
            "invalid group_by label name",
        ),
    ] {
        let reply = rpc_json(&server, "SelectSeries", with(series.clone(), change), None).await;
        assert_invalid(&reply, &[expected]);
    }
    let reply = rpc_json(
        &server,
        "LabelValues",
        json!({"name": "x", "matchers": ["{a=}"]}),
        None,
    )
    .await;
    assert_invalid(&reply, &["matchers: invalid label selector"]);
    let reply = rpc_json(&server, "Diff", json!({"right": good.clone()}), None).await;
    assert_invalid(&reply, &["left is required"]);
    let reply = rpc_json(
        &server,
        "SelectMergeStacktraces",
        with(good.clone(), json!({"format": "PROFILE_FORMAT_DOT"})),
        None,
    )
    .await;
    assert_error(&reply, 501, "unimplemented", &["PROFILE_FORMAT_DOT"]);

    // The same over gRPC (h2c).
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(true);
    let mut client =
        QuerierServiceClient::with_origin(builder.build_http(), server.url("").parse().unwrap());
    let request = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{".into(),
        start,
        end,
        ..Default::default()
    };
    let status = client
        .select_merge_stacktraces(request.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("label_selector"), "{status:?}");
    let ok = SelectMergeStacktracesRequest {
        label_selector: "{}".into(),
        ..request
    };
    let response = client
        .select_merge_stacktraces(ok)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.flamegraph.unwrap().total, 52);

    // Render reports the same problems as JSON.
    let url = server.url(&format!(
        "/pyroscope/render?query={}&from={start}&until={end}",
        escape("{}")
    ));
    assert_invalid(&get(&url).await, &["must start with a profile type ID"]);
    let url = server.url(&format!(
        "/pyroscope/render?query={}&from=now-2d&until=now",
        escape(CPU)
    ));
    assert_invalid(&get(&url).await, &["exceeds the limit"]);
}

#[tokio::test]
async fn limits_are_configurable_per_deployment() {
    let server = KilnServer::builder()
        .any_timestamp()
        .env("KILN_LIMITS__MAX_QUERY_LENGTH", "0s")
        .env("KILN_LIMITS__MAX_FLAMEGRAPH_NODES_MAX", "3")
        .env("KILN_LIMITS__MAX_FLAMEGRAPH_NODES_DEFAULT", "2")
        .start()
        .await;
    let t = minutes_ago(5);
    push_cpu(&server, None, &[("service_name", "app")], t, TREE_A).await;
    // A 3-day range is fine once the length check is off.
    let body = selection(CPU, "{}", t - 3 * 24 * 3_600_000, t + 60_000);
    let json = rpc_ok(&server, "SelectMergeStacktraces", body.clone(), None).await;
    assert_eq!(json["flamegraph"]["total"], "52");
    let reply = rpc_json(
        &server,
        "SelectMergeStacktraces",
        with(body, json!({"maxNodes": 4})),
        None,
    )
    .await;
    assert_invalid(&reply, &["max_nodes exceeds the limit", "limit: 3"]);
}

//! The query API over the wire, against [`FakeEngine`]'s fixed data:
//! golden Connect JSON (protojson: int64 as strings), exact tree bytes,
//! decoded pprof, diffs, series, label APIs, gRPC, the render JSON
//! (numbers, not strings), errors and tenant scoping.

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use kiln_model::flamegraph::flamegraph;
use kiln_model::tree_pprof::pprof_to_tree;
use kiln_proto::google::v1::Profile;
use kiln_proto::querier::v1::querier_service_client::QuerierServiceClient;
use kiln_proto::querier::v1::{
    ProfileFormat, SelectMergeProfileRequest, SelectMergeStacktracesRequest,
    SelectMergeStacktracesResponse,
};
use kiln_server::KilnConfig;
use prost::Message;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::fake_engine::{CPU, FakeEngine, INUSE, tree_a};
use crate::harness::*;

const SERVICE: &str = "/querier.v1.QuerierService/";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The last hour, with `start` on a minute boundary (render timelines snap).
fn last_hour() -> (i64, i64) {
    let end = now_ms() / 60_000 * 60_000;
    (end - 3_600_000, end)
}

async fn connect_json(
    server: &TestServer,
    method: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    post(
        &server.url(&format!("{SERVICE}{method}")),
        &all,
        full(body.to_string()),
    )
    .await
}

async fn connect_proto<Req: Message, Resp: Message + Default>(
    server: &TestServer,
    method: &str,
    request: &Req,
) -> Resp {
    let reply = post(
        &server.url(&format!("{SERVICE}{method}")),
        &[("content-type", "application/proto")],
        full(request.encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    Resp::decode(reply.body).expect("a response message")
}

/// `{code, message}` with the status; the message contains every part.
#[track_caller]
fn assert_error(reply: &Reply, status: u16, code: &str, parts: &[&str]) {
    assert_eq!(reply.status, status, "{reply:?}");
    let json = reply.json();
    assert_eq!(json["code"], code, "{json}");
    let message = json["message"].as_str().unwrap();
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

fn stacktraces(format: ProfileFormat) -> SelectMergeStacktracesRequest {
    let (start, end) = last_hour();
    SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{}".into(),
        start,
        end,
        format: format as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn flame_graph_golden_connect_json() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let body = json!({
        "profileTypeID": CPU,
        "labelSelector": "{service_name=\"a\"}",
        "start": start.to_string(),
        "end": end,
        "format": "PROFILE_FORMAT_FLAMEGRAPH",
    });
    let reply = connect_json(&server, "SelectMergeStacktraces", body, &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    // Hand-computed from tree_a (spec §2.2): names in walk order, per-level
    // delta-encoded x, int64 as strings.
    assert_eq!(
        reply.json(),
        json!({"flamegraph": {
            "names": ["total", "main", "work", "hash", "idle", "gc"],
            "levels": [
                {"values": ["0", "52", "0", "0"]},
                {"values": ["0", "7", "7", "5", "0", "45", "0", "1"]},
                {"values": ["7", "5", "5", "4", "0", "40", "10", "2"]},
                {"values": ["22", "30", "30", "3"]}
            ],
            "total": "52",
            "maxSelf": "30"
        }})
    );
    let query = server.engine.merges.lock().unwrap()[0].clone();
    assert_eq!(query.tenant, "anonymous");
    assert_eq!(query.profile_type.id(), CPU);
    assert_eq!(query.selector.to_string(), r#"{service_name="a"}"#);
    assert_eq!((query.start_ms, query.end_ms), (start, end));
}

#[tokio::test]
async fn tree_bytes_pprof_and_truncation_over_proto() {
    let server = TestServer::start().await;
    let tree: SelectMergeStacktracesResponse = connect_proto(
        &server,
        "SelectMergeStacktraces",
        &stacktraces(ProfileFormat::Tree),
    )
    .await;
    // Pre-order from an explicit stack (last child first), virtual root "".
    let mut golden = vec![0u8, 0, 2];
    for (name, self_value, children) in [
        ("main", 0u8, 2u8),
        ("work", 10, 1),
        ("hash", 30, 0),
        ("idle", 5, 0),
        ("gc", 7, 0),
    ] {
        golden.push(name.len() as u8);
        golden.extend_from_slice(name.as_bytes());
        golden.extend_from_slice(&[self_value, children]);
    }
    assert_eq!(tree.tree, golden);
    assert!(tree.flamegraph.is_none());

    let pprof: SelectMergeStacktracesResponse = connect_proto(
        &server,
        "SelectMergeStacktraces",
        &stacktraces(ProfileFormat::Pprof),
    )
    .await;
    let profile = pprof.pprof.unwrap().profile.unwrap();
    assert_eq!(pprof_to_tree(&profile).unwrap(), tree_a());
    let s = |i: i64| profile.string_table[i as usize].as_str();
    let st = &profile.sample_type[0];
    assert_eq!((s(st.r#type), s(st.unit)), ("cpu", "nanoseconds"));

    // SelectMergeProfile: a bare google.v1.Profile.
    let (start, end) = last_hour();
    let request = SelectMergeProfileRequest {
        profile_type_id: CPU.into(),
        start,
        end,
        ..Default::default()
    };
    let bare: Profile = connect_proto(&server, "SelectMergeProfile", &request).await;
    assert_eq!(pprof_to_tree(&bare).unwrap(), tree_a());
    assert_eq!(bare.time_nanos, start * 1_000_000);

    // max_nodes = 2 keeps main and work; the rest folds into `other`.
    let mut truncated = stacktraces(ProfileFormat::Flamegraph);
    truncated.max_nodes = Some(2);
    let graph: SelectMergeStacktracesResponse =
        connect_proto(&server, "SelectMergeStacktraces", &truncated).await;
    let graph = graph.flamegraph.unwrap();
    assert_eq!(graph, flamegraph(&tree_a(), 2));
    // `other` is pushed last, so the walk (last child first) names it first.
    assert_eq!(graph.names, vec!["total", "other", "main", "work"]);
    assert_eq!(graph.total, 52);
}

#[tokio::test]
async fn diff_golden_connect_json() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let side = |selector: &str| json!({"profileTypeID": CPU, "labelSelector": selector, "start": start, "end": end});
    let body = json!({"left": side("{}"), "right": side("{service_name=\"b\"}")});
    let reply = connect_json(&server, "Diff", body, &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"flamegraph": {
            "names": ["total", "main", "work", "hash", "idle", "gc"],
            "levels": [
                {"values": ["0", "52", "0", "0", "23", "0", "0"]},
                {"values": ["0", "7", "7", "0", "3", "3", "5", "0", "45", "0", "0", "20", "0", "1"]},
                {"values": ["7", "5", "5", "3", "0", "0", "4", "0", "40", "10", "0", "20", "20", "2"]},
                {"values": ["22", "30", "30", "23", "0", "0", "3"]}
            ],
            "total": "75",
            "maxSelf": "30",
            "leftTicks": "52",
            "rightTicks": "23"
        }})
    );
    let body =
        json!({"left": side("{}"), "right": {"profileTypeID": INUSE, "start": start, "end": end}});
    let reply = connect_json(&server, "Diff", body, &[]).await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["same profile type", CPU, INUSE],
    );
}

#[tokio::test]
async fn series_and_label_apis_golden_json() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let body = json!({
        "profileTypeID": CPU, "labelSelector": "{}", "start": start, "end": end,
        "step": 15, "groupBy": ["service_name"], "aggregation": "TIME_SERIES_AGGREGATION_TYPE_AVERAGE",
    });
    let reply = connect_json(&server, "SelectSeries", body, &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let points = json!([
        {"value": 3.0, "timestamp": (start + 15_000).to_string()},
        {"value": 5.0, "timestamp": (start + 45_000).to_string()}
    ]);
    assert_eq!(
        reply.json(),
        json!({"series": [
            {"labels": [{"name": "service_name", "value": "a"}], "points": points},
            {"labels": [{"name": "service_name", "value": "b"}], "points": points}
        ]})
    );

    let reply = connect_json(&server, "ProfileTypes", json!({}), &[]).await;
    assert_eq!(
        reply.json(),
        json!({"profileTypes": [
            {"ID": INUSE, "name": "memory", "sampleType": "inuse_space", "sampleUnit": "bytes",
             "periodType": "space", "periodUnit": "bytes"},
            {"ID": CPU, "name": "process_cpu", "sampleType": "cpu", "sampleUnit": "nanoseconds",
             "periodType": "cpu", "periodUnit": "nanoseconds"}
        ]})
    );
    let reply = connect_json(
        &server,
        "LabelNames",
        json!({"matchers": ["{service_name=\"b\"}"]}),
        &[],
    )
    .await;
    assert_eq!(
        reply.json(),
        json!({"names": ["__name__", "__profile_type__", "pod", "service_name"]})
    );
    let body = json!({"name": "service_name", "matchers": ["{pod=~\"a.*\"}", "{pod!=\"a-0\"}"]});
    let reply = connect_json(&server, "LabelValues", body, &[]).await;
    assert_eq!(reply.json(), json!({"names": ["a", "b"]}));
    let body = json!({"matchers": [format!("{{__profile_type__=\"{CPU}\"}}")], "labelNames": ["service_name"]});
    let reply = connect_json(&server, "Series", body, &[]).await;
    assert_eq!(
        reply.json(),
        json!({"labelsSet": [
            {"labels": [{"name": "service_name", "value": "a"}]},
            {"labels": [{"name": "service_name", "value": "b"}]}
        ]})
    );
    let reply = connect_json(&server, "GetProfileStats", json!({}), &[]).await;
    assert_eq!(
        reply.json(),
        json!({"dataIngested": true, "oldestProfileTime": "1000", "newestProfileTime": "2000"})
    );
}

#[tokio::test]
async fn bad_queries_are_invalid_argument() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let base = json!({"profileTypeID": CPU, "labelSelector": "{}", "start": start, "end": end});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("labelSelector", json!("{service_name=")),
            "label_selector: invalid label selector",
        ),
        (
            with("profileTypeID", json!("cpu")),
            "invalid profile type id \"cpu\"",
        ),
        (
            with("profileTypeID", json!("x:y:z:w:v")),
            "unknown profile type \"x:y:z:w:v\"",
        ),
        (with("end", json!(start - 1)), "is before start"),
        (
            with("start", json!(end - 25 * 3_600_000)),
            "exceeds the limit",
        ),
        (with("maxNodes", json!(-3)), "max_nodes must be positive"),
        (
            with("maxNodes", json!("2000000")),
            "max_nodes exceeds the limit",
        ),
    ];
    for (body, expected) in cases {
        let reply = connect_json(&server, "SelectMergeStacktraces", body, &[]).await;
        assert_error(&reply, 400, "invalid_argument", &[expected]);
    }
    let series = |extra: Value| {
        let mut body = base.clone();
        body["step"] = json!(15);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, expected) in [
        (series(json!({"step": 0})), "step must be a positive"),
        (
            series(json!({"groupBy": ["no_such_label"]})),
            "unknown group_by label \"no_such_label\"",
        ),
        (
            series(json!({"groupBy": ["bad-name"]})),
            "invalid group_by label name",
        ),
    ] {
        let reply = connect_json(&server, "SelectSeries", body, &[]).await;
        assert_error(&reply, 400, "invalid_argument", &[expected]);
    }
    let reply = connect_json(
        &server,
        "SelectMergeStacktraces",
        with("format", json!("PROFILE_FORMAT_DOT")),
        &[],
    )
    .await;
    assert_error(&reply, 501, "unimplemented", &["PROFILE_FORMAT_DOT"]);
    let reply = connect_json(&server, "SelectHeatmap", json!({}), &[]).await;
    assert_error(&reply, 501, "unimplemented", &["SelectHeatmap"]);
}

#[tokio::test]
async fn grpc_client_and_status_codes() {
    let server = TestServer::start().await;
    let mut builder = Client::builder(TokioExecutor::new());
    builder.http2_only(true);
    let mut client =
        QuerierServiceClient::with_origin(builder.build_http(), server.url("").parse().unwrap());
    let response = client
        .select_merge_stacktraces(stacktraces(ProfileFormat::Flamegraph))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.flamegraph.unwrap(), flamegraph(&tree_a(), 8192));
    let mut bad = stacktraces(ProfileFormat::Flamegraph);
    bad.label_selector = "{".into();
    let status = client.select_merge_stacktraces(bad).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("label_selector"), "{status:?}");
}

#[tokio::test]
async fn tenants_see_only_their_data() {
    let mut config = KilnConfig::default();
    config.auth.multitenancy_enabled = true;
    let server = TestServer::with_engine(config, Arc::new(FakeEngine::for_tenant("team-a"))).await;
    let as_b = [("x-scope-orgid", "team-b")];
    let reply = connect_json(&server, "ProfileTypes", json!({}), &as_b).await;
    assert_eq!(reply.json(), json!({}));
    let reply = connect_json(&server, "LabelNames", json!({}), &as_b).await;
    assert_eq!(reply.json(), json!({}));
    let (start, end) = last_hour();
    let body = json!({"profileTypeID": CPU, "start": start, "end": end});
    let reply = connect_json(&server, "SelectMergeStacktraces", body.clone(), &as_b).await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["unknown profile type", "known types: none"],
    );
    let reply = connect_json(
        &server,
        "SelectMergeStacktraces",
        body.clone(),
        &[("x-scope-orgid", "team-a")],
    )
    .await;
    assert_eq!(reply.json()["flamegraph"]["total"], "52");
    let reply = connect_json(&server, "SelectMergeStacktraces", body, &[]).await;
    assert_error(&reply, 401, "unauthenticated", &["X-Scope-OrgID"]);
    let reply = get(&server.url("/pyroscope/label-values?label=__name__")).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let seen = server.engine.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|t| t == "team-a" || t == "team-b"),
        "{seen:?}"
    );
}

fn render_url(server: &TestServer, query: &str, start: i64, end: i64, extra: &str) -> String {
    let query: String = query
        .bytes()
        .map(|b| match b {
            b'{' => "%7B".to_string(),
            b'}' => "%7D".to_string(),
            b'"' => "%22".to_string(),
            b'=' => "%3D".to_string(),
            b => (b as char).to_string(),
        })
        .collect();
    server.url(&format!(
        "/pyroscope/render?query={query}&from={start}&until={end}{extra}"
    ))
}

#[tokio::test]
async fn render_flamebearer_json() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let url = render_url(
        &server,
        &format!("{CPU}{{}}"),
        start,
        end,
        "&groupBy=service_name&max-nodes=0",
    );
    let reply = get(&url).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    // 1 h → 15 s steps, 241 slots from `start` (a minute boundary); the
    // fake's points at start+15 s (3) and start+45 s (5).
    let mut samples = vec![0u64; 241];
    samples[1] = 3;
    samples[3] = 5;
    let timeline = json!({"startTime": start / 1000, "samples": samples, "durationDelta": 15, "watermarks": null});
    assert_eq!(
        reply.json(),
        json!({
            "version": 1,
            "flamebearer": {
                "names": ["total", "main", "work", "hash", "idle", "gc"],
                "levels": [[0, 52, 0, 0], [0, 7, 7, 5, 0, 45, 0, 1], [7, 5, 5, 4, 0, 40, 10, 2], [22, 30, 30, 3]],
                "numTicks": 52,
                "maxSelf": 30
            },
            "metadata": {"format": "single", "spyName": "", "sampleRate": 1_000_000_000, "units": "samples", "name": "cpu"},
            "timeline": timeline,
            "groups": {"a": timeline, "b": timeline},
            "heatmap": null
        })
    );
    // maxNodes wins over max-nodes; avg is accepted.
    let url = render_url(
        &server,
        &format!("{CPU}{{service_name=\"a\"}}"),
        start,
        end,
        "&max-nodes=50&maxNodes=2&aggregation=avg",
    );
    let json = get(&url).await.json();
    assert_eq!(
        json["flamebearer"]["names"],
        json!(["total", "other", "main", "work"])
    );
    assert_eq!(json["groups"], Value::Null);
}

#[tokio::test]
async fn render_diff_and_label_values() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let url = server.url(&format!(
        "/pyroscope/render-diff?leftQuery={CPU}%7B%7D&leftFrom={start}&leftUntil={end}\
         &rightQuery={CPU}%7Bservice_name%3D%22b%22%7D&rightFrom={start}&rightUntil={end}"
    ));
    let reply = get(&url).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let json = reply.json();
    assert_eq!(json["metadata"]["format"], "double");
    assert_eq!(
        (json["leftTicks"].clone(), json["rightTicks"].clone()),
        (json!(52), json!(23))
    );
    assert_eq!(json["flamebearer"]["numTicks"], 75);
    assert_eq!(
        json["flamebearer"]["levels"][3],
        json!([22, 30, 30, 23, 0, 0, 3])
    );
    assert_eq!(json["timeline"], Value::Null);

    let url = server.url(&format!(
        "/pyroscope/render-diff?leftQuery={CPU}%7B%7D&rightQuery={INUSE}%7B%7D"
    ));
    assert_error(
        &get(&url).await,
        400,
        "invalid_argument",
        &["profile types must match"],
    );

    let reply = get(&server.url("/pyroscope/label-values?label=__name__")).await;
    assert_eq!(reply.json(), json!([INUSE, CPU]));
    let reply = get(&server.url("/pyroscope/label-values?label=service_name")).await;
    assert_eq!(reply.json(), json!(["a", "b"]));
    let reply = get(&server.url("/pyroscope/label-values")).await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["label parameter is required"],
    );
}

#[tokio::test]
async fn render_errors_are_json() {
    let server = TestServer::start().await;
    let (start, end) = last_hour();
    let reply = get(&server.url("/pyroscope/render")).await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["query parameter is required"],
    );
    let reply = get(&render_url(&server, "{service_name=\"a\"}", start, end, "")).await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["must start with a profile type ID"],
    );
    let reply = get(&render_url(&server, CPU, start, end, "&format=dot")).await;
    assert_error(&reply, 501, "unimplemented", &["format=dot"]);
    let reply = get(&render_url(&server, CPU, start, end, "&maxNodes=abc")).await;
    assert_error(
        &reply,
        400,
        "invalid_argument",
        &["maxNodes must be an integer"],
    );
    let reply = get(&render_url(&server, CPU, end, start, "")).await;
    assert_error(&reply, 400, "invalid_argument", &["is before start"]);
    let url = server.url(&format!("/pyroscope/render?query={CPU}&from=yesterday"));
    assert_error(&get(&url).await, 400, "invalid_argument", &["from:"]);
    // `now-1h` … `now` is the default range.
    let url = server.url(&format!("/pyroscope/render?query={CPU}"));
    assert_eq!(get(&url).await.json()["flamebearer"]["numTicks"], 52);
}

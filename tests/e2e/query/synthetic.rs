//! Profiles with known stacks in, exact encodings out: the golden values
//! below are computed by hand from [`TREE_A`] and [`TREE_B`] with the rules
//! of spec §2.2–2.4, not by the server's encoders.

use kiln_model::flamegraph::{decode_flamegraph, flamegraph};
use kiln_model::tree_pprof::pprof_to_tree;
use kiln_proto::google::v1::Profile;
use kiln_proto::querier::v1::{
    ProfileFormat, SelectMergeProfileRequest, SelectMergeStacktracesRequest,
    SelectMergeStacktracesResponse,
};
use serde_json::{Value, json};

use super::*;
use crate::fixtures::PprofBuilder;

/// Tree A as protojson (int64 as strings): names in walk order (last child
/// first), per-level delta-encoded x offsets.
fn golden_a() -> Value {
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
}

fn stacktraces(
    selector: &str,
    start: i64,
    end: i64,
    format: ProfileFormat,
) -> SelectMergeStacktracesRequest {
    SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: selector.into(),
        start,
        end,
        format: format as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn flame_graphs_trees_pprof_and_diffs_are_exact() {
    let server = KilnServer::builder().any_timestamp().start().await;
    let t = minutes_ago(10);
    let checkout = [("service_name", "checkout"), ("env", "prod")];
    // Tree A over two profiles: the answer merges them.
    push_cpu(&server, None, &checkout, t, &TREE_A[..2]).await;
    push_cpu(&server, None, &checkout, t + 10_000, &TREE_A[2..]).await;
    push_cpu(&server, None, &[("service_name", "search")], t, TREE_B).await;
    let (start, end) = (t - 60_000, t + 60_000);
    let checkout_only = r#"{service_name="checkout"}"#;

    // Flame graph, Connect JSON.
    let body = with(
        selection(CPU, checkout_only, start, end),
        json!({"format": "PROFILE_FORMAT_FLAMEGRAPH"}),
    );
    assert_eq!(
        rpc_ok(&server, "SelectMergeStacktraces", body, None).await,
        golden_a()
    );

    // Unspecified format is a flame graph too; a regex selector; binary proto.
    let request = stacktraces(
        r#"{service_name=~"check.*"}"#,
        start,
        end,
        ProfileFormat::Unspecified,
    );
    let response: SelectMergeStacktracesResponse =
        rpc_proto(&server, "SelectMergeStacktraces", &request, None).await;
    assert_eq!(
        decode_flamegraph(&response.flamegraph.unwrap()).unwrap(),
        tree_of(TREE_A)
    );

    // Tree bytes: pre-order, last child first, virtual root "".
    let request = stacktraces(checkout_only, start, end, ProfileFormat::Tree);
    let response: SelectMergeStacktracesResponse =
        rpc_proto(&server, "SelectMergeStacktraces", &request, None).await;
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
    assert_eq!(response.tree, golden);

    // pprof export, decoded and compared; and the bare SelectMergeProfile.
    let request = stacktraces(checkout_only, start, end, ProfileFormat::Pprof);
    let response: SelectMergeStacktracesResponse =
        rpc_proto(&server, "SelectMergeStacktraces", &request, None).await;
    let profile = response.pprof.unwrap().profile.unwrap();
    assert_eq!(pprof_to_tree(&profile).unwrap(), tree_of(TREE_A));
    let s = |i: i64| profile.string_table[i as usize].clone();
    assert_eq!(
        (
            s(profile.sample_type[0].r#type),
            s(profile.sample_type[0].unit)
        ),
        ("cpu".into(), "nanoseconds".into())
    );
    let request = SelectMergeProfileRequest {
        profile_type_id: CPU.into(),
        label_selector: checkout_only.into(),
        start,
        end,
        ..Default::default()
    };
    let bare: Profile = rpc_proto(&server, "SelectMergeProfile", &request, None).await;
    assert_eq!(pprof_to_tree(&bare).unwrap(), tree_of(TREE_A));

    // max_nodes = 2 keeps the two largest nodes (main 45, work 40).
    let mut request = stacktraces(checkout_only, start, end, ProfileFormat::Flamegraph);
    request.max_nodes = Some(2);
    let response: SelectMergeStacktracesResponse =
        rpc_proto(&server, "SelectMergeStacktraces", &request, None).await;
    let graph = response.flamegraph.unwrap();
    assert_eq!(graph, flamegraph(&tree_of(TREE_A), 2));
    assert_eq!(graph.names, ["total", "other", "main", "work"]);
    assert_eq!((graph.total, graph.max_self), (52, 30));

    // A call-site prefix keeps whole stacks that start main;work.
    let body = with(
        selection(CPU, checkout_only, start, end),
        json!({"stackTraceSelector": {"callSite": [{"name": "main"}, {"name": "work"}]}}),
    );
    let json = rpc_ok(&server, "SelectMergeStacktraces", body, None).await;
    let graph: kiln_proto::querier::v1::FlameGraph =
        serde_json::from_value(json["flamegraph"].clone()).unwrap();
    assert_eq!(decode_flamegraph(&graph).unwrap(), tree_of(&TREE_A[..2]));

    // Diff: 7-tuples, both x columns delta-encoded, total = left + right.
    let body = json!({
        "left": selection(CPU, checkout_only, start, end),
        "right": selection(CPU, r#"{service_name="search"}"#, start, end),
    });
    assert_eq!(
        rpc_ok(&server, "Diff", body, None).await,
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

    // The render APIs: the same numbers, as JSON numbers.
    let url = server.url(&format!(
        "/pyroscope/render?query={}&from={start}&until={end}",
        escape(&format!("{CPU}{checkout_only}"))
    ));
    let reply = get(&url).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let json = reply.json();
    assert_eq!(
        json["flamebearer"],
        json!({
            "names": ["total", "main", "work", "hash", "idle", "gc"],
            "levels": [[0, 52, 0, 0], [0, 7, 7, 5, 0, 45, 0, 1], [7, 5, 5, 4, 0, 40, 10, 2], [22, 30, 30, 3]],
            "numTicks": 52,
            "maxSelf": 30
        })
    );
    assert_eq!(
        json["metadata"],
        json!({"format": "single", "spyName": "", "sampleRate": 1_000_000_000, "units": "samples", "name": "cpu"})
    );
    let samples: Vec<i64> = serde_json::from_value(json["timeline"]["samples"].clone()).unwrap();
    assert_eq!(
        samples.iter().sum::<i64>(),
        52,
        "every profile is on the timeline"
    );
    assert_eq!(json["timeline"]["durationDelta"], 15);

    let url = server.url(&format!(
        "/pyroscope/render-diff?leftQuery={}&leftFrom={start}&leftUntil={end}&rightQuery={}&rightFrom={start}&rightUntil={end}",
        escape(&format!("{CPU}{checkout_only}")),
        escape(&format!(r#"{CPU}{{service_name="search"}}"#)),
    ));
    let json = get(&url).await.json();
    assert_eq!(
        (json["leftTicks"].as_i64(), json["rightTicks"].as_i64()),
        (Some(52), Some(23))
    );
    assert_eq!(json["metadata"]["format"], "double");
    assert_eq!(
        json["flamebearer"]["levels"][3],
        json!([22, 30, 30, 23, 0, 0, 3])
    );
}

#[tokio::test]
async fn span_and_profile_id_selectors() {
    let server = KilnServer::builder().any_timestamp().start().await;
    let t = minutes_ago(5);
    let mut pprof = PprofBuilder::cpu()
        .time(t * 1_000_000)
        .sample(&["main", "a"], &[10])
        .sample(&["main", "b"], &[20])
        .sample(&["main", "c"], &[40]);
    label_sample(&mut pprof, 0, "span_id", "00000000000000aa");
    label_sample(&mut pprof, 1, "span_id", "00000000000000bb");
    push(
        &server,
        None,
        "process_cpu",
        &[("service_name", "spans")],
        pprof.encode(),
    )
    .await;
    let (start, end) = (t - 60_000, t + 60_000);
    let base = selection(CPU, r#"{service_name="spans"}"#, start, end);

    let span_total = |spans: Value| {
        let body = with(base.clone(), json!({"spanSelector": spans}));
        let server = &server;
        async move {
            let json = rpc_ok(server, "SelectMergeSpanProfile", body, None).await;
            json["flamegraph"]["total"]
                .as_str()
                .unwrap_or("0")
                .to_string()
        }
    };
    assert_eq!(span_total(json!(["00000000000000aa"])).await, "10");
    assert_eq!(
        span_total(json!(["00000000000000aa", "00000000000000bb"])).await,
        "30"
    );
    assert_eq!(span_total(json!([])).await, "0", "no span selects nothing");
    let body = with(base.clone(), json!({"spanSelector": ["00000000000000bb"]}));
    let json = rpc_ok(&server, "SelectMergeStacktraces", body, None).await;
    assert_eq!(json["flamegraph"]["total"], "20");
    assert_eq!(json["flamegraph"]["names"], json!(["total", "main", "b"]));
    let json = rpc_ok(&server, "SelectMergeStacktraces", base.clone(), None).await;
    assert_eq!(json["flamegraph"]["total"], "70");

    // Profile ids are the server's: read them back from storage.
    push_cpu(
        &server,
        None,
        &[("service_name", "ids")],
        t,
        &[(&["main", "x"], 5)],
    )
    .await;
    push_cpu(
        &server,
        None,
        &[("service_name", "ids")],
        t + 1_000,
        &[(&["main", "y"], 7)],
    )
    .await;
    let stored = server.stored().await;
    let profiles: Vec<_> = stored
        .of("anonymous", "ids")
        .flat_map(|s| s.profiles.clone())
        .collect();
    let id_of = |total: i64| {
        profiles
            .iter()
            .find(|p| p.total == total)
            .unwrap()
            .profile_id
            .clone()
    };
    let ids = selection(CPU, r#"{service_name="ids"}"#, start, end);
    let body = with(
        ids.clone(),
        json!({"profileIdSelector": [id_of(7).to_uppercase()]}),
    );
    let json = rpc_ok(&server, "SelectMergeStacktraces", body, None).await;
    assert_eq!(json["flamegraph"]["names"], json!(["total", "main", "y"]));
    assert_eq!(json["flamegraph"]["total"], "7");
    let body = with(ids, json!({"profileIdSelector": [id_of(5), id_of(7)]}));
    let json = rpc_ok(&server, "SelectMergeStacktraces", body, None).await;
    assert_eq!(json["flamegraph"]["total"], "12");
}

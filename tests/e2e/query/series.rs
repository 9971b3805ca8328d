//! SelectSeries through the real engine: points on `start + k·step`
//! boundaries (a profile counts in the first boundary ≥ its time), empty
//! buckets omitted, SUM versus AVERAGE, `group_by`, `limit`; and the same
//! data on the render timeline (zero-filled, 15 s slots).

use serde_json::{Value, json};

use super::*;

/// Profiles of service `series` (pod, offset from T0 in ms, value): two
/// land exactly on boundaries, one a millisecond after one.
const PROFILES: [(&str, i64, i64); 5] = [
    ("p0", 0, 1),
    ("p0", 1_000, 2),
    ("p1", 10_000, 4),
    ("p0", 10_001, 8),
    ("p1", 35_000, 16),
];

fn points(t0: i64, points: &[(i64, f64)]) -> Value {
    Value::Array(
        points
            .iter()
            .map(|(offset, value)| json!({"value": value, "timestamp": (t0 + offset).to_string()}))
            .collect(),
    )
}

#[tokio::test]
async fn buckets_aggregation_group_by_and_limit() {
    let server = KilnServer::builder().any_timestamp().start().await;
    let t0 = minutes_ago(20);
    for (pod, offset, value) in PROFILES {
        let labels = [("service_name", "series"), ("pod", pod)];
        push_cpu(
            &server,
            None,
            &labels,
            t0 + offset,
            &[(&["main", pod], value)],
        )
        .await;
    }
    let base = with(
        selection(CPU, r#"{service_name="series"}"#, t0, t0 + 60_000),
        json!({"step": 10}),
    );

    // SUM (the default): T0 ← 1; T0+10s ← 2 + 4 (10 s is ≤ the boundary);
    // T0+20s ← 8 (10.001 s); T0+30s empty, omitted; T0+40s ← 16.
    let json = rpc_ok(&server, "SelectSeries", base.clone(), None).await;
    assert_eq!(
        json,
        json!({"series": [{"points": points(t0, &[(0, 1.0), (10_000, 6.0), (20_000, 8.0), (40_000, 16.0)])}]})
    );

    // AVERAGE: the mean over the profiles of each step.
    let body = with(
        base.clone(),
        json!({"aggregation": "TIME_SERIES_AGGREGATION_TYPE_AVERAGE"}),
    );
    let json = rpc_ok(&server, "SelectSeries", body, None).await;
    assert_eq!(
        json["series"][0]["points"],
        points(
            t0,
            &[(0, 1.0), (10_000, 3.0), (20_000, 8.0), (40_000, 16.0)]
        )
    );

    // group_by pod: one series per pod, sorted by labels.
    let body = with(base.clone(), json!({"groupBy": ["pod"]}));
    let json = rpc_ok(&server, "SelectSeries", body, None).await;
    assert_eq!(
        json,
        json!({"series": [
            {"labels": [{"name": "pod", "value": "p0"}],
             "points": points(t0, &[(0, 1.0), (10_000, 2.0), (20_000, 8.0)])},
            {"labels": [{"name": "pod", "value": "p1"}],
             "points": points(t0, &[(10_000, 4.0), (40_000, 16.0)])}
        ]})
    );

    // limit 1: the top series by total (p1: 20 > p0: 11).
    let body = with(base.clone(), json!({"groupBy": ["pod"], "limit": 1}));
    let json = rpc_ok(&server, "SelectSeries", body, None).await;
    assert_eq!(json["series"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(
        json["series"][0]["labels"],
        json!([{"name": "pod", "value": "p1"}])
    );

    // A range that starts after a profile leaves it out; boundaries move with start.
    let body = with(
        selection(CPU, r#"{service_name="series"}"#, t0 + 5_000, t0 + 60_000),
        json!({"step": 10}),
    );
    let json = rpc_ok(&server, "SelectSeries", body, None).await;
    assert_eq!(
        json["series"][0]["points"],
        points(t0, &[(15_000, 12.0), (35_000, 16.0)])
    );

    // The render timeline: 15 s slots from T0 (a minute boundary) to T0+60s.
    let query = escape(&format!(r#"{CPU}{{service_name="series"}}"#));
    let url = server.url(&format!(
        "/pyroscope/render?query={query}&from={t0}&until={}&groupBy=pod",
        t0 + 60_000
    ));
    let json = get(&url).await.json();
    let timeline = |samples: Value| json!({"startTime": t0 / 1000, "samples": samples, "durationDelta": 15, "watermarks": null});
    assert_eq!(json["timeline"], timeline(json!([1, 14, 0, 16, 0])));
    assert_eq!(
        json["groups"],
        json!({"p0": timeline(json!([1, 10, 0, 0, 0])), "p1": timeline(json!([0, 4, 0, 16, 0]))})
    );
    assert_eq!(json["flamebearer"]["numTicks"], 31);
}

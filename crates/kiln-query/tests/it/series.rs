//! `select_series`: buckets, grouping, aggregation and limits.

use crate::common::*;
use kiln_model::selector::Selector;
use kiln_model::{Labels, NormalizedProfile};
use kiln_proto::types::v1::Series;
use kiln_query::{Aggregation, QueryEngine, SeriesQuery};
use std::collections::BTreeMap;

fn series_query(
    tenant: &str,
    pt: &kiln_model::ProfileType,
    selector: &str,
    (start, end): (i64, i64),
    step_seconds: f64,
    group_by: &[&str],
    aggregation: Aggregation,
) -> SeriesQuery {
    SeriesQuery {
        profiles: query(tenant, pt, selector, start, end),
        step_seconds,
        group_by: group_by.iter().map(|s| s.to_string()).collect(),
        aggregation,
        limit: None,
    }
}

/// (labels as "k=v,…", [(timestamp, value)]) per series, for readable asserts.
fn simple(series: &[Series]) -> Vec<(String, Vec<(i64, f64)>)> {
    series
        .iter()
        .map(|s| {
            let labels = s
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",");
            let points = s
                .points
                .iter()
                .map(|p| (p.timestamp - T0, p.value))
                .collect();
            (labels, points)
        })
        .collect()
}

/// The gauge dataset of the docs: pod a at 0 s, 5 s, 10 s; pod b at 10 s, 35 s.
fn gauges() -> Vec<NormalizedProfile> {
    let at = |pod: &str, s: i64, v: i64| {
        profile(
            "api",
            &inuse(),
            &[("pod", pod)],
            T0 * MS + s * SEC,
            &[("main;alloc", v)],
        )
    };
    vec![
        at("a", 0, 10),
        at("a", 5, 20),
        at("a", 10, 30),
        at("b", 10, 60),
        at("b", 35, 5),
    ]
}

#[tokio::test]
async fn buckets_sum_average_group_by_and_limit() {
    let env = Env::memory();
    env.write_split("t", &gauges(), 2).await;
    let range = (T0, T0 + 40_000);
    let run = |group_by: &'static [&'static str], aggregation, limit| {
        let mut q = series_query("t", &inuse(), "{}", range, 10.0, group_by, aggregation);
        q.limit = limit;
        let engine = &env.engine;
        async move { simple(&engine.select_series(&q).await.unwrap()) }
    };
    // Boundaries 0, 10, 20, 30, 40 s: a profile at t goes to the first one ≥ t;
    // 20 s and 30 s are empty and omitted.
    assert_eq!(
        run(&[], Aggregation::Sum, None).await,
        vec![(
            String::new(),
            vec![(0, 10.0), (10_000, 110.0), (40_000, 5.0)]
        )]
    );
    assert_eq!(
        run(&[], Aggregation::Average, None).await,
        vec![(
            String::new(),
            vec![(0, 10.0), (10_000, 110.0 / 3.0), (40_000, 5.0)]
        )]
    );
    let by_pod = vec![
        ("pod=a".to_string(), vec![(0, 10.0), (10_000, 50.0)]),
        ("pod=b".to_string(), vec![(10_000, 60.0), (40_000, 5.0)]),
    ];
    assert_eq!(run(&["pod"], Aggregation::Sum, None).await, by_pod);
    assert_eq!(
        run(&["pod"], Aggregation::Average, None).await,
        vec![
            ("pod=a".to_string(), vec![(0, 10.0), (10_000, 25.0)]),
            ("pod=b".to_string(), vec![(10_000, 60.0), (40_000, 5.0)]),
        ]
    );
    // Top-1 by total: b (65) beats a (60); limit 0 means no limit.
    assert_eq!(run(&["pod"], Aggregation::Sum, Some(1)).await, by_pod[1..]);
    assert_eq!(run(&["pod"], Aggregation::Sum, Some(5)).await, by_pod);
    assert_eq!(run(&["pod"], Aggregation::Sum, Some(0)).await, by_pod);
    // Grouping by a label nobody has, or by two labels.
    assert_eq!(
        run(&["nope"], Aggregation::Sum, None).await,
        vec![(
            String::new(),
            vec![(0, 10.0), (10_000, 110.0), (40_000, 5.0)]
        )]
    );
    assert_eq!(
        run(&["service_name", "pod"], Aggregation::Sum, None).await,
        vec![
            (
                "pod=a,service_name=api".to_string(),
                vec![(0, 10.0), (10_000, 50.0)]
            ),
            (
                "pod=b,service_name=api".to_string(),
                vec![(10_000, 60.0), (40_000, 5.0)]
            ),
        ]
    );
}

#[tokio::test]
async fn bucket_boundaries_and_range_end() {
    let env = Env::memory();
    let at = |ns: i64, v: i64| profile("s", &cpu(), &[], ns, &[("f", v)]);
    env.write(
        "t",
        &[
            at(T0 * MS, 1),             // = start → bucket 0
            at(T0 * MS + 999_999, 2),   // same ms as start → bucket 0
            at((T0 + 1) * MS, 4),       // start + 1 ms → bucket 10 s
            at((T0 + 10_000) * MS, 8),  // exactly a boundary → bucket 10 s
            at((T0 + 10_001) * MS, 16), // → bucket 20 s
            at((T0 + 22_000) * MS, 32), // → bucket 30 s > end (25 s): dropped
        ],
    )
    .await;
    let q = series_query(
        "t",
        &cpu(),
        "{}",
        (T0, T0 + 25_000),
        10.0,
        &[],
        Aggregation::Sum,
    );
    assert_eq!(
        simple(&env.engine.select_series(&q).await.unwrap()),
        vec![(
            String::new(),
            vec![(0, 3.0), (10_000, 12.0), (20_000, 16.0)]
        )]
    );
    // A fractional step (Pyroscope truncates to ms) and a start off the grid.
    let q = series_query(
        "t",
        &cpu(),
        "{}",
        (T0 + 1, T0 + 30_000),
        7.5,
        &[],
        Aggregation::Sum,
    );
    assert_eq!(
        simple(&env.engine.select_series(&q).await.unwrap()),
        vec![(
            String::new(),
            vec![(1, 4.0), (15_001, 24.0), (22_501, 32.0)]
        )]
    );
    let bad = series_query("t", &cpu(), "{}", (T0, T0 + 1), 0.0, &[], Aggregation::Sum);
    assert!(env.engine.select_series(&bad).await.is_err());
}

/// Brute-force SelectSeries over the shared dataset, for every grouping.
fn expected(
    data: &[NormalizedProfile],
    q: &SeriesQuery,
    value: impl Fn(&NormalizedProfile) -> i64,
) -> Vec<(String, Vec<(i64, f64)>)> {
    let selector = &q.profiles.selector;
    let step = (q.step_seconds * 1000.0) as i64;
    let (start, end) = (q.profiles.start_ms, q.profiles.end_ms);
    let mut groups: BTreeMap<Labels, BTreeMap<i64, (i64, i64)>> = BTreeMap::new();
    for p in data {
        let t = p.time_nanos / MS;
        if p.profile_type != q.profiles.profile_type
            || !selector.matches(&p.labels)
            || t < start
            || t > end
        {
            continue;
        }
        let k = (t - start + step - 1) / step;
        let bucket = start + k * step;
        if bucket > end {
            continue;
        }
        let key: Labels = p
            .labels
            .iter()
            .filter(|l| q.group_by.contains(&l.name))
            .cloned()
            .collect();
        let slot = groups.entry(key).or_default().entry(bucket).or_default();
        slot.0 += value(p);
        slot.1 += 1;
    }
    let series: Vec<Series> = groups
        .into_iter()
        .map(|(labels, points)| Series {
            labels: labels
                .iter()
                .map(|l| kiln_proto::types::v1::LabelPair {
                    name: l.name.clone(),
                    value: l.value.clone(),
                })
                .collect(),
            points: points
                .into_iter()
                .map(|(ts, (sum, n))| kiln_proto::types::v1::Point {
                    timestamp: ts,
                    value: match q.aggregation {
                        Aggregation::Sum => sum as f64,
                        Aggregation::Average => sum as f64 / n as f64,
                    },
                    ..Default::default()
                })
                .collect(),
        })
        .collect();
    simple(&series)
}

#[tokio::test]
async fn matches_brute_force_over_several_blocks() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("a", &data, 3).await;
    for (sel, group_by, agg, step) in [
        ("{}", vec![], Aggregation::Sum, 15.0),
        ("{}", vec!["service_name"], Aggregation::Sum, 30.0),
        (
            r#"{env="prod"}"#,
            vec!["pod", "env"],
            Aggregation::Average,
            20.0,
        ),
        (
            r#"{service_name=~"a.*"}"#,
            vec!["env"],
            Aggregation::Average,
            60.0,
        ),
    ] {
        let q = series_query(
            "a",
            &cpu(),
            sel,
            (T0 + 7_000, T0 + 100_000),
            step,
            &group_by,
            agg,
        );
        let got = simple(&env.engine.select_series(&q).await.unwrap());
        assert_eq!(
            got,
            expected(&data, &q, NormalizedProfile::total),
            "{sel} by {group_by:?}"
        );
        assert!(!got.is_empty());
    }
}

#[tokio::test]
async fn call_site_totals_come_from_matching_samples() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("a", &data, 2).await;
    let site = ["main", "serve", "handle"];
    for agg in [Aggregation::Sum, Aggregation::Average] {
        let mut q = series_query("a", &cpu(), "{}", (T0, T0 + 120_000), 30.0, &["pod"], agg);
        q.profiles.call_site = site.iter().map(|s| s.to_string()).collect();
        let under_site = |p: &NormalizedProfile| {
            tree_of([p], |_, names, _| names.len() >= 3 && names[..3] == site).total()
        };
        let got = simple(&env.engine.select_series(&q).await.unwrap());
        // db-1 has no such stack: its profiles count as 0 in their buckets.
        assert_eq!(got, expected(&data, &q, under_site), "{agg:?}");
        assert!(
            got.iter()
                .any(|(l, p)| l == "pod=db-1" && p.iter().all(|&(_, v)| v == 0.0))
        );
        let api1 = got.iter().find(|(l, _)| l == "pod=api-1").unwrap();
        assert!(api1.1.iter().all(|&(_, v)| v > 0.0));
    }
    // The selector still applies.
    let mut q = series_query(
        "a",
        &cpu(),
        r#"{pod="api-2"}"#,
        (T0, T0 + 120_000),
        30.0,
        &[],
        Aggregation::Sum,
    );
    q.profiles.call_site = vec!["main".into(), "serve".into(), "auth.Check".into()];
    let got = simple(&env.engine.select_series(&q).await.unwrap());
    let sel = Selector::parse(r#"{pod="api-2"}"#).unwrap();
    let total: f64 = got[0].1.iter().map(|p| p.1).sum();
    let want: i64 = data
        .iter()
        .filter(|p| p.profile_type == cpu() && sel.matches(&p.labels))
        .map(|p| tree_of([p], |_, n, _| n.last() == Some(&"auth.Check")).total())
        .sum();
    assert_eq!(total, want as f64);
}

//! Label names, values, series, profile types and stats.

use crate::common::*;
use kiln_model::Labels;
use kiln_query::{ProfileStats, QueryEngine};
use std::collections::BTreeSet;

const END: i64 = T0 + 3_600_000;

/// Brute force: label sets of the dataset's series matching any selector.
fn series_of(selectors: &[&str]) -> BTreeSet<Labels> {
    let sels: Vec<_> = selectors
        .iter()
        .map(|s| kiln_model::selector::Selector::parse(s).unwrap())
        .collect();
    dataset()
        .into_iter()
        .filter(|p| sels.is_empty() || sels.iter().any(|s| s.matches(&p.labels)))
        .map(|p| p.labels)
        .collect()
}

#[tokio::test]
async fn names_values_and_series_union_over_selectors() {
    let env = Env::memory();
    env.write_split("a", &dataset(), 3).await;
    let cases: [&[&str]; 6] = [
        &[],
        &["{}"],
        &[r#"{service_name="db"}"#],
        &[
            r#"{service_name="db"}"#,
            r#"{__profile_type__="memory:alloc_space:bytes:space:bytes"}"#,
        ],
        &[r#"{env!="prod"}"#, r#"{region=~"e."}"#],
        &[r#"{service_name="none"}"#],
    ];
    for selectors in cases {
        let q = labels_query("a", selectors, T0, END);
        let want = series_of(selectors);

        let names: BTreeSet<String> = want
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()))
            .collect();
        let got = env.engine.label_names(&q).await.unwrap();
        assert_eq!(
            got,
            names.into_iter().collect::<Vec<_>>(),
            "names {selectors:?}"
        );

        for name in ["pod", "service_name", "__profile_type__", "region", "nope"] {
            let values: BTreeSet<String> = want
                .iter()
                .filter_map(|l| l.get(name))
                .map(str::to_string)
                .collect();
            let got = env.engine.label_values(&q, name).await.unwrap();
            assert_eq!(
                got,
                values.into_iter().collect::<Vec<_>>(),
                "values of {name} {selectors:?}"
            );
        }

        let got = env.engine.series(&q, &[]).await.unwrap();
        assert_eq!(
            got,
            want.iter().cloned().collect::<Vec<_>>(),
            "series {selectors:?}"
        );

        let keep = ["service_name".to_string(), "env".to_string()];
        let reduced: BTreeSet<Labels> = want
            .iter()
            .map(|l| {
                l.iter()
                    .filter(|l| keep.contains(&l.name))
                    .cloned()
                    .collect()
            })
            .collect();
        let got = env.engine.series(&q, &keep).await.unwrap();
        assert_eq!(
            got,
            reduced.into_iter().collect::<Vec<_>>(),
            "reduced series {selectors:?}"
        );
    }
}

#[tokio::test]
async fn label_apis_respect_the_time_range() {
    let env = Env::memory();
    let early = profile("early", &cpu(), &[("a", "1")], T0 * MS, &[("f", 1)]);
    let late = profile(
        "late",
        &alloc(),
        &[("b", "2")],
        (T0 + 60_000) * MS,
        &[("f", 1)],
    );
    env.write("t", &[early]).await;
    env.write("t", &[late]).await;
    let q = labels_query("t", &[], T0, T0 + 1_000);
    assert_eq!(
        env.engine.label_values(&q, "service_name").await.unwrap(),
        ["early"]
    );
    assert!(
        env.engine
            .label_names(&q)
            .await
            .unwrap()
            .contains(&"a".to_string())
    );
    assert!(
        !env.engine
            .label_names(&q)
            .await
            .unwrap()
            .contains(&"b".to_string())
    );
    let types = env.engine.profile_types("t", T0, T0 + 1_000).await.unwrap();
    assert_eq!(types, [cpu()]);
    let types = env
        .engine
        .profile_types("t", T0, T0 + 60_000)
        .await
        .unwrap();
    assert_eq!(
        types,
        [alloc(), cpu()],
        "sorted by id: memory:… before process_cpu:…"
    );
    assert!(
        env.engine
            .profile_types("t", T0 - 10, T0 - 1)
            .await
            .unwrap()
            .is_empty()
    );

    let stats = env.engine.profile_stats("t").await.unwrap();
    assert_eq!(
        stats,
        ProfileStats {
            data_ingested: true,
            oldest_profile_ms: T0,
            newest_profile_ms: T0 + 60_000,
        }
    );
    assert_eq!(
        env.engine.profile_stats("other").await.unwrap(),
        ProfileStats::default()
    );
}

#[tokio::test]
async fn tenant_b_sees_nothing_of_tenant_a() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("a", &data, 2).await;
    let b_only = profile("b-svc", &cpu(), &[("env", "b")], T0 * MS, &[("b;only", 3)]);
    env.write("b", std::slice::from_ref(&b_only)).await;

    // Warm every cache with tenant A's blocks first.
    let qa = query("a", &cpu(), "{}", T0, END);
    assert!(env.engine.merge_tree(&qa).await.unwrap().total() > 0);

    for tenant in ["b", "c"] {
        let own = if tenant == "b" {
            vec![b_only.clone()]
        } else {
            vec![]
        };
        let q = query(tenant, &cpu(), "{}", T0, END);
        let tree = env.engine.merge_tree(&q).await.unwrap();
        assert_tree(&tree, &tree_of(&own, |_, _, _| true), tenant);
        let sq = kiln_query::SeriesQuery {
            profiles: q.clone(),
            step_seconds: 10.0,
            group_by: vec!["service_name".into()],
            aggregation: Default::default(),
            limit: None,
        };
        let series = env.engine.select_series(&sq).await.unwrap();
        assert!(
            series
                .iter()
                .all(|s| s.labels.iter().all(|l| l.value != "api" && l.value != "db"))
        );
        assert_eq!(series.len(), own.len());
        let lq = labels_query(tenant, &[], T0, END);
        let services = env.engine.label_values(&lq, "service_name").await.unwrap();
        assert_eq!(
            services,
            own.iter()
                .map(|p| p.service_name().to_string())
                .collect::<Vec<_>>()
        );
        let names = env.engine.label_names(&lq).await.unwrap();
        assert!(!names.contains(&"pod".to_string()), "{tenant}: {names:?}");
        let series = env
            .engine
            .series(&labels_query(tenant, &["{}"], T0, END), &[])
            .await
            .unwrap();
        assert_eq!(series.len(), own.len());
        let types = env.engine.profile_types(tenant, T0, END).await.unwrap();
        assert_eq!(types.len(), own.len());
        let stats = env.engine.profile_stats(tenant).await.unwrap();
        assert_eq!(stats.data_ingested, tenant == "b");
    }
}

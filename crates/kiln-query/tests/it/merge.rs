//! `merge_tree`: exact trees against trees built straight from the inputs.

use crate::common::*;
use kiln_model::selector::Selector;
use kiln_query::QueryEngine;

const END: i64 = T0 + 3_600_000;

#[tokio::test]
async fn merges_all_blocks_exactly_on_memory_and_local_stores() {
    let data = dataset();
    for env in [Env::memory(), Env::local()] {
        env.write_split("a", &data, 3).await;
        let got = env
            .engine
            .merge_tree(&query("a", &cpu(), "{}", T0, END))
            .await
            .unwrap();
        let want = tree_of(&data, |p, _, _| p.profile_type == cpu());
        assert_tree(&got, &want, "all cpu");
        assert!(got.total() > 0);

        let got = env
            .engine
            .merge_tree(&query("a", &alloc(), "{}", T0, END))
            .await
            .unwrap();
        let want = tree_of(&data, |p, _, _| p.profile_type == alloc());
        assert_tree(&got, &want, "all alloc");
    }
}

#[tokio::test]
async fn hand_computed_tree() {
    let env = Env::memory();
    let data = [
        profile(
            "s",
            &cpu(),
            &[],
            T0 * MS,
            &[("a;b", 3), ("a;c", 4), ("a", 1)],
        ),
        profile("s", &cpu(), &[], T0 * MS + SEC, &[("a;b", 10), ("d", 5)]),
    ];
    env.write("t", &data[..1]).await;
    env.write("t", &data[1..]).await;
    let got = env
        .engine
        .merge_tree(&query("t", &cpu(), "{}", T0, T0 + 1000))
        .await
        .unwrap();
    let folded = folded(&got);
    let want: Vec<(String, i64)> = vec![
        ("a".into(), 1),
        ("a;b".into(), 13),
        ("a;c".into(), 4),
        ("d".into(), 5),
    ];
    assert_eq!(folded.into_iter().collect::<Vec<_>>(), want);
    assert_eq!(got.total(), 23);
}

#[tokio::test]
async fn selectors_with_every_matcher_type() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("a", &data, 3).await;
    let cases = [
        "{}",
        r#"{service_name="api"}"#,
        r#"{service_name="api", env="prod"}"#,
        r#"{service_name!="api"}"#,
        r#"{env=~"pro.*"}"#,
        r#"{env=~"prod|dev", pod!~"api-1"}"#,
        r#"{pod!~"api-.*"}"#,
        r#"{region=""}"#,
        r#"{region!=""}"#,
        r#"{region=~"e.|x"}"#,
        r#"{missing=~".*"}"#,
        r#"{missing=~".+"}"#,
        r#"{service_name="nope"}"#,
        r#"{env="prod", service_name=~"db|api", pod!="db-1"}"#,
    ];
    for sel in cases {
        let selector = Selector::parse(sel).unwrap();
        let got = env
            .engine
            .merge_tree(&query("a", &cpu(), sel, T0, END))
            .await
            .unwrap();
        let want = tree_of(&data, |p, _, _| {
            p.profile_type == cpu() && selector.matches(&p.labels)
        });
        assert_tree(&got, &want, sel);
    }
    // Spot checks that do not rely on Selector::matches.
    let api_prod = env
        .engine
        .merge_tree(&query("a", &cpu(), r#"{pod="api-1"}"#, T0, END))
        .await
        .unwrap();
    let want = tree_of(&data, |p, _, _| {
        p.profile_type == cpu() && p.labels.get("pod") == Some("api-1")
    });
    assert_tree(&api_prod, &want, "pod=api-1");
    let no_region = env
        .engine
        .merge_tree(&query("a", &cpu(), r#"{region=""}"#, T0, END))
        .await
        .unwrap();
    let want = tree_of(&data, |p, _, _| {
        p.profile_type == cpu() && p.service_name() == "api"
    });
    assert_tree(&no_region, &want, "region missing = api only");
}

#[tokio::test]
async fn time_range_edges_are_inclusive_in_milliseconds() {
    let env = Env::memory();
    let at = |ns: i64, v: i64| profile("s", &cpu(), &[], ns, &[("f", v)]);
    let data = vec![
        at(T0 * MS - 1, 1),               // 1 ns before start: out
        at(T0 * MS, 10),                  // exactly start: in
        at((T0 + 5) * MS + 999_999, 100), // last ns of the end ms: in
        at((T0 + 6) * MS, 1000),          // first ns after: out
    ];
    for p in &data {
        env.write("t", std::slice::from_ref(p)).await;
    }
    let total = |start, end| {
        let q = query("t", &cpu(), "{}", start, end);
        let engine = &env.engine;
        async move { engine.merge_tree(&q).await.unwrap().total() }
    };
    assert_eq!(total(T0, T0 + 5).await, 110);
    assert_eq!(total(T0, T0).await, 10);
    assert_eq!(total(T0 + 5, T0 + 5).await, 100);
    assert_eq!(total(T0 - 1, T0 + 6).await, 1111);
    assert_eq!(total(T0 + 1, T0 + 4).await, 0);
    let err = env
        .engine
        .merge_tree(&query("t", &cpu(), "{}", T0 + 1, T0))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kiln_query::QueryError::InvalidArgument(_)),
        "{err}"
    );
}

#[tokio::test]
async fn call_site_keeps_only_stacks_under_the_prefix() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("a", &data, 2).await;
    for site in [
        vec!["main"],
        vec!["main", "serve"],
        vec!["main", "serve", "handle"],
        vec!["main", "serve", "handle", "json.Encode"],
        vec!["serve"],
        vec!["main", "nope"],
    ] {
        let mut q = query("a", &cpu(), "{}", T0, END);
        q.call_site = site.iter().map(|s| s.to_string()).collect();
        let got = env.engine.merge_tree(&q).await.unwrap();
        let want = tree_of(&data, |p, names, _| {
            p.profile_type == cpu() && names.len() >= site.len() && names[..site.len()] == site[..]
        });
        assert_tree(&got, &want, &site.join(";"));
    }
}

#[tokio::test]
async fn blocks_split_any_way_give_the_same_tree() {
    let data = dataset();
    let one = Env::memory();
    one.write("a", &data).await;
    let many = Env::memory();
    many.write_split("a", &data, 5).await;
    for (pt, sel) in [(cpu(), "{}"), (cpu(), r#"{env="prod"}"#), (alloc(), "{}")] {
        let q = query("a", &pt, sel, T0 + 15_000, T0 + 85_000);
        let a = one.engine.merge_tree(&q).await.unwrap();
        let b = many.engine.merge_tree(&q).await.unwrap();
        assert_tree(&b, &a, sel);
        assert!(a.total() > 0);
    }
}

#[tokio::test]
async fn profile_id_and_span_filters() {
    let env = Env::memory();
    let data = vec![
        profile_with_spans("s", &cpu(), &[], T0 * MS, &[("a;b", 1, 7), ("a;c", 2, 0)]),
        profile_with_spans(
            "s",
            &cpu(),
            &[],
            T0 * MS + SEC,
            &[("a;b", 4, 7), ("a;d", 8, 9)],
        ),
        profile_with_spans(
            "s",
            &cpu(),
            &[("pod", "x")],
            T0 * MS + SEC,
            &[("a;e", 16, 9)],
        ),
    ];
    env.write_split("t", &data, 2).await;

    let mut q = query("t", &cpu(), "{}", T0, T0 + 2000);
    q.profile_ids = vec![data[1].profile_id.clone(), "unknown".into()];
    let got = env.engine.merge_tree(&q).await.unwrap();
    assert_tree(&got, &tree_of(&data[1..2], |_, _, _| true), "profile id");

    let mut q = query("t", &cpu(), "{}", T0, T0 + 2000);
    q.span_ids = vec![9];
    let got = env.engine.merge_tree(&q).await.unwrap();
    assert_tree(&got, &tree_of(&data, |_, _, s| s.span_id == 9), "span 9");

    let mut q = query("t", &cpu(), "{}", T0, T0 + 2000);
    q.span_ids = vec![7, 9];
    q.call_site = vec!["a".into(), "b".into()];
    assert_eq!(env.engine.merge_tree(&q).await.unwrap().total(), 5);
}

#[tokio::test]
async fn nothing_selected_is_an_empty_tree() {
    let env = Env::memory();
    env.write("a", &dataset()).await;
    for q in [
        query("a", &inuse(), "{}", T0, END),
        query("a", &cpu(), r#"{service_name="nope"}"#, T0, END),
        query("a", &cpu(), "{}", T0 - 10_000, T0 - 1),
        query("nobody", &cpu(), "{}", T0, END),
    ] {
        let tree = env.engine.merge_tree(&q).await.unwrap();
        assert!(tree.is_empty(), "{q:?}");
    }
}

//! Caches: warm queries hit, tiny budgets evict without changing answers,
//! compacted-away blocks are forgotten. Plus a rough timing of a larger merge.

use crate::common::*;
use kiln_meta::Metastore;
use kiln_model::NormalizedProfile;
use kiln_query::{CacheConfig, DataFusionEngine, EngineConfig, QueryEngine};
use std::time::Instant;

const END: i64 = T0 + 3_600_000;

#[tokio::test]
async fn warm_queries_hit_the_caches() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("a", &data, 3).await;
    let q = query("a", &cpu(), "{}", T0, END);
    let cold = env.engine.merge_tree(&q).await.unwrap();
    let s1 = env.engine.cache_stats();
    assert_eq!(
        (s1.series.misses, s1.symbols.misses, s1.readers.misses),
        (3, 3, 3)
    );
    let warm = env.engine.merge_tree(&q).await.unwrap();
    assert_tree(&warm, &cold, "warm");
    let s2 = env.engine.cache_stats();
    assert_eq!(
        (s2.series.misses, s2.symbols.misses),
        (3, 3),
        "no new loads"
    );
    assert_eq!(
        (s2.series.hits, s2.symbols.hits, s2.readers.hits),
        (3, 3, 3)
    );
    assert!(s2.series.bytes > 0 && s2.symbols.bytes > 0);

    env.engine.clear_caches();
    assert_eq!(env.engine.cache_stats().series.entries, 0);
    assert_tree(
        &env.engine.merge_tree(&q).await.unwrap(),
        &cold,
        "after clear",
    );
}

#[tokio::test]
async fn tiny_budgets_evict_but_answers_stay_exact() {
    let config = EngineConfig {
        cache: CacheConfig {
            readers_bytes: 1,
            series_bytes: 1,
            symbols_bytes: 1,
        },
        target_partitions: 3,
        cpu_threads: 2,
        ..EngineConfig::default()
    };
    let env = Env::with_config(config);
    let data = dataset();
    env.write_split("a", &data, 4).await;
    for _ in 0..2 {
        let got = env
            .engine
            .merge_tree(&query("a", &cpu(), "{}", T0, END))
            .await
            .unwrap();
        assert_tree(
            &got,
            &tree_of(&data, |p, _, _| p.profile_type == cpu()),
            "tiny cache",
        );
    }
    let s = env.engine.cache_stats();
    assert!(s.series.evictions >= 4, "{s:?}");
    assert!(s.series.entries <= 1 && s.symbols.entries <= 1, "{s:?}");
}

#[tokio::test]
async fn compacted_blocks_are_forgotten_and_replacements_read() {
    let env = Env::memory();
    let data = dataset();
    let (first, second) = data.split_at(data.len() / 2);
    let a = env.write("a", first).await;
    let b = env.write("a", second).await;
    let q = query("a", &cpu(), "{}", T0, END);
    let before = env.engine.merge_tree(&q).await.unwrap();
    assert_eq!(env.engine.cache_stats().series.entries, 2);

    // Compaction: one block replaces both.
    let merged = kiln_block::BlockEncoder::new("a", 1)
        .with_sources(vec![a.id, b.id])
        .encode(&data)
        .unwrap();
    merged.upload(env.store.as_ref()).await.unwrap();
    env.meta
        .replace("a", &[a.id, b.id], vec![merged.meta.clone()])
        .await
        .unwrap();

    let after = env.engine.merge_tree(&q).await.unwrap();
    assert_tree(&after, &before, "compaction-proof");
    let s = env.engine.cache_stats();
    assert_eq!(
        s.series.entries, 1,
        "entries of the replaced blocks are dropped: {s:?}"
    );
}

/// A deep stack for index `k`: branches four ways per level on the low
/// digits of `k` (so stacks share prefixes, as real ones do), then runs
/// 8–39 frames deep.
fn deep_stack(k: u64) -> String {
    let depth = 8 + (k % 32) as usize;
    let mut x = k;
    (0..depth)
        .map(|level| {
            let branch = x % 4;
            x /= 4;
            format!("pkg{}.Func{}_{}", level % 7, level, branch)
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Not a benchmark (debug build, small shared machine), but a rough number
/// for the report: deep synthetic stacks over many series, times and blocks.
#[tokio::test]
async fn rough_timing_of_a_larger_merge() {
    let (blocks, per_block, services, stacks) = (12i64, 30i64, 4usize, 400u64);
    let stack_names: Vec<String> = (0..stacks * 3).map(deep_stack).collect();
    let env = Env::memory();
    let mut samples = 0;
    for b in 0..blocks {
        let mut profiles: Vec<NormalizedProfile> = Vec::new();
        for i in 0..per_block {
            let t = (T0 + (b * per_block + i) * 10_000) * MS;
            for s in 0..services {
                // Each profile sees a sliding window of the stack population.
                let first = ((b * per_block + i) as u64 * 7 + s as u64 * 13) % (stacks * 2);
                let folded: Vec<(&str, i64)> = (first..first + stacks)
                    .map(|k| (stack_names[k as usize].as_str(), 1 + (k % 97) as i64))
                    .collect();
                profiles.push(profile(&format!("svc-{s}"), &cpu(), &[], t, &folded));
            }
        }
        let layout = kiln_block::WriterConfig::default();
        samples += env
            .write_with("big", &profiles, layout)
            .await
            .summary
            .samples;
    }
    let engine =
        DataFusionEngine::new(env.store.clone(), env.meta.clone(), EngineConfig::default())
            .unwrap();
    let end = T0 + blocks * per_block * 10_000;
    let q = query("big", &cpu(), r#"{service_name="svc-1"}"#, T0, end);
    let t = Instant::now();
    let cold = engine.merge_tree(&q).await.unwrap();
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let warm = engine.merge_tree(&q).await.unwrap();
    let warm_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_tree(&warm, &cold, "warm = cold");
    let all_q = query("big", &cpu(), "{}", T0, end);
    let t = Instant::now();
    let everything = engine.merge_tree(&all_q).await.unwrap();
    let all_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(everything.total() > cold.total());
    let series = kiln_query::SeriesQuery {
        profiles: q.clone(),
        step_seconds: 60.0,
        group_by: vec![],
        aggregation: Default::default(),
        limit: None,
    };
    let t = Instant::now();
    let points = engine.select_series(&series).await.unwrap();
    let series_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(
        points[0].points.iter().map(|p| p.value).sum::<f64>(),
        cold.total() as f64
    );
    eprintln!(
        "timing: {blocks} blocks, {samples} sample rows, {} nodes in the one-service tree, \
         {} in all: one service cold {cold_ms:.0} ms, warm {warm_ms:.0} ms; \
         all services warm {all_ms:.0} ms; series (one service) {series_ms:.0} ms",
        cold.node_count(),
        everything.node_count()
    );
}

//! The level structure: straddling level-0 blocks are split into
//! window-aligned outputs, windows wait for the settle delay, symbols are
//! deduplicated across sources, rollups appear from level 2.

use crate::common::*;
use kiln_block::{BlockReader, RollupBucket};

#[tokio::test]
async fn straddling_blocks_split_into_windows_and_levels_climb() {
    let h = Harness::new(test_config()).await;
    let mut rng = Rng::new(8);
    // One block spanning three 1-minute windows, two in the second window.
    let spanning = h
        .write_l0(
            "t",
            &[
                random_profile(&mut rng, T0 + 5 * SEC, 1),
                random_profile(&mut rng, T0 + 65 * SEC, 2),
                random_profile(&mut rng, T0 + 150 * SEC, 3),
            ],
        )
        .await;
    let second = h
        .write_l0("t", &[random_profile(&mut rng, T0 + 70 * SEC, 4)])
        .await;

    // The spanning block waits for its last window (2:00–3:00, closing at
    // 3:00 + 10 s settle); the other block's window is closed already.
    h.clock.set(T0 + 3 * MIN + 9 * SEC);
    let report = h.run().await;
    assert_eq!(
        (
            report.jobs_run,
            report.blocks_compacted,
            report.blocks_written
        ),
        (1, 1, 1)
    );
    assert_eq!(
        h.blocks("t").await.iter().filter(|b| b.level == 0).count(),
        1
    );
    h.clock.set(T0 + 3 * MIN + 10 * SEC);
    let report = h.run().await;
    assert_eq!(
        (
            report.jobs_run,
            report.blocks_compacted,
            report.blocks_written
        ),
        (1, 1, 3)
    );
    let l1 = h.blocks("t").await;
    assert_eq!(l1.len(), 4);
    assert!(
        l1.iter()
            .all(|b| b.level == 1 && b.min_time_ns / MIN == b.max_time_ns / MIN)
    );
    let split: Vec<_> = l1.iter().filter(|b| b.sources == [spanning.id]).collect();
    assert_eq!(
        split.len(),
        3,
        "one output per window of the spanning block"
    );
    assert!(l1.iter().any(|b| b.sources == [second.id]));
    for b in &l1 {
        assert!(
            !b.has_rollup(RollupBucket::Minute),
            "no rollups below level 2"
        );
    }

    // Ten minutes later: one level-2 block with rollups; after the hour, level 3.
    h.clock.set(T0 + 10 * MIN + 10 * SEC);
    h.run().await;
    let l2 = h.blocks("t").await;
    assert_eq!(l2.len(), 1);
    assert_eq!(l2[0].level, 2);
    assert!(l2[0].has_rollup(RollupBucket::Minute) && l2[0].has_rollup(RollupBucket::Hour));
    h.clock.set(T0 + HOUR + 10 * SEC);
    h.run().await;
    let l3 = h.blocks("t").await;
    assert_eq!((l3.len(), l3[0].level), (1, 3));
    assert_eq!(l3[0].summary.profiles, 4);
}

#[tokio::test]
async fn symbols_are_stored_once_per_output_block() {
    let h = Harness::new(test_config()).await;
    let mut rng = Rng::new(9);
    let mut profiles = Vec::new();
    for i in 0..30 {
        let p = random_profile(&mut rng, T0 + i * SEC, i as usize);
        h.write_l0("t", std::slice::from_ref(&p)).await;
        profiles.push(p);
    }
    h.clock.set(T0 + 2 * MIN);
    h.run().await;
    let blocks = h.blocks("t").await;
    assert_eq!(blocks.len(), 1);
    let reader = BlockReader::from_meta(h.store.clone(), blocks[0].clone()).unwrap();
    let resolver = reader.stack_resolver().await.unwrap();
    // Frames unique by content, stacks unique by path.
    let frames = resolver.frames();
    let distinct: std::collections::BTreeSet<_> = frames.iter().collect();
    assert_eq!(distinct.len(), frames.len());
    let mut paths = std::collections::BTreeSet::new();
    for id in 1..=resolver.len() as u32 {
        assert!(
            paths.insert(resolver.resolve(id).unwrap()),
            "stack {id} stored twice"
        );
    }
    // Every distinct input frame used by a sample is there, nothing more.
    let used: std::collections::BTreeSet<_> = profiles
        .iter()
        .flat_map(|p| {
            p.samples
                .iter()
                .flat_map(move |s| s.stack.iter().map(move |&i| &p.frames[i as usize]))
        })
        .collect();
    assert_eq!(used.len(), frames.len());
}

#[tokio::test]
async fn late_data_for_a_compacted_window_converges_to_one_top_block() {
    let h = Harness::new(test_config()).await;
    let mut rng = Rng::new(10);
    let first = random_profile(&mut rng, T0 + 5 * MIN, 1);
    h.write_l0("t", std::slice::from_ref(&first)).await;
    h.clock.set(T0 + HOUR + MIN);
    h.run().await;
    let top = h.blocks("t").await;
    assert_eq!((top.len(), top[0].level), (1, 3));

    // Late data for the same hour climbs the levels, then folds into it.
    let late = random_profile(&mut rng, T0 + 30 * MIN, 2);
    h.write_l0("t", std::slice::from_ref(&late)).await;
    let report = h.run().await;
    assert_eq!(report.jobs_run, 4, "L0→L1, L1→L2, L2→L3, then the fold");
    let top = h.blocks("t").await;
    assert_eq!((top.len(), top[0].level), (1, 3));
    assert_eq!(top[0].summary.profiles, 2);
    let q = query::Query::all(i64::MIN, i64::MAX, MIN);
    let got = query::query(&h.store, &h.metastore, "t", &q).await.unwrap();
    let want = query::expected([&first, &late], &q);
    assert!(got == want, "{}", got.diff(&want));
}

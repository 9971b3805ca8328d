//! Queries running while the compactor merges, swaps and (after the grace)
//! deletes: every answer equals the raw answer — a query sees the sources or
//! the outputs, never both, never neither, and never a deleted object.

use crate::common::query::{Query, expected, query};
use crate::common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn queries_during_compaction_keep_their_answers() {
    // Deletion waits far longer than the simulated compaction takes, as the
    // real grace outlasts a real query.
    let mut config = test_config();
    config.deletion_grace = std::time::Duration::from_secs(4 * 3600);
    let h = Arc::new(Harness::new(config).await);
    let mut rng = Rng::new(21);
    let mut profiles = Vec::new();
    for i in 0..120i64 {
        let batch: Vec<_> = (0..3)
            .map(|k| {
                random_profile(
                    &mut rng,
                    T0 + i * 30 * SEC + k * 7 * SEC,
                    (i * 3 + k) as usize,
                )
            })
            .collect();
        h.write_l0("t", &batch).await;
        profiles.extend(batch);
    }
    let queries = [
        Query::all(i64::MIN, i64::MAX, MIN),
        Query::all(T0 + 17 * MIN, T0 + 43 * MIN, 10 * SEC),
        Query {
            use_rollups: true,
            ..Query::all(T0, T0 + HOUR - 1, HOUR)
        },
    ];
    let wants: Vec<_> = queries.iter().map(|q| expected(&profiles, q)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..2 {
        let (h, stop, answered) = (h.clone(), stop.clone(), answered.clone());
        let (queries, wants) = (queries.clone(), wants.clone());
        readers.push(tokio::spawn(async move {
            let mut i = r;
            while !stop.load(Ordering::SeqCst) {
                let q = &queries[i % queries.len()];
                let got = query(&h.store, &h.metastore, "t", q).await.unwrap();
                assert!(
                    got == wants[i % queries.len()],
                    "{q:?}:\n{}",
                    got.diff(&wants[i % queries.len()])
                );
                answered.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        }));
    }
    // Compaction in steps while queries run; the clock stays within the
    // deletion grace of every swap, as it would for a running query.
    for minutes in [5, 12, 30, 61, 75] {
        h.clock.set(T0 + minutes * MIN);
        h.run().await;
        tokio::task::yield_now().await;
    }
    // Let the readers answer a few more times (or fail: a panicked reader
    // has finished).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 20
        && !readers.iter().any(|r| r.is_finished())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.await.unwrap();
    }
    let top = h.blocks("t").await;
    assert!(top.iter().all(|b| b.level == 3), "{top:?}");
    // After the grace the replaced blocks are gone; answers stay.
    h.advance(5 * HOUR);
    assert!(h.run().await.blocks_deleted > 0);
    for (q, want) in queries.iter().zip(&wants) {
        assert!(query(&h.store, &h.metastore, "t", q).await.unwrap() == *want);
    }
}

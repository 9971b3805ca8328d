//! Crash tests: the compactor is stopped at every failpoint of a job,
//! of retention and of deletion (as if killed: no cleanup), the process is
//! "restarted" (metastore reloaded from the store, a new compactor), and the
//! invariants hold at every moment: right after the crash, after the
//! restart, and after recovery — when every orphan is collected, every
//! marker processed and every window compacted to the top level.

use crate::common::model::Model;
use crate::common::*;
use kiln_compactor::{CompactorError, Failpoint, RetentionPolicy};
use kiln_store::testing::FlakyStore;
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "t";
const RETENTION: i64 = 4 * HOUR;

fn config() -> kiln_compactor::CompactorConfig {
    let mut c = test_config();
    c.retention = RetentionPolicy {
        default: Duration::from_nanos(RETENTION as u64),
        tenants: Default::default(),
    };
    c
}

/// Three hours of level-0 blocks (some straddling, one replaying two
/// hours), then the clock moves to T0 + 5h: every window is closed and the
/// first hour is past retention.
async fn setup(h: &Harness, seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let mut id = 0;
    for i in 0..36 {
        let base = T0 + i * 5 * MIN + rng.range(0, MIN);
        let spread = match i % 9 {
            4 => 3 * MIN,
            8 if i == 17 => 2 * HOUR,
            _ => 20 * SEC,
        };
        let profiles: Vec<_> = (0..rng.range(1, 5))
            .map(|_| {
                id += 1;
                let t = base + rng.range(0, spread);
                random_profile(&mut rng, t, id)
            })
            .collect();
        h.clock.set(base + spread + SEC);
        let meta = h.write_l0(TENANT, &profiles).await;
        model.ingested(&meta, profiles);
    }
    h.clock.set(T0 + 5 * HOUR);
    model
}

fn cutoffs(h: &Harness) -> BTreeMap<String, i64> {
    [(TENANT.to_string(), h.now() - RETENTION)].into()
}

/// Runs until nothing is left to do, past every grace period, checking the
/// invariants after each run; then nothing but registered blocks remains.
async fn recover_and_verify(h: &Harness, model: &mut Model, rng: &mut Rng) {
    for _ in 0..3 {
        h.run().await;
        model.check(h, rng, &cutoffs(h), true).await;
        h.advance(h.config.gc_grace.as_nanos() as i64 + h.config.deletion_grace.as_nanos() as i64);
    }
    h.run().await;
    model.check(h, rng, &cutoffs(h), true).await;
    let listed = h.blocks(TENANT).await;
    let top = h.config.level_windows.len() as u32;
    assert!(listed.iter().all(|b| b.level == top), "{listed:?}");
    let mut ids: Vec<_> = listed.iter().map(|b| b.id).collect();
    ids.sort();
    assert_eq!(h.block_dirs(TENANT).await, ids, "orphans left behind");
    assert_eq!(h.markers(TENANT).await, 0, "markers left behind");
}

async fn crash_at(point: Failpoint, skip: u32) {
    let mut h = Harness::new(config()).await;
    let mut model = setup(&h, 11 + skip as u64).await;
    let mut rng = Rng::new(99);
    if point == Failpoint::MidObjectDelete {
        // Something must be due for deletion first.
        h.run().await;
        model.check(&h, &mut rng, &cutoffs(&h), true).await;
        h.advance(h.config.deletion_grace.as_nanos() as i64 + SEC);
    }
    h.compactor.failpoints().arm(point, skip);
    let err = h.compactor.run_once().await.expect_err("failpoint reached");
    assert!(
        matches!(err, CompactorError::Failpoint(p) if p == point),
        "{point:?}: {err}"
    );

    // The moment of the crash: queries see a consistent state.
    let retention_done = point != Failpoint::RetentionBeforeDelete;
    model
        .check(&h, &mut rng, &cutoffs(&h), retention_done)
        .await;
    h.restart().await;
    model
        .check(&h, &mut rng, &cutoffs(&h), retention_done)
        .await;
    recover_and_verify(&h, &mut model, &mut rng).await;
}

#[tokio::test]
async fn a_crash_at_any_failpoint_loses_and_duplicates_nothing() {
    for point in Failpoint::ALL {
        // Retention runs once per tenant per run: only its first hit exists.
        let skips: &[u32] = match point {
            Failpoint::RetentionBeforeDelete => &[0],
            _ => &[0, 2],
        };
        for &skip in skips {
            crash_at(point, skip).await;
        }
    }
}

#[tokio::test]
async fn failing_storage_fails_jobs_without_harm() {
    let flaky = Arc::new(FlakyStore::new(Arc::new(
        object_store::memory::InMemory::new(),
    )));
    let store: Arc<dyn ObjectStore> = flaky.clone();
    let mut h = Harness::with_store(store, config()).await;
    let mut model = setup(&h, 5).await;
    let mut rng = Rng::new(3);

    flaky.set_fail_writes(true);
    let report = h.compactor.run_once().await.unwrap();
    assert!(!report.errors.is_empty());
    assert_eq!(report.jobs_run, 0);
    model.check(&h, &mut rng, &cutoffs(&h), false).await;

    // Writes fail again halfway through a later run: some jobs commit.
    flaky.set_fail_writes(false);
    let failing = {
        let flaky = flaky.clone();
        let start = flaky.puts();
        tokio::spawn(async move {
            while flaky.puts() < start + 12 {
                tokio::task::yield_now().await;
            }
            flaky.set_fail_writes(true);
        })
    };
    let report = h.compactor.run_once().await.unwrap();
    failing.await.unwrap();
    flaky.set_fail_writes(false);
    assert!(
        report.jobs_failed > 0 || !report.errors.is_empty(),
        "{report:?}"
    );
    model.check(&h, &mut rng, &cutoffs(&h), false).await;

    h.restart().await;
    recover_and_verify(&h, &mut model, &mut rng).await;
}

//! Randomized interleavings of ingestion (level-0 blocks, some straddling
//! windows, some late, some replaying hours), compaction, retention and
//! garbage collection, with the full invariant check after many steps:
//! the listed blocks partition the visible profiles, every query answer
//! (flame-graph totals, series points from samples and from profiles, label
//! values; raw and from rollups) equals the brute-force answer, and
//! retention removes exactly the blocks wholly older than the cutoff.

use crate::common::model::Model;
use crate::common::*;
use kiln_compactor::RetentionPolicy;
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const RETAINED: &str = "b";
const RETENTION: i64 = 2 * HOUR;

fn config() -> kiln_compactor::CompactorConfig {
    let mut config = test_config();
    // A small fan-in: windows are split across jobs, merged again one level
    // up and folded at the top.
    config.max_sources_per_job = 4;
    config.retention = RetentionPolicy {
        default: Duration::ZERO,
        tenants: [(RETAINED.to_string(), Duration::from_nanos(RETENTION as u64))].into(),
    };
    config
}

/// Profile times of one level-0 block, as a flush would see them.
fn block_times(rng: &mut Rng, now: i64, tenant: &str) -> Vec<i64> {
    let n = rng.range(1, 6);
    let spread = match rng.below(100) {
        0..=64 => 20 * SEC,  // a normal flush: recent profiles
        65..=84 => 3 * MIN,  // straddles level-1 windows
        85..=94 => 50 * MIN, // late data for windows already compacted
        // A replay spanning hours (the retained tenant, like the ingester's
        // reject_older_than, never gets data older than half its retention).
        _ if tenant == RETAINED => 59 * MIN,
        _ => 3 * HOUR,
    };
    (0..n).map(|_| now - rng.range(0, spread)).collect()
}

async fn run_and_record(h: &Harness, model: &mut Model, cutoffs: &mut BTreeMap<String, i64>) {
    let report = h.run().await;
    cutoffs.insert(RETAINED.into(), h.now() - RETENTION);
    let mut reported = report.expired.clone();
    reported.sort();
    assert_eq!(
        model.reconcile(h, cutoffs).await,
        reported,
        "expired blocks"
    );
}

async fn simulate(seed: u64, store: Arc<dyn ObjectStore>, steps: usize) {
    let h = Harness::with_store(store, config()).await;
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let mut cutoffs = BTreeMap::new();
    let mut next_id = 0usize;
    for step in 0..steps {
        h.advance(rng.range(5, 120) * SEC);
        for _ in 0..rng.below(3) {
            let tenant = if rng.chance(60) { "a" } else { RETAINED };
            let times = block_times(&mut rng, h.now(), tenant);
            let profiles: Vec<_> = times
                .into_iter()
                .map(|t| {
                    next_id += 1;
                    random_profile(&mut rng, t, next_id)
                })
                .collect();
            let meta = h.write_l0(tenant, &profiles).await;
            model.ingested(&meta, profiles);
        }
        if rng.chance(40) {
            run_and_record(&h, &mut model, &mut cutoffs).await;
        }
        if model.tenants.len() == 2 && (rng.chance(25) || step + 1 == steps) {
            model.check(&h, &mut rng, &cutoffs, true).await;
        }
    }

    // Drain: time passes without new data; everything reaches the top
    // level, retention catches up, replaced blocks are deleted.
    for _ in 0..6 {
        h.advance(HOUR);
        run_and_record(&h, &mut model, &mut cutoffs).await;
        model.check(&h, &mut rng, &cutoffs, true).await;
    }
    let top = h.config.level_windows.len() as u32;
    for tenant in ["a", RETAINED] {
        let listed = h.blocks(tenant).await;
        assert!(
            listed.iter().all(|b| b.level == top),
            "{tenant}: {listed:?}"
        );
        // Every folder in the store is a registered block; no marker left.
        let mut ids: Vec<_> = listed.iter().map(|b| b.id).collect();
        ids.sort();
        assert_eq!(
            h.block_dirs(tenant).await,
            ids,
            "{tenant}: leftover objects"
        );
        assert_eq!(h.markers(tenant).await, 0, "{tenant}: leftover markers");
    }
    // The retained tenant kept exactly what is not wholly older than the cutoff.
    assert!(
        h.blocks(RETAINED)
            .await
            .iter()
            .all(|b| b.max_time_ns >= cutoffs[RETAINED])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_interleavings_keep_every_answer() {
    for seed in 1..=3 {
        simulate(seed, Arc::new(object_store::memory::InMemory::new()), 90).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_interleavings_on_a_durable_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(kiln_store::DurableLocalStore::new(dir.path()).unwrap());
    simulate(7, store, 60).await;
}

//! Test harness: a store, an embedded metastore persisted in it, a manual
//! clock and a compactor; a randomized corpus; level-0 blocks written with
//! `BlockEncoder` directly.

pub mod model;
pub mod query;

use kiln_block::{BlockEncoder, BlockMeta, WriterConfig};
use kiln_compactor::{Compactor, CompactorConfig, RetentionPolicy, RunReport};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_model::clock::{ClockRef, ManualClock};
use kiln_model::{Frame, Label, Labels, NormalizedProfile, ProfileType, Sample};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use ulid::Ulid;

pub const SEC: i64 = 1_000_000_000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
/// A day boundary in 2027: every window size divides it.
pub const T0: i64 = 20_800 * 24 * HOUR;

/// Small windows so that a few simulated hours reach level 3:
/// L1 = 1 min, L2 = 10 min, L3 = 1 h.
pub fn test_config() -> CompactorConfig {
    CompactorConfig {
        interval: Duration::from_secs(1),
        deletion_grace: Duration::from_secs(5 * 60),
        gc_grace: Duration::from_secs(30 * 60),
        settle_delay: Duration::from_secs(10),
        level_windows: vec![
            Duration::from_secs(60),
            Duration::from_secs(600),
            Duration::from_secs(3600),
        ],
        max_sources_per_job: 64,
        rollup_from_level: 2,
        writer: WriterConfig {
            row_group_rows: 256,
            data_page_rows: 32,
            zstd_level: 1,
            ..WriterConfig::compacted()
        },
        retention: RetentionPolicy::default(),
    }
}

/// A deterministic xorshift generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub fn cpu() -> ProfileType {
    ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap()
}

pub fn alloc() -> ProfileType {
    ProfileType::parse("memory:alloc_space:bytes:space:bytes").unwrap()
}

pub const SERVICES: [&str; 3] = ["api", "db", "web"];

fn frame_pool() -> Vec<Frame> {
    let mut out = Vec::new();
    for (i, f) in [
        "main", "serve", "handle", "parse", "alloc", "gc", "io", "lock",
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Frame {
            function: f.to_string(),
            file: format!("{f}.go"),
            line: 10 + i as i64,
            binary: "app".into(),
            ..Default::default()
        });
    }
    // Same function name in another file: identity is by content.
    out.push(Frame {
        function: "parse".into(),
        file: "other.go".into(),
        line: 3,
        ..Default::default()
    });
    out
}

/// A random profile of a random series at `time_ns`. Stacks come from a
/// small alphabet so prefixes and whole stacks repeat across profiles.
pub fn random_profile(rng: &mut Rng, time_ns: i64, id: usize) -> NormalizedProfile {
    let pool = frame_pool();
    // Each profile has its own frame table order, as pprofs do.
    let mut order: Vec<usize> = (0..pool.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let table: Vec<Frame> = order.iter().map(|&i| pool[i].clone()).collect();
    let position = |pool_index: usize| order.iter().position(|&o| o == pool_index).unwrap() as u32;
    let service = SERVICES[rng.below(3) as usize];
    let pt = if rng.chance(70) { cpu() } else { alloc() };
    let mut labels = vec![
        Label::new("service_name", service),
        Label::new("__profile_type__", pt.id()),
        Label::new("__name__", pt.name.clone()),
    ];
    if rng.chance(50) {
        labels.push(Label::new("pod", format!("pod-{}", rng.below(2))));
    }
    let mut merged: BTreeMap<(Vec<u32>, u64), i64> = BTreeMap::new();
    for _ in 0..rng.range(0, 7) {
        let depth = rng.range(0, 5) as usize;
        let stack: Vec<u32> = (0..depth)
            .map(|d| {
                position(if d == 0 {
                    0
                } else {
                    rng.below(pool.len() as u64) as usize
                })
            })
            .collect();
        let span = if rng.chance(10) {
            rng.range(1, 3) as u64
        } else {
            0
        };
        let value = if rng.chance(5) {
            -rng.range(1, 50)
        } else {
            rng.range(1, 100) * 10
        };
        *merged.entry((stack, span)).or_default() += value;
    }
    let samples = merged
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|((stack, span_id), value)| Sample {
            stack,
            value,
            span_id,
        })
        .collect();
    NormalizedProfile {
        labels: Labels::new(labels),
        profile_type: pt,
        time_nanos: time_ns,
        duration_nanos: 10 * SEC,
        period: 10_000_000,
        profile_id: format!("p{id}"),
        frames: Arc::new(table),
        samples,
    }
}

/// A ULID stamped with the clock's time.
pub fn ulid_at(now_ns: i64) -> Ulid {
    Ulid::from_parts((now_ns / 1_000_000) as u64, Ulid::generate().random())
}

/// Store + embedded metastore + manual clock + compactor.
pub struct Harness {
    pub store: Arc<dyn ObjectStore>,
    pub metastore: Arc<dyn Metastore>,
    pub clock: Arc<ManualClock>,
    pub config: CompactorConfig,
    pub compactor: Compactor,
}

impl Harness {
    pub async fn new(config: CompactorConfig) -> Self {
        Self::with_store(Arc::new(InMemory::new()), config).await
    }

    pub async fn with_store(store: Arc<dyn ObjectStore>, config: CompactorConfig) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let metastore = open_metastore(&store).await;
        let compactor = new_compactor(&config, &store, &metastore, &clock);
        Self {
            store,
            metastore,
            clock,
            config,
            compactor,
        }
    }

    /// A new metastore loaded from the store and a new compactor, as after
    /// a crash of the process.
    pub async fn restart(&mut self) {
        self.metastore = open_metastore(&self.store).await;
        self.compactor = new_compactor(&self.config, &self.store, &self.metastore, &self.clock);
    }

    pub fn now(&self) -> i64 {
        use kiln_model::clock::Clock;
        self.clock.now_ns()
    }

    pub fn advance(&self, ns: i64) {
        self.clock.set(self.now() + ns);
    }

    /// Writes and registers a level-0 block, as the ingester does.
    pub async fn write_l0(&self, tenant: &str, profiles: &[NormalizedProfile]) -> BlockMeta {
        let block = BlockEncoder::new(tenant, 0)
            .with_id(ulid_at(self.now()))
            .encode(profiles)
            .unwrap();
        block.upload(self.store.as_ref()).await.unwrap();
        self.metastore.register(block.meta.clone()).await.unwrap();
        block.meta
    }

    pub async fn blocks(&self, tenant: &str) -> Vec<BlockMeta> {
        self.metastore
            .list_blocks(tenant, i64::MIN, i64::MAX)
            .await
            .unwrap()
    }

    pub async fn run(&self) -> RunReport {
        let report = self.compactor.run_once().await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }

    /// Block folders present in the store for `tenant`.
    pub async fn block_dirs(&self, tenant: &str) -> Vec<Ulid> {
        let listing = self
            .store
            .list_with_delimiter(Some(&kiln_block::paths::tenant_blocks(tenant)))
            .await
            .unwrap();
        let mut ids: Vec<Ulid> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| Ulid::from_string(p.filename()?).ok())
            .collect();
        ids.sort();
        ids
    }

    /// Deletion markers present for `tenant`.
    pub async fn markers(&self, tenant: &str) -> usize {
        use futures::TryStreamExt;
        let listed: Vec<_> = self
            .store
            .list(Some(&kiln_compactor::deletions_dir(tenant)))
            .try_collect()
            .await
            .unwrap();
        listed.len()
    }
}

async fn open_metastore(store: &Arc<dyn ObjectStore>) -> Arc<dyn Metastore> {
    Arc::new(
        EmbeddedMetastore::open(store.clone(), EmbeddedConfig::default())
            .await
            .unwrap(),
    )
}

fn new_compactor(
    config: &CompactorConfig,
    store: &Arc<dyn ObjectStore>,
    metastore: &Arc<dyn Metastore>,
    clock: &Arc<ManualClock>,
) -> Compactor {
    let clock: ClockRef = clock.clone();
    Compactor::new(config.clone(), store.clone(), metastore.clone(), clock).unwrap()
}

//! Test helpers: an engine over real blocks, synthetic profiles with known
//! stacks, and brute-force expectations computed straight from the inputs.

use kiln_block::{BlockEncoder, BlockMeta, RollupBucket, WriterConfig};
use kiln_meta::{InMemoryMetastore, Metastore};
use kiln_model::limits::NormalizeLimits;
use kiln_model::pprof::build_series_labels;
use kiln_model::selector::Selector;
use kiln_model::tree::Tree;
use kiln_model::{Frame, Label, Labels, NormalizedProfile, ProfileType, Sample};
use kiln_query::{DataFusionEngine, EngineConfig, LabelsQuery, ProfileQuery};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use std::collections::BTreeMap;
use std::sync::Arc;
use tempfile::TempDir;

/// 2023-11-14T22:13:20Z in milliseconds: the time every dataset starts at.
pub const T0: i64 = 1_700_000_000_000;
pub const MS: i64 = 1_000_000;
pub const SEC: i64 = 1_000 * MS;

/// An engine over a store and an in-memory metastore.
pub struct Env {
    pub store: Arc<dyn ObjectStore>,
    pub meta: Arc<InMemoryMetastore>,
    pub engine: DataFusionEngine,
    _dir: Option<TempDir>,
}

impl Env {
    pub fn memory() -> Self {
        Self::with(Arc::new(InMemory::new()), None, EngineConfig::default())
    }

    pub fn local() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalFileSystem::new_with_prefix(dir.path()).expect("local store");
        Self::with(Arc::new(store), Some(dir), EngineConfig::default())
    }

    pub fn with_config(config: EngineConfig) -> Self {
        Self::with(Arc::new(InMemory::new()), None, config)
    }

    fn with(store: Arc<dyn ObjectStore>, dir: Option<TempDir>, config: EngineConfig) -> Self {
        let meta = Arc::new(InMemoryMetastore::new());
        let engine = DataFusionEngine::new(store.clone(), meta.clone(), config).expect("engine");
        Self {
            store,
            meta,
            engine,
            _dir: dir,
        }
    }

    /// Encodes `profiles` as one block of `tenant` (tiny row groups and pages,
    /// so pruning is exercised), uploads and registers it.
    pub async fn write(&self, tenant: &str, profiles: &[NormalizedProfile]) -> BlockMeta {
        let config = WriterConfig {
            row_group_rows: 64,
            data_page_rows: 8,
            ..WriterConfig::default()
        };
        self.write_with(tenant, profiles, config).await
    }

    /// Like [`Env::write`] with the given layout.
    pub async fn write_with(
        &self,
        tenant: &str,
        profiles: &[NormalizedProfile],
        config: WriterConfig,
    ) -> BlockMeta {
        let block = BlockEncoder::new(tenant, 0)
            .with_config(config)
            .encode(profiles)
            .expect("encode");
        block.upload(self.store.as_ref()).await.expect("upload");
        self.meta
            .register(block.meta.clone())
            .await
            .expect("register");
        block.meta
    }

    /// Encodes `profiles` as one level-2 block with both rollup tables, as
    /// the compactor writes them, and registers it.
    pub async fn write_rolled_up(&self, tenant: &str, profiles: &[NormalizedProfile]) -> BlockMeta {
        let config = WriterConfig {
            row_group_rows: 256,
            data_page_rows: 32,
            ..WriterConfig::default()
        };
        let block = BlockEncoder::new(tenant, 2)
            .with_config(config)
            .with_rollups(&RollupBucket::ALL)
            .encode(profiles)
            .expect("encode");
        assert!(block.meta.has_rollup(RollupBucket::Hour));
        block.upload(self.store.as_ref()).await.expect("upload");
        self.meta
            .register(block.meta.clone())
            .await
            .expect("register");
        block.meta
    }

    /// Another engine over the same store and metastore.
    pub fn engine(&self, config: EngineConfig) -> DataFusionEngine {
        DataFusionEngine::new(self.store.clone(), self.meta.clone(), config).expect("engine")
    }

    /// Writes `profiles` split round-robin into `blocks` blocks (overlapping in time).
    pub async fn write_split(&self, tenant: &str, profiles: &[NormalizedProfile], blocks: usize) {
        for b in 0..blocks {
            let part: Vec<_> = profiles.iter().skip(b).step_by(blocks).cloned().collect();
            if !part.is_empty() {
                self.write(tenant, &part).await;
            }
        }
    }
}

pub fn cpu() -> ProfileType {
    ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap()
}

pub fn alloc() -> ProfileType {
    ProfileType::parse("memory:alloc_space:bytes:space:bytes").unwrap()
}

pub fn inuse() -> ProfileType {
    ProfileType::parse("memory:inuse_space:bytes:space:bytes").unwrap()
}

/// Stored series labels, built the way the ingest path builds them.
pub fn series_labels(service: &str, pt: &ProfileType, extra: &[(&str, &str)]) -> Labels {
    let mut pairs: Vec<Label> = extra.iter().map(|(n, v)| Label::new(*n, *v)).collect();
    pairs.push(Label::new("service_name", service));
    let (labels, _) = build_series_labels(&Labels::new(pairs), pt, &NormalizeLimits::default())
        .expect("valid labels");
    labels
}

/// A profile whose samples are folded stacks (`"a;b;c"`, root first) with
/// values; `span` gives every sample that span id.
pub fn profile(
    service: &str,
    pt: &ProfileType,
    extra: &[(&str, &str)],
    time_ns: i64,
    stacks: &[(&str, i64)],
) -> NormalizedProfile {
    profile_with_spans(
        service,
        pt,
        extra,
        time_ns,
        &stacks.iter().map(|&(s, v)| (s, v, 0)).collect::<Vec<_>>(),
    )
}

pub fn profile_with_spans(
    service: &str,
    pt: &ProfileType,
    extra: &[(&str, &str)],
    time_ns: i64,
    stacks: &[(&str, i64, u64)],
) -> NormalizedProfile {
    let mut frames: Vec<Frame> = Vec::new();
    let mut samples = Vec::new();
    for &(folded, value, span_id) in stacks {
        let stack = folded
            .split(';')
            .map(
                |name| match frames.iter().position(|f| f.function == name) {
                    Some(i) => i as u32,
                    None => {
                        frames.push(Frame::named(name));
                        (frames.len() - 1) as u32
                    }
                },
            )
            .collect();
        samples.push(Sample {
            stack,
            value,
            span_id,
        });
    }
    let labels = series_labels(service, pt, extra);
    NormalizedProfile {
        profile_id: format!("{}-{time_ns}", labels.fingerprint()),
        labels,
        profile_type: pt.clone(),
        time_nanos: time_ns,
        duration_nanos: 10 * SEC,
        period: 10_000_000,
        frames: Arc::new(frames),
        samples,
    }
}

/// The tree of every sample of `profiles` that `keep` accepts, built
/// directly from the inputs.
pub fn tree_of<'a>(
    profiles: impl IntoIterator<Item = &'a NormalizedProfile>,
    keep: impl Fn(&NormalizedProfile, &[&str], &Sample) -> bool,
) -> Tree {
    let mut tree = Tree::new();
    for p in profiles {
        for s in &p.samples {
            let names: Vec<&str> = s
                .stack
                .iter()
                .map(|&i| p.frames[i as usize].function.as_str())
                .collect();
            if keep(p, &names, s) {
                tree.insert_stack(names.iter().copied(), s.value);
            }
        }
    }
    tree
}

/// A flame-graph query of `tenant` for `pt`, `selector`, `[start_ms, end_ms]`.
pub fn query(
    tenant: &str,
    pt: &ProfileType,
    selector: &str,
    start_ms: i64,
    end_ms: i64,
) -> ProfileQuery {
    ProfileQuery {
        tenant: tenant.into(),
        profile_type: pt.clone(),
        selector: Selector::parse(selector).expect("selector"),
        start_ms,
        end_ms,
        call_site: Vec::new(),
        profile_ids: Vec::new(),
        span_ids: Vec::new(),
    }
}

pub fn labels_query(tenant: &str, selectors: &[&str], start_ms: i64, end_ms: i64) -> LabelsQuery {
    LabelsQuery {
        tenant: tenant.into(),
        selectors: selectors
            .iter()
            .map(|s| Selector::parse(s).expect("selector"))
            .collect(),
        start_ms,
        end_ms,
    }
}

/// Readable dump of a tree: folded stack → self value.
pub fn folded(tree: &Tree) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    tree.for_each_stack(|stack, v| {
        out.insert(stack.join(";"), v);
    });
    out
}

/// Asserts two trees are equal, printing them folded when not.
#[track_caller]
pub fn assert_tree(got: &Tree, want: &Tree, what: &str) {
    assert_eq!(folded(got), folded(want), "{what}: stacks");
    assert_eq!(got.total(), want.total(), "{what}: total");
    assert!(got == want, "{what}: trees differ structurally");
}

/// The synthetic dataset most tests share: two services, two profile types,
/// two environments and pods, one profile per series every 10 s for 2 min.
pub fn dataset() -> Vec<NormalizedProfile> {
    let mut out = Vec::new();
    for i in 0..12i64 {
        let t = T0 * MS + i * 10 * SEC;
        let v = i + 1;
        out.push(profile(
            "api",
            &cpu(),
            &[("env", "prod"), ("pod", "api-1")],
            t,
            &[
                ("main;serve;handle", 10 * v),
                ("main;serve;handle;json.Encode", 3 * v),
                ("main;serve;db.Query", 5),
                ("main;runtime.gc", 1),
            ],
        ));
        out.push(profile(
            "api",
            &cpu(),
            &[("env", "dev"), ("pod", "api-2")],
            t + 3 * SEC,
            &[("main;serve;handle", 7), ("main;serve;auth.Check", v)],
        ));
        out.push(profile(
            "db",
            &cpu(),
            &[("env", "prod"), ("pod", "db-1"), ("region", "eu")],
            t + 5 * SEC,
            &[
                ("main;query.Exec;disk.Read", 20 + v),
                ("main;runtime.gc", 2),
            ],
        ));
        out.push(profile(
            "api",
            &alloc(),
            &[("env", "prod"), ("pod", "api-1")],
            t,
            &[
                ("main;serve;handle;json.Encode", 1024 * v),
                ("main;bufio.New", 4096),
            ],
        ));
    }
    out
}

//! The agent payloads as blocks, and brute-force expectations computed
//! straight from the normalised profiles (never through SQL).

use flate2::read::GzDecoder;
use kiln_block::BlockEncoder;
use kiln_ingest::legacy::{LegacyBody, LegacyParams, convert_legacy};
use kiln_ingest::push::decode_push;
use kiln_meta::{InMemoryMetastore, Metastore};
use kiln_model::limits::NormalizeLimits;
use kiln_model::{Label, Labels, NormalizedProfile, pprof};
use kiln_proto::push::v1::PushRequest;
use kiln_sql::{SqlEngine, SqlLimits, SqlResult};
use object_store::memory::InMemory;
use prost::Message;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

pub const TENANT: &str = "acme";
pub const OTHER: &str = "other";
pub const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
pub const INUSE: &str = "memory:inuse_space:bytes:space:bytes";
pub const HOUR_NS: i64 = 3_600_000_000_000;

fn agent_file(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/testdata/agents/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("missing agent payload {path}: {e}"))
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(data).read_to_end(&mut out).expect("gzip");
    out
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().map(|(n, v)| Label::new(*n, *v)))
}

fn go(file: &str, service: &str, name: &str, id: &str) -> Vec<NormalizedProfile> {
    let limits = NormalizeLimits::default();
    let decoded = pprof::decode(&agent_file(file), &limits).expect("decode pprof");
    let labels = labels(&[
        ("service_name", service),
        ("__name__", name),
        ("env", "prod"),
    ]);
    pprof::normalise(&decoded, &labels, id, &limits).expect("normalise")
}

/// The first request of a `*.requests.jsonl` capture as `/ingest` parameters.
fn legacy_params(jsonl: &str) -> LegacyParams {
    let text = String::from_utf8(agent_file(jsonl)).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let q = |k: &str| first["query"][k][0].as_str().map(str::to_string);
    LegacyParams {
        name: q("name").unwrap(),
        from: q("from"),
        until: q("until"),
        format: q("format"),
        sample_rate: q("sampleRate"),
        spy_name: q("spyName"),
        content_type: first["headers"]["content-type"]
            .as_str()
            .map(str::to_string),
    }
}

fn legacy(jsonl: &str, body: Vec<u8>) -> Vec<NormalizedProfile> {
    let params = legacy_params(jsonl);
    let from: i64 = params.from.as_deref().unwrap().parse().unwrap();
    convert_legacy(
        &params,
        LegacyBody::Raw(body),
        &NormalizeLimits::default(),
        from * 1_000_000_000,
    )
    .expect("convert /ingest")
    .profiles
}

/// Every profile of the captured payloads, per dataset.
pub struct Payloads {
    pub go_cpu: Vec<NormalizedProfile>,
    /// The Go heap profile at its capture time (window A) and twice an
    /// hour later (window B), as successive snapshots of a leak.
    pub go_heap: Vec<NormalizedProfile>,
    pub python: Vec<NormalizedProfile>,
    pub node: Vec<NormalizedProfile>,
    pub rust: Vec<NormalizedProfile>,
    /// Tenant `other`'s data: the Go CPU profile as service `secret-svc`.
    pub secret: Vec<NormalizedProfile>,
}

impl Payloads {
    pub fn load() -> Self {
        let heap = go("go-heap.pb.gz", "go-app", "memory", "heap-a");
        let mut go_heap = heap.clone();
        for (k, shift) in [(1, HOUR_NS), (2, HOUR_NS + 10_000_000_000)] {
            go_heap.extend(heap.iter().cloned().map(|mut p| {
                p.time_nanos += shift;
                p.profile_id = format!("heap-b{k}");
                p
            }));
        }
        let push = PushRequest::decode(
            gunzip(&agent_file(
                "python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz",
            ))
            .as_slice(),
        )
        .expect("PushRequest");
        let python = decode_push(&push, &NormalizeLimits::default(), 0)
            .expect("decode push")
            .profiles;
        Self {
            go_cpu: go("go-cpu.pb.gz", "go-app", "process_cpu", "go-cpu"),
            go_heap,
            python,
            node: legacy(
                "nodejs.requests.jsonl",
                agent_file("nodejs-0.6.4-ingest-wall-cpu.pprof.gz"),
            ),
            rust: legacy(
                "rust-0.5.8-legacy.requests.jsonl",
                gunzip(&agent_file("rust-pyroscope-0.5.8-ingest-folded.body.gz")),
            ),
            secret: go("go-cpu.pb.gz", "secret-svc", "process_cpu", "secret"),
        }
    }

    /// Every profile of tenant `acme`.
    pub fn acme(&self) -> impl Iterator<Item = &NormalizedProfile> {
        self.go_cpu
            .iter()
            .chain(&self.go_heap)
            .chain(&self.python)
            .chain(&self.node)
            .chain(&self.rust)
    }
}

/// An engine over the payloads written as blocks: one block per dataset
/// for `acme`, one for `other`.
pub struct Env {
    pub engine: SqlEngine,
    pub data: Payloads,
    pub store: Arc<InMemory>,
    pub meta: Arc<InMemoryMetastore>,
}

async fn write(store: &InMemory, meta: &InMemoryMetastore, tenant: &str, p: &[NormalizedProfile]) {
    let block = BlockEncoder::new(tenant, 0).encode(p).expect("encode");
    block.upload(store).await.expect("upload");
    meta.register(block.meta.clone()).await.expect("register");
}

impl Env {
    pub async fn new() -> Self {
        let data = Payloads::load();
        let store = Arc::new(InMemory::new());
        let meta = Arc::new(InMemoryMetastore::new());
        for set in [
            &data.go_cpu,
            &data.go_heap,
            &data.python,
            &data.node,
            &data.rust,
        ] {
            write(&store, &meta, TENANT, set).await;
        }
        write(&store, &meta, OTHER, &data.secret).await;
        Self {
            engine: SqlEngine::new(store.clone(), meta.clone()),
            data,
            store,
            meta,
        }
    }

    pub async fn query(&self, tenant: &str, sql: &str) -> SqlResult {
        self.engine
            .query(tenant, sql, &SqlLimits::default())
            .await
            .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
    }

    /// The result as rows of display strings.
    pub async fn rows(&self, tenant: &str, sql: &str) -> Vec<Vec<String>> {
        rows(&self.query(tenant, sql).await)
    }
}

pub fn rows(result: &SqlResult) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in &result.batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                    .collect(),
            );
        }
    }
    out
}

/// Function names of a sample's stack, root first.
pub fn names(p: &NormalizedProfile, stack: &[u32]) -> Vec<String> {
    stack
        .iter()
        .map(|&f| p.frames[f as usize].function.clone())
        .collect()
}

/// Sum of values per leaf function, over the profiles of one type.
pub fn leaf_totals<'a>(
    profiles: impl Iterator<Item = &'a NormalizedProfile>,
    profile_type: &str,
) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for p in profiles.filter(|p| p.profile_type.id() == profile_type) {
        for s in &p.samples {
            let leaf = names(p, &s.stack).pop().unwrap_or_default();
            *out.entry(leaf).or_default() += s.value;
        }
    }
    out
}

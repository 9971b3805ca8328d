//! Test helpers: stores, profile builders and a brute-force model of a block.

use kiln_block::{BlockError, BlockReader};
use kiln_model::{Frame, Label, Labels, NormalizedProfile, ProfileType, Sample};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::sync::Arc;
use tempfile::TempDir;

/// A store under test; keeps its temp dir alive.
pub struct TestStore {
    pub name: &'static str,
    pub store: Arc<dyn ObjectStore>,
    _dir: Option<TempDir>,
}

/// Every object-store implementation the suite runs against.
pub fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalFileSystem::new_with_prefix(dir.path()).expect("local store");
    vec![
        TestStore {
            name: "memory",
            store: Arc::new(InMemory::new()),
            _dir: None,
        },
        TestStore {
            name: "local",
            store: Arc::new(local),
            _dir: Some(dir),
        },
    ]
}

pub fn cpu() -> ProfileType {
    ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap()
}

pub fn alloc() -> ProfileType {
    ProfileType::parse("memory:alloc_space:bytes:space:bytes").unwrap()
}

/// Labels of a series: `service_name`, `__profile_type__` and extra pairs.
pub fn series_labels(service: &str, pt: &ProfileType, extra: &[(&str, &str)]) -> Labels {
    let mut labels: Vec<Label> = extra.iter().map(|(n, v)| Label::new(*n, *v)).collect();
    labels.push(Label::new("service_name", service));
    labels.push(Label::new("__profile_type__", pt.id()));
    labels.push(Label::new("__name__", pt.name.clone()));
    Labels::new(labels)
}

pub fn named_frames(names: &[&str]) -> Arc<Vec<Frame>> {
    Arc::new(names.iter().map(|n| Frame::named(*n)).collect())
}

pub fn profile(
    labels: Labels,
    pt: ProfileType,
    time_nanos: i64,
    frames: Arc<Vec<Frame>>,
    samples: Vec<Sample>,
) -> NormalizedProfile {
    NormalizedProfile {
        labels,
        profile_type: pt,
        time_nanos,
        duration_nanos: 10_000_000_000,
        period: 10_000_000,
        profile_id: format!("p-{time_nanos}"),
        frames,
        samples,
    }
}

pub fn sample(stack: &[u32], value: i64) -> Sample {
    Sample {
        stack: stack.to_vec(),
        value,
        span_id: 0,
    }
}

/// A sample row identified by content: (labels, time, frames root-first, span id).
pub type SampleKey = (Labels, i64, Vec<Frame>, u64);

/// What a block of `profiles` must contain, computed by brute force.
pub fn expected_samples(profiles: &[NormalizedProfile]) -> BTreeMap<SampleKey, i64> {
    let mut out: BTreeMap<SampleKey, i64> = BTreeMap::new();
    for p in profiles {
        for s in &p.samples {
            let frames = s
                .stack
                .iter()
                .map(|&i| p.frames[i as usize].clone())
                .collect();
            *out.entry((p.labels.clone(), p.time_nanos, frames, s.span_id))
                .or_default() += s.value;
        }
    }
    out.retain(|_, v| *v != 0);
    out
}

/// Everything a scan returned, by content.
pub async fn actual_samples(
    reader: &BlockReader,
    series: &RoaringBitmap,
    start_ns: i64,
    end_ns: i64,
) -> Result<(BTreeMap<SampleKey, i64>, kiln_block::ScanStats), BlockError> {
    use arrow::array::{Int64Array, UInt32Array, UInt64Array};
    let index = reader.series().await?;
    let stacks = reader.stack_resolver().await?;
    let scan = reader.scan_samples(series, start_ns, end_ns).await?;
    let mut out = BTreeMap::new();
    let mut last: Option<(u32, i64, u32, u64)> = None;
    for b in &scan.batches {
        let col = |i: usize| b.column(i).clone();
        let ids = col(0);
        let ids = ids.as_any().downcast_ref::<UInt32Array>().unwrap();
        let times = col(1);
        let times = times.as_any().downcast_ref::<Int64Array>().unwrap();
        let stack_ids = col(2);
        let stack_ids = stack_ids.as_any().downcast_ref::<UInt32Array>().unwrap();
        let values = col(3);
        let values = values.as_any().downcast_ref::<Int64Array>().unwrap();
        let spans = col(4);
        let spans = spans.as_any().downcast_ref::<UInt64Array>().unwrap();
        for i in 0..b.num_rows() {
            let key = (
                ids.value(i),
                times.value(i),
                stack_ids.value(i),
                spans.value(i),
            );
            assert!(
                last < Some(key),
                "samples not strictly sorted: {last:?} then {key:?}"
            );
            last = Some(key);
            let labels = index.labels(key.0).expect("series id in range").clone();
            let frames = stacks.resolve(key.2)?.into_iter().cloned().collect();
            let previous = out.insert((labels, key.1, frames, key.3), values.value(i));
            assert!(previous.is_none(), "duplicate sample row {key:?}");
        }
    }
    Ok((out, scan.stats))
}

//! Block write (encode) and scan + aggregate-by-stack throughput, in
//! samples per second on one core, over a realistic corpus (issue target:
//! scan+aggregate ≥ 100 M samples/s/core). Prints bytes per sample once.

use divan::counter::ItemsCount;
use kiln_benches::{realistic_corpus, sample_count};
use kiln_block::{BlockEncoder, BlockReader};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use std::sync::Arc;

/// One hour of one service on 6 pods, one profile per pod every 10 s.
const PROFILES: usize = 360 * 6;
const PODS: usize = 6;

fn main() {
    report_size();
    divan::main();
}

/// Prints the stored size of the corpus (not a timing; recorded in
/// docs/benchmarks.md).
fn report_size() {
    let corpus = realistic_corpus(PROFILES, PODS);
    let samples = sample_count(&corpus);
    let block = BlockEncoder::new("bench", 0).encode(&corpus).unwrap();
    let total: usize = block.files.iter().map(|f| f.bytes.len()).sum();
    println!("corpus: {} profiles, {samples} samples", corpus.len());
    for f in &block.files {
        println!(
            "  {:<18} {:>10} bytes  {:>6.3} B/sample",
            f.name,
            f.bytes.len(),
            f.bytes.len() as f64 / samples as f64
        );
    }
    println!(
        "  {:<18} {:>10} bytes  {:>6.3} B/sample",
        "total",
        total,
        total as f64 / samples as f64
    );
}

#[divan::bench(sample_count = 10)]
fn write_block(bencher: divan::Bencher) {
    let corpus = realistic_corpus(PROFILES, PODS);
    bencher
        .counter(ItemsCount::new(sample_count(&corpus)))
        .bench(|| {
            BlockEncoder::new("bench", 0)
                .encode(divan::black_box(&corpus))
                .unwrap()
        });
}

#[divan::bench(sample_count = 20)]
fn scan_aggregate_by_stack(bencher: divan::Bencher) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let corpus = realistic_corpus(PROFILES, PODS);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let block = BlockEncoder::new("bench", 0).encode(&corpus).unwrap();
    runtime.block_on(block.upload(store.as_ref())).unwrap();
    let rows = block.meta.summary.samples as usize;
    let reader = BlockReader::from_meta(store, block.meta.clone()).unwrap();
    let all = runtime.block_on(reader.series()).unwrap().all();
    bencher.counter(ItemsCount::new(rows)).bench(|| {
        runtime
            .block_on(reader.aggregate_by_stack(&all, i64::MIN, i64::MAX))
            .unwrap()
    });
}

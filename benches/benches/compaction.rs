//! Storage efficiency and merge throughput of compaction (issue #5).
//!
//! A generated corpus shaped like production Go services: `SERVICES`
//! services (default 100), each pushing a CPU profile (2 sample types) and a
//! heap profile (4 sample types) every 10 s, with the stacks of the real
//! agent payloads (`go-cpu.pb.gz`, `go-heap.pb.gz`). Each service has its own
//! application frames (package paths prefixed by the service) and shares the
//! Go runtime's, so stacks are unique per service as in real fleets. Values
//! behave like the real ones: CPU counts are small integers around the
//! payload's (values = count × 10 ms), allocation deltas vary ±30 % with a
//! per-stack object size, in-use values drift rarely.
//!
//! The ingester is modelled as flushing every second: one level-0 block per
//! second holds the profiles of the tenth of the services that pushed in
//! that second. Then the compactor runs level by level (L0→L1 10 min,
//! L1→L2 2 h, and L2→L3 1 day when the corpus spans a day) on an in-memory
//! store, and the sizes and times are printed.
//!
//! `KILN_BENCH_HOURS` (default 2) and `KILN_BENCH_SERVICES` (default 100)
//! scale the corpus. Run: `cargo bench -p kiln-benches --bench compaction`.

use kiln_benches::Rng;
use kiln_benches::fleet::{Fleet, Kind, Payloads};
use kiln_block::paths::files;
use kiln_block::{BlockEncoder, BlockMeta};
use kiln_compactor::{Compactor, CompactorConfig};
use kiln_meta::{InMemoryMetastore, Metastore};
use kiln_model::clock::ManualClock;
use kiln_model::{Label, Labels, NormalizedProfile};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts live heap bytes, so the report can give each merge's peak working
/// memory: the peak above what was live before it, minus the output blocks
/// that land in the in-memory store (which holds every block, so the
/// process RSS says little about the merge itself).
mod counting {
    #![allow(unsafe_code)]
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Counting;
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Resets the peak to the live bytes; returns them.
    pub fn reset() -> usize {
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        live
    }

    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const SEC: i64 = 1_000_000_000;
/// 2027-01-01T00:00:00Z: a day boundary, so every window divides it.
const START: i64 = 1_798_761_600 * SEC;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The compaction corpus' labels: the profile type and a namespace.
fn labels(service: &str, kind: Kind, p: &NormalizedProfile) -> Labels {
    Labels::new([
        Label::new("service_name", service),
        Label::new("__name__", kind.metric()),
        Label::new("__profile_type__", p.profile_type.id()),
        Label::new("namespace", "prod"),
    ])
}

/// Bytes, rows and symbol sizes of a set of blocks.
#[derive(Default, Debug)]
struct Sizes {
    blocks: usize,
    samples: u64,
    bytes: u64,
    samples_file: u64,
    profiles_file: u64,
    series_file: u64,
    symbols: u64,
    stacks: u64,
    rollups: u64,
    rollup_rows: u64,
}

impl Sizes {
    fn of(blocks: &[BlockMeta]) -> Self {
        let mut s = Sizes {
            blocks: blocks.len(),
            ..Default::default()
        };
        for b in blocks {
            s.samples += b.summary.samples;
            for f in &b.files {
                match f.name.as_str() {
                    files::SAMPLES => s.samples_file += f.bytes,
                    files::PROFILES => s.profiles_file += f.bytes,
                    files::SERIES => s.series_file += f.bytes,
                    files::STACKS => {
                        s.symbols += f.bytes;
                        s.stacks += f.rows;
                    }
                    files::FRAMES => s.symbols += f.bytes,
                    _ => {
                        s.rollups += f.bytes;
                        s.rollup_rows += f.rows;
                        continue;
                    }
                }
                s.bytes += f.bytes;
            }
        }
        s
    }

    fn print(&self, what: &str) {
        let per = |b: u64| b as f64 / self.samples.max(1) as f64;
        println!(
            "{what:<34} blocks {:>6}  samples {:>11}  total {:>12} B = {:.3} B/sample \
             (samples.parquet {:.3}, profiles {:.3}, series {:.3}, symbols {:.3}); \
             symbols {:.2} B per stack ({} stacks); rollups {} B = {:.3} B/sample ({} rows)",
            self.blocks,
            self.samples,
            self.bytes,
            per(self.bytes),
            per(self.samples_file),
            per(self.profiles_file),
            per(self.series_file),
            per(self.symbols),
            self.symbols as f64 / self.stacks.max(1) as f64,
            self.stacks,
            self.rollups,
            per(self.rollups),
            self.rollup_rows,
        );
    }
}

/// With `KILN_BENCH_DUMP=<dir>`, copies the blocks' files there (for
/// inspecting encodings with other Parquet tools).
async fn dump(store: &Arc<dyn ObjectStore>, blocks: &[BlockMeta]) {
    use object_store::ObjectStoreExt;
    let Ok(dir) = std::env::var("KILN_BENCH_DUMP") else {
        return;
    };
    for b in blocks {
        let folder = std::path::Path::new(&dir).join(format!("L{}-{}", b.level, b.id));
        std::fs::create_dir_all(&folder).unwrap();
        for f in &b.files {
            let path = kiln_block::paths::block_file(&b.tenant, b.id, &f.name);
            let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
            std::fs::write(folder.join(&f.name), bytes).unwrap();
        }
    }
}

fn main() {
    let hours = env("KILN_BENCH_HOURS", 2) as i64;
    let services = env("KILN_BENCH_SERVICES", 100);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(hours, services));
}

async fn run(hours: i64, services: usize) {
    let fleet = Fleet::new(
        &Payloads::shared(),
        services,
        &[Kind::GoCpu, Kind::GoHeap],
        &labels,
    );

    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let metastore: Arc<dyn Metastore> = Arc::new(InMemoryMetastore::new());
    let clock = Arc::new(ManualClock::new(START));
    let mut rng = Rng::new(7);
    let mut id = 0u64;
    let mut input_samples = 0u64;
    let seconds = hours * 3600;
    let started = Instant::now();
    for sec in 0..seconds {
        let now = START + sec * SEC;
        let mut profiles = Vec::new();
        for s in (0..services).skip((sec % 10) as usize).step_by(10) {
            let pushed = fleet.push(s, now, &mut rng);
            id += pushed.len() as u64;
            profiles.extend(pushed);
        }
        if profiles.is_empty() {
            continue;
        }
        input_samples += profiles.iter().map(|p| p.samples.len() as u64).sum::<u64>();
        let ulid = ulid::Ulid::from_parts((now / 1_000_000) as u64, rng.next_u64() as u128);
        let block = BlockEncoder::new("bench", 0)
            .with_id(ulid)
            .encode(&profiles)
            .unwrap();
        block.upload(store.as_ref()).await.unwrap();
        metastore.register(block.meta).await.unwrap();
    }
    println!(
        "corpus: {services} services x {hours} h, {} profiles, {input_samples} input samples, \
         {seconds} level-0 blocks written in {:.1?}",
        id,
        started.elapsed()
    );
    let all = |m: Arc<dyn Metastore>| async move {
        m.list_blocks("bench", i64::MIN, i64::MAX).await.unwrap()
    };
    let l0 = all(metastore.clone()).await;
    Sizes::of(&l0).print("level 0 (1 s flushes)");

    // Level by level, so that each merge is timed alone.
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let mut phases = vec![(1, vec![minutes(10)]), (2, vec![minutes(10), minutes(120)])];
    if hours >= 24 {
        phases.push((3, vec![minutes(10), minutes(120), minutes(24 * 60)]));
    }
    clock.set(START + seconds * SEC + 2 * 60 * SEC);
    for (level, windows) in phases {
        let mut config = CompactorConfig {
            level_windows: windows,
            ..CompactorConfig::default()
        };
        // Layout experiments: KILN_BENCH_ZSTD, KILN_BENCH_STACK_IDS=delta, KILN_BENCH_DICT_BYTES.
        config.writer.zstd_level = env("KILN_BENCH_ZSTD", config.writer.zstd_level as usize) as i32;
        config.writer.dictionary_page_bytes =
            env("KILN_BENCH_DICT_BYTES", config.writer.dictionary_page_bytes);
        if std::env::var("KILN_BENCH_STACK_IDS").is_ok_and(|v| v == "delta") {
            config.writer.stack_ids = kiln_block::StackIdEncoding::Delta;
        }
        let compactor =
            Compactor::new(config, store.clone(), metastore.clone(), clock.clone()).unwrap();
        let before = all(metastore.clone()).await;
        let input = Sizes::of(&before);
        let live = counting::reset();
        let started = Instant::now();
        let report = compactor.run_once().await.unwrap();
        let elapsed = started.elapsed();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let after = all(metastore.clone()).await;
        let output = Sizes::of(&after);
        output.print(&format!("level {level}"));
        println!(
            "  merge to level {level}: {} jobs, {} -> {} blocks in {elapsed:.2?}: {:.2} M input sample rows/s, \
             {:.1} MB/s of input blocks, {:.2} M output rows/s; peak working heap {:.1} MiB",
            report.jobs_run,
            report.blocks_compacted,
            report.blocks_written,
            input.samples as f64 / elapsed.as_secs_f64() / 1e6,
            report.bytes_read as f64 / elapsed.as_secs_f64() / 1e6,
            output.samples as f64 / elapsed.as_secs_f64() / 1e6,
            // The outputs land in the in-memory store: not the merge's memory.
            counting::peak().saturating_sub(live + report.bytes_written as usize) as f64
                / (1 << 20) as f64,
        );
        dump(&store, &after).await;
    }
}

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

use kiln_benches::{Rng, agent_file, normalise};
use kiln_block::paths::files;
use kiln_block::{BlockEncoder, BlockMeta};
use kiln_compactor::{Compactor, CompactorConfig};
use kiln_meta::{InMemoryMetastore, Metastore};
use kiln_model::clock::ManualClock;
use kiln_model::{Frame, Label, Labels, NormalizedProfile};
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

/// The payloads' profiles, one per sample type.
struct Template {
    cpu: Vec<NormalizedProfile>,
    heap: Vec<NormalizedProfile>,
}

/// One service's frame tables (application frames renamed per service).
struct Service {
    name: String,
    cpu_frames: Arc<Vec<Frame>>,
    heap_frames: Arc<Vec<Frame>>,
}

fn labels(service: &str, name: &str, p: &NormalizedProfile) -> Labels {
    Labels::new([
        Label::new("service_name", service),
        Label::new("__name__", name),
        Label::new("__profile_type__", p.profile_type.id()),
        Label::new("namespace", "prod"),
    ])
}

/// Application frames (not the Go runtime's) get a per-service package.
fn rename(frames: &[Frame], service: &str) -> Arc<Vec<Frame>> {
    Arc::new(
        frames
            .iter()
            .map(|f| {
                let runtime = ["runtime.", "syscall.", "internal/", "sync.", "time."]
                    .iter()
                    .any(|p| f.function.starts_with(p));
                let mut f = f.clone();
                if !runtime {
                    f.function = format!("example.com/{service}/{}", f.function);
                    f.file = format!("{service}/{}", f.file);
                }
                f
            })
            .collect(),
    )
}

/// The six profiles one service pushes at `time_ns`.
fn push(
    t: &Template,
    s: &Service,
    time_ns: i64,
    rng: &mut Rng,
    id: &mut u64,
) -> Vec<NormalizedProfile> {
    let mut out = Vec::with_capacity(6);
    // CPU: one draw of counts per stack, shared by both sample types.
    let counts: Vec<i64> = t.cpu[0]
        .samples
        .iter()
        .map(|s| (s.value + rng.next_u64() as i64 % 5 - 2).max(0))
        .collect();
    for p in &t.cpu {
        let unit = if p.profile_type.sample_type == "cpu" {
            10_000_000
        } else {
            1
        };
        let mut q = p.clone();
        q.labels = labels(&s.name, "process_cpu", p);
        q.frames = s.cpu_frames.clone();
        for (sample, &c) in q.samples.iter_mut().zip(&counts) {
            sample.value = c * unit;
        }
        q.samples.retain(|x| x.value != 0);
        out.push(q);
    }
    // Heap: allocation deltas ±30 % with a fixed object size per stack;
    // in-use values drift in one profile out of ten.
    let objects: Vec<i64> = t.heap[0]
        .samples
        .iter()
        .map(|s| (s.value * (70 + (rng.next_u64() % 61) as i64) / 100).max(1))
        .collect();
    let drift = rng.next_u64().is_multiple_of(10);
    for p in &t.heap {
        let mut q = p.clone();
        q.labels = labels(&s.name, "memory", p);
        q.frames = s.heap_frames.clone();
        match p.profile_type.sample_type.as_str() {
            "alloc_objects" => {
                for (x, &n) in q.samples.iter_mut().zip(&objects) {
                    x.value = n;
                }
            }
            "alloc_space" => {
                for ((x, &n), o) in q.samples.iter_mut().zip(&objects).zip(&t.heap[0].samples) {
                    x.value = n * (x.value / o.value.max(1)).max(1);
                }
            }
            _ if drift => {
                for x in &mut q.samples {
                    x.value += x.value / 10;
                }
            }
            _ => {}
        }
        out.push(q);
    }
    // One server-assigned id per pprof, shared by the series cut from it,
    // shaped like kiln-ingest's (a ULID printed as a UUID).
    let ids = [profile_id(time_ns, rng), profile_id(time_ns, rng)];
    for (i, q) in out.iter_mut().enumerate() {
        *id += 1;
        q.time_nanos = time_ns;
        q.profile_id = ids[usize::from(i >= 2)].clone();
    }
    out
}

fn profile_id(time_ns: i64, rng: &mut Rng) -> String {
    let random = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) & ((1 << 80) - 1);
    let hex = format!(
        "{:032x}",
        ulid::Ulid::from_parts((time_ns / 1_000_000) as u64, random).0
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
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
    let base = Labels::new([
        Label::new("service_name", "x"),
        Label::new("__name__", "process_cpu"),
    ]);
    let template = Template {
        cpu: normalise(&agent_file("go-cpu.pb.gz"), &base),
        heap: normalise(&agent_file("go-heap.pb.gz"), &base),
    };
    let fleet: Vec<Service> = (0..services)
        .map(|k| {
            let name = format!("svc-{k:03}");
            Service {
                cpu_frames: rename(&template.cpu[0].frames, &name),
                heap_frames: rename(&template.heap[0].frames, &name),
                name,
            }
        })
        .collect();

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
        for s in fleet.iter().skip((sec % 10) as usize).step_by(10) {
            profiles.extend(push(&template, s, now, &mut rng, &mut id));
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

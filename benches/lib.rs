//! Fixtures shared by Kiln's benchmarks: the real agent payloads and a
//! realistic generated corpus (one service profiled every 10 s, stack
//! shapes taken from a real Go CPU profile).

use kiln_model::limits::NormalizeLimits;
use kiln_model::{Label, Labels, NormalizedProfile, pprof};
use std::path::PathBuf;

pub mod fleet;

/// `../shared/testdata/agents/<name>`; panics with a clear message if absent.
pub fn agent_file(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/agents")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("missing benchmark payload {} ({e})", path.display()))
}

/// Gunzips if gzipped.
pub fn decompressed(bytes: &[u8]) -> Vec<u8> {
    pprof::decompress_if_gzip(bytes, 0)
        .expect("valid gzip")
        .into_owned()
}

/// The labels an agent would send for a CPU profile of `service`.
pub fn cpu_labels(service: &str, pod: usize) -> Labels {
    Labels::new([
        Label::new("service_name", service),
        Label::new("__name__", "process_cpu"),
        Label::new("pod", format!("pod-{pod}")),
    ])
}

/// Normalises a pprof payload with default limits.
pub fn normalise(bytes: &[u8], labels: &Labels) -> Vec<NormalizedProfile> {
    let limits = NormalizeLimits::default();
    let profile = pprof::decode(bytes, &limits).expect("decodable pprof");
    pprof::normalise(&profile, labels, "bench", &limits).expect("normalisable pprof")
}

/// A deterministic xorshift generator (benchmarks must be repeatable).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// `profiles` consecutive 10 s CPU profiles of one service on `pods` pods,
/// each with the stacks of the real Go CPU payload (`go-cpu.pb.gz`) and
/// values jittered around the originals: the shape of a day-in-the-life
/// block.
pub fn realistic_corpus(profiles: usize, pods: usize) -> Vec<NormalizedProfile> {
    let template = normalise(&agent_file("go-cpu.pb.gz"), &cpu_labels("checkout", 0));
    let cpu = template
        .into_iter()
        .find(|p| p.profile_type.sample_type == "cpu")
        .expect("go-cpu has a cpu sample type");
    let start_ns: i64 = 1_795_600_000_000_000_000;
    let mut rng = Rng::new(42);
    let mut out = Vec::with_capacity(profiles);
    for i in 0..profiles {
        let pod = i % pods.max(1);
        let mut p = cpu.clone();
        p.labels.set("pod", format!("pod-{pod}"));
        p.time_nanos = start_ns + (i / pods.max(1)) as i64 * 10_000_000_000;
        p.profile_id = format!("p{i}");
        for s in &mut p.samples {
            // Keep most stacks in most profiles; vary values by up to ±50 %.
            let jitter = (rng.next_u64() % 100) as i64;
            s.value = (s.value / 100).max(1) * (50 + jitter);
        }
        p.samples.retain(|_| !rng.next_u64().is_multiple_of(10));
        out.push(p);
    }
    out
}

/// Total number of samples in `profiles`.
pub fn sample_count(profiles: &[NormalizedProfile]) -> usize {
    profiles.iter().map(|p| p.samples.len()).sum()
}

//! pprof decode + normalise throughput, in bytes of *decompressed* pprof
//! per second on one core (issue target: ≥ 100 MB/s/core), through
//! `pprof::decode_and_normalise`, the call the Push ingest path makes.

use divan::counter::BytesCount;
use kiln_benches::{agent_file, cpu_labels, decompressed};
use kiln_model::limits::NormalizeLimits;
use kiln_model::pprof;

fn main() {
    divan::main();
}

const PAYLOADS: &[&str] = &[
    "go-cpu.pb.gz",
    "go-heap.pb.gz",
    "nodejs-0.6.4-ingest-wall-cpu.pprof.gz",
];

/// Gzipped payload as agents send it: gunzip + decode + normalise.
#[divan::bench(args = PAYLOADS)]
fn gzipped(bencher: divan::Bencher, name: &str) {
    let gz = agent_file(name);
    let raw_len = decompressed(&gz).len();
    let labels = cpu_labels("bench", 0);
    let limits = NormalizeLimits::default();
    bencher.counter(BytesCount::new(raw_len)).bench(|| {
        pprof::decode_and_normalise(divan::black_box(&gz), &labels, "id", &limits).unwrap()
    });
}

/// Uncompressed payload (pyroscope-rs ≥ 1.0 style): decode + normalise.
#[divan::bench(args = PAYLOADS)]
fn plain(bencher: divan::Bencher, name: &str) {
    let raw = decompressed(&agent_file(name));
    let labels = cpu_labels("bench", 0);
    let limits = NormalizeLimits::default();
    bencher.counter(BytesCount::new(raw.len())).bench(|| {
        pprof::decode_and_normalise(divan::black_box(&raw), &labels, "id", &limits).unwrap()
    });
}

/// Uncompressed payload through prost (`decode` + `normalise`), the path of
/// callers that hold a `Profile` (legacy `/ingest`, OTLP).
#[divan::bench(args = PAYLOADS)]
fn plain_via_prost(bencher: divan::Bencher, name: &str) {
    let raw = decompressed(&agent_file(name));
    let labels = cpu_labels("bench", 0);
    let limits = NormalizeLimits::default();
    bencher.counter(BytesCount::new(raw.len())).bench(|| {
        let profile = pprof::decode(divan::black_box(&raw), &limits).unwrap();
        pprof::normalise(&profile, &labels, "id", &limits).unwrap()
    });
}

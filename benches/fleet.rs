//! A generated fleet of services shaped like production ones, shared by the
//! compaction benchmark and `kiln bench query`.
//!
//! Each service pushes some of four pprof kinds every 10 s, with the stacks
//! of the real agent payloads (`../shared/testdata/agents`): Go CPU (2
//! sample types), Go heap (4), Node.js wall (3) and Python CPU (1). Every
//! service has its own application frames (function and file prefixed by
//! the service) and shares the runtimes' frames, so stacks are unique per
//! service as in real fleets. Values move like real ones: CPU counts vary
//! ±2 around the payload's, allocation deltas ±30 % with a fixed object size
//! per stack, in-use values drift in one profile out of ten, wall and
//! Python CPU values ±30 % per stack.

use crate::Rng;
use kiln_model::limits::NormalizeLimits;
use kiln_model::{Frame, Labels, NormalizedProfile, pprof};
use prost::Message;
use std::path::Path;
use std::sync::Arc;

/// The payload files of `../shared/testdata/agents`.
pub const GO_CPU: &str = "go-cpu.pb.gz";
pub const GO_HEAP: &str = "go-heap.pb.gz";
pub const NODEJS: &str = "nodejs-0.6.4-ingest-wall-cpu.pprof.gz";
pub const PYTHON_PUSH: &str = "python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz";

/// One kind of pprof a service pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GoCpu,
    GoHeap,
    NodeWall,
    PythonCpu,
}

impl Kind {
    /// Every kind, in push order.
    pub const ALL: [Kind; 4] = [Kind::GoCpu, Kind::GoHeap, Kind::NodeWall, Kind::PythonCpu];

    /// The `__name__` its agent sends.
    pub fn metric(self) -> &'static str {
        match self {
            Kind::GoCpu | Kind::PythonCpu => "process_cpu",
            Kind::GoHeap => "memory",
            Kind::NodeWall => "wall",
        }
    }

    /// The runtime that produced it (a label value).
    pub fn runtime(self) -> &'static str {
        match self {
            Kind::GoCpu | Kind::GoHeap => "go",
            Kind::NodeWall => "nodejs",
            Kind::PythonCpu => "python",
        }
    }

    /// Whether a frame belongs to the runtime (shared by every service)
    /// rather than to the application.
    fn is_runtime_frame(self, f: &Frame) -> bool {
        match self {
            Kind::GoCpu | Kind::GoHeap => ["runtime.", "syscall.", "internal/", "sync.", "time."]
                .iter()
                .any(|p| f.function.starts_with(p)),
            Kind::NodeWall => f.file.starts_with("node:") || f.file.is_empty(),
            Kind::PythonCpu => {
                f.file.contains("/lib/python") || f.file.starts_with('<') || f.file.is_empty()
            }
        }
    }
}

/// The four payloads as plain (decompressed) pprof bytes.
#[derive(Debug, Clone)]
pub struct Payloads {
    go_cpu: Vec<u8>,
    go_heap: Vec<u8>,
    nodejs: Vec<u8>,
    python: Vec<u8>,
}

impl Payloads {
    /// Reads the payloads from `dir`; the error names a missing or
    /// undecodable file.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |name: &str| -> Result<Vec<u8>, String> {
            let path = dir.join(name);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            pprof::decompress_if_gzip(&bytes, 0)
                .map(|b| b.into_owned())
                .map_err(|e| format!("decompressing {}: {e}", path.display()))
        };
        let push = kiln_proto::push::v1::PushRequest::decode(read(PYTHON_PUSH)?.as_slice())
            .map_err(|e| format!("decoding the PushRequest of {PYTHON_PUSH}: {e}"))?;
        let raw = push
            .series
            .first()
            .and_then(|s| s.samples.first())
            .map(|s| s.raw_profile.clone())
            .ok_or_else(|| format!("{PYTHON_PUSH} has no sample"))?;
        let python = pprof::decompress_if_gzip(&raw, 0)
            .map_err(|e| format!("decompressing the pprof of {PYTHON_PUSH}: {e}"))?
            .into_owned();
        Ok(Self {
            go_cpu: read(GO_CPU)?,
            go_heap: read(GO_HEAP)?,
            nodejs: read(NODEJS)?,
            python,
        })
    }

    /// The payloads of the repository's `../shared/testdata/agents`; panics
    /// with a clear message if they are missing.
    pub fn shared() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/agents");
        Self::load(&dir).unwrap_or_else(|e| panic!("missing benchmark payloads: {e}"))
    }

    fn bytes(&self, kind: Kind) -> &[u8] {
        match kind {
            Kind::GoCpu => &self.go_cpu,
            Kind::GoHeap => &self.go_heap,
            Kind::NodeWall => &self.nodejs,
            Kind::PythonCpu => &self.python,
        }
    }
}

/// Labels one series of a service: `(service, kind, normalised profile of
/// the payload) → labels`.
pub type Labeller = dyn Fn(&str, Kind, &NormalizedProfile) -> Labels;

/// Labels as `kiln-ingest` builds them from a push of `service_name`,
/// `__name__`, `namespace="prod"` and `runtime=<go|nodejs|python>` (derived
/// labels and relabelling included).
pub fn ingest_labels(service: &str, kind: Kind, p: &NormalizedProfile) -> Labels {
    let client = Labels::new([
        kiln_model::Label::new("service_name", service),
        kiln_model::Label::new("__name__", kind.metric()),
        kiln_model::Label::new("namespace", "prod"),
        kiln_model::Label::new("runtime", kind.runtime()),
    ]);
    // The template was normalised from these very labels' shape, so its
    // profile type is already the relabelled one.
    kiln_model::pprof::build_series_labels(&client, &p.profile_type, &NormalizeLimits::default())
        .map(|(labels, _)| labels)
        .expect("valid bench labels")
}

/// One pushed pprof of one service: its series (one per sample type), with
/// the service's labels and frames.
#[derive(Debug)]
struct Template {
    kind: Kind,
    series: Vec<NormalizedProfile>,
}

/// Services and the pprofs each pushes every 10 s.
#[derive(Debug)]
pub struct Fleet {
    names: Vec<String>,
    /// `templates[service]`: one per kind, in the order given.
    templates: Vec<Vec<Template>>,
}

impl Fleet {
    /// `services` services named `svc-000`, `svc-001`, …, each pushing
    /// `kinds`, labelled by `labeller`.
    pub fn new(payloads: &Payloads, services: usize, kinds: &[Kind], labeller: &Labeller) -> Self {
        let names: Vec<String> = (0..services).map(|k| format!("svc-{k:03}")).collect();
        let base: Vec<(Kind, Vec<NormalizedProfile>)> = kinds
            .iter()
            .map(|&kind| {
                let labels = Labels::new([
                    kiln_model::Label::new("service_name", "x"),
                    kiln_model::Label::new("__name__", kind.metric()),
                ]);
                (kind, crate::normalise(payloads.bytes(kind), &labels))
            })
            .collect();
        let templates = names
            .iter()
            .map(|name| {
                base.iter()
                    .map(|(kind, series)| {
                        let frames = rename(&series[0].frames, name, *kind);
                        let series = series
                            .iter()
                            .map(|p| {
                                let mut q = p.clone();
                                q.labels = labeller(name, *kind, p);
                                q.frames = frames.clone();
                                q
                            })
                            .collect();
                        Template {
                            kind: *kind,
                            series,
                        }
                    })
                    .collect()
            })
            .collect();
        Self { names, templates }
    }

    /// Service names, in index order.
    pub fn services(&self) -> &[String] {
        &self.names
    }

    /// The profiles service `service` pushes at `time_ns` (one per sample
    /// type of each of its pprofs; the series of one pprof share a
    /// server-assigned profile id, as `kiln-ingest` stores them).
    pub fn push(&self, service: usize, time_ns: i64, rng: &mut Rng) -> Vec<NormalizedProfile> {
        let mut out = Vec::new();
        let mut pprofs = Vec::new();
        for t in &self.templates[service] {
            let start = out.len();
            match t.kind {
                Kind::GoCpu => go_cpu(&t.series, rng, &mut out),
                Kind::GoHeap => go_heap(&t.series, rng, &mut out),
                Kind::NodeWall | Kind::PythonCpu => scaled(&t.series, rng, &mut out),
            }
            pprofs.push(start..out.len());
        }
        for range in pprofs {
            let id = profile_id(time_ns, rng);
            for q in &mut out[range] {
                q.time_nanos = time_ns;
                q.profile_id = id.clone();
            }
        }
        out
    }
}

/// CPU: one draw of counts per stack, shared by both sample types
/// (cpu = count × 10 ms).
fn go_cpu(series: &[NormalizedProfile], rng: &mut Rng, out: &mut Vec<NormalizedProfile>) {
    let counts: Vec<i64> = series[0]
        .samples
        .iter()
        .map(|s| (s.value + rng.next_u64() as i64 % 5 - 2).max(0))
        .collect();
    for p in series {
        let unit = if p.profile_type.sample_type == "cpu" {
            10_000_000
        } else {
            1
        };
        let mut q = p.clone();
        for (sample, &c) in q.samples.iter_mut().zip(&counts) {
            sample.value = c * unit;
        }
        q.samples.retain(|x| x.value != 0);
        out.push(q);
    }
}

/// Heap: allocation deltas ±30 % with a fixed object size per stack;
/// in-use values drift in one profile out of ten.
fn go_heap(series: &[NormalizedProfile], rng: &mut Rng, out: &mut Vec<NormalizedProfile>) {
    let objects: Vec<i64> = series[0]
        .samples
        .iter()
        .map(|s| (s.value * (70 + (rng.next_u64() % 61) as i64) / 100).max(1))
        .collect();
    let drift = rng.next_u64().is_multiple_of(10);
    for p in series {
        let mut q = p.clone();
        match p.profile_type.sample_type.as_str() {
            "alloc_objects" => {
                for (x, &n) in q.samples.iter_mut().zip(&objects) {
                    x.value = n;
                }
            }
            "alloc_space" => {
                for ((x, &n), o) in q.samples.iter_mut().zip(&objects).zip(&series[0].samples) {
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
}

/// Wall and Python CPU: every stack's values scaled by one draw in
/// 70–130 %, the same for all sample types of the pprof.
fn scaled(series: &[NormalizedProfile], rng: &mut Rng, out: &mut Vec<NormalizedProfile>) {
    let factors: Vec<i64> = series[0]
        .samples
        .iter()
        .map(|_| 70 + (rng.next_u64() % 61) as i64)
        .collect();
    for p in series {
        let mut q = p.clone();
        for (x, &f) in q.samples.iter_mut().zip(&factors) {
            x.value = (x.value * f / 100).max(1);
        }
        out.push(q);
    }
}

/// Application frames (not the runtime's) get a per-service package.
fn rename(frames: &[Frame], service: &str, kind: Kind) -> Arc<Vec<Frame>> {
    Arc::new(
        frames
            .iter()
            .map(|f| {
                let mut f = f.clone();
                if !kind.is_runtime_frame(&f) {
                    f.function = format!("example.com/{service}/{}", f.function);
                    f.file = format!("{service}/{}", f.file);
                }
                f
            })
            .collect(),
    )
}

/// A server-assigned profile id shaped like `kiln-ingest`'s (a ULID of
/// `time_ns` with 80 random bits, printed as a UUID).
pub fn profile_id(time_ns: i64, rng: &mut Rng) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_yields_series_with_service_frames() {
        let payloads = Payloads::shared();
        let fleet = Fleet::new(&payloads, 2, &Kind::ALL, &ingest_labels);
        let mut rng = Rng::new(1);
        let a = fleet.push(0, 1_000, &mut rng);
        let b = fleet.push(1, 1_000, &mut rng);
        for kind in Kind::ALL {
            assert!(
                a.iter()
                    .any(|p| p.labels.get("runtime") == Some(kind.runtime())),
                "{kind:?}"
            );
        }
        for p in &a {
            eprintln!(
                "{} {} samples {} frames {}",
                p.labels.get("runtime").unwrap(),
                p.profile_type.id(),
                p.samples.len(),
                p.frames.len()
            );
            assert_eq!(p.labels.get("service_name"), Some("svc-000"));
            assert!(p.total() > 0);
        }
        // Application frames differ per service, runtime frames are shared.
        let names = |ps: &[NormalizedProfile]| -> std::collections::BTreeSet<String> {
            ps.iter()
                .flat_map(|p| p.frames.iter().map(|f| f.function.clone()))
                .collect()
        };
        let (na, nb) = (names(&a), names(&b));
        assert!(na.iter().any(|n| n.contains("svc-000")));
        assert!(na.difference(&nb).count() > 0 && na.intersection(&nb).count() > 0);
    }
}

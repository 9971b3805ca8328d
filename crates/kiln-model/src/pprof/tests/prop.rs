//! Property: encode → (gzip) → decode → normalise keeps every
//! (sample type, stack of function names, value) sum of a random profile.

use super::{Builder, gzip, labels, names};
use crate::limits::NormalizeLimits;
use crate::pprof::{decode, decode_and_normalise, normalise};
use kiln_proto::google::v1::Profile;
use proptest::prelude::*;
use prost::Message;
use std::collections::BTreeMap;

const TYPES: [&str; 3] = ["t0", "t1", "t2"];

#[derive(Debug, Clone)]
struct Spec {
    types: usize,
    /// Function name per function (names repeat on purpose).
    functions: Vec<u8>,
    /// Per location: function positions of its lines (callee first), or none.
    locations: Vec<Vec<usize>>,
    samples: Vec<SampleSpec>,
    gzip: bool,
}

#[derive(Debug, Clone)]
struct SampleSpec {
    locations: Vec<usize>,
    values: Vec<i64>,
    thread: Option<&'static str>,
    dotted: Option<&'static str>,
    span: Option<&'static str>,
    bytes: Option<i64>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1..=3usize, prop::collection::vec(0u8..6, 1..8), 1..8usize).prop_flat_map(
        |(types, functions, n_locations)| {
            let nf = functions.len();
            let locations = prop::collection::vec(prop::collection::vec(0..nf, 0..3), n_locations);
            let sample = (
                prop::collection::vec(0..n_locations, 0..7),
                prop::collection::vec(-3i64..50, 3),
                prop::option::of(prop::sample::select(vec!["x", "y"])),
                prop::option::of(prop::sample::select(vec!["p", "q"])),
                prop::option::of(prop::sample::select(vec!["00000000000000aa", "zz"])),
                prop::option::of(1i64..1000),
            )
                .prop_map(
                    |(locations, values, thread, dotted, span, bytes)| SampleSpec {
                        locations,
                        values,
                        thread,
                        dotted,
                        span,
                        bytes,
                    },
                );
            (
                locations,
                prop::collection::vec(sample, 0..25),
                any::<bool>(),
            )
                .prop_map(move |(locations, samples, gzip)| Spec {
                    types,
                    functions: functions.clone(),
                    locations,
                    samples,
                    gzip,
                })
        },
    )
}

fn build(spec: &Spec) -> Profile {
    let types: Vec<(&str, &str)> = TYPES[..spec.types].iter().map(|t| (*t, "count")).collect();
    let mut b = Builder::new(&types);
    let fids: Vec<u64> = spec
        .functions
        .iter()
        .map(|n| b.function(&format!("f{n}")))
        .collect();
    let lids: Vec<u64> = spec
        .locations
        .iter()
        .map(|lines| b.location(&lines.iter().map(|&f| fids[f]).collect::<Vec<_>>()))
        .collect();
    for s in &spec.samples {
        let mut l = Vec::new();
        if let Some(v) = s.thread {
            l.push(b.str_label("thread", v));
        }
        if let Some(v) = s.dotted {
            l.push(b.str_label("a.b", v));
        }
        if let Some(v) = s.span {
            l.push(b.str_label("span_id", v));
        }
        if let Some(n) = s.bytes {
            l.push(b.num_label("bytes", n));
        }
        let locs: Vec<u64> = s.locations.iter().map(|&i| lids[i]).collect();
        b.sample(&locs, &s.values[..spec.types]).label = l;
    }
    b.build()
}

/// The expected sums, computed from the spec alone (leaf-first locations,
/// callee-first lines, `0x<address>` for bare locations), zeros removed.
fn expected(spec: &Spec) -> BTreeMap<(usize, Vec<String>), i64> {
    let mut out = BTreeMap::new();
    for s in &spec.samples {
        let mut leaf_first = Vec::new();
        for &loc in &s.locations {
            let lines = &spec.locations[loc];
            if lines.is_empty() {
                leaf_first.push(format!("0x{:x}", 0x1000 + loc as u64 + 1));
            }
            leaf_first.extend(lines.iter().map(|&f| format!("f{}", spec.functions[f])));
        }
        leaf_first.reverse();
        for t in 0..spec.types {
            *out.entry((t, leaf_first.clone())).or_insert(0) += s.values[t];
        }
    }
    out.retain(|_, v| *v != 0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn normalise_preserves_stack_sums(spec in spec()) {
        let p = build(&spec);
        let mut bytes = p.encode_to_vec();
        if spec.gzip {
            bytes = gzip(&bytes);
        }
        let decoded = decode(&bytes, &NormalizeLimits::default()).unwrap();
        prop_assert_eq!(&decoded, &p);
        let series = labels(&[("__name__", "test"), ("service_name", "svc")]);
        let out = normalise(&decoded, &series, "id", &NormalizeLimits::default()).unwrap();
        let fused = decode_and_normalise(&bytes, &series, "id", &NormalizeLimits::default());
        prop_assert_eq!(&fused.unwrap(), &out, "fast decoder differs from prost");
        let mut got = BTreeMap::new();
        for np in &out {
            let t = TYPES.iter().position(|t| *t == np.profile_type.sample_type).unwrap();
            if let Some(v) = np.labels.get("a_b") {
                prop_assert!(v == "p" || v == "q");
            }
            prop_assert_eq!(np.labels.get("bytes"), None);
            let mut seen = std::collections::HashSet::new();
            for s in &np.samples {
                prop_assert!(s.value != 0);
                prop_assert!(seen.insert((s.stack.clone(), s.span_id)), "duplicate stack");
                prop_assert!(s.span_id == 0 || s.span_id == 0xaa);
                *got.entry((t, names(np, &s.stack))).or_insert(0) += s.value;
            }
        }
        got.retain(|_, v| *v != 0);
        prop_assert_eq!(got, expected(&spec));
    }
}

//! Unit tests of decoding and normalisation: malformed input, limits, labels.

mod agents;
mod prop;
mod wire;

use super::*;
use crate::error::ModelError;
use crate::labels::{Label, Labels};
use crate::limits::NormalizeLimits;
use crate::profile::NormalizedProfile;
use flate2::Compression;
use flate2::write::GzEncoder;
use kiln_proto::google::v1::{
    Function, Label as PLabel, Line, Location, Mapping, Profile, Sample as PSample, ValueType,
};
use prost::Message;
use std::collections::HashMap;
use std::io::Write;

/// Builds pprof profiles by hand; ids are dense and start at 1.
pub(super) struct Builder {
    p: Profile,
    strings: HashMap<String, i64>,
}

impl Builder {
    pub(super) fn new(types: &[(&str, &str)]) -> Self {
        let mut b = Self {
            p: Profile::default(),
            strings: HashMap::new(),
        };
        b.s("");
        for (t, u) in types {
            let vt = ValueType {
                r#type: b.s(t),
                unit: b.s(u),
            };
            b.p.sample_type.push(vt);
        }
        b
    }

    pub(super) fn s(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.p.string_table.len() as i64;
        self.p.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    pub(super) fn period(&mut self, t: &str, u: &str, period: i64) {
        self.p.period_type = Some(ValueType {
            r#type: self.s(t),
            unit: self.s(u),
        });
        self.p.period = period;
    }

    pub(super) fn mapping(&mut self, file: &str) -> u64 {
        let id = self.p.mapping.len() as u64 + 1;
        let filename = self.s(file);
        self.p.mapping.push(Mapping {
            id,
            filename,
            ..Default::default()
        });
        id
    }

    pub(super) fn function(&mut self, name: &str) -> u64 {
        let id = self.p.function.len() as u64 + 1;
        let name = self.s(name);
        let filename = self.s("file.go");
        self.p.function.push(Function {
            id,
            name,
            system_name: name,
            filename,
            start_line: 0,
        });
        id
    }

    /// A location whose lines call `functions[0]` (callee) from the rest.
    pub(super) fn location(&mut self, functions: &[u64]) -> u64 {
        let id = self.p.location.len() as u64 + 1;
        let line = functions
            .iter()
            .map(|&f| Line {
                function_id: f,
                line: 7,
            })
            .collect();
        self.p.location.push(Location {
            id,
            line,
            address: 0x1000 + id,
            ..Default::default()
        });
        id
    }

    /// A location for a fresh function of that name.
    pub(super) fn frame(&mut self, name: &str) -> u64 {
        let f = self.function(name);
        self.location(&[f])
    }

    pub(super) fn sample(&mut self, locations: &[u64], values: &[i64]) -> &mut PSample {
        self.p.sample.push(PSample {
            location_id: locations.to_vec(),
            value: values.to_vec(),
            label: Vec::new(),
        });
        self.p.sample.last_mut().unwrap()
    }

    pub(super) fn str_label(&mut self, key: &str, value: &str) -> PLabel {
        PLabel {
            key: self.s(key),
            str: self.s(value),
            num: 0,
            num_unit: 0,
        }
    }

    pub(super) fn num_label(&mut self, key: &str, num: i64) -> PLabel {
        PLabel {
            key: self.s(key),
            str: 0,
            num,
            num_unit: 0,
        }
    }

    pub(super) fn build(self) -> Profile {
        self.p
    }
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
}

fn cpu_labels() -> Labels {
    labels(&[("__name__", "process_cpu"), ("service_name", "svc")])
}

fn norm(p: &Profile) -> Result<Vec<NormalizedProfile>, ModelError> {
    normalise(p, &cpu_labels(), "id-1", &NormalizeLimits::default())
}

/// Function names of a sample's stack, root first.
pub(super) fn names(p: &NormalizedProfile, stack: &[u32]) -> Vec<String> {
    stack
        .iter()
        .map(|&i| p.frames[i as usize].function.clone())
        .collect()
}

/// A small valid CPU profile: main → work (leaf), twice, plus main alone.
fn simple() -> Profile {
    let mut b = Builder::new(&[("samples", "count"), ("cpu", "nanoseconds")]);
    b.period("cpu", "nanoseconds", 10_000_000);
    let main = b.frame("main");
    let work = b.frame("work");
    b.sample(&[work, main], &[1, 10]);
    b.sample(&[work, main], &[2, 20]);
    b.sample(&[main], &[0, 5]);
    let mut p = b.build();
    p.time_nanos = 1_700_000_000_000_000_000;
    p.duration_nanos = 10_000_000_000;
    p
}

// --- decoding ---------------------------------------------------------------

#[test]
fn decode_plain_and_gzipped_and_multi_member() {
    let p = simple();
    let bytes = p.encode_to_vec();
    let limits = NormalizeLimits::default();
    assert_eq!(decode(&bytes, &limits).unwrap(), p);
    assert_eq!(decode(&gzip(&bytes), &limits).unwrap(), p);
    // Two gzip members concatenated decode as one stream.
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut multi = gzip(a);
    multi.extend(gzip(b));
    assert_eq!(
        decompress_if_gzip(&multi, 0).unwrap().as_ref(),
        bytes.as_slice()
    );
    assert_eq!(decode(&multi, &limits).unwrap(), p);
}

#[test]
fn truncated_protobuf_is_a_protobuf_error() {
    let bytes = simple().encode_to_vec();
    let cut = &bytes[..bytes.len() - 1];
    assert!(matches!(
        decode(cut, &NormalizeLimits::default()),
        Err(ModelError::Protobuf(_))
    ));
    let cut_gz = gzip(&bytes[..bytes.len() / 2 + 1]);
    // Whatever half a profile decodes to, it must not panic; most halves are errors.
    let _ = decode(&cut_gz, &NormalizeLimits::default()).map(|p| norm(&p));
}

#[test]
fn bad_gzip_is_a_gzip_error() {
    let limits = NormalizeLimits::default();
    let garbage = [
        0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03,
    ];
    assert!(matches!(
        decode(&garbage, &limits),
        Err(ModelError::Gzip(_))
    ));
    // A valid gzip stream cut short.
    let gz = gzip(&simple().encode_to_vec());
    assert!(matches!(
        decode(&gz[..gz.len() - 6], &limits),
        Err(ModelError::Gzip(_))
    ));
    // Just the magic.
    assert!(matches!(
        decode(&[0x1f, 0x8b], &limits),
        Err(ModelError::Gzip(_))
    ));
}

#[test]
fn gzip_bomb_is_rejected_without_inflating_it() {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(
        bomb.len() < 1 << 20,
        "the bomb should be small: {}",
        bomb.len()
    );
    let limits = NormalizeLimits::default();
    assert_eq!(
        decode(&bomb, &limits),
        Err(ModelError::DecompressedTooLarge {
            limit: 4 * 1024 * 1024
        })
    );
    assert!(matches!(
        decompress_if_gzip(&bomb, 1000),
        Err(ModelError::DecompressedTooLarge { limit: 1000 })
    ));
    // Uncompressed bodies obey the same limit.
    assert!(matches!(
        decompress_if_gzip(&[1u8; 1001], 1000),
        Err(ModelError::DecompressedTooLarge { limit: 1000 })
    ));
    assert_eq!(decompress_if_gzip(&[1u8; 1000], 1000).unwrap().len(), 1000);
}

#[test]
fn invalid_utf8_in_string_table_is_a_protobuf_error() {
    // Field 6 (string_table), wire type 2, length 2, bytes that are not UTF-8.
    let bytes = [0x32, 0x00, 0x32, 0x02, 0xff, 0xfe];
    assert!(matches!(
        decode(&bytes, &NormalizeLimits::default()),
        Err(ModelError::Protobuf(_))
    ));
    assert!(matches!(
        decode(&gzip(&bytes), &NormalizeLimits::default()),
        Err(ModelError::Protobuf(_))
    ));
}

// --- validation -------------------------------------------------------------

#[test]
fn no_sample_types_is_an_empty_profile() {
    assert_eq!(norm(&Profile::default()), Err(ModelError::EmptyProfile));
}

#[test]
fn out_of_range_string_index() {
    let mut p = simple();
    p.function[0].name = 999;
    let len = p.string_table.len();
    assert_eq!(
        norm(&p),
        Err(ModelError::StringIndexOutOfRange { index: 999, len })
    );
    let mut p = simple();
    p.sample_type[1].unit = -1;
    assert_eq!(
        norm(&p),
        Err(ModelError::StringIndexOutOfRange { index: -1, len })
    );
    let mut p = simple();
    p.sample[0].label.push(PLabel {
        key: 1,
        str: 4242,
        num: 0,
        num_unit: 0,
    });
    assert_eq!(
        norm(&p),
        Err(ModelError::StringIndexOutOfRange { index: 4242, len })
    );
}

#[test]
fn unknown_function_id() {
    let mut p = simple();
    p.location[0].line[0].function_id = 42;
    assert_eq!(norm(&p), Err(ModelError::UnknownFunction(42)));
    let mut p = simple();
    p.location[0].line[0].function_id = 0;
    assert_eq!(norm(&p), Err(ModelError::UnknownFunction(0)));
}

#[test]
fn unknown_location_id() {
    let mut p = simple();
    p.sample[1].location_id.push(77);
    assert_eq!(norm(&p), Err(ModelError::UnknownLocation(77)));
}

#[test]
fn zero_location_id() {
    let mut p = simple();
    p.sample[0].location_id[0] = 0;
    assert!(matches!(norm(&p), Err(ModelError::InvalidProfile(m)) if m.contains("location id 0")));
    let mut p = simple();
    p.location[1].id = 0;
    assert!(matches!(norm(&p), Err(ModelError::InvalidProfile(m)) if m.contains("non-zero")));
    let mut p = simple();
    p.function[1].id = 0;
    assert!(matches!(norm(&p), Err(ModelError::InvalidProfile(m)) if m.contains("non-zero")));
}

#[test]
fn value_count_mismatch() {
    let mut p = simple();
    p.sample[2].value.push(3);
    assert_eq!(
        norm(&p),
        Err(ModelError::SampleValueCount { got: 3, want: 2 })
    );
}

#[test]
fn too_many_samples() {
    let mut b = Builder::new(&[("cpu", "nanoseconds")]);
    let main = b.frame("main");
    for i in 0..16_001 {
        b.sample(&[main], &[i]);
    }
    let p = b.build();
    assert_eq!(
        norm(&p),
        Err(ModelError::TooManySamples {
            got: 16_001,
            limit: 16_000
        })
    );
    let unlimited = NormalizeLimits {
        max_samples: 0,
        ..Default::default()
    };
    let out = normalise(&p, &cpu_labels(), "id", &unlimited).unwrap();
    assert_eq!(out[0].total(), (0..16_001).sum::<i64>());
}

#[test]
fn too_many_sample_labels() {
    let mut b = Builder::new(&[("cpu", "nanoseconds")]);
    let main = b.frame("main");
    let l: Vec<_> = (0..101).map(|i| b.num_label(&format!("n{i}"), i)).collect();
    b.sample(&[main], &[1]).label = l;
    assert_eq!(
        norm(&b.build()),
        Err(ModelError::TooManySampleLabels {
            got: 101,
            limit: 100
        })
    );
}

#[test]
fn absurdly_deep_stack_keeps_the_leaf_most_frames() {
    let mut b = Builder::new(&[("cpu", "nanoseconds")]);
    // Leaf first, as pprof stores it: f0 is the leaf, f99999 the root.
    let locs: Vec<u64> = (0..100_000).map(|i| b.frame(&format!("f{i}"))).collect();
    b.sample(&locs, &[5]);
    let out = norm(&b.build()).unwrap();
    let s = &out[0].samples[0];
    assert_eq!(s.stack.len(), 1000);
    let n = names(&out[0], &s.stack);
    assert_eq!(n[999], "f0", "leaf stays last (root first order)");
    assert_eq!(n[0], "f999", "the root-most kept frame");
    assert_eq!(s.value, 5);
    // Only the frames that were kept were resolved.
    assert_eq!(out[0].frames.len(), 1000);
}

#[test]
fn huge_symbol_is_truncated() {
    let mut b = Builder::new(&[("cpu", "nanoseconds")]);
    // A multi-byte char straddles the limit: truncation must not split it.
    let long = format!("{}é{}", "a".repeat(65_534), "b".repeat(34_464));
    let loc = b.frame(&long);
    b.sample(&[loc], &[1]);
    let out = norm(&b.build()).unwrap();
    let f = &out[0].frames[out[0].samples[0].stack[0] as usize];
    assert_eq!(f.function.len(), 65_534);
    assert!(f.function.chars().all(|c| c == 'a'));
}

// --- normalisation ----------------------------------------------------------

#[test]
fn one_series_per_sample_type_with_derived_labels() {
    let out = norm(&simple()).unwrap();
    assert_eq!(out.len(), 2);
    let ids: Vec<String> = out.iter().map(|p| p.profile_type.id()).collect();
    assert_eq!(
        ids,
        [
            "process_cpu:samples:count:cpu:nanoseconds",
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        ]
    );
    let cpu = &out[1];
    assert_eq!(cpu.labels.get("__type__"), Some("cpu"));
    assert_eq!(cpu.labels.get("__unit__"), Some("nanoseconds"));
    assert_eq!(cpu.labels.get("__period_type__"), Some("cpu"));
    assert_eq!(cpu.labels.get("__period_unit__"), Some("nanoseconds"));
    assert_eq!(cpu.labels.get("__service_name__"), Some("svc"));
    assert_eq!(
        cpu.labels.get("__profile_type__"),
        Some(cpu.profile_type.id().as_str())
    );
    assert_eq!(
        (cpu.time_nanos, cpu.duration_nanos, cpu.period),
        (1_700_000_000_000_000_000, 10_000_000_000, 10_000_000)
    );
    assert_eq!(cpu.profile_id, "id-1");
    assert!(std::sync::Arc::ptr_eq(&out[0].frames, &out[1].frames));
    // Duplicate stacks summed, root first.
    let stacks: Vec<(Vec<String>, i64)> = cpu
        .samples
        .iter()
        .map(|s| (names(cpu, &s.stack), s.value))
        .collect();
    assert_eq!(
        stacks,
        [
            (vec!["main".into(), "work".into()], 30),
            (vec!["main".into()], 5)
        ]
    );
    // The zero value of `samples` for `main` alone is dropped.
    assert_eq!(out[0].samples.len(), 1);
    assert_eq!(out[0].total(), 3);
}

#[test]
fn empty_period_type_gives_empty_period_labels() {
    let mut b = Builder::new(&[("inuse_space", "bytes")]);
    let main = b.frame("main");
    b.sample(&[main], &[64]);
    let out = normalise(
        &b.build(),
        &labels(&[("__name__", "memory")]),
        "",
        &Default::default(),
    )
    .unwrap();
    assert_eq!(out[0].profile_type.id(), "memory:inuse_space:bytes::");
    assert_eq!(out[0].labels.get("__period_type__"), Some(""));
    assert_eq!(out[0].service_name(), "unknown_service");
}

#[test]
fn all_zero_type_yields_no_series() {
    let mut b = Builder::new(&[("a", "count"), ("b", "count")]);
    let main = b.frame("main");
    b.sample(&[main], &[0, 1]);
    b.sample(&[main], &[0, 2]);
    let out = norm(&b.build()).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].profile_type.sample_type, "b");
    // Cancelling values are dropped too.
    let mut b = Builder::new(&[("a", "count")]);
    let main = b.frame("main");
    b.sample(&[main], &[3]);
    b.sample(&[main], &[-3]);
    assert!(norm(&b.build()).unwrap().is_empty());
}

#[test]
fn inlined_lines_expand_callee_first_and_bare_locations_use_the_address() {
    let mut b = Builder::new(&[("cpu", "nanoseconds")]);
    let m = b.mapping("/bin/app");
    let (inner, outer, root) = (b.function("inner"), b.function("outer"), b.function("root"));
    let inl = b.location(&[inner, outer]);
    let r = b.location(&[root]);
    let bare = b.location(&[]);
    let mut p = {
        b.sample(&[bare, inl, r], &[1]);
        b.build()
    };
    p.location[2].address = 0xdead_beef;
    p.location[2].mapping_id = m;
    let out = norm(&p).unwrap();
    let n = names(&out[0], &out[0].samples[0].stack);
    assert_eq!(n, ["root", "outer", "inner", "0xdeadbeef"]);
    let leaf = &out[0].frames[*out[0].samples[0].stack.last().unwrap() as usize];
    assert_eq!(leaf.binary, "/bin/app");
    let first = &out[0].frames[out[0].samples[0].stack[0] as usize];
    assert_eq!(
        (first.file.as_str(), first.line, first.binary.as_str()),
        ("file.go", 7, "")
    );
}

#[test]
fn string_sample_labels_split_series_numeric_ones_do_not() {
    let mut b = Builder::new(&[("cpu", "nanoseconds")]);
    let main = b.frame("main");
    let (a, c, bytes) = (
        b.str_label("thread.name", "a"),
        b.str_label("thread.name", "c"),
        b.num_label("bytes", 64),
    );
    let span = b.str_label("span_id", "00000000000000ff");
    let bad_span = b.str_label("span_id", "xyz");
    let pid = b.str_label("profile_id", "p-1");
    let private = b.str_label("__name__", "hijack");
    b.sample(&[main], &[1]).label = vec![a, bytes];
    b.sample(&[main], &[2]).label = vec![c, span];
    b.sample(&[main], &[4]).label = vec![a, span, pid, private];
    b.sample(&[main], &[8]).label = vec![bad_span, bytes];
    b.sample(&[main], &[16]).label = vec![a];
    let out = norm(&b.build()).unwrap();
    assert_eq!(out.len(), 3);
    let by_thread = |t: Option<&str>| {
        out.iter()
            .find(|p| p.labels.get("thread_name") == t)
            .unwrap()
    };
    let ta = by_thread(Some("a"));
    assert_eq!(ta.labels.get("bytes"), None);
    assert_eq!(ta.labels.get("profile_id"), None);
    assert_eq!(ta.labels.get("span_id"), None);
    assert_eq!(ta.labels.get("__name__"), Some("process_cpu"));
    let spans: Vec<(u64, i64)> = ta.samples.iter().map(|s| (s.span_id, s.value)).collect();
    assert_eq!(spans, [(0, 17), (0xff, 4)]);
    assert_eq!(by_thread(Some("c")).samples[0].span_id, 0xff);
    assert_eq!(by_thread(None).total(), 8);
    assert_eq!(by_thread(None).samples[0].span_id, 0);
}

#[test]
fn label_rules() {
    let p = simple();
    let ok = |l: &[(&str, &str)]| normalise(&p, &labels(l), "", &NormalizeLimits::default());
    // Dots become underscores.
    let out = ok(&[("__name__", "process_cpu"), ("otel.scope.name", "x")]).unwrap();
    assert_eq!(out[0].labels.get("otel_scope_name"), Some("x"));
    // Other illegal characters are rejected.
    for bad in ["a-b", "1abc", "a b", "é"] {
        let e = ok(&[("__name__", "process_cpu"), (bad, "x")]).unwrap_err();
        assert!(
            matches!(&e, ModelError::InvalidLabels(m) if m.contains(bad)),
            "{bad}: {e}"
        );
    }
    // __name__ missing or empty.
    for l in [
        &[("service_name", "s")][..],
        &[("__name__", ""), ("service_name", "s")][..],
    ] {
        let e = ok(l).unwrap_err();
        assert!(matches!(&e, ModelError::InvalidLabels(m) if m.contains("invalid metric name")));
    }
    // Names equal after sanitisation are duplicates.
    let e = ok(&[("__name__", "process_cpu"), ("a.b", "1"), ("a_b", "2")]).unwrap_err();
    assert!(
        matches!(&e, ModelError::InvalidLabels(m) if m.contains("duplicate") && m.contains("a_b"))
    );
    // Too many names: 30 allowed, counting __name__ and service_name.
    let many: Vec<(String, String)> = (0..28).map(|i| (format!("l{i}"), "v".into())).collect();
    let mut l: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    l.push(("__name__", "process_cpu"));
    assert!(ok(&l).is_ok());
    l.push(("one_more", "v"));
    let e = ok(&l).unwrap_err();
    assert!(
        matches!(&e, ModelError::InvalidLabels(m) if m.contains("31") && m.contains("30")),
        "{e}"
    );
    // Name and value lengths.
    let long_name = "n".repeat(1025);
    let e = ok(&[("__name__", "process_cpu"), (&long_name, "v")]).unwrap_err();
    assert!(
        matches!(&e, ModelError::InvalidLabels(m) if m.contains("1024")),
        "{e}"
    );
    let long_value = "v".repeat(2049);
    let e = ok(&[("__name__", "process_cpu"), ("k", &long_value)]).unwrap_err();
    assert!(
        matches!(&e, ModelError::InvalidLabels(m) if m.contains("\"k\"") && m.contains("2048")),
        "{e}"
    );
}

#[test]
fn default_relabel_rules() {
    let p = simple();
    let out = normalise(
        &p,
        &labels(&[("__name__", "godeltaprof_memory")]),
        "",
        &Default::default(),
    )
    .unwrap();
    assert_eq!(out[0].labels.get("__name__"), Some("memory"));
    assert_eq!(out[0].labels.get("__delta__"), Some("false"));
    assert!(out[0].profile_type.id().starts_with("memory:samples:count"));

    let out = normalise(
        &p,
        &labels(&[("__name__", "wall")]),
        "",
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        out[0].profile_type.id(),
        "wall:samples:count:cpu:nanoseconds"
    );
    assert_eq!(
        out[1].profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(out[1].labels.get("__name__"), Some("process_cpu"));
}

#[test]
fn build_series_labels_for_text_formats() {
    let pt = crate::ProfileType::parse("memory:inuse_space:bytes::").unwrap();
    let (l, pt) = build_series_labels(
        &labels(&[("service_name", "app"), ("k.x", "v")]),
        &pt,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(l.get("__name__"), Some("memory"));
    assert_eq!(l.get("k_x"), Some("v"));
    assert_eq!(
        l.get("__profile_type__"),
        Some("memory:inuse_space:bytes::")
    );
    assert_eq!(pt.name, "memory");
    assert_eq!(
        sanitize_label_name("a.b", &Default::default()).unwrap(),
        "a_b"
    );
}

//! Real agent payloads from `shared/testdata/agents/`: decode, normalise and
//! compare against sums computed straight from the raw pprof.

use super::labels;
use crate::labels::Labels;
use crate::limits::NormalizeLimits;
use crate::pprof::{decode, decode_and_normalise, decompress_if_gzip, normalise};
use crate::profile::NormalizedProfile;
use crate::text::{legacy_profile_type, parse_folded, parse_legacy_name, profile_from_stacks};
use flate2::read::GzDecoder;
use kiln_proto::google::v1::Profile;
use kiln_proto::push::v1::PushRequest;
use prost::Message;
use std::collections::BTreeMap;
use std::io::Read;

const AGENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/agents/"
);

fn agent(file: &str) -> Vec<u8> {
    let path = format!("{AGENTS}{file}");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("missing agent payload {path}: {e} (shared/ must sit next to the project root)")
    })
}

/// Gunzips with a plain decoder, independent of the code under test.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("test payload is gzip");
    out
}

/// Raw per-type sums and type names, straight from the pprof.
fn raw_totals(p: &Profile) -> BTreeMap<String, i64> {
    let s = |i: i64| p.string_table[i as usize].clone();
    let mut out = BTreeMap::new();
    for (t, vt) in p.sample_type.iter().enumerate() {
        let total = p.sample.iter().map(|s| s.value[t]).sum();
        out.insert(format!("{}:{}", s(vt.r#type), s(vt.unit)), total);
    }
    out
}

fn normalised_totals(out: &[NormalizedProfile]) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for p in out {
        let key = format!(
            "{}:{}",
            p.profile_type.sample_type, p.profile_type.sample_unit
        );
        *totals.entry(key).or_insert(0) += p.total();
    }
    totals
}

fn check(
    file: &str,
    series: &Labels,
    types: &[&str],
    ids: &[&str],
) -> (Profile, Vec<NormalizedProfile>) {
    let bytes = agent(file);
    let raw = Profile::decode(gunzip(&bytes).as_slice()).expect("independent decode");
    let p = decode(&bytes, &NormalizeLimits::default()).expect("decode");
    assert_eq!(p, raw);
    let want = raw_totals(&raw);
    assert_eq!(
        want.keys().cloned().collect::<Vec<_>>(),
        types,
        "{file}: sample types"
    );
    let out = normalise(&p, series, "pid", &NormalizeLimits::default()).expect("normalise");
    let fused = decode_and_normalise(&bytes, series, "pid", &NormalizeLimits::default());
    assert_eq!(
        fused.expect("decode_and_normalise"),
        out,
        "{file}: fast decoder"
    );
    assert_eq!(normalised_totals(&out), want, "{file}: totals per type");
    let mut got_ids: Vec<String> = out.iter().map(|p| p.profile_type.id()).collect();
    got_ids.sort();
    got_ids.dedup();
    assert_eq!(got_ids, ids, "{file}: profile types");
    for p in &out {
        assert_eq!(
            p.labels.get("__profile_type__"),
            Some(p.profile_type.id().as_str())
        );
        assert!(
            p.samples
                .iter()
                .all(|s| s.value != 0 && !s.stack.is_empty())
        );
        assert!(
            p.samples
                .iter()
                .flat_map(|s| &s.stack)
                .all(|&i| (i as usize) < p.frames.len())
        );
    }
    (raw, out)
}

#[test]
fn go_cpu() {
    let series = labels(&[("__name__", "process_cpu"), ("service_name", "goprof")]);
    let (_, out) = check(
        "go-cpu.pb.gz",
        &series,
        &["cpu:nanoseconds", "samples:count"],
        &[
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            "process_cpu:samples:count:cpu:nanoseconds",
        ],
    );
    assert_eq!(out.len(), 2);
    assert!(
        out[0]
            .frames
            .iter()
            .any(|f| f.binary == "/tmp/clientprobe/goprof/goprof")
    );
    assert!(
        out[0]
            .frames
            .iter()
            .any(|f| f.function == "main.main" && f.line > 0)
    );
    assert!(out[0].time_nanos > 0 && out[0].period == 10_000_000);
}

#[test]
fn go_heap_numeric_labels_are_not_lifted() {
    let series = labels(&[("__name__", "memory"), ("service_name", "goprof")]);
    let (raw, out) = check(
        "go-heap.pb.gz",
        &series,
        &[
            "alloc_objects:count",
            "alloc_space:bytes",
            "inuse_objects:count",
            "inuse_space:bytes",
        ],
        &[
            "memory:alloc_objects:count:space:bytes",
            "memory:alloc_space:bytes:space:bytes",
            "memory:inuse_objects:count:space:bytes",
            "memory:inuse_space:bytes:space:bytes",
        ],
    );
    let numeric = raw
        .sample
        .iter()
        .flat_map(|s| &s.label)
        .filter(|l| l.str == 0 && l.num != 0);
    assert!(
        numeric.count() > 0,
        "the heap profile carries numeric `bytes` labels"
    );
    assert_eq!(out.len(), 4, "numeric labels must not split series");
    for p in &out {
        assert_eq!(p.labels.get("bytes"), None);
        assert_eq!(p.labels.get("service_name"), Some("goprof"));
    }
}

#[test]
fn nodejs_ingest_pprof_with_legacy_name() {
    // The name as nodejs sends it (nodejs.requests.jsonl).
    let name = "probe.node{otel.scope.name=com.grafana.pyroscope/nodejs,otel.scope.version=0.6.4,\
                process.runtime.name=nodejs,process.runtime.version=20.20.2,env=test}";
    let (app, mut pairs) = parse_legacy_name(name).unwrap();
    assert_eq!(app, "probe.node");
    // pprof path: service_name is the app name verbatim; __name__ from the `wall` sample type.
    pairs.push(crate::Label::new("service_name", app));
    pairs.push(crate::Label::new("__name__", "wall"));
    let (_, out) = check(
        "nodejs-0.6.4-ingest-wall-cpu.pprof.gz",
        &Labels::new(pairs),
        &["cpu:nanoseconds", "samples:count", "wall:nanoseconds"],
        &[
            "process_cpu:cpu:nanoseconds:wall:nanoseconds",
            "wall:samples:count:wall:nanoseconds",
            "wall:wall:nanoseconds:wall:nanoseconds",
        ],
    );
    let l = &out[0].labels;
    assert_eq!(
        l.get("otel_scope_name"),
        Some("com.grafana.pyroscope/nodejs")
    );
    assert_eq!(l.get("process_runtime_version"), Some("20.20.2"));
    assert_eq!(l.get("env"), Some("test"));
    assert_eq!(l.get("service_name"), Some("probe.node"));
    assert_eq!(l.get("__service_name__"), Some("probe.node"));
    assert_eq!(out[0].period, 18_479_000);
}

#[test]
fn python_push_request() {
    let body = agent("python-pyroscope-io-1.4.0-push-cpu.PushRequest.pb.gz");
    let raw_body = decompress_if_gzip(&body, 0).unwrap();
    assert_eq!(raw_body.as_ref(), gunzip(&body).as_slice());
    let req = PushRequest::decode(raw_body.as_ref()).expect("push request");
    assert_eq!(req.series.len(), 1);
    let series = &req.series[0];
    let pairs: Vec<(&str, &str)> = series
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert!(pairs.contains(&("__name__", "process_cpu")));
    assert!(pairs.contains(&("service_name", "probe.app")));
    assert!(pairs.contains(&("otel.scope.name", "com.grafana.pyroscope/python")));
    let labels = labels(&pairs);
    let sample = &series.samples[0];
    assert!(
        !crate::pprof::is_gzip(&sample.raw_profile),
        "raw_profile is plain pprof"
    );
    let raw = Profile::decode(sample.raw_profile.as_slice()).unwrap();
    let p = decode(&sample.raw_profile, &NormalizeLimits::default()).unwrap();
    assert_eq!(p, raw);
    let out = normalise(&p, &labels, &sample.id, &NormalizeLimits::default()).unwrap();
    assert_eq!(normalised_totals(&out), raw_totals(&raw));
    assert_eq!(out.len(), 1);
    let np = &out[0];
    assert_eq!(
        np.profile_type.id(),
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    );
    assert_eq!(np.labels.get("env"), Some("test"));
    assert_eq!(
        np.labels.get("otel_scope_name"),
        Some("com.grafana.pyroscope/python")
    );
    assert_eq!(np.labels.get("otel.scope.name"), None);
    assert_eq!(np.labels.get("process_runtime_name"), Some("cpython"));
    assert_eq!(np.profile_id, sample.id);
    assert_eq!(np.total(), 10_080_000_000 + 20_000_000 + 10_000_000);
    assert!(
        np.samples
            .iter()
            .any(|s| super::names(np, &s.stack).last().unwrap() == "work")
    );
}

#[test]
fn rust_legacy_folded() {
    let body = agent("rust-pyroscope-0.5.8-ingest-folded.body.gz");
    let text =
        decompress_if_gzip(&body, NormalizeLimits::default().max_decompressed_bytes).unwrap();
    let text = std::str::from_utf8(&text).unwrap();
    // Independent reading: count after the last space of each line.
    let mut want: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let cut = line.rfind(' ').unwrap();
        let stack = line[..cut].split(';').map(String::from).collect();
        *want.entry(stack).or_default() += line[cut + 1..].trim().parse::<i64>().unwrap();
    }
    assert_eq!(lines, 20, "19 newlines, no newline after the last line");
    let stacks = parse_folded(text).unwrap();
    let got: BTreeMap<Vec<String>, i64> = stacks.iter().cloned().collect();
    assert_eq!(got, want);
    assert_eq!(stacks[0].0[0], ":0 - _start", "root first");

    let (app, pairs) = parse_legacy_name("probe.rustlegacy.cpu{env=test}").unwrap();
    let (service, pt, scale) = legacy_profile_type(&app).unwrap();
    assert_eq!(service, "probe.rustlegacy");
    assert_eq!(pt.id(), "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
    assert!(scale);
    let period = 1_000_000_000 / 100;
    let scaled: Vec<(Vec<String>, i64)> =
        stacks.into_iter().map(|(s, n)| (s, n * period)).collect();
    let mut l = Labels::new(pairs);
    l.set("service_name", service);
    let np = profile_from_stacks(&scaled, &l, &pt, 1, 10, period, "x", &Default::default());
    assert_eq!(np.total(), want.values().sum::<i64>() * period);
    assert_eq!(np.labels.get("__profile_type__"), Some(pt.id().as_str()));
    assert_eq!(np.labels.get("env"), Some("test"));
    assert_eq!(np.service_name(), "probe.rustlegacy");
}

//! Independent cross-check on a real agent payload: per-function totals of
//! the merged tree equal sums computed straight from the raw pprof.

use crate::common::*;
use flate2::read::GzDecoder;
use kiln_model::limits::NormalizeLimits;
use kiln_model::tree::Tree;
use kiln_model::{Label, Labels, NormalizedProfile, ProfileType};
use kiln_proto::google::v1::Profile;
use kiln_query::QueryEngine;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

const GO_CPU: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/agents/go-cpu.pb.gz"
);

fn raw_profile() -> (Vec<u8>, Profile) {
    let bytes = std::fs::read(GO_CPU).unwrap_or_else(|e| panic!("missing {GO_CPU}: {e}"));
    let mut raw = Vec::new();
    GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    let profile = Profile::decode(raw.as_slice()).unwrap();
    (bytes, profile)
}

/// Per function: (self, total) for sample type `t`, from the raw pprof.
/// A function's total counts each sample once, however often it recurs.
fn raw_function_totals(p: &Profile, t: usize) -> BTreeMap<String, (i64, i64)> {
    let s = |i: i64| p.string_table[i as usize].clone();
    let function = |id: u64| p.function.iter().find(|f| f.id == id).unwrap();
    // Names of a location, callee (inlined) first, as in pprof.
    let location = |id: u64| -> Vec<String> {
        let loc = p.location.iter().find(|l| l.id == id).unwrap();
        if loc.line.is_empty() {
            vec![format!("0x{:x}", loc.address)]
        } else {
            loc.line
                .iter()
                .map(|l| s(function(l.function_id).name))
                .collect()
        }
    };
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for sample in &p.sample {
        let v = sample.value[t];
        let names: Vec<String> = sample
            .location_id
            .iter()
            .flat_map(|&l| location(l))
            .collect();
        out.entry(names[0].clone()).or_default().0 += v;
        for name in names.iter().collect::<BTreeSet<_>>() {
            out.entry(name.clone()).or_default().1 += v;
        }
    }
    out.retain(|_, (s, t)| *s != 0 || *t != 0);
    out
}

fn tree_function_totals(tree: &Tree) -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    tree.for_each_stack(|stack, v| {
        out.entry(stack.last().unwrap().to_string()).or_default().0 += v;
        for name in stack.iter().collect::<BTreeSet<_>>() {
            out.entry(name.to_string()).or_default().1 += v;
        }
    });
    out.retain(|_, (s, t)| *s != 0 || *t != 0);
    out
}

#[tokio::test]
async fn go_cpu_function_totals_match_the_raw_pprof() {
    let (bytes, raw) = raw_profile();
    let decoded = kiln_model::pprof::decode(&bytes, &NormalizeLimits::default()).unwrap();
    let labels = Labels::new([
        Label::new("service_name", "go-app"),
        Label::new("__name__", "process_cpu"),
    ]);
    let profiles: Vec<NormalizedProfile> =
        kiln_model::pprof::normalise(&decoded, &labels, "go-1", &NormalizeLimits::default())
            .unwrap();
    assert!(!profiles.is_empty());

    let env = Env::memory();
    // Half the series in one block, half in another, to cross blocks too.
    env.write_split("go", &profiles, 2).await;
    let ms = raw.time_nanos / MS;
    for (t, vt) in raw.sample_type.iter().enumerate() {
        let pt = ProfileType {
            name: "process_cpu".into(),
            sample_type: raw.string_table[vt.r#type as usize].clone(),
            sample_unit: raw.string_table[vt.unit as usize].clone(),
            period_type: raw.period_type.as_ref().map_or(String::new(), |p| {
                raw.string_table[p.r#type as usize].clone()
            }),
            period_unit: raw
                .period_type
                .as_ref()
                .map_or(String::new(), |p| raw.string_table[p.unit as usize].clone()),
        };
        let tree = env
            .engine
            .merge_tree(&query(
                "go",
                &pt,
                r#"{service_name="go-app"}"#,
                ms - 1,
                ms + 1,
            ))
            .await
            .unwrap();
        let want = raw_function_totals(&raw, t);
        assert!(want.len() > 10, "{}: the payload has real stacks", pt.id());
        assert_eq!(tree_function_totals(&tree), want, "{}", pt.id());
        let sum: i64 = raw.sample.iter().map(|s| s.value[t]).sum();
        assert_eq!(tree.total(), sum, "{}: root total", pt.id());
    }
}

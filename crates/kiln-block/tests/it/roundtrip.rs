//! Property test: random profiles → write → read back everything.

use crate::common::*;
use kiln_block::{BlockEncoder, BlockReader, ProfileRecord};
use kiln_model::{Frame, Labels, NormalizedProfile, ProfileType, Sample};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Frames that share function names but differ in line, so identity is by content.
fn frame_pool() -> Vec<Frame> {
    let mut pool = Vec::new();
    for (i, name) in ["main", "run", "work", "alloc", "io", "parse"]
        .into_iter()
        .enumerate()
    {
        pool.push(Frame {
            function: name.into(),
            line: i as i64,
            ..Default::default()
        });
        pool.push(Frame {
            function: name.into(),
            file: format!("{name}.rs"),
            line: 7,
            binary: "app".into(),
            ..Default::default()
        });
    }
    pool
}

fn series_pool() -> Vec<(Labels, ProfileType)> {
    let mut out = Vec::new();
    for service in ["api", "db"] {
        for pt in [cpu(), alloc()] {
            out.push((series_labels(service, &pt, &[]), pt.clone()));
            out.push((series_labels(service, &pt, &[("env", "prod")]), pt.clone()));
        }
    }
    out
}

#[derive(Debug, Clone)]
struct ProfileSpec {
    series: usize,
    time: i64,
    /// Which pool frames this profile's table holds, in table order.
    table: Vec<usize>,
    /// (stack as table indices, value, span id)
    samples: Vec<(Vec<u32>, i64, u64)>,
}

fn profile_spec() -> impl Strategy<Value = ProfileSpec> {
    let table = Just((0..frame_pool().len()).collect::<Vec<_>>()).prop_shuffle();
    (
        0..series_pool().len(),
        prop::sample::select(vec![1_000i64, 2_000, 3_000, 4_000]),
        table,
    )
        .prop_flat_map(|(series, time, table)| {
            let n = table.len() as u32;
            // Stacks built from a small alphabet so prefixes are shared.
            let stack = prop::collection::vec(0..n.min(5), 0..5);
            let s = (stack, prop_oneof![1i64..1000, -50i64..-1], 0u64..3);
            let samples = prop::collection::vec(s, 0..12);
            (Just(series), Just(time), Just(table), samples)
        })
        .prop_map(|(series, time, table, samples)| ProfileSpec {
            series,
            time,
            table,
            samples,
        })
}

fn build(specs: &[ProfileSpec]) -> Vec<NormalizedProfile> {
    let pool = frame_pool();
    let series = series_pool();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let frames = Arc::new(s.table.iter().map(|&f| pool[f].clone()).collect::<Vec<_>>());
            let (labels, pt) = series[s.series].clone();
            let samples = s
                .samples
                .iter()
                .map(|(stack, value, span_id)| Sample {
                    stack: stack.clone(),
                    value: *value,
                    span_id: *span_id,
                })
                .collect();
            let mut p = profile(labels, pt, s.time, frames, samples);
            p.profile_id = format!("profile-{i}");
            p.duration_nanos = 1_000 + i as i64;
            p
        })
        .collect()
}

async fn check_round_trip(profiles: Vec<NormalizedProfile>) -> Result<(), TestCaseError> {
    for s in stores() {
        let block = BlockEncoder::new("t1", 0).encode(&profiles).unwrap();
        block.upload(s.store.as_ref()).await.unwrap();
        let reader = BlockReader::open(s.store.clone(), "t1", block.meta.id)
            .await
            .unwrap();
        prop_assert_eq!(reader.meta(), &block.meta, "{}", s.name);

        // Series: every distinct label set, in sorted order.
        let index = reader.series().await.unwrap();
        let want: BTreeSet<&Labels> = profiles.iter().map(|p| &p.labels).collect();
        let got: Vec<&Labels> = index.iter().map(|(_, e)| &e.labels).collect();
        prop_assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        for (id, e) in index.iter() {
            prop_assert_eq!(e.fingerprint, e.labels.fingerprint());
            prop_assert_eq!(Some(e.service_name.as_str()), e.labels.get("service_name"));
            for l in &e.labels {
                prop_assert!(index.postings(&l.name, &l.value).unwrap().contains(id));
            }
        }

        // Samples: summed by (series, time, stack, span), nothing more, nothing less.
        let expected = expected_samples(&profiles);
        let (actual, _) = actual_samples(&reader, &index.all(), i64::MIN, i64::MAX)
            .await
            .unwrap();
        prop_assert_eq!(&actual, &expected, "{}", s.name);
        prop_assert_eq!(block.meta.summary.samples, expected.len() as u64);

        // aggregate_by_stack agrees with the brute force, per stack content.
        let resolver = reader.stack_resolver().await.unwrap();
        let totals = reader
            .aggregate_by_stack(&index.all(), i64::MIN, i64::MAX)
            .await
            .unwrap();
        let mut by_stack: BTreeMap<Vec<Frame>, i64> = BTreeMap::new();
        for ((_, _, frames, _), v) in &expected {
            *by_stack.entry(frames.clone()).or_default() += v;
        }
        by_stack.retain(|_, v| *v != 0);
        let got: BTreeMap<Vec<Frame>, i64> = totals
            .iter()
            .map(|(&id, &v)| {
                (
                    resolver.resolve(id).unwrap().into_iter().cloned().collect(),
                    v,
                )
            })
            .collect();
        prop_assert_eq!(got, by_stack);

        // Profiles table: one row per input profile.
        let rows = reader
            .profiles(&index.all(), i64::MIN, i64::MAX)
            .await
            .unwrap();
        let mut want: Vec<ProfileRecord> = profiles
            .iter()
            .map(|p| ProfileRecord {
                series_id: index.iter().find(|(_, e)| e.labels == p.labels).unwrap().0,
                time_ns: p.time_nanos,
                duration_ns: p.duration_nanos,
                period: p.period,
                total: p.total(),
                sample_count: p.samples.len() as u32,
                profile_id: p.profile_id.clone(),
            })
            .collect();
        want.sort_by(|a, b| {
            (a.series_id, a.time_ns, &a.profile_id).cmp(&(b.series_id, b.time_ns, &b.profile_id))
        });
        prop_assert_eq!(rows, want);

        // Meta: time range and summary.
        let m = reader.meta();
        prop_assert_eq!(
            m.min_time_ns,
            profiles.iter().map(|p| p.time_nanos).min().unwrap()
        );
        prop_assert_eq!(
            m.max_time_ns,
            profiles.iter().map(|p| p.time_nanos).max().unwrap()
        );
        prop_assert_eq!(m.summary.series, index.len() as u64);
        prop_assert_eq!(m.summary.profiles, profiles.len() as u64);
        let services: BTreeSet<&str> = profiles.iter().map(|p| p.service_name()).collect();
        prop_assert_eq!(
            &m.summary.services,
            &services.into_iter().map(String::from).collect::<Vec<_>>()
        );
        for (name, count) in &m.summary.label_names {
            prop_assert_eq!(*count as usize, index.label_values(name).count());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(specs in prop::collection::vec(profile_spec(), 1..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check_round_trip(build(&specs)))?;
    }
}

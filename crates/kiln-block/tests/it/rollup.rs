//! Rollups answer exactly what raw samples answer: flame-graph totals over
//! aligned and whole-block ranges, and per-step points for steps that are
//! whole buckets. Unaligned ranges are refused, never answered wrongly.

use crate::common::*;
use kiln_block::{BlockEncoder, BlockError, BlockReader, RollupBucket, SampleScan};
use kiln_model::{Labels, NormalizedProfile};
use proptest::prelude::*;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;

const MIN: i64 = 60_000_000_000;
const HOUR: i64 = 60 * MIN;
/// Start of the generated data: an hour boundary.
const T0: i64 = 1_800_000 * HOUR;

fn series_pool() -> Vec<Labels> {
    let mut out = Vec::new();
    for service in ["api", "db", "web"] {
        out.push(series_labels(service, &cpu(), &[]));
        out.push(series_labels(service, &cpu(), &[("env", "prod")]));
    }
    out
}

/// Profiles over ~3 hours: (series, offset in seconds, samples as (stack, value, span)).
type Spec = Vec<(usize, i64, Vec<(Vec<u32>, i64, u64)>)>;

fn spec() -> impl Strategy<Value = Spec> {
    let sample = (prop::collection::vec(0u32..5, 0..4), -20i64..200, 0u64..2);
    let profile = (
        0..series_pool().len(),
        0i64..3 * 3600,
        prop::collection::vec(sample, 0..8),
    );
    prop::collection::vec(profile, 1..40)
}

fn build(spec: &Spec) -> Vec<NormalizedProfile> {
    let series = series_pool();
    let frames = named_frames(&["main", "run", "work", "alloc", "io"]);
    spec.iter()
        .enumerate()
        .map(|(i, (s, secs, samples))| {
            let mut merged: BTreeMap<(Vec<u32>, u64), i64> = BTreeMap::new();
            for (stack, v, span) in samples {
                *merged.entry((stack.clone(), *span)).or_default() += v;
            }
            let samples = merged
                .into_iter()
                .filter(|(_, v)| *v != 0)
                .map(|((stack, span), value)| kiln_model::Sample {
                    stack,
                    value,
                    span_id: span,
                })
                .collect();
            let mut p = profile(
                series[*s].clone(),
                cpu(),
                T0 + secs * 1_000_000_000 + i as i64,
                frames.clone(),
                samples,
            );
            p.profile_id = format!("p{i}");
            p
        })
        .collect()
}

/// SUM(value) by (series, step start) from a scan (raw or rollup).
fn per_step(scan: &SampleScan, step: i64) -> BTreeMap<(u32, i64), i64> {
    use arrow::array::{Int64Array, UInt32Array};
    let mut out: BTreeMap<(u32, i64), i64> = BTreeMap::new();
    for b in &scan.batches {
        let ids = b.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
        let times = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let values = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            let key = (ids.value(i), times.value(i).div_euclid(step) * step);
            *out.entry(key).or_default() += values.value(i);
        }
    }
    out.retain(|_, v| *v != 0);
    out
}

async fn check(
    profiles: Vec<NormalizedProfile>,
    ranges: Vec<(i64, i64)>,
) -> Result<(), TestCaseError> {
    let s = &stores()[0];
    let block = BlockEncoder::new("t1", 2)
        .with_rollups(&RollupBucket::ALL)
        .encode(&profiles)
        .unwrap();
    block.upload(s.store.as_ref()).await.unwrap();
    let reader = BlockReader::open(s.store.clone(), "t1", block.meta.id)
        .await
        .unwrap();
    let meta = reader.meta().clone();
    prop_assert!(meta.has_rollup(RollupBucket::Minute) && meta.has_rollup(RollupBucket::Hour));
    let index = reader.series().await.unwrap();
    let mut selections = vec![index.all()];
    if let Some(api) = index.postings("service_name", "api") {
        selections.push(api.clone());
    }
    selections.push(RoaringBitmap::new());

    for series in &selections {
        for &(start, end) in &ranges {
            let raw = reader.aggregate_by_stack(series, start, end).await.unwrap();
            for bucket in RollupBucket::ALL {
                let got = reader
                    .aggregate_by_stack_rollup(bucket, series, start, end)
                    .await;
                match bucket.exact_for(&meta, start, end) {
                    Some(_) => prop_assert_eq!(
                        got.unwrap(),
                        raw.clone(),
                        "{} [{}, {}]",
                        bucket,
                        start,
                        end
                    ),
                    None => {
                        let refused = matches!(got, Err(BlockError::RollupUnavailable { .. }));
                        prop_assert!(refused, "{} [{}, {}] answered", bucket, start, end);
                    }
                }
            }
            if let Some((bucket, lo, hi)) = meta.rollup_for(start, end, 0) {
                let got = reader
                    .aggregate_by_stack_rollup(bucket, series, start, end)
                    .await
                    .unwrap();
                prop_assert_eq!(got, raw.clone());
                // The scan API with the planner's bucket-start range agrees too.
                let scan = reader.scan_rollup(bucket, series, lo, hi).await.unwrap();
                let raw_scan = reader.scan_samples(series, start, end).await.unwrap();
                prop_assert_eq!(per_step(&scan, i64::MAX), per_step(&raw_scan, i64::MAX));
            }
        }
        // Per-step points: every step that is a whole number of buckets.
        let raw = reader
            .scan_samples(series, i64::MIN, i64::MAX)
            .await
            .unwrap();
        for (bucket, step) in [
            (RollupBucket::Minute, MIN),
            (RollupBucket::Minute, 15 * MIN),
            (RollupBucket::Hour, HOUR),
            (RollupBucket::Hour, 2 * HOUR),
        ] {
            prop_assert!(bucket.divides_step(step));
            let rolled = reader
                .scan_rollup(bucket, series, i64::MIN, i64::MAX)
                .await
                .unwrap();
            prop_assert_eq!(
                per_step(&rolled, step),
                per_step(&raw, step),
                "{} step {}",
                bucket,
                step
            );
        }
    }
    Ok(())
}

fn range() -> impl Strategy<Value = (i64, i64)> {
    let aligned = (0i64..200, 1i64..200).prop_map(|(a, n)| (T0 + a * MIN, T0 + (a + n) * MIN - 1));
    let hours = (0i64..4, 1i64..4).prop_map(|(a, n)| (T0 + a * HOUR, T0 + (a + n) * HOUR - 1));
    let any = (0i64..4 * 3600, 1i64..4 * 3600)
        .prop_map(|(a, n)| (T0 + a * 1_000_000_000, T0 + (a + n) * 1_000_000_000));
    prop_oneof![aligned, hours, any, Just((i64::MIN, i64::MAX))]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn rollups_answer_like_raw_samples(spec in spec(), ranges in prop::collection::vec(range(), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(check(build(&spec), ranges))?;
    }
}

#[tokio::test]
async fn rollup_rows_are_bucket_starts_without_spans() {
    let frames = named_frames(&["a", "b"]);
    let labels = series_labels("api", &cpu(), &[]);
    let at = |t: i64, v: i64, span: u64| {
        let mut p = profile(labels.clone(), cpu(), t, frames.clone(), vec![]);
        p.samples.push(kiln_model::Sample {
            stack: vec![0, 1],
            value: v,
            span_id: span,
        });
        p.profile_id = format!("p{t}");
        p
    };
    let profiles = vec![
        at(T0 + 1, 1, 0),
        at(T0 + 59 * 1_000_000_000, 2, 5),
        at(T0 + MIN, 4, 0),
    ];
    let s = &stores()[0];
    let block = BlockEncoder::new("t1", 2)
        .with_rollups(&[RollupBucket::Minute])
        .encode(&profiles)
        .unwrap();
    block.upload(s.store.as_ref()).await.unwrap();
    let reader = BlockReader::from_meta(s.store.clone(), block.meta.clone()).unwrap();
    assert!(!block.meta.has_rollup(RollupBucket::Hour));
    let all = reader.series().await.unwrap().all();
    let scan = reader
        .scan_rollup(RollupBucket::Minute, &all, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        per_step(&scan, 1),
        BTreeMap::from([((0, T0), 3), ((0, T0 + MIN), 4)])
    );
    let spans = scan.batches[0]
        .column(4)
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap();
    assert!(spans.iter().all(|s| s == Some(0)));
    // Meta lists the rollup after the five base files.
    let names: Vec<&str> = block.meta.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names[5..], ["rollup_1m.parquet"]);
    let err = reader
        .aggregate_by_stack_rollup(RollupBucket::Hour, &all, i64::MIN, i64::MAX)
        .await;
    assert!(matches!(err, Err(BlockError::RollupUnavailable { .. })));
}

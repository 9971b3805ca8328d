//! `SelectSeries` as a DataFusion group-by over `profiles`.
//!
//! ```text
//!  profiles(block, series_id, time_ns, total)            ◄─ BlockScanExec(profiles)
//!  ⋈ groups(block, series_id, group_id)                  ◄─ small per-query table from the SeriesIndex
//!  → bucket = start + ceil((time_ms − start) / step) · step, keep bucket ≤ end
//!  → GROUP BY (group_id, bucket): SUM(total), COUNT(*)
//!    [call site / span ids: SUM comes from the filtered samples instead,
//!     samples ⋈ groups GROUP BY (group_id, bucket) SUM(value), LEFT JOINed
//!     on the profile counts; samples may be rollup rows, see below]
//!  → Rust: points per group (SUM or SUM/COUNT), limit, sort by labels
//! ```
//!
//! Semantics (spec §2.5): a profile at `t` (milliseconds, truncated from its
//! nanosecond time) counts in the first boundary `start + k·step ≥ t`;
//! profiles after the last boundary `≤ end` are dropped; empty buckets are
//! omitted. `group_by` reduces each series' labels to the named labels (a
//! series lacking one simply lacks it in its group); no `group_by` merges
//! everything into one series with no labels.
//!
//! **SUM** adds the totals of every profile in the bucket. **AVERAGE** is the
//! mean of per-profile totals over all profiles of the group in the bucket:
//! three `inuse_space` profiles of 10, 20 and 30 give 20, whether they come
//! from one series or three (e.g. three pods grouped by service). With a call
//! site, a profile's total is the value of its samples under that call site,
//! and a profile without such samples counts as 0 (it is still a profile of
//! the bucket, which matters for AVERAGE).
//!
//! **Rollups.** Only the call-site case reads samples. Its per-step sums are
//! sums of sample values, so the planner may read rollup rows for them when
//! each rollup bucket lies within one step: the step is a multiple of the
//! bucket and `(start + 1 ms)` is a bucket boundary (steps hold
//! `(b − step, b]`). The profile count behind AVERAGE always comes from
//! `profiles.parquet`, so AVERAGE stays the exact per-profile mean.

use crate::api::{Aggregation, SeriesQuery};
use crate::engine::Inner;
use crate::error::QueryError;
use crate::plan::{self, BlockScan, Needs, RollupUse};
use crate::table::{BlockTable, TableKind, cols};
use arrow::array::{Array, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, JoinType};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::{Expr, col, lit};
use kiln_model::{Label, Labels};
use kiln_proto::types::v1::{LabelPair, Point, Series};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const GROUP_ID: &str = "group_id";
const BUCKET: &str = "bucket";

/// The step in milliseconds, truncated as Pyroscope does.
fn step_ms(step_seconds: f64) -> Result<i64, QueryError> {
    let ms = step_seconds * 1000.0;
    if !ms.is_finite() || ms < 1.0 {
        return Err(QueryError::InvalidArgument(format!(
            "step must be at least 1ms, got {step_seconds}s"
        )));
    }
    Ok(ms as i64)
}

/// Series labels reduced to `group_by` (everything merges when it is empty).
fn group_key(labels: &Labels, group_by: &[String]) -> Labels {
    labels
        .iter()
        .filter(|l| group_by.contains(&l.name))
        .cloned()
        .collect()
}

/// The per-query `groups(g_block, g_series, group_id)` table and the labels
/// of each group id.
fn groups(
    scans: &[Arc<BlockScan>],
    group_by: &[String],
) -> Result<(RecordBatch, Vec<Labels>), QueryError> {
    let mut ids: HashMap<Labels, u32> = HashMap::new();
    let mut keys: Vec<Labels> = Vec::new();
    let (mut blocks, mut series, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    for scan in scans {
        for sid in &scan.series {
            let labels = scan
                .series_index
                .labels(sid)
                .ok_or_else(|| QueryError::Internal(format!("series {sid} missing from index")))?;
            let key = group_key(labels, group_by);
            let next = keys.len() as u32;
            let gid = *ids.entry(key.clone()).or_insert_with(|| {
                keys.push(key);
                next
            });
            blocks.push(scan.index);
            series.push(sid);
            groups.push(gid);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("g_block", DataType::UInt32, false),
        Field::new("g_series", DataType::UInt32, false),
        Field::new(GROUP_ID, DataType::UInt32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt32Array::from(blocks)),
            Arc::new(UInt32Array::from(series)),
            Arc::new(UInt32Array::from(groups)),
        ],
    )
    .map_err(DataFusionError::from)?;
    Ok((batch, keys))
}

/// Step boundaries of one query: a row at `time_ns` belongs to the first
/// boundary `start + k·step ≥ time_ms`; rows past the last boundary `≤ end`
/// are dropped.
#[derive(Debug, Clone, Copy)]
struct Steps {
    start: i64,
    end: i64,
    step: i64,
}

/// `(group_id, bucket, v)` of a table with `block, series_id, time_ns`:
/// rows joined to their group and labelled with their step boundary.
fn bucketed(
    inner: &Inner,
    table: DataFrame,
    mapping: &Arc<MemTable>,
    steps: Steps,
    value: Expr,
) -> Result<DataFrame, QueryError> {
    let Steps { start, end, step } = steps;
    let time_ms = col(cols::TIME_NS) / lit(1_000_000i64);
    let bucket = lit(start) + ((time_ms - lit(start) + lit(step - 1)) / lit(step)) * lit(step);
    Ok(table
        .join(
            inner.ctx.read_table(mapping.clone())?,
            JoinType::Inner,
            &[cols::BLOCK, cols::SERIES_ID],
            &["g_block", "g_series"],
            None,
        )?
        .select(vec![col(GROUP_ID), bucket.alias(BUCKET), value.alias("v")])?
        .filter(col(BUCKET).lt_eq(lit(end)))?)
}

/// `(group_id, bucket, sum, profiles)`: per group and step, the summed
/// totals and the number of profiles.
///
/// Without stack or span filters the totals are `profiles.parquet`'s. With
/// them, `sum` is the value of the samples that pass the filters (summed
/// straight from `samples` rows, or from rollup rows when the planner chose
/// rollups whose buckets lie within one step) and `profiles` still counts
/// every selected profile of the step, so a profile without matching samples
/// counts as 0 in an AVERAGE.
fn step_totals(
    inner: &Inner,
    scans: &[Arc<BlockScan>],
    mapping: &Arc<MemTable>,
    steps: Steps,
    from_samples: bool,
) -> Result<DataFrame, QueryError> {
    let n = inner.target_partitions;
    let key = || vec![col(GROUP_ID), col(BUCKET)];
    let profiles =
        inner
            .ctx
            .read_table(Arc::new(BlockTable::new(TableKind::Profiles, scans, n)))?;
    if !from_samples {
        return Ok(bucketed(inner, profiles, mapping, steps, col(cols::TOTAL))?
            .aggregate(
                key(),
                vec![
                    sum(col("v")).alias("sum"),
                    count(lit(1i64)).alias("profiles"),
                ],
            )?
            .select(vec![
                col(GROUP_ID),
                col(BUCKET),
                col("sum"),
                col("profiles"),
            ])?);
    }
    let counts = bucketed(inner, profiles, mapping, steps, lit(0i64))?
        .aggregate(key(), vec![count(lit(1i64)).alias("profiles")])?;
    let samples = inner
        .ctx
        .read_table(Arc::new(BlockTable::new(TableKind::Samples, scans, n)))?;
    let sums = bucketed(inner, samples, mapping, steps, col(cols::VALUE))?
        .aggregate(key(), vec![sum(col("v")).alias("s_total")])?
        .select(vec![
            col(GROUP_ID).alias("s_group"),
            col(BUCKET).alias("s_bucket"),
            col("s_total"),
        ])?;
    Ok(counts
        .join(
            sums,
            JoinType::Left,
            &[GROUP_ID, BUCKET],
            &["s_group", "s_bucket"],
            None,
        )?
        .select(vec![
            col(GROUP_ID),
            col(BUCKET),
            coalesce(vec![col("s_total"), lit(0i64)]).alias("sum"),
            col("profiles"),
        ])?)
}

fn int64_column(batch: &RecordBatch, i: usize) -> Result<Int64Array, QueryError> {
    let c = cast(batch.column(i), &DataType::Int64).map_err(DataFusionError::from)?;
    c.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| QueryError::Internal("series column is not Int64".into()))
}

/// The step-totals DataFrame of `query` and the label sets of its group
/// ids; `None` when no block has anything to read.
pub(crate) async fn series_frame(
    inner: &Inner,
    query: &SeriesQuery,
) -> Result<Option<(DataFrame, Vec<Labels>)>, QueryError> {
    let step = step_ms(query.step_seconds)?;
    let q = &query.profiles;
    let (start, end) = (q.start_ms, q.end_ms);
    let from_samples = !q.call_site.is_empty() || !q.span_ids.is_empty();
    let needs = Needs {
        stacks: false,
        rollups: RollupUse::Steps {
            start_ms: start,
            step_ms: step,
        },
    };
    let scans = plan::plan(inner, q, needs).await?;
    if scans.is_empty() {
        return Ok(None);
    }
    let scans: Vec<Arc<BlockScan>> = scans.into_iter().map(Arc::new).collect();
    let (mapping, keys) = groups(&scans, &query.group_by)?;
    let mapping = Arc::new(MemTable::try_new(mapping.schema(), vec![vec![mapping]])?);
    let steps = Steps { start, end, step };
    let df = step_totals(inner, &scans, &mapping, steps, from_samples)?;
    Ok(Some((df, keys)))
}

pub(crate) async fn select_series(
    inner: &Inner,
    query: &SeriesQuery,
) -> Result<Vec<Series>, QueryError> {
    let Some((df, keys)) = series_frame(inner, query).await? else {
        return Ok(Vec::new());
    };
    let batches = crate::engine::execute(inner, df, "select_series").await?;

    let mut points: Vec<BTreeMap<i64, f64>> = vec![BTreeMap::new(); keys.len()];
    for batch in &batches {
        let groups = int64_column(batch, 0)?;
        let buckets = int64_column(batch, 1)?;
        let sums = int64_column(batch, 2)?;
        let counts = int64_column(batch, 3)?;
        for i in 0..batch.num_rows() {
            let (sum, n) = (sums.value(i) as f64, counts.value(i) as f64);
            let value = match query.aggregation {
                Aggregation::Sum => sum,
                Aggregation::Average => sum / n,
            };
            points[groups.value(i) as usize].insert(buckets.value(i), value);
        }
    }
    Ok(finish(keys, points, query.limit))
}

/// Builds the response: non-empty groups, top `limit` by summed point values
/// (ties by labels; `Some(0)` means no limit, as in Pyroscope), sorted by labels.
fn finish(keys: Vec<Labels>, points: Vec<BTreeMap<i64, f64>>, limit: Option<usize>) -> Vec<Series> {
    let mut series: Vec<(Labels, BTreeMap<i64, f64>)> = keys
        .into_iter()
        .zip(points)
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if let Some(n) = limit.filter(|&n| n > 0 && n < series.len()) {
        let total = |p: &BTreeMap<i64, f64>| p.values().sum::<f64>();
        series.sort_by(|a, b| {
            total(&b.1)
                .total_cmp(&total(&a.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        series.truncate(n);
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    series
        .into_iter()
        .map(|(labels, points)| Series {
            labels: labels
                .iter()
                .map(|Label { name, value }| LabelPair {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            points: points
                .into_iter()
                .map(|(timestamp, value)| Point {
                    value,
                    timestamp,
                    ..Default::default()
                })
                .collect(),
        })
        .collect()
}

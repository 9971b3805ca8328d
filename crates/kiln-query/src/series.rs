//! `SelectSeries` as a DataFusion group-by over `profiles`.
//!
//! ```text
//!  profiles(block, series_id, time_ns, total)            ◄─ BlockScanExec(profiles)
//!    [call site / span ids: total := COALESCE(Σ value of the profile's
//!     samples that pass the filters, 0) via samples GROUP BY (block, series_id, time_ns)
//!     LEFT JOINed on the profile]
//!  ⋈ groups(block, series_id, group_id)                  ◄─ small per-query table from the SeriesIndex
//!  → bucket = start + ceil((time_ms − start) / step) · step, keep bucket ≤ end
//!  → GROUP BY (group_id, bucket): SUM(total), COUNT(*)
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

use crate::api::{Aggregation, SeriesQuery};
use crate::engine::Inner;
use crate::error::QueryError;
use crate::plan::{self, BlockScan, Needs};
use crate::table::{BlockTable, TableKind, cols};
use arrow::array::{Array, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, JoinType};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::functions::expr_fn::coalesce;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::{col, lit};
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

/// `profiles(block, series_id, time_ns, total)`, with totals recomputed from
/// filtered samples when the query filters stacks or spans.
fn profile_totals(
    inner: &Inner,
    scans: &[Arc<BlockScan>],
    from_samples: bool,
) -> Result<DataFrame, QueryError> {
    let n = inner.target_partitions;
    let profiles = inner
        .ctx
        .read_table(Arc::new(BlockTable::new(TableKind::Profiles, scans, n)))?
        .select(vec![
            col(cols::BLOCK),
            col(cols::SERIES_ID),
            col(cols::TIME_NS),
            col(cols::TOTAL),
        ])?;
    if !from_samples {
        return Ok(profiles);
    }
    let key = [cols::BLOCK, cols::SERIES_ID, cols::TIME_NS];
    let per_profile = inner
        .ctx
        .read_table(Arc::new(BlockTable::new(TableKind::Samples, scans, n)))?
        .aggregate(
            key.iter().map(|c| col(*c)).collect(),
            vec![sum(col(cols::VALUE)).alias("s_total")],
        )?
        .select(vec![
            col(cols::BLOCK).alias("s_block"),
            col(cols::SERIES_ID).alias("s_series"),
            col(cols::TIME_NS).alias("s_time"),
            col("s_total"),
        ])?;
    Ok(profiles
        .join(
            per_profile,
            JoinType::Left,
            &key,
            &["s_block", "s_series", "s_time"],
            None,
        )?
        .select(vec![
            col(cols::BLOCK),
            col(cols::SERIES_ID),
            col(cols::TIME_NS),
            coalesce(vec![col("s_total"), lit(0i64)]).alias(cols::TOTAL),
        ])?)
}

fn int64_column(batch: &RecordBatch, i: usize) -> Result<Int64Array, QueryError> {
    let c = cast(batch.column(i), &DataType::Int64).map_err(DataFusionError::from)?;
    c.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| QueryError::Internal("series column is not Int64".into()))
}

pub(crate) async fn select_series(
    inner: &Inner,
    query: &SeriesQuery,
) -> Result<Vec<Series>, QueryError> {
    let step = step_ms(query.step_seconds)?;
    let q = &query.profiles;
    let (start, end) = (q.start_ms, q.end_ms);
    let from_samples = !q.call_site.is_empty() || !q.span_ids.is_empty();
    let scans = plan::plan(inner, q, Needs::default()).await?;
    if scans.is_empty() {
        return Ok(Vec::new());
    }
    let scans: Vec<Arc<BlockScan>> = scans.into_iter().map(Arc::new).collect();
    let (mapping, keys) = groups(&scans, &query.group_by)?;
    let mapping = MemTable::try_new(mapping.schema(), vec![vec![mapping]])?;

    let time_ms = col(cols::TIME_NS) / lit(1_000_000i64);
    let bucket = lit(start) + ((time_ms - lit(start) + lit(step - 1)) / lit(step)) * lit(step);
    let df = profile_totals(inner, &scans, from_samples)?
        .join(
            inner.ctx.read_table(Arc::new(mapping))?,
            JoinType::Inner,
            &[cols::BLOCK, cols::SERIES_ID],
            &["g_block", "g_series"],
            None,
        )?
        .select(vec![col(GROUP_ID), bucket.alias(BUCKET), col(cols::TOTAL)])?
        .filter(col(BUCKET).lt_eq(lit(end)))?
        .aggregate(
            vec![col(GROUP_ID), col(BUCKET)],
            vec![
                sum(col(cols::TOTAL)).alias("sum"),
                count(lit(1i64)).alias("profiles"),
            ],
        )?
        .select(vec![
            col(GROUP_ID),
            col(BUCKET),
            col("sum"),
            col("profiles"),
        ])?;
    let batches = crate::engine::execute(df, "select_series").await?;

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

//! `profile_samples`: the convenient denormalised table, one row per stored
//! sample row (time, series, stack), with the series' labels and the stack
//! resolved to function names, root first.
//!
//! Only the projected columns are built: a query that never reads `stack`
//! never loads the block's stack tables. Filters on `time`, `service_name`
//! and `profile_type` prune blocks, series (through the postings) and row
//! groups/pages before anything is decoded.
//!
//! A pre-aggregated variant ([`ProfileSamplesTable::pre_aggregated`], put
//! in place by the `pre_aggregate` optimizer rule under `SUM(value)` or
//! `flamegraph(stack, value)` grouped by anything but `time`) sums each
//! block's samples per (series, stack id) before any stack is resolved: a
//! day of one service's CPU is a few dozen rows per block instead of one
//! per sample, each with its stack built once.

use super::dims::{OpenBlock, block_exec};
use super::scan::{TIME, project_schema};
use super::types::{
    LABELS_TYPE, STACK_TYPE, field, labels_builder, stack_builder, time_type, timestamps,
};
use crate::blocks::{TenantBlock, TenantBlocks};
use crate::pushdown::{
    TimeRange, is_equality_filter, is_time_filter, string_equalities, time_range,
};
use arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringBuilder, UInt32Array,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kiln_block::schema::cols;
use kiln_block::{BlockReader, SeriesIndex, StackResolver};
use std::sync::{Arc, LazyLock};

const SERVICE: &str = "service_name";
const PROFILE_TYPE: &str = "profile_type";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(TIME, time_type()),
        field(SERVICE, DataType::Utf8),
        field(PROFILE_TYPE, DataType::Utf8),
        field("labels", LABELS_TYPE.clone()),
        field("stack", STACK_TYPE.clone()),
        field("value", DataType::Int64),
    ]))
});

/// Column positions in [`SCHEMA`].
mod col {
    pub const TIME: usize = 0;
    pub const SERVICE: usize = 1;
    pub const PROFILE_TYPE: usize = 2;
    pub const LABELS: usize = 3;
    pub const STACK: usize = 4;
    pub const VALUE: usize = 5;
}

/// The `profile_samples` table of one session.
#[derive(Debug)]
pub(crate) struct ProfileSamplesTable {
    blocks: Arc<TenantBlocks>,
    partitions: usize,
    /// One row per (series, stack) with the value summed over the time
    /// range the filters give (which it applies exactly); `time` is not
    /// readable.
    pre_aggregated: bool,
}

impl ProfileSamplesTable {
    pub(crate) fn new(blocks: Arc<TenantBlocks>, partitions: usize) -> Self {
        Self {
            blocks,
            partitions,
            pre_aggregated: false,
        }
    }

    /// The same table, pre-aggregated (see the module docs).
    pub(crate) fn pre_aggregated(&self) -> Self {
        Self {
            blocks: self.blocks.clone(),
            partitions: self.partitions,
            pre_aggregated: true,
        }
    }

    pub(crate) fn is_pre_aggregated(&self) -> bool {
        self.pre_aggregated
    }
}

/// Whether the scan applies `f` exactly: a time comparison with a constant,
/// or `service_name`/`profile_type` equal to a string. Only filters made of
/// these let the pre-aggregated table replace the plain one.
pub(crate) fn is_exact_filter(f: &Expr) -> bool {
    match f {
        Expr::BinaryExpr(b) if b.op == datafusion::logical_expr::Operator::And => {
            is_exact_filter(&b.left) && is_exact_filter(&b.right)
        }
        _ => {
            is_time_filter(f, TIME)
                || is_equality_filter(f, SERVICE)
                || is_equality_filter(f, PROFILE_TYPE)
        }
    }
}

/// What one block's scan reads.
#[derive(Debug)]
struct Selection {
    range: TimeRange,
    services: Vec<String>,
    profile_types: Vec<String>,
    /// Output columns, as indices into [`SCHEMA`].
    columns: Vec<usize>,
    /// Sum values per (series, stack) instead of a row per sample.
    aggregate: bool,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for ProfileSamplesTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.pre_aggregated && is_exact_filter(f) {
                    TableProviderFilterPushDown::Exact
                } else if is_time_filter(f, TIME)
                    || is_equality_filter(f, SERVICE)
                    || is_equality_filter(f, PROFILE_TYPE)
                {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.pre_aggregated && projection.is_none_or(|p| p.contains(&col::TIME)) {
            return Err(DataFusionError::Internal(
                "pre-aggregated profile_samples has no time column".into(),
            ));
        }
        let range = time_range(filters, TIME);
        let blocks = self.blocks.list(range.start_ns, range.end_ns).await?;
        let schema = project_schema(&SCHEMA, projection)?;
        let selection = Arc::new(Selection {
            range,
            services: string_equalities(filters, SERVICE),
            profile_types: string_equalities(filters, PROFILE_TYPE),
            columns: match projection {
                Some(p) => p.clone(),
                None => (0..SCHEMA.fields().len()).collect(),
            },
            aggregate: self.pre_aggregated,
            schema: schema.clone(),
        });
        let open: OpenBlock = Arc::new(move |block| Box::pin(open_block(block, selection.clone())));
        block_exec(schema, blocks, self.partitions, open)
    }
}

fn external(e: kiln_block::BlockError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

async fn open_block(
    source: TenantBlock,
    sel: Arc<Selection>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let index = source.series().await?;
    let series = index.select(|_| true);
    let series: roaring::RoaringBitmap = series
        .iter()
        .filter(|&id| {
            let e = index.get(id).expect("postings name existing series");
            sel.services.iter().all(|s| *s == e.service_name)
                && sel.profile_types.iter().all(|p| *p == e.profile_type)
        })
        .collect();
    if series.is_empty() {
        return Ok(futures::stream::empty().boxed());
    }
    let stacks = if sel.columns.contains(&col::STACK) {
        Some(source.stacks().await?)
    } else {
        None
    };
    let reader = source.reader().await?;
    if sel.aggregate {
        let totals = sum_by_stack(&reader, &series, &sel).await?;
        let batch = output(&totals, &index, stacks.as_deref(), &sel)?;
        return Ok(futures::stream::once(async { Ok(batch) }).boxed());
    }
    let (stream, _) = reader
        .scan_samples_stream(&series, sel.range.start_ns, sel.range.end_ns)
        .await
        .map_err(external)?;
    Ok(stream
        .map_err(external)
        .map(move |batch| output(&batch?, &index, stacks.as_deref(), &sel))
        .boxed())
}

/// The block's samples of `series` in the time range summed per stack with
/// kiln-block's `aggregate_by_stack` (the query path's merge), per series
/// when a series column is read, else over them all; as one batch of the
/// columns [`output`] reads (`series_id`, `stack_id`, `value`). Without a
/// series column the `series_id` is any selected one: nothing reads it.
async fn sum_by_stack(
    reader: &BlockReader,
    series: &roaring::RoaringBitmap,
    sel: &Selection,
) -> Result<RecordBatch> {
    let per_series = sel
        .columns
        .iter()
        .any(|c| matches!(*c, col::SERVICE | col::PROFILE_TYPE | col::LABELS));
    let groups: Vec<(u32, roaring::RoaringBitmap)> = if per_series {
        series
            .iter()
            .map(|id| (id, std::iter::once(id).collect()))
            .collect()
    } else {
        series
            .min()
            .map(|id| (id, series.clone()))
            .into_iter()
            .collect()
    };
    let (mut ids, mut stack_ids, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (id, set) in groups {
        let totals = reader
            .aggregate_by_stack(&set, sel.range.start_ns, sel.range.end_ns)
            .await
            .map_err(external)?;
        let mut totals: Vec<_> = totals.into_iter().collect();
        totals.sort_unstable();
        for (stack, value) in totals {
            ids.push(id);
            stack_ids.push(stack);
            values.push(value);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        field(cols::SERIES_ID, DataType::UInt32),
        field(cols::STACK_ID, DataType::UInt32),
        field(cols::VALUE, DataType::Int64),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(ids)),
        Arc::new(UInt32Array::from(stack_ids)),
        Arc::new(Int64Array::from(values)),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn file_column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DataFusionError::Internal(format!("samples batch lacks column {name}")))
}

/// One samples batch as `profile_samples` rows.
fn output(
    batch: &RecordBatch,
    index: &SeriesIndex,
    stacks: Option<&StackResolver>,
    sel: &Selection,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let series = file_column::<UInt32Array>(batch, cols::SERIES_ID)?;
    let entry = |i: usize| {
        index.get(series.value(i)).ok_or_else(|| {
            DataFusionError::Internal(format!("unknown series id {}", series.value(i)))
        })
    };
    let text = |get: fn(&kiln_block::SeriesEntry) -> &str| -> Result<ArrayRef> {
        let mut b = StringBuilder::with_capacity(rows, rows * 16);
        for i in 0..rows {
            b.append_value(get(entry(i)?));
        }
        Ok(Arc::new(b.finish()))
    };
    let columns = sel
        .columns
        .iter()
        .map(|&c| -> Result<ArrayRef> {
            match c {
                col::TIME => Ok(timestamps(file_column::<Int64Array>(batch, cols::TIME_NS)?)),
                col::SERVICE => text(|e| &e.service_name),
                col::PROFILE_TYPE => text(|e| &e.profile_type),
                col::LABELS => {
                    let mut m = labels_builder();
                    for i in 0..rows {
                        for l in entry(i)?.labels.iter() {
                            m.keys().append_value(&l.name);
                            m.values().append_value(&l.value);
                        }
                        m.append(true)?;
                    }
                    Ok(Arc::new(m.finish()))
                }
                col::STACK => {
                    let resolver = stacks.ok_or_else(|| {
                        DataFusionError::Internal("stack resolver not loaded".into())
                    })?;
                    let ids = file_column::<UInt32Array>(batch, cols::STACK_ID)?;
                    let frames = resolver.frames();
                    let mut b = stack_builder();
                    let mut path = Vec::new();
                    for i in 0..rows {
                        resolver
                            .frame_ids_into(ids.value(i), &mut path)
                            .map_err(external)?;
                        for &f in &path {
                            b.values().append_value(&frames[f as usize].function);
                        }
                        b.append(true);
                    }
                    Ok(Arc::new(b.finish()))
                }
                col::VALUE => Ok(batch
                    .column_by_name(cols::VALUE)
                    .ok_or_else(|| DataFusionError::Internal("samples lack value".into()))?
                    .clone()),
                other => Err(DataFusionError::Internal(format!(
                    "profile_samples has no column {other}"
                ))),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        sel.schema.clone(),
        columns,
        &options,
    )?)
}

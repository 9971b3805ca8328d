//! Reading one planned block into batches of a query table.

use super::{BlockScan, TableKind};
use crate::plan::{Segment, Source};
use arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions, UInt32Array,
    UInt64Array,
};
use arrow::compute::filter;
use arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kiln_block::schema::cols;
use std::sync::Arc;

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Starts reading `scan`'s block: the pruned scan is planned (footer and page
/// index fetched, row groups and pages chosen) before this resolves.
pub(super) async fn open_block(
    kind: TableKind,
    scan: Arc<BlockScan>,
    projection: Option<Vec<usize>>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let full = kind.schema();
    let schema = match &projection {
        Some(p) => Arc::new(full.project(p)?),
        None => full,
    };
    match kind {
        TableKind::Samples => open_samples(scan, schema, projection).await,
        TableKind::Profiles => open_profiles(scan, schema, projection).await,
    }
}

/// Opens every segment of the block's scan (see `plan::source`): rollup
/// interiors and raw edges, chained in time order.
async fn open_samples(
    scan: Arc<BlockScan>,
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let mut parts = Vec::with_capacity(scan.segments.len());
    for segment in &scan.segments {
        let Segment {
            source,
            start_ns,
            end_ns,
        } = *segment;
        let (stream, _stats) = match source {
            Source::Samples => {
                scan.reader
                    .scan_samples_stream(&scan.series, start_ns, end_ns)
                    .await
            }
            Source::Rollup(bucket) => {
                scan.reader
                    .scan_rollup_stream(bucket, &scan.series, start_ns, end_ns)
                    .await
            }
        }
        .map_err(external)?;
        scan.counters.scan(source);
        let (scan, schema, projection) = (scan.clone(), schema.clone(), projection.clone());
        parts.push(stream.map_err(external).and_then(move |batch| {
            let out = samples_batch(&scan, &batch, &schema, projection.as_deref());
            if let Ok(b) = &out {
                scan.counters.rows(source, b.num_rows());
            }
            async move { out }
        }));
    }
    let batches = futures::stream::iter(parts)
        .flatten()
        .try_filter(|b| futures::future::ready(b.num_rows() > 0));
    Ok(batches.boxed())
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DataFusionError::Internal(format!("scanned batch lacks column {name}")))
}

/// Applies the call-site, profile-id and span filters to a batch of
/// `samples.parquet` rows, then adds the block column and projects.
fn samples_batch(
    scan: &BlockScan,
    batch: &RecordBatch,
    schema: &SchemaRef,
    projection: Option<&[usize]>,
) -> Result<RecordBatch> {
    let mask = filter_mask(
        scan,
        column::<UInt32Array>(batch, cols::SERIES_ID)?,
        column::<Int64Array>(batch, cols::TIME_NS)?,
        column::<UInt32Array>(batch, cols::STACK_ID)?,
        column::<UInt64Array>(batch, cols::SPAN_ID)?,
    );
    let indices: Vec<usize> = match projection {
        Some(p) => p.to_vec(),
        None => (0..TableKind::Samples.schema().fields().len()).collect(),
    };
    project(
        TableKind::Samples,
        scan,
        batch,
        mask.as_ref(),
        &indices,
        schema,
    )
}

/// `batch` (columns of `kind`'s file) as a batch of the table's columns
/// `indices`, keeping the rows of `mask`. Only those columns are filtered
/// and materialised; the block column (index 0) is the one the file does
/// not have.
fn project(
    kind: TableKind,
    scan: &BlockScan,
    batch: &RecordBatch,
    mask: Option<&BooleanArray>,
    indices: &[usize],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let rows = mask.map_or(batch.num_rows(), BooleanArray::true_count);
    let full = kind.schema();
    let columns = indices
        .iter()
        .map(|&i| -> Result<ArrayRef> {
            if i == 0 {
                return Ok(Arc::new(UInt32Array::from_value(scan.index, rows)));
            }
            let name = full.field(i).name();
            let c = batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("{kind:?} batch lacks column {name}"))
            })?;
            Ok(match mask {
                Some(m) => filter(c.as_ref(), m)?,
                None => c.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// Streams the block's `profiles.parquet` rows, decoding only the
/// projected columns (a series query needs `series_id`, `time_ns` and
/// `total`, not the profile ids that make up most of the file).
async fn open_profiles(
    scan: Arc<BlockScan>,
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let full = TableKind::Profiles.schema();
    let indices: Vec<usize> = match projection {
        Some(p) => p,
        None => (0..full.fields().len()).collect(),
    };
    // Index 0 is the block column, which the file does not have.
    let names: Vec<String> = indices
        .iter()
        .filter(|&&i| i != 0)
        .map(|&i| full.field(i).name().clone())
        .collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let stream = scan
        .reader
        .profiles_columns_stream(&scan.series, scan.start_ns, scan.end_ns, &wanted)
        .await
        .map_err(external)?;
    let batches = stream.map_err(external).and_then(move |batch| {
        let out = profiles_batch(&scan, &batch, &schema, &indices);
        async move { out }
    });
    Ok(batches
        .try_filter(|b| futures::future::ready(b.num_rows() > 0))
        .boxed())
}

/// Applies the profile-id filter to a batch of `profiles.parquet` columns,
/// then adds the block column and projects to `indices` of the table.
fn profiles_batch(
    scan: &BlockScan,
    batch: &RecordBatch,
    schema: &SchemaRef,
    indices: &[usize],
) -> Result<RecordBatch> {
    let mask = scan.profile_filter.as_ref().map(|pairs| {
        let series = column::<UInt32Array>(batch, cols::SERIES_ID)?;
        let times = column::<Int64Array>(batch, cols::TIME_NS)?;
        Ok::<_, DataFusionError>(
            (0..batch.num_rows())
                .map(|i| Some(pairs.contains(&(series.value(i), times.value(i)))))
                .collect::<BooleanArray>(),
        )
    });
    let mask = mask.transpose()?;
    project(
        TableKind::Profiles,
        scan,
        batch,
        mask.as_ref(),
        indices,
        schema,
    )
}

/// The rows of a samples batch that pass the block's exact filters, or
/// `None` when no filter is set.
fn filter_mask(
    scan: &BlockScan,
    series: &UInt32Array,
    times: &Int64Array,
    stacks: &UInt32Array,
    spans: &UInt64Array,
) -> Option<BooleanArray> {
    if scan.stack_filter.is_none() && scan.profile_filter.is_none() && scan.span_filter.is_none() {
        return None;
    }
    let mask = (0..series.len())
        .map(|i| {
            let keep = scan
                .stack_filter
                .as_ref()
                .is_none_or(|f| f.contains(stacks.value(i)))
                && scan
                    .profile_filter
                    .as_ref()
                    .is_none_or(|f| f.contains(&(series.value(i), times.value(i))))
                && scan
                    .span_filter
                    .as_ref()
                    .is_none_or(|f| f.contains(&spans.value(i)));
            Some(keep)
        })
        .collect();
    Some(mask)
}

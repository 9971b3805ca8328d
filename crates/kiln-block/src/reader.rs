//! Reading blocks: `meta.json` first, then only the parts of the Parquet
//! files a query needs.
//!
//! ```text
//!  open: meta.json (missing → NotFound)
//!  series():         series.parquet (one GET) ─► SeriesIndex (labels, roaring postings)
//!  scan_samples():   samples.parquet footer + page index (one GET, cached)
//!                    ─► prune row groups (series_id/time_ns statistics)
//!                    ─► prune pages (column + offset index) ─► RowSelection
//!                    ─► fetch only the selected pages ─► exact filter
//!  aggregate_by_stack(): the same scan, summed into a dense Vec indexed by stack id
//!  profiles(), profiles_stream(), profiles_columns_stream() (projected):
//!                    the same pruning over profiles.parquet
//!  scan_rollup*(), aggregate_by_stack_rollup(): the same over rollup_1m/1h.parquet
//!  stack_resolver(): stacks.parquet + frames.parquet (one GET each) ─► StackResolver
//! ```
//!
//! Decoding happens on the task that polls the scan; query engines that care
//! run scans on their CPU runtime.

mod arrays;
mod object_file;
mod profiles;
mod prune;
mod rollup;
mod series_index;
mod stacks;

pub use object_file::IoStats;
pub use profiles::ProfileRecord;
pub use prune::ScanStats;
pub use series_index::{SeriesEntry, SeriesIndex};
pub use stacks::StackResolver;

use crate::meta::BlockMeta;
use crate::paths::{self, files};
use crate::schema::{SORTED_SERIES_COL, SORTED_TIME_COL, samples_idx};
use crate::{BlockError, FORMAT_VERSION};
use arrays::column_at;
use arrow::array::{BooleanArray, Int64Array, RecordBatch, UInt32Array};
use arrow::compute::filter_record_batch;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_file::{IoCounters, ObjectFile};
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelectionPolicy,
};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::metadata::PageIndexPolicy;
use roaring::RoaringBitmap;
use std::sync::Arc;
use tokio::sync::OnceCell;
use ulid::Ulid;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// Every column of `samples.parquet` (and of the rollup tables).
const SAMPLE_COLUMNS: [usize; 5] = [
    samples_idx::SERIES_ID,
    samples_idx::TIME_NS,
    samples_idx::STACK_ID,
    samples_idx::VALUE,
    samples_idx::SPAN_ID,
];

/// Stack id → summed value.
pub type StackTotals = foldhash::HashMap<u32, i64>;

/// A stream of decoded, exactly filtered batches.
pub type BatchStream = BoxStream<'static, Result<RecordBatch, BlockError>>;

/// The result of [`BlockReader::scan_samples`].
#[derive(Debug, Clone)]
pub struct SampleScan {
    /// Columns of `samples.parquet`, only rows matching the predicate.
    pub batches: Vec<RecordBatch>,
    pub stats: ScanStats,
}

/// Reads one committed block. Caches its series index, stack tables and
/// Parquet metadata, so keep one per block while it is hot.
pub struct BlockReader {
    store: Arc<dyn ObjectStore>,
    meta: BlockMeta,
    counters: Arc<IoCounters>,
    samples_md: OnceCell<ArrowReaderMetadata>,
    profiles_md: OnceCell<ArrowReaderMetadata>,
    /// Footers of the rollup tables, indexed like [`RollupBucket::ALL`].
    rollup_md: [OnceCell<ArrowReaderMetadata>; 2],
    series: OnceCell<Arc<SeriesIndex>>,
    stacks: OnceCell<Arc<StackResolver>>,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl BlockReader {
    /// Opens block `id` of `tenant` by reading its `meta.json`.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        tenant: &str,
        id: Ulid,
    ) -> Result<Self, BlockError> {
        let path = paths::block_file(tenant, id, files::META);
        let bytes = match store.get(&path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlockError::NotFound {
                    tenant: tenant.to_string(),
                    id,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let meta: BlockMeta = serde_json::from_slice(&bytes)?;
        if meta.tenant != tenant || meta.id != id {
            return Err(BlockError::corrupt(format!(
                "meta.json at {path} describes block {}/{}",
                meta.tenant, meta.id
            )));
        }
        let reader = Self::from_meta(store, meta)?;
        reader.counters.record(1, bytes.len() as u64);
        Ok(reader)
    }

    /// A reader for a block whose meta is already known (e.g. from the metastore).
    pub fn from_meta(store: Arc<dyn ObjectStore>, meta: BlockMeta) -> Result<Self, BlockError> {
        if meta.format_version > FORMAT_VERSION {
            return Err(BlockError::UnsupportedVersion {
                found: meta.format_version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(Self {
            store,
            meta,
            counters: Arc::default(),
            samples_md: OnceCell::new(),
            profiles_md: OnceCell::new(),
            rollup_md: [OnceCell::new(), OnceCell::new()],
            series: OnceCell::new(),
            stacks: OnceCell::new(),
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Object-store traffic of this reader so far.
    pub fn io_stats(&self) -> IoStats {
        self.counters.snapshot()
    }

    fn file(&self, name: &str) -> Result<ObjectFile, BlockError> {
        let f = self
            .meta
            .file(name)
            .ok_or_else(|| BlockError::corrupt(format!("meta.json lists no {name}")))?;
        Ok(ObjectFile::new(
            self.store.clone(),
            paths::block_file(&self.meta.tenant, self.meta.id, name),
            f.bytes,
            f.footer_bytes,
            self.counters.clone(),
        ))
    }

    /// Reads a small file whole (one GET) and decodes every row.
    async fn read_all(&self, name: &str) -> Result<Vec<RecordBatch>, BlockError> {
        let bytes: Bytes = self.file(name)?.get_all().await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
            .with_batch_size(BATCH_ROWS)
            .build()?;
        Ok(reader.collect::<Result<Vec<_>, _>>()?)
    }

    async fn arrow_metadata(
        &self,
        name: &str,
        cell: &OnceCell<ArrowReaderMetadata>,
    ) -> Result<ArrowReaderMetadata, BlockError> {
        let md = cell
            .get_or_try_init(|| async {
                let md = self.file(name)?.load_metadata().await?;
                let options =
                    ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
                Ok::<_, BlockError>(ArrowReaderMetadata::try_new(md, options)?)
            })
            .await?;
        Ok(md.clone())
    }

    /// The block's series with postings, loaded once.
    pub async fn series(&self) -> Result<Arc<SeriesIndex>, BlockError> {
        let index = self
            .series
            .get_or_try_init(|| async {
                let batches = self.read_all(files::SERIES).await?;
                Ok::<_, BlockError>(Arc::new(SeriesIndex::from_batches(&batches)?))
            })
            .await?;
        Ok(index.clone())
    }

    /// The block's stacks and frames, loaded once.
    pub async fn stack_resolver(&self) -> Result<Arc<StackResolver>, BlockError> {
        let resolver = self
            .stacks
            .get_or_try_init(|| async {
                let (stacks, frames) =
                    futures::try_join!(self.read_all(files::STACKS), self.read_all(files::FRAMES))?;
                Ok::<_, BlockError>(Arc::new(StackResolver::from_batches(&stacks, &frames)?))
            })
            .await?;
        Ok(resolver.clone())
    }

    /// Plans and starts a pruned scan of a file sorted by (series_id, time_ns);
    /// yields batches of the projected columns *before* the exact filter.
    async fn pruned_scan(
        &self,
        name: &str,
        cell: &OnceCell<ArrowReaderMetadata>,
        columns: &[usize],
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<(BatchStream, ScanStats), BlockError> {
        let md = self.arrow_metadata(name, cell).await?;
        let predicate = prune::Predicate {
            series,
            start_ns,
            end_ns,
            series_col: SORTED_SERIES_COL,
            time_col: SORTED_TIME_COL,
        };
        let plan = prune::plan(md.metadata(), &predicate);
        if plan.row_groups.is_empty() {
            return Ok((stream::empty().boxed(), plan.stats));
        }
        let projection = ProjectionMask::roots(md.parquet_schema(), columns.iter().copied());
        let file = self.file(name)?.with_metadata(md.metadata().clone());
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(file, md)
            .with_projection(projection)
            .with_row_groups(plan.row_groups)
            .with_row_selection(plan.selection)
            .with_row_selection_policy(RowSelectionPolicy::Selectors)
            .with_batch_size(BATCH_ROWS)
            .build()?;
        Ok((stream.map_err(BlockError::from).boxed(), plan.stats))
    }

    /// Samples of `series` with `start_ns <= time_ns <= end_ns`, as a stream of
    /// batches with every column of `samples.parquet`. The stats describe the
    /// plan (`rows_matched` stays 0).
    pub async fn scan_samples_stream(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<(BatchStream, ScanStats), BlockError> {
        self.exact_scan(
            files::SAMPLES,
            &self.samples_md,
            &SAMPLE_COLUMNS,
            series,
            start_ns,
            end_ns,
        )
        .await
    }

    /// A pruned scan of a file sorted by (series_id, time_ns), filtered
    /// exactly, without empty batches.
    async fn exact_scan(
        &self,
        name: &str,
        cell: &OnceCell<ArrowReaderMetadata>,
        columns: &[usize],
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<(BatchStream, ScanStats), BlockError> {
        let (raw, stats) = self
            .pruned_scan(name, cell, columns, series, start_ns, end_ns)
            .await?;
        let series = series.clone();
        let filtered = raw.and_then(move |batch| {
            let out = filter_exact(
                &batch,
                &series,
                start_ns,
                end_ns,
                SORTED_SERIES_COL,
                SORTED_TIME_COL,
            );
            async move { out }
        });
        let non_empty = filtered.try_filter(|b| futures::future::ready(b.num_rows() > 0));
        Ok((non_empty.boxed(), stats))
    }

    /// Like [`Self::scan_samples_stream`], collected.
    pub async fn scan_samples(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SampleScan, BlockError> {
        let (stream, mut stats) = self.scan_samples_stream(series, start_ns, end_ns).await?;
        let batches: Vec<RecordBatch> = stream
            .try_filter(|b| futures::future::ready(b.num_rows() > 0))
            .try_collect()
            .await?;
        stats.rows_matched = batches.iter().map(RecordBatch::num_rows).sum();
        Ok(SampleScan { batches, stats })
    }

    /// SUM(value) by stack_id over the samples of `series` in `[start_ns, end_ns]`.
    /// Stacks whose total is zero are left out.
    pub async fn aggregate_by_stack(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<StackTotals, BlockError> {
        self.aggregate_file(files::SAMPLES, &self.samples_md, series, start_ns, end_ns)
            .await
    }

    /// SUM(value) by stack_id over rows of a samples-shaped file (samples or
    /// a rollup) of `series` with `start_ns <= time_ns <= end_ns`.
    async fn aggregate_file(
        &self,
        name: &str,
        cell: &OnceCell<ArrowReaderMetadata>,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<StackTotals, BlockError> {
        let columns = [
            samples_idx::SERIES_ID,
            samples_idx::TIME_NS,
            samples_idx::STACK_ID,
            samples_idx::VALUE,
        ];
        let (mut stream, _) = self
            .pruned_scan(name, cell, &columns, series, start_ns, end_ns)
            .await?;
        let stacks = self.meta.file(files::STACKS).map_or(0, |f| f.rows as usize);
        let mut sums = vec![0i64; stacks + 1];
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let ids = column_at::<UInt32Array>(&batch, 0)?.values();
            let times = column_at::<Int64Array>(&batch, 1)?.values();
            let stack_ids = column_at::<UInt32Array>(&batch, 2)?.values();
            let values = column_at::<Int64Array>(&batch, 3)?.values();
            let (mut last, mut wanted) = (u32::MAX, false);
            let rows = ids.iter().zip(times).zip(stack_ids).zip(values);
            for (((&id, &time), &stack), &value) in rows {
                if id != last {
                    (last, wanted) = (id, series.contains(id));
                }
                if !wanted || time < start_ns || time > end_ns {
                    continue;
                }
                let slot = sums.get_mut(stack as usize).ok_or_else(|| {
                    BlockError::corrupt(format!(
                        "{name} references stack id {stack} but the block has {stacks} stacks"
                    ))
                })?;
                *slot = slot.wrapping_add(value);
            }
        }
        Ok(sums
            .into_iter()
            .enumerate()
            .filter(|&(_, v)| v != 0)
            .map(|(id, v)| (id as u32, v))
            .collect())
    }
}

/// Keeps the rows of `batch` whose series is in `series` and whose time is in range.
fn filter_exact(
    batch: &RecordBatch,
    series: &RoaringBitmap,
    start_ns: i64,
    end_ns: i64,
    series_col: usize,
    time_col: usize,
) -> Result<RecordBatch, BlockError> {
    let ids = column_at::<UInt32Array>(batch, series_col)?.values();
    let times = column_at::<Int64Array>(batch, time_col)?.values();
    let (mut last, mut wanted) = (u32::MAX, false);
    let mask: BooleanArray = ids
        .iter()
        .zip(times.iter())
        .map(|(&id, &t)| {
            if id != last {
                (last, wanted) = (id, series.contains(id));
            }
            Some(wanted && t >= start_ns && t <= end_ns)
        })
        .collect();
    if mask.true_count() == mask.len() {
        return Ok(batch.clone());
    }
    Ok(filter_record_batch(batch, &mask)?)
}

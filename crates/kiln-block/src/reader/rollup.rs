//! Reading the rollup tables (`rollup_1m.parquet`, `rollup_1h.parquet`; see
//! [`crate::rollup`]): the same pruned scans as `samples.parquet`, over rows
//! whose `time_ns` is a bucket start.
//!
//! Two levels of API:
//! - [`BlockReader::scan_rollup_stream`] / [`BlockReader::scan_rollup`]
//!   filter on the bucket start (`start_ns <= time_ns <= end_ns`), exactly
//!   like raw scans filter on the profile time; the caller chooses a range
//!   of bucket starts (e.g. with [`crate::BlockMeta::rollup_for`]);
//! - [`BlockReader::aggregate_by_stack_rollup`] takes a *raw* time range and
//!   refuses ([`BlockError::RollupUnavailable`]) unless the rollup answers
//!   it exactly, so its answer always equals [`BlockReader::aggregate_by_stack`].

use super::{BatchStream, BlockReader, SAMPLE_COLUMNS, SampleScan, ScanStats, StackTotals};
use crate::BlockError;
use crate::rollup::RollupBucket;
use arrow::array::RecordBatch;
use futures::TryStreamExt;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use roaring::RoaringBitmap;
use tokio::sync::OnceCell;

impl BlockReader {
    fn rollup_cell(&self, bucket: RollupBucket) -> &OnceCell<ArrowReaderMetadata> {
        match bucket {
            RollupBucket::Minute => &self.rollup_md[0],
            RollupBucket::Hour => &self.rollup_md[1],
        }
    }

    fn check_rollup(
        &self,
        bucket: RollupBucket,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<(), BlockError> {
        if self.meta.has_rollup(bucket) {
            Ok(())
        } else {
            Err(BlockError::RollupUnavailable {
                id: self.meta.id,
                bucket,
                start_ns,
                end_ns,
            })
        }
    }

    /// Rollup rows of `series` whose bucket start is in `[start_ns, end_ns]`,
    /// as a stream of batches with the columns of `samples.parquet`
    /// (`time_ns` = bucket start, `span_id` = 0).
    pub async fn scan_rollup_stream(
        &self,
        bucket: RollupBucket,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<(BatchStream, ScanStats), BlockError> {
        self.check_rollup(bucket, start_ns, end_ns)?;
        self.exact_scan(
            bucket.file(),
            self.rollup_cell(bucket),
            &SAMPLE_COLUMNS,
            series,
            start_ns,
            end_ns,
        )
        .await
    }

    /// Like [`Self::scan_rollup_stream`], collected.
    pub async fn scan_rollup(
        &self,
        bucket: RollupBucket,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<SampleScan, BlockError> {
        let (stream, mut stats) = self
            .scan_rollup_stream(bucket, series, start_ns, end_ns)
            .await?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        stats.rows_matched = batches.iter().map(RecordBatch::num_rows).sum();
        Ok(SampleScan { batches, stats })
    }

    /// SUM(value) by stack_id over the raw samples of `series` in
    /// `[start_ns, end_ns]`, computed from the `bucket` rollup. Equal to
    /// [`Self::aggregate_by_stack`] by construction; fails with
    /// [`BlockError::RollupUnavailable`] when the block has no such rollup or
    /// a range end cuts a bucket of this block (see
    /// [`RollupBucket::exact_for`]).
    pub async fn aggregate_by_stack_rollup(
        &self,
        bucket: RollupBucket,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<StackTotals, BlockError> {
        self.check_rollup(bucket, start_ns, end_ns)?;
        let (lo, hi) = bucket.exact_for(&self.meta, start_ns, end_ns).ok_or(
            BlockError::RollupUnavailable {
                id: self.meta.id,
                bucket,
                start_ns,
                end_ns,
            },
        )?;
        self.aggregate_file(bucket.file(), self.rollup_cell(bucket), series, lo, hi)
            .await
    }
}

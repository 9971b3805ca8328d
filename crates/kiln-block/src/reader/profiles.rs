//! `profiles.parquet`: one row per ingested profile per series, read with
//! the same pruning as samples, whole or as a stream of batches.

use super::arrays::column;
use super::{BatchStream, BlockReader};
use crate::BlockError;
use crate::paths::files;
use crate::schema::{SORTED_SERIES_COL, SORTED_TIME_COL, cols};
use arrow::array::{Int64Array, RecordBatch, StringArray, UInt32Array};
use futures::TryStreamExt;
use roaring::RoaringBitmap;

/// One row of `profiles.parquet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    pub series_id: u32,
    pub time_ns: i64,
    pub duration_ns: i64,
    pub period: i64,
    /// Sum of the profile's sample values.
    pub total: i64,
    /// Number of samples in the ingested profile.
    pub sample_count: u32,
    pub profile_id: String,
}

impl ProfileRecord {
    /// Decodes the rows of a `profiles.parquet` batch (every column).
    pub fn from_batch(batch: &RecordBatch) -> Result<Vec<ProfileRecord>, BlockError> {
        let ids = column::<UInt32Array>(batch, cols::SERIES_ID)?;
        let times = column::<Int64Array>(batch, cols::TIME_NS)?;
        let durations = column::<Int64Array>(batch, cols::DURATION_NS)?;
        let periods = column::<Int64Array>(batch, cols::PERIOD)?;
        let totals = column::<Int64Array>(batch, cols::TOTAL)?;
        let counts = column::<UInt32Array>(batch, cols::SAMPLE_COUNT)?;
        let profile_ids = column::<StringArray>(batch, cols::PROFILE_ID)?;
        Ok((0..batch.num_rows())
            .map(|i| ProfileRecord {
                series_id: ids.value(i),
                time_ns: times.value(i),
                duration_ns: durations.value(i),
                period: periods.value(i),
                total: totals.value(i),
                sample_count: counts.value(i),
                profile_id: profile_ids.value(i).to_string(),
            })
            .collect())
    }
}

impl BlockReader {
    /// Rows of `profiles.parquet` for `series` in `[start_ns, end_ns]`, as a
    /// stream of exactly filtered batches (every column) in
    /// (series_id, time_ns, profile_id) order; decode with
    /// [`ProfileRecord::from_batch`].
    pub async fn profiles_stream(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<BatchStream, BlockError> {
        self.profiles_scan(series, start_ns, end_ns, &[0, 1, 2, 3, 4, 5, 6])
            .await
    }

    /// Like [`Self::profiles_stream`], but decoding only the named columns
    /// (plus `series_id` and `time_ns`, which the exact filter needs), in
    /// file order: a query summing totals should not decompress and decode
    /// the profile ids, by far the largest column.
    pub async fn profiles_columns_stream(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
        columns: &[&str],
    ) -> Result<BatchStream, BlockError> {
        let schema = crate::schema::profiles();
        let mut indices = vec![SORTED_SERIES_COL, SORTED_TIME_COL];
        for name in columns {
            indices.push(schema.index_of(name)?);
        }
        indices.sort_unstable();
        indices.dedup();
        self.profiles_scan(series, start_ns, end_ns, &indices).await
    }

    /// The exactly filtered scan of `profiles.parquet` columns `indices`.
    async fn profiles_scan(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
        indices: &[usize],
    ) -> Result<BatchStream, BlockError> {
        let (stream, _) = self
            .exact_scan(
                files::PROFILES,
                &self.profiles_md,
                indices,
                series,
                start_ns,
                end_ns,
            )
            .await?;
        Ok(stream)
    }

    /// Rows of `profiles.parquet` for `series` in `[start_ns, end_ns]`, in
    /// (series_id, time_ns) order.
    pub async fn profiles(
        &self,
        series: &RoaringBitmap,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ProfileRecord>, BlockError> {
        let batches: Vec<RecordBatch> = self
            .profiles_stream(series, start_ns, end_ns)
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for batch in &batches {
            out.extend(ProfileRecord::from_batch(batch)?);
        }
        Ok(out)
    }
}

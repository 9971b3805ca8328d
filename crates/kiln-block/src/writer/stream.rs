//! Writing a block whose rows do not fit in memory: the compactor's output.
//!
//! ```text
//!  BlockEncoder::stream(store, series, symbols)
//!     ─► series.parquet, stacks.parquet, frames.parquet   (small: encoded whole, PUT at once)
//!  push_samples(sorted rows) ─► samples.parquet ──────────┐ one AsyncArrowWriter each, flushing a
//!                           └► rollup accumulators ─► rollup_1m/1h.parquet │ row group at a time
//!  push_profiles(sorted rows) ─► profiles.parquet ────────┘ through a multipart upload
//!  finish() ─► close every file ─► meta.json (last: commits the block)
//! ```
//!
//! Memory is bounded by the layout, not by the block: per streamed file one
//! in-progress row group (`WriterConfig::row_group_rows`) plus the upload
//! buffer (`WriterConfig::upload_part_bytes`, at most `UPLOAD_CONCURRENCY`
//! parts in flight), plus one series-bucket of stacks per rollup.
//!
//! Rows must arrive in file order (samples strictly increasing on
//! (series_id, time_ns, stack_id, span_id); profiles non-decreasing on
//! (series_id, time_ns)) with ids in range; the writer checks and refuses
//! otherwise, so it can never commit a block that breaks the format.
//! A writer dropped or aborted before [`StreamingBlockWriter::finish`]
//! leaves no `meta.json`: at most orphan files for garbage collection.

use super::BlockEncoder;
use super::encode::{
    self, frames_batch, profile_records_batch, samples_batch, series_batch, stacks_batch,
};
use super::rollup::RollupAccumulator;
use super::symbols::StackTables;
use super::tables::{SampleRow, SeriesRow, summarize};
use crate::meta::{BlockMeta, FileMeta};
use crate::paths::{self, files};
use crate::reader::{ProfileRecord, SeriesEntry};
use crate::schema;
use crate::{BlockError, FORMAT_VERSION};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::buffered::BufWriter;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;
use ulid::Ulid;

/// Rows buffered before they are handed to the Parquet writer as one batch.
const BATCH_ROWS: usize = 8192;
/// Parts of one file uploaded concurrently.
const UPLOAD_CONCURRENCY: usize = 2;

/// A Parquet sink writing to the object store through a buffered
/// (multipart) upload.
struct ObjectSink(BufWriter);

impl AsyncFileWriter for ObjectSink {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move {
            self.0
                .put(bs)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move {
            tokio::io::AsyncWriteExt::shutdown(&mut self.0)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// One Parquet file being streamed.
struct FileSink {
    name: &'static str,
    writer: AsyncArrowWriter<ObjectSink>,
    rows: u64,
}

impl FileSink {
    fn new(
        store: &Arc<dyn ObjectStore>,
        (tenant, id): (&str, Ulid),
        name: &'static str,
        schema: SchemaRef,
        props: WriterProperties,
        part_bytes: usize,
    ) -> Result<Self, BlockError> {
        let path = paths::block_file(tenant, id, name);
        let upload = BufWriter::with_capacity(store.clone(), path, part_bytes.max(1))
            .with_max_concurrency(UPLOAD_CONCURRENCY);
        let writer = AsyncArrowWriter::try_new(ObjectSink(upload), schema, Some(props))?;
        Ok(Self {
            name,
            writer,
            rows: 0,
        })
    }

    async fn write(&mut self, batch: &RecordBatch) -> Result<(), BlockError> {
        self.writer.write(batch).await?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the file; its size and footer length come from the writer.
    async fn finish(mut self) -> Result<FileMeta, BlockError> {
        self.writer.flush().await?;
        let data = self.writer.bytes_written() as u64;
        self.writer.finish().await?;
        let bytes = self.writer.bytes_written() as u64;
        Ok(FileMeta {
            name: self.name.to_string(),
            rows: self.rows,
            bytes,
            footer_bytes: bytes - data,
        })
    }

    /// Best effort: abandons a multipart upload in progress.
    async fn abort(self) {
        let mut upload = self.writer.into_inner().0;
        if let Err(e) = upload.abort().await {
            tracing::debug!(file = self.name, error = %e, "aborting upload failed");
        }
    }
}

/// Streams one block to object storage; see the module docs.
pub struct StreamingBlockWriter {
    store: Arc<dyn ObjectStore>,
    meta: BlockMeta,
    series: Vec<SeriesEntry>,
    stacks: usize,
    samples: FileSink,
    profiles: FileSink,
    rollups: Vec<(RollupAccumulator, FileSink)>,
    sample_buf: Vec<SampleRow>,
    profile_buf: Vec<ProfileRecord>,
    last_sample: Option<SampleRow>,
    last_profile: Option<(u32, i64)>,
    samples_rows: u64,
    profiles_rows: u64,
    time: Option<(i64, i64)>,
}

impl std::fmt::Debug for StreamingBlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingBlockWriter")
            .field("tenant", &self.meta.tenant)
            .field("id", &self.meta.id)
            .field("samples", &self.samples_rows)
            .field("profiles", &self.profiles_rows)
            .finish_non_exhaustive()
    }
}

impl BlockEncoder {
    /// Starts streaming a block with these `series` (sorted by labels, unique:
    /// series id `i` is entry `i`) and symbol tables. Uploads the small files
    /// now; rows follow through the returned writer.
    pub async fn stream(
        &self,
        store: Arc<dyn ObjectStore>,
        series: Vec<SeriesEntry>,
        symbols: &StackTables,
    ) -> Result<StreamingBlockWriter, BlockError> {
        if let Some(w) = series.windows(2).find(|w| w[0].labels >= w[1].labels) {
            return Err(BlockError::InvalidRow(format!(
                "series not sorted and unique by labels: {:?} then {:?}",
                w[0].labels, w[1].labels
            )));
        }
        let id = self.id.unwrap_or_else(Ulid::generate);
        let rows: Vec<SeriesRow<'_>> = series.iter().map(series_row).collect();
        let c = &self.config;
        let small = [
            (files::SERIES, series_batch(&rows)?, encode::series_props(c)),
            (
                files::STACKS,
                stacks_batch(&symbols.stack_parent, &symbols.stack_frame)?,
                encode::stacks_props(c),
            ),
            (
                files::FRAMES,
                frames_batch(&symbols.frames)?,
                encode::frames_props(c),
            ),
        ];
        let mut encoded = Vec::with_capacity(small.len());
        for (name, batch, props) in small {
            encoded.push(encode::encode(name, &batch, props)?);
        }
        let puts = encoded.iter().map(|f| {
            let path = paths::block_file(&self.tenant, id, f.name);
            let store = store.clone();
            let bytes = f.bytes.clone();
            async move { store.put(&path, PutPayload::from(bytes)).await }
        });
        futures::future::try_join_all(puts).await?;

        let part = c.upload_part_bytes;
        let sink = |name, schema, props| {
            FileSink::new(&store, (&self.tenant, id), name, schema, props, part)
        };
        let samples = sink(files::SAMPLES, schema::samples(), encode::samples_props(c))?;
        let profiles = sink(
            files::PROFILES,
            schema::profiles(),
            encode::profiles_props(c),
        )?;
        let mut rollups = Vec::with_capacity(self.rollups.len());
        for &bucket in &self.rollups {
            let file = sink(bucket.file(), schema::samples(), encode::samples_props(c))?;
            rollups.push((RollupAccumulator::new(bucket), file));
        }
        let meta = BlockMeta {
            format_version: FORMAT_VERSION,
            id,
            tenant: self.tenant.clone(),
            level: self.level,
            min_time_ns: 0,
            max_time_ns: 0,
            sources: self.sources.clone(),
            files: encoded
                .iter()
                .map(|f| FileMeta {
                    name: f.name.to_string(),
                    rows: f.rows,
                    bytes: f.bytes.len() as u64,
                    footer_bytes: f.footer_bytes,
                })
                .collect(),
            summary: Default::default(),
        };
        Ok(StreamingBlockWriter {
            store,
            meta,
            series,
            stacks: symbols.len(),
            samples,
            profiles,
            rollups,
            sample_buf: Vec::with_capacity(BATCH_ROWS),
            profile_buf: Vec::new(),
            last_sample: None,
            last_profile: None,
            samples_rows: 0,
            profiles_rows: 0,
            time: None,
        })
    }
}

fn series_row(e: &SeriesEntry) -> SeriesRow<'_> {
    SeriesRow {
        labels: &e.labels,
        profile_type: e.profile_type.clone(),
        service_name: &e.service_name,
    }
}

impl StreamingBlockWriter {
    /// The id the block will have.
    pub fn id(&self) -> Ulid {
        self.meta.id
    }

    /// Sample rows written so far.
    pub fn samples_written(&self) -> u64 {
        self.samples_rows
    }

    fn observe_time(&mut self, t: i64) {
        self.time = Some(match self.time {
            None => (t, t),
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
        });
    }

    /// Appends sample rows. Rows with value 0 are skipped (the format drops them).
    pub async fn push_samples(&mut self, rows: &[SampleRow]) -> Result<(), BlockError> {
        for row in rows {
            if row.value == 0 {
                continue;
            }
            let key = |r: &SampleRow| (r.series_id, r.time_ns, r.stack_id, r.span_id);
            if self.last_sample.is_some_and(|l| key(&l) >= key(row)) {
                return Err(BlockError::InvalidRow(format!(
                    "sample {:?} not after {:?}",
                    key(row),
                    self.last_sample.as_ref().map(key)
                )));
            }
            if row.series_id as usize >= self.series.len() || row.stack_id as usize > self.stacks {
                return Err(BlockError::InvalidRow(format!(
                    "sample {row:?} out of range ({} series, {} stacks)",
                    self.series.len(),
                    self.stacks
                )));
            }
            self.last_sample = Some(*row);
            self.observe_time(row.time_ns);
            self.sample_buf.push(*row);
            for (acc, _) in &mut self.rollups {
                acc.push(row);
            }
            if self.sample_buf.len() >= BATCH_ROWS {
                self.flush_samples().await?;
            }
        }
        for (acc, file) in &mut self.rollups {
            if acc.ready() >= BATCH_ROWS {
                file.write(&samples_batch(&acc.take())?).await?;
            }
        }
        Ok(())
    }

    async fn flush_samples(&mut self) -> Result<(), BlockError> {
        if !self.sample_buf.is_empty() {
            self.samples
                .write(&samples_batch(&self.sample_buf)?)
                .await?;
            self.samples_rows += self.sample_buf.len() as u64;
            self.sample_buf.clear();
        }
        Ok(())
    }

    /// Appends `profiles.parquet` rows, in (series_id, time_ns, profile_id) order.
    pub async fn push_profiles(&mut self, rows: &[ProfileRecord]) -> Result<(), BlockError> {
        for row in rows {
            let key = (row.series_id, row.time_ns);
            if self.last_profile.is_some_and(|l| l > key) {
                return Err(BlockError::InvalidRow(format!(
                    "profile {key:?} before {:?}",
                    self.last_profile
                )));
            }
            if row.series_id as usize >= self.series.len() {
                return Err(BlockError::InvalidRow(format!(
                    "profile of series {} out of range ({} series)",
                    row.series_id,
                    self.series.len()
                )));
            }
            self.last_profile = Some(key);
            self.observe_time(row.time_ns);
            self.profile_buf.push(row.clone());
            if self.profile_buf.len() >= BATCH_ROWS {
                self.flush_profiles().await?;
            }
        }
        Ok(())
    }

    async fn flush_profiles(&mut self) -> Result<(), BlockError> {
        if !self.profile_buf.is_empty() {
            let batch = profile_records_batch(&self.profile_buf)?;
            self.profiles.write(&batch).await?;
            self.profiles_rows += self.profile_buf.len() as u64;
            self.profile_buf.clear();
        }
        Ok(())
    }

    /// Closes every file, then writes `meta.json`, committing the block.
    /// A block needs at least one profile ([`BlockError::Empty`] otherwise,
    /// after aborting).
    pub async fn finish(mut self) -> Result<BlockMeta, BlockError> {
        if self.profiles_rows == 0 && self.profile_buf.is_empty() {
            self.abort().await;
            return Err(BlockError::Empty);
        }
        self.flush_samples().await?;
        self.flush_profiles().await?;
        let mut streamed = vec![self.samples.finish().await?, self.profiles.finish().await?];
        let mut rollups = Vec::new();
        for (mut acc, mut file) in self.rollups {
            acc.finish();
            let rows = acc.take();
            if !rows.is_empty() {
                file.write(&samples_batch(&rows)?).await?;
            }
            rollups.push(file.finish().await?);
        }
        // Files in the format's order: samples, profiles, series, stacks, frames, rollups.
        streamed.append(&mut self.meta.files);
        streamed.append(&mut rollups);
        let mut meta = self.meta;
        meta.files = streamed;
        let rows: Vec<SeriesRow<'_>> = self.series.iter().map(series_row).collect();
        meta.summary = summarize(&rows, self.profiles_rows, self.samples_rows);
        (meta.min_time_ns, meta.max_time_ns) = self.time.unwrap_or_default();
        let json = Bytes::from(serde_json::to_vec_pretty(&meta)?);
        let path = paths::block_file(&meta.tenant, meta.id, files::META);
        self.store.put(&path, PutPayload::from(json)).await?;
        tracing::debug!(
            tenant = %meta.tenant,
            block = %meta.id,
            level = meta.level,
            bytes = meta.total_bytes(),
            samples = meta.summary.samples,
            "streamed block written"
        );
        Ok(meta)
    }

    /// Abandons the block: no `meta.json` is written; uploads in progress
    /// are aborted (best effort). Files already stored stay as orphans.
    pub async fn abort(self) {
        self.samples.abort().await;
        self.profiles.abort().await;
        for (_, file) in self.rollups {
            file.abort().await;
        }
    }
}

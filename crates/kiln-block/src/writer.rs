//! Writing blocks: encode (sync, CPU-bound) then upload (async, I/O).
//!
//! ```text
//!  &[NormalizedProfile] ─► tables (series ids, frame/stack symbols, merged samples)
//!     ─► encode: five Parquet files in memory (EncodedBlock)   ← run in spawn_blocking
//!     ─► upload: data files concurrently, then meta.json        ← async, commits the block
//!
//!  series + StackTables + sorted rows ─► BlockEncoder::stream ─► StreamingBlockWriter
//!     (the compactor: rows streamed through multipart uploads, bounded memory; see `stream`)
//! ```
//!
//! Either path can add rollup tables ([`BlockEncoder::with_rollups`], see
//! [`crate::rollup`]).

mod encode;
mod rollup;
mod stream;
mod symbols;
mod tables;

pub use encode::EncodedFile;
pub use stream::StreamingBlockWriter;
pub use symbols::{StackNode, StackTableBuilder, StackTables};
pub use tables::SampleRow;

use crate::meta::{BlockMeta, FileMeta};
use crate::paths::{self, files};
use crate::rollup::RollupBucket;
use crate::{BlockError, FORMAT_VERSION};
use bytes::Bytes;
use kiln_model::NormalizedProfile;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tables::Tables;
use ulid::Ulid;

/// Layout knobs of the scanned files (`samples.parquet`, `profiles.parquet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Maximum rows per row group.
    pub row_group_rows: usize,
    /// Best-effort maximum rows per data page (the unit of page pruning).
    pub data_page_rows: usize,
    /// zstd level for every column.
    pub zstd_level: i32,
    /// Encoding of the `stack_id` column of samples and rollups.
    pub stack_ids: StackIdEncoding,
    /// Largest dictionary page of a column chunk before the writer falls
    /// back to plain encoding for the rest of it. Compacted blocks raise it
    /// so that `profile_id` and `value` stay dictionary-encoded.
    pub dictionary_page_bytes: usize,
    /// Streamed files ([`StreamingBlockWriter`]) are buffered up to this many
    /// bytes, then uploaded in parts of this size (multipart upload); it
    /// bounds the writer's upload memory (S3 needs at least 5 MiB).
    pub upload_part_bytes: usize,
}

/// How `stack_id` is encoded (a compatible choice: readers handle both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StackIdEncoding {
    /// `DELTA_BINARY_PACKED`: compact for small blocks.
    #[default]
    Delta,
    /// `PLAIN` (then zstd): in a big sorted block the stack lists of
    /// consecutive profiles of a series repeat, which zstd matches far
    /// better on plain integers than on bit-packed deltas.
    Plain,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            row_group_rows: 1 << 20,
            data_page_rows: 8192,
            zstd_level: 3,
            stack_ids: StackIdEncoding::Delta,
            dictionary_page_bytes: 1 << 20,
            upload_part_bytes: 8 << 20,
        }
    }
}

impl WriterConfig {
    /// The layout of compacted blocks: bigger dictionaries, plain stack ids
    /// and a higher zstd level, trading encode time (paid once, by the
    /// compactor) for size (see docs/benchmarks.md).
    pub fn compacted() -> Self {
        Self {
            zstd_level: 6,
            stack_ids: StackIdEncoding::Plain,
            dictionary_page_bytes: 8 << 20,
            ..Self::default()
        }
    }
}

/// Builds blocks. Cheap to create; [`BlockEncoder::encode`] does the work.
#[derive(Debug, Clone)]
pub struct BlockEncoder {
    tenant: String,
    level: u32,
    id: Option<Ulid>,
    sources: Vec<Ulid>,
    config: WriterConfig,
    rollups: Vec<RollupBucket>,
}

/// A block encoded in memory, ready to upload.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    pub meta: BlockMeta,
    /// The Parquet files, in the order of `meta.files`.
    pub files: Vec<EncodedFile>,
}

impl BlockEncoder {
    /// An encoder for a block of `tenant` at `level` (0 = ingester flush).
    pub fn new(tenant: impl Into<String>, level: u32) -> Self {
        Self {
            tenant: tenant.into(),
            level,
            id: None,
            sources: Vec::new(),
            config: WriterConfig::default(),
            rollups: Vec::new(),
        }
    }

    /// Uses `id` instead of a fresh ULID.
    pub fn with_id(mut self, id: Ulid) -> Self {
        self.id = Some(id);
        self
    }

    /// Records the blocks this one was compacted from.
    pub fn with_sources(mut self, sources: Vec<Ulid>) -> Self {
        self.sources = sources;
        self
    }

    pub fn with_config(mut self, config: WriterConfig) -> Self {
        self.config = config;
        self
    }

    /// Also writes these rollup tables (the compactor does from level 2 up).
    pub fn with_rollups(mut self, buckets: &[RollupBucket]) -> Self {
        self.rollups = buckets.to_vec();
        self.rollups.sort();
        self.rollups.dedup();
        self
    }

    /// Encodes `profiles` into Parquet files and the block's meta. CPU-bound and
    /// synchronous: async callers should run it in `spawn_blocking`.
    pub fn encode(&self, profiles: &[NormalizedProfile]) -> Result<EncodedBlock, BlockError> {
        let tables = Tables::build(profiles)?;
        let summary = tables.summary();
        let encoded = encode::encode_files(&tables, &self.config, &self.rollups)?;
        let meta = BlockMeta {
            format_version: FORMAT_VERSION,
            id: self.id.unwrap_or_else(Ulid::generate),
            tenant: self.tenant.clone(),
            level: self.level,
            min_time_ns: tables.min_time_ns,
            max_time_ns: tables.max_time_ns,
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
            summary,
        };
        Ok(EncodedBlock {
            meta,
            files: encoded,
        })
    }
}

impl EncodedBlock {
    /// `meta.json`, pretty-printed.
    pub fn meta_json(&self) -> Result<Bytes, BlockError> {
        Ok(Bytes::from(serde_json::to_vec_pretty(&self.meta)?))
    }

    /// Uploads the data files concurrently, then `meta.json`, whose presence
    /// commits the block. A failure before `meta.json` leaves only orphans
    /// for garbage collection, never a half-visible block.
    pub async fn upload(&self, store: &dyn ObjectStore) -> Result<(), BlockError> {
        let (tenant, id) = (&self.meta.tenant, self.meta.id);
        let puts = self.files.iter().map(|f| {
            let path = paths::block_file(tenant, id, f.name);
            async move { store.put(&path, PutPayload::from(f.bytes.clone())).await }
        });
        futures::future::try_join_all(puts).await?;
        let meta = self.meta_json()?;
        store
            .put(
                &paths::block_file(tenant, id, files::META),
                PutPayload::from(meta),
            )
            .await?;
        tracing::debug!(
            tenant = %tenant,
            block = %id,
            bytes = self.meta.total_bytes(),
            samples = self.meta.summary.samples,
            "block written"
        );
        Ok(())
    }
}

/// Encodes and uploads a block with default settings; returns its meta.
///
/// Encoding runs on the calling task. Callers on a busy runtime should use
/// [`BlockEncoder::encode`] inside `spawn_blocking` and then
/// [`EncodedBlock::upload`].
pub async fn write_block(
    store: &dyn ObjectStore,
    tenant: &str,
    level: u32,
    profiles: &[NormalizedProfile],
) -> Result<BlockMeta, BlockError> {
    let block = BlockEncoder::new(tenant, level).encode(profiles)?;
    block.upload(store).await?;
    Ok(block.meta)
}

//! Arrow batches and Parquet encoding of each file, with the writer
//! properties that make pruning work (page index, sorting metadata, small pages).

use super::rollup::rollup_rows;
use super::tables::{SampleRow, SeriesRow, Tables};
use super::{StackIdEncoding, WriterConfig};
use crate::ProfileRecord;
use crate::paths::files;
use crate::rollup::RollupBucket;
use crate::schema::{self, cols};
use crate::{BlockError, FORMAT_VERSION};
use arrow::array::{
    ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt32Array,
    UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, SchemaRef};
use bytes::Bytes;
use kiln_model::Frame;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaData, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use std::borrow::Borrow;
use std::sync::Arc;

/// One encoded Parquet file of a block.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    /// File name inside the block folder.
    pub name: &'static str,
    pub bytes: Bytes,
    pub rows: u64,
    /// Bytes at the end of the file holding the page index and footer.
    pub footer_bytes: u64,
}

/// Encodes the five Parquet files, in the order of [`crate::paths::files`],
/// then the rollup tables of `rollups` (finest first).
pub(crate) fn encode_files(
    t: &Tables<'_>,
    config: &WriterConfig,
    rollups: &[RollupBucket],
) -> Result<Vec<EncodedFile>, BlockError> {
    let s = &t.symbols;
    let mut out = vec![
        encode(
            files::SAMPLES,
            &samples_batch(&t.samples)?,
            samples_props(config),
        )?,
        encode(files::PROFILES, &profiles_batch(t)?, profiles_props(config))?,
        encode(
            files::SERIES,
            &series_batch(&t.series)?,
            series_props(config),
        )?,
        encode(
            files::STACKS,
            &stacks_batch(&s.stack_parent, &s.stack_frame)?,
            stacks_props(config),
        )?,
        encode(
            files::FRAMES,
            &frames_batch(&s.frames)?,
            frames_props(config),
        )?,
    ];
    for &bucket in rollups {
        let rows = rollup_rows(bucket, &t.samples);
        out.push(encode(
            bucket.file(),
            &samples_batch(&rows)?,
            samples_props(config),
        )?);
    }
    Ok(out)
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, BlockError> {
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn u32s(it: impl Iterator<Item = u32>) -> ArrayRef {
    Arc::new(UInt32Array::from_iter_values(it))
}

fn i64s(it: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(it))
}

fn strs<'a>(it: impl Iterator<Item = &'a str>) -> ArrayRef {
    // Collected first: `from_iter_values` needs an exact size hint (flat_map has none).
    Arc::new(StringArray::from(it.collect::<Vec<&str>>()))
}

/// `samples.parquet` (or a rollup table) rows as a batch.
pub(crate) fn samples_batch(s: &[SampleRow]) -> Result<RecordBatch, BlockError> {
    batch(
        schema::samples(),
        vec![
            u32s(s.iter().map(|r| r.series_id)),
            i64s(s.iter().map(|r| r.time_ns)),
            u32s(s.iter().map(|r| r.stack_id)),
            i64s(s.iter().map(|r| r.value)),
            Arc::new(UInt64Array::from_iter_values(s.iter().map(|r| r.span_id))),
        ],
    )
}

fn profiles_batch(t: &Tables<'_>) -> Result<RecordBatch, BlockError> {
    let p = &t.profiles;
    batch(
        schema::profiles(),
        vec![
            u32s(p.iter().map(|r| r.series_id)),
            i64s(p.iter().map(|r| r.time_ns)),
            i64s(p.iter().map(|r| r.duration_ns)),
            i64s(p.iter().map(|r| r.period)),
            i64s(p.iter().map(|r| r.total)),
            u32s(p.iter().map(|r| r.sample_count)),
            strs(p.iter().map(|r| r.profile_id)),
        ],
    )
}

/// `profiles.parquet` rows (as read back from a block) as a batch.
pub(crate) fn profile_records_batch(p: &[ProfileRecord]) -> Result<RecordBatch, BlockError> {
    batch(
        schema::profiles(),
        vec![
            u32s(p.iter().map(|r| r.series_id)),
            i64s(p.iter().map(|r| r.time_ns)),
            i64s(p.iter().map(|r| r.duration_ns)),
            i64s(p.iter().map(|r| r.period)),
            i64s(p.iter().map(|r| r.total)),
            u32s(p.iter().map(|r| r.sample_count)),
            strs(p.iter().map(|r| r.profile_id.as_str())),
        ],
    )
}

pub(crate) fn series_batch(s: &[SeriesRow<'_>]) -> Result<RecordBatch, BlockError> {
    let all = || s.iter().flat_map(|r| r.labels.iter());
    let pairs = StructArray::try_new(
        schema::label_struct_fields(),
        vec![
            strs(all().map(|l| l.name.as_str())),
            strs(all().map(|l| l.value.as_str())),
        ],
        None,
    )?;
    let DataType::List(item) = schema::series().field(3).data_type().clone() else {
        return Err(BlockError::corrupt("series schema: labels is not a list"));
    };
    let offsets = OffsetBuffer::from_lengths(s.iter().map(|r| r.labels.len()));
    let labels = ListArray::try_new(item, offsets, Arc::new(pairs), None)?;
    batch(
        schema::series(),
        vec![
            u32s(0..s.len() as u32),
            strs(s.iter().map(|r| r.profile_type.as_str())),
            strs(s.iter().map(|r| r.service_name)),
            Arc::new(labels),
            Arc::new(UInt64Array::from_iter_values(
                s.iter().map(|r| r.labels.fingerprint()),
            )),
        ],
    )
}

pub(crate) fn stacks_batch(parent: &[u32], frame: &[u32]) -> Result<RecordBatch, BlockError> {
    batch(
        schema::stacks(),
        vec![
            u32s(1..=parent.len() as u32),
            u32s(parent.iter().copied()),
            u32s(frame.iter().copied()),
        ],
    )
}

pub(crate) fn frames_batch<F: Borrow<Frame>>(f: &[F]) -> Result<RecordBatch, BlockError> {
    let f = || f.iter().map(Borrow::borrow);
    batch(
        schema::frames(),
        vec![
            u32s(0..f().count() as u32),
            strs(f().map(|f: &Frame| f.function.as_str())),
            strs(f().map(|f: &Frame| f.system_name.as_str())),
            strs(f().map(|f: &Frame| f.file.as_str())),
            i64s(f().map(|f: &Frame| f.line)),
            strs(f().map(|f: &Frame| f.binary.as_str())),
        ],
    )
}

/// Properties shared by every file: zstd, page statistics, a format marker.
fn base_props(config: &WriterConfig) -> WriterPropertiesBuilder {
    let level = ZstdLevel::try_new(config.zstd_level).unwrap_or_default();
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_page_size_limit(config.dictionary_page_bytes.max(1))
        .set_created_by(format!("kiln {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "kiln.format_version".to_string(),
            FORMAT_VERSION.to_string(),
        )]))
}

/// Row group and page limits for the two files scanned with pushdown.
fn scanned_props(config: &WriterConfig) -> WriterPropertiesBuilder {
    let page_rows = config.data_page_rows.max(1);
    base_props(config)
        .set_max_row_group_row_count(Some(config.row_group_rows.max(1)))
        .set_data_page_row_count_limit(page_rows)
        // Page limits are checked between write batches.
        .set_write_batch_size(page_rows.min(1024))
}

fn sorted_by(columns: &[usize]) -> Option<Vec<SortingColumn>> {
    Some(
        columns
            .iter()
            .map(|&c| SortingColumn {
                column_idx: c as i32,
                descending: false,
                nulls_first: false,
            })
            .collect(),
    )
}

/// Plain delta encoding for a sorted or slowly-changing integer column.
fn delta(b: WriterPropertiesBuilder, column: &str) -> WriterPropertiesBuilder {
    let path = ColumnPath::from(column);
    b.set_column_dictionary_enabled(path.clone(), false)
        .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED)
}

/// Plain encoding (no dictionary): left to zstd.
fn plain(b: WriterPropertiesBuilder, column: &str) -> WriterPropertiesBuilder {
    let path = ColumnPath::from(column);
    b.set_column_dictionary_enabled(path.clone(), false)
        .set_column_encoding(path, Encoding::PLAIN)
}

pub(crate) fn samples_props(config: &WriterConfig) -> WriterProperties {
    // series_id: dictionary + RLE (long runs); time_ns: delta; stack_id:
    // delta or plain (see `StackIdEncoding`); value and span_id: dictionary
    // with plain fallback.
    let b = scanned_props(config).set_sorting_columns(sorted_by(&[0, 1, 2, 4]));
    let b = delta(b, cols::TIME_NS);
    match config.stack_ids {
        StackIdEncoding::Delta => delta(b, cols::STACK_ID).build(),
        StackIdEncoding::Plain => plain(b, cols::STACK_ID).build(),
    }
}

pub(crate) fn profiles_props(config: &WriterConfig) -> WriterProperties {
    let b = scanned_props(config).set_sorting_columns(sorted_by(&[0, 1, 6]));
    // profile_id: dictionary while it fits; past the dictionary limit (day
    // blocks: ids of one pprof sit in series far apart) delta strings, which
    // share the ULID timestamp prefix of a series' consecutive profiles.
    let b = b.set_column_encoding(
        ColumnPath::from(cols::PROFILE_ID),
        Encoding::DELTA_BYTE_ARRAY,
    );
    delta(b, cols::TIME_NS).build()
}

pub(crate) fn series_props(config: &WriterConfig) -> WriterProperties {
    base_props(config)
        .set_sorting_columns(sorted_by(&[0]))
        .build()
}

pub(crate) fn stacks_props(config: &WriterConfig) -> WriterProperties {
    let b = base_props(config).set_sorting_columns(sorted_by(&[0]));
    let b = delta(b, cols::STACK_ID);
    delta(b, cols::PARENT_ID).build()
}

pub(crate) fn frames_props(config: &WriterConfig) -> WriterProperties {
    let b = base_props(config).set_sorting_columns(sorted_by(&[0]));
    delta(b, cols::FRAME_ID).build()
}

pub(crate) fn encode(
    name: &'static str,
    batch: &RecordBatch,
    props: WriterProperties,
) -> Result<EncodedFile, BlockError> {
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    writer.write(batch)?;
    let metadata = writer.close()?;
    let footer_bytes = footer_bytes(&buf, &metadata);
    Ok(EncodedFile {
        name,
        bytes: Bytes::from(buf),
        rows: batch.num_rows() as u64,
        footer_bytes,
    })
}

/// Length of the file's tail that holds the page index (if any) and the footer.
fn footer_bytes(buf: &[u8], metadata: &ParquetMetaData) -> u64 {
    let len = buf.len() as u64;
    let Some(tail) = buf.len().checked_sub(8).map(|at| &buf[at..at + 4]) else {
        return 0;
    };
    let metadata_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    let mut start = len.saturating_sub(8 + metadata_len);
    for rg in metadata.row_groups() {
        for c in rg.columns() {
            for offset in [c.column_index_offset(), c.offset_index_offset()]
                .into_iter()
                .flatten()
            {
                start = start.min(offset.max(0) as u64);
            }
        }
    }
    len - start
}

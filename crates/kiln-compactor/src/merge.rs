//! Executing a job: source blocks in, one window-aligned block per output
//! window out, streamed to object storage.
//!
//! ```text
//!  job sources ─► windows holding data (a straddling level-0 block reads its profile times)
//!  for each window, in time order (one at a time):
//!     prepare: series union, symbol tables, source→output id maps       (prepare.rs)
//!     samples:  k-way merge of the sources' pruned scans on (series, time)
//!               ─► per group: sort by (stack, span), sum equal keys, drop zeros
//!               ─► StreamingBlockWriter (samples.parquet + rollups)       (kway.rs)
//!     profiles: k-way merge the same way ─► profiles.parquet (rows kept as they are)
//!     finish: close files, meta.json last ─► output BlockMeta
//! ```
//!
//! # Memory bound per job
//! Nothing here grows with the number of samples in a window. A job holds:
//! the sources' series indexes (label sets; cached by their readers), and for
//! the window being written the output's series and symbol tables, one `u32`
//! per used stack of each source, one decoded batch (8,192 rows) plus one
//! row group's selected pages per source being merged, one group of rows of
//! equal (series, time) — one profile's samples per source — and the
//! writer's in-progress row group and upload buffers (see
//! `kiln_block::writer::stream`). A straddling source (level 0) additionally
//! lists its own profile times once. So the bound is
//! O(symbols + series + sources × row group), not O(samples): a day-wide
//! level-3 merge streams through the same memory as a ten-minute one. The
//! planner caps sources per job (`max_sources_per_job`, default 64), which
//! caps the sources × row group term; measured peaks are in
//! docs/benchmarks.md (16 MiB for level-0 merges, tens to a few hundred
//! MiB for day-wide ones whose sources carry big `profile_id` dictionaries).

mod kway;
mod prepare;

use crate::CompactorError;
use crate::config::CompactorConfig;
use crate::failpoint::{Failpoint, Failpoints};
use crate::plan::{Job, window_index, window_range};
use arrow::array::{Int64Array, RecordBatch, UInt64Array};
use futures::{StreamExt, TryStreamExt};
use kiln_block::{BlockEncoder, BlockMeta, BlockReader, ProfileRecord, RollupBucket, SampleRow};
use kiln_model::clock::ClockRef;
use kway::{Cursor, Decoder, KWay};
use object_store::ObjectStore;
use prepare::{Input, UNSET, u32_column};
use std::collections::BTreeMap;
use std::sync::Arc;
use ulid::Ulid;

/// What a job needs from the compactor.
pub(crate) struct MergeContext<'a> {
    pub store: &'a Arc<dyn ObjectStore>,
    pub config: &'a CompactorConfig,
    pub clock: &'a ClockRef,
    pub failpoints: &'a Failpoints,
}

/// Merges the job's sources into committed (not yet registered) output
/// blocks, one per window with data, in time order.
pub(crate) async fn merge_job(
    ctx: &MergeContext<'_>,
    job: &Job,
) -> Result<Vec<BlockMeta>, CompactorError> {
    ctx.failpoints.check(Failpoint::BeforeUpload)?;
    let readers = job
        .sources
        .iter()
        .map(|m| BlockReader::from_meta(ctx.store.clone(), m.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let windows = data_windows(&readers, job.window_ns).await?;
    let mut outputs = Vec::with_capacity(windows.len());
    for (index, members) in windows {
        let (lo, hi) = window_range(index, job.window_ns);
        let sources: Vec<&BlockReader> = members.iter().map(|&i| &readers[i]).collect();
        if let Some(meta) =
            merge_window(ctx, &job.tenant, job.output_level, lo, hi, &sources).await?
        {
            outputs.push(meta);
            if outputs.len() == 1 {
                ctx.failpoints.check(Failpoint::AfterFirstOutput)?;
            }
        }
    }
    Ok(outputs)
}

/// Window index → the sources (indexes into `readers`) with data in it.
async fn data_windows(
    readers: &[BlockReader],
    window_ns: i64,
) -> Result<BTreeMap<i64, Vec<usize>>, CompactorError> {
    let mut windows: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, reader) in readers.iter().enumerate() {
        let meta = reader.meta();
        let first = window_index(meta.min_time_ns, window_ns);
        let last = window_index(meta.max_time_ns, window_ns);
        if first == last {
            windows.entry(first).or_default().push(i);
            continue;
        }
        // A straddling block: only the windows its profiles fall in.
        let all = reader.series().await?.all();
        let mut stream = reader
            .profiles_stream(&all, meta.min_time_ns, meta.max_time_ns)
            .await?;
        let mut touched = std::collections::BTreeSet::new();
        while let Some(batch) = stream.try_next().await? {
            let times = i64_column(&batch, 1)?;
            touched.extend(times.values().iter().map(|&t| window_index(t, window_ns)));
        }
        for w in touched {
            windows.entry(w).or_default().push(i);
        }
    }
    Ok(windows)
}

fn i64_column(batch: &RecordBatch, i: usize) -> Result<&Int64Array, CompactorError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| CompactorError::inconsistent(format!("column {i} is not Int64")))
}

/// A ULID whose timestamp is the injected clock's, so garbage collection
/// judges the age of compactor outputs on the same clock.
pub(crate) fn new_ulid(clock: &ClockRef) -> Ulid {
    let ms = u64::try_from(clock.now_ns() / 1_000_000).unwrap_or(0);
    Ulid::from_parts(ms, Ulid::generate().random())
}

/// Streams the block of window `[lo, hi]` at `level` from `sources`.
async fn merge_window(
    ctx: &MergeContext<'_>,
    tenant: &str,
    level: u32,
    lo: i64,
    hi: i64,
    sources: &[&BlockReader],
) -> Result<Option<BlockMeta>, CompactorError> {
    let Some(prepared) = prepare::prepare(ctx.store, lo, hi, sources).await? else {
        return Ok(None);
    };
    let rollups: &[RollupBucket] = if level >= ctx.config.rollup_from_level {
        &RollupBucket::ALL
    } else {
        &[]
    };
    let encoder = BlockEncoder::new(tenant, level)
        .with_id(new_ulid(ctx.clock))
        .with_sources(prepared.inputs.iter().map(|i| i.reader.meta().id).collect())
        .with_config(ctx.config.writer.clone())
        .with_rollups(rollups);
    let mut writer = encoder
        .stream(ctx.store.clone(), prepared.series, &prepared.tables)
        .await?;
    match stream_rows(prepared.inputs, &mut writer, lo, hi).await {
        Ok(()) => Ok(Some(writer.finish().await?)),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

/// Merges samples, then profiles, of every input into `writer`.
async fn stream_rows(
    inputs: Vec<Input<'_>>,
    writer: &mut kiln_block::StreamingBlockWriter,
    lo: i64,
    hi: i64,
) -> Result<(), CompactorError> {
    // Open every source's two scans (footers, page indexes) a few at a time.
    let opened: Vec<_> = futures::stream::iter(inputs)
        .map(|input| async move {
            let name = input.reader.meta().id.to_string();
            let series_map = Arc::new(input.series_map);
            let (samples, _) = input
                .reader
                .scan_samples_stream(&input.series, lo, hi)
                .await?;
            let profiles = input.reader.profiles_stream(&input.series, lo, hi).await?;
            let samples = Cursor::new(
                name.clone(),
                samples,
                sample_decoder(series_map.clone(), input.stack_map),
            );
            Ok::<_, CompactorError>((
                samples,
                Cursor::new(name, profiles, profile_decoder(series_map)),
            ))
        })
        .buffered(prepare::CONCURRENCY)
        .try_collect()
        .await?;
    let (sample_cursors, profile_cursors): (Vec<_>, Vec<_>) = opened.into_iter().unzip();

    let mut merge = KWay::new(sample_cursors, prepare::CONCURRENCY).await?;
    let mut group: Vec<SampleRow> = Vec::new();
    while merge.next_group(&mut group).await?.is_some() {
        group.sort_unstable_by_key(|r| (r.stack_id, r.span_id));
        // Sum rows with equal (stack, span): the same stack from several sources.
        let mut out = 0usize;
        for i in 0..group.len() {
            if out > 0
                && (group[out - 1].stack_id, group[out - 1].span_id)
                    == (group[i].stack_id, group[i].span_id)
            {
                group[out - 1].value = group[out - 1].value.wrapping_add(group[i].value);
            } else {
                group[out] = group[i];
                out += 1;
            }
        }
        group.truncate(out);
        writer.push_samples(&group).await?;
    }

    let mut merge = KWay::new(profile_cursors, prepare::CONCURRENCY).await?;
    let mut group: Vec<ProfileRecord> = Vec::new();
    while merge.next_group(&mut group).await?.is_some() {
        group.sort_by(|a, b| a.profile_id.cmp(&b.profile_id));
        writer.push_profiles(&group).await?;
    }
    Ok(())
}

fn sample_decoder(series_map: Arc<Vec<u32>>, stack_map: Vec<u32>) -> Decoder<SampleRow> {
    Box::new(move |batch: &RecordBatch| {
        let ids = u32_column(batch, 0)?.values();
        let times = i64_column(batch, 1)?.values();
        let stacks = u32_column(batch, 2)?.values();
        let values = i64_column(batch, 3)?.values();
        let spans = batch
            .column(4)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| CompactorError::inconsistent("span_id is not UInt64"))?
            .values();
        let mut rows = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let series_id = map_id(&series_map, ids[i], "series")?;
            let stack_id = map_id(&stack_map, stacks[i], "stack")?;
            rows.push(SampleRow {
                series_id,
                time_ns: times[i],
                stack_id,
                span_id: spans[i],
                value: values[i],
            });
        }
        Ok(rows)
    })
}

fn profile_decoder(series_map: Arc<Vec<u32>>) -> Decoder<ProfileRecord> {
    Box::new(move |batch: &RecordBatch| {
        let mut rows = ProfileRecord::from_batch(batch)?;
        for r in &mut rows {
            r.series_id = map_id(&series_map, r.series_id, "series")?;
        }
        Ok(rows)
    })
}

fn map_id(map: &[u32], id: u32, what: &str) -> Result<u32, CompactorError> {
    match map.get(id as usize) {
        Some(&out) if out != UNSET => Ok(out),
        _ => Err(CompactorError::inconsistent(format!(
            "{what} id {id} has rows in the window but was not mapped"
        ))),
    }
}

//! Preparing one output window: which series and stacks of each source
//! have data in it, the output's series table and symbol tables, and the
//! maps from each source's ids to the output's.
//!
//! ```text
//!  source (wholly inside the window) ─► all its series, all its stacks
//!  source (straddling: level 0 spans any times) ─► profiles in window → series;
//!                                                   samples in window → used stacks
//!        ▼
//!  series: union of label sets, sorted ─► output series ids = ranks; source id → output id
//!  stacks: each used source stack interned node by node (parent first) into one
//!          StackTableBuilder, frames deduplicated by content ─► output stack ids
//! ```
//!
//! At most `CONCURRENCY` sources' stack tables are in memory at a time (read
//! through throwaway readers and dropped after interning); what stays is the
//! output's tables and one `u32` per used source stack.

use crate::CompactorError;
use arrow::array::UInt32Array;
use futures::{StreamExt, TryStreamExt};
use kiln_block::reader::StackResolver;
use kiln_block::{BlockReader, SeriesEntry, StackNode, StackTableBuilder, StackTables};
use object_store::ObjectStore;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// "No output id": a source id without data in the window.
pub(crate) const UNSET: u32 = u32::MAX;

/// Sources read at once while preparing and opening scans: enough to hide
/// object-store latency, few enough to bound memory.
pub(crate) const CONCURRENCY: usize = 16;

/// One source of an output window, with its id maps.
pub(crate) struct Input<'a> {
    pub reader: &'a BlockReader,
    /// Source series with data in the window.
    pub series: RoaringBitmap,
    /// Source series id → output series id (or [`UNSET`]).
    pub series_map: Vec<u32>,
    /// Source stack id → output stack id (or [`UNSET`]); entry 0 is the root.
    pub stack_map: Vec<u32>,
}

/// Everything needed to stream one output block.
pub(crate) struct Prepared<'a> {
    pub inputs: Vec<Input<'a>>,
    pub series: Vec<SeriesEntry>,
    pub tables: StackTables,
}

/// Prepares the window `[lo, hi]` (inclusive) over `sources`; `None` when
/// no source has data in it.
pub(crate) async fn prepare<'a>(
    store: &Arc<dyn ObjectStore>,
    lo: i64,
    hi: i64,
    sources: &[&'a BlockReader],
) -> Result<Option<Prepared<'a>>, CompactorError> {
    // Series and used stacks of each source, a few sources at a time (on
    // a remote store each is a handful of round trips).
    let scanned: Vec<_> = futures::stream::iter(sources.iter().copied())
        .map(|reader| async move {
            let meta = reader.meta();
            let index = reader.series().await?;
            let contained = meta.min_time_ns >= lo && meta.max_time_ns <= hi;
            let (series, used) = if contained {
                (index.all(), None)
            } else {
                let series = series_in_window(reader, &index.all(), lo, hi).await?;
                let used = stacks_in_window(reader, &series, lo, hi).await?;
                (series, Some(used))
            };
            Ok::<_, CompactorError>((reader, index.len(), series, used))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut inputs = Vec::with_capacity(sources.len());
    let mut used_stacks = Vec::with_capacity(sources.len());
    for (reader, series_count, series, used) in scanned {
        if series.is_empty() {
            continue;
        }
        inputs.push(Input {
            reader,
            series,
            series_map: vec![UNSET; series_count],
            stack_map: Vec::new(),
        });
        used_stacks.push(used);
    }
    if inputs.is_empty() {
        return Ok(None);
    }

    // Output series: the union of label sets, in label order.
    let mut union: BTreeMap<kiln_model::Labels, SeriesEntry> = BTreeMap::new();
    for input in &inputs {
        let index = input.reader.series().await?;
        for id in &input.series {
            let entry = index.get(id).ok_or_else(|| {
                CompactorError::inconsistent(format!("series id {id} out of range"))
            })?;
            match union.get(&entry.labels) {
                Some(seen) if seen.profile_type != entry.profile_type => {
                    return Err(CompactorError::inconsistent(format!(
                        "series {:?} has profile types {} and {}",
                        entry.labels, seen.profile_type, entry.profile_type
                    )));
                }
                Some(_) => {}
                None => {
                    union.insert(entry.labels.clone(), entry.clone());
                }
            }
        }
    }
    let series: Vec<SeriesEntry> = union.into_values().collect();
    for input in &mut inputs {
        let index = input.reader.series().await?;
        for id in &input.series {
            let labels = &index.get(id).expect("checked above").labels;
            let out = series
                .binary_search_by(|e| e.labels.cmp(labels))
                .expect("every input series is in the union");
            input.series_map[id as usize] = out as u32;
        }
    }

    // Output symbols: sources' tables fetched a few at a time, interned in
    // order, each dropped once interned.
    let mut builder = StackTableBuilder::new();
    let metas: Vec<_> = inputs.iter().map(|i| i.reader.meta().clone()).collect();
    let mut resolvers = futures::stream::iter(metas)
        .map(|meta| async move {
            let throwaway = BlockReader::from_meta(store.clone(), meta)?;
            Ok::<_, CompactorError>(throwaway.stack_resolver().await?)
        })
        .buffered(CONCURRENCY);
    for (input, used) in inputs.iter_mut().zip(&used_stacks) {
        let resolver = resolvers
            .try_next()
            .await?
            .ok_or_else(|| CompactorError::inconsistent("a source's stacks went missing"))?;
        input.stack_map = intern_source(&resolver, used.as_ref(), &mut builder)?;
    }
    drop(resolvers);
    let (tables, node_to_stack) = builder.finish();
    for input in &mut inputs {
        for slot in &mut input.stack_map {
            if *slot != UNSET {
                *slot = node_to_stack[*slot as usize];
            }
        }
    }
    Ok(Some(Prepared {
        inputs,
        series,
        tables,
    }))
}

/// Series ids of `reader` with at least one profile in `[lo, hi]`.
async fn series_in_window(
    reader: &BlockReader,
    all: &RoaringBitmap,
    lo: i64,
    hi: i64,
) -> Result<RoaringBitmap, CompactorError> {
    let mut stream = reader.profiles_stream(all, lo, hi).await?;
    let mut out = RoaringBitmap::new();
    while let Some(batch) = stream.try_next().await? {
        out.extend(u32_column(&batch, 0)?.values().iter().copied());
    }
    Ok(out)
}

/// Stack ids used by samples of `series` in `[lo, hi]`.
async fn stacks_in_window(
    reader: &BlockReader,
    series: &RoaringBitmap,
    lo: i64,
    hi: i64,
) -> Result<RoaringBitmap, CompactorError> {
    let (mut stream, _) = reader.scan_samples_stream(series, lo, hi).await?;
    let mut out = RoaringBitmap::new();
    while let Some(batch) = stream.try_next().await? {
        out.extend(u32_column(&batch, 2)?.values().iter().copied());
    }
    Ok(out)
}

pub(crate) fn u32_column(
    batch: &arrow::array::RecordBatch,
    i: usize,
) -> Result<&UInt32Array, CompactorError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| CompactorError::inconsistent(format!("column {i} is not UInt32")))
}

/// Interns the stacks of one source (all of them, or `used` and their
/// prefixes) into `builder`; returns source stack id → provisional node.
fn intern_source(
    resolver: &StackResolver,
    used: Option<&RoaringBitmap>,
    builder: &mut StackTableBuilder,
) -> Result<Vec<u32>, CompactorError> {
    let mut stack_map = vec![UNSET; resolver.len() + 1];
    stack_map[0] = StackNode::ROOT.0;
    let mut frame_map = vec![UNSET; resolver.frames().len()];
    let mut chain = Vec::new();
    let mut intern = |id: u32, stack_map: &mut Vec<u32>| -> Result<(), CompactorError> {
        // Walk up to the nearest interned ancestor, then intern back down.
        chain.clear();
        let mut cur = id;
        while *stack_map
            .get(cur as usize)
            .ok_or_else(|| CompactorError::inconsistent(format!("stack id {cur} out of range")))?
            == UNSET
        {
            chain.push(cur);
            cur = resolver.parent(cur)?;
        }
        let mut node = StackNode(stack_map[cur as usize]);
        for &s in chain.iter().rev() {
            let frame = resolver
                .frame_id(s)?
                .ok_or_else(|| CompactorError::inconsistent("root in a stack chain"))?;
            let slot = &mut frame_map[frame as usize];
            if *slot == UNSET {
                *slot = builder.intern_frame(&resolver.frames()[frame as usize]);
            }
            node = builder.intern_child(node, *slot);
            stack_map[s as usize] = node.0;
        }
        Ok(())
    };
    match used {
        // Parents come before children, so each chain is one node long.
        None => {
            for id in 1..=resolver.len() as u32 {
                intern(id, &mut stack_map)?;
            }
        }
        Some(ids) => {
            for id in ids {
                intern(id, &mut stack_map)?;
            }
        }
    }
    Ok(stack_map)
}

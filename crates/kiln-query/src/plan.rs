//! Planning a profile query against the metastore and the blocks' indexes,
//! before any sample is read.
//!
//! ```text
//!  ProfileQuery ─► ms → ns, inclusive ─► metastore.list_blocks(tenant, range)
//!     ─► skip blocks whose summary lacks the profile type / pinned service
//!     ─► per block (concurrently): SeriesIndex (cached) ─► postings ─► series ids
//!          ├─ profile ids given: profiles.parquet ─► (series, time) pairs
//!          └─ call site given:   StackResolver (cached) ─► allowed stack ids
//!          samples source: segments of rollup_1h / rollup_1m / samples (source.rs)
//!     ─► Vec<BlockScan>: what each block's scan must read, ready for DataFusion
//! ```
//!
//! **Time ranges are inclusive at both ends, in milliseconds**: a query for
//! `[start_ms, end_ms]` reads profiles with `start_ms·10⁶ ≤ time_ns ≤
//! end_ms·10⁶ + 999 999`, i.e. every profile whose time truncated to
//! milliseconds lies in the range.

mod selection;
mod source;

pub(crate) use selection::{call_site_stacks, may_match, select_series};
pub(crate) use source::{RollupUse, Segment, Source};

use crate::api::ProfileQuery;
use crate::engine::Inner;
use crate::error::QueryError;
use crate::table::ScanCounters;
use futures::{StreamExt, TryStreamExt};
use kiln_block::{BlockMeta, BlockReader, SeriesIndex, StackResolver};
use kiln_model::selector::Selector;
use roaring::RoaringBitmap;
use std::collections::HashSet;
use std::sync::Arc;

/// Blocks planned concurrently (each may fetch its series index or stacks).
const PLAN_CONCURRENCY: usize = 16;

/// `[start_ms, end_ms]` (inclusive) as the inclusive nanosecond range that
/// holds every instant of those milliseconds.
pub(crate) fn ns_range(start_ms: i64, end_ms: i64) -> Result<(i64, i64), QueryError> {
    if end_ms < start_ms {
        return Err(QueryError::InvalidArgument(format!(
            "end ({end_ms}) is before start ({start_ms})"
        )));
    }
    Ok((
        start_ms.saturating_mul(1_000_000),
        end_ms.saturating_mul(1_000_000).saturating_add(999_999),
    ))
}

/// Everything one block's scan needs. Plain data (apart from the reader,
/// which a remote worker would reopen from the block id), so a codec can ship
/// it to another querier.
#[derive(Debug)]
pub(crate) struct BlockScan {
    /// Position of the block in the query's block list: the `block` column.
    pub index: u32,
    pub meta: BlockMeta,
    pub reader: Arc<BlockReader>,
    pub series_index: Arc<SeriesIndex>,
    /// Selected series ids (selector ∧ profile type ∧ profile ids).
    pub series: RoaringBitmap,
    pub start_ns: i64,
    pub end_ns: i64,
    /// What the samples scan reads for `[start_ns, end_ns]`: rollup
    /// interiors and raw edges, disjoint, in time order.
    pub segments: Vec<Segment>,
    /// The engine's per-table scan counters.
    pub counters: Arc<ScanCounters>,
    /// Stack resolver, loaded when the query resolves or filters stacks.
    pub stacks: Option<Arc<StackResolver>>,
    /// Call-site filter: only these stack ids.
    pub stack_filter: Option<RoaringBitmap>,
    /// Profile-id filter: only these (series_id, time_ns) pairs.
    pub profile_filter: Option<HashSet<(u32, i64)>>,
    /// Span filter: only samples with these span ids.
    pub span_filter: Option<Arc<HashSet<u64>>>,
}

/// What the planner must load besides series ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    /// The stack resolver (flame graphs resolve names; call sites need it too).
    pub stacks: bool,
    /// Which rollups the samples scan may read. The planner still reads raw
    /// samples when the engine has rollups off or the query filters profile
    /// or span ids (rollups keep neither).
    pub rollups: RollupUse,
}

/// Lists the tenant's blocks overlapping `[start_ns, end_ns]` and forgets
/// cached entries of blocks that are gone.
pub(crate) async fn list_blocks(
    inner: &Inner,
    tenant: &str,
    start_ns: i64,
    end_ns: i64,
) -> Result<Vec<BlockMeta>, QueryError> {
    let metas = inner
        .metastore
        .list_blocks(tenant, start_ns, end_ns)
        .await?;
    let listed: HashSet<_> = metas.iter().map(|m| m.id).collect();
    inner
        .blocks
        .forget_unlisted(tenant, start_ns, end_ns, &listed);
    // The metastore is tenant-scoped already; this guards against a buggy one.
    Ok(metas.into_iter().filter(|m| m.tenant == tenant).collect())
}

/// Plans `query`: the blocks to scan, with their series and filters. Blocks
/// with nothing to read are left out; `BlockScan::index` is dense.
pub(crate) async fn plan(
    inner: &Inner,
    query: &ProfileQuery,
    needs: Needs,
) -> Result<Vec<BlockScan>, QueryError> {
    let (start_ns, end_ns) = ns_range(query.start_ms, query.end_ms)?;
    let type_id = query.profile_type.id();
    let selector = query
        .selector
        .clone()
        .with(kiln_model::selector::Matcher::equal(
            kiln_model::labels::names::PROFILE_TYPE,
            type_id.clone(),
        ));
    let metas = list_blocks(inner, &query.tenant, start_ns, end_ns).await?;
    let candidates = metas.into_iter().filter(|m| may_match(m, &selector));

    let profile_ids: Option<Arc<HashSet<String>>> = (!query.profile_ids.is_empty())
        .then(|| Arc::new(query.profile_ids.iter().cloned().collect()));
    let spans: Option<Arc<HashSet<u64>>> =
        (!query.span_ids.is_empty()).then(|| Arc::new(query.span_ids.iter().copied().collect()));
    let rollups = if !inner.use_rollups || profile_ids.is_some() || spans.is_some() {
        RollupUse::Never
    } else {
        needs.rollups
    };
    let call_site = &query.call_site;
    let needs_stacks = needs.stacks || !call_site.is_empty();
    let selector = &selector;

    let planned: Vec<Option<BlockScan>> = futures::stream::iter(candidates)
        .map(|meta| {
            let profile_ids = profile_ids.clone();
            let spans = spans.clone();
            async move {
                plan_block(
                    inner,
                    meta,
                    selector,
                    Window {
                        start_ns,
                        end_ns,
                        rollups,
                    },
                    profile_ids.as_deref(),
                    needs_stacks.then_some(call_site.as_slice()),
                    spans,
                )
                .await
            }
        })
        .buffered(PLAN_CONCURRENCY)
        .try_collect()
        .await?;
    let mut scans: Vec<BlockScan> = planned.into_iter().flatten().collect();
    for (i, scan) in scans.iter_mut().enumerate() {
        scan.index = i as u32;
    }
    Ok(scans)
}

/// The query's raw time range (inclusive nanoseconds) and the rollups its
/// samples scans may read.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_ns: i64,
    end_ns: i64,
    rollups: RollupUse,
}

/// Plans one block; `None` when it has nothing to read. `stacks` is
/// `Some(call_site)` when the resolver is needed.
async fn plan_block(
    inner: &Inner,
    meta: BlockMeta,
    selector: &Selector,
    window: Window,
    profile_ids: Option<&HashSet<String>>,
    stacks: Option<&[String]>,
    span_filter: Option<Arc<HashSet<u64>>>,
) -> Result<Option<BlockScan>, QueryError> {
    let Window {
        start_ns,
        end_ns,
        rollups,
    } = window;
    let series_index = inner.blocks.series(&meta).await?;
    let mut series = select_series(&series_index, selector);
    if series.is_empty() {
        return Ok(None);
    }
    let reader = inner.blocks.reader(&meta).await?;

    // Profile ids live in profiles.parquet: map them to (series, time) pairs.
    let profile_filter = match profile_ids {
        None => None,
        Some(ids) => {
            let records = reader.profiles(&series, start_ns, end_ns).await?;
            let pairs: HashSet<(u32, i64)> = records
                .into_iter()
                .filter(|r| ids.contains(&r.profile_id))
                .map(|r| (r.series_id, r.time_ns))
                .collect();
            series = pairs.iter().map(|&(s, _)| s).collect();
            if pairs.is_empty() {
                return Ok(None);
            }
            Some(pairs)
        }
    };

    let (stacks, stack_filter) = match stacks {
        None => (None, None),
        Some(call_site) => {
            let resolver = inner.blocks.stacks(&meta).await?;
            let filter = if call_site.is_empty() {
                None
            } else {
                let allowed = call_site_stacks(&resolver, call_site)?;
                if allowed.is_empty() {
                    return Ok(None);
                }
                Some(allowed)
            };
            (Some(resolver), filter)
        }
    };

    let segments = source::segments(&meta, start_ns, end_ns, rollups);
    Ok(Some(BlockScan {
        index: 0,
        segments,
        counters: inner.scan_counters.clone(),
        meta,
        reader,
        series_index,
        series,
        start_ns,
        end_ns,
        stacks,
        stack_filter,
        profile_filter,
        span_filter,
    }))
}

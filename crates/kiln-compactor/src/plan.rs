//! Planning: which blocks of a tenant merge into which next-level blocks.
//!
//! ```text
//!  level-L blocks ──► window indices they touch: [min_time / w, max_time / w]   (w = window of level L+1)
//!       │             eligible when the last one is closed: (last + 1) * w + settle_delay <= now
//!       ▼
//!  eligible blocks grouped into connected components (blocks sharing a window)
//!       ▼
//!  one Job per component (split into jobs of at most `max_sources_per_job`
//!  sources: the merge's fan-in bounds its memory): outputs = one block per
//!  window that holds data (a straddling block is split); small jobs first
//!
//!  top level: blocks sharing a window (late data that reached the top after
//!  its window did) merge into one top-level block (`plan_top`)
//! ```
//!
//! Invariants:
//! - a job's sources are swapped out together, so every block a job reads
//!   is wholly consumed: no block is ever half compacted;
//! - two jobs never share a window (components are disjoint in windows), so
//!   jobs of one level can run in any order;
//! - a block is never compacted before every window it touches is closed,
//!   so compaction does not chase a window that still receives data; data
//!   that arrives after its window was compacted becomes another block of
//!   that window and meets its siblings one level up.
//!
//! Planning is pure (blocks + clock in, jobs out), so it is tested without
//! any storage.

use kiln_block::BlockMeta;

/// A merge of level-`level` blocks into level-`level + 1` blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub tenant: String,
    /// Level of the sources.
    pub level: u32,
    /// Level of the outputs: `level + 1`, or `level` when merging top-level
    /// blocks of one window (see [`plan_top`]).
    pub output_level: u32,
    /// Width of the output windows, in nanoseconds.
    pub window_ns: i64,
    /// Sorted by (min_time, id).
    pub sources: Vec<BlockMeta>,
    /// When the job became eligible (its last window closed plus the settle
    /// delay), for the compaction-lag metric.
    pub eligible_at_ns: i64,
}

impl Job {
    /// Total bytes of the sources: the job's size.
    pub fn bytes(&self) -> u64 {
        self.sources.iter().map(BlockMeta::total_bytes).sum()
    }
}

/// The index of the window of width `w` holding `t`.
pub(crate) fn window_index(t: i64, w: i64) -> i64 {
    t.div_euclid(w)
}

/// `[start, end)` of window `index` of width `w`, in i128 so that windows at
/// the ends of the i64 range do not overflow.
pub(crate) fn window_bounds(index: i64, w: i64) -> (i128, i128) {
    let start = index as i128 * w as i128;
    (start, start + w as i128)
}

/// Inclusive i64 time range of window `index`, clamped to i64.
pub(crate) fn window_range(index: i64, w: i64) -> (i64, i64) {
    let (start, end) = window_bounds(index, w);
    let clamp = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    (clamp(start), clamp(end - 1))
}

/// When the last window a block touches closes: its end plus the settle delay.
fn closes_at(b: &BlockMeta, window_ns: i64, settle_ns: i64) -> i128 {
    let last = window_index(b.max_time_ns, window_ns);
    window_bounds(last, window_ns).1 + settle_ns as i128
}

/// When the oldest eligible block of `level` became eligible (for the lag
/// metric); `None` if none is.
pub fn oldest_eligible(
    blocks: &[BlockMeta],
    level: u32,
    window_ns: i64,
    settle_ns: i64,
    now_ns: i64,
) -> Option<i64> {
    blocks
        .iter()
        .filter(|b| b.level == level)
        .map(|b| closes_at(b, window_ns, settle_ns))
        .filter(|&t| t <= now_ns as i128)
        .min()
        .map(|t| t.max(i64::MIN as i128) as i64)
}

/// Plans the jobs of one level of one tenant. `blocks` (the tenant's
/// listing, moved into the jobs rather than copied) may hold any levels;
/// only level `level` is considered. Jobs come sorted small first.
pub fn plan_level(
    tenant: &str,
    blocks: Vec<BlockMeta>,
    level: u32,
    window_ns: i64,
    settle_ns: i64,
    now_ns: i64,
    max_sources: usize,
) -> Vec<Job> {
    assert!(window_ns > 0, "window must be positive");
    // (first window, last window, block), eligible only.
    let mut eligible: Vec<(i64, i64, BlockMeta)> = blocks
        .into_iter()
        .filter(|b| b.level == level && b.tenant == tenant)
        .filter(|b| closes_at(b, window_ns, settle_ns) <= now_ns as i128)
        .map(|b| {
            let first = window_index(b.min_time_ns, window_ns);
            (first, window_index(b.max_time_ns, window_ns), b)
        })
        .collect();
    eligible.sort_by_key(|(first, last, b)| (*first, *last, b.id));

    let mut jobs: Vec<Job> = components(eligible)
        .into_iter()
        .flat_map(|(sources, _)| chunks(sources, max_sources))
        .map(|sources| Job {
            tenant: tenant.to_string(),
            level,
            output_level: level + 1,
            window_ns,
            eligible_at_ns: sources
                .iter()
                .map(|b| closes_at(b, window_ns, settle_ns))
                .max()
                .unwrap_or_default()
                .min(i64::MAX as i128) as i64,
            sources,
        })
        .collect();
    jobs.sort_by_key(|j| (j.bytes(), j.sources[0].min_time_ns));
    jobs
}

/// Plans merges of top-level (`level`) blocks that share a window of width
/// `window_ns`: data that arrived after its window reached the top level
/// becomes another top-level block of that window, and this folds them
/// together so every window converges to one block. Windows with a single
/// block are left alone, so an output is never planned again.
pub fn plan_top(
    tenant: &str,
    blocks: Vec<BlockMeta>,
    level: u32,
    window_ns: i64,
    max_sources: usize,
) -> Vec<Job> {
    assert!(window_ns > 0, "window must be positive");
    let mut top: Vec<(i64, i64, BlockMeta)> = blocks
        .into_iter()
        .filter(|b| b.level == level && b.tenant == tenant)
        .map(|b| {
            let first = window_index(b.min_time_ns, window_ns);
            (first, window_index(b.max_time_ns, window_ns), b)
        })
        .collect();
    top.sort_by_key(|(first, last, b)| (*first, *last, b.id));
    let mut jobs: Vec<Job> = components(top)
        .into_iter()
        .flat_map(|(sources, _)| chunks(sources, max_sources))
        .filter(|sources| sources.len() > 1)
        .map(|sources| Job {
            tenant: tenant.to_string(),
            level,
            output_level: level,
            window_ns,
            sources,
            eligible_at_ns: i64::MIN,
        })
        .collect();
    jobs.sort_by_key(|j| (j.bytes(), j.sources[0].min_time_ns));
    jobs
}

/// Splits a component's sources (in time order) into jobs of at most
/// `max` sources: the k-way merge holds a row group per source, so the
/// fan-in bounds a job's memory. A window split across jobs gets one output
/// per job, which the next level (or the top-level fold) merges.
fn chunks(sources: Vec<BlockMeta>, max: usize) -> Vec<Vec<BlockMeta>> {
    let max = max.max(2);
    if sources.len() <= max {
        return vec![sources];
    }
    let mut out = Vec::with_capacity(sources.len().div_ceil(max));
    let mut rest = sources.into_iter().peekable();
    while rest.peek().is_some() {
        out.push(rest.by_ref().take(max).collect());
    }
    out
}

/// Groups `(first window, last window, block)` (sorted) into connected
/// components of blocks sharing a window; returns each component's blocks
/// sorted by (min_time, max_time, id) and its last window.
fn components(sorted: Vec<(i64, i64, BlockMeta)>) -> Vec<(Vec<BlockMeta>, i64)> {
    let mut out: Vec<(Vec<BlockMeta>, i64)> = Vec::new();
    for (first, last, block) in sorted {
        match out.last_mut() {
            Some((sources, reach)) if first <= *reach => {
                sources.push(block);
                *reach = (*reach).max(last);
            }
            _ => out.push((vec![block], last)),
        }
    }
    for (sources, _) in &mut out {
        sources.sort_by_key(|b| (b.min_time_ns, b.max_time_ns, b.id));
    }
    out
}

#[cfg(test)]
mod tests;

//! Planning: which blocks of a tenant merge into which next-level blocks.
//!
//! ```text
//!  level-L blocks ──► window indices they touch: [min_time / w, max_time / w]   (w = window of level L+1)
//!       │             eligible when the last one is closed: (last + 1) * w + settle_delay <= now
//!       ▼
//!  eligible blocks grouped into connected components (blocks sharing a window)
//!       ▼
//!  one Job per component: sources = its blocks; outputs = one block per window
//!  that holds data (a straddling block is split); jobs sorted small first
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
    /// Level of the sources; outputs are one level up.
    pub level: u32,
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

/// Plans the jobs of one level of one tenant. `blocks` may hold any levels;
/// only level `level` is considered. Jobs come sorted small first.
pub fn plan_level(
    tenant: &str,
    blocks: &[BlockMeta],
    level: u32,
    window_ns: i64,
    settle_ns: i64,
    now_ns: i64,
) -> Vec<Job> {
    assert!(window_ns > 0, "window must be positive");
    // (first window, last window, block), eligible only.
    let mut eligible: Vec<(i64, i64, &BlockMeta)> = blocks
        .iter()
        .filter(|b| b.level == level && b.tenant == tenant)
        .filter_map(|b| {
            let first = window_index(b.min_time_ns, window_ns);
            let last = window_index(b.max_time_ns, window_ns);
            let closes_at = window_bounds(last, window_ns).1 + settle_ns as i128;
            (closes_at <= now_ns as i128).then_some((first, last, b))
        })
        .collect();
    eligible.sort_by_key(|&(first, last, b)| (first, last, b.id));

    let mut jobs: Vec<Job> = Vec::new();
    let mut reach = i64::MIN; // last window of the current component
    for (first, last, block) in eligible {
        let closes_at = window_bounds(last, window_ns).1 + settle_ns as i128;
        let closes_at = closes_at.min(i64::MAX as i128) as i64;
        match jobs.last_mut() {
            Some(job) if first <= reach => {
                job.sources.push(block.clone());
                job.eligible_at_ns = job.eligible_at_ns.max(closes_at);
                reach = reach.max(last);
            }
            _ => {
                jobs.push(Job {
                    tenant: tenant.to_string(),
                    level,
                    window_ns,
                    sources: vec![block.clone()],
                    eligible_at_ns: closes_at,
                });
                reach = last;
            }
        }
    }
    for job in &mut jobs {
        job.sources
            .sort_by_key(|b| (b.min_time_ns, b.max_time_ns, b.id));
    }
    jobs.sort_by_key(|j| (j.bytes(), j.sources[0].min_time_ns));
    jobs
}

#[cfg(test)]
mod tests;

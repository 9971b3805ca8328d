//! Rollups: `samples.parquet` pre-summed per series per stack into 1-minute
//! and 1-hour buckets (design §3), written by the compactor from level 2 up.
//!
//! ```text
//!  samples.parquet  (series, time_ns, stack, span, value)   one row per profile time
//!        │ sum by (series, floor(time_ns / bucket) * bucket, stack), span dropped
//!        ▼
//!  rollup_1m.parquet / rollup_1h.parquet   same columns, time_ns = bucket start, span_id = 0
//! ```
//!
//! Invariants:
//! - a rollup row with bucket start `b` sums exactly the raw samples of its
//!   series and stack with `b <= time_ns < b + bucket` *in this block*, so the
//!   sum over blocks of rollup answers equals the raw answer whatever the
//!   block boundaries;
//! - buckets are aligned to the Unix epoch (`b % bucket == 0`);
//! - rows are sorted and unique on (series_id, time_ns, stack_id); sums of 0
//!   are dropped; `span_id` is always 0, so span-filtered queries must read
//!   raw samples.
//!
//! A time range `[start, end]` (inclusive, like every Kiln scan) is answered
//! exactly from a rollup when each end is either on a bucket boundary
//! (`start % bucket == 0`, `(end + 1) % bucket == 0`) or outside the block
//! (`start <= min_time`, `end >= max_time`): see [`RollupBucket::exact_for`].

use crate::meta::BlockMeta;
use crate::paths::files;

/// Bucket width of a rollup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RollupBucket {
    /// 1-minute buckets: `rollup_1m.parquet`.
    Minute,
    /// 1-hour buckets: `rollup_1h.parquet`.
    Hour,
}

const MINUTE_NS: i64 = 60_000_000_000;
const HOUR_NS: i64 = 60 * MINUTE_NS;

impl RollupBucket {
    /// Every bucket, finest first.
    pub const ALL: [RollupBucket; 2] = [RollupBucket::Minute, RollupBucket::Hour];

    /// The bucket width in nanoseconds.
    pub const fn nanos(self) -> i64 {
        match self {
            RollupBucket::Minute => MINUTE_NS,
            RollupBucket::Hour => HOUR_NS,
        }
    }

    /// The table's file name inside the block folder.
    pub const fn file(self) -> &'static str {
        match self {
            RollupBucket::Minute => files::ROLLUP_1M,
            RollupBucket::Hour => files::ROLLUP_1H,
        }
    }

    /// The start of the bucket holding `time_ns` (epoch-aligned, also for
    /// times before 1970).
    pub const fn bucket_start(self, time_ns: i64) -> i64 {
        time_ns.div_euclid(self.nanos()) * self.nanos()
    }

    /// Whether `t` is a bucket boundary.
    pub const fn is_boundary(self, t: i64) -> bool {
        t.rem_euclid(self.nanos()) == 0
    }

    /// The bucket-start range to scan in this rollup of `meta` so that the
    /// answer equals raw samples in `[start_ns, end_ns]` (inclusive), or
    /// `None` when this bucket cannot answer the range exactly in this block
    /// (a range end falls inside a bucket that also holds data outside it).
    pub fn exact_for(self, meta: &BlockMeta, start_ns: i64, end_ns: i64) -> Option<(i64, i64)> {
        if start_ns > end_ns {
            return None;
        }
        let lo = if start_ns <= meta.min_time_ns {
            i64::MIN
        } else if self.is_boundary(start_ns) {
            start_ns
        } else {
            return None;
        };
        let hi = if end_ns >= meta.max_time_ns {
            i64::MAX
        } else if end_ns.checked_add(1).is_some_and(|e| self.is_boundary(e)) {
            end_ns
        } else {
            return None;
        };
        Some((lo, hi))
    }

    /// Whether per-step points with `step_ns` (aligned to the epoch, like
    /// Pyroscope's) can be computed from this bucket: each step is a whole
    /// number of buckets. `0` = no steps (one total).
    pub const fn divides_step(self, step_ns: i64) -> bool {
        step_ns == 0 || (step_ns > 0 && step_ns % self.nanos() == 0)
    }
}

impl std::fmt::Display for RollupBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RollupBucket::Minute => "1m",
            RollupBucket::Hour => "1h",
        })
    }
}

impl BlockMeta {
    /// Whether the block has the rollup table of `bucket`.
    pub fn has_rollup(&self, bucket: RollupBucket) -> bool {
        self.file(bucket.file()).is_some()
    }

    /// The coarsest rollup of this block that answers raw samples in
    /// `[start_ns, end_ns]` exactly and whose bucket divides `step_ns`
    /// (`0` = a single total, e.g. a flame graph), with the bucket-start
    /// range to scan. `None` = read `samples.parquet`.
    ///
    /// This is the query planner's per-block choice: blocks wholly inside a
    /// long range use hourly rollups; a block cut by an unaligned range end
    /// falls back to minutes or raw samples.
    pub fn rollup_for(
        &self,
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
    ) -> Option<(RollupBucket, i64, i64)> {
        RollupBucket::ALL.iter().rev().find_map(|&b| {
            if !self.has_rollup(b) || !b.divides_step(step_ns) {
                return None;
            }
            let (lo, hi) = b.exact_for(self, start_ns, end_ns)?;
            Some((b, lo, hi))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FileMeta;

    fn meta(min: i64, max: i64, rollups: &[RollupBucket]) -> BlockMeta {
        BlockMeta {
            format_version: crate::FORMAT_VERSION,
            id: ulid::Ulid::nil(),
            tenant: "t".into(),
            level: 2,
            min_time_ns: min,
            max_time_ns: max,
            sources: vec![],
            files: rollups
                .iter()
                .map(|b| FileMeta {
                    name: b.file().into(),
                    rows: 1,
                    bytes: 1,
                    footer_bytes: 0,
                })
                .collect(),
            summary: Default::default(),
        }
    }

    #[test]
    fn bucket_starts_are_epoch_aligned() {
        let m = RollupBucket::Minute;
        assert_eq!(m.bucket_start(0), 0);
        assert_eq!(m.bucket_start(MINUTE_NS - 1), 0);
        assert_eq!(m.bucket_start(MINUTE_NS), MINUTE_NS);
        assert_eq!(m.bucket_start(-1), -MINUTE_NS);
        assert!(RollupBucket::Hour.is_boundary(3 * HOUR_NS));
        assert!(!RollupBucket::Hour.is_boundary(3 * HOUR_NS + MINUTE_NS));
    }

    #[test]
    fn exact_ranges() {
        let b = meta(HOUR_NS, 3 * HOUR_NS - 1, &RollupBucket::ALL);
        let h = RollupBucket::Hour;
        // Whole block, any unaligned ends outside it.
        assert_eq!(h.exact_for(&b, 5, i64::MAX), Some((i64::MIN, i64::MAX)));
        // Aligned ends inside the block.
        let r = h.exact_for(&b, 2 * HOUR_NS, 3 * HOUR_NS - 1);
        assert_eq!(r, Some((2 * HOUR_NS, i64::MAX)));
        assert_eq!(
            h.exact_for(&b, 0, 2 * HOUR_NS - 1),
            Some((i64::MIN, 2 * HOUR_NS - 1))
        );
        // An unaligned end inside the block.
        assert_eq!(h.exact_for(&b, HOUR_NS + 1, i64::MAX), None);
        assert_eq!(h.exact_for(&b, 0, 2 * HOUR_NS), None);
        // Minutes still work there, the planner picks them.
        let start = HOUR_NS + MINUTE_NS;
        assert_eq!(
            b.rollup_for(start, i64::MAX, 0),
            Some((RollupBucket::Minute, start, i64::MAX))
        );
        assert_eq!(
            b.rollup_for(0, i64::MAX, 0),
            Some((RollupBucket::Hour, i64::MIN, i64::MAX))
        );
        // A step of 30 s is finer than any bucket; 10 minutes only fits minutes.
        assert_eq!(b.rollup_for(0, i64::MAX, 30_000_000_000), None);
        assert_eq!(
            b.rollup_for(0, i64::MAX, 10 * MINUTE_NS).map(|r| r.0),
            Some(RollupBucket::Minute)
        );
        // No rollup files, no rollup.
        assert_eq!(meta(0, 1, &[]).rollup_for(0, 1, 0), None);
        assert_eq!(h.exact_for(&b, 2, 1), None);
    }
}

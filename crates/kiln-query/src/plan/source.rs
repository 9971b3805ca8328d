//! Which table each part of a block's scan reads: raw `samples.parquet` or
//! a rollup (`rollup_1h`, `rollup_1m`; see [`kiln_block::rollup`]).
//!
//! ```text
//!  query range  [start ─────────────────────────────────────────── end]
//!  block data        [min ─────────────────────────────────── max]
//!  1h rollup              |  hour  |  hour  |  hour  |            whole hours inside the range
//!  1m rollup          |m|m|                          |m|m|m|      whole minutes at the edges
//!  samples          [r]                                    [r]    the cut minutes, raw
//! ```
//!
//! A rollup row sums every raw sample of its series and stack in its bucket
//! *in this block*, so a bucket may be read from the rollup only when all of
//! the block's data in that bucket lies inside the query range: the bucket
//! is inside the range, or the range covers the block's data on that side
//! (`start ≤ min_time`, `end ≥ max_time`). The range is split recursively:
//! the coarsest usable bucket takes the interior, finer buckets the edges
//! it leaves, and raw samples what no bucket covers. The answer equals the
//! raw answer exactly: the segments are disjoint and cover the block's data
//! in the range.

use kiln_block::{BlockMeta, RollupBucket};

/// The table a scan segment reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// `samples.parquet`: one row per profile sample.
    Samples,
    /// A rollup table: one row per (series, bucket, stack).
    Rollup(RollupBucket),
}

impl Source {
    /// Every source, in [`Source::index`] order.
    pub(crate) const ALL: [Source; 3] = [
        Source::Samples,
        Source::Rollup(RollupBucket::Minute),
        Source::Rollup(RollupBucket::Hour),
    ];

    /// The `table` label of scan metrics.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Source::Samples => "samples",
            Source::Rollup(RollupBucket::Minute) => "rollup_1m",
            Source::Rollup(RollupBucket::Hour) => "rollup_1h",
        }
    }

    /// Position in [`Source::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Source::Samples => 0,
            Source::Rollup(RollupBucket::Minute) => 1,
            Source::Rollup(RollupBucket::Hour) => 2,
        }
    }
}

/// One part of a block's scan: rows of `source` with `start_ns ≤ time_ns ≤
/// end_ns`. For a rollup, `[start_ns, end_ns]` spans whole buckets, so the
/// rows are those of the buckets starting in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub source: Source,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Which rollups a query may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RollupUse {
    /// Raw samples only (profile-id or span filters, per-profile answers,
    /// or rollups switched off).
    Never,
    /// One total over the range (flame graphs): any bucket.
    Total,
    /// Points at `start_ms + k·step_ms` where a profile at `t` counts in the
    /// first boundary `≥ t` (SelectSeries): only buckets that never straddle
    /// two steps.
    Steps { start_ms: i64, step_ms: i64 },
}

impl RollupUse {
    /// Whether every `bucket` of the time axis lies within one step.
    ///
    /// A step ending at boundary `b` holds the profiles whose millisecond
    /// time is in `(b − step, b]`, i.e. nanoseconds
    /// `[(b − step + 1)·10⁶, (b + 1)·10⁶)`. Buckets fit when the step is a
    /// multiple of the bucket and the step intervals start on bucket
    /// boundaries: `(start_ms + 1)·10⁶ ≡ 0 (mod bucket)`.
    pub(crate) fn allows(self, bucket: RollupBucket) -> bool {
        match self {
            RollupUse::Never => false,
            RollupUse::Total => true,
            RollupUse::Steps { start_ms, step_ms } => {
                let n = i128::from(bucket.nanos());
                let step_ns = i128::from(step_ms) * 1_000_000;
                let first_ns = (i128::from(start_ms) + 1) * 1_000_000;
                step_ns > 0 && step_ns % n == 0 && first_ns.rem_euclid(n) == 0
            }
        }
    }
}

/// The segments of `meta`'s scan for the raw range `[start_ns, end_ns]`
/// (inclusive): the coarsest usable rollups inside, raw samples at cut
/// edges. Segments are disjoint, in time order, and together read exactly
/// the block's data in the range.
pub(crate) fn segments(
    meta: &BlockMeta,
    start_ns: i64,
    end_ns: i64,
    rollups: RollupUse,
) -> Vec<Segment> {
    // Coarsest first.
    let buckets: Vec<RollupBucket> = RollupBucket::ALL
        .iter()
        .rev()
        .copied()
        .filter(|&b| meta.has_rollup(b) && rollups.allows(b))
        .collect();
    let mut out = Vec::new();
    split(meta, start_ns, end_ns, &buckets, &mut out);
    out
}

fn split(meta: &BlockMeta, s: i64, e: i64, buckets: &[RollupBucket], out: &mut Vec<Segment>) {
    if s > e || e < meta.min_time_ns || s > meta.max_time_ns {
        return;
    }
    let Some((&bucket, finer)) = buckets.split_first() else {
        out.push(Segment {
            source: Source::Samples,
            start_ns: s,
            end_ns: e,
        });
        return;
    };
    let Some((lo, hi)) = interior(meta, bucket, s, e) else {
        return split(meta, s, e, finer, out);
    };
    if lo > s {
        split(meta, s, lo - 1, finer, out);
    }
    out.push(Segment {
        source: Source::Rollup(bucket),
        start_ns: lo,
        end_ns: hi,
    });
    if hi < e {
        split(meta, hi + 1, e, finer, out);
    }
}

/// The whole buckets of `bucket` whose block data lies in `[s, e]`, as the
/// time span `[first bucket start, last bucket end]`, or `None`.
fn interior(meta: &BlockMeta, bucket: RollupBucket, s: i64, e: i64) -> Option<(i64, i64)> {
    let n = bucket.nanos();
    let lo = if s <= meta.min_time_ns {
        bucket.bucket_start(meta.min_time_ns)
    } else {
        bucket.bucket_start(s.checked_add(n - 1)?)
    };
    let hi_exclusive = if e >= meta.max_time_ns {
        bucket.bucket_start(meta.max_time_ns).checked_add(n)?
    } else {
        bucket.bucket_start(e.checked_add(1)?)
    };
    (lo < hi_exclusive).then(|| (lo, hi_exclusive - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_block::FileMeta;

    const M: i64 = 60_000_000_000;
    const H: i64 = 60 * M;

    fn meta(min: i64, max: i64, rollups: &[RollupBucket]) -> BlockMeta {
        BlockMeta {
            format_version: kiln_block::FORMAT_VERSION,
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

    fn seg(source: Source, start_ns: i64, end_ns: i64) -> Segment {
        Segment {
            source,
            start_ns,
            end_ns,
        }
    }

    const RAW: Source = Source::Samples;
    const MIN: Source = Source::Rollup(RollupBucket::Minute);
    const HOUR: Source = Source::Rollup(RollupBucket::Hour);

    #[test]
    fn whole_block_reads_hours() {
        let b = meta(10 * H + 5, 20 * H + 7, &RollupBucket::ALL);
        let got = segments(&b, 0, i64::MAX, RollupUse::Total);
        assert_eq!(got, [seg(HOUR, 10 * H, 21 * H - 1)]);
    }

    #[test]
    fn cut_edges_split_into_minutes_and_raw() {
        let b = meta(10 * H, 20 * H, &RollupBucket::ALL);
        let (s, e) = (12 * H + 3 * M + 7, 15 * H + 2 * M + 9);
        let got = segments(&b, s, e, RollupUse::Total);
        assert_eq!(
            got,
            [
                seg(RAW, s, 12 * H + 4 * M - 1),
                seg(MIN, 12 * H + 4 * M, 13 * H - 1),
                seg(HOUR, 13 * H, 15 * H - 1),
                seg(MIN, 15 * H, 15 * H + 2 * M - 1),
                seg(RAW, 15 * H + 2 * M, e),
            ]
        );
        // Without the hourly table, minutes take the interior.
        let b = meta(10 * H, 20 * H, &[RollupBucket::Minute]);
        assert_eq!(
            segments(&b, s, e, RollupUse::Total),
            [
                seg(RAW, s, 12 * H + 4 * M - 1),
                seg(MIN, 12 * H + 4 * M, 15 * H + 2 * M - 1),
                seg(RAW, 15 * H + 2 * M, e),
            ]
        );
    }

    #[test]
    fn short_or_unrolled_ranges_read_raw() {
        let b = meta(10 * H, 20 * H, &RollupBucket::ALL);
        let (s, e) = (12 * H + 1, 12 * H + 59_000_000_000);
        assert_eq!(segments(&b, s, e, RollupUse::Total), [seg(RAW, s, e)]);
        assert_eq!(
            segments(&b, 0, i64::MAX, RollupUse::Never),
            [seg(RAW, 0, i64::MAX)]
        );
        let plain = meta(10 * H, 20 * H, &[]);
        assert_eq!(
            segments(&plain, 0, 30 * H, RollupUse::Total),
            [seg(RAW, 0, 30 * H)]
        );
        // Nothing of the block in range: nothing to read.
        assert!(segments(&b, 0, 10 * H - 1, RollupUse::Total).is_empty());
    }

    #[test]
    fn steps_must_be_whole_aligned_buckets() {
        // Steps of 1 h whose intervals start on the hour (start = hh:59:59.999).
        let aligned = RollupUse::Steps {
            start_ms: H / 1_000_000 - 1,
            step_ms: H / 1_000_000,
        };
        assert!(aligned.allows(RollupBucket::Hour));
        assert!(aligned.allows(RollupBucket::Minute));
        // Boundaries on the hour put xx:00:00.000 into the previous step.
        let on_the_hour = RollupUse::Steps {
            start_ms: H / 1_000_000,
            step_ms: H / 1_000_000,
        };
        assert!(!on_the_hour.allows(RollupBucket::Minute));
        // 90 s steps are not whole minutes.
        let odd = RollupUse::Steps {
            start_ms: -1,
            step_ms: 90_000,
        };
        assert!(!odd.allows(RollupBucket::Minute));
        let minutes = RollupUse::Steps {
            start_ms: -1,
            step_ms: 120_000,
        };
        assert!(minutes.allows(RollupBucket::Minute));
        assert!(!minutes.allows(RollupBucket::Hour));
    }
}

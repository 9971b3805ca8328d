//! Summing sorted sample rows into rollup rows (see [`crate::rollup`]).
//!
//! The input arrives in `samples.parquet` order, so (series, bucket) never
//! goes back: the accumulator holds one bucket of one series at a time
//! (its distinct stacks) and emits that bucket's rows, sorted by stack, as
//! soon as the next key starts. Memory: one series-bucket's stacks.

use super::tables::SampleRow;
use crate::rollup::RollupBucket;
use foldhash::HashMap;

/// Sums sample rows of one rollup bucket width.
#[derive(Debug)]
pub(crate) struct RollupAccumulator {
    bucket: RollupBucket,
    /// (series_id, bucket start) being summed.
    current: Option<(u32, i64)>,
    sums: HashMap<u32, i64>,
    /// Finished rows, in order, not yet taken.
    ready: Vec<SampleRow>,
}

impl RollupAccumulator {
    pub fn new(bucket: RollupBucket) -> Self {
        Self {
            bucket,
            current: None,
            sums: HashMap::default(),
            ready: Vec::new(),
        }
    }

    /// Adds one raw sample row; rows must come in (series_id, time_ns) order.
    pub fn push(&mut self, row: &SampleRow) {
        let key = (row.series_id, self.bucket.bucket_start(row.time_ns));
        if self.current != Some(key) {
            self.close_bucket();
            self.current = Some(key);
        }
        let sum = self.sums.entry(row.stack_id).or_default();
        *sum = sum.wrapping_add(row.value);
    }

    /// Emits the bucket being summed.
    fn close_bucket(&mut self) {
        let Some((series_id, time_ns)) = self.current.take() else {
            return;
        };
        let start = self.ready.len();
        self.ready.extend(
            self.sums
                .drain()
                .filter(|&(_, v)| v != 0)
                .map(|(stack_id, value)| SampleRow {
                    series_id,
                    time_ns,
                    stack_id,
                    span_id: 0,
                    value,
                }),
        );
        self.ready[start..].sort_unstable();
    }

    /// Emits the last bucket; call once after the last row.
    pub fn finish(&mut self) {
        self.close_bucket();
    }

    /// Finished rows so far.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// Takes the finished rows, in order.
    pub fn take(&mut self) -> Vec<SampleRow> {
        std::mem::take(&mut self.ready)
    }
}

/// The rollup rows of `samples` (sorted like `samples.parquet`).
pub(crate) fn rollup_rows(bucket: RollupBucket, samples: &[SampleRow]) -> Vec<SampleRow> {
    let mut acc = RollupAccumulator::new(bucket);
    for s in samples {
        acc.push(s);
    }
    acc.finish();
    acc.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(series_id: u32, time_ns: i64, stack_id: u32, span_id: u64, value: i64) -> SampleRow {
        SampleRow {
            series_id,
            time_ns,
            stack_id,
            span_id,
            value,
        }
    }

    #[test]
    fn sums_per_series_bucket_and_stack_dropping_spans_and_zeros() {
        let m = RollupBucket::Minute.nanos();
        let rows = [
            row(0, 0, 2, 0, 1),
            row(0, 0, 3, 7, 2),
            row(0, 10, 2, 9, 4),
            row(0, 10, 3, 0, -2), // cancels stack 3 in bucket 0
            row(0, m, 1, 0, 8),
            row(1, 5, 2, 0, 16),
        ];
        assert_eq!(
            rollup_rows(RollupBucket::Minute, &rows),
            [row(0, 0, 2, 0, 5), row(0, m, 1, 0, 8), row(1, 0, 2, 0, 16)]
        );
        assert_eq!(
            rollup_rows(RollupBucket::Hour, &rows),
            [row(0, 0, 1, 0, 8), row(0, 0, 2, 0, 5), row(1, 0, 2, 0, 16)]
        );
    }
}

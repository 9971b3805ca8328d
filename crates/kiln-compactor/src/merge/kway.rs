//! A k-way merge of sorted row streams, one group of equal keys at a time.
//!
//! ```text
//!  source 0: batch ─► rows (ids mapped) ─┐
//!  source 1: batch ─► rows (ids mapped) ─┼─► min-heap on (series_id, time_ns) ─► all rows of
//!  source k: batch ─► rows (ids mapped) ─┘      the smallest key, from every source ─► caller
//! ```
//!
//! Each source yields rows already mapped to the output's ids, in
//! non-decreasing (series_id, time_ns) order: source series ids follow
//! label-set order and so do output ids, so mapping keeps the order. Rows
//! with equal keys are handed over together; the caller orders them inside
//! the group (by stack, by profile id). Memory: one decoded batch per source
//! plus one group.

use crate::CompactorError;
use arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use kiln_block::reader::BatchStream;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// (series_id, time_ns): the leading sort key of samples and profiles.
pub(crate) type Key = (u32, i64);

/// A row with the merge key.
pub(crate) trait Keyed {
    fn key(&self) -> Key;
}

impl Keyed for kiln_block::SampleRow {
    fn key(&self) -> Key {
        (self.series_id, self.time_ns)
    }
}

impl Keyed for kiln_block::ProfileRecord {
    fn key(&self) -> Key {
        (self.series_id, self.time_ns)
    }
}

/// Decodes a batch into rows with output ids.
pub(crate) type Decoder<R> = Box<dyn FnMut(&RecordBatch) -> Result<Vec<R>, CompactorError> + Send>;

/// One source: its stream, its decoder and the rows of the current batch.
pub(crate) struct Cursor<R> {
    name: String,
    stream: BatchStream,
    decode: Decoder<R>,
    rows: std::vec::IntoIter<R>,
    head: Option<R>,
    last: Option<Key>,
}

impl<R: Keyed> Cursor<R> {
    pub fn new(name: String, stream: BatchStream, decode: Decoder<R>) -> Self {
        Self {
            name,
            stream,
            decode,
            rows: Vec::new().into_iter(),
            head: None,
            last: None,
        }
    }

    /// Makes `head` the next row, fetching batches as needed; `false` at the end.
    async fn advance(&mut self) -> Result<bool, CompactorError> {
        loop {
            if let Some(row) = self.rows.next() {
                let key = row.key();
                if self.last.is_some_and(|l| l > key) {
                    return Err(CompactorError::inconsistent(format!(
                        "{}: rows out of order ({:?} after {:?})",
                        self.name, key, self.last
                    )));
                }
                self.last = Some(key);
                self.head = Some(row);
                return Ok(true);
            }
            match self.stream.next().await {
                Some(batch) => self.rows = (self.decode)(&batch?)?.into_iter(),
                None => {
                    self.head = None;
                    return Ok(false);
                }
            }
        }
    }

    /// Moves every row with `key` into `out`; returns the next key, if any.
    async fn take(&mut self, key: Key, out: &mut Vec<R>) -> Result<Option<Key>, CompactorError> {
        while let Some(row) = self.head.take() {
            if row.key() != key {
                let next = row.key();
                self.head = Some(row);
                return Ok(Some(next));
            }
            out.push(row);
            self.advance().await?;
        }
        Ok(None)
    }
}

/// Merges cursors into groups of rows with equal keys, in key order.
pub(crate) struct KWay<R> {
    cursors: Vec<Cursor<R>>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
}

impl<R: Keyed> KWay<R> {
    /// Fetches every cursor's first batch, `concurrency` at a time.
    pub async fn new(
        mut cursors: Vec<Cursor<R>>,
        concurrency: usize,
    ) -> Result<Self, CompactorError> {
        futures::stream::iter(cursors.iter_mut())
            .map(Cursor::advance)
            .buffer_unordered(concurrency.max(1))
            .try_collect::<Vec<bool>>()
            .await?;
        let heap = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.head.as_ref().map(|h| Reverse((h.key(), i))))
            .collect();
        Ok(Self { cursors, heap })
    }

    /// Clears `out` and fills it with every row of the smallest key (from
    /// all sources); `None` when every source is exhausted.
    pub async fn next_group(&mut self, out: &mut Vec<R>) -> Result<Option<Key>, CompactorError> {
        out.clear();
        let Some(&Reverse((key, _))) = self.heap.peek() else {
            return Ok(None);
        };
        while let Some(&Reverse((k, i))) = self.heap.peek() {
            if k != key {
                break;
            }
            self.heap.pop();
            if let Some(next) = self.cursors[i].take(key, out).await? {
                self.heap.push(Reverse((next, i)));
            }
        }
        Ok(Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::stream;
    use std::sync::Arc;

    #[derive(Debug, PartialEq)]
    struct Row(u32, i64, i64);
    impl Keyed for Row {
        fn key(&self) -> Key {
            (self.0, self.1)
        }
    }

    fn batches(rows: &[&[(u32, i64)]]) -> BatchStream {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::UInt32, false),
            Field::new("t", DataType::Int64, false),
        ]));
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                Ok(RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(UInt32Array::from_iter_values(r.iter().map(|x| x.0))),
                        Arc::new(Int64Array::from_iter_values(r.iter().map(|x| x.1))),
                    ],
                )
                .unwrap())
            })
            .collect();
        stream::iter(out).boxed()
    }

    fn cursor(tag: i64, rows: &[&[(u32, i64)]]) -> Cursor<Row> {
        let decode: Decoder<Row> = Box::new(move |b: &RecordBatch| {
            let s = b.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
            let t = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            Ok((0..b.num_rows())
                .map(|i| Row(s.value(i), t.value(i), tag))
                .collect())
        });
        Cursor::new(format!("c{tag}"), batches(rows), decode)
    }

    #[tokio::test]
    async fn groups_equal_keys_across_sources_and_batches() {
        let a = cursor(0, &[&[(0, 1), (0, 1)], &[(0, 1), (1, 5)]]);
        let b = cursor(1, &[&[], &[(0, 1), (0, 2)], &[(2, 0)]]);
        let c = cursor(2, &[]);
        let mut k = KWay::new(vec![a, b, c], 2).await.unwrap();
        let mut group = Vec::new();
        let mut seen = Vec::new();
        while let Some(key) = k.next_group(&mut group).await.unwrap() {
            seen.push((key, group.iter().map(|r| r.2).collect::<Vec<_>>()));
        }
        assert_eq!(
            seen,
            [
                ((0, 1), vec![0, 0, 0, 1]),
                ((0, 2), vec![1]),
                ((1, 5), vec![0]),
                ((2, 0), vec![1]),
            ]
        );
    }

    #[tokio::test]
    async fn out_of_order_sources_are_refused() {
        let a = cursor(0, &[&[(1, 1)], &[(0, 1)]]);
        let mut k = KWay::new(vec![a], 1).await.unwrap();
        let mut group = Vec::new();
        assert!(matches!(
            k.next_group(&mut group).await,
            Err(CompactorError::Inconsistent(_))
        ));
    }
}

//! Pushdown for the files sorted by (series_id, time_ns): pick row groups by
//! their column statistics, then rows by the page index, before any data is
//! fetched. Pruning is conservative: a page without statistics is kept, and
//! the scan filters the surviving rows exactly.

use parquet::arrow::arrow_reader::RowSelection;
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use roaring::RoaringBitmap;
use std::ops::Range;

/// What a scan touched, to check that pushdown works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub row_groups_total: usize,
    pub row_groups_read: usize,
    /// Data pages of the `time_ns` column, in the whole file.
    pub pages_total: usize,
    /// Of those, pages overlapping the rows selected for decoding.
    pub pages_read: usize,
    pub rows_total: usize,
    /// Rows decoded after row-group and page pruning.
    pub rows_scanned: usize,
    /// Rows returned after the exact filter (0 until the scan is consumed).
    pub rows_matched: usize,
}

/// The row groups and rows to decode.
#[derive(Debug, Clone)]
pub(crate) struct ScanPlan {
    pub row_groups: Vec<usize>,
    pub selection: RowSelection,
    pub stats: ScanStats,
}

/// The predicate being pushed down: series in a set, time in `[start, end]`.
pub(crate) struct Predicate<'a> {
    pub series: &'a RoaringBitmap,
    pub start_ns: i64,
    pub end_ns: i64,
    pub series_col: usize,
    pub time_col: usize,
}

impl Predicate<'_> {
    fn series_may_match(&self, lo: u32, hi: u32) -> bool {
        lo <= hi && self.series.range_cardinality(lo..=hi) > 0
    }

    fn time_may_match(&self, lo: i64, hi: i64) -> bool {
        lo <= self.end_ns && hi >= self.start_ns
    }

    fn row_group_may_match(&self, rg: &RowGroupMetaData) -> bool {
        let series_ok = match rg.column(self.series_col).statistics() {
            Some(Statistics::Int32(s)) => match (s.min_opt(), s.max_opt()) {
                // UINT_32 statistics are stored as i32 bits, ordered unsigned.
                (Some(&lo), Some(&hi)) => self.series_may_match(lo as u32, hi as u32),
                _ => true,
            },
            _ => true,
        };
        let time_ok = match rg.column(self.time_col).statistics() {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&lo), Some(&hi)) => self.time_may_match(lo, hi),
                _ => true,
            },
            _ => true,
        };
        series_ok && time_ok
    }

    fn series_page_may_match(&self, index: &ColumnIndexMetaData, page: usize) -> bool {
        match index {
            ColumnIndexMetaData::INT32(i) => match (i.min_value(page), i.max_value(page)) {
                (Some(&lo), Some(&hi)) => self.series_may_match(lo as u32, hi as u32),
                _ => true,
            },
            _ => true,
        }
    }

    fn time_page_may_match(&self, index: &ColumnIndexMetaData, page: usize) -> bool {
        match index {
            ColumnIndexMetaData::INT64(i) => match (i.min_value(page), i.max_value(page)) {
                (Some(&lo), Some(&hi)) => self.time_may_match(lo, hi),
                _ => true,
            },
            _ => true,
        }
    }
}

/// One range covering a whole row group.
fn whole(rows: usize) -> Vec<Range<usize>> {
    std::iter::once(0..rows).collect()
}

/// Row ranges of each page of column `col` in row group `rg`, or `None`
/// without an offset index.
fn page_rows(
    md: &ParquetMetaData,
    rg: usize,
    col: usize,
    rows: usize,
) -> Option<Vec<Range<usize>>> {
    let locations = md.offset_index()?.get(rg)?.get(col)?.page_locations();
    let firsts: Vec<usize> = locations
        .iter()
        .map(|l| l.first_row_index as usize)
        .collect();
    Some(
        firsts
            .iter()
            .enumerate()
            .map(|(i, &first)| first..firsts.get(i + 1).copied().unwrap_or(rows))
            .collect(),
    )
}

/// Rows of row group `rg` whose page in column `col` may match `keep`.
fn kept_rows(
    md: &ParquetMetaData,
    rg: usize,
    col: usize,
    rows: usize,
    keep: impl Fn(&ColumnIndexMetaData, usize) -> bool,
) -> Vec<Range<usize>> {
    let (Some(pages), Some(index)) = (
        page_rows(md, rg, col, rows),
        md.column_index().and_then(|c| c.get(rg)?.get(col)),
    ) else {
        return whole(rows);
    };
    let mut out: Vec<Range<usize>> = Vec::new();
    for (page, range) in pages.into_iter().enumerate() {
        if !keep(index, page) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => out.push(range),
        }
    }
    out
}

/// Intersection of two sorted lists of disjoint ranges.
fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn overlaps_any(page: &Range<usize>, ranges: &[Range<usize>]) -> bool {
    ranges
        .iter()
        .any(|r| r.start < page.end && page.start < r.end)
}

/// Plans a scan of a file sorted by (series_id, time_ns).
pub(crate) fn plan(md: &ParquetMetaData, p: &Predicate<'_>) -> ScanPlan {
    let mut stats = ScanStats {
        row_groups_total: md.num_row_groups(),
        ..Default::default()
    };
    let mut row_groups = Vec::new();
    let mut selected: Vec<Range<usize>> = Vec::new();
    let mut offset = 0usize;
    let empty = p.series.is_empty() || p.start_ns > p.end_ns;
    for (rg, meta) in md.row_groups().iter().enumerate() {
        let rows = meta.num_rows().max(0) as usize;
        stats.rows_total += rows;
        let time_pages = page_rows(md, rg, p.time_col, rows).unwrap_or_else(|| whole(rows));
        stats.pages_total += time_pages.len();
        if empty || !p.row_group_may_match(meta) {
            continue;
        }
        let by_series = kept_rows(md, rg, p.series_col, rows, |ix, page| {
            p.series_page_may_match(ix, page)
        });
        let by_time = kept_rows(md, rg, p.time_col, rows, |ix, page| {
            p.time_page_may_match(ix, page)
        });
        let ranges = intersect(&by_series, &by_time);
        if ranges.is_empty() {
            continue;
        }
        stats.row_groups_read += 1;
        stats.pages_read += time_pages
            .iter()
            .filter(|pg| overlaps_any(pg, &ranges))
            .count();
        stats.rows_scanned += ranges.iter().map(|r| r.len()).sum::<usize>();
        row_groups.push(rg);
        selected.extend(ranges.into_iter().map(|r| r.start + offset..r.end + offset));
        offset += rows;
    }
    let selection = RowSelection::from_consecutive_ranges(selected.into_iter(), offset);
    ScanPlan {
        row_groups,
        selection,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn intersect_ranges() {
        assert_eq!(intersect(&[0..10, 20..30], &[5..25]), vec![5..10, 20..25]);
        assert_eq!(intersect(&[0..10], &[10..20]), Vec::<Range<usize>>::new());
        assert_eq!(intersect(&[0..100], &[0..100]), vec![0..100]);
    }
}

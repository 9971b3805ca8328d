//! Pushdown: scans of a subset of series and a time range touch fewer row
//! groups, pages and bytes than the whole file, and return exactly the rows
//! a brute-force filter returns.

use crate::common::*;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, UInt32Type};
use futures::TryStreamExt;
use kiln_block::{BlockEncoder, BlockReader, WriterConfig};
use kiln_model::NormalizedProfile;
use roaring::RoaringBitmap;

const SERIES: usize = 20;
const TIMES: i64 = 40;
const STEP: i64 = 10_000_000_000;

/// 20 series × 40 times × 12 stacks = 9,600 sample rows.
fn profiles() -> Vec<NormalizedProfile> {
    let frames = named_frames(&["main", "a", "b", "c", "d", "e", "f"]);
    let mut out = Vec::new();
    for s in 0..SERIES {
        let labels = series_labels(
            &format!("svc-{s:02}"),
            &cpu(),
            &[("zone", &format!("{}", s % 3))],
        );
        for t in 0..TIMES {
            let samples = (0..12u32)
                .map(|k| {
                    sample(
                        &[0, 1 + k % 6, 1 + (k / 6) % 6, 1 + (k + t as u32) % 6],
                        1 + k as i64,
                    )
                })
                .collect();
            out.push(profile(
                labels.clone(),
                cpu(),
                (t + 1) * STEP,
                frames.clone(),
                samples,
            ));
        }
    }
    out
}

fn small_pages() -> WriterConfig {
    WriterConfig {
        row_group_rows: 1_000,
        data_page_rows: 100,
        ..WriterConfig::default()
    }
}

#[tokio::test]
async fn scans_prune_row_groups_and_pages_and_stay_exact() {
    let input = profiles();
    for s in stores() {
        let block = BlockEncoder::new("t1", 0)
            .with_config(small_pages())
            .encode(&input)
            .unwrap();
        block.upload(s.store.as_ref()).await.unwrap();
        let reader = BlockReader::open(s.store.clone(), "t1", block.meta.id)
            .await
            .unwrap();
        let index = reader.series().await.unwrap();
        let samples_bytes = reader.meta().file("samples.parquet").unwrap().bytes;
        // Warm the caches (stack tables, samples footer) so I/O below is data pages only.
        reader.stack_resolver().await.unwrap();
        reader
            .scan_samples(&RoaringBitmap::new(), 0, 0)
            .await
            .unwrap();

        // Series ids follow label order: svc-00 … svc-19.
        let id = |svc: &str| index.postings("service_name", svc).unwrap().min().unwrap();
        assert_eq!(id("svc-07"), 7);

        let cases: Vec<(RoaringBitmap, i64, i64)> = vec![
            ([3u32, 4].into_iter().collect(), 10 * STEP, 20 * STEP),
            ([2u32, 15].into_iter().collect(), 1, 5 * STEP),
            ([0u32].into_iter().collect(), 35 * STEP + 1, i64::MAX),
            ([19u32].into_iter().collect(), 12 * STEP, 12 * STEP),
        ];
        for (series, start, end) in cases {
            let before = reader.io_stats();
            let (got, stats) = actual_samples(&reader, &series, start, end).await.unwrap();
            let fetched = reader.io_stats().bytes - before.bytes;

            let in_scope: Vec<NormalizedProfile> = input
                .iter()
                .filter(|p| {
                    let sid = index.iter().find(|(_, e)| e.labels == p.labels).unwrap().0;
                    series.contains(sid) && p.time_nanos >= start && p.time_nanos <= end
                })
                .cloned()
                .collect();
            let want = expected_samples(&in_scope);
            assert!(!want.is_empty());
            assert_eq!(got, want, "{}: {series:?} [{start}, {end}]", s.name);
            assert_eq!(stats.rows_matched, want.len());

            assert_eq!(stats.rows_total, 9_600);
            assert!(stats.row_groups_total >= 9, "{stats:?}");
            assert!(stats.row_groups_read < stats.row_groups_total, "{stats:?}");
            assert!(stats.pages_read < stats.pages_total / 4, "{stats:?}");
            assert!(stats.rows_scanned < stats.rows_total / 4, "{stats:?}");
            assert!(stats.rows_scanned >= want.len(), "{stats:?}");
            // Page pruning inside the row groups read (1,000 rows each).
            assert!(
                stats.rows_scanned < stats.row_groups_read * 1_000,
                "{stats:?}"
            );
            assert!(
                fetched < samples_bytes / 4,
                "{}: fetched {fetched} of {samples_bytes}",
                s.name
            );
            println!(
                "{}: {stats:?}, fetched {fetched} of {samples_bytes} bytes",
                s.name
            );
        }

        // A selection that prunes everything reads no data pages.
        let none: RoaringBitmap = [5u32].into_iter().collect();
        let scan = reader.scan_samples(&none, 0, 1).await.unwrap();
        assert!(scan.batches.is_empty());
        assert_eq!(
            (scan.stats.row_groups_read, scan.stats.rows_scanned),
            (0, 0)
        );

        // The profiles table prunes too and stays exact.
        let series: RoaringBitmap = [3u32, 4].into_iter().collect();
        let rows = reader
            .profiles(&series, 10 * STEP, 20 * STEP)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2 * 11);
        assert!(rows.iter().all(|r| series.contains(r.series_id)));
        assert!(
            rows.windows(2)
                .all(|w| (w[0].series_id, w[0].time_ns) <= (w[1].series_id, w[1].time_ns))
        );

        // A projected profiles scan yields the same rows, with only the
        // asked columns (and the sort columns the filter needs).
        let projected: Vec<RecordBatch> = reader
            .profiles_columns_stream(&series, 10 * STEP, 20 * STEP, &["total"])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let names: Vec<&str> = projected[0]
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["series_id", "time_ns", "total"]);
        let got: Vec<(u32, i64, i64)> = projected
            .iter()
            .flat_map(|b| {
                let ids = b.column(0).as_primitive::<UInt32Type>().clone();
                let times = b.column(1).as_primitive::<Int64Type>().clone();
                let totals = b.column(2).as_primitive::<Int64Type>().clone();
                (0..b.num_rows())
                    .map(move |i| (ids.value(i), times.value(i), totals.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<(u32, i64, i64)> = rows
            .iter()
            .map(|r| (r.series_id, r.time_ns, r.total))
            .collect();
        assert_eq!(got, want);

        // aggregate_by_stack sees the same rows as the scan.
        let totals = reader
            .aggregate_by_stack(&series, 10 * STEP, 20 * STEP)
            .await
            .unwrap();
        let (rows, _) = actual_samples(&reader, &series, 10 * STEP, 20 * STEP)
            .await
            .unwrap();
        assert_eq!(totals.values().sum::<i64>(), rows.values().sum::<i64>());
    }
}

#[tokio::test]
async fn page_index_and_footer_come_in_one_request() {
    let input = profiles();
    for s in stores() {
        let block = BlockEncoder::new("t1", 0)
            .with_config(small_pages())
            .encode(&input)
            .unwrap();
        block.upload(s.store.as_ref()).await.unwrap();
        let reader = BlockReader::open(s.store.clone(), "t1", block.meta.id)
            .await
            .unwrap();
        assert_eq!(reader.io_stats().requests, 1, "meta.json");
        // Nothing matches: only the footer + page index of samples.parquet is read.
        let none = RoaringBitmap::new();
        reader.scan_samples(&none, 0, i64::MAX).await.unwrap();
        let io = reader.io_stats();
        let footer = reader.meta().file("samples.parquet").unwrap().footer_bytes;
        assert_eq!(io.requests, 2, "{}: {io:?}", s.name);
        assert!(footer > 0 && io.bytes < block.meta.files[0].bytes);
    }
}

//! The streaming writer: a block streamed row by row reads back exactly
//! like the same rows encoded in memory, rollups included, across many row
//! groups; rows out of order or out of range are refused and nothing is
//! committed.

use crate::common::*;
use arrow::array::{Int64Array, UInt32Array, UInt64Array};
use futures::TryStreamExt;
use kiln_block::paths::{self, files};
use kiln_block::{
    BlockEncoder, BlockError, BlockReader, ProfileRecord, RollupBucket, SampleRow,
    StackTableBuilder, WriterConfig,
};
use kiln_model::NormalizedProfile;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

fn corpus() -> Vec<NormalizedProfile> {
    let frames = named_frames(&["main", "run", "work", "alloc", "io", "parse"]);
    let mut out = Vec::new();
    for i in 0..300i64 {
        let service = ["api", "db", "web"][(i % 3) as usize];
        let labels = series_labels(service, &cpu(), &[("pod", &format!("p{}", i % 4))]);
        let samples = (0..(i % 7) as u32)
            .map(|k| sample(&[0, 1 + k % 4, (k * 7 + i as u32) % 6], 10 + k as i64 * i))
            .collect::<Vec<_>>();
        let mut merged = std::collections::BTreeMap::new();
        for s in samples {
            *merged.entry(s.stack).or_insert(0) += s.value;
        }
        let samples = merged.into_iter().map(|(st, v)| sample(&st, v)).collect();
        let mut p = profile(
            labels,
            cpu(),
            1_000_000_000_000 + i * 7_000_000_000,
            frames.clone(),
            samples,
        );
        p.profile_id = format!("p{i}");
        out.push(p);
    }
    out
}

fn sample_rows(b: &arrow::array::RecordBatch) -> Vec<SampleRow> {
    let ids = b.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
    let times = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
    let stacks = b.column(2).as_any().downcast_ref::<UInt32Array>().unwrap();
    let values = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
    let spans = b.column(4).as_any().downcast_ref::<UInt64Array>().unwrap();
    (0..b.num_rows())
        .map(|i| SampleRow {
            series_id: ids.value(i),
            time_ns: times.value(i),
            stack_id: stacks.value(i),
            span_id: spans.value(i),
            value: values.value(i),
        })
        .collect()
}

async fn all_rows(r: &BlockReader, bucket: Option<RollupBucket>) -> Vec<SampleRow> {
    let all = r.series().await.unwrap().all();
    let scan = match bucket {
        None => r.scan_samples(&all, i64::MIN, i64::MAX).await.unwrap(),
        Some(b) => r.scan_rollup(b, &all, i64::MIN, i64::MAX).await.unwrap(),
    };
    scan.batches.iter().flat_map(sample_rows).collect()
}

#[tokio::test]
async fn streamed_block_reads_back_like_the_encoded_one() {
    for s in stores() {
        let corpus = corpus();
        // Tiny row groups, pages and upload parts: many of each, and the
        // streamed files go through multipart uploads.
        let small = WriterConfig {
            row_group_rows: 64,
            data_page_rows: 16,
            upload_part_bytes: 1024,
            ..WriterConfig::compacted()
        };
        let encoded = BlockEncoder::new("t1", 2)
            .with_rollups(&RollupBucket::ALL)
            .with_config(small.clone())
            .encode(&corpus)
            .unwrap();
        encoded.upload(s.store.as_ref()).await.unwrap();
        let source = BlockReader::from_meta(s.store.clone(), encoded.meta.clone()).unwrap();
        let index = source.series().await.unwrap();
        let resolver = source.stack_resolver().await.unwrap();

        // The same symbols through the owning builder, fed in reverse order.
        let mut builder = StackTableBuilder::new();
        let mut nodes = vec![None; resolver.len() + 1];
        for id in (1..=resolver.len() as u32).rev() {
            let frames = resolver.resolve(id).unwrap();
            nodes[id as usize] = Some(builder.intern_stack(frames));
        }
        let (tables, node_to_stack) = builder.finish();
        for (id, node) in nodes.iter().enumerate().skip(1) {
            assert_eq!(
                node_to_stack[node.unwrap().0 as usize],
                id as u32,
                "ids are deterministic"
            );
        }

        let series: Vec<_> = index.iter().map(|(_, e)| e.clone()).collect();
        let mut w = BlockEncoder::new("t1", 2)
            .with_rollups(&RollupBucket::ALL)
            .with_config(small.clone())
            .with_sources(vec![encoded.meta.id])
            .stream(s.store.clone(), series, &tables)
            .await
            .unwrap();
        let rows = all_rows(&source, None).await;
        for chunk in rows.chunks(37) {
            w.push_samples(chunk).await.unwrap();
        }
        let profiles = source
            .profiles(&index.all(), i64::MIN, i64::MAX)
            .await
            .unwrap();
        for chunk in profiles.chunks(11) {
            w.push_profiles(chunk).await.unwrap();
        }
        let meta = w.finish().await.unwrap();

        // Commit protocol: meta.json is stored and describes the block.
        let streamed = BlockReader::open(s.store.clone(), "t1", meta.id)
            .await
            .unwrap();
        assert_eq!(streamed.meta(), &meta);
        assert_eq!(meta.sources, vec![encoded.meta.id]);
        assert_eq!(
            (meta.min_time_ns, meta.max_time_ns),
            (encoded.meta.min_time_ns, encoded.meta.max_time_ns)
        );
        assert_eq!(meta.summary, encoded.meta.summary, "{}", s.name);
        let names = |m: &kiln_block::BlockMeta| {
            m.files
                .iter()
                .map(|f| (f.name.clone(), f.rows))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&meta), names(&encoded.meta));
        for f in &meta.files {
            let head = s
                .store
                .head(&paths::block_file("t1", meta.id, &f.name))
                .await
                .unwrap();
            assert_eq!(head.size, f.bytes, "{} size", f.name);
            assert!(
                f.footer_bytes > 0 && f.footer_bytes < f.bytes,
                "{} footer",
                f.name
            );
        }

        // Content: samples, rollups, profiles, series, stacks.
        assert_eq!(all_rows(&streamed, None).await, rows);
        for b in RollupBucket::ALL {
            assert_eq!(
                all_rows(&streamed, Some(b)).await,
                all_rows(&source, Some(b)).await,
                "{b}"
            );
        }
        let back = streamed
            .profiles(&index.all(), i64::MIN, i64::MAX)
            .await
            .unwrap();
        assert_eq!(back, profiles);
        let r2 = streamed.stack_resolver().await.unwrap();
        for id in 0..=resolver.len() as u32 {
            assert_eq!(r2.resolve(id).unwrap(), resolver.resolve(id).unwrap());
        }
        let i2 = streamed.series().await.unwrap();
        assert!(i2.iter().map(|(_, e)| e).eq(index.iter().map(|(_, e)| e)));
        // Pruned scans work on the streamed files (many row groups and pages).
        let api = i2.postings("service_name", "api").unwrap().clone();
        let (lo, hi) = (
            meta.min_time_ns + 500_000_000_000,
            meta.min_time_ns + 900_000_000_000,
        );
        assert_eq!(
            streamed.aggregate_by_stack(&api, lo, hi).await.unwrap(),
            source.aggregate_by_stack(&api, lo, hi).await.unwrap()
        );
        let stream = streamed.profiles_stream(&api, lo, hi).await.unwrap();
        let batches: Vec<_> = stream.try_collect().await.unwrap();
        let got: Vec<ProfileRecord> = batches
            .iter()
            .flat_map(|b| ProfileRecord::from_batch(b).unwrap())
            .collect();
        assert_eq!(got, source.profiles(&api, lo, hi).await.unwrap());
    }
}

#[tokio::test]
async fn bad_rows_are_refused_and_nothing_is_committed() {
    let s = &stores()[0];
    let corpus = corpus();
    let encoded = BlockEncoder::new("t1", 0).encode(&corpus).unwrap();
    encoded.upload(s.store.as_ref()).await.unwrap();
    let source = BlockReader::from_meta(s.store.clone(), encoded.meta.clone()).unwrap();
    let series: Vec<_> = source
        .series()
        .await
        .unwrap()
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    let row = |series_id, time_ns, stack_id| SampleRow {
        series_id,
        time_ns,
        stack_id,
        span_id: 0,
        value: 1,
    };

    let start = |series: Vec<_>| {
        let store: Arc<dyn ObjectStore> = s.store.clone();
        async move {
            let mut b = StackTableBuilder::new();
            b.intern_stack([&kiln_model::Frame::named("a")]);
            BlockEncoder::new("t1", 1)
                .stream(store, series, &b.finish().0)
                .await
        }
    };
    let mut w = start(series.clone()).await.unwrap();
    w.push_samples(&[row(0, 5, 1)]).await.unwrap();
    for bad in [
        row(0, 5, 1),
        row(0, 4, 1),
        row(u32::MAX, 9, 1),
        row(1, 9, 2),
    ] {
        let err = w.push_samples(&[bad]).await.unwrap_err();
        assert!(matches!(err, BlockError::InvalidRow(_)), "{bad:?}: {err}");
    }
    let id = w.id();
    // No profile rows: an empty block is refused and never committed.
    assert!(matches!(w.finish().await, Err(BlockError::Empty)));
    assert!(
        s.store
            .head(&paths::block_file("t1", id, files::META))
            .await
            .is_err()
    );

    // Series must be sorted and unique.
    let mut reversed = series.clone();
    reversed.reverse();
    assert!(matches!(
        start(reversed).await,
        Err(BlockError::InvalidRow(_))
    ));
}

//! The block as files: commit by meta.json, typed errors, stack trie,
//! Parquet layout (encodings, sorting metadata, page index) and sizes.

use crate::common::*;
use bytes::Bytes;
use kiln_block::paths::{self, files};
use kiln_block::{BlockEncoder, BlockError, BlockReader, write_block};
use kiln_model::{Frame, NormalizedProfile, Sample};
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::basic::Encoding;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::sync::Arc;

fn two_stacks() -> Vec<NormalizedProfile> {
    let frames = named_frames(&["a", "b", "c", "d"]);
    let labels = series_labels("api", &cpu(), &[]);
    vec![profile(
        labels,
        cpu(),
        1_000,
        frames,
        vec![sample(&[0, 1, 2], 5), sample(&[0, 1, 3], 7)],
    )]
}

#[tokio::test]
async fn block_without_meta_json_is_not_found() {
    for s in stores() {
        let meta = write_block(s.store.as_ref(), "t1", 0, &two_stacks())
            .await
            .unwrap();
        BlockReader::open(s.store.clone(), "t1", meta.id)
            .await
            .unwrap();

        // Every data file present, meta.json missing: the block does not exist.
        s.store
            .delete(&paths::block_file("t1", meta.id, files::META))
            .await
            .unwrap();
        let listed = s.store.list(Some(&paths::block_dir("t1", meta.id)));
        let listed: Vec<_> = futures::TryStreamExt::try_collect(listed).await.unwrap();
        assert_eq!(listed.len(), 5, "{}", s.name);
        let err = BlockReader::open(s.store.clone(), "t1", meta.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, BlockError::NotFound { .. }),
            "{}: {err}",
            s.name
        );

        // Another tenant never sees the block either.
        let err = BlockReader::open(s.store.clone(), "t2", meta.id)
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::NotFound { .. }));
        let err = BlockReader::open(s.store.clone(), "t1", ulid::Ulid::generate())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "block t1/{} not found",
                match err {
                    BlockError::NotFound { id, .. } => id,
                    _ => unreachable!(),
                }
            )
        );
    }
}

#[tokio::test]
async fn empty_input_is_a_typed_error() {
    let store = object_store::memory::InMemory::new();
    let err = write_block(&store, "t1", 0, &[]).await.unwrap_err();
    assert!(matches!(err, BlockError::Empty));
    let listed: Vec<_> = futures::TryStreamExt::try_collect(store.list(None))
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn bad_frame_index_is_a_typed_error() {
    let mut p = two_stacks();
    p[0].samples.push(sample(&[0, 9], 1));
    let err = BlockEncoder::new("t1", 0).encode(&p).unwrap_err();
    assert!(matches!(err, BlockError::InvalidProfile(_)), "{err}");
}

#[tokio::test]
async fn newer_format_version_is_refused() {
    let block = BlockEncoder::new("t1", 0).encode(&two_stacks()).unwrap();
    let mut meta = block.meta.clone();
    meta.format_version = kiln_block::FORMAT_VERSION + 1;
    let err =
        BlockReader::from_meta(Arc::new(object_store::memory::InMemory::new()), meta).unwrap_err();
    assert!(
        matches!(err, BlockError::UnsupportedVersion { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn shared_prefixes_are_stored_once() {
    for s in stores() {
        let meta = write_block(s.store.as_ref(), "t1", 0, &two_stacks())
            .await
            .unwrap();
        assert_eq!(
            meta.file(files::STACKS).unwrap().rows,
            4,
            "a, a;b, a;b;c, a;b;d"
        );
        assert_eq!(meta.file(files::FRAMES).unwrap().rows, 4);
        let reader = BlockReader::open(s.store.clone(), "t1", meta.id)
            .await
            .unwrap();
        let stacks = reader.stack_resolver().await.unwrap();
        assert_eq!(stacks.len(), 4);
        let totals = reader
            .aggregate_by_stack(&reader.series().await.unwrap().all(), 0, 2_000)
            .await
            .unwrap();
        let mut named: Vec<(Vec<&str>, i64)> = totals
            .iter()
            .map(|(&id, &v)| (stacks.function_names(id).unwrap(), v))
            .collect();
        named.sort();
        assert_eq!(
            named,
            vec![(vec!["a", "b", "c"], 5), (vec!["a", "b", "d"], 7)]
        );
        // Stack id 0 is the root: the empty stack; ids past the end are corruption.
        assert!(stacks.resolve(0).unwrap().is_empty());
        assert!(matches!(stacks.resolve(5), Err(BlockError::Corrupt(_))));
    }
}

#[tokio::test]
async fn frames_are_deduplicated_by_content_across_profiles() {
    let labels = series_labels("api", &cpu(), &[]);
    // Two pprofs with their own frame tables, in different orders.
    let t1 = named_frames(&["main", "work"]);
    let t2 = Arc::new(vec![
        Frame::named("work"),
        Frame::named("unused"),
        Frame::named("main"),
    ]);
    let input = vec![
        profile(labels.clone(), cpu(), 1, t1, vec![sample(&[0, 1], 1)]),
        profile(
            labels,
            cpu(),
            2,
            t2,
            vec![sample(&[2, 0], 2), sample(&[], 3)],
        ),
    ];
    let meta = write_block(&object_store::memory::InMemory::new(), "t1", 0, &input)
        .await
        .unwrap();
    assert_eq!(
        meta.file(files::FRAMES).unwrap().rows,
        2,
        "unused frames are not stored"
    );
    assert_eq!(meta.file(files::STACKS).unwrap().rows, 2);
    assert_eq!(meta.summary.samples, 3);
}

fn parquet(bytes: &Bytes) -> SerializedFileReader<Bytes> {
    SerializedFileReader::new(bytes.clone()).unwrap()
}

#[test]
fn parquet_layout_follows_the_format() {
    let frames = named_frames(&["main", "a", "b"]);
    let input: Vec<NormalizedProfile> = (0..4)
        .flat_map(|s| {
            let labels = series_labels(&format!("svc-{s}"), &cpu(), &[]);
            let frames = frames.clone();
            (0..50).map(move |t| {
                let samples = vec![
                    sample(&[0, 1], 3),
                    sample(&[0, 2], 4),
                    sample(&[0, 1, 2], t + 1),
                ];
                profile(labels.clone(), cpu(), t * 1_000, frames.clone(), samples)
            })
        })
        .collect();
    let block = BlockEncoder::new("t1", 0).encode(&input).unwrap();
    let names: Vec<&str> = block.files.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "samples.parquet",
            "profiles.parquet",
            "series.parquet",
            "stacks.parquet",
            "frames.parquet"
        ]
    );

    let samples = parquet(&block.files[0].bytes);
    let md = samples.metadata();
    let kv = md.file_metadata().key_value_metadata().unwrap();
    assert!(
        kv.iter()
            .any(|k| k.key == "kiln.format_version" && k.value.as_deref() == Some("1"))
    );
    let rg = md.row_group(0);
    let sorting: Vec<i32> = rg
        .sorting_columns()
        .unwrap()
        .iter()
        .map(|c| c.column_idx)
        .collect();
    assert_eq!(sorting, [0, 1, 2, 4]);
    let encodings = |c: usize| rg.column(c).encodings().collect::<Vec<_>>();
    assert!(
        encodings(0).contains(&Encoding::RLE_DICTIONARY),
        "series_id {:?}",
        encodings(0)
    );
    assert!(
        encodings(1).contains(&Encoding::DELTA_BINARY_PACKED),
        "time_ns {:?}",
        encodings(1)
    );
    assert!(
        encodings(2).contains(&Encoding::DELTA_BINARY_PACKED),
        "stack_id {:?}",
        encodings(2)
    );
    assert!(rg.column(0).compression().to_string().starts_with("ZSTD"));
    assert!(
        rg.column(1).column_index_offset().is_some(),
        "page index written"
    );
    assert!(
        rg.column(1).offset_index_offset().is_some(),
        "offset index written"
    );

    // Any Parquet reader reads the files as they are.
    for f in &block.files {
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(f.bytes.clone(), 1024)
                .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows as u64, f.rows, "{}", f.name);
    }
    assert_eq!(block.files[0].rows, 4 * 50 * 3);
    assert_eq!(block.files[1].rows, 4 * 50);
    assert_eq!(block.files[2].rows, 4);
}

/// A realistic-ish block: prints bytes per sample (run with --nocapture).
#[test]
fn size_report() {
    // A call tree of 2,000 frames; stacks 8–24 deep, sharing prefixes.
    let frames: Arc<Vec<Frame>> = Arc::new(
        (0..2_000)
            .map(|i| Frame {
                function: format!("pkg{}.(*Type{}).Method{}", i % 40, i % 300, i),
                file: format!("/src/pkg{}/file{}.go", i % 40, i % 300),
                line: (i * 7 % 900) as i64,
                binary: "app".into(),
                ..Default::default()
            })
            .collect(),
    );
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let stacks: Vec<Vec<u32>> = (0..3_000)
        .map(|_| {
            let depth = 8 + next(17) as usize;
            let mut s = vec![0u32];
            for d in 1..depth {
                s.push((d as u64 * 80 + next(if d < 4 { 3 } else { 80 })) as u32 % 2_000);
            }
            s
        })
        .collect();
    let mut input = Vec::new();
    for svc in 0..10 {
        let labels = series_labels(
            &format!("service-{svc}"),
            &cpu(),
            &[("region", "eu-west-1")],
        );
        for t in 0..30 {
            let mut picked: Vec<usize> = (0..300).map(|_| next(3_000) as usize).collect();
            picked.sort();
            picked.dedup();
            let samples = picked
                .into_iter()
                .map(|i| Sample {
                    stack: stacks[i].clone(),
                    value: 10_000_000 * (1 + next(20) as i64),
                    span_id: 0,
                })
                .collect();
            input.push(profile(
                labels.clone(),
                cpu(),
                1_700_000_000_000_000_000 + t * 10_000_000_000,
                frames.clone(),
                samples,
            ));
        }
    }
    let block = BlockEncoder::new("t1", 0).encode(&input).unwrap();
    let samples = block.meta.summary.samples as f64;
    let md = parquet(&block.files[0].bytes).metadata().clone();
    for c in 0..5 {
        let bytes: i64 = md
            .row_groups()
            .iter()
            .map(|rg| rg.column(c).compressed_size())
            .sum();
        let name = md
            .file_metadata()
            .schema_descr()
            .column(c)
            .name()
            .to_string();
        println!(
            "  samples.{name:<10} {bytes:>8} bytes ({:.2} B/sample)",
            bytes as f64 / samples
        );
    }
    for f in &block.meta.files {
        println!(
            "{:<17} rows {:>7} bytes {:>8} ({:.2} B/sample)",
            f.name,
            f.rows,
            f.bytes,
            f.bytes as f64 / samples
        );
    }
    println!(
        "total {} bytes, {:.2} B/sample, {} samples",
        block.meta.total_bytes(),
        block.meta.total_bytes() as f64 / samples,
        samples
    );
    let per_sample = block.meta.file(files::SAMPLES).unwrap().bytes as f64 / samples;
    assert!(
        per_sample < 4.0,
        "samples.parquet uses {per_sample:.2} bytes per sample"
    );
}

/// Profiles of the checked-in v1 fixture block.
fn fixture_profiles() -> Vec<NormalizedProfile> {
    let mut input = two_stacks();
    let span = Sample {
        stack: vec![0],
        value: 4,
        span_id: 0xabc,
    };
    let labels = series_labels("db", &alloc(), &[("env", "prod")]);
    let frames = named_frames(&["x", "y"]);
    input.push(profile(
        labels,
        alloc(),
        2_000,
        frames,
        vec![sample(&[0, 1], 3), span],
    ));
    input
}

/// Format contract: a block written by format_version 1 must stay readable.
/// Regenerate (only when adding a new version's fixture) with
/// `KILN_WRITE_FIXTURES=1 cargo test -p kiln-block --test it fixture`.
#[tokio::test]
async fn format_v1_fixture_still_reads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let id: ulid::Ulid = "01KFX0000000000000000000V1".parse().unwrap();
    if std::env::var_os("KILN_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(&dir).unwrap();
        let block = BlockEncoder::new("fixture", 0)
            .with_id(id)
            .encode(&fixture_profiles())
            .unwrap();
        block.upload(&store).await.unwrap();
    }
    let store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&dir).unwrap());
    let reader = BlockReader::open(store, "fixture", id).await.unwrap();
    assert_eq!(reader.meta().format_version, 1);
    let index = reader.series().await.unwrap();
    let (got, _) = actual_samples(&reader, &index.all(), i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(got, expected_samples(&fixture_profiles()));
    assert_eq!(
        reader
            .profiles(&index.all(), 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        2
    );
}

//! One conformance suite over the object stores Kiln supports: the local
//! filesystem (`DurableLocalStore`), memory, S3 (moto) and Azure Blob
//! (Azurite), each built by `kiln_store::open_store` exactly as the server
//! builds it. GCS is not here: neither gcp-storage-emulator (no listing,
//! no ETag on PUT, preconditions ignored) nor fake-gcs-server (every XML
//! write rejected) serves the XML API that object_store's GCS client
//! speaks; `crates/kiln-store/tests/object_stores.rs` pins the former's
//! gaps, and docs/operations.md lists both. Per backend:
//!
//! * a block round trip: written by kiln-block's writer, listed, read back
//!   by `BlockReader`, deleted;
//! * every metastore conformance case on an `EmbeddedMetastore` in that
//!   store;
//! * two metastore instances racing for the same log slot (conditional
//!   create).
//!
//! Emulators start once per test binary; each test gets a fresh prefix.
//! A missing emulator fails the test with how to install it.

use futures::TryStreamExt;
use kiln_block::{BlockError, BlockReader, paths, write_block};
use kiln_meta::conformance::{block, keep_alive};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_model::{Frame, Label, Labels, NormalizedProfile, ProfileType, Sample};
use kiln_store::emulators::{EmulatorKind, TestBackend as Backend, TestStore};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// A fresh, empty store on `backend`, and what must outlive it.
async fn open(backend: Backend) -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
    TestStore::open(backend, "meta").await.into_parts()
}

/// Small enough that the suite crosses several snapshots.
fn config() -> EmbeddedConfig {
    EmbeddedConfig {
        snapshot_every: 5,
        ..EmbeddedConfig::default()
    }
}

async fn metastore(backend: Backend) -> Arc<dyn Metastore> {
    let (store, dir) = open(backend).await;
    let m = EmbeddedMetastore::open(store, config())
        .await
        .expect("open metastore");
    keep_alive(Arc::new(m), dir)
}

fn profiles() -> Vec<NormalizedProfile> {
    let cpu = ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").expect("type");
    let labels = Labels::new([
        Label::new("service_name", "checkout"),
        Label::new("__profile_type__", cpu.id()),
        Label::new("__name__", cpu.name.clone()),
    ]);
    let frames = Arc::new(vec![
        Frame::named("main"),
        Frame::named("work"),
        Frame::named("hash"),
    ]);
    let sample = |stack: &[u32], value| Sample {
        stack: stack.to_vec(),
        value,
        span_id: 0,
    };
    (0..3)
        .map(|i| NormalizedProfile {
            labels: labels.clone(),
            profile_type: cpu.clone(),
            time_nanos: 1_700_000_000_000_000_000 + i * 10_000_000_000,
            duration_nanos: 10_000_000_000,
            period: 10_000_000,
            profile_id: format!("p-{i}"),
            frames: frames.clone(),
            samples: vec![sample(&[0, 1, 2], 30), sample(&[0, 1], 10 + i)],
        })
        .collect()
}

/// Written by kiln-block's writer, listed, read back, deleted.
async fn block_round_trip(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let profiles = profiles();
    let meta = write_block(&*store, "tenant-a", 0, &profiles)
        .await
        .expect("write block");

    let dir = paths::block_dir("tenant-a", meta.id);
    let mut listed: Vec<String> = store
        .list(Some(&dir))
        .map_ok(|m| m.location.filename().unwrap_or_default().to_owned())
        .try_collect()
        .await
        .expect("list block");
    listed.sort();
    let mut expected: Vec<String> = meta.files.iter().map(|f| f.name.clone()).collect();
    expected.push("meta.json".into());
    expected.sort();
    assert_eq!(listed, expected, "{backend:?}");

    let reader = BlockReader::open(store.clone(), "tenant-a", meta.id)
        .await
        .expect("open block");
    assert_eq!(reader.meta(), &meta);
    let series = reader.series().await.expect("series");
    assert_eq!(series.len(), 1);
    let totals = reader
        .aggregate_by_stack(&series.all(), i64::MIN, i64::MAX)
        .await
        .expect("aggregate");
    let expected_total: i64 = profiles.iter().map(NormalizedProfile::total).sum();
    assert_eq!(totals.values().sum::<i64>(), expected_total);
    let resolver = reader.stack_resolver().await.expect("stacks");
    let mut by_leaf: Vec<(String, i64)> = totals
        .iter()
        .map(|(stack, value)| {
            let leaf = resolver.leaf(*stack).expect("stack").expect("leaf");
            (leaf.function.clone(), *value)
        })
        .collect();
    by_leaf.sort();
    assert_eq!(by_leaf, [("hash".to_owned(), 90), ("work".to_owned(), 33)]);

    let paths: Vec<Path> = store
        .list(Some(&dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .expect("list");
    for path in &paths {
        store.delete(path).await.expect("delete");
    }
    let left: Vec<_> = store.list(Some(&dir)).try_collect().await.expect("list");
    assert!(left.is_empty(), "{left:?}");
    let gone = BlockReader::open(store, "tenant-a", meta.id).await;
    assert!(matches!(gone, Err(BlockError::NotFound { .. })), "{gone:?}");
}

/// Two instances that both believe the next log slot is 1: the second's
/// create-if-absent must fail, so it catches up and commits at 2, and
/// neither block is lost.
async fn racing_writers(backend: Backend) {
    let (store, _dir) = open(backend).await;
    let open = || EmbeddedMetastore::open(store.clone(), EmbeddedConfig::default());
    let first = open().await.expect("first");
    let second = open().await.expect("second");
    let (x, y) = (block("a", 0, 1), block("a", 2, 3));
    first.register(x.clone()).await.expect("first writer");
    second.register(y.clone()).await.expect("second writer");

    let reopened = open().await.expect("reopen");
    let listed = reopened
        .list_blocks("a", i64::MIN, i64::MAX)
        .await
        .expect("list");
    assert_eq!(listed, vec![x, y], "{backend:?}");
}

macro_rules! backend_suite {
    ($($module:ident => $backend:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            kiln_meta::metastore_conformance_tests!(|| metastore($backend));

            #[tokio::test]
            async fn block_written_listed_read_deleted() {
                block_round_trip($backend).await;
            }

            #[tokio::test]
            async fn racing_writers_never_fork_the_log() {
                racing_writers($backend).await;
            }
        }
    )*};
}

backend_suite! {
    filesystem => Backend::Filesystem,
    memory => Backend::Memory,
    s3 => Backend::Emulated(EmulatorKind::S3),
    azure => Backend::Emulated(EmulatorKind::Azure),
}

//! Recovery of the embedded metastore: reopening, snapshots, damaged logs and
//! several instances on one store.

use futures::TryStreamExt;
use kiln_meta::conformance::{block, dump};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, MetaError, Metastore};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

fn memory_store() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

fn config(snapshot_every: u64) -> EmbeddedConfig {
    EmbeddedConfig {
        snapshot_every,
        ..EmbeddedConfig::default()
    }
}

async fn open(store: &Arc<dyn ObjectStore>, snapshot_every: u64) -> EmbeddedMetastore {
    EmbeddedMetastore::open(Arc::clone(store), config(snapshot_every))
        .await
        .expect("open")
}

/// Names of the objects under `metastore/<folder>/`, sorted.
async fn names(store: &Arc<dyn ObjectStore>, folder: &str) -> Vec<String> {
    let prefix = Path::from(format!("metastore/{folder}"));
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list");
    let mut names: Vec<String> = metas
        .into_iter()
        .map(|m| m.location.filename().expect("filename").to_owned())
        .collect();
    names.sort();
    names
}

fn entry(seq: u64) -> Path {
    Path::from(format!("metastore/log/{seq:020}.json"))
}

fn entry_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

async fn put(store: &Arc<dyn ObjectStore>, path: &Path, bytes: &'static [u8]) {
    store
        .put(path, PutPayload::from_static(bytes))
        .await
        .expect("put");
}

/// Register, replace, delete: five ops on two tenants.
async fn some_ops(m: &dyn Metastore) {
    let a = block("a", 0, 100);
    let b = block("a", 50, 150);
    let c = block("b", 0, 10);
    for x in [&a, &b, &c] {
        m.register(x.clone()).await.expect("register");
    }
    m.replace("a", &[a.id, b.id], vec![block("a", 0, 150)])
        .await
        .expect("replace");
    m.delete("b", &[c.id]).await.expect("delete");
}

#[tokio::test]
async fn reopen_restores_register_replace_delete() {
    let store = memory_store();
    let m = open(&store, 0).await;
    some_ops(&m).await;
    m.register(block("c", 5, 6)).await.expect("register");
    let before = dump(&m).await;
    drop(m);

    let names = names(&store, "log").await;
    assert_eq!(
        names,
        (1..=6).map(entry_name).collect::<Vec<_>>(),
        "one entry per op"
    );
    let reopened = open(&store, 0).await;
    assert_eq!(dump(&reopened).await, before);
    assert_eq!(reopened.tenants().await.expect("tenants"), ["a", "c"]);
}

#[tokio::test]
async fn no_op_writes_are_not_logged() {
    let store = memory_store();
    let m = open(&store, 0).await;
    let a = block("a", 0, 1);
    m.register(a.clone()).await.expect("register");
    m.register(a.clone()).await.expect("idempotent register");
    assert!(
        m.delete("a", &[ulid::Ulid::generate()])
            .await
            .expect("delete")
            .is_empty()
    );
    m.replace("a", &[], Vec::new())
        .await
        .expect("empty replace");
    m.register(block("", 0, 1)).await.expect_err("invalid");
    assert_eq!(names(&store, "log").await, [entry_name(1)]);
}

#[tokio::test]
async fn reopen_across_snapshot_boundary() {
    let store = memory_store();
    let m = open(&store, 3).await;
    some_ops(&m).await; // ops 1..=5: snapshot at 3
    for i in 0..5 {
        m.register(block("z", i, i)).await.expect("register"); // ops 6..=10: snapshots at 6 and 9
    }
    let before = dump(&m).await;
    drop(m);

    assert_eq!(
        names(&store, "snapshots").await,
        [entry_name(9)],
        "only the newest snapshot is kept"
    );
    assert_eq!(
        names(&store, "log").await,
        [entry_name(10)],
        "the log covered by it is gone"
    );

    let m = open(&store, 3).await;
    assert_eq!(dump(&m).await, before);
    m.register(block("z", 100, 100))
        .await
        .expect("register after reopen");
    assert_eq!(
        names(&store, "log").await,
        [entry_name(10), entry_name(11)],
        "numbering continues"
    );
    let after = dump(&m).await;
    drop(m);
    assert_eq!(dump(&open(&store, 3).await).await, after);
}

#[tokio::test]
async fn checkpoint_leaves_nothing_to_replay() {
    let store = memory_store();
    let m = open(&store, 0).await;
    some_ops(&m).await;
    m.checkpoint().await.expect("checkpoint");
    m.checkpoint().await.expect("checkpoint again is a no-op");
    let before = dump(&m).await;
    drop(m);

    assert_eq!(names(&store, "snapshots").await, [entry_name(5)]);
    assert!(names(&store, "log").await.is_empty());
    assert_eq!(dump(&open(&store, 0).await).await, before);
}

#[tokio::test]
async fn torn_last_entry_is_set_aside() {
    torn_tail(memory_store()).await;
}

#[tokio::test]
async fn torn_last_entry_is_set_aside_on_local_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("fs");
    torn_tail(Arc::new(fs)).await;
}

async fn torn_tail(store: Arc<dyn ObjectStore>) {
    let m = open(&store, 0).await;
    some_ops(&m).await;
    let before = dump(&m).await;
    drop(m);
    put(
        &store,
        &entry(6),
        br#"{"format_version":1,"seq":6,"op":{"kind":"regis"#,
    )
    .await;

    let m = open(&store, 0).await;
    assert_eq!(
        dump(&m).await,
        before,
        "the torn entry was never acknowledged"
    );
    assert_eq!(
        names(&store, "quarantine").await.len(),
        1,
        "its bytes are kept aside"
    );
    assert!(names(&store, "quarantine").await[0].starts_with(&format!("{:020}-", 6)));

    let late = block("a", 500, 600);
    m.register(late.clone())
        .await
        .expect("seq 6 can be committed again");
    drop(m);
    let m = open(&store, 0).await;
    assert_eq!(m.get_block("a", late.id).await.expect("get"), Some(late));
}

#[tokio::test]
async fn corrupt_entry_before_the_tail_is_an_error() {
    let store = memory_store();
    some_ops(&open(&store, 0).await).await;
    put(&store, &entry(2), b"garbage").await;

    let err = EmbeddedMetastore::open(Arc::clone(&store), config(0))
        .await
        .expect_err("committed history is damaged");
    assert!(matches!(err, MetaError::CorruptLog { .. }), "{err}");
    assert!(
        names(&store, "quarantine").await.is_empty(),
        "nothing was moved"
    );
}

#[tokio::test]
async fn entry_that_no_longer_applies_is_an_error() {
    let store = memory_store();
    let m = open(&store, 0).await;
    m.register(block("a", 0, 1)).await.expect("register");
    drop(m);
    // Well-formed, but its source does not exist.
    let bogus = br#"{"format_version":1,"seq":2,"op":{"kind":"replace","tenant":"a","sources":["01ARZ3NDEKTSV4RRFFQ69G5FAV"],"replacements":[]}}"#;
    put(&store, &entry(2), bogus).await;

    let err = EmbeddedMetastore::open(Arc::clone(&store), config(0))
        .await
        .expect_err("replay validates");
    assert!(matches!(err, MetaError::CorruptLog { .. }), "{err}");
}

#[tokio::test]
async fn replay_stops_at_a_gap() {
    let store = memory_store();
    let m = open(&store, 0).await;
    let first = block("a", 0, 1);
    m.register(first.clone()).await.expect("register");
    for i in 0..3 {
        m.register(block("a", 10 + i, 10 + i))
            .await
            .expect("register");
    }
    drop(m);
    store.delete(&entry(2)).await.expect("delete");

    let m = open(&store, 0).await;
    let blocks = m.list_blocks("a", i64::MIN, i64::MAX).await.expect("list");
    assert_eq!(blocks, vec![first], "only the ops before the gap");
    assert_eq!(
        names(&store, "quarantine").await.len(),
        2,
        "entries 3 and 4 set aside"
    );
    m.register(block("a", 99, 99)).await.expect("register");
    assert_eq!(names(&store, "log").await, [entry_name(1), entry_name(2)]);
}

#[tokio::test]
async fn missing_snapshot_is_an_error_not_an_empty_index() {
    let store = memory_store();
    some_ops(&open(&store, 3).await).await; // snapshot 3, log 4 and 5
    let snapshot = Path::from(format!("metastore/snapshots/{:020}.json", 3));
    store.delete(&snapshot).await.expect("delete");

    let err = EmbeddedMetastore::open(Arc::clone(&store), config(3))
        .await
        .expect_err("the log does not continue any snapshot");
    assert!(matches!(err, MetaError::CorruptLog { .. }), "{err}");
    assert!(
        names(&store, "quarantine").await.is_empty(),
        "nothing was moved"
    );
}

#[tokio::test]
async fn corrupt_snapshot_is_an_error() {
    let store = memory_store();
    some_ops(&open(&store, 3).await).await;
    let snapshot = Path::from(format!("metastore/snapshots/{:020}.json", 3));
    put(
        &store,
        &snapshot,
        br#"{"format_version":1,"seq":3,"blocks":[{"id":"#,
    )
    .await;

    let err = EmbeddedMetastore::open(Arc::clone(&store), config(3))
        .await
        .expect_err("corrupt snapshot");
    assert!(matches!(err, MetaError::CorruptSnapshot { .. }), "{err}");
}

#[tokio::test]
async fn newer_format_is_refused() {
    let store = memory_store();
    some_ops(&open(&store, 0).await).await;
    put(
        &store,
        &entry(6),
        br#"{"format_version":99,"seq":6,"op":{"kind":"teleport"}}"#,
    )
    .await;

    let err = EmbeddedMetastore::open(Arc::clone(&store), config(0))
        .await
        .expect_err("written by a newer kiln");
    assert!(
        matches!(err, MetaError::UnsupportedFormat { found: 99, .. }),
        "{err}"
    );
    assert!(
        names(&store, "quarantine").await.is_empty(),
        "never mistaken for a torn tail"
    );
}

#[tokio::test]
async fn two_instances_never_commit_the_same_seq() {
    let store = memory_store();
    let first = open(&store, 0).await;
    let second = open(&store, 0).await;
    let x = block("a", 0, 1);
    let y = block("a", 2, 3);
    first.register(x.clone()).await.expect("first writer");
    second
        .register(y.clone())
        .await
        .expect("second writer catches up and retries");

    assert_eq!(names(&store, "log").await, [entry_name(1), entry_name(2)]);
    assert_eq!(
        second.get_block("a", x.id).await.expect("get"),
        Some(x.clone()),
        "caught up"
    );
    let reopened = open(&store, 0).await;
    assert_eq!(
        reopened
            .list_blocks("a", i64::MIN, i64::MAX)
            .await
            .expect("list"),
        vec![x.clone(), y.clone()]
    );

    // A write that no longer applies after catching up fails cleanly.
    let mut other_x = x.clone();
    other_x.level = 3;
    let err = first.register(y.clone()).await;
    assert!(err.is_ok(), "idempotent after catching up: {err:?}");
    let err = second.register(other_x).await.expect_err("conflict");
    assert!(matches!(err, MetaError::Conflict { .. }), "{err}");
}

#[tokio::test]
async fn stale_writer_does_not_commit_into_truncated_log() {
    let store = memory_store();
    let stale = open(&store, 0).await;
    let busy = open(&store, 2).await;
    let a = block("a", 0, 1);
    let b = block("a", 2, 3);
    busy.register(a.clone()).await.expect("register");
    busy.register(b.clone()).await.expect("register"); // snapshot 2 truncates entries 1 and 2
    assert!(names(&store, "log").await.is_empty());

    // `stale` is at seq 0: creating entry 1 succeeds, but the snapshot covers it.
    let c = block("a", 4, 5);
    stale
        .register(c.clone())
        .await
        .expect("withdraws, catches up, retries");
    assert_eq!(names(&store, "log").await, [entry_name(3)]);
    let reopened = open(&store, 0).await;
    assert_eq!(
        reopened
            .list_blocks("a", i64::MIN, i64::MAX)
            .await
            .expect("list"),
        vec![a, b, c]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_instances_under_load_lose_nothing() {
    race(memory_store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_instances_on_local_filesystem_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("fs");
    race(Arc::new(fs)).await;
}

/// Two instances on `store`, 16 tasks registering through them at once,
/// snapshots every 4 ops: every acknowledged block is there on reopen.
async fn race(store: Arc<dyn ObjectStore>) {
    let racing = EmbeddedConfig {
        snapshot_every: 4,
        max_commit_attempts: 1000,
        ..EmbeddedConfig::default()
    };
    let instances: Vec<Arc<dyn Metastore>> = vec![
        Arc::new(
            EmbeddedMetastore::open(Arc::clone(&store), racing.clone())
                .await
                .expect("open"),
        ),
        Arc::new(
            EmbeddedMetastore::open(Arc::clone(&store), racing.clone())
                .await
                .expect("open"),
        ),
    ];
    let mut handles = Vec::new();
    for task in 0..16 {
        let m = Arc::clone(&instances[task % 2]);
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..5 {
                let b = block("t", task as i64 * 10 + i, task as i64 * 10 + i);
                m.register(b.clone()).await.expect("register");
                ids.push(b.id);
            }
            ids
        }));
    }
    let mut expected = Vec::new();
    for handle in handles {
        expected.extend(handle.await.expect("task"));
    }
    expected.sort();

    let reopened = open(&store, 4).await;
    let mut got: Vec<_> = reopened
        .list_blocks("t", i64::MIN, i64::MAX)
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.id)
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn reopen_on_local_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("fs");
    let store: Arc<dyn ObjectStore> = Arc::new(fs);
    let m = open(&store, 2).await;
    some_ops(&m).await;
    let before = dump(&m).await;
    drop(m);
    assert!(dir.path().join("metastore/snapshots").is_dir());
    assert_eq!(dump(&open(&store, 2).await).await, before);
}

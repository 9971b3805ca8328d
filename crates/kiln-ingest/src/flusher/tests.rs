use super::*;
use kiln_meta::InMemoryMetastore;
use kiln_model::{Frame, Label, Labels, ProfileType, Sample};
use kiln_store::testing::FlakyStore;
use object_store::memory::InMemory;

fn profile(service: &str, time_nanos: i64, value: i64) -> NormalizedProfile {
    let profile_type = ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap();
    let labels = Labels::new([
        Label::new("service_name", service),
        Label::new("__name__", "process_cpu"),
        Label::new("__profile_type__", profile_type.id()),
    ]);
    NormalizedProfile {
        labels,
        profile_type,
        time_nanos,
        duration_nanos: 10,
        period: 1,
        profile_id: format!("id-{time_nanos}"),
        frames: std::sync::Arc::new(vec![Frame::named("main"), Frame::named("work")]),
        samples: vec![Sample {
            stack: vec![0, 1],
            value,
            span_id: 0,
        }],
    }
}

struct Fixture {
    store: Arc<FlakyStore>,
    metastore: Arc<InMemoryMetastore>,
    ingester: Ingester,
}

fn fixture(config: IngesterConfig) -> Fixture {
    let store = Arc::new(FlakyStore::new(Arc::new(InMemory::new())));
    let metastore = Arc::new(InMemoryMetastore::new());
    let ingester = Ingester::new(config, store.clone(), metastore.clone());
    Fixture {
        store,
        metastore,
        ingester,
    }
}

async fn blocks(metastore: &InMemoryMetastore, tenant: &str) -> Vec<kiln_block::BlockMeta> {
    metastore
        .list_blocks(tenant, i64::MIN, i64::MAX)
        .await
        .unwrap()
}

#[tokio::test]
async fn concurrent_pushes_share_one_flush_and_are_acked_after_registration() {
    let f = fixture(IngesterConfig::default());
    let mut pushes = Vec::new();
    for i in 0..8 {
        let ingester = f.ingester.clone();
        pushes.push(tokio::spawn(async move {
            ingester
                .ingest("t1", vec![profile("svc", 1_000 + i, 5)], 100)
                .await
        }));
    }
    // Nothing is acknowledged before a flush.
    tokio::task::yield_now().await;
    assert!(pushes.iter().all(|p| !p.is_finished()));
    assert!(blocks(&f.metastore, "t1").await.is_empty());

    // Wait until every push is buffered, then flush once.
    while f
        .ingester
        .shared
        .buffers
        .lock()
        .unwrap()
        .get("t1")
        .map_or(0, |b| b.acks.len())
        < 8
    {
        tokio::task::yield_now().await;
    }
    f.ingester.flush_all().await;
    for push in pushes {
        push.await.unwrap().unwrap();
    }
    let registered = blocks(&f.metastore, "t1").await;
    assert_eq!(registered.len(), 1, "eight pushes, one block");
    assert_eq!(registered[0].summary.profiles, 8);
    assert_eq!(registered[0].level, 0);
}

#[tokio::test]
async fn tenants_get_separate_blocks() {
    let f = fixture(IngesterConfig::default());
    let a = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("a", vec![profile("x", 1, 1)], 10).await }
    });
    let b = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("b", vec![profile("y", 2, 1)], 10).await }
    });
    while f.ingester.shared.buffers.lock().unwrap().len() < 2 {
        tokio::task::yield_now().await;
    }
    f.ingester.flush_all().await;
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(
        blocks(&f.metastore, "a").await[0].summary.services,
        vec!["x"]
    );
    assert_eq!(
        blocks(&f.metastore, "b").await[0].summary.services,
        vec!["y"]
    );
}

#[tokio::test]
async fn storage_failure_fails_the_push_and_registers_nothing() {
    let f = fixture(IngesterConfig::default());
    f.store.set_fail_writes(true);
    let push = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("t", vec![profile("x", 1, 1)], 10).await }
    });
    while f.ingester.shared.buffers.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    f.ingester.flush_all().await;
    let err = push.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, IngestError::Unavailable(m) if m.contains("writing block failed")),
        "{err:?}"
    );
    assert!(blocks(&f.metastore, "t").await.is_empty());

    // Storage recovers: the retried push lands.
    f.store.set_fail_writes(false);
    let retry = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("t", vec![profile("x", 1, 1)], 10).await }
    });
    while f.ingester.shared.buffers.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    f.ingester.flush_all().await;
    retry.await.unwrap().unwrap();
    assert_eq!(blocks(&f.metastore, "t").await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn full_buffers_make_pushes_wait_then_fail_unavailable() {
    let f = fixture(IngesterConfig {
        flush_interval: Duration::from_secs(3600),
        max_buffer_bytes: 100,
        max_wait: Duration::from_millis(500),
    });
    // The first push takes the whole budget and is never flushed.
    let first = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("t", vec![profile("x", 1, 1)], 100).await }
    });
    while f.ingester.shared.buffers.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    let err = f
        .ingester
        .ingest("t", vec![profile("x", 2, 1)], 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, IngestError::Unavailable(m) if m.contains("max_buffer_bytes")),
        "{err:?}"
    );
    f.ingester.flush_all().await;
    first.await.unwrap().unwrap();
    // Room again after the flush.
    let second = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("t", vec![profile("x", 3, 1)], 10).await }
    });
    while f.ingester.shared.buffers.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    f.ingester.flush_all().await;
    second.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn run_loop_flushes_on_its_interval_and_on_shutdown() {
    let f = fixture(IngesterConfig {
        flush_interval: Duration::from_millis(200),
        ..Default::default()
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.run(async { stopped.await.unwrap_or(()) }).await }
    });
    f.ingester
        .ingest("t", vec![profile("x", 1, 1)], 10)
        .await
        .unwrap();
    assert_eq!(blocks(&f.metastore, "t").await.len(), 1);

    // A push still buffered at shutdown is flushed, not lost.
    let late = tokio::spawn({
        let i = f.ingester.clone();
        async move { i.ingest("t", vec![profile("x", 2, 1)], 10).await }
    });
    while f.ingester.shared.buffers.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    stop.send(()).unwrap();
    runner.await.unwrap();
    late.await.unwrap().unwrap();
    assert_eq!(blocks(&f.metastore, "t").await.len(), 2);
    assert!(f.store.puts() >= 12, "two blocks of six objects each");
}

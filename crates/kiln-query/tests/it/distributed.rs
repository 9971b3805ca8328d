//! Distributed execution through real worker servers: three `KilnWorker`s
//! served by tonic on loopback ports (each on its own runtime, so killing
//! one closes its connections like a dead process), a frontend engine from
//! `DataFusionEngine::distributed`, and the in-process engine's answers as
//! the expectation.

use crate::common::*;
use kiln_query::distributed::{KilnWorker, PeerSource, StaticPeers, Url, worker_service};
use kiln_query::{Aggregation, DataFusionEngine, EngineConfig, QueryEngine, SeriesQuery};
use object_store::ObjectStore;
use std::sync::Arc;

/// A worker served on `127.0.0.1:<free port>` by its own runtime.
struct TestWorker {
    url: Url,
    worker: KilnWorker,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestWorker {
    fn start(store: Arc<dyn ObjectStore>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-worker")
            .enable_all()
            .build()
            .expect("worker runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let worker = worker_service(store, EngineConfig::default(), None);
        let service = worker.worker().into_worker_server();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .expect("worker server");
        });
        Self {
            url,
            worker,
            runtime: Some(runtime),
        }
    }

    /// Stops the server and every connection it had, as if the process died.
    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    fn rows_read(&self) -> u64 {
        let s = self.worker.scan_stats();
        s.samples.rows + s.rollup_1m.rows + s.rollup_1h.rows
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Six blocks of tenant `t` (five raw, one rolled up) and two of tenant
/// `u`, three workers over the same store, and a frontend over them.
struct Cluster {
    env: Env,
    workers: Vec<TestWorker>,
    frontend: DataFusionEngine,
}

async fn cluster() -> Cluster {
    let env = Env::memory();
    let data = dataset();
    env.write_split("t", &data, 5).await;
    env.write_rolled_up("t", &data[..24]).await;
    env.write_split("u", &data[8..], 2).await;
    let workers: Vec<TestWorker> = (0..3)
        .map(|_| TestWorker::start(env.store.clone()))
        .collect();
    let peers = StaticPeers::new(workers.iter().map(|w| w.url.clone()).collect());
    let frontend = distributed(&env, Arc::new(peers));
    Cluster {
        env,
        workers,
        frontend,
    }
}

fn distributed(env: &Env, peers: Arc<dyn PeerSource>) -> DataFusionEngine {
    distributed_with(env, peers, EngineConfig::default())
}

fn distributed_with(
    env: &Env,
    peers: Arc<dyn PeerSource>,
    config: EngineConfig,
) -> DataFusionEngine {
    DataFusionEngine::distributed(env.store.clone(), env.meta.clone(), config, peers, None)
        .expect("distributed engine")
}

fn flame_queries() -> Vec<(&'static str, kiln_query::ProfileQuery)> {
    let mut call_site = query("t", &cpu(), "{}", T0, T0 + 200_000);
    call_site.call_site = vec!["main".into(), "serve".into()];
    vec![
        ("t whole range", query("t", &cpu(), "{}", T0, T0 + 200_000)),
        (
            "t cut range",
            query(
                "t",
                &cpu(),
                r#"{service_name="api"}"#,
                T0 + 1_234,
                T0 + 95_000,
            ),
        ),
        ("t call site", call_site),
        ("t alloc", query("t", &alloc(), "{}", T0, T0 + 200_000)),
        ("u whole range", query("u", &cpu(), "{}", T0, T0 + 200_000)),
    ]
}

fn series_queries() -> Vec<(&'static str, SeriesQuery)> {
    let by_pod = SeriesQuery {
        profiles: query("t", &cpu(), "{}", T0, T0 + 120_000),
        step_seconds: 15.0,
        group_by: vec!["pod".into()],
        aggregation: Aggregation::Sum,
        limit: None,
    };
    let mut average_call_site = by_pod.clone();
    average_call_site.profiles.call_site = vec!["main".into(), "serve".into()];
    average_call_site.aggregation = Aggregation::Average;
    let mut other_tenant = by_pod.clone();
    other_tenant.profiles.tenant = "u".into();
    other_tenant.group_by = vec!["service_name".into()];
    vec![
        ("series by pod", by_pod),
        ("series average call site", average_call_site),
        ("series tenant u", other_tenant),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_equal_in_process_and_work_spreads_over_workers() {
    let c = cluster().await;
    for (what, q) in flame_queries() {
        let want = c.env.engine.merge_tree(&q).await.expect("in process");
        assert!(want.total() > 0, "{what}: dataset selects something");
        let got = c.frontend.merge_tree(&q).await.expect("distributed");
        assert_tree(&got, &want, what);
    }
    for (what, q) in series_queries() {
        let want = c.env.engine.select_series(&q).await.expect("in process");
        assert!(!want.is_empty(), "{what}: dataset selects something");
        let got = c.frontend.select_series(&q).await.expect("distributed");
        assert_eq!(got, want, "{what}");
    }
    let busy: Vec<(u64, u64)> = c
        .workers
        .iter()
        .map(|w| (w.worker.tasks(), w.rows_read()))
        .collect();
    assert!(
        busy.iter()
            .filter(|(tasks, rows)| *tasks > 0 && *rows > 0)
            .count()
            >= 2,
        "scans ran on more than one worker: (tasks, rows) per worker {busy:?}"
    );
    let stats = c.frontend.distributed_stats().expect("distributed engine");
    assert_eq!(
        stats.distributed, 8,
        "every query ran over the peers: {stats:?}"
    );
    assert_eq!((stats.retries, stats.fallbacks), (0, 0), "{stats:?}");
    assert_eq!(
        c.frontend.scan_stats().samples.rows,
        0,
        "the frontend scanned nothing itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_worker_is_dropped_and_the_query_retried() {
    let mut c = cluster().await;
    let (what, q) = flame_queries().remove(0);
    let want = c.env.engine.merge_tree(&q).await.expect("in process");
    // Warm: connections to every worker exist when one dies.
    let got = c.frontend.merge_tree(&q).await.expect("distributed");
    assert_tree(&got, &want, what);
    c.workers[1].kill();
    let got = c
        .frontend
        .merge_tree(&q)
        .await
        .expect("retried on the others");
    assert_tree(&got, &want, "after a worker died");
    let (swhat, sq) = series_queries().remove(0);
    let swant = c.env.engine.select_series(&sq).await.expect("in process");
    let sgot = c.frontend.select_series(&sq).await.expect("retried series");
    assert_eq!(sgot, swant, "{swhat} after a worker died");
    let stats = c.frontend.distributed_stats().unwrap();
    assert_eq!(
        stats.retries, 1,
        "the dead worker cost the first query a retry, and later queries none (quarantined): {stats:?}"
    );
    assert_eq!(stats.quarantined, 1, "{stats:?}");
    assert_eq!(stats.fallbacks, 0, "two workers were left: {stats:?}");
    assert_eq!(stats.distributed, 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_worker_is_tried_again_after_the_quarantine() {
    let mut c = cluster().await;
    let peers = StaticPeers::new(c.workers.iter().map(|w| w.url.clone()).collect());
    let quarantine = std::time::Duration::from_secs(3);
    let frontend = distributed_with(
        &c.env,
        Arc::new(peers),
        EngineConfig {
            peer_quarantine: quarantine,
            ..EngineConfig::default()
        },
    );
    let (what, q) = flame_queries().remove(0);
    let want = c.env.engine.merge_tree(&q).await.expect("in process");
    c.workers[2].kill();
    for _ in 0..2 {
        assert_tree(
            &frontend.merge_tree(&q).await.expect("distributed"),
            &want,
            what,
        );
    }
    let stats = frontend.distributed_stats().unwrap();
    assert_eq!((stats.retries, stats.quarantined), (1, 1), "{stats:?}");

    tokio::time::sleep(quarantine + std::time::Duration::from_millis(100)).await;
    assert_eq!(frontend.distributed_stats().unwrap().quarantined, 0);
    assert_tree(
        &frontend.merge_tree(&q).await.expect("distributed"),
        &want,
        what,
    );
    let stats = frontend.distributed_stats().unwrap();
    assert_eq!(
        (stats.retries, stats.quarantined, stats.distributed),
        (2, 1, 3),
        "tried again, found dead again: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_live_peer_runs_the_query_in_process() {
    let c = cluster().await;
    let (what, q) = flame_queries().remove(0);
    let want = c.env.engine.merge_tree(&q).await.expect("in process");

    // An empty peer list: in process from the start.
    let empty = distributed(&c.env, Arc::new(StaticPeers::default()));
    assert_tree(
        &empty.merge_tree(&q).await.expect("empty list"),
        &want,
        what,
    );
    let stats = empty.distributed_stats().unwrap();
    assert_eq!((stats.distributed, stats.fallbacks), (0, 1), "{stats:?}");

    // Every peer dead: each attempt drops them, then in process.
    let mut workers = c.workers;
    let peers = StaticPeers::new(workers.iter().map(|w| w.url.clone()).collect());
    workers.iter_mut().for_each(TestWorker::kill);
    let dead = distributed(&c.env, Arc::new(peers));
    assert_tree(&dead.merge_tree(&q).await.expect("all dead"), &want, what);
    let stats = dead.distributed_stats().unwrap();
    assert_eq!((stats.distributed, stats.fallbacks), (0, 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_worker_that_fails_the_query_is_not_retried() {
    let env = Env::memory();
    env.write_split("t", &dataset(), 3).await;
    // The workers answer but read another (empty) bucket: their failure is
    // the query's, not a dead peer's, so it is reported, not retried. (Two
    // workers: the planner keeps a one-worker query on the frontend.)
    let workers: Vec<TestWorker> = (0..2)
        .map(|_| TestWorker::start(Arc::new(object_store::memory::InMemory::new())))
        .collect();
    let peers = StaticPeers::new(workers.iter().map(|w| w.url.clone()).collect());
    let frontend = distributed(&env, Arc::new(peers));
    let q = query("t", &cpu(), "{}", T0, T0 + 200_000);
    let err = frontend
        .merge_tree(&q)
        .await
        .expect_err("blocks missing on the workers");
    assert!(
        err.to_string().to_lowercase().contains("not found"),
        "{err}"
    );
    let stats = frontend.distributed_stats().unwrap();
    assert_eq!(
        stats,
        Default::default(),
        "no retry, no fallback: {stats:?}"
    );
    assert!(
        workers.iter().any(|w| w.worker.tasks() > 0),
        "the failure came from a worker that got the plan"
    );
}

/// One querier still does the work: the frontend only merges. (The
/// distributed planner needs two tasks to cut a stage; the coordinator
/// gives it the one peer twice.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_querier_runs_the_scans() {
    let env = Env::memory();
    let data = dataset();
    env.write_split("t", &data, 5).await;
    let worker = TestWorker::start(env.store.clone());
    let frontend = distributed(&env, Arc::new(StaticPeers::new(vec![worker.url.clone()])));
    for (what, q) in flame_queries()
        .into_iter()
        .filter(|(w, _)| w.starts_with('t'))
    {
        let want = env.engine.merge_tree(&q).await.expect("in process");
        let got = frontend.merge_tree(&q).await.expect("distributed");
        assert_tree(&got, &want, what);
    }
    assert!(
        worker.worker.tasks() > 0 && worker.rows_read() > 0,
        "the querier ran the scans"
    );
    assert_eq!(
        frontend.scan_stats().samples.rows,
        0,
        "the frontend scanned nothing itself"
    );
    let stats = frontend.distributed_stats().expect("distributed engine");
    assert_eq!((stats.retries, stats.fallbacks), (0, 0), "{stats:?}");
}

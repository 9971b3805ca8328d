//! The multi-process fleet (issue #9): PostgreSQL + moto's S3 + 2
//! ingesters + 1 compactor + 3 queriers + 1 query-frontend, each a `kiln
//! server --target=<role>` process on loopback, under failures.
//!
//! ```text
//!  4 clients ──push──► ingester 0, ingester 1 ──► S3 + PostgreSQL ◄── compactor (1 s)
//!                          ▲ SIGKILL mid-push                  ▲
//!  2 query loops ──► query-frontend ──► querier 0, 1, 2 ──────┘
//!                                          ▲ SIGKILL mid-query
//!  then: the acknowledged profiles pushed to a `--target=all` server;
//!        the frontend's answers must equal that server's
//! ```
//!
//! What it proves:
//! * every acknowledged push is queryable through the frontend with its
//!   exact total, and nothing nobody pushed is there (a push that failed
//!   because its ingester died may or may not be stored: it was never
//!   acknowledged);
//! * pushes to the ingester that stayed up all succeed;
//! * the frontend retries a query on the queriers still alive when one
//!   dies under it (the scale-out contract: "a worker that fails mid-query
//!   makes it retry on the peers still alive"), so **every** query of the
//!   loops succeeds, before, during and after the kill;
//! * answers never shrink while the compactor swaps blocks under them,
//!   and the compactor really compacted (level-1 blocks in the metastore);
//! * flame graphs, series by `push_id` and profile types through the
//!   frontend equal the single-process server's on the same acknowledged
//!   profiles; the queriers did the scanning, and the frontend counted
//!   retries (`kiln_query_distributed_retries_total`);
//! * with `querier.worker_secret` set on every role, as deployed: the
//!   frontend's calls and the queriers' calls to each other (SelectSeries'
//!   shuffle) carry it.
//!
//! * [`topology`]: the processes and their configuration.
//! * [`workload`]: the profiles, push clients and query loops.
//! * [`compare`]: the assertions on answers.

mod compare;
mod topology;
mod workload;

use crate::cluster::counter;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::future::join_all;

use crate::query::now_ms;
use crate::server::*;
use topology::{Fleet, reference_server};
use workload::{GoCpu, PushLog, QueryLog, push_client, push_once, query_loop};

const CLIENTS: usize = 4;
const PUSHES_PER_CLIENT: usize = 24;
const QUERY_LOOPS: usize = 2;
/// Queries that must complete after the querier kill.
const QUERIES_AFTER_KILL: usize = 20;
/// Bound on every wait of the test (each one fails loudly when exceeded).
const WAIT: Duration = Duration::from_secs(60);
const MINUTE_MS: i64 = 60_000;

/// Polls `done` every few milliseconds; panics with `what` after [`WAIT`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_survives_killed_ingester_and_querier_and_answers_like_one_process() {
    let mut fleet = Fleet::start(2, 3).await;
    assert_roles_are_split(&fleet).await;

    // Profiles 40 to 15 minutes old: their 10-minute windows are closed,
    // so the compactor (1 s settle) merges them while the test runs.
    let now = now_ms();
    let (start, end) = (now - 45 * MINUTE_MS, now + MINUTE_MS);
    let first = now - 40 * MINUTE_MS;
    let spacing = 25 * MINUTE_MS / (CLIENTS * PUSHES_PER_CLIENT) as i64;
    let go_cpu = GoCpu::load();
    let ingester_urls: Vec<String> = fleet.ingesters.iter().map(|i| i.url("")).collect();
    let pushes = PushLog::new(ingester_urls.len());
    let pushers: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let profiles = (0..PUSHES_PER_CLIENT)
                .map(|seq| {
                    let n = (seq * CLIENTS + client) as i64;
                    go_cpu.profile(client, seq, first + n * spacing)
                })
                .collect();
            tokio::spawn(push_client(
                client,
                profiles,
                ingester_urls.clone(),
                pushes.clone(),
            ))
        })
        .collect();
    // A query for a profile type the tenant has never sent is refused
    // (`invalid_argument`, as in Pyroscope): start querying after an ack.
    wait_until("the first push is acknowledged", || {
        !pushes.acked().is_empty()
    })
    .await;
    let queries = Arc::new(QueryLog::default());
    let loops: Vec<_> = (0..QUERY_LOOPS)
        .map(|_| {
            tokio::spawn(query_loop(
                fleet.frontend.url(""),
                start,
                end,
                queries.clone(),
            ))
        })
        .collect();

    // SIGKILL ingester 1 while a push to it is in flight, a third of the
    // way through.
    let total = CLIENTS * PUSHES_PER_CLIENT;
    wait_until("a third of the pushes are done", || {
        pushes.count() >= total / 3
    })
    .await;
    wait_until("a push to ingester 1 is in flight", || {
        pushes.in_flight[1].load(Ordering::SeqCst) > 0
    })
    .await;
    fleet.ingesters[1].kill();

    // SIGKILL querier 1 while a query through the frontend is in flight.
    wait_until("the query loops have answered 5 queries", || {
        queries.completed.load(Ordering::SeqCst) >= 5
    })
    .await;
    wait_until("a query is in flight", || {
        queries.in_flight.load(Ordering::SeqCst) > 0
    })
    .await;
    fleet.queriers[1].kill();
    queries.querier_killed.store(true, Ordering::SeqCst);

    for pusher in pushers {
        pusher.await.expect("a push client panicked");
    }
    wait_until(
        &format!("{QUERIES_AFTER_KILL} queries completed after the querier kill"),
        || queries.completed_after_kill.load(Ordering::SeqCst) >= QUERIES_AFTER_KILL,
    )
    .await;
    queries.stop.store(true, Ordering::SeqCst);
    for query_loop in loops {
        query_loop.await.expect("a query loop panicked");
    }

    let failures = queries.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "queries through the frontend failed ({} of {}; the contract promises a retry on the \
         queriers still alive, not an error): {failures:#?}",
        failures.len(),
        failures.len() + queries.completed.load(Ordering::SeqCst),
    );
    let failed = pushes.failed();
    for (id, ingester, error) in &failed {
        assert_eq!(
            *ingester, 1,
            "push {id} to ingester {ingester}, which stayed up, failed: {error}"
        );
    }
    let acked = pushes.acked();
    assert_eq!(acked.len() + failed.len(), total);
    assert!(
        acked.len() > total / 2,
        "only {} of {total} pushes acknowledged: {failed:?}",
        acked.len()
    );
    for ingester in 0..ingester_urls.len() {
        assert!(
            pushes.acked_by(ingester) > 0,
            "ingester {ingester} acknowledged no push"
        );
    }
    eprintln!(
        "fleet: {} pushes acknowledged, {} failed (ingester 1 killed); {} queries, {} after the querier kill",
        acked.len(),
        failed.len(),
        queries.completed.load(Ordering::SeqCst),
        queries.completed_after_kill.load(Ordering::SeqCst)
    );

    crate::cluster::wait_for_level_1(&fleet.postgres_url, WAIT).await;

    // The truth: the acknowledged profiles in one `--target=all` process.
    let reference = reference_server().await;
    let reference_url = reference.url("");
    for chunk in acked.chunks(8) {
        let pushed = join_all(chunk.iter().map(|p| push_once(&reference_url, &p.body))).await;
        for (p, result) in chunk.iter().zip(pushed) {
            result.unwrap_or_else(|e| panic!("reference push {} failed: {e}", p.id));
        }
    }

    let frontend = fleet.frontend.url("");
    compare::assert_every_ack_queryable(&frontend, &acked, start, end).await;
    let failed_ids: Vec<String> = failed.into_iter().map(|(id, _, _)| id).collect();
    compare::assert_nothing_foreign(&frontend, &acked, &failed_ids, start, end).await;
    compare::assert_same_answers(&frontend, &reference_url, &acked, start, end).await;
    assert_queriers_scanned(&fleet).await;
}

/// Each process runs only its role: a querier takes no pushes, an
/// ingester answers no queries, and both say which roles they run.
async fn assert_roles_are_split(fleet: &Fleet) {
    let querier = fleet.queriers[0].url("");
    let go_cpu = GoCpu::load();
    let error = push_once(&querier, &go_cpu.profile(99, 0, now_ms()).body)
        .await
        .expect_err("a querier accepted a push");
    assert!(error.contains("querier"), "{error}");
    let ingester = fleet.ingesters[0].url("");
    let now = now_ms();
    let error = workload::query(
        &ingester,
        "SelectMergeStacktraces",
        &workload::all_services_flamegraph(now - MINUTE_MS, now),
    )
    .await
    .expect_err("an ingester answered a query");
    assert!(error.contains("ingester"), "{error}");
    for (role, server) in fleet.processes() {
        let reply = get(&server.url("/metrics")).await;
        assert_eq!(reply.status, 200, "{role}'s /metrics: {reply:?}");
    }
}

/// The queriers, not the frontend alone, scanned blocks, and the frontend
/// retried queries the killed querier was part of.
async fn assert_queriers_scanned(fleet: &Fleet) {
    let mut scans = 0.0;
    for (i, querier) in fleet.queriers.iter().enumerate() {
        if i != 1 {
            scans += counter(querier, "kiln_query_table_scans_total").await;
        }
    }
    assert!(
        scans > 0.0,
        "no querier scanned a block: the frontend did not distribute the queries"
    );
    let retries = counter(&fleet.frontend, "kiln_query_distributed_retries_total").await;
    let fallbacks = counter(&fleet.frontend, "kiln_query_distributed_fallbacks_total").await;
    eprintln!("fleet: the frontend retried {retries} times, ran {fallbacks} queries in process");
    assert!(
        retries > 0.0,
        "the frontend never retried: no query met the killed querier"
    );
}

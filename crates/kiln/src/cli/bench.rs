//! `kiln bench ingest`: a load generator that replays real agent pprof
//! payloads as `Push` requests and reports throughput, acknowledgement
//! latency and the server's memory.
//!
//! ```text
//!  payloads (../shared/testdata/agents) ─► decode once ─► every second:
//!      time_nanos = now, re-encode, gzip (what Alloy puts in raw_profile)
//!  N clients, each its own connection, one request in flight each:
//!      PushRequest{batch × series(service, __name__, bench_client, pod)}
//!      ─► Connect (HTTP/1.1, application/proto) | gRPC (h2c, 5-byte frame)
//!      ─► ack latency into an HDR histogram, errors by status
//!  sampler: /proc/<server pid>/{status,stat} ─► RSS over time, CPU seconds
//! ```
//!
//! Acknowledgements wait for a durable flush, so one client does at most
//! about one request per flush interval: throughput comes from many clients
//! and from batching series into one request (`--batch`), as Alloy does.
//! Series stay bounded (`--pods`) so a long run stays under the tenant's
//! series limit. `--spawn-server` starts `kiln server` itself on a
//! temporary directory (ingestion rate limit off) so one command is a
//! reproducible benchmark.

mod client;
mod payloads;
mod query;
mod scale_out;
mod spawn;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use client::{Protocol, Transport};
use payloads::Payloads;
use stats::{ClientStats, ProcessSampler, Report};

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Replay real pprof payloads as Push requests from concurrent clients.
    Ingest(IngestArgs),
    /// Query latency (flame graphs, series, labels) over a generated,
    /// compacted fleet of services.
    Query(query::QueryArgs),
    /// Flame-graph throughput and latency through a query-frontend with
    /// 1, 2, 3… querier processes (issue #9).
    ScaleOut(scale_out::ScaleOutArgs),
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Server to push to (ignored with --spawn-server).
    #[arg(long, default_value = "http://127.0.0.1:4040")]
    url: String,
    /// Wire protocol: Connect unary over HTTP/1.1, or gRPC over h2c.
    #[arg(long, value_enum, default_value_t = Protocol::Connect)]
    protocol: Protocol,
    /// Concurrent clients, each with its own connection and one request in flight.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Profiles (series) per request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// How long to push, e.g. 30s, 10m.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Stop after this many requests in total instead of after --duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Folder with go-cpu.pb.gz, go-heap.pb.gz, the nodejs pprof and the python PushRequest.
    #[arg(long, default_value = "../shared/testdata/agents")]
    payloads: PathBuf,
    /// Distinct `pod` label values per client (default: as many as keep
    /// every series under 4000, at most 16).
    #[arg(long)]
    pods: Option<usize>,
    /// Send `X-Scope-OrgID: TENANT`.
    #[arg(long)]
    tenant: Option<String>,
    /// Put plain (not gzipped) pprof in raw_profile.
    #[arg(long)]
    no_gzip: bool,
    /// Sample this process's RSS and CPU from /proc (the server's pid).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Start `kiln server` on a temporary data dir and benchmark it.
    #[arg(long)]
    spawn_server: bool,
    /// Flush interval of the spawned server.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    flush_interval: Duration,
    /// How often to sample the server's RSS and CPU.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    sample_interval: Duration,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::Query(args) => query::run(args).await,
        BenchCommand::ScaleOut(args) => scale_out::run(args).await,
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let payloads = Arc::new(
        Payloads::load(&args.payloads, !args.no_gzip)
            .with_context(|| format!("loading payloads from {}", args.payloads.display()))?,
    );
    let series_per_pod = payloads.series_per_round() * args.clients;
    let pods = args
        .pods
        .unwrap_or_else(|| (4000 / series_per_pod.max(1)).clamp(1, 16));
    let expected_series = series_per_pod * pods;
    if expected_series > 5000 {
        eprintln!(
            "warning: about {expected_series} series, over the default limits.max_series_per_tenant (5000)"
        );
    }

    let server = if args.spawn_server {
        Some(spawn::SpawnedServer::start(args.flush_interval).await?)
    } else {
        None
    };
    let url = server
        .as_ref()
        .map(|s| s.url.clone())
        .unwrap_or_else(|| args.url.trim_end_matches('/').to_string());
    let server_pid = server.as_ref().map(|s| s.pid).or(args.server_pid);

    let refresher = payloads.clone().spawn_refresher();
    let sampler = server_pid.map(|pid| ProcessSampler::start(pid, args.sample_interval));

    eprintln!(
        "kiln bench ingest: {} clients × batch {} over {} to {url} ({} payloads, {pods} pods/client, ~{expected_series} series){}",
        args.clients,
        args.batch,
        args.protocol.as_str(),
        payloads.len(),
        server_pid
            .map(|p| format!(", server pid {p}"))
            .unwrap_or_default(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client_id in 0..args.clients {
        let transport = Transport::new(args.protocol, &url, args.tenant.clone())?;
        let payloads = payloads.clone();
        let stop = stop.clone();
        let issued = issued.clone();
        let (batch, limit) = (args.batch, args.requests);
        tasks.push(tokio::spawn(async move {
            let mut stats = ClientStats::new();
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Some(limit) = limit
                    && issued.fetch_add(1, Ordering::Relaxed) >= limit
                {
                    break;
                }
                let (body, profiles, bytes) = payloads.request(client_id, round, batch, pods);
                round += 1;
                let sent = Instant::now();
                let outcome = transport.push(body).await;
                stats.record(outcome, sent.elapsed(), profiles, bytes);
            }
            stats
        }));
    }
    let progress = tokio::spawn(progress_loop(started));
    match args.requests {
        Some(_) => {}
        None => {
            tokio::time::sleep(args.duration).await;
            stop.store(true, Ordering::Relaxed);
        }
    }
    let mut total = ClientStats::new();
    for task in tasks {
        total.merge(task.await.context("client task panicked")?);
    }
    let elapsed = started.elapsed();
    progress.abort();
    refresher.abort();
    let samples = match sampler {
        Some(sampler) => Some(sampler.stop().await),
        None => None,
    };
    let report = Report {
        protocol: args.protocol,
        clients: args.clients,
        batch: args.batch,
        elapsed,
        stats: total,
        server: samples,
        data_dir: server.as_ref().map(|s| s.data_dir()),
    };
    print!("{}", report.render());
    if let Some(server) = server {
        server.stop().await;
    }
    Ok(())
}

/// A heartbeat on stderr so a long run shows it is alive.
async fn progress_loop(started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    loop {
        tick.tick().await;
        eprintln!("  … {:.0}s", started.elapsed().as_secs_f64());
    }
}

//! Closed-loop query load: `clients` tasks, each with its own connection
//! and one `SelectMergeStacktraces` in flight, for a fixed time. Every
//! answer's flame-graph total is checked: a wrong answer fails the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kiln_proto::querier::v1::{SelectMergeStacktracesRequest, SelectMergeStacktracesResponse};
use prost::Message;

const PATH: &str = "/querier.v1.QuerierService/SelectMergeStacktraces";

/// One query and the total its flame graph must have.
#[derive(Debug, Clone)]
pub struct Query {
    pub tenant: String,
    pub request: SelectMergeStacktracesRequest,
    pub expected_total: i64,
}

/// What a run measured.
#[derive(Debug)]
pub struct LoadResult {
    pub completed: u64,
    pub elapsed: Duration,
    /// Latency in microseconds.
    pub latency: Histogram<u64>,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency at quantile `q` in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs `clients` closed loops of `query` against `base_url` for
/// `duration`. Fails on the first error or wrong answer.
pub async fn run(
    base_url: &str,
    query: &Query,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let body = Bytes::from(query.request.encode_to_vec());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = QueryClient::new(base_url, &query.tenant)?;
        let (stop, body, expected) = (stop.clone(), body.clone(), query.expected_total);
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let mut completed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let total = client.flamegraph_total(body.clone()).await?;
                latency.saturating_record(sent.elapsed().as_micros().max(1) as u64);
                anyhow::ensure!(
                    total == expected,
                    "wrong flame-graph total: got {total}, want {expected}"
                );
                completed += 1;
            }
            Ok::<_, anyhow::Error>((completed, latency))
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latency = histogram();
    let mut completed = 0;
    for task in tasks {
        let (n, h) = task.await.context("a client task panicked")??;
        completed += n;
        latency.add(&h).expect("histograms share bounds");
    }
    Ok(LoadResult {
        completed,
        elapsed: started.elapsed(),
        latency,
    })
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// A Connect (binary protobuf, HTTP/1.1) client of one connection.
struct QueryClient {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
    tenant: String,
}

impl QueryClient {
    fn new(base_url: &str, tenant: &str) -> anyhow::Result<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_max_idle_per_host(1);
        Ok(Self {
            client: builder.build(connector),
            uri: format!("{base_url}{PATH}").parse()?,
            tenant: tenant.to_string(),
        })
    }

    async fn flamegraph_total(&self, body: Bytes) -> anyhow::Result<i64> {
        let request = Request::post(self.uri.clone())
            .header("content-type", "application/proto")
            .header("x-scope-orgid", &self.tenant)
            .body(Full::new(body))?;
        let response = self.client.request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status.is_success(),
            "query failed: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer = SelectMergeStacktracesResponse::decode(bytes)?;
        Ok(answer.flamegraph.map_or(0, |f| f.total))
    }
}

//! `kiln bench scale-out`: throughput and latency of the 24 h flame graph
//! through a query-frontend with 1, 2, 3… querier processes (issue #9).
//!
//! ```text
//!  dataset: `kiln bench query`'s generated, compacted fleet (cached in --data-dir)
//!  index:   its blocks registered in PostgreSQL (--postgres-url, or a throwaway one)
//!  baseline: one `--target=query-frontend` process without peers (in-process engine),
//!            pinned to the first core
//!  for N in --queriers: N `--target=querier` processes, querier i pinned (taskset)
//!            to core i mod cores; one `--target=query-frontend` with querier.peers
//!            = them (unpinned); every process reads the dataset directory as its
//!            filesystem store
//!  per case: --warmup of load (unmeasured), then --duration of --clients closed
//!            loops of SelectMergeStacktraces (Connect, binary proto); every answer's
//!            total is checked; throughput, latency percentiles, CPU seconds per process
//!  efficiency(N) = throughput(N) / (N · throughput(1 querier)), and per core:
//!                  throughput(N) / (N · throughput(frontend alone, pinned to one core))
//! ```
//!
//! Cases: the flame graph (max_nodes 8192) of one service's CPU over the
//! last 24 h of data, and of every service's.

mod index;
mod load;
mod processes;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use kiln_proto::querier::v1::SelectMergeStacktracesRequest;
use serde_json::{Value, json};

use super::query::dataset::{Dataset, END_NS, Params, TENANT};
use load::{LoadResult, Query};
use processes::{RoleProcess, Shared, process_cpu_seconds, usable_cores};

const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const MAX_NODES: i64 = 8192;
const HOUR_MS: i64 = 3_600_000;
const RANGE_HOURS: u64 = 24;

#[derive(Debug, clap::Args)]
pub struct ScaleOutArgs {
    /// Services in the generated fleet (as `kiln bench query`).
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Hours of data; the flame graphs cover the last 24 of them (all of
    /// them when fewer, for smoke tests).
    #[arg(long, default_value_t = 24)]
    hours: u64,
    /// Where the dataset is generated, and reused from on later runs
    /// (shareable with `kiln bench query --hours 24`).
    #[arg(long, default_value = "target/kiln-bench-query-24h")]
    data_dir: PathBuf,
    /// Folder with the agent payloads whose stacks the fleet uses.
    #[arg(long, default_value = "../shared/testdata/agents")]
    payloads: PathBuf,
    /// Querier counts to measure, e.g. 1,2,3.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    queriers: Vec<usize>,
    /// Concurrent clients, each with one query in flight.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Measured time per case and querier count.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured load before each measurement (fills caches, JIT-free but
    /// connection pools and page cache warm up).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// An empty PostgreSQL database for the block index; by default a
    /// throwaway server is started from Debian's binaries.
    #[arg(long)]
    postgres_url: Option<String>,
    /// Do not pin processes to cores with taskset.
    #[arg(long)]
    no_pin: bool,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// One process layout that was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The frontend alone, running the engine in process.
    InProcess,
    Queriers(usize),
}

impl Layout {
    fn name(self) -> String {
        match self {
            Layout::InProcess => "frontend only (in-process engine)".into(),
            Layout::Queriers(1) => "frontend + 1 querier".into(),
            Layout::Queriers(n) => format!("frontend + {n} queriers"),
        }
    }
}

/// One measurement: a layout, a case, what it did and what it cost.
struct Row {
    layout: Layout,
    case: String,
    result: LoadResult,
    /// CPU seconds used during the measurement, by process name.
    cpu: Vec<(String, Option<usize>, f64)>,
    client_cpu: f64,
    load_average: Option<f64>,
}

pub async fn run(args: ScaleOutArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    anyhow::ensure!(
        !args.queriers.is_empty() && !args.queriers.contains(&0),
        "--queriers must list counts of at least 1"
    );
    let params = Params {
        services: args.services,
        hours: args.hours,
    };
    let dataset = Dataset::open_or_generate(&args.data_dir, params, &args.payloads)
        .await
        .context("preparing the dataset")?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let postgres_url = index::database(args.postgres_url.as_deref()).await?;
    let blocks = index::copy_index(&data_dir, TENANT, &postgres_url).await?;
    let log_dir = tempfile::tempdir().context("creating a log directory")?;
    let shared = Shared {
        data_dir,
        postgres_url,
        log_dir: log_dir.path().to_path_buf(),
    };
    let cores = if args.no_pin {
        Vec::new()
    } else {
        usable_cores()
    };
    let core = |i: usize| (!cores.is_empty()).then(|| cores[i % cores.len()]);
    let cases = cases(&dataset, args.hours.min(RANGE_HOURS));
    eprintln!(
        "kiln bench scale-out: {blocks} blocks, {} clients, {:?} per case after {:?} warm-up, cores {cores:?}",
        args.clients, args.duration, args.warmup
    );

    let mut rows = Vec::new();
    let mut layouts = vec![Layout::InProcess];
    layouts.extend(args.queriers.iter().map(|&n| Layout::Queriers(n)));
    for layout in layouts {
        let (frontend, queriers) = match layout {
            Layout::InProcess => {
                let frontend =
                    RoleProcess::start(&shared, "frontend", "query-frontend", core(0), &[]).await?;
                (frontend, Vec::new())
            }
            Layout::Queriers(n) => {
                let mut queriers = Vec::new();
                for i in 0..n {
                    let name = format!("querier-{i}");
                    queriers
                        .push(RoleProcess::start(&shared, &name, "querier", core(i), &[]).await?);
                }
                let peers: Vec<&str> = queriers.iter().map(|q| q.url.as_str()).collect();
                let env = [("KILN_QUERIER__PEERS", peers.join(","))];
                let frontend =
                    RoleProcess::start(&shared, "frontend", "query-frontend", None, &env).await?;
                (frontend, queriers)
            }
        };
        for (name, query) in &cases {
            let row = measure(&args, layout, name, query, &frontend, &queriers)
                .await
                .with_context(|| {
                    format!(
                        "{} / {name}; frontend log:\n{}",
                        layout.name(),
                        frontend.log_text()
                    )
                })?;
            if !args.json {
                eprintln!(
                    "  {:<36} {:<32} {:>7.1} q/s  p50 {:>7.1} ms  p99 {:>7.1} ms",
                    layout.name(),
                    name,
                    row.result.throughput(),
                    row.result.ms(0.5),
                    row.result.ms(0.99)
                );
            }
            rows.push(row);
        }
    }
    let report = Report {
        dataset: &dataset,
        blocks,
        clients: args.clients,
        duration: args.duration,
        cores,
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// The benchmarked queries over the last `hours` of data.
fn cases(dataset: &Dataset, hours: u64) -> Vec<(String, Query)> {
    let end_ms = END_NS / 1_000_000;
    let request = |selector: String| SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: selector,
        start: end_ms - hours as i64 * HOUR_MS,
        end: end_ms - 1,
        max_nodes: Some(MAX_NODES),
        ..Default::default()
    };
    let service = dataset.services[0].clone();
    vec![
        (
            format!("{hours} h flame graph, 1 service"),
            Query {
                tenant: TENANT.into(),
                request: request(format!(r#"{{service_name="{service}"}}"#)),
                expected_total: dataset.expected_total(Some(service.as_str()), CPU, hours),
            },
        ),
        (
            format!(
                "{hours} h flame graph, all {} services",
                dataset.services.len()
            ),
            Query {
                tenant: TENANT.into(),
                request: request("{}".to_string()),
                expected_total: dataset.expected_total(None, CPU, hours),
            },
        ),
    ]
}

async fn measure(
    args: &ScaleOutArgs,
    layout: Layout,
    case: &str,
    query: &Query,
    frontend: &RoleProcess,
    queriers: &[RoleProcess],
) -> anyhow::Result<Row> {
    load::run(&frontend.url, query, args.clients, args.warmup).await?;
    let processes: Vec<&RoleProcess> = std::iter::once(frontend).chain(queriers).collect();
    let before: Vec<f64> = processes.iter().map(|p| p.cpu_seconds()).collect();
    let client_before = process_cpu_seconds(std::process::id()).unwrap_or(0.0);
    let load_average = load_average();
    let result = load::run(&frontend.url, query, args.clients, args.duration).await?;
    let client_cpu = process_cpu_seconds(std::process::id()).unwrap_or(0.0) - client_before;
    let cpu = processes
        .iter()
        .zip(before)
        .map(|(p, b)| (p.name.clone(), p.core, p.cpu_seconds() - b))
        .collect();
    Ok(Row {
        layout,
        case: case.to_string(),
        result,
        cpu,
        client_cpu,
        load_average,
    })
}

/// The 1-minute load average, to judge numbers from a shared machine.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

struct Report<'a> {
    dataset: &'a Dataset,
    blocks: usize,
    clients: usize,
    duration: Duration,
    cores: Vec<usize>,
    rows: Vec<Row>,
}

impl Report<'_> {
    /// Throughput of the one-querier layout for `case`, the efficiency base.
    fn base(&self, case: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.case == case && r.layout == Layout::Queriers(1))
            .map(|r| r.result.throughput())
    }

    fn efficiency(&self, row: &Row) -> Option<f64> {
        match row.layout {
            Layout::Queriers(n) => {
                Some(row.result.throughput() / (n as f64 * self.base(&row.case)?))
            }
            Layout::InProcess => None,
        }
    }

    /// Throughput per querier relative to the in-process frontend pinned
    /// to one core: how much of a core's worth each querier adds.
    fn per_core(&self, row: &Row) -> Option<f64> {
        let Layout::Queriers(n) = row.layout else {
            return None;
        };
        let one_core = self
            .rows
            .iter()
            .find(|r| r.case == row.case && r.layout == Layout::InProcess)?
            .result
            .throughput();
        Some(row.result.throughput() / (n as f64 * one_core))
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let d = self.dataset;
        let _ = writeln!(
            out,
            "\n== kiln bench scale-out ==\ndataset {} ({} services × {} h, {} profiles, {} samples, {} blocks); {} clients, {:?} per row; pinned cores {:?}\n",
            d.dir.display(),
            d.params.services,
            d.params.hours,
            d.profiles,
            d.samples,
            self.blocks,
            self.clients,
            self.duration,
            self.cores
        );
        let _ = writeln!(
            out,
            "| layout | query | queries/s | p50 ms | p95 ms | p99 ms | efficiency | vs 1 core in process | CPU s per process (core) | client CPU s | load avg |"
        );
        let _ = writeln!(
            out,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for row in &self.rows {
            let cpu: Vec<String> = row
                .cpu
                .iter()
                .map(|(name, core, s)| match core {
                    Some(c) => format!("{name} {s:.1} ({c})"),
                    None => format!("{name} {s:.1}"),
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {:.1} | {} |",
                row.layout.name(),
                row.case,
                row.result.throughput(),
                row.result.ms(0.5),
                row.result.ms(0.95),
                row.result.ms(0.99),
                self.efficiency(row)
                    .map_or("—".to_string(), |e| format!("{e:.2}")),
                self.per_core(row)
                    .map_or("—".to_string(), |e| format!("{e:.2}")),
                cpu.join(", "),
                row.client_cpu,
                row.load_average
                    .map_or("?".to_string(), |l| format!("{l:.2}")),
            );
        }
        out
    }

    fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "layout": row.layout.name(),
                    "queriers": match row.layout { Layout::Queriers(n) => n, Layout::InProcess => 0 },
                    "query": row.case,
                    "completed": row.result.completed,
                    "seconds": row.result.elapsed.as_secs_f64(),
                    "queries_per_second": row.result.throughput(),
                    "p50_ms": row.result.ms(0.5),
                    "p95_ms": row.result.ms(0.95),
                    "p99_ms": row.result.ms(0.99),
                    "efficiency": self.efficiency(row),
                    "efficiency_vs_one_core_in_process": self.per_core(row),
                    "cpu_seconds": row.cpu.iter().map(|(n, c, s)| json!({"process": n, "core": c, "seconds": s})).collect::<Vec<_>>(),
                    "client_cpu_seconds": row.client_cpu,
                    "load_average": row.load_average,
                })
            })
            .collect();
        json!({
            "dataset": {
                "dir": self.dataset.dir.display().to_string(),
                "services": self.dataset.params.services,
                "hours": self.dataset.params.hours,
                "profiles": self.dataset.profiles,
                "samples": self.dataset.samples,
                "blocks": self.blocks,
            },
            "clients": self.clients,
            "cores": self.cores,
            "rows": rows,
        })
    }
}

//! `kiln bench query`: latency of the read path over a realistic, compacted
//! dataset (issue #4), through the same [`QueryEngine`] the server uses.
//!
//! ```text
//!  dataset (generated once, cached in --data-dir; see dataset.rs)
//!  store (the server's filesystem store) + embedded metastore (opened once)
//!  per query:
//!    cold: --cold-runs × (fresh DataFusionEngine, empty block caches; the OS
//!          page cache is left as it is) ─► one run each
//!    warm: one engine, one unmeasured run, then --runs runs ─► p50 / p95
//!  every run checks its answer against what was generated (flame-graph and
//!  series totals, profile types, service names): a wrong answer is an error
//! ```
//!
//! Queries: flame graph (merge + encoding at max_nodes 8192, as
//! `SelectMergeStacktraces` does) of one service's CPU over 1 h, 24 h and
//! 7 d; `SelectSeries` over 24 h at a 60 s step for that service, and for
//! every service grouped by `service_name`; `ProfileTypes` and
//! `LabelValues(service_name)` over 7 d. Ranges end at the last push.

/// Shared with `kiln bench scale-out`, which queries the same dataset.
pub(super) mod dataset;
mod report;

use anyhow::Context;
use dataset::{Dataset, END_NS, Params, TENANT};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_model::ProfileType;
use kiln_model::selector::Selector;
use kiln_query::{
    Aggregation, DataFusionEngine, EngineConfig, LabelsQuery, ProfileQuery, QueryEngine,
    SeriesQuery,
};
use kiln_store::{StoreConfig, open_store};
use report::{Measurement, Report};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The flame graphs' profile type: CPU time, which every runtime of the
/// fleet reports (Go CPU, Node.js' cpu sample type, Python).
const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
/// `SelectMergeStacktraces`' default node limit.
const MAX_NODES: i64 = 8192;
const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Services in the generated fleet.
    #[arg(long, default_value_t = 10)]
    services: usize,
    /// Hours of data (one profile of each kind per service every 10 s);
    /// 168 = 7 days.
    #[arg(long, default_value_t = 168)]
    hours: u64,
    /// Where the dataset is generated, and reused from on later runs.
    #[arg(long, default_value = "target/kiln-bench-query")]
    data_dir: PathBuf,
    /// Folder with the agent payloads whose stacks the fleet uses.
    #[arg(long, default_value = "../shared/testdata/agents")]
    payloads: PathBuf,
    /// Cold runs per query (each on a fresh engine).
    #[arg(long, default_value_t = 3)]
    cold_runs: usize,
    /// Measured warm runs per query.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Read raw samples only, never the compactor's rollup tables (to
    /// compare with the default, which reads rollups where they answer).
    #[arg(long)]
    no_rollups: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One benchmarked query.
#[derive(Debug, Clone)]
enum Case {
    /// Flame graph of the first service's CPU over the last `hours`.
    FlameGraph {
        hours: u64,
    },
    /// `SelectSeries` over the last `hours`, 60 s step: the first service
    /// ungrouped, or every service grouped by `service_name`.
    Series {
        hours: u64,
        by_service: bool,
    },
    ProfileTypes {
        hours: u64,
    },
    ServiceNames {
        hours: u64,
    },
}

impl Case {
    fn name(&self) -> String {
        match self {
            Case::FlameGraph { .. } => "flame graph (1 service, CPU)".into(),
            Case::Series {
                by_service: false, ..
            } => "SelectSeries (1 service, step 60s)".into(),
            Case::Series {
                by_service: true, ..
            } => "SelectSeries (all, by service_name)".into(),
            Case::ProfileTypes { .. } => "ProfileTypes".into(),
            Case::ServiceNames { .. } => "LabelValues(service_name)".into(),
        }
    }

    fn hours(&self) -> u64 {
        match *self {
            Case::FlameGraph { hours }
            | Case::Series { hours, .. }
            | Case::ProfileTypes { hours }
            | Case::ServiceNames { hours } => hours,
        }
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case::FlameGraph { hours: 1 },
        Case::FlameGraph { hours: 24 },
        Case::FlameGraph { hours: 168 },
        Case::Series {
            hours: 24,
            by_service: false,
        },
        Case::Series {
            hours: 24,
            by_service: true,
        },
        Case::ProfileTypes { hours: 168 },
        Case::ServiceNames { hours: 168 },
    ]
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let params = Params {
        services: args.services,
        hours: args.hours,
    };
    let dataset = Dataset::open_or_generate(&args.data_dir, params, &args.payloads)
        .await
        .context("preparing the dataset")?;
    let store = open_store(&StoreConfig::Filesystem {
        root: args.data_dir.clone(),
    })?;
    let metastore: Arc<dyn Metastore> = Arc::new(
        EmbeddedMetastore::open(store.clone(), EmbeddedConfig::default())
            .await
            .context("opening the metastore")?,
    );
    let blocks = metastore.list_blocks(TENANT, i64::MIN, i64::MAX).await?;
    let config = EngineConfig {
        use_rollups: !args.no_rollups,
        ..EngineConfig::default()
    };
    let new_engine = || DataFusionEngine::new(store.clone(), metastore.clone(), config);

    let mut measurements = Vec::new();
    for case in cases() {
        let mut cold = Vec::new();
        let mut answer = String::new();
        for _ in 0..args.cold_runs {
            let engine = new_engine()?;
            let (took, a) = timed(&engine, &case, &dataset).await?;
            cold.push(took);
            answer = a;
        }
        let engine = new_engine()?;
        timed(&engine, &case, &dataset).await?;
        let mut warm = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            let (took, a) = timed(&engine, &case, &dataset).await?;
            warm.push(took);
            answer = a;
        }
        let m = Measurement::new(case.name(), case.hours(), cold, warm, answer);
        if !args.json {
            eprintln!("  {}", m.line());
        }
        measurements.push(m);
    }
    let report = Report::new(
        &dataset,
        &blocks,
        config.use_rollups,
        measurements,
        load_average(),
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// Runs `case` once; returns its latency and a short description of the
/// answer, after checking the answer against the dataset.
async fn timed(
    engine: &DataFusionEngine,
    case: &Case,
    dataset: &Dataset,
) -> anyhow::Result<(Duration, String)> {
    let end_ms = END_NS / 1_000_000;
    let window = |hours: u64| (end_ms - hours as i64 * HOUR_MS, end_ms - 1);
    let service = dataset.services[0].as_str();
    let one_service = Selector::parse(&format!("{{service_name=\"{service}\"}}"))?;
    let profiles = |hours: u64, selector: Selector| {
        let (start_ms, end_ms) = window(hours);
        Ok::<_, anyhow::Error>(ProfileQuery {
            tenant: TENANT.into(),
            profile_type: ProfileType::parse(CPU)?,
            selector,
            start_ms,
            end_ms,
            call_site: Vec::new(),
            profile_ids: Vec::new(),
            span_ids: Vec::new(),
        })
    };
    let started = Instant::now();
    match case {
        Case::FlameGraph { hours } => {
            let query = profiles(*hours, one_service)?;
            let tree = engine.merge_tree(&query).await?;
            let graph = kiln_model::flamegraph::flamegraph(&tree, MAX_NODES);
            let took = started.elapsed();
            let want = dataset.expected_total(Some(service), CPU, *hours);
            check(graph.total == want, "flame-graph total", graph.total, want)?;
            Ok((
                took,
                format!("total {} ({} names)", graph.total, graph.names.len()),
            ))
        }
        Case::Series { hours, by_service } => {
            let (selector, group_by, want_series) = if *by_service {
                (
                    Selector::default(),
                    vec!["service_name".to_string()],
                    dataset.services.len(),
                )
            } else {
                (one_service, Vec::new(), 1)
            };
            let query = SeriesQuery {
                // A profile counts at the first step boundary at or after
                // it: the last push's boundary is the end of data, so the
                // range includes that instant (points are never past `end`).
                profiles: ProfileQuery {
                    end_ms,
                    ..profiles(*hours, selector)?
                },
                step_seconds: 60.0,
                group_by,
                aggregation: Aggregation::Sum,
                limit: None,
            };
            let series = engine.select_series(&query).await?;
            let took = started.elapsed();
            let points: usize = series.iter().map(|s| s.points.len()).sum();
            let sum: f64 = series.iter().flat_map(|s| &s.points).map(|p| p.value).sum();
            let want = dataset.expected_total((!by_service).then_some(service), CPU, *hours);
            check(
                series.len() == want_series,
                "series",
                series.len(),
                want_series,
            )?;
            check(
                (sum - want as f64).abs() <= want as f64 * 1e-9,
                "sum of points",
                sum,
                want,
            )?;
            Ok((took, format!("{} series, {points} points", series.len())))
        }
        Case::ProfileTypes { hours } => {
            let (start_ms, end_ms) = window(*hours);
            let types = engine.profile_types(TENANT, start_ms, end_ms).await?;
            let took = started.elapsed();
            let got: Vec<String> = types.iter().map(ProfileType::id).collect();
            let want: Vec<String> = dataset.profile_types.iter().cloned().collect();
            check(got == want, "profile types", got.join(","), want.join(","))?;
            Ok((took, format!("{} types", types.len())))
        }
        Case::ServiceNames { hours } => {
            let (start_ms, end_ms) = window(*hours);
            let query = LabelsQuery {
                tenant: TENANT.into(),
                selectors: Vec::new(),
                start_ms,
                end_ms,
            };
            let values = engine.label_values(&query, "service_name").await?;
            let took = started.elapsed();
            check(
                values == dataset.services,
                "service names",
                values.join(","),
                dataset.services.join(","),
            )?;
            Ok((took, format!("{} values", values.len())))
        }
    }
}

/// A wrong answer fails the benchmark: timing a broken engine means nothing.
fn check(
    ok: bool,
    what: &str,
    got: impl std::fmt::Debug,
    want: impl std::fmt::Debug,
) -> anyhow::Result<()> {
    anyhow::ensure!(ok, "wrong {what}: got {got:?}, want {want:?}");
    Ok(())
}

/// The 1-minute load average, to judge numbers taken on a shared machine.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

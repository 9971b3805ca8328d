//! The query benchmark's dataset: a generated fleet written as level-0
//! blocks, compacted by the real compactor, cached in a data directory.
//!
//! ```text
//!  Fleet (kiln_benches::fleet: Go CPU, Go heap, Node.js wall, Python CPU per service)
//!    every 10 s of simulated time: every service pushes ─► one level-0 block
//!      ─► filesystem store + embedded metastore (what `kiln server` opens)
//!    every simulated hour: Compactor::run_once with a ManualClock at that hour
//!      (L0 → L1 10 min, L1 → L2 2 h with rollups, L2 → L3 1 day)
//!  end: the clock 30 s after the last push, so the data has a live server's
//!       shape: day blocks, the current day's 2 h blocks, 10 min blocks, and
//!       level-0 blocks of the last minutes
//!  bench-query.json: parameters + expected totals per (service, type, hour)
//! ```
//!
//! A directory whose `bench-query.json` matches the parameters is reused;
//! one generated with other parameters (or left half-written) is replaced.

use anyhow::{Context, bail};
use kiln_benches::Rng;
use kiln_benches::fleet::{Fleet, Kind, Payloads, ingest_labels};
use kiln_block::BlockEncoder;
use kiln_compactor::{Compactor, CompactorConfig};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_model::clock::ManualClock;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bumped whenever generation changes, so stale caches are regenerated.
const FORMAT: u64 = 1;
const MANIFEST: &str = "bench-query.json";
const GENERATING: &str = ".bench-query-generating";
pub const TENANT: &str = "bench";
const SEC: i64 = 1_000_000_000;
const STEP: i64 = 10 * SEC;
const TICKS_PER_HOUR: u64 = 360;
/// The last push is just before 2027-01-08T12:35:00Z: not on a window
/// boundary, so recent data is still in small blocks, as on a live server.
pub const END_NS: i64 = (1_798_761_600 + 7 * 86_400 + 12 * 3600 + 35 * 60) * SEC;
const SEED: u64 = 0x6b696c6e;

/// What a dataset is generated from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub services: usize,
    pub hours: u64,
}

impl Params {
    /// Time of the first push.
    pub fn start_ns(&self) -> i64 {
        END_NS - self.hours as i64 * 3600 * SEC
    }
}

/// A generated dataset and what queries over it must return.
#[derive(Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub params: Params,
    pub services: Vec<String>,
    pub profile_types: BTreeSet<String>,
    pub profiles: u64,
    pub samples: u64,
    /// Seconds generation took when the dataset was made.
    pub generated_seconds: f64,
    /// `"service|profile type id"` → sum of values per hour since the start.
    totals: BTreeMap<String, Vec<i64>>,
}

impl Dataset {
    /// Loads the dataset of `dir` if it was generated with `params`,
    /// otherwise generates it there.
    pub async fn open_or_generate(
        dir: &Path,
        params: Params,
        payloads: &Path,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(params.services > 0, "--services must be at least 1");
        anyhow::ensure!(params.hours > 0, "--hours must be at least 1");
        let manifest = dir.join(MANIFEST);
        if manifest.exists() {
            let dataset = Self::load(dir, &manifest)?;
            if dataset.params == params {
                eprintln!("reusing the dataset in {}", dir.display());
                return Ok(dataset);
            }
            eprintln!(
                "{} holds a dataset of other parameters; regenerating",
                dir.display()
            );
            std::fs::remove_dir_all(dir)?;
        } else if dir.join(GENERATING).exists() {
            eprintln!(
                "{} holds an unfinished dataset; regenerating",
                dir.display()
            );
            std::fs::remove_dir_all(dir)?;
        } else if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            bail!(
                "{} is not empty and holds no benchmark dataset: pick another --data-dir",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join(GENERATING), b"")?;
        let payloads = Payloads::load(payloads).map_err(anyhow::Error::msg)?;
        let dataset = generate(dir, params, &payloads).await?;
        std::fs::write(&manifest, serde_json::to_vec_pretty(&dataset.manifest())?)?;
        std::fs::remove_file(dir.join(GENERATING))?;
        Ok(dataset)
    }

    /// Sum of values of `profile_type` (one service, or all with `None`)
    /// over the last `hours` hours of data.
    pub fn expected_total(&self, service: Option<&str>, profile_type: &str, hours: u64) -> i64 {
        self.totals
            .iter()
            .filter(|(key, _)| {
                let (s, t) = key.split_once('|').unwrap_or_default();
                t == profile_type && service.is_none_or(|w| w == s)
            })
            .map(|(_, per_hour)| {
                let from = per_hour.len().saturating_sub(hours as usize);
                per_hour[from..].iter().sum::<i64>()
            })
            .sum()
    }

    fn manifest(&self) -> Value {
        json!({
            "format": FORMAT,
            "services": self.params.services,
            "hours": self.params.hours,
            "profiles": self.profiles,
            "samples": self.samples,
            "generated_seconds": self.generated_seconds,
            "service_names": self.services,
            "profile_types": self.profile_types,
            "totals": self.totals,
        })
    }

    fn load(dir: &Path, manifest: &Path) -> anyhow::Result<Self> {
        let bad = || format!("{} is not a benchmark manifest", manifest.display());
        let v: Value = serde_json::from_slice(&std::fs::read(manifest)?).with_context(bad)?;
        let num = |k: &str| v[k].as_u64().with_context(bad);
        let strings = |k: &str| -> anyhow::Result<Vec<String>> {
            v[k].as_array()
                .with_context(bad)?
                .iter()
                .map(|s| s.as_str().map(str::to_string).with_context(bad))
                .collect()
        };
        let mut params = Params {
            services: num("services")? as usize,
            hours: num("hours")?,
        };
        if num("format")? != FORMAT {
            params.services = 0; // never matches: regenerate
        }
        let totals = v["totals"]
            .as_object()
            .with_context(bad)?
            .iter()
            .map(|(k, per_hour)| {
                let per_hour = per_hour
                    .as_array()
                    .with_context(bad)?
                    .iter()
                    .map(|x| x.as_i64().with_context(bad))
                    .collect::<anyhow::Result<Vec<i64>>>()?;
                Ok((k.clone(), per_hour))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            params,
            services: strings("service_names")?,
            profile_types: strings("profile_types")?.into_iter().collect(),
            profiles: num("profiles")?,
            samples: num("samples")?,
            generated_seconds: v["generated_seconds"].as_f64().unwrap_or(0.0),
            totals,
        })
    }
}

/// Writes and compacts the dataset (see the module docs).
async fn generate(dir: &Path, params: Params, payloads: &Payloads) -> anyhow::Result<Dataset> {
    let started = Instant::now();
    // Plain LocalFileSystem (no fsync per object): same layout as the
    // server's store, much faster to fill.
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir)?);
    let metastore: Arc<dyn Metastore> =
        Arc::new(EmbeddedMetastore::open(store.clone(), EmbeddedConfig::default()).await?);
    let start_ns = params.start_ns();
    let clock = Arc::new(ManualClock::new(start_ns));
    let compactor = Compactor::new(
        CompactorConfig::default(),
        store.clone(),
        metastore.clone(),
        clock.clone(),
    )?;
    let fleet = Fleet::new(payloads, params.services, &Kind::ALL, &ingest_labels);
    let mut rng = Rng::new(SEED);
    let mut ids = Rng::new(SEED + 1);
    let hours = params.hours as usize;
    let mut totals: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut profile_types = BTreeSet::new();
    let (mut profiles, mut samples) = (0u64, 0u64);
    let ticks = params.hours * TICKS_PER_HOUR;
    let mut last_report = Instant::now();
    for tick in 0..ticks {
        let now = start_ns + tick as i64 * STEP;
        let hour = (tick / TICKS_PER_HOUR) as usize;
        let mut batch = Vec::new();
        for service in 0..params.services {
            batch.extend(fleet.push(service, now, &mut rng));
        }
        for p in &batch {
            let type_id = p.profile_type.id();
            let key = format!("{}|{type_id}", p.service_name());
            totals.entry(key).or_insert_with(|| vec![0; hours])[hour] += p.total();
            profile_types.insert(type_id);
            samples += p.samples.len() as u64;
        }
        profiles += batch.len() as u64;
        let id = ulid::Ulid::from_parts((now / 1_000_000) as u64, u128::from(ids.next_u64()));
        let block = BlockEncoder::new(TENANT, 0).with_id(id).encode(&batch)?;
        block.upload(store.as_ref()).await?;
        metastore.register(block.meta).await?;
        if (tick + 1) % TICKS_PER_HOUR == 0 {
            clock.set(now + STEP);
            compact(&compactor).await?;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "  … generated {:.1} of {} hours in {:.0?}",
                (tick + 1) as f64 / TICKS_PER_HOUR as f64,
                params.hours,
                started.elapsed()
            );
        }
    }
    // 30 s after the last push: the current 10 min window stays level 0.
    clock.set(END_NS + 30 * SEC);
    compact(&compactor).await?;
    // Then delete the compacted sources now rather than after the grace,
    // so the directory holds what a settled server's would.
    let cleanup = Compactor::new(
        CompactorConfig {
            deletion_grace: Duration::ZERO,
            ..CompactorConfig::default()
        },
        store.clone(),
        metastore.clone(),
        clock.clone(),
    )?;
    compact(&cleanup).await?;
    Ok(Dataset {
        dir: dir.to_path_buf(),
        params,
        services: fleet.services().to_vec(),
        profile_types,
        profiles,
        samples,
        generated_seconds: started.elapsed().as_secs_f64(),
        totals,
    })
}

async fn compact(compactor: &Compactor) -> anyhow::Result<()> {
    let report = compactor.run_once().await?;
    anyhow::ensure!(
        report.errors.is_empty(),
        "compaction failed: {:?}",
        report.errors
    );
    Ok(())
}

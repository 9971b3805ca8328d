//! What a server stored, read from its data directory with the library APIs
//! (the query API comes later): the embedded metastore lists each tenant's
//! registered blocks, and the block reader gives each block's series, their
//! sample totals and their profile rows.
//!
//! Only registered blocks count: a block file the metastore does not list is
//! invisible to queries, so it is invisible here too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use kiln_block::{BlockReader, ProfileRecord};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_store::{StoreConfig, open_store};
use roaring::RoaringBitmap;

/// One series of one tenant, merged over every block that holds it.
#[derive(Debug, Clone)]
pub struct StoredSeries {
    pub tenant: String,
    /// Every label, including `__name__`, `__profile_type__`, `service_name`.
    pub labels: BTreeMap<String, String>,
    /// Sum of the series' sample values (from `samples.parquet`).
    pub total: i64,
    /// The series' rows of `profiles.parquet`, one per ingested profile.
    pub profiles: Vec<ProfileRecord>,
}

impl StoredSeries {
    /// A label's value, or `""` when absent.
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn profile_type(&self) -> &str {
        self.label("__profile_type__")
    }

    pub fn service(&self) -> &str {
        self.label("service_name")
    }
}

/// Every stored series of every tenant.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub series: Vec<StoredSeries>,
}

impl Stored {
    /// Opens the metastore and every registered block under `data_dir`.
    pub async fn read(data_dir: &Path) -> Stored {
        let store = open_store(&StoreConfig::Filesystem {
            root: data_dir.to_path_buf(),
        })
        .expect("opening the data dir");
        let metastore = EmbeddedMetastore::open(store.clone(), EmbeddedConfig::default())
            .await
            .expect("opening the metastore");
        let mut merged: BTreeMap<(String, Vec<(String, String)>), StoredSeries> = BTreeMap::new();
        for tenant in metastore.tenants().await.expect("listing tenants") {
            let metas = metastore
                .list_blocks(&tenant, i64::MIN, i64::MAX)
                .await
                .expect("listing blocks");
            for meta in metas {
                let reader =
                    BlockReader::from_meta(Arc::clone(&store), meta).expect("block reader");
                let index = reader.series().await.expect("reading series.parquet");
                for (id, entry) in index.iter() {
                    let one: RoaringBitmap = [id].into_iter().collect();
                    let total: i64 = reader
                        .aggregate_by_stack(&one, i64::MIN, i64::MAX)
                        .await
                        .expect("reading samples.parquet")
                        .values()
                        .sum();
                    let profiles = reader
                        .profiles(&one, i64::MIN, i64::MAX)
                        .await
                        .expect("reading profiles.parquet");
                    assert_eq!(
                        profiles.iter().map(|p| p.total).sum::<i64>(),
                        total,
                        "profiles.parquet totals disagree with samples.parquet for {:?}",
                        entry.labels
                    );
                    let labels: Vec<(String, String)> = entry
                        .labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect();
                    let series = merged
                        .entry((tenant.clone(), labels.clone()))
                        .or_insert_with(|| StoredSeries {
                            tenant: tenant.clone(),
                            labels: labels.into_iter().collect(),
                            total: 0,
                            profiles: Vec::new(),
                        });
                    series.total += total;
                    series.profiles.extend(profiles);
                }
            }
        }
        Stored {
            series: merged.into_values().collect(),
        }
    }

    /// Tenants with at least one series, sorted.
    pub fn tenants(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.series.iter().map(|s| s.tenant.as_str()).collect();
        set.into_iter().map(String::from).collect()
    }

    /// The series of `tenant` and `service_name`.
    pub fn of<'a>(
        &'a self,
        tenant: &'a str,
        service: &'a str,
    ) -> impl Iterator<Item = &'a StoredSeries> + 'a {
        self.series
            .iter()
            .filter(move |s| s.tenant == tenant && s.service() == service)
    }

    /// Sample totals by `__profile_type__` for one tenant and service.
    pub fn totals(&self, tenant: &str, service: &str) -> BTreeMap<String, i64> {
        let mut totals = BTreeMap::new();
        for s in self.of(tenant, service) {
            *totals.entry(s.profile_type().to_string()).or_default() += s.total;
        }
        totals
    }
}

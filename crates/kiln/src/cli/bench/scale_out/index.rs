//! The fleet's metastore: the dataset's block index (generated into the
//! embedded metastore by `kiln bench query`'s generator) copied into a
//! PostgreSQL database, since every role but `all` needs a metastore
//! shared between processes.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_meta_postgres::test_server::TestPostgres;
use kiln_meta_postgres::{PostgresConfig, PostgresMetastore};
use kiln_store::{StoreConfig, open_store};

/// `url`, or a new database on a throwaway PostgreSQL started on loopback
/// from Debian's server binaries (stopped when this process exits).
pub async fn database(url: Option<&str>) -> anyhow::Result<String> {
    if let Some(url) = url {
        return Ok(url.to_string());
    }
    eprintln!("starting a throwaway PostgreSQL (--postgres-url uses an existing one)");
    let server = tokio::task::spawn_blocking(TestPostgres::shared)
        .await
        .context("starting PostgreSQL")?;
    Ok(server.fresh_database().await)
}

/// Registers every block of `tenant` in the dataset at `data_dir` into the
/// PostgreSQL metastore at `url`; returns how many.
pub async fn copy_index(data_dir: &Path, tenant: &str, url: &str) -> anyhow::Result<usize> {
    let store = open_store(&StoreConfig::Filesystem {
        root: data_dir.to_path_buf(),
    })?;
    let embedded: Arc<dyn Metastore> = Arc::new(
        EmbeddedMetastore::open(store, EmbeddedConfig::default())
            .await
            .context("opening the dataset's metastore")?,
    );
    let postgres = PostgresMetastore::connect(&PostgresConfig::new(url))
        .await
        .context("connecting to PostgreSQL (--postgres-url)")?;
    let blocks = embedded.list_blocks(tenant, i64::MIN, i64::MAX).await?;
    for block in &blocks {
        postgres
            .register(block.clone())
            .await
            .with_context(|| format!("registering block {} in PostgreSQL", block.id))?;
    }
    Ok(blocks.len())
}

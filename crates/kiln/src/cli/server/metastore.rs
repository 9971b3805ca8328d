//! `[metastore]` → the block index: embedded in the object store, or
//! PostgreSQL (connected and migrated at start, so a wrong URL or an
//! unreachable database stops the server with a message naming the key).

use anyhow::Context;
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_meta_postgres::{PostgresConfig, PostgresMetastore};
use kiln_server::config::{MetastoreBackend, MetastoreConfig};
use object_store::ObjectStore;
use std::sync::Arc;

/// The metastore `[metastore]` describes; `store` holds the embedded one.
pub async fn open(
    config: &MetastoreConfig,
    store: Arc<dyn ObjectStore>,
) -> anyhow::Result<Arc<dyn Metastore>> {
    Ok(match config.backend {
        MetastoreBackend::Embedded => Arc::new(
            EmbeddedMetastore::open(store, EmbeddedConfig::default())
                .await
                .context("opening the embedded metastore")?,
        ),
        MetastoreBackend::Postgres => {
            let mut postgres = PostgresConfig::new(config.postgres_url.trim());
            postgres.max_connections = config.postgres_max_connections as usize;
            Arc::new(PostgresMetastore::connect(&postgres).await.context(
                "opening the PostgreSQL metastore (metastore.postgres_url): is the \
                 database running and reachable, and do the user and password work?",
            )?)
        }
    })
}

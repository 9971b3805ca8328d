//! The metastore conformance suite against PostgreSQL: one server per test
//! binary (`TestPostgres::shared`), a fresh database per test.

use kiln_meta::Metastore;
use kiln_meta_postgres::test_server::TestPostgres;
use kiln_meta_postgres::{PostgresConfig, PostgresMetastore};
use std::sync::Arc;

async fn metastore() -> Arc<dyn Metastore> {
    let server = tokio::task::spawn_blocking(TestPostgres::shared)
        .await
        .expect("starting PostgreSQL");
    let url = server.fresh_database().await;
    let m = PostgresMetastore::connect(&PostgresConfig::new(url))
        .await
        .expect("connect");
    Arc::new(m)
}

kiln_meta::metastore_conformance_tests!(metastore);

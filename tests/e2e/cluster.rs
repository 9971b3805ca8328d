//! What the multi-process tests (`roles`, `fleet`) share: a fresh
//! PostgreSQL database and a fresh prefix on moto's S3 (both servers started
//! once per test binary), `kiln server` processes configured for them the
//! way an operator would (`KILN_TARGET`, `KILN_METASTORE__*`,
//! `KILN_STORAGE__*`), and waiting for the compactor.

use std::time::{Duration, Instant};

use kiln_meta::Metastore;
use kiln_meta_postgres::test_server::TestPostgres;
use kiln_meta_postgres::{PostgresConfig, PostgresMetastore};
use kiln_store::emulators::{Emulator, EmulatorKind, unique_prefix};

use crate::server::{KilnServer, ServerBuilder, get};

/// One bucket prefix and one database for a test's processes.
pub struct Backing {
    pub postgres_url: String,
    /// `KILN_STORAGE__*` and credential variables for the S3 prefix.
    pub s3_env: Vec<(String, String)>,
}

impl Backing {
    /// A fresh database and a fresh S3 prefix named after `label`.
    pub async fn new(label: &str) -> Self {
        let postgres_url = tokio::task::spawn_blocking(TestPostgres::shared)
            .await
            .expect("starting PostgreSQL")
            .fresh_database()
            .await;
        let emulator = tokio::task::spawn_blocking(|| Emulator::shared(EmulatorKind::S3))
            .await
            .expect("starting moto");
        let s3_env = emulator.server_env(&unique_prefix(label));
        Self {
            postgres_url,
            s3_env,
        }
    }

    /// A server of `target` (`KILN_TARGET`) on this bucket and database.
    pub fn role(&self, target: &str) -> ServerBuilder {
        let mut builder = KilnServer::builder()
            .env("KILN_TARGET", target)
            .env("KILN_METASTORE__BACKEND", "postgres")
            .env("KILN_METASTORE__POSTGRES_URL", &self.postgres_url);
        for (name, value) in &self.s3_env {
            builder = builder.env(name, value);
        }
        builder
    }
}

/// Waits until a compactor has replaced tenant `anonymous`'s level-0
/// blocks with a level-1 block; panics with the levels seen after `within`.
pub async fn wait_for_level_1(postgres_url: &str, within: Duration) {
    let metastore = PostgresMetastore::connect(&PostgresConfig::new(postgres_url.to_string()))
        .await
        .expect("connecting to the metastore");
    let deadline = Instant::now() + within;
    loop {
        let blocks = metastore
            .list_blocks("anonymous", i64::MIN, i64::MAX)
            .await
            .expect("listing blocks");
        if blocks.iter().any(|b| b.level >= 1) {
            return;
        }
        let levels: Vec<u32> = blocks.iter().map(|b| b.level).collect();
        assert!(
            Instant::now() < deadline,
            "the compactor compacted nothing within {within:?}; block levels: {levels:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sum of every sample of counter `name` in `server`'s `/metrics`.
pub async fn counter(server: &KilnServer, name: &str) -> f64 {
    get(&server.url("/metrics"))
        .await
        .text()
        .lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

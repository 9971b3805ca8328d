//! `kiln server` with `metastore.backend = "postgres"`, against a real
//! PostgreSQL started on loopback by the test
//! (`kiln_meta_postgres::test_server`, one server per test binary, a fresh
//! database per test), configured the way an operator would:
//! `KILN_METASTORE__*` variables.
//!
//! * push, query, restart (`kill -9`), query again: the index is in the
//!   database, not in the object store;
//! * two server processes on one bucket (moto's S3) and one database each
//!   see the other's blocks;
//! * an unreachable database stops the server with a message naming
//!   `metastore.postgres_url`.

use kiln_meta::Metastore;
use kiln_meta_postgres::test_server::TestPostgres;
use kiln_meta_postgres::{PostgresConfig, PostgresMetastore};
use kiln_proto::querier::v1::{SelectMergeStacktracesRequest, SelectMergeStacktracesResponse};
use kiln_store::emulators::{Emulator, EmulatorKind, unique_prefix};

use crate::query::{CPU, TREE_A, TREE_B, minutes_ago, now_ms, push_cpu, rpc_proto};
use crate::server::*;

/// URL of a fresh database on this binary's PostgreSQL.
async fn fresh_database() -> String {
    let server = tokio::task::spawn_blocking(TestPostgres::shared)
        .await
        .expect("starting PostgreSQL");
    server.fresh_database().await
}

fn with_postgres(builder: ServerBuilder, url: &str) -> ServerBuilder {
    builder
        .env("KILN_METASTORE__BACKEND", "postgres")
        .env("KILN_METASTORE__POSTGRES_URL", url)
}

/// Flame-graph total of `service`'s CPU profiles over the last hours.
async fn total(server: &KilnServer, service: &str) -> i64 {
    let request = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: format!(r#"{{service_name="{service}"}}"#),
        start: now_ms() - 6 * 3_600_000,
        end: now_ms() + 3_600_000,
        max_nodes: Some(1_048_576),
        ..Default::default()
    };
    let response: SelectMergeStacktracesResponse =
        rpc_proto(server, "SelectMergeStacktraces", &request, None).await;
    response.flamegraph.map_or(0, |f| f.total)
}

#[tokio::test]
async fn push_query_restart_query_on_postgres() {
    let url = fresh_database().await;
    let mut server = with_postgres(KilnServer::builder(), &url).start().await;
    push_cpu(
        &server,
        None,
        &[("service_name", "checkout")],
        minutes_ago(5),
        TREE_A,
    )
    .await;
    assert_eq!(total(&server, "checkout").await, 52);

    server.restart().await;
    assert_eq!(
        total(&server, "checkout").await,
        52,
        "same answer after kill -9 and a restart"
    );

    // The index is in PostgreSQL; the object store holds only blocks.
    let metastore = PostgresMetastore::connect(&PostgresConfig::new(url))
        .await
        .expect("connect");
    assert_eq!(metastore.tenants().await.expect("tenants"), ["anonymous"]);
    let blocks = metastore
        .list_blocks("anonymous", i64::MIN, i64::MAX)
        .await
        .expect("list");
    assert!(!blocks.is_empty());
    for block in &blocks {
        let dir = server
            .data_dir()
            .join(format!("tenants/anonymous/blocks/{}", block.id));
        assert!(dir.join("meta.json").exists(), "{} on disk", dir.display());
    }
    assert!(
        !server.data_dir().join("metastore").exists(),
        "the embedded metastore was not used"
    );
}

/// What operators run: several processes, one bucket, one database.
#[tokio::test]
async fn two_servers_share_one_bucket_and_one_database() {
    let url = fresh_database().await;
    let emulator = tokio::task::spawn_blocking(|| Emulator::shared(EmulatorKind::S3))
        .await
        .expect("starting moto");
    let prefix = unique_prefix("pg-e2e");
    let builder = || {
        let mut builder = with_postgres(KilnServer::builder(), &url);
        for (name, value) in emulator.server_env(&prefix) {
            builder = builder.env(&name, &value);
        }
        builder
    };
    let a = builder().start().await;
    let b = builder().start().await;

    push_cpu(
        &a,
        None,
        &[("service_name", "from-a")],
        minutes_ago(5),
        TREE_A,
    )
    .await;
    push_cpu(
        &b,
        None,
        &[("service_name", "from-b")],
        minutes_ago(4),
        TREE_B,
    )
    .await;
    let tree_b_total = total(&b, "from-b").await;
    assert!(tree_b_total > 0);
    for (name, server) in [("a", &a), ("b", &b)] {
        assert_eq!(
            total(server, "from-a").await,
            52,
            "server {name} sees a's push"
        );
        assert_eq!(
            total(server, "from-b").await,
            tree_b_total,
            "server {name} sees b's push"
        );
    }
}

#[tokio::test]
async fn unreachable_database_stops_the_server_with_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = std::process::Command::new(crate::harness::kiln_bin());
    command
        .arg("server")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path());
    for (name, _) in std::env::vars() {
        if name.starts_with("KILN_") {
            command.env_remove(name);
        }
    }
    let output = command
        .env("KILN_METASTORE__BACKEND", "postgres")
        .env(
            "KILN_METASTORE__POSTGRES_URL",
            format!("postgres://kiln:hunter2@127.0.0.1:{port}/kiln"),
        )
        .env("NO_COLOR", "1")
        .output()
        .expect("running kiln");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("metastore.postgres_url"), "{stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}/kiln")),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

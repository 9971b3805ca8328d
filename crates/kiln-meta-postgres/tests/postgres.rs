//! What is particular to the PostgreSQL metastore: migrations, sharing one
//! database between instances, and failures of the database.

use kiln_meta::conformance::block;
use kiln_meta::{MetaError, Metastore};
use kiln_meta_postgres::test_server::TestPostgres;
use kiln_meta_postgres::{PostgresConfig, PostgresMetastore, SCHEMA_VERSION};
use std::time::Duration;

async fn server() -> &'static TestPostgres {
    tokio::task::spawn_blocking(TestPostgres::shared)
        .await
        .expect("starting PostgreSQL")
}

async fn connect(url: &str) -> PostgresMetastore {
    PostgresMetastore::connect(&PostgresConfig::new(url))
        .await
        .expect("connect")
}

/// Several processes starting at once on an empty database: the advisory
/// lock lets one migrate and the others find the schema current.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_migrate_once() {
    let url = server().await.fresh_database().await;
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { connect(&url).await })
        })
        .collect();
    let mut instances = Vec::new();
    for start in starts {
        instances.push(start.await.expect("task"));
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM kiln_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("query")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());

    // A block registered through one instance is seen by every other.
    let b = block("t", 0, 10);
    instances[0].register(b.clone()).await.expect("register");
    for other in &instances[1..] {
        assert_eq!(
            other.get_block("t", b.id).await.expect("get"),
            Some(b.clone())
        );
    }
    // And a lease taken through one excludes the others.
    let ttl = Duration::from_secs(600);
    assert!(
        instances[1]
            .try_lease("t", "job", "one", ttl)
            .await
            .expect("lease")
    );
    assert!(
        !instances[2]
            .try_lease("t", "job", "two", ttl)
            .await
            .expect("lease")
    );
}

/// A database migrated by a newer Kiln is refused, not guessed at.
#[tokio::test]
async fn newer_schema_is_refused() {
    let url = server().await.fresh_database().await;
    drop(connect(&url).await);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO kiln_schema_migrations (version, name) VALUES ($1, 'from the future')",
            &[&(SCHEMA_VERSION + 1)],
        )
        .await
        .expect("insert");
    let err = PostgresMetastore::connect(&PostgresConfig::new(url))
        .await
        .expect_err("newer schema");
    assert!(
        matches!(err, MetaError::UnsupportedSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
}

/// Nothing listening: a clear error naming the target, no panic, no hang.
#[tokio::test]
async fn unreachable_database_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut config = PostgresConfig::new(format!("postgres://kiln:secret@127.0.0.1:{port}/kiln"));
    config.connect_timeout = Duration::from_secs(5);
    let err = PostgresMetastore::connect(&config)
        .await
        .expect_err("nothing listens there");
    let message = err.to_string();
    assert!(matches!(err, MetaError::Database { .. }), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}/kiln")),
        "{message}"
    );
    assert!(!message.contains("secret"), "password leaked: {message}");

    let err = PostgresMetastore::connect(&PostgresConfig::new("postgres://[bad"))
        .await
        .expect_err("bad URL");
    assert!(matches!(err, MetaError::Database { .. }), "{err}");
    assert!(
        err.to_string().contains("parsing the PostgreSQL URL"),
        "{err}"
    );
}

/// The server kills every connection (as on a restart): the pool replaces
/// them and the metastore carries on, losing nothing committed.
#[tokio::test]
async fn dead_connections_are_replaced() {
    let server = server().await;
    let url = server.fresh_database().await;
    let dbname = url.rsplit('/').next().expect("db name").to_owned();
    let m = connect(&url).await;
    let b = block("t", 0, 10);
    m.register(b.clone()).await.expect("register");
    // Several pooled connections, so several die at once.
    let gets = (0..4).map(|_| m.get_block("t", b.id));
    for got in futures::future::join_all(gets).await {
        assert_eq!(got.expect("get"), Some(b.clone()));
    }

    server
        .execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
        ))
        .await;

    // Every pooled connection is dead now, whether or not its task has
    // noticed yet: checkout verifies each one, so no call fails.
    let gets = (0..4).map(|_| m.get_block("t", b.id));
    for got in futures::future::join_all(gets).await {
        assert_eq!(got.expect("get after termination"), Some(b.clone()));
    }
    let c = block("t", 20, 30);
    m.register(c.clone())
        .await
        .expect("register after reconnect");
    assert_eq!(m.list_blocks("t", 0, 100).await.expect("list"), vec![b, c]);
}

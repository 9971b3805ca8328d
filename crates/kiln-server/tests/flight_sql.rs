//! Flight SQL through the real port: `serve_with_sql` on 127.0.0.1:0 and
//! arrow-flight's Flight SQL client over h2c, so the mount beside the other
//! gRPC services, the tenancy from `x-scope-orgid` metadata and the status
//! mapping are checked as a client sees them. Data-level behaviour (results
//! equal the engine's, tenant isolation over real blocks) is tested in
//! kiln-sql's `flight` tests and `tests/suites/40-sql.sh`.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow_flight::FlightInfo;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use kiln_meta::InMemoryMetastore;
use kiln_server::KilnConfig;
use kiln_sql::SqlEngine;
use object_store::memory::InMemory;
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;

#[path = "server/fake_engine.rs"]
#[allow(dead_code)]
mod fake_engine;
#[path = "server/harness.rs"]
#[allow(dead_code)]
mod harness;

/// A multi-tenant server with SQL over empty storage; returns an h2c channel.
async fn start() -> Channel {
    let mut config = KilnConfig::default();
    config.auth.multitenancy_enabled = true;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sql = Arc::new(SqlEngine::new(
        Arc::new(InMemory::new()),
        Arc::new(InMemoryMetastore::new()),
    ));
    tokio::spawn(kiln_server::serve_with_sql(
        Arc::new(config),
        listener,
        Arc::new(harness::RecordingSink::default()),
        Arc::new(fake_engine::FakeEngine::default()),
        sql,
        std::future::pending(),
    ));
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn client(channel: &Channel, tenant: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let mut client = FlightSqlServiceClient::new(channel.clone());
    if let Some(t) = tenant {
        client.set_header("x-scope-orgid", t);
    }
    client
}

async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    c.do_get(ticket).await.unwrap().try_collect().await.unwrap()
}

fn code(e: FlightError) -> (Code, String) {
    match e {
        FlightError::Tonic(s) => (s.code(), s.message().to_string()),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("Int64 column")
        .value(0)
}

#[tokio::test]
async fn flight_sql_is_served_on_the_port() {
    let channel = start().await;
    let mut c = client(&channel, Some("team-a"));

    let info = c
        .execute("SELECT CAST(41 + 1 AS BIGINT) AS n".into(), None)
        .await
        .unwrap();
    assert_eq!(single_i64(&fetch(&mut c, info).await), 42);

    let mut prepared = c
        .prepare("SELECT COUNT(*) AS n FROM samples".into(), None)
        .await
        .unwrap();
    assert_eq!(prepared.dataset_schema().unwrap().field(0).name(), "n");
    let info = prepared.execute().await.unwrap();
    assert_eq!(single_i64(&fetch(&mut c, info).await), 0);
    prepared.close().await.unwrap();
}

#[tokio::test]
async fn flight_sql_errors_have_their_status() {
    let channel = start().await;
    let mut anonymous = client(&channel, None);
    let (status, message) = code(
        anonymous
            .execute("SELECT 1".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, Code::Unauthenticated, "{message}");
    assert!(message.contains("X-Scope-OrgID"), "{message}");

    let mut bad = client(&channel, Some("../etc"));
    let (status, message) = code(bad.execute("SELECT 1".into(), None).await.unwrap_err());
    assert_eq!(status, Code::InvalidArgument, "{message}");

    let mut c = client(&channel, Some("team-a"));
    let (status, message) = code(
        c.execute("DROP TABLE samples".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, Code::PermissionDenied, "{message}");
    let (status, message) = code(c.execute("SELECT nope".into(), None).await.unwrap_err());
    assert_eq!(status, Code::InvalidArgument, "{message}");
    assert!(message.contains("nope"), "{message}");
}

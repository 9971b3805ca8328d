//! Flight SQL through arrow-flight's own client over real gRPC (tonic
//! server on a loopback port): plain and prepared queries (with bound
//! `$n` parameters too) equal
//! `SqlEngine::query`, metadata lists the tenant's tables, refusals carry
//! the right status, and handles do not cross tenants.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetTables, SqlInfo};
use arrow_flight::{FlightInfo, Ticket};
use futures::TryStreamExt;
use kiln_sql::SqlLimits;
use kiln_sql::flight::{Tenancy, service};
use tonic::transport::{Channel, Server};
use tonic::{Code, Status};

use crate::data::*;

const TOTALS: &str = "SELECT service_name, SUM(value) AS total FROM profile_samples \
                      GROUP BY 1 ORDER BY 1";

/// Multi-tenant rules as the server applies them: the header is required.
fn tenancy() -> Tenancy {
    Arc::new(|headers| {
        let tenant = headers
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("X-Scope-OrgID is required"))?;
        Ok((tenant.to_string(), SqlLimits::default()))
    })
}

/// Serves Flight SQL over `env`'s engine on a free port; returns its channel.
async fn serve(env: &Env) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = service(Arc::new(env.engine.clone()), tenancy());
    tokio::spawn(
        Server::builder()
            .add_service(svc)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
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

async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket: Ticket = endpoint.ticket.expect("endpoint has a ticket");
        let stream = client.do_get(ticket).await.expect("do_get");
        batches.extend(stream.try_collect::<Vec<_>>().await.expect("stream"));
    }
    batches
}

fn result_rows(batches: Vec<RecordBatch>) -> Vec<Vec<String>> {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    rows(&kiln_sql::SqlResult { schema, batches })
}

fn status(e: FlightError) -> (Code, String) {
    match e {
        FlightError::Tonic(status) => (status.code(), status.message().to_string()),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_and_prepared_queries_match_the_engine() {
    let env = Env::new().await;
    let channel = serve(&env).await;
    let want = env.rows(TENANT, TOTALS).await;
    assert!(!want.is_empty());

    let mut c = client(&channel, Some(TENANT));
    let info = c.execute(TOTALS.to_string(), None).await.expect("execute");
    let schema = info.clone().try_decode_schema().expect("schema");
    assert_eq!(schema.field(0).name(), "service_name");
    assert_eq!(result_rows(fetch(&mut c, info).await), want);

    let mut prepared = c.prepare(TOTALS.to_string(), None).await.expect("prepare");
    assert_eq!(
        prepared.dataset_schema().unwrap().field(1).name(),
        "total",
        "prepare returns the result schema"
    );
    assert!(prepared.parameter_schema().unwrap().fields().is_empty());
    let info = prepared.execute().await.expect("execute prepared");
    assert_eq!(result_rows(fetch(&mut c, info).await), want);
    prepared.close().await.expect("close");
}

/// `$n` parameters: prepare reports them, `DoPut` binds a row (the client
/// then runs the handle the server returned), the answer equals the SQL
/// with the value inlined; a wrong type is refused naming the parameter.
#[tokio::test]
async fn prepared_statement_parameters_are_bound() {
    let env = Env::new().await;
    let channel = serve(&env).await;
    let sql = "SELECT service_name, SUM(value) AS total FROM profile_samples \
               WHERE service_name = $1 AND value >= $2 GROUP BY 1";
    let want = env
        .rows(TENANT, &sql.replace("$1", "'go-app'").replace("$2", "1"))
        .await;
    assert!(!want.is_empty());
    let mut c = client(&channel, Some(TENANT));
    let mut prepared = c.prepare(sql.to_string(), None).await.expect("prepare");
    let params = prepared.parameter_schema().unwrap().clone();
    let names: Vec<_> = params.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["$1", "$2"]);
    assert_eq!(
        params.field(1).data_type(),
        &arrow::datatypes::DataType::Int64
    );
    let bind = |service: &str, min: &str| {
        RecordBatch::try_from_iter([
            (
                "$1",
                Arc::new(arrow::array::StringArray::from(vec![service])) as _,
            ),
            (
                "$2",
                Arc::new(arrow::array::StringArray::from(vec![min])) as _,
            ),
        ])
        .unwrap()
    };
    // `$2` arrives as text and is cast to the Int64 its use implies.
    prepared.set_parameters(bind("go-app", "1")).unwrap();
    let info = prepared.execute().await.expect("execute with parameters");
    assert_eq!(result_rows(fetch(&mut c, info).await), want);
    prepared.set_parameters(bind("go-app", "many")).unwrap();
    let (code, message) = status(prepared.execute().await.unwrap_err());
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(message.contains("parameter $2"), "{message}");
}

#[tokio::test]
async fn tenants_are_isolated() {
    let env = Env::new().await;
    let channel = serve(&env).await;
    let services = "SELECT DISTINCT service_name FROM series ORDER BY 1";
    let mut other = client(&channel, Some(OTHER));
    let info = other.execute(services.to_string(), None).await.unwrap();
    assert_eq!(
        result_rows(fetch(&mut other, info).await),
        vec![vec!["secret-svc".to_string()]]
    );

    // acme's ticket and prepared handle, replayed by `other`, are refused.
    let mut acme = client(&channel, Some(TENANT));
    let info = acme.execute(services.to_string(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let (code, text) = status(other.do_get(ticket).await.expect_err("foreign ticket"));
    assert_eq!(code, Code::PermissionDenied, "{text}");
    assert!(text.contains("another tenant"), "{text}");
    let mut prepared = acme.prepare(services.to_string(), None).await.unwrap();
    let info = prepared.execute().await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let (code, text) = status(other.do_get(ticket).await.expect_err("foreign handle"));
    assert_eq!(code, Code::PermissionDenied, "{text}");

    // No tenant: unauthenticated.
    let mut anonymous = client(&channel, None);
    let (code, text) = status(anonymous.execute(services.into(), None).await.unwrap_err());
    assert_eq!(code, Code::Unauthenticated, "{text}");
}

#[tokio::test]
async fn refusals_carry_their_status() {
    let env = Env::new().await;
    let channel = serve(&env).await;
    let mut c = client(&channel, Some(TENANT));
    let cases = [
        ("SELECT nope FROM samples", Code::InvalidArgument, "nope"),
        (
            "CREATE TABLE t (x INT)",
            Code::PermissionDenied,
            "not allowed",
        ),
        (
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            Code::PermissionDenied,
            "not allowed",
        ),
        (
            "INSERT INTO series SELECT * FROM series",
            Code::PermissionDenied,
            "not allowed",
        ),
        (
            "SELECT * FROM '/etc/passwd'",
            Code::InvalidArgument,
            "passwd",
        ),
    ];
    for (sql, want, needle) in cases {
        let (code, text) = status(c.execute(sql.to_string(), None).await.unwrap_err());
        assert_eq!(code, want, "{sql}: {text}");
        assert!(text.contains(needle), "{sql}: {text}");
        let (code, text) = status(c.prepare(sql.to_string(), None).await.err().unwrap());
        assert_eq!(code, want, "prepare {sql}: {text}");
    }
    let (code, text) = status(
        c.execute_update("DELETE FROM samples".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, Code::PermissionDenied, "{text}");
    assert!(text.contains("read-only"), "{text}");

    // Over the row limit: resource_exhausted, at DoGet.
    let limited: Tenancy = Arc::new(|_| {
        Ok((
            TENANT.to_string(),
            SqlLimits {
                max_rows: 1,
                ..SqlLimits::default()
            },
        ))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(service(Arc::new(env.engine.clone()), limited))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = client(&channel, None);
    let info = c.execute(TOTALS.to_string(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let e = match c.do_get(ticket).await {
        Err(e) => e,
        Ok(stream) => stream.try_collect::<Vec<_>>().await.unwrap_err(),
    };
    let (code, text) = status(e);
    assert_eq!(code, Code::ResourceExhausted, "{text}");
    assert!(text.contains("more than 1 rows"), "{text}");
}

#[tokio::test]
async fn metadata_lists_the_tenants_tables() {
    let env = Env::new().await;
    let channel = serve(&env).await;
    let mut c = client(&channel, Some(TENANT));

    let info = c
        .get_tables(CommandGetTables {
            table_name_filter_pattern: Some("%samples".into()),
            include_schema: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let rows = result_rows(fetch(&mut c, info).await);
    let names: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(names, ["profile_samples", "samples"], "{rows:?}");
    assert_eq!(rows[0][3], "TABLE");

    let info = c.get_catalogs().await.unwrap();
    assert!(!fetch(&mut c, info).await.is_empty());
    let info = c.get_table_types().await.unwrap();
    let types = result_rows(fetch(&mut c, info).await);
    assert_eq!(types, [["TABLE"], ["VIEW"]]);

    let info = c
        .get_sql_info(vec![SqlInfo::FlightSqlServerName])
        .await
        .unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("Kiln"), "{text}");
}

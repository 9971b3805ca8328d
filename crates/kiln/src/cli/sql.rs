//! `kiln sql`: SQL against a running server's `POST /api/v1/sql`
//! (`docs/sql.md`).
//!
//! `kiln sql "SELECT …"` runs one query and exits non-zero on an error;
//! `kiln sql` alone is a shell ([`shell`]): line editing and history on a
//! terminal, plain lines from a pipe or script.

mod shell;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;

/// Output of `kiln sql`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table (the result travels as Arrow IPC).
    Table,
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The query. Without one, queries are read from stdin (an interactive shell).
    query: Option<String>,
    /// Base URL of the Kiln server.
    #[arg(long, env = "KILN_URL", default_value = "http://localhost:4040")]
    url: String,
    /// Tenant (`X-Scope-OrgID`), when the server has multi-tenancy on.
    #[arg(long, env = "KILN_TENANT")]
    tenant: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// The shell's history file (default `~/.kiln_sql_history`).
    #[arg(long, env = "KILN_SQL_HISTORY", value_name = "FILE")]
    history: Option<PathBuf>,
}

struct Session {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: String,
    tenant: Option<String>,
    format: OutputFormat,
}

impl Session {
    /// Runs `sql` and returns the printable result, or the server's error.
    async fn run(&self, sql: &str) -> anyhow::Result<String> {
        let accept = match self.format {
            OutputFormat::Table => "application/vnd.apache.arrow.stream",
            OutputFormat::Csv => "text/csv",
            OutputFormat::Json => "application/json",
        };
        let mut request = Request::post(&self.endpoint)
            .header("content-type", "text/plain; charset=utf-8")
            .header("accept", accept);
        if let Some(t) = &self.tenant {
            request = request.header("x-scope-orgid", t);
        }
        let request = request.body(Full::new(Bytes::from(sql.to_string())))?;
        let response = self
            .client
            .request(request)
            .await
            .with_context(|| format!("connecting to {}", self.endpoint))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{} {message}", status.as_u16());
        }
        match self.format {
            OutputFormat::Table => {
                let reader = arrow::ipc::reader::StreamReader::try_new(body.as_ref(), None)
                    .context("reading the Arrow result")?;
                let batches = reader.collect::<Result<Vec<_>, _>>()?;
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let table = arrow::util::pretty::pretty_format_batches(&batches)?;
                Ok(format!(
                    "{table}\n({rows} row{})",
                    if rows == 1 { "" } else { "s" }
                ))
            }
            OutputFormat::Csv | OutputFormat::Json => {
                Ok(String::from_utf8_lossy(&body).trim_end().to_string())
            }
        }
    }
}

pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let session = Session {
        client: Client::builder(TokioExecutor::new()).build_http(),
        endpoint: format!("{}/api/v1/sql", args.url.trim_end_matches('/')),
        tenant: args.tenant,
        format: args.format,
    };
    match &args.query {
        Some(sql) => {
            println!("{}", session.run(sql).await?);
            Ok(())
        }
        None => shell::run(&session, args.history.or_else(shell::default_history)).await,
    }
}

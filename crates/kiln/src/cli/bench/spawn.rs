//! `--spawn-server`: this same binary's `kiln server` on a temporary data
//! directory and a free loopback port, so one command is a reproducible
//! benchmark. The ingestion rate limit is switched off (it would otherwise
//! cap the run at Pyroscope's default 4 MiB/s); every other limit keeps its
//! default.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

pub(crate) struct SpawnedServer {
    pub url: String,
    pub pid: u32,
    child: Child,
    dir: tempfile::TempDir,
}

impl SpawnedServer {
    pub(crate) async fn start(flush_interval: Duration) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a temporary data dir")?;
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let exe = std::env::current_exe().context("locating the kiln binary")?;
        let mut command = Command::new(exe);
        command
            .arg("server")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (name, _) in std::env::vars() {
            if name.starts_with("KILN_") {
                command.env_remove(name);
            }
        }
        command
            .env(
                "KILN_INGESTER__FLUSH_INTERVAL",
                humantime::format_duration(flush_interval).to_string(),
            )
            .env("KILN_LIMITS__INGESTION_RATE_MB", "0")
            .env("RUST_LOG", "warn");
        let child = command.spawn().context("starting kiln server")?;
        let server = Self {
            url: format!("http://{addr}"),
            pid: child.id(),
            child,
            dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let uri: hyper::Uri = format!("{}/ready", self.url).parse()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(uri.clone()).await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        anyhow::bail!("kiln server did not become ready within 30 s:\n{log}")
    }

    /// Kills the server (its data dir is temporary anyway).
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! The real `kiln server` binary as a child process, on a free loopback port
//! with its own temporary `--data-dir`.
//!
//! A child process rather than an in-process router because these tests are
//! about what an operator runs: flag and `KILN_*` parsing, the flush loop,
//! fsync, and recovery after `kill -9` only exist in the binary. Each test
//! gets its own server (isolated data, limits and metrics), waits for
//! `GET /ready` instead of sleeping, and on a failing assertion the server's
//! stderr is printed so the cause is visible next to the panic.
//!
//! * [`client`]: HTTP/1.1, h2c, gRPC and gRPC-Web requests and replies.
//! * [`stored`]: what the server stored, read back with the library APIs
//!   (metastore + block reader) from the data directory.

mod client;
mod stored;

pub use client::*;
pub use stored::*;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::kiln_bin;

/// How long a server may take to answer `/ready` before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Flush often so that acknowledgements (which wait for a flush) are quick.
const TEST_FLUSH_INTERVAL: &str = "100ms";

/// Configures a server before starting it.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    env: Vec<(String, String)>,
}

impl ServerBuilder {
    /// Sets a `KILN_*` (or any) environment variable of the server process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// `auth.multitenancy_enabled = true`: `X-Scope-OrgID` is required.
    pub fn multitenant(self) -> Self {
        self.env("KILN_AUTH__MULTITENANCY_ENABLED", "true")
    }

    /// Disables the ingestion time window, for captured payloads whose
    /// timestamps are hours old.
    pub fn any_timestamp(self) -> Self {
        self.env("KILN_LIMITS__REJECT_OLDER_THAN", "0s")
            .env("KILN_LIMITS__REJECT_NEWER_THAN", "0s")
    }

    /// Starts the server on a fresh temporary data directory and waits
    /// until `/ready` answers 200.
    pub async fn start(self) -> KilnServer {
        self.start_until(Answer::Ready).await
    }

    /// Starts the server and waits only until it listens and `/ready`
    /// answers at all: for tests of a server that must report *not* ready.
    pub async fn start_listening(self) -> KilnServer {
        self.start_until(Answer::Any).await
    }

    async fn start_until(self, until: Answer) -> KilnServer {
        let dir = Arc::new(tempfile::tempdir().expect("creating a temp dir"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (child, addr) = spawn(&self.env, &dir.path().join("data"), &logs, until).await;
        KilnServer {
            addr,
            child: Some(child),
            logs,
            dir,
            env: self.env,
        }
    }
}

/// A running `kiln server`; killed (SIGKILL) when dropped.
pub struct KilnServer {
    pub addr: SocketAddr,
    child: Option<Child>,
    /// Everything the process wrote to stderr (its structured logs).
    logs: Arc<Mutex<Vec<u8>>>,
    /// Owns the data directory for as long as the server (and restarts) live.
    dir: Arc<tempfile::TempDir>,
    env: Vec<(String, String)>,
}

impl KilnServer {
    /// Defaults for tests: fast flushes, default limits, multi-tenancy off.
    pub fn builder() -> ServerBuilder {
        ServerBuilder { env: Vec::new() }.env("KILN_INGESTER__FLUSH_INTERVAL", TEST_FLUSH_INTERVAL)
    }

    /// A server with the defaults of [`KilnServer::builder`].
    pub async fn start() -> KilnServer {
        Self::builder().start().await
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// The `--data-dir` of this server (kept across restarts).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's stderr so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }

    /// `kill -9`: no graceful shutdown, no last flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same data
    /// directory and environment (on a new port).
    pub async fn restart(&mut self) {
        self.kill();
        // Earlier runs' logs stay: a recovery problem is explained by them.
        self.logs
            .lock()
            .unwrap()
            .extend_from_slice(b"\n---- restarted on the same data dir ----\n");
        let (child, addr) = spawn(&self.env, &self.data_dir(), &self.logs, Answer::Ready).await;
        self.child = Some(child);
        self.addr = addr;
    }

    /// Everything stored in the data directory, read with the library APIs.
    pub async fn stored(&self) -> Stored {
        Stored::read(&self.data_dir()).await
    }
}

impl Drop for KilnServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- kiln server {} stderr ----\n{}\n---- end of stderr ----",
                self.addr,
                self.logs()
            );
        }
    }
}

/// A port that was free a moment ago. Another process may take it before
/// the server binds; [`spawn`] retries with a new one when that happens.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
}

/// What `GET /ready` must answer before a started server is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 200: every dependency is reachable.
    Ready,
    /// Any status: the process listens (e.g. a 503 naming what is missing).
    Any,
}

/// Starts `kiln server`, appending its stderr to `logs`, and waits until
/// `GET /ready` answers as `until` asks.
async fn spawn(
    env: &[(String, String)],
    data_dir: &std::path::Path,
    logs: &Arc<Mutex<Vec<u8>>>,
    until: Answer,
) -> (Child, SocketAddr) {
    for _ in 0..5 {
        let addr = free_port();
        let mut command = Command::new(kiln_bin());
        command
            .arg("server")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Hermetic: the developer's own KILN_* settings must not leak in.
        for (name, _) in std::env::vars() {
            if name.starts_with("KILN_") {
                command.env_remove(name);
            }
        }
        command.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting the kiln binary");
        let start = logs.lock().unwrap().len();
        capture(child.stderr.take().expect("piped stderr"), logs.clone());
        match wait_ready(&mut child, addr, logs, start, until).await {
            Ok(()) => return (child, addr),
            Err(exit) => {
                // Let the reader thread catch the last words.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let text = String::from_utf8_lossy(&logs.lock().unwrap()[start..]).into_owned();
                if text.contains("Address already in use") {
                    continue; // lost the port race; try another
                }
                panic!("kiln server exited before it was ready ({exit}):\n{text}");
            }
        }
    }
    panic!("could not find a free port for kiln server after 5 attempts");
}

/// Appends the child's stderr to `sink` on a thread, so the pipe never fills up.
pub(crate) fn capture(mut stderr: std::process::ChildStderr, sink: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
}

/// Polls `/ready` until it answers as `until` asks; `Err` with the exit
/// status if the process died first. An answer counts only once this child
/// has logged that it listens on `addr` (its stderr from byte `from` of
/// `logs` names `addr=<addr>` after the bind): with tests running in
/// parallel, another test's server may have taken the port first and be
/// the one answering.
pub(crate) async fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    logs: &Arc<Mutex<Vec<u8>>>,
    from: usize,
    until: Answer,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let url = format!("http://{addr}/ready");
    let bound = format!("addr={addr}");
    loop {
        if let Some(status) = child.try_wait().expect("polling the child") {
            return Err(status.to_string());
        }
        let listening = String::from_utf8_lossy(&logs.lock().unwrap()[from..]).contains(&bound);
        if listening
            && let Some(reply) = try_get(&url).await
            && (reply.status == 200 || until == Answer::Any)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("not ready within {READY_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

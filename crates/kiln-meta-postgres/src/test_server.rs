//! A throwaway PostgreSQL on loopback, for tests (feature `test-server`):
//! Debian's server binaries (`/usr/lib/postgresql/<version>/bin`, installed
//! by `tests/deps/16-postgres.sh`) run on a fresh data directory.
//!
//! ```text
//!  TestPostgres::shared() ─► initdb + postgres on a free port, once per test binary
//!  server.fresh_database().await ─► URL of a new, empty database (one per test)
//! ```
//!
//! `initdb` refuses to run as root, so under root both it and the server
//! run as the `postgres` system user (created by Debian's package) via
//! `setpriv`. A missing PostgreSQL panics with how to install it: tests that
//! need it never skip. The server runs under a small shell wrapper that
//! stops it and deletes its directory when the test process's end of a
//! pipe closes, so it also goes away when the test binary exits or crashes
//! (statics are never dropped).

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates; authentication is `trust` on loopback.
pub const USER: &str = "kiln";

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What to tell someone without PostgreSQL.
const INSTALL_HINT: &str = "install PostgreSQL's server binaries: run scripts/install-test-deps \
     (tests/deps/16-postgres.sh does `apt-get install postgresql`), or set KILN_PG_BIN to a \
     directory holding initdb and postgres";

/// A running PostgreSQL server; stopped when dropped (or when the process
/// exits).
#[derive(Debug)]
pub struct TestPostgres {
    addr: SocketAddr,
    child: Mutex<Child>,
    /// Closing it makes the wrapper stop the server and delete its files.
    lifeline: Mutex<Option<ChildStdin>>,
    log: PathBuf,
}

impl TestPostgres {
    /// The server of this test binary, started on first use.
    pub fn shared() -> &'static TestPostgres {
        static SERVER: OnceLock<TestPostgres> = OnceLock::new();
        SERVER.get_or_init(TestPostgres::start)
    }

    /// Starts a new server. Panics with how to install PostgreSQL when its
    /// binaries are missing, or with the server's log when it fails.
    pub fn start() -> TestPostgres {
        let bin = bin_dir();
        let run_as = RunAs::detect();
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("kiln-pg-")
                .tempdir()
                .expect("creating a temp dir for PostgreSQL")
                .keep();
            run_as.give(&dir);
            let data = dir.join("data");
            init_cluster(&bin, &run_as, &data);
            let addr = free_port();
            let log = dir.join("postgres.log");
            let mut command = run_as.command(&bin.join("postgres"));
            command
                .arg("-D")
                .arg(&data)
                .args(["-p", &addr.port().to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", dir.display()))
                // Test data: speed over durability.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=400"]);
            let (child, lifeline) = spawn_with_lifeline(command, &dir, &log);
            let server = TestPostgres {
                addr,
                child: Mutex::new(child),
                lifeline: Mutex::new(Some(lifeline)),
                log,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                // Most likely the port was taken meanwhile: try another.
                Err(message) => last_log = format!("{message}\n{}", server.log_text()),
            }
        }
        panic!("PostgreSQL did not start:\n{last_log}");
    }

    /// Address the server listens on (loopback).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// URL of database `dbname` as the superuser.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgres://{USER}@{}:{}/{dbname}",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// Creates a new, empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "kiln_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.execute(&format!("CREATE DATABASE {name}")).await;
        self.url(&name)
    }

    /// Runs `sql` on the `postgres` database as the superuser; panics on
    /// failure. For tests that need to poke the server (terminate backends).
    pub async fn execute(&self, sql: &str) {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "connecting to the test PostgreSQL: {e}\n{}",
                        self.log_text()
                    )
                });
        let driver = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
    }

    /// What the server printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.log_text().contains("ready to accept connections") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.lock().expect("child lock").try_wait() {
                return Err(format!("PostgreSQL exited with {status}"));
            }
            if Instant::now() > deadline {
                return Err(format!("PostgreSQL not ready after {READY_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        drop(self.lifeline.lock().expect("lifeline lock").take());
        let _ = self.child.lock().expect("child lock").wait();
    }
}

/// Who runs PostgreSQL's programs: ourselves, or (when we are root) the
/// `postgres` system user.
#[derive(Debug)]
enum RunAs {
    Me,
    Postgres,
}

impl RunAs {
    fn detect() -> RunAs {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        if uid != "0" {
            return RunAs::Me;
        }
        let has_user = Command::new("id")
            .arg("postgres")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            has_user,
            "running as root, but there is no `postgres` system user to run PostgreSQL as \
             (initdb refuses root): {INSTALL_HINT}"
        );
        RunAs::Postgres
    }

    /// Makes `dir` writable by whoever runs the server.
    fn give(&self, dir: &Path) {
        if let RunAs::Postgres = self {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir)
                .status()
                .expect("running chown");
            assert!(status.success(), "chown postgres {}", dir.display());
        }
    }

    fn command(&self, program: &Path) -> Command {
        match self {
            RunAs::Me => Command::new(program),
            RunAs::Postgres => {
                // setpriv execs the program itself (no extra process), so
                // the wrapper's signal reaches the server.
                let mut command = Command::new("setpriv");
                command
                    .args([
                        "--reuid=postgres",
                        "--regid=postgres",
                        "--init-groups",
                        "--",
                    ])
                    .arg(program);
                command
            }
        }
    }
}

/// `$KILN_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin`
/// holding both `initdb` and `postgres`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KILN_PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").exists() && dir.join("postgres").exists(),
            "KILN_PG_BIN={} holds no initdb and postgres: {INSTALL_HINT}",
            dir.display()
        );
        return dir;
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    match candidates.pop() {
        Some((_, bin)) => bin,
        None => panic!("PostgreSQL not found under /usr/lib/postgresql/*/bin: {INSTALL_HINT}"),
    }
}

/// `initdb` with a `trust`-authenticated superuser [`USER`].
fn init_cluster(bin: &Path, run_as: &RunAs, data: &Path) {
    let output = run_as
        .command(&bin.join("initdb"))
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .unwrap_or_else(|e| panic!("running initdb: {e}: {INSTALL_HINT}"));
    assert!(
        output.status.success(),
        "initdb failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts `command` (output to `log`) under a shell that stops it with
/// SIGINT (PostgreSQL's fast shutdown) and deletes `scratch` once the
/// returned lifeline reaches end of file.
fn spawn_with_lifeline(command: Command, scratch: &Path, log: &Path) -> (Child, ChildStdin) {
    // Background jobs get /dev/null as stdin unless redirected: keep the
    // lifeline on fd 3 for the watcher.
    const WRAPPER: &str = r#"scratch=$1; log=$2; shift 2
exec 3<&0
"$@" >"$log" 2>&1 </dev/null 3<&- &
pid=$!
{
  read -r _ <&3
  kill -INT "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -rf "$scratch"
} &
exec 3<&-
wait "$pid""#;
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(WRAPPER)
        .arg("kiln-test-postgres")
        .arg(scratch)
        .arg(log)
        .arg(command.get_program())
        .args(command.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"));
    let mut lifeline = child.stdin.take().expect("piped stdin");
    // Nothing is ever written; flushing proves the pipe is open.
    lifeline.flush().expect("lifeline pipe");
    (child, lifeline)
}

/// A port that was free a moment ago.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
}

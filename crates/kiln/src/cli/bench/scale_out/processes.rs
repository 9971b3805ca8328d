//! The processes under test: this same binary as `kiln server
//! --target=<role>` on free loopback ports, optionally pinned to one core
//! each with `taskset`, killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long a process may take to answer `/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What every process of the benchmark shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The dataset's directory: every process's filesystem store.
    pub data_dir: PathBuf,
    pub postgres_url: String,
    /// Where each process's stderr goes (`<name>.log`).
    pub log_dir: PathBuf,
}

/// One running `kiln server`.
pub struct RoleProcess {
    pub name: String,
    pub url: String,
    pub pid: u32,
    /// The core it is pinned to, if any.
    pub core: Option<usize>,
    child: Child,
    log: PathBuf,
}

impl RoleProcess {
    /// Starts `kiln server --target=<target>` (with `env` on top of the
    /// shared settings) and waits until it is ready.
    pub async fn start(
        shared: &Shared,
        name: &str,
        target: &str,
        core: Option<usize>,
        env: &[(&str, String)],
    ) -> anyhow::Result<RoleProcess> {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?;
        let exe = std::env::current_exe().context("locating the kiln binary")?;
        let mut command = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let log = shared.log_dir.join(format!("{name}.log"));
        command
            .arg("server")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&shared.data_dir)
            .arg("--target")
            .arg(target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).context("creating a log file")?);
        for (name, _) in std::env::vars() {
            if name.starts_with("KILN_") {
                command.env_remove(name);
            }
        }
        command
            .env("KILN_METASTORE__BACKEND", "postgres")
            .env("KILN_METASTORE__POSTGRES_URL", &shared.postgres_url)
            // The dataset has tenant `bench`, sent as X-Scope-OrgID.
            .env("KILN_AUTH__MULTITENANCY_ENABLED", "true")
            // The dataset lies in 2027: no lookback or length limits.
            .env("KILN_LIMITS__MAX_QUERY_LOOKBACK", "0s")
            .env("KILN_LIMITS__MAX_QUERY_LENGTH", "0s")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().with_context(|| match core {
            Some(_) => "starting kiln server under taskset (is util-linux installed? --no-pin runs without)".to_string(),
            None => "starting kiln server".to_string(),
        })?;
        let mut process = RoleProcess {
            name: name.to_string(),
            url: format!("http://{addr}"),
            pid: child.id(),
            core,
            child,
            log,
        };
        process.wait_ready().await?;
        Ok(process)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let uri: hyper::Uri = format!("{}/ready", self.url).parse()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited before it was ready ({status}):\n{}",
                    self.name,
                    read_log(&self.log)
                );
            }
            if let Ok(response) = client.get(uri.clone()).await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "{} was not ready within {READY_TIMEOUT:?}:\n{}",
            self.name,
            read_log(&self.log)
        )
    }

    /// CPU seconds (user + system) the process has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.pid).unwrap_or(0.0)
    }

    /// The process's stderr so far (to explain a failed run).
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Linux reports CPU time in `USER_HZ` ticks, 100 on every mainstream
/// architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of `pid` (`/proc/<pid>/stat` fields 14, 15).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces: count after it.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// The cores this process may run on (its affinity mask), in order.
pub fn usable_cores() -> Vec<usize> {
    let output = Command::new("taskset")
        .arg("-cp")
        .arg(std::process::id().to_string())
        .output();
    let list = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => return (0..num_cpus()).collect(),
    };
    // "pid 123's current affinity list: 0-1,4"
    let list = list.rsplit(':').next().unwrap_or_default().trim();
    let mut cores = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    cores.extend(a..=b);
                }
            }
            None => cores.extend(part.parse::<usize>().ok()),
        }
    }
    if cores.is_empty() {
        (0..num_cpus()).collect()
    } else {
        cores
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

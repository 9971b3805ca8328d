//! Object-store emulators on loopback, for tests (feature `emulators`):
//! moto (S3), Azurite (Azure Blob) and gcp-storage-emulator (GCS), as
//! installed by `scripts/install-test-deps` (`tests/deps/15-objstore.sh`).
//!
//! ```text
//!  Emulator::shared(kind) ─► started once per test binary on a free port,
//!                            bucket/container "kilntest" created
//!  emulator.store_config(prefix) ─► StoreConfig for in-process tests (fresh prefix each)
//!  emulator.server_env(prefix)   ─► KILN_STORAGE__* + credential variables for `kiln server`
//!  TestStore::open(backend, label) ─► a fresh store on fs, memory or an emulator
//! ```
//!
//! A missing emulator binary panics with the command that installs it: the
//! object-store tests never skip. The emulator runs under a small shell
//! wrapper that kills it when the test process's end of a pipe closes, so
//! it also goes away when the test binary exits or crashes (statics are
//! never dropped).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use crate::{AzureConfig, GcsConfig, S3Config, StoreConfig, check_access, open_store};
use object_store::ObjectStore;
use std::sync::Arc;

/// The bucket (S3, GCS) or container (Azure) every emulator gets.
pub const BUCKET: &str = "kilntest";
/// Azurite's well-known development account and key (public, documented).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// A GCS service-account key that turns OAuth off (the emulator ignores
/// authentication).
pub const GCS_EMULATOR_KEY: &str =
    r#"{"disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}"#;

/// How long an emulator may take to answer HTTP after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Which emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmulatorKind {
    /// moto's server, speaking the S3 API (with `If-None-Match: *`).
    S3,
    /// Azurite's Blob service.
    Azure,
    /// gcp-storage-emulator. Serves only part of the XML API that
    /// object_store's GCS client speaks (as does fake-gcs-server, which
    /// is therefore not used); see docs/operations.md.
    Gcs,
}

impl EmulatorKind {
    pub fn name(self) -> &'static str {
        match self {
            EmulatorKind::S3 => "moto (S3)",
            EmulatorKind::Azure => "Azurite (Azure Blob)",
            EmulatorKind::Gcs => "gcp-storage-emulator (GCS)",
        }
    }
}

/// A running emulator; stopped when dropped (or when the process exits).
#[derive(Debug)]
pub struct Emulator {
    kind: EmulatorKind,
    addr: SocketAddr,
    child: Mutex<Child>,
    /// Closing it makes the wrapper kill the emulator.
    lifeline: Mutex<Option<ChildStdin>>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// The emulator of `kind` for this test binary, started on first use.
    pub fn shared(kind: EmulatorKind) -> &'static Emulator {
        static S3: OnceLock<Emulator> = OnceLock::new();
        static AZURE: OnceLock<Emulator> = OnceLock::new();
        static GCS: OnceLock<Emulator> = OnceLock::new();
        let cell = match kind {
            EmulatorKind::S3 => &S3,
            EmulatorKind::Azure => &AZURE,
            EmulatorKind::Gcs => &GCS,
        };
        cell.get_or_init(|| Emulator::start(kind))
    }

    /// Starts a new emulator of `kind` with its bucket created. Panics
    /// (with how to install it, or its log) when it cannot.
    pub fn start(kind: EmulatorKind) -> Emulator {
        let program = program(kind);
        assert!(
            program.exists(),
            "{} is missing ({}): run scripts/install-test-deps \
             (tests/deps/15-objstore.sh installs the object-store emulators)",
            program.display(),
            kind.name()
        );
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("creating a temp dir for the emulator");
            let addr = free_port();
            let log = dir.path().join("emulator.log");
            let (child, lifeline) = spawn(&program, &args(kind, addr, dir.path()), dir.path());
            let emulator = Emulator {
                kind,
                addr,
                child: Mutex::new(child),
                lifeline: Mutex::new(Some(lifeline)),
                log,
                _dir: dir,
            };
            match emulator.wait_ready() {
                Ok(()) => {
                    emulator.create_bucket();
                    return emulator;
                }
                // Most likely the port was taken meanwhile: try another.
                Err(message) => last_log = format!("{message}\n{}", emulator.log_text()),
            }
        }
        panic!("{} did not start:\n{last_log}", kind.name());
    }

    pub fn kind(&self) -> EmulatorKind {
        self.kind
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the emulator printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A store config for this emulator under `prefix` (use a fresh one per
    /// test: [`unique_prefix`]), with the emulator's credentials as options.
    pub fn store_config(&self, prefix: &str) -> StoreConfig {
        let prefix = Some(prefix.to_owned());
        match self.kind {
            EmulatorKind::S3 => StoreConfig::S3(S3Config {
                bucket: BUCKET.to_owned(),
                endpoint: Some(self.url()),
                region: Some("us-east-1".to_owned()),
                allow_http: true,
                path_style: true,
                prefix,
                options: vec![
                    ("aws_access_key_id".to_owned(), "test".to_owned()),
                    ("aws_secret_access_key".to_owned(), "test".to_owned()),
                ],
            }),
            EmulatorKind::Azure => StoreConfig::Azure(AzureConfig {
                container: BUCKET.to_owned(),
                account: Some(AZURITE_ACCOUNT.to_owned()),
                endpoint: Some(self.azure_endpoint()),
                allow_http: true,
                prefix,
                options: vec![(
                    "azure_storage_account_key".to_owned(),
                    AZURITE_KEY.to_owned(),
                )],
            }),
            EmulatorKind::Gcs => StoreConfig::Gcs(GcsConfig {
                bucket: BUCKET.to_owned(),
                endpoint: Some(self.url()),
                allow_http: true,
                prefix,
                options: vec![(
                    "google_service_account_key".to_owned(),
                    GCS_EMULATOR_KEY.to_owned(),
                )],
            }),
        }
    }

    /// Environment variables that point `kiln server` at this emulator under
    /// `prefix`: `KILN_STORAGE__*` settings plus the cloud's standard
    /// credential variables, exactly as an operator would set them.
    pub fn server_env(&self, prefix: &str) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self.kind {
            EmulatorKind::S3 => vec![
                ("KILN_STORAGE__BACKEND", "s3".into()),
                ("KILN_STORAGE__S3__BUCKET", BUCKET.into()),
                ("KILN_STORAGE__S3__ENDPOINT", self.url()),
                ("KILN_STORAGE__S3__REGION", "us-east-1".into()),
                ("KILN_STORAGE__S3__ALLOW_HTTP", "true".into()),
                ("KILN_STORAGE__S3__PATH_STYLE", "true".into()),
                ("KILN_STORAGE__S3__PREFIX", prefix.into()),
                ("AWS_ACCESS_KEY_ID", "test".into()),
                ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ],
            EmulatorKind::Azure => vec![
                ("KILN_STORAGE__BACKEND", "azure".into()),
                ("KILN_STORAGE__AZURE__CONTAINER", BUCKET.into()),
                ("KILN_STORAGE__AZURE__ENDPOINT", self.azure_endpoint()),
                ("KILN_STORAGE__AZURE__ALLOW_HTTP", "true".into()),
                ("KILN_STORAGE__AZURE__PREFIX", prefix.into()),
                ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT.into()),
                ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.into()),
            ],
            EmulatorKind::Gcs => vec![
                ("KILN_STORAGE__BACKEND", "gcs".into()),
                ("KILN_STORAGE__GCS__BUCKET", BUCKET.into()),
                ("KILN_STORAGE__GCS__ENDPOINT", self.url()),
                ("KILN_STORAGE__GCS__ALLOW_HTTP", "true".into()),
                ("KILN_STORAGE__GCS__PREFIX", prefix.into()),
                ("GOOGLE_SERVICE_ACCOUNT_KEY", GCS_EMULATOR_KEY.into()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// `GET path_and_query` on the emulator: the status and the body. For
    /// looking past the object-store client (e.g. the GCS emulator's JSON
    /// API, which holds what the XML API stored).
    pub fn http_get(&self, path_and_query: &str) -> std::io::Result<(u16, String)> {
        let (status, reply) = http_request(self.addr, "GET", path_and_query, &[])?;
        let body = reply
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Azurite serves accounts path-style: the account URL ends with it.
    fn azure_endpoint(&self) -> String {
        format!("{}/{AZURITE_ACCOUNT}", self.url())
    }

    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.lock().expect("child lock").try_wait() {
                return Err(format!("{} exited early ({status})", self.kind.name()));
            }
            if http_request(self.addr, "GET", "/", &[]).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer on {} within {READY_TIMEOUT:?}",
                    self.kind.name(),
                    self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn create_bucket(&self) {
        let reply = match self.kind {
            EmulatorKind::S3 => http_request(self.addr, "PUT", &format!("/{BUCKET}"), &[]),
            EmulatorKind::Azure => azurite_create_container(self.addr, BUCKET),
            // Created by `--default-bucket`.
            EmulatorKind::Gcs => return,
        };
        match reply {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((status, body)) => panic!(
                "{}: creating {BUCKET} answered {status}: {body}\n{}",
                self.kind.name(),
                self.log_text()
            ),
            Err(e) => panic!("{}: creating {BUCKET}: {e}", self.kind.name()),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.lifeline.lock().expect("lifeline lock").take());
        let mut child = self.child.lock().expect("child lock");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Which store a backend-conformance test runs on.
#[derive(Debug, Clone, Copy)]
pub enum TestBackend {
    Filesystem,
    Memory,
    Emulated(EmulatorKind),
}

/// A fresh, empty store opened and access-checked the way the server opens
/// it; keeps its temp dir (filesystem backend) alive as long as it lives.
pub struct TestStore {
    pub store: Arc<dyn ObjectStore>,
    pub config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A new store on `backend`: a temp dir, memory, or a fresh prefix
    /// (`unique_prefix(label)`) on the shared emulator.
    pub async fn open(backend: TestBackend, label: &str) -> TestStore {
        let (config, dir) = match backend {
            TestBackend::Filesystem => {
                let dir = tempfile::tempdir().expect("temp dir");
                let root = dir.path().join("data");
                (StoreConfig::Filesystem { root }, Some(dir))
            }
            TestBackend::Memory => (StoreConfig::Memory, None),
            TestBackend::Emulated(kind) => {
                let emulator = tokio::task::spawn_blocking(move || Emulator::shared(kind))
                    .await
                    .expect("starting the emulator");
                (emulator.store_config(&unique_prefix(label)), None)
            }
        };
        let store = open_store(&config).expect("open_store");
        check_access(&*store, &config).await.expect("check_access");
        TestStore {
            store,
            config,
            _dir: dir,
        }
    }

    /// The store, and the temp dir whose lifetime it needs (for callers
    /// that hand the store to something longer-lived).
    pub fn into_parts(self) -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
        (self.store, self._dir)
    }
}

/// A prefix no other test in any process uses: `<label>-<pid>-<nanos>-<n>`.
pub fn unique_prefix(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{nanos}-{n}", std::process::id())
}

/// The repository root (emulators are installed relative to it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn program(kind: EmulatorKind) -> PathBuf {
    let root = workspace_root();
    match kind {
        EmulatorKind::S3 => root.join(".venv/bin/moto_server"),
        EmulatorKind::Azure => root.join("tests/objstore/node_modules/.bin/azurite-blob"),
        EmulatorKind::Gcs => root.join(".venv/bin/gcp-storage-emulator"),
    }
}

fn args(kind: EmulatorKind, addr: SocketAddr, dir: &Path) -> Vec<String> {
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match kind {
        EmulatorKind::S3 => strings(&["-H", &host, "-p", &port]),
        EmulatorKind::Azure => {
            let location = dir.join("azurite");
            strings(&[
                "--blobHost",
                &host,
                "--blobPort",
                &port,
                "--location",
                &location.to_string_lossy(),
                "--skipApiVersionCheck",
                "--loose",
                // Azurite otherwise sends usage data to the internet.
                "--disableTelemetry",
            ])
        }
        EmulatorKind::Gcs => strings(&[
            "start",
            "--host",
            &host,
            "--port",
            &port,
            "--in-memory",
            "--default-bucket",
            BUCKET,
        ]),
    }
}

/// Runs `program` under `bash`, which kills it as soon as its stdin (the
/// returned lifeline) reaches end of file, then deletes `scratch` (the
/// emulator's temp dir: statics never drop theirs), and exits when it exits.
fn spawn(program: &Path, args: &[String], scratch: &Path) -> (Child, ChildStdin) {
    // Background jobs get /dev/null as stdin unless redirected: keep the
    // lifeline on fd 3 for the watcher.
    const WRAPPER: &str = r#"scratch=$1; shift
exec 3<&0
"$@" >"$scratch/emulator.log" 2>&1 </dev/null 3<&- &
pid=$!
{
  read -r _ <&3
  kill "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -rf "$scratch"
} &
exec 3<&-
wait "$pid""#;
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(WRAPPER)
        .arg("kiln-emulator")
        .arg(scratch)
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let lifeline = child.stdin.take().expect("piped stdin");
    (child, lifeline)
}

/// A port that was free a moment ago.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
}

/// One HTTP/1.1 request without a body; the status and the body as text.
fn http_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP reply: {reply:?}")))?;
    Ok((status, reply))
}

/// Azurite's Create Container, signed with the development account's
/// Shared Key (Azurite has no anonymous way to create one).
fn azurite_create_container(addr: SocketAddr, container: &str) -> std::io::Result<(u16, String)> {
    const VERSION: &str = "2021-08-06";
    let date = httpdate::fmt_http_date(SystemTime::now());
    let path = format!("/{AZURITE_ACCOUNT}/{container}");
    // VERB, then 11 standard headers (all empty; Content-Length 0 is
    // empty), then the x-ms-* headers and the canonical resource, which
    // for path-style accounts repeats the account name.
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{VERSION}\n/{AZURITE_ACCOUNT}{path}\nrestype:container"
    );
    let key = BASE64.decode(AZURITE_KEY).expect("Azurite's key is base64");
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        to_sign.as_bytes(),
    );
    let authorization = format!(
        "SharedKey {AZURITE_ACCOUNT}:{}",
        BASE64.encode(tag.as_ref())
    );
    http_request(
        addr,
        "PUT",
        &format!("{path}?restype=container"),
        &[
            ("x-ms-date", &date),
            ("x-ms-version", VERSION),
            ("Authorization", &authorization),
        ],
    )
}

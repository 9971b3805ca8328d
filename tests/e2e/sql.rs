//! `POST /api/v1/sql` and `kiln sql` against the real server: profiles
//! pushed through the write path, read back in SQL as JSON, CSV and Arrow
//! IPC, errors with their statuses, tenant isolation, and the CLI (one-shot
//! and the stdin shell).

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use crate::harness::kiln_bin;
use crate::query::{CPU, TREE_A, TREE_B, now_ms, push_cpu};
use crate::server::*;

const SQL: &str = "/api/v1/sql";
const TOTALS: &str = "SELECT service_name, SUM(value) AS total FROM profile_samples \
                      GROUP BY 1 ORDER BY 1";

fn sum(tree: &[(&[&str], i64)]) -> i64 {
    tree.iter().map(|(_, v)| v).sum()
}

async fn sql(server: &KilnServer, tenant: &str, accept: &str, body: &str) -> Reply {
    post(
        &server.url(SQL),
        &[
            ("x-scope-orgid", tenant),
            ("accept", accept),
            ("content-type", "text/plain"),
        ],
        full(body.to_string()),
    )
    .await
}

/// Two tenants: `a` has services `app` (tree A) and `web` (tree B); `b`
/// has `secret` (tree A).
async fn server_with_data(extra_env: &[(&str, &str)]) -> KilnServer {
    let mut builder = KilnServer::builder().multitenant();
    for (k, v) in extra_env {
        builder = builder.env(k, v);
    }
    let server = builder.start().await;
    let t = now_ms();
    push_cpu(
        &server,
        Some("a"),
        &[("service_name", "app"), ("env", "prod")],
        t,
        TREE_A,
    )
    .await;
    push_cpu(&server, Some("a"), &[("service_name", "web")], t, TREE_B).await;
    push_cpu(&server, Some("b"), &[("service_name", "secret")], t, TREE_A).await;
    server
}

#[tokio::test]
async fn sql_answers_in_json_csv_and_arrow() {
    let server = server_with_data(&[]).await;
    // JSON (the default), body as JSON too.
    let reply = post(
        &server.url(SQL),
        &[("x-scope-orgid", "a"), ("content-type", "application/json")],
        full(serde_json::json!({ "query": TOTALS }).to_string()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    let json = reply.json();
    assert_eq!(json["columns"][0]["name"], "service_name");
    assert_eq!(
        json["rows"],
        serde_json::json!([
            {"service_name": "app", "total": sum(TREE_A)},
            {"service_name": "web", "total": sum(TREE_B)},
        ])
    );

    // CSV.
    let reply = sql(&server, "a", "text/csv", TOTALS).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.text(),
        format!(
            "service_name,total\napp,{}\nweb,{}\n",
            sum(TREE_A),
            sum(TREE_B)
        )
    );

    // Arrow IPC stream, read with arrow's own reader; nested columns intact.
    let reply = sql(
        &server,
        "a",
        "application/vnd.apache.arrow.stream",
        &format!(
            "SELECT stack, labels['env'] AS env, value FROM profile_samples \
             WHERE service_name = 'app' AND profile_type = '{CPU}' ORDER BY value DESC"
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let reader =
        arrow::ipc::reader::StreamReader::try_new(reply.body.as_ref(), None).expect("arrow stream");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("[main, work, hash]"), "{text}");
    assert!(text.contains("| prod"), "{text}");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, TREE_A.len());

    // The flame graph aggregate over HTTP.
    let reply = sql(
        &server,
        "a",
        "application/json",
        "SELECT flamegraph(stack, value) AS fg FROM profile_samples WHERE service_name = 'app'",
    )
    .await;
    let fg: serde_json::Value =
        serde_json::from_str(reply.json()["rows"][0]["fg"].as_str().unwrap()).unwrap();
    assert_eq!(fg["total"], sum(TREE_A).to_string());
}

#[tokio::test]
async fn sql_errors_have_clear_statuses_and_tenants_stay_apart() {
    let server = server_with_data(&[("KILN_LIMITS__SQL_MAX_ROWS", "2")]).await;
    let json = "application/json";
    assert_error(
        &sql(&server, "a", json, "SELECT nope FROM samples").await,
        400,
        "invalid_argument",
        &["nope"],
    );
    assert_error(
        &sql(&server, "a", json, "CREATE TABLE t AS SELECT 1").await,
        403,
        "permission_denied",
        &["DDL"],
    );
    assert_error(
        &sql(
            &server,
            "a",
            json,
            "COPY (SELECT 1) TO '/tmp/kiln-sql-e2e.csv'",
        )
        .await,
        403,
        "permission_denied",
        &["COPY"],
    );
    assert_error(
        &sql(&server, "a", json, "SELECT * FROM samples").await,
        422,
        "resource_exhausted",
        &["more than 2 rows"],
    );
    let reply = post(&server.url(SQL), &[], full("SELECT 1")).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    // Tenant b sees only its own service, whatever it asks.
    let reply = sql(
        &server,
        "b",
        "text/csv",
        "SELECT DISTINCT service_name FROM series",
    )
    .await;
    assert_eq!(reply.text(), "service_name\nsecret\n");
    let reply = sql(
        &server,
        "b",
        "text/csv",
        "SELECT COUNT(*) AS n FROM profile_samples WHERE service_name IN ('app', 'web')",
    )
    .await;
    assert_eq!(reply.text(), "n\n0\n");
}

#[tokio::test]
async fn kiln_sql_cli_one_shot_and_shell() {
    let server = server_with_data(&[]).await;
    let url = server.url("");
    let output = tokio::process::Command::new(kiln_bin())
        .args(["sql", "--url", &url, "--tenant", "a", TOTALS])
        .output()
        .await
        .expect("running kiln sql");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("| app          |"), "{stdout}");
    assert!(stdout.contains(&format!("| {} ", sum(TREE_A))), "{stdout}");
    assert!(stdout.contains("(2 rows)"), "{stdout}");

    // CSV, and an error exits non-zero with the server's message.
    let output = tokio::process::Command::new(kiln_bin())
        .args([
            "sql", "--url", &url, "--tenant", "a", "--format", "csv", TOTALS,
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "service_name,total\napp,{}\nweb,{}\n",
            sum(TREE_A),
            sum(TREE_B)
        )
    );
    let output = tokio::process::Command::new(kiln_bin())
        .args(["sql", "--url", &url, "--tenant", "a", "DROP TABLE samples"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("403") && stderr.contains("DDL"), "{stderr}");

    // The shell: \d, a two-line statement, an error that does not end it, \q.
    let mut child = tokio::process::Command::new(kiln_bin())
        .args(["sql", "--url", &url, "--tenant", "a", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            b"\\d\nSELECT COUNT(*) AS n\n  FROM series;\nSELECT nope;\n\\d frames\n\\q\nSELECT 1;\n",
        )
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for table in [
        "profile_samples",
        "samples",
        "series",
        "stacks",
        "frames",
        "profiles",
    ] {
        assert!(stdout.contains(table), "{table} in {stdout}");
    }
    assert!(stdout.contains("n\n2"), "{stdout}");
    assert!(stdout.contains("function_name"), "{stdout}");
    assert!(stderr.contains("nope"), "{stderr}");
    assert!(
        !stdout.contains("Int64(1)"),
        "nothing runs after \\q: {stdout}"
    );
}

/// `kiln sql` on a real terminal (a pty): rustyline's line editing, table
/// output, `\d`, multi-line statements, errors, and history kept in the
/// history file across two shells.
#[tokio::test]
async fn kiln_sql_shell_on_a_terminal() {
    let server = server_with_data(&[]).await;
    let url = server.url("");
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let history_file = history.clone();
    tokio::task::spawn_blocking(move || {
        let args = ["sql", "--url", &url, "--tenant", "a"];
        let mut term = terminal::Terminal::spawn(&kiln_bin(), &args, &history);
        term.expect("kiln> ");
        term.type_line("\\d");
        term.expect("(6 rows)");
        for table in ["profile_samples", "samples", "series", "stacks", "frames"] {
            assert!(term.screen().contains(&format!("| {table}")), "{table}");
        }
        term.expect("kiln> ");
        term.type_line("\\d frames");
        term.expect("function_name");
        term.expect("kiln> ");
        term.type_line("SELECT nope;");
        term.expect("error: 400");
        term.expect("kiln> ");
        // Line editing: the cursor goes 12 places left (before `2`), `4` is
        // inserted there. Without an editor the escapes would reach the SQL.
        term.type_line(&format!("SELECT 2 AS answer;{}4", "\x1b[D".repeat(12)));
        term.expect("| 42     |");
        term.expect("kiln> ");
        term.type_line("SELECT service_name, SUM(value) AS total");
        term.expect("  ... ");
        term.type_line("FROM profile_samples GROUP BY 1 ORDER BY 1;");
        term.expect("(2 rows)");
        assert!(
            term.screen().contains("| app          |"),
            "{}",
            term.screen()
        );
        term.expect("kiln> ");
        term.send("\x04"); // Ctrl-D
        assert!(term.wait().success(), "{}", term.screen());

        // A second shell has the first one's history: ↑ recalls the last
        // statement (both of its lines as one entry), Enter runs it.
        let mut term = terminal::Terminal::spawn(&kiln_bin(), &args, &history);
        term.expect("kiln> ");
        term.send("\x1b[A\r");
        term.expect("(2 rows)");
        term.expect("kiln> ");
        term.type_line("\\q");
        assert!(term.wait().success(), "{}", term.screen());
    })
    .await
    .unwrap();
    let saved = std::fs::read_to_string(&history_file).unwrap();
    // rustyline's file format escapes backslashes.
    for entry in [
        r"\\d",
        r"\\d frames",
        "SELECT nope;",
        "SELECT 42 AS answer;",
        "SELECT service_name, SUM(value) AS total FROM profile_samples GROUP BY 1 ORDER BY 1;",
    ] {
        assert!(saved.lines().any(|l| l == entry), "{entry:?} in {saved}");
    }
}

/// A child process on a pseudo-terminal, typed into and read like a screen.
mod terminal {
    use std::io::{Read, Write};
    use std::path::Path;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    pub struct Terminal {
        input: std::fs::File,
        screen: Arc<Mutex<String>>,
        /// How much of the screen `expect` has consumed.
        seen: usize,
        child: Child,
    }

    impl Terminal {
        pub fn spawn(bin: &Path, args: &[&str], history: &Path) -> Self {
            let size = nix::pty::Winsize {
                ws_row: 50,
                ws_col: 200,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let pty =
                nix::pty::openpty(&size, None::<&nix::sys::termios::Termios>).expect("openpty");
            let child = Command::new(bin)
                .args(args)
                .env("TERM", "xterm")
                .env("KILN_SQL_HISTORY", history)
                .stdin(Stdio::from(pty.slave.try_clone().unwrap()))
                .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
                .stderr(Stdio::from(pty.slave))
                .spawn()
                .expect("starting kiln sql");
            let input = std::fs::File::from(pty.master);
            let mut output = input.try_clone().unwrap();
            let screen = Arc::new(Mutex::new(String::new()));
            let sink = screen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Ends with EIO once the child has closed the terminal.
                while let Ok(n @ 1..) = output.read(&mut buf) {
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
            Self {
                input,
                screen,
                seen: 0,
                child,
            }
        }

        pub fn screen(&self) -> String {
            self.screen.lock().unwrap().clone()
        }

        /// Waits until `text` appears after what was expected before.
        pub fn expect(&mut self, text: &str) {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let screen = self.screen();
                if let Some(at) = screen[self.seen..].find(text) {
                    self.seen += at + text.len();
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{text:?} did not appear; screen:\n{screen}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        pub fn send(&mut self, keys: &str) {
            self.input.write_all(keys.as_bytes()).unwrap();
        }

        /// Types `line` and Enter (a terminal sends CR).
        pub fn type_line(&mut self, line: &str) {
            self.send(line);
            self.send("\r");
        }

        pub fn wait(&mut self) -> ExitStatus {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status;
                }
                assert!(Instant::now() < deadline, "kiln sql did not exit");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    impl Drop for Terminal {
        fn drop(&mut self) {
            let _ = self.child.kill();
        }
    }
}

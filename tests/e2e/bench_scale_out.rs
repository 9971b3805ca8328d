//! `kiln bench scale-out` on a tiny dataset, so the command cannot rot: it
//! starts a throwaway PostgreSQL, a frontend alone, then a frontend with 1
//! and 2 queriers (pinned with taskset), and every answer it times was
//! checked against the generated data (a wrong total exits non-zero).

use crate::harness::{kiln_bin, shared_dir};
use std::process::Command;

#[test]
fn bench_scale_out_reports_every_layout_with_checked_answers() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(kiln_bin())
        .args(["bench", "scale-out", "--services", "2", "--hours", "1"])
        .args(["--queriers", "1,2", "--clients", "2"])
        .args(["--duration", "1s", "--warmup", "200ms", "--json"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--payloads")
        .arg(shared_dir().join("testdata/agents"))
        .output()
        .expect("running kiln bench scale-out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kiln bench scale-out failed:\n{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)));

    assert!(
        report["dataset"]["blocks"].as_u64().unwrap() > 0,
        "{report}"
    );
    let rows = report["rows"].as_array().expect("rows");
    let layouts: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["queriers"].as_u64().unwrap(),
                r["query"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        layouts,
        [
            (0, "1 h flame graph, 1 service"),
            (0, "1 h flame graph, all 2 services"),
            (1, "1 h flame graph, 1 service"),
            (1, "1 h flame graph, all 2 services"),
            (2, "1 h flame graph, 1 service"),
            (2, "1 h flame graph, all 2 services"),
        ]
    );
    for row in rows {
        assert!(row["completed"].as_u64().unwrap() > 0, "{row}");
        let processes = row["cpu_seconds"].as_array().unwrap().len() as u64;
        assert_eq!(processes, 1 + row["queriers"].as_u64().unwrap(), "{row}");
        match row["queriers"].as_u64().unwrap() {
            0 => assert!(row["efficiency"].is_null(), "{row}"),
            1 => assert_eq!(row["efficiency"].as_f64(), Some(1.0), "{row}"),
            _ => assert!(row["efficiency"].as_f64().unwrap() > 0.0, "{row}"),
        }
    }
}

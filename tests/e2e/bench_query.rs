//! `kiln bench query` on a tiny dataset, so the command cannot rot: every
//! query is reported, and every answer was checked by the command against
//! what it generated (a wrong flame-graph total, series sum, profile type
//! list or service list makes it exit non-zero). A second run reuses the
//! cached dataset.

use crate::harness::{kiln_bin, shared_dir};
use std::process::Command;

fn bench(data_dir: &std::path::Path) -> (serde_json::Value, String) {
    let out = Command::new(kiln_bin())
        .args(["bench", "query", "--services", "2", "--hours", "1"])
        .args(["--cold-runs", "1", "--runs", "2", "--json"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--payloads")
        .arg(shared_dir().join("testdata/agents"))
        .output()
        .expect("running kiln bench query");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "kiln bench query failed:\n{stderr}");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bench output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (report, stderr)
}

#[test]
fn bench_query_reports_every_query_with_checked_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (report, _) = bench(&data_dir);

    let queries = report["queries"].as_array().expect("queries");
    let names: Vec<(&str, u64)> = queries
        .iter()
        .map(|q| {
            (
                q["query"].as_str().unwrap(),
                q["range_hours"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("flame graph (1 service, CPU)", 1),
            ("flame graph (1 service, CPU)", 24),
            ("flame graph (1 service, CPU)", 168),
            ("SelectSeries (1 service, step 60s)", 24),
            ("SelectSeries (all, by service_name)", 24),
            ("ProfileTypes", 168),
            ("LabelValues(service_name)", 168),
        ]
    );
    for q in queries {
        assert_eq!(q["cold_ms"].as_array().unwrap().len(), 1, "{q}");
        assert_eq!(q["warm_runs"], 2, "{q}");
        assert!(q["warm_p50_ms"].as_f64().unwrap() > 0.0, "{q}");
    }
    // The answers the command verified: one hour of data is inside every
    // range, so the three flame graphs agree; both services are listed.
    let answer = |i: usize| queries[i]["answer"].as_str().unwrap().to_string();
    assert!(answer(0).starts_with("total "), "{}", answer(0));
    assert_ne!(answer(0), "total 0 (1 names)");
    assert_eq!(answer(0), answer(1));
    assert_eq!(answer(1), answer(2));
    assert!(answer(3).starts_with("1 series, "), "{}", answer(3));
    assert!(answer(4).starts_with("2 series"), "{}", answer(4));
    assert_eq!(answer(6), "2 values");
    // Compacted: the hour is in 10-minute blocks plus the last minutes at level 0.
    let levels: Vec<u64> = report["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_u64().unwrap())
        .collect();
    assert!(levels.contains(&1) && levels.contains(&0), "{levels:?}");

    // The second run reuses the dataset instead of generating it again.
    let (_, stderr) = bench(&data_dir);
    assert!(stderr.contains("reusing the dataset"), "{stderr}");
}

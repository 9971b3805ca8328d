//! The tables and functions against brute force over the payloads, and
//! tenant isolation.

use crate::data::*;
use std::collections::BTreeMap;

#[tokio::test]
async fn profile_samples_equals_the_ingested_samples() {
    let env = Env::new().await;
    // Per (service, profile type): row count and value sum.
    let mut want: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for p in env.data.acme() {
        let e = want
            .entry((p.service_name().to_string(), p.profile_type.id()))
            .or_default();
        e.0 += p.samples.len() as i64;
        e.1 += p.total();
    }
    let rows = env
        .rows(
            TENANT,
            "SELECT service_name, profile_type, COUNT(*), SUM(value) FROM profile_samples \
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await;
    let got: BTreeMap<(String, String), (i64, i64)> = rows
        .into_iter()
        .map(|r| {
            (
                (r[0].clone(), r[1].clone()),
                (r[2].parse().unwrap(), r[3].parse().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        got.keys().any(|(s, _)| s == "probe.app"),
        "python service present: {got:?}"
    );
}

#[tokio::test]
async fn stacks_resolve_root_first_and_leaf_matches_brute_force() {
    let env = Env::new().await;
    let want = leaf_totals(env.data.go_cpu.iter(), CPU);
    let rows = env
        .rows(
            TENANT,
            &format!(
                "SELECT leaf(stack), SUM(value) FROM profile_samples \
                 WHERE service_name = 'go-app' AND profile_type = '{CPU}' GROUP BY 1"
            ),
        )
        .await;
    let got: BTreeMap<String, i64> = rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap()))
        .collect();
    assert_eq!(got, want);
    // Root first: every Go CPU stack of the main goroutine starts at runtime.main.
    let roots = env
        .rows(
            TENANT,
            &format!(
                "SELECT DISTINCT frame(stack, 0), frame(stack, -1) = leaf(stack) FROM profile_samples \
                 WHERE service_name = 'go-app' AND profile_type = '{CPU}' \
                 AND stack_contains(stack, '^main\\.burnCPU$')"
            ),
        )
        .await;
    assert_eq!(
        roots,
        vec![vec!["runtime.main".to_string(), "true".to_string()]]
    );
}

#[tokio::test]
async fn raw_tables_join_to_the_same_totals() {
    let env = Env::new().await;
    let direct = env
        .rows(TENANT, "SELECT SUM(value) FROM profile_samples")
        .await;
    let joined = env
        .rows(
            TENANT,
            "SELECT SUM(s.value) FROM samples s JOIN series r \
             ON s.block = r.block AND s.series_id = r.series_id",
        )
        .await;
    assert_eq!(direct, joined);
    let want: i64 = env.data.acme().map(|p| p.total()).sum();
    assert_eq!(direct[0][0], want.to_string());
    // profiles.total sums the samples of each profile.
    let totals = env.rows(TENANT, "SELECT SUM(total) FROM profiles").await;
    assert_eq!(totals[0][0], want.to_string());
    // stacks ⋈ frames: every stack node's frame exists.
    let orphans = env
        .rows(
            TENANT,
            "SELECT COUNT(*) FROM stacks s LEFT JOIN frames f \
             ON s.block = f.block AND s.frame_id = f.frame_id WHERE f.function_name IS NULL",
        )
        .await;
    assert_eq!(orphans, vec![vec!["0".to_string()]]);
}

#[tokio::test]
async fn time_filters_select_the_window() {
    let env = Env::new().await;
    let heap_a = env.data.go_heap[0].time_nanos;
    let rows = env
        .rows(
            TENANT,
            &format!(
                "SELECT COUNT(DISTINCT time) FROM profile_samples WHERE profile_type = '{INUSE}' \
                 AND time > to_timestamp_nanos({heap_a})"
            ),
        )
        .await;
    assert_eq!(rows, vec![vec!["2".to_string()]]);
    let rows = env
        .rows(
            TENANT,
            &format!(
                "SELECT COUNT(DISTINCT time) FROM profile_samples WHERE profile_type = '{INUSE}' \
                 AND time BETWEEN to_timestamp_nanos({heap_a}) AND to_timestamp_nanos({})",
                heap_a + 1
            ),
        )
        .await;
    assert_eq!(rows, vec![vec!["1".to_string()]]);
}

#[tokio::test]
async fn flamegraph_aggregate_matches_the_tree() {
    let env = Env::new().await;
    let rows = env
        .rows(
            TENANT,
            &format!(
                "SELECT flamegraph(stack, value) FROM profile_samples \
                 WHERE service_name = 'go-app' AND profile_type = '{CPU}'"
            ),
        )
        .await;
    let json: serde_json::Value = serde_json::from_str(&rows[0][0]).unwrap();
    let total: i64 = env
        .data
        .go_cpu
        .iter()
        .filter(|p| p.profile_type.id() == CPU)
        .map(|p| p.total())
        .sum();
    assert_eq!(json["total"].as_str().unwrap(), total.to_string());
    assert_eq!(json["names"][0], "total");
    let names: Vec<&str> = json["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(names.contains(&"crypto/sha256.block"), "{names:?}");
    // Same tree as inserting every stack into a kiln_model Tree.
    let mut tree = kiln_model::tree::Tree::new();
    for p in env
        .data
        .go_cpu
        .iter()
        .filter(|p| p.profile_type.id() == CPU)
    {
        for s in &p.samples {
            tree.insert_stack(names_of(p, &s.stack), s.value);
        }
    }
    let want = serde_json::to_value(kiln_model::flamegraph::flamegraph(&tree, 8192)).unwrap();
    assert_eq!(json, want);
}

fn names_of(p: &kiln_model::NormalizedProfile, stack: &[u32]) -> Vec<String> {
    names(p, stack)
}

#[tokio::test]
async fn names_reduce_per_language_on_real_frames() {
    let env = Env::new().await;
    let rows = env
        .rows(
            TENANT,
            "SELECT DISTINCT module(function_name, file) AS m FROM frames \
             WHERE module(function_name, file) IS NOT NULL ORDER BY m",
        )
        .await;
    let modules: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    for want in [
        "crypto",
        "runtime",
        "main",
        "rustlegacy",
        "std",
        "agent_a",
        "node:internal",
        "@pyroscope/nodejs",
    ] {
        assert!(modules.contains(&want), "{want} missing from {modules:?}");
    }
    let rows = env
        .rows(
            TENANT,
            "SELECT DISTINCT go_package(function_name) AS p FROM frames WHERE go_package(function_name) IS NOT NULL ORDER BY p",
        )
        .await;
    let packages: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert!(packages.contains(&"crypto/sha256"), "{packages:?}");
    assert!(
        !packages
            .iter()
            .any(|p| p.contains("::") || p.starts_with('(')),
        "{packages:?}"
    );
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_data() {
    let env = Env::new().await;
    for sql in [
        "SELECT COUNT(*) FROM profile_samples WHERE service_name = 'secret-svc'",
        "SELECT COUNT(*) FROM series WHERE service_name = 'secret-svc'",
        "SELECT COUNT(*) FROM samples s JOIN series r ON s.block = r.block AND s.series_id = r.series_id \
         WHERE r.service_name = 'secret-svc'",
    ] {
        assert_eq!(
            env.rows(TENANT, sql).await,
            vec![vec!["0".to_string()]],
            "{sql}"
        );
    }
    // The other tenant sees only its own.
    let rows = env
        .rows(OTHER, "SELECT DISTINCT service_name FROM series")
        .await;
    assert_eq!(rows, vec![vec!["secret-svc".to_string()]]);
    let acme_blocks = env
        .rows(TENANT, "SELECT COUNT(DISTINCT block) FROM series")
        .await;
    assert_eq!(acme_blocks, vec![vec!["5".to_string()]]);
    // Catalogs hold this session's tables only; there is no tenant name to switch to.
    let tables = env
        .rows(
            OTHER,
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name",
        )
        .await;
    let names: Vec<&str> = tables.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        names,
        vec![
            "frames",
            "profile_samples",
            "profiles",
            "samples",
            "series",
            "stacks"
        ]
    );
    let err = env
        .engine
        .query(
            OTHER,
            "SELECT * FROM acme.public.samples",
            &kiln_sql::SqlLimits::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kiln_sql::SqlError::InvalidSql(_)), "{err}");
}

/// Sums over time are answered from per-(series, stack) sums taken in the
/// scan (the `pre_aggregate` rule); the answers equal the per-sample plan's
/// (forced here by a `COUNT(*)`, which partial sums cannot answer).
#[tokio::test]
async fn pre_aggregated_sums_equal_per_sample_sums() {
    let env = Env::new().await;
    let heap_a = env.data.go_heap[0].time_nanos;
    let windows = [
        String::new(),
        format!("AND time > to_timestamp_nanos({heap_a})"),
        format!(
            "AND time BETWEEN to_timestamp_nanos({heap_a}) AND to_timestamp_nanos({})",
            heap_a + 1
        ),
        // Filters the scan cannot apply, on columns constant per series:
        // kept in a Filter above the summed scan.
        "AND profile_type LIKE 'memory:%'".to_string(),
        format!(
            "AND time > to_timestamp_nanos({heap_a}) AND labels['service_name'] <> 'nope' \
             AND profile_type NOT LIKE '%cpu%'"
        ),
    ];
    let groups = [
        ("leaf(stack)", 1),
        ("service_name, profile_type", 2),
        ("labels['service_name'], frame(stack, 0)", 2),
    ];
    for window in &windows {
        for (group, n) in groups {
            let keys = (1..=n)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let summed = format!(
                "SELECT {group}, SUM(value) FROM profile_samples WHERE 1 = 1 {window} \
                 GROUP BY {keys} ORDER BY {keys}"
            );
            let per_sample = format!(
                "SELECT {group}, SUM(value), COUNT(*) FROM profile_samples WHERE 1 = 1 {window} \
                 GROUP BY {keys} ORDER BY {keys}"
            );
            let got = env.rows(TENANT, &summed).await;
            let mut want = env.rows(TENANT, &per_sample).await;
            want.iter_mut().for_each(|r| {
                r.pop();
            });
            assert!(!got.is_empty(), "{summed}");
            assert_eq!(got, want, "{summed}");
        }
    }
    // The rule fires on the benchmark's shape: no Filter left above the
    // scan, which reads only what the aggregate needs and applies the
    // filters itself.
    let explain = env
        .rows(
            TENANT,
            &format!(
                "EXPLAIN SELECT leaf(stack), SUM(value) FROM profile_samples \
                 WHERE service_name = 'go-app' AND profile_type = '{CPU}' \
                 AND time >= to_timestamp_nanos(0) GROUP BY 1"
            ),
        )
        .await;
    let logical = &explain[0][1];
    assert!(
        logical.contains("projection=[stack, value], full_filters=[")
            && !logical.contains("Filter:"),
        "{logical}"
    );
    // With a `LIKE` on the profile type (the issue's own query) the rule
    // still fires: the LIKE stays in a Filter over the summed scan, which
    // applies the time range itself and does not read `time`.
    let explain = env
        .rows(
            TENANT,
            "EXPLAIN SELECT leaf(stack), SUM(value) FROM profile_samples \
             WHERE service_name = 'go-app' AND profile_type LIKE 'memory:inuse_space%' \
             AND time >= to_timestamp_nanos(0) GROUP BY 1",
        )
        .await;
    let logical = &explain[0][1];
    assert!(
        logical.contains("Filter: profile_samples.profile_type LIKE")
            && logical.contains("projection=[profile_type, stack, value], full_filters=["),
        "{logical}"
    );
    // A flame graph and the per-stack sums agree with the plain plan too.
    let fg = |extra: &str| {
        format!(
            "SELECT flamegraph(stack, value){extra} FROM profile_samples \
             WHERE service_name = 'go-app' AND profile_type = '{CPU}'"
        )
    };
    let got = env.rows(TENANT, &fg("")).await;
    let want = env.rows(TENANT, &fg(", COUNT(*)")).await;
    assert_eq!(got[0][0], want[0][0]);
}

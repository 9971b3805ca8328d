//! Bad SQL, refused statements, file access and limits fail with errors
//! naming the problem.

use crate::data::*;
use kiln_sql::{SqlError, SqlLimits};
use std::time::Duration;

async fn error(env: &Env, sql: &str, limits: SqlLimits) -> SqlError {
    env.engine
        .query(TENANT, sql, &limits)
        .await
        .err()
        .unwrap_or_else(|| panic!("{sql} should fail"))
}

#[tokio::test]
async fn bad_sql_names_the_problem() {
    let env = Env::new().await;
    let cases = [
        ("SELEC 1", "SELEC"),
        ("SELECT nope FROM samples", "nope"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELECT leaf(value) FROM samples", "leaf"),
        (
            "SELECT stack_contains(stack, '(') FROM profile_samples",
            "regular expression",
        ),
        ("", "empty"),
    ];
    for (sql, needle) in cases {
        let e = error(&env, sql, SqlLimits::default()).await;
        let text = e.to_string();
        assert!(
            matches!(e, SqlError::InvalidSql(_))
                || (needle == "regular expression" && text.contains(needle)),
            "{sql}: {e:?}"
        );
        assert!(text.contains(needle), "{sql}: {text}");
    }
}

#[tokio::test]
async fn ddl_dml_and_file_access_are_refused() {
    let env = Env::new().await;
    let dir = tempfile_dir();
    let refused = [
        "CREATE TABLE t AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        format!("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{dir}'"),
        format!("COPY (SELECT 1) TO '{dir}/x.csv'"),
        "INSERT INTO samples VALUES ('b', 1, now(), 1, 1, 0)".to_string(),
        "DROP TABLE samples".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ];
    for sql in &refused {
        let e = error(&env, sql, SqlLimits::default()).await;
        assert!(matches!(e, SqlError::Refused(_)), "{sql}: {e:?}");
    }
    // Files are not tables, and no table function reads them.
    for sql in [
        format!("SELECT * FROM '{dir}/x.parquet'"),
        format!("SELECT * FROM read_parquet('{dir}/x.parquet')"),
        format!("SELECT * FROM read_csv('{dir}/x.csv')"),
    ] {
        let e = error(&env, &sql, SqlLimits::default()).await;
        assert!(matches!(e, SqlError::InvalidSql(_)), "{sql}: {e:?}");
    }
    // Nothing was written.
    assert!(!std::path::Path::new(&format!("{dir}/x.csv")).exists());
}

fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("kiln-sql-refusal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

#[tokio::test]
async fn limits_stop_queries_with_clear_errors() {
    let env = Env::new().await;
    let rows = SqlLimits {
        max_rows: 10,
        ..SqlLimits::default()
    };
    let e = error(&env, "SELECT * FROM samples", rows).await;
    assert!(matches!(e, SqlError::RowLimit(10)), "{e:?}");
    assert!(e.to_string().contains("more than 10 rows"));

    let memory = SqlLimits {
        max_memory_bytes: 64 << 10,
        ..SqlLimits::default()
    };
    let e = error(
        &env,
        "SELECT a.value, b.value FROM generate_series(1, 200000) a(value) \
         JOIN generate_series(1, 200000) b(value) ON a.value = b.value ORDER BY 1 DESC LIMIT 1",
        memory,
    )
    .await;
    assert!(matches!(e, SqlError::MemoryLimit { .. }), "{e:?}");

    let time = SqlLimits {
        timeout: Duration::from_millis(50),
        ..SqlLimits::default()
    };
    let e = error(
        &env,
        "SELECT COUNT(*) FROM generate_series(1, 3000000000) a(v) WHERE v % 7 = 3",
        time,
    )
    .await;
    assert!(matches!(e, SqlError::Timeout(_)), "{e:?}");
}

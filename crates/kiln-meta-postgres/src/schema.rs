//! The metastore's tables, created and upgraded by embedded SQL migrations
//! when a [`PostgresMetastore`](crate::PostgresMetastore) connects.
//!
//! ```text
//!  BEGIN ─► pg_advisory_xact_lock(kiln) ─► CREATE TABLE IF NOT EXISTS kiln_schema_migrations
//!        ─► apply each migration newer than the newest applied, recording it ─► COMMIT
//! ```
//!
//! Several processes may start at once: the advisory lock makes them take
//! turns, and the ones after the first find nothing to do. A database
//! migrated by a newer Kiln is refused rather than guessed at.

use crate::db_error;
use deadpool_postgres::Object;
use kiln_meta::{MetaError, Result};

/// One schema change, applied in a transaction with the others pending.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first; versions are 1, 2, 3, … without gaps.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "blocks_and_leases",
    sql: include_str!("../migrations/0001_blocks_and_leases.sql"),
}];

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Key of the advisory lock serialising migrations ("kilnmeta" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b69_6c6e_6d65_7461;

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the versions applied
/// now (empty when it was already current).
pub(crate) async fn migrate(client: &mut Object) -> Result<Vec<i32>> {
    let context = "migrating the metastore schema";
    let tx = client.transaction().await.map_err(db_error(context))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error(context))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS kiln_schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(db_error(context))?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM kiln_schema_migrations",
            &[],
        )
        .await
        .map_err(db_error(context))?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(MetaError::UnsupportedSchema {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let context = format!(
            "applying migration {} ({})",
            migration.version, migration.name
        );
        tx.batch_execute(migration.sql)
            .await
            .map_err(db_error(&context))?;
        tx.execute(
            "INSERT INTO kiln_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(db_error(&context))?;
        applied.push(migration.version);
    }
    tx.commit().await.map_err(db_error(context))?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
        }
    }
}

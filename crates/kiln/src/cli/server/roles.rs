//! `--target` checks that need the whole configuration, made before any
//! dependency is opened so a wrong fleet layout fails at once.

use kiln_server::KilnConfig;
use kiln_server::config::{MetastoreBackend, Role, Target};

/// Refuses role sets this process cannot run: a split fleet on the
/// embedded metastore (it serves one process), and a target that runs
/// nothing (only `metastore`, which PostgreSQL itself is).
pub fn check(config: &KilnConfig) -> anyhow::Result<()> {
    let target = &config.target;
    if *target != Target::all() && config.metastore.backend == MetastoreBackend::Embedded {
        anyhow::bail!(
            "target = {target:?} needs metastore.backend = \"postgres\": the embedded metastore \
             serves one process, so roles in separate processes must share a PostgreSQL \
             metastore (set KILN_METASTORE__BACKEND=postgres and KILN_METASTORE__POSTGRES_URL), \
             or run every role in one process with target = \"all\"",
            target = target.to_string()
        );
    }
    let runs_something = target.roles().iter().any(|r| *r != Role::Metastore);
    if !runs_something {
        anyhow::bail!(
            "target = \"metastore\" runs nothing: with metastore.backend = \"postgres\" the \
             metastore is PostgreSQL itself; add ingester, compactor, query-frontend or querier"
        );
    }
    Ok(())
}

/// The roles as they appear in logs, e.g. `ingester,compactor`.
pub fn describe(target: &Target) -> String {
    target.to_string()
}

//! A server's SQL engine reads through its query engine's block caches:
//! one memory budget, and what SQL decodes is warm for flame graphs.

use crate::data::{Env, OTHER, TENANT};
use kiln_query::{DataFusionEngine, EngineConfig};
use kiln_sql::{SqlEngine, SqlLimits};

/// Blocks of `TENANT` in [`Env`] (one per agent dataset).
const TENANT_BLOCKS: usize = 5;

#[tokio::test]
async fn sql_shares_the_query_engines_block_caches() {
    let env = Env::new().await;
    let query = DataFusionEngine::new(env.store.clone(), env.meta.clone(), EngineConfig::default())
        .expect("query engine");
    let sql = SqlEngine::sharing(env.meta.clone(), query.block_cache());
    let limits = SqlLimits::default();
    let run = |tenant: &'static str, text: &'static str| {
        let sql = sql.clone();
        async move {
            sql.query(tenant, text, &limits)
                .await
                .unwrap_or_else(|e| panic!("{text}: {e}"))
        }
    };

    run(TENANT, "SELECT count(*) FROM series").await;
    let first = query.cache_stats();
    assert_eq!(first.series.entries, TENANT_BLOCKS, "one index per block");
    assert_eq!(first.series.misses, TENANT_BLOCKS as u64);
    assert_eq!(
        first.symbols.entries, 0,
        "series alone decode no stack table"
    );

    run(TENANT, "SELECT count(*) FROM series").await;
    let again = query.cache_stats();
    assert_eq!(again.series.hits, first.series.hits + TENANT_BLOCKS as u64);
    assert_eq!(
        again.series.misses, first.series.misses,
        "nothing decoded twice"
    );

    run(
        TENANT,
        "SELECT leaf(stack), sum(value) FROM profile_samples GROUP BY 1",
    )
    .await;
    assert_eq!(query.cache_stats().symbols.entries, TENANT_BLOCKS);

    run(OTHER, "SELECT count(*) FROM series").await;
    assert_eq!(
        query.cache_stats().series.entries,
        TENANT_BLOCKS + 1,
        "another tenant's block is a separate entry"
    );

    query.clear_caches();
    assert_eq!(query.cache_stats().series.entries, 0);
    run(TENANT, "SELECT count(*) FROM series").await;
    assert_eq!(
        query.cache_stats().series.misses,
        again.series.misses + 1 + TENANT_BLOCKS as u64,
        "cleared by the query engine means decoded again by SQL"
    );
}

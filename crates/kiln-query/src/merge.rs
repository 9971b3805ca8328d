//! `merge_tree`: the flame-graph query as a DataFusion plan.
//!
//! ```text
//!  AggregateExec(Final: flamegraph)          ◄─ merges partial Tree states
//!    CoalescePartitionsExec
//!      AggregateExec(Partial: flamegraph)    ◄─ sums by (block, stack_id), resolves once per stack
//!        BlockScanExec(samples, N block groups) ◄─ pruned scans with call-site/profile/span filters
//! ```
//!
//! A flame graph is one total over the range, so every block reads the
//! coarsest rollups that fit inside the range and raw samples only at cut
//! edges (`plan::source`); the sums are the same as from raw samples.

use crate::api::ProfileQuery;
use crate::engine::Inner;
use crate::error::QueryError;
use crate::flamegraph::{BlockSymbols, Flamegraph};
use crate::plan::{self, BlockScan, Needs, RollupUse};
use crate::table::{BlockTable, TableKind, cols};
use arrow::array::{Array, BinaryArray};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::col;
use kiln_model::tree::Tree;
use std::sync::Arc;

/// The flame-graph aggregate over the profiles `query` selects, as a
/// DataFrame; `None` when no block has anything to read.
pub(crate) async fn merge_tree_frame(
    inner: &Inner,
    query: &ProfileQuery,
) -> Result<Option<DataFrame>, QueryError> {
    let needs = Needs {
        stacks: true,
        rollups: RollupUse::Total,
    };
    let scans = plan::plan(inner, query, needs).await?;
    if scans.is_empty() {
        return Ok(None);
    }
    let scans: Vec<Arc<BlockScan>> = scans.into_iter().map(Arc::new).collect();
    let resolvers = scans
        .iter()
        .map(|s| {
            s.stacks
                .clone()
                .ok_or_else(|| QueryError::Internal("planner did not load stacks".into()))
        })
        .collect::<Result<_, _>>()?;
    let symbols = BlockSymbols::new(resolvers, scans.iter().map(|s| s.meta.clone()).collect());
    let table = BlockTable::new(TableKind::Samples, &scans, inner.target_partitions);
    let flamegraph = AggregateUDF::new_from_impl(Flamegraph::new(Arc::new(symbols)));
    let call = flamegraph
        .call(vec![
            col(cols::BLOCK),
            col(cols::STACK_ID),
            col(cols::VALUE),
        ])
        .alias("tree");
    Ok(Some(
        inner
            .ctx
            .read_table(Arc::new(table))?
            .aggregate(vec![], vec![call])?,
    ))
}

/// The merged call tree of the profiles `query` selects.
pub(crate) async fn merge_tree(inner: &Inner, query: &ProfileQuery) -> Result<Tree, QueryError> {
    let Some(df) = merge_tree_frame(inner, query).await? else {
        return Ok(Tree::new());
    };
    let batches = crate::engine::execute(inner, df, "merge_tree").await?;
    let bytes = batches
        .iter()
        .filter(|b| b.num_rows() > 0)
        .find_map(|b| b.column(0).as_any().downcast_ref::<BinaryArray>().cloned())
        .ok_or_else(|| QueryError::Internal("flamegraph returned no row".into()))?;
    if bytes.is_null(0) {
        return Ok(Tree::new());
    }
    Tree::from_bytes(bytes.value(0)).map_err(|e| QueryError::Internal(e.to_string()))
}

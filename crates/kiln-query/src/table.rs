//! DataFusion tables over a planned block set: `samples` and `profiles`.
//!
//! ```text
//!  BlockTable (TableProvider, one per query) ──scan──► BlockScanExec (ExecutionPlan)
//!     partitions = block groups balanced by row count (≤ target_partitions)
//!     partition p: for each block of the group (next one opened while this
//!                  one streams): kiln-block pruned scan (series ids + time
//!                  range pushed to row groups and pages) ─► exact filters
//!                  (call-site stacks, profile ids, span ids) ─► + block column
//!     samples: each block's scan is a list of segments chosen by the planner
//!              (`plan::source`): rollup_1h / rollup_1m interiors, raw edges;
//!              every segment is counted in `stats` by table
//! ```
//!
//! The series ids, time range and filters are fixed when the table is built
//! by the planner (they come from the postings, not from SQL predicates), so
//! the provider reports no filter pushdown: any extra SQL predicate runs in a
//! `FilterExec` above the scan, on rows that are already pruned.

mod exec;
mod read;
mod stats;

pub(crate) use exec::BlockScanExec;
pub(crate) use stats::ScanCounters;
pub use stats::{
    TABLE_ROWS_TOTAL, TABLE_SCANS_TOTAL, TableReads, TableScanStats, describe_metrics,
};

use crate::plan::BlockScan;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::{Arc, LazyLock};

/// Column names of the query tables.
pub(crate) mod cols {
    /// Index of the block in the query's block list (block-local ids need it).
    pub const BLOCK: &str = "block";
    pub use kiln_block::schema::cols::{
        DURATION_NS, PROFILE_ID, SAMPLE_COUNT, SERIES_ID, SPAN_ID, STACK_ID, TIME_NS, TOTAL, VALUE,
    };
}

/// Which file of the blocks a table reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    /// `block, series_id, time_ns, stack_id, value, span_id`
    Samples,
    /// `block, series_id, time_ns, duration_ns, total, sample_count, profile_id`
    Profiles,
}

fn field(name: &str, t: DataType) -> Field {
    Field::new(name, t, false)
}

static SAMPLES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::BLOCK, DataType::UInt32),
        field(cols::SERIES_ID, DataType::UInt32),
        field(cols::TIME_NS, DataType::Int64),
        field(cols::STACK_ID, DataType::UInt32),
        field(cols::VALUE, DataType::Int64),
        field(cols::SPAN_ID, DataType::UInt64),
    ]))
});

static PROFILES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::BLOCK, DataType::UInt32),
        field(cols::SERIES_ID, DataType::UInt32),
        field(cols::TIME_NS, DataType::Int64),
        field(cols::DURATION_NS, DataType::Int64),
        field(cols::TOTAL, DataType::Int64),
        field(cols::SAMPLE_COUNT, DataType::UInt32),
        field(cols::PROFILE_ID, DataType::Utf8),
    ]))
});

impl TableKind {
    pub(crate) fn schema(self) -> SchemaRef {
        match self {
            TableKind::Samples => SAMPLES.clone(),
            TableKind::Profiles => PROFILES.clone(),
        }
    }
}

/// A `samples` or `profiles` table over the blocks of one query.
#[derive(Debug)]
pub(crate) struct BlockTable {
    kind: TableKind,
    /// Blocks grouped into partitions.
    partitions: Arc<Vec<Vec<Arc<BlockScan>>>>,
}

impl BlockTable {
    /// A table of `kind` over `blocks`, split into at most `target_partitions`
    /// partitions of about equal row counts.
    pub(crate) fn new(
        kind: TableKind,
        blocks: &[Arc<BlockScan>],
        target_partitions: usize,
    ) -> Self {
        Self {
            kind,
            partitions: Arc::new(group_blocks(blocks, target_partitions, kind)),
        }
    }
}

/// Longest-processing-time-first assignment of blocks to partitions by
/// their row count, so one huge block does not share a partition with many
/// others. Within a partition blocks keep their planning order.
pub(crate) fn group_blocks(
    blocks: &[Arc<BlockScan>],
    target_partitions: usize,
    kind: TableKind,
) -> Vec<Vec<Arc<BlockScan>>> {
    let n = target_partitions.clamp(1, blocks.len().max(1));
    let weight = |b: &BlockScan| match kind {
        TableKind::Samples => b.meta.summary.samples,
        TableKind::Profiles => b.meta.summary.profiles,
    };
    let mut order: Vec<&Arc<BlockScan>> = blocks.iter().collect();
    order.sort_by_key(|b| std::cmp::Reverse(weight(b)));
    let mut groups: Vec<(u64, Vec<Arc<BlockScan>>)> = vec![(0, Vec::new()); n];
    for b in order {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(w, _)| *w)
            .expect("at least one partition");
        lightest.0 += weight(b).max(1);
        lightest.1.push(b.clone());
    }
    groups
        .into_iter()
        .map(|(_, mut g)| {
            g.sort_by_key(|b| b.index);
            g
        })
        .collect()
}

#[async_trait]
impl TableProvider for BlockTable {
    fn schema(&self) -> SchemaRef {
        self.kind.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(BlockScanExec::try_new(
            self.kind,
            self.partitions.clone(),
            projection.cloned(),
        )?))
    }
}

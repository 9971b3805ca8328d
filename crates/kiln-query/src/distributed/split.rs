//! How `datafusion-distributed` splits a [`BlockScanExec`] over tasks: one
//! task per block at most (the planner caps tasks at the number of peers),
//! each task a variant of the scan holding its share of the blocks.
//!
//! ```text
//!  BlockScanExec(blocks b0..b5, P partitions)
//!    ─► DistributedLeafExec: task 0 ─► BlockScanExec(b0, b3)   ┐ same schema,
//!                            task 1 ─► BlockScanExec(b1, b4)   │ same partition
//!                            task 2 ─► BlockScanExec(b2, b5)   ┘ count (padded)
//! ```
//!
//! Blocks go to tasks by row count (longest first, as partitions do), and
//! the `block` column keeps each block's query-wide index, so partial
//! flame-graph and series aggregates from different workers merge exactly.

use crate::plan::BlockScan;
use crate::table::{BlockScanExec, group_blocks};
use datafusion::common::Result;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_distributed::{
    DesiredTaskCountEvent, DesiredTaskCountEventResponse, DistributedLeafExec,
    ScaleUpLeafNodeEvent, ScaleUpLeafNodeEventResponse,
};
use std::any::Any;
use std::sync::Arc;

fn block_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&BlockScanExec> {
    (plan.as_ref() as &dyn Any).downcast_ref::<BlockScanExec>()
}

fn blocks_of(scan: &BlockScanExec) -> Vec<Arc<BlockScan>> {
    scan.partitions.iter().flatten().cloned().collect()
}

/// One task per block at most; the planner lowers it to the peer count.
pub(crate) fn desired_task_count(
    ev: DesiredTaskCountEvent,
) -> Option<Result<DesiredTaskCountEventResponse>> {
    let scan = block_scan(ev.plan)?;
    let blocks = scan.partitions.iter().map(Vec::len).sum::<usize>();
    Some(Ok(DesiredTaskCountEventResponse::desired(blocks.max(1))))
}

/// Splits the scan's blocks into `task_count` variants; see the module docs.
pub(crate) fn scale_up(ev: ScaleUpLeafNodeEvent) -> Option<Result<ScaleUpLeafNodeEventResponse>> {
    let scan = block_scan(ev.plan)?;
    Some(split(scan, ev.task_count).and_then(|variants| {
        let leaf = DistributedLeafExec::try_new(Arc::clone(ev.plan), variants)?;
        Ok(ScaleUpLeafNodeEventResponse::new(Arc::new(leaf)))
    }))
}

/// `tasks` scans over disjoint block sets covering `scan`'s blocks, each
/// with the same number of partitions (at most the original's).
pub(crate) fn split(scan: &BlockScanExec, tasks: usize) -> Result<Vec<Arc<dyn ExecutionPlan>>> {
    let tasks = tasks.max(1);
    let blocks = blocks_of(scan);
    let mut per_task = group_blocks(&blocks, tasks, scan.kind);
    per_task.retain(|g| !g.is_empty());
    per_task.resize_with(tasks, Vec::new);
    let largest = per_task.iter().map(Vec::len).max().unwrap_or(0);
    let partitions = largest.clamp(1, scan.partitions.len().max(1));
    per_task
        .into_iter()
        .map(|task_blocks| {
            let mut parts = if task_blocks.is_empty() {
                Vec::new()
            } else {
                group_blocks(&task_blocks, partitions, scan.kind)
            };
            parts.resize_with(partitions, Vec::new);
            let exec = BlockScanExec::try_new(scan.kind, Arc::new(parts), scan.projection.clone())?;
            Ok(Arc::new(exec) as Arc<dyn ExecutionPlan>)
        })
        .collect()
}

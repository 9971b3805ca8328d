//! `BlockScanExec`: the leaf of every query plan, one partition per block
//! group. Custom (rather than a `StreamingTableExec`) so that a codec can
//! serialise it for `datafusion-distributed`: its state is the block list
//! with series bitmaps, time range and filters.

use super::read::open_block;
use super::{BlockScan, TableKind};
use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use std::fmt;
use std::sync::Arc;

/// Blocks of one partition whose scans are opened ahead of the one being
/// read, so object-store latency overlaps decoding.
const OPEN_AHEAD: usize = 2;

#[derive(Debug)]
pub(crate) struct BlockScanExec {
    pub(crate) kind: TableKind,
    pub(crate) partitions: Arc<Vec<Vec<Arc<BlockScan>>>>,
    pub(crate) projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl BlockScanExec {
    pub(crate) fn try_new(
        kind: TableKind,
        partitions: Arc<Vec<Vec<Arc<BlockScan>>>>,
        projection: Option<Vec<usize>>,
    ) -> Result<Self> {
        let schema = match &projection {
            Some(p) => Arc::new(kind.schema().project(p)?),
            None => kind.schema(),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(partitions.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            kind,
            partitions,
            projection,
            properties: Arc::new(properties),
        })
    }
}

impl DisplayAs for BlockScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let blocks: usize = self.partitions.iter().map(Vec::len).sum();
        write!(
            f,
            "BlockScanExec: table={:?}, blocks={blocks}, partitions={}",
            self.kind,
            self.partitions.len()
        )?;
        if let Some(p) = &self.projection {
            write!(f, ", projection={p:?}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for BlockScanExec {
    fn name(&self) -> &str {
        "BlockScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "BlockScanExec is a leaf and takes no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema: SchemaRef = self.schema();
        // An empty block set still has one (empty) partition.
        let blocks = self.partitions.get(partition).cloned().unwrap_or_default();
        let (kind, projection) = (self.kind, self.projection.clone());
        let stream = futures::stream::iter(blocks)
            .map(move |scan| open_block(kind, scan, projection.clone()))
            .buffered(OPEN_AHEAD)
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

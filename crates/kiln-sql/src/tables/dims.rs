//! `series`, `stacks`, `frames`: each block's in-memory indexes as tables,
//! and the block-streaming execution plan every table shares.

use super::scan::{BLOCK, project_schema};
use super::types::{LABELS_TYPE, field, labels_builder};
use crate::blocks::{TenantBlock, TenantBlocks};
use arrow::array::{
    ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;

/// Opens one block as a stream of output batches (already projected).
pub(crate) type OpenBlock = Arc<
    dyn Fn(TenantBlock) -> BoxFuture<'static, Result<BoxStream<'static, Result<RecordBatch>>>>
        + Send
        + Sync,
>;

/// Blocks opened ahead of the one being read, so storage latency overlaps decoding.
const OPEN_AHEAD: usize = 2;

/// One partition: a group of blocks read one after the other.
struct BlockPartition {
    schema: SchemaRef,
    blocks: Vec<TenantBlock>,
    open: OpenBlock,
}

impl std::fmt::Debug for BlockPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockPartition")
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl PartitionStream for BlockPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let open = self.open.clone();
        let stream = futures::stream::iter(self.blocks.clone())
            .map(move |b| open(b))
            .buffered(OPEN_AHEAD)
            .try_flatten()
            .try_filter(|b| futures::future::ready(b.num_rows() > 0));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// The plan reading `blocks` into `schema` (already projected), in at most
/// `partitions` partitions of consecutive blocks.
pub(crate) fn block_exec(
    schema: SchemaRef,
    blocks: Vec<TenantBlock>,
    partitions: usize,
    open: OpenBlock,
) -> Result<Arc<dyn ExecutionPlan>> {
    let n = partitions.clamp(1, blocks.len().max(1));
    let mut groups: Vec<Vec<TenantBlock>> = vec![Vec::new(); n];
    for (i, b) in blocks.into_iter().enumerate() {
        groups[i % n].push(b);
    }
    let parts: Vec<Arc<dyn PartitionStream>> = groups
        .into_iter()
        .map(|blocks| {
            Arc::new(BlockPartition {
                schema: schema.clone(),
                blocks,
                open: open.clone(),
            }) as Arc<dyn PartitionStream>
        })
        .collect();
    Ok(Arc::new(StreamingTableExec::try_new(
        schema,
        parts,
        None,
        Vec::new(),
        false,
        None,
    )?))
}

/// Which index table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DimKind {
    Series,
    Stacks,
    Frames,
}

impl DimKind {
    fn schema(self) -> SchemaRef {
        let block = field(BLOCK, DataType::Utf8);
        Arc::new(Schema::new(match self {
            DimKind::Series => vec![
                block,
                field("series_id", DataType::UInt32),
                field("service_name", DataType::Utf8),
                field("profile_type", DataType::Utf8),
                field("labels", LABELS_TYPE.clone()),
            ],
            DimKind::Stacks => vec![
                block,
                field("stack_id", DataType::UInt32),
                field("parent_id", DataType::UInt32),
                field("frame_id", DataType::UInt32),
            ],
            DimKind::Frames => vec![
                block,
                field("frame_id", DataType::UInt32),
                field("function_name", DataType::Utf8),
                field("system_name", DataType::Utf8),
                field("file", DataType::Utf8),
                field("line", DataType::Int64),
                field("binary", DataType::Utf8),
            ],
        }))
    }
}

/// An index table of one session.
#[derive(Debug)]
pub(crate) struct DimTable {
    kind: DimKind,
    schema: SchemaRef,
    blocks: Arc<TenantBlocks>,
    partitions: usize,
}

impl DimTable {
    pub(crate) fn new(kind: DimKind, blocks: Arc<TenantBlocks>, partitions: usize) -> Self {
        Self {
            kind,
            schema: kind.schema(),
            blocks,
            partitions,
        }
    }
}

#[async_trait]
impl TableProvider for DimTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        let blocks = self.blocks.list(i64::MIN, i64::MAX).await?;
        let projected = project_schema(&self.schema, projection)?;
        let indices: Arc<Vec<usize>> = Arc::new(match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        });
        let (kind, schema) = (self.kind, projected.clone());
        let open: OpenBlock = Arc::new(move |block| {
            let (indices, schema) = (indices.clone(), schema.clone());
            Box::pin(async move {
                let batch = dim_batch(kind, &block, &indices, &schema).await?;
                Ok(futures::stream::iter([Ok(batch)]).boxed())
            })
        });
        block_exec(projected, blocks, self.partitions, open)
    }
}

fn external(e: kiln_block::BlockError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Builds one column on demand (only projected columns are built).
type Column = Box<dyn Fn() -> ArrayRef + Send>;

fn text_column<T: Send + Sync + 'static>(items: &Arc<Vec<T>>, get: fn(&T) -> &str) -> Column {
    let items = items.clone();
    Box::new(move || Arc::new(StringArray::from_iter_values(items.iter().map(get))) as ArrayRef)
}

/// One block's index as a batch of `indices` columns.
async fn dim_batch(
    kind: DimKind,
    source: &TenantBlock,
    indices: &[usize],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let block = source.id().to_string();
    let (rows, columns): (usize, Vec<Column>) = match kind {
        DimKind::Series => {
            let index = source.series().await?;
            let entries: Arc<Vec<(u32, kiln_block::SeriesEntry)>> =
                Arc::new(index.iter().map(|(id, e)| (id, e.clone())).collect());
            let rows = entries.len();
            let ids = entries.clone();
            let labels = entries.clone();
            (
                rows,
                vec![
                    Box::new(move || block_column(&block, rows)),
                    Box::new(move || {
                        Arc::new(UInt32Array::from_iter_values(ids.iter().map(|(id, _)| *id)))
                            as ArrayRef
                    }),
                    text_column(&entries, |(_, e)| &e.service_name),
                    text_column(&entries, |(_, e)| &e.profile_type),
                    Box::new(move || {
                        let mut m = labels_builder();
                        for (_, e) in labels.iter() {
                            for l in e.labels.iter() {
                                m.keys().append_value(&l.name);
                                m.values().append_value(&l.value);
                            }
                            m.append(true)
                                .expect("keys and values are appended in pairs");
                        }
                        Arc::new(m.finish()) as ArrayRef
                    }),
                ],
            )
        }
        DimKind::Stacks => {
            let resolver = source.stacks().await?;
            let rows = resolver.len();
            let mut parents = Vec::with_capacity(rows);
            let mut frames = Vec::with_capacity(rows);
            for id in 1..=rows as u32 {
                parents.push(resolver.parent(id).map_err(external)?);
                frames.push(resolver.frame_id(id).map_err(external)?.unwrap_or(0));
            }
            (
                rows,
                vec![
                    Box::new(move || block_column(&block, rows)),
                    Box::new(move || {
                        Arc::new(UInt32Array::from_iter_values(1..=rows as u32)) as ArrayRef
                    }),
                    Box::new(move || Arc::new(UInt32Array::from(parents.clone())) as ArrayRef),
                    Box::new(move || Arc::new(UInt32Array::from(frames.clone())) as ArrayRef),
                ],
            )
        }
        DimKind::Frames => {
            let resolver = source.stacks().await?;
            let frames = Arc::new(resolver.frames().to_vec());
            let rows = frames.len();
            let lines = frames.clone();
            (
                rows,
                vec![
                    Box::new(move || block_column(&block, rows)),
                    Box::new(move || {
                        Arc::new(UInt32Array::from_iter_values(0..rows as u32)) as ArrayRef
                    }),
                    text_column(&frames, |f| &f.function),
                    text_column(&frames, |f| &f.system_name),
                    text_column(&frames, |f| &f.file),
                    Box::new(move || {
                        Arc::new(Int64Array::from_iter_values(lines.iter().map(|f| f.line)))
                            as ArrayRef
                    }),
                    text_column(&frames, |f| &f.binary),
                ],
            )
        }
    };
    let columns = indices.iter().map(|&i| columns[i]()).collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

fn block_column(block: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        block, rows,
    )))
}

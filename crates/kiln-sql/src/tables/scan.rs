//! `samples` and `profiles`: the two fact tables, read with kiln-block's
//! pruned scans (series ids + time range pushed to row groups and pages).

use super::types::{field, time_type, timestamps};
use crate::blocks::{TenantBlock, TenantBlocks};
use crate::pushdown::{TimeRange, is_time_filter, time_range};
use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringArray};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kiln_block::schema::cols;
use std::sync::Arc;

/// Name of the time column of every table that has one.
pub(crate) const TIME: &str = "time";
/// Name of the block column.
pub(crate) const BLOCK: &str = "block";

/// Which fact table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FactKind {
    Samples,
    Profiles,
}

impl FactKind {
    fn schema(self) -> SchemaRef {
        let block = field(BLOCK, DataType::Utf8);
        let series = field("series_id", DataType::UInt32);
        let time = field(TIME, time_type());
        Arc::new(Schema::new(match self {
            FactKind::Samples => vec![
                block,
                series,
                time,
                field("stack_id", DataType::UInt32),
                field("value", DataType::Int64),
                field("span_id", DataType::UInt64),
            ],
            FactKind::Profiles => vec![
                block,
                series,
                time,
                field("duration_ns", DataType::Int64),
                field("period", DataType::Int64),
                field("total", DataType::Int64),
                field("sample_count", DataType::UInt32),
                field("profile_id", DataType::Utf8),
            ],
        }))
    }

    /// The file column behind output column `name` (`time` is `time_ns`).
    fn file_column(name: &str) -> &str {
        if name == TIME { cols::TIME_NS } else { name }
    }
}

/// A fact table of one session.
#[derive(Debug)]
pub(crate) struct FactTable {
    kind: FactKind,
    schema: SchemaRef,
    blocks: Arc<TenantBlocks>,
    partitions: usize,
}

impl FactTable {
    pub(crate) fn new(kind: FactKind, blocks: Arc<TenantBlocks>, partitions: usize) -> Self {
        Self {
            kind,
            schema: kind.schema(),
            blocks,
            partitions,
        }
    }
}

#[async_trait]
impl TableProvider for FactTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if is_time_filter(f, TIME) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let range = time_range(filters, TIME);
        let blocks = self.blocks.list(range.start_ns, range.end_ns).await?;
        let projected = project_schema(&self.schema, projection)?;
        let names: Arc<Vec<String>> = Arc::new(
            projected
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        );
        let kind = self.kind;
        let schema = projected.clone();
        let open: super::dims::OpenBlock = Arc::new(move |block: TenantBlock| {
            let (names, schema) = (names.clone(), schema.clone());
            Box::pin(open_fact(kind, block, range, names, schema))
        });
        super::dims::block_exec(projected, blocks, self.partitions, open)
    }
}

pub(crate) fn project_schema(
    schema: &SchemaRef,
    projection: Option<&Vec<usize>>,
) -> Result<SchemaRef> {
    Ok(match projection {
        Some(p) => Arc::new(schema.project(p)?),
        None => schema.clone(),
    })
}

fn external(e: kiln_block::BlockError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

async fn open_fact(
    kind: FactKind,
    source: TenantBlock,
    range: TimeRange,
    names: Arc<Vec<String>>,
    schema: SchemaRef,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let series = source.series().await?.all();
    let reader = source.reader().await?;
    let stream = match kind {
        FactKind::Samples => {
            reader
                .scan_samples_stream(&series, range.start_ns, range.end_ns)
                .await
                .map_err(external)?
                .0
        }
        FactKind::Profiles => reader
            .profiles_stream(&series, range.start_ns, range.end_ns)
            .await
            .map_err(external)?,
    };
    let block = source.id().to_string();
    Ok(stream
        .map_err(external)
        .map(move |batch| to_output(&batch?, &block, &names, &schema))
        .boxed())
}

/// Renames and converts file columns into the table's columns.
fn to_output(
    batch: &RecordBatch,
    block: &str,
    names: &[String],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns = names
        .iter()
        .map(|name| -> Result<ArrayRef> {
            if name == BLOCK {
                return Ok(Arc::new(StringArray::from_iter_values(
                    std::iter::repeat_n(block, rows),
                )));
            }
            let c = batch
                .column_by_name(FactKind::file_column(name))
                .ok_or_else(|| {
                    DataFusionError::Internal(format!("block file lacks column {name}"))
                })?;
            if name == TIME {
                let ns = c
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| DataFusionError::Internal("time_ns is not Int64".into()))?;
                return Ok(timestamps(ns));
            }
            Ok(c.clone())
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

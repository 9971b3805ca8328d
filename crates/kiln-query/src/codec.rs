//! [`KilnPlanCodec`]: a `datafusion-proto` extension codec for Kiln's own
//! plan parts, so a physical plan built by one querier can run on another
//! (`datafusion-distributed`).
//!
//! ```text
//!  BlockScanExec ─► BlockScanExecNode (prost): table, projection, per partition
//!                   per block: meta (JSON, as in meta.json), series bitmap
//!                   (roaring), time range, segments (samples/rollup_1m/rollup_1h),
//!                   filters (call-site stacks, profile ids, span ids)
//!  flamegraph    ─► FlamegraphNode (prost): the block metas, in `block` order
//!  decode: readers, series indexes and stack resolvers are reopened through
//!          the decoding engine's block caches (its own store)
//! ```
//!
//! Everything else in Kiln's plans (aggregates, joins, the SelectSeries
//! group `MemTable`) is a built-in node that `datafusion-proto` encodes.
//! Decoding loads block files, which is async while the codec trait is not:
//! the codec waits with `block_in_place`, so it must run on a multi-threaded
//! tokio runtime (it says so when it is not).

use crate::blocks::BlockCache;
use crate::flamegraph::{BlockSymbols, Flamegraph};
use crate::plan::{BlockScan, Segment, Source};
use crate::table::{BlockScanExec, ScanCounters, TableKind};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::AggregateUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use kiln_block::BlockMeta;
use prost::Message;
use roaring::RoaringBitmap;
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;

/// Encodes and decodes Kiln's custom plan nodes and functions. Decoding
/// reopens blocks through the engine it was made from
/// ([`crate::DataFusionEngine::plan_codec`]).
#[derive(Debug, Clone)]
pub struct KilnPlanCodec {
    /// The decoding side's block caches (its own store).
    blocks: Arc<BlockCache>,
    /// The decoding side's scan counters.
    scan_counters: Arc<ScanCounters>,
}

impl KilnPlanCodec {
    pub(crate) fn new(blocks: Arc<BlockCache>, scan_counters: Arc<ScanCounters>) -> Self {
        Self {
            blocks,
            scan_counters,
        }
    }
}

/// Wire form of a `BlockScanExec`.
#[derive(Clone, PartialEq, Message)]
struct BlockScanExecNode {
    /// 1 = samples, 2 = profiles.
    #[prost(uint32, tag = "1")]
    table: u32,
    #[prost(message, repeated, tag = "2")]
    partitions: Vec<PartitionNode>,
    #[prost(bool, tag = "3")]
    has_projection: bool,
    #[prost(uint32, repeated, tag = "4")]
    projection: Vec<u32>,
}

#[derive(Clone, PartialEq, Message)]
struct PartitionNode {
    #[prost(message, repeated, tag = "1")]
    scans: Vec<BlockScanNode>,
}

/// Wire form of one block's [`BlockScan`].
#[derive(Clone, PartialEq, Message)]
struct BlockScanNode {
    #[prost(uint32, tag = "1")]
    index: u32,
    /// The block's `BlockMeta` as JSON (its `meta.json` form).
    #[prost(bytes = "vec", tag = "2")]
    meta_json: Vec<u8>,
    /// Selected series ids, `RoaringBitmap::serialize_into`.
    #[prost(bytes = "vec", tag = "3")]
    series: Vec<u8>,
    #[prost(int64, tag = "4")]
    start_ns: i64,
    #[prost(int64, tag = "5")]
    end_ns: i64,
    #[prost(message, repeated, tag = "6")]
    segments: Vec<SegmentNode>,
    /// Whether the scan carries the block's stack resolver.
    #[prost(bool, tag = "7")]
    load_stacks: bool,
    /// Allowed stack ids (roaring), when the query has a call site.
    #[prost(bytes = "vec", optional, tag = "8")]
    stack_filter: Option<Vec<u8>>,
    #[prost(bool, tag = "9")]
    has_profile_filter: bool,
    #[prost(message, repeated, tag = "10")]
    profile_filter: Vec<ProfileKeyNode>,
    #[prost(bool, tag = "11")]
    has_span_filter: bool,
    #[prost(uint64, repeated, tag = "12")]
    span_filter: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
struct SegmentNode {
    /// Index in `Source::ALL`: 0 = samples, 1 = rollup_1m, 2 = rollup_1h.
    #[prost(uint32, tag = "1")]
    source: u32,
    #[prost(int64, tag = "2")]
    start_ns: i64,
    #[prost(int64, tag = "3")]
    end_ns: i64,
}

#[derive(Clone, PartialEq, Message)]
struct ProfileKeyNode {
    #[prost(uint32, tag = "1")]
    series_id: u32,
    #[prost(int64, tag = "2")]
    time_ns: i64,
}

/// Wire form of a `flamegraph` aggregate: its blocks in `block` order.
#[derive(Clone, PartialEq, Message)]
struct FlamegraphNode {
    #[prost(bytes = "vec", repeated, tag = "1")]
    metas_json: Vec<Vec<u8>>,
}

/// The `flamegraph` symbols of one distributed task (a session config
/// extension set by the worker): decoded scans bind their blocks' stack
/// resolvers into it. `datafusion-distributed` ships aggregate functions by
/// name only, so the worker's registry holds a `flamegraph` over these.
#[derive(Debug, Default)]
pub(crate) struct TaskSymbols(pub(crate) Arc<BlockSymbols>);

fn bad(what: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Plan(format!("KilnPlanCodec: {what}"))
}

fn bitmap_bytes(b: &RoaringBitmap) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(b.serialized_size());
    b.serialize_into(&mut out)
        .map_err(|e| bad(format!("bitmap: {e}")))?;
    Ok(out)
}

fn bitmap(bytes: &[u8]) -> Result<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| bad(format!("corrupt bitmap: {e}")))
}

fn meta_json(meta: &BlockMeta) -> Result<Vec<u8>> {
    serde_json::to_vec(meta).map_err(|e| bad(format!("block meta: {e}")))
}

fn meta(bytes: &[u8]) -> Result<BlockMeta> {
    serde_json::from_slice(bytes).map_err(|e| bad(format!("corrupt block meta: {e}")))
}

/// Waits for `fut` (block loads) from the codec's synchronous methods.
fn wait<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| bad("decoding needs a tokio runtime to load blocks"))?;
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return Err(bad(
            "decoding loads blocks and needs a multi-threaded tokio runtime",
        ));
    }
    tokio::task::block_in_place(|| handle.block_on(fut))
}

fn block_err(e: kiln_block::BlockError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl KilnPlanCodec {
    fn encode_scan(scan: &BlockScan) -> Result<BlockScanNode> {
        Ok(BlockScanNode {
            index: scan.index,
            meta_json: meta_json(&scan.meta)?,
            series: bitmap_bytes(&scan.series)?,
            start_ns: scan.start_ns,
            end_ns: scan.end_ns,
            segments: scan
                .segments
                .iter()
                .map(|s| SegmentNode {
                    source: s.source.index() as u32,
                    start_ns: s.start_ns,
                    end_ns: s.end_ns,
                })
                .collect(),
            load_stacks: scan.stacks.is_some(),
            stack_filter: scan.stack_filter.as_ref().map(bitmap_bytes).transpose()?,
            has_profile_filter: scan.profile_filter.is_some(),
            profile_filter: scan
                .profile_filter
                .iter()
                .flatten()
                .map(|&(series_id, time_ns)| ProfileKeyNode { series_id, time_ns })
                .collect(),
            has_span_filter: scan.span_filter.is_some(),
            span_filter: scan
                .span_filter
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect(),
        })
    }

    async fn decode_scan(&self, node: BlockScanNode) -> Result<BlockScan> {
        let meta = meta(&node.meta_json)?;
        let blocks = &self.blocks;
        let reader = blocks.reader(&meta).await.map_err(block_err)?;
        let series_index = blocks.series(&meta).await.map_err(block_err)?;
        let stacks = if node.load_stacks {
            Some(blocks.stacks(&meta).await.map_err(block_err)?)
        } else {
            None
        };
        let segments = node
            .segments
            .iter()
            .map(|s| {
                let source = *Source::ALL
                    .get(s.source as usize)
                    .ok_or_else(|| bad(format!("unknown scan source {}", s.source)))?;
                Ok(Segment {
                    source,
                    start_ns: s.start_ns,
                    end_ns: s.end_ns,
                })
            })
            .collect::<Result<_>>()?;
        Ok(BlockScan {
            index: node.index,
            series: bitmap(&node.series)?,
            start_ns: node.start_ns,
            end_ns: node.end_ns,
            segments,
            counters: self.scan_counters.clone(),
            stack_filter: node.stack_filter.as_deref().map(bitmap).transpose()?,
            profile_filter: node.has_profile_filter.then(|| {
                node.profile_filter
                    .iter()
                    .map(|k| (k.series_id, k.time_ns))
                    .collect::<HashSet<_>>()
            }),
            span_filter: node
                .has_span_filter
                .then(|| Arc::new(node.span_filter.iter().copied().collect())),
            meta,
            reader,
            series_index,
            stacks,
        })
    }

    async fn decode_exec(&self, node: BlockScanExecNode) -> Result<BlockScanExec> {
        let kind = match node.table {
            1 => TableKind::Samples,
            2 => TableKind::Profiles,
            t => return Err(bad(format!("unknown table {t}"))),
        };
        let mut partitions = Vec::with_capacity(node.partitions.len());
        for p in node.partitions {
            let mut scans = Vec::with_capacity(p.scans.len());
            for s in p.scans {
                scans.push(Arc::new(self.decode_scan(s).await?));
            }
            partitions.push(scans);
        }
        let projection = node
            .has_projection
            .then(|| node.projection.iter().map(|&i| i as usize).collect());
        BlockScanExec::try_new(kind, Arc::new(partitions), projection)
    }
}

impl PhysicalExtensionCodec for KilnPlanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(bad("BlockScanExec is a leaf but the plan gives it inputs"));
        }
        let node = BlockScanExecNode::decode(buf)
            .map_err(|e| bad(format!("not a BlockScanExec node: {e}")))?;
        let exec = wait(self.decode_exec(node))?;
        // On a distributed worker, the task's `flamegraph` resolves the
        // stacks of exactly the blocks its scans read.
        if let Some(task) = ctx.session_config().get_extension::<TaskSymbols>() {
            for scan in exec.partitions.iter().flatten() {
                if let Some(stacks) = &scan.stacks {
                    task.0.bind(scan.index, stacks.clone());
                }
            }
        }
        Ok(Arc::new(exec))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let exec = (node.as_ref() as &dyn Any)
            .downcast_ref::<BlockScanExec>()
            .ok_or_else(|| bad(format!("cannot encode plan node {}", node.name())))?;
        let msg = BlockScanExecNode {
            table: match exec.kind {
                TableKind::Samples => 1,
                TableKind::Profiles => 2,
            },
            partitions: exec
                .partitions
                .iter()
                .map(|p| {
                    Ok(PartitionNode {
                        scans: p
                            .iter()
                            .map(|s| Self::encode_scan(s))
                            .collect::<Result<_>>()?,
                    })
                })
                .collect::<Result<_>>()?,
            has_projection: exec.projection.is_some(),
            projection: exec
                .projection
                .iter()
                .flatten()
                .map(|&i| i as u32)
                .collect(),
        };
        msg.encode(buf).map_err(|e| bad(e.to_string()))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        if name != "flamegraph" {
            return Err(bad(format!("unknown aggregate function {name}")));
        }
        let node =
            FlamegraphNode::decode(buf).map_err(|e| bad(format!("not a flamegraph node: {e}")))?;
        let metas = node
            .metas_json
            .iter()
            .map(|m| meta(m))
            .collect::<Result<Vec<_>>>()?;
        let blocks = &self.blocks;
        let resolvers = wait(async {
            let mut out = Vec::with_capacity(metas.len());
            for m in &metas {
                out.push(blocks.stacks(m).await.map_err(block_err)?);
            }
            Ok(out)
        })?;
        let symbols = BlockSymbols::new(resolvers, metas);
        Ok(Arc::new(AggregateUDF::new_from_impl(Flamegraph::new(
            Arc::new(symbols),
        ))))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        // Built-in aggregates (sum, count) need no payload: the registry
        // has them.
        let Some(flamegraph) = (node.inner().as_ref() as &dyn Any).downcast_ref::<Flamegraph>()
        else {
            return Ok(());
        };
        let msg = FlamegraphNode {
            metas_json: flamegraph
                .symbols()
                .metas
                .iter()
                .map(meta_json)
                .collect::<Result<_>>()?,
        };
        msg.encode(buf).map_err(|e| bad(e.to_string()))
    }
}

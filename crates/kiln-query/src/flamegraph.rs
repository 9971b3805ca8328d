//! `flamegraph(block, stack_id, value)`: the aggregate behind every merged
//! call tree.
//!
//! ```text
//!  update_batch:  value summed per (block, stack_id) into dense i64 arrays   ← hot loop, integers only
//!  fold:          each block's non-zero stacks mapped into a name-keyed tree,
//!                 every block stack node resolved once (names::NameTree)
//!  state/evaluate: name tree ─► kiln_model::Tree ─► Tree bytes (Binary)
//!  merge_batch:   Tree::from_bytes ─► Tree::merge                            ← partial trees from
//!                                                                              other partitions/queriers
//! ```
//!
//! The state is a serialised name-keyed [`Tree`], so partial aggregates
//! computed anywhere (another partition, another querier under
//! `datafusion-distributed`) merge into the same result: block-local ids
//! never leave the accumulator that saw them.

mod names;

use arrow::array::{Array, ArrayRef, BinaryArray, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use kiln_block::StackResolver;
use kiln_model::tree::Tree;
use names::NameTree;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

/// The stack resolvers of a query's blocks, indexed by the `block` column.
///
/// Built complete by the planner; on a `datafusion-distributed` worker it
/// starts empty ([`BlockSymbols::unbound`]) and the plan codec binds the
/// resolver of every block the task's scans read, so the worker loads only
/// its own blocks' stacks.
#[derive(Debug, Default)]
pub(crate) struct BlockSymbols {
    resolvers: RwLock<Vec<Option<Arc<StackResolver>>>>,
    /// The blocks of `resolvers`, same order: what the plan codec ships so a
    /// remote querier reloads the resolvers (empty when unbound).
    pub metas: Vec<kiln_block::BlockMeta>,
}

impl BlockSymbols {
    pub(crate) fn new(
        resolvers: Vec<Arc<StackResolver>>,
        metas: Vec<kiln_block::BlockMeta>,
    ) -> Self {
        Self {
            resolvers: RwLock::new(resolvers.into_iter().map(Some).collect()),
            metas,
        }
    }

    /// Symbols filled later by [`BlockSymbols::bind`].
    pub(crate) fn unbound() -> Self {
        Self::default()
    }

    /// Makes `resolver` the one of block `index`.
    pub(crate) fn bind(&self, index: u32, resolver: Arc<StackResolver>) {
        let mut all = self.resolvers.write().unwrap_or_else(|e| e.into_inner());
        let i = index as usize;
        if all.len() <= i {
            all.resize(i + 1, None);
        }
        all[i] = Some(resolver);
    }

    fn resolver(&self, index: u32) -> Option<Arc<StackResolver>> {
        let all = self.resolvers.read().unwrap_or_else(|e| e.into_inner());
        all.get(index as usize).cloned().flatten()
    }
}

/// The `flamegraph` aggregate UDF. One instance per query: it carries the
/// query's block symbols (a codec would rebuild them from the block ids).
#[derive(Debug)]
pub(crate) struct Flamegraph {
    signature: Signature,
    symbols: Arc<BlockSymbols>,
}

impl Flamegraph {
    pub(crate) fn new(symbols: Arc<BlockSymbols>) -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::UInt32, DataType::UInt32, DataType::Int64],
                Volatility::Immutable,
            ),
            symbols,
        }
    }
}

impl Flamegraph {
    /// The blocks this instance resolves (for the plan codec).
    pub(crate) fn symbols(&self) -> &Arc<BlockSymbols> {
        &self.symbols
    }
}

/// Two instances are the same function only if they resolve the same blocks.
impl PartialEq for Flamegraph {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.symbols, &other.symbols)
    }
}

impl Eq for Flamegraph {}

impl Hash for Flamegraph {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.symbols).hash(state);
    }
}

impl AggregateUDFImpl for Flamegraph {
    fn name(&self) -> &str {
        "flamegraph"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "tree"),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FlamegraphAccumulator::new(self.symbols.clone())))
    }
}

/// Blocks whose dense sums are kept before they are folded into the name
/// tree. Scans deliver one block at a time, so this bounds memory to a few
/// blocks' stack counts without folding a block more than once in practice
/// (folding twice is still correct: it is additive).
const LIVE_BLOCKS: usize = 4;

/// Sums per (block, stack id) until asked for its state; see the module docs.
#[derive(Debug)]
pub(crate) struct FlamegraphAccumulator {
    symbols: Arc<BlockSymbols>,
    /// `symbols`' resolvers of the blocks seen so far (looked up once each).
    resolvers: Vec<Option<Arc<StackResolver>>>,
    /// `sums[block][stack_id]`, allocated on the block's first row.
    sums: Vec<Vec<i64>>,
    /// Blocks with allocated sums.
    live: usize,
    /// Folded blocks, keyed by name.
    names: NameTree,
    /// Merged partial states and drained name trees.
    tree: Tree,
    /// `tree.memory_size()` as of its last change (computing it walks the
    /// names, and DataFusion asks after every batch).
    tree_size: usize,
}

impl FlamegraphAccumulator {
    pub(crate) fn new(symbols: Arc<BlockSymbols>) -> Self {
        Self {
            symbols,
            resolvers: Vec::new(),
            sums: Vec::new(),
            live: 0,
            names: NameTree::new(),
            tree: Tree::new(),
            tree_size: 0,
        }
    }

    fn sums_of(&mut self, block: u32) -> Result<&mut Vec<i64>> {
        let b = block as usize;
        if self.resolvers.len() <= b {
            self.resolvers.resize(b + 1, None);
        }
        if self.resolvers[b].is_none() {
            self.resolvers[b] = self.symbols.resolver(block);
        }
        let Some(resolver) = &self.resolvers[b] else {
            return Err(DataFusionError::Internal(format!(
                "flamegraph: block {block} is not part of the query"
            )));
        };
        if self.sums.len() <= b {
            self.sums.resize_with(b + 1, Vec::new);
        }
        let sums = &mut self.sums[b];
        if sums.is_empty() {
            sums.resize(resolver.len() + 1, 0);
            self.live += 1;
        }
        Ok(sums)
    }

    /// Maps the summed stacks of every live block into the name tree and
    /// frees their sums.
    fn fold_blocks(&mut self) -> Result<()> {
        for (block, sums) in self.sums.iter_mut().enumerate() {
            if !sums.is_empty() {
                let resolver = self.resolvers[block].as_ref().ok_or_else(|| {
                    DataFusionError::Internal(format!("flamegraph: block {block} has no symbols"))
                })?;
                self.names.add_block(resolver, sums)?;
                *sums = Vec::new();
            }
        }
        self.live = 0;
        Ok(())
    }

    fn tree_bytes(&mut self) -> Result<ScalarValue> {
        self.fold_blocks()?;
        if !self.names.is_empty() {
            self.names.drain_into(&mut self.tree);
            self.tree_size = self.tree.memory_size();
        }
        Ok(ScalarValue::Binary(Some(self.tree.to_bytes())))
    }
}

fn downcast<'a, T: 'static>(values: &'a [ArrayRef], i: usize, what: &str) -> Result<&'a T> {
    values
        .get(i)
        .and_then(|a| a.as_any().downcast_ref::<T>())
        .ok_or_else(|| DataFusionError::Internal(format!("flamegraph: bad {what} argument")))
}

impl Accumulator for FlamegraphAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let blocks = downcast::<UInt32Array>(values, 0, "block")?;
        let stacks = downcast::<UInt32Array>(values, 1, "stack_id")?;
        let vals = downcast::<Int64Array>(values, 2, "value")?;
        if blocks.null_count() + stacks.null_count() + vals.null_count() > 0 {
            return Err(DataFusionError::Internal(
                "flamegraph: arguments must not be null".into(),
            ));
        }
        let (blocks, stacks, vals) = (blocks.values(), stacks.values(), vals.values());
        let mut i = 0;
        // Rows come in runs of one block (a scan reads one block at a time).
        while i < blocks.len() {
            let block = blocks[i];
            let run = blocks[i..].iter().take_while(|&&b| b == block).count();
            let sums = self.sums_of(block)?;
            for (&stack, &value) in stacks[i..i + run].iter().zip(&vals[i..i + run]) {
                let slot = sums.get_mut(stack as usize).ok_or_else(|| {
                    DataFusionError::Internal(format!(
                        "flamegraph: stack id {stack} out of range in block {block}"
                    ))
                })?;
                *slot = slot.wrapping_add(value);
            }
            i += run;
        }
        if self.live > LIVE_BLOCKS {
            self.fold_blocks()?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.tree_bytes()
    }

    fn size(&self) -> usize {
        let sums: usize = self.sums.iter().map(|s| s.capacity() * 8).sum();
        std::mem::size_of::<Self>() + sums + self.names.memory_size() + self.tree_size
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.tree_bytes()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let trees = downcast::<BinaryArray>(states, 0, "state")?;
        for bytes in trees.iter().flatten() {
            let partial =
                Tree::from_bytes(bytes).map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.tree.merge(&partial);
        }
        self.tree_size = self.tree.memory_size();
        Ok(())
    }
}

//! Block-wide symbol tables: frames deduplicated by content, stacks as a
//! parent-pointer trie over root-first frame ids.
//!
//! Ids are deterministic for a given set of stacks, whatever the input order:
//! frames are numbered in content order (`Frame`'s `Ord`), stack nodes in
//! depth-first pre-order with children visited in frame-id order. Pre-order
//! makes `parent_id < stack_id` for every node, which the reader relies on.
//!
//! Two builders share the trie and the final numbering:
//! - [`SymbolBuilder`] borrows frames from the profiles being encoded (the
//!   in-memory writer);
//! - [`StackTableBuilder`] owns its frames, so the compactor can feed it one
//!   source block at a time and drop each source's tables afterwards.

use crate::BlockError;
use foldhash::HashMap;
use kiln_model::Frame;
use std::sync::Arc;

/// Sentinel for "not interned yet" in a per-profile frame table map.
const UNSET: u32 = u32::MAX;

/// The stack trie with provisional node ids (1-based; 0 is the root).
#[derive(Default)]
struct Trie {
    /// (provisional parent node, provisional frame id) → provisional node.
    nodes: HashMap<(u32, u32), u32>,
    /// Indexed by provisional node - 1.
    node_parent: Vec<u32>,
    node_frame: Vec<u32>,
}

impl Trie {
    fn child(&mut self, parent: u32, frame: u32) -> u32 {
        let next = self.node_parent.len() as u32 + 1;
        *self.nodes.entry((parent, frame)).or_insert_with(|| {
            self.node_parent.push(parent);
            self.node_frame.push(frame);
            next
        })
    }

    /// Final ids: `frame_remap` maps provisional to final frame ids. Returns
    /// (parent per stack id - 1, frame per stack id - 1, provisional node → stack id).
    fn finish(self, frame_remap: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        drop(self.nodes);
        // Children of every node, grouped by parent (CSR), in final frame order.
        let n = self.node_parent.len();
        let final_frame = |node: u32| frame_remap[self.node_frame[node as usize - 1] as usize];
        let mut children: Vec<u32> = (1..=n as u32).collect();
        children.sort_unstable_by_key(|&k| (self.node_parent[k as usize - 1], final_frame(k)));
        let mut starts = vec![0usize; n + 2];
        for &k in &children {
            starts[self.node_parent[k as usize - 1] as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let kids = |node: u32| &children[starts[node as usize]..starts[node as usize + 1]];

        // Pre-order walk from the root.
        let mut node_to_stack = vec![0u32; n + 1];
        let mut stack_parent = Vec::with_capacity(n);
        let mut stack_frame = Vec::with_capacity(n);
        let mut todo: Vec<u32> = kids(0).iter().rev().copied().collect();
        while let Some(node) = todo.pop() {
            let id = stack_parent.len() as u32 + 1;
            node_to_stack[node as usize] = id;
            stack_parent.push(node_to_stack[self.node_parent[node as usize - 1] as usize]);
            stack_frame.push(final_frame(node));
            todo.extend(kids(node).iter().rev());
        }
        (stack_parent, stack_frame, node_to_stack)
    }
}

/// Content order of `frames`: (final id → provisional id, provisional id → final id).
fn content_order<'f>(n: usize, frame: impl Fn(usize) -> &'f Frame) -> (Vec<u32>, Vec<u32>) {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| frame(a as usize).cmp(frame(b as usize)));
    let mut remap = vec![0u32; n];
    for (final_id, &provisional) in order.iter().enumerate() {
        remap[provisional as usize] = final_id as u32;
    }
    (order, remap)
}

/// Collects frames and stacks while the writer walks the profiles.
#[derive(Default)]
pub(crate) struct SymbolBuilder<'a> {
    /// Distinct frames, in first-seen order (provisional ids).
    frames: Vec<&'a Frame>,
    frame_ids: HashMap<&'a Frame, u32>,
    /// Per frame table (keyed by its address: profiles cut from one pprof share it):
    /// local index → provisional frame id.
    tables: HashMap<usize, Vec<u32>>,
    trie: Trie,
}

/// The finished tables, with final ids.
pub(crate) struct Symbols<'a> {
    /// Row `i` is frame id `i`.
    pub frames: Vec<&'a Frame>,
    /// Row `i` is stack id `i + 1`.
    pub stack_parent: Vec<u32>,
    pub stack_frame: Vec<u32>,
    /// Provisional node → final stack id (index 0, the root, maps to 0).
    pub node_to_stack: Vec<u32>,
}

impl<'a> SymbolBuilder<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Interns one root-first stack of indices into `table`; returns its
    /// provisional node (0 for the empty stack).
    pub fn intern_stack(
        &mut self,
        table_key: usize,
        table: &'a [Frame],
        stack: &[u32],
    ) -> Result<u32, BlockError> {
        let local = self
            .tables
            .entry(table_key)
            .or_insert_with(|| vec![UNSET; table.len()]);
        let mut node = 0u32;
        for &index in stack {
            let slot = local.get_mut(index as usize).ok_or_else(|| {
                BlockError::InvalidProfile(format!(
                    "frame index {index} out of range (frame table has {} entries)",
                    table.len()
                ))
            })?;
            if *slot == UNSET {
                let frame = &table[index as usize];
                let next = self.frames.len() as u32;
                *slot = *self.frame_ids.entry(frame).or_insert_with(|| {
                    self.frames.push(frame);
                    next
                });
            }
            node = self.trie.child(node, *slot);
        }
        Ok(node)
    }

    /// Assigns final frame and stack ids.
    pub fn finish(self) -> Symbols<'a> {
        let (order, remap) = content_order(self.frames.len(), |i| self.frames[i]);
        let frames = order.iter().map(|&p| self.frames[p as usize]).collect();
        let (stack_parent, stack_frame, node_to_stack) = self.trie.finish(&remap);
        Symbols {
            frames,
            stack_parent,
            stack_frame,
            node_to_stack,
        }
    }
}

/// A provisional stack node of a [`StackTableBuilder`]; [`StackNode::ROOT`]
/// is the empty stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackNode(pub u32);

impl StackNode {
    pub const ROOT: StackNode = StackNode(0);
}

/// The final symbol tables of a block, as the compactor streams it
/// (see [`crate::writer::StreamingBlockWriter`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackTables {
    /// Row `i` is frame id `i`, in content order.
    pub frames: Vec<Frame>,
    /// Parent of stack id `i + 1` (0 = the root); always `< i + 1`.
    pub stack_parent: Vec<u32>,
    /// Frame of stack id `i + 1`.
    pub stack_frame: Vec<u32>,
}

impl StackTables {
    /// Number of stack nodes (stack ids are `1..=len`, 0 is the root).
    pub fn len(&self) -> usize {
        self.stack_parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stack_parent.is_empty()
    }
}

/// Builds a block's frame and stack tables from stacks given node by node,
/// owning the frames: merging blocks interns each source's trie (parent
/// before child) without keeping the source's tables alive.
///
/// Nodes and frames get provisional ids while building; [`Self::finish`]
/// assigns the format's deterministic ids and maps provisional nodes to
/// final stack ids, so the same set of stacks gives the same tables however
/// it was fed.
#[derive(Default)]
pub struct StackTableBuilder {
    /// Distinct frames, in first-seen order (provisional ids).
    frames: Vec<Arc<Frame>>,
    frame_ids: HashMap<Arc<Frame>, u32>,
    trie: Trie,
}

impl std::fmt::Debug for StackTableBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackTableBuilder")
            .field("frames", &self.frames.len())
            .field("nodes", &self.trie.node_parent.len())
            .finish()
    }
}

impl StackTableBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The provisional id of `frame`, cloning it the first time it is seen.
    pub fn intern_frame(&mut self, frame: &Frame) -> u32 {
        if let Some(&id) = self.frame_ids.get(frame) {
            return id;
        }
        let id = self.frames.len() as u32;
        let owned = Arc::new(frame.clone());
        self.frames.push(owned.clone());
        self.frame_ids.insert(owned, id);
        id
    }

    /// The node for `parent` followed by provisional frame `frame`
    /// (from [`Self::intern_frame`]).
    pub fn intern_child(&mut self, parent: StackNode, frame: u32) -> StackNode {
        debug_assert!((frame as usize) < self.frames.len(), "frame not interned");
        StackNode(self.trie.child(parent.0, frame))
    }

    /// Interns a root-first stack of frames.
    pub fn intern_stack<'f>(&mut self, frames: impl IntoIterator<Item = &'f Frame>) -> StackNode {
        let mut node = StackNode::ROOT;
        for frame in frames {
            let id = self.intern_frame(frame);
            node = self.intern_child(node, id);
        }
        node
    }

    /// Number of distinct stack nodes so far.
    pub fn nodes(&self) -> usize {
        self.trie.node_parent.len()
    }

    /// The final tables and, indexed by provisional node, its final stack id
    /// (index 0, the root, maps to 0).
    pub fn finish(self) -> (StackTables, Vec<u32>) {
        let (order, remap) = content_order(self.frames.len(), |i| &*self.frames[i]);
        let (stack_parent, stack_frame, node_to_stack) = self.trie.finish(&remap);
        drop(self.frame_ids);
        let mut slots: Vec<Option<Arc<Frame>>> = self.frames.into_iter().map(Some).collect();
        let frames = order
            .iter()
            .map(|&p| {
                let f = slots[p as usize].take().expect("each frame once");
                Arc::try_unwrap(f).unwrap_or_else(|shared| (*shared).clone())
            })
            .collect();
        let tables = StackTables {
            frames,
            stack_parent,
            stack_frame,
        };
        (tables, node_to_stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(names: &[&str]) -> Vec<Frame> {
        names.iter().map(|n| Frame::named(*n)).collect()
    }

    #[test]
    fn shared_prefixes_once_and_preorder_ids() {
        // Table 1: d c b a; table 2 (another pprof): a b c.
        let t1 = frames(&["d", "c", "b", "a"]);
        let t2 = frames(&["a", "b", "c"]);
        let mut b = SymbolBuilder::new();
        let abd = b.intern_stack(1, &t1, &[3, 2, 0]).unwrap();
        let abc = b.intern_stack(2, &t2, &[0, 1, 2]).unwrap();
        let ab = b.intern_stack(1, &t1, &[3, 2]).unwrap();
        let empty = b.intern_stack(1, &t1, &[]).unwrap();
        let s = b.finish();
        let names: Vec<&str> = s.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        // a=1, a;b=2, a;b;c=3, a;b;d=4
        assert_eq!(s.stack_parent, [0, 1, 2, 2]);
        assert_eq!(s.stack_frame, [0, 1, 2, 3]);
        assert_eq!(s.node_to_stack[abd as usize], 4);
        assert_eq!(s.node_to_stack[abc as usize], 3);
        assert_eq!(s.node_to_stack[ab as usize], 2);
        assert_eq!(s.node_to_stack[empty as usize], 0);
    }

    #[test]
    fn owned_builder_gives_the_same_ids_as_the_borrowing_one() {
        let t1 = frames(&["d", "c", "b", "a"]);
        let stacks: [&[u32]; 4] = [&[3, 2, 0], &[3, 2, 1], &[3, 2], &[1]];
        let mut borrowed = SymbolBuilder::new();
        let mut owned = StackTableBuilder::new();
        let mut pairs = Vec::new();
        for s in stacks.iter().rev() {
            let a = borrowed.intern_stack(1, &t1, s).unwrap();
            let b = owned.intern_stack(s.iter().map(|&i| &t1[i as usize]));
            pairs.push((a, b));
        }
        let s = borrowed.finish();
        let (tables, node_to_stack) = owned.finish();
        assert_eq!(tables.stack_parent, s.stack_parent);
        assert_eq!(tables.stack_frame, s.stack_frame);
        let names: Vec<&str> = tables.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        for (a, b) in pairs {
            assert_eq!(s.node_to_stack[a as usize], node_to_stack[b.0 as usize]);
        }
    }

    #[test]
    fn bad_frame_index_is_an_error() {
        let t = frames(&["a"]);
        let mut b = SymbolBuilder::new();
        assert!(matches!(
            b.intern_stack(1, &t, &[0, 1]),
            Err(BlockError::InvalidProfile(_))
        ));
    }
}

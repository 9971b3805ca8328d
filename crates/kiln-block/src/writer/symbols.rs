//! Block-wide symbol tables: frames deduplicated by content, stacks as a
//! parent-pointer trie over root-first frame ids.
//!
//! Ids are deterministic for a given set of stacks, whatever the input order:
//! frames are numbered in content order (`Frame`'s `Ord`), stack nodes in
//! depth-first pre-order with children visited in frame-id order. Pre-order
//! makes `parent_id < stack_id` for every node, which the reader relies on.

use crate::BlockError;
use foldhash::{HashMap, HashMapExt};
use kiln_model::Frame;

/// Sentinel for "not interned yet" in a per-profile frame table map.
const UNSET: u32 = u32::MAX;

/// Collects frames and stacks while the writer walks the profiles.
#[derive(Default)]
pub(crate) struct SymbolBuilder<'a> {
    /// Distinct frames, in first-seen order (provisional ids).
    frames: Vec<&'a Frame>,
    frame_ids: HashMap<&'a Frame, u32>,
    /// Per frame table (keyed by its address: profiles cut from one pprof share it):
    /// local index → provisional frame id.
    tables: HashMap<usize, Vec<u32>>,
    /// (provisional parent node, provisional frame id) → provisional node (1-based).
    nodes: HashMap<(u32, u32), u32>,
    /// Indexed by provisional node - 1.
    node_parent: Vec<u32>,
    node_frame: Vec<u32>,
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
        Self {
            frames: Vec::new(),
            frame_ids: HashMap::new(),
            tables: HashMap::new(),
            nodes: HashMap::new(),
            node_parent: Vec::new(),
            node_frame: Vec::new(),
        }
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
            let frame_id = *slot;
            let next = self.node_parent.len() as u32 + 1;
            node = *self.nodes.entry((node, frame_id)).or_insert_with(|| {
                self.node_parent.push(node);
                self.node_frame.push(frame_id);
                next
            });
        }
        Ok(node)
    }

    /// Assigns final frame and stack ids.
    pub fn finish(self) -> Symbols<'a> {
        let frames = self.frames;
        // Frames in content order.
        let mut order: Vec<u32> = (0..frames.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| frames[a as usize].cmp(frames[b as usize]));
        let mut frame_remap = vec![0u32; frames.len()];
        for (final_id, &provisional) in order.iter().enumerate() {
            frame_remap[provisional as usize] = final_id as u32;
        }
        let sorted_frames: Vec<&Frame> = order.iter().map(|&p| frames[p as usize]).collect();

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
        Symbols {
            frames: sorted_frames,
            stack_parent,
            stack_frame,
            node_to_stack,
        }
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
    fn bad_frame_index_is_an_error() {
        let t = frames(&["a"]);
        let mut b = SymbolBuilder::new();
        assert!(matches!(
            b.intern_stack(1, &t, &[0, 1]),
            Err(BlockError::InvalidProfile(_))
        ));
    }
}

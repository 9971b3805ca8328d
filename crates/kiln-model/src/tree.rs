//! Name-keyed call trees: the mergeable state behind every flame-graph query.
//!
//! ```text
//!  stacks (root first) ─► Tree::insert_stack ─┐
//!  partial trees ───────► Tree::merge ────────┼─► Tree ─► min_value / truncate (spec §2.2)
//!  Tree::to_bytes ◄──────────────────────────►┘           ─► flamegraph, flamegraph_diff, tree_bytes
//! ```
//!
//! A tree is an arena of nodes with an interned name table; a node is
//! identified by (parent, name), so two stacks that share a prefix of
//! function names share nodes. Invariants:
//! - node 0 is the root: empty name, `self_value == 0`;
//! - a parent's id is smaller than its children's ids (nodes are only appended),
//!   so a forward pass sees parents first and a backward pass sees children first;
//! - `total == self_value + Σ children totals` for every node.
//!
//! Children are kept unordered in the arena and sorted byte-wise by name when
//! read ([`Tree::sorted_children`]), which is the order every encoding uses.

mod codec;

pub(crate) use codec::{Reader, put_uvarint};

use foldhash::HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// Index of a node in a tree's arena; [`Tree::ROOT`] is the root.
pub type NodeId = u32;

/// Marks "no node" in the intrusive child lists.
const NONE: u32 = u32::MAX;

/// The name every synthetic "pruned remainder" node carries (spec §2.2).
pub const OTHER: &str = "other";

#[derive(Debug, Clone)]
struct Node {
    parent: u32,
    name: u32,
    first_child: u32,
    next_sibling: u32,
    self_value: i64,
    total: i64,
}

/// A call tree keyed by function name, with self and total values per node.
///
/// Cheap to grow (one hash lookup per frame), mergeable, serialisable
/// ([`Tree::to_bytes`], serde), and compared structurally by `==`
/// (arena layout and insertion order do not matter).
#[derive(Debug, Clone)]
pub struct Tree {
    /// Interned names; `names[0]` is the root's empty name.
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, u32>,
    nodes: Vec<Node>,
    /// (parent, name) → child.
    edges: HashMap<(u32, u32), u32>,
}

/// A pruned view of one node's children (spec §2.2): the children kept in
/// name order, and the summed totals of the rest, to be shown as `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub(crate) kept: Vec<NodeId>,
    pub(crate) other: i64,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// The root node's id.
    pub const ROOT: NodeId = 0;

    /// An empty tree: just the root.
    pub fn new() -> Self {
        let root_name: Arc<str> = Arc::from("");
        let mut name_ids = HashMap::default();
        name_ids.insert(root_name.clone(), 0);
        Self {
            names: vec![root_name],
            name_ids,
            nodes: vec![Node {
                parent: NONE,
                name: 0,
                first_child: NONE,
                next_sibling: NONE,
                self_value: 0,
                total: 0,
            }],
            edges: HashMap::default(),
        }
    }

    /// Adds `value` to the stack given root first (the hot path of every
    /// query). An empty stack is ignored: the root carries no self value.
    pub fn insert_stack<S: AsRef<str>>(
        &mut self,
        stack_root_first: impl IntoIterator<Item = S>,
        value: i64,
    ) {
        let mut cur = Self::ROOT;
        for frame in stack_root_first {
            let name = self.intern(frame.as_ref());
            cur = self.child_or_insert(cur, name);
            let node = &mut self.nodes[cur as usize];
            node.total = node.total.saturating_add(value);
        }
        if cur != Self::ROOT {
            let node = &mut self.nodes[cur as usize];
            node.self_value = node.self_value.saturating_add(value);
            let root = &mut self.nodes[Self::ROOT as usize];
            root.total = root.total.saturating_add(value);
        }
    }

    /// Adds every stack of `other` to this tree.
    pub fn merge(&mut self, other: &Tree) {
        let mut name_map = vec![NONE; other.names.len()];
        let mut node_map = vec![NONE; other.nodes.len()];
        node_map[0] = Self::ROOT;
        for (i, node) in other.nodes.iter().enumerate().skip(1) {
            let parent = node_map[node.parent as usize];
            let name = match name_map[node.name as usize] {
                NONE => {
                    let id = self.intern(&other.names[node.name as usize]);
                    name_map[node.name as usize] = id;
                    id
                }
                id => id,
            };
            let id = self.child_or_insert(parent, name);
            let mine = &mut self.nodes[id as usize];
            mine.self_value = mine.self_value.saturating_add(node.self_value);
            mine.total = mine.total.saturating_add(node.total);
            node_map[i] = id;
        }
        let root = &mut self.nodes[Self::ROOT as usize];
        root.total = root.total.saturating_add(other.total());
    }

    /// Sum of all values in the tree (the root's total).
    pub fn total(&self) -> i64 {
        self.nodes[Self::ROOT as usize].total
    }

    /// True when no stack was ever inserted.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Number of nodes, not counting the root.
    pub fn node_count(&self) -> usize {
        self.nodes.len() - 1
    }

    /// An estimate of the heap bytes the tree holds, for memory accounting
    /// (e.g. a DataFusion accumulator's `size()`).
    pub fn memory_size(&self) -> usize {
        use std::mem::size_of;
        let names: usize = self
            .names
            .iter()
            .map(|n| n.len() + 2 * size_of::<usize>())
            .sum();
        names
            + self.names.capacity() * size_of::<Arc<str>>()
            + self.name_ids.capacity() * (size_of::<(Arc<str>, u32)>() + 1)
            + self.nodes.capacity() * size_of::<Node>()
            + self.edges.capacity() * (size_of::<((u32, u32), u32)>() + 1)
    }

    /// The function name of a node (empty for the root).
    pub fn name(&self, id: NodeId) -> &str {
        &self.names[self.nodes[id as usize].name as usize]
    }

    /// The value of samples whose stack ends at this node.
    pub fn self_value(&self, id: NodeId) -> i64 {
        self.nodes[id as usize].self_value
    }

    /// Self value plus the totals of all children.
    pub fn node_total(&self, id: NodeId) -> i64 {
        self.nodes[id as usize].total
    }

    /// The children of a node, sorted byte-wise by name (the order of every encoding).
    pub fn sorted_children(&self, id: NodeId) -> Vec<NodeId> {
        let mut children = Vec::new();
        let mut c = self.nodes[id as usize].first_child;
        while c != NONE {
            children.push(c);
            c = self.nodes[c as usize].next_sibling;
        }
        children.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
        children
    }

    /// The child of `parent` named `name`, if any.
    pub fn child(&self, parent: NodeId, name: &str) -> Option<NodeId> {
        let name = *self.name_ids.get(name)?;
        self.edges.get(&(parent, name)).copied()
    }

    /// Calls `f(stack_root_first, self_value)` for every node with a non-zero
    /// self value, in name order (depth first). Useful to re-export a tree.
    pub fn for_each_stack(&self, mut f: impl FnMut(&[&str], i64)) {
        let mut path: Vec<&str> = Vec::new();
        // (node, depth) pairs; children are pushed in reverse so the first is visited first.
        let mut stack: Vec<(NodeId, usize)> = self
            .sorted_children(Self::ROOT)
            .into_iter()
            .rev()
            .map(|c| (c, 0))
            .collect();
        while let Some((id, depth)) = stack.pop() {
            path.truncate(depth);
            path.push(self.name(id));
            if self.self_value(id) != 0 {
                f(&path, self.self_value(id));
            }
            stack.extend(
                self.sorted_children(id)
                    .into_iter()
                    .rev()
                    .map(|c| (c, depth + 1)),
            );
        }
    }

    /// The pruning threshold `minVal` of spec §2.2: the `max_nodes`-th largest
    /// node total (root excluded), found with a bounded min-heap. It is 0 when
    /// the tree has no more than `max_nodes` nodes, or when `max_nodes <= 0`
    /// (no limit; callers map 0 to the tenant default before calling).
    pub fn min_value(&self, max_nodes: i64) -> i64 {
        top_n_threshold(
            self.nodes[1..].iter().map(|n| n.total),
            self.node_count(),
            max_nodes,
        )
    }

    /// A copy of the tree pruned to roughly `max_nodes` nodes exactly as the
    /// encoders prune it: under each parent, children below [`Tree::min_value`]
    /// (and any child named `other`) are folded into one `other` child whose
    /// self and total are their summed totals. Every total is conserved.
    pub fn truncate(&self, max_nodes: i64) -> Tree {
        let min_val = self.min_value(max_nodes);
        let mut out = Tree::new();
        out.nodes[0].total = self.total();
        let mut stack = vec![(Self::ROOT, Self::ROOT)];
        while let Some((src, dst)) = stack.pop() {
            let pruned = self.pruned_children(src, min_val);
            for c in pruned.kept {
                let name = out.intern(self.name(c));
                let id = out.child_or_insert(dst, name);
                out.nodes[id as usize].self_value = self.self_value(c);
                out.nodes[id as usize].total = self.node_total(c);
                stack.push((c, id));
            }
            if pruned.other != 0 {
                let name = out.intern(OTHER);
                let id = out.child_or_insert(dst, name);
                out.nodes[id as usize].self_value = pruned.other;
                out.nodes[id as usize].total = pruned.other;
            }
        }
        out
    }

    /// The children an encoder emits for `id` under threshold `min_val`
    /// (spec §2.2): those with total ≥ `min_val` whose name is not `other`,
    /// in name order; the rest are summed into `other`.
    pub(crate) fn pruned_children(&self, id: NodeId, min_val: i64) -> Pruned {
        let mut pruned = Pruned::default();
        for c in self.sorted_children(id) {
            if self.node_total(c) >= min_val && self.name(c) != OTHER {
                pruned.kept.push(c);
            } else {
                pruned.other = pruned.other.saturating_add(self.node_total(c));
            }
        }
        pruned
    }

    /// The id of `name` in the name table, adding it if new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    /// The child of `parent` with interned name `name`, created (with zero
    /// values) if missing.
    pub(crate) fn child_or_insert(&mut self, parent: NodeId, name: u32) -> NodeId {
        let next = self.nodes.len() as u32;
        let id = *self.edges.entry((parent, name)).or_insert(next);
        if id == next {
            let first = self.nodes[parent as usize].first_child;
            self.nodes.push(Node {
                parent,
                name,
                first_child: NONE,
                next_sibling: first,
                self_value: 0,
                total: 0,
            });
            self.nodes[parent as usize].first_child = id;
        }
        id
    }

    /// Adds to a node's self value only; call [`Tree::recompute_totals`] after.
    pub(crate) fn add_self(&mut self, id: NodeId, value: i64) {
        let node = &mut self.nodes[id as usize];
        node.self_value = node.self_value.saturating_add(value);
    }

    /// Rebuilds every total from self values (children before parents).
    pub(crate) fn recompute_totals(&mut self) {
        for node in &mut self.nodes {
            node.total = node.self_value;
        }
        for i in (1..self.nodes.len()).rev() {
            let (total, parent) = (self.nodes[i].total, self.nodes[i].parent as usize);
            self.nodes[parent].total = self.nodes[parent].total.saturating_add(total);
        }
    }

    /// Structural equality of the subtrees at `a` (in self) and `b` (in other).
    fn subtree_eq(&self, a: NodeId, other: &Tree, b: NodeId) -> bool {
        let mut stack = vec![(a, b)];
        while let Some((a, b)) = stack.pop() {
            if self.self_value(a) != other.self_value(b)
                || self.node_total(a) != other.node_total(b)
            {
                return false;
            }
            let (ca, cb) = (self.sorted_children(a), other.sorted_children(b));
            if ca.len() != cb.len() {
                return false;
            }
            for (&x, &y) in ca.iter().zip(&cb) {
                if self.name(x) != other.name(y) {
                    return false;
                }
                stack.push((x, y));
            }
        }
        true
    }
}

impl PartialEq for Tree {
    fn eq(&self, other: &Self) -> bool {
        self.nodes.len() == other.nodes.len() && self.subtree_eq(Self::ROOT, other, Self::ROOT)
    }
}

impl Eq for Tree {}

/// The `max_nodes`-th largest of `values` (there are `count` of them), or 0
/// when `max_nodes <= 0` or `count <= max_nodes`. Shared by trees and diffs.
pub(crate) fn top_n_threshold(
    values: impl Iterator<Item = i64>,
    count: usize,
    max_nodes: i64,
) -> i64 {
    if max_nodes <= 0 || count as u64 <= max_nodes as u64 {
        return 0;
    }
    let n = max_nodes as usize; // < count, so it fits
    let mut heap: BinaryHeap<Reverse<i64>> = BinaryHeap::with_capacity(n + 1);
    for v in values {
        if heap.len() < n {
            heap.push(Reverse(v));
        } else if let Some(mut smallest) = heap.peek_mut()
            && v > smallest.0
        {
            *smallest = Reverse(v);
        }
    }
    heap.peek().map_or(0, |r| r.0)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

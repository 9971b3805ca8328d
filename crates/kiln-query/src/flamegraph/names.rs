//! `NameTree`: the accumulator's working tree, keyed by function name, that
//! block-local stack nodes are mapped into **once per node** instead of once
//! per frame of every stack.
//!
//! ```text
//!  block stacks (parent pointers) ──memo: stack node → name node──► NameTree (self values)
//!  NameTree ──insert_stack per node with a self value──► kiln_model::Tree (the state)
//! ```
//!
//! Mapping a block's stack node costs one lookup when its parent is already
//! mapped, so a block with S summed stacks over N stack nodes costs O(N),
//! not O(S × depth). Converting to a [`Tree`] happens once per state, on the
//! merged (name-keyed, so smaller) tree.

use datafusion::common::{DataFusionError, Result};
use foldhash::HashMap;
use kiln_block::StackResolver;
use kiln_model::tree::Tree;
use std::mem::size_of;

const ROOT: u32 = 0;
const UNSET: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct NameTree {
    names: Vec<Box<str>>,
    name_ids: HashMap<Box<str>, u32>,
    /// Bytes of all names, kept up to date so `memory_size` is O(1)
    /// (DataFusion asks after every batch).
    name_bytes: usize,
    /// Per node; node 0 is the root.
    parent: Vec<u32>,
    name: Vec<u32>,
    self_value: Vec<i64>,
    /// (parent, name) → node.
    edges: HashMap<(u32, u32), u32>,
}

fn corrupt(e: kiln_block::BlockError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl NameTree {
    pub(crate) fn new() -> Self {
        Self {
            names: vec!["".into()],
            name_ids: HashMap::default(),
            name_bytes: 0,
            parent: vec![ROOT],
            name: vec![0],
            self_value: vec![0],
            edges: HashMap::default(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.parent.len() == 1
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.name_bytes += name.len();
        self.names.push(name.into());
        self.name_ids.insert(name.into(), id);
        id
    }

    fn child(&mut self, parent: u32, name: &str) -> u32 {
        let name = self.intern(name);
        let next = self.parent.len() as u32;
        let id = *self.edges.entry((parent, name)).or_insert(next);
        if id == next {
            self.parent.push(parent);
            self.name.push(name);
            self.self_value.push(0);
        }
        id
    }

    /// Adds `sums[stack_id]` of one block, resolving each stack node of the
    /// block at most once. Stack 0 (the empty stack) is ignored, as
    /// [`Tree::insert_stack`] ignores an empty stack.
    pub(crate) fn add_block(&mut self, resolver: &StackResolver, sums: &[i64]) -> Result<()> {
        let mut node_of = vec![UNSET; sums.len()];
        node_of[0] = ROOT;
        let mut pending: Vec<u32> = Vec::new();
        for (stack, &value) in sums.iter().enumerate().skip(1) {
            if value == 0 {
                continue;
            }
            let mut s = stack as u32;
            while node_of[s as usize] == UNSET {
                pending.push(s);
                s = resolver.parent(s).map_err(corrupt)?;
            }
            let mut node = node_of[s as usize];
            while let Some(p) = pending.pop() {
                let frame = resolver.leaf(p).map_err(corrupt)?;
                node = self.child(node, frame.map_or("", |f| f.function.as_str()));
                node_of[p as usize] = node;
            }
            let slot = &mut self.self_value[node as usize];
            *slot = slot.saturating_add(value);
        }
        Ok(())
    }

    /// Adds every path with a self value to `tree` and empties `self`.
    pub(crate) fn drain_into(&mut self, tree: &mut Tree) {
        let mut path: Vec<u32> = Vec::new();
        for id in 1..self.parent.len() {
            let value = self.self_value[id];
            if value == 0 {
                continue;
            }
            path.clear();
            let mut n = id as u32;
            while n != ROOT {
                path.push(self.name[n as usize]);
                n = self.parent[n as usize];
            }
            let names = path.iter().rev().map(|&n| &*self.names[n as usize]);
            tree.insert_stack(names, value);
        }
        *self = Self::new();
    }

    /// Heap bytes, for the accumulator's `size()`.
    pub(crate) fn memory_size(&self) -> usize {
        2 * (self.name_bytes + self.names.len() * size_of::<Box<str>>())
            + self.name_ids.capacity() * (size_of::<(Box<str>, u32)>() + 1)
            + self.parent.capacity() * (2 * size_of::<u32>() + size_of::<i64>())
            + self.edges.capacity() * (size_of::<((u32, u32), u32)>() + 1)
    }
}

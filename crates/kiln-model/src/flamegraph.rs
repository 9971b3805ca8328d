//! The `FlameGraph` wire encoding of a call tree (spec §2.2), and a decoder
//! used to check it.
//!
//! ```text
//!  Tree ─► min_value(max_nodes) ─► depth-first walk from an explicit stack
//!       (last child first, like §2.4; names are interned in that visit order)
//!       ─► per-level tuples [x, total, self, name] ─► reverse to left-to-right
//!       ─► delta-encode x per level ─► FlameGraph
//! ```

mod decode;

pub use decode::decode_flamegraph;

use crate::tree::{NodeId, OTHER, Tree};
use kiln_proto::querier::v1::{FlameGraph, Level};
use std::collections::HashMap;

/// Name of the synthetic root, always `names[0]`.
pub const TOTAL: &str = "total";

/// Encodes `tree` as a flame graph pruned to about `max_nodes` nodes
/// (`max_nodes <= 0` means no limit; map 0 to the tenant default first).
///
/// Names are deduplicated in the order the walk first meets them; the walk
/// pops the last child first, the traversal Pyroscope uses, so names come out
/// in the same order as upstream for the same tree.
pub fn flamegraph(tree: &Tree, max_nodes: i64) -> FlameGraph {
    let min_val = tree.min_value(max_nodes);
    let mut names = NameTable::default();
    let mut levels: Vec<Vec<[i64; 4]>> = Vec::new();
    let mut max_self = 0i64;

    let mut stack: Vec<Visit> = vec![Visit {
        item: Item::Node(Tree::ROOT),
        level: 0,
        x: 0,
    }];
    while let Some(Visit { item, level, x }) = stack.pop() {
        let (name, self_value, total) = match item {
            Item::Node(Tree::ROOT) => (TOTAL, 0, tree.total()),
            Item::Node(id) => (tree.name(id), tree.self_value(id), tree.node_total(id)),
            Item::Other(sum) => (OTHER, sum, sum),
        };
        max_self = max_self.max(self_value);
        let name_index = names.index(name);
        if levels.len() == level {
            levels.push(Vec::new());
        }
        levels[level].push([x, total, self_value, name_index]);

        let Item::Node(id) = item else { continue };
        let pruned = tree.pruned_children(id, min_val);
        let mut child_x = x.saturating_add(self_value);
        for child in pruned.kept {
            stack.push(Visit {
                item: Item::Node(child),
                level: level + 1,
                x: child_x,
            });
            child_x = child_x.saturating_add(tree.node_total(child));
        }
        if pruned.other != 0 {
            stack.push(Visit {
                item: Item::Other(pruned.other),
                level: level + 1,
                x: child_x,
            });
        }
    }

    let levels = levels
        .into_iter()
        .map(|mut tuples| {
            // The walk meets each level right to left.
            tuples.reverse();
            Level {
                values: delta_encode::<4>(&tuples, &[(0, 1)]),
            }
        })
        .collect();
    FlameGraph {
        names: names.names,
        levels,
        total: tree.total(),
        max_self,
    }
}

/// What the walk visits: a real node, or a synthetic `other` with its value.
#[derive(Clone, Copy)]
pub(crate) enum Item {
    Node(NodeId),
    Other(i64),
}

struct Visit {
    item: Item,
    level: usize,
    x: i64,
}

/// Flattens tuples (absolute offsets, left to right) into wire values,
/// delta-encoding each (offset column, total column) pair independently:
/// `x' = abs - prev`, then `prev = abs + total`.
pub(crate) fn delta_encode<const N: usize>(
    tuples: &[[i64; N]],
    columns: &[(usize, usize)],
) -> Vec<i64> {
    let mut prev = vec![0i64; columns.len()];
    let mut values = Vec::with_capacity(tuples.len() * N);
    for tuple in tuples {
        let mut t = *tuple;
        for (p, &(x, total)) in prev.iter_mut().zip(columns) {
            t[x] = tuple[x].wrapping_sub(*p);
            *p = tuple[x].wrapping_add(tuple[total]);
        }
        values.extend_from_slice(&t);
    }
    values
}

/// Deduplicated names in first-seen order, with `total` at index 0.
#[derive(Debug)]
pub(crate) struct NameTable<'a> {
    pub(crate) names: Vec<String>,
    index: HashMap<&'a str, i64>,
}

impl Default for NameTable<'_> {
    fn default() -> Self {
        Self {
            names: vec![TOTAL.to_string()],
            index: HashMap::from([(TOTAL, 0)]),
        }
    }
}

impl<'a> NameTable<'a> {
    pub(crate) fn index(&mut self, name: &'a str) -> i64 {
        let next = self.names.len() as i64;
        let i = *self.index.entry(name).or_insert(next);
        if i == next {
            self.names.push(name.to_string());
        }
        i
    }
}

#[cfg(test)]
mod tests;

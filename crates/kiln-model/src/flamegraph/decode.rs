//! Decodes a `FlameGraph` back into a [`Tree`]: the inverse of
//! [`flamegraph`](super::flamegraph) for round-trip tests and tools.
//!
//! A child belongs to the parent (one level up) whose child area
//! `[x + self, x + total)` contains it; tuples run left to right, so one sweep
//! with two cursors assigns them. A zero-width node on the boundary of two
//! parents is given to the left one (the encoding cannot tell them apart).

use crate::error::ModelError;
use crate::tree::{NodeId, Tree};
use kiln_proto::querier::v1::FlameGraph;

/// One decoded tuple with its absolute offset and the node it became.
struct Placed {
    x: i64,
    total: i64,
    self_value: i64,
    node: NodeId,
}

/// Rebuilds the tree a flame graph shows (pruned `other` nodes become real
/// nodes named `other`). Rejects malformed levels, offsets outside any
/// parent, overlapping siblings, negative values and inconsistent totals.
pub fn decode_flamegraph(fg: &FlameGraph) -> Result<Tree, ModelError> {
    let bad = |reason: String| ModelError::InvalidTree(format!("flame graph: {reason}"));
    let Some(root_level) = fg.levels.first() else {
        return Err(bad("no levels".into()));
    };
    if root_level.values.len() != 4 {
        return Err(bad(format!(
            "level 0 has {} values, want one 4-tuple",
            root_level.values.len()
        )));
    }
    let (root_total, root_self) = (root_level.values[1], root_level.values[2]);
    if root_level.values[0] != 0 || root_self != 0 || root_total < 0 {
        return Err(bad(format!(
            "root tuple {:?} is not [0, total, 0, _]",
            root_level.values
        )));
    }
    if root_total != fg.total {
        return Err(bad(format!(
            "total {} differs from the root's {root_total}",
            fg.total
        )));
    }

    let mut tree = Tree::new();
    // Expected totals per node id, summed when siblings share a name.
    let mut expected: Vec<i64> = vec![root_total];
    let mut parents = vec![Placed {
        x: 0,
        total: root_total,
        self_value: 0,
        node: Tree::ROOT,
    }];
    for (depth, level) in fg.levels.iter().enumerate().skip(1) {
        if level.values.len() % 4 != 0 {
            return Err(bad(format!(
                "level {depth} has {} values, not 4-tuples",
                level.values.len()
            )));
        }
        let mut placed = Vec::with_capacity(level.values.len() / 4);
        let (mut p, mut cursor) = (0usize, parents[0].x + parents[0].self_value);
        let mut prev = 0i64;
        for tuple in level.values.chunks_exact(4) {
            let [dx, total, self_value, name_index] = [tuple[0], tuple[1], tuple[2], tuple[3]];
            let x = prev.checked_add(dx).filter(|x| *x >= 0);
            let end = x.and_then(|x| x.checked_add(total));
            let (Some(x), Some(end)) = (x, end) else {
                return Err(bad(format!("level {depth}: offset out of range")));
            };
            prev = end;
            if total < 0 || self_value < 0 || self_value > total {
                return Err(bad(format!(
                    "level {depth}: bad values total={total} self={self_value}"
                )));
            }
            let name = usize::try_from(name_index)
                .ok()
                .and_then(|i| fg.names.get(i))
                .ok_or_else(|| {
                    bad(format!(
                        "level {depth}: name index {name_index} out of range"
                    ))
                })?;
            // Advance to the parent whose child area holds [x, end).
            loop {
                let Some(parent) = parents.get(p) else {
                    return Err(bad(format!(
                        "level {depth}: node at {x} lies outside every parent"
                    )));
                };
                if x >= cursor && end <= parent.x + parent.total {
                    break;
                }
                if x < cursor && x >= parent.x {
                    return Err(bad(format!(
                        "level {depth}: node at {x} overlaps its left neighbour"
                    )));
                }
                p += 1;
                if let Some(next) = parents.get(p) {
                    cursor = next.x + next.self_value;
                }
            }
            cursor = end;
            let name_id = tree.intern(name);
            let node = tree.child_or_insert(parents[p].node, name_id);
            tree.add_self(node, self_value);
            if node as usize == expected.len() {
                expected.push(0);
            }
            expected[node as usize] = expected[node as usize].saturating_add(total);
            placed.push(Placed {
                x,
                total,
                self_value,
                node,
            });
        }
        parents = placed;
        if parents.is_empty() {
            return Err(bad(format!("level {depth} is empty")));
        }
    }

    tree.recompute_totals();
    for (id, &want) in expected.iter().enumerate() {
        let got = tree.node_total(id as NodeId);
        if got != want {
            return Err(bad(format!(
                "node {:?} has total {want} but its self and children sum to {got}",
                tree.name(id as NodeId)
            )));
        }
    }
    Ok(tree)
}

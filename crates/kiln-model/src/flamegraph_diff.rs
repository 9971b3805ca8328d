//! The `FlameGraphDiff` wire encoding of two call trees (spec §2.3).
//!
//! ```text
//!  left, right ─► reject negatives ─► align (union of both shapes; a node on one
//!  side only gets a zero twin) ─► minVal over the aligned pairs ─► depth-first walk
//!  (last child first) ─► 7-tuples [lx, ltotal, lself, rx, rtotal, rself, name]
//!  ─► per level: reverse to left-to-right, delta-encode lx and rx independently
//! ```
//!
//! Threshold: `minVal` is the `max_nodes`-th largest of `max(left total, right
//! total)` over the aligned nodes (root excluded), 0 when there are no more than
//! `max_nodes` of them. This is the threshold that makes "keep a node if either
//! side's total ≥ minVal" keep about `max_nodes` nodes, which is how Pyroscope
//! combines the two sides' minimums. The pruning rule is otherwise §2.2's: a
//! real child named `other` is folded into the synthetic `other`, on both sides.

use crate::error::ModelError;
use crate::flamegraph::{NameTable, TOTAL, delta_encode};
use crate::tree::{NodeId, OTHER, Tree, top_n_threshold};
use kiln_proto::querier::v1::{FlameGraphDiff, Level};
use std::cmp::Ordering;
use std::ops::Range;

/// One side's values of an aligned node (zero for a missing twin).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Side {
    self_value: i64,
    total: i64,
}

/// A node of the union of two trees; children occupy a contiguous, name-sorted
/// range of the aligned arena.
#[derive(Debug)]
struct Aligned<'a> {
    name: &'a str,
    left: Side,
    right: Side,
    children: Range<usize>,
}

/// Encodes the difference between `left` and `right` pruned to about
/// `max_nodes` nodes (`max_nodes <= 0` means no limit). Fails with
/// [`ModelError::NegativeValue`] if either tree holds a negative value.
pub fn flamegraph_diff(
    left: &Tree,
    right: &Tree,
    max_nodes: i64,
) -> Result<FlameGraphDiff, ModelError> {
    check_non_negative(left, "left")?;
    check_non_negative(right, "right")?;
    let aligned = align(left, right);
    let min_val = top_n_threshold(
        aligned[1..].iter().map(|n| n.left.total.max(n.right.total)),
        aligned.len() - 1,
        max_nodes,
    );

    let mut names = NameTable::default();
    let mut levels: Vec<Vec<[i64; 7]>> = Vec::new();
    let mut max_self = 0i64;
    let mut stack = vec![Visit {
        item: Item::Node(0),
        level: 0,
        lx: 0,
        rx: 0,
    }];
    while let Some(Visit {
        item,
        level,
        lx,
        rx,
    }) = stack.pop()
    {
        let (name, l, r) = match item {
            Item::Node(0) => (TOTAL, aligned[0].left, aligned[0].right),
            Item::Node(i) => (aligned[i].name, aligned[i].left, aligned[i].right),
            Item::Other(l, r) => (OTHER, l, r),
        };
        max_self = max_self.max(l.self_value).max(r.self_value);
        let name_index = names.index(name);
        if levels.len() == level {
            levels.push(Vec::new());
        }
        levels[level].push([
            lx,
            l.total,
            l.self_value,
            rx,
            r.total,
            r.self_value,
            name_index,
        ]);

        let Item::Node(i) = item else { continue };
        let (mut child_lx, mut child_rx) = (lx + l.self_value, rx + r.self_value);
        let (mut other_l, mut other_r) = (Side::default(), Side::default());
        for c in aligned[i].children.clone() {
            let child = &aligned[c];
            let keep = child.left.total >= min_val || child.right.total >= min_val;
            if keep && child.name != OTHER {
                stack.push(Visit {
                    item: Item::Node(c),
                    level: level + 1,
                    lx: child_lx,
                    rx: child_rx,
                });
                child_lx += child.left.total;
                child_rx += child.right.total;
            } else {
                other_l.total += child.left.total;
                other_r.total += child.right.total;
            }
        }
        if other_l.total != 0 || other_r.total != 0 {
            other_l.self_value = other_l.total;
            other_r.self_value = other_r.total;
            stack.push(Visit {
                item: Item::Other(other_l, other_r),
                level: level + 1,
                lx: child_lx,
                rx: child_rx,
            });
        }
    }

    let levels = levels
        .into_iter()
        .map(|mut tuples| {
            tuples.reverse();
            Level {
                values: delta_encode::<7>(&tuples, &[(0, 1), (3, 4)]),
            }
        })
        .collect();
    let (left_ticks, right_ticks) = (left.total(), right.total());
    Ok(FlameGraphDiff {
        names: names.names,
        levels,
        total: left_ticks.saturating_add(right_ticks),
        max_self,
        left_ticks,
        right_ticks,
    })
}

enum Item {
    Node(usize),
    Other(Side, Side),
}

struct Visit {
    item: Item,
    level: usize,
    lx: i64,
    rx: i64,
}

/// Fails on the first negative self or total (values are summed and offset
/// arithmetic needs non-negative widths; bounded totals cannot overflow then).
fn check_non_negative(tree: &Tree, side: &'static str) -> Result<(), ModelError> {
    for id in 1..=tree.node_count() as NodeId {
        let value = tree.self_value(id).min(tree.node_total(id));
        if value < 0 {
            let function = tree.name(id).to_string();
            return Err(ModelError::NegativeValue {
                side,
                function,
                value,
            });
        }
    }
    Ok(())
}

/// Builds the union of both trees breadth first, pairing children by name.
fn align<'a>(left: &'a Tree, right: &'a Tree) -> Vec<Aligned<'a>> {
    let side = |tree: &Tree, id: Option<NodeId>| {
        id.map_or(Side::default(), |id| Side {
            self_value: tree.self_value(id),
            total: tree.node_total(id),
        })
    };
    let children =
        |tree: &Tree, id: Option<NodeId>| id.map_or(Vec::new(), |id| tree.sorted_children(id));

    let mut nodes = vec![Aligned {
        name: "",
        left: side(left, Some(Tree::ROOT)),
        right: side(right, Some(Tree::ROOT)),
        children: 0..0,
    }];
    let mut sources: Vec<(Option<NodeId>, Option<NodeId>)> =
        vec![(Some(Tree::ROOT), Some(Tree::ROOT))];
    let mut i = 0;
    while i < nodes.len() {
        let (l, r) = sources[i];
        let (lc, rc) = (children(left, l), children(right, r));
        let start = nodes.len();
        let (mut a, mut b) = (0, 0);
        while a < lc.len() || b < rc.len() {
            let order = match (lc.get(a), rc.get(b)) {
                (Some(&x), Some(&y)) => left.name(x).cmp(right.name(y)),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            let (l_id, r_id, name) = match order {
                Ordering::Less => (Some(lc[a]), None, left.name(lc[a])),
                Ordering::Greater => (None, Some(rc[b]), right.name(rc[b])),
                Ordering::Equal => (Some(lc[a]), Some(rc[b]), left.name(lc[a])),
            };
            a += usize::from(l_id.is_some());
            b += usize::from(r_id.is_some());
            nodes.push(Aligned {
                name,
                left: side(left, l_id),
                right: side(right, r_id),
                children: 0..0,
            });
            sources.push((l_id, r_id));
        }
        nodes[i].children = start..nodes.len();
        i += 1;
    }
    nodes
}

#[cfg(test)]
mod tests;

//! The `tree` bytes of `PROFILE_FORMAT_TREE` (spec §2.4), and their parser.
//!
//! ```text
//!  node := uvarint(len(name)) name uvarint(self) uvarint(child_count)
//!  bytes := node*            pre-order from an explicit stack (last child first),
//!                            starting with a virtual root named ""
//! ```
//! Pruning is §2.2's: children below `minVal` and children named `other` are
//! summed into one synthetic `other` child, written after the real ones (so,
//! popped first, it is the first child in the bytes).
//!
//! Decisions: an empty tree encodes as zero bytes (no root), the parser
//! accepts that and a lone root; values are written as Go's `uint64(int64)`
//! does, so a negative self wraps and reads back unchanged.

use crate::error::ModelError;
use crate::flamegraph::Item;
use crate::tree::{NodeId, OTHER, Reader, Tree, put_uvarint};

/// Encodes `tree` pruned to about `max_nodes` nodes (`max_nodes <= 0`: no limit).
pub fn tree_bytes(tree: &Tree, max_nodes: i64) -> Vec<u8> {
    let mut buf = Vec::new();
    if tree.is_empty() {
        return buf;
    }
    let min_val = tree.min_value(max_nodes);
    let mut stack = vec![Item::Node(Tree::ROOT)];
    while let Some(item) = stack.pop() {
        let (name, self_value) = match item {
            Item::Node(id) => (tree.name(id), tree.self_value(id)),
            Item::Other(sum) => (OTHER, sum),
        };
        put_uvarint(&mut buf, name.len() as u64);
        buf.extend_from_slice(name.as_bytes());
        put_uvarint(&mut buf, self_value as u64);
        let Item::Node(id) = item else {
            put_uvarint(&mut buf, 0);
            continue;
        };
        let pruned = tree.pruned_children(id, min_val);
        let count = pruned.kept.len() + usize::from(pruned.other != 0);
        put_uvarint(&mut buf, count as u64);
        stack.extend(pruned.kept.into_iter().map(Item::Node));
        if pruned.other != 0 {
            stack.push(Item::Other(pruned.other));
        }
    }
    buf
}

/// Parses tree bytes back into a [`Tree`]; siblings repeating a name are
/// merged. Fails on truncation, trailing bytes, a named or valued root, and
/// names that are not UTF-8.
pub fn parse_tree_bytes(bytes: &[u8]) -> Result<Tree, ModelError> {
    let mut tree = Tree::new();
    if bytes.is_empty() {
        return Ok(tree);
    }
    let mut r = Reader::new(bytes, "tree bytes");
    let (name, self_value, children) = read_node(&mut r)?;
    if !name.is_empty() || self_value != 0 {
        return Err(r.error(format_args!(
            "the root must have an empty name and no self value, got {name:?} with {self_value}"
        )));
    }
    // Parents still waiting for children: (node, children left to read).
    let mut open: Vec<(NodeId, u64)> = Vec::new();
    if children > 0 {
        open.push((Tree::ROOT, children));
    }
    while let Some((parent, left)) = open.last_mut() {
        let parent = *parent;
        *left -= 1;
        if *left == 0 {
            open.pop();
        }
        if r.is_empty() {
            let pending = open.iter().fold(1u64, |acc, (_, n)| acc.saturating_add(*n));
            return Err(r.error(format_args!(
                "truncated input: {pending} more nodes expected"
            )));
        }
        let (name, self_value, children) = read_node(&mut r)?;
        let name_id = tree.intern(name);
        let id = tree.child_or_insert(parent, name_id);
        tree.add_self(id, self_value);
        if children > 0 {
            open.push((id, children));
        }
    }
    if !r.is_empty() {
        return Err(r.error(format_args!(
            "{} trailing bytes after the tree",
            r.remaining()
        )));
    }
    tree.recompute_totals();
    Ok(tree)
}

fn read_node<'a>(r: &mut Reader<'a>) -> Result<(&'a str, i64, u64), ModelError> {
    let len = r.uvarint("name length")?;
    let name = r.str(usize::try_from(len).unwrap_or(usize::MAX), "name")?;
    let self_value = r.uvarint("self value")? as i64;
    let children = r.uvarint("child count")?;
    Ok((name, self_value, children))
}

#[cfg(test)]
mod tests;

//! Test helpers shared by the tree and encoding tests: tree builders and
//! proptest strategies.

use super::Tree;
use proptest::prelude::*;

/// A tree from `"a;b;c"`-style stacks (root first) and values.
pub(crate) fn tree(stacks: &[(&str, i64)]) -> Tree {
    let mut t = Tree::new();
    for (stack, value) in stacks {
        t.insert_stack(stack.split(';'), *value);
    }
    t
}

/// Function names for generated trees; `other` is left out so that a
/// generated tree survives encodings unchanged when nothing is pruned.
const NAMES: &[&str] = &["a", "b", "c", "d", "main", "runtime.mallocgc", "Ω", "zz"];

/// Stacks of 1–5 frames with positive values.
pub(crate) fn arb_stacks() -> impl Strategy<Value = Vec<(Vec<&'static str>, i64)>> {
    prop::collection::vec(
        (
            prop::collection::vec(prop::sample::select(NAMES), 1..6),
            1i64..1000,
        ),
        0..40,
    )
}

/// A tree built from [`arb_stacks`].
pub(crate) fn arb_tree() -> impl Strategy<Value = Tree> {
    arb_stacks().prop_map(|stacks| build(&stacks))
}

/// A tree that may also contain real functions named `other`.
pub(crate) fn arb_tree_with_other() -> impl Strategy<Value = Tree> {
    prop::collection::vec(
        (
            prop::collection::vec(prop::sample::select(&["a", "b", "other", "c"][..]), 1..5),
            1i64..100,
        ),
        0..30,
    )
    .prop_map(|stacks| build(&stacks))
}

pub(crate) fn build(stacks: &[(Vec<&str>, i64)]) -> Tree {
    let mut t = Tree::new();
    for (stack, value) in stacks {
        t.insert_stack(stack.iter(), *value);
    }
    t
}

use super::*;
use crate::flamegraph::flamegraph;
use crate::tree::testing::{arb_tree, arb_tree_with_other, tree};
use proptest::prelude::*;

fn levels(fg: &FlameGraphDiff) -> Vec<Vec<i64>> {
    fg.levels.iter().map(|l| l.values.clone()).collect()
}

/// left:  a;b 2, a 1, c 3        (a: self 1 total 3; c only on the left)
/// right: a;b 1, a;e 2, d 4      (a: self 0 total 3; d and a;e only on the right)
///
/// Aligned level 1 (abs): a L[0,3,1] R[0,3,0]; c L[3,3,3] R[3,0,0]; d L[6,0,0] R[3,4,4].
/// Aligned level 2 (abs): b L[1,2,2] R[0,1,1]; e L[3,0,0] R[1,2,2] (children
/// start after their parent's self on each side).
/// Left deltas level 2: b 1-0 = 1 (prev 3), e 3-3 = 0; right: b 0 (prev 1), e 1-1 = 0.
#[test]
fn golden_diff_with_one_sided_nodes() {
    let left = tree(&[("c", 3), ("a", 1), ("a;b", 2)]);
    let right = tree(&[("d", 4), ("a;e", 2), ("a;b", 1)]);
    let fg = flamegraph_diff(&left, &right, 0).unwrap();
    assert_eq!(fg.names, ["total", "d", "c", "a", "e", "b"]);
    assert_eq!(
        levels(&fg),
        [
            vec![0, 6, 0, 0, 7, 0, 0],
            vec![
                0, 3, 1, 0, 3, 0, 3, 0, 3, 3, 0, 0, 0, 2, 0, 0, 0, 0, 4, 4, 1
            ],
            vec![1, 2, 2, 0, 1, 1, 5, 0, 0, 0, 0, 2, 2, 4],
        ]
    );
    assert_eq!(
        (fg.left_ticks, fg.right_ticks, fg.total, fg.max_self),
        (6, 7, 13, 4)
    );
}

/// Aligned totals max(l, r): a 3, c 3, d 4, b 2, e 2 → with max_nodes 3,
/// minVal = 3: b (2|1) and e (0|2) become `other` (2|3) under a.
#[test]
fn golden_diff_pruned_to_other_on_both_sides() {
    let left = tree(&[("c", 3), ("a", 1), ("a;b", 2)]);
    let right = tree(&[("d", 4), ("a;e", 2), ("a;b", 1)]);
    let fg = flamegraph_diff(&left, &right, 3).unwrap();
    assert_eq!(fg.names, ["total", "d", "c", "a", "other"]);
    assert_eq!(
        levels(&fg),
        [
            vec![0, 6, 0, 0, 7, 0, 0],
            vec![
                0, 3, 1, 0, 3, 0, 3, 0, 3, 3, 0, 0, 0, 2, 0, 0, 0, 0, 4, 4, 1
            ],
            vec![1, 2, 2, 0, 3, 3, 4],
        ]
    );
    assert_eq!((fg.total, fg.max_self), (13, 4));
}

#[test]
fn real_other_is_folded_on_both_sides() {
    let left = tree(&[("other;x", 2), ("a", 1)]);
    let right = tree(&[("other", 5), ("b", 1)]);
    let fg = flamegraph_diff(&left, &right, 0).unwrap();
    assert_eq!(fg.names, ["total", "other", "b", "a"]);
    // a L[0,1,1] R[0,0,0]; b L[1,0,0] R[0,1,1]; other L[1,2,2] R[1,5,5].
    assert_eq!(
        levels(&fg),
        [
            vec![0, 3, 0, 0, 6, 0, 0],
            vec![
                0, 1, 1, 0, 0, 0, 3, 0, 0, 0, 0, 1, 1, 2, 0, 2, 2, 0, 5, 5, 1
            ],
        ]
    );
    assert_eq!(fg.max_self, 5);
}

#[test]
fn negative_values_are_rejected() {
    let ok = tree(&[("a", 1)]);
    let neg = tree(&[("a;b", -3), ("a", 5)]);
    let err = flamegraph_diff(&ok, &neg, 0).unwrap_err();
    assert_eq!(
        err,
        ModelError::NegativeValue {
            side: "right",
            function: "b".into(),
            value: -3
        }
    );
    assert!(err.to_string().contains("negative"), "{err}");
    let err = flamegraph_diff(&neg, &ok, 0).unwrap_err();
    assert!(matches!(
        err,
        ModelError::NegativeValue { side: "left", .. }
    ));
}

#[test]
fn two_empty_trees_give_a_lone_root() {
    let fg = flamegraph_diff(&Tree::new(), &Tree::new(), 10).unwrap();
    assert_eq!(fg.names, ["total"]);
    assert_eq!(levels(&fg), [vec![0; 7]]);
    assert_eq!(
        (fg.total, fg.left_ticks, fg.right_ticks, fg.max_self),
        (0, 0, 0, 0)
    );
}

/// The left (or right) columns of a diff as flame-graph 4-tuples.
fn side(fg: &FlameGraphDiff, offset: usize) -> Vec<Vec<i64>> {
    fg.levels
        .iter()
        .map(|l| {
            l.values
                .chunks(7)
                .flat_map(|c| [c[offset], c[offset + 1], c[offset + 2], c[6]])
                .collect()
        })
        .collect()
}

proptest! {
    #[test]
    fn diff_with_itself_is_symmetric(t in arb_tree_with_other(), n in 0i64..20) {
        let fg = flamegraph_diff(&t, &t, n).unwrap();
        for level in &fg.levels {
            for c in level.values.chunks(7) {
                prop_assert_eq!(&c[0..3], &c[3..6]);
            }
        }
        prop_assert_eq!(fg.left_ticks, fg.right_ticks);
        prop_assert_eq!(fg.total, 2 * t.total());
        // Same threshold and pruning as a plain flame graph.
        let plain = flamegraph(&t, n);
        prop_assert_eq!(side(&fg, 0), plain.levels.iter().map(|l| l.values.clone()).collect::<Vec<_>>());
        prop_assert_eq!(fg.names, plain.names);
    }

    #[test]
    fn diff_against_empty_has_a_zero_side(t in arb_tree_with_other(), n in 0i64..20) {
        let empty = Tree::new();
        let plain: Vec<Vec<i64>> = flamegraph(&t, n).levels.into_iter().map(|l| l.values).collect();
        let fg = flamegraph_diff(&t, &empty, n).unwrap();
        for level in &fg.levels {
            for c in level.values.chunks(7) {
                prop_assert_eq!(&c[3..6], &[0, 0, 0]);
            }
        }
        prop_assert_eq!(side(&fg, 0), plain.clone());
        prop_assert_eq!((fg.left_ticks, fg.right_ticks), (t.total(), 0));
        let fg = flamegraph_diff(&empty, &t, n).unwrap();
        prop_assert_eq!(side(&fg, 3), plain);
    }

    #[test]
    fn diff_conserves_both_totals(a in arb_tree(), b in arb_tree(), n in 0i64..20) {
        let fg = flamegraph_diff(&a, &b, n).unwrap();
        prop_assert_eq!(&fg.levels[0].values, &vec![0, a.total(), 0, 0, b.total(), 0, 0]);
        prop_assert_eq!(fg.total, a.total() + b.total());
        // Each side's level-1 totals add up to its root total.
        if let Some(level) = fg.levels.get(1) {
            let sum = |i: usize| level.values.chunks(7).map(|c| c[i]).sum::<i64>();
            prop_assert_eq!((sum(1), sum(4)), (a.total(), b.total()));
        }
        let max_self = fg.levels.iter().flat_map(|l| l.values.chunks(7).map(|c| c[2].max(c[5]))).max();
        prop_assert_eq!(Some(fg.max_self), max_self);
    }
}

use super::*;
use crate::error::ModelError;
use crate::tree::testing::{arb_tree, arb_tree_with_other, tree};
use proptest::prelude::*;

fn levels(fg: &FlameGraph) -> Vec<Vec<i64>> {
    fg.levels.iter().map(|l| l.values.clone()).collect()
}

/// Hand-computed: root total 11; a = [2 self | b 3 | c 1], d = [1 self | b 4].
///
/// ```text
///  abs x   0         6            level 1: a@0 (6, self 2)      d@6 (5, self 1)
///          . . b . . c . b . . .  level 2: b@2 (3)  c@5 (1)     b@7 (4)
/// ```
/// Level 2 deltas: b 2-0 = 2 (prev 5), c 5-5 = 0 (prev 6), b 7-6 = 1: the
/// gap is d's self. The walk pops the last child first, so names are
/// total, d, b (under d), a, c.
#[test]
fn golden_flamegraph() {
    // Insertion order differs from name order on purpose.
    let t = tree(&[("d;b", 4), ("d", 1), ("a;c", 1), ("a", 2), ("a;b", 3)]);
    let fg = flamegraph(&t, 0);
    assert_eq!(fg.names, ["total", "d", "b", "a", "c"]);
    assert_eq!(
        levels(&fg),
        [
            vec![0, 11, 0, 0],
            vec![0, 6, 2, 3, 0, 5, 1, 1],
            vec![2, 3, 3, 2, 0, 1, 1, 4, 1, 4, 4, 2]
        ]
    );
    assert_eq!((fg.total, fg.max_self), (11, 4));
    assert_eq!(decode_flamegraph(&fg).unwrap(), t);
    // A large max_nodes prunes nothing.
    assert_eq!(flamegraph(&t, 5), fg);
    assert_eq!(flamegraph(&t, 8192), fg);
}

/// Node totals a=5, a;y=3, b=1, c=2, other=3, other;x=3; max_nodes 3 gives
/// minVal 3: b, c and the real `other` fold into one synthetic `other` (6),
/// the largest self, placed after `a` and visited first.
#[test]
fn golden_other_node_with_small_max_nodes() {
    let t = tree(&[("other;x", 3), ("c", 2), ("b", 1), ("a;y", 3), ("a", 2)]);
    let fg = flamegraph(&t, 3);
    assert_eq!(fg.names, ["total", "other", "a", "y"]);
    assert_eq!(
        levels(&fg),
        [
            vec![0, 11, 0, 0],
            vec![0, 5, 2, 2, 0, 6, 6, 1],
            vec![2, 3, 3, 3]
        ]
    );
    assert_eq!((fg.total, fg.max_self), (11, 6));
    assert_eq!(decode_flamegraph(&fg).unwrap(), t.truncate(3));
}

/// Without a limit the real `other` is still never emitted: its total (3)
/// becomes the synthetic `other`, and its child `x` disappears.
#[test]
fn golden_real_function_named_other() {
    let t = tree(&[("other;x", 3), ("c", 2), ("b", 1), ("a;y", 3), ("a", 2)]);
    let fg = flamegraph(&t, 0);
    assert_eq!(fg.names, ["total", "other", "c", "b", "a", "y"]);
    assert_eq!(
        levels(&fg),
        [
            vec![0, 11, 0, 0],
            vec![0, 5, 2, 4, 0, 1, 1, 3, 0, 2, 2, 2, 0, 3, 3, 1],
            vec![2, 3, 3, 5],
        ]
    );
    assert_eq!((fg.total, fg.max_self), (11, 3));
}

#[test]
fn other_node_sums_pruned_children_under_each_parent() {
    // Under p: q=10 kept, r=1 and s=2 pruned (minVal = 3rd largest of
    // p 16, q 10, t 3, s 2, r 1 → 3). Under t: nothing to prune.
    let t = tree(&[("p;q", 10), ("p;r", 1), ("p;s", 2), ("p", 3), ("t", 3)]);
    let fg = flamegraph(&t, 3);
    assert_eq!(fg.names, ["total", "t", "p", "other", "q"]);
    // p@0 (16, self 3), t@16 (3); under p: q@3 (10), other@13 (3).
    assert_eq!(
        levels(&fg),
        [
            vec![0, 19, 0, 0],
            vec![0, 16, 3, 2, 0, 3, 3, 1],
            vec![3, 10, 10, 4, 0, 3, 3, 3]
        ]
    );
    assert_eq!(fg.max_self, 10);
}

#[test]
fn empty_tree_is_a_lone_root() {
    let fg = flamegraph(&Tree::new(), 10);
    assert_eq!(fg.names, ["total"]);
    assert_eq!(levels(&fg), [vec![0, 0, 0, 0]]);
    assert_eq!((fg.total, fg.max_self), (0, 0));
    assert_eq!(decode_flamegraph(&fg).unwrap(), Tree::new());
}

#[test]
fn a_function_named_total_shares_index_zero() {
    let t = tree(&[("total;a", 1)]);
    let fg = flamegraph(&t, 0);
    assert_eq!(fg.names, ["total", "a"]);
    assert_eq!(
        levels(&fg),
        [vec![0, 1, 0, 0], vec![0, 1, 0, 0], vec![0, 1, 1, 1]]
    );
    assert_eq!(decode_flamegraph(&fg).unwrap(), t);
}

type Mutation = Box<dyn Fn(&mut FlameGraph)>;

#[test]
fn decode_rejects_malformed_graphs() {
    let good = flamegraph(&tree(&[("a;b", 2), ("c", 1)]), 0);
    let cases: Vec<(&str, Mutation)> = vec![
        ("no levels", Box::new(|fg| fg.levels.clear())),
        ("level 0", Box::new(|fg| fg.levels[0].values.push(1))),
        (
            "not 4-tuples",
            Box::new(|fg| fg.levels[1].values.truncate(7)),
        ),
        ("name index", Box::new(|fg| fg.levels[1].values[3] = 99)),
        (
            "outside every parent",
            Box::new(|fg| fg.levels[2].values[0] = 50),
        ),
        ("overlaps", Box::new(|fg| fg.levels[1].values[4] = -1)),
        ("differs from the root", Box::new(|fg| fg.total = 7)),
        ("sum to", Box::new(|fg| fg.levels[2].values[2] = 1)),
        ("bad values", Box::new(|fg| fg.levels[1].values[2] = -1)),
    ];
    assert!(decode_flamegraph(&good).is_ok());
    for (want, mutate) in cases {
        let mut fg = good.clone();
        mutate(&mut fg);
        match decode_flamegraph(&fg) {
            Err(ModelError::InvalidTree(msg)) => assert!(msg.contains(want), "{want}: got {msg}"),
            other => panic!("{want}: expected an error, got {other:?}"),
        }
    }
}

proptest! {
    #[test]
    fn encode_decode_round_trips(t in arb_tree()) {
        let fg = flamegraph(&t, 1 << 20);
        prop_assert_eq!(decode_flamegraph(&fg).unwrap(), t.clone());
        prop_assert_eq!(fg.total, t.total());
    }

    #[test]
    fn pruned_graph_decodes_to_the_truncated_tree(t in arb_tree_with_other(), n in 0i64..20) {
        let fg = flamegraph(&t, n);
        prop_assert_eq!(decode_flamegraph(&fg).unwrap(), t.truncate(n));
        let max_self = fg.levels.iter().flat_map(|l| l.values.chunks(4).map(|c| c[2])).max();
        prop_assert_eq!(Some(fg.max_self), max_self);
    }

    #[test]
    fn levels_are_well_formed(t in arb_tree_with_other(), n in 0i64..20) {
        let fg = flamegraph(&t, n);
        prop_assert_eq!(&fg.levels[0].values, &vec![0, t.total(), 0, 0]);
        prop_assert_eq!(fg.names.iter().collect::<std::collections::HashSet<_>>().len(), fg.names.len());
        for level in &fg.levels {
            prop_assert!(level.values.len() % 4 == 0 && !level.values.is_empty());
            for tuple in level.values.chunks(4) {
                prop_assert!(tuple[0] >= 0, "offsets never go backwards");
                prop_assert!((tuple[3] as usize) < fg.names.len());
            }
        }
    }
}

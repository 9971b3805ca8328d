use super::testing::{arb_stacks, arb_tree, arb_tree_with_other, build, tree};
use super::*;
use crate::error::ModelError;
use crate::flamegraph::flamegraph;
use proptest::prelude::*;

#[test]
fn insert_shares_prefixes_and_keeps_totals() {
    let t = tree(&[("a;b", 3), ("a", 2), ("a;c", 1), ("d;b", 4), ("d", 1)]);
    assert_eq!(t.total(), 11);
    assert_eq!(t.node_count(), 5);
    let a = t.child(Tree::ROOT, "a").unwrap();
    assert_eq!((t.self_value(a), t.node_total(a)), (2, 6));
    let names: Vec<&str> = t.sorted_children(a).iter().map(|&c| t.name(c)).collect();
    assert_eq!(names, ["b", "c"]);
    let db = t.child(t.child(Tree::ROOT, "d").unwrap(), "b").unwrap();
    assert_eq!((t.self_value(db), t.node_total(db)), (4, 4));
    assert_eq!(t.child(a, "d"), None);
    assert!(t.memory_size() > Tree::new().memory_size());
}

#[test]
fn children_sort_byte_wise_whatever_the_insertion_order() {
    let t = tree(&[("b", 1), ("_", 1), ("B", 1), ("a", 1), ("Ω", 1), ("aa", 1)]);
    let names: Vec<&str> = t
        .sorted_children(Tree::ROOT)
        .iter()
        .map(|&c| t.name(c))
        .collect();
    assert_eq!(names, ["B", "_", "a", "aa", "b", "Ω"]);
}

#[test]
fn empty_stacks_are_ignored() {
    let mut t = Tree::new();
    t.insert_stack(Vec::<&str>::new(), 5);
    assert!(t.is_empty());
    assert_eq!(t.total(), 0);
    assert_eq!(t, Tree::new());
}

#[test]
fn equality_is_structural() {
    let a = tree(&[("x;y", 1), ("z", 2)]);
    let b = tree(&[("z", 2), ("x;y", 1)]);
    assert_eq!(a, b);
    assert_ne!(a, tree(&[("x;y", 1), ("z", 3)]));
    assert_ne!(a, tree(&[("x;w", 1), ("z", 2)]));
    assert_ne!(a, tree(&[("x", 1), ("z", 2)]));
}

#[test]
fn for_each_stack_lists_self_values_in_name_order() {
    let t = tree(&[("b;x", 1), ("a", 2), ("a;c", 3), ("b", 4)]);
    let mut seen = Vec::new();
    t.for_each_stack(|stack, v| seen.push((stack.join(";"), v)));
    assert_eq!(
        seen,
        [
            ("a".into(), 2),
            ("a;c".into(), 3),
            ("b".into(), 4),
            ("b;x".into(), 1)
        ]
    );
}

#[test]
fn min_value_is_the_nth_largest_total() {
    // Node totals: a=5, a;y=3, b=1, c=2, other=3, other;x=3.
    let t = tree(&[("a", 2), ("a;y", 3), ("b", 1), ("c", 2), ("other;x", 3)]);
    assert_eq!(t.node_count(), 6);
    assert_eq!(t.min_value(1), 5);
    assert_eq!(t.min_value(3), 3);
    assert_eq!(t.min_value(4), 3);
    assert_eq!(t.min_value(5), 2);
    assert_eq!(
        t.min_value(6),
        0,
        "no more nodes than max_nodes: no threshold"
    );
    assert_eq!(t.min_value(1000), 0);
    assert_eq!(t.min_value(0), 0, "0 and negative mean no limit");
    assert_eq!(t.min_value(-1), 0);
}

#[test]
fn truncate_folds_small_and_other_children() {
    let t = tree(&[("a", 2), ("a;y", 3), ("b", 1), ("c", 2), ("other;x", 3)]);
    let got = t.truncate(3);
    // minVal 3: b, c and the real `other` (with its child) fold into one `other`.
    let want = tree(&[("a", 2), ("a;y", 3), ("other", 6)]);
    assert_eq!(got, want);
    assert_eq!(got.total(), t.total());
}

#[test]
fn state_round_trips_and_rejects_corruption() {
    let t = tree(&[("a;b", 3), ("a", -2), ("Ω;c", 1 << 40), ("", 7)]);
    let bytes = t.to_bytes();
    assert_eq!(Tree::from_bytes(&bytes).unwrap(), t);
    for n in 0..bytes.len() {
        assert!(
            Tree::from_bytes(&bytes[..n]).is_err(),
            "prefix of {n} bytes accepted"
        );
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(
        matches!(Tree::from_bytes(&trailing), Err(ModelError::InvalidTree(m)) if m.contains("trailing"))
    );
    let mut bad_magic = bytes.clone();
    bad_magic[0] = b'X';
    assert!(Tree::from_bytes(&bad_magic).is_err());
    let mut bad_version = bytes;
    bad_version[4] = 9;
    let err = Tree::from_bytes(&bad_version).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");
}

#[test]
fn state_rejects_bad_ids_and_duplicates() {
    // KTRE v1, names ["a"], nodes: (parent 1 → forward reference).
    let forward = [b'K', b'T', b'R', b'E', 1, 1, 1, b'a', 1, 1, 1, 2];
    let err = Tree::from_bytes(&forward).unwrap_err();
    assert!(err.to_string().contains("parent id"), "{err}");
    // Name id 2 out of range.
    let bad_name = [b'K', b'T', b'R', b'E', 1, 1, 1, b'a', 1, 0, 2, 2];
    assert!(
        Tree::from_bytes(&bad_name)
            .unwrap_err()
            .to_string()
            .contains("name id")
    );
    // Two root children both named "a".
    let dup = [b'K', b'T', b'R', b'E', 1, 1, 1, b'a', 2, 0, 1, 2, 0, 1, 2];
    assert!(
        Tree::from_bytes(&dup)
            .unwrap_err()
            .to_string()
            .contains("duplicates")
    );
    // Invalid UTF-8 name.
    let utf8 = [b'K', b'T', b'R', b'E', 1, 1, 1, 0xff, 0];
    assert!(
        Tree::from_bytes(&utf8)
            .unwrap_err()
            .to_string()
            .contains("UTF-8")
    );
}

#[test]
fn serde_uses_the_byte_form() {
    let t = tree(&[("a;b", 3), ("c", 1)]);
    let json = serde_json::to_string(&t).unwrap();
    let back: Tree = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    let err = serde_json::from_str::<Tree>("[1,2,3]").unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

proptest! {
    #[test]
    fn merge_is_commutative(a in arb_tree(), b in arb_tree(), n in 0i64..20) {
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        prop_assert_eq!(&ab, &ba);
        prop_assert_eq!(flamegraph(&ab, n), flamegraph(&ba, n));
        prop_assert_eq!(ab.total(), a.total() + b.total());
    }

    #[test]
    fn merge_is_associative(a in arb_tree(), b in arb_tree(), c in arb_tree(), n in 0i64..20) {
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(flamegraph(&left, n), flamegraph(&right, n));
    }

    #[test]
    fn merge_equals_inserting_all_stacks(a in arb_stacks(), b in arb_stacks()) {
        let mut merged = build(&a);
        merged.merge(&build(&b));
        let all: Vec<_> = a.iter().chain(&b).cloned().collect();
        prop_assert_eq!(merged, build(&all));
    }

    #[test]
    fn state_round_trips(t in arb_tree_with_other()) {
        prop_assert_eq!(Tree::from_bytes(&t.to_bytes()).unwrap(), t.clone());
        let json = serde_json::to_vec(&t).unwrap();
        prop_assert_eq!(serde_json::from_slice::<Tree>(&json).unwrap(), t);
    }

    #[test]
    fn truncation_conserves_totals(t in arb_tree_with_other(), n in 0i64..30) {
        let cut = t.truncate(n);
        prop_assert_eq!(cut.total(), t.total());
        prop_assert_eq!(flamegraph(&t, n).total, t.total());
        // The encoders prune exactly like `truncate`.
        prop_assert_eq!(flamegraph(&t, n), flamegraph(&cut, 0));
    }

    #[test]
    fn garbage_state_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut with_magic = b"KTRE\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = Tree::from_bytes(&with_magic);
        let _ = Tree::from_bytes(&bytes);
    }
}

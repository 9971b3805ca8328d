use super::*;
use crate::tree::testing::{arb_tree, arb_tree_with_other, tree};
use proptest::prelude::*;

/// Pre-order from a stack: root(2 children), then d (the last child) and its
/// subtree, then a, whose last child c comes before b.
#[test]
fn golden_tree_bytes() {
    let t = tree(&[("d;b", 4), ("d", 1), ("a;c", 1), ("a", 2), ("a;b", 3)]);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        0, 0, 2,            // root: "", self 0, 2 children
        1, b'd', 1, 1,      // d: self 1, 1 child
        1, b'b', 4, 0,      //   b: self 4
        1, b'a', 2, 2,      // a: self 2, 2 children
        1, b'c', 1, 0,      //   c: self 1
        1, b'b', 3, 0,      //   b: self 3
    ];
    assert_eq!(tree_bytes(&t, 0), want);
    assert_eq!(parse_tree_bytes(&want).unwrap(), t);
}

#[test]
fn golden_tree_bytes_with_other_and_multibyte_varints() {
    // minVal 3 with max_nodes 3 (totals a 5, a;y 3, other 3, other;x 3, c 2, b 1).
    let t = tree(&[("other;x", 3), ("c", 2), ("b", 1), ("a;y", 3), ("a", 2)]);
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        0, 0, 2,
        5, b'o', b't', b'h', b'e', b'r', 6, 0,   // synthetic other = 1 + 2 + 3, pushed last
        1, b'a', 2, 1,
        1, b'y', 3, 0,
    ];
    assert_eq!(tree_bytes(&t, 3), want);

    let big = tree(&[("f", 300)]);
    assert_eq!(tree_bytes(&big, 0), [0, 0, 1, 1, b'f', 0xac, 0x02, 0]);
}

#[test]
fn empty_tree_is_empty_bytes() {
    assert!(tree_bytes(&Tree::new(), 10).is_empty());
    assert_eq!(parse_tree_bytes(&[]).unwrap(), Tree::new());
    assert_eq!(parse_tree_bytes(&[0, 0, 0]).unwrap(), Tree::new());
}

#[test]
fn malformed_bytes_are_typed_errors() {
    let cases: &[(&[u8], &str)] = &[
        (&[0, 0, 1], "1 more nodes expected"),
        (&[0, 0, 1, 3, b'a'], "name needs 3 bytes"),
        (&[0, 0, 1, 1, b'a', 1], "child count"),
        (&[0, 0, 1, 1, b'a', 0x80], "self value"),
        (&[0, 0, 0, 9], "trailing"),
        (&[1, b'r', 0, 0], "root must have an empty name"),
        (&[0, 5, 0], "root must have an empty name and no self value"),
        (&[0, 0, 1, 1, 0xff, 1, 0], "UTF-8"),
        (&[0xff, 0xff], "name length"),
        (
            &[
                0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            "overflows",
        ),
    ];
    for (bytes, want) in cases {
        match parse_tree_bytes(bytes) {
            Err(ModelError::InvalidTree(msg)) => assert!(msg.contains(want), "{bytes:?}: {msg}"),
            other => panic!("{bytes:?}: expected an error containing {want:?}, got {other:?}"),
        }
    }
}

#[test]
fn repeated_sibling_names_are_merged() {
    let bytes = [0, 0, 2, 1, b'a', 1, 0, 1, b'a', 2, 0];
    assert_eq!(parse_tree_bytes(&bytes).unwrap(), tree(&[("a", 3)]));
}

proptest! {
    #[test]
    fn round_trips(t in arb_tree()) {
        prop_assert_eq!(parse_tree_bytes(&tree_bytes(&t, 1 << 20)).unwrap(), t);
    }

    #[test]
    fn pruned_bytes_parse_to_the_truncated_tree(t in arb_tree_with_other(), n in 0i64..20) {
        let parsed = parse_tree_bytes(&tree_bytes(&t, n)).unwrap();
        prop_assert_eq!(parsed.total(), t.total());
        prop_assert_eq!(parsed, t.truncate(n));
    }

    #[test]
    fn every_strict_prefix_is_rejected(t in arb_tree()) {
        let bytes = tree_bytes(&t, 0);
        for n in 1..bytes.len() {
            prop_assert!(parse_tree_bytes(&bytes[..n]).is_err(), "prefix {} accepted", n);
        }
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_tree_bytes(&bytes);
    }
}

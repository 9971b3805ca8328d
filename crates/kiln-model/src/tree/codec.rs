//! The serialised state of a [`Tree`]: compact bytes for merging partial
//! aggregates across processes, plus the varint helpers the encodings share.
//!
//! Layout (all integers LEB128 uvarints unless noted):
//! ```text
//!  "KTRE" version=1
//!  name_count   { len bytes }*      names 1.. (name 0, the root's "", is implicit)
//!  node_count   { parent name zigzag(self) }*   nodes 1.., parent < own id
//! ```
//! Totals are not stored: they are rebuilt from self values on load.

use super::{NONE, Node, Tree};
use crate::error::ModelError;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"KTRE";
const VERSION: u8 = 1;

/// Appends `v` as a LEB128 unsigned varint (Go's `binary.PutUvarint`).
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A cursor over untrusted bytes whose every read fails with a typed error.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Names the format in error messages.
    format: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], format: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            format,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn error(&self, reason: impl std::fmt::Display) -> ModelError {
        ModelError::InvalidTree(format!("{} at byte {}: {reason}", self.format, self.pos))
    }

    /// Reads a uvarint; rejects truncation and values over 64 bits.
    pub(crate) fn uvarint(&mut self, what: &str) -> Result<u64, ModelError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.error(format_args!("truncated input while reading {what}")));
            };
            if i == 9 && b > 1 {
                return Err(self.error(format_args!("{what} overflows 64 bits")));
            }
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.error(format_args!("{what} overflows 64 bits")))
    }

    /// Reads a uvarint that must fit a `usize` no larger than `max`.
    pub(crate) fn len(&mut self, what: &str, max: usize) -> Result<usize, ModelError> {
        let start = self.pos;
        let v = self.uvarint(what)?;
        if v > max as u64 {
            self.pos = start;
            return Err(self.error(format_args!("{what} {v} is larger than {max}")));
        }
        Ok(v as usize)
    }

    /// Reads `n` bytes as UTF-8 text.
    pub(crate) fn str(&mut self, n: usize, what: &str) -> Result<&'a str, ModelError> {
        if n > self.remaining() {
            return Err(self.error(format_args!(
                "truncated input: {what} needs {n} bytes, {} left",
                self.remaining()
            )));
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        let s = std::str::from_utf8(bytes)
            .map_err(|e| self.error(format_args!("{what} is not valid UTF-8: {e}")))?;
        self.pos += n;
        Ok(s)
    }
}

impl Tree {
    /// Serialises the tree (names, structure, self values) compactly;
    /// [`Tree::from_bytes`] reads it back.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 + self.nodes.len() * 6);
        buf.extend_from_slice(MAGIC);
        buf.push(VERSION);
        put_uvarint(&mut buf, (self.names.len() - 1) as u64);
        for name in &self.names[1..] {
            put_uvarint(&mut buf, name.len() as u64);
            buf.extend_from_slice(name.as_bytes());
        }
        put_uvarint(&mut buf, (self.nodes.len() - 1) as u64);
        for node in &self.nodes[1..] {
            put_uvarint(&mut buf, u64::from(node.parent));
            put_uvarint(&mut buf, u64::from(node.name));
            put_uvarint(&mut buf, zigzag(node.self_value));
        }
        buf
    }

    /// Reads bytes written by [`Tree::to_bytes`]; every inconsistency
    /// (truncation, bad ids, duplicate children, bad UTF-8) is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Tree, ModelError> {
        let mut r = Reader::new(bytes, "tree state");
        if bytes.len() < 5 || &bytes[..4] != MAGIC {
            return Err(r.error("missing KTRE magic"));
        }
        if bytes[4] != VERSION {
            return Err(r.error(format_args!("unsupported version {}", bytes[4])));
        }
        r.pos = 5;
        let mut tree = Tree::new();
        // Every name and node takes at least one byte, which bounds the counts.
        let name_count = r.len("name count", r.remaining())?;
        tree.names.reserve(name_count);
        for _ in 0..name_count {
            let len = r.uvarint("name length")?;
            let name = r.str(usize::try_from(len).unwrap_or(usize::MAX), "name")?;
            let id = tree.names.len() as u32;
            let name: Arc<str> = Arc::from(name);
            if tree.name_ids.insert(name.clone(), id).is_some() {
                return Err(r.error(format_args!("duplicate name {name:?}")));
            }
            tree.names.push(name);
        }
        let node_count = r.len("node count", r.remaining() / 3)?;
        if node_count >= NONE as usize {
            return Err(r.error("too many nodes"));
        }
        tree.nodes.reserve(node_count);
        for id in 1..=node_count as u32 {
            let parent = r.len("parent id", id as usize - 1)? as u32;
            let name = r.len("name id", tree.names.len() - 1)? as u32;
            let self_value = unzigzag(r.uvarint("self value")?);
            if tree.edges.insert((parent, name), id).is_some() {
                return Err(r.error(format_args!("node {id} duplicates a sibling name")));
            }
            let first = tree.nodes[parent as usize].first_child;
            tree.nodes.push(Node {
                parent,
                name,
                first_child: NONE,
                next_sibling: first,
                self_value,
                total: 0,
            });
            tree.nodes[parent as usize].first_child = id;
        }
        if !r.is_empty() {
            return Err(r.error(format_args!("{} trailing bytes", r.remaining())));
        }
        tree.recompute_totals();
        Ok(tree)
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Serialises as one byte string (the [`Tree::to_bytes`] form).
impl Serialize for Tree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the bytes of a serialised call tree")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Tree, E> {
        Tree::from_bytes(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_extremes() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn uvarint_matches_go_encoding() {
        let mut buf = Vec::new();
        put_uvarint(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
        let mut r = Reader::new(&buf, "test");
        assert_eq!(r.uvarint("v").unwrap(), 300);
        assert!(r.is_empty());
        // 11 continuation bytes: overflow; 1 byte with continuation: truncated.
        let err = Reader::new(&[0xff; 11], "test").uvarint("v").unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
        let err = Reader::new(&[0x80], "test").uvarint("v").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let mut max = Vec::new();
        put_uvarint(&mut max, u64::MAX);
        assert_eq!(Reader::new(&max, "test").uvarint("v").unwrap(), u64::MAX);
    }
}

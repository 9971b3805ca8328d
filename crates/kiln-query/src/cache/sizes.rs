//! Memory estimates of cached block data. They need not be exact, only
//! proportional to what the entry holds, so the budget means something.

use kiln_block::paths::files;
use kiln_block::{BlockReader, SeriesIndex, StackResolver};
use std::mem::size_of;
use std::sync::Arc;

/// Heap bytes of a `String` holding `s`, with its header.
fn string(s: &str) -> usize {
    s.len() + size_of::<String>()
}

/// A series index: label strings per series, plus the postings (strings and
/// roaring bitmaps).
pub(crate) fn series_size(index: &Arc<SeriesIndex>) -> usize {
    let mut bytes = size_of::<SeriesIndex>();
    for (_, entry) in index.iter() {
        bytes += 64 + string(&entry.profile_type) + string(&entry.service_name);
        bytes += entry
            .labels
            .iter()
            .map(|l| string(&l.name) + string(&l.value))
            .sum::<usize>();
    }
    for name in index.label_names() {
        bytes += string(name) + 48;
        for value in index.label_values(name) {
            let postings = index
                .postings(name, value)
                .map_or(0, |b| b.serialized_size());
            bytes += string(value) + 48 + postings;
        }
    }
    bytes
}

/// A stack resolver: three `u32` arrays per stack node plus the frame table.
pub(crate) fn stacks_size(resolver: &Arc<StackResolver>) -> usize {
    let nodes = (resolver.len() + 1) * 3 * size_of::<u32>();
    let frames: usize = resolver
        .frames()
        .iter()
        .map(|f| {
            size_of::<kiln_model::Frame>()
                + f.function.len()
                + f.system_name.len()
                + f.file.len()
                + f.binary.len()
        })
        .sum();
    size_of::<StackResolver>() + nodes + frames
}

/// A block reader: its meta plus the decoded Parquet footers and page
/// indexes of the scanned files, which it caches after the first scan
/// (decoded metadata is a few times larger than its encoded footer).
pub(crate) fn reader_size(reader: &Arc<BlockReader>) -> usize {
    let meta = reader.meta();
    let footers: u64 = [files::SAMPLES, files::PROFILES]
        .iter()
        .filter_map(|name| meta.file(name))
        .map(|f| f.footer_bytes.max(4096))
        .sum();
    let summary: usize = meta
        .summary
        .label_names
        .keys()
        .chain(&meta.summary.services)
        .chain(&meta.summary.profile_types)
        .map(|s| string(s) + 16)
        .sum();
    1024 + summary + 4 * footers as usize
}

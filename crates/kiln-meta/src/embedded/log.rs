//! The objects of the embedded metastore: their names, formats and the few
//! object-store calls made on them.
//!
//! ```text
//!  <prefix>/log/<seq:020>.json          {"format_version":1,"seq":7,"op":{"kind":"register","block":{…}}}
//!  <prefix>/snapshots/<seq:020>.json    {"format_version":1,"seq":200,"blocks":[…]}  (state after op <seq>)
//!  <prefix>/quarantine/<seq:020>-<ulid>.json   log entries set aside on open (torn tail, after a gap)
//! ```
//!
//! Sequence numbers start at 1 (0 is the empty state) and are zero-padded to
//! 20 digits, so names sort like numbers.

use crate::error::{MetaError, Result};
use crate::state::Op;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use kiln_block::BlockMeta;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use ulid::Ulid;

/// Version of the log entry and snapshot formats. An object with a newer
/// version stops loading with [`MetaError::UnsupportedFormat`].
pub(crate) const LOG_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct LogEntry {
    format_version: u32,
    seq: u64,
    op: Op,
}

#[derive(Debug, Serialize)]
struct SnapshotOut<'a> {
    format_version: u32,
    seq: u64,
    blocks: Vec<&'a BlockMeta>,
}

/// A snapshot as read back (its `format_version` is checked by [`decode`]).
#[derive(Debug, Deserialize)]
struct SnapshotIn {
    seq: u64,
    blocks: Vec<BlockMeta>,
}

/// Just enough of any object to check its version before decoding it.
#[derive(Debug, Deserialize)]
struct VersionProbe {
    format_version: u32,
}

/// What reading one stored object found.
#[derive(Debug)]
pub(crate) enum Read<T> {
    Found(T),
    /// The object is gone (truncated by a newer snapshot meanwhile).
    Missing,
    /// The object exists but does not decode; the reason says why.
    Corrupt(String),
}

/// The embedded metastore's view of its folder in the object store.
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    store: Arc<dyn ObjectStore>,
    log: Path,
    snapshots: Path,
    quarantine: Path,
}

impl LogStore {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, prefix: &Path) -> Self {
        Self {
            store,
            log: prefix.clone().join("log"),
            snapshots: prefix.clone().join("snapshots"),
            quarantine: prefix.clone().join("quarantine"),
        }
    }

    pub(crate) fn entry_path(&self, seq: u64) -> Path {
        self.log.clone().join(format!("{seq:020}.json"))
    }

    fn snapshot_path(&self, seq: u64) -> Path {
        self.snapshots.clone().join(format!("{seq:020}.json"))
    }

    /// Log entries present, by sequence number.
    pub(crate) async fn list_entries(&self) -> Result<Vec<(u64, Path)>> {
        self.list_seqs(&self.log).await
    }

    /// Snapshots present, by sequence number.
    pub(crate) async fn list_snapshots(&self) -> Result<Vec<(u64, Path)>> {
        self.list_seqs(&self.snapshots).await
    }

    async fn list_seqs(&self, prefix: &Path) -> Result<Vec<(u64, Path)>> {
        let metas: Vec<_> = self.store.list(Some(prefix)).try_collect().await?;
        let mut seqs: Vec<(u64, Path)> = metas
            .into_iter()
            .filter_map(|meta| match parse_seq(&meta.location) {
                Some(seq) => Some((seq, meta.location)),
                None => {
                    tracing::debug!(path = %meta.location, "ignoring unexpected object in metastore folder");
                    None
                }
            })
            .collect();
        seqs.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(seqs)
    }

    /// Writes log entry `seq` unless it exists. `Ok(false)`: another writer
    /// already committed `seq`.
    pub(crate) async fn create_entry(&self, seq: u64, op: &Op) -> Result<bool> {
        let entry = LogEntry {
            format_version: LOG_FORMAT_VERSION,
            seq,
            op: op.clone(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|source| MetaError::Encode { source })?;
        let opts = PutOptions::from(PutMode::Create);
        let path = self.entry_path(seq);
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(source.into()),
        }
    }

    /// True when a snapshot at `seq` or later exists: entry `seq` then lies
    /// in truncated history, and loading would skip it.
    pub(crate) async fn covered_by_snapshot(&self, seq: u64) -> Result<bool> {
        let snapshots = self.list_snapshots().await?;
        Ok(snapshots.last().is_some_and(|(s, _)| *s >= seq))
    }

    /// Deletes log entry `seq` (absent is fine).
    pub(crate) async fn delete_entry(&self, seq: u64) -> Result<()> {
        self.delete_all(vec![self.entry_path(seq)]).await
    }

    /// Reads log entry `seq` at `path`.
    pub(crate) async fn read_entry(&self, seq: u64, path: &Path) -> Result<Read<Op>> {
        let Some(bytes) = self.get(path).await? else {
            return Ok(Read::Missing);
        };
        Ok(match decode::<LogEntry>(&bytes, path)? {
            Read::Found(entry) if entry.seq != seq => {
                Read::Corrupt(format!("entry says seq {}, its name says {seq}", entry.seq))
            }
            Read::Found(entry) => Read::Found(entry.op),
            Read::Missing => Read::Missing,
            Read::Corrupt(reason) => Read::Corrupt(reason),
        })
    }

    /// Reads the snapshot `seq` at `path`: the blocks of the state after op `seq`.
    pub(crate) async fn read_snapshot(
        &self,
        seq: u64,
        path: &Path,
    ) -> Result<Read<Vec<BlockMeta>>> {
        let Some(bytes) = self.get(path).await? else {
            return Ok(Read::Missing);
        };
        Ok(match decode::<SnapshotIn>(&bytes, path)? {
            Read::Found(snap) if snap.seq != seq => Read::Corrupt(format!(
                "snapshot says seq {}, its name says {seq}",
                snap.seq
            )),
            Read::Found(snap) => Read::Found(snap.blocks),
            Read::Missing => Read::Missing,
            Read::Corrupt(reason) => Read::Corrupt(reason),
        })
    }

    /// Encodes a snapshot of `blocks` as the state after op `seq`.
    pub(crate) fn encode_snapshot<'a>(
        seq: u64,
        blocks: impl Iterator<Item = &'a BlockMeta>,
    ) -> Result<Vec<u8>> {
        let snap = SnapshotOut {
            format_version: LOG_FORMAT_VERSION,
            seq,
            blocks: blocks.collect(),
        };
        serde_json::to_vec(&snap).map_err(|source| MetaError::Encode { source })
    }

    /// Writes snapshot `seq`. The state at a sequence number is deterministic,
    /// so a writer racing on the same `seq` writes the same bytes: overwrite.
    pub(crate) async fn put_snapshot(&self, seq: u64, bytes: Vec<u8>) -> Result<()> {
        let path = self.snapshot_path(seq);
        self.store.put(&path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Deletes the log entries covered by snapshot `seq` and the snapshots older
    /// than it. Entries are deleted oldest first, so a crash midway leaves only
    /// entries that loading skips anyway.
    pub(crate) async fn truncate(&self, seq: u64) -> Result<()> {
        let entries = self.list_entries().await?;
        let old_entries = entries.into_iter().filter(|(s, _)| *s <= seq);
        let snapshots = self.list_snapshots().await?;
        let old_snapshots = snapshots.into_iter().filter(|(s, _)| *s < seq);
        let paths: Vec<Path> = old_entries.chain(old_snapshots).map(|(_, p)| p).collect();
        self.delete_all(paths).await
    }

    async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        let locations = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = self.store.delete_stream(locations);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(source.into()),
            }
        }
        Ok(())
    }

    /// Moves log entry `seq` to the quarantine folder (copy, then delete), so
    /// that its sequence number can be committed again while its bytes stay
    /// available to an operator.
    pub(crate) async fn quarantine(&self, seq: u64, path: &Path) -> Result<()> {
        let target = self
            .quarantine
            .clone()
            .join(format!("{seq:020}-{}.json", Ulid::generate()));
        match self.store.copy(path, &target).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(source) => return Err(source.into()),
        }
        self.delete_all(vec![path.clone()]).await?;
        tracing::warn!(%path, quarantined = %target, "set metastore log entry aside");
        Ok(())
    }

    async fn get(&self, path: &Path) -> Result<Option<Bytes>> {
        let got = match self.store.get(path).await {
            Ok(got) => got.bytes().await,
            Err(e) => Err(e),
        };
        match got {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(source.into()),
        }
    }
}

/// Decodes a stored object; refuses one from a newer format version.
fn decode<T: DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<Read<T>> {
    let version = match serde_json::from_slice::<VersionProbe>(bytes) {
        Ok(probe) => probe.format_version,
        Err(e) => return Ok(Read::Corrupt(e.to_string())),
    };
    if version > LOG_FORMAT_VERSION {
        return Err(MetaError::UnsupportedFormat {
            path: path.to_string(),
            found: version,
            supported: LOG_FORMAT_VERSION,
        });
    }
    Ok(match serde_json::from_slice::<T>(bytes) {
        Ok(value) => Read::Found(value),
        Err(e) => Read::Corrupt(e.to_string()),
    })
}

/// `…/00000000000000000012.json` → 12.
fn parse_seq(path: &Path) -> Option<u64> {
    let digits = path.filename()?.strip_suffix(".json")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_names_round_trip_and_sort() {
        let store = LogStore::new(
            Arc::new(object_store::memory::InMemory::new()),
            &Path::from("m"),
        );
        let path = store.entry_path(12);
        assert_eq!(path.as_ref(), "m/log/00000000000000000012.json");
        assert_eq!(parse_seq(&path), Some(12));
        assert_eq!(parse_seq(&store.entry_path(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_seq(&Path::from("m/log/12.json")), None);
        assert_eq!(
            parse_seq(&Path::from("m/log/0000000000000000001x.json")),
            None
        );
        assert!(store.entry_path(9).as_ref() < store.entry_path(10).as_ref());
    }

    #[test]
    fn newer_format_is_refused_not_treated_as_corrupt() {
        let path = Path::from("m/log/00000000000000000001.json");
        let err =
            decode::<LogEntry>(br#"{"format_version":2,"seq":1,"op":"?"}"#, &path).unwrap_err();
        assert!(
            matches!(err, MetaError::UnsupportedFormat { found: 2, .. }),
            "{err}"
        );
        let torn = decode::<LogEntry>(br#"{"format_version":1,"seq":1,"op":{"ki"#, &path).unwrap();
        assert!(matches!(torn, Read::Corrupt(_)));
    }
}

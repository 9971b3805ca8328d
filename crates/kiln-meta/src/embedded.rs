//! The embedded metastore: the index in memory, persisted as an append-only
//! log plus snapshots in the object store. See [`EmbeddedMetastore`].

mod log;

use crate::Metastore;
use crate::error::{MetaError, Result};
use crate::lease::LocalLeases;
use crate::state::{Op, State};
use async_trait::async_trait;
use kiln_block::BlockMeta;
use log::{LogStore, Read};
use object_store::ObjectStore;
use object_store::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};
use ulid::Ulid;

/// How many rounds of loading in a row may find nothing new (what they
/// listed vanished) before giving up.
const LOAD_ATTEMPTS: u32 = 10;

/// Settings of an [`EmbeddedMetastore`].
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Folder of the metastore inside the object store. Default `metastore`.
    pub prefix: Path,
    /// Write a snapshot (and truncate the log) after this many ops since the
    /// last one. Default 100; 0 never snapshots.
    pub snapshot_every: u64,
    /// How many times an op is retried after another writer committed its
    /// sequence number first. Default 8.
    pub max_commit_attempts: u32,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            prefix: Path::from("metastore"),
            snapshot_every: 100,
            max_commit_attempts: 8,
        }
    }
}

/// A [`Metastore`] kept in memory and persisted in an object store as an
/// append-only log plus snapshots, under `metastore/` by default:
///
/// ```text
///  metastore/log/<seq:020>.json        one committed op each: {"format_version":1,"seq":7,"op":{"kind":"register",…}}
///  metastore/snapshots/<seq:020>.json  the whole index after op <seq>: {"format_version":1,"seq":200,"blocks":[…]}
///  metastore/quarantine/<seq:020>-<ulid>.json   log entries set aside while loading (see below)
/// ```
///
/// Writing, snapshotting and opening:
///
/// ```text
///  op ──► lock writer ──► validate ──► PUT log/<seq+1> (create-only) ──► apply in memory ──► ack
///                                              │ already exists: another writer took seq+1
///                                              └──► catch up (snapshot + log), prepare again, retry
///  every `snapshot_every` ops: PUT snapshots/<seq> ──► delete log ≤ seq and older snapshots
///  open: list log, list snapshots ──► load newest snapshot ──► replay log after it, in order
/// ```
///
/// # Durability
/// An op is acknowledged only after its log entry's `put` returned, and memory
/// changes only after that, so an acknowledged op survives a crash **provided
/// the store's `put` is durable when it returns**. That holds for S3, GCS and
/// Azure; `object_store`'s `LocalFileSystem` does not fsync, so on a local
/// disk wrap it in a store that does.
///
/// # Loading
/// Open (and catching up after a lost race) lists the log *before* the
/// snapshots: a snapshot is written before the log it covers is deleted, so
/// whatever the first listing missed, the second has. Then:
/// - the newest snapshot is loaded (a corrupt one is an error: snapshots are
///   written with one atomic `put`, so corruption is not a crash artefact);
/// - log entries after it are replayed in sequence order, each validated
///   again against the state it was committed on;
/// - at a **gap** in the sequence, replay stops; the entries after the gap are
///   moved to `quarantine/` (logged at error level) so their numbers can be
///   committed again without resurrecting them later. A log that does not
///   continue the newest snapshot (a missing snapshot) is
///   [`MetaError::CorruptLog`] instead: stopping there would mean starting
///   from an empty index;
/// - a **corrupt last entry** (a torn write on a store without atomic puts)
///   was never acknowledged: it is moved to `quarantine/` with a warning. A
///   corrupt entry followed by others is [`MetaError::CorruptLog`]: committed
///   history was damaged and guessing would lose acknowledged ops;
/// - an entry or snapshot with a newer `format_version` is
///   [`MetaError::UnsupportedFormat`].
///
/// # Several instances on one store
/// The embedded metastore is meant to be owned by one process. Two instances
/// on one store never fork the history, because a log entry is created only
/// if absent and a writer that loses the race catches up and retries. A
/// writer whose slot was freed by another's truncation notices the covering
/// snapshot after its create, withdraws its entry and retries. But an
/// instance only sees others' ops when it next writes: its reads may be stale.
pub struct EmbeddedMetastore {
    log: LogStore,
    config: EmbeddedConfig,
    /// The index as of `Writer::seq`. Readers take it briefly; only a holder
    /// of `writer` changes it.
    state: RwLock<State>,
    /// Serialises ops, catching up and snapshots.
    writer: Mutex<Writer>,
    /// Compaction-job leases: in memory, exclusive within this process only.
    leases: LocalLeases,
}

/// Short on purpose: the index itself may hold millions of blocks.
impl std::fmt::Debug for EmbeddedMetastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedMetastore")
            .field("log", &self.log)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Writer {
    /// Sequence number of the last op applied to `state` (0 = none).
    seq: u64,
    /// Sequence number of the newest snapshot known to exist.
    snapshot_seq: u64,
}

impl EmbeddedMetastore {
    /// Opens the metastore stored under `config.prefix` in `store`, creating
    /// it empty if nothing is there: loads the newest snapshot, then replays
    /// the log after it.
    pub async fn open(store: Arc<dyn ObjectStore>, config: EmbeddedConfig) -> Result<Self> {
        let this = Self {
            log: LogStore::new(store, &config.prefix),
            config,
            state: RwLock::default(),
            writer: Mutex::default(),
            leases: LocalLeases::default(),
        };
        {
            let mut writer = this.writer.lock().await;
            this.catch_up(&mut writer).await?;
            tracing::info!(
                seq = writer.seq,
                snapshot_seq = writer.snapshot_seq,
                "opened embedded metastore"
            );
        }
        Ok(this)
    }

    /// Writes a snapshot of the current state now (for example on shutdown)
    /// and truncates the log, so the next open replays nothing.
    pub async fn checkpoint(&self) -> Result<()> {
        let mut writer = self.writer.lock().await;
        if writer.seq == writer.snapshot_seq {
            return Ok(());
        }
        self.snapshot(&mut writer).await
    }

    /// Commits one op: validate, log, apply. Returns the ids it removed.
    async fn commit(&self, op: Op) -> Result<Vec<Ulid>> {
        let mut writer = self.writer.lock().await;
        let attempts = self.config.max_commit_attempts.max(1);
        for attempt in 1..=attempts {
            let Some(op) = self.state.read().await.prepare(&op)? else {
                return Ok(Vec::new());
            };
            let seq = writer.seq + 1;
            if self.log.create_entry(seq, &op).await? {
                if !self.log.covered_by_snapshot(seq).await? {
                    let removed = op.removed_ids();
                    self.state.write().await.apply(op);
                    writer.seq = seq;
                    self.maybe_snapshot(&mut writer).await;
                    return Ok(removed);
                }
                // Our slot had been truncated by another writer's snapshot:
                // the entry would be ignored on load. Withdraw it.
                tracing::warn!(
                    seq,
                    attempt,
                    "metastore log slot was already truncated; withdrawing"
                );
                self.log.delete_entry(seq).await?;
            } else {
                tracing::warn!(
                    seq,
                    attempt,
                    "metastore log entry taken by another writer; catching up"
                );
            }
            self.catch_up(&mut writer).await?;
        }
        Err(MetaError::CommitConflict { attempts })
    }

    /// Brings `state` up to the newest committed op in the store.
    async fn catch_up(&self, writer: &mut Writer) -> Result<()> {
        // Another writer snapshotting and truncating may delete what we just
        // listed; list again. Give up only after rounds that made no progress.
        let mut stalled = 0;
        loop {
            let start_seq = writer.seq;
            if self.catch_up_once(writer).await? {
                return Ok(());
            }
            if writer.seq == start_seq {
                stalled += 1;
                if stalled >= LOAD_ATTEMPTS {
                    return Err(MetaError::Unstable { attempts: stalled });
                }
            }
        }
    }

    /// One round of [`Self::catch_up`]. `Ok(false)`: something listed vanished
    /// before it could be read; list again.
    async fn catch_up_once(&self, writer: &mut Writer) -> Result<bool> {
        // Log first, then snapshots (see "Loading" in the type docs).
        let entries = self.log.list_entries().await?;
        let snapshots = self.log.list_snapshots().await?;
        if let Some((seq, path)) = snapshots.last()
            && *seq > writer.seq
        {
            match self.log.read_snapshot(*seq, path).await? {
                Read::Found(blocks) => {
                    let state =
                        State::from_blocks(blocks).map_err(|e| MetaError::CorruptSnapshot {
                            path: path.to_string(),
                            reason: e.to_string(),
                        })?;
                    *self.state.write().await = state;
                    writer.seq = *seq;
                    writer.snapshot_seq = *seq;
                }
                // Replaced by a newer snapshot meanwhile.
                Read::Missing => return Ok(false),
                Read::Corrupt(reason) => {
                    return Err(MetaError::CorruptSnapshot {
                        path: path.to_string(),
                        reason,
                    });
                }
            }
        }
        self.replay(writer, entries).await
    }

    /// Replays the listed log entries after `writer.seq`. `Ok(false)`: an
    /// entry vanished (truncated by a newer snapshot); list again.
    async fn replay(&self, writer: &mut Writer, entries: Vec<(u64, Path)>) -> Result<bool> {
        let pending: Vec<_> = entries
            .into_iter()
            .filter(|(s, _)| *s > writer.seq)
            .collect();
        if let Some((first, path)) = pending.first()
            && *first != writer.seq + 1
        {
            // Truncation happens only below a snapshot, and the snapshots were
            // listed after the log: the snapshot this log continues is gone.
            return Err(MetaError::CorruptLog {
                path: path.to_string(),
                reason: format!(
                    "log resumes at {first} but the newest snapshot is at {}",
                    writer.seq
                ),
            });
        }
        for (i, (seq, path)) in pending.iter().enumerate() {
            let seq = *seq;
            if seq != writer.seq + 1 {
                tracing::error!(
                    expected = writer.seq + 1,
                    found = seq,
                    "gap in the metastore log; setting the entries after it aside"
                );
                for (seq, path) in &pending[i..] {
                    self.log.quarantine(*seq, path).await?;
                }
                return Ok(true);
            }
            match self.log.read_entry(seq, path).await? {
                Read::Found(op) => {
                    let mut state = self.state.write().await;
                    match state.prepare(&op) {
                        Ok(Some(op)) => state.apply(op),
                        Ok(None) => {
                            tracing::warn!(seq, "committed metastore op changes nothing on replay")
                        }
                        Err(e) => {
                            return Err(MetaError::CorruptLog {
                                path: path.to_string(),
                                reason: format!("op does not apply: {e}"),
                            });
                        }
                    }
                    writer.seq = seq;
                }
                Read::Missing => return Ok(false),
                Read::Corrupt(reason) if i + 1 == pending.len() => {
                    tracing::warn!(%path, %reason, "ignoring torn last metastore log entry");
                    self.log.quarantine(seq, path).await?;
                    return Ok(true);
                }
                Read::Corrupt(reason) => {
                    return Err(MetaError::CorruptLog {
                        path: path.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(true)
    }

    /// Snapshots if `snapshot_every` ops were committed since the last one.
    /// A failure is only logged: the op is already durable in the log.
    async fn maybe_snapshot(&self, writer: &mut Writer) {
        let every = self.config.snapshot_every;
        if every == 0 || writer.seq - writer.snapshot_seq < every {
            return;
        }
        if let Err(error) = self.snapshot(writer).await {
            tracing::warn!(%error, seq = writer.seq, "metastore snapshot failed; the log still holds every op");
        }
    }

    /// Writes the snapshot at `writer.seq`, then truncates what it covers.
    async fn snapshot(&self, writer: &mut Writer) -> Result<()> {
        let seq = writer.seq;
        let bytes = LogStore::encode_snapshot(seq, self.state.read().await.all_blocks())?;
        self.log.put_snapshot(seq, bytes).await?;
        writer.snapshot_seq = seq;
        tracing::debug!(seq, "wrote metastore snapshot");
        // Leftovers are harmless (loading skips them) and the next truncation
        // removes them, so a failure here is only logged.
        if let Err(error) = self.log.truncate(seq).await {
            tracing::warn!(%error, seq, "metastore log truncation failed");
        }
        Ok(())
    }
}

#[async_trait]
impl Metastore for EmbeddedMetastore {
    async fn register(&self, block: BlockMeta) -> Result<()> {
        self.commit(Op::Register { block }).await.map(drop)
    }

    async fn list_blocks(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BlockMeta>> {
        Ok(self.state.read().await.list(tenant, start_ns, end_ns))
    }

    async fn get_block(&self, tenant: &str, id: Ulid) -> Result<Option<BlockMeta>> {
        Ok(self.state.read().await.get(tenant, id))
    }

    async fn replace(
        &self,
        tenant: &str,
        sources: &[Ulid],
        replacements: Vec<BlockMeta>,
    ) -> Result<()> {
        let op = Op::Replace {
            tenant: tenant.to_owned(),
            sources: sources.to_vec(),
            replacements,
        };
        self.commit(op).await.map(drop)
    }

    async fn delete(&self, tenant: &str, ids: &[Ulid]) -> Result<Vec<Ulid>> {
        let op = Op::Delete {
            tenant: tenant.to_owned(),
            ids: ids.to_vec(),
        };
        self.commit(op).await
    }

    async fn tenants(&self) -> Result<Vec<String>> {
        Ok(self.state.read().await.tenant_names())
    }
    async fn try_lease(&self, tenant: &str, job: &str, owner: &str, ttl: Duration) -> Result<bool> {
        Ok(self.leases.try_lease(tenant, job, owner, ttl).await)
    }

    async fn release_lease(&self, tenant: &str, job: &str, owner: &str) -> Result<bool> {
        Ok(self.leases.release(tenant, job, owner).await)
    }
}

//! Per-block read state shared by every query: readers (with their cached
//! Parquet footers), series indexes and stack resolvers, each in its own
//! byte-budgeted LRU keyed by (tenant, block id).
//!
//! Series indexes and stack resolvers are loaded through a throwaway
//! [`BlockReader`] so that the long-lived scan reader never pins them: when
//! the LRU evicts one, its memory is really freed.

use crate::cache::{CacheStats, Lru, reader_size, series_size, stacks_size};
use kiln_block::{BlockError, BlockMeta, BlockReader, SeriesIndex, StackResolver};
use object_store::ObjectStore;
use std::collections::HashSet;
use std::sync::Arc;
use ulid::Ulid;

/// A block of one tenant: every cache key carries the tenant, so a block id
/// can never leak data across tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BlockKey {
    tenant: Arc<str>,
    id: Ulid,
}

impl BlockKey {
    fn of(meta: &BlockMeta) -> Self {
        Self {
            tenant: Arc::from(meta.tenant.as_str()),
            id: meta.id,
        }
    }
}

/// The block's `[min_time_ns, max_time_ns]`, kept with each entry to find
/// entries of blocks that a listing no longer returns.
type Span = (i64, i64);

/// Memory bounds of the block caches, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Block readers: meta plus decoded Parquet footers and page indexes.
    pub readers_bytes: usize,
    /// Series indexes (labels and roaring postings).
    pub series_bytes: usize,
    /// Stack resolvers (stack tree and frame table).
    pub symbols_bytes: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            readers_bytes: 64 << 20,
            series_bytes: 256 << 20,
            symbols_bytes: 512 << 20,
        }
    }
}

/// Usage of the three block caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockCacheStats {
    pub readers: CacheStats,
    pub series: CacheStats,
    pub symbols: CacheStats,
}

/// Readers, series indexes and stack resolvers of blocks, shared by every
/// query of an engine — and by the SQL engine of the same process
/// ([`crate::DataFusionEngine::block_cache`]), so one memory budget covers
/// both and a block decoded for one is warm for the other.
#[derive(Debug)]
pub struct BlockCache {
    store: Arc<dyn ObjectStore>,
    readers: Lru<BlockKey, Arc<BlockReader>, Span>,
    series: Lru<BlockKey, Arc<SeriesIndex>, Span>,
    stacks: Lru<BlockKey, Arc<StackResolver>, Span>,
}

fn span(meta: &BlockMeta) -> Span {
    (meta.min_time_ns, meta.max_time_ns)
}

impl BlockCache {
    /// Empty caches over `store`, bounded by `config`.
    pub fn new(store: Arc<dyn ObjectStore>, config: CacheConfig) -> Self {
        Self {
            store,
            readers: Lru::new(config.readers_bytes, reader_size),
            series: Lru::new(config.series_bytes, series_size),
            stacks: Lru::new(config.symbols_bytes, stacks_size),
        }
    }

    /// The scan reader of `meta`'s block.
    pub async fn reader(&self, meta: &BlockMeta) -> Result<Arc<BlockReader>, BlockError> {
        let store = self.store.clone();
        self.readers
            .get_or_load(BlockKey::of(meta), span(meta), || async move {
                Ok(Arc::new(BlockReader::from_meta(store, meta.clone())?))
            })
            .await
    }

    /// The block's series with postings.
    pub async fn series(&self, meta: &BlockMeta) -> Result<Arc<SeriesIndex>, BlockError> {
        let store = self.store.clone();
        self.series
            .get_or_load(BlockKey::of(meta), span(meta), || async move {
                BlockReader::from_meta(store, meta.clone())?.series().await
            })
            .await
    }

    /// The block's stack tree and frames.
    pub async fn stacks(&self, meta: &BlockMeta) -> Result<Arc<StackResolver>, BlockError> {
        let store = self.store.clone();
        self.stacks
            .get_or_load(BlockKey::of(meta), span(meta), || async move {
                BlockReader::from_meta(store, meta.clone())?
                    .stack_resolver()
                    .await
            })
            .await
    }

    /// Drops entries of `tenant`'s blocks that overlap `[start_ns, end_ns]`
    /// but are not in `listed`, the metastore's answer for that range: they
    /// were compacted away or deleted, so no query will ask for them again.
    pub fn forget_unlisted(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        listed: &HashSet<Ulid>,
    ) {
        let gone = |k: &BlockKey, &(min, max): &Span| {
            &*k.tenant == tenant && min <= end_ns && max >= start_ns && !listed.contains(&k.id)
        };
        self.readers.remove_if(gone);
        self.series.remove_if(gone);
        self.stacks.remove_if(gone);
    }

    /// Empties all three caches (e.g. to measure cold queries).
    pub fn clear(&self) {
        self.readers.clear();
        self.series.clear();
        self.stacks.clear();
    }

    /// Hits, misses and memory of the three caches.
    pub fn stats(&self) -> BlockCacheStats {
        BlockCacheStats {
            readers: self.readers.stats(),
            series: self.series.stats(),
            symbols: self.stacks.stats(),
        }
    }
}

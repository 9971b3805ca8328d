//! A byte-budgeted, least-recently-used cache of immutable per-block data
//! with single-flight loading.
//!
//! ```text
//!  get_or_load(key) ─► hit: bump recency, return the value (an Arc)
//!                   └► miss: insert an empty cell, load outside the lock
//!                      (concurrent callers await the same cell), account
//!                      its size, evict least-recently-used until within budget
//! ```
//!
//! Blocks are immutable, so entries never go stale; they only disappear when
//! the budget needs room or when their block is no longer listed
//! ([`Lru::remove_if`]). Every key carries the tenant, so one tenant's entries
//! are never served to another.

mod sizes;

pub(crate) use sizes::{reader_size, series_size, stacks_size};

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Hit/miss/eviction counters and current usage of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
    pub bytes: usize,
    pub budget: usize,
}

struct Slot<V, X> {
    cell: Arc<OnceCell<V>>,
    /// Bytes accounted for this entry (0 while loading).
    size: usize,
    tick: u64,
    /// Caller data kept with the entry (e.g. the block's time range).
    extra: X,
}

struct State<K, V, X> {
    map: foldhash::HashMap<K, Slot<V, X>>,
    /// Recency order: tick → key; the smallest tick is evicted first.
    order: BTreeMap<u64, K>,
    tick: u64,
    used: usize,
}

/// See the module docs. `X` is extra data stored with each entry, used by
/// [`Lru::remove_if`].
pub(crate) struct Lru<K, V, X> {
    state: Mutex<State<K, V, X>>,
    budget: usize,
    size_of: fn(&V) -> usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl<K, V, X> std::fmt::Debug for Lru<K, V, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lru")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<K, V, X> Lru<K, V, X>
where
    K: Eq + Hash + Clone,
    V: Clone,
    X: Clone,
{
    /// A cache holding at most about `budget` bytes as measured by `size_of`.
    pub(crate) fn new(budget: usize, size_of: fn(&V) -> usize) -> Self {
        Self {
            state: Mutex::new(State {
                map: foldhash::HashMap::default(),
                order: BTreeMap::new(),
                tick: 0,
                used: 0,
            }),
            budget,
            size_of,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V, X>> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters for a cache; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached value (usually an `Arc`) for `key`, loading it with `load` on a miss. Concurrent
    /// misses on one key share a single load; a failed load is not cached.
    pub(crate) async fn get_or_load<E, F, Fut>(&self, key: K, extra: X, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            let mut st = self.lock();
            st.tick += 1;
            let tick = st.tick;
            let state = &mut *st;
            match state.map.get_mut(&key) {
                Some(slot) => {
                    state.order.remove(&slot.tick);
                    slot.tick = tick;
                    state.order.insert(tick, key.clone());
                    if slot.cell.initialized() {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.misses.fetch_add(1, Ordering::Relaxed);
                    }
                    slot.cell.clone()
                }
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    let cell = Arc::new(OnceCell::new());
                    state.map.insert(
                        key.clone(),
                        Slot {
                            cell: cell.clone(),
                            size: 0,
                            tick,
                            extra,
                        },
                    );
                    state.order.insert(tick, key.clone());
                    cell
                }
            }
        };
        let value = cell.get_or_try_init(load).await?.clone();
        self.account(&key, &cell, &value);
        Ok(value)
    }

    /// Records the size of a freshly loaded entry and evicts down to budget.
    fn account(&self, key: &K, cell: &Arc<OnceCell<V>>, value: &V) {
        let mut st = self.lock();
        let state = &mut *st;
        let Some(slot) = state.map.get_mut(key) else {
            return; // evicted or removed meanwhile; the caller keeps its Arc
        };
        if !Arc::ptr_eq(&slot.cell, cell) || slot.size != 0 {
            return; // replaced, or already accounted by a concurrent caller
        }
        slot.size = (self.size_of)(value).max(1);
        state.used += slot.size;
        while state.used > self.budget {
            let Some((_, victim)) = state.order.pop_first() else {
                break;
            };
            if let Some(old) = state.map.remove(&victim) {
                state.used -= old.size;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drops every entry for which `pred(key, extra)` holds.
    pub(crate) fn remove_if(&self, pred: impl Fn(&K, &X) -> bool) {
        let mut st = self.lock();
        let state = &mut *st;
        let doomed: Vec<(K, u64, usize)> = state
            .map
            .iter()
            .filter(|(k, s)| pred(k, &s.extra))
            .map(|(k, s)| (k.clone(), s.tick, s.size))
            .collect();
        for (key, tick, size) in doomed {
            state.map.remove(&key);
            state.order.remove(&tick);
            state.used -= size;
        }
    }

    /// Empties the cache (counters are kept).
    pub(crate) fn clear(&self) {
        let mut st = self.lock();
        st.map.clear();
        st.order.clear();
        st.used = 0;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let st = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: st.map.len(),
            bytes: st.used,
            budget: self.budget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(v: &Arc<Vec<u8>>) -> usize {
        v.len()
    }

    async fn load(cache: &Lru<u32, Arc<Vec<u8>>, ()>, key: u32, bytes: usize) -> Arc<Vec<u8>> {
        cache
            .get_or_load(
                key,
                (),
                || async move { Ok::<_, ()>(Arc::new(vec![0; bytes])) },
            )
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn evicts_least_recently_used_within_budget() {
        let cache = Lru::new(100, len);
        load(&cache, 1, 40).await;
        load(&cache, 2, 40).await;
        load(&cache, 1, 40).await; // hit: 1 is now the most recent
        load(&cache, 3, 40).await; // over budget: evicts 2
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.evictions), (1, 3, 1));
        assert_eq!((s.entries, s.bytes), (2, 80));
        load(&cache, 1, 40).await;
        assert_eq!(cache.stats().hits, 2, "1 survived");
        load(&cache, 2, 40).await;
        assert_eq!(cache.stats().misses, 4, "2 was evicted");
    }

    #[tokio::test]
    async fn failed_loads_are_not_cached_and_remove_if_frees_bytes() {
        let cache: Lru<u32, Arc<Vec<u8>>, i64> = Lru::new(1000, len);
        let err = cache
            .get_or_load(7, 0, || async { Err::<Arc<Vec<u8>>, _>("boom") })
            .await;
        assert_eq!(err.unwrap_err(), "boom");
        let v = cache
            .get_or_load(7, 5, || async { Ok::<_, ()>(Arc::new(vec![1; 10])) })
            .await
            .unwrap();
        assert_eq!(v.len(), 10);
        cache
            .get_or_load(8, 50, || async { Ok::<_, ()>(Arc::new(vec![1; 20])) })
            .await
            .unwrap();
        cache.remove_if(|_, &t| t > 10);
        let s = cache.stats();
        assert_eq!((s.entries, s.bytes), (1, 10));
    }
}

//! A model of what every block holds, by lineage: a level-0 block holds the
//! raw profiles the test wrote into it; a compacted block holds, of its
//! sources' profiles, those within its [min_time, max_time] (outputs of a
//! job are window-aligned, so this is exact). With it the invariants are
//! checked at the level of single profiles: the blocks listed at any moment
//! partition the visible profiles (nothing missing, nothing twice), and
//! retention removes exactly whole blocks older than the cutoff.

use super::query::{Answer, Query, expected, query};
use super::{Harness, Rng};
use kiln_block::{BlockMeta, BlockReader};
use kiln_model::NormalizedProfile;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use ulid::Ulid;

#[derive(Debug, Default)]
pub struct TenantModel {
    /// Every profile ever written, by index.
    pub profiles: Vec<NormalizedProfile>,
    /// Block → indices of the profiles it holds.
    contents: HashMap<Ulid, Vec<usize>>,
    /// Profiles removed by retention.
    pub removed: BTreeSet<usize>,
    /// Block → its direct sources (compacted blocks only).
    parents: HashMap<Ulid, Vec<Ulid>>,
    /// Blocks listed at the last reconciliation.
    listed: BTreeSet<Ulid>,
}

#[derive(Debug, Default)]
pub struct Model {
    pub tenants: BTreeMap<String, TenantModel>,
}

impl Model {
    /// Records a level-0 block written by the test.
    pub fn ingested(&mut self, meta: &BlockMeta, profiles: Vec<NormalizedProfile>) {
        let t = self.tenants.entry(meta.tenant.clone()).or_default();
        let first = t.profiles.len();
        t.profiles.extend(profiles);
        t.contents
            .insert(meta.id, (first..t.profiles.len()).collect());
        t.listed.insert(meta.id);
    }

    /// Learns the content of `blocks` (and of their unseen ancestors, whose
    /// `meta.json` is read from the store: deletion is deferred, so they are
    /// still there right after the run that replaced them).
    pub async fn resolve(&mut self, h: &Harness, blocks: &[BlockMeta]) {
        for meta in blocks {
            let t = self.tenants.entry(meta.tenant.clone()).or_default();
            if t.contents.contains_key(&meta.id) {
                continue;
            }
            // Depth-first over unseen ancestors, children after parents.
            let mut todo = vec![(meta.clone(), false)];
            while let Some((m, expanded)) = todo.pop() {
                if t.contents.contains_key(&m.id) {
                    continue;
                }
                let missing: Vec<Ulid> = m
                    .sources
                    .iter()
                    .copied()
                    .filter(|s| !t.contents.contains_key(s))
                    .collect();
                if !expanded && !missing.is_empty() {
                    todo.push((m.clone(), true));
                    for s in missing {
                        let r = BlockReader::open(h.store.clone(), &m.tenant, s)
                            .await
                            .unwrap_or_else(|e| panic!("source {s} of {} unreadable: {e}", m.id));
                        todo.push((r.meta().clone(), false));
                    }
                    continue;
                }
                assert!(
                    m.level > 0 && !m.sources.is_empty(),
                    "unknown level-0 block {}",
                    m.id
                );
                let mut content = Vec::new();
                for s in &m.sources {
                    for &p in &t.contents[s] {
                        let time = t.profiles[p].time_nanos;
                        if time >= m.min_time_ns && time <= m.max_time_ns {
                            content.push(p);
                        }
                    }
                }
                t.parents.insert(m.id, m.sources.clone());
                content.sort_unstable();
                let before = content.len();
                content.dedup();
                assert_eq!(
                    before,
                    content.len(),
                    "block {} holds a profile twice",
                    m.id
                );
                t.contents.insert(m.id, content);
            }
        }
    }

    /// Catches up with the metastore after a run (finished or crashed):
    /// blocks that left the listing without being an ancestor of a listed
    /// block were removed by retention. Their profiles are gone, and each
    /// was older than the tenant's cutoff. Returns the expired blocks.
    pub async fn reconcile(
        &mut self,
        h: &Harness,
        cutoffs: &BTreeMap<String, i64>,
    ) -> Vec<(String, Ulid)> {
        let mut expired = Vec::new();
        let tenants: Vec<String> = self.tenants.keys().cloned().collect();
        for tenant in tenants {
            let listed = h.blocks(&tenant).await;
            self.resolve(h, &listed).await;
            let t = self.tenants.get_mut(&tenant).unwrap();
            let now: BTreeSet<Ulid> = listed.iter().map(|b| b.id).collect();
            let mut ancestors = BTreeSet::new();
            let mut todo: Vec<Ulid> = now.iter().copied().collect();
            while let Some(id) = todo.pop() {
                for &p in t.parents.get(&id).into_iter().flatten() {
                    if ancestors.insert(p) {
                        todo.push(p);
                    }
                }
            }
            let gone: Vec<Ulid> = t
                .listed
                .iter()
                .filter(|id| !now.contains(id) && !ancestors.contains(id))
                .copied()
                .collect();
            for id in gone {
                let cutoff = *cutoffs
                    .get(&tenant)
                    .unwrap_or_else(|| panic!("{tenant}: block {id} vanished without retention"));
                for &p in &t.contents[&id] {
                    assert!(
                        t.profiles[p].time_nanos < cutoff,
                        "retention removed a profile at {} >= cutoff {cutoff}",
                        t.profiles[p].time_nanos
                    );
                    assert!(t.removed.insert(p), "profile {p} removed twice");
                }
                expired.push((tenant.clone(), id));
            }
            t.listed = now;
        }
        expired.sort();
        expired
    }

    pub fn visible<'a>(&'a self, tenant: &str) -> impl Iterator<Item = &'a NormalizedProfile> + 'a {
        let t = &self.tenants[tenant];
        t.profiles
            .iter()
            .enumerate()
            .filter(|(i, _)| !t.removed.contains(i))
            .map(|(_, p)| p)
    }

    /// Every invariant, for every tenant, against the blocks listed now.
    /// `cutoffs`: tenant → retention cutoff of the last run (if any);
    /// `retention_done`: whether that run's retention finished (so nothing
    /// wholly older than the cutoff may be listed).
    pub async fn check(
        &mut self,
        h: &Harness,
        rng: &mut Rng,
        cutoffs: &BTreeMap<String, i64>,
        retention_done: bool,
    ) {
        self.reconcile(h, cutoffs).await;
        let tenants: Vec<String> = self.tenants.keys().cloned().collect();
        for tenant in tenants {
            let listed = h.blocks(&tenant).await;
            let t = &self.tenants[&tenant];

            // The listed blocks partition the visible profiles.
            let mut seen: BTreeMap<usize, Ulid> = BTreeMap::new();
            for b in &listed {
                for &p in &t.contents[&b.id] {
                    if let Some(other) = seen.insert(p, b.id) {
                        panic!("profile {p} is in blocks {other} and {} at once", b.id);
                    }
                    assert!(
                        !t.removed.contains(&p),
                        "expired profile {p} still listed in {}",
                        b.id
                    );
                }
            }
            let visible = t.profiles.len() - t.removed.len();
            assert_eq!(
                seen.len(),
                visible,
                "{tenant}: profiles missing from the listed blocks"
            );

            // Structure: compacted blocks lie in one window of their level;
            // retention left nothing wholly older than the cutoff.
            for b in &listed {
                if b.level > 0 {
                    let w = h.config.level_windows[b.level as usize - 1].as_nanos() as i64;
                    assert_eq!(
                        b.min_time_ns.div_euclid(w),
                        b.max_time_ns.div_euclid(w),
                        "{b:?}"
                    );
                }
                if let Some(&cutoff) = cutoffs.get(&tenant).filter(|_| retention_done) {
                    assert!(
                        b.max_time_ns >= cutoff,
                        "block {} wholly older than {cutoff}",
                        b.id
                    );
                }
            }

            // Query answers: from blocks == from raw profiles.
            let mut queries = vec![Query::all(i64::MIN, i64::MAX, super::MIN)];
            for _ in 0..2 {
                let start = super::T0 + rng.range(-super::HOUR, 6 * super::HOUR);
                let len = rng.range(1, 4 * super::HOUR);
                let mut q = Query::all(
                    start,
                    start + len,
                    [super::MIN, 10 * super::SEC, super::HOUR][rng.below(3) as usize],
                );
                if rng.chance(50) {
                    q.matcher = Some((
                        "service_name".into(),
                        super::SERVICES[rng.below(3) as usize].into(),
                    ));
                }
                queries.push(q);
            }
            // Hour-aligned ranges, answered from rollups where blocks have them.
            let h0 = super::T0 + rng.range(0, 4) * super::HOUR;
            queries.push(Query {
                use_rollups: true,
                ..Query::all(h0, h0 + 2 * super::HOUR - 1, super::HOUR)
            });
            queries.push(Query {
                use_rollups: true,
                ..Query::all(i64::MIN, i64::MAX, super::HOUR)
            });
            for q in queries {
                let want = expected(self.visible(&tenant), &q);
                let got: Answer = query(&h.store, &h.metastore, &tenant, &q).await.unwrap();
                assert!(
                    got == want,
                    "{tenant}: answer differs for {q:?}:\n{}",
                    got.diff(&want)
                );
            }
        }
    }
}

//! The block index in memory, and the operations that change it.
//!
//! Both implementations share it: [`InMemoryMetastore`](crate::InMemoryMetastore)
//! keeps only this; [`EmbeddedMetastore`](crate::EmbeddedMetastore) keeps this
//! as a cache of its log. Every change goes through two steps:
//!
//! ```text
//!  request ──► State::prepare (validate; normalise; None = no-op) ──► [log it] ──► State::apply
//! ```
//!
//! `prepare` reads only; `apply` cannot fail on a prepared op. Splitting them
//! lets the embedded store write the log entry between the two, so memory
//! changes only after the op is durable.

use crate::error::{MetaError, Result};
use kiln_block::BlockMeta;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use ulid::Ulid;

/// One committed change of the index. This is also the body of a log entry of
/// the embedded metastore, so its serialised form is a stored format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Op {
    Register {
        block: BlockMeta,
    },
    Replace {
        tenant: String,
        sources: Vec<Ulid>,
        replacements: Vec<BlockMeta>,
    },
    Delete {
        tenant: String,
        ids: Vec<Ulid>,
    },
}

impl Op {
    /// Ids this op removes (after `prepare`, exactly the ones present).
    pub(crate) fn removed_ids(&self) -> Vec<Ulid> {
        match self {
            Op::Register { .. } => Vec::new(),
            Op::Replace { sources, .. } => sources.clone(),
            Op::Delete { ids, .. } => ids.clone(),
        }
    }
}

/// The blocks of one tenant, ordered the way `list_blocks` answers.
#[derive(Debug, Default, Clone)]
struct TenantBlocks {
    by_time: BTreeMap<(i64, Ulid), BlockMeta>,
    /// id → `min_time_ns`, the other half of the `by_time` key.
    min_time: HashMap<Ulid, i64>,
}

impl TenantBlocks {
    fn get(&self, id: Ulid) -> Option<&BlockMeta> {
        let min = self.min_time.get(&id)?;
        self.by_time.get(&(*min, id))
    }

    fn contains(&self, id: Ulid) -> bool {
        self.min_time.contains_key(&id)
    }

    fn insert(&mut self, block: BlockMeta) {
        self.remove(block.id);
        self.min_time.insert(block.id, block.min_time_ns);
        self.by_time.insert((block.min_time_ns, block.id), block);
    }

    fn remove(&mut self, id: Ulid) -> Option<BlockMeta> {
        let min = self.min_time.remove(&id)?;
        self.by_time.remove(&(min, id))
    }

    fn is_empty(&self) -> bool {
        self.min_time.is_empty()
    }
}

/// The whole index: tenant → blocks. Blocks are keyed by (tenant, id): the
/// same ULID under two tenants names two unrelated blocks, so no operation of
/// one tenant can observe or touch another's.
#[derive(Debug, Default, Clone)]
pub(crate) struct State {
    tenants: BTreeMap<String, TenantBlocks>,
}

impl State {
    /// Rebuilds a state from a snapshot's block list. Fails on a block that
    /// breaks an invariant or appears twice.
    pub(crate) fn from_blocks(blocks: Vec<BlockMeta>) -> Result<Self> {
        let mut state = State::default();
        for block in blocks {
            validate_block(&block)?;
            let tenant = state.tenants.entry(block.tenant.clone()).or_default();
            if tenant.contains(block.id) {
                return Err(MetaError::Conflict {
                    tenant: block.tenant,
                    id: block.id,
                });
            }
            tenant.insert(block);
        }
        Ok(state)
    }

    /// Every block, by tenant then (min_time, id): the snapshot order.
    pub(crate) fn all_blocks(&self) -> impl Iterator<Item = &BlockMeta> {
        self.tenants.values().flat_map(|t| t.by_time.values())
    }

    /// Blocks of `tenant` overlapping `[start_ns, end_ns]`, by (min_time, id).
    pub(crate) fn list(&self, tenant: &str, start_ns: i64, end_ns: i64) -> Vec<BlockMeta> {
        let Some(blocks) = self.tenants.get(tenant) else {
            return Vec::new();
        };
        if start_ns > end_ns {
            return Vec::new();
        }
        // Every overlapping block starts at or before `end_ns`; the ones that
        // also end at or after `start_ns` overlap.
        let upper = Bound::Included((end_ns, Ulid::max()));
        blocks
            .by_time
            .range((Bound::Unbounded, upper))
            .map(|(_, b)| b)
            .filter(|b| b.overlaps(start_ns, end_ns))
            .cloned()
            .collect()
    }

    pub(crate) fn get(&self, tenant: &str, id: Ulid) -> Option<BlockMeta> {
        self.tenants.get(tenant)?.get(id).cloned()
    }

    /// Tenants with at least one block, sorted.
    pub(crate) fn tenant_names(&self) -> Vec<String> {
        self.tenants.keys().cloned().collect()
    }

    /// Validates `op` against the current state and normalises it.
    ///
    /// `Ok(None)` means the op changes nothing (an identical block registered
    /// again, a delete of absent ids, an empty replace) and need not be logged.
    pub(crate) fn prepare(&self, op: &Op) -> Result<Option<Op>> {
        match op {
            Op::Register { block } => self.prepare_register(block),
            Op::Replace {
                tenant,
                sources,
                replacements,
            } => self.prepare_replace(tenant, sources, replacements),
            Op::Delete { tenant, ids } => Ok(self.prepare_delete(tenant, ids)),
        }
    }

    fn prepare_register(&self, block: &BlockMeta) -> Result<Option<Op>> {
        validate_block(block)?;
        match self.get(&block.tenant, block.id) {
            Some(existing) if existing == *block => Ok(None),
            Some(_) => Err(MetaError::Conflict {
                tenant: block.tenant.clone(),
                id: block.id,
            }),
            None => Ok(Some(Op::Register {
                block: block.clone(),
            })),
        }
    }

    fn prepare_replace(
        &self,
        tenant: &str,
        sources: &[Ulid],
        replacements: &[BlockMeta],
    ) -> Result<Option<Op>> {
        let blocks = self.tenants.get(tenant);
        let present = |id: Ulid| blocks.is_some_and(|b| b.contains(id));

        let mut seen = HashSet::new();
        let sources: Vec<Ulid> = sources
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        if let Some(&id) = sources.iter().find(|id| !present(**id)) {
            return Err(MetaError::NotFound {
                tenant: tenant.to_owned(),
                id,
            });
        }

        validate_replacements(tenant, replacements)?;
        for block in replacements {
            // A replacement may reuse a source's id (rewriting a block's meta),
            // but never overwrite a block that stays.
            if present(block.id) && !seen.contains(&block.id) {
                return Err(MetaError::Conflict {
                    tenant: tenant.to_owned(),
                    id: block.id,
                });
            }
        }

        if sources.is_empty() && replacements.is_empty() {
            return Ok(None);
        }
        Ok(Some(Op::Replace {
            tenant: tenant.to_owned(),
            sources,
            replacements: replacements.to_vec(),
        }))
    }

    fn prepare_delete(&self, tenant: &str, ids: &[Ulid]) -> Option<Op> {
        let blocks = self.tenants.get(tenant)?;
        let mut seen = HashSet::new();
        let ids: Vec<Ulid> = ids
            .iter()
            .copied()
            .filter(|id| blocks.contains(*id) && seen.insert(*id))
            .collect();
        (!ids.is_empty()).then(|| Op::Delete {
            tenant: tenant.to_owned(),
            ids,
        })
    }

    /// Applies an op returned by [`State::prepare`] on this same state.
    pub(crate) fn apply(&mut self, op: Op) {
        match op {
            Op::Register { block } => {
                self.tenants
                    .entry(block.tenant.clone())
                    .or_default()
                    .insert(block);
            }
            Op::Replace {
                tenant,
                sources,
                replacements,
            } => {
                let blocks = self.tenants.entry(tenant.clone()).or_default();
                for id in sources {
                    let removed = blocks.remove(id);
                    debug_assert!(removed.is_some(), "replace of unprepared source {id}");
                }
                for block in replacements {
                    blocks.insert(block);
                }
                self.drop_if_empty(&tenant);
            }
            Op::Delete { tenant, ids } => {
                if let Some(blocks) = self.tenants.get_mut(&tenant) {
                    for id in ids {
                        blocks.remove(id);
                    }
                }
                self.drop_if_empty(&tenant);
            }
        }
    }

    fn drop_if_empty(&mut self, tenant: &str) {
        if self.tenants.get(tenant).is_some_and(TenantBlocks::is_empty) {
            self.tenants.remove(tenant);
        }
    }
}

/// Checks what every metastore's `replace` must refuse before touching
/// state: an invalid block, a replacement of another tenant, an id given
/// twice. Shared by every backend so they refuse the same requests alike.
pub fn validate_replacements(tenant: &str, replacements: &[BlockMeta]) -> Result<()> {
    let mut new_ids = HashSet::new();
    for block in replacements {
        validate_block(block)?;
        if block.tenant != tenant {
            return Err(MetaError::InvalidBlock {
                id: block.id,
                reason: format!(
                    "replacement belongs to tenant {:?}, not {tenant:?}",
                    block.tenant
                ),
            });
        }
        if !new_ids.insert(block.id) {
            return Err(MetaError::InvalidBlock {
                id: block.id,
                reason: "id appears twice among the replacements".to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks the invariants a block must hold to be indexed (non-empty tenant,
/// `min_time_ns <= max_time_ns`); public so that implementations in other
/// crates reject exactly what these do.
pub fn validate_block(block: &BlockMeta) -> Result<()> {
    let invalid = |reason: &str| MetaError::InvalidBlock {
        id: block.id,
        reason: reason.to_owned(),
    };
    if block.tenant.is_empty() {
        return Err(invalid("empty tenant"));
    }
    if block.min_time_ns > block.max_time_ns {
        return Err(invalid("min_time_ns is after max_time_ns"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_block::SeriesSummary;

    fn block(id: u128, tenant: &str, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            format_version: kiln_block::FORMAT_VERSION,
            id: Ulid(id),
            tenant: tenant.to_owned(),
            level: 0,
            min_time_ns: min,
            max_time_ns: max,
            sources: Vec::new(),
            files: Vec::new(),
            summary: SeriesSummary::default(),
        }
    }

    /// The range scan over (min_time, id) answers exactly what a full filter does.
    #[test]
    fn list_matches_a_full_scan() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % bound) as i64 - (bound / 2) as i64
        };
        let mut blocks = Vec::new();
        for id in 0..300u128 {
            let min = next(1_000);
            blocks.push(block(id % 97, "t", min, min + next(200).abs()));
        }
        // Ids repeat: keep the first of each, as register would (conflict otherwise).
        let mut state = State::default();
        let mut kept: Vec<BlockMeta> = Vec::new();
        for b in blocks {
            if let Ok(Some(op)) = state.prepare(&Op::Register { block: b.clone() }) {
                state.apply(op);
                kept.push(b);
            }
        }
        kept.sort_by_key(|b| (b.min_time_ns, b.id));
        for _ in 0..500 {
            let (a, b) = (next(1_400), next(1_400));
            let expected: Vec<_> = kept
                .iter()
                .filter(|x| a <= b && x.overlaps(a, b))
                .cloned()
                .collect();
            assert_eq!(state.list("t", a, b), expected, "range [{a}, {b}]");
        }
        assert_eq!(state.list("t", i64::MIN, i64::MAX), kept);
    }

    #[test]
    fn snapshot_with_a_duplicate_block_is_refused() {
        let b = block(1, "t", 0, 1);
        assert!(State::from_blocks(vec![b.clone(), block(2, "t", 0, 1)]).is_ok());
        assert!(State::from_blocks(vec![b.clone(), b.clone()]).is_err());
        assert!(
            State::from_blocks(vec![b.clone(), block(1, "u", 0, 1)]).is_ok(),
            "ids are per tenant"
        );
        assert!(State::from_blocks(vec![block(3, "t", 2, 1)]).is_err());
    }

    #[test]
    fn log_entry_format_is_stable() {
        let op = Op::Delete {
            tenant: "t".to_owned(),
            ids: vec![Ulid(1)],
        };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"delete","tenant":"t","ids":["00000000000000000000000001"]}"#
        );
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
    }
}

//! The conformance cases. Each takes a fresh, empty metastore and panics on a
//! violation of the [`Metastore`] contract.

use super::{block, block_with_id, dump};
use crate::{MetaError, Metastore};
use kiln_block::BlockMeta;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use ulid::Ulid;

fn ids(blocks: &[BlockMeta]) -> Vec<Ulid> {
    blocks.iter().map(|b| b.id).collect()
}

async fn listed(m: &dyn Metastore, tenant: &str, start: i64, end: i64) -> Vec<Ulid> {
    ids(&m
        .list_blocks(tenant, start, end)
        .await
        .expect("list_blocks"))
}

async fn register_all(m: &dyn Metastore, blocks: &[BlockMeta]) {
    for b in blocks {
        m.register(b.clone()).await.expect("register");
    }
}

/// Ranges are inclusive at both ends, on both sides.
pub async fn register_and_list_by_time_range(m: Arc<dyn Metastore>) {
    let a = block("t", 100, 200);
    let b = block("t", 300, 400);
    register_all(&*m, &[a.clone(), b.clone()]).await;

    assert_eq!(listed(&*m, "t", i64::MIN, i64::MAX).await, vec![a.id, b.id]);
    assert_eq!(
        listed(&*m, "t", 200, 300).await,
        vec![a.id, b.id],
        "both ends touch"
    );
    assert_eq!(
        listed(&*m, "t", 201, 299).await,
        Vec::<Ulid>::new(),
        "between blocks"
    );
    assert_eq!(
        listed(&*m, "t", 0, 100).await,
        vec![a.id],
        "end touches min_time"
    );
    assert_eq!(listed(&*m, "t", 0, 99).await, Vec::<Ulid>::new());
    assert_eq!(
        listed(&*m, "t", 400, 500).await,
        vec![b.id],
        "start touches max_time"
    );
    assert_eq!(listed(&*m, "t", 401, 500).await, Vec::<Ulid>::new());
    assert_eq!(listed(&*m, "t", 150, 150).await, vec![a.id], "point inside");
    assert_eq!(
        listed(&*m, "t", 120, 130).await,
        vec![a.id],
        "range inside a block"
    );
    assert_eq!(
        listed(&*m, "t", 0, 1000).await,
        vec![a.id, b.id],
        "range around blocks"
    );
    assert_eq!(
        listed(&*m, "t", 300, 200).await,
        Vec::<Ulid>::new(),
        "start after end"
    );
    assert_eq!(
        listed(&*m, "other", i64::MIN, i64::MAX).await,
        Vec::<Ulid>::new()
    );

    let got = m.list_blocks("t", 0, 1000).await.expect("list_blocks");
    assert_eq!(
        got,
        vec![a, b],
        "list returns the registered metadata unchanged"
    );
}

/// Results are sorted by (min_time, id), whatever the registration order; a
/// long block starting early is found by a range that starts after it began.
pub async fn list_sorts_by_min_time_then_id(m: Arc<dyn Metastore>) {
    let long = block("t", 0, 10_000);
    let mut same_start: Vec<BlockMeta> = (0..5).map(|_| block("t", 500, 600)).collect();
    let late = block("t", 900, 950);
    m.register(late.clone()).await.expect("register");
    register_all(&*m, &same_start).await;
    m.register(long.clone()).await.expect("register");

    same_start.sort_by_key(|b| b.id);
    let mut expected = vec![long.id];
    expected.extend(ids(&same_start));
    expected.push(late.id);
    assert_eq!(listed(&*m, "t", i64::MIN, i64::MAX).await, expected);
    assert_eq!(listed(&*m, "t", 9_000, 9_001).await, vec![long.id]);
}

pub async fn get_block_finds_only_registered_blocks(m: Arc<dyn Metastore>) {
    let a = block("t", 1, 2);
    m.register(a.clone()).await.expect("register");
    assert_eq!(m.get_block("t", a.id).await.expect("get"), Some(a.clone()));
    assert_eq!(m.get_block("t", Ulid::generate()).await.expect("get"), None);
    assert_eq!(m.get_block("unknown", a.id).await.expect("get"), None);
}

/// Tenant B never sees, changes or learns about tenant A's blocks, through
/// any method, even when it names A's block ids.
pub async fn tenant_isolation(m: Arc<dyn Metastore>) {
    let a1 = block("a", 0, 100);
    let a2 = block("a", 50, 150);
    register_all(&*m, &[a1.clone(), a2.clone()]).await;
    let before = dump(&*m).await;

    assert_eq!(
        listed(&*m, "b", i64::MIN, i64::MAX).await,
        Vec::<Ulid>::new()
    );
    assert_eq!(m.get_block("b", a1.id).await.expect("get"), None);
    assert_eq!(
        m.delete("b", &[a1.id, a2.id]).await.expect("delete"),
        Vec::<Ulid>::new()
    );
    let err = m
        .replace("b", &[a1.id], vec![block("b", 0, 100)])
        .await
        .expect_err("replace of another tenant's block");
    assert!(
        matches!(err, MetaError::NotFound { ref tenant, id } if tenant == "b" && id == a1.id),
        "{err}"
    );
    let err = m
        .replace("b", &[], vec![block("a", 0, 1)])
        .await
        .expect_err("replace adding a block of another tenant");
    assert!(matches!(err, MetaError::InvalidBlock { .. }), "{err}");
    assert_eq!(dump(&*m).await, before, "nothing of tenant a changed");
    assert_eq!(m.tenants().await.expect("tenants"), vec!["a".to_owned()]);

    // The same id under tenant b is an unrelated block.
    let b1 = block_with_id(a1.id, "b", 500, 600);
    m.register(b1.clone())
        .await
        .expect("same id under another tenant");
    assert_eq!(
        m.get_block("a", a1.id).await.expect("get"),
        Some(a1.clone())
    );
    assert_eq!(
        m.get_block("b", a1.id).await.expect("get"),
        Some(b1.clone())
    );
    assert_eq!(listed(&*m, "b", i64::MIN, i64::MAX).await, vec![b1.id]);
    assert_eq!(m.delete("b", &[b1.id]).await.expect("delete"), vec![b1.id]);
    assert_eq!(dump(&*m).await, before, "deleting b's block left a's alone");
}

pub async fn register_is_idempotent(m: Arc<dyn Metastore>) {
    let a = block("t", 1, 2);
    m.register(a.clone()).await.expect("first register");
    m.register(a.clone()).await.expect("same block again");
    assert_eq!(
        m.list_blocks("t", i64::MIN, i64::MAX).await.expect("list"),
        vec![a]
    );
}

pub async fn conflicting_register_is_rejected(m: Arc<dyn Metastore>) {
    let a = block("t", 1, 2);
    m.register(a.clone()).await.expect("register");
    let mut changed = a.clone();
    changed.max_time_ns = 3;
    let err = m
        .register(changed)
        .await
        .expect_err("different block, same id");
    assert!(
        matches!(err, MetaError::Conflict { ref tenant, id } if tenant == "t" && id == a.id),
        "{err}"
    );
    assert_eq!(m.get_block("t", a.id).await.expect("get"), Some(a));
}

pub async fn invalid_blocks_are_rejected(m: Arc<dyn Metastore>) {
    let err = m.register(block("", 1, 2)).await.expect_err("empty tenant");
    assert!(matches!(err, MetaError::InvalidBlock { .. }), "{err}");
    let err = m
        .register(block("t", 3, 2))
        .await
        .expect_err("min after max");
    assert!(matches!(err, MetaError::InvalidBlock { .. }), "{err}");
    assert!(m.tenants().await.expect("tenants").is_empty());
    m.register(block("t", 5, 5))
        .await
        .expect("a single instant is a valid range");
}

/// The compaction swap: sources gone and replacements present, at once.
pub async fn replace_swaps_atomically(m: Arc<dyn Metastore>) {
    let s1 = block("t", 0, 100);
    let s2 = block("t", 50, 200);
    let keep = block("t", 300, 400);
    register_all(&*m, &[s1.clone(), s2.clone(), keep.clone()]).await;

    let mut merged = block("t", 0, 200);
    merged.level = 1;
    merged.sources = vec![s1.id, s2.id];
    m.replace("t", &[s1.id, s2.id, s1.id], vec![merged.clone()])
        .await
        .expect("replace (duplicate source ids count once)");

    assert_eq!(
        listed(&*m, "t", i64::MIN, i64::MAX).await,
        vec![merged.id, keep.id]
    );
    assert_eq!(m.get_block("t", s1.id).await.expect("get"), None);
    assert_eq!(
        m.get_block("t", merged.id).await.expect("get"),
        Some(merged.clone())
    );

    // Several replacements, e.g. a split, and pure removal.
    let left = block("t", 0, 99);
    let right = block("t", 100, 200);
    m.replace("t", &[merged.id], vec![left.clone(), right.clone()])
        .await
        .expect("split");
    assert_eq!(listed(&*m, "t", 0, 200).await, vec![left.id, right.id]);
    m.replace("t", &[left.id, right.id], Vec::new())
        .await
        .expect("remove only");
    assert_eq!(listed(&*m, "t", i64::MIN, i64::MAX).await, vec![keep.id]);
    m.replace("t", &[], Vec::new())
        .await
        .expect("empty replace is a no-op");
}

pub async fn replace_with_missing_source_changes_nothing(m: Arc<dyn Metastore>) {
    let s1 = block("t", 0, 100);
    let s2 = block("t", 50, 200);
    register_all(&*m, &[s1.clone(), s2.clone()]).await;
    let before = dump(&*m).await;

    let missing = Ulid::generate();
    let merged = block("t", 0, 200);
    let err = m
        .replace("t", &[s1.id, missing, s2.id], vec![merged.clone()])
        .await
        .expect_err("missing source");
    assert!(
        matches!(err, MetaError::NotFound { ref tenant, id } if tenant == "t" && id == missing),
        "{err}"
    );
    assert_eq!(dump(&*m).await, before);
    assert_eq!(m.get_block("t", merged.id).await.expect("get"), None);
}

pub async fn replace_with_bad_replacements_changes_nothing(m: Arc<dyn Metastore>) {
    let s1 = block("t", 0, 100);
    let other = block("t", 500, 600);
    register_all(&*m, &[s1.clone(), other.clone()]).await;
    let before = dump(&*m).await;

    let err = m
        .replace("t", &[s1.id], vec![block("u", 0, 100)])
        .await
        .expect_err("replacement of another tenant");
    assert!(matches!(err, MetaError::InvalidBlock { .. }), "{err}");

    let twin = block("t", 0, 100);
    let err = m
        .replace("t", &[s1.id], vec![twin.clone(), twin])
        .await
        .expect_err("duplicate replacement ids");
    assert!(matches!(err, MetaError::InvalidBlock { .. }), "{err}");

    let err = m
        .replace("t", &[s1.id], vec![block("t", 7, 3)])
        .await
        .expect_err("invalid replacement");
    assert!(matches!(err, MetaError::InvalidBlock { .. }), "{err}");

    let overwrite = block_with_id(other.id, "t", 0, 100);
    let err = m
        .replace("t", &[s1.id], vec![overwrite])
        .await
        .expect_err("replacement overwriting a block that stays");
    assert!(
        matches!(err, MetaError::Conflict { id, .. } if id == other.id),
        "{err}"
    );

    assert_eq!(dump(&*m).await, before);
    assert_eq!(m.tenants().await.expect("tenants"), vec!["t".to_owned()]);
}

pub async fn replace_may_reuse_a_source_id(m: Arc<dyn Metastore>) {
    let s = block("t", 0, 100);
    m.register(s.clone()).await.expect("register");
    let mut rewritten = s.clone();
    rewritten.level = 2;
    rewritten.max_time_ns = 90;
    m.replace("t", &[s.id], vec![rewritten.clone()])
        .await
        .expect("rewrite in place");
    assert_eq!(
        m.get_block("t", s.id).await.expect("get"),
        Some(rewritten.clone())
    );
    assert_eq!(
        m.list_blocks("t", i64::MIN, i64::MAX).await.expect("list"),
        vec![rewritten]
    );
}

pub async fn delete_returns_what_was_removed(m: Arc<dyn Metastore>) {
    let a = block("t", 0, 1);
    let b = block("t", 2, 3);
    let c = block("t", 4, 5);
    register_all(&*m, &[a.clone(), b.clone(), c.clone()]).await;

    let unknown = Ulid::generate();
    let removed = m
        .delete("t", &[c.id, unknown, a.id, c.id])
        .await
        .expect("delete");
    assert_eq!(
        removed,
        vec![c.id, a.id],
        "in the order given, without unknown or repeated ids"
    );
    assert_eq!(listed(&*m, "t", i64::MIN, i64::MAX).await, vec![b.id]);
    assert_eq!(
        m.delete("t", &[a.id]).await.expect("delete again"),
        Vec::<Ulid>::new()
    );
    assert_eq!(
        m.delete("t", &[]).await.expect("delete nothing"),
        Vec::<Ulid>::new()
    );
    assert_eq!(
        m.delete("nobody", &[b.id]).await.expect("unknown tenant"),
        Vec::<Ulid>::new()
    );
    assert_eq!(listed(&*m, "t", i64::MIN, i64::MAX).await, vec![b.id]);
}

pub async fn tenants_lists_tenants_with_blocks(m: Arc<dyn Metastore>) {
    assert!(m.tenants().await.expect("tenants").is_empty());
    let z = block("zeta", 0, 1);
    let a = block("alpha", 0, 1);
    let a2 = block("alpha", 2, 3);
    let anon = block("anonymous", 0, 1);
    register_all(&*m, &[z.clone(), a.clone(), a2, anon]).await;
    assert_eq!(
        m.tenants().await.expect("tenants"),
        ["alpha", "anonymous", "zeta"]
    );

    m.delete("zeta", &[z.id]).await.expect("delete");
    assert_eq!(
        m.tenants().await.expect("tenants"),
        ["alpha", "anonymous"],
        "a tenant without blocks is not listed"
    );
    m.replace("alpha", &[a.id], vec![block("alpha", 0, 1)])
        .await
        .expect("replace");
    assert_eq!(m.tenants().await.expect("tenants"), ["alpha", "anonymous"]);
}

/// Many tasks registering at once: every block lands, each exactly once.
pub async fn concurrent_registers_all_land(m: Arc<dyn Metastore>) {
    const TASKS: usize = 32;
    const PER_TASK: usize = 8;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let m = Arc::clone(&m);
        handles.push(tokio::spawn(async move {
            let tenant = format!("tenant-{}", task % 4);
            let mut mine = Vec::new();
            for i in 0..PER_TASK {
                let t = (task * PER_TASK + i) as i64;
                let b = block(&tenant, t, t + 10);
                m.register(b.clone()).await.expect("concurrent register");
                mine.push(b);
            }
            mine
        }));
    }
    let mut expected: BTreeSet<(String, Ulid)> = BTreeSet::new();
    for handle in handles {
        for b in handle.await.expect("task") {
            expected.insert((b.tenant, b.id));
        }
    }
    let got: BTreeSet<(String, Ulid)> = dump(&*m)
        .await
        .into_iter()
        .flat_map(|(t, blocks)| blocks.into_iter().map(move |b| (t.clone(), b.id)))
        .collect();
    assert_eq!(got.len(), TASKS * PER_TASK);
    assert_eq!(got, expected);
}

/// Compactions of disjoint groups racing with registers: every swap and every
/// register lands, and no block is lost or duplicated.
pub async fn concurrent_replaces_and_registers_all_land(m: Arc<dyn Metastore>) {
    const GROUPS: usize = 8;
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let base = (g * 1000) as i64;
        let group: Vec<BlockMeta> = (0..3).map(|i| block("t", base + i, base + i + 5)).collect();
        register_all(&*m, &group).await;
        groups.push(group);
    }

    let mut handles = Vec::new();
    for group in groups {
        let m1 = Arc::clone(&m);
        handles.push(tokio::spawn(async move {
            let sources = ids(&group);
            let merged = block("t", group[0].min_time_ns, group[2].max_time_ns);
            m1.replace("t", &sources, vec![merged.clone()])
                .await
                .expect("concurrent replace");
            merged.id
        }));
        let m2 = Arc::clone(&m);
        handles.push(tokio::spawn(async move {
            let fresh = block("t", 50_000, 50_001);
            m2.register(fresh.clone())
                .await
                .expect("concurrent register");
            fresh.id
        }));
    }
    let mut expected = BTreeSet::new();
    for handle in handles {
        expected.insert(handle.await.expect("task"));
    }
    let got: BTreeSet<Ulid> = listed(&*m, "t", i64::MIN, i64::MAX)
        .await
        .into_iter()
        .collect();
    assert_eq!(got, expected);
}

/// Long enough that no test outlives it by accident.
const LONG: Duration = Duration::from_secs(600);

pub async fn lease_excludes_other_owners(m: Arc<dyn Metastore>) {
    assert!(m.try_lease("t", "job-1", "a", LONG).await.expect("lease"));
    assert!(
        !m.try_lease("t", "job-1", "b", LONG).await.expect("lease"),
        "held by a"
    );
    assert!(
        !m.release_lease("t", "job-1", "b").await.expect("release"),
        "b cannot release a's lease"
    );
    assert!(
        !m.try_lease("t", "job-1", "b", LONG).await.expect("lease"),
        "still held by a"
    );
}

pub async fn lease_is_renewed_and_released_by_its_owner(m: Arc<dyn Metastore>) {
    assert!(m.try_lease("t", "job", "a", LONG).await.expect("lease"));
    assert!(
        m.try_lease("t", "job", "a", LONG).await.expect("renew"),
        "the owner renews"
    );
    assert!(m.release_lease("t", "job", "a").await.expect("release"));
    assert!(
        !m.release_lease("t", "job", "a")
            .await
            .expect("release again"),
        "nothing left to release"
    );
    assert!(
        m.try_lease("t", "job", "b", LONG).await.expect("lease"),
        "free after release"
    );
}

pub async fn lease_expires(m: Arc<dyn Metastore>) {
    let short = Duration::from_millis(50);
    assert!(m.try_lease("t", "job", "a", short).await.expect("lease"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        m.try_lease("t", "job", "b", LONG).await.expect("lease"),
        "a's lease expired"
    );
    assert!(
        !m.release_lease("t", "job", "a").await.expect("release"),
        "a lost its expired lease to b"
    );
    assert!(!m.try_lease("t", "job", "a", LONG).await.expect("lease"));
}

pub async fn leases_are_per_tenant_and_job(m: Arc<dyn Metastore>) {
    assert!(m.try_lease("t", "job-1", "a", LONG).await.expect("lease"));
    assert!(m.try_lease("t", "job-2", "b", LONG).await.expect("lease"));
    assert!(m.try_lease("u", "job-1", "b", LONG).await.expect("lease"));
    assert!(!m.try_lease("u", "job-1", "a", LONG).await.expect("lease"));
    assert!(
        m.tenants().await.expect("tenants").is_empty(),
        "leases are not blocks"
    );
}

/// Many owners racing for one job: exactly one wins.
pub async fn concurrent_leases_have_one_winner(m: Arc<dyn Metastore>) {
    const OWNERS: usize = 16;
    let mut handles = Vec::new();
    for owner in 0..OWNERS {
        let m = Arc::clone(&m);
        handles.push(tokio::spawn(async move {
            let owner = format!("compactor-{owner}");
            m.try_lease("t", "L1/0", &owner, LONG)
                .await
                .expect("concurrent lease")
        }));
    }
    let mut winners = 0;
    for handle in handles {
        winners += usize::from(handle.await.expect("task"));
    }
    assert_eq!(winners, 1);
}

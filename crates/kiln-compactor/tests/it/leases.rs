//! Several compactors on one metastore: a tenant leased by one is left
//! alone by the others until the lease is given back or expires.

use crate::common::*;
use kiln_compactor::TENANT_LEASE_JOB;
use std::time::Duration;

#[tokio::test]
async fn a_tenant_leased_by_another_compactor_is_skipped() {
    let h = Harness::new(test_config()).await;
    let mut rng = Rng::new(5);
    for (tenant, id) in [("t", 1), ("t", 2), ("u", 3), ("u", 4)] {
        h.write_l0(tenant, &[random_profile(&mut rng, T0 + 5 * SEC, id)])
            .await;
    }
    h.clock.set(T0 + 10 * MIN);
    let other = "compactor-elsewhere";
    let ttl = Duration::from_secs(600);
    assert!(
        h.metastore
            .try_lease("t", TENANT_LEASE_JOB, other, ttl)
            .await
            .unwrap()
    );

    let report = h.run().await;
    assert_eq!(report.jobs_run, 1, "only u was compacted");
    assert!(h.blocks("t").await.iter().all(|b| b.level == 0));
    assert!(h.blocks("u").await.iter().all(|b| b.level > 0));
    // The compactor gave u's lease back after its run.
    assert!(
        h.metastore
            .try_lease("u", TENANT_LEASE_JOB, other, ttl)
            .await
            .unwrap()
    );

    assert!(
        h.metastore
            .release_lease("t", TENANT_LEASE_JOB, other)
            .await
            .unwrap()
    );
    let report = h.run().await;
    assert_eq!(report.jobs_run, 1, "t once its lease was given back");
    assert!(h.blocks("t").await.iter().all(|b| b.level > 0));
}

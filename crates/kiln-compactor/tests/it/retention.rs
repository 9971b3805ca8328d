//! Retention per tenant: the metastore forgets wholly expired blocks first,
//! their objects stay for the grace period, straddling blocks are kept until
//! wholly expired, and a period of 0 keeps data forever.

use crate::common::*;
use kiln_block::BlockReader;
use kiln_compactor::RetentionPolicy;
use std::time::Duration;

fn config() -> kiln_compactor::CompactorConfig {
    let mut c = test_config();
    // No compaction here: retention alone.
    c.level_windows = vec![];
    c.retention = RetentionPolicy {
        default: Duration::from_secs(3600),
        tenants: [("forever".to_string(), Duration::ZERO)].into(),
    };
    c
}

#[tokio::test]
async fn expired_blocks_leave_the_metastore_then_the_store_after_the_grace() {
    let h = Harness::new(config()).await;
    let mut rng = Rng::new(1);
    let old = h.write_l0("t", &[random_profile(&mut rng, T0, 1)]).await;
    let straddling = h
        .write_l0(
            "t",
            &[
                random_profile(&mut rng, T0 + 10 * MIN, 2),
                random_profile(&mut rng, T0 + 70 * MIN, 3),
            ],
        )
        .await;
    let recent = h
        .write_l0("t", &[random_profile(&mut rng, T0 + 80 * MIN, 4)])
        .await;
    let kept = h
        .write_l0("forever", &[random_profile(&mut rng, T0, 5)])
        .await;

    // Cutoff T0 + 60m: `old` is wholly older; `straddling` is not.
    h.clock.set(T0 + 2 * HOUR);
    let report = h.run().await;
    assert_eq!(report.expired, [("t".to_string(), old.id)]);
    let ids: Vec<_> = h.blocks("t").await.iter().map(|b| b.id).collect();
    assert_eq!(ids, [straddling.id, recent.id]);
    assert_eq!(
        h.blocks("forever").await.len(),
        1,
        "period 0 keeps data forever"
    );
    // The objects stay for the grace period: a query that listed `old` finishes.
    let reader = BlockReader::open(h.store.clone(), "t", old.id)
        .await
        .unwrap();
    let all = reader.series().await.unwrap().all();
    reader
        .aggregate_by_stack(&all, i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(h.markers("t").await, 1);

    h.advance(h.config.deletion_grace.as_nanos() as i64 - SEC);
    assert_eq!(h.run().await.blocks_deleted, 0);
    assert!(h.block_dirs("t").await.contains(&old.id));
    h.advance(SEC);
    let report = h.run().await;
    assert_eq!(report.blocks_deleted, 1);
    assert_eq!(
        report.objects_deleted, 6,
        "five Parquet files and meta.json"
    );
    assert!(!h.block_dirs("t").await.contains(&old.id));
    assert_eq!(h.markers("t").await, 0);

    // The straddling block goes once wholly expired (cutoff > T0 + 70m).
    h.clock.set(T0 + 2 * HOUR + 10 * MIN + 1);
    let report = h.run().await;
    assert_eq!(report.expired, [("t".to_string(), straddling.id)]);
    assert_eq!(h.blocks("forever").await[0].id, kept.id);
}

#[tokio::test]
async fn compacted_data_expires_by_window() {
    let mut c = test_config();
    c.retention.default = Duration::from_secs(4 * 3600);
    let h = Harness::new(c).await;
    let mut rng = Rng::new(2);
    let mut profiles = Vec::new();
    for i in 0..12 {
        let p = random_profile(&mut rng, T0 + i * 15 * MIN, i as usize);
        h.write_l0("t", std::slice::from_ref(&p)).await;
        profiles.push(p);
    }
    // Everything compacts into three hour blocks; nothing is expired yet.
    h.clock.set(T0 + 3 * HOUR + MIN);
    assert!(h.run().await.expired.is_empty());
    let hours = h.blocks("t").await;
    assert_eq!(hours.len(), 3);
    assert!(hours.iter().all(|b| b.level == 3));
    // Cutoff T0 + 1h01m: the first hour block (max T0 + 45m) expires; the
    // second (T0 + 1h .. T0 + 1h45m) straddles the cutoff and is kept whole.
    h.clock.set(T0 + 5 * HOUR + MIN);
    let report = h.run().await;
    assert_eq!(report.expired, [("t".to_string(), hours[0].id)]);
    let q = query::Query::all(i64::MIN, i64::MAX, HOUR);
    let got = query::query(&h.store, &h.metastore, "t", &q).await.unwrap();
    let want = query::expected(profiles.iter().filter(|p| p.time_nanos >= T0 + HOUR), &q);
    assert!(got == want, "{}", got.diff(&want));
}

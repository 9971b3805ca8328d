//! Garbage collection: block folders nobody references — data files of a
//! block whose meta.json never landed, a committed block never registered,
//! outputs of an aborted compaction — are marked once older than gc_grace
//! (by ULID time) and deleted after the deletion grace; registered and young
//! blocks are never touched.

use crate::common::*;
use kiln_block::BlockEncoder;
use kiln_block::paths::{self, files};
use object_store::{ObjectStoreExt, PutPayload};

#[tokio::test]
async fn orphans_are_collected_after_both_grace_periods() {
    let mut config = test_config();
    config.level_windows.clear(); // garbage collection alone
    let h = Harness::new(config).await;
    let mut rng = Rng::new(4);
    let gc_grace = h.config.gc_grace.as_nanos() as i64;
    let deletion_grace = h.config.deletion_grace.as_nanos() as i64;

    let registered = h.write_l0("t", &[random_profile(&mut rng, T0, 1)]).await;
    // A block uploaded but never registered (crash before register).
    let unregistered = BlockEncoder::new("t", 0)
        .with_id(ulid_at(h.now()))
        .encode(&[random_profile(&mut rng, T0, 2)])
        .unwrap();
    unregistered.upload(h.store.as_ref()).await.unwrap();
    // Data files without meta.json (crash mid-upload), for a tenant with no
    // registered block at all.
    let half = ulid_at(h.now());
    h.store
        .put(
            &paths::block_file("lost", half, files::SAMPLES),
            PutPayload::from_static(b"x"),
        )
        .await
        .unwrap();
    // Not a block folder: ignored.
    h.store
        .put(
            &paths::tenant_blocks("t").join("not-a-ulid").join("x"),
            PutPayload::from_static(b"x"),
        )
        .await
        .unwrap();

    // Young orphans are left alone (an upload may still be registering).
    h.advance(gc_grace - SEC);
    let report = h.run().await;
    assert!(report.orphans.is_empty(), "{:?}", report.orphans);
    // A new block written now is young even later.
    h.advance(SEC);
    let young = BlockEncoder::new("t", 0)
        .with_id(ulid_at(h.now()))
        .encode(&[random_profile(&mut rng, T0, 3)])
        .unwrap();
    young.upload(h.store.as_ref()).await.unwrap();
    let mut report = h.run().await;
    report.orphans.sort();
    let mut want = vec![
        ("lost".to_string(), half),
        ("t".to_string(), unregistered.meta.id),
    ];
    want.sort();
    assert_eq!(report.orphans, want);
    assert_eq!(h.markers("t").await + h.markers("lost").await, 2);

    // Deleted after the deletion grace; the registered and young blocks stay.
    h.advance(deletion_grace);
    let report = h.run().await;
    assert_eq!(report.blocks_deleted, 2);
    assert_eq!(h.block_dirs("lost").await, []);
    let mut remaining = vec![registered.id, young.meta.id];
    remaining.sort();
    assert_eq!(h.block_dirs("t").await, remaining);
    assert_eq!(h.markers("t").await, 0);
    assert_eq!(h.blocks("t").await.len(), 1);
}

#[tokio::test]
async fn a_marker_never_deletes_a_registered_block() {
    let mut config = test_config();
    config.level_windows.clear(); // keep the block at level 0
    let h = Harness::new(config).await;
    let mut rng = Rng::new(5);
    let block = h.write_l0("t", &[random_profile(&mut rng, T0, 1)]).await;
    // A marker left by a crash between marking and the metastore operation.
    let marker = kiln_compactor::DeletionMarker {
        format_version: 1,
        tenant: "t".into(),
        block: block.id,
        marked_at_ns: h.now(),
        reason: kiln_compactor::DeletionReason::Compacted,
    };
    h.store
        .put(
            &kiln_compactor::marker_path("t", block.id),
            PutPayload::from(serde_json::to_vec(&marker).unwrap()),
        )
        .await
        .unwrap();
    // Also an unreadable marker: replaced by a fresh one, nothing deleted.
    let ghost = ulid_at(h.now());
    h.store
        .put(
            &kiln_compactor::marker_path("t", ghost),
            PutPayload::from_static(b"{"),
        )
        .await
        .unwrap();
    h.advance(h.config.deletion_grace.as_nanos() as i64 * 2);
    let compactor = &h.compactor;
    let report = compactor.run_once().await.unwrap();
    assert_eq!(report.blocks_deleted, 0);
    assert_eq!(h.block_dirs("t").await, [block.id]);
    let report = compactor.run_once().await.unwrap();
    assert_eq!(report.blocks_deleted, 0);
    h.advance(h.config.deletion_grace.as_nanos() as i64);
    let report = compactor.run_once().await.unwrap();
    assert_eq!(
        report.blocks_deleted, 1,
        "the ghost's fresh marker is processed"
    );
    assert_eq!(h.block_dirs("t").await, [block.id]);
}

//! The compactor's metrics reach the installed recorder under their
//! documented names: jobs, bytes, blocks per level, lag, expired blocks,
//! deleted objects.

use crate::common::*;
use kiln_compactor::metrics as m;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Name{labels} → value, for every counter and gauge.
#[derive(Default)]
struct Values(Mutex<BTreeMap<String, f64>>);

struct Handle(Arc<Values>, String);

impl metrics::CounterFn for Handle {
    fn increment(&self, v: u64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += v as f64;
    }
    fn absolute(&self, v: u64) {
        self.0.0.lock().unwrap().insert(self.1.clone(), v as f64);
    }
}

impl metrics::GaugeFn for Handle {
    fn increment(&self, v: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += v;
    }
    fn decrement(&self, v: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() -= v;
    }
    fn set(&self, v: f64) {
        self.0.0.lock().unwrap().insert(self.1.clone(), v);
    }
}

impl metrics::HistogramFn for Handle {
    fn record(&self, _: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += 1.0;
    }
}

struct Capture(Arc<Values>);

impl Capture {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        Arc::new(Handle(
            self.0.clone(),
            format!("{}{{{}}}", key.name(), labels.join(",")),
        ))
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// The test binary's one global recorder.
fn values() -> Arc<Values> {
    static VALUES: OnceLock<Arc<Values>> = OnceLock::new();
    VALUES
        .get_or_init(|| {
            let values = Arc::new(Values::default());
            metrics::set_global_recorder(Capture(values.clone())).expect("first recorder");
            values
        })
        .clone()
}

fn get(values: &Values, key: &str) -> f64 {
    values
        .0
        .lock()
        .unwrap()
        .get(key)
        .copied()
        .unwrap_or_default()
}

#[tokio::test]
async fn compaction_retention_and_deletion_are_measured() {
    let values = values();
    let mut config = test_config();
    config
        .retention
        .tenants
        .insert("metrics".into(), Duration::from_secs(3 * 3600));
    let h = Harness::new(config).await;
    let mut rng = Rng::new(12);
    for i in 0..4 {
        h.write_l0(
            "metrics",
            &[random_profile(&mut rng, T0 + i * 20 * SEC, i as usize)],
        )
        .await;
    }
    let jobs = format!("{}{{level=0}}", m::JOBS_RUN_TOTAL);
    let before = get(&values, &jobs);
    // Two 1-minute windows, both closed (end + 10 s settle).
    h.clock.set(T0 + 3 * MIN);
    h.run().await;
    assert!(get(&values, &jobs) > before);
    assert!(get(&values, &format!("{}{{level=0}}", m::BYTES_WRITTEN_TOTAL)) > 0.0);
    assert!(get(&values, &format!("{}{{level=0}}", m::BYTES_READ_TOTAL)) > 0.0);
    assert_eq!(
        get(&values, &format!("{}{{level=1,tenant=metrics}}", m::BLOCKS)),
        2.0
    );
    assert_eq!(
        get(&values, &format!("{}{{level=0,tenant=metrics}}", m::BLOCKS)),
        0.0
    );
    assert_eq!(
        get(&values, &format!("{}{{tenant=metrics}}", m::LAG_SECONDS)),
        0.0
    );

    // A job that fails (a source lost its samples file) counts as failed,
    // and its window shows as compaction lag until it is dealt with.
    let broken = h
        .write_l0("metrics", &[random_profile(&mut rng, T0 + 3 * MIN, 9)])
        .await;
    let samples =
        kiln_block::paths::block_file("metrics", broken.id, kiln_block::paths::files::SAMPLES);
    object_store::ObjectStoreExt::delete(h.store.as_ref(), &samples)
        .await
        .unwrap();
    let failed = format!("{}{{level=0}}", m::JOBS_FAILED_TOTAL);
    let failures = get(&values, &failed);
    let deleted = |reason: &str| {
        get(
            &values,
            &format!("{}{{reason={reason}}}", m::OBJECTS_DELETED_TOTAL),
        )
    };
    let (compacted, expired) = (deleted("compacted"), deleted("retention"));
    h.clock.set(T0 + 10 * MIN);
    let report = h.compactor.run_once().await.unwrap();
    assert_eq!(report.jobs_failed, 1);
    assert!(get(&values, &failed) > failures);
    let lag = get(&values, &format!("{}{{tenant=metrics}}", m::LAG_SECONDS));
    assert!(
        (lag - 350.0).abs() < 1.0,
        "eligible at T0 + 4m10s, now T0 + 10m: {lag}"
    );
    h.metastore.delete("metrics", &[broken.id]).await.unwrap();

    // Retention, then deletion of compacted and expired blocks.
    h.clock.set(T0 + 5 * HOUR);
    h.run().await;
    assert!(
        get(
            &values,
            &format!("{}{{tenant=metrics}}", m::BLOCKS_EXPIRED_TOTAL)
        ) >= 1.0
    );
    h.advance(h.config.deletion_grace.as_nanos() as i64);
    h.run().await;
    assert!(deleted("compacted") > compacted && deleted("retention") > expired);
    assert!(get(&values, &format!("{}{{level=0}}", m::JOB_DURATION_SECONDS)) >= 1.0);
}

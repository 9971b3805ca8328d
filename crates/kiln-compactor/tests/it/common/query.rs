//! The "query" every invariant test compares: computed with kiln-block
//! readers over whatever blocks the metastore lists right now, and the same
//! answer computed by brute force from raw profiles.

use arrow::array::{Int64Array, UInt32Array};
use kiln_block::{BlockError, BlockReader};
use kiln_meta::Metastore;
use kiln_model::{Labels, NormalizedProfile};
use object_store::ObjectStore;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a query asks.
#[derive(Debug, Clone)]
pub struct Query {
    /// `name = value` matcher; `None` = every series.
    pub matcher: Option<(String, String)>,
    pub start_ns: i64,
    /// Inclusive.
    pub end_ns: i64,
    pub step_ns: i64,
    /// Answer flame-graph totals from rollups where a block has one that
    /// answers the range exactly.
    pub use_rollups: bool,
}

impl Query {
    pub fn all(start_ns: i64, end_ns: i64, step_ns: i64) -> Self {
        Self {
            matcher: None,
            start_ns,
            end_ns,
            step_ns,
            use_rollups: false,
        }
    }

    fn selects(&self, labels: &Labels) -> bool {
        match &self.matcher {
            None => true,
            Some((n, v)) => labels.get(n) == Some(v.as_str()),
        }
    }

    fn step(&self, t: i64) -> i64 {
        t.div_euclid(self.step_ns) * self.step_ns
    }
}

/// Everything the invariants compare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// Flame graph: self value per leaf function.
    pub self_by_function: BTreeMap<String, i64>,
    /// Flame graph: total value per function (once per stack).
    pub total_by_function: BTreeMap<String, i64>,
    /// Per series per step: sum of sample values (from samples).
    pub points: BTreeMap<(Labels, i64), i64>,
    /// Per series per step: (sum of profile totals, profile count) from profiles.parquet.
    pub profile_points: BTreeMap<(Labels, i64), (i64, u64)>,
    /// Label pairs of series with a profile in range.
    pub labels: BTreeSet<(String, String)>,
}

impl Answer {
    /// The first differences between two answers, readable.
    pub fn diff(&self, want: &Answer) -> String {
        fn map<K: std::fmt::Debug + Ord, V: std::fmt::Debug + PartialEq>(
            name: &str,
            got: &BTreeMap<K, V>,
            want: &BTreeMap<K, V>,
            out: &mut Vec<String>,
        ) {
            let keys: BTreeSet<&K> = got.keys().chain(want.keys()).collect();
            for k in keys {
                if got.get(k) != want.get(k) {
                    out.push(format!(
                        "{name}[{k:?}]: got {:?}, want {:?}",
                        got.get(k),
                        want.get(k)
                    ));
                }
            }
        }
        let mut out = Vec::new();
        map(
            "self",
            &self.self_by_function,
            &want.self_by_function,
            &mut out,
        );
        map(
            "total",
            &self.total_by_function,
            &want.total_by_function,
            &mut out,
        );
        map("points", &self.points, &want.points, &mut out);
        map(
            "profile_points",
            &self.profile_points,
            &want.profile_points,
            &mut out,
        );
        for l in self.labels.symmetric_difference(&want.labels) {
            out.push(format!("label {l:?} only on one side"));
        }
        out.truncate(8);
        out.join("\n")
    }

    fn add_stack(&mut self, functions: &[&str], value: i64) {
        if let Some(leaf) = functions.last() {
            *self.self_by_function.entry(leaf.to_string()).or_default() += value;
        }
        let distinct: BTreeSet<&str> = functions.iter().copied().collect();
        for f in distinct {
            *self.total_by_function.entry(f.to_string()).or_default() += value;
        }
    }

    fn drop_zeros(mut self) -> Self {
        self.self_by_function.retain(|_, v| *v != 0);
        self.total_by_function.retain(|_, v| *v != 0);
        self.points.retain(|_, v| *v != 0);
        self
    }
}

/// The answer from raw profiles.
pub fn expected<'a>(
    profiles: impl IntoIterator<Item = &'a NormalizedProfile>,
    q: &Query,
) -> Answer {
    let mut a = Answer::default();
    for p in profiles {
        if !q.selects(&p.labels) || p.time_nanos < q.start_ns || p.time_nanos > q.end_ns {
            continue;
        }
        let step = q.step(p.time_nanos);
        for s in &p.samples {
            let names: Vec<&str> = s
                .stack
                .iter()
                .map(|&i| p.frames[i as usize].function.as_str())
                .collect();
            a.add_stack(&names, s.value);
            *a.points.entry((p.labels.clone(), step)).or_default() += s.value;
        }
        let e = a
            .profile_points
            .entry((p.labels.clone(), step))
            .or_default();
        e.0 += p.total();
        e.1 += 1;
        a.labels
            .extend(p.labels.iter().map(|l| (l.name.clone(), l.value.clone())));
    }
    a.drop_zeros()
}

/// The answer from the blocks the metastore lists now.
pub async fn query(
    store: &Arc<dyn ObjectStore>,
    metastore: &Arc<dyn Metastore>,
    tenant: &str,
    q: &Query,
) -> Result<Answer, BlockError> {
    let blocks = metastore
        .list_blocks(tenant, q.start_ns, q.end_ns)
        .await
        .expect("metastore list");
    let mut a = Answer::default();
    for meta in blocks {
        let reader = BlockReader::from_meta(store.clone(), meta.clone())?;
        let index = reader.series().await?;
        let series = index.select(|l| q.selects(l));
        let resolver = reader.stack_resolver().await?;

        // Flame graph, from a rollup when allowed and exact.
        let rollup = q
            .use_rollups
            .then(|| meta.rollup_for(q.start_ns, q.end_ns, 0))
            .flatten();
        let totals = match rollup {
            Some((bucket, _, _)) => {
                reader
                    .aggregate_by_stack_rollup(bucket, &series, q.start_ns, q.end_ns)
                    .await?
            }
            None => {
                reader
                    .aggregate_by_stack(&series, q.start_ns, q.end_ns)
                    .await?
            }
        };
        for (stack, value) in totals {
            a.add_stack(&resolver.function_names(stack)?, value);
        }

        // Series points from samples.
        let scan = reader.scan_samples(&series, q.start_ns, q.end_ns).await?;
        for b in &scan.batches {
            let ids = b.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
            let times = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            let values = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                let labels = index.labels(ids.value(i)).unwrap().clone();
                *a.points
                    .entry((labels, q.step(times.value(i))))
                    .or_default() += values.value(i);
            }
        }

        // Series points and label values from profiles.parquet.
        for r in reader.profiles(&series, q.start_ns, q.end_ns).await? {
            let labels = index.labels(r.series_id).unwrap();
            let e = a
                .profile_points
                .entry((labels.clone(), q.step(r.time_ns)))
                .or_default();
            e.0 += r.total;
            e.1 += 1;
            a.labels
                .extend(labels.iter().map(|l| (l.name.clone(), l.value.clone())));
        }
    }
    Ok(a.drop_zeros())
}

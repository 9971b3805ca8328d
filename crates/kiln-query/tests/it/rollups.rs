//! Rollups: answers read from `rollup_1h`/`rollup_1m` equal raw answers bit
//! for bit (randomized ranges with aligned and cut edges, against an engine
//! forced to raw samples and against trees built from the inputs), and a
//! week-long flame graph reads hourly rollups with raw samples only in the
//! cut minutes at its edges.

use crate::common::*;
use kiln_model::NormalizedProfile;
use kiln_query::{
    Aggregation, DataFusionEngine, EngineConfig, QueryEngine, SeriesQuery, TableScanStats,
};

const MINUTE: i64 = 60 * SEC;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

const STACKS: [&str; 6] = [
    "main;serve;handle",
    "main;serve;handle;json.Encode",
    "main;serve;db.Query",
    "main;runtime.gc",
    "main;worker;compress",
    "main;worker;compress;flate.Write",
];

const CALL_SITES: [&[&str]; 3] = [&[], &["main", "serve"], &["main", "worker", "compress"]];

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: i64) -> i64 {
        (self.next() % n as u64) as i64
    }
}

/// A profile of `pod` at `t` with a random non-empty subset of [`STACKS`].
fn random_profile(
    rng: &mut Rng,
    pod: &str,
    pt: &kiln_model::ProfileType,
    t: i64,
) -> NormalizedProfile {
    let mask = 1 + rng.below((1 << STACKS.len()) - 1);
    let stacks: Vec<(&str, i64)> = STACKS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| (*s, 1 + rng.below(1000)))
        .collect();
    let service = if pod == "c" { "db" } else { "api" };
    profile(service, pt, &[("pod", pod)], t, &stacks)
}

/// Profiles of pods a, b (cpu) and c (cpu and inuse) at random nanosecond
/// times, on average one per `every` per series, over `[start, start + span)`.
fn random_profiles(rng: &mut Rng, start: i64, span: i64, every: i64) -> Vec<NormalizedProfile> {
    let mut out = Vec::new();
    for (pod, pt) in [("a", cpu()), ("b", cpu()), ("c", cpu()), ("c", inuse())] {
        let mut t = start + rng.below(every);
        while t < start + span {
            out.push(random_profile(rng, pod, &pt, t));
            t += 1 + rng.below(2 * every);
        }
    }
    out
}

fn in_range(p: &NormalizedProfile, start_ms: i64, end_ms: i64) -> bool {
    (start_ms * MS..=end_ms * MS + MS - 1).contains(&p.time_nanos)
}

fn sub(after: TableScanStats, before: TableScanStats) -> [(u64, u64); 3] {
    let d =
        |a: kiln_query::TableReads, b: kiln_query::TableReads| (a.scans - b.scans, a.rows - b.rows);
    [
        d(after.samples, before.samples),
        d(after.rollup_1m, before.rollup_1m),
        d(after.rollup_1h, before.rollup_1h),
    ]
}

/// Rolled-up level-2 blocks cut at unaligned times, plus a raw level-0 block
/// overlapping them (every tenth profile).
async fn write_blocks(env: &Env, data: &[NormalizedProfile], cuts: &[i64]) {
    let (raw, rest): (Vec<_>, Vec<_>) = data
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 10 == 0);
    let raw: Vec<NormalizedProfile> = raw.into_iter().map(|(_, p)| p).collect();
    env.write("t", &raw).await;
    let mut bounds = vec![i64::MIN];
    bounds.extend_from_slice(cuts);
    bounds.push(i64::MAX);
    for w in bounds.windows(2) {
        let part: Vec<NormalizedProfile> = rest
            .iter()
            .filter(|(_, p)| (w[0]..w[1]).contains(&p.time_nanos))
            .map(|(_, p)| p.clone())
            .collect();
        if !part.is_empty() {
            env.write_rolled_up("t", &part).await;
        }
    }
}

fn raw_engine(env: &Env) -> DataFusionEngine {
    env.engine(EngineConfig {
        use_rollups: false,
        ..EngineConfig::default()
    })
}

/// A random range end in milliseconds: on an hour, on a minute, anywhere,
/// or outside the data. `end` ends are inclusive, so an aligned end is one
/// millisecond before a boundary.
fn random_edge(rng: &mut Rng, base: i64, span: i64, end: bool) -> i64 {
    let t = (base + rng.below(span)) / MS;
    let (h, m) = (HOUR / MS, MINUTE / MS);
    let aligned = |unit: i64| t - t.rem_euclid(unit) - i64::from(end);
    match rng.below(4) {
        0 => aligned(h),
        1 => aligned(m),
        2 => t,
        _ if end => (base + span) / MS + 1,
        _ => base / MS - 1,
    }
}

#[tokio::test]
async fn rollup_answers_equal_raw_answers_on_random_ranges() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let env = Env::memory();
    let base = T0 * MS;
    let span = 3 * DAY;
    let data = random_profiles(&mut rng, base, span, 9 * MINUTE);
    let cuts = [
        base + 11 * HOUR + 17 * MINUTE + 3,
        base + DAY + 5 * HOUR,
        base + 2 * DAY + 7 * MINUTE + 999_999,
    ];
    write_blocks(&env, &data, &cuts).await;
    let raw = raw_engine(&env);
    let selectors = ["{}", r#"{service_name="api"}"#, r#"{pod="c"}"#];

    // Flame graphs (and so pprof exports and both sides of a diff, which
    // encode the same merged tree).
    for i in 0..40 {
        let mut start = random_edge(&mut rng, base, span, false);
        let mut end = random_edge(&mut rng, base, span, true);
        if end < start {
            std::mem::swap(&mut start, &mut end);
        }
        let selector = selectors[rng.below(3) as usize];
        let call_site: Vec<String> = CALL_SITES[rng.below(3) as usize]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut q = query("t", &cpu(), selector, start, end);
        q.call_site = call_site.clone();
        let what = format!("#{i} {selector} {call_site:?} [{start}, {end}]");
        let got = env.engine.merge_tree(&q).await.unwrap();
        let want_raw = raw.merge_tree(&q).await.unwrap();
        let sel = kiln_model::selector::Selector::parse(selector).unwrap();
        let want = tree_of(&data, |p, names, _| {
            p.profile_type == cpu()
                && sel.matches(&p.labels)
                && in_range(p, start, end)
                && names.starts_with(&call_site.iter().map(String::as_str).collect::<Vec<_>>())
        });
        assert_tree(&got, &want_raw, &format!("{what}: rollups vs raw engine"));
        assert_tree(&got, &want, &format!("{what}: rollups vs inputs"));
    }
    let stats = env.engine.scan_stats();
    assert!(stats.rollup_1h.rows > 0, "{stats:?}");
    assert!(stats.rollup_1m.rows > 0, "{stats:?}");
    let raw_stats = raw.scan_stats();
    assert_eq!(raw_stats.rollup_1h.scans + raw_stats.rollup_1m.scans, 0);

    // SelectSeries: samples are read only with a call site; steps of whole
    // buckets whose intervals start on a bucket boundary may use rollups.
    let before = env.engine.scan_stats();
    for i in 0..40 {
        let step_s = [60, 120, 3600, 7200, 90, 1][rng.below(6) as usize];
        let mut start = random_edge(&mut rng, base, span, false);
        let end = (start + 1 + rng.below(span / MS)).max(random_edge(&mut rng, base, span, true));
        if rng.below(2) == 0 {
            // Step intervals (b − step, b] start on a bucket boundary.
            let unit = if step_s % 3600 == 0 { HOUR } else { MINUTE } / MS;
            start = start - start.rem_euclid(unit) - 1;
        }
        let pt = if rng.below(3) == 0 { inuse() } else { cpu() };
        let call_site: Vec<String> = CALL_SITES[rng.below(3) as usize]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut profiles = query("t", &pt, selectors[rng.below(3) as usize], start, end);
        profiles.call_site = call_site;
        let q = SeriesQuery {
            profiles,
            step_seconds: step_s as f64,
            group_by: if rng.below(2) == 0 {
                vec![]
            } else {
                vec!["pod".into()]
            },
            aggregation: if rng.below(2) == 0 {
                Aggregation::Sum
            } else {
                Aggregation::Average
            },
            limit: None,
        };
        let got = env.engine.select_series(&q).await.unwrap();
        let want = raw.select_series(&q).await.unwrap();
        assert_eq!(got, want, "series #{i}: {q:?}");
    }
    let [_, minutes, hours] = sub(env.engine.scan_stats(), before);
    assert!(minutes.1 + hours.1 > 0, "no series query read rollups");
}

#[tokio::test]
async fn week_long_flame_graph_reads_hourly_rollups_and_raw_edges() {
    let mut rng = Rng(0x7da7_5eed_0000_0007);
    let env = Env::memory();
    // Day-aligned block cuts, as the compactor's time-partitioned blocks.
    let day0 = (T0 * MS).div_euclid(DAY) * DAY + DAY;
    let start_ns = day0 + 13 * HOUR + 27 * MINUTE + 41 * SEC + 123 * MS;
    let end_ns = day0 + 6 * DAY + 20 * HOUR + 3 * MINUTE + 17 * SEC + 999 * MS;
    let mut data = random_profiles(&mut rng, day0, 7 * DAY, 5 * MINUTE);
    // Profiles in the cut minutes, inside and (one millisecond) outside the
    // range: a rollup of those minutes would count the outside ones.
    for (t, inside) in [
        (start_ns + 2 * SEC, true),
        (start_ns - MS, false),
        (end_ns - 4 * SEC, true),
        (end_ns + MS, false),
    ] {
        let p = random_profile(&mut rng, "a", &cpu(), t);
        assert_eq!(in_range(&p, start_ns / MS, end_ns / MS), inside);
        data.push(p);
    }
    for d in 0..7 {
        let part: Vec<_> = data
            .iter()
            .filter(|p| (day0 + d * DAY..day0 + (d + 1) * DAY).contains(&p.time_nanos))
            .cloned()
            .collect();
        env.write_rolled_up("t", &part).await;
    }

    let q = query("t", &cpu(), "{}", start_ns / MS, end_ns / MS);
    let got = env.engine.merge_tree(&q).await.unwrap();
    let want = tree_of(&data, |p, _, _| {
        p.profile_type == cpu() && in_range(p, start_ns / MS, end_ns / MS)
    });
    assert_tree(&got, &want, "week");

    // Raw rows: the samples between the range ends and the next minute.
    let first_minute = start_ns - start_ns.rem_euclid(MINUTE) + MINUTE;
    let last_minute = (end_ns + 1) - (end_ns + 1).rem_euclid(MINUTE);
    let raw_rows: usize = data
        .iter()
        .filter(|p| p.profile_type == cpu())
        .filter(|p| {
            (start_ns..first_minute).contains(&p.time_nanos)
                || (last_minute..=end_ns).contains(&p.time_nanos)
        })
        .map(|p| p.samples.len())
        .sum();
    assert!(raw_rows >= 2, "edge minutes hold samples");
    let stats = env.engine.scan_stats();
    // Seven blocks: each reads its whole hours from rollup_1h; the first and
    // last also read the minutes up to their cut hour from rollup_1m and the
    // cut minute from samples.parquet.
    assert_eq!(stats.rollup_1h.scans, 7, "{stats:?}");
    assert_eq!(stats.rollup_1m.scans, 2, "{stats:?}");
    assert_eq!(stats.samples.scans, 2, "{stats:?}");
    assert_eq!(stats.samples.rows, raw_rows as u64, "{stats:?}");
    assert!(stats.rollup_1h.rows > stats.rollup_1m.rows, "{stats:?}");

    // Profile ids (like span ids) need raw rows: rollups keep neither.
    let picked: Vec<&NormalizedProfile> = data
        .iter()
        .filter(|p| p.profile_type == cpu() && in_range(p, start_ns / MS, end_ns / MS))
        .step_by(97)
        .collect();
    let mut by_id = q.clone();
    by_id.profile_ids = picked.iter().map(|p| p.profile_id.clone()).collect();
    let by_id_tree = env.engine.merge_tree(&by_id).await.unwrap();
    assert_tree(&by_id_tree, &tree_of(picked, |_, _, _| true), "profile ids");
    let after = env.engine.scan_stats();
    assert_eq!(
        (after.rollup_1h, after.rollup_1m),
        (stats.rollup_1h, stats.rollup_1m),
        "profile-id queries must not read rollups"
    );
    assert!(after.samples.scans > stats.samples.scans);

    // The same query forced to raw samples reads every sample row in range.
    let raw = raw_engine(&env);
    assert_tree(&raw.merge_tree(&q).await.unwrap(), &got, "week raw");
    let raw_stats = raw.scan_stats();
    let rows_in_range: usize = data
        .iter()
        .filter(|p| p.profile_type == cpu() && in_range(p, start_ns / MS, end_ns / MS))
        .map(|p| p.samples.len())
        .sum();
    assert_eq!(raw_stats.samples.rows, rows_in_range as u64);
    assert_eq!(raw_stats.samples.scans, 7);
    eprintln!("week-long flame graph: rollups {stats:?}, raw {raw_stats:?}");
    assert!(
        stats.samples.rows + stats.rollup_1m.rows + stats.rollup_1h.rows
            < raw_stats.samples.rows / 3,
        "rollups should read far fewer rows: {stats:?} vs {raw_stats:?}"
    );
}

#[tokio::test]
async fn compacted_blocks_answer_like_raw_samples() {
    use kiln_compactor::{Compactor, CompactorConfig};
    use kiln_model::clock::{ClockRef, ManualClock};
    use std::sync::Arc;
    use std::time::Duration;

    let mut rng = Rng(0xc0de_0000_0000_0042);
    let env = Env::memory();
    let base = T0 * MS;
    let span = 5 * HOUR;
    let data = random_profiles(&mut rng, base, span, 4 * MINUTE);
    // Level-0 blocks as the ingester flushes them: a few minutes each.
    let mut sorted = data.clone();
    sorted.sort_by_key(|p| p.time_nanos);
    for chunk in sorted.chunk_by(|a, b| a.time_nanos / (7 * MINUTE) == b.time_nanos / (7 * MINUTE))
    {
        env.write("t", chunk).await;
    }
    let config = CompactorConfig {
        settle_delay: Duration::from_secs(10),
        level_windows: vec![
            Duration::from_secs(60),
            Duration::from_secs(600),
            Duration::from_secs(3600),
        ],
        ..CompactorConfig::default()
    };
    let clock: ClockRef = Arc::new(ManualClock::new(base + span + 2 * HOUR));
    let compactor = Compactor::new(config, env.store.clone(), env.meta.clone(), clock).unwrap();
    for _ in 0..6 {
        if compactor.run_once().await.unwrap().blocks_written == 0 {
            break;
        }
    }
    let blocks = kiln_meta::Metastore::list_blocks(env.meta.as_ref(), "t", i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert!(
        blocks
            .iter()
            .any(|b| b.level >= 2 && b.has_rollup(kiln_block::RollupBucket::Hour)),
        "compaction wrote no rollups: {:?}",
        blocks.iter().map(|b| b.level).collect::<Vec<_>>()
    );

    let raw = raw_engine(&env);
    for i in 0..20 {
        let mut start = random_edge(&mut rng, base, span, false);
        let mut end = random_edge(&mut rng, base, span, true);
        if end < start {
            std::mem::swap(&mut start, &mut end);
        }
        let mut q = query("t", &cpu(), "{}", start, end);
        q.call_site = CALL_SITES[rng.below(3) as usize]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = env.engine.merge_tree(&q).await.unwrap();
        let want = raw.merge_tree(&q).await.unwrap();
        assert_tree(&got, &want, &format!("#{i} {q:?}"));
        let all = tree_of(&data, |p, names, _| {
            p.profile_type == cpu()
                && in_range(p, start, end)
                && names.starts_with(&q.call_site.iter().map(String::as_str).collect::<Vec<_>>())
        });
        assert_tree(&got, &all, &format!("#{i} vs inputs"));
    }
    assert!(env.engine.scan_stats().rollup_1h.rows > 0);
}

//! The query benchmark's report: the dataset's shape on disk and each
//! query's cold and warm latency, as a table or JSON.

use super::dataset::Dataset;
use kiln_block::BlockMeta;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// Latencies of one query.
#[derive(Debug)]
pub struct Measurement {
    name: String,
    hours: u64,
    cold: Vec<Duration>,
    warm: Vec<Duration>,
    answer: String,
}

impl Measurement {
    pub fn new(
        name: String,
        hours: u64,
        mut cold: Vec<Duration>,
        mut warm: Vec<Duration>,
        answer: String,
    ) -> Self {
        cold.sort_unstable();
        warm.sort_unstable();
        Self {
            name,
            hours,
            cold,
            warm,
            answer,
        }
    }

    fn range(&self) -> String {
        match self.hours {
            h if h % 24 == 0 => format!("{} d", h / 24),
            h => format!("{h} h"),
        }
    }

    /// One row of the table.
    pub fn line(&self) -> String {
        format!(
            "{:<38} {:>5}  {:>9} {:>9}  {:>9} {:>9}  {}",
            self.name,
            self.range(),
            ms(percentile(&self.cold, 50.0)),
            ms(self.cold.last().copied()),
            ms(percentile(&self.warm, 50.0)),
            ms(percentile(&self.warm, 95.0)),
            self.answer
        )
    }

    fn json(&self) -> Value {
        let list = |d: &[Duration]| d.iter().map(|d| millis(*d)).collect::<Vec<_>>();
        json!({
            "query": self.name,
            "range_hours": self.hours,
            "cold_ms": list(&self.cold),
            "warm_p50_ms": percentile(&self.warm, 50.0).map(millis),
            "warm_p95_ms": percentile(&self.warm, 95.0).map(millis),
            "warm_runs": self.warm.len(),
            "answer": self.answer,
        })
    }
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.1} ms", d.as_secs_f64() * 1e3),
    )
}

/// Live blocks and bytes of one level.
#[derive(Debug, Default, Clone, Copy)]
struct Level {
    blocks: usize,
    samples: u64,
    bytes: u64,
    rollup_bytes: u64,
}

/// Everything the benchmark prints.
#[derive(Debug)]
pub struct Report {
    description: String,
    levels: BTreeMap<u32, Level>,
    rollups: bool,
    dir_bytes: u64,
    generated_seconds: f64,
    measurements: Vec<Measurement>,
    load_average: Option<f64>,
}

impl Report {
    pub fn new(
        dataset: &Dataset,
        blocks: &[BlockMeta],
        rollups: bool,
        measurements: Vec<Measurement>,
        load_average: Option<f64>,
    ) -> Self {
        let mut levels: BTreeMap<u32, Level> = BTreeMap::new();
        for b in blocks {
            let level = levels.entry(b.level).or_default();
            level.blocks += 1;
            level.samples += b.summary.samples;
            for f in &b.files {
                if f.name.starts_with("rollup") {
                    level.rollup_bytes += f.bytes;
                } else {
                    level.bytes += f.bytes;
                }
            }
        }
        let p = dataset.params;
        Self {
            description: format!(
                "{} services × 4 pprofs (Go CPU, Go heap, Node.js wall, Python CPU) every 10 s × {} h: \
                 {} profiles (series rows), {} samples, {} profile types",
                p.services,
                p.hours,
                dataset.profiles,
                dataset.samples,
                dataset.profile_types.len()
            ),
            levels,
            rollups,
            dir_bytes: dir_size(&dataset.dir),
            generated_seconds: dataset.generated_seconds,
            measurements,
            load_average,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "dataset: {}", self.description);
        let _ = writeln!(
            out,
            "  generated and compacted in {:.0} s; {:.1} MiB on disk",
            self.generated_seconds,
            self.dir_bytes as f64 / (1 << 20) as f64
        );
        for (level, l) in &self.levels {
            let _ = writeln!(
                out,
                "  level {level}: {:>5} blocks, {:>11} samples, {:>8.1} MiB (+ {:.1} MiB rollups), {:.3} B/sample",
                l.blocks,
                l.samples,
                l.bytes as f64 / (1 << 20) as f64,
                l.rollup_bytes as f64 / (1 << 20) as f64,
                l.bytes as f64 / l.samples.max(1) as f64
            );
        }
        let _ = writeln!(
            out,
            "\nqueries {} rollup tables",
            if self.rollups {
                "reading"
            } else {
                "not reading"
            }
        );
        let _ = writeln!(
            out,
            "{:<38} {:>5}  {:>9} {:>9}  {:>9} {:>9}  answer",
            "query", "range", "cold p50", "cold max", "warm p50", "warm p95"
        );
        for m in &self.measurements {
            let _ = writeln!(out, "{}", m.line());
        }
        if let Some(load) = self.load_average {
            let _ = writeln!(out, "\nload average (1 min) at the end: {load:.2}");
        }
        out
    }

    pub fn json(&self) -> Value {
        json!({
            "dataset": self.description,
            "generated_seconds": self.generated_seconds,
            "dir_bytes": self.dir_bytes,
            "levels": self.levels.iter().map(|(level, l)| json!({
                "level": level,
                "blocks": l.blocks,
                "samples": l.samples,
                "bytes": l.bytes,
                "rollup_bytes": l.rollup_bytes,
            })).collect::<Vec<_>>(),
            "rollups": self.rollups,
            "queries": self.measurements.iter().map(Measurement::json).collect::<Vec<_>>(),
            "load_average": self.load_average,
        })
    }
}

/// Bytes of every file under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

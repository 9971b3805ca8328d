//! What the benchmark measures and how it is reported: per-client counters
//! and an HDR latency histogram (merged at the end), plus the server's RSS
//! and CPU time sampled from `/proc`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::client::{Outcome, Protocol};

/// Linux reports process CPU time in clock ticks of `USER_HZ`, which is
/// 100 on every mainstream architecture.
const TICKS_PER_SECOND: f64 = 100.0;
const MB: f64 = 1e6;
const MIB: f64 = 1024.0 * 1024.0;

pub(crate) struct ClientStats {
    /// Acknowledgement latency in microseconds (acked requests only).
    latency: Histogram<u64>,
    acked: u64,
    profiles: u64,
    /// Decompressed pprof bytes of acknowledged requests.
    bytes: u64,
    errors: BTreeMap<String, u64>,
}

impl ClientStats {
    pub(crate) fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds"),
            acked: 0,
            profiles: 0,
            bytes: 0,
            errors: BTreeMap::new(),
        }
    }

    pub(crate) fn record(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        profiles: usize,
        bytes: usize,
    ) {
        match outcome {
            Outcome::Acked => {
                self.acked += 1;
                self.profiles += profiles as u64;
                self.bytes += bytes as u64;
                self.latency
                    .saturating_record(latency.as_micros().max(1) as u64);
            }
            Outcome::Failed(status) => *self.errors.entry(status).or_default() += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: ClientStats) {
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
        self.acked += other.acked;
        self.profiles += other.profiles;
        self.bytes += other.bytes;
        for (status, n) in other.errors {
            *self.errors.entry(status).or_default() += n;
        }
    }
}

/// One reading of the server process.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessSample {
    pub at: Duration,
    pub rss_bytes: u64,
    pub cpu_ticks: u64,
}

/// Samples `/proc/<pid>` on an interval until stopped.
pub(crate) struct ProcessSampler {
    pid: u32,
    started: Instant,
    samples: Arc<Mutex<Vec<ProcessSample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ProcessSampler {
    pub(crate) fn start(pid: u32, interval: Duration) -> Self {
        let started = Instant::now();
        let samples = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let samples = samples.clone();
            async move {
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    match read_process(pid, started) {
                        Some(s) => samples.lock().expect("sampler lock").push(s),
                        None => {
                            eprintln!("warning: /proc/{pid} is gone; the server exited?");
                            return;
                        }
                    }
                }
            }
        });
        Self {
            pid,
            started,
            samples,
            task,
        }
    }

    /// Stops sampling after one last reading.
    pub(crate) async fn stop(self) -> Vec<ProcessSample> {
        self.task.abort();
        let _ = self.task.await;
        let mut samples = std::mem::take(&mut *self.samples.lock().expect("sampler lock"));
        if let Some(last) = read_process(self.pid, self.started) {
            samples.push(last);
        }
        samples
    }
}

/// RSS (`VmRSS`) and user+system CPU ticks of `pid`; `None` once it is gone.
fn read_process(pid: u32, started: Instant) -> Option<ProcessSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let cpu_ticks = cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    Some(ProcessSample {
        at: started.elapsed(),
        rss_bytes: rss_kib * 1024,
        cpu_ticks,
    })
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line; the
/// command name in parentheses may contain spaces, so count after it.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field N is at index N - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub(crate) struct Report {
    pub protocol: Protocol,
    pub clients: usize,
    pub batch: usize,
    pub elapsed: Duration,
    pub stats: ClientStats,
    pub server: Option<Vec<ProcessSample>>,
    pub data_dir: Option<PathBuf>,
}

impl Report {
    pub(crate) fn render(&self) -> String {
        let s = &self.stats;
        let secs = self.elapsed.as_secs_f64();
        let failed: u64 = s.errors.values().sum();
        let ms = |q: f64| s.latency.value_at_quantile(q) as f64 / 1000.0;
        let mut out = String::new();
        let _ = writeln!(out, "== kiln bench ingest ==");
        let _ = writeln!(
            out,
            "protocol {}, {} clients, batch {}, {secs:.1} s",
            self.protocol.as_str(),
            self.clients,
            self.batch
        );
        let _ = writeln!(
            out,
            "requests:     {} acked ({:.1}/s), {failed} failed",
            s.acked,
            s.acked as f64 / secs
        );
        let _ = writeln!(
            out,
            "profiles:     {} ({:.1}/s)",
            s.profiles,
            s.profiles as f64 / secs
        );
        let _ = writeln!(
            out,
            "pprof:        {:.1} MB decompressed, {:.2} MB/s",
            s.bytes as f64 / MB,
            s.bytes as f64 / MB / secs
        );
        if s.acked > 0 {
            let _ = writeln!(
                out,
                "ack latency:  p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                ms(0.5),
                ms(0.9),
                ms(0.99),
                s.latency.max() as f64 / 1000.0
            );
        }
        if s.errors.is_empty() {
            let _ = writeln!(out, "errors:       none");
        } else {
            for (status, n) in &s.errors {
                let _ = writeln!(out, "errors:       {n} × {status}");
            }
        }
        if let Some(samples) = &self.server {
            self.render_server(&mut out, samples);
        }
        if let Some(dir) = &self.data_dir {
            let _ = writeln!(
                out,
                "data dir:     {:.1} MB on disk",
                dir_size(dir) as f64 / MB
            );
        }
        let _ = writeln!(
            out,
            "bench client: {:.1} CPU-s",
            std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|s| cpu_ticks(&s))
                .map_or(0.0, |t| t as f64 / TICKS_PER_SECOND)
        );
        out
    }

    fn render_server(&self, out: &mut String, samples: &[ProcessSample]) {
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            let _ = writeln!(out, "server:       no /proc samples");
            return;
        };
        let peak = samples
            .iter()
            .map(|s| s.rss_bytes)
            .max()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "server RSS:   start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB",
            first.rss_bytes as f64 / MIB,
            peak as f64 / MIB,
            last.rss_bytes as f64 / MIB
        );
        // RSS at the end of each tenth of the run shows (non-)growth.
        let mut tenths = Vec::new();
        for k in 1..=10 {
            let t = last.at.mul_f64(k as f64 / 10.0);
            if let Some(s) = samples.iter().rev().find(|s| s.at <= t) {
                tenths.push(format!("{:.0}", s.rss_bytes as f64 / MIB));
            }
        }
        let _ = writeln!(
            out,
            "server RSS by tenth of the run (MiB): {}",
            tenths.join(" ")
        );
        let cpu = last.cpu_ticks.saturating_sub(first.cpu_ticks) as f64 / TICKS_PER_SECOND;
        let wall = (last.at - first.at).as_secs_f64().max(1e-9);
        let mb = self.stats.bytes as f64 / MB;
        let _ = writeln!(
            out,
            "server CPU:   {cpu:.1} CPU-s over {wall:.1} s ({:.2} cores); {:.1} MB of pprof per server CPU-second",
            cpu / wall,
            if cpu > 0.0 { mb / cpu } else { 0.0 }
        );
    }
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_the_command_name() {
        let stat = "4242 (kiln server) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 8 0";
        assert_eq!(cpu_ticks(stat), Some(287));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn stats_merge_and_count_errors() {
        let mut a = ClientStats::new();
        a.record(Outcome::Acked, Duration::from_millis(10), 2, 100);
        let mut b = ClientStats::new();
        b.record(Outcome::Acked, Duration::from_millis(30), 1, 50);
        b.record(
            Outcome::Failed("http 503 unavailable".into()),
            Duration::ZERO,
            1,
            50,
        );
        a.merge(b);
        assert_eq!((a.acked, a.profiles, a.bytes), (2, 3, 150));
        assert_eq!(a.errors["http 503 unavailable"], 1);
        assert!(a.latency.max() >= 29_000);
    }
}

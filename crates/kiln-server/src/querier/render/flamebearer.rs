//! The "flamebearer" JSON of `/pyroscope/render` and `/pyroscope/render-diff`
//! (spec §7; Pyroscope's `og/structs/flamebearer`), its timeline, and the
//! timeline step.
//!
//! Unlike Connect JSON, every number here is a JSON number (levels included),
//! because the old Pyroscope UI and plugins read it with `JSON.parse`.

use std::collections::BTreeMap;

use kiln_model::ProfileType;
use kiln_proto::querier::v1::{FlameGraph, FlameGraphDiff};
use kiln_proto::types::v1::Point;
use serde::Serialize;

/// The whole response.
#[derive(Debug, Serialize)]
pub(crate) struct FlamebearerProfile {
    pub version: u32,
    pub flamebearer: Flamebearer,
    pub metadata: Metadata,
    /// Totals over time; `null` for diffs.
    pub timeline: Option<Timeline>,
    /// One timeline per value of the first `groupBy` label (`*` when a
    /// series lacks it); `null` without `groupBy`.
    pub groups: Option<BTreeMap<String, Timeline>>,
    /// Always `null`: Kiln has no heatmaps.
    pub heatmap: Option<()>,
    #[serde(rename = "leftTicks", skip_serializing_if = "Option::is_none")]
    pub left_ticks: Option<i64>,
    #[serde(rename = "rightTicks", skip_serializing_if = "Option::is_none")]
    pub right_ticks: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Flamebearer {
    pub names: Vec<String>,
    /// Per level, the flat tuples of §2.2 (4 numbers) or §2.3 (7 numbers).
    pub levels: Vec<Vec<i64>>,
    pub num_ticks: i64,
    pub max_self: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    /// `single` or `double` (diff).
    pub format: &'static str,
    pub spy_name: String,
    pub sample_rate: u32,
    pub units: String,
    /// The sample type, e.g. `cpu`.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timeline {
    /// Seconds since the epoch of the first slot, snapped down to the step.
    pub start_time: i64,
    /// One value per slot of `duration_delta` seconds; empty slots are 0.
    pub samples: Vec<u64>,
    pub duration_delta: i64,
    /// Always `null` (Pyroscope leaves it unset too).
    pub watermarks: Option<BTreeMap<String, i64>>,
}

/// Units and sample rate the UI expects (Pyroscope's `ExportToFlamebearer`):
/// CPU time is shown as `samples` at 1e9 per second (the values are
/// nanoseconds), object and goroutine counts as `objects`, anything else in
/// its sample unit at the nominal 100 Hz.
fn metadata(format: &'static str, profile_type: &ProfileType) -> Metadata {
    let (units, sample_rate) = match profile_type.sample_type.as_str() {
        "cpu" => ("samples".to_string(), 1_000_000_000),
        "inuse_objects" | "alloc_objects" | "goroutine" | "samples" => ("objects".to_string(), 100),
        _ => (profile_type.sample_unit.clone(), 100),
    };
    Metadata {
        format,
        spy_name: String::new(),
        sample_rate,
        units,
        name: profile_type.sample_type.clone(),
    }
}

/// A single flame graph (`metadata.format = "single"`).
pub(crate) fn single(
    graph: FlameGraph,
    profile_type: &ProfileType,
    timeline: Timeline,
    groups: Option<BTreeMap<String, Timeline>>,
) -> FlamebearerProfile {
    FlamebearerProfile {
        version: 1,
        flamebearer: Flamebearer {
            names: graph.names,
            levels: graph.levels.into_iter().map(|l| l.values).collect(),
            num_ticks: graph.total,
            max_self: graph.max_self,
        },
        metadata: metadata("single", profile_type),
        timeline: Some(timeline),
        groups,
        heatmap: None,
        left_ticks: None,
        right_ticks: None,
    }
}

/// A diff (`metadata.format = "double"`, 7-tuples, left/right ticks).
pub(crate) fn double(diff: FlameGraphDiff, profile_type: &ProfileType) -> FlamebearerProfile {
    FlamebearerProfile {
        version: 1,
        flamebearer: Flamebearer {
            names: diff.names,
            levels: diff.levels.into_iter().map(|l| l.values).collect(),
            num_ticks: diff.total,
            max_self: diff.max_self,
        },
        metadata: metadata("double", profile_type),
        timeline: None,
        groups: None,
        heatmap: None,
        left_ticks: Some(diff.left_ticks),
        right_ticks: Some(diff.right_ticks),
    }
}

/// Lays series points on a zero-filled timeline of `step_s`-second slots
/// from `start_ms` (snapped down to the step) through `end_ms`. A point at
/// boundary `b` (it sums `(b − step, b]`) lands in the slot containing `b`;
/// values are rounded to whole numbers.
pub(crate) fn timeline(points: &[Point], start_ms: i64, end_ms: i64, step_s: i64) -> Timeline {
    let step = step_s.max(1);
    let start_s = start_ms.div_euclid(1000);
    let end_s = end_ms.div_euclid(1000).max(start_s);
    let first = start_s - start_s.rem_euclid(step);
    let slots = usize::try_from((end_s - first) / step + 1).unwrap_or(1);
    let mut samples = vec![0u64; slots];
    for point in points {
        let t = point.timestamp.div_euclid(1000);
        if t < first || !point.value.is_finite() {
            continue;
        }
        if let Some(slot) = usize::try_from((t - first) / step)
            .ok()
            .and_then(|k| samples.get_mut(k))
        {
            *slot = slot.saturating_add(point.value.round().max(0.0) as u64);
        }
    }
    Timeline {
        start_time: first,
        samples,
        duration_delta: step,
        watermarks: None,
    }
}

/// The timeline step in seconds (Pyroscope's `CalcPointInterval`): about
/// 1500 points over the range, at least 15 s, rounded to a friendly
/// interval (Grafana's `roundInterval`). Always a whole number of seconds.
pub(crate) fn step_seconds(from_ms: i64, until_ms: i64) -> i64 {
    const RESOLUTION: i64 = 1500;
    const MIN_S: i64 = 15;
    let interval_ms = until_ms.saturating_sub(from_ms) / RESOLUTION;
    if interval_ms < MIN_S * 1000 {
        return MIN_S;
    }
    round_interval_ms(interval_ms) / 1000
}

/// Grafana's `roundInterval`, for intervals of 15 s and more (below that
/// the minimum step applies).
fn round_interval_ms(ms: i64) -> i64 {
    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    let table: [(i64, i64); 20] = [
        (17_500, 15 * S),
        (25_000, 20 * S),
        (45_000, 30 * S),
        (90_000, M),
        (210_000, 2 * M),
        (450_000, 5 * M),
        (750_000, 10 * M),
        (1_050_000, 15 * M),
        (1_500_000, 20 * M),
        (2_700_000, 30 * M),
        (5_400_000, H),
        (9_000_000, 2 * H),
        (16_200_000, 3 * H),
        (24_300_000, 4 * H),
        (32_400_000, 6 * H),
        (86_400_000, 12 * H),
        (604_800_000, D),
        (1_814_400_000, 7 * D),
        (3_628_800_000 - 1, 30 * D),
        (i64::MAX, 365 * D),
    ];
    table
        .iter()
        .find(|(upper, _)| ms <= *upper)
        .map_or(365 * D, |&(_, step)| step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(timestamp: i64, value: f64) -> Point {
        Point {
            value,
            timestamp,
            ..Default::default()
        }
    }

    #[test]
    fn step_follows_pyroscope() {
        let h = 3_600_000;
        assert_eq!(step_seconds(0, 0), 15);
        assert_eq!(step_seconds(0, h), 15);
        assert_eq!(step_seconds(0, 6 * h), 15); // 14.4 s → minimum
        assert_eq!(step_seconds(0, 12 * h), 30); // 28.8 s
        assert_eq!(step_seconds(0, 24 * h), 60); // 57.6 s
        assert_eq!(step_seconds(0, 7 * 24 * h), 300); // 403.2 s
        assert_eq!(step_seconds(0, 30 * 24 * h), 1800); // 1728 s
        assert_eq!(step_seconds(0, 365 * 24 * h), 4 * 3600); // 21024 s
    }

    #[test]
    fn timeline_snaps_and_backfills() {
        // start 100 s, end 160 s, step 15: first slot at 90 s, slots 90..=150.
        let points = [
            point(115_000, 4.0),
            point(145_000, 2.6),
            point(160_000, 1.0),
        ];
        let tl = timeline(&points, 100_000, 160_000, 15);
        assert_eq!(tl.start_time, 90);
        assert_eq!(tl.duration_delta, 15);
        assert_eq!(tl.samples, vec![0, 4, 0, 3, 1]);
        // Points outside the slots are dropped, never a panic.
        let tl = timeline(&[point(0, 9.0), point(999_000, 9.0)], 100_000, 160_000, 15);
        assert_eq!(tl.samples, vec![0; 5]);
        // An empty range still has one slot.
        assert_eq!(timeline(&[], 5_000, 5_000, 15).samples, vec![0]);
    }

    #[test]
    fn json_shape_uses_numbers() {
        let pt = ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap();
        let graph = FlameGraph {
            names: vec!["total".into(), "main".into()],
            levels: vec![
                kiln_proto::querier::v1::Level {
                    values: vec![0, 5, 0, 0],
                },
                kiln_proto::querier::v1::Level {
                    values: vec![0, 5, 5, 1],
                },
            ],
            total: 5,
            max_self: 5,
        };
        let tl = timeline(&[point(15_000, 5.0)], 0, 30_000, 15);
        let json = serde_json::to_value(single(graph, &pt, tl, None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": 1,
                "flamebearer": {
                    "names": ["total", "main"],
                    "levels": [[0, 5, 0, 0], [0, 5, 5, 1]],
                    "numTicks": 5,
                    "maxSelf": 5
                },
                "metadata": {
                    "format": "single",
                    "spyName": "",
                    "sampleRate": 1_000_000_000,
                    "units": "samples",
                    "name": "cpu"
                },
                "timeline": {
                    "startTime": 0,
                    "samples": [0, 5, 0],
                    "durationDelta": 15,
                    "watermarks": null
                },
                "groups": null,
                "heatmap": null
            })
        );
        let mem = ProfileType::parse("memory:inuse_objects:count:space:bytes").unwrap();
        assert_eq!(metadata("single", &mem).units, "objects");
        let space = ProfileType::parse("memory:inuse_space:bytes:space:bytes").unwrap();
        let m = metadata("single", &space);
        assert_eq!((m.units.as_str(), m.sample_rate), ("bytes", 100));
    }
}

//! What the scans read, by table (`samples`, `rollup_1m`, `rollup_1h`):
//! kept per engine for [`crate::DataFusionEngine::scan_stats`] and recorded
//! through the `metrics` facade as `kiln_query_table_scans_total{table}` and
//! `kiln_query_table_rows_total{table}`, so operators (and tests) can see
//! whether long-range queries are served from rollups.

use crate::plan::Source;
use std::sync::atomic::{AtomicU64, Ordering};

/// Scans of one table since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableReads {
    /// Scan segments opened (one block can have several: rollup interior,
    /// raw edges).
    pub scans: u64,
    /// Rows the segments returned after exact filtering.
    pub rows: u64,
}

/// Scans of the engine so far, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableScanStats {
    pub samples: TableReads,
    pub rollup_1m: TableReads,
    pub rollup_1h: TableReads,
}

/// Metric: scan segments opened, by `table`.
pub const TABLE_SCANS_TOTAL: &str = "kiln_query_table_scans_total";
/// Metric: rows read by scans, by `table`.
pub const TABLE_ROWS_TOTAL: &str = "kiln_query_table_rows_total";

/// Registers the help texts of the query metrics with the installed
/// recorder (the server calls this once).
pub fn describe_metrics() {
    metrics::describe_counter!(
        TABLE_SCANS_TOTAL,
        "Query scan segments opened, by table (samples, rollup_1m, rollup_1h)."
    );
    metrics::describe_counter!(
        TABLE_ROWS_TOTAL,
        "Rows read by query scans after filtering, by table (samples, rollup_1m, rollup_1h)."
    );
    crate::distributed::describe_metrics();
}

/// The engine's live counters behind [`TableScanStats`].
#[derive(Debug, Default)]
pub(crate) struct ScanCounters {
    scans: [AtomicU64; 3],
    rows: [AtomicU64; 3],
}

impl ScanCounters {
    pub(crate) fn scan(&self, source: Source) {
        self.scans[source.index()].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(TABLE_SCANS_TOTAL, "table" => source.label()).increment(1);
    }

    pub(crate) fn rows(&self, source: Source, rows: usize) {
        self.rows[source.index()].fetch_add(rows as u64, Ordering::Relaxed);
        metrics::counter!(TABLE_ROWS_TOTAL, "table" => source.label()).increment(rows as u64);
    }

    pub(crate) fn snapshot(&self) -> TableScanStats {
        let reads = |s: Source| TableReads {
            scans: self.scans[s.index()].load(Ordering::Relaxed),
            rows: self.rows[s.index()].load(Ordering::Relaxed),
        };
        let [samples, rollup_1m, rollup_1h] = Source::ALL.map(reads);
        TableScanStats {
            samples,
            rollup_1m,
            rollup_1h,
        }
    }
}

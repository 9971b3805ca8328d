//! The normalised profile: one series (label set) with one sample type,
//! stacks as frame indices, ready to be written into a block.

use crate::labels::Labels;
use crate::profile_type::ProfileType;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One resolved frame (a function at a place in a binary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    pub function: String,
    pub system_name: String,
    pub file: String,
    pub line: i64,
    pub binary: String,
}

impl Frame {
    /// A frame known only by its function name (text formats).
    pub fn named(function: impl Into<String>) -> Self {
        Self {
            function: function.into(),
            ..Default::default()
        }
    }
}

/// One stack with its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Indices into [`NormalizedProfile::frames`], **root first**.
    pub stack: Vec<u32>,
    pub value: i64,
    /// Tracing span id from the pprof sample label `span_id` (hex, 16 chars), 0 when absent.
    pub span_id: u64,
}

/// One ingested profile for one series.
///
/// Invariants (established by normalisation): `labels` carries `service_name`,
/// `__name__`, `__profile_type__` and friends; no two samples share
/// (`stack`, `span_id`); no sample has a zero value; every frame index is in range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedProfile {
    pub labels: Labels,
    pub profile_type: ProfileType,
    pub time_nanos: i64,
    pub duration_nanos: i64,
    pub period: i64,
    /// Server-assigned id (UUID text) shared by the series cut from one pprof.
    pub profile_id: String,
    /// Frame table, shared between the series cut from one pprof.
    pub frames: Arc<Vec<Frame>>,
    pub samples: Vec<Sample>,
}

impl NormalizedProfile {
    /// Sum of all sample values.
    pub fn total(&self) -> i64 {
        self.samples.iter().map(|s| s.value).sum()
    }

    /// The service this profile belongs to.
    pub fn service_name(&self) -> &str {
        self.labels
            .get(crate::labels::names::SERVICE_NAME)
            .unwrap_or_default()
    }
}

//! `series.parquet` in memory: per-series labels and roaring-bitmap postings
//! from `name=value` to series ids.

use super::arrays::column;
use crate::BlockError;
use crate::schema::cols;
use arrow::array::{
    Array, ListArray, RecordBatch, StringArray, StructArray, UInt32Array, UInt64Array,
};
use kiln_model::{Label, Labels};
use roaring::RoaringBitmap;
use std::collections::BTreeMap;

/// One series of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesEntry {
    pub labels: Labels,
    pub profile_type: String,
    pub service_name: String,
    pub fingerprint: u64,
}

/// The series of one block, indexed for selection. Series id `i` is entry `i`.
#[derive(Debug, Default)]
pub struct SeriesIndex {
    series: Vec<SeriesEntry>,
    /// name → value → series ids.
    postings: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
}

impl SeriesIndex {
    /// Builds the index from the decoded batches of `series.parquet`.
    pub(crate) fn from_batches(batches: &[RecordBatch]) -> Result<Self, BlockError> {
        let mut index = Self::default();
        for batch in batches {
            let ids = column::<UInt32Array>(batch, cols::SERIES_ID)?;
            let types = column::<StringArray>(batch, cols::PROFILE_TYPE)?;
            let services = column::<StringArray>(batch, cols::SERVICE_NAME)?;
            let labels = column::<ListArray>(batch, cols::LABELS)?;
            let fingerprints = column::<UInt64Array>(batch, cols::FINGERPRINT)?;
            let pairs = labels
                .values()
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| BlockError::corrupt("labels is not a list of structs"))?;
            let names = struct_strings(pairs, cols::NAME)?;
            let values = struct_strings(pairs, cols::VALUE)?;
            let offsets = labels.value_offsets();
            for row in 0..batch.num_rows() {
                let id = index.series.len() as u32;
                if ids.value(row) != id {
                    return Err(BlockError::corrupt(format!(
                        "series.parquet row {id} has series_id {}",
                        ids.value(row)
                    )));
                }
                let (lo, hi) = (offsets[row] as usize, offsets[row + 1] as usize);
                let set: Labels = (lo..hi)
                    .map(|i| Label::new(names.value(i), values.value(i)))
                    .collect();
                for l in &set {
                    index
                        .postings
                        .entry(l.name.clone())
                        .or_default()
                        .entry(l.value.clone())
                        .or_default()
                        .insert(id);
                }
                index.series.push(SeriesEntry {
                    labels: set,
                    profile_type: types.value(row).to_string(),
                    service_name: services.value(row).to_string(),
                    fingerprint: fingerprints.value(row),
                });
            }
        }
        Ok(index)
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The series with id `id`.
    pub fn get(&self, id: u32) -> Option<&SeriesEntry> {
        self.series.get(id as usize)
    }

    /// The labels of series `id`.
    pub fn labels(&self, id: u32) -> Option<&Labels> {
        self.get(id).map(|s| &s.labels)
    }

    /// Every series with its id, in id (= label-set) order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SeriesEntry)> {
        self.series.iter().enumerate().map(|(i, s)| (i as u32, s))
    }

    /// Every series id.
    pub fn all(&self) -> RoaringBitmap {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..self.series.len() as u32);
        all
    }

    /// Series with label `name` equal to `value` (exact postings lookup).
    pub fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        self.postings.get(name)?.get(value)
    }

    /// Series that have label `name`, whatever its value.
    pub fn with_label(&self, name: &str) -> RoaringBitmap {
        self.postings
            .get(name)
            .map(|v| v.values().fold(RoaringBitmap::new(), |a, b| a | b))
            .unwrap_or_default()
    }

    /// Series whose labels satisfy `pred` (e.g. a selector's matcher).
    pub fn select(&self, pred: impl Fn(&Labels) -> bool) -> RoaringBitmap {
        self.iter()
            .filter(|(_, s)| pred(&s.labels))
            .map(|(id, _)| id)
            .collect()
    }

    /// Of `candidates` (e.g. narrowed by [`Self::postings`]), those satisfying `pred`.
    pub fn select_within(
        &self,
        candidates: &RoaringBitmap,
        pred: impl Fn(&Labels) -> bool,
    ) -> RoaringBitmap {
        candidates
            .iter()
            .filter(|&id| self.labels(id).is_some_and(&pred))
            .collect()
    }

    /// Label names, sorted.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.postings.keys().map(String::as_str)
    }

    /// Values of label `name`, sorted.
    pub fn label_values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.postings
            .get(name)
            .into_iter()
            .flat_map(|v| v.keys().map(String::as_str))
    }
}

fn struct_strings<'a>(pairs: &'a StructArray, name: &str) -> Result<&'a StringArray, BlockError> {
    pairs
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| BlockError::corrupt(format!("labels.{name} missing or not a string")))
}

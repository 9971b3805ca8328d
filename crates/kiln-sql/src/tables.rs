//! The tables of a SQL session, each a [`TableProvider`] over the tenant's
//! blocks.
//!
//! ```text
//!  samples          block, series_id, time, stack_id, value, span_id
//!  profiles         block, series_id, time, duration_ns, period, total, sample_count, profile_id
//!  series           block, series_id, service_name, profile_type, labels
//!  stacks           block, stack_id, parent_id, frame_id
//!  frames           block, frame_id, function_name, system_name, file, line, binary
//!  profile_samples  time, service_name, profile_type, labels, stack, value
//! ```
//!
//! Ids are block-local: join on `(block, series_id)` etc. Every scan lists
//! the blocks overlapping the time range its filters imply and streams them
//! block by block (a few partitions of blocks); `series`, `stacks` and
//! `frames` come from each block's in-memory indexes.

mod dims;
mod profile_samples;
mod scan;
pub(crate) mod types;

pub(crate) use dims::{DimKind, DimTable};
pub(crate) use profile_samples::{ProfileSamplesTable, is_exact_filter};
pub(crate) use scan::{FactKind, FactTable};

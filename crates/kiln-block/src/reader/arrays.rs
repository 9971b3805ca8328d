//! Typed access to the columns of decoded batches; a wrong type is corruption.

use crate::BlockError;
use arrow::array::{Array, RecordBatch};

/// Column `name` of `batch` as `T`.
pub(crate) fn column<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, BlockError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            BlockError::corrupt(format!(
                "column {name} missing or not {}",
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("the expected type")
            ))
        })
}

/// Column `i` of `batch` as `T` (for projected scans).
pub(crate) fn column_at<T: Array + 'static>(
    batch: &RecordBatch,
    i: usize,
) -> Result<&T, BlockError> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| BlockError::corrupt(format!("column {i} missing or of the wrong type")))
}

//! Arrow types shared by the tables.

use arrow::array::{
    Array, ArrayRef, Int64Array, ListBuilder, MapBuilder, StringBuilder, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, TimeUnit};
use std::sync::{Arc, LazyLock};

/// Timezone of every `time` column: comparisons with `now()` and literals
/// work, and `time_bucket` aligns buckets to UTC.
pub(crate) const UTC: &str = "UTC";

pub(crate) fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into()))
}

/// `Map<Utf8, Utf8>` as [`MapBuilder`] makes it.
pub(crate) static LABELS_TYPE: LazyLock<DataType> =
    LazyLock::new(|| labels_builder().finish().data_type().clone());

/// `List<Utf8>` as [`ListBuilder`] makes it.
pub(crate) static STACK_TYPE: LazyLock<DataType> =
    LazyLock::new(|| stack_builder().finish().data_type().clone());

pub(crate) fn labels_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

pub(crate) fn stack_builder() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new())
}

pub(crate) fn field(name: &str, t: DataType) -> Field {
    Field::new(name, t, false)
}

/// Nanosecond `i64`s as a UTC timestamp column (no copy).
pub(crate) fn timestamps(ns: &Int64Array) -> ArrayRef {
    Arc::new(
        TimestampNanosecondArray::new(ns.values().clone(), ns.nulls().cloned()).with_timezone(UTC),
    )
}

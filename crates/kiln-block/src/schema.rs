//! Arrow schemas and column names of the block's Parquet files, shared by the
//! writer and the reader. `docs/storage-format.md` is the prose version.

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use std::sync::{Arc, LazyLock};

/// Column names, as they appear in the Parquet files.
pub mod cols {
    pub const SERIES_ID: &str = "series_id";
    pub const TIME_NS: &str = "time_ns";
    pub const STACK_ID: &str = "stack_id";
    pub const VALUE: &str = "value";
    pub const SPAN_ID: &str = "span_id";
    pub const DURATION_NS: &str = "duration_ns";
    pub const PERIOD: &str = "period";
    pub const TOTAL: &str = "total";
    pub const SAMPLE_COUNT: &str = "sample_count";
    pub const PROFILE_ID: &str = "profile_id";
    pub const PROFILE_TYPE: &str = "profile_type";
    pub const SERVICE_NAME: &str = "service_name";
    pub const LABELS: &str = "labels";
    pub const NAME: &str = "name";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const PARENT_ID: &str = "parent_id";
    pub const FRAME_ID: &str = "frame_id";
    pub const FUNCTION: &str = "function";
    pub const SYSTEM_NAME: &str = "system_name";
    pub const FILE: &str = "file";
    pub const LINE: &str = "line";
    pub const BINARY: &str = "binary";
}

/// Column positions in `samples.parquet` (leaf index = root index: the schema is flat).
pub(crate) mod samples_idx {
    pub const SERIES_ID: usize = 0;
    pub const TIME_NS: usize = 1;
    pub const STACK_ID: usize = 2;
    pub const VALUE: usize = 3;
    pub const SPAN_ID: usize = 4;
}

/// `samples.parquet` and `profiles.parquet` both start with (series_id, time_ns),
/// their leading sort columns: the columns pruning looks at.
pub(crate) const SORTED_SERIES_COL: usize = 0;
pub(crate) const SORTED_TIME_COL: usize = 1;

fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

/// `labels`: a list of `{name, value}` structs, sorted by name.
pub fn label_struct_fields() -> Fields {
    Fields::from(vec![
        field(cols::NAME, DataType::Utf8),
        field(cols::VALUE, DataType::Utf8),
    ])
}

fn labels_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(label_struct_fields()),
        false,
    )))
}

static SAMPLES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::SERIES_ID, DataType::UInt32),
        field(cols::TIME_NS, DataType::Int64),
        field(cols::STACK_ID, DataType::UInt32),
        field(cols::VALUE, DataType::Int64),
        field(cols::SPAN_ID, DataType::UInt64),
    ]))
});

static PROFILES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::SERIES_ID, DataType::UInt32),
        field(cols::TIME_NS, DataType::Int64),
        field(cols::DURATION_NS, DataType::Int64),
        field(cols::PERIOD, DataType::Int64),
        field(cols::TOTAL, DataType::Int64),
        field(cols::SAMPLE_COUNT, DataType::UInt32),
        field(cols::PROFILE_ID, DataType::Utf8),
    ]))
});

static SERIES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::SERIES_ID, DataType::UInt32),
        field(cols::PROFILE_TYPE, DataType::Utf8),
        field(cols::SERVICE_NAME, DataType::Utf8),
        field(cols::LABELS, labels_type()),
        field(cols::FINGERPRINT, DataType::UInt64),
    ]))
});

static STACKS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::STACK_ID, DataType::UInt32),
        field(cols::PARENT_ID, DataType::UInt32),
        field(cols::FRAME_ID, DataType::UInt32),
    ]))
});

static FRAMES: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        field(cols::FRAME_ID, DataType::UInt32),
        field(cols::FUNCTION, DataType::Utf8),
        field(cols::SYSTEM_NAME, DataType::Utf8),
        field(cols::FILE, DataType::Utf8),
        field(cols::LINE, DataType::Int64),
        field(cols::BINARY, DataType::Utf8),
    ]))
});

/// `samples.parquet`: one row per (series, time, stack, span).
pub fn samples() -> SchemaRef {
    SAMPLES.clone()
}

/// `profiles.parquet`: one row per ingested profile.
pub fn profiles() -> SchemaRef {
    PROFILES.clone()
}

/// `series.parquet`: one row per series.
pub fn series() -> SchemaRef {
    SERIES.clone()
}

/// `stacks.parquet`: one row per stack node.
pub fn stacks() -> SchemaRef {
    STACKS.clone()
}

/// `frames.parquet`: one row per distinct frame.
pub fn frames() -> SchemaRef {
    FRAMES.clone()
}

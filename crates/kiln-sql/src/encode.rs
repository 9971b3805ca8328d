//! Result encodings shared by the HTTP API and the CLI.
//!
//! * JSON: `{"columns":[{"name","type"}…],"rows":[{…}…]}`; nested values
//!   (label maps, stacks) stay JSON objects and arrays.
//! * CSV: a header row, then one line per row; nested values are written
//!   as their display text (`{env: prod}`, `[a, b]`).
//! * Arrow IPC stream: the batches as they are.

use crate::session::SqlResult;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::sync::Arc;

/// The wire formats a client may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    ArrowStream,
}

impl Format {
    /// Media type of the encoded body.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::ArrowStream => ARROW_STREAM,
        }
    }

    /// The format an `Accept` header asks for (JSON unless CSV or Arrow is
    /// named).
    pub fn from_accept(accept: &str) -> Self {
        let accept = accept.to_ascii_lowercase();
        if accept.contains(ARROW_STREAM) {
            Format::ArrowStream
        } else if accept.contains("text/csv") {
            Format::Csv
        } else {
            Format::Json
        }
    }
}

/// The Arrow IPC stream media type.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Encodes `result` as `format`.
pub fn encode(result: &SqlResult, format: Format) -> Result<Vec<u8>, ArrowError> {
    match format {
        Format::Json => json(result),
        Format::Csv => csv(result),
        Format::ArrowStream => arrow_stream(result),
    }
}

fn json(result: &SqlResult) -> Result<Vec<u8>, ArrowError> {
    let columns: Vec<serde_json::Value> = result
        .schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()}))
        .collect();
    let mut out = b"{\"columns\":".to_vec();
    out.extend(serde_json::to_vec(&columns).map_err(|e| ArrowError::JsonError(e.to_string()))?);
    out.extend(b",\"rows\":");
    let mut rows = arrow_json::ArrayWriter::new(Vec::new());
    for b in &result.batches {
        rows.write(b)?;
    }
    rows.finish()?;
    let rows = rows.into_inner();
    if rows.is_empty() {
        out.extend(b"[]");
    } else {
        out.extend(rows);
    }
    out.push(b'}');
    Ok(out)
}

fn is_nested(t: &DataType) -> bool {
    t.is_nested() || matches!(t, DataType::Binary | DataType::LargeBinary)
}

/// The batch with nested columns replaced by their display text.
fn flatten(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_nested(f.data_type()) {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &options)?;
            let text: StringArray = (0..c.len())
                .map(|i| Some(fmt.value(i).to_string()))
                .collect();
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

fn csv(result: &SqlResult) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    if result.batches.is_empty() {
        let names: Vec<&str> = result
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        out.extend(names.join(",").into_bytes());
        out.push(b'\n');
        return Ok(out);
    }
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut out);
    for b in &result.batches {
        writer.write(&flatten(b)?)?;
    }
    drop(writer);
    Ok(out)
}

fn arrow_stream(result: &SqlResult) -> Result<Vec<u8>, ArrowError> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &result.schema)?;
    for b in &result.batches {
        writer.write(b)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(out)
}

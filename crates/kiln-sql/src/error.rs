//! Every way a SQL request can fail, each naming the problem for the user.

/// A failed SQL request. The API layer maps each kind to a status.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text does not parse or plan (unknown table/column/function,
    /// type errors): the message is DataFusion's, which names the problem.
    #[error("invalid SQL: {0}")]
    InvalidSql(String),
    /// A statement that is valid SQL but not allowed here (DDL, DML, COPY,
    /// SET, reading files, …).
    #[error("statement not allowed: {0}")]
    Refused(String),
    /// The query ran longer than the tenant's `sql.timeout`.
    #[error("query exceeded the time limit of {0:?}")]
    Timeout(std::time::Duration),
    /// The query needed more memory than the tenant's `sql.max_memory_bytes`.
    #[error("query exceeded the memory limit of {limit} bytes: {detail}")]
    MemoryLimit { limit: usize, detail: String },
    /// The result has more rows than the tenant's `sql.max_rows`.
    #[error("result has more than {0} rows: add a LIMIT or aggregate further")]
    RowLimit(usize),
    /// Reading blocks or the metastore failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// Anything else DataFusion reports while executing.
    #[error("query failed: {0}")]
    Execution(String),
}

impl SqlError {
    /// Classifies a DataFusion error raised while planning.
    pub(crate) fn from_planning(e: datafusion::error::DataFusionError) -> Self {
        let message = e.to_string();
        let refused = [
            "DDL not supported",
            "DML not supported",
            "Statement not supported",
        ];
        if refused.iter().any(|r| message.contains(r)) {
            return SqlError::Refused(strip_prefix(&message));
        }
        SqlError::InvalidSql(strip_prefix(&message))
    }

    /// Classifies a DataFusion error raised while executing.
    pub(crate) fn from_execution(e: datafusion::error::DataFusionError, memory: usize) -> Self {
        use datafusion::error::DataFusionError as E;
        if e.to_string().contains("Resources exhausted") {
            return SqlError::MemoryLimit {
                limit: memory,
                detail: strip_prefix(&e.find_root().to_string()),
            };
        }
        match e.find_root() {
            E::ResourcesExhausted(detail) => SqlError::MemoryLimit {
                limit: memory,
                detail: detail.clone(),
            },
            E::ObjectStore(err) => SqlError::Storage(err.to_string()),
            E::External(err) if err.downcast_ref::<kiln_block::BlockError>().is_some() => {
                SqlError::Storage(err.to_string())
            }
            E::Plan(_) | E::SQL(..) | E::SchemaError(..) => {
                SqlError::InvalidSql(strip_prefix(&e.to_string()))
            }
            _ => SqlError::Execution(e.to_string()),
        }
    }
}

/// DataFusion prefixes messages with the error kind ("Error during
/// planning: "); the kind is ours to say.
fn strip_prefix(message: &str) -> String {
    for prefix in [
        "Error during planning: ",
        "SQL error: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "Resources exhausted: ",
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    message.to_string()
}

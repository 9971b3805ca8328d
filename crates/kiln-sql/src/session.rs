//! [`SqlEngine`]: one tenant-scoped DataFusion session per request.
//!
//! ```text
//!  (tenant, SQL, limits) ─► SessionContext built for this request:
//!     tables of the tenant only (TenantBlocks lists and opens nothing else)
//!     + Kiln functions; no file formats reachable: DDL (CREATE EXTERNAL
//!     TABLE, CREATE VIEW), DML (INSERT, COPY) and statements (SET) refused
//!     by SQLOptions; URL tables off; no spilling to disk
//!  ─► memory pool capped at limits.max_memory_bytes
//!  ─► stream under tokio::time::timeout(limits.timeout), rows ≤ limits.max_rows
//! ```
//!
//! A new session per request costs microseconds and makes isolation
//! structural: nothing registered in one tenant's session exists in
//! another's.

use crate::blocks::TenantBlocks;
use crate::error::SqlError;
use crate::execute::execute;
use crate::functions;
use crate::pre_aggregate::PreAggregate;
use crate::tables::{DimKind, DimTable, FactKind, FactTable, ProfileSamplesTable};
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use kiln_meta::Metastore;
use kiln_query::{BlockCache, CacheConfig, QueryRuntime};
use object_store::ObjectStore;
use std::sync::Arc;
use std::time::Duration;

/// Per-tenant bounds of one SQL query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Wall-clock time for planning and executing, result included.
    pub timeout: Duration,
    /// Memory DataFusion may reserve (aggregations, sorts, joins); the query
    /// fails rather than spill, since spilling would write files.
    pub max_memory_bytes: usize,
    /// Rows the result may have.
    pub max_rows: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_memory_bytes: 512 << 20,
            max_rows: 100_000,
        }
    }
}

/// A query's result, complete and within the limits.
#[derive(Debug, Clone)]
pub struct SqlResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl SqlResult {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// The names of the tables every session has.
pub const TABLES: [&str; 6] = [
    "samples",
    "profiles",
    "series",
    "stacks",
    "frames",
    "profile_samples",
];

/// Answers SQL over tenants' blocks; see the module docs.
#[derive(Debug, Clone)]
pub struct SqlEngine {
    metastore: Arc<dyn Metastore>,
    partitions: usize,
    /// Block readers, series indexes and stack tables shared by the
    /// sessions (blocks are immutable), and with the query engine when
    /// built by [`SqlEngine::sharing`].
    blocks: Arc<BlockCache>,
    /// Where queries execute: the query engine's runtime when set by
    /// [`SqlEngine::on_runtime`], else the caller's.
    runtime: Option<QueryRuntime>,
}

fn options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

impl SqlEngine {
    /// An engine reading the blocks `metastore` lists from `store`, with
    /// block caches of its own (default budgets).
    pub fn new(store: Arc<dyn ObjectStore>, metastore: Arc<dyn Metastore>) -> Self {
        Self::sharing(
            metastore,
            Arc::new(BlockCache::new(store, CacheConfig::default())),
        )
    }

    /// An engine reading through `blocks`, typically the query engine's
    /// ([`kiln_query::DataFusionEngine::block_cache`]), so both share one
    /// memory budget and what one decodes is warm for the other.
    pub fn sharing(metastore: Arc<dyn Metastore>, blocks: Arc<BlockCache>) -> Self {
        let partitions = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            metastore,
            partitions,
            blocks,
            runtime: None,
        }
    }

    /// Executes queries on `runtime` (the query engine's): operators,
    /// Parquet decoding and aggregation then never run on the server's I/O
    /// threads, so a heavy SQL query cannot delay pushes' acknowledgements.
    pub fn on_runtime(mut self, runtime: QueryRuntime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// A fresh session seeing only `tenant`'s data, bounded by `limits`'
    /// memory cap (the time and row limits are applied by [`Self::query`]).
    pub fn session(&self, tenant: &str, limits: &SqlLimits) -> Result<SessionContext, SqlError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.max_memory_bytes, 1.0)
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(|e| SqlError::Execution(e.to_string()))?;
        let config = SessionConfig::new()
            .with_target_partitions(self.partitions)
            .with_information_schema(true);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rule(Arc::new(PreAggregate))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let blocks = Arc::new(TenantBlocks::new(
            tenant,
            self.metastore.clone(),
            self.blocks.clone(),
        ));
        let p = self.partitions;
        let register = |name: &str, t: Arc<dyn datafusion::datasource::TableProvider>| {
            ctx.register_table(name, t)
                .map(drop)
                .map_err(|e| SqlError::Execution(e.to_string()))
        };
        register(
            "samples",
            Arc::new(FactTable::new(FactKind::Samples, blocks.clone(), p)),
        )?;
        register(
            "profiles",
            Arc::new(FactTable::new(FactKind::Profiles, blocks.clone(), p)),
        )?;
        register(
            "series",
            Arc::new(DimTable::new(DimKind::Series, blocks.clone(), p)),
        )?;
        register(
            "stacks",
            Arc::new(DimTable::new(DimKind::Stacks, blocks.clone(), p)),
        )?;
        register(
            "frames",
            Arc::new(DimTable::new(DimKind::Frames, blocks.clone(), p)),
        )?;
        register(
            "profile_samples",
            Arc::new(ProfileSamplesTable::new(blocks, p)),
        )?;
        functions::register(&ctx);
        Ok(ctx)
    }

    /// Plans `sql` for `tenant` without running it: refused statements and
    /// invalid SQL fail here. Flight SQL's prepare uses the schema.
    pub async fn plan(
        &self,
        tenant: &str,
        sql: &str,
        limits: &SqlLimits,
    ) -> Result<DataFrame, SqlError> {
        let ctx = self.session(tenant, limits)?;
        plan(&ctx, sql).await
    }

    /// Runs `sql` for `tenant` within `limits` and collects the result.
    pub async fn query(
        &self,
        tenant: &str,
        sql: &str,
        limits: &SqlLimits,
    ) -> Result<SqlResult, SqlError> {
        let run = async {
            let df = self.plan(tenant, sql, limits).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let stream = execute(df, self.runtime.as_ref())
                .await
                .map_err(|e| SqlError::from_execution(e, limits.max_memory_bytes))?;
            let batches = collect_bounded(stream, limits).await?;
            Ok(SqlResult { schema, batches })
        };
        tokio::time::timeout(limits.timeout, run)
            .await
            .map_err(|_| SqlError::Timeout(limits.timeout))?
    }
}

/// Batches of a running query, each within the limits; ends with an error
/// once the row or time limit is passed.
pub type SqlBatchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<RecordBatch, SqlError>> + Send>>;

impl SqlEngine {
    /// Like [`Self::query`], but yields batches as they are computed (Flight
    /// SQL's `DoGet`): planning and starting fail here; the row limit, the
    /// time limit (counted from this call) and execution errors end the
    /// stream with an error.
    pub async fn stream(
        &self,
        tenant: &str,
        sql: &str,
        limits: &SqlLimits,
    ) -> Result<(SchemaRef, SqlBatchStream), SqlError> {
        self.stream_with_params(tenant, sql, Vec::new(), limits)
            .await
    }

    /// [`Self::stream`] with `params` bound to the placeholders `$1`, `$2`,
    /// … of `sql` (Flight SQL's prepared statements with parameters). Each
    /// value is cast to the type the placeholder's use implies, if known.
    pub async fn stream_with_params(
        &self,
        tenant: &str,
        sql: &str,
        params: Vec<ScalarValue>,
        limits: &SqlLimits,
    ) -> Result<(SchemaRef, SqlBatchStream), SqlError> {
        let deadline = tokio::time::Instant::now() + limits.timeout;
        let limits = *limits;
        let start = async {
            let df = self.plan(tenant, sql, &limits).await?;
            let df = bind(df, params)?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let stream = execute(df, self.runtime.as_ref())
                .await
                .map_err(|e| SqlError::from_execution(e, limits.max_memory_bytes))?;
            Ok::<_, SqlError>((schema, stream))
        };
        let (schema, stream) = tokio::time::timeout_at(deadline, start)
            .await
            .map_err(|_| SqlError::Timeout(limits.timeout))??;
        let batches =
            futures::stream::try_unfold((stream, 0usize), move |(mut stream, rows)| async move {
                let next = tokio::time::timeout_at(deadline, stream.next())
                    .await
                    .map_err(|_| SqlError::Timeout(limits.timeout))?;
                let Some(batch) = next else {
                    return Ok(None);
                };
                let batch =
                    batch.map_err(|e| SqlError::from_execution(e, limits.max_memory_bytes))?;
                let rows = rows + batch.num_rows();
                if rows > limits.max_rows {
                    return Err(SqlError::RowLimit(limits.max_rows));
                }
                Ok(Some((batch, (stream, rows))))
            });
        Ok((schema, Box::pin(batches)))
    }
}

impl SqlEngine {
    /// [`Self::plan`] with `params` bound to the placeholders `$1…$n`: a
    /// wrong number of values or one that cannot take its placeholder's
    /// type fails here, naming the parameter.
    pub async fn plan_with_params(
        &self,
        tenant: &str,
        sql: &str,
        params: Vec<ScalarValue>,
        limits: &SqlLimits,
    ) -> Result<DataFrame, SqlError> {
        bind(self.plan(tenant, sql, limits).await?, params)
    }

    /// The placeholders of `sql` (`$1`, `$2`, …) in order, as fields named
    /// after them, typed as their use implies (`Null` when nothing does).
    pub async fn parameters(
        &self,
        tenant: &str,
        sql: &str,
        limits: &SqlLimits,
    ) -> Result<Schema, SqlError> {
        let df = self.plan(tenant, sql, limits).await?;
        let mut params: Vec<(usize, String, DataType)> = df
            .logical_plan()
            .get_parameter_types()
            .map_err(SqlError::from_planning)?
            .into_iter()
            .map(|(id, ty)| {
                let n = placeholder_number(&id)?;
                Ok((n, id, ty.unwrap_or(DataType::Null)))
            })
            .collect::<Result<_, SqlError>>()?;
        params.sort_unstable_by_key(|(n, _, _)| *n);
        Ok(Schema::new(
            params
                .into_iter()
                .map(|(_, id, ty)| Field::new(id, ty, true))
                .collect::<Vec<_>>(),
        ))
    }
}

/// `n` of a `$n` placeholder; other forms (`?`, `$name`) are refused.
fn placeholder_number(id: &str) -> Result<usize, SqlError> {
    id.strip_prefix('$')
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            SqlError::InvalidSql(format!(
                "placeholder {id} is not supported: number parameters $1, $2, …"
            ))
        })
}

/// Binds `params` to `df`'s placeholders `$1…$n` (nothing to do without any).
fn bind(df: DataFrame, params: Vec<ScalarValue>) -> Result<DataFrame, SqlError> {
    if params.is_empty() {
        return Ok(df);
    }
    let types = df
        .logical_plan()
        .get_parameter_types()
        .map_err(SqlError::from_planning)?;
    if types.len() != params.len() {
        return Err(SqlError::InvalidSql(format!(
            "the statement has {} parameter(s), {} value(s) were bound",
            types.len(),
            params.len()
        )));
    }
    let params = params
        .into_iter()
        .enumerate()
        .map(|(i, value)| match types.get(&format!("${}", i + 1)) {
            Some(Some(ty)) if value.data_type() != *ty => value.cast_to(ty).map_err(|e| {
                SqlError::InvalidSql(format!("parameter ${} cannot be a {ty}: {e}", i + 1))
            }),
            Some(_) => Ok(value),
            None => Err(SqlError::InvalidSql(format!(
                "the statement has no placeholder ${}",
                i + 1
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    df.with_param_values(params)
        .map_err(SqlError::from_planning)
}

async fn plan(ctx: &SessionContext, sql: &str) -> Result<DataFrame, SqlError> {
    if sql.trim().is_empty() {
        return Err(SqlError::InvalidSql("the query is empty".into()));
    }
    ctx.sql_with_options(sql, options())
        .await
        .map_err(SqlError::from_planning)
}

/// Collects `stream`, failing once it passes `limits.max_rows`.
async fn collect_bounded(
    mut stream: SendableRecordBatchStream,
    limits: &SqlLimits,
) -> Result<Vec<RecordBatch>, SqlError> {
    let mut batches = Vec::new();
    let mut rows = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| SqlError::from_execution(e, limits.max_memory_bytes))?;
        rows += batch.num_rows();
        if rows > limits.max_rows {
            return Err(SqlError::RowLimit(limits.max_rows));
        }
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
    }
    Ok(batches)
}

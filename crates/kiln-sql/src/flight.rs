//! Arrow Flight SQL over [`SqlEngine`], so ADBC/JDBC drivers and BI tools
//! query Kiln like any Flight SQL database.
//!
//! ```text
//!  GetFlightInfo(CommandStatementQuery)     ─► plan (bad SQL, refusals fail here)
//!     ─► FlightInfo{schema, ticket = handle(tenant, SQL)}
//!  DoAction(CreatePreparedStatement)         ─► plan ─► handle + dataset and parameter schemas
//!  DoPut(CommandPreparedStatementQuery, one row of values) ─► new handle carrying them
//!  GetFlightInfo(CommandPreparedStatementQuery{handle}) ─► FlightInfo{ticket = the command}
//!  DoGet(ticket)  ─► handle's tenant == caller's tenant? ─► SqlEngine::stream ─► batches
//!  GetSqlInfo / GetCatalogs / GetDbSchemas / GetTables / GetTableTypes ─► the caller's session
//!  DoPut (updates, ingest) ─► permission_denied: sessions are read-only
//! ```
//!
//! Handles are stateless (`tenant NUL SQL [NUL parameters]`, the values a
//! `DoPut` bound to a prepared statement's `$1…$n` travelling in the new
//! handle it returns as one Arrow IPC row): nothing is kept between calls,
//! so there is nothing to leak or expire, and every use re-checks that the
//! caller's tenant is the one that planned it, so a handle passed to another
//! tenant is refused. The tenant and limits come from the embedding server
//! ([`Tenancy`]), which applies the same `X-Scope-OrgID` rules as its other
//! APIs.

use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use futures::TryStreamExt;
use prost::Message;
use tonic::codegen::http::HeaderMap;
use tonic::{Request, Response, Status};

use crate::{SqlEngine, SqlError, SqlLimits};

/// Resolves the caller of a Flight call from its gRPC metadata (as HTTP
/// headers): the tenant and that tenant's limits, or the status to answer
/// (`unauthenticated` when multi-tenancy is on and `X-Scope-OrgID` is
/// missing). The server owns the tenancy rules; this module only asks.
pub type Tenancy = Arc<dyn Fn(&HeaderMap) -> Result<(String, SqlLimits), Status> + Send + Sync>;

/// The gRPC path prefix of every Flight call, for routing.
pub const FLIGHT_PATH_PREFIX: &str = "/arrow.flight.protocol.FlightService/";

/// The Flight SQL service as a tonic service, ready to mount on a router.
pub fn service(engine: Arc<SqlEngine>, tenancy: Tenancy) -> FlightServiceServer<KilnFlightSql> {
    FlightServiceServer::new(KilnFlightSql { engine, tenancy })
}

/// Flight SQL over a [`SqlEngine`]; see the module docs.
#[derive(Clone)]
pub struct KilnFlightSql {
    engine: Arc<SqlEngine>,
    tenancy: Tenancy,
}

type DoGetStream = <KilnFlightSql as FlightService>::DoGetStream;

/// The gRPC status of each [`SqlError`]; the message is the error's own.
pub fn status_of(e: &SqlError) -> Status {
    let message = e.to_string();
    match e {
        SqlError::InvalidSql(_) => Status::invalid_argument(message),
        SqlError::Refused(_) => Status::permission_denied(message),
        SqlError::RowLimit(_) | SqlError::MemoryLimit { .. } => Status::resource_exhausted(message),
        SqlError::Timeout(_) => Status::deadline_exceeded(message),
        SqlError::Storage(_) => Status::unavailable(message),
        SqlError::Execution(_) => Status::internal(message),
    }
}

/// A statement planned for a tenant: the opaque handle given to clients,
/// with the parameter values bound to it (`DoPut`), if any.
struct Handle {
    tenant: String,
    query: String,
    /// One row of parameter values as an Arrow IPC stream; empty: none.
    params: Vec<u8>,
}

impl Handle {
    fn new(tenant: String, query: String) -> Result<Self, Status> {
        if query.contains('\0') {
            return Err(Status::invalid_argument(
                "the SQL text contains a NUL character",
            ));
        }
        Ok(Self {
            tenant,
            query,
            params: Vec::new(),
        })
    }

    fn encode(&self) -> Vec<u8> {
        // Tenant IDs cannot hold NUL (the server validates them), nor can
        // the SQL (Handle::new): NULs separate tenant, SQL and parameters.
        let mut bytes = format!("{}\0{}", self.tenant, self.query).into_bytes();
        if !self.params.is_empty() {
            bytes.push(0);
            bytes.extend_from_slice(&self.params);
        }
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<Self, Status> {
        let foreign = || Status::invalid_argument("statement handle was not issued by this server");
        let mut parts = bytes.splitn(3, |b| *b == 0);
        let (Some(tenant), Some(query)) = (parts.next(), parts.next()) else {
            return Err(foreign());
        };
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| foreign());
        Ok(Self {
            tenant: text(tenant)?,
            query: text(query)?,
            params: parts.next().unwrap_or_default().to_vec(),
        })
    }

    /// The bound parameter values, `$1` first.
    fn param_values(&self) -> Result<Vec<ScalarValue>, Status> {
        if self.params.is_empty() {
            return Ok(Vec::new());
        }
        let bad = |e: &dyn std::fmt::Display| {
            Status::invalid_argument(format!("statement handle has unreadable parameters: {e}"))
        };
        let mut reader =
            StreamReader::try_new(self.params.as_slice(), None).map_err(|e| bad(&e))?;
        let batch = reader
            .next()
            .ok_or_else(|| bad(&"no batch"))?
            .map_err(|e| bad(&e))?;
        batch
            .columns()
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0).map_err(|e| bad(&e)))
            .collect()
    }
}

/// Checks a bound parameter batch (one row) and stores it as IPC bytes.
fn encode_params(batches: &[RecordBatch]) -> Result<Vec<u8>, Status> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    if rows != 1 {
        return Err(Status::invalid_argument(format!(
            "bind one row of parameters per execution (got {rows} rows)"
        )));
    }
    let mut bytes = Vec::new();
    StreamWriter::try_new(&mut bytes, &first.schema())
        .and_then(|mut w| {
            w.write(first)?;
            w.finish()
        })
        .map_err(|e| Status::invalid_argument(format!("encoding the parameters: {e}")))?;
    Ok(bytes)
}

fn ipc_schema(schema: &Schema) -> Result<Vec<u8>, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e| Status::internal(format!("encoding the result schema: {e}")))?;
    Ok(bytes.to_vec())
}

/// A FlightInfo whose one endpoint (on this same server) is `ticket`.
fn flight_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("encoding the result schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

/// Streams finished batches (metadata answers) as Flight data.
fn batches_stream(
    schema: arrow::datatypes::SchemaRef,
    batches: Vec<arrow::array::RecordBatch>,
) -> Response<DoGetStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter(batches.into_iter().map(Ok)))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn metadata_error(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("building metadata: {e}"))
}

/// What `GetSqlInfo` reports: who we are and that sessions are read-only.
static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "Kiln");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    info.append(SqlInfo::FlightSqlServerReadOnly, true);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.build().expect("static SQL info is well-formed")
});

const TABLE_TYPES: [&str; 2] = ["TABLE", "VIEW"];

fn read_only(what: &str) -> Status {
    Status::permission_denied(format!(
        "{what} is not allowed: Kiln's SQL sessions are read-only (profiles are written through \
         the ingest APIs)"
    ))
}

impl KilnFlightSql {
    fn caller<T>(&self, request: &Request<T>) -> Result<(String, SqlLimits), Status> {
        (self.tenancy)(request.metadata().as_ref())
    }

    /// Decodes `handle` and checks it belongs to the caller.
    fn own_handle<T>(
        &self,
        request: &Request<T>,
        handle: &[u8],
    ) -> Result<(Handle, SqlLimits), Status> {
        let (tenant, limits) = self.caller(request)?;
        let handle = Handle::decode(handle)?;
        if handle.tenant != tenant {
            return Err(Status::permission_denied(
                "this statement was planned for another tenant (X-Scope-OrgID differs)",
            ));
        }
        Ok((handle, limits))
    }

    async fn plan_schema(
        &self,
        tenant: &str,
        query: &str,
        limits: &SqlLimits,
    ) -> Result<Schema, Status> {
        let df = self
            .engine
            .plan(tenant, query, limits)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(df.schema().as_arrow().clone())
    }

    /// Runs the statement, streaming batches as DataFusion produces them;
    /// a limit passed mid-stream ends it with that status.
    async fn run(
        &self,
        handle: &Handle,
        limits: &SqlLimits,
    ) -> Result<Response<DoGetStream>, Status> {
        let params = handle.param_values()?;
        let (schema, batches) = self
            .engine
            .stream_with_params(&handle.tenant, &handle.query, params, limits)
            .await
            .map_err(|e| status_of(&e))?;
        let batches = batches.map_err(|e| FlightError::Tonic(Box::new(status_of(&e))));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }

    /// A FlightInfo for a metadata command: its ticket is the command itself.
    fn metadata_info(
        command: impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        flight_info(schema, command.as_any().encode_to_vec(), descriptor)
    }

    /// Every (catalog, schema, table, type, columns) the caller's session has.
    async fn tables_of(
        &self,
        request: &Request<Ticket>,
    ) -> Result<Vec<(String, String, String, &'static str, Arc<Schema>)>, Status> {
        let (tenant, limits) = self.caller(request)?;
        let ctx = self
            .engine
            .session(&tenant, &limits)
            .map_err(|e| status_of(&e))?;
        let mut tables = Vec::new();
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table_name in schema.table_names() {
                    let table = schema
                        .table(&table_name)
                        .await
                        .map_err(|e| Status::internal(format!("listing tables: {e}")))?;
                    let Some(table) = table else { continue };
                    let kind = match table.table_type() {
                        TableType::View => "VIEW",
                        TableType::Base | TableType::Temporary => "TABLE",
                    };
                    tables.push((
                        catalog_name.clone(),
                        schema_name.clone(),
                        table_name,
                        kind,
                        table.schema(),
                    ));
                }
            }
        }
        Ok(tables)
    }
}

#[tonic::async_trait]
impl FlightSqlService for KilnFlightSql {
    type FlightService = KilnFlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (tenant, limits) = self.caller(&request)?;
        let schema = self.plan_schema(&tenant, &query.query, &limits).await?;
        let handle = Handle::new(tenant, query.query)?;
        let ticket = TicketStatementQuery {
            statement_handle: handle.encode().into(),
        };
        flight_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let (handle, limits) = self.own_handle(&request, &ticket.statement_handle)?;
        self.run(&handle, &limits).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        if query.transaction_id.is_some() {
            return Err(Status::invalid_argument(
                "transactions are not supported: Kiln's SQL sessions are read-only",
            ));
        }
        let (tenant, limits) = self.caller(&request)?;
        let schema = self.plan_schema(&tenant, &query.query, &limits).await?;
        let parameters = self
            .engine
            .parameters(&tenant, &query.query, &limits)
            .await
            .map_err(|e| status_of(&e))?;
        let handle = Handle::new(tenant, query.query)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.encode().into(),
            dataset_schema: ipc_schema(&schema)?.into(),
            // `$1`, `$2`, … typed as the SQL implies; empty without any.
            parameter_schema: if parameters.fields().is_empty() {
                Default::default()
            } else {
                ipc_schema(&parameters)?.into()
            },
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (handle, limits) = self.own_handle(&request, &cmd.prepared_statement_handle)?;
        let schema = self
            .plan_schema(&handle.tenant, &handle.query, &limits)
            .await?;
        flight_info(&schema, cmd.as_any().encode_to_vec(), request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let (handle, limits) = self.own_handle(&request, &cmd.prepared_statement_handle)?;
        self.run(&handle, &limits).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let (mut handle, limits) = self.own_handle(&request, &cmd.prepared_statement_handle)?;
        // Handles are stateless: the bound values travel in a new handle,
        // which the client uses from then on (Flight SQL's
        // DoPutPreparedStatementResult).
        let flight_data = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(flight_data)
            .try_collect()
            .await
            .map_err(|e| Status::invalid_argument(format!("reading the parameters: {e}")))?;
        handle.params = encode_params(&batches)?;
        // A wrong count or type fails the bind, not the later execution.
        self.engine
            .plan_with_params(
                &handle.tenant,
                &handle.query,
                handle.param_values()?,
                &limits,
            )
            .await
            .map_err(|e| status_of(&e))?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.encode().into()),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        // Handles hold no server state: closing only checks ownership.
        self.own_handle(&request, &query.prepared_statement_handle)?;
        Ok(())
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        Self::metadata_info(query, SQL_INFO.schema().as_ref(), request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let batch = query
            .into_builder(&SQL_INFO)
            .build()
            .map_err(metadata_error)?;
        Ok(batches_stream(batch.schema(), vec![batch]))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let tables = self.tables_of(&request).await?;
        let mut builder = query.into_builder();
        let mut catalogs: Vec<&String> = tables.iter().map(|t| &t.0).collect();
        catalogs.dedup();
        for catalog in catalogs {
            builder.append(catalog.as_str());
        }
        let batch = builder.build().map_err(metadata_error)?;
        Ok(batches_stream(batch.schema(), vec![batch]))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let tables = self.tables_of(&request).await?;
        let mut builder = query.into_builder();
        let mut schemas: Vec<(&String, &String)> = tables.iter().map(|t| (&t.0, &t.1)).collect();
        schemas.dedup();
        for (catalog, schema) in schemas {
            builder.append(catalog, schema);
        }
        let batch = builder.build().map_err(metadata_error)?;
        Ok(batches_stream(batch.schema(), vec![batch]))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let tables = self.tables_of(&request).await?;
        let mut builder = query.into_builder();
        for (catalog, schema, table, kind, columns) in &tables {
            builder
                .append(catalog, schema, table, kind, columns)
                .map_err(metadata_error)?;
        }
        let batch = builder.build().map_err(metadata_error)?;
        Ok(batches_stream(batch.schema(), vec![batch]))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        Self::metadata_info(query, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let mut builder = query.into_builder();
        for kind in TABLE_TYPES {
            builder.append(kind);
        }
        let batch = builder.build().map_err(metadata_error)?;
        Ok(batches_stream(batch.schema(), vec![batch]))
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only("an update statement (DDL/DML)"))
    }

    async fn do_put_statement_ingest(
        &self,
        _ticket: CommandStatementIngest,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only("bulk ingestion"))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only("a prepared update statement (DDL/DML)"))
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(Status::unimplemented(
            "Substrait plans are not supported: send SQL text",
        ))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

//! Arrow Flight SQL over [`SqlEngine`], so ADBC/JDBC drivers and BI tools
//! query Kiln like any Flight SQL database.
//!
//! ```text
//!  GetFlightInfo(CommandStatementQuery)     ─► plan (bad SQL, refusals fail here)
//!     ─► FlightInfo{schema, ticket = handle(tenant, SQL)}
//!  DoAction(CreatePreparedStatement)         ─► plan ─► handle + dataset schema
//!  GetFlightInfo(CommandPreparedStatementQuery{handle}) ─► FlightInfo{ticket = the command}
//!  DoGet(ticket)  ─► handle's tenant == caller's tenant? ─► SqlEngine::stream ─► batches
//!  GetSqlInfo / GetCatalogs / GetDbSchemas / GetTables / GetTableTypes ─► the caller's session
//!  DoPut (updates, ingest) ─► permission_denied: sessions are read-only
//! ```
//!
//! Handles are stateless (`tenant NUL SQL`): nothing is kept between calls,
//! so there is nothing to leak or expire, and every use re-checks that the
//! caller's tenant is the one that planned it, so a handle passed to another
//! tenant is refused. The tenant and limits come from the embedding server
//! ([`Tenancy`]), which applies the same `X-Scope-OrgID` rules as its other
//! APIs.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
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
use datafusion::datasource::TableType;
use futures::{StreamExt, TryStreamExt};
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

/// A statement planned for a tenant: the opaque handle given to clients.
struct Handle {
    tenant: String,
    query: String,
}

impl Handle {
    fn encode(&self) -> Vec<u8> {
        // Tenant IDs cannot hold NUL (the server validates them), so the
        // first NUL separates the tenant from the SQL.
        format!("{}\0{}", self.tenant, self.query).into_bytes()
    }

    fn decode(bytes: &[u8]) -> Result<Self, Status> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Status::invalid_argument("statement handle is not valid UTF-8"))?;
        let (tenant, query) = text.split_once('\0').ok_or_else(|| {
            Status::invalid_argument("statement handle was not issued by this server")
        })?;
        Ok(Self {
            tenant: tenant.to_string(),
            query: query.to_string(),
        })
    }
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
        let (schema, batches) = self
            .engine
            .stream(&handle.tenant, &handle.query, limits)
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
        let handle = Handle {
            tenant,
            query: query.query,
        };
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
        let handle = Handle {
            tenant,
            query: query.query,
        };
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.encode().into(),
            dataset_schema: ipc_schema(&schema)?.into(),
            // Statements take no parameters.
            parameter_schema: Default::default(),
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
        self.own_handle(&request, &cmd.prepared_statement_handle)?;
        // Binding parameters: accepted only when there are none to bind.
        let mut data = request.into_inner();
        while let Some(message) = data.next().await {
            if !message?.data_body.is_empty() {
                return Err(Status::invalid_argument(
                    "parameters are not supported: inline the values in the SQL text",
                ));
            }
        }
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(cmd.prepared_statement_handle),
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

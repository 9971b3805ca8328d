//! Kiln's metastore in PostgreSQL, for deployments where many ingesters,
//! queriers and compactors share one bucket and one metastore.
//!
//! ```text
//!  kiln process ─┐                      ┌─ kiln_blocks (tenant, id) → level, min/max time, meta jsonb
//!  kiln process ─┼─ pool (deadpool) ──► │  kiln_leases (tenant, job) → owner, expires_at
//!  kiln process ─┘                      └─ kiln_schema_migrations (see schema.rs)
//! ```
//!
//! Same contract as every [`Metastore`] (the conformance suite in
//! `tests/conformance.rs` runs on it), with the database doing the work the
//! embedded metastore does in memory:
//! - `register` is an `INSERT … ON CONFLICT DO NOTHING`, then a comparison
//!   with the stored block when the id was taken (idempotent or `Conflict`);
//! - `replace` is one transaction that locks the sources (`SELECT … FOR
//!   UPDATE`), checks they all still exist and no replacement overwrites a
//!   block that stays, deletes the sources and inserts the replacements:
//!   two compactors racing for the same sources serialise on the row locks
//!   and the second gets `NotFound`;
//! - leases are one upsert that takes the row only when it is free, expired
//!   or already the caller's, timed by the database's clock, so compactors
//!   on different machines need no clock agreement.
//!
//! Errors from the database become [`MetaError::Database`], naming what was
//! being done. A connection that died (database restarted, network cut) is
//! dropped by the pool when it is next checked out and replaced by a new
//! one; the operation that hit the dead connection fails, the next one
//! reconnects.

mod schema;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use schema::SCHEMA_VERSION;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use kiln_block::BlockMeta;
use kiln_meta::{MetaError, Metastore, Result, validate_block};
use std::collections::HashSet;
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::types::Json;
use ulid::Ulid;

/// Settings of a [`PostgresMetastore`].
#[derive(Clone)]
pub struct PostgresConfig {
    /// libpq-style URL or key=value string, e.g.
    /// `postgres://kiln:secret@db:5432/kiln`. Never logged (it may hold a
    /// password).
    pub url: String,
    /// Most connections this process opens. Default 16.
    pub max_connections: usize,
    /// How long to wait for a connection (new or from the pool) before the
    /// operation fails. Default 10 s.
    pub connect_timeout: Duration,
}

impl PostgresConfig {
    /// Defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Leaves the URL out: it may carry a password.
impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// A [`Metastore`] in PostgreSQL tables, shared by every process connected
/// to the same database.
pub struct PostgresMetastore {
    pool: Pool,
    /// `host:port/dbname`, for messages (no credentials).
    target: String,
}

impl std::fmt::Debug for PostgresMetastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresMetastore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresMetastore {
    /// Connects and brings the schema up to date (migrations run in one
    /// transaction under an advisory lock, so several processes may start
    /// at once). Fails with [`MetaError::Database`] when the URL does not
    /// parse or the database cannot be reached.
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(db_error("parsing the PostgreSQL URL"))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(config.connect_timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("kiln");
        }
        let target = describe(&pg);
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                // Runs an empty query on checkout: a connection the server
                // closed (restart, failover, idle timeout) is replaced before
                // a call uses it, even when its task has not yet read the
                // goodbye (`Fast`'s `is_closed` misses that, so the first
                // call after a restart failed). Costs one round trip per
                // call, small next to what each metastore call does.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(db_error("building the connection pool"))?;
        let this = Self { pool, target };
        let mut client = this.client("connecting").await?;
        let applied = schema::migrate(&mut client).await?;
        tracing::info!(
            target = %this.target,
            schema_version = SCHEMA_VERSION,
            ?applied,
            "connected to the PostgreSQL metastore"
        );
        Ok(this)
    }

    /// `host:port/dbname` of the database, without credentials.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A connection from the pool (a new one if none is idle).
    async fn client(&self, doing: &str) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(db_error(format!("{doing}: connecting to {}", self.target)))
    }

    /// The stored block `id` of `tenant`, through `client`.
    async fn fetch(
        client: &impl GenericClient,
        tenant: &str,
        id: Ulid,
    ) -> Result<Option<BlockMeta>> {
        let row = client
            .query_opt(
                "SELECT meta FROM kiln_blocks WHERE tenant = $1 AND id = $2",
                &[&tenant, &id_bytes(id)],
            )
            .await
            .map_err(db_error("reading a block"))?;
        row.map(|r| decode_meta(r.try_get(0))).transpose()
    }
}

/// Inserts `block` unless its (tenant, id) is taken; true when inserted.
async fn insert_block(client: &impl GenericClient, block: &BlockMeta) -> Result<bool> {
    let inserted = client
        .execute(
            "INSERT INTO kiln_blocks (tenant, id, level, min_time_ns, max_time_ns, meta)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant, id) DO NOTHING",
            &[
                &block.tenant,
                &id_bytes(block.id),
                &i64::from(block.level),
                &block.min_time_ns,
                &block.max_time_ns,
                &Json(block),
            ],
        )
        .await
        .map_err(db_error("inserting a block"))?;
    Ok(inserted == 1)
}

#[async_trait]
impl Metastore for PostgresMetastore {
    async fn register(&self, block: BlockMeta) -> Result<()> {
        validate_block(&block)?;
        let client = self.client("register").await?;
        // A concurrent delete may remove the block between our insert and
        // our read; then insert again.
        for _ in 0..3 {
            if insert_block(&client, &block).await? {
                return Ok(());
            }
            match Self::fetch(&client, &block.tenant, block.id).await? {
                Some(existing) if existing == block => return Ok(()),
                Some(_) => break,
                None => continue,
            }
        }
        Err(MetaError::Conflict {
            tenant: block.tenant,
            id: block.id,
        })
    }

    async fn list_blocks(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BlockMeta>> {
        if start_ns > end_ns {
            return Ok(Vec::new());
        }
        let client = self.client("list_blocks").await?;
        let rows = client
            .query(
                "SELECT meta FROM kiln_blocks
                 WHERE tenant = $1 AND min_time_ns <= $3 AND max_time_ns >= $2
                 ORDER BY min_time_ns, id",
                &[&tenant, &start_ns, &end_ns],
            )
            .await
            .map_err(db_error("listing blocks"))?;
        rows.iter().map(|r| decode_meta(r.try_get(0))).collect()
    }

    async fn get_block(&self, tenant: &str, id: Ulid) -> Result<Option<BlockMeta>> {
        let client = self.client("get_block").await?;
        Self::fetch(&client, tenant, id).await
    }

    async fn replace(
        &self,
        tenant: &str,
        sources: &[Ulid],
        replacements: Vec<BlockMeta>,
    ) -> Result<()> {
        if sources.is_empty() && replacements.is_empty() {
            return Ok(());
        }
        let context = "replacing blocks";
        let sources = dedup(sources);
        let source_set: HashSet<Ulid> = sources.iter().copied().collect();
        let mut client = self.client("replace").await?;
        let tx = client.transaction().await.map_err(db_error(context))?;

        // Lock the sources: a concurrent replace of the same blocks waits
        // here and then finds them gone.
        let present = ids_of(
            tx.query(
                "SELECT id FROM kiln_blocks WHERE tenant = $1 AND id = ANY($2) FOR UPDATE",
                &[&tenant, &ids_bytes(&sources)],
            )
            .await
            .map_err(db_error(context))?,
        )?;
        if let Some(&id) = sources.iter().find(|id| !present.contains(id)) {
            return Err(MetaError::NotFound {
                tenant: tenant.to_owned(),
                id,
            });
        }

        kiln_meta::validate_replacements(tenant, &replacements)?;
        let replacement_ids: Vec<Ulid> = replacements.iter().map(|b| b.id).collect();
        let taken = ids_of(
            tx.query(
                "SELECT id FROM kiln_blocks WHERE tenant = $1 AND id = ANY($2)",
                &[&tenant, &ids_bytes(&replacement_ids)],
            )
            .await
            .map_err(db_error(context))?,
        )?;
        // A replacement may reuse a source's id, never overwrite a block
        // that stays.
        if let Some(&id) = replacement_ids
            .iter()
            .find(|id| taken.contains(id) && !source_set.contains(id))
        {
            return Err(MetaError::Conflict {
                tenant: tenant.to_owned(),
                id,
            });
        }

        tx.execute(
            "DELETE FROM kiln_blocks WHERE tenant = $1 AND id = ANY($2)",
            &[&tenant, &ids_bytes(&sources)],
        )
        .await
        .map_err(db_error(context))?;
        for block in &replacements {
            // Registered concurrently since we looked: roll back.
            if !insert_block(&tx, block).await? {
                return Err(MetaError::Conflict {
                    tenant: tenant.to_owned(),
                    id: block.id,
                });
            }
        }
        tx.commit().await.map_err(db_error(context))
    }

    async fn delete(&self, tenant: &str, ids: &[Ulid]) -> Result<Vec<Ulid>> {
        let ids = dedup(ids);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client("delete").await?;
        let removed = ids_of(
            client
                .query(
                    "DELETE FROM kiln_blocks WHERE tenant = $1 AND id = ANY($2) RETURNING id",
                    &[&tenant, &ids_bytes(&ids)],
                )
                .await
                .map_err(db_error("deleting blocks"))?,
        )?;
        Ok(ids.into_iter().filter(|id| removed.contains(id)).collect())
    }

    async fn tenants(&self) -> Result<Vec<String>> {
        let client = self.client("tenants").await?;
        let rows = client
            .query(
                "SELECT DISTINCT tenant FROM kiln_blocks ORDER BY tenant",
                &[],
            )
            .await
            .map_err(db_error("listing tenants"))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(db_error("reading a tenant")))
            .collect()
    }

    async fn try_lease(&self, tenant: &str, job: &str, owner: &str, ttl: Duration) -> Result<bool> {
        let client = self.client("try_lease").await?;
        // Inserted, or updated because free/expired/ours: one row back.
        // Otherwise the WHERE leaves another owner's live lease alone.
        let row = client
            .query_opt(
                "INSERT INTO kiln_leases (tenant, job, owner, expires_at)
                 VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4))
                 ON CONFLICT (tenant, job) DO UPDATE
                     SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                     WHERE kiln_leases.owner = EXCLUDED.owner
                        OR kiln_leases.expires_at <= clock_timestamp()
                 RETURNING owner",
                &[&tenant, &job, &owner, &ttl.as_secs_f64()],
            )
            .await
            .map_err(db_error("taking a lease"))?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, tenant: &str, job: &str, owner: &str) -> Result<bool> {
        let client = self.client("release_lease").await?;
        let released = client
            .execute(
                "DELETE FROM kiln_leases WHERE tenant = $1 AND job = $2 AND owner = $3",
                &[&tenant, &job, &owner],
            )
            .await
            .map_err(db_error("releasing a lease"))?;
        Ok(released == 1)
    }
}

/// Wraps a database error with what was being done.
pub(crate) fn db_error<E>(context: impl Into<String>) -> impl FnOnce(E) -> MetaError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let context = context.into();
    move |source| MetaError::Database {
        context,
        source: Box::new(source),
    }
}

/// `host:port/dbname` of a connection config, for messages.
fn describe(pg: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let db = pg.get_dbname().or(pg.get_user()).unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

fn decode_meta(value: Result<Json<BlockMeta>, tokio_postgres::Error>) -> Result<BlockMeta> {
    value
        .map(|Json(meta)| meta)
        .map_err(db_error("decoding a stored block"))
}

fn id_bytes(id: Ulid) -> Vec<u8> {
    id.to_bytes().to_vec()
}

fn ids_bytes(ids: &[Ulid]) -> Vec<Vec<u8>> {
    ids.iter().copied().map(id_bytes).collect()
}

/// The ids in the first column of `rows`.
fn ids_of(rows: Vec<tokio_postgres::Row>) -> Result<HashSet<Ulid>> {
    rows.iter()
        .map(|row| {
            let bytes: Vec<u8> = row.try_get(0).map_err(db_error("reading a block id"))?;
            let bytes: [u8; 16] = bytes.try_into().map_err(|b: Vec<u8>| MetaError::Database {
                context: "reading a block id".to_owned(),
                source: format!("stored id has {} bytes, not 16", b.len()).into(),
            })?;
            Ok(Ulid::from_bytes(bytes))
        })
        .collect()
}

/// `ids` in order, each once.
fn dedup(ids: &[Ulid]) -> Vec<Ulid> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

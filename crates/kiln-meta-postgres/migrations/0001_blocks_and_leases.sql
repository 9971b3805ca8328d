-- Kiln metastore schema, version 1: the block index and compaction-job leases.

-- One row per block of a tenant. `meta` is the whole BlockMeta (what
-- list_blocks returns); the other columns copy the fields that queries
-- filter and sort on. Tenants and ids sort bytewise (COLLATE "C", bytea) so
-- that the order matches the embedded metastore's.
CREATE TABLE kiln_blocks (
    tenant      text COLLATE "C" NOT NULL,
    id          bytea NOT NULL CHECK (length(id) = 16),
    level       bigint NOT NULL,
    min_time_ns bigint NOT NULL,
    max_time_ns bigint NOT NULL,
    meta        jsonb NOT NULL,
    PRIMARY KEY (tenant, id),
    CHECK (min_time_ns <= max_time_ns)
);

-- list_blocks: a tenant's blocks starting at or before the range's end.
CREATE INDEX kiln_blocks_by_time ON kiln_blocks (tenant, min_time_ns, id);

-- One row per (tenant, job) ever leased; a lease is held while
-- expires_at is in the future.
CREATE TABLE kiln_leases (
    tenant     text COLLATE "C" NOT NULL,
    job        text COLLATE "C" NOT NULL,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, job)
);

//! Object-store paths of blocks. Every path is scoped by tenant.

use object_store::path::Path;
use ulid::Ulid;

/// Names of the files inside a block folder.
pub mod files {
    pub const SAMPLES: &str = "samples.parquet";
    pub const PROFILES: &str = "profiles.parquet";
    pub const SERIES: &str = "series.parquet";
    pub const STACKS: &str = "stacks.parquet";
    pub const FRAMES: &str = "frames.parquet";
    pub const META: &str = "meta.json";
    /// Optional (level 2 and up): samples summed into 1-minute buckets.
    pub const ROLLUP_1M: &str = "rollup_1m.parquet";
    /// Optional (level 2 and up): samples summed into 1-hour buckets.
    pub const ROLLUP_1H: &str = "rollup_1h.parquet";
}

/// `tenants/<tenant>/blocks/`
pub fn tenant_blocks(tenant: &str) -> Path {
    Path::from_iter(["tenants", tenant, "blocks"])
}

/// `tenants/<tenant>/blocks/<ULID>/`
pub fn block_dir(tenant: &str, id: Ulid) -> Path {
    let id = id.to_string();
    Path::from_iter(["tenants", tenant, "blocks", id.as_str()])
}

/// `tenants/<tenant>/blocks/<ULID>/<file>`
pub fn block_file(tenant: &str, id: Ulid, file: &str) -> Path {
    block_dir(tenant, id).join(file)
}
